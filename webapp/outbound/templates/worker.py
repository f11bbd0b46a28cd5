"""A template worker process: renders user templates under hard per-operation limits.

Started by `isolation.py` as `python -m webapp.outbound.templates.worker FD DUMP`,
it answers jobs on the connection FD until the parent goes away:

* memory: the address space is capped at what the worker needs at rest plus
  `MEMORY_BYTES` (`RLIMIT_AS`); an allocation past it fails with MemoryError,
  reported with its template line.
* CPU: before each operation (a check, a preview, or one email of a batch) the soft
  `RLIMIT_CPU` is set `CPU_SECONDS` ahead; SIGXCPU raises inside the template,
  reported with its line.
* wall time: `faulthandler` writes the stack to DUMP and exits after
  `OPERATION_SECONDS`, even when the worker is stuck inside one C call; the
  parent reads the template line from the dump.
"""

from __future__ import annotations

import faulthandler
import resource
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from types import FrameType
from typing import IO, Any

from webapp.core.errors import ValidationFailed
from webapp.outbound.templates.guards import Refused
from webapp.outbound.templates.render import render_email, validate_template
from webapp.outbound.templates.sandbox import EmailTemplate

MEMORY_BYTES = 256 * 2**20
CPU_SECONDS = 3
OPERATION_SECONDS = 4.0
STOPPED = "rendering was stopped: it needs more time or memory than a template may use"

Job = tuple[Any, ...]


def serve(conn: Connection, dump_path: str) -> None:
    """Set the limits, then answer jobs until the parent closes the connection."""
    _limit_memory()
    signal.signal(signal.SIGXCPU, _cpu_exceeded)
    conn.send(("ready",))
    with open(dump_path, "w") as dump:
        while True:
            try:
                job = conn.recv()
            except (EOFError, OSError):
                return
            for reply in answer(job, dump):
                conn.send(reply)


def _limit_memory() -> None:
    at_rest = 0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            at_rest = int(line.split()[1]) * 1024
    if at_rest:
        resource.setrlimit(resource.RLIMIT_AS, (at_rest + MEMORY_BYTES, at_rest + MEMORY_BYTES))


def _cpu_exceeded(signum: int, frame: FrameType | None) -> None:
    raise Refused(f"rendering used more than {CPU_SECONDS} s of CPU")


@contextmanager
def _operation(dump: IO[str]) -> Iterator[None]:
    """One operation's CPU and wall-time limits."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = int(usage.ru_utime + usage.ru_stime) + CPU_SECONDS + 1
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
    faulthandler.dump_traceback_later(OPERATION_SECONDS, exit=True, file=dump)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
        resource.setrlimit(resource.RLIMIT_CPU, (hard, hard))


def answer(job: Job, dump: IO[str]) -> Iterator[tuple[Any, ...]]:
    """("ok", result) per operation, or ("error", message, field, line) and stop."""
    try:
        if job[0] == "check":
            _, subject, html, template_format, context = job
            with _operation(dump):
                validate_template(subject, html, template_format)
            email = None
            if context is not None:
                with _operation(dump):
                    email = render_email(EmailTemplate(subject, html, template_format), context)
            yield ("ok", email)
        else:
            _, templates, items = job
            for tier, context in items:
                with _operation(dump):
                    email = render_email(templates[tier], context)
                yield ("ok", email)
    except ValidationFailed as error:
        yield ("error", error.message, error.field, error.details.get("line"))
    except Exception:  # a limit hit outside the template itself
        yield ("error", f"html: {STOPPED}", "html", None)


if __name__ == "__main__":
    serve(Connection(int(sys.argv[1])), sys.argv[2])
