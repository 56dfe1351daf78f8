"""Published SPAN inputs: SPAN XML (.spn) risk-parameter files, CSV/YAML risk arrays, net short option minimum,
moves past zero, labels. Files are built in the real format from the field definitions of CME's SPAN XML layout
(spanFile/pointInTime/clearingOrg/exchange/futPf/fut/ra/a..., ccDef, interSpreads)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from marginlab.account import Account
from marginlab.exceptions import FileFormatError, InputError
from marginlab.instruments import Future, Option, Position
from marginlab.margin.presets import get_model
from marginlab.margin.span import SpanModel
from marginlab.margin.span_xml import read_risk_arrays, read_spn, risk_parameters_from_dict
from marginlab.market import MarketSnapshot

ROOT = Path(__file__).resolve().parents[2]
# B1 (worked example B): one long S&P future, PSR 10,000, P&L (+ = gain). SPAN files publish LOSSES: the negation.
B1_PNL = [0, 0, 3330, 3330, -3330, -3330, 6670, 6670, -6670, -6670, 10000, 10000, -10000, -10000, 7000, -7000]
FUT_LOSS = [-v for v in B1_PNL]
# A published array of one long 105 call on the same future (losses, extremes weighted), made up for the test but
# shaped like a call: gains when the price rises, loses at most its premium (1,500) when it falls.
CALL_LOSS = [-120, 110, -1500, -1300, 700, 800, -3700, -3500, 1200, 1250, -6000, -5900, 1450, 1450, -3500, 525]


def _ra(values: list[float], delta: float) -> str:
    return "<ra><r>1</r>" + "".join(f"<a>{v}</a>" for v in values) + f"<d>{delta}</d></ra>"


def spn_text() -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<spanFile>
  <fileFormat>4.00</fileFormat>
  <created>20250115</created>
  <pointInTime>
    <date>20250115</date>
    <isSetl>1</isSetl>
    <clearingOrg>
      <ec>TEST</ec>
      <exchange>
        <exch>TST</exch>
        <futPf>
          <pfId>1</pfId><pfCode>SP</pfCode><currency>USD</currency><cvf>1</cvf>
          <fut><cId>SPH5</cId><pe>20250321</pe><p>100000</p><d>1</d>{_ra(FUT_LOSS, 1.0)}
            <scanRate><r>1</r><priceScan>10000</priceScan><volScan>0</volScan></scanRate></fut>
          <fut><cId>SPM5</cId><pe>20250620</pe><p>100500</p><d>1</d>{_ra(FUT_LOSS, 1.0)}</fut>
        </futPf>
        <futPf>
          <pfId>3</pfId><pfCode>C</pfCode><currency>USD</currency>
          <fut><cId>CH5</cId><pe>20250314</pe><p>450</p>{_ra([0] * 12 + [1750, 1750, 0, 0], 1.0)}</fut>
        </futPf>
        <futPf>
          <pfId>4</pfId><pfCode>S</pfCode><currency>USD</currency>
          <fut><cId>SH5</cId><pe>20250314</pe><p>1000</p>{_ra([0] * 10 + [-2500, -2500, 1000, 1000, 0, 0], 1.0)}</fut>
        </futPf>
        <oofPf>
          <pfId>2</pfId><pfCode>SPO</pfCode><currency>USD</currency>
          <series><pe>20250321</pe>
            <opt><cId>SPH5C105</cId><o>C</o><k>105000</k><p>1500</p>{_ra(CALL_LOSS, 0.35)}</opt>
          </series>
        </oofPf>
      </exchange>
      <ccDef>
        <cc>SP</cc><name>SP combined</name><currency>USD</currency>
        <pfLink><exch>TST</exch><pfId>1</pfId><pfCode>SP</pfCode><pfType>FUT</pfType></pfLink>
        <pfLink><exch>TST</exch><pfId>2</pfId><pfCode>SPO</pfCode><pfType>OOF</pfType></pfLink>
        <intraTiers><tier><tn>1</tn><sPe>202503</sPe><ePe>202503</ePe></tier><tier><tn>2</tn><sPe>202506</sPe><ePe>202506</ePe></tier></intraTiers>
        <somTiers><tier><tn>1</tn><rate><r>1</r><val>100</val></rate></tier></somTiers>
        <dSpread><spread>1</spread><rate><r>1</r><val>200</val></rate>
          <tLeg><cc>SP</cc><tn>1</tn><rs>A</rs><i>1</i></tLeg><tLeg><cc>SP</cc><tn>2</tn><rs>B</rs><i>1</i></tLeg></dSpread>
      </ccDef>
      <ccDef><cc>C</cc><pfLink><exch>TST</exch><pfId>3</pfId><pfCode>C</pfCode><pfType>FUT</pfType></pfLink></ccDef>
      <ccDef><cc>S</cc><pfLink><exch>TST</exch><pfId>4</pfId><pfCode>S</pfCode><pfType>FUT</pfType></pfLink></ccDef>
      <interSpreads>
        <dSpread><spread>1</spread><rate><r>1</r><val>55</val></rate>
          <pLeg><cc>C</cc><rs>A</rs><i>2</i></pLeg><pLeg><cc>S</cc><rs>B</rs><i>1</i></pLeg></dSpread>
      </interSpreads>
    </clearingOrg>
  </pointInTime>
</spanFile>
"""


