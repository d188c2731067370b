"""Pure: merge one AbortIncompleteMultipartUpload rule into a lifecycle configuration.

PutBucketLifecycleConfiguration replaces the whole configuration, so a careless tool deletes
the user's other rules. Here our rule is identified by a stable ID and added, updated or removed
while every other rule is passed through untouched, in its original shape (legacy top-level
``Prefix`` or ``Filter``) and position.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .errors import UsageError

Rule = dict[str, Any]
RULE_ID = "mpusweep-abort-incomplete-mpu"
MAX_RULES = 1000
MAX_ID_LENGTH = 255


@dataclass(frozen=True, slots=True)
class LifecycleConfig:
    """A bucket's whole lifecycle configuration: its rules, and the settings beside them."""

    #: The rules, exactly as read (legacy top-level ``Prefix`` and ``Filter`` shapes alike).
    rules: list[Rule]
    #: Configuration-level fields beside the rules (AWS: ``TransitionDefaultMinimumObjectSize``),
    #: written back unchanged: AWS resets them to their defaults when a PUT omits them.
    settings: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_answer(cls, answer: dict[str, Any]) -> LifecycleConfig:
        """From a GetBucketLifecycleConfiguration answer (botocore's dict).

        >>> LifecycleConfig.from_answer({"Rules": [], "ResponseMetadata": {},
        ...     "TransitionDefaultMinimumObjectSize": "all_storage_classes_128K"}).settings
        {'TransitionDefaultMinimumObjectSize': 'all_storage_classes_128K'}
        """
        settings = {k: v for k, v in answer.items() if k not in ("Rules", "ResponseMetadata")}
        return cls(list(answer.get("Rules", [])), settings)


def rule_id(prefix: str = "") -> str:
    """The stable ID of our rule for a prefix.

    >>> rule_id()
    'mpusweep-abort-incomplete-mpu'
    >>> rule_id("logs/")
    'mpusweep-abort-incomplete-mpu:logs/'
    """
    if not prefix:
        return RULE_ID
    readable = f"{RULE_ID}:{prefix}"
    if len(readable) <= MAX_ID_LENGTH:
        return readable
    return f"{RULE_ID}:sha256:{hashlib.sha256(prefix.encode()).hexdigest()}"


def make_rule(days: int, prefix: str = "") -> Rule:
    """Our rule: abort uploads ``days`` after initiation, under ``prefix``."""
    if days < 1:
        raise UsageError(f"days must be at least 1 (S3 rejects {days}); use 1 or more")
    return {
        "ID": rule_id(prefix),
        "Status": "Enabled",
        "Filter": {"Prefix": prefix},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": days},
    }


@dataclass(frozen=True, slots=True)
class Change:
    """The result of a merge: the full new rule list, and what happened to our rule."""

    #: Every rule to write back (ours included, others untouched and in place).
    rules: list[Rule]
    #: Our rule before the change, if there was one.
    before: Rule | None
    #: Our rule after the change, None when removed.
    after: Rule | None

    @property
    def changed(self) -> bool:
        return self.before != self.after


#: The keys of a rule that does nothing but abort incomplete uploads under a prefix.
_ABORT_ONLY_KEYS = frozenset({"ID", "Status", "Filter", "Prefix", "AbortIncompleteMultipartUpload"})


def aborts_only(rule: Rule) -> bool:
    """Whether a rule only aborts incomplete uploads, under a plain prefix (no tag or size).

    >>> aborts_only(make_rule(7, "a/"))
    True
    >>> aborts_only({**make_rule(7), "Expiration": {"Days": 30}})
    False
    """
    filtered = rule_prefix(rule) is None
    return abort_days(rule) is not None and not filtered and set(rule) <= _ABORT_ONLY_KEYS


def equivalent(rule: Rule, days: int, prefix: str) -> bool:
    """Whether a rule does exactly what our rule for (days, prefix) would do, whatever its ID:
    enabled, abort only, the same prefix and days. Cloudflare R2's default rule (7 days, every
    key) is equivalent to ``--days 7``; Backblaze B2 gives our own rule back under another ID.
    """
    return (
        aborts_only(rule)
        and rule.get("Status") == "Enabled"
        and rule_prefix(rule) == prefix
        and abort_days(rule) == days
    )


def apply_rule(
    rules: list[Rule], days: int, prefix: str = "", *, rewritten: bool = False
) -> Change:
    """Add or update our rule; every other rule is kept exactly as given.

    Our rule is found by its ID. Where none has it, a rule that already does exactly what ours
    would (``equivalent``) is left in place instead of being doubled. ``rewritten``: the
    service gives rules back under IDs of its own (Backblaze B2), so the rule that only aborts
    uploads under exactly our prefix is taken for ours and updated in place.
    """
    ours = make_rule(days, prefix)
    new_rules = [copy.deepcopy(r) for r in rules]
    for index, rule in enumerate(new_rules):
        if rule.get("ID") == ours["ID"]:
            before = rule
            new_rules[index] = ours if _differs(rule, ours) else rule
            return Change(new_rules, before, new_rules[index])
    for rule in new_rules:
        if equivalent(rule, days, prefix):
            return Change(new_rules, rule, rule)
    if rewritten:
        for index, rule in enumerate(new_rules):
            if aborts_only(rule) and rule_prefix(rule) == prefix:
                updated = copy.deepcopy(rule)
                updated["Status"] = "Enabled"
                updated["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": days}
                new_rules[index] = updated
                return Change(new_rules, rule, updated)
    if len(new_rules) >= MAX_RULES:
        raise UsageError(
            f"the bucket already has {len(new_rules)} lifecycle rules, the most S3 allows: "
            "remove one first"
        )
    new_rules.append(ours)
    return Change(new_rules, None, ours)


