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
    get_model,
    margin_table,
    market_from_history,
    replay,
    save_figure,
    scenario_path,
    what_if,
)
from marginlab.analysis.efficiency import nearest_expiry, plot_margin_table, round_strike

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
overview

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
display(cross_venue[["view", "venue", "model", "initial_margin_usd", "maintenance_margin_usd", "lag_addon_usd", "excess_usd"]].round(2))
per_venue_im = float(cross_venue.loc[cross_venue["view"] == "per venue (sum)", "initial_margin_usd"].iloc[0])
unified_im = float(cross_venue.loc[cross_venue["view"] == "unified", "initial_margin_usd"].iloc[0])
print(f"unified margining would save {per_venue_im - unified_im:,.2f} USD of initial margin ({1 - unified_im / per_venue_im:.1%})")
lag_table = lag_costs(desk, market, DAILY_VOL)
display(lag_table.round(4))

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.bar([f"{h:g} h" for h in lag_table["cycle_hours"]], lag_table["lag_addon_usd"], color="tab:purple")
ax.set_xlabel("tri-party settlement cycle")
ax.set_ylabel("settlement-lag add-on (USD)")
ax.set_title(f"Cost of holding {OFF_EXCHANGE_COINS:g} {UNDERLYING} off exchange (99%, daily vol {DAILY_VOL[UNDERLYING]:.1%})")
save_figure(fig, "03_settlement_lag")
plt.show()

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
