"""A clean's aborts sent from the ``--processes`` worker processes, on the real servers: the
audit log's promises hold there as they do in one process.

Which process sent a request is read from the operating system (psutil: the process that holds
the proxy's client connection). ``MPUSWEEP_TEST_SRC=<old src>`` runs these against an older
tree: there every abort went from the main process, and the first test fails.
"""

from __future__ import annotations

import os
import signal
import threading
from urllib.parse import parse_qs, urlsplit

import psutil

from tests.servers.proxy import recording_proxy
from tests.support import (
    KIB,
    assert_one_outcome_per_intent,
    clean_now,
    env_through,
    mpusweep_command,
    read_audit,
    start_mpusweep,
)


def upload_id_of(path: str) -> str | None:
    return parse_qs(urlsplit(path).query).get("uploadId", [None])[0]


def holder(port: int, pids: list[int]) -> int | None:
    """Which of ``pids`` holds a TCP connection from local ``port`` (None: none of them)."""
    for pid in pids:
        try:
            connections = psutil.Process(pid).net_connections(kind="tcp")
        except psutil.NoSuchProcess:
            continue
        if any(c.laddr and c.laddr.port == port for c in connections):
            return pid
    return None


def family(pid: int) -> list[int]:
    """The process and every process under it."""
    try:
        return [pid, *(p.pid for p in psutil.Process(pid).children(recursive=True))]
    except psutil.NoSuchProcess:
        return []


def run_to_end(args: list[str], env: dict[str, str], run: dict[str, int], tmp_path) -> int:
    """The command in a child (its pid in ``run`` for the proxy's fault hook), to its end;
    its output in ``tmp_path``'s ``out`` and ``err``."""
    out, err = tmp_path / "out", tmp_path / "err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = start_mpusweep(args, env=env, stdout=stdout, stderr=stderr)
        run["pid"] = proc.pid
        try:
            return proc.wait(timeout=240)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_each_abort_goes_from_a_worker_between_its_intent_and_its_outcome(
    buckets, backend, tmp_path
):
    """At each DELETE, as the server gets it: the audit log holds its intent and no outcome,
    and the connection it came on belongs to a worker process, not the main one. Failed
    before: every DELETE came from the main process."""
    bucket = buckets.new()
    made = set(buckets.make_many(bucket, [f"k/{i:02d}" for i in range(24)], [KIB]))
    audit = tmp_path / "audit.jsonl"
    run: dict[str, int] = {}
    seen: list[tuple[str | None, bool, bool, int | None]] = []
    lock = threading.Lock()

    def check(method, path, headers):
        upload_id = upload_id_of(path)
        if method != "DELETE" or upload_id is None:
            return
        records = read_audit(audit, still_writing=True)
        mine = [r for r in records if r.get("upload_id") == upload_id]
        intent = any(r["event"] == "intent" for r in mine)
        outcome = any(r["event"] == "outcome" for r in mine)
        sender = holder(proxy.client_port(), family(run["pid"]))
        with lock:
            seen.append((upload_id, intent, outcome, sender))

    out, err = tmp_path / "out", tmp_path / "err"
    with recording_proxy(backend.endpoint_url) as proxy:
        proxy.fault = check
        args = [*clean_now(bucket), "--processes", "2", "--concurrency", "4"]
        args += ["--audit-log", str(audit)]
        code = run_to_end(args, env_through(backend, proxy.url), run, tmp_path)
    assert code == 0, err.read_text()[-3000:]
    assert sorted(u for u, *_ in seen) == sorted(made)  # each listed upload once, no other
    assert all(intent for _, intent, _, _ in seen), seen  # intent written before the DELETE
    assert not any(outcome for _, _, outcome, _ in seen), seen  # outcome only after it
    senders = {sender for *_, sender in seen}
    assert None not in senders, seen  # every DELETE's connection was found...
    assert run["pid"] not in senders  # ...and none was the main process's
    assert len(senders) == 2, senders  # both workers sent some
    outcomes = assert_one_outcome_per_intent(read_audit(audit))
    assert set(outcomes) == made and set(outcomes.values()) == {"aborted"}
    assert buckets.listing(bucket) == []
    assert "aborted 24 (" in out.read_text()


