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
# # 01 — Market data and the stylised facts of crypto returns
#
# This notebook introduces the market history every later model is calibrated on, and the
# statistical facts that shape those models: **fat tails** (a normal law badly understates crash
# days, so margin must not be sized from a normal VaR) and **volatility clustering** (calm and
# turbulent periods persist, which is why the calibration notebooks fit GARCH models).
#
# Data: the market-data snapshot embedded in marginlab (`marginlab.datasets`, described in its
# `README.md`; sources, licences and the research-use condition in its `NOTICE.md`), read with
# `marginlab.data` — or the folder named by `$MARGINLAB_DATA_DIR` when that is set.
# Every loader validates what it reads (sorted unique timestamps, positive prices,
# `low <= open, close <= high`) and reports gaps instead of filling them silently.
#
# Conventions used throughout marginlab:
#
# * a daily bar is stamped with its **open**, 00:00 UTC; the close of day *t* is the price at 24:00 UTC;
# * the daily **log return** is $r_t = \ln(P_t / P_{t-1})$ and the **simple return** $R_t = P_t / P_{t-1} - 1 = e^{r_t} - 1$;
# * a year has **365 days** (crypto trades every calendar day), so a daily volatility $\sigma_d$
#   annualises to $\sigma = \sigma_d \sqrt{365}$, the same clock as option time to expiry.

# %%
import os
from pathlib import Path

FAST = os.environ.get("MARGINLAB_FAST", "0") == "1"
OUTPUT_DIR = Path(os.environ.get("MARGINLAB_OUTPUT_DIR", "../reports/interactive"))  # by hand: not the main job's reports/

# Window of the stylised-facts statistics (the full history starts 2011-08-18 for BTC).
START = "2018-01-01" if FAST else "2011-08-18"
END = "2025-11-19"  # last common day of BTC, ETH and the Yahoo universe coins (marginlab-snapshot-2026.03)
ASSETS = ["BTC", "ETH", "SOL"]  # the assets studied closely
ACF_LAGS = 20 if FAST else 60
SEED = 1  # no randomness below; kept for the convention

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from marginlab import (
    catalogue,
    close_panel,
    format_table,
    load_daily,
    load_dvol,
    load_funding,
    load_universe,
    log_returns,
    save_figure,
    scenario_path,
)
from marginlab.data import annualise_vol, dataset_label, load_series
from marginlab.data.stylised import autocorrelation, normal_qq, reference_move_table, stylised_facts, worst_days
from marginlab.datasets import seams

sns.set_theme(style="whitegrid", context="notebook")
OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
print("market data:", dataset_label(), "| FAST =", FAST)

# %% [markdown]
# ## 1. What is in the snapshot
#
# One row per series: file, kind (`ohlcv` prices, `vol_index` = Deribit DVOL in percent points,
# `funding` = decimal rate per 8-hour period), frequency, date range and row count.
# The same table is printed by `marginlab data list`.

# %%
table = catalogue()
format_table(table[["name", "dataset", "kind", "frequency", "start", "end", "rows"]], counts=["rows"], hide_index=True)

# %% [markdown]
# ## 2. History: prices on a log scale
#
# BTC (Bitstamp, then Coinbase, from 2011) and ETH (from 2015) come from their own files; the
# 22-asset universe (Yahoo Finance) is shown as a growth index, each asset rebased to 1 at its first
# close, on a log axis so that equal vertical distances are equal percentage moves (weekly points).

# %%
btc = load_daily("BTC")
eth = load_daily("ETH")
fig, axes = plt.subplots(1, 2, figsize=(14, 4.5))
for name, bars in [("BTC", btc), ("ETH", eth)]:
    axes[0].plot(bars.index, bars["close"], label=name, linewidth=0.9)
axes[0].legend()
axes[0].set_yscale("log")
axes[0].set(title="BTC and ETH daily close", xlabel="date (UTC)", ylabel="close price (USD, log scale)")

universe = load_universe(field="close")
universe = universe.drop(columns=["USDT", "USDC"])
growth = universe / universe.apply(lambda column: column.dropna().iloc[0])
growth = growth.resample("7D").last()  # weekly points: the same picture at this scale, faster to draw
palette = sns.color_palette("husl", growth.shape[1])
for color, symbol in zip(palette, growth.columns):
    axes[1].plot(growth.index, growth[symbol], color=color, linewidth=0.6, label=symbol)
