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
# # 05 — Historical stress tests: crash replays, liquidation cascades, the insurance fund
#
# A margin model is only as good as what happens on the worst days. This notebook replays books of
# accounts through real crashes (12 March 2020 first), liquidates them as the venue's engine would,
# and measures what each margin model let through: accounts liquidated, **shortfall beyond
# margin** (negative equity once positions are closed), what the **insurance fund** paid, what was
# **auto-deleveraged** and the **bad debt** left. Against that it sets the capital each model
# demanded before the event: the efficiency-versus-safety trade-off.
#
# **The liquidation ladder** (`marginlab.liquidation`, thresholds from worked examples F and E1).
# With margin ratio $r = \text{equity} / \text{maintenance margin}$:
#
# | $r$ | action |
# |---|---|
# | $\ge 1.5$ | none |
# | $[1.2, 1.5)$ | warning (margin call) |
# | $[1.05, 1.2)$ | reduce-only |
# | $(2/3, 1.05)$ | partial liquidation: close 20% of the position that releases the most maintenance margin per USD of notional closed, re-margin, repeat until $r \ge 1.25$ |
# | $\le 2/3$ | full liquidation (the E1 backstop threshold) |
#
# Closing at the mark moves the position's value into cash; the **liquidation fee** $0.5\% \times$ closed
# notional (capped at the equity left) goes to the insurance fund. Negative equity after closing is a
# **deficit**: the fund pays it (largest first) as far as its balance goes; the rest is recovered by
# **ADL** from profitable opposite positions ranked by $\text{pnl\%} \times \text{leverage}$, closed at the
# bankruptcy price $p_b = p_{mark} + D/Q$; what remains is **bad debt**. Money is conserved at every step
# (tested: traders' equity + fund + slippage is unchanged).
#
# **Market path.** Daily bars become intraday paths open → first extreme → second extreme → close (high
# first on a down day), each leg cut into geometric sub-steps, so accounts are liquidated on the way
# down; within a sub-step the gap is real risk. Option vols come from DVOL where it exists (from
# 2021-03-24), else an EWMA ($\lambda = 0.94$) realised-vol proxy.
#
# **Funding.** Every trader posts exactly the initial margin the model demands ($\text{equity}_0 = 1.0
# \times IM$): a model asking for less capital is more efficient and less safe.

# %%
import os
from pathlib import Path

FAST = os.environ.get("MARGINLAB_FAST", "0") == "1"
OUTPUT_DIR = Path(os.environ.get("MARGINLAB_OUTPUT_DIR", "../reports/interactive"))  # by hand: not the main job's reports/

SCENARIO = "covid-2020-03-12"
CALIBRATION_DATE = "2020-03-11"  # calibrated model uses data up to the eve of the crash
ACCOUNTS = 4 if FAST else 12  # naive 10x long book for the crash replay
SUBSTEPS = 2  # sub-steps per intraday leg
CASCADE_ACCOUNTS = 60 if FAST else 150
FUND_SIZES_PCT = (0.0, 0.5, 2.0)  # insurance fund at the start, % of book notional
ADV_SHARES = (1.0, 1e-3, 1e-4, 3e-5, 1e-5)  # share of the aggregate daily volume a liquidation round reaches
SEED = 7
# the crash library on an exchange-sized book under every preset
LIBRARY_ACCOUNTS = 200 if FAST else 1_000  # accounts of the book of each crash (the main job's time budget)
CASCADE_2025_ACCOUNTS = 200 if FAST else 10_000  # the 2025-10-10 cascade on an exchange-sized book
LIBRARY_PRESETS_FAST = ("hyperliquid", "binance-unified", "deribit-standard", "deribit-pm", "derive-pmrm-v2", "fhs-var", "calibrated-portfolio")

# %%
import itertools
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator, PercentFormatter

