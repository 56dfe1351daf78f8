# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 — Margin models compared on a library of strategies
#
# The same book costs very different amounts of collateral depending on how it is margined.
# This notebook margins a library of option and basis strategies on a **real market day** with
# every model family of marginlab, shows the requirement as a percentage of notional in one
# heatmap, and explains where the differences come from: *offsets* (hedges netting inside one
# scenario) are what portfolio margin recognises and isolated margin does not.
#
# **Models and their formulas** (each is a preset of one general engine; `marginlab models` lists them):
#
# | preset | family | requirement |
# |---|---|---|
# | `deribit-standard` | isolated | per position: futures/perpetuals $IM = (2\% + q \cdot 0.005\%)\,\lvert q\rvert\, S$ for BTC (C1); short call $IM = \max(0.15 - \mathrm{OTM}/S, 0.1) S + \text{mark}$, short put likewise with the MM floor (C2); long options pay their premium |
# | `deribit-cross` | cross | the same per-position requirements summed over one collateral pool; collateral counted after haircuts |
# | `span-example` | portfolio | SPAN: worst of 16 scenarios (price $\pm\{0, 1/3, 2/3, 1\}\cdot PSR$ × vol $\pm VSR$, two extreme moves $\pm X \cdot PSR$ at 35% cover), plus spread charges, floored by the short-option minimum |
# | `deribit-pm` | portfolio | Deribit's current model: worst loss over spot $\pm 16\%$ in 9 points × vol up/none/down with the $(30/DTE)^p$ term structure, MM = 0.8 × IM (every value published; `deribit-pm-c3` adds the extended table at an assumed dampening) |
# | `okx-pm` | portfolio | $MMR = \max(\max(MR1, MR2, MR6) + MR3 + MR4 + MR5, MR7)$: price grid, extreme move, basis, minimum charge (G) |
# | `derive-pmrm-v2` | portfolio | Derive PMRM v2: $\text{minSPAN}\cdot f + $ naked-short, perpetual, basis and oracle contingencies; scenarios $\times$ vol shocks, tails with dampening, skew rotations |
# | FHS VaR | portfolio | $IM = (1-w)\,ES_{99\%}^{2d} + w \cdot \text{stress}$ over EWMA-filtered joint historical moves with DVOL vol moves, $w = 25\%$, $MM = 0.8\,IM$ |
#
# All requirements are in USD; "% of notional" divides the initial margin by $\sum |q| \cdot S$ over the legs.
#
# **Inverse contracts and coin accounts.** Deribit's BTC perpetual and futures are *inverse*: a USD
# face value $f$, settled in BTC, P&L $f\,(1/E - 1/F)$ coins; its options are quoted and settled in
# BTC, and most of its accounts hold BTC as collateral and are margined in BTC. The library below adds
# such books (symbols `BTC-PERPETUAL:BTC`, Deribit's `BTC-28MAR25`, `BTC-28MAR25-100000-C`); a
# coin-margined account's requirement is reported in BTC and in USD, and scenario models measure its
# losses in BTC — which is where the *wrong-way* effect of coin collateral shows (last sections).

# %%
import os
from pathlib import Path

FAST = os.environ.get("MARGINLAB_FAST", "0") == "1"
OUTPUT_DIR = Path(os.environ.get("MARGINLAB_OUTPUT_DIR", "../reports/interactive"))  # by hand: not the main job's reports/

DAY = "2025-01-15"  # a real market day: index = that day's close, ATM vol = DVOL close
UNDERLYING = "BTC"
SIZE = 1.0  # coins per leg
OTM = 0.10  # strikes 10% away from the forward
SKEW = -0.10  # smile slope: vol points per unit of log-moneyness (puts richer than calls)
LOOKBACK_DAYS = 500 if FAST else 750  # FHS scenarios
SEED = 0  # nothing random below; kept for the convention

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from IPython.display import display

from marginlab import (
    Account,
    FilteredHistoricalMargin,
    Future,
    HistoricalScenarios,
    Option,
    Perpetual,
    Position,
    build_strategies,
    format_table,
    get_model,
    margin_table,
    market_from_history,
    replay,
    save_figure,
    scenario_path,
    what_if,
)
from marginlab.analysis.efficiency import nearest_expiry, plot_margin_table, round_strike
from marginlab.data.option_chains import load_option_chains
from marginlab.market_history import fit_smile, tenor_power_check
from marginlab.parameters import DEFAULT_LONG_TENOR_POWER, DEFAULT_SHORT_TENOR_POWER
from marginlab.pricing import black76_price

sns.set_theme(style="whitegrid", context="notebook")
OUTPUT_DIR.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## The market on the chosen day
#
# `market_from_history` builds a snapshot from the data: the index is the day's close, the ATM
# implied volatility is Deribit's DVOL close (30-day index) where it exists, expiries are the
# usual monthly Fridays, forwards follow the cost of carry at the given rate, and a linear skew in
# log-moneyness shapes the smile.

