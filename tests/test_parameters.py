"""Tests of marginlab.parameters (the typed contract, schema, atomic I/O) and of marginlab.margin.calibrated reading it."""

from __future__ import annotations

import ast
import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import marginlab
from marginlab.account import Account
from marginlab.exceptions import FileFormatError, InputError, OutputError, UnknownAssetError
from marginlab.instruments import Option, Perpetual, Position
from marginlab.margin.calibrated import (
    calibrated_risk_matrix,
    models_from_parameter_file,
    models_from_parameters,
    with_current_vol,
)
from marginlab.market import MarketSnapshot
from marginlab.parameters import (
    SPAN_EXTREME_COVER,
    ExtremeMoveParameters,
    ParameterSet,
    VolShockParameters,
    example_parameters,
    load,
    validate_document,
)


def _doc() -> dict:
    return example_parameters().to_dict()


def _set(document: dict, value, *path) -> dict:
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return document


def _drop(document: dict, *path) -> dict:
    target = document
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return document


# ------------------------------------------------------------------------------------------ schema
def test_example_is_valid_and_round_trips_through_dict():
    validate_document(_doc())
    assert ParameterSet.from_dict(_doc()) == example_parameters()


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda d: _drop(d, "asof"), "asof"),
        (lambda d: _drop(d, "methodology"), "methodology"),
        (lambda d: _drop(d, "assets", "BTC", "haircut"), "haircut"),
        (lambda d: _drop(d, "assets", "BTC", "vol_shock", "up_30d"), "up_30d"),
        (lambda d: _set(d, 1.5, "assets", "BTC", "haircut"), "assets.BTC.haircut"),
        (lambda d: _set(d, -0.1, "assets", "BTC", "price_scan_range"), "assets.BTC.price_scan_range"),
        (lambda d: _set(d, 0.0, "assets", "BTC", "maintenance_rate"), "assets.BTC.maintenance_rate"),
        (lambda d: _set(d, 2.0, "assets", "BTC", "extreme_move", "cover"), "assets.BTC.extreme_move.cover"),
        (lambda d: _set(d, 1.5, "assets", "BTC", "extreme_move", "down"), "assets.BTC.extreme_move.down"),
        (lambda d: _set(d, "yes", "assets", "BTC", "provenance", "converged"), "assets.BTC.provenance.converged"),
        (lambda d: _set(d, "31/01/2025", "asof"), "asof"),
        (lambda d: _set(d, {}, "assets"), "assets"),
        (lambda d: _set(d, 0.01, "assets", "BTC", "initial_rate"), "assets.BTC.initial_rate"),
        (lambda d: _set(d, 0.3, "assets", "BTC", "vol_shock", "short_term_power"), "assets.BTC.vol_shock"),
        (lambda d: _set(d, "/home/me/data", "provenance", "data_path"), "provenance"),
    ],
)
def test_schema_rejects_missing_unknown_and_out_of_range_fields(mutate, field):
    with pytest.raises(FileFormatError, match=field.replace(".", r"\.")):
        ParameterSet.from_dict(mutate(_doc()))


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".json"])
def test_save_and_load_round_trip(tmp_path, suffix):
    params = example_parameters()
    path = params.save(tmp_path / f"params{suffix}")
    assert load(path) == params
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"params{suffix}"]  # no temporary file left


