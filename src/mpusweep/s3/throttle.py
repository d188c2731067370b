"""Slow down instead of failing when the service throttles (503 SlowDown, 429): the rate
limiter that paces every request (``retry.ThrottleHandler`` retries the throttled ones).

The limiter keeps one state per kind of request, reads (GET, HEAD) and writes (the rest): S3
limits them separately (3,500 writes and 5,500 reads a second per prefix), so a throttled abort
says nothing about how fast listings may go. Where one limit throttles both, each kind is still
measured on its own: starting the aborts at the listings' pace gained a few points at a burst
of 1 in most runs and cost writes with a higher limit of their own up to three quarters (see
``test_writes_with_a_limit_of_their_own_are_measured_afresh``). For each kind:

- unlimited until the service first throttles, so an unthrottled service is never slowed;
- throttled, it measures the rate the service accepts, from the first throttled answer on: a
  token bucket that throttles is empty, so what it lets through from then on, while the client
  keeps asking for more, is its refill rate, the burst and any quiet phase before excluded (so
  are answers to requests sent before that first throttled answer, which may have taken the
  burst's tokens). The estimate is the rate of the accepted answers since the oldest throttled
  answer of the last ``window`` seconds, over their own span (an accepted answer comes a round
  trip after its request, a throttled one at once: counted from the throttled answer, answers
  taking 0.3 s read 25 a second for 40 allowed), trusted once it spans ``min_span`` seconds and
  ``min_count`` answers; from a quarter of those answers (or two ``min_span`` apart) until
  then, the pace is ``settle`` times the rate accepted so far, above it (extra throttled
  answers cost a retry each, a pace below the allowed rate would bias the estimate: an early
  estimate from the burst or a quiet listing once paced at a tenth of the allowed rate);
- on a throttled answer to a request whose turn was given after the last decrease (older ones
  were paced at the old pace and prove nothing, even those that went after it), once more than
  ``max_refused`` of the answers since the decrease were throttled (of the last ``min_count`` to
  twice that: a long calm does not dilute throttling that sets in after it), the pace drops to
  the measured accepted rate and a ``margin`` more (scaling the pace by the share taken kept a
  pace the client did not fill far above it): that rate is a lower bound of what the service
  allows, and a bucket the client keeps just empty wastes no token. Throttling that sets in
  after more than ``window`` calm seconds is acted on at once, before a new measure (that took
  two seconds at a burst of 1, past the allowed rate): the pace drops by ``1 - backoff``. The
  turns to come are spaced at the new pace from the last one given;
- a cliff: where throttling set in again (after a decrease, or a calm window) only once the pace
  had grown ``cliff_onset`` past what the last decrease set (``cliff_again`` once a decrease
  found a cliff; the onset is the pace the turn of the request whose throttled answer came first
  was given at, for that answer comes a round trip later, the pace grown meanwhile), the pace
  drops to ``backoff`` times that onset instead, when that is higher, and below the onset grows
  only by ``creep`` of the estimate a second. With a burst of 1 (or 2), a pace a little above
  the allowed rate wastes every other token, so the accepted rate measured there is far below
  what the service allows, while just below the onset nearly every request passes (benchmark TS,
  a burst of 1: 83% of the allowed rate paced at the measure, 89% below the onset). A bucket
  with a real burst is throttled at once after a decrease (the pace is a little above its rate),
  so it shows no cliff;
- while requests wait for their turn and none is throttled, the pace grows by ``increase`` of
  the estimate a second, faster the longer they have waited so (``accelerate``, a second per
  second, and ``surge`` times the square of the seconds past ``surge_after``), so a rate
  restored, a share left by another process, or a measure taken while the machine was starved (a
  tenth of the allowed rate) is found in seconds (below a cliff's onset, by ``creep`` only); it
  is lifted altogether after ``release_after`` calm seconds while the client uses less than
  half;
- a request takes its turn at most ``horizon`` seconds ahead, so the pace of the moment applies
  to every waiting request, however many threads wait;
- ``Retry-After`` (seconds or an HTTP date) pauses every request for that long.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .pace import Counters, Pace, shared, shared_lock, trim

log = logging.getLogger(__name__)

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
    #: Below a cliff the pace is this share of its onset; a decrease on a stale measure keeps
    #: at least this share of the pace.
    backoff: float = 0.9
    cliff_onset: float = 0.08  #: growth before throttling sets in again that marks a cliff
    cliff_again: float = 0.02  #: the same, after a decrease found one
    creep: float = 0.01  #: growth a second below a cliff's onset, a share of the estimate
    settle: float = 1.5
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
    #: Seconds between looks at the pace of a retry waiting for one (``until_paced``).
    poll: float = 0.01
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
        """Wait for this request's turn (at once while unlimited and not paused); return when
        the turn was given, the ``given_at`` of ``success`` and ``throttle``: the pace of that
        moment set it. (A turn given up to ``horizon`` ahead at an old pace may go after a
        decrease; dated when it went, its throttled answer counted against the new pace.)
        """
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
                    pace.give_turn(now, pace.rate, forget=now - self.window)
                    break
            # Too far ahead to take now: ask again when it is near, at the pace of then.
            self.sleep(start - now - self.horizon)
        if start > now:
            self.sleep(start - now)
        return now

    def until_paced(self, kind: str, seconds: float) -> None:
        """Wait ``seconds``, or less: until the kind is paced (its turns space the requests
        from then on)."""
        end = self.clock() + seconds
        while self.paces[kind].rate is None:
            left = end - self.clock()
            if left <= 0:
                return
            self.sleep(min(self.poll, left))

    def success(
        self, kind: str = WRITE, sent_at: float | None = None, given_at: float | None = None
    ) -> None:
        """A request sent at ``sent_at``, its turn given at ``given_at`` (by ``acquire``;
        unknown: ``sent_at``), was answered, not throttled: count it, and probe for more."""
        with self._lock:
            pace = self.paces[kind]
            now = self.clock()
            trim(pace.throttles, now - self.window)
            if sent_at is None or not pace.throttles or sent_at >= pace.throttles[0]:
                # Sent before the service was seen throttling, a request may have taken a token
                # of the burst or the refill of a quiet moment: not what the service allows.
                pace.successes.append(now)
            if _paced_since_decrease(pace, _turn_given(sent_at, given_at)):
                self._count(pace, refused=False)
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
                if pace.ceiling is not None and pace.rate < pace.ceiling:
                    growth = self.creep  # below a cliff's onset: slowly, it is near
                else:
                    pace.ceiling = None
                pace.rate += (pace.estimate or pace.rate) * growth * elapsed
                pace.waited = False
            if calm > self.release_after and pace.rate > 2 * self._accepted(pace, now):
                log.debug("%ss: no throttling for %.0f s: rate limit lifted", kind, calm)
                pace.rate = pace.estimate = pace.decreased_to = pace.onset = pace.ceiling = None
                pace.cliff = False

    def throttle(
        self,
        kind: str = WRITE,
        retry_after: float | None = None,
        sent_at: float | None = None,
        given_at: float | None = None,
    ) -> None:
        """The service throttled a request of this kind, sent at ``sent_at`` (unknown: None),
        its turn given at ``given_at`` (unknown: ``sent_at``): measure, slow down, and pause
        if told."""
        with self._lock:
            pace = self.paces[kind]
            now = self.clock()
            self._counters.throttled += 1
            if retry_after:
                self._counters.paused_until = max(self._counters.paused_until, now + retry_after)
                log.debug("pausing %.1f s as the service asked (Retry-After)", retry_after)
            pace.last_throttle = now
            # Paced at the old pace, a request proves nothing about the new one.
            given = _turn_given(sent_at, given_at)
            fresh = _paced_since_decrease(pace, given)
            trim(pace.throttles, now - self.window)
            if fresh and (pace.onset is None or not pace.throttles):
                # Throttling sets in (again, after a calm window) at the pace this request's
                # turn was given at: its answer comes a round trip later, the pace grown since.
                pace.onset = pace.rate_at(given)
            if not pace.throttles:  # the first in a window: from here the bucket is empty
                pace.successes.clear()
                pace.measuring = pace.measuring or pace.rate is None
            pace.throttles.append(now)
            since = pace.throttles[0]
            trim(pace.successes, since)
            # Trimmed to the window, the throttled answers never span it: enough answers measure.
            count = len(pace.successes)
            answering = now - pace.successes[0] if count > 1 else 0.0
            measured = answering >= self.min_span and count >= self.min_count
            if measured:
                pace.estimate = (count - 1) / answering
            elif pace.measuring:
                # From a few answers, or from two a half-second apart (a service allowing a
                # request or two a second gives no more within the window).
                few = count >= self.min_count // 4 or answering >= self.min_span
                if answering >= self.min_span / 5 and few:
                    # Too early to tell, but above what it accepted so far is enough
                    # to keep the bucket empty, at fewer throttled answers than unlimited.
                    pace.rate = max(self.min_rate, self.settle * (count - 1) / answering)
                return
            if not fresh or pace.estimate is None:
                return
            self._count(pace, refused=True)
            current = None if pace.measuring else pace.rate
            pace.measuring = False
            # Unlimited so far: straight to what the service accepts. Paced: only once enough
            # answers came to judge and more were throttled than jitter explains.
            too_few = pace.answered < self.min_count
            if current is not None and (
                too_few or pace.refused <= self.max_refused * pace.answered
            ):
                return
            self._decrease(pace, kind, now, current, pace.estimate, stale=not measured)

    def _count(self, pace: Pace, *, refused: bool) -> None:
        """Count an answer to a request whose turn was given since the last decrease. Past
        ``2 * min_count`` answers both counts halve: the share throttled is mostly that of the
        recent answers, so throttling that sets in after a long calm is judged at once, not
        diluted by it."""
        pace.answered += 1
        pace.refused += refused
        if pace.answered > 2 * self.min_count:
            pace.answered //= 2
            pace.refused //= 2

    def _decrease(
        self,
        pace: Pace,
        kind: str,
        now: float,
        current: float | None,
        estimate: float,
        *,
        stale: bool,
    ) -> None:
        """Slow down (from ``current``, None while unlimited): to the measured accepted rate
        and a ``margin`` more, or just below a cliff's onset; with a ``stale`` measure (older
        than the throttling that set in after a calm spell), by ``1 - backoff``."""
        # Never below a little more than the service accepts: a bucket kept just empty
        # wastes no token, at a few throttled retries.
        rate = max(self.min_rate, (1 + self.margin) * estimate)
        if stale and current is not None:
            rate = max(self.min_rate, self.backoff * current)
        # A cliff: throttling set in only once the pace had grown well past what the last
        # decrease set. With a burst of 1 (or 2), a pace a little above the allowed rate wastes
        # every other token, so the accepted rate measured there is far below it; just below
        # the onset, nearly every request goes through.
        low, onset, cliff, below = pace.decreased_to, pace.onset, False, False
        if current is not None and low is not None and onset is not None:
            grown = self.cliff_again if pace.cliff else self.cliff_onset
            cliff = onset >= (1 + grown) * low
            below = cliff and self.backoff * onset > rate
            if below:
                rate = self.backoff * onset
        if current is not None and rate >= current:
            return
        if pace.rate is not None:  # the turns to come at the new spacing (measuring too)
            pace.next_send += 1.0 / rate - 1.0 / pace.rate
        pace.rate = pace.decreased_to = rate
        pace.decreased_at = now
        pace.ceiling = onset if cliff else None
        pace.cliff = cliff
        pace.answered = pace.refused = 0
        pace.onset = None
        log.debug(
            "%ss throttled: %.1f requests/s accepted, pacing at %.1f/s%s",
            kind,
            estimate,
            rate,
            " (below the onset of throttling)" if below else "",
        )

    def _accepted(self, pace: Pace, now: float) -> float:
        """Successes a second over the last window (or since the first of them)."""
        if not pace.successes:
            return 0.0
        return len(pace.successes) / max(now - pace.successes[0], self.window / 10)


def _turn_given(sent_at: float | None, given_at: float | None) -> float | None:
    """When a request's turn was given; unknown: when it was sent."""
    return sent_at if given_at is None else given_at


def _paced_since_decrease(pace: Pace, given: float | None) -> bool:
    """Whether a request's turn, given at ``given``, came since the pace's last decrease
    (unknown: yes)."""
    return given is None or given >= pace.decreased_at
