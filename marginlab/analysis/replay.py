"""Historical and hypothetical stress replay of a book under one or several margin models.

:func:`replay` steps a book of accounts through a :class:`~marginlab.analysis.stress_scenarios.MarketPath`
(a library scenario such as ``covid-2020-03-12`` or ``btc-minus-40pct-instant``). At every
step, for every model:

1. expired options and futures are cash-settled at the step's price (intrinsic value /
   ``price - entry``);
2. every account is margined in one vectorised call and goes through the liquidation ladder
   (:mod:`marginlab.liquidation.ladder`): warnings, partial and full liquidation, fees -- accounts
   are independent here, which is what :mod:`marginlab.scale` distributes (a ``warning`` or
   ``reduce_only`` event is logged when an account enters that tier, not again while it stays there);
3. the step is settled for the book (:mod:`marginlab.liquidation.writeoff`): the fees of the step are
   credited to the insurance fund, then negative equities are paid by the fund (largest deficit
   first), and what it cannot pay is auto-deleveraged on one ADL queue ranked at that moment,
   socialised when the policy says so, and the rest recorded as bad debt.

The step loop is :func:`marginlab.liquidation.driver.replay_model_on_book`; this module orchestrates
it (models over time, funding, summaries). Under an isolated model, a position with its own
``isolated_collateral_usd`` is liquidated on its own (:mod:`marginlab.liquidation.isolated`): its
loss beyond its collateral goes to the fund, ADL, then socialised loss or bad debt like any other
deficit, and counts in the shortfall. ``engine="per-account"`` runs the per-account mirror
(:mod:`marginlab.liquidation.reference`, the test oracle); both give the same events, balances,
fund path and bad debt (tested for every preset).

Capital before the event
------------------------
``funding="given"`` keeps the accounts' cash as it is. ``funding=m`` (a number, e.g. 1.0)
re-funds every account so that its market equity at the first step is ``m`` times the initial
margin the *model* demands -- traders post what the venue asks, so a model that asks for less
capital is more capital-efficient and less safe. The summary reports, per model, the capital
demanded (total initial margin at the first step), the accounts liquidated, the shortfall
beyond margin (deficits: negative equity after closing), the insurance-fund drawdown, ADL and
bad debt: the efficiency-versus-safety trade-off in one table (:meth:`ReplayResult.summary`)
and one chart (:meth:`ReplayResult.plot_tradeoff`).

Models
------
``models`` maps a name to a :class:`~marginlab.margin.base.MarginModel`, or to a callable
``time -> MarginModel`` for adaptive models whose parameters change along the path (e.g. a
model recalibrated daily); the callable is called once per step.

>>> from marginlab.analysis.replay import replay
>>> from marginlab.margin.flat import FlatRateModel
>>> from marginlab.analysis.synthetic import synthetic_book
>>> from marginlab.analysis.stress_scenarios import scenario_path
>>> path = scenario_path("btc-minus-40pct-instant", ["BTC"], base_vol=0.5)
>>> book = synthetic_book(5, path.snapshot(0), rng=1, strategies={"long_perp": 1}, leverage_choices=(10,))
>>> result = replay(book, {"10x": FlatRateModel(0.10, 0.05)}, path)
>>> int(result.summary().loc["10x", "accounts_liquidated"])
5
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import pandas as pd

from marginlab.account import Account
from marginlab.analysis.stress_scenarios import MarketPath, Scenario, scenario_path
from marginlab.book.state import BookState
from marginlab.calibration.calibrate import calibrate
from marginlab.exceptions import EmptyPortfolioError, InputError, ParameterError
from marginlab.instruments import Future, Option
from marginlab.liquidation import reference
from marginlab.liquidation.driver import Executor, ModelSpec, model_at, replay_model_on_book, splits_isolated
from marginlab.liquidation.events import CLOSE_ACTIONS, events_frame
from marginlab.liquidation.isolated import has_isolated_positions
from marginlab.liquidation.policy import LiquidationPolicy
from marginlab.liquidation.results import ReplayRun
from marginlab.margin.base import MarginModel
from marginlab.margin.calibrated import models_from_parameters
from marginlab.margin.presets import available_models, get_model
from marginlab.progress import tqdm

__all__ = ["Executor", "ModelReplay", "ModelSpec", "ReplayResult", "book_assets", "book_expiries", "in_process", "point_in_time_models",
           "replay", "replay_scenarios", "scenario_table"]


def in_process(function: Callable[[Any], Any], chunks: list[Any]) -> list[Any]:
    """The default executor: run every chunk here, in order."""
    return [function(chunk) for chunk in chunks]


def book_expiries(accounts: Sequence[Account]) -> dict[str, list[datetime]]:
    """Expiries of the book's options and futures, per underlying."""
    out: dict[str, set[datetime]] = {}
    for account in accounts:
        for position in account.positions:
            if isinstance(position.instrument, Option | Future):
                out.setdefault(position.underlying, set()).add(position.instrument.expiry)
    return {asset: sorted(values) for asset, values in out.items()}