from marginlab import (
    FlatRateModel,
    MarginLabWarning,
    MarketPath,
    available_models,
    calibrate,
    format_table,
    get_model,
    list_scenarios,
    models_from_parameters,
    point_in_time_models,
    replay,
    save_figure,
    scenario_path,
    simulate_cascade,
    synthetic_book,
)
from marginlab.analysis.book import gross_notional_usd
from marginlab.analysis.cascade import SquareRootImpact
from marginlab.analysis.synthetic import describe_book, strategies_for_models

sns.set_theme(style="whitegrid")
pd.set_option("display.width", 160)
OUTPUT_DIR.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## The scenario library
#
# Named historical windows (daily bars; one hourly window where the hourly file has data) and
# hypothetical instant shocks. `marginlab stress-test --list` prints the same table.

# %%
list_scenarios()

# %% [markdown]
# ## 12 March 2020: a naive 10× long book under four margin models
#
# The book: seeded long BTC perpetuals at 10× leverage, opened at the first step of the window
# (the 2020-03-09 open). The models:
#
# * `naive-isolated-10x`: $IM = 10\%$, $MM = 5\%$ of notional (a flat reference model);
# * `hyperliquid`: $IM = $ notional / leverage chosen (10×), $MM$ = half the IM at the asset's maximum leverage (E1);
# * `calibrated-isolated`: the rates of a parameter file calibrated with data up to 2020-03-11
#   (GARCH forecast → stress range → maintenance and initial rates);
# * `deribit-pm`: Deribit portfolio margin, worst loss over spot $\pm 16\%$ (C3), a conservative PM.

# %%
with warnings.catch_warnings():
    warnings.simplefilter("ignore", MarginLabWarning)
    parameters = calibrate(["BTC"], CALIBRATION_DATE, rng=SEED, progress=False)
calibrated = models_from_parameters(parameters)["calibrated-isolated"]
models = {
    "naive-isolated-10x": FlatRateModel(0.10, 0.05),
    "hyperliquid": get_model("hyperliquid"),
    "calibrated-isolated": calibrated,
    "deribit-pm": get_model("deribit-pm"),
}
path = scenario_path(SCENARIO, ["BTC"], substeps=SUBSTEPS)
book = synthetic_book(ACCOUNTS, path.snapshot(0), rng=SEED, strategies={"long_perp": 1}, leverage_choices=(10,), assets=["BTC"])
print(f"{len(path)} steps from {path.times[0]} to {path.times[-1]}; vol source {dict(path.vol_source)}")
describe_book(book).head()

# %%
covid = replay(book, models, path, funding=1.0)
covid_table = covid.summary()
format_table(covid_table[["capital_demanded_usd", "accounts_liquidated", "accounts_fully_liquidated", "shortfall_usd", "fund_drawdown_usd",
                          "adl_usd", "bad_debt_usd"]], counts=["accounts_liquidated", "accounts_fully_liquidated"], decimals=0)

# %% [markdown]
# Reading the table: the naive 10× model and Hyperliquid demand the least capital (10% of notional)
# and every account ends fully liquidated with a deficit: the 12 March leg from 7,969 to 4,644 USD
# falls faster per sub-step than their 5% (naive) or 1.25% (Hyperliquid) maintenance buffer. The
# calibrated and portfolio models ask for more capital; their accounts are cut down by partial
# liquidations as the price slides and leave much less shortfall. (`deribit-pm` as preset here asks
# the same amount for initial and maintenance margin, so accounts funded at exactly IM start at a
# ratio of 1 and are trimmed at the first step: "liquidated" counts partial liquidations too; the
# full-liquidation column separates them.) The chart puts the two axes together.

# %%
fig, ax = plt.subplots(figsize=(8, 5))
covid.plot_tradeoff(ax=ax)
ax.set_xlabel("capital demanded before the event: total initial margin (USD)")
ax.set_ylabel("shortfall beyond margin (USD)")
plt.tight_layout()
save_figure(fig, "05_efficiency_vs_safety")
plt.show()

