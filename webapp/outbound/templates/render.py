"""Per-tier email templates, rendered in a locked-down Jinja2 sandbox.

Users write templates; Tune renders them once per contact, tens of thousands of
times per campaign. So rendering must be safe and forgiving at once:

* Safe: `ImmutableSandboxedEnvironment` (no `_private` or internal attributes,
  no mutation of lists and dicts), no includes/imports/extends, no switching
  autoescape off, only a short list of filters and callables, and a budget
  per render: loop iterations, calls, filters and operators
  (`MAX_RENDER_STEPS`), characters
  produced anywhere including `{% set %}` blocks (`MAX_RENDERED_CHARS`), the
  size of any single value (`MAX_VALUE_CHARS`), `range()` length
  (`MAX_RANGE`), and wall time (`RENDER_SECONDS`).
* Forgiving: a missing or None merge field renders as "" (and `x or "there"`
  falls back), compares false and propagates through arithmetic, so one
  contact without a title does not stop a send. Typos are caught earlier:
  `validate_template` rejects unknown merge fields when the template is saved.

The HTML body is autoescaped; the subject is a mail header, rendered without
escaping and with every line break and control character removed.
"""

from __future__ import annotations

import functools
import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import markupsafe
from jinja2 import nodes, pass_context, pass_eval_context
from jinja2.exceptions import SecurityError, TemplateError, TemplateSyntaxError
from jinja2.filters import FILTERS
from jinja2.meta import find_undeclared_variables
from jinja2.runtime import ChainableUndefined, Context, LoopContext, Macro, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Cycler, Joiner, Namespace
from jinja2.visitor import NodeTransformer

from webapp.core.errors import ValidationFailed

MAX_TEMPLATE_BYTES = 200_000
MAX_SUBJECT_CHARS = 300
MAX_RENDERED_CHARS = 1_000_000
MAX_VALUE_CHARS = 1_000_000
MAX_RENDER_STEPS = 100_000
MAX_RANGE = 1_000
MAX_SIZE_ARGUMENT = 10_000
RENDER_SECONDS = 1.0

MERGE_FIELDS: dict[str, frozenset[str]] = {
    "contact": frozenset({"first_name", "last_name", "name", "title", "email", "seniority"}),
    "prospect": frozenset(
        {"name", "domain", "industry", "country", "employees", "revenue", "tier"}
    ),
    "campaign": frozenset({"name", "industry"}),
    "sender": frozenset({"name", "email", "title", "company"}),
}
"""What a template may use; the caller supplies these four objects (mappings or dataclasses)."""

SAMPLE_CONTEXT: dict[str, dict[str, object]] = {
    "contact": {
        "first_name": "Jane",
        "last_name": "Doe",
        "name": "Jane Doe",
        "title": "VP of Sales",
        "email": "jane.doe@acme.example",
        "seniority": "vp",
    },
    "prospect": {
        "name": "Acme Corp",
        "domain": "acme.example",
        "industry": "Logistics",
        "country": "United States",
        "employees": 420,
        "revenue": 50_000_000,
        "tier": 1,
    },
    "campaign": {"name": "Q3 outbound", "industry": "Logistics"},
    "sender": {
        "name": "Sam Lee",
        "email": "sam@tune.example",
        "title": "Account Executive",
        "company": "Tune",
    },
}
"""A complete, realistic context: used to test-render templates on save, and for previews."""


@dataclass(frozen=True)
class EmailTemplate:
    """A subject and HTML body written with merge fields."""

    subject: str
    html: str


@dataclass(frozen=True)
class RenderedEmail:
    """One contact's email: a single-line subject and the escaped HTML body."""

    subject: str
    html: str


def validate_template(subject: str, html: str) -> None:
    """Refuse a template that would not compile, is unsafe, uses unknown fields or fails to render.

    Raises `ValidationFailed` with `field` "subject" or "html" and, where it
    applies, `line` in the details ("html line 3: unexpected '}'").
    """
    if len(subject) > MAX_SUBJECT_CHARS:
        raise ValidationFailed(
            f"subject is longer than {MAX_SUBJECT_CHARS} characters", field="subject"
        )
    if len(html.encode("utf-8")) > MAX_TEMPLATE_BYTES:
        raise ValidationFailed(f"html is larger than {MAX_TEMPLATE_BYTES // 1000} kB", field="html")
    compiled = []
    for field, source in (("subject", subject), ("html", html)):
        compiled.append(_compile(source, field))
        _check_merge_fields(_parse(source, field), field)
    rendered_subject = _render(compiled[0], SAMPLE_CONTEXT, "subject")
    _render(compiled[1], SAMPLE_CONTEXT, "html")
    if not _clean_subject(rendered_subject):
        raise ValidationFailed("subject renders empty", field="subject")


