"""Slow down instead of failing when the service throttles (503 SlowDown, 429).

botocore's standard retry mode spends a shared retry quota on every retry; under sustained
throttling the quota runs dry and botocore stops retrying, so a big clean ends in a pile of
``SlowDown`` failures. Here throttled answers are retried by us, not counted against that quota
or ``max_attempts``, and a client-side rate limiter paces every request:

- unlimited until the service first throttles, so an unthrottled service is never slowed;
- on a throttled answer (at most once per ``cooldown``: requests sent before a decrease may
  still be throttled after it) the rate drops to ``decrease`` times the rate the service was
  accepting over the last ``window`` seconds (multiplicative decrease);
- while answers succeed it grows back toward the rate accepted at the last decrease (``recover``
  of the gap a second) and beyond it by ``increase`` of that rate a second (additive increase),
  probing for more, and is lifted altogether after ``release_after``
  seconds without a throttled answer while the client does not even use the rate it has;
- ``Retry-After`` (seconds or an HTTP date) pauses every request for that long.

A throttled request is retried until ``patience`` seconds have passed since its first throttled
answer (and at most ``max_retries`` times), then the error goes to the caller as any other.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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


@dataclass
class RateLimiter:
    """AIMD pacing of requests, shared by every thread of one connection. Thread-safe.

    ``rate`` is None while unlimited. ``clock`` and ``sleep`` are injectable for tests.
    """

    decrease: float = 0.9
    increase: float = 0.01
    recover: float = 0.5
    cooldown: float = 2.0
    release_after: float = 30.0
    min_rate: float = 1.0
    window: float = 2.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    rate: float | None = None
    _peak: float = 0.0
    _next_send: float = 0.0
    _paused_until: float = 0.0
    _last_decrease: float = float("-inf")
    _last_throttle: float = float("-inf")
    _last_update: float = 0.0
    _successes: deque[float] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    throttled: int = 0

    def acquire(self) -> None:
        """Wait for this request's turn (at once while unlimited and not paused)."""
        with self._lock:
            now = self.clock()
            start = max(now, self._paused_until)
            if self.rate is not None:
                start = max(start, self._next_send)
                self._next_send = start + 1.0 / self.rate
        if start > now:
            self.sleep(start - now)

    def success(self) -> None:
        """A request was answered (not throttled): count it, and grow the rate."""
        with self._lock:
            now = self.clock()
            self._successes.append(now)
            self._trim(now)
            if self.rate is None:
                return
            elapsed = now - self._last_update
            self._last_update = now
            # Back quickly toward the rate the service last accepted (half the gap a second),
            # then probe beyond it slowly: a throttled burst costs little, a long dip much.
            gap = max(0.0, self._peak - self.rate)
            self.rate += (
                min(1.0, self.recover * elapsed) * gap
            ) + self.increase * self._peak * elapsed
            if now - self._last_throttle > self.release_after and self.rate > 2 * self._measured():
                log.debug("no throttling for %.0f s: rate limit lifted", self.release_after)
                self.rate = None

    def throttle(self, retry_after: float | None = None) -> None:
        """The service throttled a request: slow down (once per cooldown), and pause if told."""
        with self._lock:
            now = self.clock()
            self.throttled += 1
            self._last_throttle = now
            if retry_after:
                self._paused_until = max(self._paused_until, now + retry_after)
                log.debug("pausing %.1f s as the service asked (Retry-After)", retry_after)
            if now - self._last_decrease < self.cooldown:
                return
            self._trim(now)
            accepted = self._measured()
            current = self.rate if self.rate is not None else accepted
            base = min(current, accepted) if accepted > 0 else current
            self._peak = max(base, self.min_rate)
            self.rate = max(self.min_rate, self.decrease * base)
            self._last_decrease = self._last_update = now
            log.debug("throttled: %.1f requests/s accepted, pacing at %.1f/s", accepted, self.rate)

    def _trim(self, now: float) -> None:
        while self._successes and self._successes[0] < now - self.window:
            self._successes.popleft()

    def _measured(self) -> float:
        """Successes a second over the window, or over the time since the first success when
        the window is not full yet (a run's first second is not a whole window)."""
        if not self._successes:
            return 0.0
        span = min(self.window, self.clock() - self._successes[0])
        return len(self._successes) / max(span, self.window / 10)


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

    def before_send(self, **_: Any) -> None:
        self.limiter.acquire()

    def needs_retry(self, **kwargs: Any) -> float | None:
        """The delay before retrying, or None not to retry (botocore's needs-retry event)."""
        response = kwargs.get("response")
        code, status, headers = _code_and_status(response)
        context = (kwargs.get("request_dict") or {}).get("context", {})
        if response is None or not is_throttled(code, status):
            if response is not None and (status or 500) < 500:
                self.limiter.success()
            return self._fallback(**kwargs) if self._fallback is not None else None
        lowered = {k.lower(): v for k, v in headers.items()}
        retry_after = retry_after_seconds(lowered.get("retry-after"))
        self.limiter.throttle(retry_after)
        now = self.clock()
        since = context.setdefault("mpusweep_throttled_since", now)
        retries = context["mpusweep_throttle_retries"] = (
            context.get("mpusweep_throttle_retries", 0) + 1
        )
        if now - since > self.patience or retries > self.max_retries:
            log.debug("still throttled after %.0f s, %d retries: giving up", now - since, retries)
            return None
        # The limiter paces the retry in before-send; a little jitter spreads the threads.
        return retry_after if retry_after else random.uniform(0, 0.05)


#: botocore registers its standard retry handler under this id (botocore/retries/standard.py).
_STANDARD_HANDLER_ID = "retry-config-s3"
