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
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 — Stress ranges, collateral haircuts and the calibrated parameter file
#
# This notebook is the specification of the calibration that feeds the margin models:
#
# 1. **Price scan ranges over time** from the recommended methodology's own `StressRangeModel`
#    (`Methodology().stress_range_model()`: filtered historical simulation on the methodology's EWMA volatility with a
#    rolling 1,000-day residual pool) and the effect of its **anti-procyclicality tool** (a slow-EWMA floor applied
#    *before* smoothing the requirement) on the level and the procyclicality of the range.
# 2. **Collateral haircuts** (`marginlab.calibration.haircuts.HaircutModel`) over time and today, with the
#    **liquidity add-on**, against the usual **industry tiers**.
# 3. **Stablecoin depegs**: the history (UST/USTC, USDN, HUSD, USDC...) and the depeg treatment
#    (`marginlab.calibration.depeg.DepegModel`).
# 4. The **parameter file** (`calibrated_parameters.yaml`, the deliverable): written, validated against its JSON
#    schema, re-loaded, and used to margin a sample account with the calibrated isolated / cross / portfolio models.
#    Every number of the file comes from the objects of this notebook (`marginlab.calibration.calibrate`), and the file
#    holds the whole methodology.
#
# ## The haircut, precisely
#
# For an asset with daily log returns $r_t$ up to the as-of date $T$:
#
# * the methodology's volatility model (an EWMA whose decay is smaller after a fall; GARCH-family fits are available as
#   options of `VolatilitySpec`) gives standardised residuals $z_t = r_t/\sigma_t$ and the forecast path
#   $\sigma_{T+1}, \dots, \sigma_{T+h}$;
# * filtered historical simulation: $R^{(i)} = \sum_{k=1}^{h} \sigma_{T+k}\, z^{(i)}_k$ with $z^{(i)}_k$ drawn with replacement
#   from the residuals ($n$ = 20,000 paths, zero drift); the price drop is $D = 1 - e^{R}$;
# * market risk $= \mathrm{ES}_{99\%}(D)$ over the liquidation horizon $h = 3$ days (the mean of the worst 1% of drops);
# * liquidity add-on (square-root impact, Almgren et al. 2005; Tóth et al. 2011):
#   $\text{add-on} = k\,\sigma_{\text{daily}}\sqrt{\text{size}_{USD}/\text{ADV}_{USD}}$ with $k = 1$ (literature 0.5–1) and
#   ADV the mean USD volume of the last 30 days;
# * stablecoins: depeg risk, a mixture calibrated on 16 stablecoins pooled — a depeg episode starts on a close below
#   0.98; intensity $\lambda$ = episodes per coin-year, $p_h = 1 - e^{-\lambda h / 365}$; loss given depeg = worst drop
#   of the close within $h$ days of the start relative to the last close before; the haircut is the 99% ES of
#   "normal-regime $h$-day drop with probability $1-p_h$, loss given depeg with probability $p_h$". A coin already off its
#   peg takes the ES of forward drops observed from depegged states, and its own (EWMA) market ES;
# * **haircut** $= \min\big(1, \max(\text{market risk}, \text{depeg risk}) + \text{add-on}\big)$, mapped to tiers
#   ≤ 5%, ≤ 15%, ≤ 40%, ≤ 75%, not accepted.
#
# ## The rates in the parameter file
#
# Each rate is the last row of one `StressRangeModel` of the methodology fitted to the returns up to the as-of date
# (`scan_down` $= 1 - e^{\sigma_h q_{1-\alpha}}$, `scan_up` $= e^{\sigma_h q_\alpha} - 1$ with $q$ the quantiles of the
# rolling pool of standardised $h$-day shocks):
#
# * maintenance rate: $\max(\text{scan\_down}, \text{scan\_up})$ of `stress_range_model(1, 0.99)` (the loss while the
#   position is liquidated); initial rate: the same with `stress_range_model(2, 0.99)`, never below maintenance;
# * price scan range: `stress_range_model()` (the methodology's scan horizon and confidence, with its anti-procyclicality
#   tool);
# * volatility shocks of 30-day implied vol: 99% quantiles of 2-day log changes of Deribit DVOL (BTC, ETH); other assets:
#   their realised-vol changes scaled by the BTC/ETH implied-to-realised ratio, capped (`vol_shock_30d`). At another
#   expiry, $\text{shock}(\text{DTE}) = \text{shock}_{30d}\,(30/\text{DTE})^p$ with $p$ = the short-tenor power (0.30) for
#   DTE ≤ 30 days and the long-tenor power (0.13) beyond, for up and down shocks alike (set, not estimated: DVOL has one
#   tenor);
# * extreme moves: the GPD tail of the pool at 99.97% on the stressed volatility, never below the worst historical 2-day
#   move, capped at 100% (fall) and 500% (rise), counted at 35% (SPAN's published cover).
#
# Only data up to the as-of date are used.

