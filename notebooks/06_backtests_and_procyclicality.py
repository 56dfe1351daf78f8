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
# # 06 — Backtests and procyclicality of every margin model over the whole history
#
# Two questions for every margin model, asked of the same position over the whole BTC history:
#
# 1. **Coverage.** Does the maintenance margin cover the next day's price move as often as it claims
#    (99%)? A long position loses more than its margin on day $d$ when the 1-day move
#    $e^{r_d} - 1 < -m_d$: an **exception**. With $n$ days and $x$ exceptions, the Kupiec test compares
#    $x/n$ with $p = 1\%$ ($LR_{pof} \sim \chi^2_1$), Christoffersen's test checks that exceptions do
#    not cluster ($LR_{ind} \sim \chi^2_1$, conditional coverage $LR_{cc} = LR_{pof} + LR_{ind} \sim \chi^2_2$),
#    and the Basel traffic light classifies each 250-day window (green 0–4, yellow 5–9, red 10+ exceptions
#    at 99%). Definitions: `marginlab.analysis.backtest`.
# 2. **Procyclicality.** How much does the margin rise in a crisis, when liquidity is scarcest? The
#    CPMI-IOSCO peak-to-trough ratio $\max m / \min m$ and the largest 1-, 5- and 30-day increases
#    (`marginlab.analysis.procyclicality`).
#
# **The position**: a long BTC perpetual of 100,000 USD notional (the quantity is re-set at each
# evaluation date, so size-dependent rates stay comparable). **The models**:
#
# * venue presets (`marginlab models`), whose rate for this position is computed by the model itself at
#   the first day of every month (evaluation grid below) and held for the month: Deribit standard (C1),
#   Hyperliquid (E1), Binance brackets (E2), dYdX (E3), Deribit PM (C3), OKX PM (G), Derive PMRM v2, SPAN
#   example (B);
# * adaptive (calibrated) ranges of `marginlab.calibration.stress_ranges`, recomputed every day from data up
#   to the day before: filtered historical simulation (GJR-GARCH with skewed-t, FHS quantiles), the same
#   with a GPD tail (EVT), the RiskMetrics EWMA-normal benchmark, and FHS with anti-procyclicality tools
#   (25% stressed weight and a 10-year look-back floor, EMIR art. 28 style).
#
# The margin rate is the maintenance margin as a fraction of notional (the loss a position may take
# before liquidation); the 1-day horizon is the liquidation time assumed.

# %%
import os
from pathlib import Path

FAST = os.environ.get("MARGINLAB_FAST", "0") == "1"
OUTPUT_DIR = Path(os.environ.get("MARGINLAB_OUTPUT_DIR", "../reports/interactive"))

ASSET = "BTC"
START = "2019-01-01" if FAST else "2016-01-01"  # first day of returns used (the GARCH needs 500 before forecasting)
END = None  # to the end of the data
NOTIONAL_USD = 100_000.0
ALPHA = 0.99
HORIZON_DAYS = 1
REFIT_EVERY_DAYS = 126 if FAST else 42
GRID = "QS" if FAST else "MS"  # evaluation grid of the venue presets (quarter / month starts)
PRESETS = ("deribit-standard", "hyperliquid", "binance-brackets", "dydx", "deribit-pm", "okx-pm", "derive-pmrm-v2", "span-example")
SEED = 0  # nothing random below; kept for the convention

# %%
import warnings

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from marginlab import (
    Account,
    MarginLabWarning,
    MarketSnapshot,
    Perpetual,
    Position,
    StressRangeModel,
    backtest_table,
    get_model,
    load_daily,
    log_returns,
    procyclicality_table,
)
from marginlab.analysis.backtest import horizon_moves
from marginlab.calibration.stress_ranges import AntiProcyclicality

sns.set_theme(style="whitegrid")
pd.set_option("display.width", 160)
OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
warnings.simplefilter("ignore", MarginLabWarning)

closes = load_daily(ASSET, START, END)["close"]
returns = log_returns(closes)
print(f"{ASSET}: {len(returns)} daily returns from {returns.index[0].date()} to {returns.index[-1].date()}")

# %% [markdown]
# ## Margin-rate series
#
# Venue presets: the model margins the 100,000 USD long at the grid date's close
# (maintenance / notional), held until the next grid date.

