"""Tests of marginlab.calibration.params (parameter file, schema, calibration) and marginlab.margin.calibrated."""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from marginlab.account import Account
from marginlab.calibration.params import (
    CalibratedParameters,
    CalibrationSettings,
    calibrate,
    example_document,
    load,
    validate_document,
)
from marginlab.exceptions import FileFormatError, InputError, ParameterError
from marginlab.instruments import Perpetual, Position
from marginlab.margin.calibrated import (
    calibrated_risk_matrix,
    models_from_parameter_file,
    models_from_parameters,
    with_current_vol,
)
from marginlab.market import MarketSnapshot

SETTINGS = CalibrationSettings.fast(volatility="ewma", n_simulations=40_000, window_days=1000)


def _prices(n: int = 1200, sigma: float = 0.03, seed: int = 4) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    days = pd.date_range("2020-01-01", periods=n, freq="D", tz="UTC")
    prices = pd.DataFrame({a: 100 * np.exp(np.cumsum(sigma * rng.standard_normal(n))) for a in ("AAA", "BBB")}, index=days)
    volumes = pd.DataFrame({a: np.full(n, 5e8) for a in prices.columns}, index=days)
    return prices, volumes


@pytest.fixture(scope="module")
def synthetic_parameters() -> CalibratedParameters:
    prices, volumes = _prices()
    return calibrate(["AAA", "BBB"], "2023-03-01", settings=SETTINGS, prices=prices, volumes_usd=volumes, implied_vol={}, rng=1,
                     created_at="2023-03-02T00:00:00+00:00")


# ------------------------------------------------------------------------------------ schema
def test_example_document_is_valid():
    validate_document(example_document())


def _without(document, *path):
    doc = copy.deepcopy(document)
    target = doc
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return doc


def _with(document, value, *path):
    doc = copy.deepcopy(document)
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


@pytest.mark.parametrize(
    "document, field",
    [
        (_without(example_document(), "asof"), "asof"),
        (_without(example_document(), "assets", "BTC", "haircut"), "haircut"),
        (_without(example_document(), "assets", "BTC", "vol_shock", "up_30d"), "up_30d"),
        (_with(example_document(), 1.5, "assets", "BTC", "haircut"), "assets.BTC.haircut"),
        (_with(example_document(), -0.1, "assets", "BTC", "price_scan_range"), "assets.BTC.price_scan_range"),
        (_with(example_document(), 0.0, "assets", "BTC", "maintenance_rate"), "assets.BTC.maintenance_rate"),
        (_with(example_document(), 2.0, "assets", "BTC", "extreme_move", "cover"), "assets.BTC.extreme_move.cover"),
        (_with(example_document(), 1.5, "assets", "BTC", "extreme_move", "move"), "assets.BTC.extreme_move.move"),
        (_with(example_document(), "yes", "assets", "BTC", "provenance", "converged"), "assets.BTC.provenance.converged"),
        (_with(example_document(), "31/01/2025", "asof"), "asof"),
        (_with(example_document(), {}, "assets"), "assets"),
        (_with(example_document(), 0.01, "assets", "BTC", "initial_rate"), "assets.BTC.initial_rate"),
    ],
)
def test_schema_rejects_missing_and_out_of_range_fields(document, field):
    with pytest.raises(FileFormatError, match=field.replace(".", r"\.")):
        CalibratedParameters(document)


def test_load_rejects_malformed_files(tmp_path):
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("assets: [unclosed\n")
    with pytest.raises(FileFormatError, match="YAML"):
        load(bad_yaml)
    scalar = tmp_path / "scalar.json"
    scalar.write_text("3")
    with pytest.raises(FileFormatError, match="mapping"):
        load(scalar)
    broken = tmp_path / "broken.json"
    import json

    broken.write_text(json.dumps(_with(example_document(), -1, "assets", "BTC", "haircut")))
    with pytest.raises(FileFormatError, match=r"assets\.BTC\.haircut"):
        load(broken)
    with pytest.raises(InputError, match="no such parameter file"):
        load(tmp_path / "missing.yaml")
    with pytest.raises(InputError, match="suffix"):
        CalibratedParameters(example_document()).save(tmp_path / "out.txt")


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_round_trip(tmp_path, synthetic_parameters, suffix):
    path = synthetic_parameters.save(tmp_path / f"params{suffix}")
    again = load(path)
    assert again.to_dict() == synthetic_parameters.to_dict()
    pd.testing.assert_frame_equal(again.table(), synthetic_parameters.table())