def test_save_checks_the_target_before_writing(tmp_path):
    params = example_parameters()
    with pytest.raises(OutputError, match="suffix"):
        params.save(tmp_path / "out.txt")
    with pytest.raises(OutputError, match="does not exist"):
        params.save(tmp_path / "missing" / "p.yaml")
    with pytest.raises(OutputError, match="directory"):
        params.save(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permissions")
def test_save_into_a_read_only_folder_is_a_one_line_error(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(OutputError, match="not writable"):
            example_parameters().save(folder / "p.yaml")
    finally:
        folder.chmod(stat.S_IRWXU)


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
    broken.write_text(json.dumps(_set(_doc(), -1, "assets", "BTC", "haircut")))
    with pytest.raises(FileFormatError, match=r"assets\.BTC\.haircut"):
        load(broken)
    with pytest.raises(InputError, match="no such parameter file"):
        load(tmp_path / "missing.yaml")


def test_unknown_asset_error_says_how_to_add_it():
    with pytest.raises(UnknownAssetError, match=r"calibrated: BTC\); add it with `marginlab calibrate --assets BTC SOL"):
        example_parameters().asset("SOL")


def test_one_meaning_of_the_term_structure_powers():
    """shock(DTE) = shock_30d (30/DTE)^p, p = short power at or below 30 days, long power beyond, for up AND down.

    Hand values with p_short = 0.30, p_long = 0.13: DTE 7.5 -> 4^0.3 = 1.5157; DTE 120 -> 0.25^0.13 = 0.8351.
    The engine (margin.scenarios.VolShock built by the calibrated portfolio model) gives the same multipliers."""
    shock = VolShockParameters(0.40, 0.20)
    up, down = shock.shock_at(7.5)
    assert up == pytest.approx(0.40 * 4**0.3) and down == pytest.approx(0.20 * 4**0.3)
    up, down = shock.shock_at(120)
    assert up == pytest.approx(0.40 * 0.25**0.13) and down == pytest.approx(0.20 * 0.25**0.13)
    engine = calibrated_risk_matrix(example_parameters(), "BTC").vol_shock
    for dte in (1.0, 7.5, 30.0, 120.0, 365.0):
        vol_up, vol_down = engine.shocked_vols(1.0, dte)
        file_up, file_down = example_parameters().asset("BTC").vol_shock.shock_at(dte)
        assert float(vol_up) == pytest.approx(1 + file_up) and float(vol_down) == pytest.approx(1 - file_down)


def test_extreme_cover_is_spans_published_value_everywhere():
    from marginlab.calibration.methodology import ExtremeMoveSpec
    from marginlab.margin.span import SpanModel, span_grid

    assert SPAN_EXTREME_COVER == 0.35
    assert ExtremeMoveParameters(0.3, 0.3).cover == ExtremeMoveSpec().cover == SPAN_EXTREME_COVER
    assert SpanModel.__dataclass_fields__["extreme_cover"].default == SPAN_EXTREME_COVER
    assert span_grid().dampening[-1] == SPAN_EXTREME_COVER


# ------------------------------------------------------------------------------------------ layering
def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


PACKAGE = Path(marginlab.__file__).parent


@pytest.mark.parametrize(
    "layer, forbidden",
    [
        ("margin", "marginlab.calibration"),
        ("calibration", "marginlab.margin"),
        ("stats", "marginlab.calibration"),
        ("stats", "marginlab.margin"),
        ("parameters.py", "marginlab.calibration"),
        ("parameters.py", "marginlab.margin"),
    ],
)
def test_no_import_between_calibration_and_margin(layer, forbidden):
    files = [PACKAGE / layer] if layer.endswith(".py") else sorted((PACKAGE / layer).rglob("*.py"))
    offenders = {str(f.relative_to(PACKAGE)): sorted(m for m in _imports(f) if m.startswith(forbidden)) for f in files}
    assert {f: m for f, m in offenders.items() if m} == {}


# ------------------------------------------------------------------------------------------ margin models
def _market() -> MarketSnapshot:
    return MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 100000}}})


def test_models_from_parameter_file(tmp_path):
    path = example_parameters().save(tmp_path / "p.yaml")
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


def test_cross_model_refuses_options_naming_the_portfolio_model():
    cross = models_from_parameters(example_parameters())["calibrated-cross"]
    option = Option("BTC", "2025-03-28", 100_000.0, "call")
    account = Account([Position(option, 1.0)], cash_usd=10_000)
    with pytest.raises(InputError, match="use calibrated-portfolio for options"):
        cross.margin(account, _market())


def test_collateral_missing_from_the_file_says_how_to_add_it():
    cross = models_from_parameters(example_parameters())["calibrated-cross"]
    account = Account([Position(Perpetual("BTC"), 1.0)], collateral={"USDT": 1_000.0})
    market = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 100000}, "USDT": {"index_usd": 1.0}}})
    with pytest.raises(UnknownAssetError, match=r"collateral='USDT': has no calibrated haircut \(calibrated: BTC\)"):
        cross.margin(account, market)


