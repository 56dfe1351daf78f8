"""Venue presets: named parameter sets of the general engines, read from data files.

A preset is data -- a versioned YAML file in ``marginlab/margin/venues/`` (see
:mod:`marginlab.margin.venues`) naming the engine it configures, its parameters, sources,
effective date and assumed values -- never a copy of an engine. :func:`get_model` builds the
model a file describes; :func:`available_models` lists them. Files in the folders of
``$MARGINLAB_VENUES`` or of the ``venues_dir`` argument add presets or replace the package's
(same ``name``), so a user adds a venue or edits a table without Python.

Models that are not venue rules but calibrations (``fhs-var`` from market history, the
``calibrated-*`` presets of ``$MARGINLAB_PARAMETER_FILE``) are Python factories registered here
(:func:`register` adds a user's own). The named factories (:func:`deribit_standard`,
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

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from marginlab.exceptions import ParameterError, UnknownAssetError
from marginlab.margin import calibrated, fhs
from marginlab.margin.base import MarginModel
from marginlab.margin.cross import CrossMargin
from marginlab.margin.isolated import IsolatedMargin
from marginlab.margin.okx_pm import OkxPortfolioMarginModel
from marginlab.margin.span import SpanModel
from marginlab.margin.venues import build_model, venue_files
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


# the package's Python presets: FHS VaR/ES (fhs-var, calibrated from history) and calibrated-* ($MARGINLAB_PARAMETER_FILE)
register("fhs-var", "portfolio", fhs.PRESET_DESCRIPTION, fhs.preset_model)
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
