"""Results that name the assumed venue parameters they depend on (``marginlab.margin.assumptions``, issue 22)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from marginlab.account import Account
from marginlab.exceptions import FileFormatError
from marginlab.instruments import Option, Perpetual, Position
from marginlab.margin.assumptions import VenueAssumptions
from marginlab.margin.base import MarginResult
from marginlab.margin.presets import get_model
from marginlab.margin.venues import PACKAGE_DIR, parse_venue, read_venue_file
from marginlab.market import MarketSnapshot

ROOT = Path(__file__).resolve().parents[2]
MARKET = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 100_000, "expiries": {"2025-03-28": {"atm_vol": 0.6}}},
                                                                      "XRP": {"index_usd": 2.0}}})


def _result(**kw) -> MarginResult:  # type: ignore[no-untyped-def]
    return MarginResult("m", 1.0, 1.0, 1.0, kw.pop("positions", pd.DataFrame()), kw.pop("components", pd.DataFrame()), **kw)


def test_conditions_one_by_one() -> None:
    rules = VenueAssumptions("demo", {
        "always": ("x", {}),
        "xrp": ("x", {"assets": ("XRP",)}),
        "others": ("x", {"assets_other_than": ("BTC",)}),
        "tail": ("x", {"scenario_family": ("tail",)}),
        "mr2": ("x", {"component": ("MR2",)}),
        "options": ("x", {"position_kind": ("option",)}),
    })
    btc_perp = Account([Position(Perpetual("BTC"), 1.0)])
    scenarios = pd.DataFrame({"family": ["regular", "tail"]})
    by_unit = pd.DataFrame({"worst_scenario_index": [1], "loss_usd": [5.0]})
    components = pd.DataFrame({"component": ["BTC MR2 time decay", "BTC MR1"], "initial_margin_usd": [0.0, 3.0], "maintenance_margin_usd": [0.0, 3.0]})
    assert rules.applicable(_result(components=components), btc_perp) == ("always",)
    assert rules.applicable(_result(scenarios=scenarios, details={"scan_risk_by_underlying": by_unit}), btc_perp) == ("always", "tail")
    # a unit without loss does not count its (label-only) worst scenario
    idle = by_unit.assign(loss_usd=[0.0])
    assert "tail" not in rules.applicable(_result(scenarios=scenarios, details={"scan_risk_by_underlying": idle}), btc_perp)
    xrp_call = Account([Position(Perpetual("XRP"), 1.0), Position(Option("BTC", "2025-03-28", 100_000, "call"), 1.0)])
    assert rules.applicable(_result(), xrp_call) == ("always", "xrp", "others", "options")
    components.loc[0, "maintenance_margin_usd"] = 1.0
    assert "mr2" in rules.applicable(_result(components=components), btc_perp)


def test_per_asset_rule_sentences_get_their_condition_from_the_key() -> None:
    spec = read_venue_file(PACKAGE_DIR / "deribit-standard.yaml")
    assert spec.assumed_when["parameters.rules.*"] == {"assets_other_than": ("BTC", "ETH", "SOL")}
    model = get_model("deribit-standard")
    assert model.margin(Account([Position(Perpetual("BTC"), 1.0)]), MARKET).assumptions == ()
    assert model.margin(Account([Position(Perpetual("XRP"), 1000.0)]), MARKET).assumptions == ("parameters.rules.*",)


def test_cross_presets_carry_the_assumptions_of_their_rules() -> None:
    result = get_model("binance-unified").margin(Account([Position(Perpetual("BTC"), 1.0)], cash_usd=50_000.0), MARKET)
    assert "binance-brackets:parameters.rules.BTC" in result.assumptions and "parameters.haircuts" in result.assumptions


def test_readme_account_under_deribit_pm_names_its_assumption() -> None:
    account = Account.load(ROOT / "examples/account_btc_options.yaml")
    market = MarketSnapshot.load(ROOT / "examples/market_2025-01-15.yaml")
    result = get_model("deribit-pm").margin(account, market)
    assert result.assumptions == ("parameters.vol_shock",)  # the ETH calls use the vol shock published for btc_usd
    assert "Assumed (not from a source" in result.summary() and "parameters.vol_shock" in result.summary()
    # without the ETH leg every number is sourced
    btc_only = Account(tuple(p for p in account.positions if p.underlying == "BTC"), collateral=dict(account.collateral))
    assert get_model("deribit-pm").margin(btc_only, market).assumptions == ()


def test_bad_assumed_entries_are_file_format_errors() -> None:
    data = {"schema": "marginlab-venue/1", "name": "x", "engine": "isolated", "version": 1, "description": "d", "effective_date": "2025-01-01",
            "sources": [{"title": "t", "address": "a"}], "parameters": {}}
    with pytest.raises(FileFormatError, match="why"):
        parse_venue({**data, "assumed": {"parameters.a": {"when": {"assets": ["BTC"]}}}})
    with pytest.raises(FileFormatError, match="when"):
        parse_venue({**data, "assumed": {"parameters.a": {"why": "w", "when": {"weather": ["rain"]}}}})
    spec = parse_venue({**data, "assumed": {"parameters.a": {"why": "w", "when": {"assets": "BTC"}}}})
    assert spec.assumed == {"parameters.a": "w"} and spec.assumed_when["parameters.a"] == {"assets": ("BTC",)}
