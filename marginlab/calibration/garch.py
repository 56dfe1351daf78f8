"""GARCH-family volatility calibration on ``arch``: fits, model selection and out-of-sample rolling forecasts.

Models (one lag each, constant mean ``mu`` on the percent scale, ``eps_t = 100 r_t - mu``, ``z_t = eps_t / sigma_t``):

* ``"garch"``   ``sigma2_{t+1} = omega + alpha eps_t^2 + beta sigma2_t``
* ``"gjr"``     ``sigma2_{t+1} = omega + (alpha + gamma 1[eps_t < 0]) eps_t^2 + beta sigma2_t`` (Glosten, Jagannathan, Runkle)
* ``"egarch"``  ``ln sigma2_{t+1} = omega + alpha (|z_t| - sqrt(2/pi)) + gamma z_t + beta ln sigma2_t`` (Nelson; ``arch``'s form)

with ``"normal"``, ``"t"`` (Student-t, ``nu``) or ``"skewt"`` (Hansen's skew-t, ``eta``, ``lambda``) innovations.

**Units.** Users pass *fractional* daily log returns (0.02 = 2%). The fit runs on ``100 x returns``
(the scaling ``arch``'s optimiser is tuned for), so :attr:`GarchFitResult.params` are those of the
percent-scale model (``omega`` in percent squared); every volatility the API returns
(``conditional_vol``, ``forecast_vol``, :func:`rolling_forecast`) is converted back to a fractional
daily volatility, and the log-likelihood, AIC and BIC are those of the fractional returns
(``llf_fraction = llf_percent + n ln 100``: the density of ``r = y / 100`` is ``100 f_y(100 r)``; the
ranking of models is unchanged, and AIC/BIC are those of the fractional returns).

**Convergence and fallback.** Every fit is checked: ``arch``'s ``convergence_flag`` must be 0, the
optimiser's ``success`` true and the parameters finite. A failed fit is replaced by the RiskMetrics EWMA
variance with decay 0.94 (status ``"fallback-ewma"``, :class:`~marginlab.exceptions.ConvergenceWarning`).
A fit on a boundary -- persistence >= 0.999 (integrated GARCH; for EGARCH ``|beta| >= 0.999``), no ARCH
reaction (``alpha + gamma/2 < 1e-4``), a shape parameter on its bound (``nu``/``eta`` within 1% of 2.05
or of its upper bound, ``|lambda| > 0.99``) -- gives a :class:`~marginlab.exceptions.BoundaryWarning`
and, with ``boundary_policy="warn"`` (default), is kept (status ``"boundary"``): its one-step forecasts
remain well defined, and near-integrated fits are the rule for crypto (BTC's GJR-t persistence is 1.000).
With ``boundary_policy="fallback"`` it is replaced by the EWMA fallback (status ``"fallback-ewma"``).

**Diagnostics** (:attr:`GarchFitResult.diagnostics`): Ljung-Box Q(10) on standardised and squared
standardised residuals (statsmodels ``acorr_ljungbox``), Engle's ARCH-LM(10) on the standardised
residuals (``het_arch``) and parameter stability: the model is refitted on the first and second half of
the sample and, for each parameter, ``z = (theta_1 - theta_2) / sqrt(se_1^2 + se_2^2)`` is computed
(a two-sample Wald test treating the halves as independent); the row reports the largest ``|z|`` and its
Bonferroni-adjusted two-sided p-value.

**Rolling forecasts** (:func:`rolling_forecast`) re-estimate every ``refit_every_days`` with data up to
the refit date only; between refits the parameters are fixed and the variance recursion above is
filtered forward in numpy, so the forecast for day ``t+1`` uses returns up to ``t`` only.

Examples
--------
>>> returns = simulate_garch(3000, omega=0.05, alpha=0.08, beta=0.9, rng=1)   # percent-scale parameters
>>> fit = fit_garch(returns, vol_model="garch", distribution="normal", diagnostics=False)
>>> fit.status
'converged'
>>> bool(abs(fit.params["beta[1]"] - 0.9) < 0.05)
True
>>> long_run = (0.05 / (1 - 0.98)) ** 0.5 / 100   # unconditional daily vol 1.58%
>>> bool(abs(fit.forecast_vol(2000)[-1] - long_run) < 0.004)
True
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, get_args

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.diagnostic import acorr_ljungbox, het_arch

from marginlab._validation import check_choice
from marginlab.calibration.specs import BoundaryPolicy, Distribution, GarchModel, MeanModel, SelectionCriterion
from marginlab.exceptions import BoundaryWarning, CalibrationError, ConvergenceWarning, InputError, ParameterError
from marginlab.progress import tqdm
from marginlab.stats.ewma import EWMA_DECAY, ewma_variance_forecasts
from marginlab.stats.ewma import backcast as _backcast
from marginlab.stats.ewma import ewma_volatility as ewma_volatility  # re-exported: the one EWMA lives in marginlab.stats

#: Volatility models understood by :func:`fit_garch`: name -> (``arch`` vol name, asymmetric order ``o``).
VOL_MODELS: dict[GarchModel, tuple[str, int]] = {"garch": ("GARCH", 0), "gjr": ("GARCH", 1), "egarch": ("EGARCH", 1)}
#: Innovation distributions understood by :func:`fit_garch`.
DISTRIBUTIONS: tuple[Distribution, ...] = get_args(Distribution)
#: Default candidate set of :func:`select_garch` (every model x distribution).
DEFAULT_CANDIDATES: tuple[tuple[GarchModel, Distribution], ...] = tuple((v, d) for v in VOL_MODELS for d in DISTRIBUTIONS)
#: Persistence at or above which a fit is treated as degenerate (integrated) and replaced by EWMA.
PERSISTENCE_BOUND = 0.999
_SCALE = 100.0
_LOG_SCALE = math.log(_SCALE)
_SHAPE_BOUNDS = {"nu": (2.05, 500.0), "eta": (2.05, 300.0)}


# --------------------------------------------------------------------------------------------- inputs
def _validate_returns(returns: Any, min_obs: int = 100, name: str = "returns") -> pd.Series:
    if isinstance(returns, pd.DataFrame):
        if returns.shape[1] != 1:
            raise InputError(name, f"DataFrame with {returns.shape[1]} columns", "pass one series (or use rolling_forecast)")
        returns = returns.iloc[:, 0]
    if not isinstance(returns, pd.Series):
        returns = pd.Series(np.asarray(returns, dtype=float))
    series = returns.astype(float)
    if series.isna().any() or not np.all(np.isfinite(series.to_numpy())):
        bad = series.index[~np.isfinite(series.to_numpy())][:3].tolist()
        raise InputError(name, f"non-finite values at {bad}", "returns must be finite (drop or fill gaps first)")
    if len(series) < min_obs:
        raise InputError(name, f"{len(series)} observations", f"at least {min_obs} are needed")
    if float(series.std()) > 0.5:
        raise InputError(
            name,
            f"standard deviation {float(series.std()):.3g}",
            "looks like percent returns; pass fractional log returns (0.02 = 2%)",
        )
    return series


def _check_choice(field_name: str, value: Any, option: Any) -> None:
    check_choice(field_name, value, option, error=InputError)


# ----------------------------------------------------------------------------------- numpy recursions
def _filter_variance(vol_model: str, params: dict[str, float], eps: np.ndarray, sigma2_start: float) -> np.ndarray:
    """One-step variances ``sigma2[0..n]`` for residuals ``eps[0..n-1]`` (``sigma2[k]`` uses ``eps[:k]`` only)."""
    n = eps.size
    out = np.empty(n + 1)
    out[0] = sigma2_start
    if vol_model == "ewma":
        return ewma_variance_forecasts(eps, params["lambda"], seed=sigma2_start) if n else out
    omega, alpha, beta = params["omega"], params["alpha[1]"], params["beta[1]"]
    gamma = params.get("gamma[1]", 0.0)
    if vol_model == "egarch":
        root = math.sqrt(2.0 / math.pi)
        log_s2 = math.log(sigma2_start)
        for k in range(n):
            z = eps[k] / math.exp(0.5 * log_s2)
            log_s2 = omega + alpha * (abs(z) - root) + gamma * z + beta * log_s2
            out[k + 1] = math.exp(log_s2)
        return out
    s2 = sigma2_start
    for k in range(n):
        e2 = eps[k] * eps[k]
        s2 = omega + (alpha + (gamma if eps[k] < 0.0 else 0.0)) * e2 + beta * s2
        out[k + 1] = s2
    return out


def _variance_term_structure(
    vol_model: str, params: dict[str, float], next_variance: np.ndarray, horizon_days: int
) -> np.ndarray:
    """Daily variance forecasts ``E_t[sigma2_{t+k}]``, k = 1..h, for an array of one-step variances (shape (n, h)).

    GARCH/GJR: ``E[sigma2_{t+k}] = omega + (alpha + gamma/2 + beta) E[sigma2_{t+k-1}]`` (``gamma/2`` assumes
    ``P(z < 0) = 1/2``, as ``arch`` does). EGARCH: the log-variance recursion without the Jensen term
    (``ln sigma2_{t+k} = omega + beta ln sigma2_{t+k-1}``), a median-type forecast. EWMA: flat.
    """
    next_variance = np.atleast_1d(np.asarray(next_variance, dtype=float))
    out = np.empty((next_variance.size, horizon_days))
    out[:, 0] = next_variance
    for k in range(1, horizon_days):
        previous = out[:, k - 1]
        if vol_model == "ewma":
            out[:, k] = previous
        elif vol_model == "egarch":
            out[:, k] = np.exp(params["omega"] + params["beta[1]"] * np.log(previous))
        else:
            persistence = params["alpha[1]"] + 0.5 * params.get("gamma[1]", 0.0) + params["beta[1]"]
            out[:, k] = params["omega"] + persistence * previous
    return out


def _persistence(vol_model: str, params: dict[str, float]) -> float:
    if vol_model == "ewma":
        return 1.0
    if vol_model == "egarch":
        return float(params["beta[1]"])
    return float(params["alpha[1]"] + 0.5 * params.get("gamma[1]", 0.0) + params["beta[1]"])


def simulate_garch(
    n_obs: int,
    omega: float,
    alpha: float,
    beta: float,
    gamma: float = 0.0,
    mean: float = 0.0,
    nu: float | None = None,
    rng: np.random.Generator | int | None = None,
    start: str = "2015-01-01",
) -> pd.Series:
    """Simulate fractional daily log returns from a GJR-GARCH(1,1) with *percent-scale* parameters (test data with known truth).

    ``eps_t = sigma_t z_t``, ``sigma2_{t+1} = omega + (alpha + gamma 1[eps_t<0]) eps_t^2 + beta sigma2_t``, ``z`` standard
    normal or unit-variance Student-t with ``nu`` degrees of freedom; returns ``(mean + eps) / 100`` on a daily index.
    """
    if alpha + 0.5 * gamma + beta >= 1.0:
        raise ParameterError("alpha + gamma/2 + beta", alpha + 0.5 * gamma + beta, "must be < 1 for a stationary simulation")
    generator = np.random.default_rng(rng)
    if nu is None:
        shocks = generator.standard_normal(n_obs)
    else:
        shocks = generator.standard_t(nu, n_obs) * math.sqrt((nu - 2.0) / nu)
    sigma2 = omega / (1.0 - alpha - 0.5 * gamma - beta)
    out = np.empty(n_obs)
    for k in range(n_obs):
        eps = math.sqrt(sigma2) * shocks[k]
        out[k] = eps
        sigma2 = omega + (alpha + (gamma if eps < 0 else 0.0)) * eps * eps + beta * sigma2
    return pd.Series((mean + out) / _SCALE, index=pd.date_range(start, periods=n_obs, freq="D", tz="UTC"), name="return")


# ------------------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class GarchFitResult:
    """A fitted GARCH-family model (or its EWMA fallback) for one return series.

    Attributes
    ----------
    vol_model : str
        ``"garch"``, ``"gjr"``, ``"egarch"``, or ``"ewma"`` for the fallback.
    distribution : str
        ``"normal"``, ``"t"`` or ``"skewt"`` (``"normal"`` for the fallback).
    params : pandas.Series
        Parameters of the percent-scale model (``arch`` names: ``mu``, ``omega``, ``alpha[1]``, ``gamma[1]``,
        ``beta[1]``, ``nu``, ``eta``, ``lambda``); the fallback has ``lambda`` (EWMA decay) only.
    std_errors : pandas.Series
        Robust standard errors of ``params`` (NaN for the fallback).
    loglikelihood, aic, bic : float
        Of the fractional returns.
    n_obs : int
        Number of returns fitted.
    persistence : float
        ``alpha + gamma/2 + beta`` (GARCH/GJR), ``beta`` (EGARCH), 1 (EWMA).
    diagnostics : pandas.DataFrame
        Columns ``test, statistic, p_value, lags, note`` (empty when fitted with ``diagnostics=False``).
    status : str
        ``"converged"``, ``"boundary"`` (fit kept, a parameter on its boundary) or ``"fallback-ewma"``.
    warnings : tuple of str
        Messages of the warnings issued during the fit.
    conditional_vol : pandas.Series
        In-sample one-step conditional volatility ``sigma_t`` (fractional, daily).
    std_residuals : pandas.Series
        Standardised residuals ``z_t = (100 r_t - mu) / sigma_t``.
    next_variance_pct2 : float
        One-step-ahead variance ``sigma2_{T+1}`` on the percent scale (start of :meth:`forecast_vol`).
    """

    vol_model: str
    distribution: str
    params: pd.Series
    std_errors: pd.Series
    loglikelihood: float
    aic: float
    bic: float
    n_obs: int
    persistence: float
    diagnostics: pd.DataFrame
    status: str
    warnings: tuple[str, ...]
    conditional_vol: pd.Series = field(repr=False)
    std_residuals: pd.Series = field(repr=False)
    next_variance_pct2: float = field(repr=False)

    @property
    def converged(self) -> bool:
        """True unless the EWMA fallback replaced the fit."""
        return self.status != "fallback-ewma"

    @property
    def spec(self) -> tuple[str, str]:
        """``(vol_model, distribution)``."""
        return (self.vol_model, self.distribution)

    def _param_dict(self) -> dict[str, float]:
        return {str(k): float(v) for k, v in self.params.items()}

    def forecast_vol(self, horizon_days: int) -> np.ndarray:
        """Daily volatility forecasts ``sigma_{T+k|T}`` for k = 1..horizon_days (fractional, daily; length ``horizon_days``).

        The h-day volatility of the sum of the next h log returns is ``sqrt(sum(forecast_vol(h) ** 2))``.
        """
        if int(horizon_days) != horizon_days or horizon_days < 1:
            raise InputError("horizon_days", horizon_days, "must be a positive integer")
        variance = _variance_term_structure(
            self.vol_model, self._param_dict(), np.array([self.next_variance_pct2]), int(horizon_days)
        )
        return np.sqrt(variance[0]) / _SCALE

    def quantile(self, probability: float | np.ndarray) -> float | np.ndarray:
        """Quantile(s) of the fitted standardised innovation distribution (unit variance)."""
        probability_array = np.asarray(probability, dtype=float)
        if np.any((probability_array <= 0) | (probability_array >= 1)):
            raise ParameterError("probability", probability, "must lie strictly between 0 and 1")
        return _standard_quantile(self.distribution, self._param_dict(), probability_array)

    def summary(self) -> str:
        """A plain-text report: specification, status, parameters, criteria and diagnostics."""
        lines = [
            f"GARCH fit: vol_model={self.vol_model} distribution={self.distribution} status={self.status} n_obs={self.n_obs}",
            f"loglikelihood={self.loglikelihood:.2f} aic={self.aic:.2f} bic={self.bic:.2f} persistence={self.persistence:.4f}",
            f"next-day vol={math.sqrt(self.next_variance_pct2) / _SCALE:.4%} (annualised {math.sqrt(365 * self.next_variance_pct2) / _SCALE:.1%})",
            "parameters (percent-scale model):",
            pd.DataFrame({"estimate": self.params, "std_error": self.std_errors}).to_string(),
        ]
        if not self.diagnostics.empty:
            lines += ["diagnostics:", self.diagnostics.to_string(index=False)]
        for message in self.warnings:
            lines.append(f"warning: {message}")
        return "\n".join(lines)


def _standard_quantile(distribution: str, params: dict[str, float], probability: np.ndarray) -> float | np.ndarray:
    if distribution == "normal":
        out = stats.norm.ppf(probability)
    elif distribution == "t":
        nu = params["nu"]
        out = stats.t.ppf(probability, nu) * math.sqrt((nu - 2.0) / nu)
    else:
        from arch.univariate import SkewStudent

        out = SkewStudent().ppf(probability, np.array([params["eta"], params["lambda"]]))
    out = np.asarray(out, dtype=float)
    return float(out) if out.ndim == 0 else out


# --------------------------------------------------------------------------------------------- fits
def _arch_fit(y: pd.Series, vol_model: GarchModel, distribution: Distribution, mean: MeanModel, starting_values: np.ndarray | None = None):
    vol_name, o = VOL_MODELS[vol_model]
    options: dict[str, Any] = {"mean": "Constant" if mean == "constant" else "Zero", "vol": vol_name, "dist": distribution}
    from arch import arch_model  # imported on first fit: arch pulls in matplotlib (~5 s), the EWMA path never needs it

    model = arch_model(y, p=1, o=o, q=1, rescale=False, **options)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = model.fit(disp="off", show_warning=False, starting_values=starting_values)
        except (ValueError, np.linalg.LinAlgError, RuntimeError) as error:  # optimiser blew up
            return None, [f"arch fit raised {type(error).__name__}: {error}"]
    return result, [str(w.message) for w in caught]


def _degenerate(vol_model: str, params: dict[str, float]) -> str | None:
    persistence = _persistence(vol_model, params)
    if vol_model == "egarch":
        if abs(persistence) >= PERSISTENCE_BOUND:
            return f"EGARCH |beta|={abs(persistence):.4f} >= {PERSISTENCE_BOUND} (integrated log-variance)"
        return None
    if persistence >= PERSISTENCE_BOUND:
        return f"persistence {persistence:.4f} >= {PERSISTENCE_BOUND} (integrated GARCH)"
    if params["alpha[1]"] + 0.5 * params.get("gamma[1]", 0.0) < 1e-4:
        return "no ARCH reaction (alpha + gamma/2 < 1e-4)"
    return None


def _shape_on_bound(params: dict[str, float]) -> str | None:
    for name, (low, high) in _SHAPE_BOUNDS.items():
        if name in params and (params[name] <= low * 1.01 or params[name] >= high * 0.99):
            return f"{name}={params[name]:.3f} on its bound [{low}, {high}]"
    if "lambda" in params and abs(params["lambda"]) > 0.99:
        return f"skewness lambda={params['lambda']:.3f} on its bound (-1, 1)"
    return None


def _ewma_result(series: pd.Series, messages: list[str], diagnostics: bool) -> GarchFitResult:
    eps = _SCALE * series.to_numpy()
    params = {"lambda": EWMA_DECAY}
    variance = _filter_variance("ewma", params, eps, _backcast(eps))
    sigma2 = variance[:-1]
    loglik = float(np.sum(stats.norm.logpdf(eps, scale=np.sqrt(sigma2)))) + eps.size * _LOG_SCALE
    z = eps / np.sqrt(sigma2)
    return GarchFitResult(
        vol_model="ewma",
        distribution="normal",
        params=pd.Series(params),
        std_errors=pd.Series({"lambda": np.nan}),
        loglikelihood=loglik,
        aic=-2.0 * loglik,
        bic=-2.0 * loglik,
        n_obs=int(eps.size),
        persistence=1.0,
        diagnostics=_residual_diagnostics(z) if diagnostics else _empty_diagnostics(),
        status="fallback-ewma",
        warnings=tuple(messages),
        conditional_vol=pd.Series(np.sqrt(sigma2) / _SCALE, index=series.index, name="conditional_vol"),
        std_residuals=pd.Series(z, index=series.index, name="std_residual"),
        next_variance_pct2=float(variance[-1]),
    )


def _empty_diagnostics() -> pd.DataFrame:
    return pd.DataFrame(columns=["test", "statistic", "p_value", "lags", "note"])


def _residual_diagnostics(z: np.ndarray, lags: int = 10) -> pd.DataFrame:
    rows = []
    for label, values in (("ljung_box_std_residuals", z), ("ljung_box_squared_std_residuals", z**2)):
        table = acorr_ljungbox(values, lags=[lags])
        rows.append((label, float(table["lb_stat"].iloc[0]), float(table["lb_pvalue"].iloc[0]), lags, "H0: no autocorrelation"))
    lm_stat, lm_pvalue, _, _ = het_arch(z, nlags=lags, result_object=False)
    rows.append(("arch_lm_std_residuals", float(lm_stat), float(lm_pvalue), lags, "H0: no remaining ARCH effect"))
    return pd.DataFrame(rows, columns=["test", "statistic", "p_value", "lags", "note"])


def _stability_row(y: pd.Series, vol_model: GarchModel, distribution: Distribution, mean: MeanModel) -> tuple:
    half = len(y) // 2
    first, _ = _arch_fit(y.iloc[:half], vol_model, distribution, mean)
    second, _ = _arch_fit(y.iloc[half:], vol_model, distribution, mean)
    if first is None or second is None or first.convergence_flag != 0 or second.convergence_flag != 0:
        return ("parameter_stability_halves", np.nan, np.nan, 0, "a half-sample fit failed")
    z = (first.params - second.params) / np.sqrt(first.std_err**2 + second.std_err**2)
    z = z.replace([np.inf, -np.inf], np.nan).dropna()
    if z.empty:
        return ("parameter_stability_halves", np.nan, np.nan, 0, "no standard errors")
    worst = str(z.abs().idxmax())
    p_value = min(1.0, float(2.0 * stats.norm.sf(z.abs().max())) * len(z))
    return (
        "parameter_stability_halves",
        float(z.abs().max()),
        p_value,
        0,
        f"max |z| over {len(z)} params (worst: {worst}); Bonferroni p",
    )


def fit_garch(
    returns: pd.Series,
    vol_model: GarchModel = "gjr",
    distribution: Distribution = "skewt",
    mean: MeanModel = "constant",
    diagnostics: bool = True,
    fallback: bool = True,
    starting_values: np.ndarray | None = None,
    boundary_policy: BoundaryPolicy = "warn",
) -> GarchFitResult:
    """Fit a GARCH-family model to fractional daily log returns (fit on the percent scale inside).

    Parameters
    ----------
    returns : pandas.Series
        Fractional daily log returns (0.02 = 2%), finite, at least 100 of them.
    vol_model : {"gjr", "garch", "egarch"}
        Variance recursion (see the module docstring).
    distribution : {"skewt", "t", "normal"}
        Innovation distribution.
    mean : {"constant", "zero"}
        Mean model.
    diagnostics : bool
        Compute the diagnostics table (Ljung-Box, ARCH-LM, half-sample stability; costs two extra fits).
    fallback : bool
        Replace a failed or degenerate fit by EWMA(0.94) with a warning (default). If False, a failed fit
        raises :class:`~marginlab.exceptions.CalibrationError`.
    starting_values : array, optional
        Passed to ``arch`` (used by :func:`rolling_forecast` to warm-start refits).
    boundary_policy : {"warn", "fallback"}
        What to do with a fit on a boundary (see the module docstring): keep it with a
        :class:`~marginlab.exceptions.BoundaryWarning` (default) or use the EWMA fallback.

    Returns
    -------
    GarchFitResult

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> returns = pd.Series(0.03 * np.random.default_rng(0).standard_t(5, 2000) / np.sqrt(5 / 3))
    >>> fit = fit_garch(returns, "gjr", "t")
    >>> fit.status in ("converged", "boundary", "fallback-ewma")
    True
    >>> list(fit.diagnostics["test"])[:1]
    ['ljung_box_std_residuals']
    """
    _check_choice("vol_model", vol_model, GarchModel)
    _check_choice("distribution", distribution, Distribution)
    _check_choice("mean", mean, MeanModel)
    _check_choice("boundary_policy", boundary_policy, BoundaryPolicy)
    series = _validate_returns(returns)
    y = _SCALE * series
    result, messages = _arch_fit(y, vol_model, distribution, mean, starting_values)
    problem = None
    boundary: list[str] = []
    warning_class: type[Warning] = ConvergenceWarning
    if result is None:
        problem = messages[-1]
    else:
        optimisation = result.optimization_result
        if result.convergence_flag != 0 or (optimisation is not None and not optimisation.success):
            problem = (
                f"optimiser did not converge (convergence_flag={result.convergence_flag}: {getattr(optimisation, 'message', '')})"
            )
        elif not np.all(np.isfinite(result.params.to_numpy())) or not np.all(np.isfinite(result.conditional_volatility)):
            problem = "non-finite parameters or conditional volatility"
        else:
            fitted = {str(k): float(v) for k, v in result.params.items()}
            boundary = [text for text in (_degenerate(vol_model, fitted), _shape_on_bound(fitted)) if text is not None]
            if boundary and boundary_policy == "fallback":
                problem, warning_class = "; ".join(boundary), BoundaryWarning
    label = f"fit_garch({vol_model}, {distribution})"
    if problem is not None:
        message = f"{label}: {problem}; using the EWMA(lambda={EWMA_DECAY}) fallback"
        if not fallback:
            raise CalibrationError(f"{label}: {problem}")
        warnings.warn(message, warning_class, stacklevel=2)
        return _ewma_result(series, [message], diagnostics)
    assert result is not None
    params = {str(k): float(v) for k, v in result.params.items()}
    status = "converged"
    collected = list(messages)
    if boundary:
        message = f"{label}: {'; '.join(boundary)}; fit kept (boundary_policy='warn')"
        warnings.warn(message, BoundaryWarning, stacklevel=2)
        collected.append(message)
        status = "boundary"
    sigma = result.conditional_volatility.to_numpy()
    eps = y.to_numpy() - params.get("mu", 0.0)
    next_variance = _filter_variance(vol_model, params, eps[-1:], float(sigma[-1] ** 2))[-1]
    n = int(series.size)
    loglik = float(result.loglikelihood) + n * _LOG_SCALE
    k = len(params)
    table = _empty_diagnostics()
    if diagnostics:
        table = _residual_diagnostics(eps / sigma)
        table.loc[len(table)] = _stability_row(y, vol_model, distribution, mean)
    return GarchFitResult(
        vol_model=vol_model,
        distribution=distribution,
        params=pd.Series(params),
        std_errors=pd.Series(result.std_err, index=list(params)),
        loglikelihood=loglik,
        aic=-2.0 * loglik + 2.0 * k,
        bic=-2.0 * loglik + k * math.log(n),
        n_obs=n,
        persistence=_persistence(vol_model, params),
        diagnostics=table,
        status=status,
        warnings=tuple(collected),
        conditional_vol=pd.Series(sigma / _SCALE, index=series.index, name="conditional_vol"),
        std_residuals=pd.Series(eps / sigma, index=series.index, name="std_residual"),
        next_variance_pct2=float(next_variance),
    )


@dataclass(frozen=True)
class GarchSelection:
    """Model selection over candidate (vol_model, distribution) pairs.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per candidate: ``vol_model, distribution, status, loglikelihood, aic, bic, persistence, n_params``
        and ``rank`` by the criterion (fallback fits are ranked last and never chosen unless all fell back).
    best : GarchFitResult
        The selected fit.
    criterion : str
        ``"bic"`` or ``"aic"``.
    fits : dict
        ``{(vol_model, distribution): GarchFitResult}``.
    """

    table: pd.DataFrame
    best: GarchFitResult
    criterion: SelectionCriterion
    fits: dict = field(repr=False)

    def summary(self) -> str:
        """The candidate table and the chosen specification."""
        return f"selected by {self.criterion.upper()}: {self.best.vol_model}/{self.best.distribution}\n{self.table.to_string(index=False)}"


def select_garch(
    returns: pd.Series,
    candidates: Sequence[tuple[GarchModel, Distribution]] = DEFAULT_CANDIDATES,
    criterion: SelectionCriterion = "bic",
    diagnostics: bool = False,
) -> GarchSelection:
    """Fit every candidate and select by an information criterion (BIC by default, or AIC).

    Warnings of individual candidates are collected in their results (not re-issued).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> returns = pd.Series(0.02 * np.random.default_rng(3).standard_normal(1000))
    >>> selection = select_garch(returns, candidates=[("garch", "normal"), ("garch", "t")])
    >>> selection.table.shape[0]
    2
    """
    _check_choice("criterion", criterion, SelectionCriterion)
    if not candidates:
        raise InputError("candidates", candidates, "needs at least one (vol_model, distribution) pair")
    fits: dict[tuple[str, str], GarchFitResult] = {}
    rows = []
    for vol_model, distribution in candidates:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=ConvergenceWarning)
            warnings.simplefilter("ignore", category=BoundaryWarning)
            fit = fit_garch(returns, vol_model, distribution, diagnostics=diagnostics)
        fits[(vol_model, distribution)] = fit
        rows.append(
            {
                "vol_model": vol_model,
                "distribution": distribution,
                "status": fit.status,
                "loglikelihood": fit.loglikelihood,
                "aic": fit.aic,
                "bic": fit.bic,
                "persistence": fit.persistence,
                "n_params": 0 if fit.status == "fallback-ewma" else len(fit.params),
            }
        )
    table = pd.DataFrame(rows)
    penalty = np.where(table["status"] == "fallback-ewma", np.inf, 0.0)
    order = (table[criterion] + penalty).rank(method="first")
    order = order.where(np.isfinite(table[criterion] + penalty), len(table) + table[criterion].rank(method="first"))
    table["rank"] = order.astype(int)
    table = table.sort_values("rank").reset_index(drop=True)
    best_row = table.iloc[0]
    return GarchSelection(
        table=table, best=fits[(best_row["vol_model"], best_row["distribution"])], criterion=criterion, fits=fits
    )


# ------------------------------------------------------------------------------------ rolling forecasts
def _rolling_one(
    returns: pd.Series,
    vol_model: GarchModel,
    distribution: Distribution,
    refit_every_days: int,
    window: int | None,
    min_obs: int,
    horizon_days: int,
    progress: bool,
    label: str,
) -> pd.DataFrame:
    series = _validate_returns(returns, min_obs=min_obs)
    y = _SCALE * series.to_numpy()
    n = y.size
    index = series.index
    step = index[-1] - index[-2]
    forecast_index = index[1:].append(pd.Index([index[-1] + step]))  # row k forecasts the return after index[k]
    variance = np.full(n, np.nan)  # variance[k] = forecast made at index[k] for index[k]+1
    mean = np.full(n, np.nan)
    fit_date = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    status = np.empty(n, dtype=object)
    in_sample = np.zeros(n, dtype=bool)
    term = np.full((n, horizon_days), np.nan)
    refits = list(range(min_obs - 1, n, refit_every_days))
    starting: np.ndarray | None = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for position, k in enumerate(tqdm(refits, desc=f"rolling GARCH {label}", disable=not progress, leave=False)):
            start = 0 if window is None else max(0, k + 1 - window)
            fit = fit_garch(
                pd.Series(y[start : k + 1] / _SCALE, index=index[start : k + 1]),
                vol_model,
                distribution,
                diagnostics=False,
                starting_values=starting,
            )
            params = fit._param_dict()
            model = fit.vol_model
            if fit.converged:
                starting = fit.params.to_numpy()
            end = refits[position + 1] if position + 1 < len(refits) else n  # forecasts made at k..end-1
            mu = params.get("mu", 0.0)
            eps = y[start:end] - mu
            path = _filter_variance(model, params, eps, _backcast(eps[: k + 1 - start]))  # path[j] uses eps[:j]
            # forecast made at date index[t] (t in k..end-1) for the next return = path[t + 1 - start]
            rows = np.arange(k, end)
            variance[rows] = path[rows + 1 - start]
            mean[rows] = mu
            fit_date[rows] = np.datetime64(index[k].tz_localize(None) if index[k].tzinfo else index[k], "ns")
            status[rows] = fit.status
            term[rows] = _variance_term_structure(model, params, variance[rows], horizon_days)
            if position == 0:  # in-sample values for the initial window (known at the first fit date)
                first_rows = np.arange(start, k)
                variance[first_rows] = path[first_rows + 1 - start]
                mean[first_rows] = mu
                status[first_rows] = fit.status
                in_sample[first_rows] = True
                term[first_rows] = _variance_term_structure(model, params, variance[first_rows], horizon_days)
        messages = [str(w.message) for w in caught if issubclass(w.category, (ConvergenceWarning, BoundaryWarning))]
    if messages:
        warnings.warn(
            f"rolling_forecast {label}: {len(messages)} refit warning(s); first: {messages[0]}",
            ConvergenceWarning if any("converge" in m for m in messages) else BoundaryWarning,
            stacklevel=3,
        )
    realised = np.append(y[1:], np.nan)
    vol_1d = np.sqrt(variance) / _SCALE
    frame = pd.DataFrame(
        {
            "vol_1d": vol_1d,
            "vol_h": np.sqrt(term.sum(axis=1)) / _SCALE,
            "mean": mean / _SCALE,
            "realised_return": realised / _SCALE,
            "std_residual": (realised - mean) / np.sqrt(variance),
            "in_sample": in_sample,
            "fit_date": pd.to_datetime(fit_date, utc=getattr(index, "tz", None) is not None),
            "status": status,
        },
        index=forecast_index,
    )
    for day in range(horizon_days):
        frame[f"vol_day_{day + 1}"] = np.sqrt(term[:, day]) / _SCALE
    frame.index.name = "date"
    frame.attrs.update(
        vol_model=vol_model,
        distribution=distribution,
        refit_every_days=refit_every_days,
        window=window,
        horizon_days=horizon_days,
    )
    return frame.iloc[int(np.argmax(~np.isnan(variance))) :]


def rolling_forecast(
    returns: pd.Series | pd.DataFrame,
    vol_model: GarchModel = "gjr",
    distribution: Distribution = "skewt",
    refit_every_days: int = 21,
    window: int | None = None,
    min_obs: int = 500,
    horizon_days: int = 1,
    n_jobs: int | None = 1,
    progress: bool = True,
) -> pd.DataFrame:
    """Out-of-sample volatility forecasts with periodic re-estimation and no look-ahead.

    At each refit date ``t_k`` (the ``min_obs``-th return, then every ``refit_every_days``) the model is
    fitted with returns up to ``t_k`` only (expanding window, or the last ``window`` returns); until the
    next refit the parameters stay fixed and the variance recursion is filtered forward in numpy.

    Parameters
    ----------
    returns : pandas.Series or pandas.DataFrame
        Fractional daily log returns; a DataFrame is processed column by column (NaN rows of each column dropped)
        in parallel with ``n_jobs`` processes.
    vol_model, distribution : str
        As in :func:`fit_garch`.
    refit_every_days : int
        Observations between re-estimations.
    window : int or None
        Rolling window length; ``None`` = expanding.
    min_obs : int
        Returns in the first fit (no forecast before).
    horizon_days : int
        Horizon of the multi-day forecast columns.
    n_jobs : int or None
        Processes for a DataFrame (``None`` = all cores; 1 = sequential).
    progress : bool
        Show tqdm progress bars.

    Returns
    -------
    pandas.DataFrame
        Indexed by the **forecast date** ``t+1`` (row ``t+1`` uses returns up to ``t`` only; the last row is the
        day after the data), columns ``vol_1d`` (one-step daily vol, fractional), ``vol_h`` (vol of the sum of
        the next ``horizon_days`` log returns), ``vol_day_1..h`` (daily vol term structure), ``mean``,
        ``realised_return`` (the return of the row's date, for backtests), ``std_residual`` (``(r - mean) / vol_1d``:
        out-of-sample standardised residual of the row's date, known once that day has closed), ``in_sample`` (True
        for rows of the initial fit window, whose values come from the first fit), ``fit_date``, ``status``.
        For DataFrame input the columns are a MultiIndex ``(asset, field)``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> returns = pd.Series(0.02 * np.random.default_rng(2).standard_normal(700), index=pd.date_range("2020-01-01", periods=700))
    >>> frame = rolling_forecast(returns, "garch", "normal", refit_every_days=100, min_obs=500, progress=False)
    >>> int((~frame["in_sample"]).sum())   # forecasts made on the 500th .. 700th day
    201
    """
    _check_choice("vol_model", vol_model, GarchModel)
    _check_choice("distribution", distribution, Distribution)
    for name, value in (("refit_every_days", refit_every_days), ("min_obs", min_obs), ("horizon_days", horizon_days)):
        if int(value) != value or value < 1:
            raise InputError(name, value, "must be a positive integer")
    if min_obs < 100:
        raise InputError("min_obs", min_obs, "at least 100 returns are needed for a GARCH fit")
    if window is not None and window < min_obs:
        raise InputError("window", window, f"must be at least min_obs={min_obs}")
    arguments = (vol_model, distribution, int(refit_every_days), window, int(min_obs), int(horizon_days))
    if isinstance(returns, pd.Series):
        return _rolling_one(returns.dropna(), *arguments, progress, str(returns.name or ""))
    if not isinstance(returns, pd.DataFrame):
        raise InputError("returns", type(returns).__name__, "must be a pandas Series or DataFrame")
    columns = list(returns.columns)
    workers = (os.cpu_count() or 1) if n_jobs is None else max(1, int(n_jobs))
    results: dict[Any, pd.DataFrame] = {}
    if workers == 1 or len(columns) == 1:
        for column in tqdm(columns, desc="assets", disable=not progress):
            results[column] = _rolling_one(returns[column].dropna(), *arguments, False, str(column))
    else:
        with ProcessPoolExecutor(max_workers=min(workers, len(columns))) as pool:
            futures = {
                column: pool.submit(_rolling_one, returns[column].dropna(), *arguments, False, str(column)) for column in columns
            }
            for column in tqdm(columns, desc="assets", disable=not progress):
                results[column] = futures[column].result()
    return pd.concat(results, axis=1)


# ------------------------------------------------------------------------------------ EWMA forecasts
def asymmetric_ewma_variance(returns: np.ndarray, decay: float, decay_after_fall: float | None = None, seed_days: int = 30) -> np.ndarray:
    """EWMA one-step variance forecasts whose decay depends on the sign of the last return (``n + 1`` rows).

    ``s2[t+1] = l_t s2[t] + (1 - l_t) r[t]^2`` with ``l_t = decay_after_fall`` if ``r[t] < 0`` else ``decay``
    (zero mean; ``s2[0]`` = mean of the first ``seed_days`` squared returns). The volatility reacts faster to a
    fall than to a rise -- the leverage effect of a GJR model without a fit (no boundary, no convergence issue).
    With ``decay_after_fall`` ``None`` or equal to ``decay`` it is exactly the symmetric RiskMetrics recursion of
    :func:`marginlab.stats.ewma.ewma_variance_forecasts` (and delegates to it).

    Examples
    --------
    >>> asymmetric_ewma_variance(np.array([0.1, -0.2]), 0.5, 0.25, seed_days=1)
    array([0.01  , 0.01  , 0.0325])
    >>> bool(np.allclose(asymmetric_ewma_variance(np.array([0.1, -0.2]), 0.5), ewma_variance_forecasts(np.array([0.1, -0.2]), 0.5, seed="mean", seed_days=30)))
    True
    """
    values = np.asarray(returns, dtype=float)
    if decay_after_fall is None or decay_after_fall == decay:
        return ewma_variance_forecasts(values, decay, seed="mean", seed_days=seed_days)
    for name, value in (("decay", decay), ("decay_after_fall", decay_after_fall)):
        if not 0.0 < value < 1.0:
            raise ParameterError(name, value, "must lie strictly between 0 and 1")
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise InputError("returns", "empty or non-finite", "returns must be finite and non-empty")
    lam = np.where(values < 0, decay_after_fall, decay)
    gain = (1.0 - lam) * values * values
    variance = np.empty(values.size + 1)
    variance[0] = float(np.mean(values[: max(1, seed_days)] ** 2))
    current = variance[0]
    for t in range(values.size):  # a time-varying recursion: ~1 microsecond per day
        current = lam[t] * current + gain[t]
        variance[t + 1] = current
    return variance


def ewma_forecast(
    returns: pd.Series,
    decay: float = EWMA_DECAY,
    decay_after_fall: float | None = None,
    min_obs: int = 500,
    horizon_days: int = 1,
    seed_days: int = 30,
) -> pd.DataFrame:
    """Out-of-sample EWMA volatility forecasts in the frame format of :func:`rolling_forecast` (no fit, no look-ahead).

    Row ``t+1`` holds the forecast made at the close of ``t`` with returns up to ``t`` only
    (:func:`asymmetric_ewma_variance`); the h-day term structure is flat (``vol_day_k = vol_1d``, ``vol_h =
    vol_1d sqrt(h)``) and the mean is zero. The first ``seed_days`` rows (the seed) are dropped; rows before the
    ``min_obs``-th return are flagged ``in_sample`` (warm-up: their residuals may fill a shock pool, but no rate is
    published for them).

    Examples
    --------
    >>> returns = pd.Series(0.02 * np.random.default_rng(2).standard_normal(700), index=pd.date_range("2020-01-01", periods=700))
    >>> frame = ewma_forecast(returns, 0.94, min_obs=500)
    >>> int((~frame["in_sample"]).sum()), frame.index[-1].date()   # forecasts made on the 500th .. 700th day
    (201, datetime.date(2021, 12, 1))
    """
    series = _validate_returns(returns, min_obs=max(min_obs, seed_days + 2))
    if int(horizon_days) != horizon_days or horizon_days < 1:
        raise InputError("horizon_days", horizon_days, "must be a positive integer")
    x = series.to_numpy()
    variance = asymmetric_ewma_variance(x, decay, decay_after_fall, seed_days)
    index = series.index
    forecast_index = index[1:].append(pd.Index([index[-1] + (index[-1] - index[-2])]))
    vol = np.sqrt(variance[1:])  # forecast made at index[k] for the next day
    realised = np.append(x[1:], np.nan)
    frame = pd.DataFrame(
        {
            "vol_1d": vol,
            "vol_h": vol * math.sqrt(horizon_days),
            "mean": 0.0,
            "realised_return": realised,
            "std_residual": realised / vol,
            "in_sample": np.arange(x.size) < min_obs - 1,
            "status": "ewma",
        },
        index=forecast_index,
    )
    for day in range(int(horizon_days)):
        frame[f"vol_day_{day + 1}"] = vol
    frame.index.name = "date"
    frame.attrs.update(vol_model="ewma", decay=decay, decay_after_fall=decay_after_fall, horizon_days=int(horizon_days))
    return frame.iloc[seed_days:]
