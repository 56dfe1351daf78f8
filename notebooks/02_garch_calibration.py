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
# # 02 — GARCH calibration, adaptive stress ranges and their backtests
#
# This notebook is the specification of the volatility layer of marginlab: how daily volatility is
# forecast (`marginlab.calibration.garch`), how a forecast becomes a **price scan range** at a confidence
# level and horizon (`marginlab.calibration.stress_ranges`, `marginlab.calibration.evt`), and how those ranges
# are **backtested** (`marginlab.analysis.backtest`) and judged for **procyclicality**
# (`marginlab.analysis.procyclicality`). All logic lives in the package; the notebook narrates and checks.
#
# **Conventions.** Inputs are fractional daily log returns $r_t = \ln(P_t/P_{t-1})$ (close to close, UTC days).
# GARCH models are fitted on $100\,r_t$ (the scale `arch` is tuned for) and every volatility is converted back
# to a fractional daily figure; annualised figures use $\sqrt{365}$. A margin (scan) rate is a fraction of the
# price: a long position with rate $m$ at date $d$ loses more than its margin when the $h$-day move
# $e^{r_d+\dots+r_{d+h-1}}-1 < -m$ (an *exception*).
#
# **No look-ahead.** The rate in force on day $d$ uses returns up to $d-1$ only: GARCH parameters are
# re-estimated every `REFIT_DAYS` days on the expanding history up to the refit date and filtered forward with
# fixed parameters between refits (`rolling_forecast`); the pool of standardised residuals used for the
# quantiles contains only residuals of days before $d$.

# %%
import os
import warnings
from pathlib import Path

FAST = os.environ.get("MARGINLAB_FAST", "0") == "1"
ASSETS = ["BTC", "ETH"] if FAST else ["BTC", "ETH", "BNB", "SOL"]
# first return used for fitting, and first day of the out-of-sample backtest, per asset
FIT_START = {"BTC": "2014-01-01", "ETH": "2015-08-08", "BNB": "2017-11-09", "SOL": "2020-04-10"}
BACKTEST_START = {"BTC": "2016-01-01", "ETH": "2017-01-01", "BNB": "2019-01-01", "SOL": "2021-07-01"}
if FAST:
    FIT_START = {"BTC": "2017-01-01", "ETH": "2017-01-01"}
    BACKTEST_START = {"BTC": "2019-01-01", "ETH": "2019-01-01"}
REFIT_DAYS = 60 if FAST else 42  # re-estimate every 6 weeks (every ~2 months in FAST mode)
MIN_OBS = 500  # returns in the first fit
SEED = 20261122
N_JOBS = 2
OUTPUT_DIR = Path(os.environ.get("MARGINLAB_OUTPUT_DIR", "../reports/interactive"))

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from marginlab import StressRangeModel, backtest_table, data, procyclicality_table, save_figure
from marginlab.analysis.backtest import BASEL_QUARTER_OBS
from marginlab.calibration.garch import rolling_forecast, select_garch
from marginlab.calibration.stress_ranges import AntiProcyclicality, tail_coverage_table, vol_scan_ranges
from marginlab.exceptions import BoundaryWarning, ConvergenceWarning

sns.set_theme(style="whitegrid")
pd.set_option("display.float_format", lambda x: f"{x:,.4f}")
returns = {a: data.log_returns(data.load_daily(a, start=FIT_START[a])["close"]) for a in ASSETS}
{a: (str(r.index[0].date()), str(r.index[-1].date()), len(r)) for a, r in returns.items()}

# %% [markdown]
# ## 1. Model choice: information criteria across candidates
#
# Candidates: GARCH(1,1), GJR-GARCH(1,1) (a leverage term $\gamma\,\varepsilon_t^2\,1[\varepsilon_t<0]$) and
# EGARCH(1,1), each with normal, Student-t and Hansen skew-t innovations. Selection is by **BIC**
# ($-2\ln L + k\ln n$, on the fractional-return likelihood). Each fit is checked for convergence
# (`arch`'s `convergence_flag` and the optimiser's status); a failure falls back to EWMA(0.94) with a
# `ConvergenceWarning`. Crypto GARCH fits are typically **near-integrated** (persistence
# $\alpha+\gamma/2+\beta \approx 1$): they are kept but flagged `boundary` with a `BoundaryWarning`, which is why
# the table shows the status column.

# %%
selections = {}
with warnings.catch_warnings():
    warnings.simplefilter("ignore", (ConvergenceWarning, BoundaryWarning))
    for asset in ASSETS:
        selections[asset] = select_garch(returns[asset], criterion="bic")
ic_table = pd.concat({a: s.table.set_index(["vol_model", "distribution"]) for a, s in selections.items()}, names=["asset"])
ic_table[["status", "loglikelihood", "bic", "aic", "persistence", "rank"]]

# %%
best = pd.DataFrame(
    {a: {"best": f"{s.best.vol_model}/{s.best.distribution}", "status": s.best.status, "persistence": s.best.persistence} for a, s in selections.items()}
).T
best

# %% [markdown]
# Fat-tailed innovations (t or skew-t) win by several hundred BIC points everywhere: the normal law is not a
# candidate for crypto. In the full run EGARCH-t has the best BIC on BTC, ETH and BNB (by 20–50 points over
# GJR skew-t) and GARCH-t on SOL; asymmetry matters less than for equities (crypto rallies raise volatility
# too), and the GARCH/GJR fits of BTC, ETH and BNB sit on the integrated boundary (persistence 1.000).
# We nevertheless use **GJR-GARCH with skew-t innovations** for every asset (the brief's default; one
# specification keeps the residuals comparable for pooling): for margin rates the specification matters
# little, because the FHS quantile of the out-of-sample residuals absorbs the shape — in our runs the BTC 1-day
# 99% exception rate was 0.93% with GJR skew-t or GJR-t volatility and 0.79% with GARCH-normal volatility.
#
# ## 2. Diagnostics of the chosen model
#
# Ljung–Box Q(10) on $z_t$ and $z_t^2$, Engle's ARCH-LM(10) on $z_t$ (null: no remaining ARCH effect) and a
# parameter-stability check: refit on each half of the sample and test
# $z=(\hat\theta_1-\hat\theta_2)/\sqrt{se_1^2+se_2^2}$ per parameter (Bonferroni-adjusted p-value of the largest).

