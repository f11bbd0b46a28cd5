"""How `tune run` serves: the uvicorn options, in one place.

The benchmark serves its ceiling apps (a bare Quart app and a raw ASGI app)
with exactly these options, so the comparison measures Tune's code and
nothing else.
"""

from __future__ import annotations

from typing import Any

PIXEL = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)
"""A 1×1 transparent GIF (43 bytes): what every tracking pixel answers."""


def uvicorn_options(*, limit_concurrency: int = 2000) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run`, besides the app, host, port and workers."""
    return {
        "loop": "uvloop",
        "http": "httptools",
        "proxy_headers": False,
        "server_header": False,
        "limit_concurrency": limit_concurrency,
        "timeout_keep_alive": 5,
        "timeout_graceful_shutdown": 30,
        "log_config": None,
    }
