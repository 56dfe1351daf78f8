"""Real Deribit BTC option chains (2020-05-14 05:41 and 2020-05-21 23:19 UTC) as a tidy frame for smile checks.

The embedded ``deribit_btc_option_chains_2020-05.csv`` (the 2026 extension, file 13; Deribit public API book
summaries saved by ``schepal/deribit_data_collector``) holds per instrument the mark, bid and ask implied vols in
percent, the underlying (the expiry's synthetic future, ``SYN.BTC-<expiry>``, or the future itself) and the
index. :func:`load_option_chains` adds what a smile fit needs: the forward (``underlying_price``), years and days
to expiry from the quote time, log-moneyness ``ln(K / F)``, vols as fractions, and whether the option is out of
the money (calls ``K >= F``, puts ``K < F``: the side whose mark carries the smile). Blank bid/ask IVs and the
feed's 500% ask ceiling are "no quote" (NaN).

Examples
--------
>>> chain = load_option_chains("2020-05-14")
>>> len(chain), chain["expiry"].nunique()
(310, 7)
>>> round(float(chain["index_usd"].median()))
9349
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from marginlab.data.loaders import load_series
from marginlab.exceptions import InputError

__all__ = ["ASK_IV_CEILING", "SNAPSHOTS", "load_option_chains"]

#: Deribit's ask-IV ceiling in the feed (percent): a quote at it means "no ask".
ASK_IV_CEILING = 500.0
#: The snapshot days of the file.
SNAPSHOTS = ("2020-05-14", "2020-05-21")
_SECONDS_PER_YEAR = 365.0 * 86_400.0


def load_option_chains(snapshot: str | None = None) -> pd.DataFrame:
    """The option chains, one row per instrument and snapshot, with forward, tenor and log-moneyness.

    Parameters
    ----------
    snapshot : {"2020-05-14", "2020-05-21"}, optional
        One snapshot (its UTC day); default both.

    Returns
    -------
    pandas.DataFrame
        ``snapshot, quote_time, instrument_name, expiry, strike, option_type, forward_usd, index_usd, years, dte_days,
        log_moneyness, mark_iv, bid_iv, ask_iv`` (vols as fractions), ``otm`` (bool), ``mark_price_btc``,
        ``open_interest``, ``delta``, ``vega``; sorted by snapshot, expiry, strike, type.
    """
    if snapshot is not None and snapshot not in SNAPSHOTS:
        raise InputError("snapshot", snapshot, f"must be one of {', '.join(SNAPSHOTS)}")
    raw = load_series("option_chains")
    if snapshot is not None:
        raw = raw[raw["timestamp"].dt.strftime("%Y-%m-%d") == snapshot]
    quote = pd.to_datetime(raw["quote_time"], utc=True)
    expiry = pd.to_datetime(raw["expiry"], utc=True)
    years = (expiry - quote).dt.total_seconds().to_numpy() / _SECONDS_PER_YEAR
    forward = raw["underlying_price"].to_numpy(dtype=float)
    strike = raw["strike"].to_numpy(dtype=float)
    ask = raw["ask_iv"].to_numpy(dtype=float)
    out = pd.DataFrame({
        "snapshot": raw["timestamp"].to_numpy(),
        "quote_time": quote.to_numpy(),
        "instrument_name": raw["instrument_name"].to_numpy(),
        "expiry": expiry.to_numpy(),
        "strike": strike,
        "option_type": raw["option_type"].to_numpy(),
        "forward_usd": forward,
        "index_usd": raw["index_price"].to_numpy(dtype=float),
        "years": years,
        "dte_days": years * 365.0,
        "log_moneyness": np.log(strike / forward),
        "mark_iv": raw["mark_iv"].to_numpy(dtype=float) / 100.0,
        "bid_iv": raw["bid_iv"].to_numpy(dtype=float) / 100.0,
        "ask_iv": np.where(ask >= ASK_IV_CEILING, np.nan, ask) / 100.0,
        "mark_price_btc": raw["mark_price_btc"].to_numpy(dtype=float),
        "open_interest": raw["open_interest"].to_numpy(dtype=float),
        "delta": raw["delta"].to_numpy(dtype=float),
        "vega": raw["vega"].to_numpy(dtype=float),
    })
    out["otm"] = np.where(out["option_type"] == "call", out["strike"] >= out["forward_usd"], out["strike"] < out["forward_usd"])
    out["snapshot"] = pd.to_datetime(out["snapshot"], utc=True)
    return out.sort_values(["snapshot", "expiry", "strike", "option_type"], kind="stable").reset_index(drop=True)
