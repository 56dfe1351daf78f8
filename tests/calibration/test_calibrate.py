"""Tests of marginlab.calibration.calibrate: the parameter file is what the methodology's own objects compute.

The acceptance test runs ``marginlab calibrate --assets BTC ETH SOL USDC --asof 2022-12-31 --out p.yaml`` and
recomputes every number of the file from the documented objects (``Methodology.stress_range_model``,
``Methodology.haircut_model``, the vol-shock function), fed with the raw snapshot closes.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest

from marginlab.account import Account
from marginlab.calibration.calibrate import calibrate, parse_date, published_rate
from marginlab.calibration.methodology import HaircutSpec, Methodology
from marginlab.calibration.stress_ranges import vol_shock_30d
from marginlab.exceptions import InputError, MarginLabWarning
from marginlab.margin.calibrated import models_from_parameters
from marginlab.market import MarketSnapshot
from marginlab.parameters import load

ASOF = "2022-12-31"


def _snapshot_or_skip():
    from marginlab.data import snapshot_dir

    try:
        snapshot_dir()
    except Exception as error:  # pragma: no cover
        pytest.skip(f"no data snapshot: {error}")


def _prices(n: int = 900, sigma: float = 0.03, seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    days = pd.date_range("2020-01-01", periods=n, freq="D", tz="UTC")
    return pd.DataFrame({a: 100 * np.exp(np.cumsum(sigma * rng.standard_normal(n))) for a in ("AAA", "BBB")}, index=days)


LIGHT = Methodology(name="light", haircut=HaircutSpec(n_simulations=2_000))
KWARGS = {"implied_vol": {}, "stablecoin_collateral": (), "created_at": "2030-01-01T00:00:00+00:00"}


# ------------------------------------------------------------------------------------------ acceptance
@pytest.fixture(scope="module")
def cli_file(tmp_path_factory):
    _snapshot_or_skip()
    from marginlab.cli import main

    path = tmp_path_factory.mktemp("cal") / "p.yaml"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarginLabWarning)
        assert main(["calibrate", "--assets", "BTC", "ETH", "SOL", "USDC", "--asof", ASOF, "--out", str(path), "--quiet"]) == 0
    return load(path)


@pytest.mark.slow
def test_every_number_of_the_cli_file_is_reproduced_by_the_model_objects(cli_file):
    from marginlab import data
    from marginlab.calibration.haircuts import load_haircut_inputs

    params = cli_file
    methodology = Methodology.from_dict(params.methodology)
    assert methodology == Methodology()  # the file holds the whole (default) methodology
    assert params.asset_names == ["BTC", "ETH", "SOL", "USDC", "USDT"]  # USDT: default stablecoin collateral
    stamp = pd.Timestamp(ASOF, tz="UTC") + pd.Timedelta(hours=23, minutes=59, seconds=59)
    rates = methodology.rates
    implied = {a: data.load_dvol(a)["close"] for a in ("BTC", "ETH")}
    implied = {a: s[s.index <= stamp] for a, s in implied.items()}
    returns = {}
    for asset in params.asset_names:
        close = data.load_daily(asset)["close"]
        returns[asset] = np.log(close[close.index <= stamp]).diff().dropna()
    reference = {a: (implied[a], returns[a]) for a in ("BTC", "ETH")}
    for asset in params.asset_names:
        entry = params.asset(asset)
        rows = {}
        for key in ((rates.maintenance_horizon_days, rates.maintenance_confidence), (rates.initial_horizon_days, rates.initial_confidence),
                    (rates.scan_horizon_days, rates.scan_confidence)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = methodology.stress_range_model(*key, extreme_moves="last")
                row = model.fit(returns[asset]).latest().copy()
                # side-specific volatility: the short side is the long side of the mirrored prices, a fall d being
                # the rise d / (1 - d); the mirrored fall is capped at cap / (1 + cap) (a rise of at most the cap)
                mirrored = dataclasses.replace(model, cap=model.cap / (1 + model.cap), extreme_moves="none")
                fall = mirrored.fit(-returns[asset]).latest()["scan_down"]
                row["scan_up"] = fall / (1 - fall)
                rows[key] = row
        maintenance = max(rows[(rates.maintenance_horizon_days, rates.maintenance_confidence)][["scan_down", "scan_up"]])
        initial = max(max(rows[(rates.initial_horizon_days, rates.initial_confidence)][["scan_down", "scan_up"]]), maintenance)
        scan = rows[(rates.scan_horizon_days, rates.scan_confidence)]
        assert entry.maintenance_rate == pytest.approx(maintenance, rel=1e-12)
        assert entry.initial_rate == pytest.approx(initial, rel=1e-12)
        assert entry.price_scan_range == pytest.approx(max(scan["scan_down"], scan["scan_up"]), rel=1e-12)
        assert entry.extreme_move.down == pytest.approx(min(scan["extreme_down"], methodology.extreme.cap_down), rel=1e-12)
        assert entry.extreme_move.up == pytest.approx(min(scan["extreme_up"], methodology.extreme.cap_up), rel=1e-12)
        assert entry.extreme_move.cover == methodology.extreme.cover == 0.35
        up, down, source = vol_shock_30d(asset, returns[asset], implied.get(asset), reference, methodology.vol_shock)
        assert (entry.vol_shock.up_30d, entry.vol_shock.down_30d, entry.vol_shock.source) == pytest.approx((up, down, source))
        assert entry.vol_shock.short_tenor_power == methodology.vol_shock.short_tenor_power
        assert entry.provenance.data_end == ASOF
    prices, volumes = load_haircut_inputs(params.asset_names)
    haircuts = methodology.haircut_model().fit(prices, volumes, asof=stamp, rng=0).table
    for asset in params.asset_names:
        assert params.asset(asset).haircut == pytest.approx(haircuts.loc[asset, "haircut"], rel=1e-12)
    assert params.asset("BTC").vol_shock.source.startswith("implied-vol index")


@pytest.mark.slow
def test_the_readme_accounts_work_with_the_calibrated_models(cli_file):
    """The perpetuals account posts USDT: calibrated by default, so calibrated-cross values it."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "examples"
    account = Account.load(root / "account_perps.yaml")
    market = MarketSnapshot.load(root / "market_2025-01-15.yaml")
    models = models_from_parameters(cli_file)
    for name in ("calibrated-isolated", "calibrated-cross", "calibrated-portfolio"):
        result = models[name].margin(account, market)
        assert result.maintenance_margin_usd > 0


