"""Venue presets: named parameter sets of the general engines, read from data files.

A preset is data -- a versioned YAML file in ``marginlab/margin/venues/`` (see
:mod:`marginlab.margin.venues`) naming the engine it configures, its parameters, sources,
effective date and assumed values -- never a copy of an engine. :func:`get_model` builds the
model a file describes; :func:`available_models` lists them. Files in the folders of
``$MARGINLAB_VENUES`` or of the ``venues_dir`` argument add presets or replace the package's
(same ``name``), so a user adds a venue or edits a table without Python.

Models that are not fixed parameter sets but calibrations (the ``calibrated-*`` presets of
``$MARGINLAB_PARAMETER_FILE``) are Python factories registered here
(:func:`register` adds a user's own; ``fhs-var`` is a venue file like the venue presets). The named factories (:func:`deribit_standard`,
:func:`binance_unified`, :func:`okx_pm`, ...) build the package's venue files.

The road from a venue file to an engine is one way: this registry and the venue loader
(:mod:`marginlab.margin.venues`) import the engines; engines never import either
(``tests/test_imports.py``).

>>> from marginlab.margin.presets import available_models, get_model
>>> "family" in available_models().columns
True
>>> get_model("dydx", open_interest_usd={"BTC": 35e6}).name
'dydx'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from marginlab.exceptions import ParameterError, UnknownAssetError
from marginlab.margin import calibrated
from marginlab.margin.base import MarginModel
from marginlab.margin.cross import CrossMargin
from marginlab.margin.isolated import IsolatedMargin
from marginlab.margin.okx_pm import OkxPortfolioMarginModel
from marginlab.margin.risk_matrix import RiskMatrixModel
from marginlab.margin.scenarios import VolShock, vol_shock_from_data
from marginlab.margin.span import SpanModel
from marginlab.margin.venues import build_model, load_venue, venue_files
from marginlab.margin.venues import describe as describe_venue

VenuesDir = str | Path | Iterable[str | Path] | None


@dataclass(frozen=True)
class Preset:
    name: str
    family: str
    description: str
    factory: Callable[..., MarginModel]


_REGISTRY: dict[str, Preset] = {}


def register(name: str, family: str, description: str, factory: Callable[..., MarginModel]) -> None:
    """Register a Python preset under ``name`` (lower-case, dash-separated, e.g. ``fhs-var``)."""
    _REGISTRY[name] = Preset(name, family, description, factory)


# the package's Python presets: calibrated-* ($MARGINLAB_PARAMETER_FILE); fhs-var is venues/fhs-var.yaml
for _name, (_family, _description) in calibrated.PRESET_DESCRIPTIONS.items():
    register(_name, _family, _description, partial(calibrated.preset_model, _name))


def _venues(venues_dir: VenuesDir = None) -> dict[str, Any]:
    return venue_files(venues_dir)


def get_model(name: str, *, venues_dir: VenuesDir = None, **runtime_inputs: Any) -> MarginModel:
    """The model configured by preset ``name``.

    Parameters
    ----------
    name : str
        A venue file's ``name`` (package, ``$MARGINLAB_VENUES`` or ``venues_dir``) or a
        registered Python preset.
    venues_dir : path or paths, optional
        Extra folders of venue files (they take precedence).
    **runtime_inputs
        Run-time inputs the venue file declares, e.g. ``open_interest_usd={"BTC": 3e7}``.

    Returns
    -------
    MarginModel
        The configured model (``.margin(account, market)``, ``.margin_book(...)``).
    """
    specs = _venues(venues_dir)
    if name in specs:
        return build_model(specs[name], **runtime_inputs)  # type: ignore[no-any-return]
    if name not in _REGISTRY:
        raise UnknownAssetError("model", name, f"is not a known preset (known: {sorted(set(_REGISTRY) | set(specs))})")
    given = {k: v for k, v in runtime_inputs.items() if v is not None}
    if given:
        raise ParameterError(next(iter(given)), next(iter(given.values())), f"preset {name} takes no run-time inputs")
    return _REGISTRY[name].factory()


def describe(name: str, *, venues_dir: VenuesDir = None) -> str:
    """The rules, scenario dimensions, sources and assumptions of a preset, from its venue file.

    Parameters
    ----------
    name : str
        The preset (see :func:`available_models`).
    venues_dir : path or paths, optional
        Extra folders of venue files.

    Returns
    -------
    str
        A readable description of the preset's rules.
    """
    specs = _venues(venues_dir)
    if name in specs:
        return describe_venue(specs[name])
    if name not in _REGISTRY:
        raise UnknownAssetError("model", name, f"is not a known preset (known: {sorted(set(_REGISTRY) | set(specs))})")
    preset = _REGISTRY[name]
    return f"{preset.name} ({preset.family}, Python preset): {preset.description}"


def available_models(*, venues_dir: VenuesDir = None) -> pd.DataFrame:
    """Every preset with its family, description, version, effective date and scenario dimensions.

    Parameters
    ----------
    venues_dir : path or paths, optional
        Extra folders of venue files.

    Returns
    -------
    pandas.DataFrame
        One row per preset: ``name``, ``family``, ``description``, ``version``, ``effective_date``, ``dimensions``.
    """
    rows = {p.name: (p.name, p.family, p.description, "", "", "") for p in _REGISTRY.values()}
    for spec in _venues(venues_dir).values():
        rows[spec.name] = (spec.name, spec.family, spec.description, f"v{spec.version}", spec.effective_date, ", ".join(spec.dimensions))
    return pd.DataFrame(sorted(rows.values(), key=lambda r: (r[1], r[0])),
                        columns=["name", "family", "description", "version", "effective_date", "dimensions"])


# ----------------------------------------------------------------------------------------
# the package's venue files by name
# ----------------------------------------------------------------------------------------
def _venue(name: str, kind: type, **runtime_inputs: Any) -> Any:
    model = build_model(name, **runtime_inputs)
    assert isinstance(model, kind)
    return model


def deribit_standard() -> IsolatedMargin:
    """Deribit standard margin: C1 futures/perpetual rates, C2 option formulas (``venues/deribit-standard.yaml``)."""
    return _venue("deribit-standard", IsolatedMargin)  # type: ignore[no-any-return]


def binance_brackets() -> IsolatedMargin:
    """Binance risk-limit brackets (E2); no options (``venues/binance-brackets.yaml``)."""
    return _venue("binance-brackets", IsolatedMargin)  # type: ignore[no-any-return]


def hyperliquid() -> IsolatedMargin:
    """Hyperliquid: IM = notional / leverage, MM = half the IM at max leverage (E1; ``venues/hyperliquid.yaml``)."""
    return _venue("hyperliquid", IsolatedMargin)  # type: ignore[no-any-return]


def dydx(open_interest_usd: Mapping[str, float] | None = None) -> IsolatedMargin:
    """dYdX v4 liquidity tiers (E3), optionally with market open interest per asset (``venues/dydx.yaml``)."""
    return _venue("dydx", IsolatedMargin, open_interest_usd=dict(open_interest_usd or {}))  # type: ignore[no-any-return]


def binance_unified() -> CrossMargin:
    """Binance unified account (F): brackets per position, collateral rates, action ladder (``venues/binance-unified.yaml``)."""
    return _venue("binance-unified", CrossMargin)  # type: ignore[no-any-return]


def deribit_cross() -> CrossMargin:
    """Deribit standard rules in cross mode with multi-asset collateral haircuts (``venues/deribit-cross.yaml``)."""
    return _venue("deribit-cross", CrossMargin)  # type: ignore[no-any-return]


def hyperliquid_cross() -> CrossMargin:
    """Hyperliquid rules in cross mode (USD collateral at full value; ``venues/hyperliquid-cross.yaml``)."""
    return _venue("hyperliquid-cross", CrossMargin)  # type: ignore[no-any-return]


def dydx_cross() -> CrossMargin:
    """dYdX v4 liquidity tiers in cross mode (USDC collateral; ``venues/dydx-cross.yaml``)."""
    return _venue("dydx-cross", CrossMargin)  # type: ignore[no-any-return]


def okx_pm() -> OkxPortfolioMarginModel:
    """OKX portfolio margin with the parameters of ``venues/okx-pm.yaml``."""
    return _venue("okx-pm", OkxPortfolioMarginModel)  # type: ignore[no-any-return]


def cme_span_example() -> SpanModel:
    """The ``span-example`` preset (``venues/span-example.yaml``): BTC and ETH, PSR 20% / 25%, VSR 10 vol points, X = 2."""
    return _venue("span-example", SpanModel)  # type: ignore[no-any-return]


# ----------------------------------------------------------------------------------------
# Deribit portfolio margin by version (venues/deribit-pm*.yaml), with parameters changed
# ----------------------------------------------------------------------------------------
def deribit_vol_shock(up_range: float | None = None, down_range: float | None = None, min_vol: float | None = None, *,
                      preset: str = "deribit-pm") -> VolShock:
    """The vol shock of a Deribit venue file (default ``deribit-pm``), with the ranges or the minimum vol replaced.

    >>> deribit_vol_shock().up_range, deribit_vol_shock(min_vol=0.4).min_shocked_vol
    (0.5, 0.4)
    """
    shock: VolShock = vol_shock_from_data(load_venue(preset).parameters.get("vol_shock"), f"{preset}.parameters.vol_shock")
    changes: dict[str, Any] = {k: v for k, v in (("up_range", up_range), ("down_range", down_range), ("min_shocked_vol", min_vol)) if v is not None}
    return dataclasses.replace(shock, **changes)


def deribit_pm(
    spot_range: float | None = None,
    points: int | None = None,
    tail_dampening: float | None = None,
    *,
    preset: str = "deribit-pm",
    up_range: float | None = None,
    down_range: float | None = None,
    min_vol: float | None = None,
    option_contingency: float | None = None,
    futures_contingency: float | None = None,
    mm_loss_factor: float | None = None,
    im_loss_factor: float | None = None,
    name: str | None = None,
) -> RiskMatrixModel:
    """A Deribit risk-matrix preset (``preset``, default ``deribit-pm``) with the values its arguments name replaced.

    ``tail_dampening`` sets the dampening of the file's extended (large-move) rows; a file without
    them (``deribit-pm``) takes them from ``deribit-pm-c3``. Arguments left ``None`` keep the file's value.

    >>> deribit_pm(tail_dampening=0.05).scenarios.dampening[-1]
    0.05
    """
    spec = load_venue(preset)
    if spec.engine != "risk_matrix":
        raise ParameterError("preset", preset, f"is a {spec.engine} venue file; deribit_pm builds risk-matrix presets")
    params = dict(spec.parameters)
    grid = dict(params["grid"])
    if spot_range is not None:
        grid["spot_range"] = spot_range
    if points is not None:
        grid["points"] = points
    if tail_dampening is not None:
        extra = grid.get("extra") or load_venue("deribit-pm-c3").parameters["grid"]["extra"]
        grid["extra"] = [[x, v, tail_dampening] for x, v, _ in extra]
    params["grid"] = grid
    shock = deribit_vol_shock(up_range, down_range, min_vol, preset=preset)
    params["vol_shock"] = {f.name: getattr(shock, f.name) for f in dataclasses.fields(shock)}
    for key, value in (("option_contingency_mm", option_contingency), ("linear_contingency_mm", futures_contingency),
                       ("mm_loss_factor", mm_loss_factor), ("im_loss_factor", im_loss_factor)):
        if value is not None:
            params[key] = value
    changed = dataclasses.replace(spec, name=name or spec.name, parameters=params)
    model = build_model(changed)
    assert isinstance(model, RiskMatrixModel)
    return model


def deribit_pm_legacy() -> RiskMatrixModel:
    """Older Deribit PM parameters as summarised in C3 (``venues/deribit-pm-legacy.yaml``)."""
    return deribit_pm(preset="deribit-pm-legacy")


def deribit_futures_pm(spot_range: float | None = None, step: float | None = None, futures_contingency: float | None = None) -> RiskMatrixModel:
    """Futures portfolio margin of worked example D (``venues/deribit-futures-pm.yaml``), optionally changed."""
    spec = load_venue("deribit-futures-pm")
    grid = spec.parameters["grid"]
    current_range = float(grid["spot_range"])
    current_step = 2 * current_range / (int(grid["points"]) - 1)
    spot_range = current_range if spot_range is None else spot_range
    step = current_step if step is None else step
    points = int(round(2 * spot_range / step)) + 1
    return deribit_pm(spot_range, points, preset="deribit-futures-pm", futures_contingency=futures_contingency)
