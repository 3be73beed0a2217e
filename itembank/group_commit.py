"""Group commit: writes queued by many requests, committed together by one writer thread.

A commit is durable when the database has flushed it to disk: SQLite (``synchronous=FULL``)
and PostgreSQL each wait for an ``fsync`` per commit, and SQLite holds its one writer lock
while it waits. One commit per answer makes that wait the ceiling of a server's answers per
second, and — when the commit runs on the event loop — a pause of every other request. Here a
writer thread takes what was queued while it was busy (up to ``max_batch`` writes) and commits
it in one transaction: one wait for many writes. Each caller's future resolves only after that
commit, so an acknowledgement still follows only what is stored (docs/design.md §3a).

A write the batch did not take (the batch statement returned ``None`` for it: its row was in
conflict and skipped) or a batch that failed is done again on its own, after the commit, by the
``one`` callable, whose result or error is the caller's. Nothing half-done is acknowledged: a
batch that fails is rolled back whole before its writes are retried one by one.

The thread starts with the first write and ends on :meth:`GroupCommit.close` (or with the
process: it is a daemon, and an unresolved future then means an unacknowledged write).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

__all__ = ["GroupCommit"]

W = TypeVar("W")
R = TypeVar("R")


class GroupCommit(Generic[W, R]):
    """A writer thread committing queued writes in batches.

    Parameters
    ----------
    batch : callable
        ``batch(writes) -> results``: writes them in one transaction and commits; a result of
        ``None`` leaves that write to ``one``. It raises when the transaction failed (after
        rolling it back).
    one : callable
        ``one(write) -> result``: the write on its own (its own transaction, its own errors).
    max_batch : int
        The most writes committed together.
    name : str
        The thread's name.
    shared_failure : callable, optional
        ``shared_failure(error) -> bool``: True for a batch's error that every write would meet
        alone as well (the database unavailable): then no write is retried on its own, and each
        caller gets that error at once instead of after a retry's own wait.
    """

    def __init__(self, batch: Callable[[Sequence[W]], Sequence[R | None]],
                 one: Callable[[W], R], *, max_batch: int = 64,
                 name: str = "qabilet-group-commit",
                 shared_failure: Callable[[BaseException], bool] | None = None) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch: expected 1 or more; got {max_batch}")
        self._batch, self._one, self.max_batch, self._name = batch, one, max_batch, name
        self._shared_failure = shared_failure
        self._queue: queue.SimpleQueue[tuple[W, Future[R]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()
        self._closed = False
        #: (batches, writes) committed: what a test or a benchmark reads to see the grouping
        self.committed = (0, 0)

    def submit(self, write: W) -> Future[R]:
        """Queue a write; its future resolves once it is committed (or fails with its error)."""
        future: Future[R] = Future()
        with self._start:
            if self._closed:
                raise RuntimeError("the writer is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
        self._queue.put((write, future))
        return future

    def close(self, timeout: float = 30.0) -> None:
        """Commit what is queued, then stop the thread."""
        with self._start:
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            taken = [first]
            stop = False
            while len(taken) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                taken.append(more)
            self._commit(taken)
            if stop:
                return

    def _commit(self, taken: list[tuple[W, Future[R]]]) -> None:
        writes = [w for w, _ in taken]
        try:
            results: Sequence[R | None] = self._batch(writes)
        except Exception as exc:  # noqa: BLE001 - rolled back; each write is tried on its own below
            if self._shared_failure is not None and self._shared_failure(exc):
                for _, future in taken:
                    if future.set_running_or_notify_cancel():
                        future.set_exception(exc)
                return
            results = [None] * len(writes)
        else:
            batches, total = self.committed
            self.committed = (batches + 1, total + sum(r is not None for r in results))
        for (write, future), result in zip(taken, results, strict=True):
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(result if result is not None else self._one(write))
            except BaseException as exc:  # noqa: BLE001 - the caller's error, raised at its await
                future.set_exception(exc)