# %%
import os
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import PercentFormatter

FAST = os.environ.get("MARGINLAB_FAST", "0") == "1"
ASOF = "2025-11-18"  # the last day every asset of the dataset has (Yahoo coins end 2025-11-19)
ASSETS = ["BTC", "ETH", "USDC"] if FAST else ["BTC", "ETH", "SOL", "XRP", "DOGE", "LINK", "USDC", "USDT"]
RANGE_ASSETS = ["BTC"] if FAST else ["BTC", "ETH"]
RANGE_START = "2019-01-01" if FAST else "2018-01-01"
HISTORY_START = "2020-01-01"
SEED = 2026
OUTPUT_DIR = Path(os.environ.get("MARGINLAB_OUTPUT_DIR", "../reports/interactive"))  # by hand: not the main job's reports/
OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
sns.set_theme(style="whitegrid")
pd.set_option("display.width", 160)
pd.set_option("display.max_colwidth", 120)

# %%
from marginlab import (
    HaircutSpec,
    MarginLabWarning,
    Methodology,
    calibrate,
    format_table,
    models_from_parameter_file,
    procyclicality_table,
    save_figure,
)
from marginlab.calibration.depeg import DepegModel, load_stablecoin_history
from marginlab.calibration.haircuts import HaircutModel, load_haircut_inputs
from marginlab.margin.calibrated import calibrated_risk_matrix
from marginlab.parameters import load

# the recommended methodology (FAST: fewer haircut simulation paths, nothing else changes)
methodology = Methodology().replace(haircut=HaircutSpec(n_simulations=5_000)) if FAST else Methodology()

warnings.simplefilter("ignore", MarginLabWarning)  # fits that warn are recorded in the results' status columns
prices, volumes = load_haircut_inputs(ASSETS, ASOF)
stable_history = load_stablecoin_history(ASOF)
prices.tail(3)

# %% [markdown]
# ## 1. Price scan ranges over time and anti-procyclicality
#
# `methodology.stress_range_model()` is the scan-range model of the parameter file: for each day, the move at the scan
# horizon and confidence from the EWMA forecast made with data up to the day before, then the methodology's one
# anti-procyclicality tool (EMIR RTS 153/2013 art. 28 style): a floor at the same quantile on a slow EWMA volatility,
# applied *before* an EWMA smoothing of the requirement, so that a jump of the floor is phased in too. The base is the
# same model without the tool.

# %%
h, confidence = methodology.rates.scan_horizon_days, methodology.rates.scan_confidence
print(f"scan range: {h}-day {confidence:.1%}; tool {methodology.anti_procyclicality.tool!r} "
      f"(lambda {methodology.anti_procyclicality.smoothing_lambda}), floor {methodology.anti_procyclicality.floor!r}")
ranges = {}
for asset in RANGE_ASSETS:
    returns = np.log(prices[asset].dropna()).diff().dropna().loc[RANGE_START:]
    base = methodology.stress_range_model(anti_procyclicality=False, extreme_moves="none").fit(returns)
    damped = methodology.stress_range_model(extreme_moves="none").fit(returns)
    ranges[asset] = {"base (FHS)": base, "anti-procyclical": damped}

fig, axes = plt.subplots(len(RANGE_ASSETS), 1, figsize=(11, 3.6 * len(RANGE_ASSETS)), squeeze=False)
for ax, asset in zip(axes[:, 0], RANGE_ASSETS):
    for label, result in ranges[asset].items():
        ax.plot(result.frame.index, result.frame["scan_range"], label=label, lw=1)
    ax.set_title(f"{asset}: {h}-day {confidence:.1%} price scan range")
    ax.set_ylabel("scan range (% of price)")
    ax.set_xlabel("date (UTC)")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.legend()