# %%
steps = covid.steps
fig, axes = plt.subplots(2, 1, figsize=(10, 6.5), sharex=True, gridspec_kw={"height_ratios": [1, 1.2]})
first = steps[steps["model"] == next(iter(models))]
axes[0].plot(first["step"], first["BTC_usd"], color="black", marker=".")
axes[0].set_ylabel("BTC index (USD)")
axes[0].set_title(f"{SCENARIO}: price path and share of accounts still open, per model")
open_share = steps.pivot(index="model", columns="step", values="accounts_with_positions").loc[list(models)] / ACCOUNTS
sns.heatmap(open_share, ax=axes[1], cmap="viridis", vmin=0, vmax=1, cbar_kws={"label": "share of accounts open", "format": PercentFormatter(1.0)})
axes[1].set_ylabel("")
ticks = np.arange(0, len(first), 6)
axes[1].set_xticks(ticks + 0.5)
axes[1].set_xticklabels([f"{t:%d %b %H:%M}" for t in pd.to_datetime(first["time"]).iloc[ticks]], rotation=45, ha="right")
axes[1].set_xlabel("time (UTC)")
plt.tight_layout()
plt.show()

# %% [markdown]
# The event log is deterministic and complete: one row per action (time, account, action, symbol,
# quantity, price, fee, deficit, transfer, fund balance). The first rows of the calibrated model's log:

# %%
log = covid.events
log[log["model"] == "calibrated-isolated"].head(8)[["time", "account_id", "action", "quantity", "price_usd", "fee_usd", "deficit_usd", "margin_ratio"]]

# %% [markdown]
# ## Every crash of the library, every preset, on an exchange-sized book
#
# The book engine (`replay(engine="book")`, the default) margins every account of the book in one
# vectorised call per step and model and liquidates on arrays; it reproduces the per-account engine
# event for event (tested for every preset). That makes it practical to replay a **1,000-account book**
# through **every historical crash** of the library under **every preset**, and a **10,000-account book**
# through the 2025-10-10 cascade (FAST: a few hundred each).
#
# No model sees the future: `point_in_time_models` calibrates the `calibrated-*` presets with data up to
# the day before each window starts, and rebuilds `fhs-var` at every step from the history before it;
# the venue presets have fixed published parameters. One seeded book per crash, opened at the window's
# first step, holds the strategies every preset can margin (perpetuals and basis trades: several venues
# list no options); traders post exactly each model's initial margin. Only the summaries, the step
# table and the liquidation volume of each replay are kept (the full event log of 10,000 accounts x
# 20 models is large; `marginlab stress-test --out events.parquet` writes it for one model).

# %%
library_presets = list(available_models()["name"])
if FAST:
    library_presets = [name for name in library_presets if name in LIBRARY_PRESETS_FAST]
crashes = list_scenarios().query("kind == 'historical'")["name"].tolist()
if FAST:
    crashes = crashes[:2]

library_summary, library_steps, library_volume, library_notional = {}, {}, {}, {}
for crash in crashes:
    crash_path = scenario_path(crash, ["BTC", "ETH"], substeps=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarginLabWarning)  # short-history notes of the eve-of-crash calibration
        crash_models = point_in_time_models(crash_path, library_presets, rng=SEED)
    accounts = CASCADE_2025_ACCOUNTS if crash == "oct-2025-10-10" else LIBRARY_ACCOUNTS
    crash_book = synthetic_book(accounts, crash_path.snapshot(0), rng=SEED + 4,
                                strategies=strategies_for_models(list(crash_models.values()), crash_path))
    result = replay(crash_book, crash_models, crash_path, funding=1.0)
    library_summary[crash] = result.summary()
    library_steps[crash] = result.steps
    library_volume[crash] = result.liquidation_volume()
    library_notional[crash] = gross_notional_usd(crash_book, crash_path.snapshot(0))
    del result
crash_table = pd.concat(library_summary, names=["scenario", "model"])
crash_table["gross_notional_usd"] = [library_notional[crash] for crash in crash_table.index.get_level_values("scenario")]
crash_table["capital_share_of_notional"] = crash_table["capital_demanded_usd"] / crash_table["gross_notional_usd"]
crash_table["shortfall_share_of_capital"] = crash_table["shortfall_usd"] / crash_table["capital_demanded_usd"]
crash_table["liquidated_share_of_accounts"] = crash_table["accounts_liquidated"] / crash_table["accounts"]
print(f"{len(crashes)} crashes x {len(library_presets)} presets, {LIBRARY_ACCOUNTS:,} accounts per book "
      f"({CASCADE_2025_ACCOUNTS:,} for oct-2025-10-10)")
