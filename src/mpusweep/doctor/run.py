"""Every check in the order a person reads them, and the buckets they are run on."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Sequence

from ..s3.probe import Answer, S3Probe
from .bucket import addressing_check, bucket_checks
from .service import (
    CREDENTIAL_FIXES,
    clock_check,
    credentials_check,
    endpoint_check,
    list_buckets_check,
    server_check,
    signature_check,
    stale_uploads_check,
)
from .verdicts import Check, Setup, Verdict

#: Buckets checked when none are named.
MAX_BUCKETS = 10


def run_doctor(
    probe: S3Probe, setup: Setup, buckets: Sequence[str] = (), *, max_buckets: int = MAX_BUCKETS
) -> Iterator[Check]:
    """Every check, in the order a person reads them, as each is known.

    Args:
        probe: sends the requests.
        setup: how the connection was set up.
        buckets: names or globs of the buckets to check; none: the first ``max_buckets``
            that ListBuckets shows.
    """
    yield credentials_check(setup.credentials)
    anonymous = probe.anonymous_list_buckets()
    yield endpoint_check(setup, anonymous)
    if not anonymous.answered:
        yield Check("clock", Verdict.UNKNOWN, "not checked: the endpoint did not answer")
        return
    signed = probe.list_buckets() if setup.credentials.found else None
    yield clock_check([a for a in (anonymous, signed) if a is not None])
    yield server_check(setup, anonymous, signed)
    stale = stale_uploads_check(setup, anonymous, signed)
    if stale is not None:
        yield stale
    if signed is None:
        yield Check(
            "signature", Verdict.UNKNOWN, "not checked: no credentials to sign requests with"
        )
        return
    yield signature_check(signed)
    if signed.code in CREDENTIAL_FIXES or not signed.answered:
        return
    yield list_buckets_check(signed, named=bool(buckets))
    listed = [str(b["Name"]) for b in signed.data.get("Buckets", [])] if signed.ok else []
    chosen, note = choose_buckets(buckets, listed, max_buckets)
    if note:
        yield Check("buckets", Verdict.UNKNOWN if not chosen else Verdict.OK, note)
    bucket_answers: list[tuple[str, Answer]] = []
    for bucket in chosen:
        yield from bucket_checks(probe, setup, bucket, bucket_answers)
    yield addressing_check(setup, bucket_answers, listed)
    yield Check(
        "s3:PutLifecycleConfiguration",
        Verdict.UNKNOWN,
        "not checked: only a write can prove it, and doctor never writes",
        "`mpusweep lifecycle apply --dry-run` shows the change; `lifecycle apply` asks before "
        "writing and reports AccessDenied per bucket",
    )


def choose_buckets(
    named: Sequence[str], listed: Sequence[str], limit: int
) -> tuple[list[str], str]:
    """The buckets to check, and a note on the choice.

    >>> choose_buckets(["logs-*", "b"], ["logs-1", "logs-2", "x"], 10)
    (['logs-1', 'logs-2', 'b'], '')
    >>> choose_buckets([], ["a", "b", "c"], 2)
    (['a', 'b'], 'checked 2 of 3 buckets; name others to check them')
    """
    if named:
        chosen: list[str] = []
        for name in named:
            if any(c in name for c in "*?["):
                matches = [b for b in listed if fnmatch.fnmatchcase(b, name)]
                chosen += [b for b in matches if b not in chosen]
            elif name not in chosen:
                chosen.append(name)
        note = "" if chosen else f"no bucket matches {', '.join(named)}"
        return chosen, note
    if not listed:
        return [], "no bucket to check: name one (mpusweep doctor BUCKET)"
    if len(listed) > limit:
        return list(listed[:limit]), (
            f"checked {limit} of {len(listed)} buckets; name others to check them"
        )
    return list(listed), ""
