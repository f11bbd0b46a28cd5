"""DKIM (RFC 6376): read the public key a selector publishes at `<selector>._domainkey.<domain>`.

The key is read with `cryptography`, so its type and size are the real ones:
an RSA key under 1024 bits is ignored by Gmail, 2048 is what providers
recommend. An empty `p=` means the key was revoked.
"""

from __future__ import annotations

import base64
import binascii
import re

from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

from webapp.deliverability.report import DkimResult, Finding, Severity

SELECTOR = re.compile(
    r"[a-z0-9_](?:[a-z0-9_\-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_\-]{0,61}[a-z0-9_])?)*",
    re.IGNORECASE,
)


def key_name(selector: str, domain: str) -> str:
    return f"{selector}._domainkey.{domain}"


def tags(record: str) -> dict[str, str]:
    """The `tag=value` pairs of a DKIM or DMARC record (whitespace inside values dropped)."""
    pairs: dict[str, str] = {}
    for part in record.split(";"):
        name, equals, value = part.partition("=")
        if equals:
            pairs.setdefault(name.strip().lower(), re.sub(r"\s+", "", value))
    return pairs


def read_key(key_type: str, data: str) -> tuple[str, int] | str:
    """(type, bits) of the base64 key in `p=`, or why it cannot be read."""
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return "the key (p=) is not valid base64"
    if key_type == "ed25519":
        try:
            ed25519.Ed25519PublicKey.from_public_bytes(raw)
        except ValueError:
            return "the key (p=) is not an Ed25519 key"
        return "ed25519", 256
    if key_type != "rsa":
        return f"the key type k={key_type} is not one receivers know (rsa, ed25519)"
    try:
        key = load_der_public_key(raw)
    except (ValueError, TypeError):
        return "the key (p=) is not an RSA public key"
    if not isinstance(key, rsa.RSAPublicKey):
        return "the key (p=) is not an RSA public key"
    return "rsa", key.key_size


def check(selector: str | None, domain: str, records: list[str] | None) -> DkimResult:
    """The DKIM verdict from the TXT records at the selector's name (None: no such name)."""
    findings: list[Finding] = []

    def say(severity: Severity, message: str) -> None:
        findings.append(Finding("dkim", severity, message))

    if selector is None:
        say(
            "warning",
            "DKIM not checked: name the selector your mail provider signs with "
            "(Google Workspace: google; Microsoft 365: selector1 and selector2).",
        )
        return DkimResult(None, None, None, None, None, False, findings)
    name = key_name(selector, domain)
    keys = [record for record in records or [] if "p=" in record.lower().replace(" ", "")]
    if not keys:
        say(
            "problem",
            f"No DKIM key at {name}: check the selector's name with your mail provider. "
            "Without DKIM, Gmail and Yahoo reject or junk bulk mail.",
        )
        return DkimResult(selector, name, None, None, None, False, findings)
    if len(keys) > 1:
        say("problem", f"{len(keys)} DKIM keys at {name}: receivers may pick either; keep one.")
    record = keys[0]
    fields = tags(record)
    if fields.get("v", "DKIM1") != "DKIM1":
        say("problem", f"The DKIM record says v={fields['v']}; it must be v=DKIM1.")
    if fields.get("p", "") == "":
        say(
            "problem",
            f"The DKIM key at {name} is revoked (empty p=): mail signed with selector "
            f"{selector} fails DKIM. Use the selector your provider signs with now.",
        )
        return DkimResult(selector, name, record, None, None, True, findings)
    key = read_key(fields.get("k", "rsa").lower(), fields["p"])
    if isinstance(key, str):
        say("problem", f"The DKIM key at {name} cannot be used: {key}.")
        return DkimResult(selector, name, record, None, None, False, findings)
    key_type, bits = key
    if key_type == "rsa" and bits < 1024:
        say("problem", f"The DKIM key is RSA {bits} bits: too short, receivers ignore it.")
    elif key_type == "rsa" and bits < 2048:
        say(
            "warning",
            f"The DKIM key is RSA {bits} bits: it works, but 2048 bits is what Google "
            "and others recommend now.",
        )
    elif key_type == "ed25519":
        say(
            "warning",
            "The DKIM key is Ed25519: not every receiver checks it yet; sign with an RSA "
            "key as well.",
        )
    else:
        say("ok", f"DKIM key found at {name}: RSA {bits} bits.")
    if "y" in fields.get("t", "").split(":"):
        say(
            "warning",
            "The DKIM key is in test mode (t=y): receivers may treat signed mail as unsigned.",
        )
    return DkimResult(selector, name, record, key_type, bits, False, findings)