# %%
grid = pd.date_range(returns.index[0], returns.index[-1], freq=GRID, tz="UTC")
grid = grid[grid.isin(closes.index)]
preset_rates = {}
for name in PRESETS:
    model = get_model(name)
    values = []
    for day in grid:
        price = float(closes.loc[day])
        market = MarketSnapshot.from_dict({"as_of": day.to_pydatetime(), "assets": {ASSET: {"index_usd": price}}})
        account = Account((Position(Perpetual(ASSET), NOTIONAL_USD / price),), cash_usd=NOTIONAL_USD)
        values.append(model.margin(account, market).maintenance_margin_usd / NOTIONAL_USD)
    preset_rates[name] = pd.Series(values, index=grid).reindex(returns.index, method="ffill").dropna()
pd.DataFrame({name: [rates.min(), rates.max()] for name, rates in preset_rates.items()}, index=["min rate", "max rate"]).T

# %% [markdown]
# Adaptive ranges: one GARCH rolling forecast (refitted every `REFIT_EVERY_DAYS` days, no look-ahead)
# shared by the four methods. The long side's rate is `scan_down` $= 1 - e^{\mu + \sigma_{t} q_{1\%}}$.

# %%
base = StressRangeModel(confidence=ALPHA, horizon_days=HORIZON_DAYS, method="fhs", refit_every_days=REFIT_EVERY_DAYS, progress=False)
fhs = base.fit(returns)
adaptive_models = {
    "fhs": fhs,
    "evt": StressRangeModel(confidence=ALPHA, horizon_days=HORIZON_DAYS, method="evt", refit_every_days=REFIT_EVERY_DAYS, progress=False).fit(returns, garch=fhs.garch),
    "ewma-normal": StressRangeModel(confidence=ALPHA, horizon_days=HORIZON_DAYS, method="ewma-normal", refit_every_days=REFIT_EVERY_DAYS, progress=False).fit(returns, garch=fhs.garch),
    "fhs-anti-procyclical": StressRangeModel(
        confidence=ALPHA, horizon_days=HORIZON_DAYS, method="fhs", refit_every_days=REFIT_EVERY_DAYS, progress=False,
        anti_procyclicality=AntiProcyclicality(stressed_weight=0.25, lookback_floor_years=10),
    ).fit(returns, garch=fhs.garch),
}
adaptive_rates = {name: result.margin_rates("long") for name, result in adaptive_models.items()}

# Backtest every series on the same days (those with an adaptive rate)
common = adaptive_rates["fhs"].dropna().index
rates = {name: series.reindex(common) for name, series in {**preset_rates, **adaptive_rates}.items()}
print(f"backtest window: {common[0].date()} to {common[-1].date()} ({len(common)} days)")

# %%
fig, ax = plt.subplots(figsize=(11, 5))
moves = -horizon_moves(returns, HORIZON_DAYS).reindex(common)
ax.scatter(moves.index, moves.clip(lower=0), s=3, color="grey", alpha=0.5, label="realised 1-day fall")
for name in ("deribit-standard", "hyperliquid", "okx-pm", "fhs", "ewma-normal", "fhs-anti-procyclical"):
    ax.plot(rates[name].index, rates[name], lw=1, label=name)
ax.set_yscale("log")
ax.set_ylim(1e-3, 1)
ax.set_xlabel("date")
ax.set_ylabel("maintenance margin / notional (log scale, fraction)")
ax.set_title(f"{ASSET} long: margin rate against the next day's fall")
ax.legend(fontsize=8, ncol=2)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Coverage

# %%
coverage = backtest_table(returns, rates, horizon_days=HORIZON_DAYS, alpha=ALPHA, side="long")
coverage_view = coverage[["n_obs", "n_exceptions", "exception_rate", "average_margin_rate", "kupiec_p", "christoffersen_cc_p",
                          "green", "yellow", "red", "kupiec_rejected"]].sort_values("average_margin_rate")
coverage_view.round(4)

# %%
fig, ax = plt.subplots(figsize=(8, 5))
sns.scatterplot(data=coverage.reset_index(), x="average_margin_rate", y="exception_rate", hue="name", s=90, ax=ax, legend=False)
for name, row in coverage.iterrows():
    ax.annotate(name, (row["average_margin_rate"], row["exception_rate"]), fontsize=8, xytext=(5, 3), textcoords="offset points")
