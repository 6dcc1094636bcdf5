"""Incremental calculations: indicators, a position tracker and risk metrics that update in
O(1) per bar, recompute only what changed, and save/restore their state.

Every series calculator shares one shape: ``update(value)`` adds a bar and returns the
current value; ``calculate(values)`` returns one output per bar (NaN in warm-up, as pandas)
and only processes the new tail when ``values`` extends the data it saw last; ``value`` is
the latest output; ``get_state()``/``from_state()`` carry it to another process or machine.
"""

from admf_perf.incremental.averages import (
    ExponentialMovingAverageCalculator,
    MovingAverageCalculator,
)
from admf_perf.incremental.base import ArrayCalculator, IncrementalCalculator, SeriesCalculator
from admf_perf.incremental.cached import (
    CachedIndicator,
    CachedMovingAverage,
    cached_indicator,
    cached_signal,
    market_data_key,
)
from admf_perf.incremental.dispersion import (
    BollingerBandsCalculator,
    RollingStdCalculator,
    RollingVarianceCalculator,
)
from admf_perf.incremental.errors import (
    InvalidInputError,
    NonNumericInputError,
    OutOfOrderError,
    StateError,
)
from admf_perf.incremental.extremes import RollingMaxCalculator, RollingMinCalculator
from admf_perf.incremental.oscillators import RSICalculator
from admf_perf.incremental.positions import IncrementalPositionTracker, Position
from admf_perf.incremental.risk import CachingRiskCalculator, RiskMetrics
from admf_perf.incremental.windowed import WindowedCalculator

__all__ = [
    "ArrayCalculator",
    "BollingerBandsCalculator",
    "CachedIndicator",
    "CachedMovingAverage",
    "CachingRiskCalculator",
    "ExponentialMovingAverageCalculator",
    "IncrementalCalculator",
    "IncrementalPositionTracker",
    "InvalidInputError",
    "MovingAverageCalculator",
    "NonNumericInputError",
    "OutOfOrderError",
    "Position",
    "RSICalculator",
    "RiskMetrics",
    "RollingMaxCalculator",
    "RollingMinCalculator",
    "RollingStdCalculator",
    "RollingVarianceCalculator",
    "SeriesCalculator",
    "StateError",
    "WindowedCalculator",
    "cached_indicator",
    "cached_signal",
    "market_data_key",
]
