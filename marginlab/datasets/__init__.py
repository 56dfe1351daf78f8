"""The market-data snapshot shipped inside marginlab (gzip CSV files, a manifest and a notice).

25 normalised files of real crypto market history, about 8 MB compressed: the 2025 snapshot (BTC and ETH
daily from 2011 and 2015, a 22-asset daily universe, stablecoins, BTC/ETH hourly, Deribit DVOL, Binance
BTCUSDT funding) joined with its 2026 extension (daily series to 2025-11-19 / 2026-03, partial last rows
dropped, every seam measured in the manifest's ``joins``) and the extension's own files: Binance spot daily
and 4-hour klines, Bybit perpetual daily/hourly/15-minute bars around 2025-10-10, liquid-staking tokens,
USDe/USDT minute bars through its depeg, the CoinMetrics USDT rate, Binance liquidations, open interest,
OI-weighted funding, the 2025-10-10 day range of 1,581 Binance markets, two Deribit BTC option chains and
CoinGecko snapshots. ``NOTICE.md`` names every source (repository and commit) and its licence
or the absence of one; the data is for research and tests only. ``manifest.json`` gives the
dataset name and version and, per file, its sha256, row count, symbols and date range.

:mod:`marginlab.data` reads these files, each replaced by the user's file of the same name when
``$MARGINLAB_DATA_DIR`` holds one; :mod:`marginlab.datasets.build` rebuilds them byte for byte from the
snapshot folder and its extension (``python -m marginlab.datasets.build SRC EXT``).

Examples
--------
>>> from marginlab.datasets import dataset_info, verify
>>> dataset_info()["version"]
'marginlab-snapshot-2026.03'
>>> verify()["btc_usd"]
'ok'
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

from marginlab.exceptions import DataError

__all__ = ["DATASET_DIR", "MANIFEST_PATH", "NOTICE_PATH", "manifest", "dataset_info", "file_path", "verify"]

#: Folder of the embedded files.
DATASET_DIR = Path(__file__).resolve().parent
MANIFEST_PATH = DATASET_DIR / "manifest.json"
NOTICE_PATH = DATASET_DIR / "NOTICE.md"


@functools.lru_cache(maxsize=1)
def manifest() -> dict[str, Any]:
    """The parsed ``manifest.json`` (name, version, format, files by dataset).

    Raises
    ------
    DataError
        When the manifest is missing or is not a JSON object with a ``files`` object.
    """
    try:
        value = json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DataError(f"embedded dataset manifest unreadable: {error}", file="marginlab/datasets/manifest.json") from None
    if not isinstance(value, dict) or not isinstance(value.get("files"), dict):
        raise DataError("embedded dataset manifest is not a JSON object with 'files'", file="marginlab/datasets/manifest.json")
    return value


def dataset_info() -> dict[str, str]:
    """Name and version of the embedded snapshot, for provenance in reports and parameter files.

    Examples
    --------
    >>> sorted(dataset_info())
    ['name', 'version']
    """
    value = manifest()
    return {"name": str(value["name"]), "version": str(value["version"])}


def file_path(dataset: str) -> Path:
    """The embedded file of ``dataset`` (a key of :data:`marginlab.data.FILES`)."""
    files = manifest()["files"]
    if dataset not in files:
        raise DataError(f"dataset {dataset!r} is not in the embedded snapshot; it holds {sorted(files)}")
    return DATASET_DIR / files[dataset]["file"]


def verify() -> dict[str, str]:
    """Check every embedded file against the manifest sha256: ``{dataset: "ok" | reason}``.

    Examples
    --------
    >>> set(verify().values())
    {'ok'}
    """
    status = {}
    for dataset, entry in manifest()["files"].items():
        path = DATASET_DIR / entry["file"]
        if not path.is_file():
            status[dataset] = "missing"
        elif hashlib.sha256(path.read_bytes()).hexdigest() != entry["sha256"]:
            status[dataset] = "sha256 mismatch"
        else:
            status[dataset] = "ok"
    return status