# %%
with warnings.catch_warnings():
    warnings.simplefilter("ignore", (ConvergenceWarning, BoundaryWarning))
    from marginlab.calibration.garch import fit_garch

    chosen = {a: fit_garch(returns[a], "gjr", "skewt") for a in ASSETS}
diagnostics = pd.concat({a: f.diagnostics.set_index("test")[["statistic", "p_value"]] for a, f in chosen.items()}, names=["asset"])
diagnostics

# %%
print(chosen["BTC"].summary())

# %% [markdown]
# In the full run the squared standardised residuals show no remaining autocorrelation (Ljung–Box p 0.18–0.85)
# and ARCH-LM does not reject (p 0.16–0.85): the GJR recursion captures the volatility clustering. Ljung–Box on
# the residuals themselves rejects for BTC and ETH (p 0.01 and 0.0002): small linear autocorrelation of daily
# returns that a constant mean ignores; at a 1–2 day horizon its effect on the quantile is negligible. The
# half-sample stability test rejects for BTC and ETH (early BTC/ETH is a different market), one reason to
# **re-estimate** regularly with an expanding window.
#
# ## 3. Out-of-sample volatility forecasts
#
# `rolling_forecast` re-estimates every `REFIT_DAYS` days and filters forward in numpy between refits. One
# run with a 2-day horizon serves both horizons (the 1-day vol is its first column).

# %%
with warnings.catch_warnings():
    warnings.simplefilter("ignore", (ConvergenceWarning, BoundaryWarning))
    panel = pd.concat(returns, axis=1)
    forecasts = rolling_forecast(panel, "gjr", "skewt", refit_every_days=REFIT_DAYS, min_obs=MIN_OBS, horizon_days=2, n_jobs=N_JOBS, progress=False)
garch = {a: forecasts[a].dropna(subset=["vol_1d"]).astype({"in_sample": bool}) for a in ASSETS}
status_counts = pd.DataFrame({a: g.loc[~g["in_sample"], "status"].value_counts() for a, g in garch.items()}).fillna(0).astype(int)
status_counts

# %%
asset = "BTC"
frame = garch[asset].loc[BACKTEST_START[asset] :]
realised = frame["realised_return"].pow(2).rolling(30).mean().pow(0.5).shift(-29)  # next-30-day realised vol
plot = pd.DataFrame(
    {"GJR skew-t forecast (1 day ahead)": frame["vol_1d"], "realised, next 30 days": realised}
).mul(np.sqrt(365) * 100)
fig, ax = plt.subplots(figsize=(10, 4))
sns.lineplot(data=plot, ax=ax, linewidth=0.8)
ax.set(xlabel="date", ylabel="volatility, annualised %", title=f"{asset}: out-of-sample volatility forecast vs realised")
save_figure(fig, "02_volatility_forecast")

# %%
z = {a: g.loc[BACKTEST_START[a] :, "std_residual"].dropna() for a, g in garch.items()}
pd.DataFrame({a: {"mean": s.mean(), "std": s.std(), "q01": s.quantile(0.01), "q99": s.quantile(0.99)} for a, s in z.items()}).T

# %% [markdown]
# Out-of-sample standardised residuals have a standard deviation close to 1 (the forecasts are unbiased in
# scale) but a 1% quantile well beyond the normal's $-2.33$: that is what the filtered-historical-simulation
# quantile corrects.
#
# ## 4. From volatility to a margin rate, and VaR backtests
#
# **FHS** (the default `StressRangeModel(method="fhs")`): the $h$-day standardised shock pool holds every
# block $u=(z_s+\dots+z_{s+h-1})/\sqrt h$ of out-of-sample standardised residuals dated before $d$ (the whole
# history, not a window — a long pool is what makes the 1% quantile stable); the long scan rate is
# $m_d = 1-\exp(h\mu + \sigma_{h,d}\,q_{1-\alpha}(u))$ with $\sigma_{h,d}$ the GARCH $h$-day vol.
# **EVT**: same, with the tail quantile from a generalised Pareto fit to the largest 10% of shocks.
# **EWMA-normal** (benchmark): $m_d = 1-\exp(\sqrt h\,\sigma^{EWMA}_d\,z_{1-\alpha})$.
#
# Backtests use **non-overlapping** $h$-day windows (Kupiec and Christoffersen assume independent exceptions);
# the traffic light counts exceptions in 250-observation windows (green ≤ 4, yellow 5–9, red ≥ 10 at 99%), two ways:
# **every window** (daily stepping, columns `green`/`yellow`/`red`/`green_share`) and the **Basel quarterly
# convention** — the last 250 observations evaluated at each quarterly reporting date, i.e. one window every
# `BASEL_QUARTER_OBS` = 63 observations (a quarter of the 250-observation year; `traffic_light_step=63`, columns
# `green_share_q`/`red_q`). Both count windows of 250 *observations*, so a 2-day window spans 500 days.

# %%
results = {}
with warnings.catch_warnings():
    warnings.simplefilter("ignore", (ConvergenceWarning, BoundaryWarning))
    for horizon in (1, 2):
        for method in ("fhs", "ewma-normal") if FAST else ("fhs", "evt", "ewma-normal"):
            for a in ASSETS:
                model = StressRangeModel(confidence=0.99, horizon_days=horizon, method=method, refit_every_days=63, progress=False)
                results[(horizon, method, a)] = model.fit(returns[a], garch=garch[a])


def backtest_both_ways(returns_, rates_, horizon):
    """backtest_table with the traffic light stepped daily, plus the Basel quarterly green share and red count."""
    table = backtest_table(returns_, rates_, horizon_days=horizon, alpha=0.99)
    quarterly = backtest_table(returns_, rates_, horizon_days=horizon, alpha=0.99, traffic_light_step=BASEL_QUARTER_OBS)
    return table.assign(green_share_q=quarterly["green_share"], red_q=quarterly["red"])


