"""Greeks report: net sensitivities of an account, per underlying, in coin and USD units.

Conventions (all with respect to each position's own forward ``F``: the perpetual mark for
perpetuals, the expiry's forward for futures and options, the index for spot; Black-76 greeks
from :func:`marginlab.pricing.black76_greeks`, ``q`` the signed quantity):

==============================  =========================================================================
column                          definition
==============================  =========================================================================
``delta_coin``                  ``sum q dV/dF`` -- coin-equivalent exposure (a linear position counts q)
``delta_usd``                   ``sum q dV/dF F`` -- USD value of the coin exposure
``delta_usd_per_1pct``          ``0.01 delta_usd`` -- USD P&L of a +1% move of every forward (first order)
``gamma_coin_per_1pct``         ``sum q d2V/dF2 0.01 F`` -- change of ``delta_coin`` for a +1% move
``gamma_usd_per_1pct``          ``sum 1/2 q d2V/dF2 (0.01 F)^2`` -- second-order USD P&L of a 1% move
``vega_usd_per_vol_point``      ``sum q dV/dvol / 100`` -- USD P&L of +1 vol point (0.55 -> 0.56)
``theta_usd_per_day``           ``sum q dV/dt / 365`` -- USD P&L of one calendar day, forward held fixed
==============================  =========================================================================

>>> from marginlab.account import Account
>>> from marginlab.market import MarketSnapshot
>>> market = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 100000}}})
>>> report = greeks_report(Account.from_dict({"positions": [{"symbol": "BTC-PERPETUAL", "quantity": -2}]}), market)
>>> report.loc["BTC", ["delta_coin", "delta_usd_per_1pct"]].tolist()
[-2.0, -2000.0]
"""

from __future__ import annotations

import pandas as pd

from marginlab.account import Account
from marginlab.market import MarketSnapshot
from marginlab.valuation import value_positions

GREEK_COLUMNS = (
    "delta_coin",
    "delta_usd",
    "delta_usd_per_1pct",
    "gamma_coin_per_1pct",
    "gamma_usd_per_1pct",
    "vega_usd_per_vol_point",
    "theta_usd_per_day",
)


def position_greeks(account: Account, market: MarketSnapshot) -> pd.DataFrame:
    """One row per position with its greeks in the report's units (see the module docstring).

    Raises :class:`~marginlab.exceptions.EmptyPortfolioError` for an account without positions.
    """
    account.require_positions()
    valuation = value_positions(account.positions, market)
    quantity, forward = valuation.quantity, valuation.forward_usd
    delta_coin = quantity * valuation.delta
    frame = pd.DataFrame(
        {
            "symbol": valuation.symbols,
            "kind": valuation.kinds,
            "underlying": valuation.underlyings,
            "quantity": quantity,
            "forward_usd": forward,
            "delta_coin": delta_coin,
            "delta_usd": delta_coin * forward,
            "delta_usd_per_1pct": 0.01 * delta_coin * forward,
            "gamma_coin_per_1pct": quantity * valuation.gamma * 0.01 * forward,
            "gamma_usd_per_1pct": 0.5 * quantity * valuation.gamma * (0.01 * forward) ** 2,
            "vega_usd_per_vol_point": quantity * valuation.vega / 100.0,
            "theta_usd_per_day": quantity * valuation.theta / 365.0,
        }
    )
    return frame


def greeks_report(account: Account, market: MarketSnapshot) -> pd.DataFrame:
    """Net greeks per underlying (index), plus a ``TOTAL`` row for the USD columns.

    The ``TOTAL`` row sums only USD quantities; its ``delta_coin`` and ``gamma_coin_per_1pct``
    are NaN (coins of different assets do not add).

    Parameters
    ----------
    account : Account
        The positions.
    market : MarketSnapshot
        Prices, forwards and smiles.

    Returns
    -------
    pandas.DataFrame
        One row per underlying and a ``TOTAL`` row: delta (coins, USD, USD per 1%), gamma per 1%, vega per vol point, theta per day.
    """
    frame = position_greeks(account, market)
    report = frame.groupby("underlying", sort=True)[list(GREEK_COLUMNS)].sum()
    total = report.sum()
    total[["delta_coin", "gamma_coin_per_1pct"]] = float("nan")
    report.loc["TOTAL"] = total
    report.index.name = "underlying"
    return report
