"""Market history: snapshot and download sources, validation, aligned panels and returns.

Sources
-------
* **Snapshot** (:mod:`marginlab.data.sources`): normalised files read, file by file, from
  ``$MARGINLAB_DATA_DIR`` when it holds the file (a value that is not a folder is an error, not a
  fallback), else from the dataset embedded in the package (:mod:`marginlab.datasets`, version given by
  :func:`dataset_info`). :func:`catalogue` lists every series, its range and where it comes from.
* **Extensions** (:mod:`marginlab.data.extend`): rows ``marginlab data fetch`` appended to a daily
  series after checking the overlap; the loaders join them on under the source preference
  (:func:`use_source`, ``$MARGINLAB_DATA_SOURCE``: auto, snapshot, embedded, overlay, cache, download).
* **Download** (:mod:`marginlab.data.download`): the Binance public archive (spot daily klines),
  Deribit DVOL and Binance USD-M funding, normalised to the same schema and cached as parquet
  under ``data/cache/`` (``$MARGINLAB_CACHE_DIR``) with a sha256 manifest.

Every loader validates (:mod:`marginlab.data.validate`): a duplicated or unsorted timestamp, a
NaN or non-positive price, ``high < low`` or a close outside ``[low, high]`` raise
:class:`~marginlab.exceptions.DataError` naming file, row, column and value; gaps are reported
with :class:`~marginlab.exceptions.DataWarning` and filled only on request (``gaps="ffill"``).

Examples
--------
>>> from marginlab.data import close_panel, log_returns, annualise_vol
>>> panel = close_panel(["BTC", "ETH"], "2024-01-01", "2024-12-31")
>>> returns = log_returns(panel)
>>> bool(0.3 < annualise_vol(returns["BTC"].std()) < 0.7)
True
"""

from marginlab.data.extend import SOURCES, catalogue, dataset_info, extend_series, preferred_source, use_source
from marginlab.data.loaders import (
    close_panel,
    load_daily,
    load_dvol,
    load_funding,
    load_hourly,
    load_series,
    load_stablecoins,
    load_universe,
    resolve_dataset,
)
from marginlab.data.returns import DAYS_PER_YEAR, annualise_vol, log_returns, percent_returns, simple_returns
from marginlab.data.sources import (
    FILES,
    clear_cache,
    dataset_label,
    overlaid_datasets,
    read_snapshot,
    series_origin,
    snapshot_available,
    snapshot_dir,
    snapshot_origin,
    snapshot_path,
)
from marginlab.data.validate import ValidationReport, fill_gaps, validate_file, validate_frame

__all__ = [
    "DAYS_PER_YEAR",
    "FILES",
    "SOURCES",
    "ValidationReport",
    "annualise_vol",
    "catalogue",
    "clear_cache",
    "close_panel",
    "dataset_info",
    "dataset_label",
    "extend_series",
    "fill_gaps",
    "load_daily",
    "load_dvol",
    "load_funding",
    "load_hourly",
    "load_series",
    "load_stablecoins",
    "load_universe",
    "log_returns",
    "overlaid_datasets",
    "percent_returns",
    "preferred_source",
    "read_snapshot",
    "resolve_dataset",
    "series_origin",
    "simple_returns",
    "snapshot_available",
    "snapshot_dir",
    "snapshot_origin",
    "snapshot_path",
    "use_source",
    "validate_file",
    "validate_frame",
]
