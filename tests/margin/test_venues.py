"""Venue rules as data (``marginlab/margin/venues/*.yaml``): loader, discovery, user files, run-time inputs, describe."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from marginlab.account import Account
from marginlab.collateral import TieredHaircut
from marginlab.exceptions import FileFormatError, ParameterError, UnknownAssetError
from marginlab.instruments import Perpetual, Position
from marginlab.margin.isolated import IsolatedMargin, LiquidityTier
from marginlab.margin.presets import available_models, deribit_futures_pm, deribit_pm, deribit_pm_legacy, describe, get_model
from marginlab.margin.venues import (
    PACKAGE_DIR,
    VENUES_ENV,
    build_model,
    load_venue,
    read_runtime_inputs,
    read_venue_file,
    venue_files,
)
from marginlab.market import MarketSnapshot

ROOT = Path(__file__).resolve().parents[2]
MARKET = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 100_000}, "ETH": {"index_usd": 4_000},
                                                                      "SOL": {"index_usd": 200}, "XRP": {"index_usd": 2.0}}})
PACKAGE_FILES = sorted(PACKAGE_DIR.glob("*.yaml"))


@pytest.mark.parametrize("path", PACKAGE_FILES, ids=lambda p: p.stem)
def test_every_package_file_is_sourced_versioned_and_builds(path: Path) -> None:
    spec = read_venue_file(path)
    assert spec.name == path.stem  # one file per preset, named after it
    assert spec.version >= 1 and spec.effective_date and spec.sources
    assert all(s.title and s.address for s in spec.sources)
    assert set(spec.dimensions) <= {"spot", "vol", "skew", "basis", "time", "rate"}
    model = build_model(spec)
    assert model.name == spec.name
    text = describe(spec.name)
    assert spec.sources[0].title in text and f"v{spec.version}" in text and ", ".join(spec.dimensions) in text
    for key in spec.assumed:
        assert f"assumed: {key}" in text


def test_registry_lists_every_file_with_version_and_dimensions() -> None:
    table = available_models().set_index("name")
    for path in PACKAGE_FILES:
        assert path.stem in table.index
        assert table.loc[path.stem, "version"].startswith("v")
    assert table.loc["okx-pm", "dimensions"] == "spot, vol, basis, time, rate"
    assert "fhs-var" in table.index  # Python presets (calibrations) still listed


def test_deribit_pm_files_match_the_parametrised_builders() -> None:
    # the venue files and the functions describe the same grids and shocks: they cannot drift apart
    for name, built in (("deribit-pm", deribit_pm()), ("deribit-pm-c3", deribit_pm(preset="deribit-pm-c3")), ("deribit-pm-legacy", deribit_pm_legacy()),
                        ("deribit-futures-pm", deribit_futures_pm())):
        model = get_model(name)
        assert model.scenarios == built.scenarios
        assert model.vol_shock == built.vol_shock
        assert (model.option_contingency_mm, model.linear_contingency_mm) == (built.option_contingency_mm, built.linear_contingency_mm)


def _user_copy(tmp_path: Path, name: str, edit) -> Path:  # type: ignore[no-untyped-def]
    data = yaml.safe_load((PACKAGE_DIR / f"{name}.yaml").read_text())
    edit(data)
    folder = tmp_path / "venues"
    folder.mkdir(exist_ok=True)
    (folder / f"{data['name']}.yaml").write_text(yaml.safe_dump(data))
    return folder


def test_user_changes_a_table_without_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # hyperliquid ETH at 10x instead of 25x: MM = notional / (2 x 10) = 5% of 200,000 = 10,000 (E1 rule); at 25x: 2% = 4,000
    def edit(data):  # type: ignore[no-untyped-def]
        data["parameters"]["rules"]["ETH"]["max_leverage"] = 10
        data["version"] = 9

    folder = _user_copy(tmp_path, "hyperliquid", edit)
    account = Account([Position(Perpetual("ETH"), 50.0)])
    assert get_model("hyperliquid").margin(account, MARKET).maintenance_margin_usd == pytest.approx(4_000.0)
    assert get_model("hyperliquid", venues_dir=folder).margin(account, MARKET).maintenance_margin_usd == pytest.approx(10_000.0)
    monkeypatch.setenv(VENUES_ENV, str(folder))
    assert get_model("hyperliquid").margin(account, MARKET).maintenance_margin_usd == pytest.approx(10_000.0)
    assert "v9" in describe("hyperliquid")


def test_hyperliquid_published_btc_margin_tiers() -> None:
    # Hyperliquid margin tiers for BTC: 40x below 150M USD notional, 20x above; MM rate 1/(2 x max leverage) with a
    # deduction keeping MM continuous: 2,000 BTC at 100k = 200M -> MM = 200M x 2.5% - 150M x (2.5% - 1.25%) = 3,125,000;
    # IM at the tier's max leverage 20x = 10,000,000. Below 150M the E1 numbers are unchanged (2 BTC: MM 2,500).
    big = get_model("hyperliquid").margin(Account([Position(Perpetual("BTC"), 2_000.0)]), MARKET)
    assert (big.initial_margin_usd, big.maintenance_margin_usd) == pytest.approx((10_000_000.0, 3_125_000.0))
    assert get_model("hyperliquid").margin(Account([Position(Perpetual("BTC"), 2.0)]), MARKET).maintenance_margin_usd == pytest.approx(2_500.0)


def test_user_adds_a_venue_without_python(tmp_path: Path) -> None:
    def edit(data):  # type: ignore[no-untyped-def]
        data["name"] = "my-venue"
        data["description"] = "flat 5% / 3%"
        data["parameters"] = {"rules": {"*": {"type": "size_linear", "initial_base": 0.05, "maintenance_base": 0.03}}}
        data.pop("assumed", None)

    folder = _user_copy(tmp_path, "deribit-standard", edit)
    assert "my-venue" in set(available_models(venues_dir=folder)["name"])
    result = get_model("my-venue", venues_dir=folder).margin(Account([Position(Perpetual("XRP"), 1_000.0)]), MARKET)
    assert (result.initial_margin_usd, result.maintenance_margin_usd) == pytest.approx((100.0, 60.0))  # 5% / 3% of 2,000
    assert "IM rate 5.0000%" in result.positions["rule"].iloc[0]  # explanation strings come from the same data
    with pytest.raises(UnknownAssetError, match="my-venue"):
        get_model("my-venue")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("schema: other/1\n", "schema"),
        ("- a list\n", "mapping"),
        ("schema: marginlab-venue/1\nname: x\n", "missing field"),
        ("schema: marginlab-venue/1\nname: x\nengine: magic\nversion: 1\ndescription: d\neffective_date: 2025-01-01\nsources: [{title: t, address: a}]\nparameters: {}\n",
         "engine"),
        ("schema: marginlab-venue/1\nname: x\nengine: isolated\nversion: 1\ndescription: d\neffective_date: 2025-01-01\nsources: []\nparameters: {}\n",
         "at least one source"),
        ("schema: marginlab-venue/1\nname: x\nengine: isolated\nversion: 1\ndescription: d\neffective_date: 2025-01-01\nsources: [{title: t, address: a}]\n"
         "dimensions: [spot, colour]\nparameters: {}\n", "colour"),
        ("a: [unclosed\n", "malformed YAML"),
    ],
)
def test_bad_venue_files_are_one_line_errors(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(FileFormatError, match=match):
        read_venue_file(path)


def test_bad_rule_parameters_name_the_field(tmp_path: Path) -> None:
    def edit(data):  # type: ignore[no-untyped-def]
        data["parameters"]["rules"]["BTC"] = {"type": "brackets", "table": [[0, 0.01]]}

    folder = _user_copy(tmp_path, "binance-brackets", edit)
    with pytest.raises(FileFormatError, match="rules.BTC.table"):
        get_model("binance-brackets", venues_dir=folder)
    with pytest.raises(FileFormatError, match="does not exist"):
        venue_files(tmp_path / "missing")


def test_runtime_open_interest_from_arguments_and_files(tmp_path: Path) -> None:
    # dydx-v4 Long-Tail (XRP): IMF 20%, OI caps 5M-10M (v5.0.0 upgrade handler); OI 7.5M -> s = 0.5 -> IMF = 0.2 + 0.5 x 0.8 = 0.6
    account = Account([Position(Perpetual("XRP"), 1_000.0)])
    model = get_model("dydx-v4", open_interest_usd={"XRP": 7.5e6})
    assert model.margin(account, MARKET).initial_margin_usd == pytest.approx(0.6 * 2_000)
    file = tmp_path / "oi.json"
    file.write_text(json.dumps({"open_interest_usd": {"BTC": 35e6}}))
    assert read_runtime_inputs([str(file)]) == {"open_interest_usd": {"BTC": 35e6}}
    assert read_runtime_inputs(["BTC=35e6"]) == read_runtime_inputs([str(file)])
    with pytest.raises(ParameterError, match="not a run-time input of deribit-pm"):
        get_model("deribit-pm", open_interest_usd={"BTC": 1.0})
    with pytest.raises(ParameterError, match="open_interest"):
        read_runtime_inputs(["BTC=-5"])
    with pytest.raises(FileFormatError, match="no such open-interest file"):
        read_runtime_inputs([str(tmp_path / "none.yaml")])


def test_dydx_v4_published_tiers() -> None:
    # dYdX governance tiers: Large-Cap IMF 2% (20000 ppm), maintenance fraction 60% -> MMF 1.2%; Mid-Cap (SOL) 5% / 60%,
    # OI caps 40M-100M USD (forum proposal 'Liquidity Tier Maintenance'); Long-Tail 20% / 50% -> MMF 10%
    model = get_model("dydx-v4")
    assert isinstance(model, IsolatedMargin)
    btc = model.margin(Account([Position(Perpetual("BTC"), 10.0)]), MARKET)
    assert (btc.initial_margin_usd, btc.maintenance_margin_usd) == pytest.approx((20_000.0, 12_000.0))
    sol_rule = model.rules["SOL"]
    assert isinstance(sol_rule, LiquidityTier)
    assert (sol_rule.open_interest_lower_usd, sol_rule.open_interest_upper_usd) == (40e6, 100e6)
    # SOL with OI 70M: s = (70 - 40) / (100 - 40) = 0.5 -> IMF = 0.05 + 0.5 x 0.95 = 0.525 of 20,000 notional
    sol = get_model("dydx-v4", open_interest_usd={"SOL": 70e6}).margin(Account([Position(Perpetual("SOL"), 100.0)]), MARKET)
    assert sol.initial_margin_usd == pytest.approx(0.525 * 20_000)
    assert sol.maintenance_margin_usd == pytest.approx(0.03 * 20_000)
    xrp = model.margin(Account([Position(Perpetual("XRP"), 1_000.0)]), MARKET)
    assert xrp.maintenance_margin_usd == pytest.approx(0.10 * 2_000)


def test_binance_tiered_collateral_published_example() -> None:
    # Binance FAQ 'Cross Margin Collateral Haircuts', Example 1: 6,000 BTC at 20,000 USDT = 120,000,000;
    # collateral value = 100,000,000 x 100% + 20,000,000 x 97.5% = 119,500,000
    model = get_model("binance-cross-margin-tiered")
    assert isinstance(model.haircuts, TieredHaircut)
    market = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 20_000}}})
    assert model.account_equity_usd(Account((), collateral={"BTC": 6_000.0}), market) == pytest.approx(119_500_000.0)
    # worked example F's flat 0.95 stays the binance-unified preset (3 BTC count as 2.85 BTC)
    assert get_model("binance-unified").account_equity_usd(Account((), collateral={"BTC": 3.0}), MARKET) == pytest.approx(285_000.0)


def test_describe_states_rules_from_the_data() -> None:
    text = describe("deribit-standard")
    assert "short put MM = max(0.075, 0.075 x mark) + mark" in text  # the put formula is stated
    assert "size x 0.005000%" in text  # BTC per-unit term of C1
    assert "assumed: parameters.rules.*" in text
    assert "BTC 20%" in describe("span-example")
    with pytest.raises(UnknownAssetError):
        describe("no-such-venue")
    assert load_venue("dydx").runtime_inputs


def test_cli_open_interest_flag(tmp_path: Path) -> None:
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    args = [sys.executable, "-m", "marginlab.cli", "margin", str(ROOT / "examples/account_perps.yaml"), "--market", str(ROOT / "examples/market_2025-01-15.yaml"),
            "--model", "dydx-v4", "--json"]
    plain = json.loads(subprocess.run(args, capture_output=True, text=True, env=env, check=True).stdout)
    scaled = json.loads(subprocess.run([*args, "--open-interest", "SOL=70e6"], capture_output=True, text=True, env=env, check=True).stdout)
    assert scaled["initial_margin_usd"] > plain["initial_margin_usd"]
    assert scaled["maintenance_margin_usd"] == pytest.approx(plain["maintenance_margin_usd"])  # OI scales the IMF only
    bad = subprocess.run([*args[:-1], "--open-interest", "BTC=abc"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "open_interest[BTC]" in bad.stderr and "Traceback" not in bad.stderr
    assert np.isfinite(plain["equity_usd"])


@pytest.mark.filterwarnings("ignore::marginlab.exceptions.DataWarning")
def test_fhs_var_file_matches_the_model_written_out() -> None:
    # the numbers of venues/fhs-var.yaml written out by hand: 99% ES over 2 days, 750 windows, lambda 0.94, 25% stress, MM 80%,
    # the three crisis days with SOL taking ETH's move before its history starts
    from marginlab.margin import fhs

    account = Account.load(ROOT / "examples/account_btc_options.yaml")
    market = MarketSnapshot.load(ROOT / "examples/market_2025-01-15.yaml")
    from_file = get_model("fhs-var").margin(account, market)
    days = {"COVID crash 2020-03-12": "2020-03-12", "May 2021 sell-off 2021-05-19": "2021-05-19", "FTX collapse 2022-11-09": "2022-11-09"}
    crises = fhs.crisis_scenarios(["BTC", "ETH", "SOL"], 2, days, {"SOL": "ETH"})
    by_hand = fhs.FilteredHistoricalMargin(fhs.HistoricalScenarios.from_snapshot(["BTC", "ETH", "SOL"]), confidence=0.99, horizon_days=2,
                                           lookback_days=750, ewma_lambda=0.94, stress_weight=0.25, risk_measure="es", mm_fraction=0.8,
                                           stress_scenarios=crises)
    assert from_file.maintenance_margin_usd == pytest.approx(by_hand.margin(account, market).maintenance_margin_usd, rel=1e-12)


def test_dydx_caps_as_their_sources_set_them() -> None:
    """PR #1125's test genesis: Large-Cap, Mid-Cap and Long-Tail caps 0 (no scaling), Safety 0.5M / 1M; the v5.0.0 upgrade
    handler (PR #1232): tier 1 (Small-Cap) 20M / 50M, Long-Tail 5M / 10M, Safety 2M / 5M, Large-Cap none."""
    genesis = load_venue("dydx").parameters["tiers"]
    assert all("open_interest_upper_usd" not in genesis[t] for t in ("large-cap", "mid-cap", "long-tail"))
    assert (genesis["safety"]["open_interest_lower_usd"], genesis["safety"]["open_interest_upper_usd"]) == (500_000, 1_000_000)
    mainnet = load_venue("dydx-v4").parameters["tiers"]
    caps = {t: (mainnet[t].get("open_interest_lower_usd", 0), mainnet[t].get("open_interest_upper_usd", 0)) for t in mainnet}
    assert caps["large-cap"] == (0, 0) and caps["small-cap"] == (20e6, 50e6) and caps["long-tail"] == (5e6, 10e6) and caps["safety"] == (2e6, 5e6)
    assert caps["mid-cap"] == (40e6, 100e6) and caps["isolated"] == (0.5e6, 1e6) and caps["fx"] == (0.5e6, 1e6)
    assert not any("PR #1125" in why for why in load_venue("dydx-v4").assumed.values())  # no cap credited to the test genesis


def test_dydx_user_set_imf() -> None:
    """liquidity_tier.go: IMF = max(OI-scaled IMF, custom_imf_ppm); MMF unchanged. BTC Large-Cap 2% with a user IMF of 10%
    (10x): 10 BTC at 100,000 -> IM 100,000, MM 0.02 x 0.6 x 1,000,000 = 12,000; a user IMF below the tier's changes nothing."""
    account = Account([Position(Perpetual("BTC"), 10.0)])
    chosen = get_model("dydx-v4", user_imf={"BTC": 0.10}).margin(account, MARKET)
    assert (chosen.initial_margin_usd, chosen.maintenance_margin_usd) == pytest.approx((100_000.0, 12_000.0))
    assert get_model("dydx-v4", user_imf={"BTC": 0.01}).margin(account, MARKET).initial_margin_usd == pytest.approx(20_000.0)
    # with open interest scaling above it, the scaled IMF wins: SOL OI 70M -> 0.525 > 0.2
    sol = get_model("dydx-v4", open_interest_usd={"SOL": 70e6}, user_imf={"SOL": 0.2}).margin(Account([Position(Perpetual("SOL"), 100.0)]), MARKET)
    assert sol.initial_margin_usd == pytest.approx(0.525 * 20_000)
    with pytest.raises(ParameterError, match="user_imf"):
        get_model("dydx-v4", user_imf={"BTC": 1.5})
    with pytest.raises(ParameterError, match="not a run-time input"):
        get_model("hyperliquid", user_imf={"BTC": 0.1})