axes[1].legend(ncol=4, fontsize=7, loc="upper left")
axes[1].set_yscale("log")
axes[1].set(title=f"Universe: {universe.shape[1]} non-stable assets rebased to 1 at listing",
            xlabel="date (UTC)", ylabel="growth of 1 USD (log scale)")
plt.tight_layout()
save_figure(fig, "01_prices")
plt.show()

# %% [markdown]
# ## 3. Returns
#
# Close-to-close log returns of BTC, ETH and SOL over the common window. The inner join keeps only
# days on which all three have a close (SOL starts 2020-04-10); the per-asset statistics below use
# each asset's own history from `START`.

# %%
panel = close_panel(ASSETS, "2020-04-10", END)
returns = log_returns(panel)
fig, ax = plt.subplots(figsize=(14, 4))
for symbol in ASSETS:
    ax.plot(returns.index, returns[symbol], linewidth=0.5, label=symbol)
ax.legend()
ax.set(title="Daily log returns", xlabel="date (UTC)", ylabel="log return (fraction per day)")
save_figure(fig, "01_returns")
plt.show()

# %% [markdown]
# ## 4. Fat tails
#
# The **excess kurtosis** $m_4 / m_2^2 - 3$ (population moments) is 0 for a normal law. Crypto
# daily returns have excess kurtosis far above 0: extreme days are much more frequent than a
# normal law with the same variance predicts. The Jarque-Bera test rejects normality for every asset.
# `vol_annualised` is $\sigma_d \sqrt{365}$.

# %%
own_history = {symbol: log_returns(load_daily(symbol, START if symbol == "BTC" else None, END)["close"]) for symbol in ASSETS}
majors = [s for s in ["BNB", "XRP", "ADA", "DOGE", "LTC", "LINK", "AVAX", "DOT"] if s in universe.columns]
if FAST:
    majors = majors[:3]
for symbol in majors:
    own_history[symbol] = log_returns(universe[symbol].dropna())
facts = stylised_facts(pd.DataFrame(own_history))
facts.to_csv(OUTPUT_DIR / "01_stylised_facts.csv")
format_table(facts[["days", "first_day", "vol_annualised", "skewness", "excess_kurtosis", "worst_day", "best_day",
                    "acf1_returns", "acf1_squared", "acf1_absolute", "jarque_bera_pvalue"]],
             percent=["vol_annualised", "worst_day", "best_day"], counts=["days"], dates=["first_day"], decimals=3)

# %% [markdown]
# A **QQ plot** sorts the standardised returns and plots them against the quantiles of the standard
# normal law at plotting positions $(i - 0.5)/n$. A normal sample lies on the diagonal; here the
# left tail bends far below it (crash days of 8 to 20 standard deviations) and the right tail above.

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 5), sharey=True)
for ax, symbol in zip(axes, ["BTC", "ETH"]):
    qq = normal_qq(own_history[symbol])
    sns.scatterplot(data=qq, x="normal_quantile", y="sample_quantile", s=8, ax=ax, edgecolor=None)
    line = np.array([qq["normal_quantile"].min(), qq["normal_quantile"].max()])
    ax.plot(line, line, color="black", linewidth=1, label="normal law")
    ax.set(title=f"{symbol}: QQ plot of daily log returns vs normal", xlabel="normal quantile (standard deviations)",
           ylabel="sample quantile (standard deviations)")
    ax.legend()
plt.tight_layout()
save_figure(fig, "01_qq_plots")
plt.show()

# %% [markdown]
# ## 5. Volatility clustering
#
# Returns themselves are nearly uncorrelated from one day to the next (markets are close to
# unpredictable in direction), but **squared returns** are clearly positively autocorrelated for
# many lags: a large move tends to be followed by large moves of either sign. This is the pattern
# GARCH models capture, $\sigma_t^2 = \omega + \alpha r_{t-1}^2 + \beta \sigma_{t-1}^2$.
# The autocorrelation of squared returns is itself dominated by a handful of extreme days (fat
# tails again), so it is noisy from lag to lag; that of **absolute returns** $|r_t|$ is the robust
# view of the same effect and stays well above zero for weeks.
# The dashed band is $\pm 1.96/\sqrt{n}$, the 95% band of the autocorrelation of white noise.

