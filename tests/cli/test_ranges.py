"""`tune events refresh-ranges`, against a local HTTP server (tests never reach the internet)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support.servers import run_cli
from webapp.tracking import ranges

MICROSOFT = [
    {
        "id": 1,
        "serviceArea": "Exchange",
        "urls": ["outlook.office.com"],
        "ips": ["13.107.6.152/31"],
    },
    {
        "id": 9,
        "serviceArea": "Exchange",
        "urls": ["*.mail.protection.outlook.com"],
        "ips": ["40.92.0.0/15", "40.107.0.0/16", "52.100.0.0/15", "2a01:111:f403::/48"],
    },
]


@pytest.fixture
def published(tmp_path: Path) -> Iterator[str]:
    """A local web server publishing a Microsoft list, a Tune list and a broken file."""
    root = tmp_path / "published"
    root.mkdir()
    (root / "microsoft.json").write_text(json.dumps(MICROSOFT))
    tune_list = {
        "format": ranges.FORMAT,
        "version": 7,
        "date": "2027-01-01",
        "networks": [{"network": "198.18.0.0/15", "owner": "Example Scanner"}],
    }
    (root / "tune.json").write_text(json.dumps(tune_list))
    (root / "broken.json").write_text('{"format": "tune-scanner-ranges/1", "version": 8}')
    handler = partial(SimpleHTTPRequestHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.slow
def test_refresh_replaces_microsoft_networks_and_bumps_the_version(
    env: dict[str, str], tmp_path: Path, published: str
) -> None:
    shipped = ranges.load()
    result = run_cli(["events", "refresh-ranges", "--url", f"{published}/microsoft.json"],
                     env, tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"version {shipped.version + 1}" in result.stdout
    instance = Path(env["TUNE_INSTANCE_PATH"])
    refreshed = ranges.load(instance)
    assert refreshed.version == shipped.version + 1
    microsoft = {str(n) for n, o in zip(refreshed.networks, refreshed.owners, strict=True)
                 if o == "Microsoft"}  # fmt: skip
    assert microsoft == {"40.92.0.0/15", "40.107.0.0/16", "52.100.0.0/15", "2a01:111:f403::/48"}
    assert "13.107.6.152/31" not in microsoft  # not a mail-flow network
    assert "Mimecast" in refreshed.owners  # other vendors kept

    # A whole Tune list replaces everything; a broken one changes nothing.
    again = run_cli(["events", "refresh-ranges", "--url", f"{published}/tune.json"], env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert [str(n) for n in ranges.load(instance).networks] == ["198.18.0.0/15"]
    broken = run_cli(["events", "refresh-ranges", "--url", f"{published}/broken.json"],
                     env, tmp_path)  # fmt: skip
    assert broken.returncode != 0 and "Ranges not refreshed" in broken.stderr
    assert "Traceback" not in broken.stderr
    assert [str(n) for n in ranges.load(instance).networks] == ["198.18.0.0/15"]
    missing = run_cli(["events", "refresh-ranges", "--url", f"{published}/nothing.json"],
                      env, tmp_path)  # fmt: skip
    assert missing.returncode != 0 and "404" in missing.stderr


def test_the_shipped_list_is_dated_versioned_and_narrow() -> None:
    shipped = ranges.load()
    assert shipped.version >= 1 and len(shipped.date) == 10
    assert {"Microsoft", "Mimecast", "Barracuda", "Proofpoint"} <= set(shipped.owners)
    assert all(n.prefixlen >= 14 for n in shipped.networks if n.version == 4)


def test_a_damaged_local_copy_falls_back_to_the_shipped_list(tmp_path: Path) -> None:
    (tmp_path / ranges.FILE_NAME).write_text("{not json")
    assert ranges.load(tmp_path) == ranges.load()
