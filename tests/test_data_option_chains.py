"""The Deribit BTC option chains of May 2020 and the smile / vol-shock checks against them (issue 18, item 5).

Facts of the file: the 2026 extension's README, file 13 (310 and 326 instruments, 7 expiries each, index 9349
and 9085, mark IV 76-209% and 70-184%, 114 ask IVs at the 500% ceiling). The fit is checked on a synthetic chain
whose smile is known in closed form.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from marginlab.data.option_chains import load_option_chains
from marginlab.exceptions import InputError, ParameterError
from marginlab.market_history import fit_smile, tenor_power_check


@pytest.fixture(scope="module")
def chains():
    return load_option_chains()


def test_the_chains_as_the_readme_describes_them(chains):
    first, second = (chains[chains["snapshot"].dt.day == day] for day in (14, 21))
    assert len(first) == 310 and len(second) == 326
    assert first["expiry"].nunique() == second["expiry"].nunique() == 7
    assert first["index_usd"].median() == pytest.approx(9349, abs=2) and second["index_usd"].median() == pytest.approx(9085, abs=2)
    assert first["mark_iv"].min() == pytest.approx(0.76, abs=0.006) and first["mark_iv"].max() == pytest.approx(2.09, abs=0.006)
    assert second["mark_iv"].min() == pytest.approx(0.70, abs=0.006) and second["mark_iv"].max() == pytest.approx(1.84, abs=0.006)
    raw_ask_blank = chains["ask_iv"].isna().sum()
    assert raw_ask_blank >= 114  # the 114 ceiling quotes are "no ask", with the blank ones
    # the forward is the expiry's synthetic future: log-moneyness 0 at the strike equal to it
    row = chains.iloc[0]
    assert row["log_moneyness"] == pytest.approx(np.log(row["strike"] / row["forward_usd"]))
    assert (chains.loc[chains["otm"] & (chains["option_type"] == "call"), "strike"] >= chains.loc[
        chains["otm"] & (chains["option_type"] == "call"), "forward_usd"]).all()
    with pytest.raises(InputError, match="snapshot"):
        load_option_chains("2020-06-01")


def _synthetic_chain(atm=0.8, skew=-0.2, curvature=0.5, forward=10_000.0):
    # strikes on the model's log-moneyness grid (-1 .. 1, step 0.1): the smile is exact there
    m = np.round(np.arange(-1.0, 1.0001, 0.1), 1)
    strikes = forward * np.exp(m)
    iv = atm + skew * m + curvature * m * m
    rows = []
    for snapshot in ("2020-05-14", "2020-05-21"):
        for days in (10.0, 40.0, 160.0):
            expiry = pd.Timestamp("2020-06-01", tz="UTC") + pd.Timedelta(days=days)
            grow = 1.0 + 0.1 * (30.0 / days) ** 0.3 if snapshot == "2020-05-21" else 1.0
            for k, v in zip(strikes, iv):
                rows.append({"snapshot": pd.Timestamp(snapshot, tz="UTC"), "expiry": expiry, "strike": k, "forward_usd": forward,
                             "dte_days": days, "log_moneyness": np.log(k / forward), "mark_iv": v * grow, "otm": True,
                             "bid_iv": v * grow - 0.01, "ask_iv": v * grow + 0.01})
    return pd.DataFrame(rows)


def test_fit_recovers_a_known_smile_exactly():
    fit = fit_smile(_synthetic_chain())
    first = fit.parameters.iloc[0]
    assert (first["atm"], first["skew"], first["curvature"]) == pytest.approx((0.8, -0.2, 0.5), abs=1e-9)
    assert fit.residuals["error"].abs().max() < 1e-9 and fit.residuals["in_spread"].all()
    assert set(fit.error_by_moneyness().index.astype(str)) and fit.error_by_expiry()["rmse"].max() < 1e-9


def test_tenor_power_recovered_from_changes_of_known_shape():
    # after / before - 1 = 0.1 (30 / DTE) ** 0.3 at every expiry: the fitted power is 0.3
    fit = fit_smile(_synthetic_chain())
    table, power = tenor_power_check(fit, 0.3, 0.3)
    assert power == pytest.approx(0.3, abs=1e-6)
    np.testing.assert_allclose(table["model_shape"], table["change"], rtol=1e-9)


def test_real_chains_fit_error_by_strike_and_expiry(chains):
    by_expiry = fit_smile(chains)
    flat = fit_smile(chains, by="snapshot")  # one smile for every expiry: the flat term structure of market_from_history
    assert len(by_expiry.parameters) == 12  # 14 expiries minus the two within a day of their snapshot
    assert by_expiry.residuals["error"].pow(2).mean() < flat.residuals["error"].pow(2).mean()
    # the long expiries are fitted within a few vol points; their share inside the bid/ask is high
    long = by_expiry.error_by_expiry().reset_index()
    long = long[long["expiry"] >= pd.Timestamp("2020-09-01", tz="UTC")]
    assert (long["rmse"] < 0.02).all() and (long["share_in_spread"] >= 0.5).all()
    with pytest.raises(ParameterError, match="by"):
        fit_smile(chains, by="strike")  # type: ignore[arg-type]
