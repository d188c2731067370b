"""The rate limiter and the throttled-retry decisions, on a fake clock (no sleeping)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from mpusweep.s3.throttle import RateLimiter, ThrottleHandler, is_throttled, retry_after_seconds


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def limiter(clock: Clock, **kwargs) -> RateLimiter:
    return RateLimiter(clock=clock, sleep=clock.sleep, **kwargs)


def serve(limit: RateLimiter, clock: Clock, seconds: float, accepted_per_s: float) -> None:
    """Successes at a steady rate for a while."""
    step = 1 / accepted_per_s
    for _ in range(int(seconds * accepted_per_s)):
        clock.now += step
        limit.success()


def test_unlimited_until_the_first_throttle():
    clock = Clock()
    limit = limiter(clock)
    for _ in range(1000):
        limit.acquire()
    assert clock.slept == []  # an unthrottled service is never slowed
    assert limit.rate is None


def test_throttle_sets_the_rate_below_what_the_service_accepted():
    clock = Clock()
    limit = limiter(clock)
    serve(limit, clock, 3, accepted_per_s=150)
    limit.throttle()
    assert limit.rate == pytest.approx(limit.decrease * 150, rel=0.05)
    # A burst of throttles from requests already in flight counts once per cooldown.
    before = limit.rate
    for _ in range(20):
        limit.throttle()
    assert limit.rate == before


def test_requests_are_paced_at_the_rate():
    clock = Clock()
    limit = limiter(clock, min_rate=10)
    limit.throttle()  # nothing accepted yet: the floor
    assert limit.rate == 10
    start = clock.now
    for _ in range(21):
        limit.acquire()
    assert clock.now - start == pytest.approx(2.0, abs=0.11)  # 10 a second


def test_the_rate_recovers_while_answers_succeed_and_is_lifted_when_calm():
    clock = Clock()
    limit = limiter(clock, release_after=30)
    serve(limit, clock, 3, accepted_per_s=100)
    limit.throttle()
    low = limit.rate
    serve(limit, clock, 3, accepted_per_s=80)
    assert limit.rate > low  # additive increase
    serve(limit, clock, 40, accepted_per_s=10)  # the client uses far less than it may
    assert limit.rate is None


def test_retry_after_pauses_every_request():
    clock = Clock()
    limit = limiter(clock)
    limit.throttle(retry_after=3)
    limit.acquire()
    assert sum(clock.slept) >= 3


def test_retry_after_parsing():
    assert retry_after_seconds("2") == 2.0
    assert retry_after_seconds(" 0.5 ") == 0.5
    assert retry_after_seconds("-3") == 0.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("Wed, 25 Nov 2026 10:00:10 GMT", now=1795600800.0) == 10.0


def test_what_counts_as_throttled():
    assert is_throttled("SlowDown", 503)
    assert is_throttled("Throttling", 400)
    assert is_throttled(None, 429)
    assert is_throttled("503", 503)
    assert not is_throttled("InternalError", 500)
    assert not is_throttled("AccessDenied", 403)
    assert is_throttled("ServiceUnavailable", 503)  # a named code counts


def response(status: int, code: str | None = None, headers: dict | None = None):
    http = SimpleNamespace(status_code=status, headers=headers or {})
    parsed = {"Error": {"Code": code}} if code else {}
    return (http, parsed)


def test_handler_retries_throttles_itself_and_leaves_the_rest_to_botocore():
    clock = Clock()
    limit = limiter(clock)
    handler = ThrottleHandler(limit, patience=60, clock=clock)
    fallback_calls = []
    handler._fallback = lambda **kw: fallback_calls.append(kw) or 0.25
    request = {"context": {}}
    delay = handler.needs_retry(response=response(503, "SlowDown"), request_dict=request)
    assert delay is not None and delay < 0.1
    assert fallback_calls == []  # botocore's quota is not spent on throttles
    assert limit.throttled == 1
    delay = handler.needs_retry(
        response=response(429, None, {"Retry-After": "2"}), request_dict=request
    )
    assert delay == 2.0
    assert handler.needs_retry(response=response(500, "InternalError"), request_dict={}) == 0.25
    assert handler.needs_retry(response=response(200), request_dict={}) == 0.25
    assert len(fallback_calls) == 2


def test_handler_gives_up_after_its_patience():
    clock = Clock()
    handler = ThrottleHandler(limiter(clock), patience=60, clock=clock)
    handler._fallback = lambda **kw: None
    request = {"context": {}}
    assert handler.needs_retry(response=response(503, "SlowDown"), request_dict=request) is not None
    clock.now += 61
    assert handler.needs_retry(response=response(503, "SlowDown"), request_dict=request) is None