capital_by_crash = crash_table["capital_share_of_notional"].unstack("scenario")[crashes].reindex(library_presets)
format_table(capital_by_crash, percent=crashes, percent_decimals=1)

# %% [markdown]
# The table above is the **capital each preset demanded** at the window's open, as a share of the book's
# gross notional (the same book for every preset of a crash). Below, what it let through: the
# **shortfall** (deficits once positions are closed) as a share of that capital, and the share of
# accounts the ladder touched. The venue presets that set initial margin equal to maintenance margin
# (`deribit-pm`, `deribit-pm-legacy`, `deribit-futures-pm`, `span-example`) start every account at a
# margin ratio of 1 when traders post exactly the initial margin, so every account is trimmed at the first
# step: a convention of the funding, not of the crash. Every number of every (crash, preset) pair is in
# `05_crash_library_summary.csv`.

# %%
shortfall_by_crash = crash_table["shortfall_share_of_capital"].unstack("scenario")[crashes].reindex(library_presets)
format_table(shortfall_by_crash, percent=crashes, percent_decimals=2)

# %%
liquidated_by_crash = crash_table["liquidated_share_of_accounts"].unstack("scenario")[crashes].reindex(library_presets)
format_table(liquidated_by_crash, percent=crashes, percent_decimals=0)

# %% [markdown]
# **Capital demanded against shortfall, per crash.** One panel per crash; each preset keeps its colour
# and marker across panels; axes are in % of the book's gross notional at the start so that crashes
# compare. Lower-left is efficient and safe; a model far to the right buys safety with capital.
# The book holds perpetuals and basis trades, mostly one position per account, so a venue's cross preset
# and its isolated preset often ask for the same margin and land on the same point (e.g. `hyperliquid`
# and `hyperliquid-cross`): the markers then overlap by construction, not by a plotting accident.

# %%
palette = dict(zip(library_presets, sns.color_palette("tab20", len(library_presets))))
markers = dict(zip(library_presets, itertools.cycle("osD^vP*Xhp<>")))
columns = min(3, len(crashes))
rows_n = int(np.ceil(len(crashes) / columns))
fig, axes = plt.subplots(rows_n, columns, figsize=(5.4 * columns, 4.2 * rows_n), squeeze=False)
for k, (ax, name) in enumerate(zip(axes.flat, crashes)):
    table = library_summary[name]
    notional = library_notional[name]
    for model, row in table.iterrows():
        ax.scatter(100 * row["capital_demanded_usd"] / notional, 100 * row["shortfall_usd"] / notional, color=palette[model],
                   marker=markers[model], s=70, label=model, edgecolor="black", linewidth=0.4)
    ax.set_title(f"{name} ({int(table['accounts'].iloc[0]):,} accounts)", fontsize=10)
    ax.set_xlabel("capital demanded (% of gross notional)" if k >= len(crashes) - columns else "")
    ax.set_ylabel("shortfall (% of gross notional)" if k % columns == 0 else "")
for ax in list(axes.flat)[len(crashes):]:
    ax.axis("off")
handles, labels = axes.flat[0].get_legend_handles_labels()
fig.legend(handles, labels, loc="lower center", ncol=min(5, len(labels)), fontsize=8, frameon=False)
fig.tight_layout(rect=(0, 0.12, 1, 1))
plt.show()

# %% [markdown]
# **The insurance fund and the liquidation volume, step by step (headline crash).** One row per preset,
# one column per step of the window, under the index path: the fund starts empty, takes the liquidation
# fees and pays deficits (its balance in USD million); the liquidation volume is the notional the
# preset's ladder closed at each step (the liquidation "rounds" of the replay), in USD on a log colour
# scale so that small and large volumes both show.

