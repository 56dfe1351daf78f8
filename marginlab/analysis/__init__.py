"""Analysis: liquidation, cascades, historical replay, synthetic books, backtests, procyclicality, capital efficiency.

Liquidation itself is :mod:`marginlab.liquidation`. Modules: :mod:`~marginlab.analysis.book` (the book margined in one call),
:mod:`~marginlab.analysis.cascade` (market impact and cascades), :mod:`~marginlab.analysis.replay` and
:mod:`~marginlab.analysis.stress_scenarios` (historical and hypothetical stress windows),
:mod:`~marginlab.analysis.synthetic` (seeded books), :mod:`~marginlab.analysis.backtest` (Kupiec,
Christoffersen, traffic light, ES backtest), :mod:`~marginlab.analysis.methodology_backtest` (the walk-forward backtest
of a calibration methodology, ``marginlab backtest``), :mod:`~marginlab.analysis.procyclicality`,
:mod:`~marginlab.analysis.efficiency` (strategy library and margin tables).
"""
