"""Targets a correctly calibrated model passes: rejected cells against their null distribution, clustered pooled rates,
proper scoring rules.

A pass/fail target such as "no cell rejected" fails for a perfectly calibrated model most of the time: with 80 cells
(20 assets x 2 horizons x 2 sides) tested at 5%, about four are rejected by chance alone, more when the exceptions of
different assets fall on the same days (a crash day breaches many assets at once). This module measures a backtest
(:class:`~marginlab.analysis.methodology_backtest.MethodologyBacktest`) against what a correct model would show:

* :func:`rejected_cell_null` -- the number of rejected cells (Kupiec or Christoffersen independence p < ``level``) of the
  backtest against its distribution under a correctly calibrated model **with the observed cross-asset clustering**:
  each cell's ratio ``loss / rate`` is turned into ranks (pseudo-observations ``u`` with uniform margins: the
  calibrated model's probability integral transform), the days are resampled with replacement *as whole
  cross-sections* (a bootstrap over days that keeps which assets move together on a day, and, with ``block_days > 1``,
  short runs of days), and an exception is ``u > confidence``: every cell is then exactly calibrated, its exceptions
  independent over time (for ``block_days = 1``), and the exception days clustered across assets as observed.
* :func:`pooled_exception_rates` -- pooled exception rates per block, horizon and side with the binomial standard error
  and the **cluster-robust** one (clusters = dates: ``se = sqrt(sum_d (x_d - p n_d)^2) / N`` times
  ``sqrt(G / (G - 1))``, G dates; the sandwich variance of a mean with clustered errors).
* :func:`quantile_score` (the tick loss, strictly consistent for a quantile: Gneiting 2011) and :func:`fz0_score` (the
  FZ0 loss of Patton, Ziegel and Chen 2019, "Dynamic semiparametric models for expected shortfall (and
  value-at-risk)", J. Econometrics 211(2), 388-413, the zero-homogeneous member of the Fissler and Ziegel 2016 class,
  "Higher order elicitability and Osband's principle", Ann. Statist. 44(4), 1680-1707), strictly consistent for (VaR,
  ES) jointly; :func:`score_table` averages them per block, horizon and side: lower is better, and a margin that is
  too high is penalised as surely as one that is too low -- the capital comparison a coverage count cannot make.

Examples
--------
>>> quantile_score(np.array([0.05, -0.01]), np.array([0.03, 0.03]), 0.99).round(6).tolist()
[0.0198, 0.0004]
>>> float(fz0_score(np.array([0.05]), np.array([0.03]), np.array([0.04]), 0.99)[0].round(6))
46.531124
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd
from scipy import stats

from marginlab.exceptions import InputError

if TYPE_CHECKING:
    from marginlab.analysis.methodology_backtest import MethodologyBacktest

__all__ = [
    "RejectedCellNull",
    "fz0_score",
    "pooled_exception_rates",
    "quantile_score",
    "rejected_cell_null",
    "rejection_flags",
    "score_difference",
    "score_table",
]


# ------------------------------------------------------------------ scoring rules
def quantile_score(loss: np.ndarray, var: np.ndarray, confidence: float) -> np.ndarray:
    """Tick (quantile) loss of a VaR forecast ``var`` of the loss ``loss`` at ``confidence``:
    ``(1[loss <= var] - confidence) (var - loss)`` (>= 0; its expectation is minimised by the true quantile).

    Parameters
    ----------
    loss, var : array
        Realised losses and the rates, fractions of the position's value (a loss is positive).
    confidence : float

    Returns
    -------
    numpy.ndarray
    """
    loss, var = np.asarray(loss, dtype=float), np.asarray(var, dtype=float)
    return ((loss <= var).astype(float) - float(confidence)) * (var - loss)


def fz0_score(loss: np.ndarray, var: np.ndarray, es: np.ndarray, confidence: float) -> np.ndarray:
    """FZ0 loss (Patton, Ziegel and Chen 2019) of a (VaR, ES) forecast of the loss at ``confidence``.

    On returns ``y = -loss`` with tail probability ``a = 1 - confidence``, ``v = -var`` and ``e = -es`` (``e <= v < 0``):
    ``L = -1[y <= v] (v - y) / (a e) + v / e + ln(-e) - 1``; on losses ``1[loss >= var] (loss - var) / (a es) +
    var / es + ln(es) - 1``. ``es`` must be positive and at least ``var``.
    """
    loss, var, es = (np.asarray(x, dtype=float) for x in (loss, var, es))
    if np.any(es <= 0):
        raise InputError("es", float(es[es <= 0].ravel()[0]), "expected shortfall must be positive")
    a = 1.0 - float(confidence)
    return (loss >= var) * (loss - var) / (a * es) + var / es + np.log(es) - 1.0


def score_table(run: MethodologyBacktest, blocks: Sequence[tuple[str, str, str]]) -> pd.DataFrame:
    """Mean quantile score and FZ0 score per block, horizon and side (pooled over the assets; tested dates only).

    Returns
    -------
    pandas.DataFrame
        ``block, horizon_days, side, observations, quantile_score, fz0_score, average_rate``.
    """
    rows = []
    tested = run.exceptions
    for label, first, last in blocks:
        inside = tested[(tested["date"] >= pd.Timestamp(first, tz="UTC")) & (tested["date"] <= pd.Timestamp(last, tz="UTC"))]
        for key, group in inside.groupby(["horizon_days", "side"], sort=True):
            h, side = cast(tuple[Any, Any], key)
            es = np.maximum(group["es"].to_numpy(), group["rate"].to_numpy())
            finite = np.isfinite(es)
            rows.append({
                "block": label, "horizon_days": int(h), "side": side, "observations": len(group),
                "quantile_score": float(np.mean(quantile_score(group["loss"].to_numpy(), group["rate"].to_numpy(), run.confidence))),
                "fz0_score": float(np.mean(fz0_score(group["loss"].to_numpy()[finite], group["rate"].to_numpy()[finite],
                                                     es[finite], run.confidence))) if finite.any() else float("nan"),
                "average_rate": float(group["rate"].mean()),
            })
    return pd.DataFrame(rows)


def score_difference(run_a: MethodologyBacktest, run_b: MethodologyBacktest, first: Any = None, last: Any = None) -> dict[str, float]:
    """Mean FZ0 score of ``run_a`` minus ``run_b`` on their common tested cells and dates, with a date-clustered
    standard error (a Diebold-Mariano comparison of two forecasts by a proper scoring rule: ``z < -2`` says ``a`` is
    better beyond sampling noise, with the exceptions of one day clustered across assets).

    Returns
    -------
    dict
        ``difference, se, z, observations``.
    """
    keys = ["date", "asset", "horizon_days", "side"]
    both = run_a.exceptions.merge(run_b.exceptions, on=keys, suffixes=("_a", "_b"))
    if first is not None:
        both = both[both["date"] >= pd.Timestamp(first, tz="UTC")]
    if last is not None:
        both = both[both["date"] <= pd.Timestamp(last, tz="UTC")]
    if both.empty:
        raise InputError("runs", "no common tested dates", "the two backtests must share assets, horizons, sides and dates")
    scores = {}
    for tag, run in (("a", run_a), ("b", run_b)):
        rate = both[f"rate_{tag}"].to_numpy()
        es = np.maximum(both[f"es_{tag}"].to_numpy(), rate)
        scores[tag] = fz0_score(both[f"loss_{tag}"].to_numpy(), rate, es, run.confidence)
    diff = pd.Series(scores["a"] - scores["b"], index=both.index)
    mean = float(diff.mean())
    per_day = (diff - mean).groupby(both["date"]).sum().to_numpy()
    g, n = len(per_day), len(diff)
    se = float(np.sqrt(np.sum(per_day**2) * g / max(g - 1, 1)) / n)
    return {"difference": mean, "se": se, "z": mean / se if se > 0 else float("nan"), "observations": float(n)}


# ------------------------------------------------------------------ pooled rates, clustered by date
def pooled_exception_rates(run: MethodologyBacktest, blocks: Sequence[tuple[str, str, str]]) -> pd.DataFrame:
    """Pooled exception rates per block, horizon and side with binomial and date-clustered standard errors.

    Returns
    -------
    pandas.DataFrame
        ``block, horizon_days, side, observations, exceptions, exception_rate, se_binomial, se_clustered, dates,
        exception_days, assets_per_exception_day``, and ``z_clustered`` = (rate - expected) / se_clustered.
    """
    rows = []
    expected = 1.0 - run.confidence
    tested = run.exceptions
    for label, first, last in blocks:
        inside = tested[(tested["date"] >= pd.Timestamp(first, tz="UTC")) & (tested["date"] <= pd.Timestamp(last, tz="UTC"))]
        for key, group in inside.groupby(["horizon_days", "side"], sort=True):
            h, side = cast(tuple[Any, Any], key)
            per_day = group.groupby("date")["exception"].agg(["sum", "size"])
            x_d, n_d = per_day["sum"].to_numpy(dtype=float), per_day["size"].to_numpy(dtype=float)
            n, x, g = float(n_d.sum()), float(x_d.sum()), len(per_day)
            rate = x / n if n else float("nan")
            clustered = float(np.sqrt(np.sum((x_d - rate * n_d) ** 2) * g / max(g - 1, 1)) / n) if n else float("nan")
            days = int((x_d > 0).sum())
            rows.append({
                "block": label, "horizon_days": int(h), "side": side, "observations": int(n), "exceptions": int(x),
                "exception_rate": rate, "se_binomial": float(np.sqrt(rate * (1 - rate) / n)) if n else float("nan"),
                "se_clustered": clustered, "dates": g, "exception_days": days,
                "assets_per_exception_day": x / days if days else float("nan"),
                "z_clustered": (rate - expected) / clustered if clustered > 0 else float("nan"),
            })
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ rejected cells under a correct model
def _lr_kupiec(n: np.ndarray, x: np.ndarray, p: float) -> np.ndarray:
    phat = np.divide(x, n, out=np.zeros_like(x, dtype=float), where=n > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        null = (n - x) * np.log1p(-p) + x * np.log(p)
        alt = np.where(n - x > 0, (n - x) * np.log(np.where(phat < 1, 1 - phat, 1.0)), 0.0) + np.where(x > 0, x * np.log(np.where(phat > 0, phat, 1.0)), 0.0)
    return np.maximum(-2.0 * (null - alt), 0.0)


def _term(count: np.ndarray, prob: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(count > 0, count * np.log(np.where(prob > 0, prob, 1.0)), 0.0)


def _lr_independence(n00: np.ndarray, n01: np.ndarray, n10: np.ndarray, n11: np.ndarray) -> np.ndarray:
    total = n00 + n01 + n10 + n11
    pi = np.divide(n01 + n11, total, out=np.zeros_like(total, dtype=float), where=total > 0)
    pi0 = np.divide(n01, n00 + n01, out=np.zeros_like(total, dtype=float), where=(n00 + n01) > 0)
    pi1 = np.divide(n11, n10 + n11, out=np.zeros_like(total, dtype=float), where=(n10 + n11) > 0)
    null = _term(n00 + n10, 1 - pi) + _term(n01 + n11, pi)
    alt = _term(n00, 1 - pi0) + _term(n01, pi0) + _term(n10, 1 - pi1) + _term(n11, pi1)
    return np.maximum(-2.0 * (null - alt), 0.0)


def rejection_flags(hits: np.ndarray, valid: np.ndarray, confidence: float, level: float = 0.05,
                    kupiec: str = "two-sided") -> np.ndarray:
    """Per column of a (days x cells) exception matrix: Kupiec or Christoffersen independence rejected at ``level``.

    ``kupiec="two-sided"`` rejects too few exceptions as well as too many (the package's test); ``"upper"`` only too
    many (the signed root of the likelihood ratio above the one-sided critical value: the risk of an under-margined
    position, leaving over-coverage to the scoring rules).

    ``valid`` marks the tested entries; a cell's sequence is its valid entries in row order (the same statistics as
    :func:`~marginlab.analysis.backtest.kupiec_test` and :func:`~marginlab.analysis.backtest.christoffersen_test`).
    """
    hits = np.asarray(hits, dtype=bool) & valid
    n = valid.sum(axis=0).astype(float)
    x = hits.sum(axis=0).astype(float)
    critical = stats.chi2.ppf(1.0 - level, 1)
    if kupiec not in ("two-sided", "upper"):
        raise InputError("kupiec", kupiec, "must be 'two-sided' or 'upper'")
    lr = _lr_kupiec(n, x, 1.0 - confidence)
    if kupiec == "upper":
        coverage = (x > n * (1.0 - confidence)) & (lr > stats.chi2.ppf(1.0 - 2.0 * level, 1))
    else:
        coverage = lr > critical
    # transitions between consecutive valid entries of each column
    n00 = np.zeros(hits.shape[1])
    n01, n10, n11 = n00.copy(), n00.copy(), n00.copy()
    for c in range(hits.shape[1]):
        seq = hits[valid[:, c], c]
        if seq.size < 2:
            continue
        a, b = seq[:-1], seq[1:]
        n00[c], n01[c] = np.sum(~a & ~b), np.sum(~a & b)
        n10[c], n11[c] = np.sum(a & ~b), np.sum(a & b)
    independence = _lr_independence(n00, n01, n10, n11) > critical
    return coverage | independence


@dataclass(frozen=True)
class RejectedCellNull:
    """Result of :func:`rejected_cell_null`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per side: ``side, cells, observed_rejected, null_mean, null_low, null_high`` (the central 95% range of
        the correct model's count), ``p_value`` (share of simulations with at least the observed count),
        ``within_range``, ``independent_low, independent_high`` (the range if the cells were independent, binomial).
    simulated : pandas.DataFrame
        The simulated counts (one column per side).
    n_simulations, block_days : int
    kupiec : str
    """

    table: pd.DataFrame
    simulated: pd.DataFrame = field(repr=False)
    n_simulations: int = 0
    block_days: int = 1
    kupiec: str = "two-sided"


def _pit_matrix(run: MethodologyBacktest) -> tuple[pd.DataFrame, list[tuple[Any, ...]]]:
    """Days x cells matrix of pseudo-observations ``u`` of ``loss / rate`` (NaN where a cell is not tested)."""
    tested = run.exceptions.copy()
    tested["ratio"] = tested["loss"] / tested["rate"]
    tested["u"] = tested.groupby(["asset", "horizon_days", "side"])["ratio"].rank(method="first")
    sizes = tested.groupby(["asset", "horizon_days", "side"])["ratio"].transform("size")
    tested["u"] = tested["u"] / (sizes + 1.0)
    matrix = tested.pivot_table(index="date", columns=["asset", "horizon_days", "side"], values="u", aggfunc="first")
    return matrix, [tuple(column) for column in matrix.columns]


def rejected_cell_null(
    run: MethodologyBacktest,
    *,
    n_simulations: int = 500,
    block_days: int = 1,
    level: float = 0.05,
    kupiec: str = "two-sided",
    rng: np.random.Generator | int | None = 0,
) -> RejectedCellNull:
    """The backtest's rejected-cell count per side against a correctly calibrated model's (see the module docstring).

    Parameters
    ----------
    run : MethodologyBacktest
    n_simulations : int
        Bootstrap samples of the days.
    block_days : int
        Length of the resampled runs of days (1: whole days, independent over time -- the null of the independence test).
    level : float
        Level of the per-cell tests.
    kupiec : {"two-sided", "upper"}
        The coverage test (:func:`rejection_flags`).
    rng : Generator, int or None

    Returns
    -------
    RejectedCellNull
    """
    if int(n_simulations) != n_simulations or n_simulations < 10:
        raise InputError("n_simulations", n_simulations, "must be an integer >= 10")
    if int(block_days) != block_days or block_days < 1:
        raise InputError("block_days", block_days, "must be a positive integer")
    generator = np.random.default_rng(rng)
    matrix, cells = _pit_matrix(run)
    values = matrix.to_numpy(dtype=float)
    valid_all = np.isfinite(values)
    days = values.shape[0]
    sides = np.array([cell[2] for cell in cells])
    confidence = run.confidence
    lookup = run.exceptions.pivot_table(index="date", columns=["asset", "horizon_days", "side"], values="exception",
                                        aggfunc="first").reindex(index=matrix.index, columns=matrix.columns)
    observed_hits = lookup.fillna(False).to_numpy(dtype=bool)
    observed = rejection_flags(observed_hits, valid_all, confidence, level, kupiec)
    counts = {side: np.empty(int(n_simulations), dtype=int) for side in run.sides}
    starts_needed = -(-days // int(block_days))
    for k in range(int(n_simulations)):
        starts = generator.integers(0, days - int(block_days) + 1, size=starts_needed)
        rows = (starts[:, None] + np.arange(int(block_days))[None, :]).ravel()[:days]
        sample = values[rows]
        valid = valid_all[rows]
        flags = rejection_flags(np.where(valid, sample > confidence, False), valid, confidence, level, kupiec)
        for side in run.sides:
            counts[side][k] = int(flags[sides == side].sum())
    rows_out = []
    for side in run.sides:
        simulated = counts[side]
        cells_side = int((sides == side).sum())
        independent = stats.binom(cells_side, level)
        rows_out.append({
            "side": side, "cells": cells_side, "observed_rejected": int(observed[sides == side].sum()),
            "null_mean": float(simulated.mean()), "null_low": float(np.quantile(simulated, 0.025)),
            "null_high": float(np.quantile(simulated, 0.975)),
            "p_value": float(np.mean(simulated >= observed[sides == side].sum())),
            "independent_low": float(independent.ppf(0.025)), "independent_high": float(independent.ppf(0.975)),
        })
    table = pd.DataFrame(rows_out)
    table["within_range"] = (table["observed_rejected"] >= table["null_low"]) & (table["observed_rejected"] <= table["null_high"])
    return RejectedCellNull(table=table, simulated=pd.DataFrame(counts), n_simulations=int(n_simulations), block_days=int(block_days),
                            kupiec=kupiec)