ax.axhline(1 - ALPHA, color="black", ls="--", lw=1, label=f"nominal {1 - ALPHA:.0%}")
ax.set_xscale("log")
ax.set_yscale("symlog", linthresh=1e-3)
ax.set_xlabel("average maintenance margin / notional (cost, log scale)")
ax.set_ylabel("share of days the 1-day fall exceeded the margin")
ax.set_title("Efficiency versus coverage, every model")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# Reading: the venue isolated presets (Deribit standard 1%, Hyperliquid 1.25%, Binance brackets, dYdX)
# are cheap and are exceeded far more often than 1% of days: their maintenance rates are not meant to
# cover a day's move (liquidation is expected within minutes, and the insurance fund takes the rest).
# The portfolio presets with fixed ranges (Deribit PM ±16%, OKX PM, Derive, SPAN) essentially never fail
# at one day (the one exception is 12 March 2020) but charge 16–24% of notional every day, calm or not.
# The adaptive ranges charge less on average and sit near the nominal 1%: that is the point of
# calibration, and the Kupiec and Christoffersen p-values say whether the claim survives. The
# EWMA-normal benchmark fails it (normal tails are too thin for BTC); the anti-procyclical variant
# over-covers (fewer exceptions than claimed, at a higher average rate), the price of stability.
#
# ## Procyclicality

# %%
procyclicality = procyclicality_table(rates, increase_days=(1, 5, 30))
procyclicality_view = procyclicality[["average_rate", "peak_rate", "peak_date", "trough_rate", "peak_to_trough", "max_increase_1d",
                                      "max_increase_5d", "max_increase_30d"]].sort_values("peak_to_trough")
procyclicality_view.round({c: 3 for c in procyclicality_view.columns if c != "peak_date"})

# %%
table = coverage[["exception_rate", "average_margin_rate"]].join(procyclicality[["peak_to_trough", "max_increase_5d"]])
fig, ax = plt.subplots(figsize=(8, 5))
sns.scatterplot(data=table.reset_index(), x="peak_to_trough", y="exception_rate", size="average_margin_rate", sizes=(30, 300), ax=ax, legend=False)
for name, row in table.iterrows():
    ax.annotate(name, (row["peak_to_trough"], row["exception_rate"]), fontsize=8, xytext=(5, 3), textcoords="offset points")
ax.set_xscale("log")
ax.set_xlabel("peak-to-trough ratio of the margin rate (procyclicality, log scale)")
ax.set_ylabel("exception rate (1-day, long)")
ax.set_title("Coverage versus procyclicality (marker size: average rate)")
plt.tight_layout()
plt.show()

# %% [markdown]
# The adaptive models buy their coverage with procyclicality: the margin multiplies in a crisis (the
# peak is at the March 2020 or an earlier crash), exactly when traders are least able to post it. The
# anti-procyclicality tools (stressed weight, look-back floor) cut the peak-to-trough ratio at the price
# of a higher average rate in calm markets. Fixed-rate presets have a ratio of about 1 by construction.
#
# ## Checks
#
# Independent expectations: a 1% rate is exceeded on more than 1% of days by BTC (its daily volatility
# is about 3-4%, so a 1% fall happens on roughly a third of days); a fixed ±16% range (Deribit PM) is
# exceeded on very few days (BTC fell more than 16% in a day only a handful of times since 2016: March
# 2020); fixed-rate presets have peak-to-trough near 1; the anti-procyclical variant has a lower
# peak-to-trough than plain FHS.

# %%
assert coverage.loc["deribit-standard", "exception_rate"] > 0.10
assert coverage.loc["deribit-standard", "kupiec_rejected"]
# MM = mm_factor 0.8 x the +-16% loss (venues/deribit-pm.yaml): exactly the days BTC fell more than 12.8% (11 from 2016)
assert coverage.loc["deribit-pm", "n_exceptions"] == int((-horizon_moves(returns, HORIZON_DAYS).reindex(common) > 0.8 * 0.16).sum())
assert abs(procyclicality.loc["deribit-pm", "peak_to_trough"] - 1.0) < 1e-9
assert procyclicality.loc["fhs-anti-procyclical", "peak_to_trough"] < procyclicality.loc["fhs", "peak_to_trough"]
assert 0.002 < coverage.loc["fhs", "exception_rate"] < 0.03
assert coverage.loc["fhs", "average_margin_rate"] < coverage.loc["deribit-pm", "average_margin_rate"]
coverage.to_csv(OUTPUT_DIR / "06_coverage.csv")
procyclicality.to_csv(OUTPUT_DIR / "06_procyclicality.csv")
print("checks passed")

