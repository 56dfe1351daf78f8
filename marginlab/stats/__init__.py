"""Shared numerics, one of each: the EWMA recursion, the filtered-historical bootstrap, risk measures, square-root impact.

The lowest layer of marginlab after :mod:`marginlab.exceptions`: it imports neither calibration nor margin, and
both use it. Modules: :mod:`~marginlab.stats.ewma`, :mod:`~marginlab.stats.bootstrap`,
:mod:`~marginlab.stats.risk_measures`, :mod:`~marginlab.stats.impact`.
"""

from marginlab.stats.bootstrap import as_generator, asset_generators, fhs_horizon_returns, fhs_joint_horizon_returns
from marginlab.stats.ewma import EWMA_DECAY, ewma_variance_forecasts, ewma_volatility, ewma_volatility_forecasts
from marginlab.stats.impact import square_root_impact
from marginlab.stats.risk_measures import drop_risk, expected_shortfall, tail_measures, value_at_risk, weighted_expected_shortfall

__all__ = [
    "EWMA_DECAY",
    "as_generator",
    "asset_generators",
    "drop_risk",
    "ewma_variance_forecasts",
    "ewma_volatility",
    "ewma_volatility_forecasts",
    "expected_shortfall",
    "fhs_horizon_returns",
    "fhs_joint_horizon_returns",
    "square_root_impact",
    "tail_measures",
    "value_at_risk",
    "weighted_expected_shortfall",
]
