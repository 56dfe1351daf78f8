"""Tests of marginlab.calibration.methodology: the typed configuration, its file round trip and its model builders."""

from __future__ import annotations

import json

import pytest

from marginlab.calibration.haircuts import HaircutModel
from marginlab.calibration.methodology import (
    AntiProcyclicalitySpec,
    HaircutSpec,
    Methodology,
    RateSpec,
    ResidualPoolSpec,
    VolatilitySpec,
    VolShockSpec,
)
from marginlab.calibration.stress_ranges import StressRangeModel
from marginlab.exceptions import FileFormatError, OutputError, ParameterError
from marginlab.parameters import DEFAULT_LONG_TENOR_POWER, DEFAULT_SHORT_TENOR_POWER, SPAN_EXTREME_COVER


def test_the_default_is_the_recommended_methodology():
    m = Methodology()
    assert (m.volatility.model, m.volatility.ewma_decay, m.volatility.ewma_decay_after_fall) == ("ewma", 0.97, 0.87)
    assert (m.pool.kind, m.pool.length_days, m.pool.quantile_method) == ("rolling", 1000, "fhs")
    assert (m.rates.maintenance_horizon_days, m.rates.maintenance_confidence) == (1, 0.99)
    assert (m.rates.initial_horizon_days, m.rates.initial_confidence) == (2, 0.99)
    assert (m.rates.scan_horizon_days, m.rates.scan_confidence) == (2, 0.997)
    apc = m.anti_procyclicality
    assert (apc.tool, apc.smoothing_lambda, apc.floor, apc.floor_ewma_decay) == ("smoothing", 0.99, "slow-ewma", 0.995)
    # one meaning per parameter: the constants of the contract
    assert m.extreme.cover == SPAN_EXTREME_COVER == 0.35
    assert (m.vol_shock.short_tenor_power, m.vol_shock.long_tenor_power) == (DEFAULT_SHORT_TENOR_POWER, DEFAULT_LONG_TENOR_POWER)
    with pytest.raises(AttributeError):
        m.name = "changed"  # type: ignore[misc]


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_file_round_trip(tmp_path, suffix):
    m = Methodology(name="custom", volatility=VolatilitySpec(model="gjr", candidates=(("gjr", "t"),), estimation_window_days=1000),
                    pool=ResidualPoolSpec(kind="expanding", pooled_with=("BTC",)), rates=RateSpec(floor=0.01, cap=0.9))
    path = m.save(tmp_path / f"m{suffix}")
    assert Methodology.load(path) == m
    if suffix == ".json":
        assert json.loads(path.read_text())["volatility"]["candidates"] == [["gjr", "t"]]


def test_load_takes_the_methodology_of_a_parameter_file(tmp_path):
    import yaml

    m = Methodology(name="inside")
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"asof": "2022-12-31", "assets": {}, "methodology": m.to_dict()}))
    assert Methodology.load(path) == m


def test_partial_documents_take_defaults():
    m = Methodology.from_dict({"anti_procyclicality": {"tool": "buffer"}})
    assert m.anti_procyclicality.tool == "buffer" and m.anti_procyclicality.buffer == 0.25 and m.rates == RateSpec()


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"volatility": {"model": "arima"}}, "volatility.model='arima': must be one of"),
        ({"pool": {"kind": "rolling", "length_days": 200, "min_shocks": 250}}, "pool.min_shocks=250"),
        ({"rates": {"scan_confidence": 1.2}}, "rates.scan_confidence=1.2"),
        ({"rates": {"floor": 0.5, "cap": 0.1}}, "rates.floor=0.5"),
        ({"anti_procyclicality": {"smoothing_lambda": 1.0}}, "anti_procyclicality.smoothing_lambda=1.0"),
        ({"vol_shock": {"cap_down": 1.0}}, "vol_shock.cap_down=1.0"),
        ({"haircut": {"horizon_days": 2.5}}, "haircut.horizon_days=2.5"),
    ],
)
def test_bad_values_are_one_line_errors_naming_the_field(document, message):
    with pytest.raises(ParameterError) as info:
        Methodology.from_dict(document)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_unknown_fields_and_bad_files(tmp_path):
    with pytest.raises(FileFormatError, match="methodology field volatility.lambda: unknown"):
        Methodology.from_dict({"volatility": {"lambda": 0.9}})
    with pytest.raises(FileFormatError, match="methodology field pools: unknown"):
        Methodology.from_dict({"pools": {}})
    bad = tmp_path / "bad.yaml"
    bad.write_text("volatility: [unclosed")
    with pytest.raises(FileFormatError, match="malformed YAML"):
        Methodology.load(bad)
    with pytest.raises(FileFormatError, match="no such methodology file"):
        Methodology.load(tmp_path / "missing.yaml")
    with pytest.raises(OutputError):
        Methodology().save(tmp_path / "m.txt")


