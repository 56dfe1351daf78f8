"""Backtests of VaR-type margin: Kupiec, Christoffersen, Basel traffic light, an expected-shortfall test, margin backtests.

Definitions (``I_t`` = 1 if day ``t`` is an exception, ``n`` observations, ``x`` exceptions, ``p = 1 - alpha``):

* **Kupiec proportion of failures**: ``LR_pof = -2 ln[(1-p)^(n-x) p^x] + 2 ln[(1-x/n)^(n-x) (x/n)^x]`` ~ chi2(1).
* **Christoffersen independence**: with transition counts ``n_ij`` (state i followed by j), ``pi_01 = n_01/(n_00+n_01)``,
  ``pi_11 = n_11/(n_10+n_11)``, ``pi = (n_01+n_11)/(n_00+n_01+n_10+n_11)``:
  ``LR_ind = -2 ln[(1-pi)^(n_00+n_10) pi^(n_01+n_11)] + 2 ln[(1-pi_01)^n_00 pi_01^n_01 (1-pi_11)^n_10 pi_11^n_11]`` ~ chi2(1);
  **conditional coverage** ``LR_cc = LR_pof + LR_ind`` ~ chi2(2) (``0 ln 0 = 0`` throughout).
* **Traffic light** (Basel Committee 1996, generalised): with ``F`` the binomial(n, p) CDF, a window with ``x`` exceptions is
  green if ``F(x) < 0.95``, red if ``F(x) >= 0.9999``, yellow otherwise -- at 250 observations and 99% this gives
  green 0-4, yellow 5-9, red 10+.
* **Expected shortfall**: the McNeil-Frey (2000) exceedance-residual test: on exception days
  ``e_t = (L_t - ES_t) / sigma_t`` (loss minus forecast ES, scaled by the forecast vol) has mean zero if ES is right;
  H1: mean > 0 (ES too small); one-sided p-value from a bootstrap of the centred residuals (and a t-test). The
  Acerbi-Szekely (2014) ``Z2 = sum(X_t I_t / ((1-alpha) ES_t)) / n + 1`` is reported alongside (negative = ES too small).

**Margin backtests** (:func:`margin_backtest`): a margin rate indexed by date ``d`` covers the h-day price move
``exp(r_d + ... + r_{d+h-1}) - 1`` (it was computed from data up to the day before ``d``, the convention of
:func:`marginlab.calibration.garch.rolling_forecast`). A long exception is a move below ``-rate``, a short exception a
move above ``+rate``; ``side="both"`` counts either, tested against ``2 (1 - alpha)`` (a symmetric scan range
covering each tail at ``alpha``). By default the h-day windows **do not overlap** (one every h days), so the
exceptions are independent under H0 as Kupiec and Christoffersen assume; with ``overlapping=True`` every date is
used for the counts and the traffic light, and the tests are run on each of the h interleaved non-overlapping
subsamples, reporting the smallest p-value times h (Bonferroni).

Examples
--------
>>> result = kupiec_test([False] * 95 + [True] * 5, alpha=0.99)
>>> round(result.statistic, 3), round(result.p_value, 4)
(8.258, 0.0041)
>>> traffic_light_zone(4), traffic_light_zone(5), traffic_light_zone(10)
('green', 'yellow', 'red')
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from marginlab.exceptions import InputError, ParameterError

#: Which moves count against the margin rate in a backtest (one name per choice).
BacktestSide = Literal["long", "short", "both"]

ArrayLike = np.ndarray | pd.Series | list | tuple


@dataclass(frozen=True)
class CoverageTest:
    """Result of a likelihood-ratio backtest.

    Attributes
    ----------
    name : str
        ``"kupiec_pof"``, ``"christoffersen_independence"``, ``"christoffersen_conditional_coverage"``, ``"mcneil_frey_es"``.
    statistic : float
        LR (or t) statistic.
    p_value : float
    degrees_of_freedom : int
    n_obs, n_exceptions : int
    expected_rate : float
        Nominal exception probability ``1 - alpha``.
    """

    name: str
    statistic: float
    p_value: float
    degrees_of_freedom: int
    n_obs: int
    n_exceptions: int
    expected_rate: float

    def rejected(self, level: float = 0.05) -> bool:
        """True if the null (correct model) is rejected at ``level``."""
        return bool(self.p_value < level)


def _xlogy(count: float, probability: float) -> float:
    return 0.0 if count == 0 else count * math.log(probability)


def _exceptions(exceptions: ArrayLike) -> np.ndarray:
    values = np.asarray(exceptions)
    if values.ndim != 1 or values.size == 0:
        raise InputError("exceptions", f"shape {values.shape}", "must be a non-empty 1-D array of booleans")
    if values.dtype != bool:
        if not np.all(np.isin(values, (0, 1))):
            raise InputError("exceptions", "non-boolean values", "must be booleans or 0/1")
        values = values.astype(bool)
    return values


def _check_alpha(alpha: float) -> float:
    if not 0.0 < float(alpha) < 1.0:
        raise ParameterError("alpha", alpha, "confidence level must lie strictly between 0 and 1")
    return float(alpha)


def kupiec_test(exceptions: ArrayLike, alpha: float = 0.99, expected_rate: float | None = None) -> CoverageTest:
    """Kupiec (1995) proportion-of-failures test of the exception rate against ``1 - alpha`` (chi2(1)).

    ``expected_rate`` overrides ``1 - alpha`` (used for two-sided scan ranges).
    """
    values = _exceptions(exceptions)
    p = 1.0 - _check_alpha(alpha) if expected_rate is None else float(expected_rate)
    n, x = values.size, int(values.sum())
    rate = x / n
    statistic = -2.0 * (_xlogy(n - x, 1.0 - p) + _xlogy(x, p)) + 2.0 * (_xlogy(n - x, 1.0 - rate) + _xlogy(x, rate))
    statistic = max(statistic, 0.0)
    return CoverageTest("kupiec_pof", statistic, float(stats.chi2.sf(statistic, 1)), 1, n, x, p)


def christoffersen_test(
    exceptions: ArrayLike, alpha: float = 0.99, expected_rate: float | None = None
) -> tuple[CoverageTest, CoverageTest]:
    """Christoffersen (1998) independence (chi2(1)) and conditional-coverage (chi2(2)) tests.

    Returns
    -------
    (independence, conditional_coverage) : tuple of CoverageTest

    Examples
    --------
    >>> independence, coverage = christoffersen_test([0, 0, 1, 1, 0, 0, 0, 0, 0, 0], alpha=0.9)
    >>> round(independence.statistic, 3)
    1.02
    """
    values = _exceptions(exceptions)
    p = 1.0 - _check_alpha(alpha) if expected_rate is None else float(expected_rate)
    previous, current = values[:-1], values[1:]
    n00 = int(np.sum(~previous & ~current))
    n01 = int(np.sum(~previous & current))
    n10 = int(np.sum(previous & ~current))
    n11 = int(np.sum(previous & current))
    total = n00 + n01 + n10 + n11
    pi = (n01 + n11) / total if total else 0.0
    pi01 = n01 / (n00 + n01) if n00 + n01 else 0.0
    pi11 = n11 / (n10 + n11) if n10 + n11 else 0.0
    restricted = _xlogy(n00 + n10, 1.0 - pi) + _xlogy(n01 + n11, pi)
    unrestricted = _xlogy(n00, 1.0 - pi01) + _xlogy(n01, pi01) + _xlogy(n10, 1.0 - pi11) + _xlogy(n11, pi11)
    lr_ind = max(-2.0 * (restricted - unrestricted), 0.0)
    pof = kupiec_test(values, alpha, expected_rate=p)
    lr_cc = pof.statistic + lr_ind
    n, x = values.size, int(values.sum())
    return (
        CoverageTest("christoffersen_independence", lr_ind, float(stats.chi2.sf(lr_ind, 1)), 1, n, x, p),
        CoverageTest("christoffersen_conditional_coverage", lr_cc, float(stats.chi2.sf(lr_cc, 2)), 2, n, x, p),
    )


BASEL_QUARTER_OBS = 63
"""Observations between two quarterly traffic-light evaluations: a quarter of the 250-observation Basel year (~63)."""


def traffic_light_zone(n_exceptions: int, n_obs: int = 250, alpha: float = 0.99) -> str:
    """Basel traffic-light zone (``"green"``, ``"yellow"``, ``"red"``) by the binomial cumulative probability.

    Examples
    --------
    >>> [traffic_light_zone(x) for x in (0, 4, 5, 9, 10)]
    ['green', 'green', 'yellow', 'yellow', 'red']
    """
    if n_exceptions < 0 or n_exceptions > n_obs:
        raise InputError("n_exceptions", n_exceptions, f"must lie in [0, n_obs={n_obs}]")
    probability = float(stats.binom.cdf(n_exceptions, n_obs, 1.0 - _check_alpha(alpha)))
    if probability < 0.95:
        return "green"
    if probability < 0.9999:
        return "yellow"
    return "red"


def traffic_light_bounds(n_obs: int = 250, alpha: float = 0.99) -> tuple[int, int]:
    """``(first_yellow, first_red)`` exception counts of the traffic light (``(5, 10)`` at 250 observations, 99%)."""
    p = 1.0 - _check_alpha(alpha)
    counts = np.arange(n_obs + 1)
    cdf = stats.binom.cdf(counts, n_obs, p)
    return int(counts[cdf >= 0.95][0]), int(counts[cdf >= 0.9999][0])


def traffic_light_windows(exceptions: ArrayLike, window: int = 250, alpha: float = 0.99, step: int = 1) -> pd.DataFrame:
    """Traffic-light zone of every ``window``-observation window (ending every ``step`` observations).

    The windows end at positions ``window - 1, window - 1 + step, window - 1 + 2 step, ...`` (the first full window,
    then every ``step`` observations). ``step=1`` evaluates every window (daily stepping); ``step=BASEL_QUARTER_OBS``
    (63) is the Basel convention of evaluating the last 250 observations at each quarterly reporting date.

    Returns a DataFrame with ``end`` (position of the last observation), ``n_exceptions``, ``zone``.

    Examples
    --------
    >>> windows = traffic_light_windows([True] * 10 + [False] * 990, window=250, step=63)
    >>> len(windows), windows["zone"].tolist()[:2]
    (12, ['red', 'green'])
    """
    if int(step) != step or step < 1:
        raise InputError("step", step, "must be a positive integer")
    if int(window) != window or window < 1:
        raise InputError("window", window, "must be a positive integer")
    step, window = int(step), int(window)
    values = _exceptions(exceptions).astype(int)
    if values.size < window:
        return pd.DataFrame(columns=["end", "n_exceptions", "zone"])
    counts = np.convolve(values, np.ones(window, dtype=int), mode="valid")[::step]
    yellow, red = traffic_light_bounds(window, alpha)
    zones = np.where(counts >= red, "red", np.where(counts >= yellow, "yellow", "green"))
    ends = np.arange(window - 1, values.size)[::step]
    return pd.DataFrame({"end": ends, "n_exceptions": counts, "zone": zones})


def es_backtest(
    profits: ArrayLike,
    value_at_risk: ArrayLike,
    expected_shortfall: ArrayLike,
    alpha: float = 0.975,
    vol: ArrayLike | None = None,
    n_bootstrap: int = 2000,
    rng: np.random.Generator | int | None = None,
) -> dict[str, float]:
    """McNeil-Frey exceedance-residual test of expected shortfall, plus the Acerbi-Szekely Z2 statistic.

    Parameters
    ----------
    profits : array
        Realised profits or returns ``X_t`` (loss = ``-X_t``).
    value_at_risk, expected_shortfall : array
        Forecasts, as positive losses.
    alpha : float
        Confidence of the forecasts.
    vol : array, optional
        Forecast volatilities scaling the residuals (1 if omitted).
    n_bootstrap : int
        Bootstrap draws for the one-sided p-value.
    rng : Generator, int or None
        Seed of the bootstrap.

    Returns
    -------
    dict
        ``n_exceptions``, ``mean_residual``, ``t_statistic``, ``p_value_t`` (one-sided), ``p_value_bootstrap``, ``z2``.
    """
    x = np.asarray(profits, dtype=float)
    var = np.asarray(value_at_risk, dtype=float)
    es = np.asarray(expected_shortfall, dtype=float)
    scale = np.ones_like(x) if vol is None else np.asarray(vol, dtype=float)
    if not (x.shape == var.shape == es.shape == scale.shape):
        raise InputError("profits/value_at_risk/expected_shortfall", (x.shape, var.shape, es.shape), "must have the same shape")
    p = 1.0 - _check_alpha(alpha)
    losses = -x
    hit = losses > var
    residuals = (losses[hit] - es[hit]) / scale[hit]
    z2 = float(np.sum(x * hit / (p * es)) / x.size + 1.0)
    out = {
        "n_exceptions": float(hit.sum()),
        "mean_residual": np.nan,
        "t_statistic": np.nan,
        "p_value_t": np.nan,
        "p_value_bootstrap": np.nan,
        "z2": z2,
    }
    if residuals.size >= 2:
        mean = float(residuals.mean())
        sd = float(residuals.std(ddof=1))
        t_stat = mean / (sd / math.sqrt(residuals.size)) if sd > 0 else np.nan
        generator = np.random.default_rng(rng)
        centred = residuals - mean
        draws = generator.choice(centred, size=(n_bootstrap, residuals.size), replace=True).mean(axis=1)
        out.update(
            mean_residual=mean,
            t_statistic=float(t_stat),
            p_value_t=float(stats.t.sf(t_stat, residuals.size - 1)) if np.isfinite(t_stat) else np.nan,
            p_value_bootstrap=float(np.mean(draws >= mean)),
        )
    return out


@dataclass(frozen=True)
class MarginBacktest:
    """Result of :func:`margin_backtest`.

    Attributes
    ----------
    side : str
    horizon_days : int
    alpha : float
    overlapping : bool
    n_obs, n_exceptions : int
    exception_rate, expected_rate : float
    kupiec, independence, conditional_coverage : CoverageTest
    traffic_light : dict
        Counts of ``green``, ``yellow``, ``red`` windows of ``window`` observations, one window every
        ``traffic_light_step`` observations (1 = every window; 63 = Basel quarterly evaluation).
    frame : pandas.DataFrame
        Per tested date: ``move`` (h-day simple price move), ``margin_rate``, ``exception`` (and ``long``/``short``).
    """

    side: BacktestSide
    horizon_days: int
    alpha: float
    overlapping: bool
    n_obs: int
    n_exceptions: int
    exception_rate: float
    expected_rate: float
    kupiec: CoverageTest
    independence: CoverageTest
    conditional_coverage: CoverageTest
    traffic_light: dict
    window: int
    frame: pd.DataFrame = field(repr=False)
    traffic_light_step: int = 1

    @property
    def green_share(self) -> float:
        """Share of traffic-light windows in the green zone (NaN without a full window)."""
        total = sum(self.traffic_light.values())
        return self.traffic_light["green"] / total if total else float("nan")

    def to_row(self) -> dict:
        """The headline figures as a flat dict (one row of :func:`backtest_table`)."""
        return {
            "n_obs": self.n_obs,
            "n_exceptions": self.n_exceptions,
            "exception_rate": self.exception_rate,
            "expected_rate": self.expected_rate,
            "kupiec_p": self.kupiec.p_value,
            "christoffersen_ind_p": self.independence.p_value,
            "christoffersen_cc_p": self.conditional_coverage.p_value,
            "green": self.traffic_light["green"],
            "yellow": self.traffic_light["yellow"],
            "red": self.traffic_light["red"],
            "green_share": self.green_share,
            "average_margin_rate": float(self.frame["margin_rate"].mean()),
        }

    def summary(self) -> str:
        """One paragraph with the headline figures and test decisions at 5%."""
        return (
            f"{self.horizon_days}-day {self.alpha:.2%} margin backtest ({self.side}, "
            f"{'overlapping' if self.overlapping else 'non-overlapping'} windows): {self.n_exceptions} exceptions in "
            f"{self.n_obs} ({self.exception_rate:.2%}, expected {self.expected_rate:.2%}); Kupiec p={self.kupiec.p_value:.3f}, "
            f"Christoffersen independence p={self.independence.p_value:.3f}, conditional coverage p={self.conditional_coverage.p_value:.3f}; "
            f"traffic light over {self.window}-observation windows"
            f"{'' if self.traffic_light_step == 1 else f' (every {self.traffic_light_step} observations)'}: {self.traffic_light}"
        )


def horizon_moves(returns: pd.Series, horizon_days: int) -> pd.Series:
    """h-day simple price moves ``exp(r_d + ... + r_{d+h-1}) - 1`` indexed by the first day ``d`` (NaN at the end)."""
    summed = returns.rolling(horizon_days).sum().shift(-(horizon_days - 1))
    return np.expm1(summed)


def margin_backtest(
    returns: pd.Series,
    margin_rates: pd.Series,
    horizon_days: int = 1,
    side: BacktestSide = "long",
    alpha: float = 0.99,
    overlapping: bool = False,
    window: int = 250,
    traffic_light_step: int = 1,
) -> MarginBacktest:
    """Backtest a margin-rate series against realised h-day price moves (see the module docstring for conventions).

    Parameters
    ----------
    returns : pandas.Series
        Fractional daily log returns.
    margin_rates : pandas.Series
        Margin as a fraction of the price, indexed by the first day of the h-day window it covers (NaN = not tested).
    horizon_days : int
    side : {"long", "short", "both"}
    alpha : float
        Confidence the margin claims (per tail).
    overlapping : bool
        Use every date (True) or every h-th date (False, default).
    window : int
        Observations per traffic-light window.
    traffic_light_step : int
        Observations between two evaluated traffic-light windows: 1 (default, every window) or
        :data:`BASEL_QUARTER_OBS` (63, the Basel quarterly evaluation of the last 250 observations).

    Returns
    -------
    MarginBacktest
        Exceptions, their rate, the Kupiec and Christoffersen tests and the traffic-light windows.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from scipy import stats
    >>> returns = pd.Series(0.02 * np.random.default_rng(0).standard_normal(5000))
    >>> rates = pd.Series(-np.expm1(0.02 * stats.norm.ppf(0.01)), index=returns.index)
    >>> result = margin_backtest(returns, rates, alpha=0.99)
    >>> bool(0.007 < result.exception_rate < 0.013), result.kupiec.rejected()
    (True, False)
    """
    if side not in ("long", "short", "both"):
        raise InputError("side", side, "must be 'long', 'short' or 'both'")
    if int(horizon_days) != horizon_days or horizon_days < 1:
        raise InputError("horizon_days", horizon_days, "must be a positive integer")
    _check_alpha(alpha)
    if not isinstance(returns, pd.Series) or not isinstance(margin_rates, pd.Series):
        raise InputError("returns/margin_rates", (type(returns).__name__, type(margin_rates).__name__), "must be pandas Series")
    rates = margin_rates.astype(float)
    if (rates < 0).any():
        raise InputError("margin_rates", float(rates[rates < 0].iloc[0]), "margin rates must be non-negative")
    moves = horizon_moves(returns.astype(float), int(horizon_days))
    frame = pd.DataFrame({"move": moves.reindex(rates.index), "margin_rate": rates}).dropna()
    if frame.empty:
        raise InputError("margin_rates", "no date with both a rate and a realised move", "indexes must overlap")
    if not overlapping and horizon_days > 1:
        frame = frame.iloc[:: int(horizon_days)]
    frame["long"] = frame["move"] < -frame["margin_rate"]
    frame["short"] = frame["move"] > frame["margin_rate"]
    frame["exception"] = frame["long"] | frame["short"] if side == "both" else frame[side]
    expected = (2.0 if side == "both" else 1.0) * (1.0 - alpha)
    hits = frame["exception"].to_numpy()
    if overlapping and horizon_days > 1:
        subsamples = [hits[offset :: int(horizon_days)] for offset in range(int(horizon_days))]
        tests = [(kupiec_test(s, alpha, expected), *christoffersen_test(s, alpha, expected)) for s in subsamples]
        pof, ind, cc = (min((t[i] for t in tests), key=lambda test: test.p_value) for i in range(3))
        pof, ind, cc = (
            CoverageTest(
                t.name,
                t.statistic,
                min(1.0, t.p_value * horizon_days),
                t.degrees_of_freedom,
                hits.size,
                int(hits.sum()),
                expected,
            )
            for t in (pof, ind, cc)
        )
    else:
        pof = kupiec_test(hits, alpha, expected)
        ind, cc = christoffersen_test(hits, alpha, expected)
    zones = traffic_light_windows(hits, window=window, alpha=1.0 - expected, step=traffic_light_step)
    counts = {zone: int((zones["zone"] == zone).sum()) for zone in ("green", "yellow", "red")}
    return MarginBacktest(
        side=side,
        horizon_days=int(horizon_days),
        alpha=float(alpha),
        overlapping=bool(overlapping),
        n_obs=int(hits.size),
        n_exceptions=int(hits.sum()),
        exception_rate=float(hits.mean()),
        expected_rate=expected,
        kupiec=pof,
        independence=ind,
        conditional_coverage=cc,
        traffic_light=counts,
        window=int(window),
        frame=frame,
        traffic_light_step=int(traffic_light_step),
    )


def backtest_table(
    returns: pd.Series | Mapping[str, pd.Series],
    margin_rates: Mapping[str, pd.Series],
    horizon_days: int = 1,
    alpha: float = 0.99,
    side: BacktestSide = "long",
    overlapping: bool = False,
    window: int = 250,
    traffic_light_step: int = 1,
) -> pd.DataFrame:
    """Backtest several margin-rate series (one per method or asset) and tabulate the results.

    Parameters
    ----------
    returns : pandas.Series or mapping
        One return series for all methods, or a mapping with the same keys as ``margin_rates``.
    margin_rates : mapping of name -> pandas.Series
        Margin rates (conventions of :func:`margin_backtest`).
    horizon_days, alpha, side, overlapping, window, traffic_light_step :
        Passed to :func:`margin_backtest`.

    Returns
    -------
    pandas.DataFrame
        Indexed by name: ``n_obs, n_exceptions, exception_rate, expected_rate, kupiec_p, christoffersen_ind_p,
        christoffersen_cc_p, green, yellow, red, green_share, average_margin_rate``, plus
        ``kupiec_rejected`` and ``cc_rejected`` at 5%.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> returns = pd.Series(0.02 * np.random.default_rng(1).standard_normal(1000))
    >>> table = backtest_table(returns, {"flat 5%": pd.Series(0.05, index=returns.index), "flat 1%": pd.Series(0.01, index=returns.index)})
    >>> bool(table.loc["flat 1%", "kupiec_rejected"]), bool(table.loc["flat 5%", "n_exceptions"] < table.loc["flat 1%", "n_exceptions"])
    (True, True)
    """
    if not margin_rates:
        raise InputError("margin_rates", margin_rates, "needs at least one series")
    rows = {}
    for name, rates in margin_rates.items():
        if isinstance(returns, Mapping):
            if name not in returns:
                raise InputError("returns", name, "has no return series for this margin series")
            series = returns[name]
        else:
            series = returns
        rows[name] = margin_backtest(series, rates, horizon_days, side, alpha, overlapping, window, traffic_light_step).to_row()
    table = pd.DataFrame.from_dict(rows, orient="index")
    table["kupiec_rejected"] = table["kupiec_p"] < 0.05
    table["cc_rejected"] = table["christoffersen_cc_p"] < 0.05
    table.index.name = "name"
    return table
