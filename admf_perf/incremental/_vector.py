"""Vectorized kernels behind ``calculate``: rolling mean/variance, rolling min/max, EWM.

Missing data follows pandas (``rolling(window, min_periods=window)``, ``ewm``): NaN *and*
±inf are missing; a window with a missing value has a NaN output; EWM carries the last
value over missing bars and discounts the gap.

Rolling means add, for each window, a suffix sum of one aligned block and a prefix sum of
the next (the van Herk/Gil-Werman layout), so only values inside the window are summed.

Rolling moments (variance) use *blocked shifted sums*: the series is cut into overlapping rows of
``block + window - 1`` values (``block = max(128, 2 * window)`` outputs each); each row is shifted
by its own mean ``shift`` before the cumulative sums, so rounding errors are relative to the
deviations inside a row, not to the price level (1e9 + noise keeps full precision) and
never accumulate beyond a row. Windows whose sum of squares is ill-conditioned (estimated
error above 1e-10 of the result: flat windows, a spike among small moves) are recomputed
exactly: constant windows get variance 0, others a corrected two-pass sum.

Rolling min/max use the van Herk/Gil-Werman scheme: prefix and suffix running extremes
per block of ``window`` values, O(n) whatever the window.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

EPS = float(np.finfo(np.float64).eps)
_TOL = 1e-10  # target relative error of a window's centered sum of squares


def _pandas_ewm(x: np.ndarray, com: float) -> np.ndarray:
    series = pd.Series(x, copy=False)
    return series.ewm(com=com, adjust=False).mean().to_numpy()


def fill_missing(x: np.ndarray, finite: np.ndarray) -> np.ndarray:
    """Missing values replaced by the previous finite value (0.0 before the first)."""
    idx = np.where(finite, np.arange(x.shape[0]), 0)
    np.maximum.accumulate(idx, out=idx)
    filled = x[idx]
    if not finite[0]:
        first = int(np.argmax(finite)) if finite.any() else x.shape[0]
        filled[:first] = 0.0
    return filled


def missing_windows(finite: np.ndarray, window: int) -> np.ndarray:
    """For each full window (n - window + 1 of them), whether it holds a missing value."""
    bad = np.concatenate(([0], np.cumsum(~finite)))
    return (bad[window:] - bad[:-window]) > 0


def rolling_mean(x: np.ndarray, window: int) -> np.ndarray:
    """Rolling mean aligned to ``x`` (NaN warm-up and NaN where a window has a hole).

    Each window sum is a suffix sum of one aligned block of ``window`` values plus a
    prefix sum of the next, so it only ever adds values inside the window: the error is
    relative to the window's own values, and a spike elsewhere cannot leak in.
    """
    n = x.shape[0]
    out = np.full(n, np.nan)
    nout = n - window + 1
    if nout <= 0:
        return out
    finite = np.isfinite(x)
    all_finite = bool(finite.all())
    nb = -(-n // window)
    padded = np.zeros(nb * window)
    padded[:n] = x if all_finite else np.where(finite, x, 0.0)
    blocks = padded.reshape(nb, window)
    prefix = np.cumsum(blocks, axis=1).ravel()
    suffix = np.cumsum(blocks[:, ::-1], axis=1)[:, ::-1].ravel()
    body = out[window - 1 :]
    np.add(suffix[:nout], prefix[window - 1 : window - 1 + nout], out=body)
    body[::window] = suffix[:nout:window]  # a window that is exactly one block
    body /= window
    if not all_finite:
        body[missing_windows(finite, window)] = np.nan
    return out


def rolling_moments(x: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Rolling mean and centered sum of squares (``m2``), aligned to ``x`` (NaN warm-up)."""
    n = x.shape[0]
    nout = n - window + 1
    if nout <= 0:
        return np.full(n, np.nan), np.full(n, np.nan)
    finite = np.isfinite(x)
    all_finite = bool(finite.all())
    xf = x if all_finite else fill_missing(x, finite)

    block = max(256, 2 * window)
    row_len = block + window - 1
    nb = -(-nout // block)
    # outputs are written straight into arrays of nb * block slots after the warm-up
    mean = np.empty(window - 1 + nb * block)
    mean[: window - 1] = np.nan
    mrows = mean[window - 1 :].reshape(nb, block)
    m2 = np.empty_like(mean)
    m2[: window - 1] = np.nan
    m2rows = m2[window - 1 :].reshape(nb, block)

    full = nout // block  # rows that fit inside x; the last partial row is padded
    flagged = []
    if full:
        rows = sliding_window_view(xf[: full * block + window - 1], row_len)[::block]
        flagged.append(_rows_moments(rows, window, mrows[:full], m2rows[:full]))
    if nb > full:
        tail = xf[full * block :]
        pad = np.empty(row_len)
        pad[: tail.shape[0]] = tail
        pad[tail.shape[0] :] = tail[-1]
        flagged.append(_rows_moments(pad[None, :], window, mrows[full:], m2rows[full:]))
        flagged[-1] += full * block

    mean = mean[:n]
    m2 = m2[:n]
    idx = np.concatenate(flagged)
    _fix_ill_conditioned(xf, window, mean, m2, idx[idx < nout])
    if not all_finite:
        holes = missing_windows(finite, window)
        mean[window - 1 :][holes] = np.nan
        m2[window - 1 :][holes] = np.nan
    return mean, m2


def _rows_moments(
    rows: np.ndarray, window: int, mean_out: np.ndarray, m2_out: np.ndarray
) -> np.ndarray:
    """Fill ``mean_out`` and ``m2_out``, shape (rows, block), from overlapping rows.

    Returns the flat indices (row * block + column) of ill-conditioned ``m2`` values.
    """
    block = mean_out.shape[1]
    shift = rows.mean(axis=1)
    d = rows - shift[:, None]
    c = np.cumsum(d, axis=1)
    s1 = mean_out  # window sums first, turned into means at the end
    s1[:, 0] = c[:, window - 1]
    np.subtract(c[:, window:], c[:, : block - 1], out=s1[:, 1:])
    np.multiply(d, d, out=d)
    big = d.max(axis=1)  # largest squared deviation in the row: scales the error
    np.cumsum(d, axis=1, out=c)
    s2 = m2_out
    s2[:, 0] = c[:, window - 1]
    np.subtract(c[:, window:], c[:, : block - 1], out=s2[:, 1:])
    sq = c[:, :block]
    np.multiply(s1, s1, out=sq)
    sq /= window
    s2 -= sq  # centered sum of squares
    # error estimate ~ 4 eps row_len max(d^2); flag where it exceeds _TOL of the result
    # (negated comparison so that NaN results are flagged too)
    limit = (4.0 * EPS * rows.shape[1] / _TOL) * big
    flagged = np.flatnonzero(~(s2 >= limit[:, None]))
    s1 /= window
    s1 += shift[:, None]
    return flagged


def _fix_ill_conditioned(
    xf: np.ndarray, window: int, mean: np.ndarray, m2: np.ndarray, idx: np.ndarray
) -> None:
    """Recompute the flagged windows exactly: 0 for constant windows, else two-pass.

    The means of those windows are recomputed too: a row whose shifted sums are too
    coarse for the variance (a spike elsewhere in the row) is too coarse for the mean.
    """
    if not idx.size:
        return
    body = m2[window - 1 :]
    if idx.size * window > 4 * xf.shape[0]:
        # many flagged windows (flat data): find the constant ones in O(n)
        changes = np.concatenate(([0], np.cumsum(xf[1:] != xf[:-1])))
        const = (changes[idx + window - 1] - changes[idx]) == 0
    else:
        wins = sliding_window_view(xf, window)[idx]
        const = wins.max(axis=1) == wins.min(axis=1)
    const_idx = idx[const]
    body[const_idx] = 0.0
    mean[window - 1 :][const_idx] = xf[const_idx]
    rest = idx[~const]
    if rest.size:
        wins = sliding_window_view(xf, window)[rest]
        means = wins.mean(axis=1)
        mean[window - 1 :][rest] = means
        centered = wins - means[:, None]
        s1 = centered.sum(axis=1)
        body[rest] = np.maximum((centered * centered).sum(axis=1) - s1 * s1 / window, 0.0)


def rolling_extreme(x: np.ndarray, window: int, kind: str) -> np.ndarray:
    """Rolling max (``kind="max"``) or min, aligned to ``x``; NaN where data is missing."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    nout = n - window + 1
    if nout <= 0:
        return out
    op = np.maximum if kind == "max" else np.minimum
    neutral = -np.inf if kind == "max" else np.inf
    finite = np.isfinite(x)
    if not finite.all():
        x = np.where(finite, x, np.nan)  # pandas: inf is missing too; NaN propagates
    nb = -(-n // window)
    padded = np.full(nb * window, neutral)
    padded[:n] = x
    blocks = padded.reshape(nb, window)
    prefix = op.accumulate(blocks, axis=1).ravel()
    suffix = op.accumulate(blocks[:, ::-1], axis=1)[:, ::-1].ravel()
    op(suffix[:nout], prefix[window - 1 : window - 1 + nout], out=out[window - 1 :])
    return out


class EwmState:
    """The state of pandas' ``ewm(adjust=False, ignore_na=False).mean()`` recursion.

    ``weighted`` is the running mean (NaN before the first observation), ``old_wt`` the
    weight of the past (``(1 - alpha) ** k`` after ``k`` missing bars, else 1), ``nobs`` the
    number of observations so far.
    """

    __slots__ = ("com", "factor", "nobs", "old_wt", "weight", "weighted")

    def __init__(self, com: float) -> None:
        self.com = com
        self.weight = 1.0 / (1.0 + com)  # pandas derives alpha from com exactly like this
        self.factor = 1.0 - self.weight
        self.weighted = np.nan
        self.old_wt = 1.0
        self.nobs = 0

    def step(self, x: float) -> float:
        """One bar, exactly as pandas computes it; returns the running mean."""
        w = self.weighted
        if x - x == 0.0:
            self.nobs += 1
            if w == w:  # noqa: PLR0124 - NaN check on the hot path
                ow = self.old_wt * self.factor
                if w != x:
                    w = (ow * w + self.weight * x) / (ow + self.weight)
                self.old_wt = 1.0
            else:
                w = x
            self.weighted = w
        elif w == w:  # noqa: PLR0124
            self.old_wt *= self.factor
        return w

    def batch(self, x: np.ndarray) -> np.ndarray:
        """Running means for ``x`` continuing from this state (no min_periods mask)."""
        w = self.weighted
        fresh = math.isnan(w)
        if not fresh and self.old_wt != 1.0:
            return self._batch_after_gap(x)
        if fresh:  # pandas from scratch (it treats inf as missing itself)
            values = _pandas_ewm(x, self.com)
        else:  # seeded with the current mean, pandas repeats the per-bar arithmetic exactly
            seeded = np.empty(x.shape[0] + 1)
            seeded[0] = w
            seeded[1:] = x
            values = _pandas_ewm(seeded, self.com)[1:]
        finite = np.isfinite(x)
        seen = int(np.count_nonzero(finite))
        self.nobs += seen
        if seen:
            self.weighted = float(values[-1])
            gap = int(np.argmax(finite[::-1]))  # missing bars after the last observation
            self.old_wt = self.factor**gap if gap else 1.0
        elif not fresh:
            self.old_wt *= self.factor ** x.shape[0]
        return values

    def _batch_after_gap(self, x: np.ndarray) -> np.ndarray:
        # the past is already discounted by a gap: finish the gap bar by bar in closed form
        n = x.shape[0]
        out = np.empty(n)
        finite = np.isfinite(x)
        j = int(np.argmax(finite)) if finite.any() else n
        out[:j] = self.weighted
        self.old_wt *= self.factor**j
        if j < n:
            out[j] = self.step(float(x[j]))  # resets old_wt to 1
            if j + 1 < n:
                out[j + 1 :] = self.batch(x[j + 1 :])
        return out

    def observations(self, x: np.ndarray) -> np.ndarray:
        """Cumulative observation counts over ``x`` as they will be after ``batch(x)``."""
        return self.nobs + np.cumsum(np.isfinite(x))

    def to_dict(self) -> dict[str, float | int]:
        return {"weighted": self.weighted, "old_wt": self.old_wt, "nobs": self.nobs}

    def load(self, state: dict[str, float | int]) -> None:
        self.weighted = float(state["weighted"])
        self.old_wt = float(state["old_wt"])
        self.nobs = int(state["nobs"])
