"""The pure merge: our rule in, every other rule untouched, in its shape and place."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mpusweep.errors import UsageError
from mpusweep.lifecycle import (
    MAX_RULES,
    RULE_ID,
    AbortRule,
    LifecycleStatus,
    abort_rules,
    apply_rule,
    equivalent,
    explain,
    make_rule,
    others_unchanged,
    remove_rule,
    rule_id,
    same_rules,
)

LEGACY = {"ID": "legacy", "Prefix": "old/", "Status": "Enabled", "Expiration": {"Days": 3}}
FILTERED = {
    "ID": "filtered",
    "Filter": {"And": {"Prefix": "a/", "Tags": [{"Key": "k", "Value": "v"}]}},
    "Status": "Enabled",
    "Expiration": {"Days": 9},
}
THEIR_ABORT = {
    "ID": "theirs",
    "Filter": {"Prefix": ""},
    "Status": "Disabled",
    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2},
}


def test_apply_appends_and_keeps_others_in_place_and_shape():
    rules = [LEGACY, FILTERED]
    before = copy.deepcopy(rules)
    change = apply_rule(rules, 7)
    assert change.rules[:2] == before
    assert change.rules[2]["ID"] == RULE_ID
    assert change.rules[2]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    assert change.before is None
    assert change.changed
    assert rules == before  # the input is not modified


def test_apply_updates_in_place_and_is_idempotent():
    first = apply_rule([LEGACY, THEIR_ABORT], 7).rules
    moved = [first[2], LEGACY, THEIR_ABORT]  # ours first: it must stay first
    updated = apply_rule(moved, 3)
    assert updated.rules[0]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 3
    assert updated.rules[1:] == [LEGACY, THEIR_ABORT]
    again = apply_rule(updated.rules, 3)
    assert not again.changed
    assert again.rules == updated.rules


def test_prefix_rules_have_their_own_ids():
    both = apply_rule(apply_rule([], 7).rules, 1, "tmp/").rules
    assert [r["ID"] for r in both] == [RULE_ID, rule_id("tmp/")]
    assert rule_id("x" * 300).startswith(f"{RULE_ID}:sha256:")
    assert len(rule_id("x" * 300)) <= 255


def test_remove_takes_only_ours():
    rules = apply_rule([LEGACY, THEIR_ABORT], 7).rules
    change = remove_rule(rules)
    assert change.rules == [LEGACY, THEIR_ABORT]
    assert change.after is None
    assert change.before is not None
    assert not remove_rule([LEGACY]).changed


def test_refuses_what_s3_rejects():
    with pytest.raises(UsageError, match="at least 1"):
        apply_rule([], 0)
    full = [
        {
            "ID": f"r{i}",
            "Status": "Enabled",
            "Filter": {"Prefix": f"{i}/"},
            "Expiration": {"Days": 1},
        }
        for i in range(MAX_RULES)
    ]
    with pytest.raises(UsageError, match="1000 lifecycle rules"):
        apply_rule(full, 7)
    # Updating our own rule in a full configuration is fine: the count does not grow.
    full[-1] = apply_rule([], 5).rules[0]
    assert apply_rule(full, 7).changed


def test_abort_rules_reads_every_shape():
    found = abort_rules([LEGACY, THEIR_ABORT, *apply_rule([], 4, "up/").rules])
    assert [(r.id, r.prefix, r.days, r.enabled, r.ours) for r in found] == [
        ("theirs", "", 2, False, False),
        (rule_id("up/"), "up/", 4, True, True),
    ]


def test_others_unchanged_spots_any_difference():
    ours = apply_rule([LEGACY], 7).rules
    assert others_unchanged([LEGACY], ours, RULE_ID)
    changed = [dict(LEGACY, Status="Disabled"), ours[1]]
    assert not others_unchanged([LEGACY], changed, RULE_ID)


def test_explain_is_plain():
    assert explain("NotImplemented") == "the service does not support lifecycle rules"
    assert "MalformedXML" in explain("MalformedXML")
    assert explain("Weird") == "Weird"


rule_shapes = st.fixed_dictionaries(
    {
        "ID": st.text(min_size=1, max_size=8).filter(lambda s: not s.startswith("mpusweep")),
        "Status": st.sampled_from(["Enabled", "Disabled"]),
    },
    optional={
        "Prefix": st.text(max_size=4),
        "Expiration": st.fixed_dictionaries({"Days": st.integers(1, 100)}),
    },
)


@given(st.lists(rule_shapes, max_size=6), st.integers(1, 400), st.text(max_size=6))
def test_apply_then_remove_restores_exactly(rules, days, prefix):
    applied = apply_rule(rules, days, prefix)
    assert others_unchanged(rules, applied.rules, rule_id(prefix))
    assert remove_rule(applied.rules, prefix).rules == rules


R2_DEFAULT = {
    "ID": "Default Multipart Abort Rule",
    "Filter": {},
    "Status": "Enabled",
    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
}


def test_an_equivalent_rule_is_left_in_place_not_doubled():
    """Cloudflare R2's default rule does what ``--days 7`` asks: nothing to add."""
    change = apply_rule([R2_DEFAULT], 7)
    assert not change.changed
    assert change.rules == [R2_DEFAULT]
    assert change.before == change.after == R2_DEFAULT
    added = apply_rule([R2_DEFAULT], 3)
    assert added.rules == [R2_DEFAULT, make_rule(3)]


