"""Lifecycle rules on the service: read, merge, write back, read again to confirm.

``lifecycle.py`` decides (pure); this module talks to the service: status needs an
``S3Reader``, changes an ``S3Writer``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from .errors import S3Error
from .lifecycle import (
    Change,
    LifecycleChange,
    LifecycleConfig,
    LifecycleStatus,
    abort_days,
    abort_rules,
    apply_rule,
    explain,
    others_unchanged,
    remove_rule,
    rule_id,
    rule_prefix,
)
from .s3 import S3Reader, S3Writer

#: Called with a planned change; True to write it.
Confirm = Callable[[LifecycleChange], bool]


def lifecycle_status(s3: S3Reader, bucket: str) -> LifecycleStatus:
    """Whether and how the bucket's lifecycle aborts incomplete uploads."""
    try:
        config = _read(s3, bucket)
    except S3Error as exc:
        return LifecycleStatus(
            bucket, None, error=f"{explain(exc.code)} ({exc.code})", code=exc.code
        )
    return LifecycleStatus(bucket, len(config.rules), tuple(abort_rules(config.rules)))


def _read(s3: S3Reader, bucket: str) -> LifecycleConfig:
    return s3.get_lifecycle(bucket) or LifecycleConfig([])


def _verify(
    s3: S3Reader, bucket: str, before: LifecycleConfig, change: Change, our_id: str
) -> str | None:
    """Read the configuration back; say what is wrong with it, or None when all is well."""
    read_back = _read(s3, bucket)
    after = read_back.rules
    ours = next((r for r in after if r.get("ID") == our_id), None)
    if change.after is None and ours is not None:
        return "the rule is still there after removal"
    if change.after is not None:
        if ours is None:
            return (
                "the service accepted the rule but does not keep it: it may ignore "
                "AbortIncompleteMultipartUpload"
            )
        wanted_days = abort_days(change.after)
        if abort_days(ours) != wanted_days or rule_prefix(ours) != rule_prefix(change.after):
            return f"the rule reads back differently: {ours}"
    if not others_unchanged(before.rules, after, our_id):
        return "the other rules read back differently than before: check the configuration"
    # A setting the service adds with its default (moto, AWS: TransitionDefaultMinimumObjectSize
    # on a new configuration) is fine; one we had must come back as it was.
    changed = {k: v for k, v in before.settings.items() if read_back.settings.get(k) != v}
    if after and changed:
        return (
            f"the configuration's settings read back differently: {changed} before, "
            f"{ {k: read_back.settings.get(k) for k in changed} } after"
        )
    return None


def _run(
    s3: S3Reader,
    bucket: str,
    make: Callable[[list[dict[str, object]]], Change],
    our_id: str,
    *,
    confirm: Confirm,
    dry_run: bool,
) -> LifecycleChange:
    try:
        before = _read(s3, bucket)
    except S3Error as exc:
        return LifecycleChange(bucket, result="failed", error=f"{explain(exc.code)} ({exc})")
    change = make(before.rules)
    planned = LifecycleChange(
        bucket, change.before, change.after, sum(1 for r in change.rules if r.get("ID") != our_id)
    )
    if not change.changed:
        return planned
    if dry_run or not isinstance(s3, S3Writer):
        return _replace(planned, "dry_run")
    if not confirm(planned):
        return _replace(planned, "declined")
    try:
        if change.rules:
            s3.put_lifecycle(bucket, replace(before, rules=change.rules))
        else:
            s3.delete_lifecycle(bucket)
        problem = _verify(s3, bucket, before, change, our_id)
    except S3Error as exc:
        return _replace(planned, "failed", f"{explain(exc.code)} ({exc})")
    if problem:
        return _replace(planned, "failed", problem)
    return _replace(planned, "applied" if change.after is not None else "removed")


def _replace(change: LifecycleChange, result: str, error: str | None = None) -> LifecycleChange:
    return LifecycleChange(
        change.bucket, change.before, change.after, change.other_rules, result, error
    )


def apply_abort_rule(
    s3: S3Reader,
    bucket: str,
    days: int,
    prefix: str = "",
    *,
    confirm: Confirm,
    dry_run: bool = False,
) -> LifecycleChange:
    """Add or update our abort rule, keeping every other rule; verify by reading back."""
    return _run(
        s3,
        bucket,
        lambda rules: apply_rule(rules, days, prefix),
        rule_id(prefix),
        confirm=confirm,
        dry_run=dry_run,
    )


def remove_abort_rule(
    s3: S3Reader, bucket: str, prefix: str = "", *, confirm: Confirm, dry_run: bool = False
) -> LifecycleChange:
    """Take our rule out (deleting the configuration when it was the only rule)."""
    return _run(
        s3,
        bucket,
        lambda rules: remove_rule(rules, prefix),
        rule_id(prefix),
        confirm=confirm,
        dry_run=dry_run,
    )
