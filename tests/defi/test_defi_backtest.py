"""Historical backtests read the embedded data: the event paths carry the recorded depegs.

Facts (shared/data/2026-extension/README.md): stETH/ETH 0.9367 on 2022-06-15; USDC low 0.8774 on 2023-03-11;
USDe low 0.65 on Binance on 2025-10-10.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from marginlab.defi.backtest import event_paths
from marginlab.defi.market_file import load_market_file

SPEC = load_market_file(Path(__file__).resolve().parents[2] / "examples" / "lending_market.yaml")


def _ratio(paths, asset):
    column = paths.assets.index(asset)
    return paths.prices_usd[0, :, column] / paths.prices_usd[0, 0, column]


def test_steth_discount_in_the_june_2022_path() -> None:
    paths = event_paths(SPEC, "steth-2022-06")
    lst_over_eth = _ratio(paths, "wstETH") / _ratio(paths, "ETH")
    assert lst_over_eth.min() == pytest.approx(0.936734, abs=1e-5)  # 2022-06-15 close_in_eth
    calm = event_paths(SPEC, "steth-2022-06", depeg=False)
    assert np.allclose(_ratio(calm, "wstETH"), _ratio(calm, "ETH"))


def test_usdc_and_usde_lows() -> None:
    assert _ratio(event_paths(SPEC, "usdc-2023-03"), "USDC").min() == pytest.approx(0.8774, abs=1e-3)
    crash = event_paths(SPEC, "crash-2025-10-10")
    assert _ratio(crash, "USDe").min() == pytest.approx(0.65)
    assert _ratio(crash, "ETH").min() < 0.85  # the 2025-10-10 intraday low
    assert np.allclose(_ratio(event_paths(SPEC, "crash-2025-10-10", depeg=False), "USDe"), 1.0)
