"""The size-bounded map the API layer keeps its answers in."""

from __future__ import annotations

from webapp.core.budgeted import Budgeted


def test_the_value_written_longest_ago_goes_first_and_sizes_add_up() -> None:
    kept: Budgeted[str, str] = Budgeted(10)
    kept.put("a", "A", 4)
    kept.put("b", "B", 4)
    kept.put("a", "A2", 3)  # written again: now the newest
    assert kept.size == 7 and list(kept.kept) == ["b", "a"]
    kept.put("c", "C", 5)  # over the budget: "b", written longest ago, goes
    assert kept.size == 8 and list(kept.kept) == ["a", "c"]
    kept.put("d", "D", 11)  # larger than the budget: not kept, and nothing else lost
    assert kept.size == 8 and "d" not in kept.kept
    kept.discard("a")
    kept.discard("missing")
    assert kept.size == 5 and kept.kept == {"c": ("C", 5)}
    kept.clear()
    assert kept.size == 0 and not kept.kept


def test_a_budget_of_zero_keeps_nothing() -> None:
    kept: Budgeted[str, str] = Budgeted(0)
    kept.put("a", "A", 1)
    assert kept.size == 0 and not kept.kept