# %%
market = market_from_history(DAY, ["BTC", "ETH", "SOL"], rate=0.0, skew=SKEW)
expiries = market.expiries(UNDERLYING)
overview = pd.DataFrame(
    {
        "expiry": [e.date() for e in expiries],
        "days": [(e - market.as_of).total_seconds() / 86_400 for e in expiries],
        "forward_usd": [market.forward_usd(UNDERLYING, e) for e in expiries],
        "atm_vol_pct": [100 * market.vol(UNDERLYING, e, market.forward_usd(UNDERLYING, e)) for e in expiries],
    }
)
print(f"{UNDERLYING} index on {market.as_of:%Y-%m-%d %H:%M} UTC: {market.index_usd(UNDERLYING):,.0f} USD")
format_table(overview, decimals=1, hide_index=True)

# %% [markdown]
# ## The strategy library
#
# Each builder returns an `Account` with the legs on one underlying (strikes relative to the
# forward of the first expiry at least 30 days ahead, rounded to a listed-like grid).

# %% [markdown]
# Five books complete the library:
#
# * **inverse_perp_long** / **inverse_future_short**: Deribit's inverse contracts, one coin of face
#   value ($f = S$ USD) — same USD exposure as one linear contract at the start, P&L in coin;
# * **synthetic_usd**: 1 BTC of collateral hedged by a short inverse perpetual of face $S$ in a
#   BTC-margined account — worth a constant number of USD, so in BTC it carries the coin's risk;
# * **btc_eth_spread**: long ETH, short BTC perpetuals of equal notional (no cross-asset offset in
#   any preset yet: each leg is charged on its own);
# * **coin_collateral_short_put**: the naked short put, coin-settled, in a BTC-margined account with
#   1 BTC of collateral.

# %%
strategies = build_strategies(market, UNDERLYING, size=SIZE, otm=OTM)
index = market.index_usd(UNDERLYING)
near = nearest_expiry(market, UNDERLYING, 30.0)
near_forward = market.forward_usd(UNDERLYING, near)
eth_index = market.index_usd("ETH")
put_strike = round_strike(near_forward * (1 - OTM), near_forward)
strategies.update(
    {
        "inverse_perp_long": Account([Position(Perpetual(UNDERLYING, settlement=UNDERLYING), SIZE * index)], account_id="inverse_perp_long"),
        "inverse_future_short": Account([Position(Future(UNDERLYING, near, settlement=UNDERLYING), -SIZE * near_forward)],
                                        account_id="inverse_future_short"),
        "synthetic_usd": Account([Position(Perpetual(UNDERLYING, settlement=UNDERLYING), -SIZE * index)], collateral={UNDERLYING: SIZE},
                                 account_id="synthetic_usd", margin_currency=UNDERLYING),
        "btc_eth_spread": Account([Position(Perpetual("ETH"), SIZE * index / eth_index), Position(Perpetual(UNDERLYING), -SIZE)],
                                  account_id="btc_eth_spread"),
        "coin_collateral_short_put": Account([Position(Option(UNDERLYING, near, put_strike, "put", settlement=UNDERLYING), -SIZE)],
                                             collateral={UNDERLYING: SIZE}, account_id="coin_collateral_short_put", margin_currency=UNDERLYING),
    }
)
pd.DataFrame(
    [(name, account.margin_currency, ", ".join(f"{p.quantity:+,g} {p.symbol}" for p in account.positions)) for name, account in strategies.items()],
    columns=["strategy", "margined in", "legs (coins; USD face for inverse contracts)"],
)

# %% [markdown]
# ## Margin of every strategy under every model
#
# The FHS model is built from the joint BTC/ETH/SOL history **up to the chosen day** (no look-ahead).

# %%
history = HistoricalScenarios.from_snapshot(["BTC", "ETH", "SOL"], as_of=DAY)
models = {
    "isolated (Deribit)": get_model("deribit-standard"),
    "cross (Deribit)": get_model("deribit-cross"),
    "SPAN": get_model("span-example"),
    "Deribit PM": get_model("deribit-pm"),
    "OKX PM": get_model("okx-pm"),
    "Derive PMRM v2": get_model("derive-pmrm-v2"),
    "FHS ES 99% 2d": FilteredHistoricalMargin(history, lookback_days=LOOKBACK_DAYS, preset_name="fhs"),
}
table = margin_table(strategies, models, market)
rejected = table[table["error"] != ""]
if len(rejected):
    display(rejected[["strategy", "model", "error"]])
else:
    print(f"All {len(table)} margins computed: every model margined every strategy ({len(strategies)} strategies x {len(models)} models).")

# %%
fig, ax = plt.subplots(figsize=(11, 7))
plot_margin_table(table, "im_pct_of_notional", ax=ax)
ax.set_title(f"Initial margin as % of notional — {UNDERLYING}, {DAY}, {SIZE:g} coin per leg, strikes ±{OTM:.0%}")
fig.tight_layout()
save_figure(fig, "03_margin_heatmap")

# %% [markdown]
# Initial margin in USD (thousands separators; coin-margined books converted at the index):

# %%
pivot = table.pivot(index="strategy", columns="model", values="initial_margin_usd")[list(models)]
pivot.style.format("{:,.0f}")

