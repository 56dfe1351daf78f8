"""Analysis: liquidation, cascades, historical replay, synthetic books, backtests, procyclicality, capital efficiency."""
