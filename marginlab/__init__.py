"""marginlab: open research and specification package for crypto-derivatives margin.

Data flow (see ``DESIGN.md``)::

    market history -> data (load, validate, returns)
    stats (one EWMA, FHS bootstrap, risk measures, impact) -> used by every layer below
                        -> calibration (one Methodology -> its model objects -> stress ranges,
                           vol shocks, haircuts, rates) -> parameters.ParameterSet (typed contract)
    accounts + market snapshot -> margin models (isolated | cross | portfolio: risk matrix,
                           FHS VaR), configured by presets (venue rules as data) or a ParameterSet
                        -> analysis (liquidation, cascades, replay, backtests, procyclicality)

The curated public API is :mod:`marginlab.api`, re-exported here (``from marginlab import Account, get_model,
calibrate, replay``); the module paths below are the implementation.

Modules: :mod:`marginlab.data`, :mod:`marginlab.instruments`, :mod:`marginlab.pricing`,
:mod:`marginlab.account`, :mod:`marginlab.market`, :mod:`marginlab.market_history`,
:mod:`marginlab.valuation`, :mod:`marginlab.margin`, :mod:`marginlab.collateral`,
:mod:`marginlab.greeks`, :mod:`marginlab.stats`, :mod:`marginlab.parameters`, :mod:`marginlab.calibration`, :mod:`marginlab.analysis`,
:mod:`marginlab.scale`, :mod:`marginlab.cli`, :mod:`marginlab.reports`,
:mod:`marginlab.exceptions` (see ``DESIGN.md`` for the module map).
"""

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:  # as marginlab._version (which the layers import: the top level loads no module of the package)
    __version__ = version("marginlab")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

#: The curated public API (:mod:`marginlab.api`), importable from here: ``from marginlab import get_model``.
#: Loaded on first use (PEP 562), so ``import marginlab`` stays light and imports no layer of the package.
_API_NAMES = (
    "Account", "Position", "Spot", "Perpetual", "Future", "Option", "parse_symbol", "positions_from_csv",
    "MarketSnapshot", "VolSmile", "market_from_history",
    "get_model", "available_models", "describe_model", "MarginModel", "MarginResult", "what_if",
    "FilteredHistoricalMargin", "HistoricalScenarios", "greeks_report",
    "ParameterSet", "load_parameters", "save_parameters", "models_from_parameters", "models_from_parameter_file",
    "calibrate", "Methodology", "VolatilitySpec", "ResidualPoolSpec", "VolShockSpec", "ExtremeMoveSpec", "HaircutSpec",
    "RateSpec", "AntiProcyclicalitySpec", "StressRangeModel",
    "margin_backtest", "backtest_table", "backtest_methodology", "procyclicality_table",
    "replay", "point_in_time_models", "scenario_path", "list_scenarios", "get_scenario", "MarketPath", "synthetic_book",
    "simulate_cascade",
    "LiquidationPolicy", "liquidation_policy_for", "liquidate_book", "FlatRateModel",
    "build_strategies", "margin_table",
    "load_daily", "load_hourly", "close_panel", "load_dvol", "load_funding", "load_universe", "log_returns",
    "dataset_info", "catalogue",
    "format_table", "save_figure",
    "MarginLabError", "InputError", "MarginLabWarning",
)

__all__ = ["__version__", *_API_NAMES]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from marginlab.api import *  # noqa: F403


def __getattr__(name: str) -> Any:
    if name in _API_NAMES:
        from marginlab import api

        value = getattr(api, name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'marginlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API_NAMES})