# ------------------------------------------------------------------------------- calibration
def test_rates_match_normal_closed_forms(synthetic_parameters):
    """I.i.d. N(0, 3%) daily log returns: two-sided 99% 1-day move ~ expm1(sigma z_.99) = 7.2%,
    2-day ~ expm1(sigma sqrt(2) z_.99) = 10.4% (EWMA vol noise: +-25%)."""
    z = stats.norm.ppf(0.99)
    for asset in ("AAA", "BBB"):
        entry = synthetic_parameters.asset(asset)
        assert entry["maintenance_rate"] == pytest.approx(math.expm1(0.03 * z), rel=0.25)
        assert entry["initial_rate"] == pytest.approx(math.expm1(0.03 * math.sqrt(2) * z), rel=0.25)
        assert entry["initial_rate"] >= entry["maintenance_rate"]
        assert entry["price_scan_range"] == pytest.approx(entry["initial_rate"], rel=0.05)  # same 2-day 99% definition
        extreme = entry["extreme_move"]
        assert extreme["move"] >= 2 * entry["price_scan_range"] - 1e-12
        assert extreme["up"] >= 2 * entry["price_scan_range"] - 1e-12
        assert extreme["move"] >= extreme["historical_worst_down"] or extreme["move"] == 1.0
        assert extreme["up"] >= extreme["historical_worst_up"]
        assert entry["extreme_move"]["cover"] == 0.33
        assert 0 <= entry["haircut"] <= 1
        assert entry["provenance"]["n_returns"] == 1000
        assert entry["provenance"]["data_end"] == "2023-03-01"
        assert entry["vol_shock"]["source"].startswith("ewma")


def test_file_level_provenance(synthetic_parameters):
    doc = synthetic_parameters.to_dict()
    assert doc["asof"] == "2023-03-01"
    assert doc["created_at"] == "2023-03-02T00:00:00+00:00"
    assert doc["package_version"]
    assert doc["settings"]["scan_confidence"] == 0.99
    assert "Calibrated parameters" in synthetic_parameters.summary()


def test_no_look_ahead():
    prices, volumes = _prices()
    asof = "2022-06-30"
    kwargs = {"settings": SETTINGS, "implied_vol": {}, "rng": 7, "created_at": "x" * 10}
    full = calibrate(["AAA"], asof, prices=prices, volumes_usd=volumes, **kwargs)
    cut = prices.loc[:"2022-06-30"]
    truncated = calibrate(["AAA"], asof, prices=cut, volumes_usd=volumes.loc[:"2022-06-30"], **kwargs)
    assert full.to_dict() == truncated.to_dict()


def test_implied_vol_series_sets_the_vol_shock():
    """A vol index that doubles every 2 days half the time: up shock = 99% quantile of 2-day changes = 100%."""
    prices, volumes = _prices(600)
    iv = pd.Series(np.where(np.arange(600) % 4 < 2, 50.0, 100.0), index=prices.index)
    params = calibrate(["AAA"], prices.index[-1], settings=SETTINGS, prices=prices, volumes_usd=volumes, implied_vol={"AAA": iv}, rng=1)
    shock = params.asset("AAA")["vol_shock"]
    assert shock["up_30d"] == pytest.approx(1.0)
    assert shock["down_30d"] == pytest.approx(0.5)
    assert shock["source"] == "implied-vol index"


def test_calibrate_rejects_bad_input():
    prices, volumes = _prices(300)
    with pytest.raises(InputError, match="assets"):
        calibrate([], "2020-06-01", prices=prices)
    with pytest.raises(InputError, match="no price series"):
        calibrate(["ZZZ"], "2020-06-01", prices=prices)
    with pytest.raises(InputError, match="at least 100"):
        calibrate(["AAA"], "2020-02-01", settings=SETTINGS, prices=prices, implied_vol={})
    with pytest.raises(ParameterError, match="scan_confidence"):
        CalibrationSettings(scan_confidence=0.5)