# %% [markdown]
# ## Where the offsets come from
#
# Isolated and cross margin add up a requirement per leg: a hedged book pays for each leg as if
# it stood alone. A scenario model revalues the **whole** book under each scenario and keeps the
# worst total, so a leg's loss is netted against its hedge's gain *in the same scenario*.
#
# The box below is the clearest case: its value $(K_2 - K_1)\,D$ does not depend on the
# underlying at all, so every price scenario leaves it unchanged — a scenario engine charges only
# its contingencies and the static discount, while the per-leg rules charge four short/long legs.

# %%
derive = models["Derive PMRM v2"]
box_result = derive.margin(strategies["box"], market)
print(box_result.summary())

# %% [markdown]
# The short straddle shows the opposite: there is nothing to net. Each row of the scenario table
# below is one scenario of the Derive grid; the worst one sets the requirement. Large spot moves
# with vols up hurt a short straddle most.

# %%
straddle_result = derive.margin(strategies["straddle"], market)
scenarios = straddle_result.scenarios
fig, ax = plt.subplots(figsize=(10, 4))
sns.barplot(data=scenarios.reset_index(drop=True).reset_index(), x="index", y="pnl_usd", color="tab:red", ax=ax)
ax.set_xlabel("scenario number (Derive grid: regular, tails, skew)")
ax.set_ylabel("scenario P&L of the short straddle (USD)")
ax.set_title("Short straddle under the Derive PMRM v2 scenarios")
ax.tick_params(axis="x", labelsize=7)
fig.tight_layout()
print("worst scenario:", straddle_result.details.get("worst_scenario"))

# %% [markdown]
# ## Capital efficiency in one number per model
#
# For the hedged strategies (spreads, butterfly, condor, box, basis trade, delta-neutral call) the
# ratio below is the portfolio-margin requirement divided by the isolated one: the share of
# isolated collateral a trader still has to post.
#
# Two cases deserve a word:
#
# * **basis trade** (long spot, short perpetual): every price scenario nets to zero, so the scan
#   risk is nil; Derive still charges its perpetual contingency (1.5% MM + 0.5% IM of the
#   perpetual notional), which happens to equal the isolated 2% perpetual rate, so the ratio is
#   about 1 there and near 0 elsewhere;
# * **covered call** is *not* a hedge of the scenario kind: the long coin loses in a crash while the
#   short call gains little. Isolated margin charges only the short call (the coin is simply
#   collateral whose fall lowers equity), whereas scenario models charge the crash loss of the whole
#   book, so PM can exceed the isolated number. It is shown in the heatmap, not in the ratios.
#
# The `deribit-pm` preset is Deribit's current model with published values only (±16% in 9 points,
# vol up/unchanged/down, MM = 0.8 × IM); its extended large-move table is left out because the
# dampener formula is not published. `deribit-pm-c3` keeps that table at an **assumed** 10% dampening,
# which is what makes naked short calls, straddles and strangles expensive there; pass
# `marginlab.margin.presets.deribit_pm(tail_dampening=...)` to study the sensitivity. Every result
# lists the assumed values it depends on (`result.assumptions`), and the CLI marks such a model `*`.

# %%
HEDGED = ["call_spread", "put_spread", "butterfly", "iron_condor", "box", "basis_trade", "delta_neutral_call"]
isolated_im = pivot["isolated (Deribit)"]
ratios = pivot.loc[HEDGED, ["SPAN", "Deribit PM", "OKX PM", "Derive PMRM v2", "FHS ES 99% 2d"]].div(isolated_im.loc[HEDGED], axis=0)
ratios.style.format("{:.1%}")

# %% [markdown]
# ## What-if: hedging a naked short call
#
# A trader short one 10%-OTM call considers buying a call 20% OTM to cap the loss. `what_if`
# margins the account before and after the proposed trade with any model.

# %%
short_call = strategies["naked_short_call"]
sold = short_call.positions[0].instrument
hedge = Position(Option(UNDERLYING, sold.expiry, round(sold.strike_usd * 1.10 / 1000) * 1000, "call"), SIZE)
what_if_rows = []
for label in ["isolated (Deribit)", "Deribit PM", "Derive PMRM v2", "FHS ES 99% 2d"]:
    change = what_if(models[label], short_call, [hedge], market)
    what_if_rows.append(
        {"model": label, "IM before (USD)": change.before.initial_margin_usd, "IM after (USD)": change.after.initial_margin_usd,
         "change (USD)": change.initial_margin_change_usd}
    )
what_if_table = pd.DataFrame(what_if_rows)
what_if_table.style.format({c: "{:+,.0f}" if c.startswith("change") else "{:,.0f}" for c in what_if_table.columns if c != "model"})

# %% [markdown]
# Under isolated margin, buying the hedge *adds* its premium as a requirement (long options are
# paid in full) and does not reduce the short call's charge; under the scenario models the
# hedge caps the worst loss, so the requirement falls.

# %% [markdown]
# ## Inverse contracts and coin-margined accounts: requirements in BTC and in USD
#
# Deribit's standard margin states its rates in coin: an inverse position of face $f$ is a size of
# $f/F$ coins, charged $(2\% + \text{size} \cdot 0.005\%)$ of it in BTC (Deribit: "25 BTC in size: initial
# margin is 2.125% (= 0.53125 BTC)"), and a short coin option $\max(0.15 - \mathrm{OTM}/S, 0.1) + \text{mark}$ BTC.
# A coin-margined account's result carries its currency: `result.currency_totals()` shows the requirement,
# equity and margin ratio in BTC and in USD (one index price converts both, so the ratio is the same).
# Scenario models (Deribit PM, Derive) measure a coin account's scenario P&L **in BTC**: a USD loss $L$
# when BTC falls to $xS$ costs $L/(xS)$ coins, i.e. $L/x$ at today's price.

