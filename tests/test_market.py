"""Market snapshots: files, forwards, smiles, shifts and validation."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import pytest

from marginlab.exceptions import (
    ExpiredInstrumentError,
    FileFormatError,
    InputError,
    MissingMarketDataError,
    UnknownAssetError,
)
from marginlab.market import SECONDS_PER_YEAR, AssetMarket, ExpiryMarket, MarketSnapshot, VolSmile

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
MARCH = datetime(2025, 3, 28, 8, tzinfo=UTC)


def _snapshot() -> MarketSnapshot:
    return MarketSnapshot.from_dict(
        {
            "as_of": "2025-01-15T08:00:00Z",
            "rate": 0.05,
            "assets": {
                "BTC": {
                    "index_usd": 100_000,
                    "perpetual_usd": 100_050,
                    "expiries": {
                        "2025-03-28": {"forward_usd": 101_500, "smile": {"strikes_usd": [80_000, 100_000, 120_000], "vols": [0.62, 0.55, 0.57]}},
                        "2025-06-27T08:00:00Z": {"atm_vol": 0.6},
                    },
                },
                "USDC": {"index_usd": 0.9998},
            },
        }
    )


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_round_trip(tmp_path: Path, suffix: str) -> None:
    market = _snapshot()
    path = tmp_path / f"market{suffix}"
    market.save(path)
    assert MarketSnapshot.load(path) == market


def test_example_market_loads() -> None:
    market = MarketSnapshot.load(EXAMPLES / "market_2025-01-15.yaml")
    assert market.index_usd("BTC") == 100_510.23
    assert market.vol("BTC", MARCH, 100_000) == pytest.approx(0.59)


def test_forward_time_and_perpetual_by_hand() -> None:
    market = _snapshot()
    # 2025-01-15 08:00 -> 2025-03-28 08:00 = 72 days
    assert market.time_to_expiry_years(MARCH) == pytest.approx(72 / 365)
    assert 72 * 86_400 / SECONDS_PER_YEAR == pytest.approx(72 / 365)
    assert market.forward_usd("BTC", MARCH) == 101_500.0  # given
    june = datetime(2025, 6, 27, 8, tzinfo=UTC)  # 163 days, no forward given: cost of carry 100,000 e^{0.05 x 163/365}
    assert market.forward_usd("BTC", june) == pytest.approx(100_000 * math.exp(0.05 * 163 / 365), rel=1e-14)
    assert market.perpetual_usd("BTC") == 100_050.0
    assert market.perpetual_usd("USDC") == 0.9998  # defaults to the index


def test_smile_interpolation_linear_in_log_strike_and_flat_outside() -> None:
    market = _snapshot()
    # between 100k (0.55) and 120k (0.57): weight ln(110/100)/ln(120/100)
    weight = math.log(1.1) / math.log(1.2)
    assert market.vol("BTC", MARCH, 110_000) == pytest.approx(0.55 + weight * 0.02, rel=1e-14)
    assert market.vol("BTC", MARCH, 50_000) == 0.62
    assert market.vol("BTC", MARCH, 500_000) == 0.57
    assert VolSmile.flat(0.4).vol_at(12_345.0) == 0.4


def test_shifted() -> None:
    shifted = _snapshot().shifted(spot_factor={"BTC": 0.8}, vol_factor=1.5)
    assert shifted.index_usd("BTC") == pytest.approx(80_000)
    assert shifted.perpetual_usd("BTC") == pytest.approx(80_040)
    assert shifted.forward_usd("BTC", MARCH) == pytest.approx(81_200)
    assert shifted.vol("BTC", MARCH, 100_000) == pytest.approx(0.825)
    assert shifted.index_usd("USDC") == 0.9998


def test_access_errors() -> None:
    market = _snapshot()
    with pytest.raises(UnknownAssetError, match="ETH"):
        market.index_usd("ETH")
    with pytest.raises(ExpiredInstrumentError, match="2024-12-27"):
        market.time_to_expiry_years(datetime(2024, 12, 27, 8, tzinfo=UTC))
    with pytest.raises(ExpiredInstrumentError):  # expiring exactly now counts as expired
        market.time_to_expiry_years(market.as_of)
    with pytest.raises(MissingMarketDataError, match="BTC 2025-09-26"):
        market.vol("BTC", datetime(2025, 9, 26, 8, tzinfo=UTC), 100_000)


@pytest.mark.parametrize(
    ("factory", "field"),
    [
        (lambda: VolSmile((100.0, 90.0), (0.5, 0.5)), "smile.strikes_usd"),
        (lambda: VolSmile((100.0,), (-0.1,)), "smile.vols"),
        (lambda: VolSmile((100.0,), (float("nan"),)), "smile.vols"),
        (lambda: VolSmile((100.0, 110.0), (0.5,)), "smile"),
        (lambda: VolSmile((0.0,), (0.5,)), "smile.strikes_usd"),
        (lambda: ExpiryMarket(forward_usd=-1.0), "forward_usd"),
        (lambda: AssetMarket(0.0), "index_usd"),
        (lambda: AssetMarket(float("inf")), "index_usd"),
        (lambda: AssetMarket(1.0, perpetual_usd=-2.0), "perpetual_usd"),
        (lambda: MarketSnapshot("2025-01-15", {}), "assets"),
        (lambda: MarketSnapshot("2025-01-15", {"BTC": AssetMarket(1.0)}, rate=2.0), "rate"),
        (lambda: MarketSnapshot("2025-01-15", {"BTC": AssetMarket(1.0)}, rate=float("nan")), "rate"),
        (lambda: MarketSnapshot("yesterday", {"BTC": AssetMarket(1.0)}), "as_of"),
    ],
)
def test_validation_names_field(factory, field: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError) as caught:
        factory()
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"assets": {}}, "needs 'as_of' and 'assets'"),
        ({"as_of": "2025-01-15", "assets": ["BTC"]}, "'assets' must be a mapping"),
        ({"as_of": "2025-01-15", "assets": {"BTC": {"price": 1}}}, "assets.BTC needs 'index_usd'"),
        ({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": -5}}}, "assets.BTC: index_usd=-5"),
        ({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": "x"}}}, "assets.BTC: index_usd='x'"),
        (
            {"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 1, "expiries": {"2025-03-28": {"atm_vol": -0.2}}}}},
            "assets.BTC.expiries.2025-03-28: smile.vols=-0.2",
        ),
        (
            {"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 1, "expiries": {"2025-03-28": {"smile": {"vols": [0.5]}}}}}},
            "assets.BTC.expiries.2025-03-28.smile needs lists strikes_usd and vols",
        ),
        ({"as_of": "2025-01-15", "rate": "abc", "assets": {"BTC": {"index_usd": 1}}}, "rate='abc'"),
    ],
)
def test_malformed_market_data(data: dict, message: str) -> None:
    with pytest.raises(FileFormatError) as caught:
        MarketSnapshot.from_dict(data, "m.yaml")
    assert message in str(caught.value) and "m.yaml" in str(caught.value)


def test_malformed_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("as_of: [unclosed\n")
    with pytest.raises(FileFormatError, match="malformed YAML"):
        MarketSnapshot.load(path)
    with pytest.raises(FileFormatError, match="no such market file"):
        MarketSnapshot.load(tmp_path / "none.yaml")


def test_strict_market_files(tmp_path: Path) -> None:
    duplicate = tmp_path / "dup.yaml"
    duplicate.write_text("as_of: 2025-01-15\nassets:\n  BTC: {index_usd: 100000}\n  BTC: {index_usd: 1}\n")
    with pytest.raises(FileFormatError, match="duplicate key 'BTC' at line 4, column 3 \\(first at line 3, column 3\\)"):
        MarketSnapshot.load(duplicate)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("# caf\u00e9\nas_of: 2025-01-15\n".encode("latin-1"))
    with pytest.raises(FileFormatError, match="not UTF-8 text \\(byte 0xe9 at line 1, column 6\\)"):
        MarketSnapshot.load(latin)
    with pytest.raises(FileFormatError, match="is a directory, expected a file \\(market file\\)"):
        MarketSnapshot.load(tmp_path)


def test_absurd_prices_are_rejected() -> None:
    with pytest.raises(FileFormatError, match="index_usd=1e\\+306: exceeds 1e\\+15 USD"):
        MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 1e306}}})
