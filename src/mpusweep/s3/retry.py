"""Retry throttled answers (503 SlowDown, 429) ourselves, paced by ``throttle.RateLimiter``.

botocore's standard retry mode spends a shared retry quota on every retry; under sustained
throttling the quota runs dry and botocore stops retrying, so a big clean ends in a pile of
``SlowDown`` failures. Here throttled answers are retried by us, not counted against that quota
or ``max_attempts``, and every request waits for its turn from the limiter.

A throttled request is retried until ``patience`` seconds have passed since its first throttled
answer (and at most ``max_retries`` times), then the error goes to the caller as any other. Paced,
a retry waits a little jitter and its turn. Not paced yet (throttled while unlimited, until the
first accepted answers give a pace), nothing spaces the retries of the threads: each retry waits
a random time up to ``UNPACED_FIRST``, the ceiling doubled at each retry of the request, at most
``BACKOFF_CAP`` (exponential backoff with full jitter), and no longer than it takes the limiter
to pace its kind: from then on its turns space the retries. A retry that waited 50 ms at first,
doubled up to 1 s, was too short for a starved machine, whose accepted answers took a second to
come: 64 threads sent 175 throttled aborts for 150 accepted (CI, moto), and 1,185 throttled
requests in two seconds with no backoff at all.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from .throttle import RateLimiter, request_kind

log = logging.getLogger(__name__)

#: Error codes that mean "too many requests" (botocore's own list, and the S3 ones).
THROTTLE_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "ServiceUnavailable",
        "TooManyRequests",
    }
)
#: HTTP statuses that mean the same when the body names no code.
THROTTLE_STATUSES = frozenset({429, 503})
#: Seconds a throttled request is retried before its error goes to the caller.
PATIENCE = 600.0
#: The most seconds a throttled request waits before its retry (a random time up to it), while
#: the limiter paces its kind.
RETRY_JITTER = 0.05
#: While it does not: the first retry's ceiling, doubled at each retry ...
UNPACED_FIRST = 1.0
#: ... up to this. The wait ends early once the kind is paced.
BACKOFF_CAP = 4.0


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """A ``Retry-After`` header in seconds: a number, or an HTTP date; None when absent or bad.

    >>> retry_after_seconds("3")
    3.0
    >>> retry_after_seconds("soon") is None
    True
    >>> retry_after_seconds("Wed, 25 Nov 2026 10:00:05 GMT", now=1795600800.0)
    5.0
    """
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def _code_and_status(response: Any) -> tuple[str | None, int | None, dict[str, str]]:
    if not response:
        return None, None, {}
    http_response, parsed = response
    status = getattr(http_response, "status_code", None)
    headers = dict(getattr(http_response, "headers", {}) or {})
    code = (parsed or {}).get("Error", {}).get("Code") if isinstance(parsed, dict) else None
    return code, status, headers


def is_throttled(code: str | None, status: int | None) -> bool:
    """Whether an answer means "too many requests".

    >>> is_throttled("SlowDown", 503), is_throttled(None, 429), is_throttled("NoSuchKey", 404)
    (True, True, False)
    """
    if code in THROTTLE_CODES:
        return True
    return status in THROTTLE_STATUSES and code in (None, "", str(status))


class ThrottleHandler:
    """Paces and retries one botocore client's requests with a ``RateLimiter``.

    ``install`` takes the place of botocore's standard retry handler: throttled answers are
    retried here (after any ``Retry-After``, paced by the limiter in ``before-send``), without
    spending botocore's retry quota; every other answer goes to a standard-mode handler of its
    own, exactly as botocore would retry it (transient errors, timeouts, ``max_attempts``).
    """

    def __init__(
        self,
        limiter: RateLimiter,
        *,
        patience: float = PATIENCE,
        max_retries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limiter = limiter
        self.patience = patience
        self.max_retries = max_retries
        self.clock = clock
        self._fallback: Callable[..., float | None] | None = None

    def install(self, client: Any) -> None:
        """Replace the client's standard retry handler by this one."""
        from botocore.retries import quota, standard

        events = client.meta.events
        max_attempts = client.meta.config.retries.get("total_max_attempts", 3)
        adapter = standard.RetryEventAdapter()
        checker = standard.RetryQuotaChecker(
            quota.RetryQuota(), standard.ThrottlingErrorDetector(adapter)
        )
        fallback = standard.RetryHandler(
            retry_policy=standard.RetryPolicy(
                retry_checker=standard.StandardRetryConditions(max_attempts=max_attempts),
                retry_backoff=standard.ExponentialBackoff(),
            ),
            retry_event_adapter=adapter,
            # botocore itself passes a RetryQuotaChecker here; its type stubs say RetryQuota.
            retry_quota=checker,  # type: ignore[arg-type]
        )
        self._fallback = fallback.needs_retry
        events.unregister("needs-retry.s3", unique_id=_STANDARD_HANDLER_ID)
        events.register("needs-retry.s3", self.needs_retry, unique_id=_STANDARD_HANDLER_ID)
        events.register("after-call.s3", checker.release_retry_quota)
        events.register("before-send.s3", self.before_send)

    def before_send(self, request: Any = None, **_: Any) -> None:
        """Wait for the request's turn; note when it was given and when the request went,
        for ``needs_retry``."""
        kind = request_kind(getattr(request, "method", None))
        given_at = self.limiter.acquire(kind)
        context = getattr(request, "context", None)
        if isinstance(context, dict):
            context["mpusweep_given_at"] = given_at
            context["mpusweep_sent_at"] = self.limiter.clock()

    def needs_retry(self, **kwargs: Any) -> float | None:
        """The delay before retrying, or None not to retry (botocore's needs-retry event)."""
        response = kwargs.get("response")
        code, status, headers = _code_and_status(response)
        request_dict = kwargs.get("request_dict") or {}
        context = request_dict.get("context", {})
        kind = request_kind(request_dict.get("method"))
        if response is None or not is_throttled(code, status):
            if response is not None and (status or 500) < 500:
                self.limiter.success(
                    kind, context.get("mpusweep_sent_at"), context.get("mpusweep_given_at")
                )
            return self._fallback(**kwargs) if self._fallback is not None else None
        lowered = {k.lower(): v for k, v in headers.items()}
        retry_after = retry_after_seconds(lowered.get("retry-after"))
        self.limiter.throttle(
            kind,
            retry_after,
            context.get("mpusweep_sent_at"),
            context.get("mpusweep_given_at"),
        )
        now = self.clock()
        since = context.setdefault("mpusweep_throttled_since", now)
        retries = context["mpusweep_throttle_retries"] = (
            context.get("mpusweep_throttle_retries", 0) + 1
        )
        if now - since > self.patience or retries > self.max_retries:
            log.debug("still throttled after %.0f s, %d retries: giving up", now - since, retries)
            return None
        if retry_after:
            return retry_after
        # Paced, the limiter spaces the retry in before-send (a little jitter spreads the
        # threads); not yet, it backs off, its ceiling doubled at each retry (the exponent
        # bounded: it is past the cap long before, and 2 ** 10,000 is no float), until the
        # limiter has a pace: the turns space it from then on.
        if self.limiter.rate(kind) is not None:
            return random.uniform(0, RETRY_JITTER)
        ceiling = min(BACKOFF_CAP, UNPACED_FIRST * 2.0 ** min(retries - 1, 16))
        self.limiter.until_paced(kind, random.uniform(0, ceiling))
        return 0.0


#: botocore registers its standard retry handler under this id (botocore/retries/standard.py).
_STANDARD_HANDLER_ID = "retry-config-s3"
