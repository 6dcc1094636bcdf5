"""Redis glob patterns (``*``, ``?``, ``[abc]``, ``[^a]``, ``[a-z]``, ``\\x``), matched
the same way in the memory store as Redis matches them, plus literal escaping."""

from __future__ import annotations

import functools
import re

_GLOB_META = re.compile(r"([*?\[\]\\])")


def escape_glob(text: str) -> str:
    """``text`` with every glob metacharacter escaped, so it matches only itself."""
    return _GLOB_META.sub(r"\\\1", text)


@functools.lru_cache(maxsize=256)
def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """A compiled regex that matches exactly the strings Redis's glob ``pattern`` matches."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        elif c == "[":
            end = _class_end(pattern, i)
            if end < 0:  # Redis treats an unclosed '[' as a class running to the end
                out.append(_class_regex(pattern[i + 1 :]))
                i = n
                continue
            out.append(_class_regex(pattern[i + 1 : end]))
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def _class_end(pattern: str, start: int) -> int:
    i = start + 1
    while i < len(pattern):
        if pattern[i] == "\\":
            i += 2
            continue
        if pattern[i] == "]":
            return i
        i += 1
    return -1


def _class_regex(body: str) -> str:
    negate = body.startswith("^")
    if negate:
        body = body[1:]
    items: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            items.append(re.escape(body[i + 1]))
            i += 2
        elif i + 2 < len(body) and body[i + 1] == "-":
            lo, hi = sorted((c, body[i + 2]))
            items.append(f"{re.escape(lo)}-{re.escape(hi)}")
            i += 3
        else:
            items.append(re.escape(c))
            i += 1
    if not items:
        return "(?!)" if not negate else "."
    return f"[{'^' if negate else ''}{''.join(items)}]"
