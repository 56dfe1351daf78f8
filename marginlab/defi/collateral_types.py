"""DeFi collateral types as data: liquid-staking, yield-bearing, synthetic-dollar, LP and principal tokens.

Each collateral type says how its USD value moves with the *market drivers* (ETH, BTC, USD...) and with its
own *depeg* over a horizon, as a **value ratio** ``V_T / V_0`` on arrays of simulated paths:

* ``spot`` / ``wrapped`` / ``stablecoin`` / ``synthetic_dollar``: the driver's price ratio, times ``1 - L`` for
  a depeg loss ``L`` drawn from the token's :class:`DepegJumpModel` (stablecoins and synthetic dollars against
  1 USD: USDC 0.877 on 2023-03-11, USDe 0.65 on one venue on 2025-10-10);
* ``liquid_staking``: ``exchange_rate x (1 - market discount) x P_base``; the discount jumps by the LST depeg model,
  calibrated on stETH (0.9367 ETH on 2022-06-15) and wBETH (0.2012 ETH on Binance's book on 2025-10-10, against
  an exchange rate of 1.078);
* ``yield_bearing``: an exchange rate accruing ``(1 + apy)^(t / 365)`` on its underlying token (sUSDe on USDe);
* ``principal_token`` (Pendle PT): pays one unit of the underlying at maturity, priced
  ``(1 + implied_rate)^(-tau)`` with ``tau`` the years to maturity; over the horizon ``tau`` shortens and the
  implied rate moves (normal shock of ``rate_vol_annual sqrt(h / 365)``), so the haircut falls as maturity nears;
* ``uniswap_v2_lp``: the constant-product position ``x y = L^2`` holds ``x = L / sqrt(P)``, ``y = L sqrt(P)``
  (``P`` the price of token0 in token1), worth ``2 L sqrt(P)`` in token1 (Adams, Zinsmeister & Robinson 2020,
  *Uniswap v2 Core*); against holding, the impermanent loss at a price ratio ``k = P_1 / P_0`` is
  ``IL = 2 sqrt(k) / (1 + k) - 1`` (Uniswap docs, "Understanding returns", v2);
* ``uniswap_v3_lp``: a range position ``[P_a, P_b]`` with liquidity ``L`` holds
  ``x = L (1/sqrt(P) - 1/sqrt(P_b))``, ``y = L (sqrt(P) - sqrt(P_a))`` inside the range, all ``x``
  (``L (1/sqrt(P_a) - 1/sqrt(P_b))``) below it and all ``y`` (``L (sqrt(P_b) - sqrt(P_a))``) above
  (Adams, Zinsmeister, Salem, Keefer & Robinson 2021, *Uniswap v3 Core*, section 6, virtual reserves
  ``x = L / sqrt(P)``, ``y = L sqrt(P)``; Uniswap Labs, "A primer on Uniswap v3 math, part 2", 2023-06-26).

The types and the depeg histories are data (``marginlab/defi/data/collateral_types.yaml``, each value sourced or
marked assumed); :func:`load_collateral_types` reads and checks them. :func:`collateral_haircuts` gives each type a
haircut with its components: the market risk of its drivers (joint FHS, :mod:`marginlab.stats`), the depeg
add-on and the square-root liquidity add-on (:func:`marginlab.stats.square_root_impact`).

Examples
--------
>>> round(v2_impermanent_loss(4.0), 6)  # price x4: 2*2/5 - 1
-0.2
>>> registry = load_collateral_types()
>>> registry.types["wstETH"].kind, registry.types["wstETH"].underlying
('liquid_staking', 'ETH')
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from marginlab.exceptions import InputError, ParameterError, UnknownAssetError
from marginlab.stats.bootstrap import as_generator
from marginlab.stats.impact import square_root_impact
from marginlab.stats.risk_measures import drop_risk, weighted_expected_shortfall

__all__ = [
    "CollateralKind",
    "CollateralRegistry",
    "CollateralType",
    "DepegJumpModel",
    "DATA_FILE",
    "collateral_haircuts",
    "load_collateral_types",
    "principal_token_price",
    "v2_impermanent_loss",
    "v2_value",
    "v3_amounts",
    "v3_impermanent_loss",
    "v3_value",
]

#: The shipped collateral-type file.
DATA_FILE = Path(__file__).resolve().parent / "data" / "collateral_types.yaml"

CollateralKind = Literal[
    "spot", "wrapped", "stablecoin", "synthetic_dollar", "liquid_staking", "yield_bearing", "principal_token",
    "uniswap_v2_lp", "uniswap_v3_lp",
]
KINDS: tuple[str, ...] = get_args(CollateralKind)
#: Market drivers: assets whose prices are simulated (``USD`` is the numeraire, ratio 1).
USD = "USD"


# ----------------------------------------------------------------------------- closed forms
def v2_value(liquidity: Any, price: Any) -> Any:
    """Value in token1 of a Uniswap v2 position of liquidity ``L`` at price ``P`` (token0 in token1): ``2 L sqrt(P)``.

    >>> v2_value(10.0, 4.0)  # x = 10 / 2 = 5 token0 worth 20, y = 10 * 2 = 20 token1
    40.0
    """
    out = 2.0 * np.asarray(liquidity, dtype=float) * np.sqrt(np.asarray(price, dtype=float))
    return float(out) if out.ndim == 0 else out


def v2_impermanent_loss(price_ratio: Any) -> Any:
    """Impermanent loss of a full-range (v2) position against holding: ``2 sqrt(k) / (1 + k) - 1``.

    >>> round(float(v2_impermanent_loss(1.0)), 12)
    0.0
    """
    k = np.asarray(price_ratio, dtype=float)
    if np.any(~np.isfinite(k)) or np.any(k <= 0):
        raise InputError("price_ratio", price_ratio, "must be positive and finite")
    out = 2.0 * np.sqrt(k) / (1.0 + k) - 1.0
    return float(out) if out.ndim == 0 else out


def _check_range(lower: float, upper: float) -> None:
    if not (math.isfinite(lower) and math.isfinite(upper) and 0 < lower < upper):
        raise ParameterError("range", (lower, upper), "needs 0 < lower < upper (prices of token0 in token1)")


def v3_amounts(liquidity: float, price: Any, lower: float, upper: float) -> tuple[Any, Any]:
    """Token amounts ``(x, y)`` of a Uniswap v3 range position ``[lower, upper]`` at ``price`` (Uniswap v3 Core section 6).

    >>> v3_amounts(1.0, 1.0, 0.25, 4.0)  # x = 1 - 1/2, y = 1 - 1/2
    (0.5, 0.5)
    """
    _check_range(lower, upper)
    p = np.asarray(price, dtype=float)
    if np.any(~np.isfinite(p)) or np.any(p <= 0):
        raise InputError("price", price, "must be positive and finite")
    sp = np.sqrt(np.clip(p, lower, upper))
    sa, sb = math.sqrt(lower), math.sqrt(upper)
    x = liquidity * (1.0 / sp - 1.0 / sb)
    y = liquidity * (sp - sa)
    if x.ndim == 0:
        return float(x), float(y)
    return x, y


def v3_value(liquidity: float, price: Any, lower: float, upper: float) -> Any:
    """Value in token1 of a v3 range position: ``x P + y``."""
    x, y = v3_amounts(liquidity, price, lower, upper)
    return x * np.asarray(price, dtype=float) + y


def v3_impermanent_loss(price_ratio: Any, lower_ratio: float, upper_ratio: float) -> Any:
    """Loss of a v3 range position against holding its entry amounts, at ``P_1 = k P_0`` (range given as ratios to ``P_0``).

    >>> round(float(v3_impermanent_loss(4.0, 0.25, 4.0)), 12)  # 1.5 / 2.5 - 1
    -0.4
    """
    k = np.asarray(price_ratio, dtype=float)
    x0, y0 = v3_amounts(1.0, 1.0, lower_ratio, upper_ratio)
    held = x0 * k + y0
    out = v3_value(1.0, k, lower_ratio, upper_ratio) / held - 1.0
    return float(out) if np.ndim(out) == 0 else out


def principal_token_price(implied_rate: Any, years_to_maturity: Any) -> Any:
    """Price of a principal token in units of its underlying: ``(1 + r)^(-tau)`` (0 years: 1).

    >>> round(principal_token_price(0.09, 0.25), 6)
    0.978686
    """
    r = np.asarray(implied_rate, dtype=float)
    tau = np.maximum(np.asarray(years_to_maturity, dtype=float), 0.0)
    if np.any(r <= -1):
        raise InputError("implied_rate", implied_rate, "must be > -1")
    out = np.power(1.0 + r, -tau)
    return float(out) if out.ndim == 0 else out


# ----------------------------------------------------------------------------- depeg jumps
@dataclass(frozen=True)
class DepegJumpModel:
    """Compound-Poisson depeg: a jump with probability ``1 - exp(-lambda h / 365)`` in ``h`` days, severity drawn from episodes.

    ``lambda = episodes / exposure_years``; the loss given depeg is drawn uniformly from the episodes' severities
    ``1 - trough / fair`` (the same mixture as :class:`marginlab.calibration.depeg.DepegModel`, here from named
    episodes: an LST's discount to its exchange rate, a dollar's drop below 1).

    Examples
    --------
    >>> model = DepegJumpModel(intensity_per_year=0.5, severities=(0.2,))
    >>> round(model.horizon_probability(365), 6)  # 1 - exp(-0.5)
    0.393469
    """

    intensity_per_year: float
    severities: tuple[float, ...]
    name: str = ""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.intensity_per_year) and self.intensity_per_year >= 0):
            raise ParameterError("intensity_per_year", self.intensity_per_year, "must be finite and >= 0")
        severities = tuple(float(s) for s in self.severities)
        if any(not 0.0 <= s <= 1.0 for s in severities):
            raise ParameterError("severities", severities, "each severity must be a fraction in [0, 1]")
        object.__setattr__(self, "severities", severities)

    @classmethod
    def from_episodes(cls, episodes: Sequence[Mapping[str, Any]], exposure_years: float, fair: Mapping[str, float] | None = None,
                      name: str = "") -> "DepegJumpModel":
        """From episodes ``{token, trough, ...}`` over ``exposure_years`` (``fair[token]``: the ratio the trough is measured against)."""
        if not (math.isfinite(float(exposure_years)) and float(exposure_years) > 0):
            raise ParameterError(f"depeg_histories[{name}].exposure_years", exposure_years, "must be positive")
        fair = dict(fair or {})
        severities = []
        for index, episode in enumerate(episodes):
            trough = float(episode.get("trough", float("nan")))
            if not (math.isfinite(trough) and trough > 0):
                raise ParameterError(f"depeg_histories[{name}].episodes[{index}].trough", episode.get("trough"), "must be positive")
            severities.append(max(1.0 - trough / float(fair.get(str(episode.get("token")), 1.0)), 0.0))
        return cls(len(severities) / float(exposure_years), tuple(severities), name)

    def horizon_probability(self, horizon_days: float) -> float:
        """Probability of at least one depeg within ``horizon_days``."""
        return 1.0 - math.exp(-self.intensity_per_year * float(horizon_days) / 365.0)

    def sample(self, n: int, horizon_days: float, rng: np.random.Generator | int | None = None) -> np.ndarray:
        """Depeg losses of ``n`` paths (0 without a jump); one jump at most per path."""
        generator = as_generator(rng)
        hit = generator.random(n) < self.horizon_probability(horizon_days)
        if not self.severities:
            return np.zeros(n)
        severity = np.asarray(self.severities)[generator.integers(0, len(self.severities), size=n)]
        return np.where(hit, severity, 0.0)

    def expected_shortfall(self, horizon_days: float, confidence: float) -> float:
        """ES of the depeg loss alone: atoms 0 (probability ``1 - p``) and each severity (``p / n``)."""
        if not self.severities:
            return 0.0
        p = self.horizon_probability(horizon_days)
        losses = np.concatenate([[0.0], self.severities])
        weights = np.concatenate([[1.0 - p], np.full(len(self.severities), p / len(self.severities))])
        return weighted_expected_shortfall(losses, weights, confidence)


# ----------------------------------------------------------------------------- collateral types
@dataclass(frozen=True)
class CollateralType:
    """One collateral type (a row of the YAML file); ``underlying`` is a driver or another type.

    Attributes
    ----------
    name, kind : str
    underlying : str
        Base asset (``ETH``, ``BTC``, ``USD``) or the type it wraps (sUSDe wraps USDe, PT-sUSDe sUSDe).
    depeg_history : str or None
        Name of the depeg history its jumps are drawn from.
    exchange_rate : float
        Units of the underlying per token (LSTs, yield-bearing tokens).
    apy : float
        Accrual of a yield-bearing token's exchange rate.
    maturity, implied_rate, rate_vol_annual : principal tokens.
    token0, token1, range_lower_ratio, range_upper_ratio : LP positions (range as ratios to the entry price).
    """

    name: str
    kind: str
    underlying: str = ""
    depeg_history: str | None = None
    exchange_rate: float = 1.0
    apy: float = 0.0
    maturity: pd.Timestamp | None = None
    implied_rate: float = 0.0
    rate_vol_annual: float = 0.0
    token0: str = ""
    token1: str = ""
    range_lower_ratio: float = 0.0
    range_upper_ratio: float = 0.0
    assumed: bool = False
    source: str = ""

    def years_to_maturity(self, asof: Any) -> float:
        """Years (365 days) from ``asof`` to the maturity of a principal token."""
        if self.maturity is None:
            raise ParameterError(f"collateral_types[{self.name}].maturity", None, "a principal token needs a maturity")
        stamp = pd.Timestamp(asof)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
        return max((self.maturity - stamp).total_seconds() / (365.0 * 86400.0), 0.0)


_NUMBER_FIELDS = ("exchange_rate", "apy", "implied_rate", "rate_vol_annual", "range_lower_ratio", "range_upper_ratio")


def _parse_type(name: str, entry: Any) -> CollateralType:
    where = f"collateral_types[{name}]"
    if not isinstance(entry, Mapping):
        raise ParameterError(where, entry, "must be a mapping with a 'kind'")
    kind = entry.get("kind")
    if kind not in KINDS:
        raise UnknownAssetError(f"{where}.kind", kind, f"unknown collateral type (known: {list(KINDS)})")
    values: dict[str, Any] = {}
    for key in _NUMBER_FIELDS:
        if key in entry:
            try:
                number = float(entry[key])
            except (TypeError, ValueError):
                raise ParameterError(f"{where}.{key}", entry[key], "must be a number") from None
            if not math.isfinite(number):
                raise ParameterError(f"{where}.{key}", entry[key], "must be finite")
            values[key] = number
    if values.get("exchange_rate", 1.0) <= 0:
        raise ParameterError(f"{where}.exchange_rate", values["exchange_rate"], "must be positive")
    if values.get("rate_vol_annual", 0.0) < 0:
        raise ParameterError(f"{where}.rate_vol_annual", values["rate_vol_annual"], "must be >= 0")
    maturity = None
    if kind == "principal_token":
        if "maturity" not in entry:
            raise ParameterError(f"{where}.maturity", None, "a principal token needs a maturity date")
        try:
            maturity = pd.Timestamp(str(entry["maturity"]))
        except (ValueError, TypeError):
            raise ParameterError(f"{where}.maturity", entry["maturity"], "must be a date (YYYY-MM-DD)") from None
        maturity = maturity.tz_localize("UTC") if maturity.tzinfo is None else maturity
    if kind in ("uniswap_v2_lp", "uniswap_v3_lp"):
        if not entry.get("token0") or not entry.get("token1"):
            raise ParameterError(f"{where}.token0", entry.get("token0"), "an LP position needs token0 and token1")
        if kind == "uniswap_v3_lp":
            _check_range(values.get("range_lower_ratio", 0.0), values.get("range_upper_ratio", 0.0))
            if not values["range_lower_ratio"] <= 1.0 <= values["range_upper_ratio"]:
                raise ParameterError(f"{where}.range_lower_ratio", values["range_lower_ratio"], "the range must contain the entry price (ratio 1)")
    elif not entry.get("underlying"):
        raise ParameterError(f"{where}.underlying", entry.get("underlying"), "needs an underlying asset or type")
    return CollateralType(
        name=name, kind=str(kind), underlying=str(entry.get("underlying", "")), depeg_history=entry.get("depeg_history"),
        maturity=maturity, token0=str(entry.get("token0", "")), token1=str(entry.get("token1", "")),
        assumed=bool(entry.get("assumed", False)), source=str(entry.get("source", entry.get("note", ""))), **values,
    )


@dataclass(frozen=True)
class CollateralRegistry:
    """Collateral types and depeg models, and their value ratios on simulated paths.

    Attributes
    ----------
    types : dict name -> CollateralType
    depeg : dict history name -> DepegJumpModel
    source : str
        File the registry was read from.
    """

    types: Mapping[str, CollateralType]
    depeg: Mapping[str, DepegJumpModel] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        for name, ctype in self.types.items():
            if ctype.depeg_history is not None and ctype.depeg_history not in self.depeg:
                raise UnknownAssetError(f"collateral_types[{name}].depeg_history", ctype.depeg_history,
                                        f"unknown depeg history (known: {sorted(self.depeg)})")
            self.drivers(name)  # checks the chain of underlyings

    def get(self, name: str) -> CollateralType:
        """The type called ``name`` (:class:`UnknownAssetError` naming the field otherwise)."""
        if name not in self.types:
            raise UnknownAssetError("collateral", name, f"unknown collateral type (known: {sorted(self.types)})")
        return self.types[name]

    def drivers(self, name: str, _seen: tuple[str, ...] = ()) -> tuple[str, ...]:
        """Market assets whose prices drive ``name`` (``USD`` excluded), in order."""
        if name in _seen:
            raise ParameterError(f"collateral_types[{name}].underlying", name, "the chain of underlyings loops")
        if name == USD:
            return ()
        if name not in self.types:
            return (name,)  # a base asset
        ctype = self.types[name]
        if ctype.kind in ("uniswap_v2_lp", "uniswap_v3_lp"):
            parts = self.drivers(ctype.token0, _seen + (name,)) + self.drivers(ctype.token1, _seen + (name,))
        elif ctype.underlying == name:
            return (name,)  # ETH: spot of itself
        else:
            parts = self.drivers(ctype.underlying, _seen + (name,))
        return tuple(dict.fromkeys(parts))

    def histories(self, name: str) -> tuple[str, ...]:
        """Depeg histories that affect ``name`` (its own and its underlyings')."""
        if name not in self.types:
            return ()
        ctype = self.types[name]
        own = (ctype.depeg_history,) if ctype.depeg_history else ()
        if ctype.kind in ("uniswap_v2_lp", "uniswap_v3_lp"):
            return tuple(dict.fromkeys(own + self.histories(ctype.token0) + self.histories(ctype.token1)))
        if ctype.underlying in (name, USD):
            return own
        return tuple(dict.fromkeys(own + self.histories(ctype.underlying)))

    def value_ratio(self, name: str, market_ratios: Mapping[str, np.ndarray], depeg_losses: Mapping[str, np.ndarray] | None = None,
                    horizon_days: float = 1.0, asof: Any = None, rate_shocks: np.ndarray | None = None) -> np.ndarray:
        """USD value at the horizon over value now, per path.

        Parameters
        ----------
        market_ratios : mapping driver -> array
            Simulated price ratios ``P_T / P_0`` of every driver (see :meth:`drivers`).
        depeg_losses : mapping history -> array, optional
            Depeg losses per path (:meth:`DepegJumpModel.sample`); absent histories mean no depeg.
        horizon_days : float
            Horizon (yield accrual, principal-token roll-down).
        asof : date-like
            Valuation date (principal tokens).
        rate_shocks : array, optional
            Standard-normal draws of the implied-rate shock (principal tokens); ``None`` = no rate move.
        """
        losses = dict(depeg_losses or {})
        if name == USD:
            return np.ones(1)
        if name not in self.types:
            if name not in market_ratios:
                raise UnknownAssetError("market_ratios", name, f"no simulated price for this driver (have {sorted(market_ratios)})")
            return np.asarray(market_ratios[name], dtype=float)
        ctype = self.types[name]
        jump = 1.0 - np.asarray(losses[ctype.depeg_history]) if ctype.depeg_history in losses else 1.0
        if ctype.kind in ("uniswap_v2_lp", "uniswap_v3_lp"):
            r0 = self.value_ratio(ctype.token0, market_ratios, losses, horizon_days, asof, rate_shocks)
            r1 = self.value_ratio(ctype.token1, market_ratios, losses, horizon_days, asof, rate_shocks)
            k = r0 / r1  # the pool price moves with the ratio of the two tokens' USD prices
            if ctype.kind == "uniswap_v2_lp":
                lp = np.sqrt(k)  # 2 L sqrt(P) in token1
            else:
                lo, hi = ctype.range_lower_ratio, ctype.range_upper_ratio
                lp = v3_value(1.0, k, lo, hi) / v3_value(1.0, 1.0, lo, hi)
            return lp * r1 * jump
        if ctype.underlying == USD:
            base: Any = np.ones(1)
        elif ctype.underlying == name:
            if name not in market_ratios:
                raise UnknownAssetError("market_ratios", name, f"no simulated price for this driver (have {sorted(market_ratios)})")
            base = np.asarray(market_ratios[name], dtype=float)
        else:
            base = self.value_ratio(ctype.underlying, market_ratios, losses, horizon_days, asof, rate_shocks)
        if ctype.kind == "yield_bearing":
            return base * (1.0 + ctype.apy) ** (np.asarray(horizon_days, dtype=float) / 365.0) * jump
        if ctype.kind == "principal_token":
            if asof is None:
                raise InputError("asof", None, f"{name} is a principal token: its value needs a valuation date")
            tau = ctype.years_to_maturity(asof)
            later = max(tau - float(horizon_days) / 365.0, 0.0)
            rate: Any = ctype.implied_rate
            if rate_shocks is not None:
                rate = np.maximum(rate + ctype.rate_vol_annual * math.sqrt(float(horizon_days) / 365.0) * np.asarray(rate_shocks), -0.99)
            return base * principal_token_price(rate, later) / principal_token_price(ctype.implied_rate, tau) * jump
        return base * jump

    def sample_depeg_losses(self, n: int, horizon_days: float, rng: np.random.Generator | int | None = None,
                            histories: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """One draw of depeg losses per history and path (tokens of one history depeg together)."""
        generator = as_generator(rng)
        names = sorted(self.depeg) if histories is None else list(histories)
        return {h: self.depeg[h].sample(n, horizon_days, generator) for h in names}


def load_collateral_types(path: str | Path | None = None) -> CollateralRegistry:
    """Read and check a collateral-type file (default: the shipped :data:`DATA_FILE`).

    Every field is checked before anything is built; an unknown ``kind`` raises :class:`UnknownAssetError`
    naming ``collateral_types[NAME].kind``.
    """
    from marginlab.fileio import read_mapping

    document = read_mapping(path or DATA_FILE, what="collateral-type file")
    if not isinstance(document, Mapping) or not isinstance(document.get("collateral_types"), Mapping):
        raise ParameterError("collateral_types", type(document).__name__, "the file needs a 'collateral_types' mapping")
    depeg = {}
    for name, history in dict(document.get("depeg_histories") or {}).items():
        if not isinstance(history, Mapping) or not isinstance(history.get("episodes"), list):
            raise ParameterError(f"depeg_histories[{name}]", history, "needs 'episodes' (a list) and 'exposure_years'")
        depeg[str(name)] = DepegJumpModel.from_episodes(history["episodes"], history.get("exposure_years", float("nan")),
                                                        history.get("fair_exchange_rate"), str(name))
    types = {str(name): _parse_type(str(name), entry) for name, entry in document["collateral_types"].items()}
    return CollateralRegistry(types, depeg, str(path or DATA_FILE))


# ----------------------------------------------------------------------------- haircuts
def collateral_haircuts(
    registry: CollateralRegistry,
    names: Sequence[str],
    driver_log_returns: Mapping[str, np.ndarray],
    *,
    horizon_days: int = 3,
    confidence: float = 0.99,
    asof: Any = None,
    sizes_usd: Mapping[str, float] | None = None,
    adv_usd: Mapping[str, float] | None = None,
    sigma_daily: Mapping[str, float] | None = None,
    liquidity_k: float = 1.0,
    rng: np.random.Generator | int | None = None,
) -> pd.DataFrame:
    """Haircut of each collateral type: market risk + depeg add-on + liquidity add-on, on joint paths.

    ``market_risk`` is the ES at ``confidence`` (:func:`marginlab.stats.drop_risk`) of the value drop without
    depegs, ``depeg_add_on`` what the depeg jumps add to it, ``liquidity_add_on`` the square-root impact
    ``k sigma_daily sqrt(size / ADV)`` of selling ``sizes_usd[name]`` (0 without a size or ADV), and
    ``haircut = min(1, market_risk + depeg_add_on + liquidity_add_on)``.

    Parameters
    ----------
    driver_log_returns : mapping driver -> array (n_paths,)
        Simulated ``horizon_days``-day log returns of the drivers, on the **same** paths (joint FHS,
        :func:`marginlab.stats.fhs_joint_horizon_returns`).
    """
    lengths = {len(np.asarray(v)) for v in driver_log_returns.values()}
    if len(lengths) != 1:
        raise InputError("driver_log_returns", sorted(lengths), "every driver needs the same number of paths")
    n = lengths.pop()
    generator = as_generator(rng)
    ratios = {d: np.exp(np.asarray(r, dtype=float)) for d, r in driver_log_returns.items()}
    losses = registry.sample_depeg_losses(n, horizon_days, generator)
    shocks = generator.standard_normal(n)
    sizes, advs, sigmas = dict(sizes_usd or {}), dict(adv_usd or {}), dict(sigma_daily or {})
    rows = []
    for name in names:
        ctype = registry.get(name)
        calm = np.broadcast_to(registry.value_ratio(name, ratios, {}, horizon_days, asof, shocks), (n,))
        full = np.broadcast_to(registry.value_ratio(name, ratios, losses, horizon_days, asof, shocks), (n,))
        market = drop_risk(np.log(np.maximum(calm, 1e-12)), confidence)["es"]
        total = drop_risk(np.log(np.maximum(full, 1e-12)), confidence)["es"]
        add_on = 0.0
        if name in sizes and name in advs and name in sigmas and sizes[name] > 0:
            add_on = float(square_root_impact(sizes[name], advs[name], sigmas[name], liquidity_k))
        market = max(market, 0.0)
        depeg_add_on = max(total - market, 0.0)
        rows.append({
            "collateral": name, "kind": ctype.kind, "drivers": ",".join(registry.drivers(name)) or USD,
            "market_risk": market, "depeg_add_on": depeg_add_on, "liquidity_add_on": add_on,
            "haircut": float(min(1.0, market + depeg_add_on + add_on)),
        })
    return pd.DataFrame(rows).set_index("collateral")