tables = []
for (horizon, method, a), result in results.items():
    table = backtest_both_ways(returns[a], {a: result.margin_rates("long").loc[BACKTEST_START[a] :]}, horizon)
    tables.append(table.assign(horizon_days=horizon, method=method))
backtests = pd.concat(tables).reset_index().rename(columns={"name": "asset"}).set_index(["horizon_days", "method", "asset"])
columns = ["n_obs", "n_exceptions", "exception_rate", "kupiec_p", "christoffersen_cc_p", "green", "yellow", "red", "green_share", "green_share_q", "red_q", "average_margin_rate"]
backtests[columns]

# %% [markdown]
# **Variant: out-of-sample residual pool.** `residual_pool="out-of-sample"` drops the in-sample residuals of the
# first fit (the seed) once 250 out-of-sample shocks exist, so the quantile also absorbs a persistent bias of the
# volatility forecasts (SOL's out-of-sample residuals have a standard deviation of about 0.85: its forecasts
# overstate its volatility after 2021).
#
# **Variant: out-of-sample pool, switching at 250 independent shocks** (`out_of_sample_min_independent=250`). The
# pool holds *overlapping* $h$-day blocks, so $n$ blocks carry only about $n/h$ independent shocks; switching at
# 250 blocks means 250 independent 1-day shocks but only about 125 independent 2-day shocks — an empirical 1%
# quantile from ~125 independent values is little more than the largest loss. This variant keeps the seed until the
# out-of-sample pool holds 250 **non-overlapping** $h$-day shocks ($250h$ blocks), the same effective sample size at
# every horizon (identical to the previous variant at 1 day).

# %%
def variant_backtests(**pool_options):
    variant_tables = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (ConvergenceWarning, BoundaryWarning))
        for horizon in (1, 2):
            rates = {}
            for a in ASSETS:
                model = StressRangeModel(confidence=0.99, horizon_days=horizon, refit_every_days=63, progress=False, **pool_options)
                rates[a] = model.fit(returns[a], garch=garch[a]).margin_rates("long").loc[BACKTEST_START[a] :]
            variant_tables.append(backtest_both_ways(returns, rates, horizon).assign(horizon_days=horizon))
    return pd.concat(variant_tables).reset_index().rename(columns={"name": "asset"}).set_index(["horizon_days", "asset"])


variant = variant_backtests(residual_pool="out-of-sample")
variant[columns]

# %%
variant_independent = variant_backtests(residual_pool="out-of-sample", out_of_sample_min_independent=250)
variant_independent[columns]

# %% [markdown]
# ### The quality targets of issue 5, configuration by configuration
#
# Targets (1- and 2-day 99% long margin, out of sample): exception rate within 0.8–1.2% for BTC and ETH; Kupiec and
# Christoffersen conditional coverage not rejected at 5% for all four assets; at least 95% of the 250-observation
# windows green and none red. A `True` below means the target holds for every asset and horizon of the configuration.

# %%
targets = pd.concat(
    {
        "default pool (all)": backtests.xs("fhs", level="method"),
        "out-of-sample pool": variant,
        "out-of-sample pool, 250 independent": variant_independent,
    },
    names=["configuration"],
)
btc_eth = targets.index.get_level_values("asset").isin(["BTC", "ETH"])
check = pd.DataFrame(
    {
        "rate 0.8-1.2% (BTC, ETH)": targets["exception_rate"].between(0.008, 0.012) | ~btc_eth,
        "Kupiec not rejected": ~targets["kupiec_rejected"].astype(bool),
        "CC not rejected": ~targets["cc_rejected"].astype(bool),
        ">=95% green (every window)": targets["green_share"] >= 0.95,
        ">=95% green (quarterly)": targets["green_share_q"] >= 0.95,
        "no red window": (targets["red"] == 0) & (targets["red_q"] == 0),
    }
)
check.groupby(level="configuration").all().T

# %%
# the green share a *correct* model can expect: P(X <= 4) for X ~ Binomial(250, p) (scipy.stats.binom)
from scipy import stats

pd.Series({f"true rate {p:.1%}": stats.binom.cdf(4, 250, p) for p in (0.006, 0.007, 0.008, 0.009, 0.010, 0.012)}, name="P(window green)")