# %%
headline = crashes[0]
steps_all = library_steps[headline]
first_model = steps_all[steps_all["model"] == library_presets[0]]
times = pd.to_datetime(first_model["time"]).to_numpy()
fund = steps_all.pivot(index="model", columns="step", values="fund_balance_usd").reindex(library_presets) / 1e6
volume = library_volume[headline].reindex(index=library_presets).fillna(0.0)
fig, grid = plt.subplots(3, 2, figsize=(11.5, 13), gridspec_kw={"height_ratios": [0.6, 1.3, 1.3], "width_ratios": [1, 0.025]})
axes, bars = grid[:, 0], grid[:, 1]
bars[0].axis("off")
for asset, colour in (("BTC", "black"), ("ETH", "tab:blue")):
    axes[0].plot(np.arange(len(times)) + 0.5, first_model[f"{asset}_usd"] / first_model[f"{asset}_usd"].iloc[0] * 100, marker=".",
                 color=colour, label=asset)
axes[0].set_xlim(0, len(times))
axes[0].set_xticks([])
axes[0].set_ylabel("index (first step = 100)")
axes[0].set_title(f"{headline}: index path, insurance fund and liquidation volume per preset")
axes[0].legend(fontsize=8)
sns.heatmap(fund, ax=axes[1], cbar_ax=bars[1], cmap="Greens", cbar_kws={"label": "insurance fund (USD million)"}, xticklabels=False)
axes[1].set_xlabel("")
axes[1].set_ylabel("")
sns.heatmap(np.log10(volume.clip(lower=1.0)), ax=axes[2], cbar_ax=bars[2], cmap="magma_r", cbar_kws={"label": "log10 liquidated notional (USD)"})
ticks = np.arange(0, len(times), 3)
axes[2].set_xticks(ticks + 0.5)
axes[2].set_xticklabels([f"{pd.Timestamp(t):%d %b %H:%M}" for t in times[ticks]], rotation=45, ha="right")
axes[2].set_xlabel("time (UTC)")
axes[2].set_ylabel("")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Liquidation cascades: when liquidations move the price
#
# Liquidation orders hit the book and move the price by the square-root law
# $\Delta P / P = -k\,\sigma_{daily}\sqrt{Q/ADV}$, which can push further accounts under maintenance.
# $\sigma_{daily}$ and ADV are calibrated on the 30 days before 2020-03-12 (universe file, USD volume
# aggregated across venues). `adv_share` is the share of that aggregate volume a venue's liquidation
# engine actually reaches within one round; the aggregate is far larger than any single order book, so
# we show the sensitivity to it (a liquidation round lasts minutes, about 1/300 of a day, on one venue's
# book, a fraction of the aggregate: shares of $10^{-4}$ and below are the realistic range). The book:
# seeded long and short perpetuals at 2–20× leverage; the initial shock is −10%.

# %%
cascade_market = path.snapshot(0)
cascade_book = synthetic_book(CASCADE_ACCOUNTS, cascade_market, rng=SEED + 1, strategies={"long_perp": 3, "short_perp": 1},
                              assets=["BTC"], median_notional_usd=250_000)
rows = []
cascades = {}
for share in ADV_SHARES:
    impact = SquareRootImpact.from_data(["BTC"], "2020-03-12", window_days=30, adv_share=share)
    result = simulate_cascade(cascade_book, FlatRateModel(0.10, 0.05), cascade_market, impact, shock={"BTC": 0.90})
    cascades[share] = result
    summary = result.summary()
    prices = result.price_path["BTC"]
    rows.append({"adv_share": share, "adv_btc": impact.adv_units["BTC"], "sigma_daily": impact.sigma_daily["BTC"],
                 "depth_rounds": int(summary["depth_rounds"]), "accounts_liquidated": int(summary["accounts_liquidated"]),
                 "final_move_pct": 100 * (prices.iloc[-1] / cascade_market.index_usd("BTC") - 1), "bad_debt_usd": summary["bad_debt_usd"]})
