"""Deprecated: the parameter file moved to :mod:`marginlab.parameters`, ``calibrate`` to
:mod:`marginlab.calibration.calibrate`. This module only forwards (and will be removed).

``CalibrationSettings`` is gone: every choice is a field of
:class:`~marginlab.calibration.methodology.Methodology`; ``settings`` / ``fast`` are accepted and ignored
unless ``settings`` is a ``Methodology``.
"""

from __future__ import annotations

import warnings
from typing import Any

from marginlab.calibration.calibrate import calibrate as _calibrate
from marginlab.calibration.methodology import Methodology
from marginlab.parameters import ParameterSet, load

CalibratedParameters = ParameterSet

__all__ = ["CalibratedParameters", "CalibrationSettings", "calibrate", "load"]


class CalibrationSettings:
    """Deprecated placeholder: ``CalibrationSettings()`` / ``.fast()`` give the default :class:`Methodology`."""

    def __new__(cls, **_: Any) -> Methodology:  # type: ignore[misc]
        return Methodology()

    @classmethod
    def fast(cls, **_: Any) -> Methodology:
        return Methodology()


def calibrate(assets: Any, asof: Any, *, settings: Any = None, fast: bool = False, **kwargs: Any) -> ParameterSet:
    """Deprecated alias of :func:`marginlab.calibration.calibrate.calibrate`."""
    warnings.warn("marginlab.calibration.params is deprecated; use marginlab.calibration.calibrate.calibrate",
                  DeprecationWarning, stacklevel=2)
    return _calibrate(assets, asof, settings if isinstance(settings, Methodology) else None, **kwargs)
