"""Historical and hypothetical stress replay of a book under one or several margin models.

:func:`replay` steps a book of accounts through a :class:`~marginlab.analysis.stress_scenarios.MarketPath`
(a library scenario such as ``covid-2020-03-12`` or ``btc-minus-40pct-instant``). At every
step, for every model:

1. expired options and futures are cash-settled at the step's price (intrinsic value /
   ``price - entry``);
2. each account is re-margined and goes through the liquidation ladder
   (:func:`~marginlab.analysis.liquidation.liquidate_account`): warnings, partial and full
   liquidation, fees -- accounts are independent here, which is what
   :mod:`marginlab.scale` distributes (a ``warning`` or ``reduce_only`` event is logged when an
   account enters that tier, not again while it stays there);
3. the step is settled for the book: the fees of the step are credited to the insurance fund,
   then negative equities are paid by the fund (largest deficit first), and what it cannot pay
   goes to :func:`~marginlab.analysis.liquidation.write_off_deficits` in the same order:
   auto-deleveraged on one ADL queue ranked at that moment, socialised when the policy says so,
   and the rest recorded as bad debt.

Engines
-------
``engine="book"`` (default, :mod:`marginlab.analysis.book_replay`) keeps the book as arrays and
margins every account in one vectorised call per step and model (risk-matrix presets on the
sparse book, isolated and cross rule sets over positions); partial liquidations advance all
accounts together, trial closes being margined as pseudo-accounts in one call. ``engine=
"per-account"`` is the reference loop described above; both give the same events, balances,
fund path and bad debt (tested for every preset). Accounts holding isolated positions with their
own collateral under an isolated model go through the per-position ladder of
:func:`~marginlab.analysis.liquidation.liquidate_isolated_account` on the reference path.

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
>>> from marginlab.analysis.liquidation import FlatRateModel
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

import numpy as np
import pandas as pd

from marginlab.account import Account
from marginlab.analysis.liquidation import (
    AccountLiquidation,
    AdlClaim,
    LiquidationPolicy,
    _event,
    _margin,
    events_frame,
    liquidate_account,
    market_equity_usd,
    ordering_key,
    write_off_deficits,
)
from marginlab.analysis.stress_scenarios import MarketPath, Scenario, scenario_path
from marginlab.exceptions import EmptyPortfolioError, InputError, ParameterError
from marginlab.instruments import Future, Option
from marginlab.margin.base import MarginModel
from marginlab.market import MarketSnapshot
from marginlab.valuation import inverse_pnl_usd

ModelSpec = MarginModel | Callable[[datetime], MarginModel]

#: ``executor(function, chunks) -> list of results``: how per-account work is run.
Executor = Callable[[Callable[[Any], Any], list[Any]], list[Any]]


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


def settle_expired(account: Account, market: MarketSnapshot) -> tuple[Account, list[dict[str, Any]]]:
    """Cash-settle options and futures expired at ``market.as_of`` at the index price (an inverse future:
    ``face x (1/entry - 1/price)`` coins at ``price``, :func:`~marginlab.valuation.inverse_pnl_usd`)."""
    keep, rows = [], []
    cash = account.cash_usd
    for position in account.positions:
        instrument = position.instrument
        if isinstance(instrument, Option | Future) and instrument.expiry <= market.as_of:
            price = market.index_usd(position.underlying)
            if isinstance(instrument, Option):
                payoff = max(price - instrument.strike_usd, 0.0) if instrument.is_call else max(instrument.strike_usd - price, 0.0)
                value = position.quantity * payoff
            elif instrument.is_inverse:  # face in USD, P&L paid in coin and valued at the settlement price
                entry = position.entry_price_usd if position.entry_price_usd is not None else price
                value = float(inverse_pnl_usd(position.quantity, entry, price))
            else:
                entry = position.entry_price_usd if position.entry_price_usd is not None else price
                value = position.quantity * (price - entry)
            cash += value
            rows.append(
                _event(time=market.as_of, account_id=account.account_id, action="settlement", symbol=position.symbol,
                       quantity=-position.quantity, price_usd=price,
                       notional_usd=abs(position.quantity) * (1.0 if isinstance(instrument, Future) and instrument.is_inverse else price),
                       transfer_usd=value)
            )
        else:
            keep.append(position)
    if not rows:
        return account, []
    return dataclasses.replace(account, positions=tuple(keep), cash_usd=cash), rows


@dataclass(frozen=True)
class _Chunk:
    accounts: tuple[Account, ...]
    model: MarginModel
    market: MarketSnapshot
    policy: LiquidationPolicy


def _run_chunk(chunk: _Chunk) -> list[tuple[Account, AccountLiquidation | None, list[dict[str, Any]], float, float]]:
    """Per-account work of one step: settle expiries, margin, ladder (no fund: fees are collected, deficits left)."""
    out: list[tuple[Account, AccountLiquidation | None, list[dict[str, Any]], float, float]] = []
    for account in chunk.accounts:
        account, settlement_rows = settle_expired(account, chunk.market)
        if not account.positions:
            out.append((account, None, settlement_rows, 0.0, math.inf))
            continue
        outcome = liquidate_account(account, chunk.model, chunk.market, chunk.policy, insurance_fund_usd=0.0)
        out.append((outcome.account_after, outcome, settlement_rows, outcome.fees_usd, outcome.margin_ratio_before))
    return out


def _chunks(accounts: Sequence[Account], partitions: int) -> list[tuple[Account, ...]]:
    bounds = np.linspace(0, len(accounts), partitions + 1).round().astype(int)
    return [tuple(accounts[a:b]) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def fund_accounts(accounts: Sequence[Account], model: MarginModel, market: MarketSnapshot, multiple: float) -> tuple[Account, ...]:
    """Re-fund each account so that its market equity is ``multiple x`` the model's initial margin."""
    funded = []
    for account in accounts:
        state = _margin(model, account, market)
        target = multiple * state.initial_margin_usd
        change = target - market_equity_usd(account, market)
        funded.append(dataclasses.replace(account, cash_usd=account.cash_usd + change))
    return tuple(funded)