def render_email(template: EmailTemplate, context: Mapping[str, object]) -> RenderedEmail:
    """Render subject and body for one contact; `ValidationFailed` if the template misbehaves."""
    subject = _render(_compile(template.subject, "subject"), context, "subject")
    html = _render(_compile(template.html, "html"), context, "html")
    return RenderedEmail(subject=_clean_subject(subject), html=html)


# ---------------------------------------------------------------------------
# Default templates

_DOCUMENT = (
    '<!DOCTYPE html>\n<html>\n<body style="margin:0;padding:24px;'
    'font-family:Arial,Helvetica,sans-serif;font-size:15px;line-height:22px;color:#1f2937;">\n'
    "{body}</body>\n</html>\n"
)
_SIGNATURE = (
    "<p>Best,<br>\n{{ sender.name }}"
    "{% if sender.title %}<br>\n{{ sender.title }}{% endif %}"
    "{% if sender.company %}, {{ sender.company }}{% endif %}</p>\n"
)

DEFAULT_TEMPLATES: dict[int, EmailTemplate] = {
    1: EmailTemplate(
        subject=(
            "{% if prospect.name %}{{ prospect.name }}'s pipeline this quarter"
            "{% else %}Your pipeline this quarter{% endif %}"
        ),
        html=_DOCUMENT.format(
            body=(
                '<p>Hi {{ contact.first_name or "there" }},</p>\n'
                "<p>{% if contact.title %}As {{ contact.title }} at "
                '{{ prospect.name or "your company" }}, you{% else %}You{% endif %} '
                "probably spend more time than you would like working out which accounts are "
                "worth a conversation this quarter"
                "{% if prospect.industry %}, especially in {{ prospect.industry|lower }}"
                "{% endif %}.</p>\n"
                "<p>We help sales teams like yours at "
                '{{ prospect.name or "companies your size" }} focus on the accounts that are '
                "ready to talk, and see which messages actually land.</p>\n"
                "<p>Would a 20-minute call next week be useful? "
                '<a href="https://example.com/book-a-call">Pick a time that suits you</a>, '
                "or just reply to this email.</p>\n"
                "<p>If it helps, here is "
                '<a href="https://example.com/case-study">how a similar team doubled its '
                "reply rate</a>.</p>\n" + _SIGNATURE
            )
        ),
    ),
    2: EmailTemplate(
        subject='A quick idea for {{ prospect.name or "your team" }}',
        html=_DOCUMENT.format(
            body=(
                '<p>Hi {{ contact.first_name or "there" }},</p>\n'
                '<p>Teams like {{ prospect.name or "yours" }} use us to find the accounts '
                "that are ready to buy and to see which outreach gets replies.</p>\n"
                "<p>Worth a short call to see if it fits? "
                '<a href="https://example.com/book-a-call">Book 15 minutes here</a>.</p>\n'
                + _SIGNATURE
            )
        ),
    ),
    3: EmailTemplate(
        subject="Quick question{% if contact.first_name %}, {{ contact.first_name }}{% endif %}",
        html=_DOCUMENT.format(
            body=(
                '<p>Hi {{ contact.first_name or "there" }},</p>\n'
                "<p>Are you the right person to talk to about outbound sales at "
                '{{ prospect.name or "your company" }}? If so, '
                '<a href="https://example.com/book-a-call">here is my calendar</a>.</p>\n'
                + _SIGNATURE
            )
        ),
    ),
}


# ---------------------------------------------------------------------------
# The sandbox


class _Refused(SecurityError):
    """A limit or rule of Tune's sandbox; the message is written for the template author."""


class _LenientUndefined(ChainableUndefined):
    """Missing merge fields render as "", compare false and swallow arithmetic."""

    __slots__ = ()

    def _false(self, *args: object) -> bool:
        return False

    __lt__ = __le__ = __gt__ = __ge__ = _false  # type: ignore[assignment]


