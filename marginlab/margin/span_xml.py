"""Published SPAN risk parameters: the SPAN XML risk-parameter file (``.spn``) and a simple CSV/YAML.

Clearing houses (CME, NSE and others) publish their SPAN parameters daily in the standard XML
format. :func:`read_spn` reads the subset a futures-and-options portfolio needs:

``spanFile/pointInTime/clearingOrg``
    ``exchange/futPf`` (futures product families: ``pfCode``, ``fut`` with ``cId``, period ``pe``,
    settlement ``p``, delta ``d`` and risk array ``ra``), ``exchange/oofPf`` and ``oopPf`` (options on
    futures / on physicals: ``series`` with ``pe`` and ``opt`` rows ``cId``, ``o`` (C/P), strike
    ``k``, ``p``, ``ra``); a risk array ``ra`` holds 16 values ``a`` and the composite delta ``d``.
    ``ccDef`` (combined commodities: ``cc``, ``pfLink/pfCode`` linking product families, intra-
    commodity tiers ``intraTiers/tier`` (``tn``, start/end periods ``sPe``/``ePe``), short option
    minimum ``somTiers/tier/rate/val``, intra-commodity spreads ``dSpread`` with ``rate/val`` (charge
    per spread) and tier legs ``tLeg`` (``tn``, side ``rs`` = A/B, delta ratio ``i``), optional
    ``scanRate`` (``priceScan``, ``volScan``)), and ``interSpreads/dSpread`` (inter-commodity
    spreads: credit ``rate/val`` in percent, legs ``pLeg`` with ``cc``, ``rs``, ``i``).

Field names follow CME's SPAN risk-parameter file layouts (CME Group, "the SPAN pages" /
pubspan wiki, https://cmegroupclientsite.atlassian.net/wiki/spaces/pubspan, retrieved 2026-12-01:
record types for combined commodities, intra-commodity spread charges, inter-commodity spreads,
risk arrays); the XML element names (``ccDef``, ``pfLink``, ``dSpread``, ``tLeg``, ``pLeg``, ``ra``
with ``r``/``a``/``d``...) were cross-checked against public parsers of NSE ``.spn`` files (PC-SPAN
4.00 XML). Tests build files from these definitions; no real exchange file was available here.
Elements outside this subset (delivery charges, currency conversion, option-on-combination
families...) are ignored.

**Sign convention and weighting.** As in SPAN files, a risk-array value is the *loss* of one
long contract in the scenario (positive = loss, negative = gain), in the product's currency per
contract, and the two extreme scenarios (15, 16) are *already weighted* by the cover fraction
(35% or 30%). Scenario order is SPAN's (see :func:`marginlab.margin.span.span_grid`).

The simple formats carry the same content:

CSV (one row per contract; loss convention, extremes already weighted)::

    contract,combined_commodity,kind,period,option_type,strike,delta,a1,a2,...,a16
    ESH5,ES,future,20250321,,,1.0,0,0,-3330,...

YAML::

    format: marginlab-risk-arrays/1
    sign: loss                 # loss (+ = loss, SPAN) or pnl (+ = gain); pnl is negated on reading
    extremes_weighted: true    # false: a15, a16 are full losses and are multiplied by extreme_cover
    extreme_cover: 0.35
    combined_commodities:      # optional: short option minimum per contract, tiers, spreads
      ES: {short_option_minimum: 100}
    contracts:
      - {id: ESH5, combined_commodity: ES, kind: future, period: "20250321", delta: 1.0, risk_array: [16 values]}

>>> params = risk_parameters_from_dict({"format": "marginlab-risk-arrays/1", "contracts": [
...     {"id": "F1", "combined_commodity": "SP", "kind": "future", "period": "20250321", "delta": 1.0,
...      "risk_array": [0, 0, -3330, -3330, 3330, 3330, -6670, -6670, 6670, 6670, -10000, -10000, 10000, 10000, -7000, 7000]}]})
>>> params.contracts["F1"].loss[12]
10000.0
"""

from __future__ import annotations

import csv
import math
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from marginlab.exceptions import FileFormatError
from marginlab.fileio import load_yaml

N_SCENARIOS = 16
RISK_ARRAY_FORMAT = "marginlab-risk-arrays/1"


