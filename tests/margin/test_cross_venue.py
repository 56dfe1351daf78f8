"""Cross-venue accounts (``marginlab.margin.cross_venue``): per venue, unified, and the settlement-lag add-on, by hand."""

from __future__ import annotations

import math

import pytest

from marginlab.account import Account
from marginlab.exceptions import InputError, ParameterError
from marginlab.instruments import Perpetual, Position
from marginlab.margin.cross_venue import CrossVenueAccount, SettlementLag, VenueBook, lag_costs, margin_cross_venue
from marginlab.margin.presets import get_model
from marginlab.market import MarketSnapshot

MARKET = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 100_000}}})
Z99 = 2.3263478740408408  # the standard normal 99% quantile


def _desk() -> CrossVenueAccount:
    # long 1 BTC perpetual on Hyperliquid, short 1 BTC perpetual on Deribit (a cross-venue hedge), 1 BTC with a tri-party agent
    return CrossVenueAccount([VenueBook("hyperliquid", get_model("hyperliquid"), Account((Position(Perpetual("BTC"), 1.0),), cash_usd=10_000)),
                              VenueBook("deribit", get_model("deribit-standard"), Account((Position(Perpetual("BTC"), -1.0),), cash_usd=10_000))],
                             off_exchange={"BTC": 1.0})


def test_per_venue_and_unified_by_hand() -> None:
    """Hyperliquid (E1): IM = notional / 40x = 2,500, MM = 1.25% = 1,250. Deribit (C1): IM = (2% + 0.005% x 1) x 100,000 = 2,005,
    MM = (1% + 0.005%) x 100,000 = 1,005. Per venue: IM 4,505, MM 2,255. Unified under deribit-pm: the two legs net to zero,
    IM 0 -- unified margining saves 4,505. Lag (24 h, BTC daily vol 4%, 99%): 100,000 x 2.3263 x 0.04 x 1 = 9,305.39."""
    table = margin_cross_venue(_desk(), MARKET, get_model("deribit-pm"), SettlementLag(24, {"BTC": 0.04})).set_index(["view", "venue"])
    assert table.loc[("per venue", "hyperliquid"), "initial_margin_usd"] == pytest.approx(2_500.0)
    assert table.loc[("per venue", "hyperliquid"), "maintenance_margin_usd"] == pytest.approx(1_250.0)
    assert table.loc[("per venue", "deribit"), "initial_margin_usd"] == pytest.approx(2_005.0)
    assert table.loc[("per venue", "deribit"), "maintenance_margin_usd"] == pytest.approx(1_005.0)
    total = table.loc[("per venue (sum)", "all")]
    assert (total["initial_margin_usd"], total["maintenance_margin_usd"]) == pytest.approx((4_505.0, 2_255.0))
    unified = table.loc[("unified", "all")]
    assert unified["initial_margin_usd"] == pytest.approx(0.0, abs=1e-9)
    addon = 100_000 * Z99 * 0.04 * 1.0
    assert round(addon, 2) == 9_305.39
    assert unified["lag_addon_usd"] == pytest.approx(addon, rel=1e-12) and total["lag_addon_usd"] == pytest.approx(addon, rel=1e-12)
    # excess: per venue the surpluses stay on their venues, so the desk's free collateral is the off-exchange value after the add-on
    assert total["excess_usd"] == pytest.approx(100_000 - addon)
    assert unified["excess_usd"] == pytest.approx(20_000 + 100_000 - addon)


def test_lag_costs_scale_with_the_square_root_of_the_cycle() -> None:
    costs = lag_costs(_desk(), MARKET, {"BTC": 0.04}).set_index("cycle_hours")["lag_addon_usd"]
    assert list(costs.index) == [2.0, 4.0, 24.0]
    for hours in (2.0, 4.0, 24.0):
        assert costs[hours] == pytest.approx(100_000 * Z99 * 0.04 * math.sqrt(hours / 24), rel=1e-12)
    assert SettlementLag(24, {}).addon_usd("USDC", 1e6) == 0.0
    with pytest.raises(InputError, match="daily_vol"):
        SettlementLag(4, {}).addon_usd("ETH", 1.0)
    with pytest.raises(ParameterError, match="confidence"):
        SettlementLag(4, {"BTC": 0.04}, confidence=1.5)
    with pytest.raises(InputError, match="venues"):
        CrossVenueAccount([])
