"""Size guards: refuse an operation of a user template before it builds a huge value.

The sandbox counts steps and characters between operations, but one operation
can do unbounded work on its own: `[[1] * 1000000] * 400` is two cheap
multiplications whose result prints as 1.2 GB, and `sum(lists, [])` copies
quadratically. Every guard here measures what an operation would produce (its
*weight*: about the characters printing it would take, counting shared
sub-values each time they appear) and raises `Refused` before running it. The
measurement itself stops as soon as it passes the limit, so it costs at most
`MAX_VALUE_CHARS` small steps.

Whatever these guards miss is still bounded by the worker process that renders
templates (`isolation.py`): a CPU, memory and wall-time limit per email.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import markupsafe
from jinja2 import pass_environment, pass_eval_context
from jinja2.exceptions import SecurityError
from jinja2.filters import FILTERS, make_attrgetter

MAX_VALUE_CHARS = 1_000_000
MAX_SIZE_ARGUMENT = 10_000
MAX_INT_BITS = 10_000
MAX_RANGE = 1_000


class Refused(SecurityError):
    """A limit or rule of Tune's sandbox; the message is written for the template author."""


def too_large() -> Refused:
    return Refused(f"a value is larger than {MAX_VALUE_CHARS} characters")


def weight(value: object, limit: int = MAX_VALUE_CHARS) -> int:
    """About how many characters printing `value` takes; counting stops just past `limit`."""
    total = 0
    pending = [value]
    while pending and total <= limit:
        item = pending.pop()
        kind = type(item)
        if kind is str or isinstance(item, str):
            total += len(item)  # type: ignore[arg-type]
        elif kind is list or kind is tuple or isinstance(item, list | tuple | set | frozenset):
            total += 2 + 2 * len(item)  # type: ignore[arg-type]
            if total <= limit:
                pending.extend(item)  # type: ignore[arg-type]
        elif kind is int:
            total += 1 + item.bit_length() * 3 // 10  # type: ignore[attr-defined]
        elif isinstance(item, Mapping):
            total += 2 + 4 * len(item)
            if total <= limit:
                pending.extend(item.keys())
                pending.extend(item.values())
        else:
            total += 24  # floats, dates, undefined, sandbox objects: short when printed
    return total


def check_weight(value: object) -> object:
    """`value` itself, or `Refused` when it is too large to print or pass on."""
    if weight(value) > MAX_VALUE_CHARS:
        raise too_large()
    return value


def is_plain_sequence(value: object) -> bool:
    return isinstance(value, str | list | tuple)


