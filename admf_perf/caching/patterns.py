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
    """A compiled regex that matches exactly the strings Redis's glob ``pattern`` matches.

    Redis compares bytes: for keys and patterns beyond ASCII, ``?`` and classes here
    match one character where Redis matches one byte. The empty key (a cached function
    without arguments) is matched by ``*`` alone, as in Redis.
    """
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
            regex, i = glob_class(pattern, i + 1)
            out.append(regex)
            continue
        else:
            out.append(re.escape(c))
        i += 1
    # Redis's matcher never matches the empty string with a non-empty pattern ("**"
    # doesn't); only "*" does, as SCAN then skips matching altogether
    guard = "" if pattern in ("", "*") else r"(?!\Z)"
    return re.compile(guard + "".join(out) + r"\Z", re.DOTALL)


def glob_class(pattern: str, i: int) -> tuple[str, int]:
    """The regex of the class opening before ``i``, and where the pattern goes on.

    Scans as Redis's ``stringmatchlen`` does: ``\\x`` is ``x``; ``a-z`` is a range
    whenever a character, ``-`` and one more follow (even ``]`` or ``\\``: ``[?-]`` is
    the range from ``?`` to ``]``); the first other ``]`` closes; an unclosed class runs
    to the end of the pattern.
    """
    n = len(pattern)
    negate = i < n and pattern[i] == "^"
    if negate:
        i += 1
    items: list[str] = []
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            items.append(re.escape(pattern[i + 1]))
            i += 2
        elif c == "]":
            i += 1
            break
        elif i + 2 < n and pattern[i + 1] == "-":
            lo, hi = sorted((c, pattern[i + 2]))
            items.append(f"{re.escape(lo)}-{re.escape(hi)}")
            i += 3
        else:
            items.append(re.escape(c))
            i += 1
    if not items:
        return ("." if negate else "(?!)"), i
    return f"[{'^' if negate else ''}{''.join(items)}]", i