def test_a_disabled_or_filtered_rule_is_not_equivalent():
    assert not equivalent({**R2_DEFAULT, "Status": "Disabled"}, 7, "")
    tagged = {**R2_DEFAULT, "Filter": {"Tag": {"Key": "a", "Value": "b"}}}
    assert not equivalent(tagged, 7, "")
    assert not equivalent({**R2_DEFAULT, "Expiration": {"Days": 1}}, 7, "")
    assert equivalent({**R2_DEFAULT, "Filter": {"Prefix": "a/"}}, 7, "a/")


def test_rewritten_rules_are_updated_in_place():
    """Backblaze B2 gives our rule back under its own ID: with the quirk known, the rule that
    only aborts uploads under our prefix is ours, updated where it is."""
    b2 = {
        "ID": "b2-abort-logs/",
        "Filter": {"Prefix": "logs/"},
        "Status": "Enabled",
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
    }
    change = apply_rule([LEGACY, b2], 2, "logs/", rewritten=True)
    assert change.before == b2
    assert change.after == {**b2, "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}}
    assert change.rules == [LEGACY, change.after]
    assert apply_rule([LEGACY, b2], 2, "logs/").rules == [LEGACY, b2, make_rule(2, "logs/")]


def test_rules_with_tag_or_size_filters_cover_no_prefix():
    """AWS refuses the abort action beside a tag or size filter; services that store one abort
    only some uploads with it: no coverage, whatever prefix the rule also names."""
    shapes = [
        {"Tag": {"Key": "a", "Value": "b"}},
        {"ObjectSizeGreaterThan": 10},
        {"And": {"Prefix": "", "Tags": [{"Key": "a", "Value": "b"}]}},
        {"And": {"Prefix": "x/", "ObjectSizeLessThan": 10}},
    ]
    rules = [{**R2_DEFAULT, "ID": str(i), "Filter": f} for i, f in enumerate(shapes)]
    found = abort_rules(rules)
    assert [r.prefix for r in found] == [None] * 4
    status = LifecycleStatus("b", len(rules), tuple(found))
    assert status.coverage == ()
    covered = LifecycleStatus("b", 1, tuple(abort_rules([R2_DEFAULT])))
    assert covered.coverage == (("", 7),)


def test_the_same_rules_in_another_order_or_spelling_are_the_same():
    every_key = [{"ID": "a", "Filter": {}}, {"ID": "b", "Filter": {"Prefix": ""}}]
    as_rgw_says = [{"ID": "b", "Prefix": ""}, {"ID": "a", "Prefix": ""}]
    assert same_rules(every_key, as_rgw_says)
    assert not same_rules(every_key, [{"ID": "a", "Prefix": ""}])
    assert not same_rules([LEGACY], [{**LEGACY, "Prefix": "new/"}])


# -- Trusted Advisor's check (c1cj39rr6v) ----------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "within", "soonest", "ok"),
    [
        ([], 7, None, False),  # no rule at all: yellow
        ([AbortRule("a", "", 7, True, False)], 7, 7, True),
        ([AbortRule("a", "", 8, True, False)], 7, 8, False),  # too late
        ([AbortRule("a", "", 8, True, False)], 10, 8, True),  # --within 10
        ([AbortRule("a", "", 1, False, False)], 7, None, False),  # disabled
        ([AbortRule("a", "logs/", 1, True, False)], 7, None, False),  # one prefix only
        ([AbortRule("a", None, 1, True, False)], 7, None, False),  # tag or size filter
        ([AbortRule("a", "", 30, True, False), AbortRule("b", "", 3, True, True)], 7, 3, True),
    ],
)
def test_advisor_check_wants_an_enabled_rule_aborting_every_upload_in_time(
    rules, within, soonest, ok
):
    status = LifecycleStatus("b", len(rules), tuple(rules))
    assert status.whole_bucket_days == soonest
    assert status.aborts_all_within(within) is ok


def test_advisor_check_is_unknown_when_the_rules_were_not_read():
    status = LifecycleStatus("b", None, error="access denied", code="AccessDenied")
    assert (status.whole_bucket_days, status.aborts_all_within()) == (None, None)
