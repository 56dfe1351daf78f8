"""Liquidation written once: policy, ladder, isolated positions, settlement, fund, ADL, socialised loss, events,
and the one step loop over the book.

* :mod:`~marginlab.liquidation.policy` -- :class:`LiquidationPolicy` (frozen, typed) and the per-preset policies
  as data (``policies.yaml``, :func:`liquidation_policy_for`);
* :mod:`~marginlab.liquidation.ladder` -- the one classification and the ladder's stages on arrays (close amount,
  closes with fee and slippage, the partial/full loop);
* :mod:`~marginlab.liquidation.isolated` -- isolated positions as accounts of their own;
* :mod:`~marginlab.liquidation.settlement` -- expiries;
* :mod:`~marginlab.liquidation.writeoff` -- insurance fund, ADL, socialised loss, bad debt (one path for every deficit);
* :mod:`~marginlab.liquidation.events` -- the event log;
* :mod:`~marginlab.liquidation.driver` -- the step loop: :func:`replay_model_on_book`, :func:`liquidate_book`;
* :mod:`~marginlab.liquidation.results` -- :class:`BookLiquidation`, :class:`ReplayRun`, money conservation;
* :mod:`~marginlab.liquidation.reference` -- the per-account mirror with the same API: the test oracle.

The package sits above :mod:`marginlab.margin` and :mod:`marginlab.book` (it margins through
:class:`~marginlab.analysis.book.BookMargin`) and below :mod:`marginlab.analysis.replay` and
:mod:`marginlab.analysis.cascade`, which orchestrate it.

The package's ``__init__`` imports nothing, so that a low layer may read the policy
(:mod:`marginlab.liquidation.policy` imports only :mod:`marginlab.collateral`) without loading the engine; the
curated entry points are in :mod:`marginlab.api`.
"""