# ------------------------------------------------------------------------------------------ synthetic
def test_rates_are_two_sided_and_ordered():
    params = calibrate(["AAA", "BBB"], "2022-03-01", LIGHT, prices=_prices(), **KWARGS)
    for asset in ("AAA", "BBB"):
        entry = params.asset(asset)
        assert 0 < entry.maintenance_rate <= entry.initial_rate < 1
        assert max(entry.extreme_move.down, entry.extreme_move.up) >= entry.price_scan_range * 0.999
        assert entry.provenance.n_returns == 790 and entry.provenance.data_end == "2022-03-01"
        assert entry.provenance.short_history is False
    assert params.provenance.dataset == "user-supplied prices"
    assert params.methodology == LIGHT.to_dict()


def test_no_look_ahead():
    prices = _prices()
    full = calibrate(["AAA"], "2021-10-01", LIGHT, prices=prices, **KWARGS)
    cut = calibrate(["AAA"], "2021-10-01", LIGHT, prices=prices.loc[:"2021-10-01"], **KWARGS)
    assert full == cut


def test_parallel_calibration_gives_the_same_file():
    prices = _prices()
    one = calibrate(["AAA", "BBB"], "2021-10-01", LIGHT, prices=prices, n_jobs=1, **KWARGS)
    two = calibrate(["AAA", "BBB"], "2021-10-01", LIGHT, prices=prices, n_jobs=2, **KWARGS)
    assert one == two


def test_published_rate_is_the_larger_side():
    assert published_rate({"scan_down": 0.1, "scan_up": 0.12}) == 0.12


@pytest.mark.parametrize(
    "asof, message",
    [
        ("2023-01-01", "is after the end of AAA's data (2020-01-01 .. 2022-06-18)"),
        ("2019-06-01", "is before the start of AAA's data"),
        ("2020-12-01", "AAA has 335 daily returns up to this date (data 2020-01-01 .. 2022-06-18), fewer than the methodology's 500"),
        ("not-a-date", "is not a date"),
    ],
)
def test_bad_dates_are_one_line_errors(asof, message):
    with pytest.raises(InputError) as caught:
        calibrate(["AAA"], asof, LIGHT, prices=_prices(), **KWARGS)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_short_history_accepted_on_request_and_recorded():
    with pytest.warns(MarginLabWarning, match="AAA: calibrated on 400 returns"):
        params = calibrate(["AAA"], "2021-02-04", LIGHT, prices=_prices(), allow_short_history=True, **KWARGS)
    assert params.asset("AAA").provenance.short_history is True
    assert params.provenance.allow_short_history is True
    assert any("fewer than" in w for w in params.asset("AAA").provenance.warnings)


def test_unknown_asset_names_the_available_ones():
    with pytest.raises(InputError, match="have no price series"):
        calibrate(["ZZZ"], "2021-10-01", LIGHT, prices=_prices(), **KWARGS)
    with pytest.raises(InputError, match="at least one asset"):
        calibrate([], "2021-10-01", LIGHT, prices=_prices(), **KWARGS)


def test_implied_vol_index_too_short_before_asof_is_not_used():
    """An implied-vol index that starts after asof (DVOL starts 2021) leaves the asset on the realised-vol method."""
    prices = _prices()
    late_index = pd.Series(50.0, index=pd.date_range("2021-09-01", periods=100, freq="D", tz="UTC"))
    params = calibrate(["AAA"], "2021-08-31", LIGHT, prices=prices, implied_vol={"AAA": late_index},
                       stablecoin_collateral=(), created_at="2030-01-01T00:00:00+00:00")
    assert params.asset("AAA").vol_shock.source.startswith("realised-vol proxy")


def test_parse_date():
    assert parse_date("2022-12-31T18:00:00Z") == pd.Timestamp("2022-12-31")
