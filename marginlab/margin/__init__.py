"""Margin models: the common interface, isolated, cross and portfolio (risk-matrix, FHS VaR) engines, presets."""

from marginlab.margin.base import IncrementalMargin, MarginModel, MarginResult, what_if

__all__ = ["IncrementalMargin", "MarginModel", "MarginResult", "what_if"]
