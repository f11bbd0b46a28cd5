"""The locked-down Jinja2 sandbox that user templates run in.

* `ImmutableSandboxedEnvironment`: no `_private` or internal attributes, no
  mutation of lists and dicts; no includes/imports/extends, no switching
  autoescape off, only a short list of filters and callables.
* A budget per render: loop iterations, calls, filters and operators
  (`MAX_RENDER_STEPS`), characters produced anywhere including `{% set %}`
  blocks (`MAX_RENDERED_CHARS`), and wall time (`RENDER_SECONDS`), checked
  between steps; the operations that could build a huge value in one step are
  checked before they run (`guards.py`).
* Forgiving: a missing or None merge field renders as "" (and `x or "there"`
  falls back), compares false and propagates through arithmetic.

Errors become `ValidationFailed` naming the field and the template line. This
module patches Jinja internals (`_parse`, `call_binop`, node rewriting), so
pyproject.toml pins jinja2 to the major version the tests cover.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import markupsafe
from jinja2 import nodes, pass_context
from jinja2.exceptions import SecurityError, TemplateError, TemplateSyntaxError
from jinja2.filters import FILTERS
from jinja2.meta import find_undeclared_variables
from jinja2.runtime import ChainableUndefined, Context, LoopContext, Macro, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Cycler, Joiner, Namespace
from jinja2.visitor import NodeTransformer

from webapp.core.errors import ValidationFailed
from webapp.outbound.templates import guards
from webapp.outbound.templates.guards import Refused

MAX_RENDERED_CHARS = 1_000_000
MAX_RENDER_STEPS = 100_000
RENDER_SECONDS = 1.0

MERGE_FIELDS: dict[str, frozenset[str]] = {
    "contact": frozenset({"first_name", "last_name", "name", "title", "email", "seniority"}),
    "prospect": frozenset(
        {"name", "domain", "industry", "country", "employees", "revenue", "tier"}
    ),
    "campaign": frozenset({"name", "industry"}),
    "sender": frozenset({"name", "email", "title", "company", "signature"}),
}
"""What a template may use; the caller supplies these four objects (mappings or dataclasses)."""


FORMATS = ("html", "markdown")
"""How a template's body is written: raw HTML, or plain text with Markdown."""


@dataclass(frozen=True)
class EmailTemplate:
    """A subject and a body written with merge fields; `html` holds the body in `format`."""

    subject: str
    html: str
    format: str = "html"


@dataclass(frozen=True)
class RenderedEmail:
    """One contact's email: a single-line subject and the escaped HTML body.

    `text` is the plain-text part when the template says what it is (a Markdown
    template: its rendered source); None means "derive it from the HTML".
    """

    subject: str
    html: str
    text: str | None = None


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
        raise Refused(f"too many loop iterations or calls (limit {MAX_RENDER_STEPS})")
    if budget.chars_left < 0:
        raise Refused(f"the email would be longer than {MAX_RENDERED_CHARS} characters")
    if time.monotonic() > budget.deadline:
        raise Refused(f"rendering took longer than {RENDER_SECONDS:g} s")


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
        raise Refused(f"'{attribute}' is not accessible in templates")

    def call_binop(self, context: Context, operator_name: str, left: Any, right: Any) -> Any:
        _spend()
        if left is None or right is None:
            return self.undefined()
        if isinstance(left, Undefined) or isinstance(right, Undefined):
            return self.undefined()
        if operator_name == "%" and isinstance(left, str):
            raise Refused("'%' formatting is not available in templates; use filters")
        if operator_name == "*":
            guards.check_repeat(left, right)
        elif operator_name == "**":
            guards.check_power(left, right)
        elif operator_name == "+":
            guards.check_add(left, right)
        return self.binop_table[operator_name](left, right)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        _spend()
        target = _allowed_callable(obj)
        if target is None:
            raise Refused(f"calling {_describe(obj)} is not allowed in templates")
        return guards.check_weight(context.call(target, *args, **kwargs))


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
            return functools.partial(guards.replace_method, owner)
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