@dataclass
class _Budget:
    steps_left: int
    chars_left: int
    deadline: float


_BUDGET: ContextVar[_Budget | None] = ContextVar("tune_template_budget", default=None)


def _spend(*, steps: int = 1, chars: int = 0) -> None:
    budget = _BUDGET.get()
    if budget is None:
        return
    budget.steps_left -= steps
    budget.chars_left -= chars
    if budget.steps_left < 0:
        raise _Refused(f"too many loop iterations or calls (limit {MAX_RENDER_STEPS})")
    if budget.chars_left < 0:
        raise _Refused(f"the email would be longer than {MAX_RENDERED_CHARS} characters")
    if time.monotonic() > budget.deadline:
        raise _Refused(f"rendering took longer than {RENDER_SECONDS:g} s")


def _check_size(value: object) -> object:
    if isinstance(value, str | list | tuple | dict) and len(value) > MAX_VALUE_CHARS:
        raise _Refused(f"a value is larger than {MAX_VALUE_CHARS} characters")
    return value


def _check_size_arguments(name: str, args: Iterable[object], kwargs: Mapping[str, object]) -> None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and abs(value) > MAX_SIZE_ARGUMENT:
            raise _Refused(f"sizes given to '{name}' are limited to {MAX_SIZE_ARGUMENT}")


def _is_plain_sequence(value: object) -> bool:
    return isinstance(value, str | list | tuple)


class _Environment(ImmutableSandboxedEnvironment):
    """The sandbox with Tune's guards wired into every loop, call, operator and output."""

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        _reject_forbidden_nodes(tree)
        guarded: nodes.Template = _GuardTransformer().visit(tree)
        guarded.set_environment(self)
        return guarded

    def getattr(self, obj: Any, attribute: str) -> Any:
        value = super().getattr(obj, attribute)
        return self.undefined(obj=obj, name=attribute) if value is None else value

    def getitem(self, obj: Any, argument: Any) -> Any:
        value = super().getitem(obj, argument)
        return self.undefined(obj=obj, name=argument) if value is None else value

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        raise _Refused(f"'{attribute}' is not accessible in templates")

    def call_binop(self, context: Context, operator_name: str, left: Any, right: Any) -> Any:
        _spend()
        if left is None or right is None:
            return self.undefined()
        if isinstance(left, Undefined) or isinstance(right, Undefined):
            return self.undefined()
        if operator_name == "%" and isinstance(left, str):
            raise _Refused("'%' formatting is not available in templates; use filters")
        if operator_name == "*":
            _check_repeat(left, right)
        elif operator_name == "**":
            _check_power(left, right)
        elif operator_name == "+" and _is_plain_sequence(left) and _is_plain_sequence(right):
            if len(left) + len(right) > MAX_VALUE_CHARS:
                raise _Refused(f"a value is larger than {MAX_VALUE_CHARS} characters")
        return self.binop_table[operator_name](left, right)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        _spend()
        target = _allowed_callable(obj)
        if target is None:
            raise _Refused(f"calling {_describe(obj)} is not allowed in templates")
        return _check_size(context.call(target, *args, **kwargs))


def _allowed_callable(obj: Any) -> Any:
    """The callable to run for `obj`, or None when templates may not call it."""
    if any(obj is allowed for allowed in _ALLOWED_GLOBALS.values()):
        return obj
    if isinstance(obj, Macro | LoopContext | Joiner):
        return obj
    owner = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", "")
    if isinstance(owner, str):
        if name == "replace":
            return functools.partial(_replace_method, owner)
        return obj if name in _STR_METHODS else None
    if isinstance(owner, Mapping):
        return obj if name in ("get", "keys", "values", "items") else None
    if isinstance(owner, LoopContext):
        return obj if name in ("cycle", "changed") else None
    if isinstance(owner, Cycler):
        return obj if name in ("next", "reset") else None
    return None


def _describe(obj: object) -> str:
    for global_name, value in _ALLOWED_GLOBALS.items():
        if obj is value:
            return f"'{global_name}'"
    name = getattr(obj, "__name__", None)
    return f"'{name}'" if isinstance(name, str) and name.isidentifier() else "this object"


