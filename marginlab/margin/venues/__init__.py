"""Venue rules as data: one versioned YAML file per preset, one generic loader.

Every venue preset of marginlab is a YAML file in this folder (``<preset>.yaml``, installed as
package data). A file names the engine it configures and carries its provenance::

    schema: marginlab-venue/1
    name: deribit-standard            # the preset name (get_model("deribit-standard"))
    version: 2                        # bump when a value changes
    engine: isolated                  # isolated | cross | risk_matrix | span | okx_pm | derive | fhs
    description: one line for `marginlab models`
    effective_date: 2022-01-11        # date the venue's rules took effect (or were published)
    sources:                          # where every value comes from
      - {title: "...", address: "https://...", retrieved: 2026-12-01}
    assumed:                          # values NOT from a source: dotted path -> why
      parameters.rules.*: other assets 4% / 2% with no size term
    dimensions: [spot]                # scenario dimensions the method uses: spot, vol, skew, basis, time, rate
    runtime_inputs:                   # inputs given at run time (CLI flag or file), name -> meaning
      open_interest_usd: market open interest per underlying (USD)
    parameters: {...}                 # the engine's parameters (see the builders below)

:func:`venue_files` finds the files: the package folder, then every folder of the environment
variable ``MARGINLAB_VENUES`` (``os.pathsep``-separated), then folders passed as an argument; a
later file with the same ``name`` replaces an earlier one, so a user changes a table by copying a
file into their own folder and editing it -- no Python. :func:`build_model` turns a file into the
engine it names; :func:`describe` states the rules, sources, assumptions and dimensions from the
same data.

Units: rates and fractions are fractions (``0.02`` = 2%), amounts are USD, moves are spot
multipliers minus one.

>>> from marginlab.margin.venues import load_venue, describe
>>> spec = load_venue("deribit-standard")
>>> spec.engine, spec.dimensions
('isolated', ('spot',))
>>> "Deribit" in describe(spec)
True
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from marginlab.exceptions import FileFormatError, ParameterError, UnknownAssetError
from marginlab.fileio import read_mapping
from marginlab.margin.scenarios import vol_shock_from_data

#: Environment variable naming extra folders of venue files (``os.pathsep``-separated).
VENUES_ENV = "MARGINLAB_VENUES"
#: Schema tag every venue file carries.
SCHEMA = "marginlab-venue/1"
#: The folder of the package's own venue files.
PACKAGE_DIR = Path(__file__).resolve().parent
#: Scenario dimensions a preset may declare.
DIMENSIONS = ("spot", "vol", "skew", "basis", "time", "rate")
ENGINES = ("isolated", "cross", "risk_matrix", "span", "okx_pm", "derive", "fhs")


@dataclass(frozen=True)
class Source:
    """A document a venue file's values come from."""

    title: str
    address: str
    retrieved: str = ""

    def cite(self) -> str:
        return f"{self.title} <{self.address}>" + (f" (retrieved {self.retrieved})" if self.retrieved else "")


@dataclass(frozen=True)
class VenueSpec:
    """The content of one venue file (see the module docstring for the fields)."""

    name: str
    engine: str
    version: int
    description: str
    effective_date: str
    sources: tuple[Source, ...]
    assumed: Mapping[str, str]
    dimensions: tuple[str, ...]
    runtime_inputs: Mapping[str, str]
    parameters: Mapping[str, Any]
    family: str
    path: Path | None = None

    @property
    def folder(self) -> Path:
        return self.path.parent if self.path is not None else PACKAGE_DIR


def _text(value: Any) -> str:
    if isinstance(value, _dt.date | _dt.datetime):
        return value.isoformat()
    return str(value)