def _differs(current: Rule, wanted: Rule) -> bool:
    return bool(
        current.get("Status") != wanted["Status"]
        or rule_prefix(current) != wanted["Filter"]["Prefix"]
        or abort_days(current) != wanted["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
        or set(current) - {"ID", "Status", "Filter", "Prefix", "AbortIncompleteMultipartUpload"}
    )


def remove_rule(rules: list[Rule], prefix: str = "") -> Change:
    """Take our rule out; every other rule is kept exactly as given."""
    wanted = rule_id(prefix)
    kept = [copy.deepcopy(r) for r in rules if r.get("ID") != wanted]
    before = next((r for r in rules if r.get("ID") == wanted), None)
    return Change(kept, before, None)


def rule_prefix(rule: Rule) -> str | None:
    """The key prefix a rule applies to, whatever its shape; None for tag or size filters.

    >>> rule_prefix({"Prefix": "a/"})
    'a/'
    >>> rule_prefix({"Filter": {"And": {"Prefix": "b/", "Tags": [{"Key": "k", "Value": "v"}]}}})
    >>> rule_prefix({"Filter": {"And": {"Prefix": "b/"}}})
    'b/'
    >>> rule_prefix({"Filter": {}})
    ''
    """
    if "Filter" in rule:
        flt = rule["Filter"] or {}
        if "And" in flt:
            both = flt["And"] or {}
            if both.get("Tags") or _size_filtered(both):
                return None
            return str(both.get("Prefix", ""))
        if "Tag" in flt or _size_filtered(flt):
            return None
        return str(flt.get("Prefix", ""))
    return str(rule.get("Prefix", ""))


def _size_filtered(flt: dict[str, Any]) -> bool:
    return "ObjectSizeGreaterThan" in flt or "ObjectSizeLessThan" in flt


def abort_days(rule: Rule) -> int | None:
    """DaysAfterInitiation of the rule's abort action, or None if it has none."""
    action = rule.get("AbortIncompleteMultipartUpload")
    if not action:
        return None
    days = action.get("DaysAfterInitiation")
    return int(days) if days is not None else None


@dataclass(frozen=True, slots=True)
class AbortRule:
    """A rule that aborts incomplete uploads, as ``lifecycle status`` shows it."""

    id: str
    #: The key prefix it applies to; None when it also filters on tags or object size (it
    #: then aborts only some uploads: not coverage for any prefix).
    prefix: str | None
    days: int
    enabled: bool
    ours: bool


def abort_rules(rules: list[Rule]) -> list[AbortRule]:
    """Every rule with an AbortIncompleteMultipartUpload action."""
    found = []
    for rule in rules:
        days = abort_days(rule)
        if days is None:
            continue
        rid = str(rule.get("ID", ""))
        found.append(
            AbortRule(
                rid,
                rule_prefix(rule),
                days,
                rule.get("Status") == "Enabled",
                rid.startswith(RULE_ID),
            )
        )
    return found


def others_unchanged(before: list[Rule], after: list[Rule], our_id: str) -> bool:
    """Whether every rule but ours reads back exactly as it was."""
    return same_rules(
        [r for r in before if r.get("ID") != our_id], [r for r in after if r.get("ID") != our_id]
    )


def same_rules(before: list[Rule], after: list[Rule]) -> bool:
    """Whether two rule lists say the same, in any order: the same rules by ID, each exactly
    as it was but for the spelling of "every key" (``Filter: {}``, ``Filter: {Prefix: ""}``
    and a legacy ``Prefix: ""`` are one filter: Ceph RGW stores the first as the last). RGW
    also gives rules back sorted by ID.

    >>> same_rules([{"ID": "a", "Filter": {}}], [{"ID": "a", "Prefix": ""}])
    True
    >>> same_rules([{"ID": "a", "Filter": {}}], [{"ID": "a", "Filter": {"Prefix": "x"}}])
    False
    """

    def key(rule: Rule) -> str:
        return str(rule.get("ID", ""))

    def plain(rule: Rule) -> Rule:
        if rule_prefix(rule) == "" and ("Filter" in rule or "Prefix" in rule):
            flt = rule.get("Filter") or {}
            if "Prefix" in rule or not (set(flt) - {"Prefix"}):
                return {
                    **{k: v for k, v in rule.items() if k not in ("Filter", "Prefix")},
                    "Prefix": "",
                }
        return rule

    return [plain(r) for r in sorted(before, key=key)] == [plain(r) for r in sorted(after, key=key)]


#: AWS Trusted Advisor's check c1cj39rr6v ("Amazon S3 Incomplete Multipart Upload Abort
#: Configuration") is yellow for a bucket where no enabled rule aborts every incomplete upload
#: within this many days after initiation.
ADVISOR_DAYS = 7

#: MinIO ignores AbortIncompleteMultipartUpload rules (minio#16120, #19115: by design); it
#: removes stale uploads itself, by a server setting (every 6 h, uploads older than 24 h, by
#: default).
MINIO_UPLOAD_EXPIRY = (
    "MinIO never runs AbortIncompleteMultipartUpload rules; it removes stale uploads itself, "
    "by its own server setting: `mc admin config set ALIAS api stale_uploads_expiry=24h "
    "stale_uploads_cleanup_interval=6h` (or MINIO_API_STALE_UPLOADS_EXPIRY and "
    "MINIO_API_STALE_UPLOADS_CLEANUP_INTERVAL; 24h and 6h are its defaults); see "
    "https://min.io/docs/minio/linux/reference/minio-server/settings/api.html"
)


def whole_bucket_days(coverage: Iterable[tuple[str | None, int]]) -> int | None:
    """The fewest days after which an enabled rule aborts every upload in the bucket, from
    the (prefix, days) coverage of its enabled abort rules (``LifecycleStatus.coverage``,
    ``BucketScan.abort_rules``: filtered rules are not in it); None when no rule covers every
    key.

    >>> whole_bucket_days([("logs/", 1), ("", 30), ("", 7)])
    7
    >>> whole_bucket_days([("logs/", 1)]) is None
    True
    """
    days = [d for prefix, d in coverage if not prefix]
    return min(days) if days else None


@dataclass(frozen=True, slots=True)
class LifecycleStatus:
    """What ``lifecycle status`` reports for one bucket."""

    bucket: str
    #: How many rules the configuration has (0 when there is none); None when unreadable.
    rules: int | None
    #: The rules that abort incomplete uploads.
    abort_rules: tuple[AbortRule, ...] = ()
    #: Why the configuration could not be read (NotImplemented, AccessDenied, ...).
    error: str | None = None
    #: The S3 error code behind ``error``.
    code: str | None = None
    #: What to know about these rules, in words (filters that are not coverage, a service
    #: that never runs them).
    notes: tuple[str, ...] = ()

    @property
    def coverage(self) -> tuple[tuple[str, int], ...]:
        """(prefix, days) of the enabled rules that abort every upload under a prefix. A rule
        with a tag or object-size filter aborts only some of them (AWS refuses the pair; other
        services store it): it covers nothing."""
        return tuple(
            (r.prefix, r.days) for r in self.abort_rules if r.enabled and r.prefix is not None
        )

    @property
    def whole_bucket_days(self) -> int | None:
        """The fewest days after which an enabled rule aborts every upload in the bucket;
        None when none does, or the configuration could not be read."""
        return None if self.error else whole_bucket_days(self.coverage)

    def aborts_all_within(self, days: int = ADVISOR_DAYS) -> bool | None:
        """Trusted Advisor's check: whether an enabled rule aborts every incomplete upload
        within ``days``; None when the configuration could not be read."""
        if self.error:
            return None
        found = self.whole_bucket_days
        return found is not None and found <= days

    @property
    def supported(self) -> bool | None:
        """False when the service says it has no lifecycle support; None when unknown."""
        if self.code in UNSUPPORTED_CODES:
            return False
        return None if self.error else True


@dataclass(frozen=True, slots=True)
class LifecycleChange:
    """What ``lifecycle apply`` or ``remove`` did to one bucket."""

    bucket: str
    #: Our rule before, if there was one.
    before: Rule | None = None
    #: Our rule after; None when removed (or never there).
    after: Rule | None = None
    #: How many other rules the configuration has (kept untouched).
    other_rules: int = 0
    #: "unchanged", "dry_run", "declined", "applied", "removed", "failed".
    result: str = "unchanged"
    #: What went wrong, or what the service did that it should not have.
    error: str | None = None
    #: What the service did with the rule that is worth saying (kept under another ID...).
    note: str | None = None


#: Answers that mean the service has no lifecycle support at all.
UNSUPPORTED_CODES = frozenset({"NotImplemented", "501", "MethodNotAllowed"})


def explain(code: str) -> str:
    """A plain sentence for the lifecycle answers people meet.

    >>> explain("NotImplemented")
    'the service does not support lifecycle rules'
    """
    return {
        "NotImplemented": "the service does not support lifecycle rules",
        "501": "the service does not support lifecycle rules",
        "MethodNotAllowed": "the service does not support lifecycle rules",
        "AccessDenied": "access denied: needs s3:GetLifecycleConfiguration and "
        "s3:PutLifecycleConfiguration",
        "MalformedXML": "the service rejected the rule (MalformedXML): it may not support "
        "AbortIncompleteMultipartUpload",
        "InvalidRequest": "the service rejected the rule (InvalidRequest)",
        "MissingContentMD5": "the service wants Content-MD5 (mpusweep sends it: report this)",
    }.get(code, code)
