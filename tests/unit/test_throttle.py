"""The rate limiter and the throttled-retry decisions, on a fake clock (no sleeping)."""

from __future__ import annotations

import heapq
import math
import multiprocessing
import random
import threading
from collections.abc import Callable
from types import SimpleNamespace

import pytest

from mpusweep.s3.pace import Times
from mpusweep.s3.retry import (
    BACKOFF_CAP,
    RETRY_JITTER,
    UNPACED_FIRST,
    ThrottleHandler,
    is_throttled,
    retry_after_seconds,
)
from mpusweep.s3.throttle import READ, WRITE, RateLimiter, request_kind


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def limiter(clock: Clock | ThreadClock, **kwargs) -> RateLimiter:
    return RateLimiter(clock=clock, sleep=clock.sleep, **kwargs)


class Service:
    """A token bucket on the fake clock, as the proxy and S3 throttle: ``rate`` a second, at
    most ``burst`` saved up, starting full."""

    def __init__(self, clock: Clock | ThreadClock, rate: float, burst: float) -> None:
        self.clock, self.rate, self.burst = clock, rate, burst
        self.tokens, self.last = float(burst), clock.now
        self.accepted = self.throttled = 0

    def take(self) -> bool:
        now = self.clock.now
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            self.accepted += 1
            return True
        self.throttled += 1
        return False

    def capacity(self, seconds: float) -> float:
        """What it lets through in ``seconds`` at most: its burst and its rate over them."""
        return self.burst + self.rate * seconds


def send(limit: RateLimiter, clock: Clock, service: Service, kind: str = WRITE) -> None:
    """One request: its turn from the limiter, the service's answer, the limiter told."""
    given = limit.acquire(kind)
    if service.take():
        limit.success(kind, sent_at=clock.now, given_at=given)
    else:
        limit.throttle(kind, sent_at=clock.now, given_at=given)


def run(
    limit: RateLimiter,
    clock: Clock,
    service: Service,
    seconds: float,
    *,
    kind: str = WRITE,
    per_request: float = 0.002,
) -> int:
    """A client that would send 500 requests a second (``per_request`` of its own time each)
    for ``seconds``; the requests the service accepted meanwhile."""
    before, end = service.accepted, clock.now + seconds
    while clock.now < end:
        send(limit, clock, service, kind)
        clock.now += per_request
    return service.accepted - before


def test_unlimited_until_the_first_throttle():
    clock = Clock()
    limit = limiter(clock)
    for _ in range(1000):
        limit.acquire()
    assert clock.slept == []  # an unthrottled service is never slowed
    assert limit.rate() is None


def test_a_burst_then_steady_throttling_converges_on_the_allowed_rate():
    """The issue's service: 60 a second, a burst of 15. The burst and the first instants are not
    taken for the allowed rate (the estimate used to be 20/s, then 10/s, pacing at 9)."""
    clock = Clock()
    limit = limiter(clock)
    service = Service(clock, rate=60, burst=15)
    run(limit, clock, service, 3)
    pace = limit.paces[WRITE]
    assert pace.estimate == pytest.approx(60, rel=0.03)
    # Paced at the allowed rate or a little above: a bucket kept empty wastes no token.
    assert 60 <= (limit.rate() or 0) <= 1.25 * 60
    accepted = run(limit, clock, service, 20)
    assert accepted >= 0.97 * 60 * 20
    # Pacing keeps throttled answers few once the rate is known: the limiter tolerates up to
    # a tenth (``max_refused``) as the price of a bucket kept empty, not the client's 500/s.
    before = service.throttled
    run(limit, clock, service, 20)
    assert service.throttled - before < 0.15 * 60 * 20


