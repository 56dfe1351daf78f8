"""Scenario histories of filtered historical simulation: joint scenarios, the price history they are drawn from
(:class:`HistoricalScenarios`), user and crisis-day scenarios, and the snapshot sources of the fhs-var venue file.

The model that margins with them is :class:`marginlab.margin.fhs.FilteredHistoricalMargin`.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from marginlab import data
from marginlab.exceptions import DataError, InputError, ParameterError, UnknownAssetError
from marginlab.instruments import Position
from marginlab.stats.ewma import EWMA_SEED_DAYS as EWMA_SEED_DAYS  # re-exported
from marginlab.stats.ewma import ewma_volatility_forecasts

ScenarioKind = Literal["filtered", "raw", "user"]

#: Smallest implied volatility a scenario may produce (annualised fraction).
MIN_SCENARIO_VOL = 1e-4
#: Implied-vol proxy: share of the EWMA realised-vol relative change passed to implied vols.
REALISED_VOL_BETA = 0.35

LiquidityAddon = Callable[[Position, float, float], float]
"""``addon(position, notional_usd, daily_vol) -> USD`` called once per position."""


# --------------------------------------------------------------------------- filtering
def _check_lambda(ewma_lambda: float) -> None:
    if not (isinstance(ewma_lambda, int | float) and 0 < ewma_lambda < 1):
        raise ParameterError("ewma_lambda", ewma_lambda, "must be in (0, 1)")


# --------------------------------------------------------------------------- scenarios
@dataclass(frozen=True)
class JointScenarios:
    """h-day joint scenarios: per scenario date, log returns and relative implied-vol changes per asset.

    Attributes
    ----------
    dates : DatetimeIndex
        End date of each h-day window.
    assets : tuple of str
    log_returns : ndarray (n_scenarios, n_assets)
        h-day log returns (filtered and revolatilised, or raw for stress scenarios).
    vol_changes : ndarray (n_scenarios, n_assets)
        Relative implied-volatility changes (0.1 = vols up 10%).
    vol_sources : dict asset -> str
        Where the vol changes come from: ``"dvol"``, ``"dvol+realised"``, ``"realised"`` or ``"none"``.
    current_daily_vol : dict asset -> float
        The volatility forecast the scenarios were revolatilised to (daily fraction).
    kind : str
        ``"filtered"``, ``"raw"`` or ``"user"``.
    """

    dates: pd.DatetimeIndex
    assets: tuple[str, ...]
    log_returns: NDArray[np.float64]
    vol_changes: NDArray[np.float64]
    vol_sources: Mapping[str, str] = field(default_factory=dict)
    current_daily_vol: Mapping[str, float] = field(default_factory=dict)
    kind: ScenarioKind = "filtered"
    names: tuple[str, ...] = ()

    def labels(self) -> list[str]:
        """Scenario labels: the end date, or the user's name."""
        if self.names:
            return list(self.names)
        return list(self.dates.strftime("%Y-%m-%d"))

    def __len__(self) -> int:
        return len(self.dates)

    def frame(self) -> pd.DataFrame:
        """One row per scenario: date, then ``<asset>_log_return`` and ``<asset>_vol_change`` columns."""
        data: dict[str, Any] = {"date": self.dates, "kind": self.kind}
        for j, asset in enumerate(self.assets):
            data[f"{asset}_log_return"] = self.log_returns[:, j]
        for j, asset in enumerate(self.assets):
            data[f"{asset}_vol_change"] = self.vol_changes[:, j]
        return pd.DataFrame(data)


