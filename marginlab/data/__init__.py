"""Market history: snapshot and download sources, validation, aligned panels and returns.

Minimal first version (the foundation issue completes it): loaders read the normalised
snapshot files from the directory given by ``MARGINLAB_DATA_DIR``, else ``data/snapshot`` in
the repository, else ``../shared/data`` beside the checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from marginlab.exceptions import DataError, UnknownAssetError

#: Days per year used to annualise crypto volatility (crypto trades every calendar day).
DAYS_PER_YEAR = 365

_REPO = Path(__file__).resolve().parents[2]


def snapshot_dir() -> Path:
    """The snapshot directory: ``$MARGINLAB_DATA_DIR``, else ``data/snapshot``, else ``../shared/data``."""
    candidates = []
    if os.environ.get("MARGINLAB_DATA_DIR"):
        candidates.append(Path(os.environ["MARGINLAB_DATA_DIR"]))
    candidates += [_REPO / "data" / "snapshot", _REPO.parent / "shared" / "data"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise DataError(
        "no market-data snapshot found; looked in $MARGINLAB_DATA_DIR, "
        f"{_REPO / 'data' / 'snapshot'} and {_REPO.parent / 'shared' / 'data'}. "
        "Set MARGINLAB_DATA_DIR or download with `marginlab data fetch SYMBOL ...`"
    )


def _read(name: str) -> pd.DataFrame:
    path = snapshot_dir() / name
    frame = pd.read_csv(path)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame


def load_daily(symbol: str, start: str | None = None, end: str | None = None) -> pd.DataFrame:
    """Daily OHLCV bars of ``symbol`` indexed by UTC bar-open time."""
    if symbol == "BTC":
        frame = _read("btc_usd_daily.csv")
    elif symbol == "ETH":
        frame = _read("eth_usd_daily.csv")
    else:
        universe = _read("crypto_universe_daily.csv.gz")
        frame = universe[universe["symbol"] == symbol]
        if frame.empty:
            stable = _read("stablecoins_daily.csv")
            frame = stable[stable["symbol"] == symbol]
        if frame.empty:
            raise UnknownAssetError("symbol", symbol, "has no daily series in the snapshot")
    frame = frame.set_index("timestamp")[["open", "high", "low", "close", "volume"]].sort_index()
    return frame.loc[start:end]


def close_panel(symbols: list[str], start: str | None = None, end: str | None = None) -> pd.DataFrame:
    """Close prices of ``symbols`` aligned on common dates (inner join)."""
    return pd.concat({s: load_daily(s, start, end)["close"] for s in symbols}, axis=1, join="inner")


def log_returns(prices: pd.DataFrame | pd.Series) -> pd.DataFrame | pd.Series:
    """Log returns ``ln(P_t / P_{t-1})`` (first row dropped)."""
    return np.log(prices).diff().iloc[1:]


def simple_returns(prices: pd.DataFrame | pd.Series) -> pd.DataFrame | pd.Series:
    """Simple returns ``P_t / P_{t-1} - 1`` (first row dropped)."""
    return prices.pct_change().iloc[1:]


def percent_returns(prices: pd.DataFrame | pd.Series) -> pd.DataFrame | pd.Series:
    """Log returns in percent (x100), the scaling ``arch`` models fit best."""
    return 100.0 * log_returns(prices)


def load_dvol(currency: str) -> pd.DataFrame:
    """Deribit DVOL daily bars of ``currency`` (BTC or ETH), in volatility points (47.5 = 47.5%)."""
    frame = _read("dvol_daily.csv")
    frame = frame[frame["symbol"] == currency]
    if frame.empty:
        raise UnknownAssetError("currency", currency, "has no DVOL series (BTC, ETH)")
    return frame.set_index("timestamp")[["open", "high", "low", "close"]]
