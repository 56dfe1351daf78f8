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
# # 09 — DeFi collateral and lending-market risk
#
# Risk parameters of a lending market (an Aave-like pool with ETH, wstETH, a WBTC-like BTC, USDC and USDe), from the
# collateral types to the parameters governance would vote on:
#
# 1. **Collateral types as data** (`marginlab.defi.collateral_types`): liquid-staking tokens (exchange rate × market
#    discount with its own depeg model, calibrated on stETH at 0.9367 ETH on 2022-06-15 and wBETH at 0.2012 ETH on
#    Binance's book on 2025-10-10), a yield-bearing token, a synthetic dollar (USDe at 0.65 on Binance on 2025-10-10),
#    Uniswap v2 and v3 LP positions (closed forms: $x = L/\sqrt P$, $y = L\sqrt P$; v2 impermanent loss
#    $2\sqrt k/(1+k) - 1$; a v3 range $[P_a, P_b]$ holds $x = L(1/\sqrt P - 1/\sqrt{P_b})$, $y = L(\sqrt P - \sqrt{P_a})$ —
#    Uniswap v2 and v3 Core whitepapers) and a Pendle-like principal token priced $(1+r)^{-\tau}$. Each gets a haircut:
#    the market risk of its drivers (joint filtered historical simulation), a depeg add-on and a liquidity add-on.
# 2. **The lending-market model** (`marginlab.defi.lending`): accounts × paths, liquidations by Aave v3.3's rules (close
#    factor 50%, 100% at a health factor of 0.95 **and below** or under 2,000 USD, the seizure capped at the collateral,
#    the dust rule, deficits), liquidators selling into a liquidity curve only what is profitable. Metrics: Gauntlet's
#    VaR (95th percentile of net insolvent debt) and LaR (95th percentile of liquidations); Chaos Labs' VaR95 and
#    EVaR99 of 24-hour bad debt.
# 3. **Recommendations** (`marginlab.defi.recommend`): LTV, liquidation threshold and bonus within one governance step
#    (Chaos Labs: about ±3% per proposal), caps at twice the liquidity available at a slippage equal to the bonus,
#    Risk DAO's closed-form LTV $e^{-c\sigma/\sqrt{l/d}} - \beta$ as a screen, eMode eligibility of correlated pairs.
# 4. **Backtests** through the stETH discount of June 2022, the USDC depeg of March 2023 and 10 October 2025, with and
#    without the depegs, next to the target.
# 5. **Perpetual protocols**: open-interest caps from the square-root impact of stress liquidations.

# %% tags=["parameters"]
import os
from dataclasses import replace
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

FAST = os.environ.get("MARGINLAB_FAST", "0") == "1"
MARKET_FILE = Path("../examples/lending_market.yaml")
N_PATHS = 300 if FAST else 1000          # price paths of the lending simulation
N_HAIRCUT_PATHS = 5_000 if FAST else 20_000
SEED = 2026
OUTPUT_DIR = Path(os.environ.get("MARGINLAB_OUTPUT_DIR", "../reports/interactive"))
OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
pd.set_option("display.width", 160)

# %%
from marginlab import format_table, save_figure
from marginlab.defi.collateral_types import (
    collateral_haircuts,
    load_collateral_types,
    principal_token_price,
    v2_impermanent_loss,
    v3_impermanent_loss,
)
from marginlab.defi.lending import filtered_residuals
from marginlab.defi.market_file import load_market_file
from marginlab.defi.perps import oi_caps_from_data
from marginlab.defi.recommend import LendingRecommender, load_driver_history
from marginlab.stats import fhs_joint_horizon_returns

registry = load_collateral_types()
spec = replace(load_market_file(MARKET_FILE), n_paths=N_PATHS)

# %% [markdown]
# ## 1. Collateral types and their haircuts
#
# The depeg models come from recorded episodes (each a trough against its fair value, with its source in
# `marginlab/defi/data/collateral_types.yaml`): intensity = episodes per token-year, severity drawn among the episodes.

