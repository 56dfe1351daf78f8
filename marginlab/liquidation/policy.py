"""The liquidation policy: thresholds, costs and the mechanism chosen at each stage, as frozen typed data.

:class:`LiquidationPolicy` configures every stage of the engine (:mod:`marginlab.liquidation.driver`):

=================================  =====================================================
margin ratio ``r``                 action (:meth:`LiquidationPolicy.classify`)
=================================  =====================================================
``r > warning_ratio`` (1.5)        none
``(reduce_only_ratio, warning]``   ``warning`` (margin call, 1.2-1.5)
``(liquidation_ratio, reduce]``    ``reduce_only`` (1.05-1.2)
``(full_ratio, liquidation]``      ``partial_liquidation`` (at or below 1.05)
``r <= full_liquidation_ratio``    ``full_liquidation`` (at or below 2/3: E1 backstop)
=================================  =====================================================

A boundary belongs to the riskier band (Binance's published unified-account ladder,
:func:`marginlab.collateral.ladder_band`: a ratio of exactly 1.2 is ``reduce_only``), the same
classification as the margin result's :class:`~marginlab.collateral.ActionLadder`.

The mechanism of a stage is a ``Literal`` field (one name per choice) that selects its stage function:
``close_rule`` (how much of which position a partial step closes, :data:`marginlab.liquidation.ladder.CLOSE_RULES`)
and ``adl_ranking`` (the ADL queue, :data:`marginlab.liquidation.writeoff.ADL_RANKINGS`); the write-off stages run
fund -> ADL -> socialised loss -> bad debt, each switched by its flag.

Per-preset policies are data (``policies.yaml`` next to this module: source, effective date, assumed values),
read by :func:`liquidation_policy_for`.

>>> policy = LiquidationPolicy()
>>> [policy.classify(r) for r in (2.0, 1.5, 1.3, 1.2, 1.1, 1.05, 1.0, 0.5)]
['none', 'warning', 'warning', 'reduce_only', 'reduce_only', 'partial_liquidation', 'partial_liquidation', 'full_liquidation']
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, get_args

from marginlab.collateral import ladder_band
from marginlab.exceptions import ParameterError
from marginlab.fileio import read_mapping

#: Actions of the ladder, from the mildest to the most severe (index = band of :func:`~marginlab.collateral.ladder_band`).
LADDER_ACTIONS = ("none", "warning", "reduce_only", "partial_liquidation", "full_liquidation")

#: How a partial step chooses what to close: ``riskiest-partial`` closes ``partial_fraction`` of the position whose
#: close releases the most maintenance margin per USD of notional closed.
CloseRule = Literal["riskiest-partial"]
#: How the ADL queue is ranked: ``pnl-x-leverage`` (Binance / BitMEX: profit % x effective leverage).
AdlRanking = Literal["pnl-x-leverage"]

#: The per-preset policy file.
POLICIES_PATH = Path(__file__).with_name("policies.yaml")


@dataclass(frozen=True)
class LiquidationPolicy:
    """Thresholds, costs and mechanisms of the liquidation engine.

    Parameters
    ----------
    warning_ratio : float
        At or below this margin ratio the account gets a margin call (F: 150%).
    reduce_only_ratio : float
        At or below this it may only reduce risk (F: 120%).
    liquidation_ratio : float
        At or below this it is partially liquidated (F: 105%).
    full_liquidation_ratio : float
        At or below this every position is closed at once (E1: 2/3 of maintenance).
    target_ratio : float
        Partial liquidation stops once the ratio is at or above this.
    fee_rate : float
        Liquidation fee, a fraction of the closed notional, paid to the insurance fund.
    partial_fraction : float
        Fraction of one position closed per partial step (E1: 20%).
    max_steps : int
        Partial steps before the remainder is closed in full.
    slippage_rate : float
        Execution cost, a fraction of the closed notional, lost to the market.
    min_close_notional_usd : float
        A partial close that would leave less than this notional closes the whole position.
    liquidator_share : float
        Fraction of each liquidation fee paid to the liquidator (keeper bonus); the rest goes to
        the insurance fund. The trader pays the whole fee either way.
    use_insurance_fund : bool
        Whether the insurance fund pays deficits (``False``: deficits go straight to ADL).
    auto_deleverage : bool
        Whether what the fund cannot pay is recovered by ADL.
    socialised_loss : bool
        Whether what ADL cannot recover is charged to every account with positive market equity,
        pro rata to that equity and at most all of it, before anything is left as bad debt.
    close_rule : {"riskiest-partial"}
        The close-amount stage (:data:`marginlab.liquidation.ladder.CLOSE_RULES`).
    adl_ranking : {"pnl-x-leverage"}
        The ADL queue's ranking (:data:`marginlab.liquidation.writeoff.ADL_RANKINGS`).
    """

    warning_ratio: float = 1.5
    reduce_only_ratio: float = 1.2
    liquidation_ratio: float = 1.05
    full_liquidation_ratio: float = 2.0 / 3.0
    target_ratio: float = 1.25
    fee_rate: float = 0.005
    partial_fraction: float = 0.2
    max_steps: int = 20
    slippage_rate: float = 0.0
    min_close_notional_usd: float = 100.0
    liquidator_share: float = 0.0
    use_insurance_fund: bool = True
    auto_deleverage: bool = True
    socialised_loss: bool = False
    close_rule: CloseRule = "riskiest-partial"
    adl_ranking: AdlRanking = "pnl-x-leverage"

    def __post_init__(self) -> None:
        for name in ("warning_ratio", "reduce_only_ratio", "liquidation_ratio", "full_liquidation_ratio", "target_ratio"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
                raise ParameterError(name, value, "must be a non-negative finite margin ratio")
        if not self.full_liquidation_ratio < self.liquidation_ratio <= self.reduce_only_ratio <= self.warning_ratio:
            raise ParameterError(
                "ladder",
                (self.full_liquidation_ratio, self.liquidation_ratio, self.reduce_only_ratio, self.warning_ratio),
                "needs full_liquidation_ratio < liquidation_ratio <= reduce_only_ratio <= warning_ratio",
            )
        if self.target_ratio < self.liquidation_ratio:
            raise ParameterError("target_ratio", self.target_ratio, f"must be at least liquidation_ratio={self.liquidation_ratio}")
        for name in ("fee_rate", "slippage_rate"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or not 0 <= value < 1:
                raise ParameterError(name, value, "must be a fraction in [0, 1)")
        if not isinstance(self.partial_fraction, int | float) or not 0 < self.partial_fraction <= 1:
            raise ParameterError("partial_fraction", self.partial_fraction, "must be in (0, 1]")
        if not isinstance(self.max_steps, int) or isinstance(self.max_steps, bool) or self.max_steps < 0:
            raise ParameterError("max_steps", self.max_steps, "must be a non-negative integer")
        if not isinstance(self.min_close_notional_usd, int | float) or not math.isfinite(self.min_close_notional_usd) or self.min_close_notional_usd < 0:
            raise ParameterError("min_close_notional_usd", self.min_close_notional_usd, "must be a non-negative amount")
        if not isinstance(self.liquidator_share, int | float) or not 0 <= self.liquidator_share <= 1:
            raise ParameterError("liquidator_share", self.liquidator_share, "must be a fraction in [0, 1]")
        for name in ("use_insurance_fund", "auto_deleverage", "socialised_loss"):
            if not isinstance(getattr(self, name), bool):
                raise ParameterError(name, getattr(self, name), "must be true or false")
        for name, options in (("close_rule", get_args(CloseRule)), ("adl_ranking", get_args(AdlRanking))):
            if getattr(self, name) not in options:
                raise ParameterError(name, getattr(self, name), f"must be one of {list(options)}")

    @property
    def thresholds(self) -> tuple[float, float, float, float]:
        """The ladder's band edges, decreasing: warning, reduce-only, liquidation, full liquidation."""
        return (self.warning_ratio, self.reduce_only_ratio, self.liquidation_ratio, self.full_liquidation_ratio)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "liquidation") -> "LiquidationPolicy":
        """A policy from data (a YAML/JSON mapping of field -> value); unknown keys are an error.

        Parameters
        ----------
        data : mapping
            Field -> value.
        source : str
            Where the data comes from (named in errors).

        Returns
        -------
        LiquidationPolicy

        Examples
        --------
        >>> LiquidationPolicy.from_mapping({"fee_rate": 0.01, "liquidator_share": 0.5}).liquidator_share
        0.5
        """
        if not isinstance(data, Mapping):
            raise ParameterError(source, data, "must be a mapping of liquidation-policy fields")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ParameterError(f"{source}.{unknown[0]}", data[unknown[0]], f"is not a liquidation-policy field (known: {sorted(known)})")
        return cls(**dict(data))

    def to_mapping(self) -> dict[str, Any]:
        """The policy as plain data (the inverse of :meth:`from_mapping`).

        Returns
        -------
        dict
        """
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def fund_share(self, fee_usd: float) -> float:
        """Part of a fee that goes to the insurance fund (the rest is the liquidator's).

        Parameters
        ----------
        fee_usd : float

        Returns
        -------
        float
        """
        return fee_usd * (1.0 - self.liquidator_share)

    def classify(self, margin_ratio: float) -> str:
        """The ladder action for ``margin_ratio`` (one of :data:`LADDER_ACTIONS`; a boundary is in the riskier band).

        Parameters
        ----------
        margin_ratio : float
            Equity / maintenance margin (``inf``: nothing required).

        Returns
        -------
        str
        """
        if math.isnan(margin_ratio):
            raise ParameterError("margin_ratio", margin_ratio, "is NaN")
        return LADDER_ACTIONS[ladder_band(float(margin_ratio), self.thresholds)]