fig.tight_layout()
save_figure(fig, "04_scan_ranges")

# %%
procyclicality = procyclicality_table(
    {f"{asset} {label}": result.frame["scan_range"] for asset, pair in ranges.items() for label, result in pair.items()},
    increase_days=(1, 5, 30),
)
format_table(procyclicality[["average_rate", "peak_rate", "trough_rate", "peak_to_trough", "max_increase_5d", "max_increase_30d"]], decimals=3)

# %% [markdown]
# The anti-procyclical range is higher on average (the slow floor costs margin when volatility falls) but its
# peak-to-trough ratio and its largest increases are smaller: a member is asked for less extra margin at the worst
# moment. That is the trade-off the tool is designed for; notebook 06 measures it against the issue-5 targets.

# %% [markdown]
# ## 2. Haircuts over time
#
# The methodology's haircut model (`methodology.haircut_model()`) re-calibrated at regular dates (data up to each date
# only): quarterly in FAST mode, monthly otherwise.

# %%
history_dates = pd.date_range(HISTORY_START, ASOF, freq="QS" if FAST else "MS", tz="UTC")
history_model = methodology.haircut_model()
haircut_history = history_model.history(prices, history_dates, volumes, stablecoin_history=stable_history, rng=SEED)

fig, ax = plt.subplots(figsize=(11, 4))
for asset in haircut_history.columns:
    ax.plot(haircut_history.index, haircut_history[asset], marker=".", lw=1, label=asset)
for low, high, colour in [(0.0, 0.05, "tab:green"), (0.10, 0.15, "tab:blue"), (0.25, 0.40, "tab:orange")]:
    ax.axhspan(low, high, color=colour, alpha=0.08)
ax.set_ylabel("haircut (% of collateral value)")
ax.set_xlabel("calibration date (UTC)")
ax.set_title("3-day 99% ES haircuts re-calibrated over time (bands: industry tiers 0-5%, 10-15%, 25-40%)")
ax.yaxis.set_major_formatter(PercentFormatter(1.0))
ax.legend(ncol=4)
fig.tight_layout()

# %% [markdown]
# ## 3. Stablecoin depegs: history and treatment

# %%
depeg = DepegModel(horizon_days=3, confidence=0.99).fit(stable_history)
print(depeg.summary().split("\n\n")[0])
episodes = depeg.episodes.sort_values("max_drawdown_from_peg", ascending=False)
format_table(episodes.head(12), percent=["loss_given_depeg", "max_drawdown_from_peg"], decimals=4, hide_index=True)

# %%
fig, ax = plt.subplots(figsize=(11, 4))
for symbol in ["USTC", "USDN", "HUSD", "USDC", "USDT", "DAI"]:
    series = stable_history[stable_history["symbol"] == symbol].set_index("timestamp")["close"]
    ax.plot(series.index, series, lw=1, label=symbol)
ax.axhline(0.98, color="grey", ls="--", lw=0.8, label="depeg threshold 0.98")
ax.set_ylim(0, 1.1)
ax.set_ylabel("price (USD)")
ax.set_xlabel("date (UTC)")
ax.set_title("Stablecoin closes: UST collapse (2022-05), USDN and HUSD depegs, USDC 2023-03")
ax.legend(ncol=4)
fig.tight_layout()

# %% [markdown]
# **UST through its collapse.** A stablecoin on its peg gets the depeg-mixture haircut (a few percent); once it trades
# below 0.98 it is treated as a volatile asset, and its haircut jumps with its EWMA volatility.

# %%
ust_prices = stable_history[stable_history["symbol"] == "USTC"].set_index("timestamp")["close"].rename("USTC").to_frame()
ust_dates = pd.date_range("2022-05-02", "2022-05-16", freq="D", tz="UTC")
ust_model = HaircutModel(horizon_days=3, n_simulations=5_000)
ust_path = pd.DataFrame(
    {d: ust_model.fit(ust_prices, asof=d, stablecoin_history=stable_history, rng=SEED).table.loc["USTC", ["price_usd", "haircut"]] for d in ust_dates}
).T.astype(float)

