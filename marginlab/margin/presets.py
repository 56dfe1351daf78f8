"""Venue presets: named parameter sets of the general engines, read from data files.

A preset is data -- a versioned YAML file in ``marginlab/margin/venues/`` (see
:mod:`marginlab.margin.venues`) naming the engine it configures, its parameters, sources,
effective date and assumed values -- never a copy of an engine. :func:`get_model` builds the
model a file describes; :func:`available_models` lists them. Files in the folders of
``$MARGINLAB_VENUES`` or of the ``venues_dir`` argument add presets or replace the package's
(same ``name``), so a user adds a venue or edits a table without Python.

Models that are not venue rules but calibrations (``fhs-var`` from market history, the
``calibrated-*`` presets of ``$MARGINLAB_PARAMETER_FILE``) register a Python factory with
:func:`register`.

>>> from marginlab.margin.presets import available_models, get_model
>>> "family" in available_models().columns
True
>>> get_model("dydx", open_interest_usd={"BTC": 35e6}).name
'dydx'
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from marginlab.exceptions import ParameterError, UnknownAssetError
from marginlab.margin.base import MarginModel

#: Modules whose import registers Python presets (each calls :func:`register`).
PRESET_MODULES: tuple[str, ...] = ("marginlab.margin.fhs",)  # FHS VaR/ES portfolio margin (fhs-var), calibrated from history
PRESET_MODULES += ("marginlab.margin.calibrated",)  # calibrated-* presets from $MARGINLAB_PARAMETER_FILE

VenuesDir = str | Path | Iterable[str | Path] | None


@dataclass(frozen=True)
class Preset:
    name: str
    family: str
    description: str
    factory: Callable[..., MarginModel]


_REGISTRY: dict[str, Preset] = {}
_loaded = False


def register(name: str, family: str, description: str, factory: Callable[..., MarginModel]) -> None:
    """Register a Python preset under ``name`` (lower-case, dash-separated, e.g. ``fhs-var``)."""
    _REGISTRY[name] = Preset(name, family, description, factory)


def _load() -> None:
    global _loaded
    if not _loaded:
        for module in PRESET_MODULES:
            importlib.import_module(module)
        _loaded = True


def _venues(venues_dir: VenuesDir = None) -> dict[str, Any]:
    from marginlab.margin.venues import venue_files

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
    from marginlab.margin.venues import build_model

    specs = _venues(venues_dir)
    if name in specs:
        return build_model(specs[name], **runtime_inputs)  # type: ignore[no-any-return]
    _load()
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
    from marginlab.margin.venues import describe as describe_venue

    specs = _venues(venues_dir)
    if name in specs:
        return describe_venue(specs[name])
    _load()
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
    _load()
    rows = {p.name: (p.name, p.family, p.description, "", "", "") for p in _REGISTRY.values()}
    for spec in _venues(venues_dir).values():
        rows[spec.name] = (spec.name, spec.family, spec.description, f"v{spec.version}", spec.effective_date, ", ".join(spec.dimensions))
    return pd.DataFrame(sorted(rows.values(), key=lambda r: (r[1], r[0])),
                        columns=["name", "family", "description", "version", "effective_date", "dimensions"])
