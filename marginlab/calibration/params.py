"""The calibrated parameter file: per-asset margin parameters from market history, with provenance.

:func:`calibrate` turns daily history up to an as-of date into one record per asset:

========================  =====================================================================
``haircut``               collateral haircut of :class:`~marginlab.calibration.haircuts.HaircutModel`
                          (FHS ES of the ``haircut_horizon_days`` price drop at GARCH-forecast vol,
                          liquidity add-on, stablecoin depeg risk)
``price_scan_range``      two-sided FHS move at ``scan_confidence`` over ``scan_horizon_days``:
                          ``max(q_a(exp(R) - 1), q_a(1 - exp(R)))`` -- the half-width of the spot grid
``vol_shock``             relative up/down shock of 30-day implied vol (``up_30d``, ``down_30d``): the
                          ``scan_confidence`` quantiles of ``scan_horizon_days`` log changes (as
                          ``exp(q) - 1``, :func:`~marginlab.calibration.stress_ranges.vol_scan_ranges`) of
                          Deribit DVOL (BTC, ETH) or, for other assets, of the GARCH conditional
                          volatility (a proxy, labelled in ``source``); the term structure powers
                          ``(30 / DTE) ** p`` are set, not estimated (one tenor only): 0.30 at or
                          below 30 days, 0.13 beyond (Derive PMRM v2 values)
``extreme_move``          ``move`` (down) ``= min(1, max(extreme_multiplier x scan range, worst scan-horizon
                          fall in the window))`` and ``up = min(5, max(extreme_multiplier x scan range,
                          worst rise))``, counted at ``cover`` (33%: SPAN's extreme-move cover)
``maintenance_rate``      two-sided FHS move at 99% over 1 day (the loss a position must cover
                          while it is being liquidated)
``initial_rate``          two-sided FHS move at 99% over 2 days (one more day to react), floored at
                          the maintenance rate
``provenance``            data range, GARCH model (chosen by BIC unless fast), convergence status,
                          persistence, residual diagnostics (Ljung-Box, ARCH-LM p-values), warnings
========================  =====================================================================

plus the file-level as-of date, creation time, package version and settings. Only data up to
``asof`` is used (results are identical when later data exist).

The file is YAML or JSON (by suffix) and is **validated against**
``parameter_file.schema.json`` on write and on read; a malformed file raises
:class:`~marginlab.exceptions.FileFormatError` naming the offending field.
:meth:`CalibratedParameters.models` builds margin models from it
(:mod:`marginlab.margin.calibrated`).

Examples
--------
>>> doc = example_document()
>>> params = CalibratedParameters(doc)
>>> params.asset("BTC")["haircut"]
0.12
>>> bad = dict(doc, assets={"BTC": dict(doc["assets"]["BTC"], haircut=1.5)})
>>> CalibratedParameters(bad)
Traceback (most recent call last):
...
marginlab.exceptions.FileFormatError: parameter file field assets.BTC.haircut: 1.5 is greater than the maximum of 1
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from marginlab.calibration.depeg import STABLECOINS
from marginlab.calibration.haircuts import (
    AssetVolatility,
    HaircutModel,
    as_generator,
    asset_generators,
    fhs_horizon_returns,
    industry_class,
    load_haircut_inputs,
)
from marginlab.exceptions import FileFormatError, InputError, ParameterError
from marginlab.fileio import load_json, load_yaml, read_text

SCHEMA_PATH = Path(__file__).with_name("parameter_file.schema.json")
SCHEMA_VERSION = 1


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The JSON schema of the parameter file."""
    return json.loads(SCHEMA_PATH.read_text())


def _field_path(path: Sequence[Any]) -> str:
    return ".".join(str(p) for p in path) or "<root>"


def _jsonschema() -> Any:
    """Import ``jsonschema`` without its optional RFC 3987 format checker.

    That checker (``rfc3987_syntax``) compiles ~40 grammars at import (about 4 s); the parameter
    schema uses no ``format`` keyword, so it is hidden during the import and restored after.
    """
    import sys

    if "jsonschema" in sys.modules:
        return sys.modules["jsonschema"]
    hidden = "rfc3987_syntax" not in sys.modules
    if hidden:
        sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]
    try:
        import jsonschema
    finally:
        if hidden:
            del sys.modules["rfc3987_syntax"]
    return jsonschema


