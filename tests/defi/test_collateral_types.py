"""Collateral types: closed forms (Uniswap v2/v3, principal tokens), depeg jumps, value ratios and haircuts.

Sources of the hand-worked numbers:
* Uniswap v2 Core (Adams, Zinsmeister & Robinson 2020): x y = L^2, x = L / sqrt(P), y = L sqrt(P); impermanent loss
  2 sqrt(k) / (1 + k) - 1 (Uniswap v2 docs, "Understanding returns").
* Uniswap v3 Core (Adams et al. 2021) section 6 and Uniswap Labs "A primer on Uniswap v3 math, part 2" (2023-06-26):
  x = L (1/sqrt(P) - 1/sqrt(Pb)), y = L (sqrt(P) - sqrt(Pa)) inside the range.
* Depeg troughs: shared/data/2026-extension/README.md (stETH 0.9367 ETH 2022-06-15, wBETH 0.2012 ETH on Binance
  2025-10-10 against an exchange rate 1.078, USDe 0.65 on Binance 2025-10-10).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marginlab.defi.collateral_types import (
    CollateralRegistry,
    DepegJumpModel,
    collateral_haircuts,
    load_collateral_types,
    principal_token_price,
    v2_impermanent_loss,
    v2_value,
    v3_amounts,
    v3_impermanent_loss,
    v3_value,
)
from marginlab.exceptions import ParameterError, UnknownAssetError

REGISTRY = load_collateral_types()


def test_v2_impermanent_loss_hand_worked() -> None:
    # k = 4: 2*sqrt(4)/(1+4) - 1 = 4/5 - 1 = -0.2; k = 0.25: 2*0.5/1.25 - 1 = -0.2 (symmetric in log k)
    assert v2_impermanent_loss(4.0) == pytest.approx(-0.2)
    assert v2_impermanent_loss(0.25) == pytest.approx(-0.2)
    # k = 2: 2*1.414214/3 - 1 = -0.0571910
    assert v2_impermanent_loss(2.0) == pytest.approx(2 * math.sqrt(2) / 3 - 1)
    assert v2_impermanent_loss(2.0) == pytest.approx(-0.05719096, abs=1e-8)
    # the closed-form value: L = 10 at P = 1 holds x = y = 10, worth 20; at P = 4: 2*10*2 = 40 vs holding 10*4+10 = 50
    assert v2_value(10.0, 4.0) / (10 * 4 + 10) - 1 == pytest.approx(-0.2)


def test_v3_range_position_hand_worked() -> None:
    # L = 1, Pa = 0.25, Pb = 4, P0 = 1: x0 = 1 - 1/2 = 0.5, y0 = 1 - 1/2 = 0.5, value 1
    assert v3_amounts(1.0, 1.0, 0.25, 4.0) == pytest.approx((0.5, 0.5))
    # at P = 4 (upper edge): x = 0, y = 2 - 0.5 = 1.5, value 1.5; holding: 0.5*4 + 0.5 = 2.5 -> IL = -0.4
    assert v3_amounts(1.0, 4.0, 0.25, 4.0) == pytest.approx((0.0, 1.5))
    assert v3_impermanent_loss(4.0, 0.25, 4.0) == pytest.approx(-0.4)
    # below the range (P = 0.16 < Pa): all token0, x = 1/sqrt(0.25) - 1/sqrt(4) = 1.5, y = 0; value 1.5*0.16 = 0.24
    assert v3_amounts(1.0, 0.16, 0.25, 4.0) == pytest.approx((1.5, 0.0))
    assert v3_value(1.0, 0.16, 0.25, 4.0) == pytest.approx(0.24)
    # inside: P = 2.25: x = 1/1.5 - 0.5 = 0.166667, y = 1.5 - 0.5 = 1.0, value 0.375 + 1 = 1.375
    assert v3_value(1.0, 2.25, 0.25, 4.0) == pytest.approx(1.375)
    with pytest.raises(ParameterError, match="range"):
        v3_amounts(1.0, 1.0, 2.0, 1.0)


@settings(max_examples=100, deadline=None)
@given(st.floats(0.05, 20.0), st.floats(1.01, 20.0))
def test_v3_range_loses_at_least_v2(k: float, m: float) -> None:
    # a range [P0/m, P0 m] starts 50/50 like v2 and concentrates liquidity: it loses at least v2's impermanent loss;
    # within the range IL_v3 = IL_v2 / (1 - 1/sqrt(m)) (amplified); the widest range is v2 (Uniswap v3 Core section 2)
    assert v3_impermanent_loss(k, 1 / m, m) <= v2_impermanent_loss(k) + 1e-9
    if 1 / m <= k <= m:
        assert v3_impermanent_loss(k, 1 / m, m) == pytest.approx(v2_impermanent_loss(k) / (1 - 1 / math.sqrt(m)), rel=1e-9, abs=1e-12)
    assert v3_impermanent_loss(k, 1e-8, 1e8) == pytest.approx(v2_impermanent_loss(k), abs=1e-3)


def test_principal_token_price_hand_worked() -> None:
    # (1 + 0.09)^-0.25 = exp(-0.25 ln 1.09) = exp(-0.0215448) = 0.978686
    assert principal_token_price(0.09, 0.25) == pytest.approx(0.978686, abs=1e-6)
    assert principal_token_price(0.09, 0.0) == 1.0
    # roll-down: 30 days later at the same rate the PT is worth (1.09)^(30/365) more
    pt = REGISTRY.types["PT-sUSDe"]
    tau = pt.years_to_maturity("2026-12-07")
    ratio = REGISTRY.value_ratio("PT-sUSDe", {}, {}, 30, "2026-12-07")
    assert float(np.ravel(ratio)[0]) == pytest.approx(1.07 ** (30 / 365) * 1.09 ** (30 / 365), rel=1e-9)
    assert tau == pytest.approx(110 / 365)  # 2026-12-07 -> 2027-03-27


def test_depeg_models_from_the_recorded_episodes() -> None:
    lst = REGISTRY.depeg["lst_eth"]
    # three episodes over 13.4 token-years: 0.2239 a year; severities 1 - 0.9367, 1 - 0.922, 1 - 0.2012/1.078
    assert lst.intensity_per_year == pytest.approx(3 / 13.4)
    assert lst.severities == pytest.approx((0.0633, 0.078, 1 - 0.2012 / 1.078))
    usde = REGISTRY.depeg["synthetic_usd"]
    assert usde.severities == pytest.approx((0.35,))
    # one-day probability 1 - exp(-0.5/365) = 0.0013689; ES99 of the atom mixture = 0.0013689 * 0.35 / 0.01
    p = 1 - math.exp(-0.5 / 365)
    assert usde.horizon_probability(1) == pytest.approx(p)
    assert usde.expected_shortfall(1, 0.99) == pytest.approx(p * 0.35 / 0.01)
    with pytest.raises(ParameterError, match="severities"):
        DepegJumpModel(0.1, (1.5,))


def test_value_ratios_per_type() -> None:
    eth = np.array([0.5, 1.0, 1.2])
    losses = {"lst_eth": np.array([0.0, 0.1, 0.0]), "synthetic_usd": np.array([0.35, 0.0, 0.0])}
    # wstETH: ETH ratio times (1 - discount jump)
    assert REGISTRY.value_ratio("wstETH", {"ETH": eth}, losses) == pytest.approx([0.5, 0.9, 1.2])
    # USDe: 1 - loss
    assert REGISTRY.value_ratio("USDe", {}, losses) == pytest.approx([0.65, 1.0, 1.0])
    # sUSDe: 365-day accrual at 7% on USDe
    assert REGISTRY.value_ratio("sUSDe", {}, losses, horizon_days=365) == pytest.approx([0.65 * 1.07, 1.07, 1.07])
    # v2 ETH/USDC LP: sqrt(ETH ratio) (USDC at 1)
    assert REGISTRY.value_ratio("UNI-V2-ETH-USDC", {"ETH": eth}) == pytest.approx(np.sqrt(eth))


def test_unknown_kind_is_one_line_error(tmp_path) -> None:
    path = tmp_path / "types.yaml"
    path.write_text("collateral_types:\n  XYZ: {kind: magic_token, underlying: ETH}\n")
    with pytest.raises(UnknownAssetError, match=r"collateral_types\[XYZ\]\.kind"):
        load_collateral_types(path)
    with pytest.raises(UnknownAssetError, match="collateral"):
        REGISTRY.get("NOPE")
    with pytest.raises(UnknownAssetError, match="depeg_history"):
        CollateralRegistry({"A": REGISTRY.types["USDe"]}, {})


def test_haircuts_components_add_up() -> None:
    rng = np.random.default_rng(3)
    n = 20_000
    eth = 0.04 * np.sqrt(3) * rng.standard_normal(n)
    table = collateral_haircuts(REGISTRY, ["ETH", "wstETH", "USDC", "USDe", "UNI-V2-ETH-USDC"], {"ETH": eth},
                                horizon_days=3, asof="2026-12-07", sizes_usd={"ETH": 1e6}, adv_usd={"ETH": 1e9},
                                sigma_daily={"ETH": 0.04}, rng=5)
    total = table["market_risk"] + table["depeg_add_on"] + table["liquidity_add_on"]
    assert np.allclose(table["haircut"], total.clip(upper=1.0))
    # ETH: no depeg, ES99 of a 3-day normal drop at 4% daily: 1 - exp(-0.0693 * 2.665) ~ 0.169
    assert table.loc["ETH", "depeg_add_on"] == 0.0
    assert table.loc["ETH", "market_risk"] == pytest.approx(1 - math.exp(-0.04 * math.sqrt(3) * 2.6652), abs=0.01)
    assert table.loc["ETH", "liquidity_add_on"] == pytest.approx(0.04 * math.sqrt(1e-3))
    # wstETH carries ETH's market risk and a depeg add-on; the LP position (half ETH) less market risk than ETH
    assert table.loc["wstETH", "market_risk"] == pytest.approx(table.loc["ETH", "market_risk"])
    assert table.loc["wstETH", "depeg_add_on"] > 0
    assert table.loc["UNI-V2-ETH-USDC", "market_risk"] < table.loc["ETH", "market_risk"]
    assert table.loc["USDe", "market_risk"] == 0.0 and table.loc["USDe", "depeg_add_on"] > 0
