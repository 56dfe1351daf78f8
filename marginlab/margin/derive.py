"""Derive (ex-Lyra v2) portfolio margin "PMRM v2": preset and test-vector adapter.

Derive's rules are a parameter set of the one risk-matrix engine
(:class:`~marginlab.margin.risk_matrix.RiskMatrixModel`): 23 regular scenarios (spot
0.82..1.18 in 4.5% steps x vol up/none/down), 5-6 dampened tail moves, two skew rotations;
(30/DTE)^p vol shocks with a minimum shocked vol; static discounts of expiry values; a forward
(basis) contingency compared with the scenarios; naked-short option, perpetual, collateral
haircut and oracle-confidence contingencies; a depeg add-on to the IM factor; forwards frozen
in the last 30 minutes; negative rates clamped at zero.

This module only translates Derive's *data* into engine inputs:

* :func:`derive_model` turns a vector's ``Parameters`` group into a configured model;
* :func:`load_case` reads a JSON test vector (``Scenario``/``Parameters``/``Result``) into a
  one-account :class:`~marginlab.margin.risk_matrix.Book` (option vols from the vector's SVI
  feeds, :func:`svi_vol`; collateral in stable-coin units; per-expiry oracle confidences);
* :meth:`DeriveCase.evaluate` runs the engine and reports Derive's result fields
  (``MM``/``IM`` are *free* margins: ``equity - requirement``).

The maths follows ``derive_pmrm_v2/SPEC.md`` (a paraphrase of ``derivexyz/v2-core``
``PMRMLib_2.sol``); sections are cited as ``SPEC §n``.

>>> from marginlab.margin.derive import svi_vol
>>> round(float(svi_vol(100.0, [0.04, 0.1, -0.3, 0.0, 0.2, 100.0, 0.25])), 6)   # sqrt((0.04 + 0.1 * 0.2) / 0.25)
0.489898
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from marginlab.book import OPTION, PERPETUAL, SPOT, STATIC, Book, InstrumentTable
from marginlab.exceptions import FileFormatError, InputError
from marginlab.fileio import load_json, read_text
from marginlab.margin.risk_matrix import BasisContingency, ConfidenceContingency, DepegAddOn, RiskMatrixModel, StaticDiscount
from marginlab.margin.scenarios import ScenarioGrid, SkewShock, VolShock

#: SVI total-variance cap implied by the vectors' ``MarkVol`` (SPEC §3.3).
SVI_VARIANCE_CAP = 20.0
#: Forwards closer than this to settlement only partly move with the spot (SPEC §3.1).
FORWARD_FREEZE_SECONDS = 1800.0
_DIRECTIONS = {"up": "up", "down": "down", "none": "none", "linear": "linear", "abs": "abs"}



def _default_parameters() -> dict[str, Any]:
    """The base-case parameter groups, read from the venue file ``venues/derive-pmrm-v2.yaml``."""
    import copy

    from marginlab.margin.venues import load_venue

    return copy.deepcopy(dict(load_venue("derive-pmrm-v2").parameters))


#: Default parameters: those shared by most public test vectors (83 of the 93 development vectors
#: use exactly this scenario list; parameter groups as in test_16), from ``venues/derive-pmrm-v2.yaml``.
DEFAULT_PARAMETERS: dict[str, Any] = _default_parameters()


def _num(value: Any, field: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise FileFormatError(f"{field}={value!r}: expected a number or a decimal string") from None
    if not math.isfinite(number):
        raise FileFormatError(f"{field}={value!r}: must be finite")
    return number


def _get(mapping: Mapping[str, Any], key: str, where: str) -> Any:
    try:
        return mapping[key]
    except (KeyError, TypeError):
        raise FileFormatError(f"{where}: missing field {key!r}") from None


def svi_vol(strike_usd: ArrayLike, svi: Sequence[float], *, variance_cap: float = SVI_VARIANCE_CAP) -> NDArray[np.float64]:
    """Implied vol from Derive's SVI feed ``[a, b, rho, m, sigma, forward, years]`` (SPEC §3.3).

    ``k = ln(K / forward)`` clipped to ``+-4 sqrt(a + b sigma)``; total variance
    ``w = a + b (rho (k - m) + sqrt((k - m)^2 + sigma^2))`` capped at ``variance_cap``;
    ``vol = sqrt(w / years)``; strike 0 gives vol 0.

    Raises
    ------
    InputError
        When the total variance is negative or the SVI time is not positive.
    """
    a, b, rho, m, sigma, forward, years = (float(v) for v in svi)
    strike = np.asarray(strike_usd, dtype=np.float64)
    if not years > 0:
        raise InputError("SVIparam[6]", years, "SVI time to expiry must be positive")
    bound = 4.0 * math.sqrt(max(a + b * sigma, 0.0))
    with np.errstate(divide="ignore"):
        k = np.clip(np.log(np.where(strike > 0, strike, 1.0) / forward), -bound, bound)
    w = a + b * (rho * (k - m) + np.sqrt((k - m) ** 2 + sigma**2))
    if np.any(w < 0):
        raise InputError("SVIparam", list(svi), f"gives a negative total variance {float(np.min(w))}")
    vol = np.sqrt(np.minimum(w, variance_cap) / years)
    return np.asarray(np.where(strike > 0, vol, 0.0), dtype=np.float64)


def derive_model(parameters: Mapping[str, Any] | None = None, *, collateral_haircuts: Mapping[str, tuple[float, float]] | None = None,
                 name: str = "derive-pmrm-v2") -> RiskMatrixModel:
    """The risk-matrix engine configured with Derive PMRM v2 parameters (a vector's ``Parameters`` group).

    >>> model = derive_model()
    >>> len(model.scenarios), model.mm_loss_factor, model.forward_freeze_seconds
    (31, 0.8, 1800.0)
    """
    p = DEFAULT_PARAMETERS if parameters is None else parameters
    scenarios = _get(p, "Scenarios", "Parameters")
    spot, vol, damp = [], [], []
    for i, s in enumerate(scenarios):
        spot.append(_num(_get(s, "SpotShock", f"Scenarios[{i}]"), f"Scenarios[{i}].SpotShock"))
        direction = str(_get(s, "VolShockDirection", f"Scenarios[{i}]")).lower()
        if direction not in _DIRECTIONS:
            raise FileFormatError(f"Scenarios[{i}].VolShockDirection={direction!r}: expected Up, Down, None, LINEAR or ABS")
        vol.append(_DIRECTIONS[direction])
        damp.append(_num(_get(s, "DampeningFactor", f"Scenarios[{i}]"), f"Scenarios[{i}].DampeningFactor"))
    v = _get(p, "VolShock", "Parameters")
    k = _get(p, "SkewShock", "Parameters")
    m = _get(p, "Margin", "Parameters")
    b = _get(p, "BasisContingency", "Parameters")
    o = _get(p, "OtherContingency", "Parameters")

    def g(group: Mapping[str, Any], key: str, where: str) -> float:
        return _num(_get(group, key, where), f"{where}.{key}")

    return RiskMatrixModel(
        scenarios=ScenarioGrid(tuple(spot), tuple(vol), tuple(damp)),
        vol_shock=VolShock(
            up_range=g(v, "VOLRANGEUP", "VolShock"), down_range=g(v, "VOLRANGEDOWN", "VolShock"),
            short_term_power=g(v, "SHORTTERMPOWER", "VolShock"), long_term_power=g(v, "LONGTERMPOWER", "VolShock"),
            floor_days=g(v, "DTE_FLOOR", "VolShock"), min_shocked_vol=g(v, "MIN_VOL_EVAL_SHOCKED", "VolShock"), pivot_days=30.0,
        ),
        skew_shock=SkewShock(
            linear_cap=g(k, "LINEAR_SCALE_CAP", "SkewShock"), linear_cap_slope=g(k, "LINEAR_CBASE", "SkewShock"),
            abs_cap=g(k, "ABS_SCALE_CAP", "SkewShock"), abs_cap_slope=g(k, "ABS_CBASE", "SkewShock"),
            min_k_star=g(k, "MIN_K_STAR", "SkewShock"), width_scale=g(k, "MIN_WIDTH_SCALE", "SkewShock"),
            vol_param_static=g(k, "VOL_PARAM_STATIC", "SkewShock"), vol_param_scale=g(k, "VOL_PARAM_SCALE", "SkewShock"),
        ),
        static_discount=StaticDiscount(
            long_base=g(m, "BASE_STATIC_DISCOUNT", "Margin"), long_rate_scale=g(m, "LONG_RATE_MULTSCALE", "Margin"),
            long_add=g(m, "LONG_RATE_ADDSCALE", "Margin"), short_base=g(m, "BASE_STATIC_DISCOUNT_NEG", "Margin"),
            short_rate_scale=g(m, "SHORT_RATE_MULTSCALE", "Margin"), short_add=g(m, "SHORT_RATE_ADDSCALE", "Margin"),
        ),
        basis_contingency=BasisContingency(
            up_shock=g(b, "SCENARIO_SPOT_UP", "BasisContingency"), down_shock=g(b, "SCENARIO_SPOT_DOWN", "BasisContingency"),
            add_factor=g(b, "BASIS_CONT_ADD_FACTOR", "BasisContingency"), per_year_factor=g(b, "BASIS_CONT_MULT_FACTOR", "BasisContingency"),
        ),
        mm_loss_factor=g(m, "MM_LOSS_FACTOR", "Margin"),
        im_loss_factor=g(m, "IM_LOSS_FACTOR", "Margin"),
        linear_contingency_mm=g(o, "MM_PERP_PERCENT", "OtherContingency"),
        linear_contingency_im=g(o, "IM_PERP_PERCENT", "OtherContingency"),
        option_contingency_mm=g(o, "MM_OPTION_PERCENT", "OtherContingency"),
        option_contingency_im=g(o, "IM_OPTION_PERCENT", "OtherContingency"),
        collateral_haircuts=dict(collateral_haircuts or {}),
        confidence=ConfidenceContingency(threshold=g(o, "CONF_THRESHOLD", "OtherContingency"), margin=g(o, "CONF_MARGIN", "OtherContingency")),
        depeg=DepegAddOn(threshold=g(o, "PEG_LOSS_THRESHOLD", "OtherContingency"), factor=g(o, "PEG_LOSS_FACTOR", "OtherContingency")),
        forward_freeze_seconds=FORWARD_FREEZE_SECONDS,
        clamp_negative_rates=True,
        preset_name=name,
    )


@dataclass(frozen=True)
class DeriveCase:
    """One Derive PMRM v2 test vector translated into engine inputs.

    Attributes
    ----------
    file : str
    book : Book
        One account: options (one instrument per expiry/strike/type), the perpetual,
        collateral (risk-cancelling collateral moves with the spot; the rest is static).
    model : RiskMatrixModel
        :func:`derive_model` of the vector's parameters and collateral haircuts.
    expected : dict
        The vector's ``Result`` group.
    option_rows : ndarray
        Instrument row of each JSON option (in file order).
    expiry_seconds : tuple of float
        Expiries in order of first appearance in ``Options``.
    """

    file: str
    book: Book
    model: RiskMatrixModel
    expected: dict[str, Any]
    option_rows: NDArray[np.int64]
    expiry_seconds: tuple[float, ...]

    def evaluate(self) -> dict[str, Any]:
        """Run the engine and report Derive's result fields.

        Returns a dict with ``mm``, ``im`` (free margins), ``maintenance_margin_usd``,
        ``initial_margin_usd``, ``equity_usd``, ``scenario_pnl`` (one per scenario, in order),
        ``families``, ``forward_contingency``, ``option_mtm``, ``option_mtm_per_expiry``,
        ``discount_factors``, ``mm_option_cont``, ``im_option_cont``, ``mm_perp_cont``,
        ``im_perp_cont``, ``mm_base_cont``, ``im_base_cont``, ``oracle_cont``,
        ``im_loss_factor``, ``worst_scenario`` (index; ``n_scenarios`` = basis contingency) and
        ``worst_family``.
        """
        model = self.model
        out = model.evaluate_book_account(self.book, 0)
        prep = out["prepared"]
        grid = model.scenarios
        instruments = self.book.instruments
        maintenance = float(out["maintenance"][0])
        initial = float(out["initial"][0])
        equity = float(out["equity"][0])
        groups = out["b_group"]
        mtm_by_seconds: dict[float, float] = {}
        discounts: dict[float, tuple[float, float]] = {}
        for b, group in enumerate(groups):
            if prep.group_is_option[group]:
                seconds = float(instruments.seconds[np.argmax(prep.group == group)])
                mtm_by_seconds[seconds] = float(out["base_b"][b])
                discounts[seconds] = (float(prep.group_long[group]), float(prep.group_short[group]))
        worst = int(out["worst"][0]) if out["worst"][0] >= 0 else len(grid)
        families = grid.family
        sl = out["positions"]
        inst = self.book.instrument[sl]
        kind = instruments.kind[inst]
        qty = self.book.quantity[sl]
        index = instruments.index_usd[inst]
        perp_notional = float(np.sum(np.where(kind == PERPETUAL, np.abs(qty) * index, 0.0)))
        return {
            "file": self.file,
            "mm": equity - maintenance,
            "im": equity - initial,
            "maintenance_margin_usd": maintenance,
            "initial_margin_usd": initial,
            "equity_usd": equity,
            "scenario_pnl": out["pnl"][0].tolist(),
            "families": families,
            "forward_contingency": float(out["basis"][0]),
            "option_mtm": float(sum(mtm_by_seconds.values())),
            "option_mtm_per_expiry": [mtm_by_seconds.get(s, 0.0) for s in self.expiry_seconds],
            "discount_factors": [discounts.get(s, (1.0, 1.0)) for s in self.expiry_seconds],
            "mm_option_cont": -float(out["naked"][0]) * model.option_contingency_mm,
            "im_option_cont": -float(out["naked"][0]) * model.option_contingency_im,
            "mm_perp_cont": -perp_notional * model.linear_contingency_mm,
            "im_perp_cont": -perp_notional * model.linear_contingency_im,
            "mm_base_cont": -float(out["mm_haircut"][0]),
            "im_base_cont": -float(out["im_haircut"][0]),
            "oracle_cont": -float(out["oracle"][0]),
            "im_loss_factor": float(out["im_factor"][0]),
            "worst_scenario": worst,
            "worst_family": "fwd_contingency" if worst == len(grid) else families[worst],
            "vol_up_multiplier": [float(v) for v in model.vol_shock.multipliers(instruments.seconds[self.option_rows])[0]],
            "mark_vol": instruments.vol[self.option_rows].tolist(),
        }


def load_case(path: str | Path) -> DeriveCase:
    """Read a Derive PMRM v2 JSON test vector into a :class:`DeriveCase`.

    Raises
    ------
    FileFormatError
        When the file is not JSON or lacks a field the engine needs.
    """
    path = Path(path)
    try:
        data = load_json(read_text(path, "Derive test vector"), str(path))  # strict: UTF-8, no duplicate keys
    except (OSError, json.JSONDecodeError) as error:
        raise FileFormatError(f"{path}: cannot read a JSON test vector ({error})") from None
    return case_from_dict(data, file=path.name)


def case_from_dict(data: Mapping[str, Any], file: str = "<dict>") -> DeriveCase:
    """:func:`load_case` for an already-parsed vector."""
    s = _get(data, "Scenario", file)
    parameters = _get(data, "Parameters", file)
    spot = _num(_get(s, "SpotPrice", "Scenario"), "Scenario.SpotPrice")
    spot_conf = _num(_get(s, "SpotConfidence", "Scenario"), "Scenario.SpotConfidence")
    perps = _num(s.get("NumPerps", 0.0), "Scenario.NumPerps")
    stable = _num(_get(s, "StablePrice", "Scenario"), "Scenario.StablePrice")
    if stable <= 0:
        raise InputError("Scenario.StablePrice", stable, "must be positive")
    portfolio_conf = spot_conf
    if perps != 0:
        portfolio_conf = min(portfolio_conf, _num(_get(s, "PerpConfidence", "Scenario"), "Scenario.PerpConfidence"))
    feeds: dict[float, Mapping[str, Any]] = {}
    for i, feed in enumerate(s.get("OptionFeeds", []) or []):
        feeds[_num(_get(feed, "FeedExpiry", f"OptionFeeds[{i}]"), f"OptionFeeds[{i}].FeedExpiry")] = feed
    symbols: list[str] = []
    kinds: list[int] = []
    price: list[float] = []
    index: list[float] = []
    forward: list[float] = []
    strike: list[float] = []
    seconds: list[float] = []
    vol: list[float] = []
    rate: list[float] = []
    call: list[bool] = []
    conf: list[float] = []
    rows: dict[str, int] = {}
    positions: list[tuple[int, float, float]] = []
    option_rows: list[int] = []
    expiry_order: list[float] = []

    def row(symbol: str, kind: int, p: float, i: float, f: float = math.nan, k: float = math.nan, sec: float = 0.0, v: float = 0.0, r: float = 0.0,
            c: bool = False, cf: float = 1.0) -> int:
        if symbol not in rows:
            rows[symbol] = len(symbols)
            for target, value in zip((symbols, kinds, price, index, forward, strike, seconds, vol, rate, call, conf), (symbol, kind, p, i, f, k, sec, v, r, c, cf)):
                target.append(value)  # type: ignore[attr-defined]
        return rows[symbol]

    for i, option in enumerate(s.get("Options", []) or []):
        where = f"Options[{i}]"
        expiry = _num(_get(option, "Expiry", where), f"{where}.Expiry")
        if expiry < 0:
            raise InputError(f"{where}.Expiry", expiry, "seconds to expiry must be >= 0")
        if expiry not in feeds:
            raise FileFormatError(f"{where}.Expiry={expiry!r}: no OptionFeeds entry with this FeedExpiry")
        if expiry not in expiry_order:
            expiry_order.append(expiry)
        feed = feeds[expiry]
        k = _num(_get(option, "Strike", where), f"{where}.Strike")
        is_call = bool(int(_num(_get(option, "IsCall", where), f"{where}.IsCall")))
        svi = [_num(x, f"OptionFeeds[{expiry}].SVIparam") for x in _get(feed, "SVIparam", f"OptionFeeds[{expiry}]")]
        if len(svi) != 7:
            raise FileFormatError(f"OptionFeeds[{expiry}].SVIparam: expected 7 numbers, got {len(svi)}")
        expiry_conf = min(
            _num(feed.get("ForwardConfidence", 1.0), "ForwardConfidence"), _num(feed.get("RateConfidence", 1.0), "RateConfidence"),
            _num(feed.get("OptionVolConfidences", 1.0), "OptionVolConfidences"), portfolio_conf,
        )
        r_ = row(f"OPTION-{expiry:g}-{k!r}-{'C' if is_call else 'P'}", OPTION, math.nan, spot, _num(_get(feed, "Forward", f"OptionFeeds[{expiry}]"), "Forward"),
                 k, expiry, float(svi_vol(k, svi)), _num(_get(feed, "Rate", f"OptionFeeds[{expiry}]"), "Rate"), is_call, expiry_conf)
        option_rows.append(r_)
        positions.append((r_, _num(_get(option, "Amount", where), f"{where}.Amount"), math.nan))
    if perps != 0:
        r_ = row("PERP", PERPETUAL, _num(_get(s, "PerpPrice", "Scenario"), "Scenario.PerpPrice"), spot, cf=portfolio_conf)
        perp_mtm = _num(s.get("UnrealisedPerpPNL", 0.0), "UnrealisedPerpPNL") + _num(s.get("UnrealisedFunding", 0.0), "UnrealisedFunding")
        positions.append((r_, perps, perp_mtm))
    haircuts: dict[str, tuple[float, float]] = {}
    for i, collateral in enumerate(s.get("Collaterals", []) or []):
        where = f"Collaterals[{i}]"
        name = f"collateral:{_get(collateral, 'Name', where)}"
        value_per_unit = _num(_get(collateral, "Price", where), f"{where}.Price") / stable
        moving = bool(collateral.get("IsRiskCancelling", False))
        c = min(_num(collateral.get("Confidence", 1.0), f"{where}.Confidence"), spot_conf)
        r_ = row(name, SPOT if moving else STATIC, value_per_unit, value_per_unit, cf=c)
        amount = _num(_get(collateral, "Amount", where), f"{where}.Amount")
        positions.append((r_, amount, amount * value_per_unit))
        haircuts[name] = (_num(collateral.get("MMHaircut", 0.0), f"{where}.MMHaircut"), _num(collateral.get("IMHaircut", 0.0), f"{where}.IMHaircut"))
    table = InstrumentTable.build(symbols, kinds, ["BASE"] * len(symbols), price_usd=price, index_usd=index, forward_usd=forward, strike_usd=strike,
                                  seconds=seconds, vol=vol, rate=rate, is_call=call, confidence=conf)
    model = derive_model(parameters, collateral_haircuts=haircuts)
    # option MtM: quantity * unit value (undiscounted by the static discount) from the engine's own kernel
    from marginlab.book import revalue_instruments

    unit = revalue_instruments(table, np.ones(1), np.ones(1), forward_freeze_seconds=FORWARD_FREEZE_SECONDS, clamp_negative_rates=True)[:, 0]
    inst = np.asarray([p[0] for p in positions], dtype=np.int64)
    qty = np.asarray([p[1] for p in positions], dtype=np.float64)
    mtm = np.asarray([p[2] for p in positions], dtype=np.float64)
    mtm = np.where(np.isnan(mtm), qty * unit[inst] if len(inst) else mtm, mtm)
    book = Book.build(table, np.zeros(len(inst), dtype=np.int64), inst, qty, mtm_usd=mtm, cash_usd=[_num(s.get("Cash", 0.0), "Scenario.Cash")],
                      stable_price=[stable], account_ids=[file], n_accounts=1)
    return DeriveCase(file, book, model, dict(data.get("Result", {})), np.asarray(option_rows, dtype=np.int64), tuple(expiry_order))


def book_from_cases(cases: Sequence[DeriveCase]) -> tuple[Book, RiskMatrixModel]:
    """One many-account book of Derive cases that share their parameters, and its model.

    Each case becomes one account; its instruments get their own underlying name
    (``BASE<i>``, so every account keeps its own market) and collateral names are made
    unique per case so that their haircuts stay case-specific.

    Raises
    ------
    ParameterError
        When the cases do not share the same ``Parameters`` (apart from collateral haircuts).
    """
    from dataclasses import replace

    from marginlab.exceptions import ParameterError

    if not cases:
        raise ParameterError("cases", [], "needs at least one case")
    reference = replace(cases[0].model, collateral_haircuts={})
    columns: dict[str, list[Any]] = {k: [] for k in ("symbol", "kind", "asset", "price", "index", "forward", "strike", "seconds", "vol", "rate", "call", "conf")}
    account, instrument, quantity, mtm, cash, stable, ids = [], [], [], [], [], [], []
    haircuts: dict[str, tuple[float, float]] = {}
    offset = 0
    for i, case in enumerate(cases):
        if replace(case.model, collateral_haircuts={}) != reference:
            raise ParameterError(f"cases[{i}]", case.file, "has different parameters from cases[0]; margin it separately")
        table = case.book.instruments
        symbols = [f"{s}@{i}" if s.startswith("collateral:") else s for s in table.symbol]
        for s_old, s_new in zip(table.symbol, symbols):
            if s_old in case.model.collateral_haircuts:
                haircuts[s_new] = case.model.collateral_haircuts[s_old]
        columns["symbol"] += symbols
        columns["kind"] += table.kind.tolist()
        columns["asset"] += [f"BASE{i}"] * len(table)
        for key, values in (("price", table.price_usd), ("index", table.index_usd), ("forward", table.forward_usd), ("strike", table.strike_usd),
                            ("seconds", table.seconds), ("vol", table.vol), ("rate", table.rate), ("call", table.is_call), ("conf", table.confidence)):
            columns[key] += values.tolist()
        account += [i] * len(case.book)
        instrument += (case.book.instrument + offset).tolist()
        quantity += case.book.quantity.tolist()
        mtm += case.book.mtm_usd.tolist()
        cash.append(float(case.book.cash_usd[0]))
        stable.append(float(case.book.stable_price[0]))
        ids.append(case.file)
        offset += len(table)
    table = InstrumentTable.build(columns["symbol"], columns["kind"], columns["asset"], price_usd=columns["price"], index_usd=columns["index"],
                                  forward_usd=columns["forward"], strike_usd=columns["strike"], seconds=columns["seconds"], vol=columns["vol"],
                                  rate=columns["rate"], is_call=columns["call"], confidence=columns["conf"])
    book = Book.build(table, account, instrument, quantity, mtm_usd=mtm, cash_usd=cash, stable_price=stable, account_ids=ids)
    return book, replace(reference, collateral_haircuts=haircuts)
