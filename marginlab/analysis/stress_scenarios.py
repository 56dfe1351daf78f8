"""The stress-scenario library: named historical windows and hypothetical shocks, as market paths.

A :class:`Scenario` is data; :func:`scenario_path` turns it into a :class:`MarketPath` -- prices
(USD) and implied volatilities (annualised fractions) per asset at a sequence of UTC times --
from which :meth:`MarketPath.snapshot` builds the :class:`~marginlab.market.MarketSnapshot`
of each step.

Historical windows (daily bars; hourly where the hourly file has data)
---------------------------------------------------------------------
Each day contributes its **intraday path** ``open -> first extreme -> second extreme -> close``
(on a down day, ``close < open``, the high comes first and the low second; on an up day the
reverse), the usual OHLC ordering heuristic. Each leg is cut into ``substeps`` geometric
steps so that liquidation happens on the way down instead of only at the day's extreme; the
remaining gap risk within a sub-step is real (liquidations fill at the step's mark).

Volatility for options: Deribit DVOL (close of the day, /100) where it exists -- BTC and ETH
from 2021-03-24 -- otherwise a realised-volatility proxy, the RiskMetrics EWMA
(``lambda = 0.94``) of daily log returns annualised with ``sqrt(365)``, using data up to the
day. Open steps use the previous day's value.

Intraday crash windows (``frequency="intraday"``)
-------------------------------------------------
Each asset takes the finest bars the data have for the window, in the order of ``Scenario.bars``
(Bybit perpetual 15-minute bars for 2025-10-07 -> 10-17, then Bybit hourly, then Binance spot
4-hour bars; USDT prices, taken as USD), else its daily path as above. Each bar contributes
three points -- first extreme, second extreme (the same ordering heuristic), close -- at a third,
two thirds and the end of the bar; ``substeps`` does not apply. Assets on coarser bars hold their
last point between theirs.

**Collateral depegs** (``Scenario.collateral``) are carried in the path as the collateral asset's
index price, which is what :class:`~marginlab.market.MarketSnapshot` values collateral at (no engine
change): ``USDE`` from the Binance USDEUSDT minute bars (the lowest low of each step's interval:
0.65 at 21:54 UTC on 2025-10-10), ``WBETH`` and ``BNSOL`` as ETH and SOL times their exchange
ratio (the CoinGecko snapshot of the morning of 2025-10-10, 1.079 and 1.074), which falls to the
Binance spot day low of ``WBETH_ETH`` (0.2012) and ``BNSOL_SOL`` (0.1286) in the step of the USDe
trough -- **an assumption**: their minute bars were not found, only the day range, and the three
printed on the same venue's books in the same liquidation wave -- and returns the next step.
``USDC`` (March 2023) follows its daily path. These prices are one venue's books: a venue that
values collateral at its own spot price (as Binance's unified margin did that evening) sees them.

Hypothetical shocks
-------------------
Two steps: the base market (the last day of data on or before ``base_date``, or a given
snapshot), then the same market with ``spot_factors`` applied (``"*"`` = every non-stable
asset) and vols multiplied by ``vol_factor``.

>>> from marginlab.analysis.stress_scenarios import list_scenarios
>>> list_scenarios()["name"].tolist()[:3]
['covid-2020-03-12', 'may-2021-05-19', 'luna-ust-2022-05']
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Literal

import numpy as np
import pandas as pd

from marginlab.data import FILES, load_daily, load_dvol, load_hourly, load_series
from marginlab.exceptions import InputError, MarginLabError, ParameterError, UnknownAssetError
from marginlab.market import AssetMarket, ExpiryMarket, MarketSnapshot, VolSmile
from marginlab.stats.ewma import ewma_variance_forecasts

#: Assets valued at 1 USD-ish whose prices come from data but that are never "shocked" by ``"*"``.
STABLE_ASSETS = frozenset({"USDC", "USDT", "DAI", "BUSD", "TUSD", "USDP", "USTC", "USDE", "FDUSD", "USD1"})

#: Collateral assets whose depeg a scenario can carry, and how their path is built (module docstring):
#: ``"minute-lows"`` (USDe/USDT minute bars), ``(reference, market)`` (the reference asset's path times its
#: exchange ratio, falling to ``market``'s day low on the day range of 2025-10-10), ``"daily"`` (daily path).
COLLATERAL_PATHS: dict[str, str | tuple[str, str]] = {"USDE": "minute-lows", "WBETH": ("ETH", "WBETH_ETH"),
                                                      "BNSOL": ("SOL", "BNSOL_SOL"), "USDC": "daily"}

#: First day of the Deribit DVOL series in the snapshot.
DVOL_START = pd.Timestamp("2021-03-24", tz="UTC")

#: RiskMetrics decay of the realised-volatility proxy.
EWMA_LAMBDA = 0.94


@dataclass(frozen=True)
class Scenario:
    """A named stress scenario.

    Parameters
    ----------
    name, description : str
    kind : {"historical", "hypothetical"}
    start, end : str, optional
        Historical window (inclusive, UTC dates or times).
    frequency : {"daily", "hourly", "intraday"}
        Historical data frequency (``"intraday"``: the bars of ``bars``, see the module docstring).
    spot_factors : mapping asset -> factor
        Hypothetical instant price moves (``"*"`` = every non-stable asset).
    vol_factor : float
        Hypothetical multiplicative vol move.
    bars : tuple of str
        Intraday scenarios: the datasets to take bars from, finest first (``"bybit_perp_15m"``...).
    collateral : tuple of str
        Collateral assets whose depeg the path always carries (``"USDE"``, ``"WBETH"``, ``"BNSOL"``, ``"USDC"``).
    """

    name: str
    description: str
    kind: Literal["historical", "hypothetical"]
    start: str | None = None
    end: str | None = None
    frequency: Literal["daily", "hourly", "intraday"] = "daily"
    spot_factors: Mapping[str, float] = field(default_factory=dict)
    vol_factor: float = 1.0
    bars: tuple[str, ...] = ()
    collateral: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in ("historical", "hypothetical"):
            raise InputError("kind", self.kind, "must be 'historical' or 'hypothetical'")
        if self.kind == "historical" and (self.start is None or self.end is None):
            raise InputError("start", self.start, "a historical scenario needs start and end")
        if self.frequency not in ("daily", "hourly", "intraday"):
            raise InputError("frequency", self.frequency, "must be 'daily', 'hourly' or 'intraday'")
        if self.frequency == "intraday" and not self.bars:
            raise InputError("bars", self.bars, "an intraday scenario names the datasets of its bars")
        unknown = sorted(set(self.collateral) - set(COLLATERAL_PATHS))
        if unknown:
            raise InputError("collateral", unknown, f"must be among {sorted(COLLATERAL_PATHS)}")
        for asset, factor in self.spot_factors.items():
            if not math.isfinite(factor) or factor <= 0:
                raise ParameterError(f"spot_factors[{asset}]", factor, "must be a positive price factor")
        if not math.isfinite(self.vol_factor) or self.vol_factor <= 0:
            raise ParameterError("vol_factor", self.vol_factor, "must be a positive factor")
        object.__setattr__(self, "spot_factors", MappingProxyType(dict(self.spot_factors)))


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("covid-2020-03-12", "COVID crash: BTC -39% close to close on 12 March 2020, ETH -42%", "historical", "2020-03-09", "2020-03-16"),
        Scenario("may-2021-05-19", "China mining ban sell-off: BTC -14% on 19 May 2021, intraday low -30%", "historical", "2021-05-16", "2021-05-23"),
        Scenario("luna-ust-2022-05", "Terra/LUNA and UST collapse: UST 0.15 on 13 May 2022, BTC -20% over the week", "historical", "2022-05-05", "2022-05-13"),
        Scenario("ftx-2022-11", "FTX collapse: BTC -23%, ETH -30%, SOL -42% over 8-9 November 2022", "historical", "2022-11-06", "2022-11-13"),
        Scenario("usdc-depeg-2023-03", "SVB and the USDC depeg: USDC low 0.877 on 11 March 2023", "historical", "2023-03-08", "2023-03-14",
                 collateral=("USDC",)),
        Scenario("feb-2025-03-hourly", "Tariff shock, hourly bars: ETH -11.9% in one hour on 3 February 2025", "historical", "2025-02-01", "2025-02-05", "hourly"),
        Scenario("yen-carry-2024-08-05", "Yen carry-trade unwind, 4-hour bars: BTC -19% and ETH -27% from the 4 August 2024 open to the 5 August lows",
                 "historical", "2024-08-03T00:00", "2024-08-07T00:00", "intraday", bars=("binance_spot_4h",)),
        Scenario("oct-2025-10-10", "10-11 October 2025, 15-minute bars: the largest liquidation day on record, perpetual "
                 "lows BTC -17%, ETH -24%, alts -60% to -78%; USDe 0.65, wBETH 0.20 ETH, BNSOL 0.13 SOL on one venue's books",
                 "historical", "2025-10-10T16:00", "2025-10-11T08:00", "intraday",
                 bars=("bybit_perp_15m", "bybit_perp_1h", "binance_spot_4h"), collateral=("USDE", "WBETH", "BNSOL")),
        Scenario("btc-minus-40pct-instant", "Hypothetical: BTC falls 40% instantly, vols unchanged", "hypothetical", spot_factors={"BTC": 0.6}),
        Scenario("crypto-minus-30pct-instant", "Hypothetical: every crypto asset falls 30% instantly", "hypothetical", spot_factors={"*": 0.7}),
        Scenario("vol-doubling", "Hypothetical: implied volatilities double, prices unchanged", "hypothetical", vol_factor=2.0),
        Scenario("crash-and-vol-spike", "Hypothetical: crypto -25% and vols x1.75 at once", "hypothetical", spot_factors={"*": 0.75}, vol_factor=1.75),
    )
}


def get_scenario(name: str | Scenario) -> Scenario:
    """The library scenario ``name`` (a :class:`Scenario` is returned as is).

    Parameters
    ----------
    name : str or Scenario
        A name of :func:`list_scenarios`.

    Returns
    -------
    Scenario
        The scenario.
    """
    if isinstance(name, Scenario):
        return name
    try:
        return SCENARIOS[name]
    except KeyError:
        raise UnknownAssetError("scenario", name, f"is not in the scenario library (known: {', '.join(SCENARIOS)})") from None


def list_scenarios() -> pd.DataFrame:
    """Every library scenario: name, kind, window or shock, description.

    Returns
    -------
    pandas.DataFrame
        One row per scenario of the library.
    """
    rows = []
    for s in SCENARIOS.values():
        if s.kind == "historical":
            what = f"{s.start} to {s.end} ({s.frequency}{': ' + ', '.join(s.bars) if s.bars else ''})"
            if s.collateral:
                what += f"; collateral {', '.join(s.collateral)}"
        else:
            moves = ", ".join(f"{a} x{f:g}" for a, f in s.spot_factors.items())
            what = "; ".join(x for x in (moves, f"vol x{s.vol_factor:g}" if s.vol_factor != 1 else "") if x)
        rows.append({"name": s.name, "kind": s.kind, "window_or_shock": what, "description": s.description})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class MarketPath:
    """Prices and vols per asset at a sequence of times.

    Attributes
    ----------
    prices_usd : DataFrame
        Index: UTC times (steps), columns: assets.
    vols : DataFrame
        Same shape; annualised implied volatility used for options.
    vol_source : dict asset -> str
        ``"dvol"``, ``"ewma-realised"`` or ``"dvol+ewma-realised"`` (the proxy before DVOL starts),
        ``"given"`` for hypothetical paths.
    name : str
    """

    prices_usd: pd.DataFrame
    vols: pd.DataFrame
    vol_source: Mapping[str, str]
    name: str = "path"

    def __post_init__(self) -> None:
        if self.prices_usd.empty:
            raise InputError("prices_usd", "empty", "a market path needs at least one step")
        if not self.prices_usd.index.equals(self.vols.index) or list(self.prices_usd.columns) != list(self.vols.columns):
            raise InputError("vols", "shape", "must have the same steps and assets as prices_usd")
        values = self.prices_usd.to_numpy()
        if not np.all(np.isfinite(values)) or np.any(values <= 0):
            raise InputError("prices_usd", "non-positive or NaN", "every price on the path must be positive and finite")

    @property
    def times(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(self.prices_usd.index)

    @property
    def assets(self) -> tuple[str, ...]:
        return tuple(self.prices_usd.columns)

    def __len__(self) -> int:
        return len(self.prices_usd)

    def snapshot(self, step: int, expiries: Mapping[str, Sequence[datetime]] | None = None) -> MarketSnapshot:
        """The market at ``step``: index = perpetual mark = path price, flat smiles at the path vol
        for every ``expiries[asset]`` still alive (forward = cost of carry at rate 0)."""
        time = self.times[step]
        as_of = time.to_pydatetime()
        assets = {}
        for asset in self.assets:
            price = float(self.prices_usd[asset].iloc[step])
            vol = float(self.vols[asset].iloc[step])
            alive = {e: ExpiryMarket(None, VolSmile.flat(vol)) for e in (expiries or {}).get(asset, ()) if e > as_of}
            assets[asset] = AssetMarket(price, None, alive)
        return MarketSnapshot(as_of, assets, 0.0)


def _ewma_vol(closes: pd.Series) -> pd.Series:
    """Annualised EWMA vol at the end of each day, *including* that day's return (seeded with the first squared return).

    Rows ``[1:]`` of :func:`marginlab.stats.ewma.ewma_variance_forecasts` (``seed="mean"``, ``seed_days=1``),
    i.e. ``pandas`` ``ewm(alpha=1 - lambda, adjust=False)`` of the squared returns.
    """
    returns = np.log(closes).diff().dropna()
    variance = ewma_variance_forecasts(returns.to_numpy(), EWMA_LAMBDA, seed="mean", seed_days=1)[1:]
    return pd.Series(np.sqrt(variance * 365.0), index=returns.index, name=returns.name)


def _daily_vols(asset: str, start: pd.Timestamp, end: pd.Timestamp) -> tuple[pd.Series, str]:
    history = load_daily(asset, start - pd.Timedelta(days=120), end, gaps="ignore")["close"]
    proxy = _ewma_vol(history)
    source = "ewma-realised"
    if asset in ("BTC", "ETH") and end >= DVOL_START:
        dvol = load_dvol(asset, start - pd.Timedelta(days=3), end)["close"] / 100.0
        proxy = dvol.combine_first(proxy) if len(dvol) else proxy
        source = "dvol" if start >= DVOL_START else "dvol+ewma-realised"
    return proxy.sort_index(), source


def _intraday_points(bar: pd.Series) -> list[tuple[float, float]]:
    """(hour, price) points of one daily bar: open, first extreme, second extreme, close."""
    down = bar["close"] < bar["open"]
    first, second = (bar["high"], bar["low"]) if down else (bar["low"], bar["high"])
    return [(0.0, bar["open"]), (8.0, first), (16.0, second), (24.0, bar["close"])]


def _interpolate(points: list[tuple[pd.Timestamp, float]], substeps: int) -> list[tuple[pd.Timestamp, float]]:
    out = [points[0]]
    for (t0, p0), (t1, p1) in zip(points, points[1:]):
        for k in range(1, substeps + 1):
            w = k / substeps
            out.append((t0 + (t1 - t0) * w, float(p0 * (p1 / p0) ** w)))
    return out


def scenario_path(
    scenario: str | Scenario,
    assets: Sequence[str],
    *,
    substeps: int = 4,
    base_date: str = "2025-02-19",
    market: MarketSnapshot | None = None,
    base_vol: float | None = None,
) -> MarketPath:
    """The market path of ``scenario`` for ``assets``.

    Parameters
    ----------
    scenario : str or Scenario
    assets : sequence of str
        Every underlying and collateral asset of the book.
    substeps : int
        Historical daily paths: geometric steps per intraday leg (1 = only the OHLC points).
    base_date : str
        Hypothetical shocks: the base market is the data on this date (ignored if ``market``).
    market : MarketSnapshot, optional
        Hypothetical shocks: the base market (prices; vols from the first smile of each asset,
        else ``base_vol`` or the data's proxy at ``market.as_of``).
    base_vol : float, optional
        Hypothetical shocks: vol for every asset, overriding the others.

    Returns
    -------
    MarketPath
        The timestamps, prices and vols of the path.
    """
    scenario = get_scenario(scenario)
    assets = list(dict.fromkeys(assets))
    if not assets:
        raise InputError("assets", assets, "needs at least one asset")
    if substeps < 1:
        raise ParameterError("substeps", substeps, "must be at least 1")
    if scenario.kind == "hypothetical":
        return _hypothetical_path(scenario, assets, base_date, market, base_vol)
    assets = list(dict.fromkeys([*assets, *scenario.collateral]))
    start = pd.Timestamp(str(scenario.start), tz="UTC")
    end = pd.Timestamp(str(scenario.end), tz="UTC")
    if scenario.frequency == "intraday":
        return _intraday_path(scenario, assets, start, end, substeps)
    prices, vols, sources = {}, {}, {}
    if scenario.frequency == "hourly":
        for asset in assets:
            bars = load_hourly(asset, start, end + pd.Timedelta(hours=23), gaps="ffill")
            daily_vol, sources[asset] = _daily_vols(asset, start, end)
            prices[asset] = bars["close"]
            day_vol = daily_vol.reindex(pd.DatetimeIndex(bars.index).normalize() - pd.Timedelta(days=1), method="ffill")
            vols[asset] = pd.Series(day_vol.to_numpy(), index=bars.index)
        return MarketPath(pd.DataFrame(prices), pd.DataFrame(vols), sources, scenario.name)

    for asset in assets:
        bars = load_daily(asset, start, end, gaps="ignore")
        if bars.empty:
            raise InputError("scenario", scenario.name, f"no {asset} data between {scenario.start} and {scenario.end}")
        daily_vol, sources[asset] = _daily_vols(asset, start, end)
        points: list[tuple[pd.Timestamp, float]] = []
        vol_points: list[float] = []
        for day_label, bar in bars.iterrows():
            day = pd.Timestamp(str(day_label))
            day_points = _intraday_points(bar)
            if points:
                day_points = day_points[1:]  # the open repeats the previous close's time
            stamped = [(day + pd.Timedelta(hours=h), float(p)) for h, p in day_points]
            previous = daily_vol.loc[: day - pd.Timedelta(days=1)]
            today = daily_vol.loc[:day]
            if points:
                fine = _interpolate([points[-1], *stamped], substeps)[1:]
            else:
                fine = _interpolate(stamped, substeps)
            for t, p in fine:
                points.append((t, p))
                source = previous if t == day else today
                vol_points.append(float(source.iloc[-1]) if len(source) else float(daily_vol.iloc[0]))
        index = pd.DatetimeIndex([t for t, _ in points])
        prices[asset] = pd.Series([p for _, p in points], index=index)
        vols[asset] = pd.Series(vol_points, index=index)
    price_frame = pd.DataFrame(prices).ffill().bfill()
    vol_frame = pd.DataFrame(vols).reindex(price_frame.index).ffill().bfill()
    return MarketPath(price_frame, vol_frame, sources, scenario.name)


_STEP = {"15min": pd.Timedelta(minutes=15), "1h": pd.Timedelta(hours=1), "4h": pd.Timedelta(hours=4)}


def _bar_points(bars: pd.DataFrame, step: pd.Timedelta) -> pd.Series:
    """Three points per bar (first extreme, second extreme, close at 1/3, 2/3 and the end), after the first open."""
    down = (bars["close"] < bars["open"]).to_numpy()
    first = np.where(down, bars["high"], bars["low"])
    second = np.where(down, bars["low"], bars["high"])
    opens = pd.DatetimeIndex(bars.index)
    times = [opens[:1], opens + step / 3, opens + 2 * step / 3, opens + step]
    values = [bars["open"].to_numpy()[:1], first, second, bars["close"].to_numpy()]
    series = pd.Series(np.concatenate(values), index=pd.DatetimeIndex(np.concatenate([t.to_numpy() for t in times]), tz="UTC"))
    return series.sort_index(kind="stable")


def _intraday_bars(asset: str, datasets: Sequence[str], start: pd.Timestamp, end: pd.Timestamp) -> tuple[pd.Series, str] | None:
    """The finest bars of ``asset`` covering ``[start, end)`` among ``datasets`` as path points, with their dataset."""
    for dataset in datasets:
        step = _STEP[str(FILES[dataset].frequency)]
        try:
            bars = load_series(dataset, start, end - step, symbols=[f"{asset}USDT"])
        except (UnknownAssetError, MarginLabError):
            continue
        bars = bars.set_index("timestamp")
        if len(bars) and bars.index[0] <= start and bars.index[-1] >= end - step:
            return _bar_points(bars, step), dataset
    return None


def _depeg_inputs() -> tuple[pd.Series, dict[str, tuple[float, float]]]:
    """USDe/USDT minute lows of 2025-10-09 .. 10-13 and, per ratio token, (ratio before the crash, day-low ratio)."""
    minute = load_series("usde_1m").set_index("timestamp")["low"]
    snapshot = load_series("coingecko", "2025-10-10", "2025-10-10T20:59")
    day_range = load_series("day_range_2025_10_10").set_index("market")["day_low"]
    ratios = {}
    for token, spec in COLLATERAL_PATHS.items():
        if isinstance(spec, tuple):
            reference, market = spec
            price = snapshot.set_index("symbol")["price"]
            ratios[token] = (float(price[token] / price[reference]), float(day_range[market]))
    return minute, ratios


def _intraday_path(scenario: Scenario, assets: list[str], start: pd.Timestamp, end: pd.Timestamp, substeps: int) -> MarketPath:
    """An intraday crash window: finest bars per asset, daily paths otherwise, collateral depegs carried."""
    prices: dict[str, pd.Series] = {}
    sources: dict[str, str] = {}
    origin: dict[str, str] = {}
    depeg = [a for a in assets if COLLATERAL_PATHS.get(a) not in (None, "daily")]
    priced = [a for a in assets if a not in depeg]
    references = [spec[0] for a in depeg if isinstance(spec := COLLATERAL_PATHS[a], tuple)]
    for asset in dict.fromkeys([*priced, *references]):
        found = _intraday_bars(asset, scenario.bars, start, end)
        if found is not None:
            prices[asset], origin[asset] = found
        else:
            daily = Scenario(scenario.name, scenario.description, "historical", f"{start:%Y-%m-%d}", f"{end:%Y-%m-%d}")
            path = scenario_path(daily, [asset], substeps=substeps)
            prices[asset], origin[asset] = path.prices_usd[asset].loc[start:end], "daily"
    grid = pd.DatetimeIndex(sorted(set().union(*(set(p.index) for p in prices.values()))), tz="UTC")
    frame = pd.DataFrame({a: p.reindex(grid).ffill().bfill() for a, p in prices.items()})
    if depeg:
        minute, ratios = _depeg_inputs()
        bucket = np.searchsorted(grid.asi8, pd.DatetimeIndex(minute.index).asi8, side="left")
        inside = bucket < len(grid)
        lows = pd.Series(minute.to_numpy()[inside]).groupby(bucket[inside]).min()
        usde = pd.Series(np.nan, index=range(len(grid)))
        usde.loc[lows.index] = lows.to_numpy()
        usde_path = usde.ffill().bfill().to_numpy()
        trough = int(np.nanargmin(usde_path))
        for asset in depeg:
            spec = COLLATERAL_PATHS[asset]
            if spec == "minute-lows":
                frame[asset], origin[asset] = usde_path, "usde_1m lows"
            else:
                reference = str(spec[0])
                normal, low = ratios[asset]
                ratio = np.full(len(grid), normal)
                ratio[trough] = low
                frame[asset], origin[asset] = frame[reference].to_numpy() * ratio, f"{reference} x ratio, day low at USDe trough"
    frame = frame[assets]
    vols = {}
    for asset in assets:
        reference = COLLATERAL_PATHS[asset][0] if isinstance(COLLATERAL_PATHS.get(asset), tuple) else asset
        if asset == "USDE":
            vols[asset], sources[asset] = pd.Series(0.05, index=grid), "assumed 5% (collateral only)"
            continue
        daily_vol, source = _daily_vols(str(reference), start.normalize(), end.normalize())
        day_vol = daily_vol.reindex(grid.normalize() - pd.Timedelta(days=1), method="ffill").bfill()
        vols[asset] = pd.Series(day_vol.to_numpy(), index=grid)
        sources[asset] = f"{source} ({origin[asset]})"
    return MarketPath(frame, pd.DataFrame(vols)[assets], sources, scenario.name)


def _hypothetical_path(
    scenario: Scenario, assets: list[str], base_date: str, market: MarketSnapshot | None, base_vol: float | None
) -> MarketPath:
    prices, vols, sources = {}, {}, {}
    if market is not None:
        as_of = pd.Timestamp(market.as_of)
        for asset in assets:
            prices[asset] = market.index_usd(asset)
            data = market.asset(asset)
            smiles = [e.smile for e in data.expiries.values() if e.smile is not None]
            if base_vol is not None:
                vols[asset], sources[asset] = base_vol, "given"
            elif smiles:
                vols[asset], sources[asset] = float(np.mean(smiles[0].vols)), "market"
            else:
                vols[asset], sources[asset] = _vol_on(asset, as_of)
    else:
        as_of = pd.Timestamp(base_date, tz="UTC")
        for asset in assets:
            bars = load_daily(asset, as_of - pd.Timedelta(days=10), as_of, gaps="ignore")
            if bars.empty:
                raise InputError("base_date", base_date, f"no {asset} data in the 10 days before")
            prices[asset] = float(bars["close"].iloc[-1])
            if base_vol is not None:
                vols[asset], sources[asset] = base_vol, "given"
            else:
                vols[asset], sources[asset] = _vol_on(asset, as_of)
        as_of = as_of + pd.Timedelta(days=1)  # the close of base_date
    shocked_prices = {}
    for asset in assets:
        factor = scenario.spot_factors.get(asset, scenario.spot_factors.get("*", 1.0) if asset not in STABLE_ASSETS else 1.0)
        shocked_prices[asset] = prices[asset] * factor
    index = pd.DatetimeIndex([as_of, as_of + pd.Timedelta(seconds=1)])
    price_frame = pd.DataFrame([prices, shocked_prices], index=index)[assets]
    vol_frame = pd.DataFrame([vols, {a: v * scenario.vol_factor for a, v in vols.items()}], index=index)[assets]
    return MarketPath(price_frame, vol_frame, sources, scenario.name)


def _vol_on(asset: str, as_of: pd.Timestamp) -> tuple[float, str]:
    series, source = _daily_vols(asset, as_of - pd.Timedelta(days=5), as_of)
    series = series.loc[:as_of]
    return float(series.iloc[-1]), source