def book_assets(accounts: Sequence[Account]) -> list[str]:
    """Every underlying and non-USD collateral asset of the book, in order of appearance."""
    assets: dict[str, None] = {}
    for account in accounts:
        for asset in account.underlyings:
            assets[asset] = None
        for asset in account.collateral:
            if asset != "USD":
                assets[asset] = None
    return list(assets)


@dataclass(frozen=True)
class ModelReplay(ReplayRun):
    """Replay of one book under one model: the engine's :class:`~marginlab.liquidation.results.ReplayRun` with the
    summaries a reader asks for (accounts liquidated, liquidation volume by step, the summary row)."""

    @classmethod
    def from_run(cls, run: ReplayRun) -> "ModelReplay":
        """The replay of one model from the engine's :class:`~marginlab.liquidation.results.ReplayRun`.

        Parameters
        ----------
        run : ReplayRun

        Returns
        -------
        ModelReplay
        """
        return cls(**{f.name: getattr(run, f.name) for f in dataclasses.fields(run)})

    @property
    def accounts_liquidated(self) -> tuple[str, ...]:
        closes = self.events[self.events["action"].isin(CLOSE_ACTIONS)]
        return tuple(dict.fromkeys(closes["account_id"]))

    @property
    def deficit_usd(self) -> float:
        return float(self.events.loc[self.events["action"] == "insurance_fund", "deficit_usd"].sum())

    def liquidation_volume(self) -> pd.Series:
        """Notional closed by the liquidation ladder (partial and full) at each step (USD; steps without closes: 0)."""
        closes = self.events[self.events["action"].isin(CLOSE_ACTIONS)]
        times = pd.to_datetime(self.steps["time"])
        volume = closes.groupby(pd.to_datetime(closes["time"]))["notional_usd"].sum()
        return pd.Series(volume.reindex(times, fill_value=0.0).to_numpy(dtype=float), index=times, name=self.model)

    def summary(self) -> pd.Series:
        closes = self.events["action"].isin(CLOSE_ACTIONS)
        fully = self.events.loc[self.events["action"] == "full_liquidation", "account_id"].nunique()
        return pd.Series(
            {
                "accounts": len(self.accounts_before),
                "capital_demanded_usd": self.initial_margin_usd,
                "maintenance_at_start_usd": self.maintenance_margin_usd,
                "equity_at_start_usd": self.equity_before_usd,
                "accounts_liquidated": len(self.accounts_liquidated),
                "accounts_fully_liquidated": int(fully),
                "closed_notional_usd": float(self.events.loc[closes, "notional_usd"].sum()),
                "fees_usd": float(self.events["fee_usd"].sum()),
                "shortfall_usd": self.deficit_usd,
                "fund_drawdown_usd": self.fund_paid_usd,
                "adl_usd": self.adl_recovered_usd,
                "socialised_usd": self.socialised_usd,
                "liquidator_bonus_usd": self.liquidator_usd,
                "bad_debt_usd": self.bad_debt_usd,
                "fund_after_usd": self.fund_after_usd,
            },
            name=self.model,
        )


