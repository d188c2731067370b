"""Pacing state that the processes of one run share: forked sizing workers pace their
requests with their parent's limiter, so every process of a run is one client to the service.

Everything here lives in memory made with ``multiprocessing.RawValue``/``RawArray`` before the
fork; the limiter's lock guards it (see ``throttle.RateLimiter``).
"""

from __future__ import annotations

import bisect
import ctypes
import math
import multiprocessing
import threading
from typing import Any, Generic, TypeVar, cast

T = TypeVar("T")
#: Answer times kept per kind (the last ``RateLimiter.window`` seconds' worth, at most): enough
#: for 10,000 requests a second.
TIMES_KEPT = 32_768


class Times:
    """Times, oldest first (or values kept beside them), in memory that forked processes
    share: the last ``capacity`` at most (a deque's append, popleft, clear, len and
    indexing)."""

    def __init__(self, capacity: int) -> None:
        self._times = multiprocessing.RawArray(ctypes.c_double, capacity)
        self._ends = multiprocessing.RawArray(ctypes.c_int64, 2)  # first index, count

    def __len__(self) -> int:
        return int(self._ends[1])

    def __getitem__(self, index: int) -> float:
        first, count = self._ends
        if not -count <= index < count:
            raise IndexError(index)
        return float(self._times[(first + index % count) % len(self._times)])

    def append(self, value: float) -> None:
        first, count = self._ends
        capacity = len(self._times)
        if count == capacity:  # full: the oldest goes
            first, count = (first + 1) % capacity, count - 1
        self._times[(first + count) % capacity] = value
        self._ends[0], self._ends[1] = first, count + 1

    def popleft(self) -> float:
        value = self[0]
        self._ends[0] = (self._ends[0] + 1) % len(self._times)
        self._ends[1] -= 1
        return value

    def clear(self) -> None:
        self._ends[0] = self._ends[1] = 0


class _PaceFields(ctypes.Structure):
    _fields_ = [
        ("rate", ctypes.c_double),  # NaN: unlimited
        ("estimate", ctypes.c_double),  # NaN: not measured
        ("next_send", ctypes.c_double),
        ("decreased_at", ctypes.c_double),
        ("last_throttle", ctypes.c_double),
        ("last_update", ctypes.c_double),
        ("waited", ctypes.c_bool),
        ("unheld_at", ctypes.c_double),
        ("answered", ctypes.c_int64),
        ("refused", ctypes.c_int64),
        ("measuring", ctypes.c_bool),
        ("decreased_to", ctypes.c_double),
        ("onset", ctypes.c_double),
        ("ceiling", ctypes.c_double),
        ("cliff", ctypes.c_bool),
    ]


class _Field(Generic[T]):
    """A ``Pace`` attribute kept in its shared fields."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, pace: Pace, owner: type | None = None) -> T:
        return cast(T, getattr(pace.fields, self.name))

    def __set__(self, pace: Pace, value: T) -> None:
        setattr(pace.fields, self.name, value)


class _Optional:
    """A ``Pace`` attribute that may be None, kept as NaN in its shared fields."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, pace: Pace, owner: type | None = None) -> float | None:
        value = float(getattr(pace.fields, self.name))
        return None if math.isnan(value) else value

    def __set__(self, pace: Pace, value: float | None) -> None:
        setattr(pace.fields, self.name, math.nan if value is None else value)


class Pace:
    """One kind of request's pacing (see ``RateLimiter``); read it under the limiter's lock.

    Its state lives in memory shared with the processes forked after it was made (sizing
    workers), so that every process of a run paces the same kind of request as one client:
    separate limiters would each take their share for the allowed rate, and start unlimited.
    """

    rate = _Optional()  #: requests a second; None while unlimited
    estimate = _Optional()  #: the accepted rate last measured while throttled
    next_send: _Field[float] = _Field()
    decreased_at: _Field[float] = _Field()
    last_throttle: _Field[float] = _Field()
    last_update: _Field[float] = _Field()
    waited: _Field[bool] = _Field()  #: a request waited for its turn since the last success
    unheld_at: _Field[float] = _Field()  #: when a request last went without waiting its turn
    answered: _Field[int] = _Field()  #: answers to requests sent since the last decrease
    refused: _Field[int] = _Field()  #: of them, throttled
    measuring: _Field[bool] = _Field()  #: throttled while unlimited, the rate not known yet
    decreased_to = _Optional()  #: the pace the last decrease set
    onset = _Optional()  #: the pace when throttling set in again (its throttled turn's pace)
    ceiling = _Optional()  #: below it, the pace creeps up (a cliff's onset)
    cliff: _Field[bool] = _Field()  #: throttling set in only past a rise (see RateLimiter)

    def __init__(self, capacity: int = TIMES_KEPT) -> None:
        self.fields = shared(_PaceFields)
        self.rate = self.estimate = None
        self.decreased_to = self.onset = self.ceiling = None
        self.decreased_at = self.last_throttle = float("-inf")
        self.successes = Times(capacity)  #: answer times, the last window
        self.throttles = Times(capacity)  #: throttled answers, likewise
        self.turns = Times(capacity)  #: when turns were given, likewise
        self.turn_rates = Times(capacity)  #: the pace each of them was given at

    def give_turn(self, at: float, rate: float, forget: float) -> None:
        """Note a turn given ``at``, at ``rate`` a second; forget those given at or before
        ``forget``."""
        while self.turns and self.turns[0] <= forget:
            self.turns.popleft()
            self.turn_rates.popleft()
        self.turns.append(at)
        self.turn_rates.append(rate)

    def rate_at(self, given: float | None) -> float | None:
        """The pace of a turn given at ``given``; the pace now where no turn given then is
        noted (forgotten, given while unpaced, or ``given`` unknown)."""
        noted = 0 if given is None else bisect.bisect_right(self.turns, given)
        if not noted or self.turns[noted - 1] != given:
            return self.rate
        return self.turn_rates[noted - 1]


class Counters(ctypes.Structure):
    _fields_ = [
        ("paused_until", ctypes.c_double),
        ("throttled", ctypes.c_int64),
    ]


S = TypeVar("S", bound=ctypes.Structure)


def shared(kind: type[S]) -> S:
    """A zeroed ``kind`` in memory that processes forked later share."""
    return multiprocessing.RawValue(kind)


def shared_lock() -> Any:
    """A lock that forked processes share; a thread lock where the platform has none."""
    try:
        return multiprocessing.Lock()
    except (ImportError, OSError):  # no working sem_open (some containers, some platforms)
        return threading.Lock()


def trim(times: Times, before: float) -> None:
    """Drop the times at or before ``before`` (the oldest are first)."""
    while times and times[0] <= before:
        times.popleft()
