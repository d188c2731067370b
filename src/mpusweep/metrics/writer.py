"""Prometheus metrics of a run, written as a textfile for node_exporter's textfile collector.

Every value is a gauge: the file is rewritten whole by each run (``write_to_textfile`` writes a
temporary file beside it and renames it over the old one, so a scrape never sees half a file).
Names follow Prometheus' conventions: the ``mpusweep_`` prefix and base units in the name.

Per bucket, labels ``target`` and ``bucket`` (a failed listing proves nothing about a bucket,
so for one only ``listing_errors``, ``sizing_errors`` and the ``abort_rule`` figures are
written; a figure that was not measured is left out rather than written as 0):

- ``mpusweep_bucket_uploads``: incomplete uploads found.
- ``mpusweep_bucket_upload_bytes``: their bytes, unsized uploads left out; absent when uploads
  exist and none was sized (``--no-sizes``).
- ``mpusweep_bucket_oldest_upload_age_seconds``: age of the oldest; absent when there is none.
- ``mpusweep_bucket_stale_uploads``, ``mpusweep_bucket_stale_upload_bytes``: those initiated
  more than 7 days before the run (``STALE_AFTER``).
- ``mpusweep_bucket_abort_rule``: 1 when an enabled lifecycle rule aborts incomplete uploads
  anywhere in the bucket (no prefix), 0 when none does, absent when the rules were not read.
- ``mpusweep_bucket_abort_rule_after_seconds``: how long after initiation an enabled rule
  aborts every incomplete upload in the bucket (the soonest such rule; days in seconds);
  absent when none does, or the rules were not read. AWS Trusted Advisor's check c1cj39rr6v
  warns where this is over 7 days, or absent (``abort_rule == 0``).
- ``mpusweep_bucket_listing_errors``: 1 when the bucket could not be (completely) listed.
- ``mpusweep_bucket_sizing_errors``: uploads whose parts could not be listed.

Per run, labels ``command`` and ``target``:

- ``mpusweep_run_duration_seconds``, ``mpusweep_run_success`` (1 or 0),
  ``mpusweep_run_timestamp_seconds`` (when it finished; shows the job still runs).
- ``mpusweep_last_success_timestamp_seconds``: when the last successful run finished. A failed
  run carries it over from the file it replaces (the previous run's), so the figure survives
  failures without any other state: the textfile is what Prometheus reads, and history may be
  off or elsewhere. Absent until the first success.

Per target, labels ``target``, ``endpoint`` (without credentials; ``aws`` for AWS's own) and
``identity`` (``account:ID``, or ``key:`` and a fingerprint of the access key id; never a
secret; empty when unknown): ``mpusweep_target_info``, always 1, says which service and whose
view of it each target's series come from (join on ``target``).

Per clean run, label ``target``: ``mpusweep_clean_aborted_uploads``,
``mpusweep_clean_already_gone_uploads``, ``mpusweep_clean_failed_uploads``,
``mpusweep_clean_freed_bytes``.

A target that did not run (another run held its endpoint's lock) keeps every series it had
in the file being replaced, so its figures and alerts do not vanish for a day.

node_exporter refuses a series found in two files, and per-bucket series carry no ``command``
label: give each scheduled command its own file, and let only one of them write buckets.

prometheus_client is imported only when a file is written or read (it costs about 0.1 s).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..aggregate import STALE_AFTER
from ..errors import UsageError
from ..lifecycle import ADVISOR_DAYS
from ..models import CleanSummary
from .figures import BucketFigures, RunFigures, sorted_figures

if TYPE_CHECKING:
    from prometheus_client.metrics_core import GaugeMetricFamily, Metric

#: Every metric this module writes, with its HELP text.
METRICS: Mapping[str, str] = {
    "mpusweep_bucket_uploads": "Incomplete multipart uploads found in the bucket.",
    "mpusweep_bucket_upload_bytes": "Bytes held by the bucket's incomplete uploads "
    "(unsized uploads left out; absent when none was sized).",
    "mpusweep_bucket_oldest_upload_age_seconds": "Age of the bucket's oldest incomplete upload.",
    "mpusweep_bucket_stale_uploads": "Incomplete uploads initiated more than "
    f"{STALE_AFTER.days} days ago.",
    "mpusweep_bucket_stale_upload_bytes": "Bytes of the incomplete uploads initiated more than "
    f"{STALE_AFTER.days} days ago (unsized uploads left out).",
    "mpusweep_bucket_abort_rule": "1 when an enabled lifecycle rule aborts incomplete uploads "
    "in the whole bucket, 0 when none does.",
    "mpusweep_bucket_abort_rule_after_seconds": "How long after initiation an enabled lifecycle "
    "rule aborts every incomplete upload in the bucket (AWS Trusted Advisor warns above "
    f"{ADVISOR_DAYS} days).",
    "mpusweep_bucket_listing_errors": "1 when the bucket's uploads could not be listed completely.",
    "mpusweep_bucket_sizing_errors": "Incomplete uploads whose parts could not be listed.",
    "mpusweep_run_duration_seconds": "How long the run took.",
    "mpusweep_run_success": "1 when the run did everything it was asked, 0 otherwise.",
    "mpusweep_run_timestamp_seconds": "When the run finished, in seconds since the epoch.",
    "mpusweep_last_success_timestamp_seconds": "When the last successful run finished, in "
    "seconds since the epoch.",
    "mpusweep_target_info": "Always 1: the service (endpoint) and the identity whose view of it "
    "the target's series come from.",
    "mpusweep_clean_aborted_uploads": "Uploads aborted by the clean run.",
    "mpusweep_clean_already_gone_uploads": "Uploads already gone when the clean run aborted them.",
    "mpusweep_clean_failed_uploads": "Uploads the clean run failed to abort.",
    "mpusweep_clean_freed_bytes": "Bytes freed by the clean run's aborts (unsized uploads left "
    "out).",
}

_LAST_SUCCESS = "mpusweep_last_success_timestamp_seconds"
_BUCKET_LABELS = ("target", "bucket")
_RUN_LABELS = ("command", "target")
_CLEAN_LABELS = ("target",)
_INFO_LABELS = ("target", "endpoint", "identity")


def _family(name: str, labels: Sequence[str]) -> GaugeMetricFamily:
    from prometheus_client.metrics_core import GaugeMetricFamily

    return GaugeMetricFamily(name, METRICS[name], labels=labels)


def _oldest_age_seconds(figures: BucketFigures) -> float | None:
    age = figures.oldest_age
    # A clock behind the server's can make the newest upload look younger than zero.
    return None if age is None else max(age.total_seconds(), 0.0)


_BUCKET_VALUES: Mapping[str, Callable[[BucketFigures], float | None]] = {
    "mpusweep_bucket_uploads": lambda f: f.uploads,
    "mpusweep_bucket_upload_bytes": lambda f: f.size,
    "mpusweep_bucket_oldest_upload_age_seconds": _oldest_age_seconds,
    "mpusweep_bucket_stale_uploads": lambda f: f.stale_uploads,
    "mpusweep_bucket_stale_upload_bytes": lambda f: f.stale_size,
    "mpusweep_bucket_abort_rule": lambda f: None if f.abort_rule is None else int(f.abort_rule),
    "mpusweep_bucket_abort_rule_after_seconds": lambda f: (
        None if f.abort_rule_days is None else f.abort_rule_days * 86400
    ),
    "mpusweep_bucket_listing_errors": lambda f: int(f.listing_error is not None),
    "mpusweep_bucket_sizing_errors": lambda f: f.size_errors,
}


def _bucket_families(figures: Sequence[BucketFigures]) -> Iterator[GaugeMetricFamily]:
    ordered = sorted_figures(figures)
    for name, value_of in _BUCKET_VALUES.items():
        family = _family(name, _BUCKET_LABELS)
        for item in ordered:
            value = value_of(item)
            if value is not None:
                family.add_metric((item.target, item.bucket), value)
        yield family


def _run_families(
    runs: Sequence[RunFigures], last_success: Mapping[tuple[str, str], float]
) -> Iterator[GaugeMetricFamily]:
    labels = _RUN_LABELS
    duration = _family("mpusweep_run_duration_seconds", labels)
    success = _family("mpusweep_run_success", labels)
    finished = _family("mpusweep_run_timestamp_seconds", labels)
    last = _family(_LAST_SUCCESS, labels)
    for run in runs:
        key = (run.command, run.target)
        duration.add_metric(key, max((run.finished - run.started).total_seconds(), 0.0))
        success.add_metric(key, int(run.success))
        finished.add_metric(key, run.finished.timestamp())
        if run.success:
            last.add_metric(key, run.finished.timestamp())
        elif key in last_success:
            last.add_metric(key, last_success[key])
    yield from (duration, success, finished, last)

    info = _family("mpusweep_target_info", _INFO_LABELS)
    for target, service in {r.target: r.service for r in runs if r.service is not None}.items():
        info.add_metric((target, service.endpoint, service.identity or ""), 1)
    yield info

    cleans = [run for run in runs if run.clean is not None]
    counts: Mapping[str, Callable[[CleanSummary], int | None]] = {
        "mpusweep_clean_aborted_uploads": lambda s: s.aborted,
        "mpusweep_clean_already_gone_uploads": lambda s: s.already_gone,
        "mpusweep_clean_failed_uploads": lambda s: s.failed,
        "mpusweep_clean_freed_bytes": lambda s: s.bytes_freed,
    }
    for name, value_of in counts.items():
        family = _family(name, _CLEAN_LABELS)
        for run in cleans:
            value = value_of(run.clean) if run.clean is not None else None
            if value is not None:
                family.add_metric((run.target,), value)
        yield family


def metric_families(
    runs: Sequence[RunFigures],
    buckets: Sequence[BucketFigures] = (),
    *,
    last_success: Mapping[tuple[str, str], float] | None = None,
) -> list[GaugeMetricFamily]:
    """Every family of this module's metrics for one run's figures: what ``write_metrics``
    writes to the textfile, and what ``mpusweep serve``'s collector serves over HTTP.

    Args:
        runs: One entry per (command, target).
        buckets: Per-bucket figures.
        last_success: The last success's time by (command, target), for a failed run (else
            ``mpusweep_last_success_timestamp_seconds`` is left out for it).

    Families without samples are included (a caller may add to them); leave them out before
    exposing.

    Raises:
        ValueError: two figures for one bucket, or two runs of one (command, target).
    """
    _check_unique([(f.target, f.bucket) for f in buckets], "bucket figures for")
    _check_unique([(r.command, r.target) for r in runs], "runs of")
    return [*_bucket_families(buckets), *_run_families(runs, last_success or {})]


def _check_unique(keys: list[tuple[str, str]], what: str) -> None:
    # node_exporter rejects a file that repeats a series.
    seen: set[tuple[str, str]] = set()
    for key in keys:
        if key in seen:
            raise ValueError(f"two {what} {key!r}")
        seen.add(key)


class _Collector:
    """A prometheus_client custom collector over fixed figures (the exporter pattern)."""

    def __init__(self, families: Sequence[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


#: A sample of a metrics file: name, labels, value.
_Sample = tuple[str, dict[str, str], float]


def _read_samples(path: Path) -> list[_Sample]:
    from prometheus_client.parser import text_string_to_metric_families

    text = path.read_text(encoding="utf-8")
    return [
        (sample.name, dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def read_last_success(path: Path) -> dict[tuple[str, str], float]:
    """``mpusweep_last_success_timestamp_seconds`` from a metrics file, by (command, target).

    Raises:
        ValueError: the file is not Prometheus text.
        OSError: it cannot be read (FileNotFoundError when there is none yet).
    """
    return _last_success(_read_samples(path))


def _last_success(samples: Iterable[_Sample]) -> dict[tuple[str, str], float]:
    return {
        (labels.get("command", ""), labels.get("target", "")): value
        for name, labels, value in samples
        if name == _LAST_SUCCESS
    }


def _carry_over(
    families: Sequence[GaugeMetricFamily], samples: Iterable[_Sample], targets: Collection[str]
) -> None:
    """Add the previous file's samples of ``targets`` (which did not run) to ``families``."""
    label_names = {
        **dict.fromkeys(_BUCKET_VALUES, _BUCKET_LABELS),
        **dict.fromkeys(
            (
                "mpusweep_run_duration_seconds",
                "mpusweep_run_success",
                "mpusweep_run_timestamp_seconds",
                _LAST_SUCCESS,
            ),
            _RUN_LABELS,
        ),
        "mpusweep_target_info": _INFO_LABELS,
    }
    by_name = {family.name: family for family in families}
    for name, labels, value in samples:
        if labels.get("target") not in targets or name not in by_name:
            continue
        names = label_names.get(name, _CLEAN_LABELS)
        if set(labels) != set(names):
            continue  # not a series this version writes: leave it out
        by_name[name].add_metric([labels[n] for n in names], value)


