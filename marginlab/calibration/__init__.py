"""Calibration: GARCH volatility models, adaptive stress ranges (FHS and EVT), haircuts and the parameter file.

Modules: :mod:`~marginlab.calibration.garch` (fits, selection, rolling out-of-sample forecasts),
:mod:`~marginlab.calibration.evt` (generalised Pareto tails), :mod:`~marginlab.calibration.stress_ranges`
(price and volatility scan ranges, anti-procyclicality tools), :mod:`~marginlab.calibration.risk_measures`
(value at risk and expected shortfall of a sample), :mod:`~marginlab.calibration.haircuts` (collateral
haircuts: ES of the price drop at GARCH volatility, liquidity add-on, industry tiers),
:mod:`~marginlab.calibration.depeg` (stablecoin depeg episodes and risk) and
:mod:`~marginlab.calibration.params` (the calibrated parameter file, its JSON schema and ``calibrate``).
"""
