"""Margin models: the common interface, isolated, cross and portfolio (risk-matrix, FHS VaR) engines, presets."""

from typing import TYPE_CHECKING, Any

from marginlab.margin.base import IncrementalMargin, MarginModel, MarginResult, what_if

__all__ = ["IncrementalMargin", "MarginModel", "MarginResult", "what_if", "get_model", "available_models"]

if TYPE_CHECKING:  # pragma: no cover
    from marginlab.margin.presets import available_models, get_model


def __getattr__(name: str) -> Any:
    """``get_model`` and ``available_models`` from :mod:`marginlab.margin.presets`, loaded on first use (the presets
    import every engine, and the engines import this package)."""
    if name in ("get_model", "available_models"):
        from marginlab.margin import presets

        return getattr(presets, name)
    raise AttributeError(f"module 'marginlab.margin' has no attribute {name!r}")
