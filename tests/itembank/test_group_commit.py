"""Group commit: writes queued while the writer is busy go in one batch; a batch that fails or
skips a write leaves it to the one-by-one path; nothing queued is lost on close."""

from __future__ import annotations

import threading

import pytest

from qabilet.itembank.group_commit import GroupCommit


class _Log:
    """A fake store: ``batch`` records what it was given, and can be held or made to fail."""

    def __init__(self, *, hold_first: bool = False, fail: bool = False,
                 skip: frozenset[int] = frozenset()) -> None:
        self.batches: list[list[int]] = []
        self.singles: list[int] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        if not hold_first:
            self.release.set()
        self.fail, self.skip = fail, skip

    def batch(self, writes):
        self.entered.set()
        self.release.wait(10)
        if self.fail:
            raise RuntimeError("the database went away")
        self.batches.append(list(writes))
        return [None if w in self.skip else w * 10 for w in writes]

    def one(self, write):
        self.singles.append(write)
        if write < 0:
            raise ValueError(f"write {write} refused")
        return write * 100


def test_writes_queued_while_the_writer_is_busy_are_committed_together():
    log = _Log(hold_first=True)
    group = GroupCommit(log.batch, log.one)
    first = group.submit(0)
    assert log.entered.wait(10)  # the writer is inside the first batch
    queued = [group.submit(k) for k in range(1, 21)]
    assert not any(f.done() for f in queued)  # nothing acknowledged before its commit
    log.release.set()
    assert [f.result(10) for f in [first, *queued]] == [k * 10 for k in range(21)]
    assert log.batches == [[0], list(range(1, 21))]
    assert group.committed == (2, 21) and log.singles == []
    group.close()


def test_a_batch_takes_at_most_max_batch_writes():
    log = _Log(hold_first=True)
    group = GroupCommit(log.batch, log.one, max_batch=8)
    group.submit(0)
    assert log.entered.wait(10)
    futures = [group.submit(k) for k in range(1, 21)]
    log.release.set()
    for f in futures:
        f.result(10)
    assert [len(b) for b in log.batches] == [1, 8, 8, 4]
    group.close()


def test_a_failed_batch_is_done_again_write_by_write_with_each_callers_own_error():
    log = _Log(fail=True)
    group = GroupCommit(log.batch, log.one)
    ok, refused = group.submit(3), group.submit(-1)
    assert ok.result(10) == 300
    with pytest.raises(ValueError, match="write -1 refused"):
        refused.result(10)
    assert sorted(log.singles) == [-1, 3] and group.committed == (0, 0)
    group.close()


def test_a_batch_failing_for_everyone_fails_every_caller_at_once():
    """The database unavailable: no write is retried alone (each retry would wait its own busy
    timeout); every caller gets the batch's error."""
    log = _Log(hold_first=True, fail=True)
    group = GroupCommit(log.batch, log.one,
                        shared_failure=lambda e: "went away" in str(e))
    first = group.submit(0)
    assert log.entered.wait(10)
    queued = [group.submit(k) for k in range(1, 6)]
    log.release.set()
    for f in [first, *queued]:
        with pytest.raises(RuntimeError, match="the database went away"):
            f.result(10)
    assert log.singles == [] and group.committed == (0, 0)
    group.close()


def test_a_write_the_batch_skipped_is_done_on_its_own():
    log = _Log(hold_first=True, skip=frozenset({2}))
    group = GroupCommit(log.batch, log.one)
    group.submit(0)
    assert log.entered.wait(10)
    futures = [group.submit(k) for k in (1, 2, 3)]
    log.release.set()
    assert [f.result(10) for f in futures] == [10, 200, 30]
    assert log.singles == [2] and group.committed == (2, 3)
    group.close()


def test_close_commits_what_is_queued_and_refuses_more():
    log = _Log(hold_first=True)
    group = GroupCommit(log.batch, log.one)
    futures = [group.submit(k) for k in range(5)]
    assert log.entered.wait(10)
    closing = threading.Thread(target=group.close)
    closing.start()
    log.release.set()
    closing.join(10)
    assert all(f.done() for f in futures) and [f.result() for f in futures] == [0, 10, 20, 30, 40]
    with pytest.raises(RuntimeError, match="closed"):
        group.submit(9)


def test_writes_from_many_threads_each_resolve_once_to_their_own_result():
    log = _Log()
    group = GroupCommit(log.batch, log.one, max_batch=16)
    results: dict[int, int] = {}
    lock = threading.Lock()

    def submit(base):
        for j in range(50):
            value = group.submit(base + j).result(10)
            with lock:
                assert base + j not in results
                results[base + j] = value

    threads = [threading.Thread(target=submit, args=(1000 * t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    group.close()
    assert results == {k: k * 10 for k in results} and len(results) == 300
    assert sorted(w for b in log.batches for w in b) == sorted(results)


def test_max_batch_must_be_positive():
    with pytest.raises(ValueError, match="max_batch: expected 1 or more; got 0"):
        GroupCommit(lambda w: w, lambda w: w, max_batch=0)