def test_a_slow_phase_before_the_first_throttle_is_not_the_allowed_rate():
    """A listing at 5 requests a second, then sizing at full speed: the estimate comes from
    what the service accepts once it throttles, not from the quiet phase before it."""
    clock = Clock()
    limit = limiter(clock)
    service = Service(clock, rate=60, burst=15)
    for _ in range(10):  # two seconds of listing
        send(limit, clock, service)
        clock.now += 0.2
    run(limit, clock, service, 3)
    assert limit.paces[WRITE].estimate == pytest.approx(60, rel=0.03)
    assert run(limit, clock, service, 10) >= 0.95 * 600


@pytest.mark.parametrize(("rate", "burst"), [(20, 1), (60, 15), (200, 200), (1000, 50)])
def test_converges_across_rates_and_bursts(rate, burst):
    clock = Clock()
    limit = limiter(clock)
    service = Service(clock, rate=rate, burst=burst)
    # The client sends up to 5,000 a second here: the service is always the limit.
    run(limit, clock, service, 5, per_request=0.0002)
    # With a burst of 1, a pace a little above the rate wastes every other token: the
    # accepted rate measured there is a lower bound, and the pace settles just below where
    # throttling set in (it went back above again and again: 81% with a burst of 1 here).
    assert limit.paces[WRITE].estimate == pytest.approx(rate, rel=0.05 if burst > 1 else 0.3)
    assert run(limit, clock, service, 20, per_request=0.0002) >= 0.85 * rate * 20


def test_a_halved_rate_is_followed_down_and_back_up():
    clock = Clock()
    limit = limiter(clock)
    service = Service(clock, rate=100, burst=20)
    run(limit, clock, service, 5)
    service.rate = 50
    halved = run(limit, clock, service, 10)
    assert halved >= 0.97 * 50 * 10  # never below what the service allows
    assert limit.paces[WRITE].estimate == pytest.approx(50, rel=0.05)
    assert limit.rate() == pytest.approx(50, rel=0.15)  # and not far above it
    service.rate = 100
    restored = run(limit, clock, service, 10)
    assert restored >= 0.85 * 100 * 10  # found again within seconds
    assert limit.paces[WRITE].estimate == pytest.approx(100, rel=0.05)


def test_reads_and_writes_are_paced_apart():
    """S3 limits reads and writes separately: a throttled abort must not slow listings, and
    each kind's estimate is its own service's rate."""
    clock = Clock()
    limit = limiter(clock)
    reads, writes = Service(clock, rate=150, burst=20), Service(clock, rate=40, burst=20)
    end = clock.now + 10
    while clock.now < end:  # two threads, one for each kind: each sends when its turn comes
        for kind, service in ((READ, reads), (WRITE, writes)):
            if clock.now >= limit.paces[kind].next_send:
                send(limit, clock, service, kind)
        clock.now += 0.001
    assert limit.paces[READ].estimate == pytest.approx(150, rel=0.05)
    assert limit.paces[WRITE].estimate == pytest.approx(40, rel=0.05)
    assert reads.accepted >= 0.9 * 150 * 10
    assert writes.accepted >= 0.9 * 40 * 10


def test_a_share_left_by_another_client_is_taken_up():
    """Two processes (a sizing worker and its parent) share one allowed rate, each with its own
    limiter; when one ends, the other finds the whole rate within seconds."""
    clock = Clock()
    first, second = limiter(clock), limiter(clock)
    service = Service(clock, rate=100, burst=20)
    end = clock.now + 10
    while clock.now < end:
        send(first, clock, service)
        send(second, clock, service)
        clock.now += 0.002
    assert (first.rate() or 0) + (second.rate() or 0) == pytest.approx(100, rel=0.2)
    run(first, clock, service, 5)  # the second is done
    assert run(first, clock, service, 10) >= 0.9 * 100 * 10