# %%
btc_returns = own_history["BTC"]
lags = np.arange(1, ACF_LAGS + 1)
acf_frame = pd.DataFrame({
    "lag (days)": np.concatenate([lags, lags, lags]),
    "autocorrelation": np.concatenate([autocorrelation(btc_returns, ACF_LAGS), autocorrelation(btc_returns**2, ACF_LAGS),
                                       autocorrelation(btc_returns.abs(), ACF_LAGS)]),
    "series": ["returns"] * ACF_LAGS + ["squared returns"] * ACF_LAGS + ["absolute returns"] * ACF_LAGS,
})
band = 1.96 / np.sqrt(len(btc_returns))
fig, ax = plt.subplots(figsize=(12, 4))
sns.barplot(data=acf_frame, x="lag (days)", y="autocorrelation", hue="series", ax=ax)
ax.axhline(band, linestyle="--", color="grey")
ax.axhline(-band, linestyle="--", color="grey")
ax.set(title=f"BTC daily log returns from {START}: autocorrelation of returns, squared and absolute returns",
       xlabel="lag (days)", ylabel="sample autocorrelation")
ax.xaxis.set_major_locator(plt.MaxNLocator(15))
save_figure(fig, "01_autocorrelation")
plt.show()

# %% [markdown]
# The same clustering is visible in the 30-day rolling realised volatility
# $\sigma_{30} = \mathrm{sd}(r_{t-29..t}) \sqrt{365}$, set against Deribit's DVOL, the 30-day
# implied volatility of BTC options (in percent points).

# %%
dvol = load_dvol("BTC")
realised = btc_returns.rolling(30).std() * np.sqrt(365) * 100
fig, ax = plt.subplots(figsize=(14, 4))
window = realised.loc["2021-03-24":]
ax.plot(window.index, window, label="BTC realised vol, 30 days", linewidth=0.9)
ax.plot(dvol.index, dvol["close"], label="BTC DVOL (30-day implied)", linewidth=0.9)
ax.set(title="Realised vs implied volatility", xlabel="date (UTC)", ylabel="annualised volatility (%)")
ax.legend()
save_figure(fig, "01_realised_vs_implied_vol")
plt.show()

# %% [markdown]
# ## 6. The crash days
#
# The reference moves of `worked_examples.md` section H, located in the data: each row gives the
# observed value and the range the reference states ("about −37% to −39% depending on venue",
# "−42%" read as [−42.5%, −41.5%], "about −23%" as ±1 point, price levels to the digits given).
# Returns are simple close-to-close returns over `horizon_days` ending on `date`; UST is the
# `USTC` series of the stablecoins file, USDC the universe series (the stablecoins file ends in 2022-11).
# A calibrated stress range that does not cover these moves at its stated confidence should say so.

# %%
moves = reference_move_table()
format_table(moves[["event", "symbol", "date", "measure", "horizon_days", "observed", "reference_low", "reference_high",
                    "within_reference"]], counts=["horizon_days"], decimals=4, hide_index=True)

# %% [markdown]
# The five worst days of each asset since its first close (simple returns):

# %%
worst = worst_days(close_panel(ASSETS, None, END, how="outer"), count=5)
format_table(worst, percent=["simple_return"])

# %% [markdown]
# ## 7. DVOL and funding
#
# **DVOL** is Deribit's 30-day implied-volatility index for BTC and ETH, in percent points
# (55 means 55% annualised). **Funding** is the periodic payment between longs and shorts of a
# perpetual swap; Binance BTCUSDT settles every 8 hours, and the file stores the rate as a decimal
# per 8-hour period. Annualised funding is rate × 3 × 365 (simple, not compounded).

# %%
dvol_both = pd.concat({c: load_dvol(c)["close"] for c in ["BTC", "ETH"]}, axis=1)
funding = load_funding("BTCUSDT")
fig, axes = plt.subplots(1, 2, figsize=(14, 4))
for column in dvol_both.columns:
    axes[0].plot(dvol_both.index, dvol_both[column], label=f"{column} DVOL", linewidth=0.8)
