"""``calibrate()``: the parameter file, every number computed by the methodology's own model objects at ``asof``.

:func:`calibrate` takes daily history up to an as-of date (inclusive) and a
:class:`~marginlab.calibration.methodology.Methodology` (default: the recommended one) and returns a
:class:`~marginlab.parameters.ParameterSet`. There is no private pipeline: each number is read from the same
objects the notebooks study and the methodology backtest re-runs date by date.

========================  =====================================================================================
``maintenance_rate``      the last row of :func:`marginlab.calibration.published.published_rates` -- the one function
``initial_rate``          the backtest (``marginlab backtest``) tests every row of: ``min(max(down, up), 1)`` of
``price_scan_range``      ``methodology.stress_range_model(maintenance_horizon_days, maintenance_confidence)``, each
                          with the methodology's anti-procyclicality tool (never below the plain rate), fitted to
                          the asset's log returns up to ``asof`` (the rate set at the close of ``asof`` for the next
                          days) -- two-sided, because the isolated and cross models charge longs and shorts the same
                          rate, and backtested on both sides; the initial rate likewise, never below the maintenance
                          rate; the scan range ``max(down, up)`` of the scan model (``extreme_moves="last"``), each
                          side capped at ``rates.cap``
``side_rates``            the same rates of each side (``maintenance_long = min(down, 1)``, ``maintenance_short =
                          min(up, 1)``, the initial side rates likewise, never below the side's maintenance rate):
                          ``maintenance_rate`` is their larger side; ``marginlab backtest --rates per-side`` tests them
``extreme_move``          ``extreme_down`` / ``extreme_up`` of that row, capped at ``extreme.cap_down`` / ``cap_up``;
                          cover ``extreme.cover`` (SPAN's 35%)
``vol_shock``             :func:`marginlab.calibration.stress_ranges.vol_shock_30d` (DVOL quantiles for BTC/ETH, the
                          methodology's documented method and cap for the others); powers from ``vol_shock``
``haircut``               ``methodology.haircut_model().fit(...)`` (FHS ES of the price drop over the haircut
                          horizon, square-root liquidity add-on, stablecoin depeg risk)
``offsets``               (file level, when >= 2 requested assets are not stablecoins) spread credit rate per pair from
                          the stress correlation of the assets' moves, :func:`marginlab.calibration.offsets.estimate_offsets`
========================  =====================================================================================

Only data up to ``asof`` is used: the file is identical when later data exist. Bad input is a one-line
:class:`~marginlab.exceptions.InputError`: a date that does not parse, an ``asof`` after an asset's last
observation, or fewer than ``volatility.min_returns`` returns before it (unless ``allow_short_history=True``,
which is recorded in the file's provenance). Volatility fits on a boundary, fallbacks and short windows are
issued as :class:`~marginlab.exceptions.MarginLabWarning` (the CLI prints them) and recorded per asset.

USD stablecoins used as collateral (``stablecoin_collateral``, default USDT and USDC) are calibrated with the
other assets unless ``stablecoin_collateral=()``, so that the ``calibrated-cross`` model can value an account that
posts them.

Examples
--------
>>> import numpy as np, pandas as pd
>>> days = pd.date_range("2020-01-01", periods=900, freq="D", tz="UTC")
>>> prices = pd.DataFrame({"XYZ": 100 * np.exp(np.cumsum(0.03 * np.random.default_rng(0).standard_normal(900)))},
...                       index=days)
>>> params = calibrate(["XYZ"], "2022-06-18", prices=prices, implied_vol={}, stablecoin_collateral=(),
...                    created_at="2022-06-19T00:00:00+00:00")
>>> entry = params.asset("XYZ")
>>> bool(0.05 < entry.maintenance_rate <= entry.initial_rate < 0.2)
True
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import math
import multiprocessing
import os
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from marginlab import data
from marginlab._validation import parse_date
from marginlab._version import __version__
from marginlab.calibration.haircuts import industry_class, load_haircut_inputs
from marginlab.calibration.methodology import Methodology
from marginlab.calibration.offsets import StressOffsetMethod, estimate_offsets
from marginlab.calibration.published import published_rates
from marginlab.calibration.stress_ranges import vol_shock_30d
from marginlab.data import sources
from marginlab.exceptions import InputError, MarginLabWarning
from marginlab.parameters import (
    AssetParameters,
    AssetProvenance,
    ExtremeMoveParameters,
    HaircutDetails,
    ParameterSet,
    Provenance,
    SideRates,
    VolShockParameters,
)
from marginlab.progress import tqdm
from marginlab.stats.bootstrap import as_generator

__all__ = ["ShortHistoryWarning", "calibrate", "default_asof", "parse_date", "published_rate"]

#: Assets whose implied-vol index (Deribit DVOL) is in the data snapshot.
DVOL_ASSETS: tuple[str, ...] = ("BTC", "ETH")
#: USD stablecoins calibrated as collateral by default.
DEFAULT_STABLECOIN_COLLATERAL: tuple[str, ...] = ("USDT", "USDC")


class ShortHistoryWarning(MarginLabWarning):
    """An asset was calibrated on fewer returns than the methodology requires (``allow_short_history``)."""


def published_rate(row: Mapping[str, Any]) -> float:
    """The rate a parameter file publishes from a row of a stress-range frame: ``max(scan_down, scan_up)``."""
    return float(max(float(row["scan_down"]), float(row["scan_up"])))


def _dataset_provenance() -> tuple[str, str]:
    """``(name, version)`` of the data snapshot in use (never a path)."""
    info = getattr(data, "dataset_info", None)
    if info is not None:
        values = info()
        return str(values["name"]), str(values["version"])
    try:  # before the embedded dataset: the snapshot's manifest checksum is its version
        manifest = sources.snapshot_dir() / "MANIFEST.csv"
        digest = hashlib.sha256(manifest.read_bytes()).hexdigest()[:12]
    except Exception:  # noqa: BLE001 - provenance must never stop a calibration
        digest = "unversioned"
    return "marginlab-snapshot", f"manifest-sha256:{digest}"


def _dvol_close(asset: str) -> pd.Series | None:
    """Deribit DVOL closes of ``asset`` from the snapshot, or ``None`` when unavailable."""
    try:
        return data.load_dvol(asset)["close"]
    except Exception:  # noqa: BLE001 - the vol shock then uses the non-DVOL method (recorded in `source`)
        return None


_Frame = TypeVar("_Frame", pd.DataFrame, pd.Series)


def _utc_index(frame: _Frame) -> _Frame:
    out = frame.copy()
    out.index = pd.to_datetime(out.index, utc=True)
    return out


def _check_history(asset: str, close: pd.Series, day: pd.Timestamp, min_returns: int, allow_short: bool) -> bool:
    """Raise a one-line error when ``day`` is outside the asset's data or too early; return True for a short history."""
    if close.empty:
        raise InputError(f"prices[{asset}]", "no observations", "has no price data")
    first, last = close.index[0].date(), close.index[-1].date()
    if day.date() > last:
        raise InputError("asof", str(day.date()), f"is after the end of {asset}'s data ({first} .. {last}); use an earlier --asof")
    if day.date() < first:
        raise InputError("asof", str(day.date()), f"is before the start of {asset}'s data ({first} .. {last})")
    n_returns = int((close.index <= _end_of_day(day)).sum()) - 1
    if n_returns < min_returns:
        if not allow_short:
            raise InputError(
                "asof", str(day.date()),
                f"{asset} has {n_returns} daily returns up to this date (data {first} .. {last}), fewer than the "
                f"methodology's {min_returns}; pass --allow-short-history (allow_short_history=True) to accept it",
            )
        return True
    return False


