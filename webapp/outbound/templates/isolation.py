"""Render user templates in worker processes with hard limits, off the event loop.

The sandbox's budgets are checked between steps and its guards refuse the
operations known to build huge values, but one operation they do not foresee
(comparing two deep structures, a list literal of large strings) would still
run to its end. So every render of a user template (the check on save, the
preview, content generation) runs in a worker process (`worker.py`) with a
memory, CPU and wall-time limit per operation, and the event loop only waits.

`WORKERS` threads each own one worker process, started on first use. A worker
that had to stop is killed and replaced on the next call; its stack dump names
the field and line it was on, so the error reads like any other template error.
Content generation sends a batch of emails per call and receives them one by
one, so the per-email limits hold without one round trip per email.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from webapp.core.errors import ServiceUnavailable, ValidationFailed
from webapp.outbound.templates.sandbox import (
    EmailTemplate,
    RenderedEmail,
    compile_field,
    validation_error,
)
from webapp.outbound.templates.worker import OPERATION_SECONDS, STOPPED, Job

WORKERS = 2
_GRACE_SECONDS = 2.0
_START_SECONDS = 60.0


_FRAME = re.compile(r'File "<(subject|html|markdown)>", line (\d+)')


class _Worker:
    """One worker process, used by one thread of the pool at a time."""

    def __init__(self) -> None:
        self._process: Any = None
        self._conn: Connection | None = None
        self._dump_path = ""

    def run(self, job: Job, sources: Sequence[EmailTemplate], operations: int = 1) -> list[Any]:
        """Send `job`; one result per template in `sources`, each after `operations` operations."""
        conn = self._ensure()
        conn.send(job)
        results: list[Any] = []
        while len(results) < len(sources):
            try:
                if not conn.poll(OPERATION_SECONDS * operations + _GRACE_SECONDS):
                    raise EOFError
                reply = conn.recv()
            except (EOFError, OSError):
                raise self._stopped(sources[len(results)]) from None
            if reply[0] == "error":
                _, message, field, line = reply
                raise ValidationFailed(message, field=field, **({"line": line} if line else {}))
            results.append(reply[1])
        return results

    def _ensure(self) -> Connection:
        if self._process is not None and self._process.poll() is None and self._conn is not None:
            return self._conn
        self.stop()
        fd, self._dump_path = tempfile.mkstemp(prefix="tune-template-", suffix=".txt")
        os.close(fd)
        parent, child = socket.socketpair()
        command = [sys.executable, "-m", "webapp.outbound.templates.worker"]
        self._process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
            [*command, str(child.fileno()), self._dump_path],
            pass_fds=(child.fileno(),),
            stdin=subprocess.DEVNULL,
        )
        child.close()
        conn = Connection(parent.detach())
        # Starting takes a while on a busy machine; it is not part of any template's budget.
        try:
            ready = conn.poll(_START_SECONDS) and conn.recv() == ("ready",)
        except (EOFError, OSError):
            ready = False
        if not ready:
            conn.close()
            self.stop()
            raise ServiceUnavailable("the template worker did not start")
        self._conn = conn
        return conn

    def _stopped(self, template: EmailTemplate) -> ValidationFailed:
        """The error for an operation whose worker had to stop, with the line it was on."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
        dump = Path(self._dump_path).read_text(errors="replace") if self._dump_path else ""
        self.stop()
        frame = _FRAME.search(dump)  # the innermost template frame comes first
        if frame is None:
            return validation_error("html", STOPPED, None)
        field, python_line = frame.group(1), int(frame.group(2))
        source = template.subject if field == "subject" else template.html
        line = compile_field(source, field).get_corresponding_lineno(python_line)
        message = f"rendering took longer than {OPERATION_SECONDS:g} s"
        return validation_error(field, message, line)

    def stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None
        if self._dump_path:
            Path(self._dump_path).unlink(missing_ok=True)
            self._dump_path = ""


class _Pool:
    """`WORKERS` threads, each owning one worker process, started on first use."""

    def __init__(self, size: int) -> None:
        self._threads = ThreadPoolExecutor(max_workers=size, thread_name_prefix="tune-templates")
        self._local = threading.local()
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()

    def _worker(self) -> _Worker:
        worker: _Worker | None = getattr(self._local, "worker", None)
        if worker is None:
            worker = self._local.worker = _Worker()
            with self._lock:
                self._workers.append(worker)
        return worker

    async def run(
        self, job: Job, sources: Sequence[EmailTemplate], operations: int = 1
    ) -> list[Any]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._threads, lambda: self._worker().run(job, sources, operations)
        )

    def close(self) -> None:
        self._threads.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            for worker in self._workers:
                worker.stop()


_POOL = _Pool(WORKERS)
atexit.register(_POOL.close)


async def check_template(
    subject: str,
    html: str,
    context: Mapping[str, object] | None = None,
    template_format: str = "html",
) -> RenderedEmail | None:
    """`validate_template` in a worker; with `context`, also that contact's email (a preview)."""
    template = EmailTemplate(subject, html, template_format)
    job = ("check", subject, html, template_format, None if context is None else dict(context))
    (email,) = await _POOL.run(job, [template], operations=2)
    return email


async def render_emails(
    templates: Mapping[int, EmailTemplate], items: Sequence[tuple[int, Mapping[str, object]]]
) -> list[RenderedEmail]:
    """One email per `(tier, context)`, rendered in a worker with per-email limits."""
    job = ("render", dict(templates), [(tier, dict(context)) for tier, context in items])
    return await _POOL.run(job, [templates[tier] for tier, _ in items])