# %% [markdown]
# ## The methodology's own backtest: the published rates, long and short
#
# Everything above backtests *models* on BTC. The parameter file is set by one **methodology**
# (`marginlab.calibration.methodology.Methodology()`, the recommended default, chosen in notebook 02 on data up to
# 2025-02-20 only): asymmetric EWMA volatility (decay 0.97 after a move in the position's favour, 0.87 after a move
# against it -- **side-specific**: the short side's rate is the long side's of the mirrored prices), filtered
# historical simulation with a rolling 1,000-day residual pool, the anti-procyclicality tool on every rate (a release
# smoothing 0.9 on the maintenance and initial rates, never below the plain rate; the slow-EWMA floor and a 0.99
# smoothing on the scan range) and the 100% cap. The file publishes, per asset:
#
# * **side rates** (`side_rates`): the maintenance rate (1 day, 99%) and the initial rate (2 days, 99%, never below the
#   side's maintenance rate) of a long (`maintenance_long`: the price falls) and of a short (`maintenance_short`: it
#   rises);
# * **one rate** per requirement (`maintenance_rate`, `initial_rate`), the larger side: what the isolated and cross
#   engines charge longs and shorts alike today.
#
# `backtest_methodology` (also `marginlab backtest`, `--rates per-side` for the side rates) re-runs exactly that
# computation (`marginlab.calibration.published.published_rates`, the function `calibrate()` reads its last row from)
# date by date with data up to each close only, and tests the rates against the loss of a long *and* of a short.
# Because the one rate is the heavier tail's, the side with the lighter tail (usually the long side: crypto's upper
# tail is the heavier) is over-covered by it; the side rates are not.

# %%
from IPython.display import display

from marginlab import AntiProcyclicalitySpec, Methodology, backtest_methodology, format_table
from marginlab.analysis.coverage_targets import pooled_exception_rates, rejected_cell_null, score_table
from marginlab.analysis.methodology_backtest import (
    FREEZE_DATE,
    MAIN_ASSETS,
    REGIME_BLOCKS,
    SELECTION_BLOCKS,
    baseline_methodology,
    capital_table,
    quality_targets,
    universe_assets,
)
from marginlab.analysis.procyclicality import fixed_position_procyclicality, increases_explained

METHOD_ASSETS = list(MAIN_ASSETS) if FAST else universe_assets(min_years=3)
APC_START = "2019-01-01"
N_SIMULATIONS = 100 if FAST else 400
closes = {asset: load_daily(asset)["close"] for asset in METHOD_ASSETS}
sides_run = backtest_methodology(METHOD_ASSETS, horizons=(1, 2), confidence=0.99, rate_sides="per-side")
coverage_run = backtest_methodology(METHOD_ASSETS, horizons=(1, 2), confidence=0.99)  # the one rate
apc_run = backtest_methodology(METHOD_ASSETS, horizons=(2,), confidence=0.997, start=APC_START, rate_sides="per-side")
baseline_run = backtest_methodology(METHOD_ASSETS, baseline_methodology(), horizons=(1, 2), confidence=0.99, rate_sides="per-side")
targets = quality_targets(sides_run, apc_run)
last_day = sides_run.rates["date"].max().date()
print(f"{len(METHOD_ASSETS)} assets: {', '.join(METHOD_ASSETS)}; rates to {last_day}; "
      f"issue-5 pass/fail targets met (side rates): {int(targets['met'].sum())} of {len(targets)}")
format_table(targets)

# %% [markdown]
# Per asset, horizon and side over the whole out-of-sample history, each side against its own rate (exception rate,
# p-values, traffic-light shares, procyclicality of the published rate):

# %%
view = sides_run.table[["asset", "horizon_days", "side", "requirement", "observations", "exceptions", "rate", "kupiec_p",
                        "christoffersen_p", "green", "yellow", "red", "average_rate", "peak_to_trough"]].copy()
