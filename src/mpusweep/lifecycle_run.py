"""Lifecycle rules on the service: read, merge, write back, read again to confirm.

``lifecycle.py`` decides (pure); this module talks to the service: status needs an
``S3Reader``, changes an ``S3Writer``; a dry run holds no writer (``writer=None``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from .errors import S3Error
from .lifecycle import (
    MINIO_UPLOAD_EXPIRY,
    Change,
    LifecycleChange,
    LifecycleConfig,
    LifecycleStatus,
    Rule,
    abort_days,
    abort_rules,
    apply_rule,
    equivalent,
    explain,
    remove_rule,
    rule_id,
    rule_prefix,
    same_rules,
)
from .s3 import S3Reader, S3Writer
from .s3.quirks import LIFECYCLE_NOT_ENFORCED, LIFECYCLE_REWRITES_RULES

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
    found = tuple(abort_rules(config.rules))
    notes = []
    if any(r.prefix is None for r in found):
        notes.append(
            "a lifecycle abort rule that also filters on tags or object size aborts only some "
            "uploads: not counted as coverage"
        )
    if found and s3.transport.has_quirk(LIFECYCLE_NOT_ENFORCED):
        notes.append("this service stores lifecycle rules but never runs them (LocalStack)")
    return LifecycleStatus(bucket, len(config.rules), found, notes=tuple(notes))


def with_service_notes(s3: S3Reader, statuses: list[LifecycleStatus]) -> list[LifecycleStatus]:
    """``lifecycle status``'s statuses with what the service does instead of running abort
    rules (MinIO: its own expiry of stale uploads), once the service has answered. Not in
    ``lifecycle_status`` itself: a scan's table would repeat it under every bucket."""
    if not is_minio(s3):
        return statuses
    return [replace(st, notes=(*st.notes, MINIO_UPLOAD_EXPIRY)) for st in statuses]


def is_minio(s3: S3Reader) -> bool:
    """Whether the service is MinIO: named (``--provider minio``) or answering as MinIO
    (``Server: MinIO``; not behind a proxy that drops the header, as nginx does by default)."""
    return s3.conn.provider == "minio" or "minio" in s3.transport.detected


def _read(s3: S3Reader, bucket: str) -> LifecycleConfig:
    return s3.get_lifecycle(bucket) or LifecycleConfig([])


def _verify(
    s3: S3Reader, bucket: str, before: LifecycleConfig, change: Change, our_id: str
) -> tuple[str | None, Rule | None]:
    """Read the configuration back: what is wrong with it (None when all is well), and our
    rule as the service keeps it (found by its ID, or else by what it does: Backblaze B2 gives
    rules back under IDs of its own)."""
    read_back = _read(s3, bucket)
    after = read_back.rules
    ours = next((r for r in after if r.get("ID") == our_id), None)
    if change.after is None:
        if ours is not None:
            return "the rule is still there after removal", None
    else:
        wanted = (abort_days(change.after), rule_prefix(change.after))
        if ours is None:
            ours = next((r for r in after if equivalent(r, *_days_prefix(change.after))), None)
        if ours is None:
            return (
                "the service accepted the rule but does not keep it: it ignores or drops "
                "AbortIncompleteMultipartUpload (MinIO and RustFS do)",
                None,
            )
        if (abort_days(ours), rule_prefix(ours)) != wanted:
            return (
                f"the service changed the rule on the way in: it reads back as {ours} "
                "(RustFS drops the abort action and the prefix)",
                ours,
            )
    # Every rule but ours (under its ID, the one it replaced, and the one the service keeps)
    # must read back exactly as it was.
    ids = {our_id, *(r.get("ID") for r in (change.before, ours) if r is not None)}
    if not same_rules(
        [r for r in before.rules if r.get("ID") not in ids],
        [r for r in after if r.get("ID") not in ids],
    ):
        return "the other rules read back differently than before: check the configuration", ours
    # A setting the service adds with its default (moto, AWS: TransitionDefaultMinimumObjectSize
    # on a new configuration) is fine; one we had must come back as it was.
    changed = {k: v for k, v in before.settings.items() if read_back.settings.get(k) != v}
    if after and changed:
        return (
            f"the configuration's settings read back differently: {changed} before, "
            f"{ {k: read_back.settings.get(k) for k in changed} } after",
            ours,
        )
    return None, ours


def _days_prefix(rule: Rule) -> tuple[int, str]:
    return abort_days(rule) or 0, rule_prefix(rule) or ""


def _run(
    s3: S3Reader,
    bucket: str,
    make: Callable[[list[dict[str, object]]], Change],
    our_id: str,
    *,
    confirm: Confirm,
    writer: S3Writer | None,
) -> LifecycleChange:
    try:
        before = _read(s3, bucket)
    except S3Error as exc:
        return LifecycleChange(bucket, result="failed", error=f"{explain(exc.code)} ({exc})")
    change = make(before.rules)
    planned = LifecycleChange(
        bucket,
        change.before,
        change.after,
        sum(1 for r in change.rules if r.get("ID") not in (our_id, _id(change.before))),
    )
    if not change.changed:
        if change.after is not None and change.after.get("ID") != our_id:
            return replace(
                planned,
                note=f"an equivalent rule is in place: {change.after.get('ID')!r}, kept as it is",
            )
        return planned
    if writer is None:
        return replace(planned, result="dry_run")
    if not confirm(planned):
        return replace(planned, result="declined")
    try:
        if change.rules:
            writer.put_lifecycle(bucket, replace(before, rules=change.rules))
        else:
            writer.delete_lifecycle(bucket)
        problem, kept = _verify(s3, bucket, before, change, our_id)
    except S3Error as exc:
        return replace(planned, result="failed", error=f"{explain(exc.code)} ({exc})")
    if problem:
        return replace(planned, result="failed", error=problem)
    done = replace(planned, result="applied" if change.after is not None else "removed")
    if kept is not None and kept.get("ID") != _id(change.after):
        # What the service keeps, as it keeps it (B2: the same rule under an ID of its own).
        done = replace(
            done,
            after=kept,
            note=f"the service keeps the rule under its own ID {kept.get('ID')!r}",
        )
    return done


def _id(rule: Rule | None) -> object:
    return None if rule is None else rule.get("ID")


def apply_abort_rule(
    s3: S3Reader,
    bucket: str,
    days: int,
    prefix: str = "",
    *,
    writer: S3Writer | None,
    confirm: Confirm,
) -> LifecycleChange:
    """Add or update our abort rule, keeping every other rule; verify by reading back.

    ``s3`` reads; ``writer`` (usually the same connection) writes; None: a dry run, which
    reports the change it would make (``result="dry_run"``) and sends no write.
    """
    rewritten = s3.transport.has_quirk(LIFECYCLE_REWRITES_RULES)
    return _run(
        s3,
        bucket,
        lambda rules: apply_rule(rules, days, prefix, rewritten=rewritten),
        rule_id(prefix),
        confirm=confirm,
        writer=writer,
    )


def remove_abort_rule(
    s3: S3Reader,
    bucket: str,
    prefix: str = "",
    *,
    writer: S3Writer | None,
    confirm: Confirm,
) -> LifecycleChange:
    """Take our rule out (deleting the configuration when it was the only rule); ``writer``
    None: a dry run."""
    return _run(
        s3,
        bucket,
        lambda rules: remove_rule(rules, prefix),
        rule_id(prefix),
        confirm=confirm,
        writer=writer,
    )
