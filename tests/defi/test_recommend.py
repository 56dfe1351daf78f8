"""Parameter recommender: Risk DAO closed form (hand-worked), one-step limits, caps from liquidity, eMode, the document.

Sources: Risk DAO, "A Smart Contract Formula for LTV ratio" (medium.com/risk-dao, 2023-06-04) and its SmartLTV
contract: LTV = e^(-c sigma / sqrt(l/d)) - beta (sigma volatility, beta liquidation bonus, l DEX liquidity at a price
impact of beta, d debt, c confidence); Chaos Labs (Aave ARFC 2023-02-20): changes limited to about 3% per proposal;
supply caps at 2x the liquidity available at a slippage equal to the bonus, at most 2x the current cap per step.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from marginlab.defi.market_file import load_market_file
from marginlab.defi.recommend import SCHEMA, LendingRecommender, emode_test, risk_dao_ltv

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "lending_market.yaml"


def test_risk_dao_ltv_hand_worked() -> None:
    # sigma 0.5, l = 2 d, beta 5%, c = 1: exp(-0.5 / sqrt(2)) - 0.05 = exp(-0.353553) - 0.05 = 0.702189 - 0.05
    assert risk_dao_ltv(0.5, 2.0, 1.0, 0.05, 1.0) == pytest.approx(0.652189, abs=1e-6)
    # c = 2.33, daily sigma 3.5%, l/d = 0.12: exp(-2.33 x 0.035 / 0.34641) - 0.04 = exp(-0.235414) - 0.04 = 0.790243 - 0.04 = 0.750243
    assert risk_dao_ltv(0.035, 0.12, 1.0, 0.04, 2.33) == pytest.approx(math.exp(-2.33 * 0.035 / math.sqrt(0.12)) - 0.04)
    assert risk_dao_ltv(0.035, 0.12, 1.0, 0.04, 2.33) == pytest.approx(0.750243, abs=1e-6)
    assert risk_dao_ltv(0.5, 0.0, 1.0, 0.05, 1.0) == 0.0  # no liquidity: no loan
    assert risk_dao_ltv(0.5, 1.0, 0.0, 0.05, 1.0) == pytest.approx(0.95)


def test_emode_limits() -> None:
    calm = np.column_stack([np.ones(500), np.linspace(0.998, 1.002, 500)])
    test = emode_test("wstETH/ETH", calm, 1, depeg_es=0.0195)
    # LT = floor_0.005(1 - 0.0195 - 0.01) = 0.97, LTV = 0.95
    assert test.eligible and test.liquidation_threshold == pytest.approx(0.97) and test.ltv == pytest.approx(0.95)
    wild = np.column_stack([np.ones(500), np.exp(np.linspace(-0.2, 0.2, 500))])
    assert not emode_test("X/Y", wild, 1).eligible


@pytest.fixture(scope="module")
def recommendation():
    spec = load_market_file(EXAMPLE)
    spec = replace(spec, n_paths=300, pairs=spec.pairs[:2] + spec.pairs[4:5])  # ETH/USDC, wstETH/USDC, USDe/USDC
    return LendingRecommender().recommend(spec)


def test_changes_within_one_step_and_caps_from_liquidity(recommendation) -> None:
    spec = recommendation.spec
    for p in recommendation.pairs:
        old, new = p.current, p.recommended
        assert abs(new.liquidation_threshold - old.liquidation_threshold) <= spec.max_step + 1e-9
        assert abs(new.ltv - old.ltv) <= spec.max_step + 1e-9
        assert abs(new.liquidation_bonus - old.liquidation_bonus) <= 0.01 + 1e-9
        assert new.ltv <= new.liquidation_threshold and new.liquidation_threshold * (1 + new.liquidation_bonus) <= 1 + 1e-12
        # supply cap: 2 x liquidity at slippage = bonus (constant product: q D / (1 - q)), within [cap / 2, 2 cap]
        curve = spec.liquidity[p.pair.collateral]
        raw = 2 * curve.size_at_slippage(new.liquidation_bonus)
        assert new.supply_cap_usd <= max(min(raw, 2 * old.supply_cap_usd), old.supply_cap_usd / 2) + 1e3
        assert new.supply_cap_usd >= old.supply_cap_usd / 2 - 1e3
        if p.target_met:
            assert p.var95_usd <= p.var_target_usd and p.evar99_usd <= p.evar_target_usd


def test_tight_target_forces_conservative_parameters() -> None:
    spec = load_market_file(EXAMPLE)
    spec = replace(spec, n_paths=300, pairs=spec.pairs[:1]).with_targets(0.0, 0.0)
    loose = LendingRecommender().recommend(replace(spec, targets=replace(spec.targets, var95_usd=1e12, evar99_usd=1e12)))
    tight = LendingRecommender().recommend(spec)
    assert tight.pairs[0].recommended.liquidation_threshold <= loose.pairs[0].recommended.liquidation_threshold


def test_document_has_provenance(recommendation) -> None:
    document = recommendation.to_document()["lending"]
    assert document["schema"] == SCHEMA
    provenance = document["provenance"]
    assert provenance["seed"] == recommendation.spec.seed and provenance["dataset"]["version"]
    assert set(document["reserves"]["ETH"]) >= {"ltv", "liquidation_threshold", "liquidation_bonus", "supply_cap_usd", "current"}
    assert {p["collateral"] for p in document["pairs"]} == {"ETH", "wstETH", "USDe"}