# %%
COIN_BOOKS = ["inverse_perp_long", "inverse_future_short", "synthetic_usd", "coin_collateral_short_put"]
coin_rows = []
for name in COIN_BOOKS:
    for label in ["isolated (Deribit)", "Deribit PM", "Derive PMRM v2"]:
        result = models[label].margin(strategies[name], market)
        view = result.currency_totals()
        coin_rows.append(
            {"strategy": name, "model": label, "currency": result.currency,
             "IM (margin currency)": view.iloc[0, 0], "MM (margin currency)": view.iloc[1, 0],
             "IM (USD)": result.initial_margin_usd, "MM (USD)": result.maintenance_margin_usd,
             "equity (USD)": result.equity_usd, "worst scenario": result.details.get("worst_scenario") or "-"}
        )
coin_table = pd.DataFrame(coin_rows)
coin_table.style.format({"IM (margin currency)": "{:,.4f}", "MM (margin currency)": "{:,.4f}", "IM (USD)": "{:,.0f}",
                         "MM (USD)": "{:,.0f}", "equity (USD)": "{:,.0f}"})

# %% [markdown]
# Reading the table: the inverse long and short cost what a linear coin would under the per-position
# rule (the size in coins is the same at the start). **synthetic_usd** — 1 BTC hedged by a short inverse
# perpetual — is flat in USD, yet its BTC-margined scenario models charge it: in BTC its value
# $f/F$ coins moves against the holder when BTC *rises* (worst scenario up), which is what a coin
# account risks. The **coin-collateral short put** pays more under the scenario models than the same put
# in a USD account, below.

# %%
same_put_usd = Account(strategies["coin_collateral_short_put"].positions, cash_usd=SIZE * index, account_id="usd_collateral_short_put")
put_rows = []
for label in ["Deribit PM", "Derive PMRM v2"]:
    for account in (same_put_usd, strategies["coin_collateral_short_put"]):
        result = models[label].margin(account, market)
        put_rows.append({"model": label, "account": account.account_id, "margined in": account.margin_currency,
                         "MM (USD)": result.maintenance_margin_usd, "worst scenario": result.details["worst_scenario"]})
put_table = pd.DataFrame(put_rows)
put_table.style.format({"MM (USD)": "{:,.0f}"})

# %% [markdown]
# ## The wrong-way effect in the 2020-03-12 and FTX replays
#
# A trader short one 10%-OTM coin-settled put per coin of collateral, with that collateral in **BTC**
# (a BTC-margined Deribit account) or in **USD** of the same value at the start. Both lose the put's
# rise in a crash; the BTC account also loses its collateral's fall — twice exposed to the same move.
# `replay` steps each account through the package's scenario library paths (`covid-2020-03-12`,
# `ftx-2022-11`: hourly-like steps through each day's open, extremes and close) under Deribit's standard
# margin with the default liquidation ladder; each account is replayed on its own so its equity path is
# its own.

# %%
WRONG_WAY_SCENARIOS = ["covid-2020-03-12", "ftx-2022-11"]
wrong_way_rows = []
equity_paths = []
for scenario_name in WRONG_WAY_SCENARIOS:
    path = scenario_path(scenario_name, [UNDERLYING])
    start = path.snapshot(0)
    spot = start.index_usd(UNDERLYING)
    expiry = (path.times[0] + pd.Timedelta(days=30)).normalize() + pd.Timedelta(hours=8)
    put = Option(UNDERLYING, expiry.to_pydatetime(), round_strike(spot * (1 - OTM), spot), "put", settlement=UNDERLYING)
    books = {
        "BTC collateral": Account([Position(put, -SIZE)], collateral={UNDERLYING: SIZE}, account_id="btc", margin_currency=UNDERLYING),
        "USD collateral": Account([Position(put, -SIZE)], cash_usd=SIZE * spot, account_id="usd"),
    }
    for collateral, account in books.items():
        run = replay([account], {"deribit-standard": models["isolated (Deribit)"]}, path)
        steps = run.steps
        summary = run.summary().iloc[0]
        equity = steps["equity_usd"].to_numpy()
        wrong_way_rows.append(
            {"scenario": scenario_name, "collateral": collateral, "BTC start (USD)": spot,
             "BTC low (USD)": float(path.prices_usd[UNDERLYING].min()), "equity start (USD)": equity[0],
             "equity low (USD)": equity.min(), "equity fall": equity.min() / equity[0] - 1.0,
             "liquidated": bool(summary["accounts_liquidated"] > 0), "notional closed (USD)": summary["closed_notional_usd"]}
        )
        equity_paths.append(steps.assign(scenario=scenario_name, collateral=collateral))
wrong_way = pd.DataFrame(wrong_way_rows)
wrong_way.style.format({"BTC start (USD)": "{:,.0f}", "BTC low (USD)": "{:,.0f}", "equity start (USD)": "{:,.0f}",
                        "equity low (USD)": "{:,.0f}", "equity fall": "{:.1%}", "notional closed (USD)": "{:,.0f}"})