def _end_of_day(day: pd.Timestamp) -> pd.Timestamp:
    return (day + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)).tz_localize("UTC")


def _short_history_methodology(methodology: Methodology, n_returns: int) -> Methodology:
    """The methodology with its minimum history lowered to what an allowed short history holds."""
    volatility = methodology.volatility
    pool = methodology.pool
    min_returns = max(100, min(volatility.min_returns, n_returns // 2))
    window = volatility.estimation_window_days
    volatility = dataclasses.replace(volatility, min_returns=min_returns,
                                     estimation_window_days=None if window is None else max(window, min_returns))
    shocks = max(50, min(pool.min_shocks, n_returns - min_returns - 10))
    pool = dataclasses.replace(pool, min_shocks=shocks)
    return methodology.replace(volatility=volatility, pool=pool)


def _stress_rows(methodology: Methodology, returns: pd.Series) -> pd.Series:
    """The last row of :func:`~marginlab.calibration.published.published_rates` (the rates set at the as-of close)."""
    return published_rates(methodology, returns, extreme_moves="last").iloc[-1]


def _asset_task(task: tuple[str, Methodology, pd.Series, pd.Series | None, Mapping[str, Any]]) -> tuple[str, Any, list[str], Any]:
    """Stress-range rows, fit messages and vol shock of one asset (runs in a worker process when ``n_jobs > 1``)."""
    asset, methodology, returns, implied, reference = task
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = _stress_rows(methodology, returns)
        shock = vol_shock_30d(asset, returns, implied, reference, methodology.vol_shock)
    messages = sorted({str(w.message) for w in caught if issubclass(w.category, MarginLabWarning)})
    return asset, rows, messages, shock


def _run_tasks(tasks: list[Any], n_jobs: int | None, progress: bool) -> dict[str, tuple[Any, list[str], Any]]:
    """Run :func:`_asset_task` over assets, in ``n_jobs`` forked processes (``None`` = all cores) or in this one."""
    workers = (os.cpu_count() or 1) if n_jobs is None else int(n_jobs)
    if workers < 1:
        raise InputError("n_jobs", n_jobs, "must be a positive integer or None")
    bar = tqdm(total=len(tasks), disable=not progress, desc="calibrate", leave=False)
    out = {}
    if workers == 1 or len(tasks) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        for task in tasks:
            asset, rows, messages, shock = _asset_task(task)
            out[asset] = (rows, messages, shock)
            bar.update()
    else:
        with ProcessPoolExecutor(min(workers, len(tasks)), mp_context=multiprocessing.get_context("fork")) as pool:
            for asset, rows, messages, shock in pool.map(_asset_task, tasks):
                out[asset] = (rows, messages, shock)
                bar.update()
    bar.close()
    return out


def default_asof(assets: Sequence[str], prices: pd.DataFrame | None = None) -> pd.Timestamp:
    """The last day every one of ``assets`` has a close (``prices``, default the data files): the default ``asof``.

    Examples
    --------
    >>> default_asof(["BTC", "ETH", "SOL"])
    Timestamp('2025-11-19 00:00:00')
    """
    frame = prices if prices is not None else load_haircut_inputs(list(assets))[0]
    missing = [a for a in assets if a not in frame.columns or frame[a].dropna().empty]
    if missing:
        raise InputError("assets", missing, "have no price series")
    return min(parse_date(_utc_index(frame[a].dropna()).index[-1]) for a in assets)


def _collateral_reaches(extra: Sequence[str], frame: pd.DataFrame, day: pd.Timestamp) -> None:
    """A one-line error naming ``--no-stablecoin-collateral`` when a collateral stablecoin's data end before ``day``."""
    for coin in extra:
        close = _utc_index(frame[coin].dropna())
        if len(close) and close.index[-1].date() < day.date():
            raise InputError("asof", str(day.date()), f"is after the end of the collateral stablecoin {coin}'s data "
                             f"({close.index[-1].date()}); pass --no-stablecoin-collateral (stablecoin_collateral=()) "
                             f"or an --asof on or before {close.index[-1].date()}")


def _implied_vol_notes(names: Sequence[str], implied: Mapping[str, pd.Series], day: pd.Timestamp,
                       from_data: bool) -> dict[str, list[str]]:
    """What the vol shock of each asset falls back to when its implied-vol index is missing or ends early.

    Never silent: each note is warned and written into the asset's provenance. With no index at all (BTC, ETH
    from the data), the BTC/ETH vol shock uses the methodology's non-DVOL method and every other asset the
    unscaled realised-vol proxy; an index that ends before ``asof`` is used up to its last day (its quantiles
    of 30-day log changes do not need the as-of day's level).
    """
    notes: dict[str, list[str]] = {a: [] for a in names}
    for asset in names:
        series = implied.get(asset)
        if asset in DVOL_ASSETS and from_data and series is None:
            notes[asset].append("no implied-vol index (Deribit DVOL) in the data: the vol shock uses the "
                                "methodology's non-DVOL method")
        elif series is not None and len(series) and parse_date(_utc_index(series.dropna()).index[-1]) < day:
            last = parse_date(_utc_index(series.dropna()).index[-1]).date()
            notes[asset].append(f"the implied-vol index ends {last}, before asof {day.date()}: the vol shock uses its "
                                f"history to {last} (fallback)")
    if from_data and not any(a in implied for a in DVOL_ASSETS):
        for asset in names:
            if asset not in DVOL_ASSETS:
                notes[asset].append("no reference implied-vol index (BTC/ETH DVOL): the vol shock is the unscaled "
                                    "realised-vol proxy")
    return notes


def calibrate(
    assets: Sequence[str],
    asof: Any,
    methodology: Methodology | None = None,
    *,
    prices: pd.DataFrame | None = None,
    volumes_usd: pd.DataFrame | None = None,
    stablecoin_history: pd.DataFrame | None = None,
    implied_vol: Mapping[str, pd.Series] | None = None,
    stablecoin_collateral: Sequence[str] = DEFAULT_STABLECOIN_COLLATERAL,
    allow_short_history: bool = False,
    rng: np.random.Generator | int | None = 0,
    created_at: str | None = None,
    progress: bool = False,
    n_jobs: int | None = 1,
    offset_method: StressOffsetMethod | None = None,
) -> ParameterSet:
    """Calibrate the parameter file for ``assets`` with data up to ``asof`` (inclusive).

    Parameters
    ----------
    assets : sequence of str
        Asset symbols (``"BTC"``, ``"ETH"``, ``"SOL"``, ``"USDC"``...).
    asof : date-like or None
        Last day of data used; None: the last day every requested asset has (:func:`default_asof`).
    methodology : Methodology, optional
        Every modelling choice (default: ``Methodology()``, the recommended methodology); written whole into the file.
    prices, volumes_usd : DataFrame, optional
        Daily closes / USD volumes (dates x assets); default: the data snapshot. Rows after ``asof`` are ignored.
    stablecoin_history : DataFrame, optional
        Long ``timestamp, symbol, close`` table for the depeg model (default: the snapshot).
    implied_vol : mapping asset -> Series, optional
        30-day implied-vol index per asset (any units); default: Deribit DVOL for BTC and ETH from the snapshot.
        ``{}`` disables implied vols (every asset then uses the methodology's non-DVOL method).
    stablecoin_collateral : sequence of str
        USD stablecoins calibrated in addition to ``assets`` (collateral of cross accounts); ``()`` for none.
        Each must have data up to ``asof``, else a one-line :class:`InputError` names ``--no-stablecoin-collateral``.
        Ignored when ``prices`` is given without them.
    allow_short_history : bool
        Accept assets with fewer returns than ``methodology.volatility.min_returns`` (recorded in the provenance).
    rng : Generator, int or None
        Seed of the haircut simulations (default 0: reproducible files).
    created_at : str, optional
        Creation time to record (default: now, UTC).
    progress : bool
        Progress bar over assets (stderr).
    n_jobs : int or None
        Processes for the per-asset stress-range fits (``None`` = all cores); the result does not depend on it.
    offset_method : StressOffsetMethod, optional
        Rule of the inter-underlying spread credits (default ``StressOffsetMethod()``), estimated when at least two
        requested assets are not stablecoins (:func:`marginlab.calibration.offsets.estimate_offsets`, data up to
        ``asof``) and stored under ``offsets``.

    Returns
    -------
    ParameterSet
    """
    if isinstance(assets, str):
        assets = [assets]
    requested = list(dict.fromkeys(str(a) for a in assets))
    if not requested:
        raise InputError("assets", list(assets), "must name at least one asset")
    config = methodology if methodology is not None else Methodology()
    if not isinstance(config, Methodology):
        raise InputError("methodology", type(config).__name__, "must be a Methodology")
    day = parse_date(asof) if asof is not None else default_asof(requested, prices)
    stamp = _end_of_day(day)
    from_snapshot = prices is None
    extra = [s for s in stablecoin_collateral if s not in requested and (from_snapshot or (prices is not None and s in prices.columns))]
    names = requested + extra
    if prices is None:
        prices, loaded_volumes = load_haircut_inputs(names)
        volumes_usd = loaded_volumes if volumes_usd is None else volumes_usd
    missing = [a for a in names if a not in prices.columns]
    if missing:
        raise InputError("assets", missing, f"have no price series (available: {', '.join(map(str, prices.columns))})")
    frame = _utc_index(prices[names])
    min_returns = config.volatility.min_returns
    short = {a: _check_history(a, frame[a].dropna(), day, min_returns, allow_short_history) for a in requested}
    _collateral_reaches(extra, prices, day)
    short.update({a: _check_history(a, frame[a].dropna(), day, min_returns, allow_short_history) for a in extra})
    frame = frame[frame.index <= stamp]
    if volumes_usd is not None:
        volumes_usd = _utc_index(volumes_usd)
        volumes_usd = volumes_usd[volumes_usd.index <= stamp]
    implied = dict(implied_vol) if implied_vol is not None else {a: s for a in DVOL_ASSETS if (s := _dvol_close(a)) is not None}
    vol_notes = _implied_vol_notes(names, implied, day, implied_vol is None)
    implied = {a: _utc_index(pd.Series(s, dtype=float)).loc[lambda x: x.index <= stamp].dropna() for a, s in implied.items()}
    # an index with too short a history before asof (DVOL starts 2021-03-24) is not used, as if absent
    implied = {a: s for a, s in implied.items() if len(s) > config.vol_shock.horizon_days + 100}
    for asset in names:
        close = frame[asset].dropna()
        if (close <= 0).any():
            raise InputError(f"prices[{asset}]", float(close[close <= 0].iloc[0]), "prices must be positive")
    returns_by_asset = {a: np.log(frame[a].dropna()).diff().dropna() for a in names}
    reference = {a: (implied[a], returns_by_asset[a] if a in returns_by_asset else _reference_returns(a, stamp))
                 for a in DVOL_ASSETS if a in implied}
    configs = {a: _short_history_methodology(config, len(returns_by_asset[a])) if short[a] else config for a in names}
    tasks = [(a, configs[a], returns_by_asset[a], implied.get(a), reference) for a in names]
    outputs = _run_tasks(tasks, n_jobs, progress)
    records: dict[str, dict[str, Any]] = {}
    for asset in names:
        returns, asset_config = returns_by_asset[asset], configs[asset]
        rows, fit_messages, (up_30d, down_30d, source) = outputs[asset]
        notes: list[str] = []
        if short[asset]:
            message = f"{asset}: calibrated on {len(returns)} returns, fewer than the methodology's {min_returns} (allow_short_history)"
            warnings.warn(message, ShortHistoryWarning, stacklevel=2)
            notes.append(message)
        for message in [*vol_notes[asset], *fit_messages]:
            warnings.warn(f"{asset}: {message}", MarginLabWarning, stacklevel=2)
            notes.append(f"{asset}: {message}")
        maintenance, initial = float(rows["maintenance_rate"]), float(rows["initial_rate"])
        scan_row = {"scan_range": rows["price_scan_range"], "extreme_down": rows["extreme_down"], "extreme_up": rows["extreme_up"],
                    "historical_worst_down": rows["historical_worst_down"], "historical_worst_up": rows["historical_worst_up"]}
        extreme = asset_config.extreme
        status = _vol_status(asset_config, fit_messages)
        records[asset] = {
            "asset_class": industry_class(asset),
            "price_scan_range": float(scan_row["scan_range"]),
            "vol_shock": VolShockParameters(
                up_30d=float(up_30d), down_30d=float(down_30d),
                short_tenor_power=asset_config.vol_shock.short_tenor_power,
                long_tenor_power=asset_config.vol_shock.long_tenor_power, source=source,
            ),
            "extreme_move": ExtremeMoveParameters(
                down=float(min(scan_row["extreme_down"], extreme.cap_down)),
                up=float(min(scan_row["extreme_up"], extreme.cap_up)),
                cover=extreme.cover,
                historical_worst_down=_finite(scan_row.get("historical_worst_down")),
                historical_worst_up=_finite(scan_row.get("historical_worst_up")),
            ),
            "maintenance_rate": float(min(maintenance, 1.0)),
            "initial_rate": float(min(initial, 1.0)),
            "side_rates": SideRates(**{f"{kind}_{side}": float(rows[f"{kind}_{side}"])
                                       for kind in ("maintenance", "initial") for side in ("long", "short")}),
            "provenance": AssetProvenance(
                data_start=returns.index[0].strftime("%Y-%m-%d"),
                data_end=returns.index[-1].strftime("%Y-%m-%d"),
                n_returns=int(len(returns)),
                vol_model=_vol_label(asset_config),
                vol_status=status,
                converged=not any("fallback" in m for m in fit_messages),
                short_history=bool(short[asset]),
                warnings=tuple(notes),
            ),
        }
    haircuts = config.haircut_model().fit(frame, volumes_usd, asof=stamp, stablecoin_history=stablecoin_history,
                                          rng=as_generator(rng))
    assets_out = {}
    for asset in names:
        row = haircuts.table.loc[asset]
        details = HaircutDetails(**{key: _finite(row.get(key)) for key in (
            "var", "es", "market_risk", "depeg_risk", "liquidity_add_on", "size_usd", "adv_usd", "vol_forecast", "long_run_vol")})
        assets_out[asset] = AssetParameters(asset=asset, haircut=float(row["haircut"]),  # type: ignore[arg-type]
                                            tier=str(row["tier"]),
                                            haircut_details=details, **records[asset])
    dataset, version = _dataset_provenance() if from_snapshot else ("user-supplied prices", "n/a")
    provenance = Provenance(
        created_at=created_at or dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        package_version=__version__,
        dataset=dataset,
        dataset_version=version,
        methodology=config.name,
        allow_short_history=bool(allow_short_history),
    )
    risky = [a for a in requested if records[a]["asset_class"] != "stablecoin"]
    offsets = estimate_offsets(frame, stamp, offset_method, risky) if len(risky) >= 2 else None
    return ParameterSet(day.strftime("%Y-%m-%d"), assets_out, config.to_dict(), provenance, offsets)


def _reference_returns(asset: str, stamp: pd.Timestamp) -> pd.Series:
    """Log returns of a DVOL reference asset (BTC/ETH) up to ``stamp``, from the snapshot."""
    close = _utc_index(data.load_daily(asset)["close"])
    return pd.Series(np.log(close[close.index <= stamp])).diff().dropna()


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _vol_status(methodology: Methodology, messages: Sequence[str]) -> str:
    """``"ewma"`` (no fit), else ``"fallback-ewma"`` / ``"boundary"`` / ``"converged"`` from the fits' warnings."""
    if methodology.volatility.model == "ewma":
        return "ewma"
    if any("fallback" in m for m in messages):
        return "fallback-ewma"
    return "boundary" if any("boundary" in m or ">= 0.999" in m for m in messages) else "converged"


def _vol_label(methodology: Methodology) -> str:
    vol = methodology.volatility
    if vol.model != "ewma":
        return f"{vol.model}/{vol.distribution}"
    after_fall = getattr(vol, "ewma_decay_after_fall", None)
    return f"ewma({vol.ewma_decay})" if after_fall is None else f"ewma({vol.ewma_decay}, after a fall {after_fall})"
