"""Downloaders against a local 127.0.0.1 server serving each source's real format (no external network).

The served files are built here from snapshot rows: Binance monthly kline zips with .CHECKSUM
siblings (ms open times for 2024-12, µs for 2025-01 as the archive switched on 2025-01-01), DVOL
JSON-RPC pages with ``continuation``, and funding JSON pages with Binance's millisecond jitter.
"""

from __future__ import annotations

import hashlib
import io
import json
import socket
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd
import pytest

from marginlab.data import load_daily, load_dvol, load_funding, read_snapshot
from marginlab.data.download import Cache, fetch, fetch_binance_klines, fetch_dvol, fetch_funding, parse_kline_csv
from marginlab.exceptions import DataError, DataWarning, DownloadError, InputError

ARCHIVE = "/data/spot/monthly/klines/BTCUSDT/1d"


def _kline_zip(rows: pd.DataFrame, name: str, unit: str) -> bytes:
    """A Binance-archive zip: one headerless 12-column CSV, open/close times in ``unit`` (ms or us)."""
    scale = 1_000 if unit == "ms" else 1_000_000
    open_time = (rows["timestamp"].dt.as_unit("s").astype("int64")) * scale
    close_time = open_time + 86_400 * scale - 1
    lines = [
        f"{o},{r.open},{r.high},{r.low},{r.close},{r.volume},{c},{r.quote_volume},{r.num_trades},"
        f"{r.taker_buy_base_volume},{r.taker_buy_quote_volume},0"
        for o, c, r in zip(open_time, close_time, rows.itertuples())
    ]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"{name}.csv", "\n".join(lines) + "\n")
    return buffer.getvalue()


