"""A real authoritative DNS server (Debian's knotd) on a loopback port, serving test zones.

`knot_server` writes a knot.conf into a temp folder, starts `knotd` on a free
loopback port (UDP and TCP), waits until it answers for every zone, and stops it
afterwards. `silent_server` is a UDP port that receives queries and never
answers, for timeouts. Nothing here ever asks a server on the internet.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import pytest

KNOTD = shutil.which("knotd") or "/usr/sbin/knotd"
ZONES = Path(__file__).resolve().parent.parent / "deliverability"


def knot_available() -> bool:
    return Path(KNOTD).exists()


requires_knot = pytest.mark.skipif(
    not knot_available(), reason="knotd is not installed (apt-get install knot)"
)


def free_udp_and_tcp_port() -> int:
    """A loopback port free for both UDP and TCP at the time of asking."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket() as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
        return port
    raise RuntimeError("no free loopback port for DNS")


CONFIG = """\
server:
    rundir: "{folder}"
    listen: 127.0.0.1@{port}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1

database:
    storage: "{folder}/db"

log:
  - target: stderr
    any: warning

template:
  - id: default
    storage: "{folder}"
    file: "%s.zone"
    zonefile-sync: -1
    journal-content: none
    semantic-checks: off

zone:
{zones}
"""


@contextmanager
def knot_server(folder: Path, zones: list[str] | None = None) -> Iterator[tuple[str, int]]:
    """Serve `zones` (names of `tests/deliverability/<zone>.zone` files) from a knotd on
    loopback; yields its (address, port)."""
    zones = zones or ["deliverability.test"]
    (folder / "db").mkdir(parents=True, exist_ok=True)
    for zone in zones:
        shutil.copy(ZONES / f"{zone}.zone", folder / f"{zone}.zone")
    port = free_udp_and_tcp_port()
    config = folder / "knot.conf"
    config.write_text(
        CONFIG.format(
            folder=folder,
            port=port,
            zones="\n".join(f"  - domain: {zone}" for zone in zones),
        )
    )
    log = open(folder / "knotd.log", "w")
    process = subprocess.Popen(
        [KNOTD, "--config", str(config)], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        _wait_until_serving(process, port, zones, folder)
        yield "127.0.0.1", port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_until_serving(
    process: subprocess.Popen[bytes], port: int, zones: list[str], folder: Path
) -> None:
    deadline = time.monotonic() + 30
    waiting = list(zones)
    while waiting:
        if process.poll() is not None:
            raise RuntimeError(f"knotd exited: {(folder / 'knotd.log').read_text()[-2000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"knotd did not serve {waiting} within 30 s")
        try:
            query = dns.message.make_query(waiting[0] + ".", "SOA")
            answer = dns.query.udp(query, "127.0.0.1", port=port, timeout=0.5)
            if answer.rcode() == dns.rcode.NOERROR and answer.answer:
                waiting.pop(0)
                continue
        except (OSError, dns.exception.Timeout):
            pass
        time.sleep(0.1)


@contextmanager
def silent_server() -> Iterator[tuple[str, int]]:
    """A loopback UDP port that takes queries and never answers them."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        yield "127.0.0.1", int(udp.getsockname()[1])


@pytest.fixture(scope="session")
def knot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """One knotd for the session, serving `tests/deliverability/deliverability.test.zone`."""
    if not knot_available():
        pytest.skip("knotd is not installed (apt-get install knot)")
    with knot_server(tmp_path_factory.mktemp("knot")) as address:
        yield address