# %% [markdown]
# Reading the tables (full mode, BTC 2016→, ETH 2017→, BNB 2019→, SOL mid-2021→; model fixed in advance for all
# assets: GJR skew-t volatility refitted every 42 days on the expanding history, FHS quantile refitted daily):
#
# * **EWMA-normal** gives about 2% exceptions on BTC and ETH at a nominal 1% — the normal quantile is far
#   too thin for crypto — and is rejected by Kupiec.
# * **FHS, default pool** (`residual_pool="all"`): BTC 0.93% / 1.07% (1-day / 2-day), ETH 0.87% / 0.87%,
#   BNB 0.89% / 0.98% — BTC and ETH inside 0.8–1.2% at both horizons, Kupiec and conditional coverage not rejected
#   for BTC, ETH and BNB. **SOL 1-day is over-conservative**: 0.45% (6 in 1331), Kupiec p=0.024, CC p=0.005 —
#   its GJR forecasts come out of the 2021 boom and overstate its later volatility, and the seed residuals keep
#   the quantile wide. Pooling residuals across assets (`fit(..., pool=...)`) does *not* fix this (BTC/ETH/BNB
#   shocks have heavier tails; pooling makes SOL more conservative, about 0.15%).
# * **FHS, out-of-sample pool** (`residual_pool="out-of-sample"`: the seed is dropped once 250 out-of-sample
#   shocks exist): Kupiec and conditional coverage not rejected for any asset at either horizon (SOL 1-day 0.75%,
#   p=0.34 / 0.11), BTC 0.99% / 1.01%, ETH 1-day 0.87%, but **ETH 2-day 1.21%** (18 in 1486), a hair above 1.2%.
# * **FHS, out-of-sample pool switching at 250 independent shocks** (`out_of_sample_min_independent=250`; same as
#   the previous variant at 1 day): 2-day BTC 1.01%, ETH 0.94% (14 in 1486), BNB 0.98%, SOL 1.20% (8 in 665).
#   It meets the exception-rate window for BTC and ETH at both horizons, and neither Kupiec nor conditional coverage
#   rejects for any of the four assets at either horizon (smallest p: SOL 1-day conditional coverage 0.11).
#   Disclosure: this switching rule was written after seeing ETH 2-day at 1.21% with the 250-block rule; it is one
#   rule for all assets, justified by the effective sample size, not fitted per asset.
# * **Traffic light**: no red window for FHS anywhere, in either counting. For BTC, ETH and BNB the green share is
#   83–94% counting every window and 80–94% with the Basel quarterly convention (one window every 63
#   observations); SOL (97–100%) and ETH 2-day with the default pool (100%) or the 250-independent switch (98%)
#   are above 95%. Counting quarterly rather than daily changes the share by about a point, not more: windows
#   63 observations apart still share most of their observations.
# * **The 95%-green target is out of reach of a correctly calibrated model**: with a true 1% rate a
#   250-observation window is green with probability $P(X\le4)=89.2\%$ (table above), and even at 0.8% only
#   94.8%. Exception rates of 0.8–1.2% and ≥95% green windows are compatible only if exceptions are spread *more
#   evenly* than independent draws, which the clustering of crypto crashes does not give; only a model running at
#   about 0.7% or less (green probability ≥ 96.8%) would pass, and it would fail the 0.8% lower bound.
#
# **Verdict.** No configuration meets every target: none reaches 95% green windows for BTC, ETH and BNB (none
# has a red window). The out-of-sample pool switching at 250 independent shocks meets all the other targets on all
# four assets; the default pool misses SOL 1-day (Kupiec and conditional coverage rejected); the out-of-sample pool
# switching at 250 blocks misses ETH 2-day (1.21%). Other principled variants measured
# while preparing this notebook and not adopted: `min_pool=500` with the out-of-sample pool (it also delays the first
# rate, and SOL 1-day conditional coverage is rejected, p=0.041) and the EVT quantile (`method="evt"`; SOL 1-day 0.45%,
# Kupiec rejected, with either pool).

# %% [markdown]
# ## 5. Anti-procyclicality: 2-day 99.7% margin rates for BTC and ETH
#
# EMIR RTS 153/2013 art. 28 tools (`AntiProcyclicality`): (a) a 25% buffer released in stress,
# (b) 25% weight on the stressed rate (the largest rate seen so far), (c) a 10-year historical-quantile floor,
# and a slow-EWMA volatility floor; plus **EWMA smoothing of the requirement** itself
# ($m_t = s\,m_{t-1} + (1-s)\,m^{base}_t$). The floors apply to the daily rate **before** the smoothing (a floor
# applied after it would pass a jump of the floor -- e.g. a switch of the residual pool -- straight through). Procyclicality metrics: peak-to-trough ratio of the rate, largest
# 1-, 5- and 30-day relative increases, average level.

# %%
configurations = {
    "no tool": None,
    "buffer 25%": AntiProcyclicality(buffer=0.25),
    "stressed weight 25%": AntiProcyclicality(stressed_weight=0.25),
    "10-year floor": AntiProcyclicality(lookback_floor_years=10),
    "slow EWMA floor 0.995": AntiProcyclicality(slow_ewma_lambda=0.995),
    "smoothing 0.97 + slow EWMA floor 0.995": AntiProcyclicality(smoothing_lambda=0.97, slow_ewma_lambda=0.995),
}
apc_rows = []
apc_rates = {}
with warnings.catch_warnings():
    warnings.simplefilter("ignore", (ConvergenceWarning, BoundaryWarning))
    for a in ["BTC"] if FAST else ["BTC", "ETH"]:
        rates = {}
        for name, tools in configurations.items():
            model = StressRangeModel(confidence=0.997, horizon_days=2, method="fhs", anti_procyclicality=tools, refit_every_days=63, progress=False)
            rates[name] = model.fit(returns[a], garch=garch[a]).margin_rates("long").loc[BACKTEST_START[a] :]
        apc_rates[a] = rates
        metrics = procyclicality_table(rates)
        coverage = backtest_table(returns[a], rates, horizon_days=2, alpha=0.997)
        apc_rows.append(pd.concat([metrics, coverage[["exception_rate", "kupiec_p"]]], axis=1).assign(asset=a))
apc = pd.concat(apc_rows).reset_index().set_index(["asset", "name"])
apc[["average_rate", "peak_rate", "trough_rate", "peak_to_trough", "max_increase_1d", "max_increase_5d", "max_increase_30d", "exception_rate", "kupiec_p"]]

# %%
fig, ax = plt.subplots(figsize=(10, 4))
shown = {k: v for k, v in apc_rates["BTC"].items() if k in ("no tool", "10-year floor", "smoothing 0.97 + slow EWMA floor 0.995")}
sns.lineplot(data=pd.DataFrame(shown).mul(100), ax=ax, linewidth=0.8, dashes=False)
ax.set(xlabel="date", ylabel="2-day 99.7% margin rate, % of price", title="BTC: margin rate with and without anti-procyclicality tools")
plt.show()

# %% [markdown]
# Floors alone (10-year floor, stressed weight, slow EWMA) lift the troughs but leave the peaks — the peak of a
# GARCH-driven rate (March 2020, spring 2021) is what makes the ratio 7–9×; the 25% buffer barely helps because
# it absorbs only the first 25% of a rise. The stressed weight gets near 3× but at an average rate above 30%.
# **Smoothing the requirement with $s=0.97$ and flooring it at the slow-EWMA ($\lambda=0.995$) rate** meets the
# target on both assets — peak-to-trough below 3 at an average rate of 20–24% — while the 99.7% exception rate
# stays at or below its nominal 0.3%. The cost: a spike of the forecast is phased in over weeks, so coverage at
# the very start of a crash rests on the floor and on the extreme-move layer below.
#
# ## 6. Tail coverage of the reference moves (worked_examples.md, section H)
#
# The extreme layer of the grid: at the stated cover `extreme_confidence` (99.97%), the GPD tail quantile of the
# shock pool applied to the **stressed** volatility (the largest $h$-day vol forecast seen so far), never
# below the largest historical $h$-day move in the data up to the day before.