@pytest.fixture
def spn(tmp_path: Path) -> Path:
    path = tmp_path / "test.20250115.s.spn"
    path.write_text(spn_text())
    return path


def model_with(params) -> SpanModel:  # type: ignore[no-untyped-def]
    return SpanModel({}, risk_parameters=params)


def test_read_spn_fields(spn: Path) -> None:
    params = read_spn(spn)
    assert params.business_date == "20250115"
    assert sorted(params.contracts) == ["CH5", "SH5", "SPH5", "SPH5C105", "SPM5"]
    call = params.contracts["SPH5C105"]
    assert (call.combined_commodity, call.kind, call.option_type, call.strike, call.delta) == ("SP", "option", "call", 105_000.0, 0.35)
    assert params.combined["SP"].short_option_minimum == 100.0
    assert params.combined["SP"].tier_of("20250620") == 2
    assert params.inter_spreads[0].credit_rate == pytest.approx(0.55)


def test_b1_published_array_margined_alone(spn: Path) -> None:
    # B1: the scan risk of one long future = its worst loss = 10,000 (scenario 13/14, -1 x PSR)
    result = model_with(read_spn(spn)).margin_published({"SPH5": 1})
    assert result.maintenance_margin_usd == pytest.approx(10_000.0)
    np.testing.assert_allclose(result.scenarios["pnl_usd"].to_numpy(), B1_PNL)
    assert result.details["worst_scenario"].startswith("#13 price -1 x PSR")


def test_covered_write_from_two_published_arrays(spn: Path) -> None:
    # +1 future, -1 call: scenario losses = future loss - call loss; scan = the largest, worked by hand:
    combined = [f - c for f, c in zip(FUT_LOSS, CALL_LOSS)]
    assert combined[12] == 10_000 - 1_450 == 8_550  # price -1 PSR: the future loses 10,000, the short call keeps its 1,450
    assert max(combined) == 8_550
    result = model_with(read_spn(spn)).margin_published({"SPH5": 1, "SPH5C105": -1})
    assert result.maintenance_margin_usd == pytest.approx(8_550.0)  # above the short option minimum 1 x 100


def test_net_short_option_minimum(spn: Path) -> None:
    model = model_with(read_spn(spn))
    # +2 and -2 of the same call net to zero: no risk, no short option -> 0 (not 2 x 100)
    assert model.margin_published({"SPH5C105": 2}).maintenance_margin_usd == pytest.approx(2_900.0)  # 2 long calls x worst loss 1,450
    flat = model.margin(Account([Position(Option("SP", "2025-03-21", 105_000, "call"), 2.0), Position(Option("SP", "2025-03-21", 105_000, "call"), -2.0)]),
                        MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"SP": {"index_usd": 100_000}}}))
    assert flat.maintenance_margin_usd == 0.0
    # revalued BTC calls in span-example (SOM 500 per net short option): +-2 of the same call -> 0, not 1,000
    market = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 100_000, "expiries": {"2025-03-28": {"atm_vol": 0.5}}}}})
    call = Option("BTC", "2025-03-28", 150_000, "call")
    assert get_model("span-example").margin(Account([Position(call, 2.0), Position(call, -2.0)]), market).maintenance_margin_usd == 0.0
    # three net short 300k calls (scan loss ~11 USD): the minimum 3 x 500 = 1,500 applies; +1/-4 nets to 3 short too
    far = Option("BTC", "2025-03-28", 300_000, "call")
    assert get_model("span-example").margin(Account([Position(far, -3.0)]), market).maintenance_margin_usd == pytest.approx(1_500.0)
    assert get_model("span-example").margin(Account([Position(far, 1.0), Position(far, -4.0)]), market).maintenance_margin_usd == pytest.approx(1_500.0)


