"""Market snapshots for real past days, built from the market-data snapshot.

:func:`market_from_history` turns a date and a list of assets into a
:class:`~marginlab.market.MarketSnapshot` that margin models can use:

* **as_of** is the *close* of the day: the bar that opens at 00:00 UTC on ``date`` closes at
  00:00 UTC the next day, which is the snapshot's ``as_of``;
* **index** = the daily close of that day (:func:`marginlab.data.load_daily`), the perpetual mark
  equals the index (no basis data);
* **ATM implied volatility**: the Deribit DVOL close of that day divided by 100 where it exists
  (BTC, ETH from 2021-03-24) and ``vol_source="dvol"``; otherwise the annualised EWMA realised
  volatility (lambda 0.94, ``sqrt(365)`` annualisation) of the daily log returns up to that day;
* **smile**: ``vol(K) = max(atm + skew * m + curvature * m^2, MIN_SMILE_VOL)`` with log-moneyness
  ``m = ln(K / F)`` on a grid ``m = -1.0 ... 1.0`` (step 0.1), flat beyond; the default
  ``skew = curvature = 0`` is a flat smile. The same smile applies to every expiry (flat term
  structure);
* **forwards**: ``forward_method="carry"`` leaves them to the snapshot's cost of carry
  ``index * exp(rate * t)``; ``"funding"`` uses ``index * exp(f * t)`` with ``f`` the mean perpetual
  funding rate of the last 30 days annualised (``rate_8h * 3 * 365``) where the snapshot has
  funding data (BTC), else the cost of carry with a :class:`~marginlab.exceptions.DataWarning`;
* **checked against real marks**: :func:`fit_smile` fits that smile to option marks (the two Deribit BTC
  chains of May 2020, :mod:`marginlab.data.option_chains`) and gives its error by strike and expiry;
  :func:`tenor_power_check` sets the vol-shock term structure ``(30 / DTE) ** p`` against their ATM changes;
* **expiries** (default): Deribit-style, at 08:00 UTC, the next two Fridays, the last Fridays of the
  next three months and of the next two quarter months (March, June, September, December), all at
  least one day after ``as_of``.

>>> from marginlab.market_history import default_expiries
>>> [f"{e:%Y-%m-%d}" for e in default_expiries("2024-01-10")][:3]
['2024-01-12', '2024-01-19', '2024-01-26']
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd

from marginlab import data
from marginlab.data import annualise_vol
from marginlab.exceptions import DataError, DataWarning, InputError, MissingMarketDataError, ParameterError, UnknownAssetError
from marginlab.instruments import DEFAULT_EXPIRY_HOUR_UTC, to_utc
from marginlab.market import AssetMarket, ExpiryMarket, MarketSnapshot, VolSmile
from marginlab.stats.ewma import ewma_volatility_forecasts

#: Floor of the parametric smile (annualised fraction).
MIN_SMILE_VOL = 0.05
#: Log-moneyness grid of the smile.
SMILE_LOG_MONEYNESS = tuple(round(x, 1) for x in np.arange(-1.0, 1.0001, 0.1))
#: Days of funding averaged for ``forward_method="funding"``.
FUNDING_DAYS = 30
#: Days of daily returns used for the realised-volatility fallback.
REALISED_VOL_DAYS = 365


def _day(date: Any) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(date)
    except (ValueError, TypeError) as error:
        raise InputError("date", date, "is not a date") from error
    if stamp is pd.NaT:
        raise InputError("date", date, "is not a date")
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return stamp.tz_convert("UTC").normalize()


def _last_friday(year: int, month: int) -> datetime:
    first_next = datetime(year + (month == 12), month % 12 + 1, 1, DEFAULT_EXPIRY_HOUR_UTC)
    last = first_next - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - 4) % 7)


def default_expiries(as_of: Any) -> tuple[datetime, ...]:
    """Deribit-style expiries (08:00 UTC) after ``as_of``: 2 weeklies, 3 monthlies, 2 quarterlies."""
    start = to_utc(_day(as_of).to_pydatetime(), "as_of")
    limit = start + timedelta(days=1)
    expiries: set[datetime] = set()
    friday = start.replace(hour=DEFAULT_EXPIRY_HOUR_UTC) + timedelta(days=(4 - start.weekday()) % 7)
    while len(expiries) < 2:
        if friday >= limit:
            expiries.add(friday)
        friday += timedelta(days=7)
    year, month = start.year, start.month
    monthly, quarterly = 0, 0
    while monthly < 3 or quarterly < 2:
        candidate = to_utc(_last_friday(year, month))
        if candidate >= limit:
            if monthly < 3:
                expiries.add(candidate)
                monthly += 1
            if month % 3 == 0 and quarterly < 2:
                expiries.add(candidate)
                quarterly += 1
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return tuple(sorted(expiries))


def smile_from_atm(atm_vol: float, forward_usd: float, skew: float = 0.0, curvature: float = 0.0) -> VolSmile:
    """The parametric smile ``max(atm + skew m + curvature m^2, MIN_SMILE_VOL)`` around ``forward_usd``.

    >>> smile = smile_from_atm(0.5, 100.0, skew=-0.1)
    >>> round(float(smile.vol_at(100.0 * np.exp(-0.5))), 4)
    0.55
    """
    if not (math.isfinite(atm_vol) and atm_vol > 0):
        raise InputError("atm_vol", atm_vol, "must be a positive finite volatility")
    if skew == 0 and curvature == 0:
        return VolSmile.flat(atm_vol)
    moneyness = np.asarray(SMILE_LOG_MONEYNESS)
    vols = np.maximum(atm_vol + skew * moneyness + curvature * moneyness**2, MIN_SMILE_VOL)
    return VolSmile(tuple(forward_usd * np.exp(moneyness)), tuple(vols))


def ewma_annualised_vol(closes: pd.Series, ewma_lambda: float = 0.94) -> float:
    """Annualised EWMA volatility forecast after the last close (``sqrt(365)`` scaling).

    The EWMA is :func:`marginlab.stats.ewma.ewma_volatility_forecasts` (itself
    :func:`marginlab.stats.ewma.ewma_variance_forecasts`, mean seed), the scaling
    :func:`marginlab.data.annualise_vol`.
    """
    returns = np.diff(np.log(closes.to_numpy(dtype=np.float64)))
    if len(returns) < 2:
        raise MissingMarketDataError("closes", len(closes), "needs at least 3 daily closes for a realised volatility")
    return float(annualise_vol(ewma_volatility_forecasts(returns, ewma_lambda)[-1]))


def history_inputs(date: Any, assets: Sequence[str], vol_source: Literal["dvol", "realised"] = "dvol") -> pd.DataFrame:
    """Index (close) and ATM vol per asset on ``date``, with where the vol comes from.

    Returns a DataFrame indexed by asset with columns ``index_usd``, ``atm_vol``, ``vol_source``
    (``"dvol"`` or ``"ewma realised"``).
    """
    if vol_source not in ("dvol", "realised"):
        raise ParameterError("vol_source", vol_source, "must be 'dvol' or 'realised'")
    if isinstance(assets, str) or not assets:
        raise InputError("assets", assets, "must be a non-empty list of asset codes")
    day = _day(date)
    start = day - pd.Timedelta(days=REALISED_VOL_DAYS)
    rows = {}
    for asset in assets:
        try:
            bars = data.load_daily(asset, start, day)
        except DataError as error:
            raise MissingMarketDataError("date", str(day.date()), f"{asset} has no daily bar on that day ({error})") from error
        if bars.empty or pd.Timestamp(bars.index[-1]).normalize() != day:
            last = None if bars.empty else bars.index[-1].date()
            raise MissingMarketDataError("date", str(day.date()), f"{asset} has no daily bar on that day (last bar before: {last})")
        closes = bars["close"]
        atm, source = None, "ewma realised"
        if vol_source == "dvol":
            try:
                dvol = data.load_dvol(asset)
            except UnknownAssetError:
                dvol = None
            if dvol is not None:
                on_day = dvol.loc[pd.DatetimeIndex(dvol.index).normalize() == day, "close"]
                if len(on_day):
                    atm, source = float(on_day.iloc[-1]) / 100.0, "dvol"
        if atm is None:
            atm = ewma_annualised_vol(closes)
        rows[asset] = {"index_usd": float(closes.iloc[-1]), "atm_vol": atm, "vol_source": source}
    return pd.DataFrame.from_dict(rows, orient="index")


def _funding_carry(asset: str, day: pd.Timestamp) -> float | None:
    try:
        funding = data.load_funding(asset, day - pd.Timedelta(days=FUNDING_DAYS) + pd.Timedelta(hours=1), day + pd.Timedelta(days=1))
    except (UnknownAssetError, MissingMarketDataError, ValueError):
        return None
    if funding.empty:
        return None
    return float(funding["funding_rate"].mean() * 3 * 365)


def market_from_history(
    date: Any,
    assets: Sequence[str],
    rate: float = 0.0,
    expiries: Sequence[Any] | None = None,
    vol_source: Literal["dvol", "realised"] = "dvol",
    *,
    skew: float = 0.0,
    curvature: float = 0.0,
    forward_method: Literal["carry", "funding"] = "carry",
) -> MarketSnapshot:
    """A :class:`MarketSnapshot` for the close of ``date`` from real data (see the module docstring).

    Parameters
    ----------
    date : date-like
        The day (UTC); ``as_of`` is its close (00:00 UTC the next day).
    assets : sequence of str
        Assets with a daily series in the snapshot (``"BTC"``, ``"ETH"``, ``"SOL"``...).
    rate : float
        Continuously-compounded annual rate of the snapshot.
    expiries : sequence, optional
        Expiry datetimes / ISO strings, or integers = days after ``as_of`` (at 08:00 UTC); default
        :func:`default_expiries`.
    vol_source : {"dvol", "realised"}
        ATM vol from DVOL where present (else EWMA realised), or always EWMA realised.
    skew, curvature : float
        Smile shape (vol points per unit of log-moneyness, and per its square).
    forward_method : {"carry", "funding"}

    Returns
    -------
    MarketSnapshot
        Index, forwards, smiles and rate of every asset at the close of ``date``.

    Examples
    --------
    >>> market = market_from_history("2022-11-09", ["BTC", "ETH"], expiries=[30])
    >>> market.as_of.isoformat(), round(market.index_usd("BTC"))
    ('2022-11-10T00:00:00+00:00', 15892)
    >>> round(market.vol("BTC", market.expiries("BTC")[0], 15_000.0), 4)  # DVOL close 114.72
    1.1472
    """
    if forward_method not in ("carry", "funding"):
        raise ParameterError("forward_method", forward_method, "must be 'carry' or 'funding'")
    for name, value in (("skew", skew), ("curvature", curvature)):
        if not math.isfinite(value):
            raise ParameterError(name, value, "must be finite")
    day = _day(date)
    as_of = (day + pd.Timedelta(days=1)).to_pydatetime()
    inputs = history_inputs(day, assets, vol_source)
    if expiries is None:
        expiry_list = list(default_expiries(as_of))
    else:
        expiry_list = []
        for item in expiries:
            if isinstance(item, int | np.integer) and not isinstance(item, bool):
                if item < 1:
                    raise InputError("expiries", item, "days to expiry must be >= 1")
                expiry_list.append((as_of + timedelta(days=int(item))).replace(hour=DEFAULT_EXPIRY_HOUR_UTC))
            else:
                expiry_list.append(to_utc(item, "expiries"))
    expiry_list = sorted({to_utc(e) for e in expiry_list})
    if expiry_list and expiry_list[0] <= to_utc(as_of):
        raise InputError("expiries", expiry_list[0].isoformat(), f"is not after as_of={as_of.isoformat()}")
    market_assets = {}
    for asset, row in inputs.iterrows():
        index = float(row["index_usd"])
        carry = rate
        if forward_method == "funding":
            funding = _funding_carry(str(asset), day)
            if funding is None:
                warnings.warn(f"no funding data for {asset} on {day.date()}: forwards use the cost of carry at rate {rate}", DataWarning, stacklevel=2)
            else:
                carry = funding
        expiry_markets = {}
        for expiry in expiry_list:
            years = (expiry - to_utc(as_of)).total_seconds() / (365 * 86_400)
            forward = index * math.exp(carry * years)
            smile = smile_from_atm(float(row["atm_vol"]), forward, skew, curvature)
            expiry_markets[expiry] = ExpiryMarket(forward if forward_method == "funding" else None, smile)
        market_assets[str(asset)] = AssetMarket(index, None, expiry_markets)
    return MarketSnapshot(as_of, market_assets, rate)


@dataclass(frozen=True)
class SmileFit:
    """The parametric smile of :func:`smile_from_atm` fitted to option marks, and its error by strike and expiry.

    Attributes
    ----------
    parameters : DataFrame
        One row per fitted group (``snapshot``, ``expiry``; ``expiry`` is NaT for one smile per snapshot):
        ``atm, skew, curvature`` (vol points per unit of log-moneyness and its square), ``dte_days``, ``n``,
        ``rmse`` (vol points).
    residuals : DataFrame
        One row per option used: ``snapshot, expiry, strike, dte_days, log_moneyness, mark_iv, model_iv, error``
        (``model_iv - mark_iv``: the package's smile, on its log-moneyness grid with linear interpolation),
        ``quadratic_iv`` (the fitted quadratic itself: ``model_iv - quadratic_iv`` is the grid's share of the error)
        and ``in_spread`` (the model vol within the quoted bid/ask IVs, NaN without both).
    """

    parameters: pd.DataFrame
    residuals: pd.DataFrame

    def error_by_expiry(self) -> pd.DataFrame:
        """RMSE, mean and worst absolute error (vol points) and the share inside the bid/ask, per snapshot and expiry."""
        return self._summary(["snapshot", "expiry"])

    def error_by_moneyness(self, edges: Sequence[float] = (-1.0, -0.5, -0.2, -0.05, 0.05, 0.2, 0.5, 1.0)) -> pd.DataFrame:
        """The same statistics per log-moneyness bucket ``ln(K / F)`` (all expiries together)."""
        frame = self.residuals.assign(moneyness=pd.cut(self.residuals["log_moneyness"], list(edges), include_lowest=True))
        return self._summary(["moneyness"], frame)

    def _summary(self, keys: list[str], frame: pd.DataFrame | None = None) -> pd.DataFrame:
        data = self.residuals if frame is None else frame
        groups = data.groupby(keys, observed=True)
        return pd.DataFrame({
            "n": groups.size(),
            "rmse": groups["error"].apply(lambda e: float(np.sqrt(np.mean(np.square(e))))),
            "mean_error": groups["error"].mean(),
            "worst_abs_error": groups["error"].apply(lambda e: float(np.max(np.abs(e)))),
            "share_in_spread": groups["in_spread"].mean(),
        })


def fit_smile(chain: pd.DataFrame, *, by: Literal["expiry", "snapshot"] = "expiry", max_abs_moneyness: float = 1.0,
              min_days: float = 1.0) -> SmileFit:
    """Fit ``vol(m) = atm + skew m + curvature m^2`` (the smile of :func:`smile_from_atm`) to mark IVs by least squares.

    Out-of-the-money options with ``|ln(K / F)| <= max_abs_moneyness`` (the model's grid) and at least
    ``min_days`` to expiry are used; the model vol of each option is then read from the fitted
    :func:`smile_from_atm` smile itself (its grid, its floor), so the error is the package's model error.

    Parameters
    ----------
    chain : DataFrame
        :func:`marginlab.data.option_chains.load_option_chains` (or the same columns).
    by : {"expiry", "snapshot"}
        One smile per expiry, or one per snapshot for every expiry -- the flat term structure that
        :func:`market_from_history` assumes.
    max_abs_moneyness, min_days : float

    Returns
    -------
    SmileFit

    Examples
    --------
    >>> from marginlab.data.option_chains import load_option_chains
    >>> fit = fit_smile(load_option_chains("2020-05-21"))
    >>> long = fit.parameters[fit.parameters["dte_days"] > 100]  # September and December: a few vol points
    >>> bool(long["rmse"].max() < 0.02)
    True
    """
    if by not in ("expiry", "snapshot"):
        raise ParameterError("by", by, "must be 'expiry' or 'snapshot'")
    for name, value in (("max_abs_moneyness", max_abs_moneyness), ("min_days", min_days)):
        if not (math.isfinite(value) and value >= 0):
            raise ParameterError(name, value, "must be a non-negative number")
    missing = {"snapshot", "expiry", "strike", "forward_usd", "dte_days", "log_moneyness", "mark_iv", "otm"} - set(chain.columns)
    if missing:
        raise InputError("chain", sorted(missing), "missing columns (use marginlab.data.option_chains.load_option_chains)")
    used = chain[chain["otm"] & (chain["log_moneyness"].abs() <= max_abs_moneyness) & (chain["dte_days"] >= min_days)
                 & np.isfinite(chain["mark_iv"]) & (chain["mark_iv"] > 0)]
    keys = ["snapshot", "expiry"] if by == "expiry" else ["snapshot"]
    parameters, residuals = [], []
    for key, group in used.groupby(keys, sort=True):
        if len(group) < 3:
            continue
        m = group["log_moneyness"].to_numpy(dtype=float)
        design = np.column_stack([np.ones_like(m), m, m * m])
        (atm, skew, curvature), *_ = np.linalg.lstsq(design, group["mark_iv"].to_numpy(dtype=float), rcond=None)
        model = np.array([smile_from_atm(max(float(atm), MIN_SMILE_VOL), float(f), float(skew), float(curvature)).vol_at(float(k))
                          for f, k in zip(group["forward_usd"], group["strike"])])
        error = model - group["mark_iv"].to_numpy(dtype=float)
        bid = group["bid_iv"].to_numpy(dtype=float) if "bid_iv" in group else np.full(len(group), np.nan)
        ask = group["ask_iv"].to_numpy(dtype=float) if "ask_iv" in group else np.full(len(group), np.nan)
        quoted = np.isfinite(bid) & np.isfinite(ask)
        in_spread = np.where(quoted, (model >= bid) & (model <= ask), np.nan)
        snapshot, expiry = (key[0], key[1]) if by == "expiry" else (key[0] if isinstance(key, tuple) else key, pd.NaT)
        parameters.append({"snapshot": snapshot, "expiry": expiry, "atm": float(atm), "skew": float(skew),
                           "curvature": float(curvature), "dte_days": float(group["dte_days"].median()), "n": len(group),
                           "rmse": float(np.sqrt(np.mean(error**2)))})
        residuals.append(pd.DataFrame({"snapshot": snapshot, "expiry": group["expiry"].to_numpy(), "strike": group["strike"].to_numpy(),
                                       "dte_days": group["dte_days"].to_numpy(), "log_moneyness": m,
                                       "mark_iv": group["mark_iv"].to_numpy(), "model_iv": model, "error": error,
                                       "quadratic_iv": design @ np.array([atm, skew, curvature]), "in_spread": in_spread}))
    if not parameters:
        raise InputError("chain", len(chain), "has no group with at least 3 usable out-of-the-money marks")
    return SmileFit(pd.DataFrame(parameters), pd.concat(residuals, ignore_index=True))


def tenor_power_check(fit: SmileFit, short_tenor_power: float, long_tenor_power: float) -> tuple[pd.DataFrame, float]:
    """The vol-shock term structure against two real chains: relative ATM vol changes per expiry between snapshots.

    The package shocks a ``DTE``-day vol by ``shock_30d * (30 / DTE) ** p`` (:class:`marginlab.parameters.VolShockParameters`).
    For every expiry in both snapshots of ``fit`` (fitted ``by="expiry"``), the relative change of its fitted ATM vol
    ``atm_after / atm_before - 1`` is set against that shape, normalised to the change of the expiry nearest 30 days;
    the returned power is the least-squares slope of ``ln |change|`` on ``ln(30 / DTE)`` (DTE at the first snapshot).

    Returns
    -------
    (DataFrame, float)
        Per expiry: ``dte_days, atm_before, atm_after, change, model_shape`` (the package's ``(30 / DTE) ** p`` times
        the 30-day-nearest change), and the fitted power.
    """
    table = fit.parameters.dropna(subset=["expiry"])
    snapshots = sorted(table["snapshot"].unique())
    if len(snapshots) < 2:
        raise InputError("fit", len(snapshots), "needs a fit of two snapshots (by='expiry')")
    before = table[table["snapshot"] == snapshots[0]].set_index("expiry")
    after = table[table["snapshot"] == snapshots[-1]].set_index("expiry")
    common = before.index.intersection(after.index)
    out = pd.DataFrame({"dte_days": before.loc[common, "dte_days"], "atm_before": before.loc[common, "atm"],
                        "atm_after": after.loc[common, "atm"]})
    out["change"] = out["atm_after"] / out["atm_before"] - 1.0
    anchor = out.iloc[int(np.argmin(np.abs(np.log(out["dte_days"] / 30.0))))]
    power = np.where(out["dte_days"] <= 30.0, short_tenor_power, long_tenor_power)
    out["model_shape"] = anchor["change"] * (30.0 / out["dte_days"]) ** power / (30.0 / anchor["dte_days"]) ** (
        short_tenor_power if anchor["dte_days"] <= 30 else long_tenor_power)
    x = np.log(30.0 / out["dte_days"].to_numpy())
    y = np.log(np.abs(out["change"].to_numpy()))
    slope = float(np.polyfit(x, y, 1)[0]) if len(out) >= 2 else float("nan")
    return out, slope