fig, ax = plt.subplots(figsize=(9, 3.5))
ax.plot(ust_path.index, ust_path["haircut"], marker="o", label="haircut")
ax.plot(ust_path.index, 1 - ust_path["price_usd"], marker="x", ls="--", label="discount to peg (1 - price)")
ax.set_ylabel("% of face value")
ax.set_xlabel("as-of date (UTC)")
ax.yaxis.set_major_formatter(PercentFormatter(1.0))
ax.set_title("UST (USTC): haircut as of each day of May 2022")
ax.legend()
fig.tight_layout()
format_table(ust_path.rename_axis("as of").reset_index().assign(**{"as of": lambda f: f["as of"].dt.strftime("%Y-%m-%d")}),
             percent=["haircut"], decimals=4, hide_index=True)

# %% [markdown]
# ## 4. Haircuts today and the industry tiers

# %%
haircut_model = methodology.haircut_model()
haircuts = haircut_model.fit(prices, volumes, asof=ASOF, stablecoin_history=stable_history, rng=SEED)
print(haircuts.summary())

# %%
comparison = haircuts.compare_with_industry()
format_table(comparison, hide_index=True)

# %% [markdown]
# **Liquidity add-on by position size** (square-root impact): the haircut grows with the size of the collateral
# position relative to the asset's traded volume.

# %%
sizes = [1e5, 1e6, 1e7, 1e8, 1e9]
by_size = []
for size in sizes:
    table = haircut_model.fit(prices, volumes, asof=ASOF, sizes_usd=dict.fromkeys(ASSETS, size), stablecoin_history=stable_history,
                              volatility_fits=haircuts.volatility, rng=SEED).table
    by_size.append(table[["liquidity_add_on", "haircut"]].assign(size_usd=size).reset_index())
by_size = pd.concat(by_size, ignore_index=True)
fig, ax = plt.subplots(figsize=(8, 3.5))
sns.lineplot(data=by_size, x="size_usd", y="haircut", hue="asset", marker="o", ax=ax)
ax.set_xscale("log")
ax.set_xlabel("collateral position (USD, log scale)")
ax.set_ylabel("haircut (% of value)")
ax.yaxis.set_major_formatter(PercentFormatter(1.0))
ax.set_title("Haircut including the square-root liquidity add-on")
fig.tight_layout()

# %% [markdown]
# ## 5. The calibrated parameter file
#
# `calibrate` writes one record per asset (haircut, scan range, vol shocks, extreme move, maintenance and initial rates)
# with its provenance (data range, volatility model and its status, warnings), the file's provenance (dataset name and
# version, package version, as-of date, creation time) and the whole methodology. It is validated against
# `parameters.schema.json` on write and on read.

# %%
parameters = calibrate(ASSETS, ASOF, methodology, rng=SEED)
parameter_path = parameters.save(OUTPUT_DIR / "calibrated_parameters.yaml")
reloaded = load(parameter_path)  # validates against the schema again
print(reloaded.summary())
print(f"\nwritten to {parameter_path.name} in the reports folder")

# %%
pd.DataFrame({a: vars(reloaded.asset(a).provenance) for a in reloaded.assets}).T[["data_start", "data_end", "n_returns", "vol_model", "vol_status", "short_history"]]

# %% [markdown]
# **One meaning of the term-structure powers.** The vol shock at another expiry by the formula above, from the file, and
# the multipliers of the engine the portfolio model builds from the same file (`VolShock.shocked_vols` of the risk
# matrix) are the same numbers:

# %%
btc_shock = reloaded.asset("BTC").vol_shock
engine = calibrated_risk_matrix(reloaded, "BTC").vol_shock
term = []
for dte in (1, 7, 30, 90, 180):
    power = btc_shock.short_tenor_power if dte <= 30 else btc_shock.long_tenor_power
    formula_up, formula_down = btc_shock.up_30d * (30 / dte) ** power, min(btc_shock.down_30d * (30 / dte) ** power, 0.99)
    engine_up, engine_down = (float(v) for v in engine.shocked_vols(1.0, dte))
    term.append({"dte_days": dte, "vol_up (formula)": formula_up, "vol_up (engine)": engine_up - 1,
                 "vol_down (formula)": formula_down, "vol_down (engine)": 1 - engine_down})