def test_an_answer_to_a_request_sent_before_a_decrease_does_not_decrease_again():
    clock = Clock()
    limit = limiter(clock)
    service = Service(clock, rate=60, burst=15)
    run(limit, clock, service, 3)
    pace = limit.paces[WRITE]
    rate, decreased = pace.rate, pace.decreased_at
    for _ in range(50):  # answers in flight, sent before the last decrease
        clock.now += 0.001
        limit.throttle(WRITE, sent_at=decreased - 0.01)
    assert pace.rate == rate
    for _ in range(limit.min_count):  # answers to requests sent since, all throttled
        clock.now += 0.001
        limit.throttle(WRITE, sent_at=clock.now)
    assert pace.rate is not None and rate is not None and pace.rate < rate
    assert pace.estimate is not None
    assert pace.rate >= pace.estimate * 0.999  # never below what the service accepts


def test_a_burst_of_1_is_paced_just_below_where_throttling_sets_in():
    """Two requests closer than 1/rate cannot both pass, and each reaches the service 0.5 to
    4 ms after its turn. The limiter used to pace at the accepted rate measured while a little
    above the allowed one (where every other token is wasted), grow past it again, and so on:
    81% of the capacity here, 83% in benchmark TS. Below the onset of throttling: 88-89%."""
    rnd = random.Random(3)
    clock = Clock()
    limit = limiter(clock)
    service = Service(clock, rate=20, burst=1)
    seconds = 30
    end = clock.now + seconds
    while clock.now < end:
        given = limit.acquire()
        sent = clock.now
        clock.now += rnd.uniform(0.0005, 0.004)  # on its way
        if service.take():
            limit.success(WRITE, sent_at=sent, given_at=given)
        else:
            limit.throttle(WRITE, sent_at=sent, given_at=given)
        clock.now += 0.0005
    assert service.accepted >= 0.85 * service.capacity(seconds)


def test_throttling_sets_in_at_the_pace_its_turn_was_given_at():
    """The onset of throttling (a cliff's, see above) is the pace the throttled request's turn
    was given at, not the pace when its answer came: the pace grows meanwhile, several
    requests a second per second while requests wait (see
    ``test_one_limit_with_a_burst_of_1_is_used_in_a_clean``). Failed before: the onset here
    read 24, the pace when the answer came. A turn not noted (given while unpaced, or
    forgotten) takes the pace now, not an older turn's."""
    clock = Clock()
    limit = limiter(clock)
    pace = limit.paces[WRITE]
    pace.rate = 18.0
    given = limit.acquire()
    pace.rate = 24.0  # grown while the answer came
    clock.now += 0.3
    limit.throttle(WRITE, sent_at=given, given_at=given)
    assert pace.onset == 18.0

    pace.onset = None
    unnoted = clock.now - 0.1  # after the noted turn, given while unpaced
    limit.throttle(WRITE, sent_at=unnoted, given_at=unnoted)
    assert pace.onset == 24.0


def test_throttling_after_a_calm_spell_is_acted_on_at_once():
    """Throttling that sets in after more than ``window`` calm seconds: the limiter used to
    wait for a new measure (``min_count`` accepted answers, two seconds at a burst of 1) and for
    more than a tenth of every answer since the last decrease to be throttled, 36 throttled
    answers here. With a stale measure the pace now drops by ``1 - backoff``, at once."""
    clock = Clock()
    limit = limiter(clock, cliff_onset=100.0, cliff_again=100.0)  # the stale decrease alone
    service = Service(clock, rate=20, burst=1)
    run(limit, clock, service, 10)
    pace = limit.paces[WRITE]
    end, throttled = clock.now + 5, service.throttled
    while clock.now < end:  # a calm spell: the client asks for less than the pace
        clock.now += 1 / 16
        send(limit, clock, service)
    assert service.throttled == throttled
    pace.rate = 25.0  # then the pace is above the allowed rate
    before, decreased = service.throttled, pace.decreased_at
    while pace.decreased_at == decreased and service.throttled - before < 100:
        send(limit, clock, service)
        clock.now += 0.0005
    assert service.throttled - before <= 10
    assert pace.rate == pytest.approx(limit.backoff * 25.0, rel=0.05)


