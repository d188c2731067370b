"""What crosses the process boundary between the main process and the sizing workers."""

from __future__ import annotations

import dataclasses
import pickle
from datetime import UTC, datetime

from mpusweep.errors import S3Error, SizingError
from mpusweep.models import Upload
from mpusweep.worker import Failure


def test_an_upload_pickles_whole_by_position():
    when = datetime(2026, 11, 24, 20, 35, 23, 897000, tzinfo=UTC)
    values = {
        f.name: f"{f.name}-value" if f.type in ("str", "str | None") else when
        for f in dataclasses.fields(Upload)
    }
    values.update(parts=3, size=17)
    upload = Upload(**values)
    copy = pickle.loads(pickle.dumps(upload, protocol=pickle.HIGHEST_PROTOCOL))  # noqa: S301
    assert copy == upload
    # Every field is carried: a field added to Upload but not to __reduce__ fails here.
    assert [getattr(copy, f.name) for f in dataclasses.fields(Upload)] == list(values.values())


def test_a_failure_comes_back_as_the_error_it_was():
    """An S3 error keeps its type, code and status; a bug stays the built-in exception it was
    (an abort's bug is an internal error, exit 1), another a RuntimeError naming it; sizing
    reads any that is no mpusweep error as a worker's SizingError."""
    throttled = Failure.of(S3Error("slow down", code="SlowDown", status=503))
    error = pickle.loads(pickle.dumps(throttled)).raised()  # noqa: S301
    assert type(error) is S3Error
    assert (str(error), error.code, error.status) == ("slow down", "SlowDown", 503)
    bug = pickle.loads(pickle.dumps(Failure.of(ValueError("invalid literal")))).raised()  # noqa: S301
    assert type(bug) is ValueError and str(bug) == "invalid literal"
    odd = Failure.of(pickle.PicklingError("x"))  # not a built-in: no way to make it again here
    assert type(odd.raised()) is RuntimeError and "PicklingError: x" in str(odd.raised())
    assert isinstance(Failure.of(ValueError("v")).error(), SizingError)  # sizing's view
