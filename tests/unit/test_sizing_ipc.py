"""What crosses the process boundary between the main process and the sizing workers."""

from __future__ import annotations

import dataclasses
import pickle
from datetime import UTC, datetime

from mpusweep.models import Upload


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