def test_a_turn_is_dated_when_given_not_when_it_goes():
    """A turn given ahead (up to ``horizon``) at the old pace may go after a decrease; its
    answer must count as paced at the old pace. Dated when it went, it counted against the
    new pace: with a burst of 1 each decrease was followed by a second one, to about half."""
    clock = Clock()
    limit = limiter(clock)
    limit.paces[WRITE].rate = 10.0
    assert limit.acquire() == 1000.0
    assert limit.acquire() == 1000.0  # given at once, for 0.1 s later
    assert clock.now == pytest.approx(1000.1)

    limit = limiter(clock)
    service = Service(clock, rate=60, burst=15)
    run(limit, clock, service, 3)
    pace = limit.paces[WRITE]
    rate, decreased = pace.rate, pace.decreased_at
    for _ in range(50):  # given before the last decrease, gone after it, throttled
        clock.now += 0.001
        limit.throttle(WRITE, sent_at=clock.now, given_at=decreased - 0.01)
    assert pace.rate == rate


def test_a_decrease_spaces_the_turns_to_come_at_the_new_pace():
    """The turn after a decrease comes 1/new rate after the last one given, not at the old
    spacing (with a burst of 1, that turn was throttled, and counted against the new pace)."""
    clock = Clock()
    limit = limiter(clock)
    pace = limit.paces[WRITE]
    pace.rate = 20.0
    limit.throttle(WRITE, sent_at=clock.now)  # the measure starts
    for _ in range(limit.min_count):  # 10 accepted a second
        clock.now += 0.1
        limit.success(WRITE, sent_at=clock.now)
    limit.acquire()
    last = limit.acquire()  # given now, for 0.05 s later
    for _ in range(3):  # throttled: more than a tenth of the answers
        limit.throttle(WRITE, sent_at=clock.now)
    assert pace.rate is not None and pace.rate < 11  # the measure (10/s) and a margin
    limit.acquire()
    assert clock.now == pytest.approx(last + 0.05 + 1 / pace.rate)


