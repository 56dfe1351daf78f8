"""Which assumed venue parameters a margin result depends on.

A venue file marks every value that no source gives under ``assumed`` (see
:mod:`marginlab.margin.venues`). An entry is either a sentence (the value is used by every result
of the preset) or a mapping with the sentence and *when* it moves a number::

    assumed:
      parameters.mm_loss_factor: "1: the source gives no scaling"             # always
      parameters.grid.extra[].dampening:
        why: "0.1: the source gives no dampening for the extended table"
        when: {scenario_family: [tail]}       # only when a worst scenario is a large move
      parameters.rules.*:
        why: "other assets 4% / 2%"
        when: {assets_other_than: [BTC, ETH, SOL]}

Conditions (all given must hold, any listed value matches):

``assets``
    the account has a position on one of these underlyings;
``assets_other_than``
    the account has a position on an underlying not in the list;
``scenario_family``
    the worst scenario of a risk unit (``details["scan_risk_by_underlying"]``, else
    ``details["worst_scenario_index"]``) belongs to one of these scenario families;
``component``
    a component whose name contains one of these texts is non-zero (in ``components`` or in
    ``details["breakdown"]``);
``position_kind``
    the account holds a position of one of these kinds (``option``, ``future``, ``perpetual``, ``spot``).

:class:`VenueAssumptions` is what :func:`marginlab.margin.venues.build_model` attaches to a model
(attribute ``venue_assumptions``); every :class:`~marginlab.margin.base.MarginResult` of that
model then lists, in ``assumptions``, the keys whose condition holds for the account. The check
reads only the result and the account, so it costs no extra margin call.

>>> import pandas as pd
>>> from marginlab.margin.base import MarginResult
>>> rules = VenueAssumptions("demo", {"parameters.im_multiplier": ("IMR = 1.3 x MMR", {}),
...                                   "parameters.rules.XRP": ("XRP 20x", {"assets": ("XRP",)})})
>>> result = MarginResult("demo", 1.0, 1.0, 1.0, pd.DataFrame({"underlying": ["BTC"]}), pd.DataFrame())
>>> rules.applicable(result, None)
('parameters.im_multiplier',)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

#: Condition names an ``assumed`` entry may give under ``when``.
CONDITIONS = ("assets", "assets_other_than", "scenario_family", "component", "position_kind")


def _underlyings(result: Any, account: Any) -> set[str]:
    if account is not None and getattr(account, "positions", None):
        return {str(p.underlying) for p in account.positions}
    positions = getattr(result, "positions", None)
    if isinstance(positions, pd.DataFrame) and "underlying" in positions.columns:
        return set(positions["underlying"].astype(str))
    return set()


def _kinds(account: Any) -> set[str]:
    if account is None:
        return set()
    return {type(p.instrument).__name__.lower() for p in getattr(account, "positions", ())}


def _worst_families(result: Any) -> set[str]:
    scenarios = getattr(result, "scenarios", None)
    if not isinstance(scenarios, pd.DataFrame) or "family" not in scenarios.columns:
        return set()
    details = getattr(result, "details", {}) or {}
    table = details.get("scan_risk_by_underlying")
    if isinstance(table, pd.DataFrame) and "worst_scenario_index" in table.columns:
        indices = [int(i) for i, loss in zip(table["worst_scenario_index"], table.get("loss_usd", [1.0] * len(table))) if loss > 0]
    elif details.get("worst_scenario_index") is not None:
        indices = [int(details["worst_scenario_index"])]
    else:
        return set()
    families = scenarios["family"].astype(str).to_numpy()
    return {str(families[i]) for i in indices if 0 <= i < len(families)}


def _components(result: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    components = getattr(result, "components", None)
    if isinstance(components, pd.DataFrame) and "component" in components.columns:
        for row in components.to_dict("records"):
            out[str(row["component"])] = max(abs(float(row.get("initial_margin_usd", 0.0) or 0.0)), abs(float(row.get("maintenance_margin_usd", 0.0) or 0.0)))
    breakdown = (getattr(result, "details", {}) or {}).get("breakdown")
    if isinstance(breakdown, pd.DataFrame) and {"component", "usd"} <= set(breakdown.columns):
        for name, usd in zip(breakdown["component"], breakdown["usd"]):
            out[str(name)] = abs(float(usd))
    return out


@dataclass(frozen=True)
class VenueAssumptions:
    """The assumed parameters of one venue file and when each moves a result.

    Parameters
    ----------
    preset : str
        The venue file's name.
    entries : mapping key -> (why, conditions)
        ``conditions`` maps a name of :data:`CONDITIONS` to a tuple of values; empty means always.
    """

    preset: str
    entries: Mapping[str, tuple[str, Mapping[str, tuple[str, ...]]]] = field(default_factory=dict)

    def why(self, key: str) -> str:
        """The file's sentence for ``key``."""
        return self.entries[key][0]

    def applicable(self, result: Any, account: Any = None) -> tuple[str, ...]:
        """The keys whose condition holds for ``result`` (of ``account``), in file order."""
        if not self.entries:
            return ()
        underlyings: set[str] | None = None
        families: set[str] | None = None
        components: dict[str, float] | None = None
        kinds: set[str] | None = None
        keys = []
        for key, (_, when) in self.entries.items():
            ok = True
            for name, values in when.items():
                if name == "assets":
                    underlyings = _underlyings(result, account) if underlyings is None else underlyings
                    ok = bool(underlyings & set(values))
                elif name == "assets_other_than":
                    underlyings = _underlyings(result, account) if underlyings is None else underlyings
                    ok = bool(underlyings - set(values))
                elif name == "scenario_family":
                    families = _worst_families(result) if families is None else families
                    ok = bool(families & set(values))
                elif name == "component":
                    components = _components(result) if components is None else components
                    ok = any(usd > 0 and any(text in component for text in values) for component, usd in components.items())
                elif name == "position_kind":
                    kinds = _kinds(account) if kinds is None else kinds
                    ok = bool(kinds & set(values))
                if not ok:
                    break
            if ok:
                keys.append(key)
        return tuple(keys)

    def merged(self, other: "VenueAssumptions", prefix: str) -> "VenueAssumptions":
        """These entries and ``other``'s (keys prefixed ``prefix:``), e.g. a cross file and the file its rules come from."""
        entries = dict(self.entries)
        entries.update({f"{prefix}:{k}": v for k, v in other.entries.items()})
        return VenueAssumptions(self.preset, entries)


def label_assumptions(result: Any, model: Any, account: Any) -> Any:
    """``result`` with ``assumptions`` set from ``model.venue_assumptions`` (unchanged when the model has none)."""
    rules = getattr(model, "venue_assumptions", None)
    if not isinstance(rules, VenueAssumptions) or tuple(getattr(result, "assumptions", None) or ()):
        return result
    keys = rules.applicable(result, account)
    return dataclasses.replace(result, assumptions=keys) if keys else result


__all__ = ["CONDITIONS", "VenueAssumptions", "label_assumptions"]