# %%
one_day = {a: results[(1, "fhs", a)] for a in ASSETS}
two_day = {a: results[(2, "fhs", a)] for a in ASSETS}
all_returns = dict(returns)
if not FAST:
    all_returns["USDC"] = data.log_returns(data.load_daily("USDC")["close"])
coverage = pd.concat(
    [tail_coverage_table(one_day, returns=all_returns), tail_coverage_table(two_day, returns=all_returns)]
)
coverage = coverage[~coverage["note"].str.contains("differs")].drop_duplicates(["asset", "date", "horizon_days"])
coverage = coverage.sort_values(["asset", "date"]).reset_index(drop=True)
# the same extreme layer on the *current* volatility forecast, and its two parts
current = {}
with warnings.catch_warnings():
    warnings.simplefilter("ignore", (ConvergenceWarning, BoundaryWarning))
    for horizon in (1, 2):
        for a in ASSETS:
            model = StressRangeModel(confidence=0.99, horizon_days=horizon, extreme_vol="current", refit_every_days=63, progress=False)
            current[(horizon, a)] = model.fit(returns[a], garch=garch[a]).frame
parts = []
for row in coverage.itertuples():
    key = (row.horizon_days, row.asset)
    stamp = pd.Timestamp(row.date, tz="UTC")
    if key in current and stamp in current[key].index:
        line = current[key].loc[stamp]
        parts.append({"evt_current_vol": line["extreme_down_evt"], "historical_worst": line["historical_worst_down"], "extreme_current": line["extreme_down"]})
    else:
        parts.append({"evt_current_vol": np.nan, "historical_worst": np.nan, "extreme_current": np.nan})
coverage = pd.concat([coverage, pd.DataFrame(parts)], axis=1)
coverage["covered_extreme_current"] = coverage["extreme_current"] >= coverage["move"].abs()
coverage.drop(columns="note")

# %% [markdown]
# Full-run figures (rates in force on the day of the move, computed with data up to the day before):
#
# * The **adaptive 99% scan range** covers none of the moves: on 2020-03-12 BTC's 1-day 99% range was 10.6%
#   against a −38.8% day (ETH 18.3% vs −42.4%). This is by design — a 99% daily quantile is exceeded on 1% of
#   days, and a ten-sigma day is outside any volatility-scaled quantile (the brief's 99.7% ranges missed it too).
# * The **extreme layer on the current volatility** (99.97% GPD quantile x today's forecast, floored by the worst
#   historical h-day move) **misses 2020-03-12**: BTC 25.8% (GPD 25.8%, worst earlier day since 2014 24.5%) and ETH
#   34.2% against −39% / −42%. It covers the FTX two-day moves — BTC through both parts (GPD 23.4% vs −22.8%),
#   ETH only through the historical floor (GPD 29.1% vs −29.9%, worst earlier 2-day move 45%) — and SOL's −42% day
#   (GPD 47.9%).
# * The **extreme layer on the stressed volatility** (the default: the largest forecast seen so far) covers every
#   reference move, but at 71–88% of the price it is a ceiling rather than a useful grid point — its stressed vol
#   comes from the 2014–2018 forecasts. A venue would cover 2020-03-12 with an explicit historical scenario.
# * **USDC**'s depeg (the close-to-close move was only −2.8%; the −12.3% was intraday) is not a volatility
#   event and is not modelled by these ranges: the depeg mixture of the haircut module covers stablecoins.
#
# ## 7. Volatility scan ranges from DVOL
#
# Quantiles of 2-day log changes of Deribit's DVOL (30-day implied vol) give the vol up/down shocks at 30 days to
# expiry, extended to other expiries with $(30/\mathrm{DTE})^p$: $p = 0.30$ (short-tenor power) at or below 30 days,
# $p = 0.13$ (long-tenor power) beyond, for the up and the down shock alike -- the meaning of the engine's `VolShock`
# and of the parameter file. DVOL has one tenor, so the powers are the Derive PMRM defaults (reported as such).

# %%
vol_ranges = {c: vol_scan_ranges(data.load_dvol(c), horizon_days=2, confidence=0.99) for c in ("BTC", "ETH")}
pd.DataFrame({c: {"vol_up_range": r.vol_up_range, "vol_down_range": r.vol_down_range, "short_tenor_power": r.short_tenor_power,
                 "long_tenor_power": r.long_tenor_power, "powers": r.powers_source, "n_obs": r.n_obs} for c, r in vol_ranges.items()}).T

# %%
vol_ranges["BTC"].shocks([1, 7, 30, 90, 180])

# %% [markdown]
# ## 8. The recommended methodology and its evidence
#
# `Methodology()` -- the package default, written whole into every parameter file -- is chosen **once for all
# assets** by the walk-forward backtest of `marginlab.analysis.methodology_backtest` (the same computation that
# `calibrate()` runs at an as-of date, `marginlab.calibration.published.published_rates`, re-run date by date), on
# **data up to 2025-02-20 only** (`FREEZE_DATE`): the choice is made on 2019-2022, checked on 2023 to the freeze
# date, and notebook 06 reports the period after it as held out. What is tested is what the file publishes: one
# maintenance (1 day, 99%) and one initial rate (2 days, 99%), each `min(max(down, up), 100%)` with the
# anti-procyclicality tool, against the loss of a long **and** of a short. The study above used GJR-GARCH forecasts
# with an expanding pool: out of sample in the calm 2023+ regime it is about ten times too conservative, because the
# pool remembers 2014-2018 and the GARCH persistence keeps volatility high.
#
# **The family** (principled, chosen once, every configuration listed: the count of configurations tried is the
# number of rows): EWMA decays, the asymmetric EWMA (fast after a move *against* the position), its side-specific
# form (each side's volatility and residual pool its own: the short side is the long side of the mirrored prices),
# an expanding pool, and the slow-EWMA floor on the margin rates. **Coverage** is the count of cells (asset x
# horizon x side) rejected for too many exceptions or clustering (`kupiec="upper"`: one published rate for both
# sides over-covers the lighter side by construction, which a two-sided test would count), **capital** the FZ0 score
# of the rate and its expected shortfall (Fissler & Ziegel 2016; Patton, Ziegel & Chen 2019; lower is better), and
# the average rate.