axes[0].set(title="Deribit DVOL", xlabel="date (UTC)", ylabel="30-day implied volatility (%)")
axes[0].legend()
annualised_funding = funding["funding_rate"] * 3 * 365 * 100
axes[1].plot(annualised_funding.index, annualised_funding, linewidth=0.4, label="per 8 h, annualised")
axes[1].plot(annualised_funding.index, annualised_funding.rolling(90).mean(), linewidth=1.2, label="30-day mean")
axes[1].axhline(0, color="black", linewidth=0.8)
axes[1].set(title="Binance BTCUSDT perpetual funding", xlabel="date (UTC)", ylabel="annualised funding rate (%)")
axes[1].legend()
plt.tight_layout()
save_figure(fig, "01_dvol_and_funding")
plt.show()

summary = pd.DataFrame({
    "BTC DVOL (%)": dvol_both["BTC"].describe(),
    "ETH DVOL (%)": dvol_both["ETH"].describe(),
    "funding per 8 h (decimal)": funding["funding_rate"].describe(),
})
format_table(summary.T, counts=["count"], decimals=2)

# %% [markdown]
# ## 7b. The new period: 2025-02 → 2025-11, the 10 October 2025 crash and the depegs
#
# The 2025 snapshot ended on 2025-02-20 (a partial day, dropped); `marginlab-snapshot-2026.03` continues
# each series with its source's later rows. The seams, measured on the days both sources have
# (median and worst |Δclose|/close), come from the build's manifest: the Yahoo coins continue the same
# Yahoo series (differences of 1e-8 to 1e-4), the alts without a Yahoo continuation continue on Binance
# spot or Bybit perpetual USDT prices (about 0.1%).

# %%
seam_table = pd.DataFrame(seams())
format_table(seam_table[["dataset", "symbol", "source", "base_end", "appended_end", "appended_rows", "overlap_days",
                         "median_abs_rel_close_diff", "worst_abs_rel_close_diff", "worst_day"]],
             counts=["appended_rows", "overlap_days"], decimals=6, hide_index=True)

# %% [markdown]
# Left: the new period, daily closes rebased to 1 on 2025-02-01 (the dotted line is the old end). Middle: the
# evening of 10 October 2025 on Bybit perpetual 15-minute bars, the stress library's `oct-2025-10-10` path
# (three points per bar: the two extremes and the close). Right: the collateral of that evening on one
# venue's books, as the path carries it: USDe/USDT minute lows, wBETH in ETH and BNSOL in SOL (their day
# lows, placed at the USDe trough: their minute bars were not found).

# %%
recent = close_panel(["BTC", "ETH", "SOL", "XRP", "DOGE"], "2025-02-01", END)
crash_path = scenario_path("oct-2025-10-10", ["BTC", "ETH", "SOL", "LINK", "DOGE"])
fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
for symbol in recent.columns:
    axes[0].plot(recent.index, recent[symbol] / recent[symbol].iloc[0], linewidth=0.9, label=symbol)
axes[0].axvline(pd.Timestamp("2025-02-20", tz="UTC"), color="grey", linestyle=":", linewidth=1)
axes[0].legend(fontsize=8)
axes[0].set(title="2025-02 → 2025-11 (daily closes)", xlabel="date (UTC)", ylabel="close / close on 2025-02-01")
for symbol in ["BTC", "ETH", "SOL", "LINK", "DOGE"]:
    series = crash_path.prices_usd[symbol]
    axes[1].plot(series.index, series / series.iloc[0], linewidth=0.9, label=symbol)
axes[1].legend(fontsize=8)
axes[1].set(title="10-11 October 2025 (Bybit perpetuals, 15-minute bars)", xlabel="time (UTC)",
            ylabel="price / price at 16:00 UTC")
