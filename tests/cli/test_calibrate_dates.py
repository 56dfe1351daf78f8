"""``marginlab calibrate`` dates (issue 18): the default as-of, collateral stablecoins that must reach it, and
sources that end early or are missing -- warned and recorded, never silent.

Dates come from the data files' READMEs (marginlab/datasets/README.md; the 2026 extension's README): the Yahoo
coins and USDT/USDC end 2025-11-19, DOT (Bybit) 2025-10-21, AVAX (Binance) 2026-03-16.
"""

from __future__ import annotations

import gzip
import warnings

import pytest

from marginlab import datasets
from marginlab.calibration.calibrate import calibrate, default_asof
from marginlab.calibration.methodology import HaircutSpec, Methodology
from marginlab.cli import main
from marginlab.exceptions import MarginLabWarning
from marginlab.parameters import load

LIGHT = Methodology(name="light", haircut=HaircutSpec(n_simulations=2_000))


@pytest.fixture(scope="module")
def light_methodology(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "light.yaml"
    LIGHT.save(path)
    return path


def test_acceptance_btc_eth_sol_on_2025_11_18_with_no_extra_option(tmp_path, capsys, light_methodology):
    out = tmp_path / "p.yaml"
    code = main(["calibrate", "--assets", "BTC", "ETH", "SOL", "--asof", "2025-11-18", "--out", str(out),
                 "--methodology", str(light_methodology), "--quiet"])
    assert code == 0, capsys.readouterr().err
    params = load(out)
    assert params.asof == "2025-11-18" and set(params.asset_names) == {"BTC", "ETH", "SOL", "USDT", "USDC"}
    assert params.provenance.dataset_version == "marginlab-snapshot-2026.03"


def test_default_asof_is_the_last_day_all_assets_have():
    assert str(default_asof(["BTC", "ETH", "SOL"]).date()) == "2025-11-19"
    assert str(default_asof(["BTC", "DOT"]).date()) == "2025-10-21"  # DOT ends with the Bybit file


def test_collateral_stablecoin_past_its_data_names_the_option(tmp_path, capsys):
    code = main(["calibrate", "--assets", "AVAX", "--asof", "2026-01-10", "--out", str(tmp_path / "p.yaml")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "USDT" in err and "2025-11-19" in err and "--no-stablecoin-collateral" in err
    assert not (tmp_path / "p.yaml").exists()


def test_dvol_missing_or_ending_before_asof_is_warned_and_recorded(tmp_path, monkeypatch):
    # a MARGINLAB_DATA_DIR with a DVOL file holding ETH only, to 2025-06-30: BTC has no index, ETH's ends early
    text = gzip.decompress((datasets.DATASET_DIR / "dvol_daily.csv.gz").read_bytes()).decode().splitlines()
    kept = [text[0], *[line for line in text[1:] if ",ETH," in line and line[:10] <= "2025-06-30"]]
    (tmp_path / "dvol_daily.csv").write_text("\n".join(kept) + "\n")
    monkeypatch.setenv("MARGINLAB_DATA_DIR", str(tmp_path))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MarginLabWarning)
        params = calibrate(["BTC", "ETH"], "2025-11-18", LIGHT, stablecoin_collateral=())
    messages = [str(w.message) for w in caught if issubclass(w.category, MarginLabWarning)]
    assert any(m.startswith("BTC: no implied-vol index (Deribit DVOL)") for m in messages)
    assert any(m.startswith("ETH: the implied-vol index ends 2025-06-30, before asof 2025-11-18") for m in messages)
    btc, eth = params.assets["BTC"], params.assets["ETH"]
    assert any("no implied-vol index" in note for note in btc.provenance.warnings)
    assert any("ends 2025-06-30" in note for note in eth.provenance.warnings)
    assert eth.vol_shock.source.startswith("implied-vol index") and not btc.vol_shock.source.startswith("implied-vol index")
    assert params.provenance.dataset_version == "marginlab-snapshot-2026.03+user-unversioned[dvol]"
