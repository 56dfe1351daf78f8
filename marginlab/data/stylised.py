"""Stylised facts of crypto returns and the reference crash moves.

* :func:`excess_kurtosis`, :func:`autocorrelation` and :func:`stylised_facts` summarise fat tails
  (excess kurtosis = ``m4 / m2**2 - 3`` with population moments; 0 for a normal law) and
  volatility clustering (returns are nearly uncorrelated, squared and absolute returns are not).
* :func:`normal_qq` gives the points of a QQ plot against the normal law.
* :data:`REFERENCE_MOVES` holds the reference market moves of ``worked_examples.md`` section H,
  and :func:`reference_move_table` locates each of them in the data and checks it lies in the
  documented range; :func:`worst_days` lists the largest daily falls of each asset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from marginlab.data.loaders import load_daily
from marginlab.data.returns import DAYS_PER_YEAR
from marginlab.exceptions import InputError

__all__ = ["ReferenceMove", "REFERENCE_MOVES", "autocorrelation", "excess_kurtosis", "normal_qq", "reference_move_table",
           "stylised_facts", "worst_days"]


def _values(x, minimum: int = 4) -> np.ndarray:
    values = np.asarray(x, dtype=float)
    values = values[np.isfinite(values)]
    if values.size < minimum:
        raise InputError("returns", f"{values.size} finite values", f"need at least {minimum} observations")
    return values


def excess_kurtosis(x) -> float:
    """Sample excess kurtosis ``m4 / m2**2 - 3`` (population moments, NaN dropped; 0 for a normal law).

    Examples
    --------
    >>> round(excess_kurtosis([-2.0, -1.0, 0.0, 1.0, 2.0]), 4)
    -1.3
    """
    values = _values(x)
    centred = values - values.mean()
    m2 = np.mean(centred**2)
    if m2 == 0:
        raise InputError("returns", "constant series", "kurtosis needs a non-zero variance")
    return float(np.mean(centred**4) / m2**2 - 3.0)


def autocorrelation(x, lags: int | Sequence[int] = 10) -> np.ndarray:
    """Sample autocorrelation ``sum_t (x_t - m)(x_{t+k} - m) / sum_t (x_t - m)**2`` at lags ``1..lags``.

    The same (biased, Box-Jenkins) estimator as ``statsmodels.tsa.stattools.acf``.

    Examples
    --------
    >>> autocorrelation([1.0, -1.0, 1.0, -1.0], 2).round(4).tolist()
    [-0.75, 0.5]
    """
    values = _values(x)
    lag_list = list(range(1, lags + 1)) if isinstance(lags, int) else list(lags)
    if any(k < 1 or k >= values.size for k in lag_list):
        raise InputError("lags", lags, f"must lie in 1..{values.size - 1}")
    centred = values - values.mean()
    denominator = np.dot(centred, centred)
    return np.array([np.dot(centred[:-k], centred[k:]) / denominator for k in lag_list])


def stylised_facts(returns: pd.DataFrame | pd.Series, days_per_year: int = DAYS_PER_YEAR) -> pd.DataFrame:
    """One row per asset: size, volatility, skewness, excess kurtosis, extremes, autocorrelations, normality test.

    Parameters
    ----------
    returns : DataFrame or Series
        Daily log returns (fractions), one column per asset; NaN are dropped per column.

    Returns
    -------
    pandas.DataFrame
        ``days, first_day, last_day, mean_daily, vol_daily, vol_annualised, skewness, excess_kurtosis,
        worst_day, best_day, acf1_returns, acf1_squared, acf1_absolute, jarque_bera_pvalue``.
    """
    frame = returns.to_frame() if isinstance(returns, pd.Series) else returns
    rows = {}
    for column in frame.columns:
        series = frame[column].dropna()
        values = _values(series)
        rows[column] = {
            "days": values.size,
            "first_day": series.index[0],
            "last_day": series.index[-1],
            "mean_daily": values.mean(),
            "vol_daily": values.std(ddof=1),
            "vol_annualised": values.std(ddof=1) * np.sqrt(days_per_year),
            "skewness": float(stats.skew(values)),
            "excess_kurtosis": excess_kurtosis(values),
            "worst_day": values.min(),
            "best_day": values.max(),
            "acf1_returns": autocorrelation(values, 1)[0],
            "acf1_squared": autocorrelation(values**2, 1)[0],
            "acf1_absolute": autocorrelation(np.abs(values), 1)[0],
            "jarque_bera_pvalue": float(stats.jarque_bera(values).pvalue),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def normal_qq(returns) -> pd.DataFrame:
    """QQ-plot points of standardised returns against the standard normal law.

    Plotting positions ``(i - 0.5) / n``; columns ``normal_quantile`` and ``sample_quantile``
    (returns standardised by their mean and standard deviation). Points far above the diagonal
    on the right and below on the left are fat tails.
    """
    values = np.sort(_values(returns, minimum=2))
    standardised = (values - values.mean()) / values.std(ddof=1)
    probabilities = (np.arange(1, values.size + 1) - 0.5) / values.size
    return pd.DataFrame({"normal_quantile": stats.norm.ppf(probabilities), "sample_quantile": standardised})


def worst_days(prices: pd.DataFrame | pd.Series, count: int = 5) -> pd.DataFrame:
    """The ``count`` largest close-to-close falls of each column, worst first.

    Returns a long frame ``symbol, date, simple_return`` (fractions).
    """
    if count < 1:
        raise InputError("count", count, "must be at least 1")
    frame = prices.to_frame() if isinstance(prices, pd.Series) else prices
    parts = []
    for column in frame.columns:
        moves = frame[column].dropna().pct_change(fill_method=None).dropna().nsmallest(count)
        parts.append(pd.DataFrame({"symbol": column, "date": moves.index, "simple_return": moves.to_numpy()}))
    return pd.concat(parts, ignore_index=True)


@dataclass(frozen=True)
class ReferenceMove:
    """A documented market move and the range the data must reproduce.

    ``measure`` is ``"return"`` (simple close-to-close return over ``horizon_days`` ending on
    ``date``), ``"close"`` or ``"low"`` (price level on ``date``).
    """

    event: str
    symbol: str
    date: str
    measure: str
    reference_low: float
    reference_high: float
    horizon_days: int = 1
    dataset: str | None = None
    source: str = "worked_examples.md section H"


#: The reference moves of worked_examples.md section H (ranges read from its wording: "about -37% to
#: -39% depending on venue", "-42%" = [-42.5%, -41.5%], "about -23%" = +-1 point, levels to the digits given).
REFERENCE_MOVES: tuple[ReferenceMove, ...] = (
    ReferenceMove("Covid crash 2020-03-12", "BTC", "2020-03-12", "return", -0.39, -0.37),
    ReferenceMove("Covid crash 2020-03-12", "ETH", "2020-03-12", "return", -0.425, -0.415),
    ReferenceMove("FTX 2022-11-08/09 (two days)", "BTC", "2022-11-09", "return", -0.24, -0.22, horizon_days=2),
    ReferenceMove("FTX 2022-11-08/09 (two days)", "ETH", "2022-11-09", "return", -0.31, -0.29, horizon_days=2),
    ReferenceMove("FTX 2022-11-09", "SOL", "2022-11-09", "return", -0.425, -0.415),
    ReferenceMove("UST collapse close 2022-05-13", "USTC", "2022-05-13", "close", 0.1535, 0.1545),
    ReferenceMove("USDC depeg low 2023-03-11", "USDC", "2023-03-11", "low", 0.8765, 0.8775),
)


def reference_move_table(moves: Sequence[ReferenceMove] = REFERENCE_MOVES) -> pd.DataFrame:
    """Locate each reference move in the snapshot and compare it with its documented range.

    Examples
    --------
    >>> table = reference_move_table()
    >>> bool(table["within_reference"].all())
    True
    """
    rows = []
    day = pd.Timestamp
    for move in moves:
        date = day(move.date, tz="UTC")
        bars = load_daily(move.symbol, date - pd.Timedelta(days=move.horizon_days), date, dataset=move.dataset, gaps="raise")
        if move.measure == "return":
            if len(bars) != move.horizon_days + 1:
                raise InputError("date", move.date, f"{move.symbol} lacks the {move.horizon_days + 1} closes needed")
            observed = float(bars["close"].iloc[-1] / bars["close"].iloc[0] - 1.0)
        elif move.measure in ("close", "low"):
            observed = float(bars[move.measure].iloc[-1])
        else:
            raise InputError("measure", move.measure, "must be 'return', 'close' or 'low'")
        rows.append({"event": move.event, "symbol": move.symbol, "date": move.date, "measure": move.measure,
                     "horizon_days": move.horizon_days if move.measure == "return" else 0, "observed": observed,
                     "reference_low": move.reference_low, "reference_high": move.reference_high,
                     "within_reference": move.reference_low <= observed <= move.reference_high, "source": move.source})
    return pd.DataFrame(rows)
