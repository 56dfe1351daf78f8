"""Lending-market risk model: hand-worked liquidations, bad debt, the profit check and the metrics.

Rules: Aave v3.3 LiquidationLogic.sol (aave-dao/aave-v3-origin, commit 027aaed7): close factor 50% above HF 0.95,
100% at or below it or under 2,000 USD; the seizure repaid x (1 + bonus) capped at the collateral; the debt of a
position left without collateral becomes a deficit. Metrics: Gauntlet (risk.gauntlet.network/faq: VaR = 95th
percentile net insolvent debt, LaR = 95th percentile liquidations); Chaos Labs (Aave ARFC 2023-05-18: VaR 95th and
EVaR 99th percentile of 24-hour bad debt).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from marginlab.defi.collateral_types import load_collateral_types
from marginlab.defi.lending import (
    AccountBook,
    ConstantProductCurve,
    DepthTableCurve,
    LendingMarket,
    LendingRiskModel,
    PricePaths,
    ReserveParameters,
    simulate_price_paths,
    synthetic_accounts,
)
from marginlab.exceptions import ParameterError, UnknownAssetError

RESERVES = {"ETH": ReserveParameters("ETH", 0.80, 0.825, 0.05), "USDC": ReserveParameters("USDC", 0.75, 0.78, 0.045)}


def _market(rows, depth=1e9):
    return LendingMarket(RESERVES, {"ETH": ConstantProductCurve(depth), "USDC": ConstantProductCurve(1e10)}, AccountBook.from_rows(rows))


def _paths(final_eth):
    final = np.asarray(final_eth, dtype=float)
    prices = np.empty((final.size, 2, 2))
    prices[:, 0] = [3000.0, 1.0]
    prices[:, 1, 0], prices[:, 1, 1] = final, 1.0
    return PricePaths(("ETH", "USDC"), prices)


def test_bad_debt_when_collateral_is_short() -> None:
    # 10 ETH behind 20,000 USDC; ETH to 1,500: HF = 15,000 x 0.825 / 20,000 = 0.619 -> 100% close factor; 21,000 of
    # collateral would be due, only 15,000 is there: all seized, 15,000 / 1.05 = 14,285.71 repaid, 5,714.29 deficit
    result = LendingRiskModel().run(_market([("ETH", "USDC", 10.0, 20_000.0)]), _paths([1500.0]))
    assert result.liquidated_usd[0] == pytest.approx(15_000.0)
    assert result.bad_debt_usd[0] == pytest.approx(20_000.0 - 15_000.0 / 1.05)


def test_liquidator_sells_only_what_is_profitable() -> None:
    # a 10,000 USD constant-product pool: slippage s / (10,000 + s) <= 0.05 / 1.05 up to s = 500 USD; of the 10,500 due
    # (HF 0.99, half of 20,000 repaid x 1.05) only 500 is seized and 500 / 1.05 = 476.19 repaid
    result = LendingRiskModel().run(_market([("ETH", "USDC", 10.0, 20_000.0)], depth=10_000.0), _paths([2400.0]))
    assert result.liquidated_usd[0] == pytest.approx(500.0)
    assert result.bad_debt_usd[0] == 0.0
    unchecked = LendingRiskModel(liquidator_profit_check=False).run(_market([("ETH", "USDC", 10.0, 20_000.0)], depth=10_000.0), _paths([2400.0]))
    assert unchecked.liquidated_usd[0] == pytest.approx(10_500.0)


def test_small_position_fully_liquidated_in_the_engine() -> None:
    # 0.8 ETH at 2,400 = 1,920 behind 1,600 USDC: HF = 1,920 x 0.825 / 1,600 = 0.99; debt < 2,000 USD -> 100%:
    # 1,600 repaid, 1,680 seized, 240 of collateral left
    result = LendingRiskModel().run(_market([("ETH", "USDC", 0.8, 1_600.0)]), _paths([2400.0]))
    assert result.liquidated_usd[0] == pytest.approx(1_680.0)


def test_var_lar_evar_are_percentiles_of_hand_worked_paths() -> None:
    # 20 paths, ETH at 1,000 ... 2,900. Below 2,100 the whole 10 ETH is seized and 20,000 - 10 p / 1.05 is bad debt;
    # from 2,100 to 2,303 (HF <= 0.95) the full debt is repaid (21,000 seized); to 2,424 (HF < 1) half (10,500 seized).
    prices = np.arange(1000.0, 3000.0, 100.0)
    result = LendingRiskModel().run(_market([("ETH", "USDC", 10.0, 20_000.0)]), _paths(prices))
    bad = np.maximum(20_000.0 - 10 * prices / 1.05, 0.0) * (prices < 2100)
    seized = np.where(prices < 2100, 10 * prices, np.where(prices * 8.25 <= 0.95 * 20_000, 21_000.0, np.where(prices * 8.25 < 20_000, 10_500.0, 0.0)))
    assert result.bad_debt_usd == pytest.approx(bad)
    assert result.liquidated_usd == pytest.approx(seized)
    assert result.var95_usd == pytest.approx(np.quantile(bad, 0.95))
    assert result.evar99_usd == pytest.approx(np.quantile(bad, 0.99))
    assert result.lar95_usd == pytest.approx(np.quantile(seized, 0.95))
    assert result.by_pair.loc["ETH/USDC", "accounts"] == 1


def test_reserve_validation_names_the_field() -> None:
    with pytest.raises(ParameterError, match=r"reserves\[ETH\]\.ltv"):
        ReserveParameters("ETH", 0.90, 0.85, 0.05)
    with pytest.raises(ParameterError, match=r"supply_cap_usd"):
        ReserveParameters("ETH", 0.80, 0.85, 0.05, supply_cap_usd=-1.0)
    with pytest.raises(ParameterError, match="liquidation_bonus"):
        ReserveParameters("ETH", 0.80, 0.97, 0.05)  # 0.97 x 1.05 > 1
    with pytest.raises(UnknownAssetError, match="accounts.asset"):
        _market([("BTC", "USDC", 1.0, 1.0)])


def test_depth_table_and_constant_product() -> None:
    curve = DepthTableCurve((1e6, 1e7), (0.01, 0.05))
    assert curve.slippage(5e5) == pytest.approx(0.005)
    assert curve.size_at_slippage(0.03) == pytest.approx(5.5e6)
    assert ConstantProductCurve(9e6).size_at_slippage(0.1) == pytest.approx(1e6)  # 0.1 x 9e6 / 0.9


def test_simulated_paths_are_joint_and_depeg_only_where_modelled() -> None:
    registry = load_collateral_types()
    days = pd.date_range("2022-01-01", periods=300, freq="D", tz="UTC")
    rng = np.random.default_rng(0)
    history = pd.DataFrame({"ETH": 3000 * np.exp(np.cumsum(0.04 * rng.standard_normal(300)))}, index=days)
    prices = {"ETH": 3000.0, "wstETH": 3600.0, "USDC": 1.0}
    calm = simulate_price_paths(registry, ["ETH", "wstETH", "USDC"], prices, history, n_paths=500, depeg=False, rng=1)
    ratio = calm.prices_usd[:, :, 1] / calm.prices_usd[:, :, 0]
    assert np.allclose(ratio, 1.2)  # without depegs wstETH moves exactly with ETH
    assert np.allclose(calm.prices_usd[:, :, 2], 1.0)
    jumpy = simulate_price_paths(registry, ["ETH", "wstETH"], prices, history, n_paths=20_000, horizon_days=30, rng=1)
    hit = jumpy.prices_usd[:, -1, 1] / jumpy.prices_usd[:, -1, 0] < 1.2 - 1e-9
    # 30 days at 3 / 13.4 a year: 1 - exp(-0.2239 x 30 / 365) = 1.82% of paths depeg
    assert hit.mean() == pytest.approx(1 - np.exp(-3 / 13.4 * 30 / 365), abs=0.004)


def test_synthetic_accounts_start_healthy() -> None:
    book = synthetic_accounts("ETH", "USDC", 1e8, 200, 0.80, {"ETH": 3000.0, "USDC": 1.0}, rng=0)
    assert book.collateral_units.sum() * 3000 == pytest.approx(1e8)
    health = book.collateral_units * 3000 * 0.825 / book.debt_units
    assert health.min() > 0.825 / 0.80 - 1e-9