# %%
from marginlab import (
    AntiProcyclicalitySpec,
    Methodology,
    RateSpec,
    ResidualPoolSpec,
    VolatilitySpec,
    VolShockSpec,
    backtest_methodology,
    format_table,
)
from marginlab.analysis.coverage_targets import rejected_cell_null, rejection_flags, score_difference, score_table
from marginlab.analysis.methodology_backtest import (
    FREEZE_DATE,
    MAIN_ASSETS,
    SELECTION_BLOCKS,
    baseline_methodology,
    universe_assets,
)
from marginlab.calibration.stress_ranges import vol_shock_30d

STUDY_ASSETS = list(MAIN_ASSETS) if FAST else universe_assets(min_years=3)
recommended = Methodology()
RECOMMENDED = "asymmetric EWMA 0.97 / 0.87, side-specific (recommended)"
candidates = {
    "baseline: EWMA 0.97, no tool": baseline_methodology(),
    "EWMA 0.94": recommended.replace(volatility=VolatilitySpec(ewma_decay=0.94, ewma_decay_after_fall=None)),
    "asymmetric EWMA 0.97 / 0.87, one volatility": recommended.replace(volatility=VolatilitySpec(side_specific=False)),
    RECOMMENDED: recommended,
    "asymmetric EWMA 0.97 / 0.90, side-specific": recommended.replace(volatility=VolatilitySpec(ewma_decay_after_fall=0.90)),
    "recommended, expanding pool": recommended.replace(pool=ResidualPoolSpec(kind="expanding")),
    "recommended + slow-EWMA floor on the margin rates": recommended.replace(
        anti_procyclicality=AntiProcyclicalitySpec(margin_floor=True)),
}


def _cell_figures(run, label, first, last):
    period = run.between(first, last)
    tested = period.exceptions
    figures = {}
    for side in period.sides:
        part = tested[tested["side"] == side]
        matrix = part.pivot_table(index="date", columns=["asset", "horizon_days"], values="exception", aggfunc="first")
        valid = matrix.notna().to_numpy()
        flags = rejection_flags(matrix.fillna(False).to_numpy(dtype=bool), valid, period.confidence, kupiec="upper")
        figures[f"{label} rejected {side}"] = int(flags.sum())
    scores = score_table(period, [(label, first, last)])
    figures[f"{label} FZ0"] = float(scores["fz0_score"].mean())
    figures[f"{label} average rate"] = float(period.rates["rate"].mean())
    return figures


runs = {name: backtest_methodology(STUDY_ASSETS, m, horizons=(1, 2), start="2019-01-01", end=FREEZE_DATE)
        for name, m in candidates.items()}
choice_rows = []
for name, run in runs.items():
    row = {"candidate": name}
    for label, first, last in SELECTION_BLOCKS[:2]:
        row.update(_cell_figures(run, label.split()[0], first, last))
    choice_rows.append(row)
choice = pd.DataFrame(choice_rows).set_index("candidate")
choice["choice rejected"] = choice["choice rejected long"] + choice["choice rejected short"]
# the rule, fixed before looking at the test period. Coverage: on each side, the rejected-cell count inside the 95%
# range of a correctly calibrated model with the observed cross-asset clustering (notebook 06). Capital: the FZ0
# score; configurations not worse than the best one beyond sampling noise ("FZ0 z vs best" = best minus candidate in
# paired, date-clustered standard errors, above -2) are tied,
# and the tie goes to the fewest rejected cells, then the lowest average rate.
choice_first, choice_last = SELECTION_BLOCKS[0][1], SELECTION_BLOCKS[0][2]
null = rejected_cell_null(runs[RECOMMENDED].between(choice_first, choice_last), n_simulations=60 if FAST else 200,
                          kupiec="upper", rng=0).table.set_index("side")
choice["coverage within a correct model's range"] = ((choice["choice rejected long"] <= null.loc["long", "null_high"])
                                                     & (choice["choice rejected short"] <= null.loc["short", "null_high"]))
best = choice.loc[choice["coverage within a correct model's range"], "choice FZ0"].idxmin()
choice["FZ0 z vs best"] = [score_difference(runs[best], runs[name], choice_first, choice_last)["z"] if name != best else 0.0
                           for name in choice.index]
eligible = choice[choice["coverage within a correct model's range"] & (choice["FZ0 z vs best"] > -2.0)]
chosen = eligible.sort_values(["choice rejected", "choice average rate"]).index[0]
print(f"{len(candidates)} configurations tried on {len(STUDY_ASSETS)} assets; correct-model range on 2019-2022: long <= "
      f"{null.loc['long', 'null_high']:.0f}, short <= {null.loc['short', 'null_high']:.0f} rejected cells; chosen: {chosen}")
format_table(choice)

