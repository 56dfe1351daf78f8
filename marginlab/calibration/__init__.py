"""Calibration: one methodology, its model objects, and the parameter file they compute.

:mod:`~marginlab.calibration.methodology` (the frozen ``Methodology``: every modelling choice, its default the
recommended one, and the builders of its model objects), :mod:`~marginlab.calibration.calibrate` (``calibrate``: the
:class:`~marginlab.parameters.ParameterSet` computed by those objects at an as-of date),
:mod:`~marginlab.calibration.garch` (fits, selection, EWMA and rolling out-of-sample forecasts),
:mod:`~marginlab.calibration.evt` (generalised Pareto tails), :mod:`~marginlab.calibration.stress_ranges`
(price and volatility scan ranges, anti-procyclicality tools), :mod:`~marginlab.calibration.haircuts` (collateral
haircuts: ES of the price drop, liquidity add-on, industry tiers), :mod:`~marginlab.calibration.depeg` (stablecoin
depeg episodes and risk). The shared numerics live in :mod:`marginlab.stats`, the parameter contract in
:mod:`marginlab.parameters`; calibration never imports :mod:`marginlab.margin`.
"""
