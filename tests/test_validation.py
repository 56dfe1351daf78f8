"""Shared constructor validators and their use in FlatHaircut, RiskBrackets, ScenarioGrid, VolShock..."""

from __future__ import annotations

import math

import numpy as np
import pytest

from marginlab._validation import as_float, as_int, finite_float, fraction, non_negative_float, positive_float
from marginlab.collateral import ActionLadder, CollateralTier, DynamicHaircut, FlatHaircut, TieredHaircut
from marginlab.exceptions import InputError, ParameterError
from marginlab.margin.isolated import LiquidityTier, MaxLeverage, RiskBrackets, SizeLinearRate, VenueLiquidationRule
from marginlab.margin.scenarios import ScenarioGrid, SkewShock, VolShock


def test_validators_accept_numbers_and_numeric_strings() -> None:
    assert as_float("x", "2.5") == 2.5
    assert as_float("x", np.float32(0.5)) == 0.5
    assert positive_float("x", math.inf, allow_inf=True) == math.inf
    assert finite_float("x", -3, low=-5) == -3.0
    assert non_negative_float("x", 0) == 0.0
    assert fraction("x", 1) == 1.0
    assert as_int("points", 7.0, minimum=1) == 7


@pytest.mark.parametrize("value", ["abc", None, True, [1.0], {}])
def test_as_float_rejects_non_numbers(value: object) -> None:
    with pytest.raises(ParameterError, match="must be a number"):
        as_float("spot_range", value)


def test_error_class_can_be_chosen() -> None:
    with pytest.raises(InputError) as info:
        positive_float("index_usd", -1, error=InputError)
    assert type(info.value) is InputError and str(info.value) == "index_usd=-1: must be a positive finite number"


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: FlatHaircut({"BTC": "abc"}), "haircuts[BTC]"),
        (lambda: FlatHaircut({"BTC": 0.1}, default="x"), "default"),
        (lambda: CollateralTier("x", 0.1), "upper_usd"),
        (lambda: TieredHaircut({"BTC": [("x", 0.9)]}), "upper_usd"),
        (lambda: DynamicHaircut({"BTC": 0.1}, {"BTC": "x"}), "reference_vol[BTC]"),
        (lambda: ActionLadder((("x", "free"),)), "levels"),
        (lambda: RiskBrackets((0, 1e5), (0.004, "x"), (125, 100)), "maintenance_rates"),
        (lambda: RiskBrackets((0, 1e5), (0.004, 0.005), (125, "x")), "max_leverages"),
        (lambda: RiskBrackets((0,), (0.004,), (125,), cap_usd="x"), "cap_usd"),
        (lambda: SizeLinearRate("x", 0.1), "initial_base"),
        (lambda: MaxLeverage("x"), "max_leverage"),
        (lambda: LiquidityTier("x", 0.6), "initial_fraction"),
        (lambda: VenueLiquidationRule(partial_fraction="x"), "partial_fraction"),
        (lambda: ScenarioGrid.regular(spot_range="x", points=7), "spot_range"),
        (lambda: ScenarioGrid.regular(spot_range=0.1, points="7"), "points"),
        (lambda: ScenarioGrid(("x",), ("up",)), "spot_shock[0]"),
        (lambda: ScenarioGrid((1.0,), ("up",), ("x",)), "dampening[0]"),
        (lambda: VolShock(up_range="x"), "up_range"),
        (lambda: SkewShock(linear_cap="x"), "linear_cap"),
    ],
)
def test_a_string_in_a_numeric_constructor_argument_is_a_parameter_error(build, field: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ParameterError) as info:
        build()
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}=") and "\n" not in str(info.value)