@dataclass(frozen=True)
class PublishedContract:
    """One contract with its published risk array (loss per long contract, extremes weighted)."""

    contract_id: str
    combined_commodity: str
    kind: Literal["future", "option"]
    period: str
    loss: tuple[float, ...]
    delta: float = 1.0
    option_type: Literal["call", "put"] | None = None
    strike: float | None = None
    price: float | None = None
    product: str = ""

    def __post_init__(self) -> None:
        if len(self.loss) != N_SCENARIOS or not all(math.isfinite(v) for v in self.loss):
            raise FileFormatError(f"risk array of {self.contract_id}: needs {N_SCENARIOS} finite values, got {list(self.loss)}")
        if not math.isfinite(self.delta):
            raise FileFormatError(f"delta of {self.contract_id}={self.delta!r}: must be finite")
        if self.kind == "option" and self.option_type not in ("call", "put"):
            raise FileFormatError(f"option_type of {self.contract_id}={self.option_type!r}: expected call or put")

    @property
    def key(self) -> tuple[str, str, str | None, float | None]:
        """(combined commodity, period, option type, strike) -- how an account instrument is matched."""
        return (self.combined_commodity, self.period, self.option_type, None if self.strike is None else float(self.strike))


@dataclass(frozen=True)
class IntraSpread:
    """An intra-commodity spread: ``charge`` per spread, legs ``(tier, side, delta ratio)``."""

    priority: int
    charge: float
    legs: tuple[tuple[int, str, float], ...]


@dataclass(frozen=True)
class InterSpreadDef:
    """An inter-commodity spread: ``credit_rate`` (fraction), legs ``(combined commodity, side, delta ratio)``."""

    priority: int
    credit_rate: float
    legs: tuple[tuple[str, str, float], ...]


@dataclass(frozen=True)
class CombinedCommodityDef:
    """Parameters of one combined commodity."""

    code: str
    short_option_minimum: float = 0.0
    intra_tiers: tuple[tuple[int, str, str], ...] = ()
    intra_spreads: tuple[IntraSpread, ...] = ()
    price_scan: float | None = None
    vol_scan: float | None = None

    def tier_of(self, period: str) -> int | None:
        """The intra-commodity tier whose period range holds ``period`` (periods compare as YYYYMM[DD] text)."""
        for tn, start, end in self.intra_tiers:
            if start[:6] <= period[:6] <= end[:6]:
                return tn
        return None


@dataclass(frozen=True)
class SpanRiskParameters:
    """Published contracts, combined commodities and inter-commodity spreads of one file."""

    contracts: Mapping[str, PublishedContract]
    combined: Mapping[str, CombinedCommodityDef] = field(default_factory=dict)
    inter_spreads: tuple[InterSpreadDef, ...] = ()
    business_date: str = ""
    source: str = ""

    def by_key(self) -> dict[tuple[str, str, str | None, float | None], PublishedContract]:
        out: dict[tuple[str, str, str | None, float | None], PublishedContract] = {}
        for c in self.contracts.values():
            out[c.key] = c
            out[(c.combined_commodity, c.period[:6], c.option_type, c.key[3])] = c
        return out

    def commodity(self, code: str) -> CombinedCommodityDef:
        return self.combined.get(code, CombinedCommodityDef(code))


# --------------------------------------------------------------------------- XML (.spn)
def _child_text(node: ET.Element, tag: str, where: str, default: str | None = None) -> str:
    child = node.find(tag)
    if child is None or child.text is None:
        if default is not None:
            return default
        raise FileFormatError(f"{where}: missing <{tag}>")
    return child.text.strip()