def check_repeat(left: object, right: object) -> None:
    """`sequence * count` (either way round) and `int * int` stay within the limits."""
    for sequence, count in ((left, right), (right, left)):
        if is_plain_sequence(sequence) and isinstance(count, int) and count > 0:
            if weight(sequence, MAX_VALUE_CHARS // count + 1) * count > MAX_VALUE_CHARS:
                raise too_large()
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise Refused("number too large")


def check_add(left: object, right: object) -> None:
    if is_plain_sequence(left) and is_plain_sequence(right):
        if weight(left) + weight(right) > MAX_VALUE_CHARS:
            raise too_large()


def check_power(base: object, exponent: object) -> None:
    if isinstance(base, int) and isinstance(exponent, int):
        if exponent > 0 and base.bit_length() * exponent > MAX_INT_BITS:
            raise Refused("number too large")


def check_parts(parts: Iterable[object]) -> None:
    """The pieces of a `~` concatenation would not make a string over the limit."""
    total = 0
    for part in parts:
        total += weight(part, MAX_VALUE_CHARS - total)
        if total > MAX_VALUE_CHARS:
            raise too_large()


def check_size_arguments(name: str, args: Iterable[object], kwargs: Mapping[str, object]) -> None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and abs(value) > MAX_SIZE_ARGUMENT:
            raise Refused(f"sizes given to '{name}' are limited to {MAX_SIZE_ARGUMENT}")


# --- filters that build values from their arguments ----------------------------


def _check_replace_size(text: str, old: str, new: str, count: int | None) -> None:
    occurrences = len(text) + 1 if not old else text.count(old)
    if count is not None and count >= 0:
        occurrences = min(occurrences, count)
    if len(text) + occurrences * len(new) > MAX_VALUE_CHARS:
        raise too_large()


@pass_eval_context
def guarded_replace(eval_ctx: Any, value: Any, old: Any, new: Any, count: int | None = None) -> Any:
    soft = markupsafe.soft_str
    _check_replace_size(soft(value), soft(old), soft(new), count)
    return FILTERS["replace"](eval_ctx, value, old, new, count)


def replace_method(text: str, old: str, new: str, count: int = -1) -> str:
    _check_replace_size(text, str(old), str(new), count)
    return text.replace(old, new, count)


@pass_eval_context
def guarded_join(eval_ctx: Any, value: Iterable[Any], d: str = "", attribute: Any = None) -> Any:
    items = list(value)
    if len(items) > MAX_VALUE_CHARS or len(markupsafe.soft_str(d)) * len(items) > MAX_VALUE_CHARS:
        raise too_large()
    if attribute is None:
        check_parts(items)
    result = FILTERS["join"](eval_ctx, items, d, attribute)
    if len(result) > MAX_VALUE_CHARS:
        raise too_large()
    return result


def guarded_indent(
    value: Any, width: int | str = 4, first: bool = False, blank: bool = False
) -> Any:
    text = markupsafe.soft_str(value)
    per_line = width if isinstance(width, int) else len(markupsafe.soft_str(width))
    if len(text) + (text.count("\n") + 1) * max(per_line, 0) > MAX_VALUE_CHARS:
        raise too_large()
    return FILTERS["indent"](value, width, first, blank)


@pass_eval_context
def guarded_tojson(eval_ctx: Any, value: Any, indent: int | None = None) -> Any:
    """JSON text grows with nesting times `indent`: bound the product."""
    spread = 1 + (indent if isinstance(indent, int) and indent > 0 else 0)
    if weight(value, MAX_VALUE_CHARS // spread + 1) * spread > MAX_VALUE_CHARS:
        raise too_large()
    return FILTERS["tojson"](eval_ctx, value, indent)


@pass_environment
def guarded_sum(
    environment: Any, iterable: Iterable[Any], attribute: Any = None, start: Any = 0
) -> Any:
    """`sum(lists, [])` copies the running total at every step: bound the copying too."""
    items = list(iterable)
    if attribute is not None:
        items = list(map(make_attrgetter(environment, attribute), items))
    if is_plain_sequence(start) or any(is_plain_sequence(item) for item in items):
        running = weight(start)
        copied = 0
        for item in items:
            running += weight(item, MAX_VALUE_CHARS)
            copied += running
            if running > MAX_VALUE_CHARS or copied > 10 * MAX_VALUE_CHARS:
                raise too_large()
    return sum(items, start)


def safe_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise Refused(f"range() is limited to {MAX_RANGE} numbers")
    return numbers


SIZED_FILTERS = frozenset({"batch", "center", "indent", "slice", "truncate"})
BUILDING_FILTERS: dict[str, Callable[..., Any]] = {
    "replace": guarded_replace,
    "join": guarded_join,
    "indent": guarded_indent,
    "tojson": guarded_tojson,
    "sum": guarded_sum,
}
"""Filters whose result can outgrow their input; each checks its arguments first."""


def guard_filter(
    name: str, function: Callable[..., Any], spend: Callable[[], None]
) -> Callable[..., Any]:
    """`function` counting a step, refusing too-large input and arguments, checking its result."""
    pass_arg = getattr(function, "jinja_pass_arg", None)
    leading = 1 if pass_arg is not None else 0  # the injected context/environment
    sized = name in SIZED_FILTERS

    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        spend()
        if len(args) > leading:
            check_weight(args[leading])  # filters like `e` and `sort` would stringify or walk it
        if sized:
            check_size_arguments(name, args[leading + 1 :], kwargs)
        return check_weight(function(*args, **kwargs))

    return guarded
