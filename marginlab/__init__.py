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
from pathlib import Path
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("marginlab")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

#: The curated public API (:mod:`marginlab.api`), importable from here: ``from marginlab import get_model``. Its one
#: list of names is ``marginlab.api.__all__``; the API is loaded on first use (PEP 562), so ``import marginlab`` stays
#: light and imports no layer of the package (``__all__`` and ``dir()`` load it too).
if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from marginlab.api import *  # noqa: F403

_SUBMODULES = frozenset(path.stem for path in Path(__file__).parent.iterdir()
                        if path.suffix == ".py" or (path / "__init__.py").is_file())


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES or (name.startswith("__") and name != "__all__"):  # a submodule (``from marginlab import
        # datasets``: the import system loads it when this fails) and dunder probes (``__wrapped__``...) load nothing
        raise AttributeError(f"module 'marginlab' has no attribute {name!r}")
    from marginlab import api

    if name == "__all__":
        return ["__version__", *api.__all__]
    if name in api.__all__:
        value = getattr(api, name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'marginlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    from marginlab import api

    return sorted({*globals(), *api.__all__})