@dataclass(frozen=True)
class ModelReplay:
    """Replay of one book under one model."""

    model: str
    accounts_before: Sequence[Account]
    accounts_after: Sequence[Account]
    events: pd.DataFrame
    steps: pd.DataFrame
    initial_margin_usd: float
    maintenance_margin_usd: float
    equity_before_usd: float
    fund_before_usd: float
    fund_after_usd: float
    fund_paid_usd: float
    adl_recovered_usd: float
    bad_debt_usd: float
    socialised_usd: float = 0.0
    liquidator_usd: float = 0.0

    @property
    def accounts_liquidated(self) -> tuple[str, ...]:
        closes = self.events[self.events["action"].isin(["partial_liquidation", "full_liquidation"])]
        return tuple(dict.fromkeys(closes["account_id"]))

    @property
    def deficit_usd(self) -> float:
        return float(self.events.loc[self.events["action"] == "insurance_fund", "deficit_usd"].sum())

    def liquidation_volume(self) -> pd.Series:
        """Notional closed by the liquidation ladder (partial and full) at each step (USD; steps without closes: 0)."""
        closes = self.events[self.events["action"].isin(["partial_liquidation", "full_liquidation"])]
        times = pd.to_datetime(self.steps["time"])
        volume = closes.groupby(pd.to_datetime(closes["time"]))["notional_usd"].sum()
        return pd.Series(volume.reindex(times, fill_value=0.0).to_numpy(dtype=float), index=times, name=self.model)

    def summary(self) -> pd.Series:
        closes = self.events["action"].isin(["partial_liquidation", "full_liquidation"])
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
        ``"book"`` (default): every account margined in one vectorised call per step and the
        ladder run on arrays (:mod:`marginlab.analysis.book_replay`; with ``executor`` and
        ``partitions`` the book is split by account and each part runs on the executor, e.g. a
        dask cluster); ``"per-account"``: the reference loop, one ``model.margin`` call per
        account and trial close (the equivalence tests). Both give the same events.
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
    template = None  # the book as arrays, built once for every model of the book engine
    for name, spec in models.items():
        isolated_book = any(p.isolated_collateral_usd is not None for a in book for p in a.positions) and (
            _model_at(spec, markets[0].as_of).family == "isolated"
        )
        if engine == "book" and not isolated_book:  # isolated positions: per-position ladder, reference path
            from marginlab.analysis.book import BookState
            from marginlab.analysis.book_replay import replay_model_on_book

            template = template if template is not None else BookState(book)
            runs[name] = replay_model_on_book(name, book, spec, markets, policy, funding, insurance_fund_usd, adl, progress, path.assets,
                                              executor=None if executor is in_process else executor, partitions=partitions, template=template)
            continue
        runs[name] = _replay_one(name, book, spec, path, markets, policy, funding, insurance_fund_usd, adl, executor, partitions, progress)
    notes = (f"path {path.name}: {len(path)} steps from {path.times[0]} to {path.times[-1]}; vols from {dict(path.vol_source)}",)
    return ReplayResult(path, runs, funding, notes)


def _model_at(spec: ModelSpec, time: datetime) -> MarginModel:
    return spec if isinstance(spec, MarginModel) else spec(time)


