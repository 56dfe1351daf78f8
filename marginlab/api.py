"""The curated public API of marginlab: what a user, the README and the notebooks import.

Everything here is also importable from the package's top level (``from marginlab import get_model``); the
module paths behind it may move, these names do not. Every function and class listed in :data:`__all__` has a
numpydoc docstring with its Parameters and Returns (``tests/test_api.py`` checks it).

Sections:

- **accounts and instruments**: :class:`Account`, :class:`Position`, :class:`Spot`, :class:`Perpetual`,
  :class:`Future`, :class:`Option`, :func:`parse_symbol`, :func:`positions_from_csv`;
- **markets**: :class:`MarketSnapshot`, :class:`VolSmile`, :func:`market_from_history`;
- **margin models**: :func:`get_model`, :func:`available_models`, :func:`describe_model`, :class:`MarginModel`,
  :class:`MarginResult`, :func:`what_if`, :class:`FilteredHistoricalMargin`, :class:`HistoricalScenarios`,
  :func:`greeks_report`;
- **parameter file**: :class:`ParameterSet` (``.save(path)``), :func:`load_parameters`, :func:`save_parameters`,
  :func:`models_from_parameters`, :func:`models_from_parameter_file`;
- **calibration**: :func:`calibrate`, :class:`Methodology` and its specs, :class:`StressRangeModel`;
- **backtests**: :func:`margin_backtest`, :func:`backtest_table`, :func:`backtest_methodology`,
  :func:`procyclicality_table`;
- **replays and stress tests**: :func:`replay`, :func:`point_in_time_models`, :func:`scenario_path`,
  :func:`list_scenarios`, :func:`get_scenario`, :class:`MarketPath`, :func:`synthetic_book`,
  :func:`simulate_cascade`;
- **liquidation**: :class:`LiquidationPolicy`, :func:`liquidation_policy_for`, :func:`liquidate_book`,
  :class:`FlatRateModel` (the reference flat-rate model);
- **strategies**: :func:`build_strategies`, :func:`margin_table`;
- **data**: :func:`load_daily`, :func:`load_hourly`, :func:`close_panel`, :func:`load_dvol`, :func:`load_funding`,
  :func:`load_universe`, :func:`log_returns`, :func:`dataset_info`, :func:`catalogue`;
- **reports**: :func:`format_table`, :func:`save_figure`;
- **errors**: :class:`MarginLabError`, :class:`InputError`, :class:`MarginLabWarning`.
"""

from __future__ import annotations

from pathlib import Path

from marginlab.account import Account, positions_from_csv
from marginlab.analysis.backtest import backtest_table, margin_backtest
from marginlab.analysis.cascade import simulate_cascade
from marginlab.analysis.efficiency import build_strategies, margin_table
from marginlab.analysis.methodology_backtest import backtest_methodology
from marginlab.analysis.procyclicality import procyclicality_table
from marginlab.analysis.replay import point_in_time_models, replay
from marginlab.analysis.stress_scenarios import MarketPath, get_scenario, list_scenarios, scenario_path
from marginlab.analysis.synthetic import synthetic_book
from marginlab.calibration.calibrate import calibrate
from marginlab.calibration.methodology import (
    AntiProcyclicalitySpec,
    ExtremeMoveSpec,
    HaircutSpec,
    Methodology,
    RateSpec,
    ResidualPoolSpec,
    VolatilitySpec,
    VolShockSpec,
)
from marginlab.calibration.stress_ranges import StressRangeModel
from marginlab.data import (
    catalogue,
    close_panel,
    dataset_info,
    load_daily,
    load_dvol,
    load_funding,
    load_hourly,
    load_universe,
    log_returns,
)
from marginlab.exceptions import InputError, MarginLabError, MarginLabWarning
from marginlab.greeks import greeks_report
from marginlab.instruments import Future, Option, Perpetual, Position, Spot, parse_symbol
from marginlab.liquidation.driver import liquidate_book
from marginlab.liquidation.policy import LiquidationPolicy, liquidation_policy_for
from marginlab.margin.base import MarginModel, MarginResult, what_if
from marginlab.margin.calibrated import models_from_parameter_file, models_from_parameters
from marginlab.margin.fhs import FilteredHistoricalMargin, HistoricalScenarios
from marginlab.margin.flat import FlatRateModel
from marginlab.margin.presets import available_models, get_model
from marginlab.margin.presets import describe as describe_model
from marginlab.market import MarketSnapshot, VolSmile
from marginlab.market_history import market_from_history
from marginlab.parameters import ParameterSet
from marginlab.parameters import load as load_parameters
from marginlab.reports import format_table, save_figure

__all__ = [
    # accounts and instruments
    "Account", "Position", "Spot", "Perpetual", "Future", "Option", "parse_symbol", "positions_from_csv",
    # markets
    "MarketSnapshot", "VolSmile", "market_from_history",
    # margin models
    "get_model", "available_models", "describe_model", "MarginModel", "MarginResult", "what_if",
    "FilteredHistoricalMargin", "HistoricalScenarios", "greeks_report",
    # parameter file
    "ParameterSet", "load_parameters", "save_parameters", "models_from_parameters", "models_from_parameter_file",
    # calibration
    "calibrate", "Methodology", "VolatilitySpec", "ResidualPoolSpec", "VolShockSpec", "ExtremeMoveSpec", "HaircutSpec",
    "RateSpec", "AntiProcyclicalitySpec", "StressRangeModel",
    # backtests
    "margin_backtest", "backtest_table", "backtest_methodology", "procyclicality_table",
    # replays and stress tests
    "replay", "point_in_time_models", "scenario_path", "list_scenarios", "get_scenario", "MarketPath", "synthetic_book",
    "simulate_cascade",
    # liquidation
    "LiquidationPolicy", "liquidation_policy_for", "liquidate_book", "FlatRateModel",
    # strategies
    "build_strategies", "margin_table",
    # data
    "load_daily", "load_hourly", "close_panel", "load_dvol", "load_funding", "load_universe", "log_returns",
    "dataset_info", "catalogue",
    # reports
    "format_table", "save_figure",
    # errors
    "MarginLabError", "InputError", "MarginLabWarning",
]


def save_parameters(parameters: ParameterSet, path: str | Path) -> Path:
    """Write a parameter file (YAML or JSON by its suffix), validated against the schema, atomically.

    The same as ``parameters.save(path)``.

    Parameters
    ----------
    parameters : ParameterSet
        The parameters, e.g. from :func:`calibrate` or :func:`load_parameters`.
    path : str or Path
        The file to write: ``.yaml``, ``.yml`` or ``.json``.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    InputError
        When ``parameters`` is not a :class:`ParameterSet`, or ``path`` has another suffix or cannot be written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from marginlab.parameters import example_parameters
    >>> target = save_parameters(example_parameters(), pathlib.Path(tempfile.mkdtemp()) / "p.yaml")
    >>> load_parameters(target).assets == example_parameters().assets
    True
    """
    if not isinstance(parameters, ParameterSet):
        raise InputError("parameters", type(parameters).__name__, "must be a ParameterSet (from calibrate or load_parameters)")
    return parameters.save(path)