@dataclass(frozen=True, eq=False)
class HistoricalScenarios:
    """Daily joint history of several underlyings, from which h-day FHS scenarios are built.

    Build with :meth:`from_history` (a price panel you give) or :meth:`from_snapshot` (the repository's
    market data). The object holds daily log returns up to ``as_of``, optional DVOL levels and an
    optional volatility series; :meth:`joint_scenarios` turns them into filtered h-day scenarios and
    :meth:`stress_scenarios` into raw ones.

    Attributes
    ----------
    returns : DataFrame
        Daily log returns (fractions), dates x assets, no NaN.
    dvol : DataFrame
        Implied-volatility index levels (any units, only relative changes are used), dates x assets with
        NaN where the index does not exist. Columns only for assets that have one.
    volatility : DataFrame or None
        Daily volatility forecasts (fractions) replacing the EWMA, aligned with ``returns``.
    """

    returns: pd.DataFrame
    dvol: pd.DataFrame
    volatility: pd.DataFrame | None = None
    _cache: dict[Any, JointScenarios] = field(default_factory=dict, repr=False, compare=False)

    @property
    def assets(self) -> tuple[str, ...]:
        return tuple(str(c) for c in self.returns.columns)

    @property
    def as_of(self) -> pd.Timestamp:
        """Date of the last return used."""
        return pd.Timestamp(self.returns.index[-1])

    @classmethod
    def from_history(
        cls,
        prices: pd.DataFrame,
        dvol: pd.DataFrame | None = None,
        as_of: Any = None,
        *,
        volatility: pd.DataFrame | None = None,
    ) -> "HistoricalScenarios":
        """Scenario history from a close-price panel.

        Parameters
        ----------
        prices : DataFrame
            Daily close prices (USD, positive), a DatetimeIndex and one column per asset. Rows with a
            missing price in any column are dropped (joint scenarios need every asset on each day).
        dvol : DataFrame, optional
            Implied-volatility index levels (e.g. DVOL in points) by date, one column per asset that has
            one. Missing dates are NaN (the vol proxy is then used for those scenarios).
        as_of : date-like, optional
            Last date used (inclusive); default the last row of ``prices``.
        volatility : DataFrame, optional
            Daily volatility forecasts (fractions) for the returns' dates, e.g. a GARCH conditional
            volatility, replacing the EWMA filter; must cover every asset and return date.
        """
        if not isinstance(prices, pd.DataFrame) or prices.shape[1] == 0:
            raise InputError("prices", type(prices).__name__, "must be a DataFrame with one column per asset")
        if not isinstance(prices.index, pd.DatetimeIndex):
            raise InputError("prices.index", type(prices.index).__name__, "must be a DatetimeIndex")
        frame = prices.sort_index()
        frame.columns = [str(c) for c in frame.columns]
        if as_of is not None:
            frame = frame.loc[: _as_timestamp(as_of, frame.index)]
        frame = frame.dropna(how="any")
        values = frame.to_numpy(dtype=np.float64)
        if np.any(~np.isfinite(values)) or np.any(values <= 0):
            row, column = np.argwhere(~np.isfinite(values) | (values <= 0))[0]
            raise InputError(f"prices[{frame.columns[column]}]", float(values[row, column]), f"must be positive on {frame.index[row].date()}")
        if len(frame) < 3:
            raise InputError("prices", len(frame), "needs at least 3 common dates with a price for every asset")
        returns = pd.DataFrame(np.log(frame.to_numpy(dtype=np.float64)), index=frame.index, columns=frame.columns).diff().iloc[1:]
        dvol_frame = pd.DataFrame(index=returns.index)
        if dvol is not None:
            dvol = dvol.copy()
            dvol.columns = [str(c) for c in dvol.columns]
            dvol.index = _same_timezone(dvol.index, frame.index, "dvol")
            dvol_frame = dvol.reindex(columns=[c for c in dvol.columns if c in returns.columns]).reindex(frame.index)
            if (dvol_frame <= 0).any().any():
                raise InputError("dvol", "non-positive", "implied volatility index levels must be positive")
        vol_frame = None
        if volatility is not None:
            vol_frame = volatility.copy()
            vol_frame.columns = [str(c) for c in vol_frame.columns]
            vol_frame.index = _same_timezone(vol_frame.index, frame.index, "volatility")
            missing = [a for a in returns.columns if a not in vol_frame.columns]
            if missing:
                raise UnknownAssetError("volatility", missing[0], "has no volatility series for this asset")
            vol_frame = vol_frame[list(returns.columns)].reindex(returns.index)
            if vol_frame.isna().any().any() or (vol_frame <= 0).any().any():
                raise InputError("volatility", "missing or non-positive", "must give a positive daily volatility for every return date")
        return cls(returns, dvol_frame, vol_frame)

    @classmethod
    def from_snapshot(cls, assets: Sequence[str], as_of: Any = None, start: str | None = None) -> "HistoricalScenarios":
        """Scenario history of ``assets`` from the market-data snapshot (:mod:`marginlab.data`), with DVOL for BTC and ETH."""
        prices = data.close_panel(list(assets), start, None)
        dvol_columns = {}
        for asset in assets:
            try:
                dvol_columns[asset] = data.load_dvol(asset)["close"]
            except UnknownAssetError:
                continue
        dvol = pd.DataFrame(dvol_columns) if dvol_columns else None
        return cls.from_history(prices, dvol, as_of)

    def until(self, day: Any) -> "HistoricalScenarios":
        """The same history cut at the close of ``day`` (inclusive): a point-in-time view.

        The returns' filter only looks back, so the scenarios of the cut history are those the model
        would have built on that day. ``self`` when the history already ends on or before ``day``.

        >>> import numpy as np, pandas as pd
        >>> dates = pd.date_range("2020-01-01", periods=10, freq="D", tz="UTC")
        >>> history = HistoricalScenarios.from_history(pd.DataFrame({"BTC": np.arange(100.0, 110.0)}, index=dates))
        >>> str(history.until("2020-01-05").as_of.date()), len(history.until("2020-01-05").returns)
        ('2020-01-05', 4)
        """
        stamp = _as_timestamp(day, self.returns.index)
        if self.as_of <= stamp:
            return self
        returns = self.returns.loc[:stamp]
        if len(returns) < 2:
            raise InputError("day", str(stamp.date()), f"the history starts {self.returns.index[0].date()}: too few returns before this day")
        volatility = None if self.volatility is None else self.volatility.loc[:stamp]
        return HistoricalScenarios(returns, self.dvol.loc[:stamp], volatility)

    # ------------------------------------------------------------------ building
    def _check_assets(self, assets: Sequence[str]) -> list[int]:
        columns = []
        for asset in assets:
            if asset not in self.returns.columns:
                raise UnknownAssetError("underlying", asset, f"has no history in the scenario set (assets: {list(self.assets)})")
            columns.append(self.assets.index(asset))
        return columns

    def daily_volatility(self, ewma_lambda: float = 0.94) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Volatility forecast per return date (n, k) and the one-step-ahead current forecast (k,)."""
        if self.volatility is not None:
            vol = self.volatility.to_numpy(dtype=np.float64)
            returns = self.returns.to_numpy()
            current = np.sqrt(ewma_lambda * vol[-1] ** 2 + (1 - ewma_lambda) * returns[-1] ** 2)
            return vol, current
        vol = ewma_volatility_forecasts(self.returns.to_numpy(), ewma_lambda)
        return vol[:-1], vol[-1]

    def _vol_changes(
        self, horizon_days: int, ewma_vol: NDArray[np.float64], vol_proxy: str, beta: float
    ) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        """Relative implied-vol change over the h days ending on each return date (NaN for the first h-1)."""
        count, width = self.returns.shape
        changes = np.zeros((count, width))
        from_dvol = np.zeros((count, width), dtype=bool)
        # ewma_vol has n + 1 rows: row t is the forecast for day t made at the end of day t - 1, so the
        # window of days s-h+1..s moves the volatility from row s-h+1 to row s+1.
        proxy = np.full((count, width), np.nan)
        if vol_proxy == "realised":
            proxy[horizon_days - 1 :] = beta * (ewma_vol[horizon_days:] / ewma_vol[: count + 1 - horizon_days] - 1.0)
        elif vol_proxy == "none":
            proxy[:] = 0.0
        for j, asset in enumerate(self.assets):
            column = proxy[:, j]
            if asset in self.dvol.columns:
                levels = self.dvol[asset].to_numpy(dtype=np.float64)  # indexed by price dates: one more row
                # return row i ends on price row i+1; window start price row i+1-h
                end = levels[1:]
                start = np.full(count, np.nan)
                start[horizon_days - 1 :] = levels[: count - horizon_days + 1]
                with np.errstate(invalid="ignore", divide="ignore"):
                    dvol_change = end / start - 1.0
                has = np.isfinite(dvol_change)
                from_dvol[:, j] = has
                column = np.where(has, dvol_change, column)
            changes[:, j] = np.nan_to_num(column, nan=0.0)
        return changes, from_dvol

    def joint_scenarios(
        self,
        horizon_days: int = 1,
        lookback_days: int | None = None,
        ewma_lambda: float = 0.94,
        *,
        filtered: bool = True,
        vol_proxy: Literal["realised", "none"] = "realised",
        realised_vol_beta: float = REALISED_VOL_BETA,
    ) -> JointScenarios:
        """Filtered (or raw) overlapping h-day joint scenarios over the last ``lookback_days`` days.

        Parameters
        ----------
        horizon_days : int
            Holding period h (>= 1) in days.
        lookback_days : int, optional
            Number of h-day windows (scenario end dates) kept, the most recent ones; default every
            available one. Needs ``lookback_days + horizon_days - 1`` daily returns.
        ewma_lambda : float
            EWMA decay of the devolatilisation (ignored with a volatility series passed in).
        filtered : bool
            False gives raw historical moves (stress scenarios).
        vol_proxy : {"realised", "none"}
            Implied-vol change where DVOL does not exist.
        realised_vol_beta : float
            Share of the EWMA volatility's relative change used by the ``"realised"`` proxy.
        """
        horizon_days = _check_horizon(horizon_days)
        _check_beta(realised_vol_beta)
        _check_lambda(ewma_lambda)
        if vol_proxy not in ("realised", "none"):
            raise ParameterError("vol_proxy", vol_proxy, "must be 'realised' or 'none'")
        count = len(self.returns)
        available = count - horizon_days + 1
        if lookback_days is None:
            lookback_days = available
        if not isinstance(lookback_days, int | np.integer) or lookback_days < 1:
            raise ParameterError("lookback_days", lookback_days, "must be a positive integer")
        if lookback_days > available:
            raise ParameterError(
                "lookback_days",
                lookback_days,
                f"too long: the history has {count} daily returns up to {self.as_of.date()}, giving {available} "
                f"{horizon_days}-day windows",
            )
        key = (horizon_days, int(lookback_days), float(ewma_lambda), filtered, vol_proxy, float(realised_vol_beta))
        if key in self._cache:
            return self._cache[key]
        returns = self.returns.to_numpy(dtype=np.float64)
        vol, current = self.daily_volatility(ewma_lambda)
        daily = returns / vol * current if filtered else returns
        cumulative = np.vstack([np.zeros((1, daily.shape[1])), np.cumsum(daily, axis=0)])
        window = cumulative[horizon_days:] - cumulative[:-horizon_days]  # window ending on return row h-1+i
        changes, from_dvol = self._vol_changes(horizon_days, np.vstack([vol, current[None, :]]), vol_proxy, realised_vol_beta)
        rows = slice(count - int(lookback_days), count)
        share = from_dvol[rows].mean(axis=0)
        sources = {
            asset: "dvol" if share[j] == 1 else vol_proxy if share[j] == 0 else f"dvol ({share[j]:.0%} of scenarios), else {vol_proxy}"
            for j, asset in enumerate(self.assets)
        }
        result = JointScenarios(
            pd.DatetimeIndex(self.returns.index[rows]),
            self.assets,
            window[rows.start - (horizon_days - 1) :][: int(lookback_days)],
            changes[rows],
            sources,
            dict(zip(self.assets, (float(c) for c in current))),
            "filtered" if filtered else "raw",
        )
        self._cache[key] = result
        return result


def _same_timezone(index: Any, reference: Any, name: str) -> pd.DatetimeIndex:
    """``index`` as a DatetimeIndex in the time zone of ``reference`` (naive stays naive)."""
    try:
        index = pd.DatetimeIndex(index)
    except (TypeError, ValueError) as error:
        raise InputError(f"{name}.index", type(index).__name__, "must hold dates") from error
    if reference.tz is not None:
        return index.tz_localize(reference.tz) if index.tz is None else index.tz_convert(reference.tz)
    return index.tz_convert(None) if index.tz is not None else index


def _as_timestamp(value: Any, index: Any) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    if index.tz is not None and stamp.tzinfo is None:
        stamp = stamp.tz_localize(index.tz)
    elif index.tz is None and stamp.tzinfo is not None:
        stamp = stamp.tz_convert(None)
    return stamp


def _check_beta(beta: Any) -> None:
    if not (isinstance(beta, int | float) and math.isfinite(beta) and beta >= 0):
        raise ParameterError("realised_vol_beta", beta, "must be a non-negative finite number")


def _check_horizon(horizon_days: Any) -> int:
    if not isinstance(horizon_days, int | np.integer) or isinstance(horizon_days, bool) or horizon_days < 1:
        raise ParameterError("horizon_days", horizon_days, "must be an integer >= 1")
    return int(horizon_days)


def user_scenarios(scenarios: pd.DataFrame) -> JointScenarios:
    """Stress scenarios given by the user.

    ``scenarios`` has one row per scenario (its index or a ``name`` column names it), columns
    ``<asset>_return`` (simple return, -0.3 = down 30%) and optionally ``<asset>_vol_change``
    (relative, 0.5 = vols up 50%).
    """
    names = scenarios["name"] if "name" in scenarios.columns else pd.Series(scenarios.index.astype(str))
    assets = tuple(c[: -len("_return")] for c in scenarios.columns if c.endswith("_return"))
    if not assets:
        raise InputError("stress_scenarios", list(scenarios.columns), "needs '<asset>_return' columns")
    simple = scenarios[[f"{a}_return" for a in assets]].to_numpy(dtype=np.float64)
    if np.any(~np.isfinite(simple)) or np.any(simple <= -1):
        raise InputError("stress_scenarios", "returns", "simple returns must be finite and > -1")
    vol = np.column_stack([scenarios[f"{a}_vol_change"].to_numpy(dtype=np.float64) if f"{a}_vol_change" in scenarios else np.zeros(len(scenarios)) for a in assets])
    index = pd.DatetimeIndex([pd.NaT] * len(scenarios))
    return JointScenarios(index, assets, np.log1p(simple), vol, {a: "user" for a in assets}, {}, "user", tuple(str(n) for n in names))



# --------------------------------------------------------------------------- crisis scenarios
# The named crisis days of the fhs-var preset and the proxies of assets without history on them are
# data of its venue file (venues/fhs-var.yaml: crisis_days, crisis_proxies), not numbers of this module.


def crisis_scenarios(
    assets: Sequence[str],
    horizon_days: int,
    days: Mapping[str, str],
    proxies: Mapping[str, str] | None = None,
    ewma_lambda: float = 0.94,
    realised_vol_beta: float = REALISED_VOL_BETA,
) -> pd.DataFrame:
    """User-format stress scenarios (see :func:`user_scenarios`) replaying named crisis days from the snapshot.

    For each crisis day ``d`` and asset: the simple return from the close ``h`` days before ``d`` to the
    close of ``d``, and the relative change of DVOL over the same days (else ``realised_vol_beta`` times
    that of the EWMA realised volatility). ``days`` maps a name to the crisis day (the ``fhs-var`` venue file's
    ``crisis_days``). An asset without history on that day (SOL before 2020-04) takes the move of its
    proxy (``proxies``, the venue file's ``crisis_proxies``: an alt coin falls at least as much as ETH);
    without a proxy it raises :class:`UnknownAssetError`.

    >>> crisis_scenarios(["BTC"], 1, {"COVID": "2020-03-12"}).round(3).to_dict("records")
    [{'name': 'COVID', 'BTC_return': -0.388, 'BTC_vol_change': 0.943}]
    """
    horizon_days = _check_horizon(horizon_days)
    days = dict(days)
    proxies = dict(proxies or {})
    rows = []
    cache: dict[str, tuple[pd.Series, pd.Series | None]] = {}

    def series(asset: str) -> tuple[pd.Series, pd.Series | None]:
        if asset not in cache:
            closes = data.load_daily(asset)["close"]
            try:
                dvol: pd.Series | None = data.load_dvol(asset)["close"]
            except UnknownAssetError:
                dvol = None
            cache[asset] = (closes, dvol)
        return cache[asset]

    def move(asset: str, day: pd.Timestamp) -> tuple[float, float] | None:
        closes, dvol = series(asset)
        start = day - pd.Timedelta(days=horizon_days)
        if day not in closes.index or start not in closes.index:
            return None
        simple = float(closes[day] / closes[start] - 1.0)
        if dvol is not None and day in dvol.index and start in dvol.index:
            return simple, float(dvol[day] / dvol[start] - 1.0)
        history = closes.loc[:day].iloc[-400:]
        vol = ewma_volatility_forecasts(np.diff(np.log(history.to_numpy(dtype=np.float64))), ewma_lambda)
        return simple, float(realised_vol_beta * (vol[-1] / vol[-1 - horizon_days] - 1.0))

    for name, when in days.items():
        day = pd.Timestamp(when, tz="UTC").normalize()
        record: dict[str, Any] = {"name": name}
        for asset in assets:
            try:
                found = move(asset, day)
            except UnknownAssetError:
                found = None
            if found is None and asset in proxies:
                found = move(proxies[asset], day)
            if found is None:
                raise UnknownAssetError("asset", asset, f"has no history on the crisis day {day.date()} and no proxy")
            record[f"{asset}_return"], record[f"{asset}_vol_change"] = found
        rows.append(record)
    return pd.DataFrame(rows, columns=["name", *[f"{a}_{k}" for a in assets for k in ("return", "vol_change")]])


# --------------------------------------------------------------------------- snapshot histories (the fhs-var venue file)
@lru_cache(maxsize=8)
def snapshot_history(assets: tuple[str, ...]) -> HistoricalScenarios:
    """The package snapshot's joint history of ``assets`` (cached: the venue file's preset is rebuilt often)."""
    return HistoricalScenarios.from_snapshot(assets)


@lru_cache(maxsize=16)
def snapshot_crises(assets: tuple[str, ...], horizon_days: int, days: tuple[tuple[str, str], ...],
                    proxies: tuple[tuple[str, str], ...] = ()) -> pd.DataFrame:
    """:func:`crisis_scenarios` of the snapshot with each scenario's crisis ``date`` (so that a point-in-time model,
    :meth:`FilteredHistoricalMargin.as_of`, keeps only the crises already seen); cached."""
    named = dict(days)
    frame = crisis_scenarios(assets, horizon_days, named, dict(proxies))
    return frame.assign(date=[named[name] for name in frame["name"]])


@lru_cache(maxsize=128)
def _snapshot_history_as_of(assets: tuple[str, ...], min_closes: int, day: pd.Timestamp) -> HistoricalScenarios:
    known = [a for a in assets if len(data.load_daily(a).loc[:day]) >= min_closes]
    if not known:
        raise DataError(f"FHS history as of {day.date()}: no asset of {', '.join(assets)} has {min_closes} daily closes by then")
    if tuple(known) == tuple(assets):
        return snapshot_history(tuple(assets)).until(day)
    return HistoricalScenarios.from_snapshot(tuple(known), as_of=day)


def snapshot_history_source(assets: Sequence[str], min_closes: int) -> Callable[[pd.Timestamp], HistoricalScenarios]:
    """A ``history_source`` for :meth:`FilteredHistoricalMargin.as_of`: the snapshot's joint history of ``assets``
    at the close of a day, keeping the assets with at least ``min_closes`` daily closes by then (cached per day).

    SOL's history starts 2020-04-10, so the ``fhs-var`` preset as of a 2020-03 day scans BTC and ETH only
    (an account holding SOL then raises :class:`~marginlab.exceptions.UnknownAssetError`, as it would have).

    >>> source = snapshot_history_source(("BTC", "ETH", "SOL"), 753)
    >>> source(pd.Timestamp("2020-03-11", tz="UTC")).assets
    ('BTC', 'ETH')
    """
    return functools.partial(_snapshot_history_as_of, tuple(str(a) for a in assets), int(min_closes))
