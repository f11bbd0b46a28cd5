"""A/B variants: who gets which, and when a variant may be called the winner.

Contacts are split by a hash of (step, contact): deterministic (a retried or
re-read step gives the same contact the same variant) and even in expectation.

A variant is judged on its reply rate, or on its human click rate when the
campaign chooses clicks; never on opens, which mail privacy proxies inflate.
Each variant's rate gets a Beta(1 + successes, 1 + failures) posterior; the
probability that a variant is best is P(its rate > every other rate), computed
by numerical integration on a grid. No winner is called below 95%.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

LABELS = "ABCD"
MAX_VARIANTS = len(LABELS)
WINNER_THRESHOLD = 0.95
METRICS = ("reply", "click")
GRID = 4000


def label(variant: int) -> str:
    return LABELS[variant]


def assign(step_id: int, contact_id: int, count: int) -> int:
    """The variant (0-based) of one contact at one step, out of `count`."""
    if count <= 1:
        return 0
    digest = hashlib.blake2b(f"{step_id}:{contact_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


@dataclass(frozen=True)
class Arm:
    """One variant's outcome: `successes` (replies or clicks) out of `trials` (sent)."""

    trials: int
    successes: int


def probability_best(arms: Sequence[Arm]) -> list[float]:
    """P(each arm has the highest rate) under independent Beta(1+s, 1+n-s) posteriors."""
    if len(arms) < 2:
        return [1.0] * len(arms)
    params = [(1 + a.successes, 1 + max(a.trials - a.successes, 0)) for a in arms]
    low, high = _support(params)
    step = (high - low) / GRID
    xs = [low + (i + 0.5) * step for i in range(GRID)]
    densities = [_density(a, b, xs, step) for a, b in params]
    cumulative = [_cumulative(d) for d in densities]
    result = []
    for i, density in enumerate(densities):
        total = 0.0
        for k, mass in enumerate(density):
            if mass == 0.0:
                continue
            others = 1.0
            for j, cdf in enumerate(cumulative):
                if j != i:
                    # P(other < x) at the cell's centre: the cells below, half of this one.
                    others *= cdf[k] - densities[j][k] / 2
            total += mass * others
        result.append(total)
    norm = sum(result)
    return [value / norm for value in result] if norm else [1 / len(arms)] * len(arms)


def winner(arms: Sequence[Arm], threshold: float = WINNER_THRESHOLD) -> int | None:
    """The index of the arm whose probability of being best reaches the threshold, if any."""
    if len(arms) < 2:
        return None
    chances = probability_best(arms)
    best = max(range(len(arms)), key=chances.__getitem__)
    return best if chances[best] >= threshold else None


def _support(params: Sequence[tuple[int, int]]) -> tuple[float, float]:
    """Where all posteriors have their mass: each mean ± 12 standard deviations, clipped."""
    low, high = 1.0, 0.0
    for a, b in params:
        mean = a / (a + b)
        sd = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
        low, high = min(low, mean - 12 * sd), max(high, mean + 12 * sd)
    return max(low, 0.0), min(high, 1.0)


def _density(a: int, b: int, xs: Sequence[float], step: float) -> list[float]:
    """The Beta(a, b) mass of each grid cell, normalised over the grid."""
    log_norm = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
    masses = []
    for x in xs:
        if x <= 0.0 or x >= 1.0:
            masses.append(0.0)
            continue
        log_pdf = log_norm + (a - 1) * math.log(x) + (b - 1) * math.log1p(-x)
        masses.append(math.exp(log_pdf) * step if log_pdf > -700 else 0.0)
    total = sum(masses)
    return [m / total for m in masses] if total else masses


def _cumulative(masses: Sequence[float]) -> list[float]:
    running, out = 0.0, []
    for mass in masses:
        running += mass
        out.append(running)
    return out
