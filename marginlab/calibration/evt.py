"""Extreme value theory: peaks-over-threshold generalised Pareto tails and their quantiles.

Model (McNeil and Frey 2000, McNeil, Frey and Embrechts, *Quantitative Risk Management*, eq. 5.18):
for losses ``L`` (``L = -x`` for the lower tail of a sample ``x``), the excesses over a high threshold
``u`` follow approximately a generalised Pareto law ``G_{xi, beta}``, and for ``p`` above the
threshold's probability level

.. math::

    \\mathrm{VaR}_p = u + \\frac{\\beta}{\\xi}\\left[\\left(\\frac{n}{N_u}(1-p)\\right)^{-\\xi} - 1\\right],
    \\qquad (\\xi \\to 0:\\ u - \\beta \\ln(\\tfrac{n}{N_u}(1-p)))

with ``n`` observations and ``N_u`` exceedances. **Threshold choice**: ``u`` is the empirical
``threshold_quantile`` (default 0.90, i.e. the largest 10% of losses) of the losses, the usual choice
for standardised GARCH residuals (McNeil and Frey use the top 10%); at least ``min_exceedances``
(default 30) exceedances are required. The GPD is fitted by maximum likelihood
(:func:`scipy.stats.genpareto.fit` with location fixed at 0, started at the method-of-moments estimates). A shape outside ``[-0.5, 1)`` (the
maximum-likelihood estimator is not regular below -0.5; the mean is infinite at 1) gives a
:class:`~marginlab.exceptions.BoundaryWarning`.

Examples
--------
>>> import numpy as np
>>> sample = np.random.default_rng(0).standard_t(4, size=20_000)
>>> fit = fit_gpd_tail(sample, tail="lower")
>>> 0.0 < fit.shape < 0.5   # Student-t with 4 d.o.f. has tail index 1/4
True
>>> from scipy import stats
>>> exact = stats.t.ppf(0.999, 4)   # 7.17
>>> bool(abs(evt_quantile(fit, 0.999) - exact) < 0.5)
True
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

from marginlab.exceptions import BoundaryWarning, CalibrationError, InputError, ParameterError


@dataclass(frozen=True)
class GpdTailFit:
    """A generalised Pareto fit to one tail of a sample.

    Attributes
    ----------
    tail : {"lower", "upper"}
        Which tail; losses are ``-x`` for the lower tail and ``x`` for the upper tail.
    threshold : float
        Threshold ``u`` on the loss scale (positive for the lower tail of a centred sample).
    shape : float
        GPD shape ``xi`` (tail index; > 0 means a heavy, power-law tail).
    scale : float
        GPD scale ``beta`` (> 0).
    n_exceedances : int
        Number of losses above the threshold ``N_u``.
    n_observations : int
        Sample size ``n``.
    threshold_quantile : float
        Probability level of the threshold (``1 - N_u / n`` approximately).
    """

    tail: str
    threshold: float
    shape: float
    scale: float
    n_exceedances: int
    n_observations: int
    threshold_quantile: float

    @property
    def exceedance_probability(self) -> float:
        """Empirical probability of exceeding the threshold, ``N_u / n``."""
        return self.n_exceedances / self.n_observations


def fit_gpd_tail(
    sample: np.ndarray,
    tail: Literal["lower", "upper"] = "lower",
    threshold_quantile: float = 0.90,
    min_exceedances: int = 30,
) -> GpdTailFit:
    """Fit a generalised Pareto distribution to the excesses of one tail over its threshold.

    Parameters
    ----------
    sample : array-like
        Observations, e.g. standardised residuals (finite values).
    tail : {"lower", "upper"}
        ``"lower"`` models losses of a long position (``-x``), ``"upper"`` of a short one.
    threshold_quantile : float
        Probability level of the threshold on the loss scale, in (0.5, 1); default 0.90.
    min_exceedances : int
        Minimum number of exceedances; fewer raises :class:`~marginlab.exceptions.CalibrationError`.

    Returns
    -------
    GpdTailFit
    """
    if tail not in ("lower", "upper"):
        raise InputError("tail", tail, "must be 'lower' or 'upper'")
    if not 0.5 < threshold_quantile < 1.0:
        raise ParameterError("threshold_quantile", threshold_quantile, "must lie in (0.5, 1)")
    values = np.asarray(sample, dtype=float).ravel()
    if not np.all(np.isfinite(values)):
        raise InputError("sample", f"{int(np.sum(~np.isfinite(values)))} non-finite values", "must be finite")
    losses = -values if tail == "lower" else values
    threshold = float(np.quantile(losses, threshold_quantile))
    excesses = losses[losses > threshold] - threshold
    if excesses.size < min_exceedances:
        raise CalibrationError(
            f"fit_gpd_tail: only {excesses.size} exceedances above the {threshold_quantile:.0%} threshold "
            f"(sample size {values.size}); at least min_exceedances={min_exceedances} are needed"
        )
    # method-of-moments starting values (xi = (1 - mean^2/var) / 2, beta = mean (mean^2/var + 1) / 2) halve the MLE time
    mean, variance = float(excesses.mean()), float(excesses.var())
    ratio = mean * mean / variance if variance > 0 else 1.0
    shape, _, scale = stats.genpareto.fit(excesses, 0.5 * (1.0 - ratio), floc=0.0, scale=0.5 * mean * (ratio + 1.0))
    if not -0.5 <= shape < 1.0:
        warnings.warn(
            f"fit_gpd_tail: GPD shape xi={shape:.3f} outside [-0.5, 1); the tail quantiles are unreliable",
            BoundaryWarning,
            stacklevel=2,
        )
    return GpdTailFit(
        tail=tail,
        threshold=threshold,
        shape=float(shape),
        scale=float(scale),
        n_exceedances=int(excesses.size),
        n_observations=int(values.size),
        threshold_quantile=float(threshold_quantile),
    )


def evt_quantile(fit: GpdTailFit, alpha: float | np.ndarray) -> float | np.ndarray:
    """Tail quantile (value at risk on the loss scale) at confidence ``alpha`` from a GPD tail fit.

    Uses the peaks-over-threshold formula of the module docstring. ``alpha`` must exceed the
    threshold's probability level ``1 - N_u/n`` (below it, use the empirical quantile).

    Parameters
    ----------
    fit : GpdTailFit
    alpha : float or array
        Confidence level(s), e.g. 0.997.

    Returns
    -------
    float or ndarray
        Loss quantile(s), positive for the lower tail of a centred sample.
    """
    alpha_array = np.asarray(alpha, dtype=float)
    if np.any((alpha_array <= 0.0) | (alpha_array >= 1.0)):
        raise ParameterError("alpha", alpha, "confidence level must lie strictly between 0 and 1")
    if np.any(1.0 - alpha_array > fit.exceedance_probability):
        raise ParameterError(
            "alpha", alpha, f"must exceed the threshold level {1.0 - fit.exceedance_probability:.4f} of the tail fit"
        )
    ratio = (1.0 - alpha_array) / fit.exceedance_probability
    if abs(fit.shape) < 1e-8:
        quantile = fit.threshold - fit.scale * np.log(ratio)
    else:
        quantile = fit.threshold + fit.scale / fit.shape * (ratio ** (-fit.shape) - 1.0)
    return float(quantile) if np.ndim(quantile) == 0 else quantile