term = pd.DataFrame(term).set_index("dte_days")
term.style.format("{:.1%}")

# %% [markdown]
# ## 6. Closing the loop: margin a sample account with the calibrated models
#
# The file configures three **existing engines** (`marginlab.margin.calibrated`): isolated margin with the calibrated
# rates, cross margin with the dynamic (volatility-scaled) haircuts, and the risk-matrix portfolio margin whose grid is the
# calibrated scan range, vol shocks and extreme moves. The sample account is long 2 BTC perpetual, short 20 ETH
# perpetual, holds 1 BTC and 50,000 USDC as collateral.

# %%
from marginlab import Account, MarketSnapshot, Perpetual, Position, get_model

last = prices.loc[:ASOF].ffill().iloc[-1]
market = MarketSnapshot.from_dict({"as_of": ASOF, "assets": {a: {"index_usd": float(last[a])} for a in ASSETS}})
account = Account(
    [Position(Perpetual("BTC"), 2.0), Position(Perpetual("ETH"), -20.0)],
    cash_usd=0.0,
    collateral={"BTC": 1.0, "USDC": 50_000.0},
)
models = models_from_parameter_file(parameter_path)
results = {name: model.margin(account, market) for name, model in models.items()}
try:
    results["deribit-cross (venue preset, for reference)"] = get_model("deribit-cross").margin(account, market)
except Exception as error:  # the venue preset may not accept every asset
    print(f"deribit-cross: {error}")
loop = pd.DataFrame({name: r.totals() for name, r in results.items()}).T
loop

# %% [markdown]
# The calibrated maintenance rate is a 99% **one-day** move (about 6% for BTC on the as-of date), far above a venue's 0.5–2% maintenance
# rates, which assume an automated liquidation within minutes, backed by an insurance fund and auto-deleveraging. The
# portfolio model charges the two perpetuals exactly their isolated rates here (no options, no cross-asset offsets),
# and the cross and portfolio models count the BTC and USDC collateral after their calibrated haircuts.

# %%
print(results["calibrated-portfolio"].summary())

# %% [markdown]
# ## Checks

# %%
btc_haircut = reloaded.asset("BTC").haircut
usdc_haircut = reloaded.asset("USDC").haircut
assert 0.08 <= btc_haircut <= 0.30, btc_haircut
assert usdc_haircut < 0.05, usdc_haircut
assert 0.03 < reloaded.asset("BTC").maintenance_rate < 0.10  # "about 6%" in the text
assert reloaded == parameters  # the file validates and round-trips
assert Methodology.from_dict(reloaded.methodology) == methodology  # the methodology is in the file
for asset in reloaded.assets:
    entry = reloaded.asset(asset)
    assert 0 < entry.maintenance_rate <= entry.initial_rate <= 1
    assert entry.provenance.data_end <= ASOF
# the notebook's term-structure formula and the engine give the same shocks (one meaning of the powers)
np.testing.assert_allclose(term["vol_up (formula)"], term["vol_up (engine)"], rtol=1e-12)
np.testing.assert_allclose(term["vol_down (formula)"], term["vol_down (engine)"], rtol=1e-12)
assert reloaded.asset("BTC").extreme_move.cover == 0.35  # SPAN's published cover
# UST: stablecoin-size haircut on its peg, (almost) no collateral value after the collapse
assert ust_path.loc["2022-05-02", "haircut"].item() < 0.06
assert ust_path.loc["2022-05-13", "haircut"].item() > 0.9
# anti-procyclicality lowers the peak-to-trough ratio of the BTC scan range
assert procyclicality.loc["BTC anti-procyclical", "peak_to_trough"] < procyclicality.loc["BTC base (FHS)", "peak_to_trough"]
# the calibrated models margin the sample account: a lone-perpetual-equivalent check and positive requirements
assert all(r.maintenance_margin_usd > 0 for r in results.values())
assert results["calibrated-cross"].maintenance_margin_usd == results["calibrated-isolated"].maintenance_margin_usd
# haircuts rise with position size (liquidity add-on)
assert (by_size.sort_values("size_usd").groupby("asset")["haircut"].apply(lambda s: s.is_monotonic_increasing)).all()