view.style.format({"observations": "{:,}", "exceptions": "{:,}", "rate": "{:.2%}", "kupiec_p": "{:.3f}",
                   "christoffersen_p": "{:.3f}", "green": "{:.0%}", "yellow": "{:.0%}", "red": "{:.0%}",
                   "average_rate": "{:.2%}", "peak_to_trough": "{:.1f}"}).hide(axis="index")

# %% [markdown]
# ### Targets a correct model passes
#
# A pass/fail target like "no cell rejected" is failed by a perfectly calibrated model most of the time: each cell is
# tested at 5%, and the exceptions of different assets fall on the same crash days. The rejected-cell count is
# therefore compared with its distribution under a **correctly calibrated model with the observed cross-asset
# clustering** (`rejected_cell_null`): each cell's `loss / rate` becomes ranks (uniform margins), whole days are
# resampled with replacement (keeping which assets move together), and an exception is a rank above 99% -- every
# cell then exactly calibrated and independent over time, the exception days clustered as observed. A cell is
# rejected when Kupiec (two-sided: too few exceptions count as well as too many) or Christoffersen's independence
# test rejects at 5%. Per side, for the choice period (2019-2022), the test period (2023 to the freeze date) and the
# held-out period (after 2025-02-21, never seen by the choice), for the side rates and for the one rate:

# %%
null_rows = []
for rates_label, run in (("side rates", sides_run), ("one rate", coverage_run)):
    for label, first, last in SELECTION_BLOCKS:
        period = run.between(first, last)
        if period.exceptions.empty:
            continue
        table = rejected_cell_null(period, n_simulations=N_SIMULATIONS, rng=0).table
        null_rows.append(table.assign(rates=rates_label, period=label))
null_table = pd.concat(null_rows, ignore_index=True)[["rates", "period", "side", "cells", "observed_rejected", "null_mean",
                                                      "null_low", "null_high", "independent_high", "within_range"]]
format_table(null_table)

# %% [markdown]
# Pooled exception rates per regime block and side (side rates), with the binomial standard error and the one
# **clustered by date** (the sandwich variance with the days as clusters: exceptions of several assets on one day are
# one event); `z_clustered` is the distance from 1% in clustered standard errors:

# %%
pooled = pooled_exception_rates(sides_run, [*REGIME_BLOCKS, *SELECTION_BLOCKS[2:]])
format_table(pooled[["block", "horizon_days", "side", "observations", "exceptions", "exception_rate", "se_binomial",
                     "se_clustered", "assets_per_exception_day", "z_clustered"]])

# %% [markdown]
# **Capital by a proper scoring rule.** The quantile (tick) score of the published side rate and the FZ0 score of the
# rate with its expected shortfall (Patton, Ziegel & Chen 2019, the zero-homogeneous member of the Fissler-Ziegel
# 2016 class), against the baseline (EWMA 0.97, symmetric, no tool, its own side rates): lower is better, and a rate
# that is too high is penalised as surely as one that is too low. Per block and side (pooled over the assets):

# %%
blocks = [*REGIME_BLOCKS, *SELECTION_BLOCKS[2:]]
scores = score_table(sides_run, blocks).merge(score_table(baseline_run, blocks), on=["block", "horizon_days", "side"],
                                               suffixes=("", "_baseline"))
scores["fz0_gain"] = scores["fz0_score_baseline"] - scores["fz0_score"]
format_table(scores[["block", "horizon_days", "side", "observations", "quantile_score", "quantile_score_baseline",
                     "fz0_score", "fz0_score_baseline", "fz0_gain", "average_rate", "average_rate_baseline"]])

# %%
capital = capital_table(sides_run, baseline_run)
format_table(capital)

# %% [markdown]
# ### The held-out period and 2025-10-10
#
# The methodology was frozen on data to 2025-02-20 (notebook 02); every rate dated after it is out of sample for the
# choice. Per asset and side (both horizons, side rates), and the rates that covered 2025-10-10 (the largest
# liquidation day of the data, when the data reach it):

# %%
held_out = sides_run.between(SELECTION_BLOCKS[2][1])
if held_out.table.empty:
    print(f"no rate after {FREEZE_DATE} in the data (to {last_day})")
