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
OUTPUT_DIR = Path(os.environ.get("MARGINLAB_OUTPUT_DIR", "../reports/interactive"))  # by hand: not the main job's reports/

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
# is about 3-4%, so a 1% fall happens on roughly a third of days); a fixed ±16% range (Deribit PM, whose MM is 0.8 of
# that loss, i.e. a 12.8% move on a linear position) is exceeded on very few days (BTC fell more than 16% in a day only a handful of times since 2016: March
# 2020); fixed-rate presets have peak-to-trough near 1; the anti-procyclical variant has a lower
# peak-to-trough than plain FHS.

# %%
assert coverage.loc["deribit-standard", "exception_rate"] > 0.10
assert coverage.loc["deribit-standard", "kupiec_rejected"]
assert coverage.loc["deribit-pm", "n_exceptions"] <= 6  # MM = mm_factor 0.8 x the +-16% loss (venues/deribit-pm.yaml): a 12.8% daily move
assert abs(procyclicality.loc["deribit-pm", "peak_to_trough"] - 1.0) < 1e-9
assert procyclicality.loc["fhs-anti-procyclical", "peak_to_trough"] < procyclicality.loc["fhs", "peak_to_trough"]
assert 0.002 < coverage.loc["fhs", "exception_rate"] < 0.03
assert coverage.loc["fhs", "average_margin_rate"] < coverage.loc["deribit-pm", "average_margin_rate"]
coverage.to_csv(OUTPUT_DIR / "06_coverage.csv")
procyclicality.to_csv(OUTPUT_DIR / "06_procyclicality.csv")
print("checks passed")

# %% [markdown]
# ## The methodology's own backtest: the issue-5 quality targets
#
# Everything above backtests *models* on BTC. The parameter file is set by one **methodology**
# (`marginlab.calibration.methodology.Methodology()`, the recommended default, defended in notebook 02):
# asymmetric EWMA volatility (decay 0.97 after a rise, 0.87 after a fall), filtered historical simulation
# with a rolling 1,000-day residual pool, 1- and 2-day 99% long rates; the 2-day 99.7% scan range carries the
# anti-procyclicality tool (a slow-EWMA(0.995) floor applied **before** a smoothing with decay 0.99).
# `backtest_methodology` (also `marginlab backtest`) re-runs those model objects date by date with data up to
# each close only; the row dated D is the rate set at the close of D for the loss from D to D + h.
#
# Targets (issue item 5), all measured below:
#
# * 1- and 2-day 99% long, whole out-of-sample history, 2-day counted on non-overlapping days: Kupiec and
#   Christoffersen not rejected at 5% for BTC, ETH, SOL, BNB; at most one in ten of the other non-stablecoin assets
#   with three years of history rejected; no red traffic-light window;
# * per regime block (2019–2020, 2021–2022, 2023–end): pooled exception rate 0.6–1.4% per horizon, BTC's and
#   ETH's own 0.4–2.0%;
# * 2-day 99.7% with the APC tool, over the same 2019–end span as the regime blocks (the rates are computed
#   from the start of each history; the earlier BTC years are shown separately below): peak-to-trough ≤ 3 at an
#   average ≤ 26% for BTC and ETH, ≤ 3.5 for the others, no one-day increase above 50%;
# * capital: the same figures for a plain baseline (EWMA λ = 0.97 FHS, rolling 1,000-day pool), side by side.

# %%
from marginlab import backtest_methodology
from marginlab.analysis.methodology_backtest import (
    MAIN_ASSETS,
    baseline_methodology,
    capital_table,
    quality_targets,
    universe_assets,
)

METHOD_ASSETS = list(MAIN_ASSETS) if FAST else universe_assets(min_years=3)
APC_START = "2019-01-01"
coverage_run = backtest_methodology(METHOD_ASSETS, horizons=(1, 2), confidence=0.99)
apc_run = backtest_methodology(METHOD_ASSETS, horizons=(2,), confidence=0.997, start=APC_START)
baseline_run = backtest_methodology(METHOD_ASSETS, baseline_methodology(), horizons=(1, 2), confidence=0.99)
targets = quality_targets(coverage_run, apc_run)
print(f"{len(METHOD_ASSETS)} assets: {', '.join(METHOD_ASSETS)}; targets met: {int(targets['met'].sum())} of {len(targets)}")
targets