# %%
paths_frame = pd.concat(equity_paths, ignore_index=True)
fig, axes = plt.subplots(1, len(WRONG_WAY_SCENARIOS), figsize=(12, 4))
for ax, scenario_name in zip(axes, WRONG_WAY_SCENARIOS):
    sns.lineplot(data=paths_frame[paths_frame["scenario"] == scenario_name], x="time", y="equity_usd", hue="collateral", ax=ax)
    ax.set_title(f"Short 10%-OTM put, {scenario_name}")
    ax.set_ylabel("account equity (USD)")
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
fig.tight_layout()
save_figure(fig, "03_wrong_way_replays")
for scenario_name in WRONG_WAY_SCENARIOS:
    rows = wrong_way[wrong_way["scenario"] == scenario_name].set_index("collateral")
    print(f"{scenario_name}: at its low the BTC-collateral account had lost {-rows.loc['BTC collateral', 'equity fall']:.0%} of its equity "
          f"(liquidated: {'yes' if rows.loc['BTC collateral', 'liquidated'] else 'no'}), the USD-collateral one "
          f"{-rows.loc['USD collateral', 'equity fall']:.0%} (liquidated: {'yes' if rows.loc['USD collateral', 'liquidated'] else 'no'}).")

# %% [markdown]
# The BTC-collateral account's equity falls with the coin *and* with the put: it loses a much larger
# share of its equity than the USD-collateral account in both crashes (about 90% against 45% at the
# 2020-03-12 low in the FAST run, where it is partly liquidated and the USD one is not; about 47% against
# 19% in the FTX days). Deribit's standard margin charges both accounts the same per-position
# requirement: the extra risk sits in the collateral, which a coin-margined scenario model (above) or a
# haircut tied to the short put's delta would have to capture.

# %% [markdown]
# ## Cross-venue accounts: what unified margining would save and what the settlement lag costs
#
# A desk holds the strategy library's hedged trades split across venues: the options on Deribit
# (standard margin), their delta hedges as perpetuals on Hyperliquid, and part of its BTC collateral
# off exchange with a tri-party agent. Margined **per venue**, each venue charges its own leg and a
# surplus on one venue does not cover the other; margined as **one portfolio** (`deribit-pm`), the
# hedge across venues offsets. The off-exchange collateral counts after a **settlement-lag add-on**
# `value × z₉₉ × σ_daily × √(cycle / 24 h)` for the 2-, 4- and 24-hour cycles of tri-party settlement
# (`marginlab.margin.cross_venue`).

# %%
from marginlab.margin.cross_venue import CrossVenueAccount, SettlementLag, VenueBook, lag_costs, margin_cross_venue

OFF_EXCHANGE_COINS = 2.0
options_leg = tuple(p for p in strategies["delta_neutral_call"].positions if isinstance(p.instrument, Option))
hedge_leg = tuple(p for p in strategies["delta_neutral_call"].positions if not isinstance(p.instrument, Option))
leg = options_leg[0].instrument
DAILY_VOL = {UNDERLYING: market.vol(UNDERLYING, leg.expiry, leg.strike_usd) / 365 ** 0.5}  # the option's implied vol, per day
desk = CrossVenueAccount(
    [VenueBook("deribit", get_model("deribit-standard"), Account(options_leg, cash_usd=50_000.0)),
     VenueBook("hyperliquid", get_model("hyperliquid"), Account(hedge_leg, cash_usd=50_000.0))],
    off_exchange={UNDERLYING: OFF_EXCHANGE_COINS})
cross_venue = margin_cross_venue(desk, market, get_model("deribit-pm"), SettlementLag(4, DAILY_VOL))
display(format_table(cross_venue[["view", "venue", "model", "initial_margin_usd", "maintenance_margin_usd", "lag_addon_usd", "excess_usd"]],
                     hide_index=True))
per_venue_im = float(cross_venue.loc[cross_venue["view"] == "per venue (sum)", "initial_margin_usd"].iloc[0])
unified_im = float(cross_venue.loc[cross_venue["view"] == "unified", "initial_margin_usd"].iloc[0])
print(f"unified margining would save {per_venue_im - unified_im:,.2f} USD of initial margin ({1 - unified_im / per_venue_im:.1%})")
lag_table = lag_costs(desk, market, DAILY_VOL)
display(format_table(lag_table, decimals=4, hide_index=True))

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.bar([f"{h:g} h" for h in lag_table["cycle_hours"]], lag_table["lag_addon_usd"], color="tab:purple")
ax.set_xlabel("tri-party settlement cycle")
ax.set_ylabel("settlement-lag add-on (USD)")
ax.set_title(f"Cost of holding {OFF_EXCHANGE_COINS:g} {UNDERLYING} off exchange (99%, daily vol {DAILY_VOL[UNDERLYING]:.1%})")
save_figure(fig, "03_settlement_lag")
plt.show()

