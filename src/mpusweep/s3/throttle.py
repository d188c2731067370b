"""Slow down instead of failing when the service throttles (503 SlowDown, 429).

botocore's standard retry mode spends a shared retry quota on every retry; under sustained
throttling the quota runs dry and botocore stops retrying, so a big clean ends in a pile of
``SlowDown`` failures. Here throttled answers are retried by us, not counted against that quota
or ``max_attempts``, and a client-side rate limiter paces every request.

The limiter keeps one state per kind of request, reads (GET, HEAD) and writes (the rest): S3
limits them separately (3,500 writes and 5,500 reads a second per prefix), so a throttled abort
says nothing about how fast listings may go. For each kind:

- unlimited until the service first throttles, so an unthrottled service is never slowed;
- throttled, it measures the rate the service accepts, from the first throttled answer on: a
  token bucket that throttles is empty, so what it lets through from then on, while the client
  keeps asking for more, is its refill rate, the burst and any quiet phase before excluded (so
  are answers to requests sent before that first throttled answer, which may have taken the
  burst's tokens). The estimate is the accepted count since the oldest throttled answer of the
  last ``window``
  seconds, trusted once it spans ``min_span`` seconds and ``min_count`` answers; until then the
  pace is ``settle`` times the rate accepted so far, well above it (extra throttled answers
  cost a retry each, a pace below the allowed rate would bias the estimate: an early estimate
  from the burst or a quiet listing once paced at a tenth of the allowed rate);
- on a throttled answer to a request sent after the last decrease (older ones were sent at the
  old pace and prove nothing), once more than ``max_refused`` of this pace's answers were
  throttled, the pace drops to the measured accepted rate and a ``margin`` more (scaling the
  pace by the share taken kept a pace the client did not fill far above it): that rate is a
  lower bound of what the service allows, and a bucket the client keeps just empty wastes no
  token, where one it leaves to refill wastes every token past its burst (with a burst of 1,
  any jitter would);
- while requests wait for their turn and none is throttled, the pace grows by ``increase`` of
  the estimate a second, faster the longer they have waited so (``accelerate``, a second per
  second, and ``surge`` times the square of the seconds past ``surge_after``), so a rate
  restored, a share left by another process, or a measure taken while the machine was starved
  (a tenth of the allowed rate) is found in seconds; it is lifted altogether after
  ``release_after`` calm seconds while the client uses less than half;
- a request takes its turn at most ``horizon`` seconds ahead, so the pace of the moment applies
  to every waiting request, however many threads wait;
- ``Retry-After`` (seconds or an HTTP date) pauses every request for that long.

A throttled request is retried until ``patience`` seconds have passed since its first throttled
answer (and at most ``max_retries`` times), then the error goes to the caller as any other. Paced,
a retry waits a little jitter and its turn. Not paced yet (throttled while unlimited, until the
first accepted answers give a measure), nothing spaces the retries of the threads: each retry
waits a random time up to ``RETRY_JITTER``, doubled at each retry of the request, at most
``BACKOFF_CAP`` (exponential backoff with full jitter). Without it, 64 threads retrying every
25 ms sent over a thousand throttled requests in the two seconds a starved machine took to
answer the first accepted ones.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .pace import Counters, Pace, shared, shared_lock, trim

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
#: the limiter paces its kind; the first retry's ceiling while it does not.
RETRY_JITTER = 0.05
#: The most seconds a retry waits while unpaced: the ceiling, doubled at each retry, stops here.
BACKOFF_CAP = 1.0


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


READ, WRITE = "read", "write"
#: The HTTP methods S3 counts as reads; every other one is a write.
READ_METHODS = frozenset({"GET", "HEAD"})


def request_kind(method: str | None) -> str:
    """``read`` for GET and HEAD, ``write`` for the rest: S3 limits each on its own.

    >>> request_kind("GET"), request_kind("DELETE"), request_kind(None)
    ('read', 'write', 'write')
    """
    return READ if (method or "").upper() in READ_METHODS else WRITE


@dataclass
class RateLimiter:
    """Pacing of requests by kind, shared by every thread of one connection and by the
    processes forked from it. Thread- and process-safe.

    ``clock`` and ``sleep`` are injectable for tests. ``rate(kind)`` is None while unlimited.
    """

    max_refused: float = 0.1
    margin: float = 0.05
    settle: float = 2.0
    increase: float = 0.05
    accelerate: float = 0.1
    surge: float = 0.3
    surge_after: float = 1.0
    release_after: float = 30.0
    #: A request takes its turn at most this many seconds ahead; one further back waits and
    #: asks again, so a pace that grows meanwhile applies to it. (Turns once were taken when
    #: asked: 64 threads at a guessed 4 a second held the next 16 seconds at that pace, however
    #: fast the pace grew.)
    horizon: float = 0.25
    min_rate: float = 1.0
    window: float = 3.0
    min_span: float = 0.5
    min_count: int = 20
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    paces: dict[str, Pace] = field(default_factory=lambda: {READ: Pace(), WRITE: Pace()})
    _counters: Counters = field(default_factory=lambda: shared(Counters))
    _lock: Any = field(default_factory=shared_lock)

    @property
    def throttled(self) -> int:
        """Throttled answers so far, of every kind and process."""
        return int(self._counters.throttled)

    def rate(self, kind: str = WRITE) -> float | None:
        """The pace of one kind of request, in requests a second; None while unlimited."""
        return self.paces[kind].rate

    def acquire(self, kind: str = WRITE) -> float:
        """Wait for this request's turn (at once while unlimited and not paused); return the
        time it goes."""
        while True:
            with self._lock:
                pace = self.paces[kind]
                now = self.clock()
                start = max(now, float(self._counters.paused_until))
                if pace.rate is None:
                    break
                start = max(start, pace.next_send)
                if start > now:
                    pace.waited = True
                else:  # sent at once: the pace holds nothing back now
                    pace.unheld_at = now
                if start - now <= self.horizon:
                    pace.next_send = start + 1.0 / pace.rate
                    break
            # Too far ahead to take now: ask again when it is near, at the pace of then.
            self.sleep(start - now - self.horizon)
        if start > now:
            self.sleep(start - now)
        return start

    def success(self, kind: str = WRITE, sent_at: float | None = None) -> None:
        """A request (sent at ``sent_at``) was answered, not throttled: count it, and probe
        for more."""
        with self._lock:
            pace = self.paces[kind]
            now = self.clock()
            trim(pace.throttles, now - self.window)
            if sent_at is None or not pace.throttles or sent_at >= pace.throttles[0]:
                # Sent before the service was seen throttling, a request may have taken a token
                # of the burst or the refill of a quiet moment: not what the service allows.
                pace.successes.append(now)
            if sent_at is None or sent_at >= pace.decreased_at:
                pace.answered += 1
            trim(pace.successes, now - self.window)
            elapsed = min(1.0, now - pace.last_update)
            pace.last_update = now
            if pace.rate is None:
                return
            calm = now - pace.last_throttle
            if pace.waited:  # the pace holds requests back: more may be allowed
                held = now - max(pace.last_throttle, pace.unheld_at)  # and none throttled
                surge = self.surge * max(0.0, held - self.surge_after) ** 2
                growth = self.increase + self.accelerate * held + surge
                pace.rate += (pace.estimate or pace.rate) * growth * elapsed
                pace.waited = False
            if calm > self.release_after and pace.rate > 2 * self._accepted(pace, now):
                log.debug("%ss: no throttling for %.0f s: rate limit lifted", kind, calm)
                pace.rate = pace.estimate = None

    def throttle(
        self, kind: str = WRITE, retry_after: float | None = None, sent_at: float | None = None
    ) -> None:
        """The service throttled a request of this kind, sent at ``sent_at`` (unknown: None):
        measure, slow down, and pause if told."""
        with self._lock:
            pace = self.paces[kind]
            now = self.clock()
            self._counters.throttled += 1
            if retry_after:
                self._counters.paused_until = max(self._counters.paused_until, now + retry_after)
                log.debug("pausing %.1f s as the service asked (Retry-After)", retry_after)
            pace.last_throttle = now
            trim(pace.throttles, now - self.window)
            if not pace.throttles:  # the first in a window: from here the bucket is empty
                pace.successes.clear()
                pace.measuring = pace.measuring or pace.rate is None
            pace.throttles.append(now)
            since = pace.throttles[0]
            trim(pace.successes, since)
            span, count = now - since, len(pace.successes)
            if span < self.window and (span < self.min_span or count < self.min_count):
                if pace.measuring and count and span >= self.min_span / 5:
                    # Too early to tell, but well above what it accepted so far is enough
                    # to keep the bucket empty, at fewer throttled answers than unlimited.
                    pace.rate = max(self.min_rate, self.settle * count / span)
                return
            pace.estimate = count / span
            if sent_at is not None and sent_at < pace.decreased_at:
                return  # sent at the old pace: it proves nothing about the new one
            pace.answered += 1
            pace.refused += 1
            # Never below a little more than the service accepts: a bucket kept just empty
            # wastes no token (with a burst of 1, any jitter would), at a few throttled retries.
            rate = max(self.min_rate, (1 + self.margin) * pace.estimate)
            current = None if pace.measuring else pace.rate
            pace.measuring = False
            # Unlimited so far: straight to what the service accepts. Paced: only once enough
            # answers came to judge and more were throttled than jitter explains.
            too_few = pace.answered < self.min_count
            if current is not None and (
                too_few or pace.refused <= self.max_refused * pace.answered
            ):
                return
            if current is None or rate < current:
                pace.rate, pace.decreased_at = rate, now
                pace.answered = pace.refused = 0
                log.debug(
                    "%ss throttled: %.1f requests/s accepted, pacing at %.1f/s",
                    kind,
                    pace.estimate,
                    rate,
                )

    def _accepted(self, pace: Pace, now: float) -> float:
        """Successes a second over the last window (or since the first of them)."""
        if not pace.successes:
            return 0.0
        return len(pace.successes) / max(now - pace.successes[0], self.window / 10)


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
        """Wait for the request's turn; note its kind and when it went, for ``needs_retry``."""
        kind = request_kind(getattr(request, "method", None))
        sent_at = self.limiter.acquire(kind)
        context = getattr(request, "context", None)
        if isinstance(context, dict):
            context["mpusweep_sent_at"] = sent_at

    def needs_retry(self, **kwargs: Any) -> float | None:
        """The delay before retrying, or None not to retry (botocore's needs-retry event)."""
        response = kwargs.get("response")
        code, status, headers = _code_and_status(response)
        request_dict = kwargs.get("request_dict") or {}
        context = request_dict.get("context", {})
        kind = request_kind(request_dict.get("method"))
        if response is None or not is_throttled(code, status):
            if response is not None and (status or 500) < 500:
                self.limiter.success(kind, context.get("mpusweep_sent_at"))
            return self._fallback(**kwargs) if self._fallback is not None else None
        lowered = {k.lower(): v for k, v in headers.items()}
        retry_after = retry_after_seconds(lowered.get("retry-after"))
        self.limiter.throttle(kind, retry_after, context.get("mpusweep_sent_at"))
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
        # bounded: it is past the cap long before, and 2 ** 10,000 is no float).
        ceiling = RETRY_JITTER
        if self.limiter.rate(kind) is None:
            ceiling = min(BACKOFF_CAP, RETRY_JITTER * 2.0 ** min(retries - 1, 16))
        return random.uniform(0, ceiling)


#: botocore registers its standard retry handler under this id (botocore/retries/standard.py).
_STANDARD_HANDLER_ID = "retry-config-s3"