def test_intra_commodity_tier_spread(spn: Path) -> None:
    # +1 March / -1 June with identical arrays: scan 0; one tier-1/tier-2 spread at 200 -> 200 (as in A1's charge)
    result = model_with(read_spn(spn)).margin_published({"SPH5": 1, "SPM5": -1})
    assert result.maintenance_margin_usd == pytest.approx(200.0)


def test_inter_commodity_credit_a2(spn: Path) -> None:
    # A2: 2 corn (1,750 each) vs 1 soybean (2,500) at 2:1, credit 55% -> 6,000 - 3,300 = 2,700
    result = model_with(read_spn(spn)).margin_published({"CH5": 2, "SH5": -1})
    parts = dict(zip(result.components["component"], result.components["maintenance_margin_usd"]))
    assert parts["C scan risk"] == pytest.approx(3_500.0) and parts["S scan risk"] == pytest.approx(2_500.0)
    assert parts["C inter-commodity credit"] + parts["S inter-commodity credit"] == pytest.approx(-3_300.0)
    assert result.maintenance_margin_usd == pytest.approx(2_700.0)


def test_published_and_revalued_positions_together(spn: Path) -> None:
    # a revalued long SP future (PSR 10% of 100,000 = 10,000, as B1) hedged by a short published SPH5 array: scan 0
    market = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"SP": {"index_usd": 100_000}, "BTC": {"index_usd": 100_000}}})
    model = SpanModel({"SP": 0.10}, risk_parameters=read_spn(spn))
    revalued = Account([Position(Future("SP", "2025-09-19"), 1.0)])  # no published September contract -> revalued
    alone = model.margin(revalued, market)
    assert alone.maintenance_margin_usd == pytest.approx(10_000.0)
    together = model.margin_published({"SPH5": -1}, account=revalued, market=market)
    assert together.maintenance_margin_usd == pytest.approx(0.0, abs=1e-6)
    # an account future that matches a published contract (SP, 2025-03-21) takes the published array
    matched = model.margin(Account([Position(Future("SP", "2025-03-21"), 1.0)]), market)
    assert matched.positions["source"].tolist() == ["published"]
    with pytest.raises(InputError, match="NOPE"):
        model.margin_published({"NOPE": 1})


def test_csv_and_yaml_risk_arrays(tmp_path: Path) -> None:
    header = "contract,combined_commodity,kind,period,option_type,strike,delta," + ",".join(f"a{i}" for i in range(1, 17))
    rows = ["SPH5,SP,future,20250321,,,1.0," + ",".join(str(v) for v in FUT_LOSS),
            "SPH5C105,SP,option,20250321,C,105000,0.35," + ",".join(str(v) for v in CALL_LOSS)]
    csv_file = tmp_path / "arrays.csv"
    csv_file.write_text("\n".join([header, *rows]) + "\n")
    from_csv = model_with(read_risk_arrays(csv_file)).margin_published({"SPH5": 1, "SPH5C105": -1})
    assert from_csv.maintenance_margin_usd == pytest.approx(8_550.0)
    # YAML with P&L sign and unweighted extremes: a15/a16 given as full moves (+-2 PSR = 20,000) and weighted by 35%
    pnl = B1_PNL[:14] + [20_000, -20_000]
    yaml_params = risk_parameters_from_dict({"format": "marginlab-risk-arrays/1", "sign": "pnl", "extremes_weighted": False, "extreme_cover": 0.35,
                                             "contracts": [{"id": "SPH5", "combined_commodity": "SP", "kind": "future", "period": "20250321",
                                                            "risk_array": pnl}]})
    np.testing.assert_allclose(yaml_params.contracts["SPH5"].loss, FUT_LOSS)
    yaml_file = tmp_path / "arrays.yaml"
    yaml_file.write_text("format: marginlab-risk-arrays/1\ncontracts:\n  - {id: X, combined_commodity: SP, kind: future, risk_array: [1, 2]}\n")
    with pytest.raises(FileFormatError, match="2 values"):
        read_risk_arrays(yaml_file)
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("contract,combined_commodity,a1\nX,SP,1\n")
    with pytest.raises(FileFormatError, match="missing columns"):
        read_risk_arrays(bad_csv)
    with pytest.raises(FileFormatError, match="extreme_cover"):
        risk_parameters_from_dict({"format": "marginlab-risk-arrays/1", "extremes_weighted": False,
                                   "contracts": [{"id": "X", "combined_commodity": "SP", "risk_array": FUT_LOSS}]})


