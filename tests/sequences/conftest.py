"""The sender tests' real SMTP server (`relay`) and the config that sends to it."""

from tests.outbound.sending.test_sender import relay, send_config

__all__ = ["relay", "send_config"]
