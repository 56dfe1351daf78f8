"""The lending-market file: the example parses; each bad field is a one-line error naming it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from marginlab.defi.market_file import load_market_file, parse_market
from marginlab.exceptions import InputError, UnknownAssetError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "lending_market.yaml"


def _doc() -> dict:
    return yaml.safe_load(EXAMPLE.read_text())


def test_example_parses() -> None:
    spec = load_market_file(EXAMPLE)
    assert spec.assets == ("ETH", "wstETH", "BTC", "USDC", "USDe")
    assert spec.targets.var95_usd == 2_000_000 and spec.horizon_days == 1
    assert [p.name for p in spec.pairs][:2] == ["ETH/USDC", "wstETH/USDC"]
    assert spec.with_targets(1.0).targets.var95_usd == 1.0


@pytest.mark.parametrize(
    ("change", "error", "field"),
    [
        (lambda d: d["reserves"].update({"XYZ": {"ltv": 0.5, "liquidation_threshold": 0.6, "liquidation_bonus": 0.05}}), UnknownAssetError, r"reserves\[XYZ\]"),
        (lambda d: d["reserves"]["ETH"].update({"ltv": 0.9}), InputError, r"reserves\[ETH\]\.ltv"),
        (lambda d: d["reserves"]["ETH"].update({"supply_cap_usd": -5}), InputError, r"reserves\[ETH\]\.supply_cap_usd"),
        (lambda d: d["pairs"][0].update({"debt": "DOGE"}), UnknownAssetError, r"pairs\[0\]\.debt"),
        (lambda d: d.update({"n_paths": 5}), InputError, "n_paths"),
        (lambda d: d["targets"].update({"var95_usd": -1}), InputError, r"targets\.var95_usd"),
        (lambda d: d.update({"colour": "red"}), InputError, "colour"),
    ],
)
def test_bad_fields_are_named(change, error, field) -> None:
    document = _doc()
    change(document)
    with pytest.raises(error, match=field) as caught:
        parse_market(document)
    assert "\n" not in str(caught.value)