@dataclass(frozen=True)
class ReplayResult:
    """Replays of one book under several models along one path."""

    path: MarketPath
    runs: Mapping[str, ModelReplay]
    funding: str | float = "given"
    notes: tuple[str, ...] = field(default=())

    def summary(self) -> pd.DataFrame:
        """One row per model: capital demanded before the event and the losses it let through."""
        table = pd.DataFrame([run.summary() for run in self.runs.values()])
        table.index.name = "model"
        return table

    @property
    def events(self) -> pd.DataFrame:
        """Every event of every model, with a ``model`` column."""
        frames = [run.events.assign(model=name) for name, run in self.runs.items() if len(run.events)]
        if not frames:
            return events_frame([]).assign(model=pd.Series(dtype="str"))
        return pd.concat(frames, ignore_index=True)

    @property
    def steps(self) -> pd.DataFrame:
        """Per step and model: prices, total equity and maintenance margin, accounts under water, fund."""
        return pd.concat([run.steps.assign(model=name) for name, run in self.runs.items()], ignore_index=True)

    def liquidation_volume(self) -> pd.DataFrame:
        """Notional closed by the liquidation ladder per model (rows) and step time (columns), USD."""
        return pd.DataFrame({name: run.liquidation_volume() for name, run in self.runs.items()}).T

    def plot_tradeoff(self, ax: Any = None) -> Any:
        """Capital demanded before the event (x) against shortfall beyond margin (y), per model."""
        import matplotlib.pyplot as plt
        import seaborn as sns

        table = self.summary().reset_index()
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4.5))
        sns.scatterplot(data=table, x="capital_demanded_usd", y="shortfall_usd", size="accounts_liquidated", hue="model", ax=ax, sizes=(60, 300))
        for row in table.itertuples():
            ax.annotate(f"{row.model}\n{row.accounts_liquidated:,.0f} liquidated", (row.capital_demanded_usd, row.shortfall_usd), fontsize=8,
                        xytext=(6, 6), textcoords="offset points")
        ax.set_xlabel("capital demanded before the event: total initial margin (USD)")
        ax.set_ylabel("shortfall beyond margin: total deficit (USD)")
        ax.set_title(f"Efficiency versus safety: {self.path.name}")
        return ax


def replay(
    book: Sequence[Account],
    models: Mapping[str, ModelSpec] | MarginModel,
    scenario: str | Scenario | MarketPath,
    *,
    policy: LiquidationPolicy | None = None,
    funding: str | float = "given",
    insurance_fund_usd: float = 0.0,
    adl: bool = True,
    substeps: int = 4,
    executor: Executor | None = None,
    partitions: int = 1,
    progress: bool = False,
    engine: Literal["book", "per-account"] = "book",
) -> ReplayResult:
    """Replay ``book`` along ``scenario`` under each of ``models``.

    Parameters
    ----------
    book : sequence of Account
        Accounts with unique ids.
    models : mapping name -> MarginModel or callable(time) -> MarginModel, or one MarginModel
    scenario : str, Scenario or MarketPath
        A library name, a scenario, or a ready path (e.g. to replay a custom window).
    policy : LiquidationPolicy, optional
    funding : "given" or float
        ``"given"``: the accounts' own cash; a number ``m``: equity = ``m x`` the model's IM at the first step.
    insurance_fund_usd : float
        Fund balance at the start (fees of the replay are added to it).
    adl : bool
        Auto-deleverage what the fund cannot pay.
    substeps : int
        Passed to :func:`~marginlab.analysis.stress_scenarios.scenario_path` for library scenarios.
    executor : callable, optional
        ``executor(function, chunks)``; default in-process. :func:`marginlab.scale.dask_executor`
        runs the per-account work on a dask cluster; results are identical.
    partitions : int
        Number of account chunks per step.
    progress : bool
        Show a tqdm progress bar over steps.
    engine : {"book", "per-account"}
        ``"book"`` (default): the engine (:func:`marginlab.liquidation.driver.replay_model_on_book`:
        every account margined in one vectorised call per step, the ladder on arrays; with
        ``executor`` and ``partitions`` the book is split by account and each part runs on the
        executor, e.g. a dask cluster); ``"per-account"``: its per-account mirror, the test oracle
        (:func:`marginlab.liquidation.reference.replay_model`: one ``model.margin`` call per account
        and trial close; in process). Both give the same events.

    Returns
    -------
    ReplayResult
    """
    book = tuple(book)
    if not book:
        raise EmptyPortfolioError("book", [], "a replay needs at least one account")
    ids = [a.account_id for a in book]
    if len(set(ids)) != len(ids):
        raise InputError("book", ids, "account ids must be unique")
    if isinstance(models, MarginModel):
        models = {models.name: models}
    if not models:
        raise InputError("models", {}, "needs at least one model")
    if not (funding == "given" or (isinstance(funding, int | float) and math.isfinite(funding) and funding > 0)):
        raise ParameterError("funding", funding, "must be 'given' or a positive multiple of initial margin")
    if not math.isfinite(insurance_fund_usd) or insurance_fund_usd < 0:
        raise ParameterError("insurance_fund_usd", insurance_fund_usd, "must be a non-negative balance")
    if partitions < 1:
        raise ParameterError("partitions", partitions, "must be at least 1")
    if engine not in ("book", "per-account"):
        raise ParameterError("engine", engine, "must be 'book' or 'per-account'")
    policy = policy or LiquidationPolicy()
    executor = executor or in_process
    path = scenario if isinstance(scenario, MarketPath) else scenario_path(scenario, book_assets(book), substeps=substeps)
    missing = set(book_assets(book)) - set(path.assets)
    if missing:
        raise InputError("scenario", path.name, f"the path has no prices for {sorted(missing)}")
    expiries = book_expiries(book)
    markets = [path.snapshot(i, expiries) for i in range(len(path))]
    runs = {}
    template = None  # the book as arrays, built once for every model that does not split isolated positions
    for name, spec in models.items():
        if engine == "per-account":
            run = reference.replay_model(name, book, spec, markets, policy, funding, insurance_fund_usd, adl, progress, path.assets)
        else:
            if template is None and not (has_isolated_positions(book) and splits_isolated(model_at(spec, markets[0].as_of))):
                template = BookState(book)
            run = replay_model_on_book(name, book, spec, markets, policy, funding, insurance_fund_usd, adl, progress, path.assets,
                                       executor=None if executor is in_process else executor, partitions=partitions, template=template)
        runs[name] = ModelReplay.from_run(run)
    notes = (f"path {path.name}: {len(path)} steps from {path.times[0]} to {path.times[-1]}; vols from {dict(path.vol_source)}",)
    return ReplayResult(path, runs, funding, notes)


