"""Group commit: writes that arrive together share one transaction, so one fsync acknowledges many.

Each verification ends with a durable write (the questioned sample, the outcome and its
log entry). Committing them one by one makes every request wait for its own fsync while
holding the log's lock, which caps throughput far below what the CPUs can score. Here
request threads hand their write to one writer thread, which runs everything queued so
far in a single transaction and answers each request only after that commit returned:
an acknowledged write is as durable as before.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

T = TypeVar("T")
Job = Callable[[Session, Any], Any]

#: Largest number of writes in one transaction (bounds the time a batch holds the write lock).
MAX_BATCH = 64
#: A batch that loses a log index to another process is retried this often before giving up.
RETRIES = 20


class GroupCommitter:
    """Run write jobs from many threads in shared transactions on one writer thread."""

    def __init__(self, transaction: Callable[[], AbstractContextManager[tuple[Session, Any]]],
                 max_batch: int = MAX_BATCH) -> None:
        self._transaction = transaction
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[Job, Future[Any]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.batches = 0
        self.jobs = 0

    def submit(self, job: Callable[[Session, Any], T]) -> T:
        """Run ``job(session, append)`` in the next shared transaction; return its result once committed."""
        future: Future[Any] = Future()
        self._queue.put((job, future))
        self._ensure_writer()
        return future.result()

    def _ensure_writer(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="inkwitness-group-commit", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self._max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._commit(batch)
            except BaseException as exc:  # the writer thread must survive anything a job raises
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)

    def _commit(self, batch: list[tuple[Job, Future[Any]]]) -> None:
        try:
            results = self._run(batch)
        except Exception:
            if len(batch) == 1:
                raise
            # One job failed and took the shared transaction with it: give every job its own
            # transaction so that only the faulty one reports an error.
            for item in batch:
                try:
                    item[1].set_result(self._run([item])[0])
                except Exception as exc:
                    item[1].set_exception(exc)
            return
        self.batches += 1
        self.jobs += len(batch)
        for (_, future), result in zip(batch, results, strict=True):
            future.set_result(result)

    def _run(self, batch: list[tuple[Job, Future[Any]]]) -> list[Any]:
        for attempt in range(RETRIES):
            try:
                with self._transaction() as (session, append):
                    return [job(session, append) for job, _ in batch]
            except IntegrityError:
                # Another process took the next log index first; the transaction was rolled back.
                if attempt == RETRIES - 1:
                    raise
        raise AssertionError("unreachable")
