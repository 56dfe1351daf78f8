"""Tests of ``marginlab calibrate`` (real snapshot, a light methodology file so that the tests stay quick)."""

from __future__ import annotations

import json

import pytest

from marginlab.cli import build_parser, main
from marginlab.parameters import load


def _snapshot_or_skip():
    from marginlab.data import snapshot_dir

    try:
        snapshot_dir()
    except Exception as error:  # pragma: no cover
        pytest.skip(f"no data snapshot: {error}")


@pytest.fixture(scope="module")
def light_methodology(tmp_path_factory):
    from marginlab.calibration.methodology import HaircutSpec, Methodology

    path = tmp_path_factory.mktemp("m") / "light.yaml"
    Methodology(name="light", haircut=HaircutSpec(n_simulations=2_000)).save(path)
    return path


def test_calibrate_writes_a_valid_yaml_file_with_its_methodology(tmp_path, capsys, light_methodology):
    _snapshot_or_skip()
    out = tmp_path / "params.yaml"
    code = main(["calibrate", "--assets", "BTC", "--asof", "2022-06-30", "--out", str(out), "--methodology", str(light_methodology),
                 "--no-stablecoin-collateral"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "Calibrated parameters as of 2022-06-30" in printed and f"wrote {out}" in printed
    params = load(out)
    assert params.asset_names == ["BTC"] and params.asof == "2022-06-30"
    assert params.methodology["name"] == "light" and params.provenance.methodology == "light"
    assert params.methodology["haircut"]["n_simulations"] == 2_000
    entry = params.asset("BTC")
    assert entry.provenance.data_end == "2022-06-30"
    assert 0 < entry.maintenance_rate <= entry.initial_rate < 1
    assert "/" not in params.provenance.dataset  # a name, never a path


def test_calibrate_json_output_and_seed_reproducible(tmp_path, capsys, light_methodology):
    _snapshot_or_skip()
    documents = []
    for name in ("a.json", "b.json"):
        assert main(["calibrate", "--assets", "ETH", "--asof", "2021-12-31", "--out", str(tmp_path / name), "--seed", "3",
                     "--methodology", str(light_methodology), "--no-stablecoin-collateral", "--json"]) == 0
        documents.append(json.loads(capsys.readouterr().out))
    for document in documents:
        document["provenance"].pop("created_at")
    assert documents[0] == documents[1]
    assert json.loads((tmp_path / "a.json").read_text())["assets"]["ETH"] == documents[0]["assets"]["ETH"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--asof", "2031-01-01"], "is after the end of BTC's data"),
        (["--asof", "2012-03-01"], "fewer than the methodology's"),
        (["--asof", "31/12/2022x"], "not a valid date"),
        (["--asof", "2022-01-01", "--out-suffix", ".txt"], "suffix"),
        (["--asof", "2022-01-01", "--out-folder", "missing"], "does not exist"),
    ],
)
def test_calibrate_reports_bad_input_in_one_line(tmp_path, capsys, argv, message):
    _snapshot_or_skip()
    out = tmp_path / "x.yaml"
    if "--out-suffix" in argv:
        out = tmp_path / "x.txt"
        argv = argv[:2]
    if "--out-folder" in argv:
        out = tmp_path / "missing" / "x.yaml"
        argv = argv[:2]
    code = main(["calibrate", "--assets", "BTC", "--out", str(out), "--quiet", *argv])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_out_is_checked_before_any_computation(tmp_path, monkeypatch, capsys):
    import marginlab.calibration.calibrate as module

    def boom(*args, **kwargs):  # pragma: no cover - must not be reached
        raise AssertionError("calibrate ran before --out was checked")

    monkeypatch.setattr(module, "calibrate", boom)
    assert main(["calibrate", "--assets", "BTC", "--asof", "2022-01-01", "--out", str(tmp_path / "nope" / "p.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_parser_requires_assets():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["calibrate", "--asof", "2022-01-01", "--out", "x.yaml"])


def test_fit_warnings_are_shown_at_the_terminal(tmp_path, capsys):
    """A GARCH methodology: boundary fits (integrated GARCH is the rule for crypto) are printed on stderr and recorded."""
    _snapshot_or_skip()
    from marginlab.calibration.methodology import HaircutSpec, Methodology, VolatilitySpec

    methodology = tmp_path / "garch.yaml"
    Methodology(name="gjr", volatility=VolatilitySpec(model="gjr", refit_every_days=400),
                haircut=HaircutSpec(n_simulations=2_000)).save(methodology)
    out = tmp_path / "p.yaml"
    code = main(["calibrate", "--assets", "ETH", "--asof", "2021-12-31", "--out", str(out), "--methodology", str(methodology),
                 "--no-stablecoin-collateral", "--quiet"])
    assert code == 0
    err = capsys.readouterr().err
    entry = load(out).asset("ETH")
    assert entry.provenance.vol_model == "gjr/t"
    # ETH's GJR fits are integrated (persistence 1.000): recorded in the file AND shown at the terminal
    assert entry.provenance.vol_status == "boundary"
    assert any("integrated GARCH" in w for w in entry.provenance.warnings)
    assert "warning: ETH: rolling_forecast ETH:" in err and "integrated GARCH" in err


def test_doge_upside_tail_writes_a_valid_file(tmp_path, light_methodology):
    """Issue 19 acceptance: DOGE at 2021-06-30 (2-day 99.7% up rate +1,298% uncapped) writes a valid file."""
    _snapshot_or_skip()
    out = tmp_path / "p.yaml"
    code = main(["calibrate", "--assets", "DOGE", "--asof", "2021-06-30", "--out", str(out), "--methodology",
                 str(light_methodology), "--no-stablecoin-collateral", "--quiet"])
    assert code == 0
    entry = load(out).asset("DOGE")
    assert entry.price_scan_range <= 1.0 and entry.maintenance_rate <= entry.initial_rate <= 1.0
    assert entry.extreme_move.up <= 5.0