@pytest.mark.parametrize(
    ("text", "match"),
    [("<notspan/>", "spanFile"), ("<spanFile><pointInTime/></spanFile>", "no futures"), ("<spanFile", "not valid XML"),
     (spn_text().replace("<a>-3330</a>", "", 1), "15 <a> values"), (spn_text().replace("<o>C</o>", "<o>X</o>"), "expected C or P")],
)
def test_bad_spn_files(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.spn"
    path.write_text(text)
    with pytest.raises(FileFormatError, match=match):
        read_spn(path)


def test_readme_account_and_moves_past_zero() -> None:
    # the README's example account under span-example: no error, labels in PSR units
    account = Account.load(ROOT / "examples/account_btc_options.yaml")
    market = MarketSnapshot.load(ROOT / "examples/market_2025-01-15.yaml")
    result = get_model("span-example").margin(account, market)
    assert result.maintenance_margin_usd > 0
    assert "x PSR" in result.details["worst_scenario"] and "-100" not in " ".join(result.scenarios["label"])
    # PSR 60%, X = 2: the -2 x PSR extreme would be -120%; SPAN floors the price at 0: a long future loses its price,
    # counted at 35% -> 35,000, below the -1 x PSR loss of 60,000
    market = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 100_000, "expiries": {"2025-03-28": {"atm_vol": 0.5}}}}})
    model = SpanModel({"BTC": 0.60}, vol_scan_range=0.1)
    result = model.margin(Account([Position(Future("BTC", "2025-03-28"), 1.0)]), market)
    assert result.scenarios["pnl_usd"].iloc[15] == pytest.approx(-35_000.0)
    assert result.maintenance_margin_usd == pytest.approx(60_000.0)
    # a long put at a zero underlying is worth its discounted strike (rate 0: the strike): P&L at #16 = 0.35 x (K - put now)
    put = Option("BTC", "2025-03-28", 90_000, "put")
    put_result = model.margin(Account([Position(put, 1.0)]), market)
    value_now = put_result.positions["value_usd"].iloc[0]
    assert put_result.scenarios["pnl_usd"].iloc[15] == pytest.approx(0.35 * (90_000 - value_now))


def test_venue_file_with_a_risk_parameter_file(tmp_path: Path) -> None:
    # a user venue folder: a span venue file pointing at a .spn next to it, no Python
    (tmp_path / "test.spn").write_text(spn_text())
    (tmp_path / "my-span.yaml").write_text(
        "schema: marginlab-venue/1\nname: my-span\nversion: 1\nengine: span\ndescription: published arrays\neffective_date: 2025-01-15\n"
        "sources: [{title: test file, address: test.spn}]\ndimensions: [spot, vol]\n"
        "parameters: {price_scan_range: {BTC: 0.2}, vol_scan_range: 0.1, risk_parameter_file: test.spn}\n")
    model = get_model("my-span", venues_dir=tmp_path)
    market = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"SP": {"index_usd": 100_000}}})
    account = Account([Position(Future("SP", "2025-03-21"), 1.0), Position(Option("SP", "2025-03-21", 105_000, "call"), -1.0)])
    assert model.margin(account, market).maintenance_margin_usd == pytest.approx(8_550.0)  # the covered write above
