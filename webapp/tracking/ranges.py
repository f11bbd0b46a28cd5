"""The published networks of mail-security scanners: a dated, versioned list, refreshable.

Tune ships `data/scanner_ranges.json` (format `tune-scanner-ranges/1`: a version, the
date it was checked, and each network with its owner and where it was published).
`tune events refresh-ranges` downloads a newer list where the server can reach the
internet and writes it to `TUNE_INSTANCE_PATH/scanner_ranges.json`; the writer reads
that copy in preference to the shipped one when its version is not older.

Two formats are read from a URL:

* Tune's own file (a JSON object with `networks`): it replaces the whole list;
* Microsoft's endpoints web service (`https://endpoints.office.com/endpoints/worldwide`,
  a JSON list): the Exchange Online Protection mail-flow networks (the items
  serving `*.mail.protection.outlook.com`) replace the `Microsoft` entries.

Deliberately absent: whole cloud providers (Azure, AWS, Google Cloud). Microsoft does
not publish the addresses Defender Safe Links detonates links from, and flagging
whole clouds would flag real readers on cloud desktops and VPNs; bursts, the scanner
window and the honeypot (tracking/bursts.py) catch detonation instead.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FORMAT = "tune-scanner-ranges/1"
SHIPPED = Path(__file__).with_name("data") / "scanner_ranges.json"
FILE_NAME = "scanner_ranges.json"
MICROSOFT_ENDPOINTS = (
    "https://endpoints.office.com/endpoints/worldwide"
    "?ServiceAreas=Exchange&clientrequestid=b10c5ed1-bad1-445f-b386-b919946339a7"
)
MICROSOFT_MAIL_FLOW = "*.mail.protection.outlook.com"
MAX_BYTES = 5 * 1024 * 1024

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class RangesError(ValueError):
    """A ranges file or download that cannot be used."""


@dataclass(frozen=True)
class ScannerRanges:
    version: int
    date: str
    networks: tuple[IpNetwork, ...]
    owners: tuple[str, ...]
    """`owners[i]` published `networks[i]`."""

    def as_json(self, note: str = "") -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": self.version,
            "date": self.date,
            "note": note,
            "networks": [
                {"network": str(network), "owner": owner}
                for network, owner in zip(self.networks, self.owners, strict=True)
            ],
        }


def parse(document: Any) -> ScannerRanges:
    """A ranges list from Tune's JSON format; RangesError names what is wrong."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise RangesError(f"not a {FORMAT} document")
    version = document.get("version")
    if not isinstance(version, int) or version < 1:
        raise RangesError("version: a positive integer")
    entries = document.get("networks")
    if not isinstance(entries, list) or not entries:
        raise RangesError("networks: a non-empty list")
    networks: list[IpNetwork] = []
    owners: list[str] = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise RangesError("networks: each entry is an object")
        networks.append(_network(entry.get("network")))
        owners.append(str(entry.get("owner") or "unknown")[:60])
    return ScannerRanges(version, str(document.get("date", "")), tuple(networks), tuple(owners))


def _network(value: Any) -> IpNetwork:
    try:
        network = ipaddress.ip_network(str(value), strict=False)
    except ValueError as exc:
        raise RangesError(f"not a network: {value!r}") from exc
    if network.prefixlen < (8 if network.version == 4 else 24):
        raise RangesError(f"too wide to be one vendor's: {network}")
    return network


def load(instance_path: Path | None = None) -> ScannerRanges:
    """The newest list: the instance's refreshed copy if present and not older, else shipped."""
    shipped = parse(json.loads(SHIPPED.read_text()))
    if instance_path is None:
        return shipped
    local = instance_path / FILE_NAME
    if not local.exists():
        return shipped
    try:
        refreshed = parse(json.loads(local.read_text()))
    except (OSError, ValueError):
        return shipped  # a damaged copy never stops tracking; refresh again to fix it
    return refreshed if refreshed.version >= shipped.version else shipped


def merge_microsoft(current: ScannerRanges, items: Any) -> ScannerRanges:
    """`current` with its Microsoft entries replaced by the mail-flow networks in `items`."""
    if not isinstance(items, list):
        raise RangesError("not a Microsoft endpoints list")
    found: list[IpNetwork] = []
    for item in items:
        if not isinstance(item, dict) or item.get("serviceArea") != "Exchange":
            continue
        if MICROSOFT_MAIL_FLOW not in (item.get("urls") or []):
            continue
        found.extend(_network(value) for value in item.get("ips") or [])
    if not found:
        raise RangesError("no Exchange Online Protection networks in the Microsoft list")
    kept = [
        (network, owner)
        for network, owner in zip(current.networks, current.owners, strict=True)
        if owner != "Microsoft"
    ]
    merged = kept + [(network, "Microsoft") for network in dict.fromkeys(found)]
    return ScannerRanges(
        current.version,
        current.date,
        tuple(network for network, _ in merged),
        tuple(owner for _, owner in merged),
    )


@dataclass(frozen=True)
class Refreshed:
    ranges: ScannerRanges
    added: int
    removed: int
    path: Path


def refresh(instance_path: Path, urls: list[str], *, timeout: float = 20.0) -> Refreshed:
    """Download each URL in turn, merge, and write the instance's copy with a new version."""
    import httpx  # only here: every command reads the ranges, one downloads them

    before = load(instance_path)
    ranges = before
    with httpx.Client(timeout=timeout, follow_redirects=True) as client:
        for url in urls:
            if not url.lower().startswith(("https://", "http://")):
                raise RangesError(f"not a web address: {url}")
            try:
                response = client.get(url, headers={"Accept": "application/json"})
                response.raise_for_status()
            except httpx.HTTPError as exc:
                raise RangesError(f"{url}: {type(exc).__name__}: {exc}") from exc
            if len(response.content) > MAX_BYTES:
                raise RangesError(f"{url}: larger than {MAX_BYTES} bytes")
            try:
                document = response.json()
            except ValueError as exc:
                raise RangesError(f"{url}: not JSON") from exc
            ranges = (
                parse(document) if isinstance(document, dict) else merge_microsoft(ranges, document)
            )
    today = datetime.now(UTC).date().isoformat()
    ranges = ScannerRanges(
        max(ranges.version, before.version + 1), today, ranges.networks, ranges.owners
    )
    instance_path.mkdir(parents=True, exist_ok=True)
    target = instance_path / FILE_NAME
    partial = target.with_suffix(".json.partial")
    partial.write_text(json.dumps(ranges.as_json(f"refreshed from {', '.join(urls)}"), indent=1))
    partial.replace(target)  # atomic: a reader never sees half a file
    old, new = set(before.networks), set(ranges.networks)
    return Refreshed(ranges, len(new - old), len(old - new), target)