cascade_table = pd.DataFrame(rows)
shown = cascade_table.assign(final_move=cascade_table["final_move_pct"] / 100).drop(columns="final_move_pct")
shown.index = [f"{share:g}" for share in shown.pop("adv_share")]
shown.index.name = "adv_share"
format_table(shown, percent=["sigma_daily", "final_move"], counts=["depth_rounds", "accounts_liquidated"], decimals=0)

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
width = 0.8 / len(cascades)
for k, (share, result) in enumerate(cascades.items()):
    prices = result.price_path["BTC"]
    axes[0].plot(prices.index, prices.to_numpy(), marker="o", label=f"adv_share {share:g}")
    closes = result.events[result.events["action"].isin(["partial_liquidation", "full_liquidation"])]
    volume = closes.groupby("round")["notional_usd"].sum()
    axes[1].bar(volume.index + (k - (len(cascades) - 1) / 2) * width, volume.to_numpy() / 1e6, width=width, label=f"adv_share {share:g}")
for ax in axes:
    ax.set_xlabel("cascade round")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
axes[0].set_ylabel("BTC price at which the round's liquidations fill (USD)")
axes[0].set_title("Liquidation cascade after a -10% shock: price by round")
axes[0].legend()
axes[1].set_ylabel("liquidated notional (USD million)")
axes[1].set_title("liquidation volume by round")
axes[1].legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# With the whole aggregate volume available the impact is negligible and the cascade stops after the
# accounts the shock itself broke (depth 1). As the reachable liquidity shrinks, each round's forced selling
# moves the price enough to break the next layer of leverage: the cascade gets deeper and the final
# move is a multiple of the initial shock.
#
# ## The insurance fund and ADL
#
# The same naive 10× model, a book of longs and shorts at 5–20× opened at the **open of 12 March
# 2020**, replayed through the crash day and the days after with insurance funds of different sizes
# (as % of the book's notional at the start). The fund takes the liquidation fees and pays deficits;
# when it runs dry, profitable shorts are auto-deleveraged at the bankruptcy price; what neither
# covers is bad debt.

# %%
crash = MarketPath(path.prices_usd.loc["2020-03-12":], path.vols.loc["2020-03-12":], path.vol_source, "covid crash day")
mixed = synthetic_book(8 if FAST else 16, crash.snapshot(0), rng=SEED + 2, strategies={"long_perp": 2, "short_perp": 1},
                       leverage_choices=(5, 10, 20), assets=["BTC"])
book_notional = sum(abs(p.quantity) * crash.prices_usd["BTC"].iloc[0] for a in mixed for p in a.positions)
fund_rows, fund_paths = [], {}
for pct in FUND_SIZES_PCT:
    result = replay(mixed, {"naive-isolated-10x": FlatRateModel(0.10, 0.05)}, crash, insurance_fund_usd=pct / 100 * book_notional)
    row = result.summary().iloc[0]
    fund_rows.append({"fund_pct_of_notional": pct, **row[["shortfall_usd", "fund_drawdown_usd", "adl_usd", "bad_debt_usd", "fees_usd", "fund_after_usd"]].to_dict()})
    fund_paths[pct] = result.steps
fund_table = pd.DataFrame(fund_rows)
format_table(fund_table.set_index(fund_table["fund_pct_of_notional"].map(lambda pct: f"{pct:g}% of notional")).drop(columns="fund_pct_of_notional")
             .rename_axis("fund at start"), decimals=0)

# %%
fig, ax = plt.subplots(figsize=(9, 4))
for pct, frame in fund_paths.items():
    ax.step(frame["time"], frame["fund_balance_usd"], where="post", label=f"fund at start {pct:g}% of notional")
ax.set_xlabel("time (UTC)")
ax.set_ylabel("insurance fund balance (USD)")
ax.set_title("Insurance fund from the 12 March 2020 open")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Hypothetical shocks on a mixed book with options
#
# A seeded book of the full strategy mix (perpetuals, basis trades, covered calls, short strangles,
# spreads) on BTC and ETH at the last common data day, through the library's instant shocks, under
# Deribit standard (isolated, C1/C2) and Deribit portfolio margin (C3).

