"""The deliverability tests look domains up on a real knotd on loopback."""

from tests.support.dns import knot  # noqa: F401  (the session's DNS server)