# %% [markdown]
# Per asset and horizon (exception rate, p-values, traffic-light shares, procyclicality of the 99% rate):

# %%
view = coverage_run.table[["asset", "horizon_days", "observations", "exceptions", "rate", "kupiec_p", "christoffersen_p",
                           "green", "yellow", "red", "average_rate", "peak_to_trough"]].copy()
view.style.format({"observations": "{:,}", "exceptions": "{:,}", "rate": "{:.2%}", "kupiec_p": "{:.3f}",
                   "christoffersen_p": "{:.3f}", "green": "{:.0%}", "yellow": "{:.0%}", "red": "{:.0%}",
                   "average_rate": "{:.2%}", "peak_to_trough": "{:.1f}"}).hide(axis="index")

# %% [markdown]
# **Capital against the baseline**, pooled over the assets, per regime block: the baseline reacts more slowly to a
# fall (one decay, 0.97), so its exceptions cluster (Christoffersen rejects it for several assets, SOL and BTC
# 1-day among them -- first rows of its own target table below); the methodology pays for independence with a
# few percent more margin on average.

# %%
capital = capital_table(coverage_run, baseline_run)
capital.style.format({"observations_methodology": "{:,}", "exception_rate_methodology": "{:.2%}", "average_rate_methodology": "{:.2%}",
                      "exception_rate_baseline": "{:.2%}", "average_rate_baseline": "{:.2%}", "capital_ratio": "{:.3f}"}).hide(axis="index")

# %%
baseline_targets = quality_targets(baseline_run, apc_run)
baseline_targets.head(3)

# %% [markdown]
# The APC figures over each asset's whole out-of-sample history (BTC's starts in 2012, a different market: daily
# volatility above 5% for years), for the record:

# %%
apc_whole = backtest_methodology(["BTC", "ETH"], horizons=(2,), confidence=0.997)
apc_whole.table[["asset", "first_date", "average_rate", "peak_to_trough", "max_increase_1d"]].style.format(
    {"average_rate": "{:.1%}", "peak_to_trough": "{:.2f}", "max_increase_1d": "{:.1%}"}).hide(axis="index")

# %% [markdown]
# Closing note. Measured above: every coverage, independence, traffic-light and regime-band target is met by the
# recommended methodology (one other asset, DOGE at 2 days, is rejected by Kupiec at p = 0.04: 1 of 16, within the
# one-in-ten allowance), and the 2019–end procyclicality targets are met. Two trade-offs remain and are reported as
# such: (1) **capital** -- the methodology's average 99% rate is about 4–9% above the plain baseline per block (the
# faster reaction to falls that removes the baseline's clustered exceptions costs margin in the weeks after each
# fall; no single-decay EWMA on the grid 0.85–0.97 met the independence targets at the baseline's capital);
# (2) over BTC's whole history since 2012 the 2-day 99.7% rate has a peak-to-trough above 3 and an average above
# 26% (2012–2015 volatility), and ETH's whole-history average is slightly above 26%.

# %%
met = targets.set_index("target")["met"]
assert met.iloc[0], targets.iloc[0]["measured"]  # BTC ETH SOL BNB: Kupiec and Christoffersen not rejected
assert met.iloc[1] and met.iloc[2]  # <= 1 in 10 others rejected, no red window
assert met[[t for t in met.index if "pooled" in t or "BTC exception" in t or "ETH exception" in t]].all()
assert met[[t for t in met.index if "with APC" in t or "one-day increase" in t]].all()
assert (capital["capital_ratio"] < 1.15).all()  # the measured price of independence stays small
assert not baseline_targets["met"].iloc[0]  # the baseline fails the main-asset tests
targets.to_csv(OUTPUT_DIR / "06_quality_targets.csv", index=False)
capital.to_csv(OUTPUT_DIR / "06_capital_vs_baseline.csv", index=False)
print("quality targets checked")