# %%
depeg = pd.DataFrame([{"history": name, "episodes": len(m.severities), "intensity_per_year": m.intensity_per_year,
                       "p_1day": m.horizon_probability(1), "mean_severity": float(np.mean(m.severities)),
                       "es99_1day": m.expected_shortfall(1, 0.99)} for name, m in registry.depeg.items()]).set_index("history")
format_table(depeg, percent=["p_1day", "mean_severity", "es99_1day"], decimals=3)

# %%
history = load_driver_history(spec)
z, sigma = filtered_residuals(history)
horizon = 3
joint = fhs_joint_horizon_returns(z, sigma, horizon, N_HAIRCUT_PATHS, rng=SEED)
drivers = {d: joint[:, j] for j, d in enumerate(history.columns)}
names = ["ETH", "BTC", "WBTC", "USDC", "USDe", "stETH", "wstETH", "wBETH", "sUSDe", "PT-sUSDe", "UNI-V2-ETH-USDC", "UNI-V3-ETH-USDC-RANGE"]
haircuts = collateral_haircuts(registry, names, drivers, horizon_days=horizon, asof=spec.asof,
                               sizes_usd={"ETH": 5e7, "wstETH": 5e7}, adv_usd={"ETH": 2e10, "wstETH": 2e8},
                               sigma_daily={"ETH": float(sigma[list(history.columns).index("ETH")]),
                                            "wstETH": float(sigma[list(history.columns).index("ETH")])}, rng=SEED)
format_table(haircuts, percent=["market_risk", "depeg_add_on", "liquidity_add_on", "haircut"])

# %% [markdown]
# Closed forms: the impermanent loss of a full-range (v2) position and of a v3 range position $[P_0/2, 2P_0]$ against
# holding, and a principal token's price as maturity nears.

# %%
k = np.exp(np.linspace(np.log(0.25), np.log(4.0), 200))
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
axes[0].plot(k, 100 * v2_impermanent_loss(k), label="Uniswap v2 (full range)")
axes[0].plot(k, 100 * v3_impermanent_loss(k, 0.5, 2.0), label="Uniswap v3 range [P0/2, 2 P0]")
axes[0].set(xscale="log", xlabel="price ratio P1 / P0 (log scale)", ylabel="loss against holding (%)", title="Impermanent loss")
axes[0].legend()
days = np.arange(0, 366)
axes[1].plot(days, principal_token_price(0.09, days / 365.0), label="implied rate 9%")
axes[1].set(xlabel="days to maturity", ylabel="PT price (units of the underlying)", title="Principal token (1 + r)^-tau")
axes[1].legend()
fig.tight_layout()
save_figure(fig, "09_closed_forms", output_dir=OUTPUT_DIR)

# %% [markdown]
# ## 2–3. Recommendations for the example market
#
# One set of joint price paths (24 hours, a liquidation round every 4 hours) serves every candidate. For each pair the
# recommender keeps the candidates within one step whose VaR95 and EVaR99 stay under the pair's share of the targets
# and whose LaR95 can be sold at a slippage below the bonus, and picks the one of least capital cost to borrowers.

# %%
recommender = LendingRecommender()
recommendation = recommender.recommend(spec, driver_history=history)
format_table(recommendation.reserve_table(), percent=["ltv", "ltv_new", "lt", "lt_new", "bonus", "bonus_new"])

# %%
pairs = recommendation.pair_table()
format_table(pairs, percent=["lt_new", "ltv_new", "risk_dao_ltv", "emode_lt"])

# %% [markdown]
# The Risk DAO screen ($c = 2.33$, daily volatility, the liquidity at a price impact equal to the bonus) is more
# conservative than the simulation where the pair's liquidity is thin against its debt (ETH, wstETH and BTC against
# USDC), and close to it for the correlated pairs. USDe against USDC fails the eMode divergence test: the depeg of
# 10 October 2025 (0.65) makes its 24-hour divergence bound exceed 5%.