def test_stress_range_model_builder_maps_every_field():
    m = Methodology(rates=RateSpec(floor=0.02, cap=0.8), pool=ResidualPoolSpec(length_days=800, min_shocks=200))
    maintenance = m.stress_range_model(1, 0.99)
    assert isinstance(maintenance, StressRangeModel)
    assert (maintenance.horizon_days, maintenance.confidence, maintenance.vol_model) == (1, 0.99, "ewma")
    assert (maintenance.ewma_decay, maintenance.ewma_decay_after_fall) == (0.97, 0.87)
    assert (maintenance.pool_window_days, maintenance.min_pool, maintenance.min_obs) == (800, 200, 500)
    assert (maintenance.floor, maintenance.cap) == (0.02, 0.8)
    # every published rate carries the tool (issue 19); the margin rates its release-only form, never below the plain rate
    margin_tools = maintenance.anti_procyclicality
    assert margin_tools is not None and margin_tools.smoothing_lambda == 0.9 and margin_tools.slow_ewma_lambda is None
    assert maintenance.apc_at_least_base and not m.stress_range_model().apc_at_least_base
    assert m.stress_range_model(3, 0.99).anti_procyclicality is None  # not a published rate
    assert m.stress_range_model(1, 0.99, anti_procyclicality=False).anti_procyclicality is None
    scan = m.stress_range_model()
    assert (scan.horizon_days, scan.confidence) == (2, 0.997)
    tools = scan.anti_procyclicality
    assert tools is not None and tools.smoothing_lambda == 0.99 and tools.slow_ewma_lambda == 0.995
    assert tools.buffer is None and tools.stressed_weight is None and tools.lookback_floor_years is None
    assert m.stress_range_model(3, 0.99, anti_procyclicality=True).anti_procyclicality == margin_tools
    floored = Methodology(anti_procyclicality=AntiProcyclicalitySpec(margin_floor=True, margin_smoothing_lambda=None))
    assert floored.anti_procyclicality_tool("maintenance_rate") == tools
    expanding = Methodology(pool=ResidualPoolSpec(kind="expanding")).stress_range_model()
    assert expanding.pool_window_days is None
    none = Methodology(anti_procyclicality=AntiProcyclicalitySpec(tool="none", floor="none"))
    assert none.anti_procyclicality_tool() is None
    buffer = Methodology(anti_procyclicality=AntiProcyclicalitySpec(tool="buffer", floor="lookback-quantile")).anti_procyclicality_tool()
    assert buffer is not None and buffer.buffer == 0.25 and buffer.lookback_floor_years == 10.0


def test_haircut_model_builder():
    model = Methodology(haircut=HaircutSpec(horizon_days=2, liquidity_k=0.5, n_simulations=5000)).haircut_model()
    assert isinstance(model, HaircutModel)
    assert (model.horizon_days, model.liquidity_k, model.n_simulations, model.vol_model) == (2, 0.5, 5000, "ewma")


def test_vol_shock_spec_defaults_are_the_documented_caps():
    spec = VolShockSpec()
    assert (spec.cap_up, spec.cap_down, spec.non_dvol_method, spec.dvol_reference) == (0.5, 0.3, "scaled-realised", ("BTC", "ETH"))