@pytest.mark.slow
def test_real_snapshot_btc_and_usdc():
    try:
        params = calibrate(["BTC", "USDC"], "2024-06-30", fast=True, rng=0)
    except Exception as error:  # pragma: no cover - no snapshot
        if "snapshot" in str(error):
            pytest.skip(str(error))
        raise
    assert 0.08 < params.asset("BTC")["haircut"] < 0.30
    assert params.asset("USDC")["haircut"] < 0.05
    assert params.asset("BTC")["vol_shock"]["source"].startswith("implied-vol index")
    assert params.asset("BTC")["provenance"]["data_end"] == "2024-06-30"


# ------------------------------------------------------------------------------------- models
def _market() -> MarketSnapshot:
    return MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 100000}}})


def test_models_from_parameter_file(tmp_path):
    path = CalibratedParameters(example_document()).save(tmp_path / "p.yaml")
    models = models_from_parameter_file(path)
    assert set(models) == {"calibrated-isolated", "calibrated-cross", "calibrated-portfolio"}
    account = Account([Position(Perpetual("BTC"), 2.0)], cash_usd=10_000, collateral={"BTC": 1.0})
    market = _market()
    # example file: MM 6%, IM 8.5% of 200,000 USD notional -> 12,000 / 17,000
    isolated = models["calibrated-isolated"].margin(account, market)
    assert isolated.maintenance_margin_usd == pytest.approx(12_000)
    assert isolated.initial_margin_usd == pytest.approx(17_000)
    cross = models["calibrated-cross"].margin(account, market)
    # equity = 10,000 cash + 1 BTC x 100,000 x (1 - 0.12) + 0 mark-to-market
    assert cross.equity_usd == pytest.approx(98_000)
    assert cross.maintenance_margin_usd == pytest.approx(12_000)
    portfolio = models["calibrated-portfolio"].margin(account, market)
    # grid +-12% scaled by 0.06/0.12: a lone perpetual pays its isolated rates
    assert portfolio.maintenance_margin_usd == pytest.approx(12_000)
    assert portfolio.initial_margin_usd == pytest.approx(17_000)
    assert portfolio.equity_usd == pytest.approx(98_000)


def test_dynamic_haircut_of_the_cross_model_scales_with_vol():
    params = CalibratedParameters(_with(example_document(), {"vol_forecast": 0.5}, "assets", "BTC", "haircut_details"))
    cross = models_from_parameters(params)["calibrated-cross"]
    account = Account([Position(Perpetual("BTC"), 1.0)], collateral={"BTC": 1.0})
    calm = cross.margin(account, _market()).equity_usd
    stressed = with_current_vol(cross, {"BTC": 1.0}).margin(account, _market()).equity_usd
    assert calm == pytest.approx(100_000 * 0.88)
    assert stressed == pytest.approx(100_000 * 0.76)  # haircut 0.12 x 1.0 / 0.5


def test_risk_matrix_grid_contains_scan_and_extreme_moves():
    model = calibrated_risk_matrix(CalibratedParameters(example_document()), "BTC")
    spots = sorted(set(model.scenarios.spot_shock))
    assert spots[0] == pytest.approx(0.7) and spots[-1] == pytest.approx(1.3)  # extreme +-30%
    assert 0.88 in [round(s, 12) for s in spots] and 1.12 in [round(s, 12) for s in spots]
    assert model.vol_shock.up_range == 0.45
    asymmetric = _with(example_document(), {"move": 0.3, "up": 0.8, "cover": 0.33}, "assets", "BTC", "extreme_move")
    spots = sorted(set(calibrated_risk_matrix(CalibratedParameters(asymmetric), "BTC").scenarios.spot_shock))
    assert spots[0] == pytest.approx(0.7) and spots[-1] == pytest.approx(1.8)


def test_presets_read_the_parameter_file_from_the_environment(tmp_path, monkeypatch):
    import marginlab.margin.calibrated  # noqa: F401  (registers the presets)
    from marginlab.margin.presets import _REGISTRY

    path = CalibratedParameters(example_document()).save(tmp_path / "p.json")
    factory = _REGISTRY["calibrated-isolated"].factory
    monkeypatch.delenv("MARGINLAB_PARAMETER_FILE", raising=False)
    with pytest.raises(InputError, match="MARGINLAB_PARAMETER_FILE"):
        factory()
    monkeypatch.setenv("MARGINLAB_PARAMETER_FILE", str(path))
    model = factory()
    account = Account([Position(Perpetual("BTC"), 1.0)], cash_usd=10_000)
    assert model.margin(account, _market()).maintenance_margin_usd == pytest.approx(6_000)