def test_the_first_decrease_spaces_the_turns_at_the_new_pace_too():
    """The first decrease comes while measuring, from ``settle`` times what was accepted so
    far: the next turn, at that pace's spacing, was throttled (with a burst of 1) and marked
    the onset of throttling at the new pace, so the cliff went unseen (benchmark TS)."""
    clock = Clock()
    limit = limiter(clock)
    pace = limit.paces[WRITE]

    def accepted(count: int) -> None:  # 20 a second
        for _ in range(count):
            clock.now += 0.05
            limit.success(WRITE, sent_at=clock.now)

    limit.throttle(WRITE, sent_at=clock.now)  # unlimited: measuring from here
    accepted(limit.min_count // 2)
    limit.throttle(WRITE, sent_at=clock.now)
    guess = limit.settle * 20
    assert pace.measuring and pace.rate == pytest.approx(guess)  # above what it accepted
    accepted(limit.min_count // 2)
    limit.acquire()
    last = limit.acquire()  # given now, for 1/guess s later
    limit.throttle(WRITE, sent_at=clock.now)
    assert not pace.measuring and pace.rate == pytest.approx(1.05 * 20, rel=0.05)
    limit.acquire()
    assert clock.now == pytest.approx(last + 1 / guess + 1 / pace.rate)


def test_requests_are_paced_at_the_rate():
    clock = Clock()
    limit = limiter(clock)
    limit.paces[WRITE].rate = 10
    start = clock.now
    for _ in range(21):
        limit.acquire()
    assert clock.now - start == pytest.approx(2.0, abs=0.11)  # 10 a second


def test_the_rate_is_lifted_when_calm_and_unused():
    clock = Clock()
    limit = limiter(clock, release_after=30)
    service = Service(clock, rate=100, burst=20)
    run(limit, clock, service, 3)
    assert limit.rate() is not None
    for _ in range(400):  # the client now uses far less than it may
        clock.now += 0.1
        send(limit, clock, service)
    assert limit.rate() is None


def test_request_kinds():
    assert request_kind("GET") == request_kind("HEAD") == READ
    assert request_kind("DELETE") == request_kind("PUT") == request_kind("POST") == WRITE


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


def test_a_forked_process_paces_with_the_same_limiter():
    """Sizing workers are forked from the process that made the limiter: what one of them
    learns (a throttled answer, a request's turn taken) every other process sees. Each used
    to pace alone, starting unlimited and taking its own share for the allowed rate."""
    limit = RateLimiter()
    limit.paces[WRITE].rate = 1000.0
    before = limit.paces[WRITE].next_send

    def child() -> None:
        limit.throttle(WRITE)
        limit.acquire(WRITE)

    process = multiprocessing.get_context("fork").Process(target=child)
    process.start()
    process.join(timeout=30)
    assert process.exitcode == 0
    assert limit.throttled == 1
    assert limit.paces[WRITE].next_send > before
    assert len(limit.paces[WRITE].throttles) == 1


def test_times_keep_the_newest_when_full():
    times = Times(3)
    for t in (1.0, 2.0, 3.0, 4.0):
        times.append(t)
    assert [times[i] for i in range(len(times))] == [2.0, 3.0, 4.0]
    assert times.popleft() == 2.0 and times[0] == 3.0 and times[-1] == 4.0
    times.clear()
    assert len(times) == 0
    with pytest.raises(IndexError):
        times[0]


def test_a_pause_while_measuring_still_goes_straight_to_the_measured_rate():
    """Throttled at once, the limiter paces above what it saw accepted until it can trust a
    measure; if the client pauses longer than the window meanwhile (the listing done, the
    sizing workers starting), the next throttled answers still finish that measure, and the
    pace goes straight to it. Failed before: the pause ended the measuring, the guess was taken
    for a chosen pace and only lowered by the share throttled (on a real server, reads paced
    at 74/s for 40 accepted)."""
    clock = Clock()
    limit = limiter(clock)
    service = Service(clock, rate=40, burst=10)
    run(limit, clock, service, 0.15)  # the burst, then a few accepted: too few to trust
    guess = limit.rate()
    assert guess is not None and guess > 40  # above: the measure goes on
    clock.now += 2 * limit.window  # quiet: the bucket refills
    before = service.throttled
    run(limit, clock, service, 2.0)
    assert limit.paces[WRITE].estimate == pytest.approx(40, rel=0.15)
    assert 40 <= (limit.rate() or 0) <= 1.25 * 40
    # The guess's pace until the measure is trusted: 11 throttled answers (74 before the
    # measure went on through a pause, the pace grown to 137/s and lowered by the share
    # throttled; 31 with a guess of twice the rate, counted from the first throttled answer).
    assert service.throttled - before < 40


def test_a_pace_measured_far_too_low_finds_the_allowed_rate_within_a_short_run():
    """A measure taken while the machine was starved (a storm of throttled retries on two busy
    cores) can read a tenth of what the service allows; with nothing throttled from then on, the
    pace must find the allowed rate within a few seconds, or a short clean runs at that tenth.
    Failed before (CI: cleans paced at 7 to 18 a second for 30 and 60 allowed, 46-48% of the
    capacity): the pace grew by a share of the low measure, so it needed about 12 seconds."""
    clock = Clock()
    limit = limiter(clock)
    service = Service(clock, rate=6, burst=2)
    run(limit, clock, service, 3)  # what a starved moment measures
    assert (limit.rate() or 0) < 20  # a third of what comes next
    service.rate = 60
    accepted = run(limit, clock, service, 8)
    assert accepted >= 0.7 * 60 * 8, (accepted, limit.rate())
    assert (limit.rate() or 0) >= 60


class ThreadClock:
    """A fake clock for several threads: each ``sleep`` waits until the clock reaches its
    time, and the clock moves on to the earliest wake-up once every thread sleeps or is done,
    so threads take their turns as they would in real time, with no real waiting."""

    def __init__(self, threads: int) -> None:
        self.now = 1000.0
        self.running = threads
        self.wakes: list[float] = []
        self.cond = threading.Condition()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.cond:
            wake = self.now + max(0.0, seconds)
            heapq.heappush(self.wakes, wake)
            self.running -= 1
            self._advance()
            while self.now < wake:
                self.cond.wait()

    def done(self) -> None:
        with self.cond:
            self.running -= 1
            self._advance()

    def _advance(self) -> None:
        if self.running or not self.wakes:
            return
        self.now = max(self.now, self.wakes[0])
        while self.wakes and self.wakes[0] <= self.now:  # these threads run again
            heapq.heappop(self.wakes)
            self.running += 1
        self.cond.notify_all()


def run_threads(clock: ThreadClock, threads: int, client: Callable[[], None]) -> None:
    """Run ``client`` in ``threads`` threads on the fake clock, each done when it returns."""

    def thread() -> None:
        try:
            client()
        finally:
            clock.done()

    workers = [threading.Thread(target=thread) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert not any(worker.is_alive() for worker in workers)


def test_turns_are_not_held_at_an_old_pace_while_many_threads_wait():
    """64 threads (a sizing pool) paced at a guess of a few requests a second: when the pace
    grows, the requests already waiting go at the new pace. Failed before (moto, a clean of 100
    uploads at 30 allowed): each thread took its turn when it asked, so 64 turns at 4 a second
    held the next 16 seconds at that pace, 4 requests a second with nothing throttled."""
    threads = 64
    clock = ThreadClock(threads)
    limit = limiter(clock)
    service = Service(clock, rate=60, burst=2)
    limit.paces[WRITE].rate = 4.0  # the guess of a starved moment
    end = clock.now + 8

    def client() -> None:
        while clock.now < end:
            send(limit, clock, service)
            clock.sleep(0.02)  # the answer's round trip

    run_threads(clock, threads, client)
    assert service.accepted >= 0.7 * 60 * 8, (service.accepted, limit.rate())


def retried(
    limit: RateLimiter,
    handler: ThrottleHandler,
    service: Service,
    kind: str,
    *,
    latency: float,
    end: float = math.inf,
    on_way: float = 0.0,
) -> None:
    """One request, retried until accepted or ``end`` passes: its turn from the
    limiter, up to ``on_way`` seconds to reach the service, its answer ``latency`` seconds later
    if accepted and 5 ms if throttled, each throttled answer through the real retry handler."""
    clock = service.clock
    context: dict = {}
    while clock.now < end:
        context["mpusweep_sent_at"] = limit.acquire(kind)
        if on_way:
            clock.sleep(random.uniform(on_way / 8, on_way))
        if service.take():
            clock.sleep(latency)
            limit.success(kind, context["mpusweep_sent_at"])
            return
        clock.sleep(0.005)
        method = "GET" if kind == READ else "PUT"
        request = {"context": context, "method": method}
        clock.sleep(handler.needs_retry(response=response(503, "SlowDown"), request_dict=request))


def slow_answers(
    latency: float,
    seconds: float,
    threads: int = 64,
    *,
    rate: float = 40,
    burst: float = 10,
    seed: int = 1,
) -> tuple[Service, RateLimiter]:
    """``threads`` threads, each sending one request after another for ``seconds``, retried
    until accepted, to a service allowing ``rate`` a second (a burst of ``burst``) that answers
    throttled requests in 5 ms and accepted ones in ``latency`` seconds (a starved machine's
    round trip)."""
    random.seed(seed)
    clock = ThreadClock(threads)
    limit = limiter(clock)
    handler = ThrottleHandler(limit, patience=600, clock=clock)
    service = Service(clock, rate=rate, burst=burst)
    end = clock.now + seconds

    def client() -> None:
        while clock.now < end:
            retried(limit, handler, service, WRITE, latency=latency, end=end)

    run_threads(clock, threads, client)
    return service, limit


def test_retries_wait_for_the_first_measure_while_answers_are_slow():
    """64 threads throttled while unlimited, on a starved machine: the accepted answers take a
    second to come, so the limiter has nothing to measure a pace from meanwhile. Failed before
    (CI, moto: 175 throttled aborts for 150 accepted; 386 reads for 301 the stop before):
    each retry waited a random time up to 50 ms, doubled at each retry, at most 1 s, so the
    threads kept retrying many times a second each, 274 throttled answers in two seconds here
    (1,185 with no backoff at all). Now a retry waits up to 1 s from the first, and no longer
    than it takes the limiter to pace the kind: about 90."""
    service, _ = slow_answers(latency=1.0, seconds=2)
    assert service.throttled < 2 * 64, service.throttled  # the first 54 and a retry each
    assert service.accepted >= 2 * service.rate, service.accepted  # the bucket kept in use


def test_slow_answers_do_not_lower_the_measure():
    """The accepted rate is measured over the span of the accepted answers, not from the first
    throttled one: an accepted answer comes a round trip after its request, a throttled one at
    once. Failed before, with answers taking 0.3 s: the first estimate read about 25 a second
    for 40 allowed (the round trip counted as time nothing was accepted), the pace settled at
    25 to 28, and 143 requests were accepted in five seconds where 210 may go."""
    service, limit = slow_answers(latency=0.3, seconds=5)
    assert limit.paces[WRITE].estimate == pytest.approx(40, rel=0.15)
    assert 40 <= (limit.rate() or 0) <= 1.2 * 40
    assert service.accepted >= 0.85 * (10 + 40 * 5), service.accepted


def test_a_service_allowing_one_request_a_second_is_paced():
    """A guess needs a few answers; a service allowing a request a second gives at most three
    within the window, so two half a second apart are enough. Failed before (17ef512, a guess
    from 5 answers only): the kind was never paced, and 8 threads, each backing off on its
    own, sent 156 throttled requests for 25 accepted in 30 seconds; now 42 for 29."""
    service, limit = slow_answers(0.05, seconds=30, threads=8, rate=1, burst=1, seed=3)
    assert limit.rate() is not None
    assert service.throttled < 3 * service.accepted, (service.throttled, service.accepted)
    assert service.accepted >= 0.8 * 30, service.accepted


def test_an_unpaced_retry_waits_until_paced_or_its_backoff_ends():
    """Not paced yet, a throttled request waits a random time up to ``UNPACED_FIRST``, the
    ceiling doubled at each retry, at most ``BACKOFF_CAP``; and no longer than it takes the
    limiter to pace its kind, whose turns then space the retries. Paced, a retry waits only a
    little jitter, then its turn."""
    random.seed(2)
    clock = Clock()
    limit = limiter(clock)
    handler = ThrottleHandler(limit, clock=clock)
    request = {"context": {}, "method": "PUT"}

    def retry() -> float:
        """The seconds this retry waits, in the handler and after it (botocore's sleep)."""
        start = clock.now
        delay = handler.needs_retry(response=response(503, "SlowDown"), request_dict=request)
        return clock.now - start + delay

    waits = [retry() for _ in range(8)]
    assert waits[0] <= UNPACED_FIRST
    assert max(waits) > UNPACED_FIRST  # the ceiling grew: 1, 2, 4, 4 s ...
    assert all(wait <= BACKOFF_CAP for wait in waits)
    # Paced meanwhile, by another thread's measure: the wait ends at the next look.
    start = clock.now

    def sleep_then_paced(seconds: float) -> None:
        clock.sleep(seconds)
        if clock.now - start >= 0.2:
            limit.paces[WRITE].rate = 40.0

    limit.sleep = sleep_then_paced
    assert retry() == pytest.approx(0.2, abs=limit.poll)
    paced = [retry() for _ in range(20)]
    assert all(wait <= RETRY_JITTER for wait in paced)


def reads_then_writes(
    clock: ThreadClock, reads: Service, writes: Service, uploads: int, threads: int = 64
) -> tuple[RateLimiter, float]:
    """A clean's shape: ``threads`` threads send a read (ListParts) for each of ``uploads``,
    then, once every read is answered, an abort for each, each retried until accepted (see
    ``retried``: up to 4 ms on its way, answered in 20 ms). Returns the limiter and the seconds
    from the first abort sent to the last answered."""
    random.seed(4)
    limit = limiter(clock)
    handler = ThrottleHandler(limit, patience=600, clock=clock)
    jobs = [WRITE] * uploads + [READ] * uploads  # popped from the end: reads first
    times: list[float] = []

    def client() -> None:
        while jobs:
            kind = jobs.pop()
            if kind == WRITE:
                while reads.accepted < uploads:  # the scan is not done yet
                    clock.sleep(0.01)
                times.append(clock.now)
            service = reads if kind == READ else writes
            retried(limit, handler, service, kind, latency=0.02, on_way=0.004)
            if kind == WRITE:
                times.append(clock.now)

    run_threads(clock, threads, client)
    return limit, max(times) - min(times)


def test_writes_with_a_limit_of_their_own_are_measured_afresh():
    """Aborts after a scan, reads allowed 60 a second and writes 200: the writes are measured on
    their own, from their first throttled answer. Starting them at the reads' pace instead, as
    though one limit throttled both (as on most services but AWS S3), was tried: with one limit
    and a burst of 1, 300 aborts went at 88% of the allowed rate instead of 82% on this fake
    clock (87% since, with the onset dated by the throttled turn; the burst-of-1 shape of
    benchmark TS: 78-91%, six of seven runs 88 or more, instead of 84-89%); but here the writes
    used 73% of what they may (1,000 aborts in 6.8 s instead of 5.0), and a quarter behind reads
    with a burst of 1 (300 aborts at 100 allowed: 12.1 s instead of 2.8), their pace creeping
    below the reads' cliff. A limiter cannot tell one limit from two until it is throttled above
    the pace it took."""
    clock = ThreadClock(64)
    reads, writes = Service(clock, rate=60, burst=15), Service(clock, rate=200, burst=20)
    limit, seconds = reads_then_writes(clock, reads, writes, 1000)
    assert writes.accepted == 1000
    share = writes.accepted / writes.capacity(seconds)
    assert share >= 0.9, (share, seconds, writes.throttled)
    assert limit.paces[WRITE].estimate == pytest.approx(200, rel=0.05)
    assert limit.paces[READ].estimate == pytest.approx(60, rel=0.05)


def test_one_limit_with_a_burst_of_1_is_used_in_a_clean():
    """A clean's reads, then its aborts, 64 threads, one limit of 20 a second with a burst
    of 1 (each request up to 4 ms on its way): the aborts use at least 85% of what the
    service allows. Failed before the onset of throttling was dated by the throttled turn
    (81%): it read 23 to 24 a second, the pace when the answer came, and 0.9 of it was still
    above the allowed rate. Now 87% (82 to 87% over six seeds, 73 to 84% before; benchmark TS,
    burst of 1: 86 to 89% over eight runs, 83 to 87% before)."""
    clock = ThreadClock(64)
    service = Service(clock, rate=20, burst=1)
    _, seconds = reads_then_writes(clock, service, service, 300)
    share = 300 / service.capacity(seconds)
    assert share >= 0.85, (share, seconds, service.throttled)
