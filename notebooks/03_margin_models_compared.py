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
# | `deribit-standard` | isolated | per position: futures/perpetuals $IM = (2\% + q \cdot 0.005\%)\,|q| S$ for BTC (C1); short call $IM = \max(0.15 - \mathrm{OTM}/S, 0.1) S + \text{mark}$, short put likewise with the MM floor (C2); long options pay their premium |
# | `deribit-cross` | cross | the same per-position requirements summed over one collateral pool; collateral counted after haircuts |
# | `span-example` | portfolio | SPAN: worst of 16 scenarios (price $\pm\{0, 1/3, 2/3, 1\}\cdot PSR$ × vol $\pm VSR$, two extreme moves $\pm X \cdot PSR$ at 35% cover), plus spread charges, floored by the short-option minimum |
# | `deribit-pm` | portfolio | worst loss over spot $\pm 16\%$ in 9 points × vol up/none/down with the $(30/DTE)^p$ term structure, dampened extended moves, plus contingencies (C3) |
# | `okx-pm` | portfolio | $MMR = \max(\max(MR1, MR2, MR6) + MR3 + MR4 + MR5, MR7)$: price grid, extreme move, basis, minimum charge (G) |
# | `derive-pmrm-v2` | portfolio | Derive PMRM v2: $\text{minSPAN}\cdot f + $ naked-short, perpetual, basis and oracle contingencies; scenarios $\times$ vol shocks, tails with dampening, skew rotations |
# | FHS VaR | portfolio | $IM = (1-w)\,ES_{99\%}^{2d} + w \cdot \text{stress}$ over EWMA-filtered joint historical moves with DVOL vol moves, $w = 25\%$, $MM = 0.8\,IM$ |
#
# All requirements are in USD; "% of notional" divides the initial margin by $\sum |q| \cdot S$ over the legs.

# %%
import os
from pathlib import Path

FAST = os.environ.get("MARGINLAB_FAST", "0") == "1"
OUTPUT_DIR = Path(os.environ.get("MARGINLAB_OUTPUT_DIR", "../reports"))

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

from marginlab.analysis.efficiency import build_strategies, margin_table, plot_margin_table
from marginlab.instruments import Option, Position
from marginlab.margin import what_if
from marginlab.margin.fhs import FilteredHistoricalMargin, HistoricalScenarios
from marginlab.margin.presets import get_model
from marginlab.market_history import market_from_history

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

# %%
strategies = build_strategies(market, UNDERLYING, size=SIZE, otm=OTM)
pd.DataFrame(
    [(name, ", ".join(f"{p.quantity:+g} {p.symbol}" for p in account.positions)) for name, account in strategies.items()],
    columns=["strategy", "legs"],
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
print(f"{len(table)} margins, {len(rejected)} rejected by a model")
rejected[["strategy", "model", "error"]] if len(rejected) else None

# %%
fig, ax = plt.subplots(figsize=(11, 7))
plot_margin_table(table, "im_pct_of_notional", ax=ax)
ax.set_title(f"Initial margin as % of notional — {UNDERLYING}, {DAY}, {SIZE:g} coin per leg, strikes ±{OTM:.0%}")
fig.tight_layout()
fig.savefig(OUTPUT_DIR / "03_margin_heatmap.png", dpi=110)

# %%
pivot = table.pivot(index="strategy", columns="model", values="initial_margin_usd")[list(models)]
pivot.round(0)

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
# The Deribit PM preset counts its extended large-move table (up to +500%) at a dampening of 10%
# of the loss, an **assumption** (the public description gives no value): this is why naked short
# calls, straddles and strangles cost more under `deribit-pm` than elsewhere. Pass
# `deribit_pm(tail_dampening=...)` to study the sensitivity.

# %%
HEDGED = ["call_spread", "put_spread", "butterfly", "iron_condor", "box", "basis_trade", "delta_neutral_call"]
isolated_im = pivot["isolated (Deribit)"]
ratios = pivot.loc[HEDGED, ["SPAN", "Deribit PM", "OKX PM", "Derive PMRM v2", "FHS ES 99% 2d"]].div(isolated_im.loc[HEDGED], axis=0)
ratios.round(3)

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
what_if_table.round(0)

# %% [markdown]
# Under isolated margin, buying the hedge *adds* its premium as a requirement (long options are
# paid in full) and does not reduce the short call's charge; under the scenario models the
# hedge caps the worst loss, so the requirement falls.

# %% [markdown]
# ## Checks on the key numbers
#
# * no model silently fails a strategy that it should margin (perpetuals, spot and listed
#   options are supported everywhere);
# * every portfolio model charges the box far less than isolated margin, and the basis trade no more;
# * portfolio margin of every hedged strategy is below its isolated margin for the scenario models
#   that net hedges (Deribit PM and Derive);
# * hedging the naked call lowers the scenario-model requirement but not the isolated one.

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