def validate_document(document: Any) -> None:
    """Validate a parameter document; raise :class:`FileFormatError` naming the first bad field.

    Beyond the JSON schema: ``initial_rate >= maintenance_rate`` per asset.
    """
    jsonschema = _jsonschema()
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(document), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        error = errors[0]
        raise FileFormatError(f"parameter file field {_field_path(error.absolute_path)}: {error.message}")
    for asset, entry in document["assets"].items():
        if entry["initial_rate"] < entry["maintenance_rate"]:
            raise FileFormatError(
                f"parameter file field assets.{asset}.initial_rate: {entry['initial_rate']} is below maintenance_rate {entry['maintenance_rate']}"
            )


@dataclass(frozen=True)
class CalibrationSettings:
    """Settings of :func:`calibrate` (horizons in days, confidences as fractions).

    ``fast()`` gives coarse settings for tests and FAST notebooks (fewer paths, shorter window,
    one GARCH specification, no diagnostics).
    """

    haircut_horizon_days: int = 3
    haircut_confidence: float = 0.99
    maintenance_horizon_days: int = 1
    maintenance_confidence: float = 0.99
    initial_horizon_days: int = 2
    initial_confidence: float = 0.99
    scan_horizon_days: int = 2
    scan_confidence: float = 0.99
    extreme_multiplier: float = 2.0
    extreme_cover: float = 0.33
    short_term_power: float = 0.30
    long_term_power: float = 0.13
    window_days: int = 1500
    n_simulations: int = 20_000
    volatility: str = "select"
    distribution: str = "t"
    diagnostics: bool = True
    position_size_usd: float = 1_000_000.0
    liquidity_k: float = 1.0

    def __post_init__(self) -> None:
        for name in ("haircut_horizon_days", "maintenance_horizon_days", "initial_horizon_days", "scan_horizon_days"):
            value = getattr(self, name)
            if int(value) != value or not 1 <= value <= 10:
                raise ParameterError(name, value, "must be an integer between 1 and 10")
        for name in ("haircut_confidence", "maintenance_confidence", "initial_confidence", "scan_confidence"):
            value = getattr(self, name)
            if not 0.9 <= value < 1.0:
                raise ParameterError(name, value, "must lie in [0.9, 1)")
        if not 0.0 <= self.extreme_cover <= 1.0:
            raise ParameterError("extreme_cover", self.extreme_cover, "must lie in [0, 1]")
        if not self.extreme_multiplier >= 1.0:
            raise ParameterError("extreme_multiplier", self.extreme_multiplier, "must be >= 1")
        if self.window_days < 100:
            raise ParameterError("window_days", self.window_days, "must be at least 100")
        if self.volatility not in ("select", "gjr", "garch", "egarch", "ewma"):
            raise ParameterError("volatility", self.volatility, "must be one of select, gjr, garch, egarch, ewma")

    @classmethod
    def fast(cls, **overrides: Any) -> CalibrationSettings:
        """Coarse settings: 5,000 paths, 750-day window, GJR/t only, no diagnostics."""
        values: dict[str, Any] = {"n_simulations": 5_000, "window_days": 750, "volatility": "gjr", "diagnostics": False}
        values.update(overrides)
        return cls(**values)


def _date(value: Any) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.normalize()


def _end_of_day(day: pd.Timestamp) -> pd.Timestamp:
    return (day + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)).tz_localize("UTC")


