"""marginlab: open research and specification package for crypto-derivatives margin.

Data flow (see ``DESIGN.md``)::

    market history -> data (load, validate, returns)
    stats (one EWMA, FHS bootstrap, risk measures, impact) -> used by every layer below
                        -> calibration (one Methodology -> its model objects -> stress ranges,
                           vol shocks, haircuts, rates) -> parameters.ParameterSet (typed contract)
    accounts + market snapshot -> margin models (isolated | cross | portfolio: risk matrix,
                           FHS VaR), configured by presets (venue rules as data) or a ParameterSet
                        -> analysis (liquidation, cascades, replay, backtests, procyclicality)

Modules: :mod:`marginlab.data`, :mod:`marginlab.instruments`, :mod:`marginlab.pricing`,
:mod:`marginlab.account`, :mod:`marginlab.market`, :mod:`marginlab.market_history`,
:mod:`marginlab.valuation`, :mod:`marginlab.margin`, :mod:`marginlab.collateral`,
:mod:`marginlab.greeks`, :mod:`marginlab.stats`, :mod:`marginlab.parameters`, :mod:`marginlab.calibration`, :mod:`marginlab.analysis`,
:mod:`marginlab.scale`, :mod:`marginlab.cli`, :mod:`marginlab.reports`,
:mod:`marginlab.exceptions` (see ``DESIGN.md`` for the module map).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("marginlab")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
