"""Time-budgeted inference: every row gets a prediction and submission.csv is written before the deadline.

A Kaggle code submission that runs past 9 hours scores nothing, and a 9B LLM with swap TTA at
1-2k tokens is near that limit on two T4s, so prediction runs against a clock. Any family's loop
drives one TimeBudget:

    budget = TimeBudget(budget_seconds(flag_hours))          # at kernel start: loading counts too
    plan = budget.plan(lengths, tta=True, token_budget=2048)  # rows in plan.order (shortest first)
    for each batch of rows (in plan.order):
        run them with plan.use_tta[rows], plan.token_budget[rows]; rows in plan.skip get a fallback
        budget.observe(plan.tokens(rows), seconds)
        plan = budget.replan(remaining_rows)
    report = budget.report()   # -> inference_report.json

Rows run shortest first, so the longest rows, where degrading saves the most, are still ahead when
the estimate says the budget will not hold. The throughput is seconds per planned token
(min(length, token budget) x 2 with TTA), measured from the caller's batch times; the estimate is
elapsed + rate x remaining planned tokens. When it exceeds the time left the plan degrades in a
fixed, logged order, each step as little as needed:
  1. drop swap TTA on the longest remaining rows;
  2. halve the token budget of the longest remaining rows, step by step, down to a floor;
  3. last resort: the longest remaining rows are skipped and get the caller's fallback prediction
     (e.g. the class prior), so that a valid submission is still written in time.
Degradations are never undone (the log stays a plain record of what happened).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field

import numpy as np

ENV_HOURS = "LMSYS_TIME_BUDGET_HOURS"
DEFAULT_HOURS = 8.5  # Kaggle allows 9 h; its runtime is obfuscated by up to 15 min
DEFAULT_MARGIN_S = 300.0  # kept back for writing the submission and the report (a setting)
DEFAULT_FLOOR = 256  # shortest token budget step 2 may cut a row to (a setting)
OVERRUN_FACTOR = 1.1  # estimates are scaled up by this much before they are compared with the time left


def budget_hours(flag=None, environ=None) -> float:
    """--time-budget-hours, else $LMSYS_TIME_BUDGET_HOURS, else 8.5; one clear error naming the source."""
    environ = os.environ if environ is None else environ
    source, raw = ("--time-budget-hours", flag) if flag not in (None, "") else (ENV_HOURS, environ.get(ENV_HOURS))
    if raw in (None, ""):
        return DEFAULT_HOURS
    try:
        hours = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{source}={raw!r}: expected a number of hours, e.g. 8.5") from None
    if not math.isfinite(hours) or hours <= 0:
        raise ValueError(f"{source}={raw!r}: must be a positive number of hours")
    return hours


def budget_seconds(flag=None, environ=None) -> float:
    return budget_hours(flag, environ) * 3600.0


@dataclass
class RowPlan:
    """Per row (in the caller's row order): whether to run swap TTA, its token budget, whether it is
    skipped (fallback prediction); `order` is the order to run rows in (shortest first)."""

    lengths: np.ndarray
    use_tta: np.ndarray
    token_budget: np.ndarray
    skip: np.ndarray
    order: np.ndarray

    def tokens(self, rows=None) -> float:
        """Planned tokens of these rows (all rows when None): min(length, budget), twice with TTA, 0 if skipped."""
        rows = slice(None) if rows is None else np.asarray(rows, dtype=int)
        used = np.minimum(self.lengths[rows], self.token_budget[rows]) * np.where(self.use_tta[rows], 2, 1)
        return float(np.where(self.skip[rows], 0, used).sum())


@dataclass
class TimeBudget:
    """The clock, the throughput measured so far, the current RowPlan and the log of degradations."""

    seconds: float  # the whole budget, counted from construction (or `start`)
    clock: callable = time.monotonic
    margin_s: float = DEFAULT_MARGIN_S
    floor: int = DEFAULT_FLOOR
    measure_batches: int = 2  # batches observed before the estimate may degrade anything
    start: float | None = None
    row_plan: RowPlan | None = None
    degradations: list = field(default_factory=list)
    estimated_seconds_at_start: float | None = None
    _observed: list = field(default_factory=list)  # (tokens, seconds) per batch
    _token_budget: int | None = None

    def __post_init__(self):
        if not self.seconds > 0:
            raise ValueError(f"time budget must be positive, got {self.seconds!r} s (--time-budget-hours)")
        if self.start is None:
            self.start = self.clock()

    # -- time ---------------------------------------------------------------------------------
    @property
    def deadline(self) -> float:
        """When predicting must be done: the budget less the margin kept for writing."""
        return self.start + max(self.seconds - self.margin_s, 0.0)

    def elapsed(self) -> float:
        return self.clock() - self.start

    def left(self) -> float:
        return self.deadline - self.clock()

    def seconds_per_token(self) -> float | None:
        """Measured rate: the first batch (XLA compiles there) is left out once there are others, and the
        recent batches (the longer rows; attention grows faster than linearly) count if they are slower."""
        observed = self._observed[1:] if len(self._observed) > 1 else self._observed
        tokens = sum(t for t, _ in observed)
        if not observed or tokens <= 0:
            return None
        overall = sum(s for _, s in observed) / tokens
        recent = observed[-8:]
        recent_tokens = sum(t for t, _ in recent)
        return max(overall, sum(s for _, s in recent) / recent_tokens) if recent_tokens > 0 else overall

    # -- the plan -----------------------------------------------------------------------------
    def plan(self, lengths, tta: bool = True, token_budget: int | None = None, seconds_per_token: float | None = None) -> RowPlan:
        """The initial plan: every row at full TTA and token budget, run shortest first. With a prior rate
        (seconds_per_token, e.g. from a benchmark) the plan is checked against the budget at once."""
        lengths = np.asarray(lengths, dtype=np.int64)
        if lengths.ndim != 1 or (lengths < 0).any():
            raise ValueError("lengths must be one non-negative token count per row")
        cap = int(lengths.max(initial=1)) if token_budget is None else int(token_budget)
        if cap < 1:
            raise ValueError(f"token_budget must be positive, got {token_budget!r}")
        self._token_budget = cap
        self.row_plan = RowPlan(lengths=lengths, use_tta=np.full(len(lengths), bool(tta)),
                                token_budget=np.full(len(lengths), cap, dtype=np.int64),
                                skip=np.zeros(len(lengths), dtype=bool), order=np.argsort(lengths, kind="stable"))
        if seconds_per_token is not None:
            self.estimated_seconds_at_start = self.elapsed() + seconds_per_token * self.row_plan.tokens()
            self._degrade(np.arange(len(lengths)), seconds_per_token)
        return self.row_plan

    def observe(self, tokens: float, seconds: float) -> None:
        """One batch done: its planned tokens (RowPlan.tokens(rows)) and the seconds it took."""
        if seconds < 0 or tokens < 0:
            raise ValueError(f"observe: tokens ({tokens}) and seconds ({seconds}) must be non-negative")
        self._observed.append((float(tokens), float(seconds)))

    def replan(self, remaining) -> RowPlan:
        """Degrade the rows not yet run as far as the estimate needs (after `measure_batches` batches, or at
        once when the deadline has passed: then every remaining row is skipped)."""
        remaining = np.asarray(remaining, dtype=int)
        if self.left() <= 0 and len(remaining) and not self.row_plan.skip[remaining].all():
            rows = remaining[~self.row_plan.skip[remaining]]
            self.row_plan.skip[rows] = True
            self._log("skip", rows, f"deadline reached with {len(rows)} rows left")
            return self.row_plan
        rate = self.seconds_per_token()
        if rate is not None and len(self._observed) >= self.measure_batches:
            if self.estimated_seconds_at_start is None:
                self.estimated_seconds_at_start = self.elapsed() + rate * self.row_plan.tokens(remaining)
            self._degrade(remaining, rate)
        return self.row_plan

    def estimate_left(self, remaining, rate: float) -> float:
        return OVERRUN_FACTOR * rate * self.row_plan.tokens(remaining)

    def _degrade(self, remaining, rate: float) -> None:
        p = self.row_plan
        left = self.left()
        need = self.estimate_left(remaining, rate)
        if need <= left:
            return
        why = f"estimated {need:.0f} s for {len(remaining)} rows left, {left:.0f} s before the deadline"
        longest_first = remaining[np.argsort(-p.lengths[remaining], kind="stable")]
        # 1. swap TTA off, longest rows first, as few as needed
        rows = [i for i in longest_first if p.use_tta[i] and not p.skip[i]]
        changed = []
        for i in rows:
            if need <= left:
                break
            p.use_tta[i] = False
            changed.append(i)
            need -= OVERRUN_FACTOR * rate * min(p.lengths[i], p.token_budget[i])
        self._log("drop_tta", changed, why)
        # 2. halve the token budget of the longest rows, down to the floor
        cap = int(p.token_budget[remaining].max(initial=0))
        while need > left and cap > self.floor:
            cap = max(cap // 2, self.floor)
            changed = []
            for i in longest_first:
                if need <= left:
                    break
                used = min(p.lengths[i], p.token_budget[i])
                if p.skip[i] or used <= cap:
                    continue
                need -= OVERRUN_FACTOR * rate * (used - cap) * (2 if p.use_tta[i] else 1)
                p.token_budget[i] = cap
                changed.append(i)
            self._log("token_budget", changed, why, to=cap)
        # 3. skip the longest rows (fallback prediction) until the rest fits
        changed = []
        for i in longest_first:
            if need <= left:
                break
            if not p.skip[i]:
                need -= OVERRUN_FACTOR * rate * p.tokens([i])
                p.skip[i] = True
                changed.append(i)
        self._log("skip", changed, why + f"; TTA dropped and token budgets at the floor ({self.floor})")

    def _log(self, what, rows, why, **extra) -> None:
        if len(rows) == 0:
            return
        entry = dict(what=what, rows=int(len(rows)), why=why, at_seconds=round(self.elapsed(), 3), **extra)
        self.degradations.append(entry)
        print(f"time budget: {what} on {len(rows)} rows" + (f" (to {extra['to']} tokens)" if extra else "") + f": {why}",
              flush=True)

    # -- the record ---------------------------------------------------------------------------
    def report(self) -> dict:
        """The fields this module owns in inference_report.json."""
        p = self.row_plan
        rows = 0 if p is None else len(p.lengths)
        return dict(
            rows=rows,
            skipped_rows=0 if p is None else int(p.skip.sum()),
            rows_with_tta=0 if p is None else int((p.use_tta & ~p.skip).sum()),
            token_budget=self._token_budget,
            min_token_budget=None if p is None or not rows else int(p.token_budget[~p.skip].min(initial=self._token_budget)),
            seconds=round(self.elapsed(), 3),
            budget_seconds=self.seconds,
            deadline_seconds=round(self.deadline - self.start, 3),
            estimated_seconds_at_start=None if self.estimated_seconds_at_start is None else round(self.estimated_seconds_at_start, 3),
            seconds_per_token=self.seconds_per_token(),
            degradations=list(self.degradations),
        )


def predict_within_budget(budget: TimeBudget, lengths, predict_batch, batch_size: int | None = None, tta: bool = True,
                          token_budget: int | None = None, fallback=None, seconds_per_token: float | None = None,
                          batches=None):
    """The loop a family's prediction calls: plan, run each batch, observe, replan, fill skipped rows.

    predict_batch(rows, token_budget, use_tta) -> (len(rows), 3) probabilities, token_budget and use_tta per row
    (run the swapped pass only where use_tta is true); it is never called with skipped rows or an empty batch.
    Batches: slices of batch_size rows of the length order, or the family's own (`batches`: row-index arrays,
    e.g. its length buckets), run shortest first. fallback: (3,) probabilities for skipped rows (default
    uniform). Returns (probs in the caller's row order, budget.report())."""
    plan = budget.plan(lengths, tta=tta, token_budget=token_budget, seconds_per_token=seconds_per_token)
    n = len(plan.lengths)
    if batches is None:
        if not batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be a positive number of rows, got {batch_size!r}")
        batches = [plan.order[i:i + batch_size] for i in range(0, n, batch_size)]
    else:
        batches = [np.asarray(b, dtype=int) for b in batches if len(b)]
        batches.sort(key=lambda b: int(plan.lengths[b].max()))  # shortest first, stable
        covered = np.sort(np.concatenate(batches)) if batches else np.zeros(0, dtype=int)
        if not np.array_equal(covered, np.arange(n)):
            raise ValueError("batches must hold every row exactly once")
    probs = np.zeros((n, 3), dtype=np.float64)
    fallback = np.full(3, 1.0 / 3.0) if fallback is None else np.asarray(fallback, dtype=np.float64)
    for number, batch in enumerate(batches):
        if number:
            plan = budget.replan(np.concatenate(batches[number:]))
        run = batch[~plan.skip[batch]]
        probs[batch[plan.skip[batch]]] = fallback
        if len(run):
            began = budget.clock()
            probs[run] = np.asarray(predict_batch(run, plan.token_budget[run].copy(), plan.use_tta[run].copy()),
                                    dtype=np.float64)
            budget.observe(plan.tokens(run), budget.clock() - began)
    return probs, budget.report()