def test_workers_abort_only_what_was_listed_and_confirmed(buckets, backend, tmp_path):
    """Of two buckets, the first is confirmed and the second declined; in the first, only the
    uploads under the prefix asked for, and not one started (under that prefix) after the
    listing. Every DELETE the server got is of an upload listed and confirmed."""
    confirmed, declined = buckets.new("a"), buckets.new("b")
    wanted = set(buckets.make_many(confirmed, [f"a/{i}" for i in range(8)], [KIB]))
    other = buckets.make_many(confirmed, [f"b/{i}" for i in range(3)], [KIB])
    kept = buckets.make_many(declined, [f"a/{i}" for i in range(3)], [KIB])
    late: list[str] = []

    def start_one_late(method, path, headers):
        if method == "DELETE" and not late:
            late.append(buckets.make_upload(confirmed, "a/late", [KIB]))

    audit = tmp_path / "audit.jsonl"
    with recording_proxy(backend.endpoint_url) as proxy:
        proxy.fault = start_one_late
        args = ["clean", f"{buckets.prefix}-*", "--prefix", "a/", "--older-than", "0"]
        res = mpusweep_command(
            [*args, "--idle-for", "0", "--processes", "2", "--audit-log", str(audit)],
            env=env_through(backend, proxy.url),
            input="y\nn\n",
        )
        deletes = [upload_id_of(s.path) for s in proxy.writes()]
    assert res.code == 0, res.stderr
    assert res.stderr.count("Delete MPU data? (y/n)") == 2
    assert late, "no abort was sent"
    assert sorted(deletes) == sorted(wanted)
    outcomes = assert_one_outcome_per_intent(read_audit(audit))
    assert set(outcomes) == wanted
    left = {upload_id for _, upload_id in buckets.listing(confirmed)}
    assert left == {*other, *late}
    assert {upload_id for _, upload_id in buckets.listing(declined)} == set(kept)


def test_a_worker_killed_mid_abort_leaves_one_outcome_per_intent(buckets, backend, tmp_path):
    """The worker that sends the first DELETE is killed (SIGKILL) while the server holds it:
    each of its aborts whose intent is written gets the outcome ``unknown`` (it may or may not
    have been aborted), the ones it never sent are reported as not sent, and the other worker
    goes on. Failed before: no worker sent a DELETE (the main process sent them all)."""
    first, second = buckets.new("a"), buckets.new("b")
    made = buckets.make_many(first, [f"k/{i:02d}" for i in range(16)], [KIB])
    made += buckets.make_many(second, [f"k/{i:02d}" for i in range(16)], [KIB])
    audit = tmp_path / "audit.jsonl"
    run: dict[str, int] = {}
    killed: list[int] = []
    senders: list[int | None] = []  # of each DELETE, in the order they came
    lock = threading.Lock()

    def kill_the_sender(method, path, headers):
        if method != "DELETE":
            return
        sender = holder(proxy.client_port(), family(run["pid"])[1:])
        with lock:
            senders.append(sender)
            if not killed and sender is not None:
                os.kill(sender, signal.SIGKILL)
                killed.append(sender)

    out, err = tmp_path / "out", tmp_path / "err"
    with recording_proxy(backend.endpoint_url) as proxy:
        proxy.fault = kill_the_sender
        args = [*clean_now(first, second), "--processes", "2", "--concurrency", "4"]
        args += ["--audit-log", str(audit)]
        code = run_to_end(args, env_through(backend, proxy.url), run, tmp_path)
    stderr_text = err.read_text()
    assert killed, "no DELETE came"
    assert code == 3, stderr_text[-3000:]  # partial: the run went on and said so
    assert "internal error" not in stderr_text
    records = read_audit(audit)
    outcomes = assert_one_outcome_per_intent(records)
    unknown = [u for u, o in outcomes.items() if o == "unknown"]
    aborted = [u for u, o in outcomes.items() if o == "aborted"]
    assert unknown, outcomes  # the killed worker's DELETE in flight
    assert set(outcomes.values()) == {"unknown", "aborted"}, outcomes
    # The run went on: the other worker sent DELETEs after the kill, and every one was aborted.
    after = senders[senders.index(killed[0]) + 1 :]
    live = {sender for sender in after if sender not in (killed[0], None)}
    assert len(live) == 1, senders
    assert after.count(live.pop()) >= 8, senders  # its share of the first bucket at least
    assert len(aborted) >= 8, outcomes
    assert "its worker process ended before it answered" in stderr_text
    text = out.read_text()
    never = len(made) - len(outcomes)
    assert f"aborted {len(aborted)} (" in text, text
    assert f"failed {len(unknown)}," in text, text
    if never:  # queued in the killed worker, never sent: reported as skipped, not aborted
        assert "not sent: its worker process ended first" in stderr_text
        assert f"skipped {never}." in text, text
    left = {upload_id for b in (first, second) for _, upload_id in buckets.listing(b)}
    assert not left & set(aborted)  # what the log says was aborted is gone