# %%
market = recommendation.market
print(f"market VaR95 {market.var95_usd:,.0f} USD (target {spec.targets.var95_usd:,.0f}), "
      f"EVaR99 {market.evar99_usd:,.0f} USD (target {spec.targets.evar99_usd:,.0f}), LaR95 {market.lar95_usd:,.0f} USD")

# %% [markdown]
# ## 4. Backtests: June 2022, March 2023, 10 October 2025
#
# Each event replays the embedded daily history's relative moves (two steps a day: the day's low, then the close) on
# today's prices, with the same borrowers, under the current and the recommended parameters — and again with every
# token on its peg, to isolate what the depegs cost. The accounts do not top up or deleverage during the replay, so a
# multi-day fall (ETH −35% in June 2022) is a harsher test than a 24-hour VaR.

# %%
backtest = recommendation.backtest()
table = backtest.pivot_table(index=["event", "parameters"], columns="depeg", values="bad_debt_usd").rename(
    columns={True: "bad_debt_with_depegs_usd", False: "bad_debt_without_depegs_usd"})
table["depeg_cost_usd"] = table["bad_debt_with_depegs_usd"] - table["bad_debt_without_depegs_usd"]
table["var95_target_usd"] = spec.targets.var95_usd
format_table(table, decimals=0)

# %%
fig, ax = plt.subplots(figsize=(9, 3.8))
plot = table[["bad_debt_without_depegs_usd", "depeg_cost_usd"]].clip(lower=0) / 1e6
plot.plot.barh(stacked=True, ax=ax, color=["#4c72b0", "#dd8452"])
ax.axvline(spec.targets.var95_usd / 1e6, color="black", linestyle="--", label="VaR95 target")
ax.set(xlabel="bad debt (million USD)", ylabel="", title="Backtest bad debt: without depegs + what the depegs add")
ax.legend(["VaR95 target", "without depegs", "added by depegs"], loc="lower right")
fig.tight_layout()
save_figure(fig, "09_backtests", output_dir=OUTPUT_DIR)

# %% [markdown]
# ## 5. Perpetual protocols: open-interest caps
#
# An open interest whose stress-day liquidations (25% of it, assumed) would move the price by more than 2% is capped:
# $OI \le ADV\,(0.02/(k\sigma))^2/0.25$. Against the all-venue open interest before the crash of 10 October 2025:

# %%
from marginlab import data, format_table

oi = data.load_series("open_interest", "2025-10-10T16:00", "2025-10-10T16:00", field="oi_close_usd").iloc[0].to_dict()
caps = oi_caps_from_data(["BTC", "ETH", "SOL"], "2025-10-09", open_interest_usd=oi)
format_table(caps, percent=["sigma_daily", "impact_at_oi"], decimals=2)

# %% [markdown]
# ## Checks

# %%
assert haircuts.loc["wstETH", "depeg_add_on"] > 0 and haircuts.loc["ETH", "depeg_add_on"] == 0
assert haircuts.loc["USDe", "haircut"] > haircuts.loc["USDC", "haircut"]  # USDe's depeg history is worse
assert haircuts.loc["UNI-V2-ETH-USDC", "market_risk"] < haircuts.loc["ETH", "market_risk"]  # half the pool is USDC
for p in recommendation.pairs:
    assert abs(p.recommended.liquidation_threshold - p.current.liquidation_threshold) <= spec.max_step + 1e-9
    assert p.recommended.ltv <= p.recommended.liquidation_threshold
crash = table.loc[("crash-2025-10-10", "current")]
assert crash["bad_debt_with_depegs_usd"] >= crash["bad_debt_without_depegs_usd"]  # the USDe depeg adds bad debt
assert (caps["oi_cap_usd"] > 0).all()