_STR_METHODS = frozenset(
    {
        "capitalize", "casefold", "count", "endswith", "find", "isalnum", "isalpha",
        "isdigit", "islower", "isnumeric", "isspace", "istitle", "isupper", "lower",
        "lstrip", "partition", "rfind", "rpartition", "rsplit", "rstrip", "split",
        "splitlines", "startswith", "strip", "swapcase", "title", "upper",
    }
)  # fmt: skip


_MAX_INT_BITS = 10_000


def _check_repeat(left: object, right: object) -> None:
    for sequence, count in ((left, right), (right, left)):
        if _is_plain_sequence(sequence) and isinstance(count, int):
            if len(sequence) * max(count, 0) > MAX_VALUE_CHARS:  # type: ignore[arg-type]
                raise _Refused(f"a value is larger than {MAX_VALUE_CHARS} characters")
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > _MAX_INT_BITS:
            raise _Refused("number too large")


def _check_power(base: object, exponent: object) -> None:
    if isinstance(base, int) and isinstance(exponent, int):
        if exponent > 0 and base.bit_length() * exponent > _MAX_INT_BITS:
            raise _Refused("number too large")


def _safe_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise _Refused(f"range() is limited to {MAX_RANGE} numbers")
    return numbers


_ALLOWED_GLOBALS: dict[str, Any] = {
    "range": _safe_range,
    "cycler": Cycler,
    "joiner": Joiner,
    "namespace": Namespace,
    "dict": dict,
}


# --- guards wired in by rewriting the template's syntax tree ---------------


# pass_context also stops Jinja from evaluating a guard once, at compile time.
@pass_context
def _iterate_guarded(context: Context, iterable: Iterable[Any]) -> Iterator[Any]:
    for item in iterable:
        _spend()
        yield item


@pass_context
def _emit_guarded(context: Context, value: Any) -> Any:
    if callable(value) and not isinstance(value, Undefined):
        raise _Refused(f"{_describe(value)} cannot be printed")
    if type(value).__repr__ is object.__repr__ and type(value).__str__ is object.__str__:
        raise _Refused("this object cannot be printed")
    _spend(steps=0, chars=len(value) if isinstance(value, str) else len(str(value)))
    return value


@pass_context
def _concat_guarded(context: Context, parts: list[Any]) -> Any:
    pieces = [markupsafe.soft_str(part) for part in parts]
    if sum(len(piece) for piece in pieces) > MAX_VALUE_CHARS:
        raise _Refused(f"a value is larger than {MAX_VALUE_CHARS} characters")
    if context.eval_ctx.autoescape and any(hasattr(piece, "__html__") for piece in pieces):
        return markupsafe.Markup("").join(pieces)  # escapes the plain pieces
    return "".join(pieces)


_GUARDS = {
    "_tune_iterate": _iterate_guarded,
    "_tune_emit": _emit_guarded,
    "_tune_concat": _concat_guarded,
}


