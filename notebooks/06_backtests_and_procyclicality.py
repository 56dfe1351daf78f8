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
OUTPUT_DIR = Path(os.environ.get("MARGINLAB_OUTPUT_DIR", "../reports"))

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

from marginlab.account import Account
from marginlab.analysis.backtest import backtest_table, horizon_moves
from marginlab.analysis.procyclicality import procyclicality_table
from marginlab.calibration.stress_ranges import AntiProcyclicality, StressRangeModel
from marginlab.data import load_daily, log_returns
from marginlab.exceptions import MarginLabWarning
from marginlab.instruments import Perpetual, Position
from marginlab.margin.presets import get_model
from marginlab.market import MarketSnapshot

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
assert coverage.loc["deribit-pm", "n_exceptions"] <= 3
assert abs(procyclicality.loc["deribit-pm", "peak_to_trough"] - 1.0) < 1e-9
assert procyclicality.loc["fhs-anti-procyclical", "peak_to_trough"] < procyclicality.loc["fhs", "peak_to_trough"]
assert 0.002 < coverage.loc["fhs", "exception_rate"] < 0.03
assert coverage.loc["fhs", "average_margin_rate"] < coverage.loc["deribit-pm", "average_margin_rate"]
coverage.to_csv(OUTPUT_DIR / "06_coverage.csv")
procyclicality.to_csv(OUTPUT_DIR / "06_procyclicality.csv")
print("checks passed")