def _fit_volatility(returns: pd.Series, horizon_days: int, settings: CalibrationSettings, is_stable: bool) -> tuple[AssetVolatility, dict[str, Any]]:
    """Volatility fit shared by every parameter of an asset, and its provenance."""
    from marginlab.calibration import garch

    long_run = float(returns.std(ddof=1))
    if is_stable or settings.volatility == "ewma":
        vol = garch.ewma_volatility(returns)
        sigma_next = math.sqrt(0.94 * vol.iloc[-1] ** 2 + 0.06 * returns.iloc[-1] ** 2)
        z = (returns / vol.replace(0.0, np.nan)).to_numpy()
        record = AssetVolatility(z[np.isfinite(z)], np.full(horizon_days, sigma_next), "ewma", "ewma", long_run)
        provenance = {"vol_model": "ewma(0.94)", "vol_status": "ewma", "converged": True, "persistence": 1.0, "diagnostics": {}, "warnings": []}
        return record, provenance | {"_conditional_vol": vol}
    caught: list[str] = []
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        if settings.volatility == "select":
            selection = garch.select_garch(returns, candidates=[("garch", "t"), ("gjr", "t"), ("gjr", "skewt")], diagnostics=False)
            fit = selection.best
            if settings.diagnostics:
                fit = garch.fit_garch(returns, fit.vol_model, fit.distribution, diagnostics=True)
        else:
            fit = garch.fit_garch(returns, settings.volatility, settings.distribution, diagnostics=settings.diagnostics)
    caught = sorted({str(r.message) for r in records} | set(fit.warnings))
    z = np.asarray(fit.std_residuals, dtype=float)
    record = AssetVolatility(z[np.isfinite(z)], np.asarray(fit.forecast_vol(horizon_days), dtype=float),
                             f"{fit.vol_model}/{fit.distribution}", fit.status, long_run, tuple(caught))
    diagnostics = {}
    if fit.diagnostics is not None and not fit.diagnostics.empty:
        for _, row in fit.diagnostics.iterrows():
            p_value = row.get("p_value")
            diagnostics[f"{row['test']}_p_value"] = None if p_value is None or not np.isfinite(p_value) else float(p_value)
    provenance = {
        "vol_model": f"{fit.vol_model}/{fit.distribution}",
        "vol_status": fit.status,
        "converged": bool(fit.converged),
        "persistence": float(fit.persistence) if np.isfinite(fit.persistence) else None,
        "diagnostics": diagnostics,
        "warnings": caught,
        "_conditional_vol": fit.conditional_vol,
    }
    return record, provenance


def _two_sided_move(vol: AssetVolatility, horizon_days: int, confidence: float, n_simulations: int, rng: np.random.Generator) -> float:
    """``max(q_a(exp(R) - 1), q_a(1 - exp(R)))`` of FHS ``h``-day log returns ``R``."""
    simulated = fhs_horizon_returns(vol.std_residuals, vol.forecast_vol_daily[:horizon_days], horizon_days, n_simulations, rng)
    up = float(np.quantile(np.expm1(simulated), confidence))
    down = float(np.quantile(-np.expm1(simulated), confidence))
    return max(up, down)


def _vol_shock(series: pd.Series, horizon_days: int, confidence: float) -> tuple[float, float]:
    """``(up, down)`` relative ``h``-day shocks of a volatility series at ``confidence``.

    Calibration-core's :func:`~marginlab.calibration.stress_ranges.vol_scan_ranges`: quantiles of the
    overlapping ``h``-day log changes, ``up = exp(q_a) - 1``, ``down = 1 - exp(q_{1-a})``.
    """
    from marginlab.calibration.stress_ranges import vol_scan_ranges

    values = series.dropna()
    values = values[values > 0]
    ranges = vol_scan_ranges(values, horizon_days=horizon_days, confidence=confidence)
    return max(ranges.vol_up_range, 0.0), float(min(max(ranges.vol_down_range, 0.0), 1.0))


def example_document() -> dict[str, Any]:
    """A small valid parameter document (one asset), for docs and tests."""
    return {
        "schema_version": SCHEMA_VERSION,
        "asof": "2025-01-31",
        "created_at": "2025-02-01T00:00:00+00:00",
        "package_version": "0.1.0",
        "data_source": "example",
        "settings": {
            "haircut_horizon_days": 3, "haircut_confidence": 0.99, "maintenance_horizon_days": 1, "maintenance_confidence": 0.99,
            "initial_horizon_days": 2, "initial_confidence": 0.99, "scan_horizon_days": 2, "scan_confidence": 0.99, "extreme_cover": 0.33,
        },
        "assets": {
            "BTC": {
                "haircut": 0.12,
                "tier": "tier 2 (<= 15%)",
                "asset_class": "major",
                "price_scan_range": 0.12,
                "vol_shock": {"up_30d": 0.45, "down_30d": 0.25, "short_term_power": 0.3, "long_term_power": 0.13, "source": "example"},
                "extreme_move": {"move": 0.3, "cover": 0.33},
                "maintenance_rate": 0.06,
                "initial_rate": 0.085,
                "provenance": {"data_start": "2021-01-01", "data_end": "2025-01-31", "n_returns": 1491, "vol_model": "gjr/t",
                               "vol_status": "converged", "converged": True},
            }
        },
    }


