"""In-process retries of one email: temporary failures, with jittered exponential backoff."""

from __future__ import annotations

from dataclasses import replace
from email.message import EmailMessage

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_result,
    stop_after_attempt,
    wait_random_exponential,
)

from webapp.core.logs import get_logger
from webapp.outbound.smtp.outcomes import DeliveryOutcome, DeliveryResult
from webapp.outbound.smtp.relay import Relay

log = get_logger(__name__)


async def send_with_retries(
    relay: Relay,
    message: EmailMessage,
    *,
    attempts: int = 4,
    base_delay: float = 1.0,
    max_delay: float = 30.0,
) -> DeliveryResult:
    """Send, retrying TEMPORARY outcomes with exponential backoff and full jitter.

    The n-th retry waits a random time in [0, min(max_delay, base_delay × 2^(n-1))].
    SENT and PERMANENT return at once; after `attempts` TEMPORARY outcomes the
    last one is returned. `result.attempts` tells how many were made.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")

    made = 0

    async def attempt() -> DeliveryResult:
        nonlocal made
        made += 1
        return await relay.send(message)

    def log_retry(state: RetryCallState) -> None:
        if state.outcome is None or state.outcome.failed:
            return
        result: DeliveryResult = state.outcome.result()
        log.info(
            "smtp_retry",
            attempt=state.attempt_number,
            code=result.code,
            detail=result.detail[:200],
            wait=round(state.next_action.sleep, 3) if state.next_action else None,
        )

    def last_result(state: RetryCallState) -> DeliveryResult:
        assert state.outcome is not None
        result: DeliveryResult = state.outcome.result()
        return result

    retrying = AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=wait_random_exponential(multiplier=base_delay, max=max_delay),
        retry=retry_if_result(lambda result: result.outcome is DeliveryOutcome.TEMPORARY),
        retry_error_callback=last_result,
        before_sleep=log_retry,
    )
    result: DeliveryResult = await retrying(attempt)
    return replace(result, attempts=made)
