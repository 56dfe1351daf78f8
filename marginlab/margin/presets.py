"""Venue presets: named parameter sets of the general engines.

A preset is data -- a name, a one-line description and a factory returning a configured
model -- never a copy of an engine. Engine modules register their presets when imported;
:func:`get_model` and :func:`available_models` import them on first use.

>>> from marginlab.margin.presets import available_models
>>> "family" in available_models().columns
True
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from marginlab.exceptions import UnknownAssetError
from marginlab.margin.base import MarginModel

#: Modules whose import registers presets (each calls :func:`register`).
PRESET_MODULES: tuple[str, ...] = ("marginlab.margin.isolated", "marginlab.margin.cross")
PRESET_MODULES += ("marginlab.margin.fhs",)  # FHS VaR/ES portfolio margin (fhs-var)
PRESET_MODULES += ("marginlab.margin.derive", "marginlab.margin.deribit_pm", "marginlab.margin.span", "marginlab.margin.okx_pm")  # risk-matrix engine presets
PRESET_MODULES += ("marginlab.margin.calibrated",)  # calibrated-* presets from $MARGINLAB_PARAMETER_FILE


@dataclass(frozen=True)
class Preset:
    name: str
    family: str
    description: str
    factory: Callable[[], MarginModel]


_REGISTRY: dict[str, Preset] = {}
_loaded = False


def register(name: str, family: str, description: str, factory: Callable[[], MarginModel]) -> None:
    """Register a preset under ``name`` (lower-case, dash-separated, e.g. ``deribit-standard``)."""
    _REGISTRY[name] = Preset(name, family, description, factory)


def _load() -> None:
    global _loaded
    if not _loaded:
        for module in PRESET_MODULES:
            importlib.import_module(module)
        _loaded = True


def get_model(name: str) -> MarginModel:
    """The model configured by preset ``name``."""
    _load()
    try:
        preset = _REGISTRY[name]
    except KeyError:
        raise UnknownAssetError("model", name, f"is not a known preset (known: {sorted(_REGISTRY)})") from None
    return preset.factory()


def available_models() -> pd.DataFrame:
    """Every registered preset with its family and description."""
    _load()
    return pd.DataFrame(
        [(p.name, p.family, p.description) for p in sorted(_REGISTRY.values(), key=lambda p: (p.family, p.name))],
        columns=["name", "family", "description"],
    )