class _GuardTransformer(NodeTransformer):
    """Route loops, printed values and `~` through the budget guards."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _filter(node.iter, "_tune_iterate")
        return node

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        self.generic_visit(node)
        node.nodes = [_filter(child, "_tune_emit") for child in node.nodes]
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _filter(nodes.List(node.nodes, lineno=node.lineno), "_tune_concat")


def _filter(node: nodes.Node, name: str) -> nodes.Filter:
    return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)


_FORBIDDEN_NODES: dict[type[nodes.Node], str] = {
    nodes.Extends: "{% extends %}",
    nodes.Include: "{% include %}",
    nodes.Import: "{% import %}",
    nodes.FromImport: "{% from ... import %}",
    nodes.ScopedEvalContextModifier: "{% autoescape %}",
    nodes.EvalContextModifier: "{% autoescape %}",
}


def _reject_forbidden_nodes(tree: nodes.Template) -> None:
    for node in tree.find_all(tuple(_FORBIDDEN_NODES)):
        raise _StaticError(f"{_FORBIDDEN_NODES[type(node)]} is not allowed", node.lineno)
    for lookup in tree.find_all((nodes.Getattr, nodes.Getitem)):
        _, name = _static_lookup(lookup)
        if name is not None and name.startswith("_"):
            raise _StaticError(f"'{name}' is not accessible", lookup.lineno)


class _StaticError(TemplateSyntaxError):
    """A construct the sandbox refuses before running anything."""


# --- filters ---------------------------------------------------------------

_PLAIN_FILTERS = (
    "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort",
    "e", "escape", "filesizeformat", "first", "float", "forceescape", "groupby", "int",
    "items", "last", "length", "list", "lower", "map", "max", "min", "random", "reject",
    "rejectattr", "reverse", "round", "select", "selectattr", "slice", "sort", "striptags",
    "sum", "title", "tojson", "trim", "truncate", "unique", "upper", "urlencode", "urlize",
    "wordcount",
)  # fmt: skip


_SIZED_FILTERS = frozenset({"batch", "center", "indent", "slice", "truncate"})


def _guard_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    pass_arg = getattr(function, "jinja_pass_arg", None)
    leading = 2 if pass_arg is not None else 1  # injected context/environment, then the value
    sized = name in _SIZED_FILTERS

    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _spend()
        if sized:
            _check_size_arguments(name, args[leading:], kwargs)
        return _check_size(function(*args, **kwargs))

    return guarded


def _check_replace_size(text: str, old: str, new: str, count: int | None) -> None:
    occurrences = len(text) + 1 if not old else text.count(old)
    if count is not None and count >= 0:
        occurrences = min(occurrences, count)
    if len(text) + occurrences * len(new) > MAX_VALUE_CHARS:
        raise _Refused(f"a value is larger than {MAX_VALUE_CHARS} characters")


@pass_eval_context
def _guarded_replace(
    eval_ctx: Any, value: Any, old: Any, new: Any, count: int | None = None
) -> Any:
    soft = markupsafe.soft_str
    _check_replace_size(soft(value), soft(old), soft(new), count)
    return FILTERS["replace"](eval_ctx, value, old, new, count)


def _replace_method(text: str, old: str, new: str, count: int = -1) -> str:
    _check_replace_size(text, str(old), str(new), count)
    return text.replace(old, new, count)


@pass_eval_context
def _guarded_join(eval_ctx: Any, value: Iterable[Any], d: str = "", attribute: Any = None) -> Any:
    items = list(value)
    if len(items) > MAX_VALUE_CHARS or len(markupsafe.soft_str(d)) * len(items) > MAX_VALUE_CHARS:
        raise _Refused(f"a value is larger than {MAX_VALUE_CHARS} characters")
    if attribute is None:
        size = sum(len(markupsafe.soft_str(item)) for item in items)
        if size > MAX_VALUE_CHARS:
            raise _Refused(f"a value is larger than {MAX_VALUE_CHARS} characters")
    return FILTERS["join"](eval_ctx, items, d, attribute)


def _guarded_indent(
    value: Any, width: int | str = 4, first: bool = False, blank: bool = False
) -> Any:
    text = markupsafe.soft_str(value)
    per_line = width if isinstance(width, int) else len(markupsafe.soft_str(width))
    if len(text) + (text.count("\n") + 1) * max(per_line, 0) > MAX_VALUE_CHARS:
        raise _Refused(f"a value is larger than {MAX_VALUE_CHARS} characters")
    return FILTERS["indent"](value, width, first, blank)


def _build_environment(*, autoescape: bool) -> _Environment:
    environment = _Environment(
        autoescape=autoescape,
        undefined=_LenientUndefined,
        finalize=_finalize,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    environment.globals.clear()
    environment.globals.update(_ALLOWED_GLOBALS)
    filters: dict[str, Callable[..., Any]] = {
        name: _guard_filter(name, FILTERS[name]) for name in _PLAIN_FILTERS
    }
    filters["replace"] = _guard_filter("replace", _guarded_replace)
    filters["join"] = _guard_filter("join", _guarded_join)
    filters["indent"] = _guard_filter("indent", _guarded_indent)
    filters.update(_GUARDS)
    environment.filters = filters
    return environment


def _finalize(value: Any) -> Any:
    return "" if value is None else value


_HTML_ENVIRONMENT = _build_environment(autoescape=True)
_TEXT_ENVIRONMENT = _build_environment(autoescape=False)


# --- compile, check, render ------------------------------------------------


def _environment_for(field: str) -> _Environment:
    return _HTML_ENVIRONMENT if field == "html" else _TEXT_ENVIRONMENT


def _parse(source: str, field: str) -> nodes.Template:
    try:
        return _environment_for(field).parse(source)
    except TemplateSyntaxError as error:
        raise _validation_error(field, error.message or "syntax error", error.lineno) from None


@functools.lru_cache(maxsize=256)
def _compile(source: str, field: str) -> Any:
    try:
        return _environment_for(field).from_string(_parse(source, field))
    except TemplateSyntaxError as error:
        raise _validation_error(field, error.message or "syntax error", error.lineno) from None


def _check_merge_fields(tree: nodes.Template, field: str) -> None:
    undeclared = find_undeclared_variables(tree) - _IMPLICIT_NAMES
    for name_node in tree.find_all(nodes.Name):
        if name_node.ctx == "load" and name_node.name in undeclared:
            if name_node.name not in MERGE_FIELDS and name_node.name not in _ALLOWED_GLOBALS:
                raise _validation_error(
                    field, f"unknown merge field '{name_node.name}'", name_node.lineno
                )
    for lookup in tree.find_all((nodes.Getattr, nodes.Getitem)):
        owner, key = _static_lookup(lookup)
        if not isinstance(owner, nodes.Name) or owner.name not in undeclared:
            continue
        known = MERGE_FIELDS.get(owner.name)
        if known is not None and key is not None and key not in known:
            raise _validation_error(
                field,
                f"unknown merge field '{owner.name}.{key}' (known: {', '.join(sorted(known))})",
                lookup.lineno,
            )


def _static_lookup(node: nodes.Node) -> tuple[nodes.Node | None, str | None]:
    """`(owner, name)` for `owner.name` and `owner["name"]`; (None, None) otherwise."""
    if isinstance(node, nodes.Getattr):
        return node.node, node.attr
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        if isinstance(node.arg.value, str):
            return node.node, node.arg.value
    return None, None


_IMPLICIT_NAMES = frozenset({"loop", "self", "caller", "varargs", "kwargs"})


def _render(template: Any, context: Mapping[str, object], field: str) -> str:
    budget = _Budget(
        steps_left=MAX_RENDER_STEPS,
        chars_left=MAX_RENDERED_CHARS,
        deadline=time.monotonic() + RENDER_SECONDS,
    )
    token = _BUDGET.set(budget)
    try:
        rendered: str = template.render(dict(context))
    except _Refused as error:
        raise _validation_error(field, str(error), _template_line(error)) from None
    except SecurityError as error:
        raise _validation_error(
            field, "uses something templates may not access", _template_line(error)
        ) from None
    except TemplateError as error:
        raise _validation_error(field, error.message or "error", _template_line(error)) from None
    except RecursionError as error:
        raise _validation_error(
            field, "macros or loops nest too deeply", _template_line(error)
        ) from None
    except ZeroDivisionError as error:
        raise _validation_error(field, "division by zero", _template_line(error)) from None
    except Exception as error:  # any other failure of template code
        raise _validation_error(
            field, "an expression could not be evaluated", _template_line(error)
        ) from None
    finally:
        _BUDGET.reset(token)
    if len(rendered) > MAX_RENDERED_CHARS:
        raise _validation_error(
            field, f"the email would be longer than {MAX_RENDERED_CHARS} characters", None
        )
    return rendered


def _template_line(error: BaseException) -> int | None:
    """The template line that raised `error` (Jinja rewrites tracebacks to template lines)."""
    line = None
    trace: TracebackType | None = error.__traceback__
    while trace is not None:
        if trace.tb_frame.f_code.co_filename == "<template>":
            line = trace.tb_lineno
        trace = trace.tb_next
    return line


def _validation_error(field: str, message: str, line: int | None) -> ValidationFailed:
    if line is None:
        return ValidationFailed(f"{field}: {message}", field=field)
    return ValidationFailed(f"{field} line {line}: {message}", field=field, line=line)


_HEADER_BREAKS = re.compile(r"\s+")


def _clean_subject(subject: str) -> str:
    """One header-safe line: control and line-separator characters become spaces."""
    visible = "".join(
        " " if unicodedata.category(char) in ("Cc", "Zl", "Zp") else char for char in subject
    )
    return _HEADER_BREAKS.sub(" ", visible).strip()[:MAX_SUBJECT_CHARS]
