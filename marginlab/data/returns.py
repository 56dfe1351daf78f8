"""Returns and volatility scaling.

Crypto trades every calendar day, so a year is :data:`DAYS_PER_YEAR` = 365 daily bars (not the
252 trading days of equities): a daily volatility ``s`` annualises to ``s * sqrt(365)``, and the
same 365 is used by :data:`marginlab.market.SECONDS_PER_YEAR` for option time to expiry, so the
vols of calibration and pricing are on the same clock.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import pandas as pd

from marginlab.exceptions import DataError, InputError

__all__ = ["DAYS_PER_YEAR", "log_returns", "simple_returns", "percent_returns", "annualise_vol"]

#: Days per year used to annualise crypto volatility (crypto trades every calendar day).
DAYS_PER_YEAR = 365

Prices = TypeVar("Prices", pd.Series, pd.DataFrame)


def _check_prices(prices: pd.Series | pd.DataFrame) -> None:
    values = prices.to_numpy(dtype=float)
    bad = values <= 0
    if bad.any():
        where = np.argwhere(bad)[0]
        label = prices.index[where[0]]
        column = prices.columns[where[1]] if isinstance(prices, pd.DataFrame) else prices.name
        raise DataError("prices must be positive to take returns", row=int(where[0]), column=str(column),
                        value=f"{label}: {values[tuple(where)]!r}")


def log_returns(prices: Prices) -> Prices:
    """Log returns ``ln(P_t / P_{t-1})`` (first row dropped).

    Parameters
    ----------
    prices : pandas.Series or DataFrame
        Prices in date order.

    Returns
    -------
    pandas.Series or DataFrame
        The log returns, one row fewer.

    Examples
    --------
    >>> import pandas as pd
    >>> log_returns(pd.Series([100.0, 110.0, 99.0])).round(6).tolist()
    [0.09531, -0.105361]
    """
    _check_prices(prices)
    return np.log(prices).diff().iloc[1:]  # type: ignore[attr-defined]


def simple_returns(prices: Prices) -> Prices:
    """Simple returns ``P_t / P_{t-1} - 1`` (first row dropped).

    Examples
    --------
    >>> import pandas as pd
    >>> simple_returns(pd.Series([100.0, 110.0, 99.0])).round(6).tolist()
    [0.1, -0.1]
    """
    _check_prices(prices)
    return prices.pct_change(fill_method=None).iloc[1:]


def percent_returns(prices: Prices) -> Prices:
    """Log returns in percent (x100), the scaling ``arch`` models fit best.

    Examples
    --------
    >>> import pandas as pd
    >>> percent_returns(pd.Series([100.0, 110.0])).round(4).tolist()
    [9.531]
    """
    return 100.0 * log_returns(prices)


def annualise_vol(daily_vol, days_per_year: int = DAYS_PER_YEAR):
    """Annualise a daily volatility (fraction) with the square-root-of-time rule.

    ``vol = daily_vol * sqrt(days_per_year)``; the default 365 because crypto trades on every
    calendar day (see the module docstring). Works on scalars, arrays, Series and DataFrames.

    Examples
    --------
    >>> round(annualise_vol(0.03), 6)
    0.573149
    """
    if days_per_year <= 0:
        raise InputError("days_per_year", days_per_year, "must be positive")
    values = np.asarray(daily_vol, dtype=float)
    if np.any(values < 0):
        raise InputError("daily_vol", daily_vol, "volatility must be non-negative")
    result = daily_vol * np.sqrt(days_per_year)
    return float(result) if np.ndim(result) == 0 and not isinstance(result, pd.Series | pd.DataFrame) else result