# %%
hypothetical_rows = []
for scenario in ("btc-minus-40pct-instant", "crypto-minus-30pct-instant", "vol-doubling", "crash-and-vol-spike"):
    shock_path = scenario_path(scenario, ["BTC", "ETH"])
    shock_book = synthetic_book(6 if FAST else 20, shock_path.snapshot(0), rng=SEED + 3)
    result = replay(shock_book, {"deribit-standard": get_model("deribit-standard"), "deribit-pm": get_model("deribit-pm")}, shock_path, funding=1.0)
    table = result.summary()[["capital_demanded_usd", "accounts_liquidated", "shortfall_usd", "bad_debt_usd"]]
    hypothetical_rows.append(table.assign(scenario=scenario).reset_index())
hypothetical = pd.concat(hypothetical_rows, ignore_index=True).set_index(["scenario", "model"])
format_table(hypothetical, counts=["accounts_liquidated"], decimals=0)

# %% [markdown]
# ## Checks
#
# Independent expectations (not re-runs of the code): BTC fell 42% from the 2020-03-09 open to the
# 2020-03-12 low, far beyond a 5% maintenance buffer, so every naive 10× account must be fully
# liquidated with a shortfall; models that demand more capital up front must leave less shortfall;
# the fund can never be negative; the square-root law with more liquidity cannot produce a deeper cascade.

# %%
naive = covid_table.loc["naive-isolated-10x"]
assert naive["accounts_fully_liquidated"] == ACCOUNTS
assert naive["shortfall_usd"] > 0
for name in ("calibrated-isolated", "deribit-pm"):
    assert covid_table.loc[name, "capital_demanded_usd"] > naive["capital_demanded_usd"]
    assert covid_table.loc[name, "shortfall_usd"] < naive["shortfall_usd"]
assert (covid.steps["fund_balance_usd"] >= 0).all()
# the least liquidity gives a cascade at least as deep, and a larger final move, than all the liquidity
assert cascade_table["depth_rounds"].iloc[-1] >= cascade_table["depth_rounds"].iloc[0]
assert cascade_table["final_move_pct"].iloc[-1] < cascade_table["final_move_pct"].iloc[0] <= -10 + 1e-9
assert (fund_table["bad_debt_usd"].diff().dropna() <= 1e-6).all()  # a bigger fund never leaves more bad debt
assert (fund_table["adl_usd"].diff().dropna() <= 1e-6).all()  # ... nor more ADL
# every deficit is paid by the fund, recovered by ADL or reported as bad debt
np.testing.assert_allclose(fund_table["shortfall_usd"], fund_table["fund_drawdown_usd"] + fund_table["adl_usd"] + fund_table["bad_debt_usd"], rtol=1e-9)
# the crash library: every (crash, preset) replayed; the fund never negative; every deficit paid, ADL'd or bad debt
assert len(crash_table) == len(crashes) * len(library_presets)
expected_accounts = np.where(crash_table.index.get_level_values("scenario") == "oct-2025-10-10", CASCADE_2025_ACCOUNTS, LIBRARY_ACCOUNTS)
assert (crash_table["accounts"].to_numpy() == expected_accounts).all()
assert (crash_table["fund_after_usd"] >= -1e-6).all()
np.testing.assert_allclose(crash_table["shortfall_usd"], crash_table["fund_drawdown_usd"] + crash_table["adl_usd"] + crash_table["socialised_usd"]
                           + crash_table["bad_debt_usd"], rtol=1e-6, atol=1e-3)
# 12 March 2020 fell 42% from the window's open: every preset liquidated accounts of the headline book
assert (crash_table.loc[crashes[0], "accounts_liquidated"] > 0).all()
covid_table.to_csv(OUTPUT_DIR / "05_covid_replay_summary.csv")
crash_table.to_csv(OUTPUT_DIR / "05_crash_library_summary.csv")
print("checks passed")