# %% [markdown]
# ## The smile and the vol shock against real Deribit marks
#
# Every snapshot above uses the package's parametric smile (`market_from_history`, `smile_from_atm`):
#
# $$\sigma(m) = \max\left(a + b\,m + c\,m^2,\ 5\%\right), \qquad m = \ln(K / F),$$
#
# tabulated on the grid $m = -1.0, -0.9, \dots, 1.0$, linear in between and flat beyond, with **one smile for every
# expiry** (a flat term structure). The scenario models then shock the vol of an option $T$ days from expiry by
# $\Delta\sigma/\sigma = s_{30} \cdot (30 / T)^{p}$ with $p = 0.3$ up to 30 days and $p = 0.13$ beyond
# (`VolShockParameters`). How good are both on real marks? The package embeds two Deribit BTC option chains
# (2020-05-14 05:41 and 2020-05-21 23:19 UTC: every listed option's mark, bid and ask implied vol, its forward and
# its mark price). `fit_smile` fits $a, b, c$ by least squares to the out-of-the-money marks with $\lvert m\rvert \le 1$
# and at least one day to expiry, once **per expiry** and once **per snapshot** (the flat term structure), and reads
# the model vol of each option from the package's gridded smile: the error is $\sigma_{\text{model}} - \sigma_{\text{mark}}$
# in vol points (1 vol point = 0.01 of annualised vol). In money, an error of $\Delta\sigma$ costs about
# $\text{vega} \cdot \Delta\sigma$; the tables give the Black-76 price error in USD per one-BTC option,
# $C_{76}(F, K, T, \sigma_{\text{model}}) - C_{76}(F, K, T, \sigma_{\text{mark}})$.
#
# Three checks from outside the fit: Deribit's own mark prices equal Black-76 on the forward at the mark vol,
# divided by the forward (the convention the package prices coin options with); `numpy.polyfit` on the same points
# gives the same $a, b, c$; and the grid's share of the error obeys the linear-interpolation bound
# $\lvert \sigma_{\text{grid}} - \sigma_{\text{quad}}\rvert \le \tfrac{h^2}{8} \max\lvert\sigma''\rvert = \tfrac{c\,h^2}{4}$
# with $h = 0.1$.

# %%
chains = load_option_chains()
smile_fit = fit_smile(chains, by="expiry")
flat_fit = fit_smile(chains, by="snapshot")
used = chains[chains["dte_days"] >= 1.0]
mark_check_btc = (black76_price(used["forward_usd"], used["strike"], used["years"], used["mark_iv"], 0.0,
                                used["option_type"] == "call") / used["forward_usd"] - used["mark_price_btc"]).abs()
residuals = smile_fit.residuals.merge(chains[["snapshot", "expiry", "strike", "option_type", "forward_usd", "years", "otm"]]
                                      .loc[chains["otm"]], on=["snapshot", "expiry", "strike"], how="left")
residuals["price_error_usd"] = (black76_price(residuals["forward_usd"], residuals["strike"], residuals["years"], residuals["model_iv"],
                                              0.0, residuals["option_type"] == "call")
                                - black76_price(residuals["forward_usd"], residuals["strike"], residuals["years"], residuals["mark_iv"],
                                                0.0, residuals["option_type"] == "call"))
print(f"{len(chains):,} instruments in 2 snapshots, {len(smile_fit.residuals):,} out-of-the-money marks fitted; "
      f"Deribit mark price vs Black-76 on the forward: median gap {mark_check_btc.median():.7f} BTC, "
      f"{(mark_check_btc < 1e-4).mean():.1%} within 0.0001 BTC")


def _rms(errors):
    return float(np.sqrt(np.mean(np.square(errors))))


def _error_table(summary, price_errors):
    """The fit's error summary in vol points, with the RMSE of the price error (USD per one-BTC option)."""
    return pd.DataFrame({"options": summary["n"], "RMSE (vol pts)": 100 * summary["rmse"], "mean (vol pts)": 100 * summary["mean_error"],
                         "worst (vol pts)": 100 * summary["worst_abs_error"], "RMSE (USD/option)": price_errors.apply(_rms),
                         "in bid/ask": summary["share_in_spread"]})


by_expiry = _error_table(smile_fit.error_by_expiry(), residuals.groupby(["snapshot", "expiry"])["price_error_usd"]).reset_index()
by_expiry.insert(2, "days", residuals.groupby(["snapshot", "expiry"])["dte_days"].median().to_numpy())
by_expiry["snapshot"] = by_expiry["snapshot"].dt.strftime("%Y-%m-%d")
by_expiry["expiry"] = by_expiry["expiry"].dt.strftime("%Y-%m-%d")
format_table(by_expiry.drop(columns="mean (vol pts)"), percent=["in bid/ask"], percent_decimals=0, decimals=1, hide_index=True)

# %% [markdown]
# The same errors by log-moneyness bucket $\ln(K/F)$, all expiries together (negative: puts below the forward):