def test_extreme_scenarios_are_dampened_by_the_cover():
    """The cover is the grid's dampening of the extreme scenarios (one meaning of the tail dampening)."""
    grid = calibrated_risk_matrix(example_parameters(), "BTC").scenarios
    extreme = [d for s, d in zip(grid.spot_shock, grid.dampening) if abs(s - 1.0) > 0.12 + 1e-9]
    assert extreme and all(d == example_parameters().asset("BTC").extreme_move.cover for d in extreme)


def test_dynamic_haircut_of_the_cross_model_scales_with_vol():
    cross = models_from_parameters(example_parameters())["calibrated-cross"]  # reference vol 50%
    account = Account([Position(Perpetual("BTC"), 1.0)], collateral={"BTC": 1.0})
    calm = cross.margin(account, _market()).equity_usd
    stressed = with_current_vol(cross, {"BTC": 1.0}).margin(account, _market()).equity_usd
    assert calm == pytest.approx(100_000 * 0.88)
    assert stressed == pytest.approx(100_000 * 0.76)  # haircut 0.12 x 1.0 / 0.5


def test_risk_matrix_grid_contains_scan_and_extreme_moves():
    model = calibrated_risk_matrix(example_parameters(), "BTC")
    spots = sorted(set(model.scenarios.spot_shock))
    assert spots[0] == pytest.approx(0.7) and spots[-1] == pytest.approx(1.3)  # extreme +-30%
    assert 0.88 in [round(s, 12) for s in spots] and 1.12 in [round(s, 12) for s in spots]
    assert model.vol_shock.up_range == 0.45
    asymmetric = ParameterSet.from_dict(_set(_doc(), {"down": 0.3, "up": 0.8, "cover": 0.35}, "assets", "BTC", "extreme_move"))
    spots = sorted(set(calibrated_risk_matrix(asymmetric, "BTC").scenarios.spot_shock))
    assert spots[0] == pytest.approx(0.7) and spots[-1] == pytest.approx(1.8)


def test_presets_read_the_parameter_file_from_the_environment(tmp_path, monkeypatch):
    import marginlab.margin.calibrated  # noqa: F401  (registers the presets)
    from marginlab.margin.presets import _REGISTRY

    path = example_parameters().save(tmp_path / "p.json")
    factory = _REGISTRY["calibrated-isolated"].factory
    monkeypatch.delenv("MARGINLAB_PARAMETER_FILE", raising=False)
    with pytest.raises(InputError, match="MARGINLAB_PARAMETER_FILE"):
        factory()
    monkeypatch.setenv("MARGINLAB_PARAMETER_FILE", str(path))
    model = factory()
    account = Account([Position(Perpetual("BTC"), 1.0)], cash_usd=10_000)
    assert model.margin(account, _market()).maintenance_margin_usd == pytest.approx(6_000)


# ------------------------------------------------------------------------------------------ properties
_fraction = st.floats(1e-6, 1.0, allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(
    maintenance=_fraction, extra=st.floats(0.0, 1.0), haircut=st.floats(0.0, 1.0), scan=st.floats(1e-6, 5.0),
    up=st.floats(0.0, 10.0), down=st.floats(0.0, 1.0), extreme_up=st.floats(1e-6, 100.0), extreme_down=_fraction,
    warnings=st.lists(st.text(max_size=20), max_size=3),
)
def test_any_valid_record_round_trips_through_the_document(maintenance, extra, haircut, scan, up, down, extreme_up, extreme_down,
                                                          warnings):
    from dataclasses import replace

    base = example_parameters()
    record = replace(
        base.asset("BTC"), maintenance_rate=maintenance, initial_rate=min(maintenance + extra, 1.0), haircut=haircut,
        price_scan_range=scan, vol_shock=VolShockParameters(up, down), extreme_move=ExtremeMoveParameters(extreme_down, extreme_up),
        provenance=replace(base.asset("BTC").provenance, warnings=tuple(warnings)),
    )
    params = ParameterSet(base.asof, {"BTC": record}, base.methodology, base.provenance)
    again = ParameterSet.from_dict(json.loads(json.dumps(params.to_dict())))
    assert again == params
    assert again.asset("BTC").initial_rate >= again.asset("BTC").maintenance_rate