def _num(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise FileFormatError(f"{where}={text!r}: expected a number") from None
    if not math.isfinite(value):
        raise FileFormatError(f"{where}={text!r}: must be finite")
    return value


def _risk_array(node: ET.Element, where: str) -> tuple[tuple[float, ...], float | None]:
    ra = node.find("ra")
    if ra is None:
        raise FileFormatError(f"{where}: missing risk array <ra>")
    values = tuple(_num(a.text or "", f"{where}/ra/a[{i}]") for i, a in enumerate(ra.findall("a")))
    if len(values) != N_SCENARIOS:
        raise FileFormatError(f"{where}/ra: {len(values)} <a> values, expected {N_SCENARIOS}")
    delta = ra.find("d")
    return values, (None if delta is None or delta.text is None else _num(delta.text, f"{where}/ra/d"))


def read_spn(path: str | Path) -> SpanRiskParameters:
    """Read a SPAN XML risk-parameter file (the subset described in the module docstring)."""
    file = Path(path)
    try:
        root = ET.parse(file).getroot()
    except OSError as exc:
        raise FileFormatError(f"{file}: cannot read ({exc.strerror})") from None
    except ET.ParseError as exc:
        raise FileFormatError(f"{file}: not valid XML ({exc})") from None
    return spn_from_element(root, str(file))


def spn_from_element(root: ET.Element, where: str = "<spn>") -> SpanRiskParameters:
    """Parse an already-read ``<spanFile>`` element."""
    if root.tag != "spanFile":
        raise FileFormatError(f"{where}: root element <{root.tag}>, expected <spanFile>")
    point = root.find("pointInTime")
    if point is None:
        raise FileFormatError(f"{where}: missing <pointInTime>")
    date = _child_text(point, "date", f"{where}/pointInTime", "")
    contracts: dict[str, PublishedContract] = {}
    combined: dict[str, CombinedCommodityDef] = {}
    inter: list[InterSpreadDef] = []
    for org in point.findall("clearingOrg"):
        # product family -> combined commodity, from ccDef/pfLink
        family_cc: dict[str, str] = {}
        for cc in org.findall("ccDef"):
            code = _child_text(cc, "cc", f"{where}/ccDef")
            for link in cc.findall("pfLink"):
                family_cc[_child_text(link, "pfCode", f"{where}/ccDef[{code}]/pfLink")] = code
            combined[code] = _combined(cc, code, f"{where}/ccDef[{code}]")
        for exchange in org.findall("exchange"):
            for pf in exchange.findall("futPf"):
                pf_code = _child_text(pf, "pfCode", f"{where}/futPf")
                cc_code = family_cc.get(pf_code, pf_code)
                for fut in pf.findall("fut"):
                    w = f"{where}/futPf[{pf_code}]/fut"
                    period = _child_text(fut, "pe", w)
                    cid = _child_text(fut, "cId", w, f"{pf_code} {period}")
                    loss, ra_delta = _risk_array(fut, f"{w}[{cid}]")
                    delta = ra_delta if ra_delta is not None else _num(_child_text(fut, "d", w, "1"), f"{w}[{cid}]/d")
                    price = fut.find("p")
                    contracts[cid] = PublishedContract(cid, cc_code, "future", period, loss, delta, None, None,
                                                       None if price is None or price.text is None else _num(price.text, f"{w}[{cid}]/p"), pf_code)
            for tag in ("oofPf", "oopPf"):
                for pf in exchange.findall(tag):
                    pf_code = _child_text(pf, "pfCode", f"{where}/{tag}")
                    cc_code = family_cc.get(pf_code, pf_code)
                    for series in pf.findall("series"):
                        period = _child_text(series, "pe", f"{where}/{tag}[{pf_code}]/series")
                        for opt in series.findall("opt"):
                            w = f"{where}/{tag}[{pf_code}]/series[{period}]/opt"
                            right = _child_text(opt, "o", w).upper()
                            if right not in ("C", "P"):
                                raise FileFormatError(f"{w}/o={right!r}: expected C or P")
                            strike = _num(_child_text(opt, "k", w), f"{w}/k")
                            cid = _child_text(opt, "cId", w, f"{pf_code} {period} {right} {strike:g}")
                            loss, ra_delta = _risk_array(opt, f"{w}[{cid}]")
                            delta = ra_delta if ra_delta is not None else _num(_child_text(opt, "d", w, "0"), f"{w}[{cid}]/d")
                            price = opt.find("p")
                            contracts[cid] = PublishedContract(cid, cc_code, "option", period, loss, delta, "call" if right == "C" else "put", strike,
                                                               None if price is None or price.text is None else _num(price.text, f"{w}[{cid}]/p"), pf_code)
        spreads = org.find("interSpreads")
        for i, ds in enumerate(spreads.findall("dSpread") if spreads is not None else ()):
            w = f"{where}/interSpreads/dSpread[{i}]"
            rate = _num(_child_text(ds, "rate/val", w), f"{w}/rate/val") / 100.0
            legs = tuple((_child_text(leg, "cc", w), _child_text(leg, "rs", w, "A"), _num(_child_text(leg, "i", w, "1"), f"{w}/pLeg/i"))
                         for leg in ds.findall("pLeg"))
            if len(legs) < 2 or not 0 <= rate <= 1:
                raise FileFormatError(f"{w}: needs two or more <pLeg> and a credit rate in [0, 100] percent")
            inter.append(InterSpreadDef(int(_num(_child_text(ds, "spread", w, str(i + 1)), f"{w}/spread")), rate, legs))
    if not contracts:
        raise FileFormatError(f"{where}: no futures or options with risk arrays found")
    return SpanRiskParameters(contracts, combined, tuple(sorted(inter, key=lambda s: s.priority)), date, where)


def _combined(cc: ET.Element, code: str, where: str) -> CombinedCommodityDef:
    tiers = []
    intra = cc.find("intraTiers")
    for tier in intra.findall("tier") if intra is not None else ():
        tiers.append((int(_num(_child_text(tier, "tn", where), f"{where}/intraTiers/tier/tn")), _child_text(tier, "sPe", where, "000000"),
                      _child_text(tier, "ePe", where, "999999")))
    som = 0.0
    som_tiers = cc.find("somTiers")
    if som_tiers is not None:
        first = som_tiers.find("tier/rate/val")
        if first is not None and first.text is not None:
            som = _num(first.text, f"{where}/somTiers/tier/rate/val")
    spreads = []
    for i, ds in enumerate(cc.findall("dSpread")):
        w = f"{where}/dSpread[{i}]"
        legs = tuple((int(_num(_child_text(leg, "tn", w), f"{w}/tLeg/tn")), _child_text(leg, "rs", w, "A"), _num(_child_text(leg, "i", w, "1"), f"{w}/tLeg/i"))
                     for leg in ds.findall("tLeg"))
        if len(legs) < 2:
            raise FileFormatError(f"{w}: an intra-commodity spread needs two or more <tLeg>")
        spreads.append(IntraSpread(int(_num(_child_text(ds, "spread", w, str(i + 1)), f"{w}/spread")), _num(_child_text(ds, "rate/val", w), f"{w}/rate/val"), legs))
    scan = cc.find(".//scanRate")
    price_scan = vol_scan = None
    if scan is not None:
        if scan.find("priceScan") is not None:
            price_scan = _num(_child_text(scan, "priceScan", where), f"{where}/scanRate/priceScan")
        if scan.find("volScan") is not None:
            vol_scan = _num(_child_text(scan, "volScan", where), f"{where}/scanRate/volScan")
    return CombinedCommodityDef(code, som, tuple(tiers), tuple(sorted(spreads, key=lambda s: s.priority)), price_scan, vol_scan)


# --------------------------------------------------------------------------- CSV / YAML
def _contract_from_row(row: Mapping[str, Any], where: str, *, sign: str = "loss", weighted: bool = True, cover: float | None = None) -> PublishedContract:
    cid = str(row.get("id") or row.get("contract") or "").strip()
    if not cid:
        raise FileFormatError(f"{where}: missing contract id")
    if "risk_array" in row:
        raw = row["risk_array"]
        if not isinstance(raw, Sequence) or isinstance(raw, str):
            raise FileFormatError(f"{where}[{cid}].risk_array: expected a list of {N_SCENARIOS} numbers")
        values = [_num(str(v), f"{where}[{cid}].risk_array[{i}]") for i, v in enumerate(raw)]
    else:
        values = [_num(str(row.get(f"a{i}", "")), f"{where}[{cid}].a{i}") for i in range(1, N_SCENARIOS + 1)]
    if len(values) != N_SCENARIOS:
        raise FileFormatError(f"{where}[{cid}].risk_array: {len(values)} values, expected {N_SCENARIOS}")
    if sign == "pnl":
        values = [-v for v in values]
    elif sign != "loss":
        raise FileFormatError(f"{where}: sign={sign!r}: expected loss or pnl")
    if not weighted:
        if cover is None or not 0 <= cover <= 1:
            raise FileFormatError(f"{where}: extremes_weighted is false, so extreme_cover in [0, 1] is required (got {cover!r})")
        values[14] *= cover
        values[15] *= cover
    kind = str(row.get("kind", "future")).strip().lower()
    if kind not in ("future", "option"):
        raise FileFormatError(f"{where}[{cid}].kind={kind!r}: expected future or option")
    option_type = str(row.get("option_type") or "").strip().lower() or None
    option_type = {"c": "call", "p": "put"}.get(option_type or "", option_type)
    strike = row.get("strike")
    strike_value = None if strike in (None, "") else _num(str(strike), f"{where}[{cid}].strike")
    cc = str(row.get("combined_commodity") or "").strip()
    if not cc:
        raise FileFormatError(f"{where}[{cid}]: missing combined_commodity")
    delta = row.get("delta")
    return PublishedContract(cid, cc, kind, str(row.get("period") or "").strip(), tuple(values),  # type: ignore[arg-type]
                             1.0 if delta in (None, "") else _num(str(delta), f"{where}[{cid}].delta"),
                             option_type if kind == "option" else None, strike_value if kind == "option" else None)  # type: ignore[arg-type]


def risk_parameters_from_dict(data: Mapping[str, Any], where: str = "<dict>") -> SpanRiskParameters:
    """Parse the YAML risk-array format (see the module docstring)."""
    if not isinstance(data, Mapping) or data.get("format") != RISK_ARRAY_FORMAT:
        raise FileFormatError(f"{where}: format={data.get('format') if isinstance(data, Mapping) else data!r}: expected {RISK_ARRAY_FORMAT!r}")
    sign = str(data.get("sign", "loss"))
    weighted = bool(data.get("extremes_weighted", True))
    cover = data.get("extreme_cover")
    rows = data.get("contracts")
    if not isinstance(rows, Sequence) or not rows:
        raise FileFormatError(f"{where}: contracts: expected a non-empty list")
    contracts = {}
    for i, row in enumerate(rows):
        c = _contract_from_row(row, f"{where}.contracts[{i}]", sign=sign, weighted=weighted, cover=None if cover is None else float(cover))
        contracts[c.contract_id] = c
    combined = {}
    for code, cc in (data.get("combined_commodities") or {}).items():
        w = f"{where}.combined_commodities.{code}"
        tiers = tuple((int(t[0]), str(t[1]), str(t[2])) for t in cc.get("intra_tiers", ()))
        spreads = tuple(IntraSpread(i + 1, _num(str(s["charge"]), f"{w}.intra_spreads[{i}].charge"), tuple((int(a), str(b), float(c)) for a, b, c in s["legs"]))
                        for i, s in enumerate(cc.get("intra_spreads", ())))
        combined[str(code)] = CombinedCommodityDef(str(code), _num(str(cc.get("short_option_minimum", 0.0)), f"{w}.short_option_minimum"), tiers, spreads)
    inter = tuple(InterSpreadDef(i + 1, _num(str(s["credit_rate"]), f"{where}.inter_spreads[{i}].credit_rate"), tuple((str(a), str(b), float(c)) for a, b, c in s["legs"]))
                  for i, s in enumerate(data.get("inter_spreads", ())))
    return SpanRiskParameters(contracts, combined, inter, str(data.get("business_date", "")), where)


def read_risk_arrays(path: str | Path) -> SpanRiskParameters:
    """Read risk arrays from ``.spn`` (SPAN XML), ``.csv`` or ``.yaml``/``.yml`` (see the module docstring)."""
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix in (".spn", ".xml"):
        return read_spn(file)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise FileFormatError(f"{file}: cannot read ({exc.strerror})") from None
    if suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        required = {"contract", "combined_commodity", *(f"a{i}" for i in range(1, N_SCENARIOS + 1))}
        missing = required - set(reader.fieldnames or ())
        if missing:
            raise FileFormatError(f"{file}: missing columns {sorted(missing)}")
        contracts = {}
        for i, row in enumerate(reader):
            c = _contract_from_row(row, f"{file}:row {i + 2}")
            contracts[c.contract_id] = c
        if not contracts:
            raise FileFormatError(f"{file}: no contracts")
        return SpanRiskParameters(contracts, source=str(file))
    if suffix in (".yaml", ".yml"):
        return risk_parameters_from_dict(load_yaml(text, str(file)), str(file))
    raise FileFormatError(f"{file}: unknown risk-array file type {suffix!r} (expected .spn, .xml, .csv, .yaml)")
