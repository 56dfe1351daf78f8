"""DeFi collateral and lending-market risk.

* :mod:`~marginlab.defi.collateral_types` -- collateral types as data (liquid-staking, yield-bearing,
  synthetic-dollar, Uniswap v2/v3 LP and principal tokens), their closed-form values and calibrated haircuts;
* :mod:`~marginlab.defi.lending` -- a lending market's accounts x paths risk model (Aave v3.3 health-factor
  liquidations, liquidity curves, VaR / LaR / EVaR of bad debt);
* :mod:`~marginlab.defi.recommend` -- risk-parameter recommendations (LTV, liquidation threshold and bonus, caps,
  eMode) with the Risk DAO closed form as a screen;
* :mod:`~marginlab.defi.perps` -- open-interest caps of perpetual protocols from external liquidity.

Layering: imports :mod:`marginlab.stats`, :mod:`marginlab.collateral` and :mod:`marginlab.calibration`; nothing
below imports it.
"""