def point_in_time_models(
    path: MarketPath,
    names: Sequence[str] | None = None,
    *,
    calibration_assets: Sequence[str] | None = None,
    rng: int = 0,
) -> dict[str, ModelSpec]:
    """The presets ``names`` (default: every registered preset) as replay models that use no data after the replay's start.

    * ``calibrated-*`` presets: margin models of a parameter file calibrated
      (:func:`~marginlab.calibration.calibrate.calibrate`, the recommended methodology) with data up to the
      day before the path's first step, for ``calibration_assets`` (default: the path's assets);
    * a preset with a point-in-time constructor ``as_of(time)`` (``fhs-var``: its scenario history cut
      at the close before each step) is rebuilt at every step;
    * every other preset has fixed parameters and is used as is.

    Returns ``{name: model or callable(time) -> model}``, ready for :func:`replay`.
    """
    names = list(available_models()["name"]) if names is None else list(names)
    eve = (pd.Timestamp(path.times[0]).tz_convert("UTC").normalize() - pd.Timedelta(days=1)).date()
    calibrated: dict[str, MarginModel] = {}
    if any(name.startswith("calibrated") for name in names):
        parameters = calibrate(list(calibration_assets or path.assets), eve, rng=rng, progress=False)
        calibrated = models_from_parameters(parameters)
    models: dict[str, ModelSpec] = {}
    for name in names:
        if name in calibrated:
            models[name] = calibrated[name]
            continue
        if name.startswith("calibrated"):
            raise InputError("names", name, f"is not a calibrated preset (calibrated: {sorted(calibrated)})")
        model = get_model(name)
        as_of = getattr(model, "as_of", None)
        models[name] = as_of if callable(as_of) else model
    return models


def replay_scenarios(
    book: Callable[[MarketPath], Sequence[Account]],
    models: Mapping[str, ModelSpec] | Callable[[MarketPath], Mapping[str, ModelSpec]],
    scenarios: Sequence[str],
    *,
    substeps: int = 1,
    assets: Sequence[str] = ("BTC", "ETH"),
    progress: bool = False,
    **kwargs: Any,
) -> dict[str, ReplayResult]:
    """Replay a book built at the start of each scenario (``book(path)``) under every model.

    ``models`` is a mapping, or a callable ``models(path)`` giving each scenario its own models
    (e.g. :func:`point_in_time_models`: parameters calibrated before the scenario starts).
    Returns ``{scenario: ReplayResult}``; :func:`scenario_table` stacks their summaries.
    """
    out = {}
    for name in tqdm(list(scenarios), desc="scenarios", unit="scenario", disable=not progress):
        path = scenario_path(name, list(assets), substeps=substeps)
        specs = models(path) if callable(models) else models
        out[name] = replay(book(path), specs, path, progress=progress, **kwargs)
    return out


def scenario_table(results: Mapping[str, ReplayResult]) -> pd.DataFrame:
    """The summaries of :func:`replay_scenarios` stacked: one row per (scenario, model)."""
    frames = [result.summary().reset_index().assign(scenario=name) for name, result in results.items()]
    return pd.concat(frames, ignore_index=True).set_index(["scenario", "model"])