# %%
MONEYNESS_EDGES = (-1.0, -0.5, -0.2, -0.05, 0.05, 0.2, 0.5, 1.0)
buckets = pd.cut(residuals["log_moneyness"], list(MONEYNESS_EDGES), include_lowest=True)
by_moneyness = _error_table(smile_fit.error_by_moneyness(MONEYNESS_EDGES), residuals.groupby(buckets, observed=True)["price_error_usd"])
by_moneyness.index = [f"{low:+.2f} to {high:+.2f}" for low, high in zip(MONEYNESS_EDGES[:-1], MONEYNESS_EDGES[1:])]
by_moneyness.index.name = "ln(K / F)"
format_table(by_moneyness, percent=["in bid/ask"], percent_decimals=0, decimals=1)

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
latest = chains["snapshot"].max()
palette = sns.color_palette("viridis", n_colors=smile_fit.parameters["snapshot"].eq(latest).sum())
for colour, (_, row) in zip(palette, smile_fit.parameters[smile_fit.parameters["snapshot"] == latest].iterrows()):
    points = smile_fit.residuals[(smile_fit.residuals["snapshot"] == latest) & (smile_fit.residuals["expiry"] == row["expiry"])]
    label = f"{row['expiry']:%d %b} ({row['dte_days']:.0f} d)"
    axes[0].scatter(points["log_moneyness"], 100 * points["mark_iv"], s=14, color=colour, label=label)
    axes[0].plot(points["log_moneyness"], 100 * points["model_iv"], color=colour, linewidth=1.2)
axes[0].set_xlabel("log-moneyness ln(K / F)")
axes[0].set_ylabel("implied volatility (%, annualised)")
axes[0].set_title(f"Deribit BTC marks (dots), package smile (lines)\n{latest:%Y-%m-%d %H:%M} UTC")
axes[0].legend(title="expiry", fontsize=8)
scatter = axes[1].scatter(smile_fit.residuals["log_moneyness"], 100 * smile_fit.residuals["error"], s=12,
                          c=np.log10(smile_fit.residuals["dte_days"]), cmap="viridis")
axes[1].axhline(0.0, color="black", linewidth=0.8)
axes[1].set_xlabel("log-moneyness ln(K / F)")
axes[1].set_ylabel("model − mark (vol points)")
axes[1].set_title("Fit error by strike\nboth snapshots, one smile per expiry")
colourbar = fig.colorbar(scatter, ax=axes[1])
colourbar.set_label("days to expiry (log scale)")
colourbar.set_ticks(np.log10([1, 7, 30, 100, 225]), labels=["1", "7", "30", "100", "225"])
fig.tight_layout()
save_figure(fig, "03_smile_fit")
plt.show()

# %% [markdown]
# **Reading it.** For September and December the quadratic smile is within about one vol point (RMSE) of the marks
# and mostly inside the bid/ask; for June within 5 to 7 vol points. The weekly and
# fortnightly expiries are another matter: their marks have a sharp V at the money and flat wings, which a quadratic in
# $\ln(K/F)$ cannot follow, so it sits up to about 30 vol points above the at-the-money marks and below the wings
# (the mean error is positive in the at-the-money bucket). One smile for all expiries, as `market_from_history`
# builds, is worse again (below): the fitted at-the-money level is a compromise between short and long tenors.
# A short-dated book margined on such a snapshot is therefore charged with vols that can be far from the market's.

# %%
flat_table = pd.DataFrame({"snapshot": flat_fit.parameters["snapshot"].dt.strftime("%Y-%m-%d"),
                           "one smile for all expiries: RMSE (vol points)": 100 * flat_fit.parameters["rmse"].to_numpy(),
                           "one smile per expiry: RMSE (vol points)": 100 * smile_fit.residuals.groupby("snapshot")["error"].apply(
                               lambda e: float(np.sqrt(np.mean(e**2)))).to_numpy(),
                           "options": flat_fit.parameters["n"].to_numpy()})
format_table(flat_table, decimals=1, hide_index=True)

# %% [markdown]
# **The vol-shock term structure.** Between the two snapshots (one week; the BTC index from about 9,350 to 9,090 USD) the ATM
# vol of each expiry listed in both changed by $\sigma_{\text{after}}/\sigma_{\text{before}} - 1$. If the package's
# shape $(30/T)^p$ described how vols move, $\ln\lvert\text{change}\rvert$ would rise with $\ln(30/T)$ with slope $p$;
# the model column scales the change of the expiry nearest 30 days by that shape. One week of ordinary moves is not a
# stress, and four expiries are few: this is a sanity check of the shape, not a calibration.

# %%
tenor_table, fitted_power = tenor_power_check(smile_fit, DEFAULT_SHORT_TENOR_POWER, DEFAULT_LONG_TENOR_POWER)
tenor_view = tenor_table.reset_index()
tenor_view["expiry"] = tenor_view["expiry"].dt.strftime("%Y-%m-%d")
tenor_view = tenor_view.rename(columns={"dte_days": "days to expiry (first snapshot)", "atm_before": "ATM vol 05-14",
                                        "atm_after": "ATM vol 05-21", "change": "relative change",
                                        "model_shape": "package shape (30/T)^p"})
print(f"fitted power of the ATM changes: {fitted_power:.2f} (package: {DEFAULT_SHORT_TENOR_POWER} up to 30 days, "
      f"{DEFAULT_LONG_TENOR_POWER} beyond)")
format_table(tenor_view, percent=["ATM vol 05-14", "ATM vol 05-21", "relative change", "package shape (30/T)^p"],
             percent_decimals=1, decimals=1, hide_index=True)

