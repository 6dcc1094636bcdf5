"""Loading large tables without holding the raw file's full-width frame in memory.

``load_csv_chunked`` reads a CSV in chunks and shrinks each chunk's dtypes before the
next is read, then concatenates column by column, so the peak is about one raw chunk plus
the optimized result, instead of the whole raw frame plus parser buffers. Freed chunks
are handed back to the OS as it goes (glibc ``malloc_trim``); without that, fragmented
heap pages keep RSS at the sum of everything ever allocated. String columns become ``category`` with one set of categories shared
by all chunks, so the concatenated frame keeps the category dtype. ``load_table`` reads
Parquet and Feather through pyarrow.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from pandas.api.types import union_categoricals

from admf_perf.errors import ConfigurationError
from admf_perf.resources.errors import MissingDependencyError
from admf_perf.resources.frames import _check_options, is_string_column, optimize_column
from admf_perf.resources.memory import trim_heap

PathLike = str | os.PathLike[str]


def load_csv_chunked(
    path: PathLike,
    chunksize: int = 50_000,
    max_rows: int | None = None,
    *,
    optimize: bool = True,
    usecols: Sequence[str] | None = None,
    parse_dates: Sequence[str] | None = None,
    float_tolerance: float | None = None,
    category_threshold: float = 0.5,
    **read_csv_kwargs: Any,
) -> pd.DataFrame:
    """Read ``path`` ``chunksize`` rows at a time, at most ``max_rows`` rows in all.

    With ``optimize`` each chunk's columns are downcast as in
    :class:`~admf_perf.resources.OptimizedDataFrame` (``float_tolerance`` and
    ``category_threshold`` mean the same). A string column becomes ``category`` when its
    distinct values over the *whole* file are fewer than ``category_threshold`` times the
    rows, with the same categories in every chunk. Other keyword arguments go to
    ``pandas.read_csv``.
    """
    if not isinstance(chunksize, int) or chunksize < 1:
        raise ConfigurationError(f"chunksize must be an int >= 1, got {chunksize!r}")
    if max_rows is not None and (not isinstance(max_rows, int) or max_rows < 0):
        raise ConfigurationError(f"max_rows must be an int >= 0 or None, got {max_rows!r}")
    _check_options(float_tolerance, category_threshold)
    if max_rows == 0:
        return pd.read_csv(path, nrows=0, usecols=usecols, **read_csv_kwargs)
    reader = pd.read_csv(
        path,
        chunksize=chunksize,
        nrows=max_rows,
        usecols=usecols,
        parse_dates=list(parse_dates) if parse_dates else None,
        **read_csv_kwargs,
    )
    chunks: list[Chunk] = []
    string_columns: set[Hashable] | None = None
    with reader:
        for raw in reader:
            if not optimize:
                chunks.append({name: raw[name] for name in raw.columns})
                continue
            strings = {name for name in raw.columns if is_string_column(raw[name])}
            string_columns = strings if string_columns is None else string_columns & strings
            chunks.append(
                {
                    name: raw[name].astype("category")
                    if name in strings
                    else optimize_column(raw[name], float_tolerance, category_threshold)
                    for name in raw.columns
                }
            )
            del raw
    if not chunks:
        return pd.read_csv(path, nrows=0, usecols=usecols, **read_csv_kwargs)
    if optimize:
        _unify_categories(chunks, string_columns or set(), category_threshold)
    return _concat_by_column(chunks)


Chunk = dict[Hashable, pd.Series]


def _concat_by_column(chunks: list[Chunk]) -> pd.DataFrame:
    """Concatenate the chunks one column at a time, dropping each column's pieces once
    copied and trimming the heap: the peak is the result plus one column, not twice it."""
    columns: Chunk = {}
    for name in list(chunks[0]):
        pieces = [chunk.pop(name) for chunk in chunks]
        columns[name] = pd.concat(pieces, ignore_index=True) if len(pieces) > 1 else pieces[0]
        del pieces
        trim_heap()
    return pd.DataFrame(columns, copy=False)


def _unify_categories(chunks: list[Chunk], columns: set[Hashable], threshold: float) -> None:
    """Give every chunk's category column the same categories, or turn it back to strings.

    A column that was a string column in only some chunks (mixed types) goes back to
    strings and is left as pandas concatenates it; so do columns with too many distinct
    values over the whole file.
    """
    rows = sum(len(next(iter(c.values()))) for c in chunks if c)
    for chunk in chunks:
        for name, column in chunk.items():
            if isinstance(column.dtype, pd.CategoricalDtype) and name not in columns:
                chunk[name] = column.astype(column.cat.categories.dtype)
    for name in columns:
        union = union_categoricals([c[name] for c in chunks], sort_categories=True)
        keep = rows > 0 and len(union.categories) / rows < threshold
        for chunk in chunks:
            column = chunk[name]
            if keep:
                chunk[name] = pd.Series(
                    pd.Categorical(column, categories=union.categories), name=column.name
                )
            else:
                chunk[name] = column.astype(union.categories.dtype)


def load_table(path: PathLike, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Read a Parquet (``.parquet``, ``.pq``) or Feather (``.feather``, ``.arrow``) file.

    Needs pyarrow; without it raises :class:`MissingDependencyError` naming the package.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in (".parquet", ".pq", ".feather", ".arrow", ".ipc"):
        raise ConfigurationError(
            f"cannot tell the format of {os.fspath(path)!r}: use a .parquet, .pq, .feather "
            "or .arrow file name"
        )
    try:
        if suffix in (".parquet", ".pq"):
            import pyarrow.parquet as reader
        else:
            import pyarrow.feather as reader
    except ImportError:
        raise MissingDependencyError(
            f"reading {suffix} files needs the 'pyarrow' package: pip install pyarrow"
        ) from None
    table = reader.read_table(os.fspath(path), columns=list(columns) if columns else None)
    return table.to_pandas()
