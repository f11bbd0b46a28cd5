"""What a score is made of: points with words a salesperson understands."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MAX_POINTS = 100
MINUS = "\u2212"

Tier = Literal[1, 2, 3]


@dataclass(frozen=True, slots=True)
class Reason:
    """Points one criterion gave, with words a salesperson understands."""

    points: int
    label: str

    def __str__(self) -> str:
        sign = MINUS if self.points < 0 else "+"
        return f"{sign}{abs(self.points)} {self.label}"


@dataclass(frozen=True, slots=True)
class Score:
    """The outcome: 0–100, a tier, and the reasons that add up to it (before clamping)."""

    score: int
    tier: Tier
    reasons: tuple[Reason, ...]

    def as_json(self) -> list[dict[str, int | str]]:
        """The reasons as stored on the prospect (`score_reasons`)."""
        return [{"points": reason.points, "label": reason.label} for reason in self.reasons]