class CalibratedParameters:
    """A validated parameter document (see the module docstring) with accessors, I/O and models.

    Parameters
    ----------
    document : mapping
        The document; validated against the schema (``FileFormatError`` naming the field).
    """

    def __init__(self, document: Mapping[str, Any]) -> None:
        doc = json.loads(json.dumps(document, default=_json_default))
        validate_document(doc)
        self._document = doc

    # -- accessors ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A deep copy of the document."""
        return copy.deepcopy(self._document)

    @property
    def asof(self) -> str:
        return str(self._document["asof"])

    @property
    def created_at(self) -> str:
        return str(self._document["created_at"])

    @property
    def assets(self) -> list[str]:
        return list(self._document["assets"])

    def asset(self, name: str) -> dict[str, Any]:
        """The record of asset ``name``."""
        from marginlab.exceptions import UnknownAssetError

        try:
            return copy.deepcopy(self._document["assets"][name])
        except KeyError:
            raise UnknownAssetError("asset", name, f"is not in the parameter file (assets: {self.assets})") from None

    def table(self) -> pd.DataFrame:
        """One row per asset with the headline parameters."""
        rows = []
        for name, entry in self._document["assets"].items():
            rows.append(
                {
                    "asset": name,
                    "haircut": entry["haircut"],
                    "tier": entry.get("tier", ""),
                    "price_scan_range": entry["price_scan_range"],
                    "vol_up_30d": entry["vol_shock"]["up_30d"],
                    "vol_down_30d": entry["vol_shock"]["down_30d"],
                    "extreme_down": entry["extreme_move"]["move"],
                    "extreme_up": entry["extreme_move"].get("up", entry["extreme_move"]["move"]),
                    "extreme_cover": entry["extreme_move"]["cover"],
                    "maintenance_rate": entry["maintenance_rate"],
                    "initial_rate": entry["initial_rate"],
                    "vol_model": entry["provenance"]["vol_model"],
                    "converged": entry["provenance"]["converged"],
                }
            )
        return pd.DataFrame(rows).set_index("asset")

    def summary(self) -> str:
        """Readable report."""
        return "\n".join(
            [
                f"Calibrated parameters as of {self.asof} (created {self.created_at}, marginlab {self._document['package_version']})",
                self.table().to_string(float_format=lambda v: f"{v:.4f}"),
            ]
        )

    def models(self) -> dict[str, Any]:
        """Margin models configured by this file (see :func:`marginlab.margin.calibrated.models_from_parameters`)."""
        from marginlab.margin.calibrated import models_from_parameters

        return models_from_parameters(self)

    # -- I/O ------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write YAML (``.yaml``/``.yml``) or JSON (``.json``), validating first."""
        target = Path(path)
        validate_document(self._document)
        suffix = target.suffix.lower()
        if suffix in (".yaml", ".yml"):
            text = yaml.safe_dump(self._document, sort_keys=False, allow_unicode=True)
        elif suffix == ".json":
            text = json.dumps(self._document, indent=2)
        else:
            raise InputError("path", str(path), "suffix must be .yaml, .yml or .json")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        return target

    @classmethod
    def load(cls, path: str | Path) -> CalibratedParameters:
        """Read and validate a YAML or JSON parameter file."""
        source = Path(path)
        if not source.is_file():
            raise InputError("path", str(path), "no such parameter file")
        text = read_text(source, "parameter file")  # one strict loader: UTF-8, no duplicate keys
        try:
            document = load_json(text, str(source)) if source.suffix.lower() == ".json" else load_yaml(text, str(source))
        except (json.JSONDecodeError, yaml.YAMLError) as error:
            raise FileFormatError(f"parameter file {source}: not valid {'JSON' if source.suffix.lower() == '.json' else 'YAML'}: {error}") from None
        if not isinstance(document, dict):
            raise FileFormatError(f"parameter file {source}: top level must be a mapping, got {type(document).__name__}")
        return cls(document)

    def __repr__(self) -> str:
        return f"CalibratedParameters(asof={self.asof!r}, assets={self.assets})"


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def save(parameters: CalibratedParameters, path: str | Path) -> Path:
    """Write ``parameters`` to ``path`` (YAML or JSON by suffix)."""
    return parameters.save(path)


def load(path: str | Path) -> CalibratedParameters:
    """Read and validate a parameter file."""
    return CalibratedParameters.load(path)


