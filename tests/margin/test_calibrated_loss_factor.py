"""The calibrated-portfolio model explains its loss factors (issue 19)."""

import pytest


def test_summary_explains_the_loss_factor():
    """Issue 19: the loss factor is explained in the result's notes (summary() and the CLI print them)."""
    from marginlab.account import Account
    from marginlab.instruments import Perpetual, Position
    from marginlab.margin.calibrated import calibrated_portfolio
    from marginlab.market import MarketSnapshot
    from marginlab.parameters import example_parameters

    params = example_parameters()
    entry = params.asset("BTC")
    market = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 100000}}})
    result = calibrated_portfolio(params).margin(Account([Position(Perpetual("BTC"), 1.0)], cash_usd=20000), market)
    factor = entry.maintenance_rate / entry.price_scan_range
    text = result.summary()
    assert f"MM {factor:.4g} = maintenance rate {entry.maintenance_rate:.2%} / price scan range {entry.price_scan_range:.2%}" in text
    # a lone perpetual: worst loss (the scan move) x loss factor = the maintenance rate x notional
    assert result.maintenance_margin_usd == pytest.approx(entry.price_scan_range * 100000 * factor)