class Server:
    """A tiny HTTP server: static files plus the DVOL and funding APIs, counting requests per path."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.hits: dict[str, int] = {}
        self.dvol: pd.DataFrame | None = None
        self.funding: pd.DataFrame | None = None
        self.page_size = 50
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):  # noqa: N802 - http.server API
                parsed = urlparse(self.path)
                outer.hits[parsed.path] = outer.hits.get(parsed.path, 0) + 1
                query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
                if parsed.path == "/api/v2/public/get_volatility_index_data":
                    body = outer._dvol_page(query)
                elif parsed.path == "/fapi/v1/fundingRate":
                    body = outer._funding_page(query)
                elif parsed.path in outer.files:
                    body = outer.files[parsed.path]
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def _dvol_page(self, query) -> bytes:
        # Deribit answers the most recent rows up to end_timestamp and a continuation to page backwards
        frame = self.dvol[self.dvol["symbol"] == query["currency"]]
        ms = frame["timestamp"].dt.as_unit("ms").astype("int64")
        inside = frame[(ms >= int(query["start_timestamp"])) & (ms <= int(query["end_timestamp"]))]
        page = inside.iloc[-self.page_size:]
        page_ms = page["timestamp"].dt.as_unit("ms").astype("int64")
        data = [[int(t), r.open, r.high, r.low, r.close] for t, r in zip(page_ms, page.itertuples())]
        continuation = int(page_ms.iloc[0]) - 1 if len(inside) > len(page) else None
        return json.dumps({"jsonrpc": "2.0", "result": {"data": data, "continuation": continuation}}).encode()

    def _funding_page(self, query) -> bytes:
        frame = self.funding
        ms = frame["timestamp"].dt.as_unit("ms").astype("int64") + 7  # Binance jitter of a few ms
        inside = frame[(ms >= int(query["startTime"])) & (ms <= int(query["endTime"]))]
        page = inside.iloc[: int(query["limit"])]
        page_ms = ms.loc[page.index]
        body = [{"symbol": query["symbol"], "fundingTime": int(t), "fundingRate": f"{r:.8f}", "markPrice": "0"}
                for t, r in zip(page_ms, page["funding_rate"])]
        return json.dumps(body).encode()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def snapshot_binance():
    return read_snapshot("binance")


@pytest.fixture
def server(snapshot_binance):
    srv = Server()
    for (year, month), unit in [((2024, 12), "ms"), ((2025, 1), "us")]:
        name = f"BTCUSDT-1d-{year}-{month:02d}"
        rows = snapshot_binance[(snapshot_binance["timestamp"].dt.year == year) & (snapshot_binance["timestamp"].dt.month == month)]
        content = _kline_zip(rows, name, unit)
        srv.files[f"{ARCHIVE}/{name}.zip"] = content
        srv.files[f"{ARCHIVE}/{name}.zip.CHECKSUM"] = f"{hashlib.sha256(content).hexdigest()}  {name}.zip\n".encode()
    srv.dvol = read_snapshot("dvol")
    srv.funding = read_snapshot("funding")
    yield srv
    srv.close()


def test_binance_ms_and_us_months_match_snapshot(server, snapshot_binance, tmp_path):
    frame = fetch_binance_klines("BTCUSDT", "2024-12-01", "2025-01-31", base_url=server.url, cache_dir=tmp_path, progress=False)
    assert len(frame) == 62
    assert frame["timestamp"].iloc[0] == pd.Timestamp("2024-12-01", tz="UTC")
    assert frame["timestamp"].iloc[31] == pd.Timestamp("2025-01-01", tz="UTC")  # first µs row, same day grid
    expected = snapshot_binance[(snapshot_binance["timestamp"] >= "2024-12-01") & (snapshot_binance["timestamp"] <= "2025-01-31")]
    np.testing.assert_allclose(frame["close"].to_numpy(), expected["close"].to_numpy())
    assert frame["num_trades"].tolist() == expected["num_trades"].tolist()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    entry = manifest["binance/spot/BTCUSDT/1d/BTCUSDT-1d-2025-01"]
    assert entry["rows"] == 31 and entry["start"] == "2025-01-01T00:00:00Z" and entry["end"] == "2025-01-31T00:00:00Z"
    assert entry["source_url"].endswith("BTCUSDT-1d-2025-01.zip") and len(entry["sha256"]) == 64
    assert "retrieved_at" in entry


def test_cache_is_used_and_truncated_file_refetched(server, tmp_path):
    path = f"{ARCHIVE}/BTCUSDT-1d-2025-01.zip"
    fetch_binance_klines("BTCUSDT", "2025-01-01", "2025-01-31", base_url=server.url, cache_dir=tmp_path, progress=False)
    assert server.hits[path] == 1
    fetch_binance_klines("BTCUSDT", "2025-01-01", "2025-01-31", base_url=server.url, cache_dir=tmp_path, progress=False)
    assert server.hits[path] == 1  # served from the cache
    cached = tmp_path / "binance/spot/BTCUSDT/1d/BTCUSDT-1d-2025-01.parquet"
    cached.write_bytes(cached.read_bytes()[: cached.stat().st_size // 2])  # a partial write
    with pytest.warns(DataWarning, match="does not match its manifest sha256"):
        again = fetch_binance_klines("BTCUSDT", "2025-01-01", "2025-01-31", base_url=server.url, cache_dir=tmp_path, progress=False)
    assert server.hits[path] == 2 and len(again) == 31
    assert Cache(tmp_path).get("binance/spot/BTCUSDT/1d/BTCUSDT-1d-2025-01") is not None  # repaired


def test_missing_month_is_reported(server, tmp_path):
    with pytest.warns(DataWarning, match=r"month\(s\)/day\(s\) 2024-11 \(HTTP 404\)"):
        frame = fetch_binance_klines("BTCUSDT", "2024-11-15", "2024-12-31", base_url=server.url, cache_dir=tmp_path, progress=False)
    assert frame["timestamp"].iloc[0] == pd.Timestamp("2024-12-01", tz="UTC")
    with pytest.raises(DownloadError, match="2024-11"):
        fetch_binance_klines("BTCUSDT", "2024-11-15", "2024-12-31", base_url=server.url, cache_dir=tmp_path, progress=False,
                             missing="raise")
    with pytest.raises(DownloadError, match="2023-01"):
        fetch_binance_klines("BTCUSDT", "2023-01-01", "2023-01-31", base_url=server.url, cache_dir=tmp_path, progress=False)


def test_checksum_mismatch_and_missing_checksum(server, tmp_path):
    name = f"{ARCHIVE}/BTCUSDT-1d-2025-01.zip"
    server.files[name + ".CHECKSUM"] = b"0" * 64 + b"  BTCUSDT-1d-2025-01.zip\n"
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        fetch_binance_klines("BTCUSDT", "2025-01-01", "2025-01-31", base_url=server.url, cache_dir=tmp_path, progress=False)
    del server.files[name + ".CHECKSUM"]
    with pytest.raises(DownloadError, match="no checksum"):
        fetch_binance_klines("BTCUSDT", "2025-01-01", "2025-01-31", base_url=server.url, cache_dir=tmp_path, progress=False)
    assert not (tmp_path / "binance/spot/BTCUSDT/1d/BTCUSDT-1d-2025-01.parquet").exists()


def test_parse_kline_units_and_errors():
    ms = "1704067200000,1,2,0.5,1.5,10,1704153599999,15,3,5,7.5,0"
    us = "1735689600000000,1,2,0.5,1.5,10,1735775999999999,15,3,5,7.5,0"
    assert parse_kline_csv(ms)["timestamp"].iloc[0] == pd.Timestamp("2024-01-01", tz="UTC")
    assert parse_kline_csv(us)["timestamp"].iloc[0] == pd.Timestamp("2025-01-01", tz="UTC")
    with pytest.raises(DownloadError, match="mixed millisecond and microsecond"):
        parse_kline_csv(ms + "\n" + us)
    with pytest.raises(DownloadError, match="12 kline columns"):
        parse_kline_csv("1704067200000,1,2,0.5")


def test_dvol_pages_follow_continuation(server, tmp_path):
    server.page_size = 40
    frame = fetch_dvol("BTC", "2022-10-01", "2022-12-31", base_url=server.url, cache_dir=tmp_path, progress=False)
    api = "/api/v2/public/get_volatility_index_data"
    assert server.hits[api] == 3  # 92 days in pages of 40
    expected = load_dvol("BTC", "2022-10-01", "2022-12-31")
    assert len(frame) == 92
    np.testing.assert_allclose(frame["close"].to_numpy(), expected["close"].to_numpy())
    fetch_dvol("BTC", "2022-10-01", "2022-12-31", base_url=server.url, cache_dir=tmp_path, progress=False)
    assert server.hits[api] == 3  # cached
    with pytest.raises(InputError, match="currency"):
        fetch_dvol("SOL", "2022-10-01", "2022-12-31", base_url=server.url, cache_dir=tmp_path)


def test_funding_pages_forward_and_snaps_jitter(server, tmp_path):
    frame = fetch_funding("BTCUSDT", "2024-01-01", "2024-03-31T23:59", base_url=server.url, cache_dir=tmp_path,
                          progress=False, limit=100)
    assert server.hits["/fapi/v1/fundingRate"] == 3  # 273 periods in pages of 100
    expected = load_funding("BTCUSDT", "2024-01-01", "2024-03-31")
    assert len(frame) == len(expected) == 91 * 3
    assert (frame["timestamp"].dt.minute == 0).all() and (frame["timestamp"].dt.second == 0).all()
    np.testing.assert_allclose(frame["funding_rate"].to_numpy(), expected["funding_rate"].to_numpy(), atol=5e-9)


def test_loaders_with_download_source(server, tmp_path, monkeypatch):
    monkeypatch.setenv("MARGINLAB_BINANCE_ARCHIVE_URL", server.url)
    monkeypatch.setenv("MARGINLAB_DERIBIT_URL", server.url)
    monkeypatch.setenv("MARGINLAB_BINANCE_FUTURES_URL", server.url)
    monkeypatch.setenv("MARGINLAB_CACHE_DIR", str(tmp_path))
    bars = load_daily("BTC", "2025-01-01", "2025-01-31", source="download")  # BTC -> BTCUSDT on Binance
    assert len(bars) == 31 and list(bars.columns) == ["open", "high", "low", "close", "volume"]
    assert len(load_dvol("ETH", "2023-01-01", "2023-01-10", source="download")) == 10
    assert len(load_funding("BTC", "2023-01-01", "2023-01-02", source="download")) == 6  # two whole days
    frames = fetch("binance", ["BTCUSDT"], "2025-01-01", "2025-01-31", progress=False)
    assert len(frames["BTCUSDT"]) == 31
    with pytest.raises(InputError, match="source"):
        fetch("coingecko", ["BTC"], "2025-01-01", "2025-01-31")


def test_auto_source_reads_snapshot_then_download_cache(server, tmp_path, monkeypatch, snapshot_binance):
    # lookup order: a symbol the snapshot holds is read from it; another comes from the download cache
    monkeypatch.setenv("MARGINLAB_BINANCE_ARCHIVE_URL", server.url)
    monkeypatch.setenv("MARGINLAB_CACHE_DIR", str(tmp_path / "cache"))
    for (year, month), unit in [((2024, 12), "ms"), ((2025, 1), "us")]:  # serve the same rows as "XRPUSDT"
        name = f"XRPUSDT-1d-{year}-{month:02d}"
        rows = snapshot_binance[(snapshot_binance["timestamp"].dt.year == year) & (snapshot_binance["timestamp"].dt.month == month)]
        content = _kline_zip(rows, name, unit)
        server.files[f"/data/spot/monthly/klines/XRPUSDT/1d/{name}.zip"] = content
        server.files[f"/data/spot/monthly/klines/XRPUSDT/1d/{name}.zip.CHECKSUM"] = f"{hashlib.sha256(content).hexdigest()}  x\n".encode()
    snapshot_close = load_daily("BTC", "2025-01-01", "2025-01-31", source="auto")["close"]  # in the snapshot: USD file
    assert not server.hits, "a series of the snapshot must not be downloaded"
    downloaded = load_daily("XRPUSDT", "2025-01-01", "2025-01-31", source="auto")["close"]  # not in it: Binance archive
    assert len(downloaded) == len(snapshot_close) == 31
    assert (tmp_path / "cache" / "manifest.json").is_file()
    # Coinbase USD vs Binance USDT closes agree within 1% (the served rows are Binance BTCUSDT)
    assert np.max(np.abs(downloaded.to_numpy() / snapshot_close.to_numpy() - 1)) < 0.01


def test_cli_fetch_into_cache(server, tmp_path, capsys):
    from marginlab.cli import main

    code = main(["data", "fetch", "BTCUSDT", "--start", "2025-01-01", "--end", "2025-01-31", "--base-url", server.url,
                 "--cache-dir", str(tmp_path), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    assert "binance BTCUSDT: 31 rows 2025-01-01 00:00 -> 2025-01-31 00:00" in out
    assert (tmp_path / "manifest.json").exists()
    code = main(["data", "fetch", "BTC", "--source", "deribit-dvol", "--start", "2023-01-01", "--end", "2023-01-31",
                 "--base-url", server.url, "--cache-dir", str(tmp_path), "--no-progress"])
    assert code == 0 and "deribit-dvol BTC: 31 rows" in capsys.readouterr().out
    # a month the archive does not have: a clear error and exit code 2, no traceback
    code = main(["data", "fetch", "BTCUSDT", "--start", "2019-01-01", "--end", "2019-01-31", "--base-url", server.url,
                 "--cache-dir", str(tmp_path), "--no-progress"])
    assert code == 2 and "2019-01 (HTTP 404)" in capsys.readouterr().err
    # `data list` shows the cached downloads after the snapshot series
    assert main(["data", "list", "--cache-dir", str(tmp_path)]) == 0
    listing = capsys.readouterr().out
    assert "cached downloads:" in listing and "binance/spot/BTCUSDT/1d/BTCUSDT-1d-2025-01" in listing


def test_current_month_comes_from_daily_files(server, snapshot_binance, tmp_path):
    # "today" is 2025-02-04: the 2025-02 monthly file does not exist yet, the days 01..03 are daily files
    daily = "/data/spot/daily/klines/BTCUSDT/1d"
    for day in (1, 2, 3):
        name = f"BTCUSDT-1d-2025-02-{day:02d}"
        rows = snapshot_binance[snapshot_binance["timestamp"] == pd.Timestamp(f"2025-02-{day:02d}", tz="UTC")]
        content = _kline_zip(rows, name, "us")
        server.files[f"{daily}/{name}.zip"] = content
        server.files[f"{daily}/{name}.zip.CHECKSUM"] = f"{hashlib.sha256(content).hexdigest()}  {name}.zip\n".encode()
    frame = fetch_binance_klines("BTCUSDT", "2025-01-30", "2025-02-10", base_url=server.url, cache_dir=tmp_path,
                                 progress=False, today="2025-02-04")
    assert frame["timestamp"].dt.strftime("%m-%d").tolist() == ["01-30", "01-31", "02-01", "02-02", "02-03"]
    assert "/data/spot/monthly/klines/BTCUSDT/1d/BTCUSDT-1d-2025-02.zip" not in server.hits
    expected = snapshot_binance.set_index("timestamp").loc["2025-01-30":"2025-02-03", "close"]
    np.testing.assert_allclose(frame["close"].to_numpy(), expected.to_numpy())
    # a day the archive lacks is reported
    del server.files[f"{daily}/BTCUSDT-1d-2025-02-03.zip"]
    with pytest.warns(DataWarning, match="2025-02-03"):
        fetch_binance_klines("BTCUSDT", "2025-02-01", "2025-02-10", base_url=server.url, cache_dir=tmp_path / "fresh",
                             progress=False, today="2025-02-04")


@pytest.mark.parametrize("key", ["../outside", "a/../../outside", "/etc/passwd", "a//b", "a/./b", "a b", "a/b\\c", "", "..", "x/.."])
def test_crafted_cache_key_never_writes_outside(tmp_path, key):
    cache = Cache(tmp_path / "cache")
    frame = pd.DataFrame({"timestamp": pd.to_datetime(["2024-01-01"], utc=True), "close": [1.0]})
    with pytest.raises(InputError, match="key"):
        cache.put(key, frame, "https://example.invalid")
    with pytest.raises(InputError, match="key"):
        cache.get(key)
    assert sorted(p.name for p in tmp_path.rglob("*")) == []  # nothing written anywhere


def test_cache_key_symlink_escape_is_refused(tmp_path):
    (tmp_path / "cache").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "cache" / "link").symlink_to(tmp_path / "elsewhere")
    frame = pd.DataFrame({"timestamp": pd.to_datetime(["2024-01-01"], utc=True), "close": [1.0]})
    with pytest.raises(InputError, match="outside the cache folder"):
        Cache(tmp_path / "cache").put("link/x", frame, "https://example.invalid")
    assert not list((tmp_path / "elsewhere").iterdir())


@pytest.mark.parametrize(("call", "field"), [
    (lambda d: fetch_binance_klines("BTCUSDT", "2024-01-01", "2024-01-31", interval="../../x", cache_dir=d), "interval"),
    (lambda d: fetch_binance_klines("BTCUSDT", "2024-01-01", "2024-01-31", interval="1D", cache_dir=d), "interval"),
    (lambda d: fetch_binance_klines("../BTC", "2024-01-01", "2024-01-31", cache_dir=d), "symbol"),
    (lambda d: fetch_binance_klines("btcusdt", "2024-01-01", "2024-01-31", cache_dir=d), "symbol"),
    (lambda d: fetch_dvol("BTC", "2024-01-01", "2024-01-31", resolution="1D/../../x", cache_dir=d), "resolution"),
    (lambda d: fetch_funding("BTC/USDT", "2024-01-01", "2024-01-31", cache_dir=d), "symbol"),
    (lambda d: fetch_funding(7, "2024-01-01", "2024-01-31", cache_dir=d), "symbol"),
])
def test_path_components_are_validated_before_any_request(tmp_path, call, field):
    with pytest.raises(InputError) as info:
        call(tmp_path)
    assert str(info.value).startswith(f"{field}=") and "\n" not in str(info.value)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("content", ["[1, 2, 3]", "\"text\"", "{broken", "\xff\xfe"])
def test_manifest_not_an_object_is_rebuilt_with_a_warning(tmp_path, content):
    cache = Cache(tmp_path)
    (tmp_path / "manifest.json").write_bytes(content.encode("latin-1"))
    with pytest.warns(DataWarning, match="not a JSON object"):
        assert cache.manifest() == {}
    frame = pd.DataFrame({"timestamp": pd.to_datetime(["2024-01-01"], utc=True), "close": [1.0]})
    with pytest.warns(DataWarning):
        cache.put("demo/one", frame, "https://example.invalid/one")
    assert set(json.loads((tmp_path / "manifest.json").read_text())) == {"demo/one"}
    assert cache.get("demo/one")["close"].tolist() == [1.0]


def test_unparsable_parquet_is_refetched_not_a_traceback(server, tmp_path):
    rows = fetch_binance_klines("BTCUSDT", "2025-01-01", "2025-01-31", base_url=server.url, cache_dir=tmp_path, progress=False)
    cache = Cache(tmp_path)
    key = "binance/spot/BTCUSDT/1d/BTCUSDT-1d-2025-01"
    garbage = b"PAR1 this is not parquet PAR1"
    cache.path(key).write_bytes(garbage)
    manifest = cache.manifest()
    manifest[key]["sha256"] = hashlib.sha256(garbage).hexdigest()  # the checksum matches: only parsing fails
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.warns(DataWarning, match="does not parse as parquet"):
        assert cache.get(key) is None
    hits = server.hits.get(f"{ARCHIVE}/BTCUSDT-1d-2025-01.zip", 0)
    with pytest.warns(DataWarning, match="does not parse as parquet"):
        again = fetch_binance_klines("BTCUSDT", "2025-01-01", "2025-01-31", base_url=server.url, cache_dir=tmp_path,
                                     progress=False)
    assert server.hits[f"{ARCHIVE}/BTCUSDT-1d-2025-01.zip"] == hits + 1
    pd.testing.assert_frame_equal(again, rows)
    assert cache.get(key) is not None


def test_cli_list_with_list_manifest_is_one_line(tmp_path, capsys):
    from marginlab.cli import main

    (tmp_path / "manifest.json").write_text("[]")
    with pytest.warns(DataWarning):
        code = main(["data", "list", "--cache-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0 and "marginlab-snapshot-2026.03" in out and "Traceback" not in out


def _serve_months(server, rows: pd.DataFrame, pair: str, months) -> None:
    for year, month in months:
        name = f"{pair}-1d-{year}-{month:02d}"
        part = rows[(rows["timestamp"].dt.year == year) & (rows["timestamp"].dt.month == month)]
        content = _kline_zip(part, name, "us")
        server.files[f"/data/spot/monthly/klines/{pair}/1d/{name}.zip"] = content
        server.files[f"/data/spot/monthly/klines/{pair}/1d/{name}.zip.CHECKSUM"] = f"{hashlib.sha256(content).hexdigest()}  x\n".encode()


def test_fetch_appends_to_the_series_and_calibration_uses_it(server, snapshot_binance, tmp_path, monkeypatch, capsys):
    # end to end on 127.0.0.1: the archive serves real Binance BTCUSDT klines of 2025-11 and 2025-12 (the embedded
    # Binance series, from the 2026 extension) in the archive's format; `data fetch BTC` checks them against the
    # BTC daily series (Coinbase/Yahoo, to 2025-11-19) on 2025-11-01 .. 19 and appends 2025-11-20 .. 12-31
    from marginlab.calibration.calibrate import calibrate
    from marginlab.cli import main
    from marginlab.data import catalogue, dataset_info, use_source

    cache = tmp_path / "cache"
    monkeypatch.setenv("MARGINLAB_CACHE_DIR", str(cache))
    _serve_months(server, snapshot_binance, "BTCUSDT", [(2025, 11), (2025, 12)])
    code = main(["data", "fetch", "BTC", "--start", "2025-11-01", "--end", "2025-12-31", "--base-url", server.url,
                 "--cache-dir", str(cache), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0 and "appended 42 rows to BTC (btc_usd) after 2025-11-19; overlap 19 days" in out
    bars = load_daily("BTC")
    assert bars.index[-1] == pd.Timestamp("2025-12-31", tz="UTC") and bars.index.is_unique
    served = snapshot_binance.set_index("timestamp")["close"]
    assert bars.loc["2025-12-31", "close"].item() == served.loc["2025-12-31"].item()
    assert load_daily("BTC", source="snapshot").index[-1] == pd.Timestamp("2025-11-19", tz="UTC")
    with use_source("embedded"):
        assert load_daily("BTC").index[-1] == pd.Timestamp("2025-11-19", tz="UTC")
    assert dataset_info()["version"] == "marginlab-snapshot-2026.03+cache[BTC]"
    row = catalogue().set_index(["name", "dataset"]).loc[("BTC", "btc_usd")]
    assert row["end"] == "2025-12-31" and row["origin"] == "cache"
    # the calibration reads the extended series and names it in its provenance
    params = calibrate(["BTC"], None, stablecoin_collateral=(), implied_vol={})
    assert params.asof == "2025-12-31" and params.provenance.dataset_version.endswith("+cache[BTC]")
    # a download that is not the series (BTC prices served as SOLUSDT) is refused on the overlap check
    _serve_months(server, snapshot_binance, "SOLUSDT", [(2025, 11)])
    code = main(["data", "fetch", "SOL", "--start", "2025-11-01", "--end", "2025-11-30", "--base-url", server.url,
                 "--cache-dir", str(cache), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "differs from the series" in err and "not appended" in err
    with pytest.raises(DataError, match="source 'cache'"):
        load_daily("SOL", source="cache")


def test_fetch_offline_is_a_one_line_network_error(tmp_path, capsys):
    from marginlab.cli import main

    with socket.socket() as probe:  # a port nothing listens on: connection refused, as without a network
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = main(["data", "fetch", "BTCUSDT", "--start", "2025-01-01", "--end", "2025-01-31", "--base-url",
                 f"http://127.0.0.1:{port}", "--cache-dir", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 3
    assert err.startswith("marginlab: network error: cannot reach 127.0.0.1:") and len(err.strip().splitlines()) == 1