def _replay_one(
    name: str,
    book: tuple[Account, ...],
    spec: ModelSpec,
    path: MarketPath,
    markets: list[MarketSnapshot],
    policy: LiquidationPolicy,
    funding: str | float,
    fund_start: float,
    adl: bool,
    executor: Executor,
    partitions: int,
    progress: bool,
) -> ModelReplay:
    from marginlab.progress import tqdm

    first = markets[0]
    model0 = _model_at(spec, first.as_of)
    accounts = book if funding == "given" else fund_accounts(book, model0, first, float(funding))
    start_states = [_margin(model0, a, first) for a in accounts]
    im0 = float(sum(s.initial_margin_usd for s in start_states))
    mm0 = float(sum(s.maintenance_margin_usd for s in start_states))
    equity0 = float(sum(market_equity_usd(a, first) for a in accounts))
    accounts_start = accounts
    fund = float(fund_start)
    fund_paid = recovered = bad_debt = socialised = liquidator = 0.0
    event_rows: list[dict[str, Any]] = []
    step_rows = []
    last_tier: dict[str, str] = {}
    written_off: dict[str, float] = {}  # bad debt recorded per account (left as its negative equity)
    for step, market in enumerate(tqdm(markets, desc=f"replay {name}", disable=not progress, leave=False)):
        model = _model_at(spec, market.as_of)
        chunks = [_Chunk(c, model, market, policy) for c in _chunks(accounts, partitions)]
        results = [item for part in executor(_run_chunk, chunks) for item in part]
        accounts = tuple(r[0] for r in results)
        outcomes = [r[1] for r in results]
        fees = float(sum(r[3] for r in results))
        fund += policy.fund_share(fees)
        liquidator += fees - policy.fund_share(fees)
        for account_after, outcome, settlement_rows, _fees, _ratio in results:
            event_rows += settlement_rows
            tier = outcome.action if outcome is not None else "none"
            repeated = last_tier.get(account_after.account_id) == tier
            last_tier[account_after.account_id] = tier
            if outcome is not None and outcome.event_records:
                for row in outcome.event_records:
                    if row["action"] == "insurance_fund":
                        continue  # the account-level fund row is replaced by the book-level settlement below
                    if row["action"] in ("warning", "reduce_only") and repeated:
                        continue  # a warning is logged when the account enters the tier, not at every step
                    if row["action"] == "bad_debt":  # isolated position's loss beyond its collateral (the account is not charged)
                        bad_debt += row["deficit_usd"]
                    event_rows.append({**row, "fund_balance_usd": np.nan})  # the fund is settled for the whole step below
        # settle deficits: largest first (ties, at 40 significant bits: book order)
        # (any account left without positions and with negative equity -- after liquidation, or after an expired short
        # option was settled -- net of the bad debt already recorded for it, which stays on the account)
        deficits = [
            (-market_equity_usd(a, market) - written_off.get(a.account_id, 0.0), i) for i, a in enumerate(accounts) if not a.positions
        ]
        deficits = sorted([d for d in deficits if d[0] > 1e-6], key=lambda d: (-float(ordering_key(d[0])), d[1]))
        book_list = list(accounts)
        claims, fund_rows = [], []
        for deficit, i in deficits:
            paid = min(fund, deficit) if policy.use_insurance_fund else 0.0
            fund -= paid
            fund_paid += paid
            account = book_list[i]
            book_list[i] = dataclasses.replace(account, cash_usd=account.cash_usd + paid)
            fund_rows.append(_event(time=market.as_of, account_id=account.account_id, action="insurance_fund", deficit_usd=deficit,
                                    transfer_usd=paid, fund_balance_usd=fund, equity_usd=market_equity_usd(book_list[i], market)))
            outcome = outcomes[i]
            claims.append(AdlClaim(i, outcome.closed if outcome is not None else (), deficit - paid, fund))
        book_list, claim_rows, totals = write_off_deficits(book_list, claims, market, policy, adl=adl)
        for fund_row, rows, claim, lost in zip(fund_rows, claim_rows, claims, totals["bad_debt_usd"]):
            event_rows += [fund_row, *rows]
            if lost > 0:
                account_id = book_list[claim.bankrupt_index].account_id
                written_off[account_id] = written_off.get(account_id, 0.0) + float(lost)
        recovered += float(totals["recovered_usd"].sum())
        socialised += float(totals["socialised_usd"].sum())
        bad_debt += float(totals["bad_debt_usd"].sum())
        accounts = tuple(book_list)
        ratios = np.array([r[4] for r in results])
        record: dict[str, Any] = {"step": step, "time": market.as_of}
        for asset in path.assets:
            record[f"{asset}_usd"] = market.index_usd(asset)
        record.update(
            equity_usd=float(sum(market_equity_usd(a, market) for a in accounts)),
            accounts_below_maintenance=int(np.sum(ratios < 1.0)),
            accounts_with_positions=int(sum(1 for a in accounts if a.positions)),
            fees_usd=fees,
            fund_balance_usd=fund,
            bad_debt_usd=bad_debt,
        )
        step_rows.append(record)
    events = events_frame(event_rows)
    return ModelReplay(
        name, accounts_start, accounts, events, pd.DataFrame(step_rows), im0, mm0, equity0, float(fund_start), fund, fund_paid, recovered, bad_debt,
        socialised, liquidator,
    )


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
    from marginlab.margin.presets import available_models, get_model

    names = list(available_models()["name"]) if names is None else list(names)
    eve = (pd.Timestamp(path.times[0]).tz_convert("UTC").normalize() - pd.Timedelta(days=1)).date()
    calibrated: dict[str, MarginModel] = {}
    if any(name.startswith("calibrated") for name in names):
        from marginlab.calibration.calibrate import calibrate
        from marginlab.margin.calibrated import models_from_parameters

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
    from marginlab.progress import tqdm

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