# %% [markdown]
# Reading (full run, 20 assets with three years of history): the symmetric decays and the plain baseline leave
# clustered exceptions after crashes; reacting fast only after a move against the position (the leverage effect of a
# GJR model, without a fit that can sit on the integrated boundary) removes most of them, and doing so **for each
# side with its own volatility** removes the short side's clustering (after a squeeze the short side's volatility
# now reacts as fast as the long side's after a crash) at a lower average rate and a better FZ0 score than one
# shared volatility. The slow-EWMA floor on the margin rates (the tool that would lift the troughs of the
# procyclicality ratio) costs much more margin and scores worse: the margin rates carry the tool in its release-only
# form (a 0.9 smoothing never below the plain rate), and the floor stays on the scan range. The test period (2023 to
# the freeze date) confirms the ranking; notebook 06 shows the held-out year.
#
# **The upside tail and the 100% cap.** A short can lose more than its notional; the file caps every rate at 100% of
# notional (`rates.cap`, each side before the tools, so no smoothing carries an uncapped spike): a requirement of the
# whole notional already funds the position fully at one times leverage, and price rises beyond it within the margin
# period belong to the extreme-move layer (`extreme.cap_up`, up to +500% at SPAN's 35% cover). Without the cap,
# DOGE's 2-day 99.7% up rate reached +1,298% at 2021-06-30 (a grid at thirteen times the price) and no file could be
# written. How often the cap binds on the published 1- and 2-day rates since 2019, and how often a 1- or 2-day rise
# actually exceeded 100%:

# %%
uncapped_methodology = recommended.replace(rates=RateSpec(cap=None))
uncapped = {
    "maintenance / initial": backtest_methodology(STUDY_ASSETS, uncapped_methodology, horizons=(1, 2), start="2019-01-01",
                                                  sides=("short",)),
    "scan range": backtest_methodology(STUDY_ASSETS, uncapped_methodology, horizons=(2,), confidence=0.997, start="2019-01-01",
                                       sides=("short",)),
}
cap_rows = []
for asset in STUDY_ASSETS:
    close = data.load_daily(asset)["close"]
    close = close[close.index >= pd.Timestamp("2019-01-01", tz="UTC")]
    for label, run in uncapped.items():
        for h in run.horizons:
            rates_h = run.rates[(run.rates["asset"] == asset) & (run.rates["horizon_days"] == h)]["rate"]
            rises = close.shift(-h) / close - 1
            cap_rows.append({"asset": asset, "rate": label, "horizon_days": h, "dates": len(rates_h),
                             "days above 100%": int((rates_h > 1).sum()), "largest uncapped rate": float(rates_h.max()),
                             "rises above 100%": int((rises > 1).sum())})
cap_table = pd.DataFrame(cap_rows)
binding = cap_table[(cap_table["days above 100%"] > 0) | (cap_table["rises above 100%"] > 0)]
print(f"cap binding on {int(cap_table['days above 100%'].sum())} asset-dates of {int(cap_table['dates'].sum())}; "
      f"rises above 100% within the horizon: {int(cap_table['rises above 100%'].sum())}")
format_table(binding if len(binding) else cap_table.nlargest(5, "largest uncapped rate"))

# %% [markdown]
# The cap binds on the 2-day 99.7% scan range of a few smaller coins after their largest squeezes (DOGE through 2021,
# LTC, XRP: about 1% of asset-dates since 2019, full run), on the 1- and 2-day rates (already `min(., 100%)` in the
# file) hardly ever; the realised rises above 100% within the horizon -- the losses the cap leaves to the
# extreme-move layer -- are two dozen asset-days, and the backtest counts them as exceptions like any other. Every
# non-stablecoin asset's file can then be written on every date (the schema bounds the scan range at 5).
#
# **Anti-procyclicality** of the 2-day 99.7% scan range: the floor (the same FHS quantile on a slow EWMA(0.995)
# volatility) is applied to the daily rate *before* an EWMA smoothing of the rate. Measured from 2019 (the span of
# the regime targets) on the assets with the largest swings:

# %%
apc_assets = ["BTC", "ETH"] if FAST else ["BTC", "ETH", "DOGE", "TRX", "MATIC"]
apc_candidates = {
    "smoothing 0.97, no floor": AntiProcyclicalitySpec(smoothing_lambda=0.97, floor="none"),
    "smoothing 0.99, no floor": AntiProcyclicalitySpec(smoothing_lambda=0.99, floor="none"),
    "floor 0.995 then smoothing 0.97": AntiProcyclicalitySpec(smoothing_lambda=0.97),
    "floor 0.995 then smoothing 0.99 (recommended)": AntiProcyclicalitySpec(smoothing_lambda=0.99),
}
apc_choice = {}
for name, spec in apc_candidates.items():
    run = backtest_methodology(apc_assets, recommended.replace(anti_procyclicality=spec), horizons=(2,), confidence=0.997,
                               start="2019-01-01", end=FREEZE_DATE, sides=("long",))
    apc_choice[name] = {f"{row.asset} peak-to-trough @ average": f"{row.peak_to_trough:.2f} @ {row.average_rate:.1%}"
                        for row in run.table.itertuples(index=False)}
pd.DataFrame(apc_choice).T

# %% [markdown]
# Smoothing alone leaves the smaller coins' ratios far above 3.5 (their calm troughs are very low); the slow-EWMA
# floor lifts the troughs, and the 0.99 smoothing (a ~70-day half-life) then phases every rise in: the largest
# one-day increase of the recommended scan range is a few percent (notebook 06), far below the 50% limit.
#
# **Vol shocks for assets without an implied-vol index.** The old proxy (quantiles of the asset's own GARCH or
# realised-vol changes) gives implausible shocks (+134% and +243% 30-day vol shocks for two mid-caps): realised
# vol moves far more than implied vol. `vol_shock_30d` scales the asset's realised-vol changes by the ratio of
# implied to realised vol-change quantiles measured on BTC and ETH (about 0.54), takes the down shock from
# BTC/ETH DVOL (a 0.94-EWMA realised vol cannot fall by more than 6% in two days, so its falls carry no
# information), and caps the result at 50% up (about the 99.9% quantile of the 2-day DVOL rises of BTC, 53%, and
# ETH, 46%) and 30% down (the largest 2-day DVOL falls, 28% and 23%).

# %%
spec = recommended.vol_shock
reference = {}
for c in spec.dvol_reference:
    reference[c] = (data.load_dvol(c)["close"], np.log(data.load_daily(c)["close"]).diff().dropna().iloc[-1500:])