def parse_venue(data: Any, where: str = "<dict>", path: Path | None = None) -> VenueSpec:
    """Validate a mapping read from a venue file (raises :class:`FileFormatError` naming the field)."""
    if not isinstance(data, Mapping):
        raise FileFormatError(f"{where}: a venue file must be a mapping, got {type(data).__name__}")
    if data.get("schema") != SCHEMA:
        raise FileFormatError(f"{where}: schema={data.get('schema')!r}: expected {SCHEMA!r}")
    for key in ("name", "engine", "version", "description", "effective_date", "sources", "parameters"):
        if key not in data:
            raise FileFormatError(f"{where}: missing field {key!r}")
    engine = str(data["engine"])
    if engine not in ENGINES:
        raise FileFormatError(f"{where}: engine={engine!r}: expected one of {ENGINES}")
    try:
        version = int(data["version"])
    except (TypeError, ValueError):
        raise FileFormatError(f"{where}: version={data['version']!r}: must be an integer") from None
    sources = []
    for key in ("sources", "dimensions"):  # lists (found by tests/test_inputs_fuzz.py: a number here was a TypeError)
        if data.get(key) is not None and (isinstance(data[key], str) or not isinstance(data[key], Sequence)):
            raise FileFormatError(f"{where}: {key}={data[key]!r}: must be a list")
    for i, s in enumerate(data["sources"] or ()):
        if not isinstance(s, Mapping) or "title" not in s or "address" not in s:
            raise FileFormatError(f"{where}: sources[{i}]={s!r}: needs 'title' and 'address'")
        sources.append(Source(str(s["title"]), str(s["address"]), _text(s.get("retrieved", ""))))
    if not sources:
        raise FileFormatError(f"{where}: sources: at least one source is required")
    dimensions = tuple(str(d) for d in data.get("dimensions") or ("spot",))
    for d in dimensions:
        if d not in DIMENSIONS:
            raise FileFormatError(f"{where}: dimensions: {d!r} is not one of {DIMENSIONS}")
    assumed = data.get("assumed") or {}
    runtime = data.get("runtime_inputs") or {}
    if not isinstance(assumed, Mapping) or not isinstance(runtime, Mapping) or not isinstance(data["parameters"], Mapping):
        raise FileFormatError(f"{where}: 'assumed', 'runtime_inputs' and 'parameters' must be mappings")
    family = str(data.get("family") or {"isolated": "isolated", "cross": "cross"}.get(engine, "portfolio"))
    return VenueSpec(str(data["name"]), engine, version, str(data["description"]), _text(data["effective_date"]), tuple(sources),
                     {str(k): str(v) for k, v in assumed.items()}, dimensions, {str(k): str(v) for k, v in runtime.items()},
                     dict(data["parameters"]), family, path)


def read_venue_file(path: str | Path) -> VenueSpec:
    """Read and validate one venue file (cached until the file changes)."""
    file = Path(path)
    try:
        stat = file.stat()
    except OSError as exc:
        raise FileFormatError(f"{file}: cannot read venue file ({exc.strerror})") from None
    return _read_cached(str(file), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=256)
def _read_cached(path: str, mtime_ns: int, size: int) -> VenueSpec:
    file = Path(path)
    data = read_mapping(file, "venue file")  # the package's strict loader: UTF-8, no duplicate keys
    return parse_venue(data, str(file), file)


def venue_dirs(extra: str | Path | Iterable[str | Path] | None = None) -> list[Path]:
    """Folders searched for venue files, in increasing precedence: package, ``$MARGINLAB_VENUES``, ``extra``."""
    dirs = [PACKAGE_DIR]
    env = os.environ.get(VENUES_ENV, "")
    dirs += [Path(p) for p in env.split(os.pathsep) if p.strip()]
    if extra is not None:
        dirs += [Path(extra)] if isinstance(extra, str | Path) else [Path(p) for p in extra]
    for d in dirs[1:]:
        if not d.is_dir():
            raise FileFormatError(f"{d}: venue folder does not exist (from ${VENUES_ENV} or the venues_dir argument)")
    return dirs


def venue_files(extra: str | Path | Iterable[str | Path] | None = None) -> dict[str, VenueSpec]:
    """Every venue file by preset name (later folders override earlier ones)."""
    found: dict[str, VenueSpec] = {}
    for folder in venue_dirs(extra):
        for file in sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml")):
            spec = read_venue_file(file)
            found[spec.name] = spec
    return found