else:
    display(format_table(held_out.table[["asset", "horizon_days", "side", "observations", "exceptions", "rate", "kupiec_p",
                                         "christoffersen_p", "average_rate"]]))
crash_day = sides_run.around("2025-10-10", closes)
print("2025-10-10:", "not in the data yet" if crash_day.empty else f"{int(crash_day['exception'].sum())} exceptions of {len(crash_day)}")
format_table(crash_day) if len(crash_day) else None

# %% [markdown]
# ### Procyclicality of the margin of fixed positions, and FTX day by day
#
# The issue-5 procyclicality figures were measured on the scan range, a parameter. Here they are measured on the
# **margin** of fixed positions under the published side rates (what a side-aware `calibrated-isolated` charges, and
# `calibrated-portfolio` for a lone perpetual): a constant notional (margin = the rate) and a constant quantity
# (margin in USD = rate x price), long and short, every asset, from 2019 (peak-to-trough, largest 1-, 5- and 30-day
# increases):

# %%
side_rates = sides_run.rates[sides_run.rates["requirement"].isin(["maintenance_long", "maintenance_short", "initial_long",
                                                                  "initial_short"])]
margin_pc = fixed_position_procyclicality(side_rates, closes, start=APC_START)
format_table(margin_pc[["asset", "requirement", "side", "position", "average_rate", "peak_to_trough", "max_increase_1d",
                        "max_increase_5d", "max_increase_30d"]])

# %% [markdown]
# Calibrated daily through FTX (2022-11-01 to 2022-11-10): each side's maintenance rate set at each close against the
# previous one, and the day's own move. Every rise beyond a doubling must be explained by that day's loss of the side
# exceeding the rate in force (the long lost more than its margin on a fall, the short on a rise, that very day):

# %%
ftx = increases_explained(sides_run.rates, closes, "2022-11-01", "2022-11-10",
                          requirement=("maintenance_long", "maintenance_short"))
ftx_one = increases_explained(coverage_run.rates, closes, "2022-11-01", "2022-11-10")
print(f"side rates: {int(ftx['more_than_factor'].sum())} doublings, all explained: {bool(ftx['ok'].all())}; "
      f"one rate: {int(ftx_one['more_than_factor'].sum())} doublings, all explained: {bool(ftx_one['ok'].all())}")
format_table(ftx[ftx["more_than_factor"]])

# %%
ftx_wide = ftx[ftx["side"] == "long"].pivot(index="date", columns="asset", values="rate")
fig, ax = plt.subplots(figsize=(9, 4))
(100 * ftx_wide).plot(ax=ax, legend=len(ftx_wide.columns) <= 8)
ax.set_xlabel("close (UTC)")
ax.set_ylabel("published long maintenance rate (% of notional)")
ax.set_title("FTX, calibrated daily: the long side's 1-day maintenance rate")
fig.tight_layout()
fig.savefig(OUTPUT_DIR / "06_ftx_maintenance.png", dpi=110)

# %% [markdown]
# ### The trade-off: coverage against procyclicality of the margin
#
# A stronger tool on the margin rates lowers their peak-to-trough, and costs coverage (over-coverage is a rejection
# too) and capital. Measured, side rates, the same assets: the methodology (release smoothing 0.9), a longer release
# (0.97), and the slow-EWMA(0.995) floor on the margin rates (`margin_floor`):