def write_metrics(
    path: Path,
    runs: Sequence[RunFigures],
    buckets: Sequence[BucketFigures] = (),
    *,
    keep_targets: Collection[str] = (),
) -> list[str]:
    """Write the run's metrics to ``path`` atomically, replacing the previous run's file.

    For a failed run the last success is carried over from the file being replaced, and so is
    every series of the targets in ``keep_targets``.

    Args:
        path: The ``.prom`` file, in node_exporter's ``--collector.textfile.directory``.
        runs: One entry per (command, target) the run covered.
        buckets: Per-bucket figures (``bucket_figures`` or ``FiguresBuilder``).
        keep_targets: Targets that did not run this time (their endpoint was locked by
            another run): their previous series stay as they were.

    Returns:
        Warnings for the user (the previous file could not be read), one line each.

    Raises:
        UsageError: the file cannot be written.
    """
    from prometheus_client import CollectorRegistry, write_to_textfile

    ran = {run.target for run in runs} | {f.target for f in buckets}
    if ran & set(keep_targets):
        raise ValueError(f"targets both ran and did not: {sorted(ran & set(keep_targets))}")
    warnings: list[str] = []
    previous: list[_Sample] = []
    if keep_targets or not all(run.success for run in runs):
        try:
            previous = _read_samples(path)
        except FileNotFoundError:
            pass
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            warnings.append(
                f"cannot read the previous metrics file {str(path)!r} ({exc}): the time of "
                "the last success, and the figures of targets that did not run, are not "
                "carried over"
            )
    families = metric_families(runs, buckets, last_success=_last_success(previous))
    if keep_targets:
        _carry_over(families, previous, keep_targets)
    families = [family for family in families if family.samples]
    registry = CollectorRegistry()
    registry.register(_Collector(families))
    try:
        write_to_textfile(str(path), registry)
    except OSError as exc:
        raise UsageError(
            f"cannot write metrics file {str(path)!r}: {exc.strerror or exc}; check that its "
            "directory exists and is writable, or choose another with --metrics-file"
        ) from exc
    return warnings
