"""Open-interest caps from the square-root impact of liquidations (Almgren et al. 2005; Toth et al. 2011).

Hand-worked: ADV 1e9 USD, sigma 4% a day, k = 1, max impact 2%, 25% of OI liquidated:
the liquidated amount allowed is 1e9 x (0.02 / 0.04)^2 = 2.5e8, so OI <= 2.5e8 / 0.25 = 1e9; at that OI the impact is
0.04 x sqrt(0.25e9 / 1e9) = 0.02.
"""

from __future__ import annotations

import pytest

from marginlab.defi.perps import OpenInterestCapPolicy, oi_caps_from_data
from marginlab.exceptions import InputError, ParameterError


def test_impact_cap_hand_worked() -> None:
    policy = OpenInterestCapPolicy(max_impact=0.02, liquidated_share=0.25, k=1.0)
    assert policy.impact_cap_usd(1e9, 0.04) == pytest.approx(1e9)
    assert policy.liquidation_impact(1e9, 1e9, 0.04) == pytest.approx(0.02)
    # a depth of 50m USD at 2% slippage: 2 x 5e7 / 0.25 = 4e8 < 1e9
    assert policy.cap_usd(1e9, 0.04, depth_at_impact_usd=5e7) == pytest.approx(4e8)
    # doubling volatility quarters the cap (cap ~ 1 / sigma^2)
    assert policy.impact_cap_usd(1e9, 0.08) == pytest.approx(2.5e8)


def test_validation() -> None:
    with pytest.raises(ParameterError, match="liquidated_share"):
        OpenInterestCapPolicy(liquidated_share=0.0)
    with pytest.raises(InputError, match="adv_usd"):
        OpenInterestCapPolicy().impact_cap_usd(0.0, 0.04)


def test_caps_from_the_embedded_data() -> None:
    table = oi_caps_from_data(["BTC"], "2025-10-09", open_interest_usd={"BTC": 8.5765e10})
    row = table.loc["BTC"]
    assert row["oi_cap_usd"] == pytest.approx(OpenInterestCapPolicy().impact_cap_usd(row["adv_usd"], row["sigma_daily"]))
    assert row["impact_at_oi"] == pytest.approx(OpenInterestCapPolicy().liquidation_impact(8.5765e10, row["adv_usd"], row["sigma_daily"]))