def load_venue(name_or_path: str | Path, venues_dir: str | Path | Iterable[str | Path] | None = None) -> VenueSpec:
    """The venue spec of a preset name or of a file path."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") and candidate.exists():
        return read_venue_file(candidate)
    specs = venue_files(venues_dir)
    if str(name_or_path) not in specs:
        raise UnknownAssetError("venue", str(name_or_path), f"no venue file of that name (known: {sorted(specs)})")
    return specs[str(name_or_path)]


# --------------------------------------------------------------------------- helpers
def _get(p: Mapping[str, Any], key: str, where: str, default: Any = ...) -> Any:
    if key in p:
        return p[key]
    if default is ...:
        raise FileFormatError(f"{where}: missing parameter {key!r}")
    return default


def _float(value: Any, where: str) -> float:
    if isinstance(value, str) and value.strip().lower() in ("inf", "infinity", ".inf"):
        return math.inf
    try:
        return float(value)
    except (TypeError, ValueError):
        raise FileFormatError(f"{where}={value!r}: expected a number") from None


def _floats(values: Any, where: str) -> tuple[float, ...]:
    if not isinstance(values, Sequence) or isinstance(values, str):
        raise FileFormatError(f"{where}={values!r}: expected a list of numbers")
    return tuple(_float(v, f"{where}[{i}]") for i, v in enumerate(values))


def _mapping(raw: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise FileFormatError(f"{where}={raw!r}: expected a mapping")
    return raw


def _construct(kind: Any, values: Mapping[str, Any], where: str) -> Any:
    """``kind(**values)``, a misspelt parameter being a FileFormatError naming it (not a TypeError)."""
    known = [f.name for f in dataclasses.fields(kind) if f.init]
    for key in values:
        if key not in known:
            raise FileFormatError(f"{where}.{key}: unknown parameter (known: {', '.join(known)})")
    return kind(**values)


def _relative(spec: VenueSpec, value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else spec.folder / path


# --------------------------------------------------------------------------- builders
def _linear_rule(raw: Any, where: str, tiers: Mapping[str, Any]) -> Any:
    from marginlab.margin.isolated import LiquidityTier, MaxLeverage, RiskBrackets, SizeLinearRate

    if not isinstance(raw, Mapping):
        raise FileFormatError(f"{where}={raw!r}: expected a mapping with a 'type' (or a 'tier')")
    if "tier" in raw:
        name = str(raw["tier"])
        if name not in tiers:
            raise FileFormatError(f"{where}.tier={name!r}: not in the file's 'tiers' (known: {sorted(tiers)})")
        raw = {**tiers[name], **{k: v for k, v in raw.items() if k != "tier"}}
    kind = raw.get("type")
    try:
        if kind == "size_linear":
            return SizeLinearRate(_float(raw["initial_base"], f"{where}.initial_base"), _float(raw["maintenance_base"], f"{where}.maintenance_base"),
                                  _float(raw.get("initial_per_unit", 0.0), f"{where}.initial_per_unit"),
                                  _float(raw.get("maintenance_per_unit", 0.0), f"{where}.maintenance_per_unit"),
                                  _float(raw.get("max_rate", 1.0), f"{where}.max_rate"))
        if kind == "brackets":
            table = raw["table"]
            if isinstance(table, str) or not isinstance(table, Sequence):
                raise FileFormatError(f"{where}.table={table!r}: expected a list of [floor_usd, maintenance_rate, max_leverage] rows")
            rows = [_floats(r, f"{where}.table[{i}]") for i, r in enumerate(table)]
            if any(len(r) != 3 for r in rows):
                raise FileFormatError(f"{where}.table: each row is [floor_usd, maintenance_rate, max_leverage]")
            return RiskBrackets([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], _float(raw.get("cap_usd", math.inf), f"{where}.cap_usd"))
        if kind == "max_leverage":
            return MaxLeverage(_float(raw["max_leverage"], f"{where}.max_leverage"))
        if kind == "liquidity_tier":
            return LiquidityTier(_float(raw["initial_fraction"], f"{where}.initial_fraction"), _float(raw["maintenance_fraction"], f"{where}.maintenance_fraction"),
                                 _float(raw.get("open_interest_lower_usd", 0.0), f"{where}.open_interest_lower_usd"),
                                 _float(raw.get("open_interest_upper_usd", 0.0), f"{where}.open_interest_upper_usd"))
    except KeyError as exc:
        raise FileFormatError(f"{where}: rule of type {kind!r} misses parameter {exc.args[0]!r}") from None
    raise FileFormatError(f"{where}.type={kind!r}: expected size_linear, brackets, max_leverage or liquidity_tier")


def _isolated(spec: VenueSpec, open_interest_usd: Mapping[str, float] | None = None, name: str | None = None) -> Any:
    from marginlab.margin.isolated import CoinOptionRule, IsolatedMargin, VenueLiquidationRule

    p = spec.parameters
    where = f"{spec.name}.parameters"
    tiers = p.get("tiers") or {}
    rules_raw = _get(p, "rules", where)
    if not isinstance(rules_raw, Mapping):
        raise FileFormatError(f"{where}.rules: expected a mapping asset -> rule")
    rules = {str(a): _linear_rule(r, f"{where}.rules.{a}", tiers) for a, r in rules_raw.items()}
    option = p.get("option_rule")
    option_rule = None
    if option is not None:
        option_rule = _construct(CoinOptionRule, {k: _float(v, f"{where}.option_rule.{k}") for k, v in _mapping(option, f"{where}.option_rule").items()
                                                  if k != "type"}, f"{where}.option_rule")
    policy = p.get("liquidation_policy")
    liquidation = None if policy is None else _construct(
        VenueLiquidationRule, {k: _float(v, f"{where}.liquidation_policy.{k}") for k, v in _mapping(policy, f"{where}.liquidation_policy").items()},
        f"{where}.liquidation_policy")
    return IsolatedMargin(rules, option_rule, open_interest_usd=dict(open_interest_usd or {}), preset_name=name or spec.name,
                          liquidation_policy=liquidation)


def _haircuts(raw: Any, where: str) -> Any:
    from marginlab.collateral import FlatHaircut, TieredHaircut

    if raw is None:
        return None
    kind = raw.get("type")
    if kind == "flat":
        return FlatHaircut({str(a): _float(h, f"{where}.haircuts.{a}") for a, h in (raw.get("haircuts") or {}).items()},
                           None if raw.get("default") is None else _float(raw["default"], f"{where}.default"))
    if kind == "flat_ratio":
        return FlatHaircut.from_collateral_ratios({str(a): _float(r, f"{where}.ratios.{a}") for a, r in (raw.get("ratios") or {}).items()},
                                                  None if raw.get("default_ratio") is None else _float(raw["default_ratio"], f"{where}.default_ratio"))
    if kind == "tiered_ratio":
        tiers = {str(a): [_floats(t, f"{where}.tiers.{a}[{i}]") for i, t in enumerate(rows)] for a, rows in (raw.get("tiers") or {}).items()}
        default = raw.get("default_ratio")
        return TieredHaircut(tiers, None if default is None else 1.0 - _float(default, f"{where}.default_ratio"))  # type: ignore[arg-type]
    raise FileFormatError(f"{where}.type={kind!r}: expected flat, flat_ratio or tiered_ratio")


def _cross(spec: VenueSpec, open_interest_usd: Mapping[str, float] | None = None) -> Any:
    from marginlab.collateral import ActionLadder
    from marginlab.margin.cross import CrossMargin

    p = spec.parameters
    where = f"{spec.name}.parameters"
    rules_from = str(_get(p, "rules_from", where))
    base = load_venue(rules_from, [spec.folder] if spec.folder != PACKAGE_DIR else None)
    if base.engine != "isolated":
        raise FileFormatError(f"{where}.rules_from={rules_from!r}: must name an isolated venue file")
    rules = _isolated(base, open_interest_usd)
    kwargs: dict[str, Any] = {}
    ladder = p.get("ladder")
    if ladder is not None:
        kwargs["ladder"] = ActionLadder(tuple((_float(t, f"{where}.ladder"), str(a)) for t, a in ladder["levels"]), str(ladder.get("final_action", "liquidation-loss-claim")))
    return CrossMargin(rules, _haircuts(p.get("haircuts"), f"{where}.haircuts"), preset_name=spec.name, **kwargs)


def _vol_shock(raw: Any, where: str) -> Any:
    return vol_shock_from_data(raw, where)


def grid_from_data(raw: Mapping[str, Any], where: str) -> Any:
    """A :class:`~marginlab.margin.scenarios.ScenarioGrid` from a venue file's ``grid`` mapping.

    ``type: regular`` (``spot_range``, ``points``, ``vol_shocks``, optional ``extra`` rows
    ``[spot multiplier, vol, dampening]``) or ``type: explicit`` (``scenarios`` rows
    ``[spot multiplier, vol, dampening, family]``); optional ``horizon_days`` and
    ``rate_shocks`` (one additive rate change per scenario, or ``rate_scenarios``: extra
    scenarios ``[rate shock, label]`` at unchanged spot and vol).
    """
    from marginlab.margin.scenarios import ScenarioGrid

    kind = raw.get("type", "regular")
    if kind == "regular":
        extra = [(_float(x, f"{where}.extra[{i}]"), str(v), _float(d, f"{where}.extra[{i}]")) for i, (x, v, d) in enumerate(raw.get("extra") or ())]
        grid = ScenarioGrid.regular(_float(_get(raw, "spot_range", where), f"{where}.spot_range"), int(_get(raw, "points", where)),
                                    tuple(raw.get("vol_shocks", ("up", "none", "down"))), extra=extra)
    elif kind == "explicit":
        rows = _get(raw, "scenarios", where)
        grid = ScenarioGrid(tuple(_float(r[0], f"{where}.scenarios[{i}]") for i, r in enumerate(rows)), tuple(str(r[1]) for r in rows),
                            tuple(_float(r[2], f"{where}.scenarios[{i}]") if len(r) > 2 else 1.0 for i, r in enumerate(rows)),
                            tuple(str(r[3]) for r in rows) if all(len(r) > 3 for r in rows) else ())
    else:
        raise FileFormatError(f"{where}.type={kind!r}: expected regular or explicit")
    horizon = _float(raw.get("horizon_days", 0.0), f"{where}.horizon_days")
    rates = raw.get("rate_scenarios")
    if horizon or rates:
        grid = grid.with_time_and_rates(horizon_days=horizon, rate_scenarios=[_float(r, f"{where}.rate_scenarios") for r in rates or ()])
    return grid


def _risk_matrix(spec: VenueSpec) -> Any:
    from marginlab.margin.risk_matrix import RiskMatrixModel

    p = dict(spec.parameters)
    where = f"{spec.name}.parameters"
    grid = grid_from_data(_get(p, "grid", where), f"{where}.grid")
    scalars = {k: _float(p[k], f"{where}.{k}") for k in ("mm_loss_factor", "im_loss_factor", "linear_contingency_mm", "linear_contingency_im",
                                                          "option_contingency_mm", "option_contingency_im", "minimum_charge_usd",
                                                          "forward_freeze_seconds") if k in p}
    return RiskMatrixModel(grid, _vol_shock(p.get("vol_shock"), f"{where}.vol_shock"), preset_name=spec.name, **scalars)  # type: ignore[arg-type]


def _span(spec: VenueSpec) -> Any:
    from marginlab.margin.span import span_model_from_data

    return span_model_from_data(spec)


def _okx(spec: VenueSpec) -> Any:
    from marginlab.margin.okx_pm import okx_model_from_data

    return okx_model_from_data(spec)


def _derive(spec: VenueSpec) -> Any:
    from marginlab.margin.derive import derive_model

    return derive_model(spec.parameters, name=spec.name)


def _fhs(spec: VenueSpec) -> Any:
    """Filtered historical simulation: the parameters of :class:`~marginlab.margin.fhs.FilteredHistoricalMargin` and
    ``assets`` (joint history from the package's data) plus ``crisis_scenarios`` (named crisis days as stress)."""
    import warnings

    from marginlab.exceptions import DataWarning
    from marginlab.margin import fhs

    p = dict(spec.parameters)
    where = f"{spec.name}.parameters"
    assets = tuple(str(a) for a in p.pop("assets", fhs.PRESET_ASSETS))
    crises = bool(p.pop("crisis_scenarios", True))
    horizon = int(_float(p.get("horizon_days", 2), f"{where}.horizon_days"))
    history = fhs._preset_history() if assets == fhs.PRESET_ASSETS else fhs.HistoricalScenarios.from_snapshot(assets)
    if len(history.returns) < 1000:
        warnings.warn(f"{spec.name}: only {len(history.returns)} days of joint history", DataWarning, stacklevel=2)
    stress = (fhs._preset_crises(horizon) if assets == fhs.PRESET_ASSETS else fhs.crisis_scenarios(assets, horizon)) if crises else None
    known = {"confidence", "horizon_days", "lookback_days", "ewma_lambda", "stress_weight", "risk_measure", "mm_fraction", "filtered", "vol_proxy",
             "realised_vol_beta", "historical_stress"}
    unknown = set(p) - known
    if unknown:
        raise FileFormatError(f"{where}: unknown FHS parameters {sorted(unknown)} (known: {sorted(known)})")
    closes = int(p.get("lookback_days") or 0) + horizon + 1  # as_of(time): the assets with enough history on that day
    return fhs.FilteredHistoricalMargin(history, stress_scenarios=stress, preset_name=spec.name,
                                        history_source=fhs.snapshot_history_source(assets, closes), **p)


BUILDERS: dict[str, Callable[..., Any]] = {"isolated": _isolated, "cross": _cross, "risk_matrix": _risk_matrix, "span": _span, "okx_pm": _okx,
                                           "derive": _derive, "fhs": _fhs}


def build_model(spec: VenueSpec | str | Path, **runtime_inputs: Any) -> Any:
    """The margin model a venue file configures.

    Parameters
    ----------
    spec : VenueSpec, preset name or path of a venue file
    **runtime_inputs
        Inputs the file declares under ``runtime_inputs`` (e.g. ``open_interest_usd={"BTC": 3e7}``);
        an input the file does not declare is an error.

    >>> build_model("dydx", open_interest_usd={"BTC": 35e6}).open_interest_usd["BTC"]
    35000000.0
    """
    if not isinstance(spec, VenueSpec):
        spec = load_venue(spec)
    given = {k: v for k, v in runtime_inputs.items() if v is not None}
    for key in given:
        if key not in spec.runtime_inputs:
            raise ParameterError(key, given[key], f"is not a run-time input of {spec.name} (accepted: {sorted(spec.runtime_inputs) or 'none'})")
    if "open_interest_usd" in given:
        given["open_interest_usd"] = {str(a): float(v) for a, v in dict(given["open_interest_usd"]).items()}
    return BUILDERS[spec.engine](spec, **given)


def read_runtime_inputs(open_interest: Sequence[str] | str | None = None) -> dict[str, Any]:
    """Run-time inputs from the command line: ``open_interest`` items ``ASSET=USD`` or a YAML/JSON file
    ``{BTC: 3.0e7, ...}`` (optionally under an ``open_interest_usd`` key).

    >>> read_runtime_inputs(["BTC=3e7", "ETH=1.5e7"])
    {'open_interest_usd': {'BTC': 30000000.0, 'ETH': 15000000.0}}
    >>> read_runtime_inputs(None)
    {}
    """
    if open_interest is None:
        return {}
    items = [open_interest] if isinstance(open_interest, str) else list(open_interest)
    table: dict[str, float] = {}
    for item in items:
        if "=" in item:
            asset, _, value = item.partition("=")
            number = _float(value, f"open_interest[{asset.strip()}]")
            if not (math.isfinite(number) and number >= 0):
                raise ParameterError(f"open_interest[{asset.strip()}]", value, "must be a non-negative amount in USD")
            table[asset.strip()] = number
            continue
        file = Path(item)
        data = read_mapping(file, "open-interest file (or give ASSET=USD)")
        if isinstance(data, Mapping) and "open_interest_usd" in data:
            data = data["open_interest_usd"]
        if not isinstance(data, Mapping):
            raise FileFormatError(f"{file}: expected a mapping ASSET -> open interest in USD")
        for asset, value in data.items():
            number = _float(value, f"{file}:{asset}")
            if not (math.isfinite(number) and number >= 0):
                raise ParameterError(f"open_interest[{asset}]", value, "must be a non-negative amount in USD")
            table[str(asset)] = number
    return {"open_interest_usd": table}


def describe(spec: VenueSpec | str | Path) -> str:
    """A readable statement of a venue file: rules, dimensions, run-time inputs, sources, assumptions.

    The rule sentences come from the configured engine (``describe()`` of its rules), so the
    text and the numbers always agree.
    """
    if not isinstance(spec, VenueSpec):
        spec = load_venue(spec)
    lines = [f"{spec.name} (v{spec.version}, effective {spec.effective_date}; engine {spec.engine}): {spec.description}",
             f"  scenario dimensions: {', '.join(spec.dimensions)}"]
    if spec.runtime_inputs:
        lines.append("  run-time inputs: " + "; ".join(f"{k} ({v})" for k, v in spec.runtime_inputs.items()))
    if spec.engine in ("isolated", "cross"):
        model = build_model(spec)
        rules = model.rules if spec.engine == "isolated" else model.rules.rules
        for asset, rule in rules.items():
            lines.append(f"  {asset}: {rule.describe()}")
        option_rule = model.option_rule if spec.engine == "isolated" else model.rules.option_rule
        if option_rule is not None:
            lines.append(f"  options: {option_rule.describe()}")
    elif spec.engine == "fhs":
        lines.append("  filtered historical simulation: " + ", ".join(f"{k} {v}" for k, v in spec.parameters.items()))
    else:
        from marginlab.margin.risk_matrix import RiskMatrixModel

        model = build_model(spec)
        if hasattr(model, "describe"):
            lines.append("  " + model.describe())
        elif isinstance(model, RiskMatrixModel):
            lines.append("  " + _describe_risk_matrix(model))
    for s in spec.sources:
        lines.append(f"  source: {s.cite()}")
    for key, why in spec.assumed.items():
        lines.append(f"  assumed: {key}: {why}")
    if spec.path is not None:
        lines.append(f"  file: {spec.path}")
    return "\n".join(lines)


def _describe_risk_matrix(model: Any) -> str:
    """A risk-matrix engine's scenarios, shocks, factors and contingencies in one sentence."""
    grid = model.scenarios
    regular = [x for x, f in zip(grid.spot_shock, grid.family) if f == "regular"]
    tail = sorted({round(x - 1.0, 4) for x, f in zip(grid.spot_shock, grid.family) if f not in ("regular", "skew")})
    parts = [f"{len(grid)} scenarios"]
    if regular:
        parts.append(f"spot {100 * (min(regular) - 1):+.1f}%..{100 * (max(regular) - 1):+.1f}% x vol {'/'.join(sorted(set(v for v, f in zip(grid.vol_shock, grid.family) if f == 'regular')))}")
    if tail:
        damp = sorted({d for d, f in zip(grid.dampening, grid.family) if f not in ("regular", "skew")})
        parts.append(f"large moves {', '.join(f'{100 * t:+.0f}%' for t in tail)} at dampening {', '.join(f'{d:g}' for d in damp)}")
    if grid.uses_time or grid.uses_rates:
        parts.append(f"revalued after {grid.horizon_days:g} days, rate shocks {sorted(set(grid.rate_shock))}")
    vs = model.vol_shock
    if vs.up_range or vs.down_range:
        parts.append(f"vol shock up {vs.up_range:g} / down {vs.down_range:g} x ({vs.pivot_days:g}/DTE)^p (p = {vs.short_term_power:g} / {vs.long_term_power:g}), "
                     f"min shocked vol {vs.min_shocked_vol:g}")
    parts.append(f"loss factors MM {model.mm_loss_factor:g} / IM {model.im_loss_factor:g}")
    parts.append(f"contingencies: futures {model.linear_contingency_mm:g} of notional, net short options {model.option_contingency_mm:g} of index")
    return "; ".join(parts)


__all__ = ["Source", "VenueSpec", "build_model", "describe", "grid_from_data", "load_venue", "parse_venue", "read_venue_file",
           "read_runtime_inputs", "venue_dirs", "venue_files", "VENUES_ENV"]