# %%
apc = Methodology().anti_procyclicality
variants = {
    "smoothing 0.9 (recommended)": sides_run,
    "smoothing 0.97": backtest_methodology(METHOD_ASSETS, Methodology(anti_procyclicality=AntiProcyclicalitySpec(
        margin_smoothing_lambda=0.97)), horizons=(1, 2), rate_sides="per-side"),
    "smoothing 0.9 + slow-EWMA floor": backtest_methodology(METHOD_ASSETS, Methodology(anti_procyclicality=AntiProcyclicalitySpec(
        margin_floor=True)), horizons=(1, 2), rate_sides="per-side"),
}
trade_rows = []
for name, run in variants.items():
    margins = fixed_position_procyclicality(run.rates[run.rates["requirement"].isin(["maintenance_long", "maintenance_short"])],
                                            closes, start=APC_START)
    margins = margins[margins["position"] == "fixed notional"]
    ratio = capital_table(run, baseline_run)["capital_ratio"]
    for label, first, last in SELECTION_BLOCKS:
        period = run.between(first, last)
        if period.exceptions.empty:
            continue
        counts = rejected_cell_null(period, n_simulations=N_SIMULATIONS, rng=0).table.set_index("side")
        trade_rows.append({
            "tool": name, "period": label,
            **{f"rejected_{side}": f"{int(counts.loc[side, 'observed_rejected'])} [{counts.loc[side, 'null_low']:.0f}, "
               f"{counts.loc[side, 'null_high']:.0f}]" for side in counts.index},
            "within_both": bool(counts["within_range"].all()),
            "capital_vs_baseline": f"{ratio.min():.2f}-{ratio.max():.2f}",
            "median_peak_to_trough_long": float(margins.loc[margins["side"] == "long", "peak_to_trough"].median()),
            "median_peak_to_trough_short": float(margins.loc[margins["side"] == "short", "peak_to_trough"].median()),
            "btc_peak_to_trough_long": float(margins.loc[(margins["asset"] == "BTC") & (margins["side"] == "long"), "peak_to_trough"].iloc[0]),
        })
trade_off = pd.DataFrame(trade_rows)
format_table(trade_off)

# %% [markdown]
# Closing note (numbers above; full run: 20 assets). **Two-sided, as published**: the file publishes each side's
# maintenance and initial rate and their larger side as the one rate; both are backtested on both sides
# (`marginlab backtest --rates per-side` and the default). **Targets a correct model passes**: with the side rates, the
# rejected-cell count (Kupiec two-sided or Christoffersen, 5%) lies within a correct model's 95% range on each side, in
# the choice, test and held-out periods (full run: long 1 / 5 / 0, short 3 / 4 / 0 rejected cells of 40 / 40 / 34,
# against ranges up to 11 / 11 / 13 and 6 / 9 / 9); with the one rate the long side is outside it in the choice and test
# periods (18-21 rejected, for too few exceptions: pooled long rates 0.3-0.6%). **Capital**: the side rates average
# 3-17% above the baseline's side rates per block, horizon and side (the faster reaction against the position and the release
# smoothing); the proper scores say where that buys accuracy (fz0_gain). **Anti-procyclicality**: every rate carries
# the tool, yet the margin of fixed positions stays strongly procyclical (BTC long 1-day rate peak-to-trough about 14
# since 2019, largest one-day rise x3.2 on 12 March 2020): the trade-off table shows that the tools that would lower it
# (a longer release, the slow-EWMA floor) push the rejected-cell counts outside a correct model's range (over-coverage)
# at 30-40% more capital than the baseline -- the target is not met, and this is the measured price. **FTX**: calibrated
# daily from 2022-11-01 to 11-10, every doubling of a side's maintenance rate follows a day whose own move exceeded that
# side's margin in force; on 2025-10-10 (held out) the rates that covered the day were breached by several assets at
# once, the cross-asset clustering the null table allows for.

# %%
assert set(sides_run.table["side"]) == {"long", "short"}
assert ftx["ok"].all(), ftx[~ftx["ok"]]  # acceptance: no unexplained doubling through FTX
assert ftx_one["ok"].all(), ftx_one[~ftx_one["ok"]]
one = coverage_run.rates.pivot_table(index=["date", "asset", "horizon_days"], columns="side", values="rate")
both = sides_run.rates.pivot_table(index=["date", "asset", "horizon_days"], columns="side", values="rate").reindex(one.index)
assert (abs(both.max(axis=1) - one["long"]) < 1e-12).all()  # the one rate is the larger side rate
side_null = null_table[null_table["rates"] == "side rates"]
assert (side_null["observed_rejected"] <= side_null["null_high"] + (2 if FAST else 0)).all(), side_null  # acceptance
assert scores[["quantile_score", "fz0_score", "quantile_score_baseline", "fz0_score_baseline"]].notna().all().all()
assert (capital["capital_ratio"] < 1.35).all()
targets.to_csv(OUTPUT_DIR / "06_quality_targets.csv", index=False)
capital.to_csv(OUTPUT_DIR / "06_capital_vs_baseline.csv", index=False)
null_table.to_csv(OUTPUT_DIR / "06_rejected_cells_null.csv", index=False)
trade_off.to_csv(OUTPUT_DIR / "06_apc_trade_off.csv", index=False)
print("quality targets checked")