def calibrate(
    assets: Sequence[str],
    asof: Any,
    *,
    settings: CalibrationSettings | None = None,
    fast: bool = False,
    prices: pd.DataFrame | None = None,
    volumes_usd: pd.DataFrame | None = None,
    stablecoin_history: pd.DataFrame | None = None,
    implied_vol: Mapping[str, pd.Series] | None = None,
    rng: np.random.Generator | int | None = 0,
    created_at: str | None = None,
    progress: bool = False,
) -> CalibratedParameters:
    """Calibrate the parameter file for ``assets`` with data up to ``asof`` (inclusive).

    Parameters
    ----------
    assets : sequence of str
        Asset symbols (``"BTC"``, ``"ETH"``, ``"SOL"``, ``"USDC"``...).
    asof : date-like
        Last day of data used.
    settings : CalibrationSettings, optional
        Defaults to ``CalibrationSettings()`` (or ``CalibrationSettings.fast()`` with ``fast=True``).
    prices, volumes_usd : DataFrame, optional
        Daily closes / USD volumes (dates x assets); default: the data snapshot
        (:func:`~marginlab.calibration.haircuts.load_haircut_inputs`). Rows after ``asof`` are ignored.
    stablecoin_history : DataFrame, optional
        Long ``timestamp, symbol, close`` table for the depeg model (default: the snapshot).
    implied_vol : mapping asset -> Series, optional
        30-day implied volatility index per asset (any units); default: Deribit DVOL for BTC
        and ETH when the snapshot has it. Other assets use their GARCH conditional volatility.
    rng : Generator, int or None
        Seed of the simulations (default 0: reproducible files).
    created_at : str, optional
        Creation time to record (default: now, UTC).
    progress : bool
        tqdm progress bar over assets.
    """
    from marginlab import __version__
    from marginlab.progress import tqdm

    if isinstance(assets, str):
        assets = [assets]
    assets = list(dict.fromkeys(assets))
    if not assets:
        raise InputError("assets", assets, "must name at least one asset")
    config = settings or (CalibrationSettings.fast() if fast else CalibrationSettings())
    day = _date(asof)
    stamp = _end_of_day(day)
    generator = as_generator(rng)
    from_snapshot = prices is None
    if prices is None:
        prices, loaded_volumes = load_haircut_inputs(assets, stamp)
        volumes_usd = loaded_volumes if volumes_usd is None else volumes_usd
    missing = [a for a in assets if a not in prices.columns]
    if missing:
        raise InputError("assets", missing, "have no price series")
    frame = prices[assets].copy()
    frame.index = pd.to_datetime(frame.index, utc=True)
    frame = frame[frame.index <= stamp]
    if volumes_usd is not None:
        volumes_usd = volumes_usd.copy()
        volumes_usd.index = pd.to_datetime(volumes_usd.index, utc=True)
        volumes_usd = volumes_usd[volumes_usd.index <= stamp]
    longest = max(config.haircut_horizon_days, config.maintenance_horizon_days, config.initial_horizon_days, config.scan_horizon_days)
    fits: dict[str, AssetVolatility] = {}
    records: dict[str, dict[str, Any]] = {}
    generators = asset_generators(generator, assets)
    for asset in tqdm(assets, disable=not progress, desc="calibrate"):
        generator_asset = generators[asset]
        close = frame[asset].dropna()
        if (close <= 0).any():
            raise InputError(f"prices[{asset}]", float(close[close <= 0].iloc[0]), "prices must be positive")
        returns = np.log(close).diff().dropna().iloc[-config.window_days :]
        if len(returns) < 100:
            raise InputError(f"prices[{asset}]", f"{len(returns)} returns up to {day.date()}", "needs at least 100 daily returns")
        is_stable = asset in STABLECOINS
        vol, provenance = _fit_volatility(returns, longest, config, is_stable)
        fits[asset] = vol
        conditional = provenance.pop("_conditional_vol")
        scan = _two_sided_move(vol, config.scan_horizon_days, config.scan_confidence, config.n_simulations, generator_asset)
        maintenance = _two_sided_move(vol, config.maintenance_horizon_days, config.maintenance_confidence, config.n_simulations, generator_asset)
        initial = max(_two_sided_move(vol, config.initial_horizon_days, config.initial_confidence, config.n_simulations, generator_asset),
                      maintenance)
        h = config.scan_horizon_days
        h_moves = np.expm1(np.log(close.iloc[-(config.window_days + 1):]).diff(h).dropna().to_numpy())
        worst_down = float(max(-h_moves.min(), 0.0)) if h_moves.size else 0.0
        worst_up = float(max(h_moves.max(), 0.0)) if h_moves.size else 0.0
        extreme_down = min(max(config.extreme_multiplier * scan, worst_down), 1.0)
        extreme_up = min(max(config.extreme_multiplier * scan, worst_up), 5.0)
        source = f"{provenance['vol_model']} conditional vol (proxy)"
        vol_series = pd.Series(conditional).dropna()
        iv = None
        if implied_vol is not None and asset in implied_vol:
            iv = pd.Series(implied_vol[asset])
        elif implied_vol is None and asset in ("BTC", "ETH"):
            iv = _dvol_close(asset)
        if iv is not None:
            iv.index = pd.to_datetime(iv.index, utc=True)
            iv = iv[iv.index <= stamp].iloc[-config.window_days :]
            if len(iv.dropna()) > h + 120:
                vol_series = iv
                source = "implied-vol index (DVOL)" if implied_vol is None else "implied-vol index"
        up, down = _vol_shock(vol_series, h, config.scan_confidence)
        records[asset] = {
            "haircut": None,
            "asset_class": industry_class(asset),
            "price_scan_range": float(max(scan, 1e-6)),
            "vol_shock": {
                "up_30d": float(min(up, 10.0)),
                "down_30d": float(down),
                "short_term_power": config.short_term_power,
                "long_term_power": config.long_term_power,
                "source": source,
            },
            "extreme_move": {
                "move": float(max(extreme_down, 1e-6)),
                "up": float(max(extreme_up, 1e-6)),
                "cover": config.extreme_cover,
                "historical_worst_down": worst_down,
                "historical_worst_up": worst_up,
            },
            "maintenance_rate": float(min(max(maintenance, 1e-6), 1.0)),
            "initial_rate": float(min(max(initial, 1e-6), 1.0)),
            "provenance": {
                "data_start": returns.index[0].strftime("%Y-%m-%d"),
                "data_end": returns.index[-1].strftime("%Y-%m-%d"),
                "n_returns": int(len(returns)),
                **provenance,
            },
        }
    haircut_model = HaircutModel(
        horizon_days=config.haircut_horizon_days,
        confidence=config.haircut_confidence,
        volatility="ewma" if config.volatility == "ewma" else "gjr",
        n_simulations=config.n_simulations,
        liquidity_k=config.liquidity_k,
        position_size_usd=config.position_size_usd,
        window_days=config.window_days,
    )
    haircuts = haircut_model.fit(frame, volumes_usd, asof=stamp, stablecoin_history=stablecoin_history, volatility_fits=fits, rng=generator)
    for asset in assets:
        row = {str(k): v for k, v in haircuts.table.loc[asset].to_dict().items()}
        records[asset]["haircut"] = float(row["haircut"])
        records[asset]["tier"] = str(row["tier"])
        records[asset]["haircut_details"] = {
            key: (None if not math.isfinite(float(row[key])) else float(row[key]))
            for key in ("var", "es", "market_risk", "depeg_risk", "liquidity_add_on", "size_usd", "adv_usd", "vol_forecast", "long_run_vol")
        }
        records[asset] = {"haircut": records[asset].pop("haircut"), "tier": records[asset].pop("tier"), **records[asset]}
    settings_record = {k: v for k, v in asdict(config).items()}
    document = {
        "schema_version": SCHEMA_VERSION,
        "asof": day.strftime("%Y-%m-%d"),
        "created_at": created_at or dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "package_version": __version__,
        "data_source": _data_label() if from_snapshot else "user-supplied prices",
        "settings": settings_record,
        "assets": records,
    }
    return CalibratedParameters(document)


def _data_label() -> str:
    from marginlab.data import dataset_label

    return f"marginlab data {dataset_label()}"


def _dvol_close(asset: str) -> pd.Series | None:
    """Deribit DVOL closes of ``asset`` from the snapshot, or ``None`` when unavailable."""
    from marginlab import data

    try:
        return data.load_dvol(asset)["close"]
    except Exception:  # noqa: BLE001 - the vol-shock source then falls back to the GARCH proxy (recorded in `source`)
        return None


__all__ = [
    "SCHEMA_PATH",
    "CalibratedParameters",
    "CalibrationSettings",
    "calibrate",
    "example_document",
    "load",
    "save",
    "schema",
    "validate_document",
]