_ALLOWED_GLOBALS: dict[str, Any] = {
    "range": guards.safe_range,
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
        raise Refused(f"{_describe(value)} cannot be printed")
    if type(value).__repr__ is object.__repr__ and type(value).__str__ is object.__str__:
        raise Refused("this object cannot be printed")
    if not isinstance(value, str):
        guards.check_weight(value)  # before str() builds it
    _spend(steps=0, chars=len(value) if isinstance(value, str) else len(str(value)))
    return value


@pass_context
def _concat_guarded(context: Context, parts: list[Any]) -> Any:
    guards.check_parts(parts)  # before soft_str() builds the pieces
    pieces = [markupsafe.soft_str(part) for part in parts]
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


_PLAIN_FILTERS = (
    "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort",
    "e", "escape", "filesizeformat", "first", "float", "forceescape", "groupby", "int",
    "items", "last", "length", "list", "lower", "map", "max", "min", "random", "reject",
    "rejectattr", "reverse", "round", "select", "selectattr", "slice", "sort", "striptags",
    "title", "trim", "truncate", "unique", "upper", "urlencode", "urlize", "wordcount",
)  # fmt: skip


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
    functions = {name: FILTERS[name] for name in _PLAIN_FILTERS} | guards.BUILDING_FILTERS
    environment.filters = {
        name: guards.guard_filter(name, function, _spend) for name, function in functions.items()
    }
    environment.filters.update(_GUARDS)
    return environment


def _finalize(value: Any) -> Any:
    return "" if value is None else value


_HTML_ENVIRONMENT = _build_environment(autoescape=True)
_TEXT_ENVIRONMENT = _build_environment(autoescape=False)


# --- compile, check, render ------------------------------------------------


FIELDS = ("subject", "html", "markdown")
"""Template fields: the subject, and the body as HTML (autoescaped) or as Markdown (plain
text, made safe when the Markdown becomes HTML)."""


def _environment_for(field: str) -> _Environment:
    return _HTML_ENVIRONMENT if field == "html" else _TEXT_ENVIRONMENT


def parse(source: str, field: str) -> nodes.Template:
    try:
        return _environment_for(field).parse(source)
    except TemplateSyntaxError as error:
        raise validation_error(field, error.message or "syntax error", error.lineno) from None


@functools.lru_cache(maxsize=256)
def compile_field(source: str, field: str) -> Any:
    """The compiled template of `source` ("subject" is plain text, "html" autoescaped).

    Its code is named after the field (`<html>`), so a stack dump of a stuck
    render says which field and line it was on.
    """
    environment = _environment_for(field)
    try:
        code = environment.compile(parse(source, field), filename=f"<{field}>")
        return environment.template_class.from_code(
            environment, code, environment.make_globals(None), None
        )
    except TemplateSyntaxError as error:
        raise validation_error(field, error.message or "syntax error", error.lineno) from None


def check_merge_fields(tree: nodes.Template, field: str) -> None:
    """Refuse names and `owner.key` lookups that are not merge fields (typos, mostly)."""
    undeclared = find_undeclared_variables(tree) - _IMPLICIT_NAMES
    for name_node in tree.find_all(nodes.Name):
        if name_node.ctx == "load" and name_node.name in undeclared:
            if name_node.name not in MERGE_FIELDS and name_node.name not in _ALLOWED_GLOBALS:
                raise validation_error(
                    field, f"unknown merge field '{name_node.name}'", name_node.lineno
                )
    for lookup in tree.find_all((nodes.Getattr, nodes.Getitem)):
        owner, key = _static_lookup(lookup)
        if not isinstance(owner, nodes.Name) or owner.name not in undeclared:
            continue
        known = MERGE_FIELDS.get(owner.name)
        if known is not None and key is not None and key not in known:
            raise validation_error(
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


def render_field(source: str, field: str, context: Mapping[str, object]) -> str:
    """Render one field's template within the budget; `ValidationFailed` on any failure."""
    template = compile_field(source, field)
    budget = _Budget(
        steps_left=MAX_RENDER_STEPS,
        chars_left=MAX_RENDERED_CHARS,
        deadline=time.monotonic() + RENDER_SECONDS,
    )
    token = _BUDGET.set(budget)
    try:
        rendered: str = template.render(dict(context))
    except Refused as error:
        raise validation_error(field, str(error), _template_line(error)) from None
    except SecurityError as error:
        raise validation_error(
            field, "uses something templates may not access", _template_line(error)
        ) from None
    except TemplateError as error:
        raise validation_error(field, error.message or "error", _template_line(error)) from None
    except RecursionError as error:
        raise validation_error(
            field, "macros or loops nest too deeply", _template_line(error)
        ) from None
    except MemoryError as error:
        raise validation_error(field, MEMORY_MESSAGE, _template_line(error)) from None
    except ZeroDivisionError as error:
        raise validation_error(field, "division by zero", _template_line(error)) from None
    except Exception as error:  # any other failure of template code
        raise validation_error(
            field, "an expression could not be evaluated", _template_line(error)
        ) from None
    finally:
        _BUDGET.reset(token)
    if len(rendered) > MAX_RENDERED_CHARS:
        raise validation_error(
            field, f"the email would be longer than {MAX_RENDERED_CHARS} characters", None
        )
    return rendered


MEMORY_MESSAGE = "rendering needs more memory than a template may use"


def _template_line(error: BaseException) -> int | None:
    """The template line that raised `error` (Jinja rewrites tracebacks to template lines)."""
    line = None
    trace: TracebackType | None = error.__traceback__
    while trace is not None:
        if trace.tb_frame.f_code.co_filename in ("<subject>", "<html>", "<markdown>"):
            line = trace.tb_lineno
        trace = trace.tb_next
    return line


def validation_error(field: str, message: str, line: int | None) -> ValidationFailed:
    if line is None:
        return ValidationFailed(f"{field}: {message}", field=field)
    return ValidationFailed(f"{field} line {line}: {message}", field=field, line=line)


FIELD_LABELS = {"subject": "the subject", "html": "the body", "markdown": "the body"}


def describe_problem(message: str, field: str | None, line: int | None) -> str:
    """One sentence for a template error, for people: "Line 4 of the body: unexpected '}'".

    The error's message already names its field and line ("html line 4: ..."),
    which reads well in the API but twice over when a page adds its own prefix.
    """
    reason = message
    for prefix in (f"{field} line {line}: ", f"{field}: "):
        if field and reason.startswith(prefix):
            reason = reason[len(prefix) :]
            break
    label = FIELD_LABELS.get(field or "", "the template")
    if line:
        return f"Line {line} of {label}: {reason}"
    return f"{label[0].upper()}{label[1:]}: {reason}"