@lru_cache(maxsize=1)
def policy_file() -> dict[str, Any]:
    """The per-preset policy file (:data:`POLICIES_PATH`), checked: every preset's values are policy fields.

    Returns
    -------
    dict
        ``version``, ``defaults`` and ``presets`` (each with ``source``, ``effective``, ``values``, ``assumed``).
    """
    data = read_mapping(POLICIES_PATH, "liquidation policy file")
    known = {f.name for f in fields(LiquidationPolicy)}
    for name, entry in {"defaults": data.get("defaults", {}), **data.get("presets", {})}.items():
        for key in ("source", "effective", "values"):
            if key not in entry:
                raise ParameterError(f"{POLICIES_PATH.name}:{name}.{key}", None, "is required")
        bad = sorted(set(entry.get("assumed", [])) - known)
        if bad:
            raise ParameterError(f"{POLICIES_PATH.name}:{name}.assumed", bad[0], "is not a liquidation-policy field")
        LiquidationPolicy.from_mapping({**data["defaults"]["values"], **entry["values"]}, f"{POLICIES_PATH.name}:{name}")
    return data


def liquidation_policy_for(preset: str, **overrides: Any) -> LiquidationPolicy:
    """The :class:`LiquidationPolicy` of ``preset`` from the policy file (its ``defaults`` for presets it does not list).

    Parameters
    ----------
    preset : str
        A preset name (e.g. ``"hyperliquid"``).
    **overrides
        Policy fields that replace the file's values.

    Returns
    -------
    LiquidationPolicy

    Examples
    --------
    >>> liquidation_policy_for("hyperliquid").partial_fraction
    0.2
    >>> liquidation_policy_for("deribit-pm") == LiquidationPolicy()
    True
    >>> liquidation_policy_for("derive-pmrm-v2", fee_rate=0.01).fee_rate
    0.01
    """
    data = policy_file()
    values = {**data["defaults"]["values"], **data["presets"].get(preset, {}).get("values", {}), **overrides}
    return LiquidationPolicy.from_mapping(values, f"liquidation[{preset}]")


def assumed_policy_fields(preset: str) -> tuple[str, ...]:
    """The policy fields of ``preset`` that no source gives (``assumed`` in the policy file).

    Parameters
    ----------
    preset : str

    Returns
    -------
    tuple of str

    Examples
    --------
    >>> "fee_rate" in assumed_policy_fields("binance-unified")
    True
    """
    data = policy_file()
    entry = data["presets"].get(preset)
    own = set(entry.get("assumed", [])) if entry else set()
    given = set(entry["values"]) - own if entry else set()
    return tuple(sorted(own | (set(data["defaults"].get("assumed", [])) - given)))