# %% [markdown]
# In that week the short expiry's ATM vol rose most (about 7%) but the September and December vols rose more than
# June's, so the fitted power is close to 0: the week's vol move was nearly parallel across tenors, flatter than the
# package's $(30/T)^p$ decay. The decay is a stress assumption (short vols jump most in a crash, as DVOL's behaviour
# on crash days shows); these two ordinary days neither confirm nor refute it, and a chain from a crash day would.

# %% [markdown]
# ## Checks on the key numbers
#
# * no model silently fails a strategy that it should margin (perpetuals, spot and listed
#   options are supported everywhere);
# * every portfolio model charges the box far less than isolated margin, and the basis trade no more;
# * portfolio margin of every hedged strategy is below its isolated margin for the scenario models
#   that net hedges (Deribit PM and Derive);
# * hedging the naked call lowers the scenario-model requirement but not the isolated one;
# * inverse books are margined by every model; a coin-margined short put costs more under the scenario
#   models than the same put in a USD account; in both replays the BTC-collateral account loses a
#   larger share of its equity than the USD-collateral one;
# * unified margining of the cross-venue desk costs less than the venues' sum, and the settlement-lag
#   add-on grows with the cycle as its square root.
# * the real option chains: Deribit's mark prices are Black-76 at the mark vol on the forward (the venue's own
#   numbers); `fit_smile`'s coefficients equal `numpy.polyfit`'s; the grid's share of the error is within the
#   linear-interpolation bound $c h^2 / 4$; the smile fits the September and December expiries within 2 vol points
#   (RMSE) and misses the short expiries by more, and one smile for all expiries fits worse than one per expiry.

# %%
assert table["error"].eq("").all(), rejected
assert (table["initial_margin_usd"] >= 0).all()
for model in ["SPAN", "Deribit PM", "OKX PM", "Derive PMRM v2", "FHS ES 99% 2d"]:
    assert pivot.loc["box", model] < 0.25 * pivot.loc["box", "isolated (Deribit)"], model
    assert pivot.loc["basis_trade", model] <= 1.001 * pivot.loc["basis_trade", "isolated (Deribit)"], model
for model in ["Deribit PM", "Derive PMRM v2"]:
    assert (ratios[model] < 1).all(), ratios[model]
changes = what_if_table.set_index("model")["change (USD)"]
assert changes["isolated (Deribit)"] > 0
assert changes["Deribit PM"] < 0 and changes["Derive PMRM v2"] < 0
assert (coin_table.set_index(["strategy", "model"]).loc["coin_collateral_short_put", "currency"] == "BTC").all()
mm_put = put_table.set_index(["model", "account"])["MM (USD)"]
for label in ["Deribit PM", "Derive PMRM v2"]:
    assert mm_put[(label, "coin_collateral_short_put")] > mm_put[(label, "usd_collateral_short_put")], label
falls = wrong_way.set_index(["scenario", "collateral"])["equity fall"]
for scenario_name in WRONG_WAY_SCENARIOS:
    assert falls[(scenario_name, "BTC collateral")] < falls[(scenario_name, "USD collateral")], scenario_name
assert unified_im < per_venue_im
lag_by_cycle = lag_table.set_index("cycle_hours")["lag_addon_usd"]
assert lag_by_cycle[2.0] < lag_by_cycle[4.0] < lag_by_cycle[24.0]
assert abs(lag_by_cycle[24.0] / lag_by_cycle[4.0] - 6 ** 0.5) < 1e-9
# the real chains (independent: Deribit's mark prices, numpy.polyfit, the interpolation bound)
assert mark_check_btc.median() < 1e-5 and (mark_check_btc < 1e-4).mean() > 0.95, mark_check_btc.describe()
for (snap, expiry), group in smile_fit.residuals.groupby(["snapshot", "expiry"]):
    row = smile_fit.parameters[(smile_fit.parameters["snapshot"] == snap) & (smile_fit.parameters["expiry"] == expiry)].iloc[0]
    curvature, skew, atm = np.polyfit(group["log_moneyness"], group["mark_iv"], 2)
    assert np.allclose([atm, skew, curvature], row[["atm", "skew", "curvature"]].to_numpy(dtype=float), atol=1e-8), (expiry, row)
    inside = (group["log_moneyness"].abs() <= 1.0) & (group["quadratic_iv"] > 0.05 + abs(curvature) * 0.01)
    gap = (group["model_iv"] - group["quadratic_iv"]).abs()[inside]
    assert (gap <= abs(curvature) * 0.1**2 / 4 + 1e-12).all(), (expiry, gap.max(), curvature)
long_dated = smile_fit.parameters[smile_fit.parameters["dte_days"] > 100]
short_dated = smile_fit.parameters[smile_fit.parameters["dte_days"] < 20]
assert len(long_dated) == 4 and (long_dated["rmse"] < 0.02).all(), long_dated
assert short_dated["rmse"].max() > 5 * long_dated["rmse"].max()
for snap, flat_rmse in zip(flat_fit.parameters["snapshot"], flat_fit.parameters["rmse"]):
    per_expiry = smile_fit.residuals.loc[smile_fit.residuals["snapshot"] == snap, "error"]
    assert flat_rmse > float(np.sqrt(np.mean(per_expiry**2))), snap
assert len(tenor_table) >= 3 and np.isfinite(fitted_power)
