"""Backtest of a calibration methodology: the rates its parameter file would have published at every close, on both sides.

:func:`backtest_methodology` re-runs the methodology's own model objects walking forward through each asset's history
(:func:`~marginlab.calibration.published.published_rates`, the function :func:`~marginlab.calibration.calibrate.calibrate`
takes its last row from): the volatility and the residual pool are updated every day and the GARCH / tail parameters
re-estimated every ``volatility.refit_every_days``, each time with data up to that day's close only. It records the rate
the parameter file would have published at every close -- at 1 day / 99% the maintenance rate, at 2 days / 99% the
initial rate (never below the maintenance rate), at 2 days / 99.7% the price scan range, each with the methodology's
anti-procyclicality tool and the 100% cap: exactly the numbers of the file -- and tests that one rate against the loss
of a long (the price falls) and of a short (the price rises), the file charging both sides the same rate.

**Dating convention** (the rows of :attr:`MethodologyBacktest.rates` and of ``marginlab backtest --rates-out``): the
row dated ``D`` holds the rate set at the close of ``D`` with data up to and including ``D``; it covers a position's
loss from the close of ``D`` to the close of ``D + h`` days, as a fraction of its value at ``D``: an exception is
``1 - P[D + h] / P[D] > rate`` (``side = "long"``) or ``P[D + h] / P[D] - 1 > rate`` (``side = "short"``). Dates before
the first out-of-sample estimate (the first ``volatility.min_returns`` returns, and until the residual pool holds
``pool.min_shocks`` shocks) are left out.

**Tests** per asset, horizon and side (:attr:`MethodologyBacktest.table`): the h-day windows are counted on
non-overlapping days (every h-th date from the first), so the exceptions are independent under H0; Kupiec's
proportion-of-failures and Christoffersen's independence p-values, the Basel traffic light over every 250-observation
window (shares of green / yellow / red windows), and the procyclicality of the rate (average, peak-to-trough, largest
1-, 5- and 30-day increases) of :func:`~marginlab.analysis.procyclicality.procyclicality_metrics`.

Examples
--------
>>> result = backtest_methodology(["BTC"], horizons=(1,), start="2024-01-01", end="2024-12-31")
>>> row = result.table.iloc[0]
>>> row["asset"], int(row["horizon_days"]), row["side"], row["requirement"], int(row["observations"]) > 300
('BTC', 1, 'long', 'maintenance_rate', True)
>>> [record["side"] for record in result.to_records()]
['long', 'short']
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import pandas as pd

from marginlab import data
from marginlab.analysis.backtest import christoffersen_test, kupiec_test, traffic_light_windows
from marginlab.analysis.procyclicality import procyclicality_metrics
from marginlab.calibration.depeg import STABLECOINS
from marginlab.calibration.methodology import AntiProcyclicalitySpec, Methodology, ResidualPoolSpec, VolatilitySpec
from marginlab.calibration.published import REQUIREMENT_PREFIX, published_rates, requirement_of, side_rate_column
from marginlab.exceptions import DataError, InputError
from marginlab.io import atomic_write_text, check_writable
from marginlab.progress import tqdm

#: Regime blocks of the issue-5 quality targets: (label, first day, last day).
REGIME_BLOCKS: tuple[tuple[str, str, str], ...] = (
    ("2019-2020", "2019-01-01", "2020-12-31"),
    ("2021-2022", "2021-01-01", "2022-12-31"),
    ("2023-end", "2023-01-01", "2100-12-31"),
)
#: Last day of the data on which the methodology was chosen (notebook 02); later rates are held out (notebook 06).
FREEZE_DATE = "2025-02-20"
#: Selection, test and held-out periods of the methodology choice: (label, first day, last day).
SELECTION_BLOCKS: tuple[tuple[str, str, str], ...] = (
    ("choice 2019-2022", "2019-01-01", "2022-12-31"),
    ("test 2023-2025-02-20", "2023-01-01", FREEZE_DATE),
    ("held out 2025-02-21-end", "2025-02-21", "2100-12-31"),
)
#: Keys of one ``--json`` object, in order.
JSON_KEYS: tuple[str, ...] = (
    "asset", "horizon_days", "side", "requirement", "observations", "exceptions", "rate", "kupiec_p", "christoffersen_p",
    "green", "yellow", "red", "average_rate", "peak_to_trough",
)
RATE_COLUMNS: tuple[str, ...] = ("date", "asset", "horizon_days", "confidence", "requirement", "side", "rate")
#: Sides of a position: a long loses when the price falls, a short when it rises.
SIDES: tuple[str, ...] = ("long", "short")
#: Which published number each side is tested against: ``"one-rate"`` the file's one rate (``maintenance_rate``,
#: ``initial_rate``, ``price_scan_range``: the larger side, what the isolated and cross engines charge both sides);
#: ``"per-side"`` the file's side rate of that side (``side_rates.maintenance_long`` for a long...).
RateSides = Literal["one-rate", "per-side"]
TRAFFIC_LIGHT_WINDOW = 250


def _day(value: Any, field_name: str) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise InputError(field_name, value, "is not a date; use YYYY-MM-DD") from None
    if pd.isna(stamp):
        raise InputError(field_name, value, "is not a date; use YYYY-MM-DD")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _nanoseconds(index: pd.Index) -> np.ndarray:
    """UTC nanoseconds since the epoch of a DatetimeIndex (naive dates read as UTC)."""
    stamps = pd.DatetimeIndex(index)
    stamps = stamps.tz_localize("UTC") if stamps.tz is None else stamps.tz_convert("UTC")
    return stamps.as_unit("ns").asi8


def realised_losses(close: pd.Series, horizon_days: int, side: str = "long") -> pd.Series:
    """Loss of a position from the close of D to the close of D + h, as a fraction of its value at D.

    Long: ``1 - P[D + h] / P[D]``; short: ``P[D + h] / P[D] - 1``; indexed by ``D`` (NaN where ``D + h`` is beyond the data).

    Examples
    --------
    >>> close = pd.Series([100.0, 90.0, 99.0, 110.0], index=pd.date_range("2024-01-01", periods=4, tz="UTC"))
    >>> realised_losses(close, 2).round(3).tolist()
    [0.01, -0.222, nan, nan]
    >>> realised_losses(close, 2, "short").round(3).tolist()
    [-0.01, 0.222, nan, nan]
    """
    if side not in SIDES:
        raise InputError("side", side, f"must be one of {list(SIDES)}")
    growth = close.shift(-int(horizon_days)) / close
    return 1.0 - growth if side == "long" else growth - 1.0


@dataclass(frozen=True)
class MethodologyBacktest:
    """Result of :func:`backtest_methodology`.

    Attributes
    ----------
    methodology : Methodology
    confidence : float
    horizons : tuple of int
    rates : pandas.DataFrame
        One row per date, asset, horizon and side: the :data:`RATE_COLUMNS` (see the dating convention of the module
        docstring; ``requirement`` names the published rate, the same number on both sides).
    table : pandas.DataFrame
        One row per asset, horizon and side: the :data:`JSON_KEYS` (``rate`` = exception rate; ``green/yellow/red`` =
        shares of the 250-observation traffic-light windows), ``expected_rate``, ``christoffersen_cc_p``
        (conditional coverage), ``max_increase_1d/5d/30d``, ``first_date``, ``last_date``, ``anti_procyclicality``.
    exceptions : pandas.DataFrame
        The tested (non-overlapping) dates: ``date, asset, horizon_days, side, rate, es, loss, exception`` (``es``: the
        expected shortfall that goes with the rate on that side, the rate times the side's ES-to-rate ratio of the
        FHS pool; NaN for methods without one).
    sides : tuple of str
    rate_sides : {"one-rate", "per-side"}
        What each side was tested against (:data:`RateSides`).
    """

    methodology: Methodology
    confidence: float
    horizons: tuple[int, ...]
    rates: pd.DataFrame = field(repr=False)
    table: pd.DataFrame = field(repr=False)
    exceptions: pd.DataFrame = field(repr=False)
    sides: tuple[str, ...] = SIDES
    rate_sides: RateSides = "one-rate"

    def to_records(self) -> list[dict[str, Any]]:
        """One plain dict per asset and horizon with exactly the :data:`JSON_KEYS` (what ``--json`` prints)."""
        records = []
        for row in self.table.to_dict("records"):
            record: dict[str, Any] = {}
            for key in JSON_KEYS:
                value = row[key]
                if key in ("asset", "side", "requirement"):
                    record[key] = str(value)
                elif key in ("horizon_days", "observations", "exceptions"):
                    record[key] = int(value)
                else:
                    record[key] = None if value is None or not math.isfinite(float(value)) else float(value)
            records.append(record)
        return records

    def between(self, first: Any = None, last: Any = None) -> MethodologyBacktest:
        """The same backtest restricted to the rates dated ``first .. last`` (inclusive), its table recomputed.

        A held-out period is reported this way: ``run.between("2025-02-21")`` tests only the rates set after the
        methodology was frozen (:data:`FREEZE_DATE`).
        """
        lo, hi = _day(first, "first"), _day(last, "last")
        rates, tested = self.rates, self.exceptions
        if lo is not None:
            rates, tested = rates[rates["date"] >= lo], tested[tested["date"] >= lo]
        if hi is not None:
            rates, tested = rates[rates["date"] <= hi], tested[tested["date"] <= hi]
        keys = ["asset", "horizon_days", "side"]
        rows = []
        old: Any = self.table.set_index(keys)
        for key, group in rates.groupby(keys, sort=False):
            asset, h, side = cast(tuple[Any, Any, Any], key)
            hits = tested.loc[(tested["asset"] == asset) & (tested["horizon_days"] == h) & (tested["side"] == side),
                              "exception"].to_numpy(dtype=bool)
            dated = pd.Series(group["rate"].to_numpy(), index=pd.DatetimeIndex(group["date"]))
            entry: Any = old.loc[(asset, h, side)]
            rows.append(_row(str(asset), int(h), str(side), str(entry["requirement"]), self.confidence, dated, hits,
                             bool(entry["anti_procyclicality"])))
        return MethodologyBacktest(self.methodology, self.confidence, self.horizons, rates.reset_index(drop=True),
                                   pd.DataFrame(rows), tested.reset_index(drop=True), self.sides, self.rate_sides)

    def around(self, day: Any, closes: Mapping[str, pd.Series]) -> pd.DataFrame:
        """Every rate whose window ``D .. D + h`` contains ``day`` (the rate set at a close before ``day`` that covered
        it), with the realised loss of each side and whether it was an exception (empty when the data do not reach it).

        Returns
        -------
        pandas.DataFrame
            ``date, asset, horizon_days, side, requirement, rate, loss, exception``.
        """
        target = _day(day, "day")
        rows = []
        for key, group in self.rates.groupby(["asset", "horizon_days", "side"], sort=False):
            asset, h, side = cast(tuple[Any, Any, Any], key)
            close = pd.Series(closes[asset], dtype=float)
            close.index = pd.DatetimeIndex(close.index)
            close.index = close.index.tz_localize("UTC") if close.index.tz is None else close.index.tz_convert("UTC")
            if target is None or target not in close.index:
                continue
            position = int(close.index.get_indexer(pd.DatetimeIndex([target]))[0])
            start = close.index[max(position - int(h), 0)]
            chosen = group[(group["date"] >= start) & (group["date"] < target)]
            loss = realised_losses(close, int(h), str(side))
            row: Any
            for row in chosen.itertuples(index=False):
                value = float(loss.reindex([row.date]).iloc[0])
                rows.append({"date": row.date, "asset": asset, "horizon_days": int(h), "side": side,
                             "requirement": row.requirement, "rate": float(row.rate), "loss": value,
                             "exception": bool(value > row.rate) if math.isfinite(value) else False})
        columns = ["date", "asset", "horizon_days", "side", "requirement", "rate", "loss", "exception"]
        return pd.DataFrame(rows, columns=columns)

    def to_json(self) -> str:
        """:meth:`to_records` as a JSON array."""
        return json.dumps(self.to_records(), indent=2)

    def write_rates(self, path: str | Path) -> Path:
        """Write :attr:`rates` as CSV (``date`` as YYYY-MM-DD), atomically; the path is checked first."""
        target = check_writable(path, field="rates_out", suffixes=(".csv",))
        frame = self.rates.copy()
        frame["date"] = pd.DatetimeIndex(frame["date"]).strftime("%Y-%m-%d")
        atomic_write_text(target, frame.to_csv(index=False, float_format="%.10g"), field="rates_out")
        return target

    def regime_table(self, blocks: Sequence[tuple[str, str, str]] = REGIME_BLOCKS) -> pd.DataFrame:
        """Exception counts and rates and the average rate per regime block, horizon, side and asset, plus a pooled row.

        Returns
        -------
        pandas.DataFrame
            Columns ``block, horizon_days, side, asset`` (``"pooled"`` for all assets together), ``observations,
            exceptions, exception_rate, average_rate`` (mean of the rates of every date of the block, not only the
            tested ones).
        """
        rows = []
        for label, first, last in blocks:
            lo, hi = pd.Timestamp(first, tz="UTC"), pd.Timestamp(last, tz="UTC")
            tested = self.exceptions[(self.exceptions["date"] >= lo) & (self.exceptions["date"] <= hi)]
            every = self.rates[(self.rates["date"] >= lo) & (self.rates["date"] <= hi)]
            for h in self.horizons:
                for side in self.sides:
                    block = tested[(tested["horizon_days"] == h) & (tested["side"] == side)]
                    block_rates = every[(every["horizon_days"] == h) & (every["side"] == side)]
                    groups = [(a, g) for a, g in block.groupby("asset", sort=False)]
                    for asset, group in [*groups, ("pooled", block)]:
                        level = block_rates if asset == "pooled" else block_rates[block_rates["asset"] == asset]
                        n, x = len(group), int(group["exception"].sum())
                        rows.append({
                            "block": label, "horizon_days": h, "side": side, "asset": asset, "observations": n, "exceptions": x,
                            "exception_rate": x / n if n else float("nan"),
                            "average_rate": float(level["rate"].mean()) if len(level) else float("nan"),
                        })
        return pd.DataFrame(rows)

    def summary(self) -> str:
        """A plain-text table of the per-asset, per-horizon figures."""
        columns = ["asset", "horizon_days", "side", "requirement", "observations", "exceptions", "rate", "kupiec_p", "christoffersen_p",
                   "green", "yellow", "red", "average_rate", "peak_to_trough", "max_increase_1d"]
        table = self.table[columns].copy()
        for name in ("rate", "green", "yellow", "red", "average_rate", "max_increase_1d"):
            table[name] = table[name].map(lambda v: f"{v:.2%}")
        for name in ("kupiec_p", "christoffersen_p", "peak_to_trough"):
            table[name] = table[name].map(lambda v: f"{v:.3f}")
        tested = "the file's one rate" if self.rate_sides == "one-rate" else "each side's own rate (side_rates)"
        head = (f"methodology backtest ({self.methodology.name}), {self.confidence:.2%}, {tested} against the loss "
                f"of a long and of a short, non-overlapping h-day windows; rate = exception rate, green/yellow/red = shares "
                f"of {TRAFFIC_LIGHT_WINDOW}-observation windows")
        return head + "\n" + table.to_string(index=False)


def _load_close(asset: str, end: pd.Timestamp | None) -> pd.Series:
    close = data.load_daily(asset)["close"].astype(float).dropna()
    close.index = pd.DatetimeIndex(close.index)
    if close.index.tz is None:
        close.index = close.index.tz_localize("UTC")
    if end is not None:
        close = close[close.index <= end]
    return close


def backtest_methodology(
    assets: Sequence[str],
    methodology: Methodology | None = None,
    *,
    start: Any = None,
    end: Any = None,
    horizons: Sequence[int] = (1, 2),
    confidence: float = 0.99,
    anti_procyclicality: bool | None = None,
    prices: Mapping[str, pd.Series] | pd.DataFrame | None = None,
    sides: Sequence[str] = SIDES,
    rate_sides: RateSides = "one-rate",
    progress: bool = False,
) -> MethodologyBacktest:
    """Walk-forward backtest of ``methodology`` (default: the recommended one) on each asset's history.

    Parameters
    ----------
    assets : sequence of str
    methodology : Methodology, optional
    start, end : date-like, optional
        Report rates dated from ``start``; use data up to ``end`` (inclusive) only -- the rates dated up to ``end`` are
        exactly those a run on the full data gives (no look-ahead).
    horizons : sequence of int
        Margin periods of risk in days.
    confidence : float
        Confidence of the rate (0.99). A (horizon, confidence) of a published rate tests exactly that rate
        (:func:`~marginlab.calibration.published.published_rates`: 1 day at 99% the maintenance rate, 2 days at 99% the
        initial rate, 2 days at 99.7% the price scan range); any other tests ``min(max(down, up), 1)`` of
        :meth:`~marginlab.calibration.methodology.Methodology.stress_range_model` (``requirement = "rate"``).
    anti_procyclicality : bool or None
        ``None``: the methodology's APC tool, as published; ``False``: the plain quantiles.
    prices : mapping or DataFrame of close prices, optional
        Default: the package data (:func:`marginlab.data.load_daily`).
    sides : sequence of {"long", "short"}
        The published rate is tested against the loss of a long (price falls) and of a short (price rises).
    rate_sides : {"one-rate", "per-side"}
        Test each side against the file's one rate (default) or against its own side rate (:data:`RateSides`; the
        ``requirement`` column then names the side rate, ``maintenance_long``...). A rate that is not published has
        its sides too (``down`` for the long, ``up`` for the short, capped at 1).
    progress : bool
        Progress bar on stderr.

    Returns
    -------
    MethodologyBacktest
    """
    if isinstance(assets, str):
        assets = [assets]
    assets = list(dict.fromkeys(assets))
    if not assets:
        raise InputError("assets", assets, "must name at least one asset")
    horizons = tuple(dict.fromkeys(int(h) for h in horizons))
    if not horizons or any(h < 1 or h > 10 for h in horizons):
        raise InputError("horizons", list(horizons), "must be integers between 1 and 10")
    if not 0.5 < float(confidence) < 1.0:
        raise InputError("confidence", confidence, "must lie in (0.5, 1)")
    methodology = methodology or Methodology()
    first, last = _day(start, "start"), _day(end, "end")
    if first is not None and last is not None and first > last:
        raise InputError("start", str(first.date()), f"is after end={last.date()}")
    if rate_sides not in ("one-rate", "per-side"):
        raise InputError("rate_sides", rate_sides, "must be 'one-rate' or 'per-side'")
    sides = tuple(dict.fromkeys(str(x) for x in sides))
    for side in sides:
        if side not in SIDES:
            raise InputError("sides", side, f"must be among {list(SIDES)}")
    rate_frames, exception_frames, rows = [], [], []
    bar = tqdm(assets, desc="backtest", disable=not progress, leave=False)
    for asset in bar:
        bar.set_postfix_str(asset)
        if prices is not None:
            if asset not in prices:
                raise InputError("assets", asset, "has no price series in prices")
            close = pd.Series(prices[asset], dtype=float).dropna()
            close.index = pd.DatetimeIndex(close.index)
            close.index = close.index.tz_localize("UTC") if close.index.tz is None else close.index.tz_convert("UTC")
            close = close[close.index <= last] if last is not None else close
        else:
            close = _load_close(asset, last)
        if (close <= 0).any():
            raise DataError(f"prices of {asset}: non-positive close on {close[close <= 0].index[0].date()}")
        returns = pd.Series(np.log(close.to_numpy()), index=close.index).diff().dropna()
        probe = methodology.stress_range_model(horizons[0], confidence, extreme_moves="none")
        if len(returns) < probe.min_obs + 1:
            span = f"{close.index[0].date()}..{close.index[-1].date()}" if len(close) else "no data"
            raise DataError(
                f"{asset}: {len(returns)} daily returns ({span}) -- the methodology needs at least "
                f"{probe.min_obs + 1} for a first out-of-sample rate (about {probe.min_obs + probe.min_pool})"
            )
        published: pd.DataFrame | None = None
        needed = [r for r in (requirement_of(methodology, h, confidence) for h in horizons) if r is not None]
        for h in horizons:
            requirement = requirement_of(methodology, h, confidence)
            if requirement is not None:
                if published is None:
                    published = published_rates(methodology, returns, anti_procyclicality=anti_procyclicality,
                                                requirements=needed)
                    published = published[~published["in_sample"].to_numpy(dtype=bool)]
                series = published[requirement]
                by_side = {side: published[side_rate_column(requirement, side)] for side in SIDES}
                prefix = REQUIREMENT_PREFIX[requirement]
                es_ratio = {"long": published[f"{prefix}_es_ratio_down"], "short": published[f"{prefix}_es_ratio_up"]}
                apc = anti_procyclicality is not False and methodology.anti_procyclicality_tool() is not None
            else:  # not a published rate: the two-sided rate of this horizon and confidence, as the file would set it
                model = methodology.stress_range_model(h, confidence, anti_procyclicality=anti_procyclicality, extreme_moves="none")
                frame = model.fit(returns).frame
                frame = frame[~frame["in_sample"].astype(bool)]
                series = frame[["scan_down", "scan_up"]].max(axis=1).clip(upper=1.0)
                by_side = {"long": frame["scan_down"].clip(upper=1.0), "short": frame["scan_up"].clip(upper=1.0)}
                es_ratio = {"long": frame["es_down"] / frame["base_down"], "short": frame["es_up"] / frame["base_up"]}
                requirement, apc = "rate", model.anti_procyclicality is not None
            # row d holds the rate set with data up to the previous close: re-date it to that close D
            # (on int64 UTC nanoseconds: the object arrays of tz-aware timestamps search a hundred times slower)
            position = np.searchsorted(_nanoseconds(returns.index), _nanoseconds(series.index), side="left") - 1
            valid = position >= 0
            stamps = returns.index[position[valid]]
            one_rate = pd.Series(series.to_numpy()[valid], index=stamps)
            ratios = {side: pd.Series(r.to_numpy()[valid], index=stamps) for side, r in es_ratio.items()}
            if first is not None:
                one_rate = one_rate[one_rate.index >= first]
            if one_rate.empty:
                raise DataError(f"{asset}: no out-of-sample rate between start={start} and end={end}")
            for side in sides:
                if rate_sides == "per-side":
                    dated = pd.Series(by_side[side].to_numpy()[valid], index=stamps).reindex(one_rate.index)
                    side_requirement = side_rate_column(requirement, side) if requirement != "rate" else f"rate_{side}"
                else:
                    dated, side_requirement = one_rate, requirement
                loss = realised_losses(close, h, side).reindex(dated.index)
                tested = pd.DataFrame({"rate": dated, "loss": loss}).dropna().iloc[::h]
                hits = (tested["loss"] > tested["rate"]).to_numpy()
                es = tested["rate"].to_numpy() * ratios[side].reindex(tested.index).to_numpy()
                rate_frames.append(pd.DataFrame({"date": dated.index, "asset": asset, "horizon_days": h,
                                                 "confidence": float(confidence), "requirement": side_requirement, "side": side,
                                                 "rate": dated.to_numpy()}))
                exception_frames.append(pd.DataFrame({"date": tested.index, "asset": asset, "horizon_days": h, "side": side,
                                                      "rate": tested["rate"].to_numpy(), "es": es,
                                                      "loss": tested["loss"].to_numpy(), "exception": hits}))
                rows.append(_row(asset, h, side, side_requirement, float(confidence), dated, hits, apc))
    return MethodologyBacktest(
        methodology=methodology,
        confidence=float(confidence),
        horizons=horizons,
        rates=pd.concat(rate_frames, ignore_index=True),
        table=pd.DataFrame(rows),
        exceptions=pd.concat(exception_frames, ignore_index=True),
        sides=sides,
        rate_sides=rate_sides,
    )


def _row(asset: str, h: int, side: str, requirement: str, confidence: float, rates: pd.Series, hits: np.ndarray,
         apc: bool) -> dict[str, Any]:
    n, x = int(hits.size), int(hits.sum())
    if n:
        kupiec = kupiec_test(hits, confidence).p_value
        independence, coverage = christoffersen_test(hits, confidence) if n > 1 else (None, None)
    else:
        kupiec, independence, coverage = float("nan"), None, None
    zones = traffic_light_windows(hits, window=TRAFFIC_LIGHT_WINDOW, alpha=confidence)
    total = len(zones)
    shares = {zone: (float((zones["zone"] == zone).sum()) / total if total else float("nan")) for zone in ("green", "yellow", "red")}
    metrics = procyclicality_metrics(rates[rates > 0], increase_days=(1, 5, 30))
    return {
        "asset": asset,
        "horizon_days": h,
        "side": side,
        "requirement": requirement,
        "observations": n,
        "exceptions": x,
        "rate": x / n if n else float("nan"),
        "kupiec_p": kupiec,
        "christoffersen_p": independence.p_value if independence is not None else float("nan"),
        **shares,
        "average_rate": float(rates.mean()),
        "peak_to_trough": metrics["peak_to_trough"],
        "expected_rate": 1.0 - confidence,
        "christoffersen_cc_p": coverage.p_value if coverage is not None else float("nan"),
        "red_windows": int((zones["zone"] == "red").sum()) if total else 0,
        "max_increase_1d": metrics["max_increase_1d"],
        "max_increase_5d": metrics["max_increase_5d"],
        "max_increase_30d": metrics["max_increase_30d"],
        "first_date": rates.index[0],
        "last_date": rates.index[-1],
        "anti_procyclicality": apc,
    }


# ------------------------------------------------------------------ issue-5 quality targets
MAIN_ASSETS: tuple[str, ...] = ("BTC", "ETH", "SOL", "BNB")


def baseline_methodology() -> Methodology:
    """The plain capital baseline of the quality targets: EWMA(0.97) FHS with a rolling 1,000-day residual pool, no
    anti-procyclicality tool, everything else as the recommended methodology.

    Examples
    --------
    >>> m = baseline_methodology()
    >>> m.volatility.ewma_decay, m.volatility.ewma_decay_after_fall, m.pool.length_days, m.anti_procyclicality.tool
    (0.97, None, 1000, 'none')
    """
    return Methodology(
        name="baseline-ewma-0.97-fhs-1000",
        volatility=VolatilitySpec(model="ewma", ewma_decay=0.97, ewma_decay_after_fall=None),
        pool=ResidualPoolSpec(kind="rolling", length_days=1000),
        anti_procyclicality=AntiProcyclicalitySpec(tool="none", floor="none"),
    )


def universe_assets(min_years: float = 3.0, *, stablecoins: bool = False) -> list[str]:
    """Assets of the package's universe with at least ``min_years`` of daily closes (365 days a year), stablecoins
    excluded unless ``stablecoins``."""
    panel = data.load_universe(field="close")
    out = []
    for asset in panel.columns:
        if not stablecoins and asset in STABLECOINS:
            continue
        if int(panel[asset].notna().sum()) >= min_years * 365:
            out.append(str(asset))
    return out


def quality_targets(
    coverage: MethodologyBacktest,
    procyclicality: MethodologyBacktest,
    *,
    main_assets: Sequence[str] = MAIN_ASSETS,
    majors: Sequence[str] = ("BTC", "ETH"),
    blocks: Sequence[tuple[str, str, str]] = REGIME_BLOCKS,
) -> pd.DataFrame:
    """The issue-5 targets, measured on each side: one row per target and side with ``side, target, threshold, measured, met``.

    ``coverage`` is a 99% backtest at 1 and 2 days (the published maintenance and initial rates) of the main assets and
    the others (non-stablecoin, >= 3 years); ``procyclicality`` a 2-day 99.7% backtest (the published scan range) of the
    same assets. The pass/fail thresholds are issue 5's; :mod:`marginlab.analysis.coverage_targets` compares the counts
    with what a correctly calibrated model gives.
    """
    rows: list[dict[str, Any]] = []
    for side in coverage.sides:
        table = coverage.table[coverage.table["side"] == side]
        rejected = (table["kupiec_p"] < 0.05) | (table["christoffersen_p"] < 0.05)
        main = table["asset"].isin(main_assets)
        bad_main = sorted({f"{a} {h}d" for a, h in table.loc[main & rejected, ["asset", "horizon_days"]].itertuples(index=False)})
        rows.append({"side": side, "target": "Kupiec and Christoffersen not rejected at 5%: " + ", ".join(main_assets),
                     "threshold": "0 rejected", "measured": f"{len(bad_main)} rejected" + (f" ({', '.join(bad_main)})" if bad_main else ""),
                     "met": not bad_main})
        others = table.loc[~main]
        other_assets = sorted(set(others["asset"]))
        bad_others = sorted(set(others.loc[rejected[~main], "asset"]))
        share = len(bad_others) / len(other_assets) if other_assets else 0.0
        rows.append({"side": side, "target": f"other assets rejected (of {len(other_assets)})", "threshold": "<= 1 in 10",
                     "measured": f"{len(bad_others)} ({share:.0%})" + (f": {', '.join(bad_others)}" if bad_others else ""),
                     "met": share <= 0.1})
        red = int(table["red_windows"].sum())
        rows.append({"side": side, "target": "red traffic-light windows (250 obs), all assets and horizons", "threshold": "0",
                     "measured": str(red), "met": red == 0})
        regimes = coverage.regime_table(blocks)
        regimes = regimes[regimes["side"] == side]
        for label, _, _ in blocks:
            for h in coverage.horizons:
                subset = regimes[(regimes["block"] == label) & (regimes["horizon_days"] == h)]
                block: dict[str, Any] = {str(r["asset"]): r for r in subset.to_dict("records")}
                if "pooled" not in block or not block["pooled"]["observations"]:
                    continue
                pooled = float(block["pooled"]["exception_rate"])
                rows.append({"side": side, "target": f"{label} {h}d pooled exception rate", "threshold": "0.6%-1.4%",
                             "measured": f"{pooled:.2%}", "met": 0.006 <= pooled <= 0.014})
                for asset in majors:
                    if asset in block:
                        entry = block[asset]
                        value = float(entry["exception_rate"])
                        rows.append({"side": side, "target": f"{label} {h}d {asset} exception rate", "threshold": "0.4%-2.0%",
                                     "measured": f"{value:.2%} ({int(entry['exceptions'])}/{int(entry['observations'])})",
                                     "met": 0.004 <= value <= 0.02})
    apc = procyclicality.table
    if procyclicality.rate_sides == "one-rate":  # one rate: the same series on both sides
        apc = apc[apc["side"] == procyclicality.sides[0]]
    for record in apc.to_dict("records"):
        major = record["asset"] in majors
        limit = 3.0 if major else 3.5
        ratio, average = float(record["peak_to_trough"]), float(record["average_rate"])
        ok = ratio <= limit and (not major or average <= 0.26)
        side_label = "both" if procyclicality.rate_sides == "one-rate" else str(record["side"])
        rows.append({"side": side_label, "target": f"{record['asset']} {record['horizon_days']}d {procyclicality.confidence:.1%} "
                     "with APC: peak-to-trough" + (" and average" if major else ""),
                     "threshold": f"<= {limit}" + (" at average <= 26%" if major else ""),
                     "measured": f"{ratio:.2f}" + (f" at {average:.1%}" if major else ""), "met": bool(ok)})
    largest = float(apc["max_increase_1d"].max())
    rows.append({"side": "both", "target": "largest one-day increase of the APC rate, any asset",
                 "threshold": "<= 50% (unless a market move)", "measured": f"{largest:.1%}", "met": largest <= 0.5})
    return pd.DataFrame(rows)


def capital_table(
    methodology: MethodologyBacktest, baseline: MethodologyBacktest, blocks: Sequence[tuple[str, str, str]] = REGIME_BLOCKS
) -> pd.DataFrame:
    """Side by side per regime block, horizon and side (pooled over the assets): exception rate and average rate of the
    methodology and of the baseline, and the ratio of the average rates."""
    ours = methodology.regime_table(blocks)
    theirs = baseline.regime_table(blocks)
    keys = ["block", "horizon_days", "side", "asset"]
    merged = ours.merge(theirs, on=keys, suffixes=("_methodology", "_baseline"))
    merged = merged[merged["asset"] == "pooled"].drop(columns="asset")
    merged["capital_ratio"] = merged["average_rate_methodology"] / merged["average_rate_baseline"]
    return merged[["block", "horizon_days", "side", "observations_methodology", "exception_rate_methodology", "average_rate_methodology",
                   "exception_rate_baseline", "average_rate_baseline", "capital_ratio"]].reset_index(drop=True)


__all__ = [
    "JSON_KEYS",
    "MAIN_ASSETS",
    "RATE_COLUMNS",
    "FREEZE_DATE",
    "REGIME_BLOCKS",
    "SELECTION_BLOCKS",
    "SIDES",
    "MethodologyBacktest",
    "backtest_methodology",
    "baseline_methodology",
    "capital_table",
    "quality_targets",
    "realised_losses",
    "universe_assets",
]
