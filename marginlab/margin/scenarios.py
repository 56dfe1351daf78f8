"""Scenario grids of the risk-matrix engine: spot shocks, volatility shocks, skew shocks.

A scenario grid is **data**: a list of (spot multiplier, volatility treatment, dampening)
triples plus the rules that turn a volatility treatment into a shocked volatility.

Spot shock
    A multiplier on the underlying (``1.18`` = +18%). Futures and option forwards move by the
    same multiplier (the part of a forward frozen near settlement does not, see
    :class:`~marginlab.margin.risk_matrix.RiskMatrixModel`).
Volatility treatment
    ``"none"`` (unchanged vols), ``"up"``, ``"down"``, or a skew rotation ``"linear"`` /
    ``"abs"``. Up and down shocks follow a term structure (:class:`VolShock`)::

        m      = (pivot_days / max(days_to_expiry, floor_days)) ** p,
                 p = short_term_power if days_to_expiry <= pivot_days else long_term_power
        up     = max(min_shocked_vol, vol * (1 + up_range * m))          (multiplicative)
        down   = vol * max(0, 1 - down_range * m)

    or, with ``absolute=True`` (SPAN's volatility scan range), ``vol + up_range * m`` and
    ``max(vol - down_range * m, 0)``.
Time and rates
    ``horizon_days`` revalues every option at ``T - horizon`` (time decay, theta; an option that
    expires before the horizon is worth its intrinsic value); ``rate_shock`` adds a change to the
    continuously compounded rate used to discount and price options (rho). Both are zero by
    default; :meth:`ScenarioGrid.with_time_and_rates` adds them to a grid. Futures and perpetual
    values do not depend on either (their forward is taken from the market).
Dampening
    The weight of the scenario's P&L (``0.35`` = SPAN's "35% cover" of extreme moves,
    Deribit's dampened tail table, Derive's tail ``DampeningFactor``).

Skew shocks (:class:`SkewShock`) rotate the smile around the forward: with ``k = ln(K / F)``,
``q = sqrt(years)``, ``cap = cap_slope * q + cap_base`` and
``k* = max(min_k_star, q * width_scale * (vol_param_static + q * vol_param_scale))``, the
multiplier is ``1 + clip(k * cap / k*, -cap, cap)`` (``|k|`` for the ``"abs"`` rotation),
and the skewed vol is ``vol * max(multiplier, 0)``.

>>> from marginlab.margin.scenarios import ScenarioGrid, VolShock
>>> grid = ScenarioGrid.regular(spot_range=0.16, points=9)
>>> len(grid), grid.spot_shock[0], grid.vol_shock[:3]
(27, 0.84, ('up', 'none', 'down'))
>>> shock = VolShock(up_range=0.5, down_range=0.25, short_term_power=0.3, long_term_power=0.13, min_shocked_vol=0.5)
>>> [round(float(v), 6) for v in shock.shocked_vols(0.6, days_to_expiry=7.5)]
[1.0, 0.3]
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from marginlab._validation import as_float, as_int, finite_float
from marginlab.exceptions import FileFormatError, ParameterError

#: Volatility treatment names and their integer codes used by the vectorised engine.
VOL_SHOCK_CODES: dict[str, int] = {"none": 0, "up": 1, "down": -1, "linear": 2, "abs": 3}
SECONDS_PER_DAY = 86_400


def _finite(name: str, value: float, *, low: float = -math.inf, high: float = math.inf) -> float:
    number = as_float(name, value)
    if not math.isfinite(number) or number < low or number > high:
        raise ParameterError(name, value, f"must be a finite number in [{low}, {high}]")
    return number


@dataclass(frozen=True)
class VolShock:
    """Up/down volatility shock with a (pivot/DTE)^p term structure.

    Parameters
    ----------
    up_range, down_range : float
        Relative (or, with ``absolute``, additive) size of the up and down shocks at
        ``pivot_days``.
    short_term_power, long_term_power : float
        Exponent ``p`` for expiries at or below / above ``pivot_days``.
    floor_days : float
        Days to expiry are floored at this value in the term structure (converted to whole
        seconds, ``floor(floor_days * 86400)``).
    min_shocked_vol : float
        Floor on the up-shocked vol.
    pivot_days : float
        The tenor at which the multiplier is 1 (30 days at Deribit and Derive).
    absolute : bool
        Additive (SPAN volatility scan range) instead of multiplicative shocks.
    """

    up_range: float = 0.0
    down_range: float = 0.0
    short_term_power: float = 0.0
    long_term_power: float = 0.0
    floor_days: float = 1.0
    min_shocked_vol: float = 0.0
    pivot_days: float = 30.0
    absolute: bool = False

    def __post_init__(self) -> None:
        for name in ("up_range", "down_range", "short_term_power", "long_term_power", "min_shocked_vol"):
            _finite(name, getattr(self, name), low=0.0, high=100.0)
        _finite("floor_days", self.floor_days, low=0.0, high=10_000.0)
        _finite("pivot_days", self.pivot_days, low=1e-9, high=10_000.0)

    def multipliers(self, seconds_to_expiry: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Term-structure factor ``m`` per expiry and the ``(up, down)`` multipliers.

        Returns ``(up, down)`` where, for multiplicative shocks, ``up = 1 + up_range * m`` and
        ``down = max(0, 1 - down_range * m)``; for absolute shocks the additive amounts
        ``up_range * m`` and ``down_range * m``.
        """
        seconds = np.asarray(seconds_to_expiry, dtype=np.float64)
        pivot = self.pivot_days * SECONDS_PER_DAY
        floor = math.floor(self.floor_days * SECONDS_PER_DAY)
        ratio = pivot / np.maximum(seconds, max(floor, 1e-300))
        power = np.where(seconds <= pivot, self.short_term_power, self.long_term_power)
        factor = ratio**power
        if self.absolute:
            return self.up_range * factor, self.down_range * factor
        return 1.0 + self.up_range * factor, np.maximum(0.0, 1.0 - self.down_range * factor)

    def shocked_vols(self, vol: ArrayLike, days_to_expiry: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``(up_vol, down_vol)`` for ``vol`` at ``days_to_expiry``."""
        vol_ = np.asarray(vol, dtype=np.float64)
        up, down = self.multipliers(np.asarray(days_to_expiry, dtype=np.float64) * SECONDS_PER_DAY)
        if self.absolute:
            return np.maximum(self.min_shocked_vol, vol_ + up), np.maximum(vol_ - down, 0.0)
        return np.maximum(self.min_shocked_vol, vol_ * up), vol_ * down


@dataclass(frozen=True)
class SkewShock:
    """Smile rotation used by the ``"linear"`` and ``"abs"`` scenarios (Derive PMRM v2).

    See the module docstring for the formulas; the parameter names follow Derive's
    ``LINEAR_SCALE_CAP``, ``LINEAR_CBASE``, ``ABS_SCALE_CAP``, ``ABS_CBASE``, ``MIN_K_STAR``,
    ``MIN_WIDTH_SCALE``, ``VOL_PARAM_STATIC``, ``VOL_PARAM_SCALE``.
    """

    linear_cap: float = 0.15
    linear_cap_slope: float = -0.05
    abs_cap: float = 0.15
    abs_cap_slope: float = -0.05
    min_k_star: float = 0.01
    width_scale: float = 4.0
    vol_param_static: float = 0.6
    vol_param_scale: float = -0.1

    def __post_init__(self) -> None:
        for name in ("linear_cap", "linear_cap_slope", "abs_cap", "abs_cap_slope", "min_k_star", "width_scale", "vol_param_static", "vol_param_scale"):
            _finite(name, getattr(self, name), low=-100.0, high=100.0)

    def raw_multipliers(
        self, strike_usd: ArrayLike, forward_usd: ArrayLike, years: ArrayLike
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Raw ``(linear, abs)`` vol multipliers ``1 + x`` (may be negative; the engine floors at 0)."""
        strike, forward, years_ = (np.asarray(a, dtype=np.float64) for a in (strike_usd, forward_usd, years))
        q = np.sqrt(np.maximum(years_, 0.0))
        k_star = np.maximum(self.min_k_star, q * self.width_scale * (self.vol_param_static + q * self.vol_param_scale))
        with np.errstate(divide="ignore", invalid="ignore"):
            k = np.log(strike / forward)
        out = []
        for cap, kk in ((self.linear_cap_slope * q + self.linear_cap, k), (self.abs_cap_slope * q + self.abs_cap, np.abs(k))):
            with np.errstate(divide="ignore", invalid="ignore"):
                x = kk * cap / k_star
            x = np.where(kk >= 0, np.minimum(cap, x), np.maximum(-cap, x))
            out.append(np.where(np.isfinite(x), 1.0 + x, 1.0))
        return out[0], out[1]


@dataclass(frozen=True)
class ScenarioGrid:
    """An ordered list of scenarios: spot multiplier, vol treatment, dampening, family.

    Parameters
    ----------
    spot_shock : sequence of float
        Multipliers on the underlying. A grid may express moves in units of a range that the
        engine scales per asset (SPAN), so the stored value may be negative; the *effective*
        multiplier must be >= 0 (checked by the engine).
    vol_shock : sequence of str
        ``"none"``, ``"up"``, ``"down"``, ``"linear"`` or ``"abs"`` per scenario.
    dampening : sequence of float, optional
        Weight of each scenario's P&L (default 1).
    family : sequence of str, optional
        Reporting label per scenario (``"regular"``, ``"tail"``, ``"skew"``...); default is
        inferred: skew for skew rotations, regular for ``|shock - 1| <= 0.18`` undampened,
        tail otherwise.
    """

    spot_shock: tuple[float, ...]
    vol_shock: tuple[str, ...]
    dampening: tuple[float, ...] = ()
    family: tuple[str, ...] = field(default=())
    rate_shock: tuple[float, ...] = ()
    horizon_days: float = 0.0
    labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        spot = tuple(as_float(f"spot_shock[{i}]", x) for i, x in enumerate(self.spot_shock))
        vol = tuple(str(v).lower() for v in self.vol_shock)
        damp = tuple(as_float(f"dampening[{i}]", d) for i, d in enumerate(self.dampening)) or (1.0,) * len(spot)
        if not spot:
            raise ParameterError("spot_shock", self.spot_shock, "a scenario grid needs at least one scenario")
        if len(vol) != len(spot) or len(damp) != len(spot):
            raise ParameterError("vol_shock", self.vol_shock, f"spot_shock, vol_shock and dampening must have the same length ({len(spot)})")
        for i, (x, v, d) in enumerate(zip(spot, vol, damp)):
            if not math.isfinite(x):
                raise ParameterError(f"spot_shock[{i}]", x, "must be a finite multiplier")
            if v not in VOL_SHOCK_CODES:
                raise ParameterError(f"vol_shock[{i}]", v, f"must be one of {sorted(VOL_SHOCK_CODES)}")
            if not math.isfinite(d) or d < 0:
                raise ParameterError(f"dampening[{i}]", d, "must be a finite non-negative weight")
        family = tuple(self.family) or tuple(
            "skew" if v in ("linear", "abs") else "regular" if abs(x - 1) <= 0.18 + 1e-12 and d == 1 else "tail" for x, v, d in zip(spot, vol, damp)
        )
        if len(family) != len(spot):
            raise ParameterError("family", self.family, f"must have one label per scenario ({len(spot)})")
        rates = tuple(float(r) for r in self.rate_shock) or (0.0,) * len(spot)
        if len(rates) != len(spot) or not all(math.isfinite(r) and -1.0 < r < 1.0 for r in rates):
            raise ParameterError("rate_shock", self.rate_shock, f"needs one finite additive rate change in (-1, 1) per scenario ({len(spot)})")
        horizon = _finite("horizon_days", self.horizon_days, low=0.0, high=36_500.0)
        labels = tuple(str(x) for x in self.labels)
        if labels and len(labels) != len(spot):
            raise ParameterError("labels", self.labels, f"must have one label per scenario ({len(spot)})")
        object.__setattr__(self, "spot_shock", spot)
        object.__setattr__(self, "vol_shock", vol)
        object.__setattr__(self, "dampening", damp)
        object.__setattr__(self, "family", family)
        object.__setattr__(self, "rate_shock", rates)
        object.__setattr__(self, "horizon_days", horizon)
        object.__setattr__(self, "labels", labels)

    def __len__(self) -> int:
        return len(self.spot_shock)

    @property
    def spot_array(self) -> NDArray[np.float64]:
        return np.asarray(self.spot_shock, dtype=np.float64)

    @property
    def vol_codes(self) -> NDArray[np.int64]:
        return np.asarray([VOL_SHOCK_CODES[v] for v in self.vol_shock], dtype=np.int64)

    @property
    def dampening_array(self) -> NDArray[np.float64]:
        return np.asarray(self.dampening, dtype=np.float64)

    @property
    def rate_array(self) -> NDArray[np.float64]:
        return np.asarray(self.rate_shock, dtype=np.float64)

    @property
    def uses_time(self) -> bool:
        """True when options are revalued at a horizon (time decay)."""
        return self.horizon_days > 0

    @property
    def uses_rates(self) -> bool:
        """True when some scenario shocks the interest rate."""
        return any(r != 0.0 for r in self.rate_shock)

    def label(self, index: int) -> str:
        """Readable description of scenario ``index`` (e.g. ``"spot -18.0%, vol up"``), or its own label."""
        if self.labels:
            return self.labels[index]
        text = f"spot {100 * (self.spot_shock[index] - 1):+.1f}%, vol {self.vol_shock[index]}"
        if self.rate_shock[index] != 0.0:
            text += f", rate {100 * self.rate_shock[index]:+.2f}%"
        if self.horizon_days > 0:
            text += f", after {self.horizon_days:g} days"
        return text + (f", dampening {self.dampening[index]:g}" if self.dampening[index] != 1 else "")

    def frame(self):  # type: ignore[no-untyped-def]
        """The grid as a DataFrame (one row per scenario)."""
        import pandas as pd

        frame = pd.DataFrame({"spot_shock": self.spot_shock, "vol_shock": self.vol_shock, "dampening": self.dampening, "family": self.family})
        if self.uses_rates:
            frame["rate_shock"] = self.rate_shock
        if self.labels:
            frame["label"] = self.labels
        return frame

    def with_time_and_rates(self, horizon_days: float = 0.0, rate_scenarios: Sequence[float] = ()) -> "ScenarioGrid":
        """This grid revalued at ``horizon_days`` (options repriced with ``T - horizon``; expired ones at
        intrinsic value), plus one scenario per additive rate shock in ``rate_scenarios`` at unchanged
        spot and vol (family ``"rate"``).

        >>> grid = ScenarioGrid.regular(0.1, 3, ("none",)).with_time_and_rates(1.0, [0.01, -0.01])
        >>> len(grid), grid.horizon_days, grid.rate_shock[-2:], grid.label(3)
        (5, 1.0, (0.01, -0.01), 'spot +0.0%, vol none, rate +1.00%, after 1 days')
        """
        extra = tuple(float(r) for r in rate_scenarios)
        labels = self.labels + tuple(f"spot +0.0%, vol none, rate {100 * r:+.2f}%" for r in extra) if self.labels else ()
        return ScenarioGrid(self.spot_shock + (1.0,) * len(extra), self.vol_shock + ("none",) * len(extra), self.dampening + (1.0,) * len(extra),
                            self.family + ("rate",) * len(extra), self.rate_shock + extra, float(horizon_days), labels)

    @classmethod
    def regular(
        cls,
        spot_range: float,
        points: int,
        vol_shocks: Sequence[str] = ("up", "none", "down"),
        *,
        extra: Sequence[tuple[float, str, float]] = (),
    ) -> "ScenarioGrid":
        """``points`` evenly spaced spot moves over ``[-spot_range, +spot_range]`` times ``vol_shocks``,
        followed by ``extra`` (spot multiplier, vol treatment, dampening) scenarios."""
        points = as_int("points", points, minimum=1)
        spot_range = finite_float("spot_range", spot_range, low=0.0)
        moves = np.linspace(-spot_range, spot_range, points) if points > 1 else np.zeros(1)
        spot, vol, damp, family = [], [], [], []
        for move in moves:
            for v in vol_shocks:
                spot.append(round(1.0 + float(move), 12))
                vol.append(v)
                damp.append(1.0)
                family.append("regular")
        for x, v, d in extra:
            spot.append(float(x))
            vol.append(v)
            damp.append(float(d))
            family.append("tail")
        return cls(tuple(spot), tuple(vol), tuple(damp), tuple(family))


def vol_shock_from_data(raw: Mapping[str, Any] | None, where: str) -> VolShock:
    """A :class:`VolShock` from a venue file's mapping (``None``: the defaults); ``absolute`` is a flag, every other
    field a number (``"inf"`` allowed).

    >>> vol_shock_from_data({"up_range": 0.3, "absolute": False}, "x.vol_shock").up_range
    0.3
    """
    if raw is None:
        return VolShock()
    if not isinstance(raw, Mapping):
        raise FileFormatError(f"{where}={raw!r}: expected a mapping of VolShock fields")
    known = [f.name for f in dataclasses.fields(VolShock) if f.init]
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            raise FileFormatError(f"{where}.{key}: unknown parameter (known: {', '.join(known)})")
        if key == "absolute":
            values[key] = bool(value)
            continue
        try:
            values[key] = math.inf if isinstance(value, str) and value.strip().lower() in ("inf", "infinity", ".inf") else float(value)
        except (TypeError, ValueError):
            raise FileFormatError(f"{where}.{key}={value!r}: expected a number") from None
    return VolShock(**values)