shock_rows = {}
for asset in STUDY_ASSETS:
    asset_returns = np.log(data.load_daily(asset)["close"]).diff().dropna().iloc[-1500:]
    implied = reference[asset][0] if asset in reference else None
    up, down, source = vol_shock_30d(asset, asset_returns, implied, reference, spec)
    proxy_up, proxy_down, _ = vol_shock_30d(asset, asset_returns, None, reference, VolShockSpec(non_dvol_method="garch-proxy", cap_up=10.0, cap_down=0.99))
    shock_rows[asset] = {"up_30d": up, "down_30d": down, "source": source, "unscaled proxy up": proxy_up}
dvol_tails = {c: float(np.expm1(np.quantile(np.log(reference[c][0]).diff(2).dropna(), 0.999))) for c in reference}
print("99.9% quantile of 2-day DVOL rises:", {c: f"{v:.0%}" for c, v in dvol_tails.items()})
vol_shock_table = pd.DataFrame(shock_rows).T
vol_shock_table.style.format({"up_30d": "{:.1%}", "down_30d": "{:.1%}", "unscaled proxy up": "{:.1%}"})

# %%
baseline_name = "baseline: EWMA 0.97, no tool"
assert choice.loc[RECOMMENDED, "choice rejected"] <= choice.loc[baseline_name, "choice rejected"]
assert choice.loc[RECOMMENDED, "choice average rate"] < choice.loc["recommended + slow-EWMA floor on the margin rates", "choice average rate"]
if not FAST:
    assert chosen == RECOMMENDED, chosen  # the default is the configuration the rule picks on 2019-2022
assert (cap_table["largest uncapped rate"] > 0).all()
assert vol_shock_table["up_30d"].max() <= spec.cap_up and vol_shock_table["down_30d"].max() <= spec.cap_down
assert (vol_shock_table["up_30d"] < vol_shock_table["unscaled proxy up"]).all()
assert all(0.4 <= v <= 0.65 for v in dvol_tails.values())  # the cap of 50% sits at the majors' 1-in-1000 rise
OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
choice.to_csv(OUTPUT_DIR / "02_methodology_choice.csv")

# %% [markdown]
# ## 9. Key figures (checked)

# %%
fhs = backtests.xs("fhs", level="method")
ewma = backtests.xs("ewma-normal", level="method")
summary = {
    "BTC 1d 99% FHS exception rate": fhs.loc[(1, "BTC"), "exception_rate"],
    "ETH 1d 99% FHS exception rate": fhs.loc[(1, "ETH"), "exception_rate"],
    "BTC 2d 99% FHS exception rate": fhs.loc[(2, "BTC"), "exception_rate"],
    "ETH 2d 99% FHS exception rate": fhs.loc[(2, "ETH"), "exception_rate"],
    "BTC 1d EWMA-normal exception rate": ewma.loc[(1, "BTC"), "exception_rate"],
    "SOL 1d FHS exception rate, out-of-sample pool": variant.loc[(1, "SOL"), "exception_rate"] if "SOL" in ASSETS else np.nan,
    "ETH 2d FHS exception rate, out-of-sample pool, 250 independent": variant_independent.loc[(2, "ETH"), "exception_rate"],
    "BTC 1d FHS green windows, every window": fhs.loc[(1, "BTC"), "green_share"],
    "BTC 1d FHS green windows, Basel quarterly": fhs.loc[(1, "BTC"), "green_share_q"],
    "BTC APC peak-to-trough (smoothing+floor)": apc.loc[("BTC", "smoothing 0.97 + slow EWMA floor 0.995"), "peak_to_trough"],
    "BTC APC average rate (smoothing+floor)": apc.loc[("BTC", "smoothing 0.97 + slow EWMA floor 0.995"), "average_rate"],
}
summary

# %%
OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
backtests.to_csv(OUTPUT_DIR / "02_var_backtests.csv")
targets.to_csv(OUTPUT_DIR / "02_quality_targets.csv")
apc.to_csv(OUTPUT_DIR / "02_procyclicality.csv")

# %%
# EWMA-normal under-covers; FHS does not reject on BTC and ETH; no red traffic-light window for FHS
assert (ewma.loc[pd.IndexSlice[:, ["BTC", "ETH"]], "exception_rate"] > 0.015).all()
assert not fhs.loc[pd.IndexSlice[:, ["BTC", "ETH"]], "kupiec_rejected"].any()
assert (fhs["red"] == 0).all() and (fhs["red_q"] == 0).all()
assert (variant["red"] == 0).all() and (variant["red_q"] == 0).all()
if FAST:
    assert (fhs.loc[pd.IndexSlice[:, ["BTC", "ETH"]], "exception_rate"].between(0.003, 0.02)).all()
else:
    assert fhs.loc[pd.IndexSlice[:, ["BTC", "ETH"]], "exception_rate"].between(0.008, 0.012).all()
    assert not fhs.loc[pd.IndexSlice[:, ["BTC", "ETH", "BNB"]], "cc_rejected"].any()
    assert not variant["kupiec_rejected"].any() and not variant["cc_rejected"].any()  # all four assets, both horizons
    assert variant.loc[(1, "BTC"), "exception_rate"] >= 0.008 and variant.loc[(1, "ETH"), "exception_rate"] >= 0.008
    # out-of-sample pool switching at 250 independent shocks: every target except the 95% green share
    assert variant_independent.loc[pd.IndexSlice[:, ["BTC", "ETH"]], "exception_rate"].between(0.008, 0.012).all()
    assert not variant_independent["kupiec_rejected"].any() and not variant_independent["cc_rejected"].any()
    assert (variant_independent["red"] == 0).all() and (variant_independent["red_q"] == 0).all()
    for a in ("BTC", "ETH"):
        row = apc.loc[(a, "smoothing 0.97 + slow EWMA floor 0.995")]
        assert row["peak_to_trough"] <= 3.0 and row["average_rate"] <= 0.26
        assert apc.loc[(a, "no tool"), "peak_to_trough"] > 5