prices = crash_path.prices_usd
axes[2].plot(prices.index, prices["USDE"], label="USDe (USDT)", linewidth=1)
axes[2].plot(prices.index, prices["WBETH"] / prices["ETH"], label="wBETH / ETH", linewidth=1)
axes[2].plot(prices.index, prices["BNSOL"] / prices["SOL"], label="BNSOL / SOL", linewidth=1)
axes[2].legend(fontsize=8)
axes[2].set(title="Collateral on one venue's books", xlabel="time (UTC)", ylabel="price (USDT, or ratio)")
for axis in axes:
    axis.tick_params(axis="x", labelrotation=30)
plt.tight_layout()
save_figure(fig, "01_new_period_and_october_2025")
plt.show()

# %% [markdown]
# The day on Binance spot (the day range of 1,581 markets) and Binance's own liquidation totals (CoinGlass,
# a lower bound: the feed publishes at most one order per symbol per second):

# %%
day_range = load_series("day_range_2025_10_10").set_index("market")
markets = ["BTC_USDT", "ETH_USDT", "WBETH_ETH", "BNSOL_SOL", "USDE_USDT", "USDC_USDT", "FDUSD_USDT"]
format_table(day_range.loc[markets, ["day_high", "day_low", "intraday_drop"]], decimals=4)
liquidations = load_series("liquidations", "2025-10-10", "2025-10-10").set_index("symbol")
format_table(liquidations[["long_liquidation_usd", "short_liquidation_usd", "total_liquidation_usd"]] / 1e6, decimals=0)
print(f"the median Binance spot market fell {day_range['intraday_drop'].median():.0%} from its high that day")

# %% [markdown]
# ## 8. Checks
#
# The key numbers of this notebook, asserted so that a change in the data or the code that moves
# them fails the notebook run (`make report`, `make test`). Reference values come from the data
# README and worked_examples.md section H.

# %%
crash = load_daily("BTC", "2020-03-11", "2020-03-12")["close"]
btc_covid = crash.iloc[1] / crash.iloc[0] - 1
print(f"BTC 2020-03-12 close-to-close: {btc_covid:.2%}")
assert abs(btc_covid - (-0.388)) < 0.002  # README section 1: -38.8%

assert moves["within_reference"].all(), moves[~moves["within_reference"]]
assert facts.loc["BTC", "excess_kurtosis"] > 5  # fat tails
for symbol in ASSETS:
    assert facts.loc[symbol, "excess_kurtosis"] > 3, symbol
    assert facts.loc[symbol, "jarque_bera_pvalue"] < 1e-6, symbol
    # volatility clustering: squared returns more autocorrelated than returns at lag 1
    assert facts.loc[symbol, "acf1_squared"] > abs(facts.loc[symbol, "acf1_returns"]), symbol
assert acf_frame.query("series == 'squared returns'")["autocorrelation"].iloc[0] > band
assert (acf_frame.query("series == 'absolute returns'")["autocorrelation"].iloc[:10] > band).all()
assert 0.4 < annualise_vol(own_history["BTC"].std()) < 1.2  # BTC annualised vol between 40% and 120%
assert 30 < dvol_both["BTC"].min() and dvol_both["BTC"].max() < 160  # README section 7: 32.4 .. 156.2
assert len(funding) == 3316 and (funding["funding_rate"] <= 0).sum() == 367  # README section 8
# the 2026 extension's README: the Yahoo coins reach 2025-11-19; 2025-10-10 BTC -7.0% close to close (file 1);
# USDe 0.65 (file 6); WBETH_ETH and BNSOL_SOL day lows 0.2012 and 0.1286 (file 11); Binance BTC longs $286 m (file 8)
assert recent.index[-1] == pd.Timestamp("2025-11-19", tz="UTC")
october = load_daily("BTC", "2025-10-09", "2025-10-10")["close"]
assert abs(october.iloc[1] / october.iloc[0] - 1 - (-0.070)) < 0.002
assert prices["USDE"].min() == 0.65
assert abs(day_range.loc["WBETH_ETH", "day_low"] - 0.2012) < 1e-9 and abs(day_range.loc["BNSOL_SOL", "day_low"] - 0.1286) < 1e-9
assert abs(liquidations.loc["BTC", "long_liquidation_usd"] / 1e6 - 286) < 1
assert (seam_table["median_abs_rel_close_diff"].dropna() < 0.005).all()
print("all checks passed")
