"""Background evaluator: one worker thread owns the model and runs jobs; latest request wins per key.

Jobs are callables ``job(model, progress) -> result`` that only compute (numpy / torch). Results
are collected by the caller's thread with :meth:`Evaluator.poll` (UI timer) or
:meth:`Evaluator.drain` (headless code and tests, where no timer ever fires). A newer request for a
key supersedes a pending one, and a running one is marked cancelled and its result discarded.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

log = logging.getLogger("imghum")


class Cancelled(Exception):
    """Raised inside a job (via ``progress``) when its request was cancelled or superseded."""


@dataclass
class Outcome:
    """A finished job: its key and sequence number, and either a result or an error message."""

    key: str
    seq: int
    result: Any = None
    error: str | None = None


@dataclass
class _Job:
    key: str
    seq: int
    fn: Callable
    cancelled: threading.Event = field(default_factory=threading.Event)
    progress: float = 0.0


class Evaluator:
    """Runs jobs on one daemon thread; ``load_model`` is called there once, on first use."""

    def __init__(self, load_model: Callable[[], Any], name: str = "imghum-evaluator"):
        self._load_model = load_model
        self._model = None
        self._cv = threading.Condition()
        self._pending: dict[str, _Job] = {}
        self._running: _Job | None = None
        self._done: list[Outcome] = []
        self._seq = 0
        self._latest: dict[str, int] = {}
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, key: str, fn: Callable) -> int:
        """Queue ``fn`` for ``key`` (replacing a pending one, cancelling a running one); returns its seq."""
        with self._cv:
            if self._stop:
                raise RuntimeError("the evaluator is stopped")
            self._seq += 1
            self._latest[key] = self._seq
            old = self._pending.pop(key, None)
            if old:
                old.cancelled.set()
            if self._running and self._running.key == key:
                self._running.cancelled.set()
            self._pending[key] = _Job(key, self._seq, fn)
            self._cv.notify_all()
            return self._seq

    def cancel(self, key: str) -> bool:
        """Drop the pending and stop the running job of ``key``; True if there was one."""
        with self._cv:
            job = self._pending.pop(key, None)
            hit = job is not None
            if self._running and self._running.key == key:
                self._running.cancelled.set()
                hit = True
            self._latest[key] = self._seq = self._seq + 1
            self._cv.notify_all()
            return hit

    def busy(self, key: str | None = None) -> bool:
        """Whether work is pending or running (for ``key``, or at all)."""
        with self._cv:
            if key is None:
                return bool(self._pending) or self._running is not None
            return key in self._pending or (self._running is not None and self._running.key == key)

    def progress(self, key: str) -> float | None:
        """Progress in [0, 1] of the running job of ``key`` (None when it is not running)."""
        with self._cv:
            return self._running.progress if self._running and self._running.key == key else None

    def poll(self) -> list[Outcome]:
        """Finished, still-current outcomes (superseded ones are dropped), oldest first."""
        with self._cv:
            done, self._done = self._done, []
            return [o for o in done if self._latest.get(o.key) == o.seq]

    def drain(self, timeout: float | None = None) -> list[Outcome]:
        """Wait until no work is pending or running, then :meth:`poll`."""
        end = None if timeout is None else time.monotonic() + timeout
        with self._cv:
            while self._pending or self._running is not None:
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError("the evaluator is still busy")
                self._cv.wait(left)
        return self.poll()

    def stop(self, timeout: float = 30.0) -> None:
        """Cancel everything and join the thread."""
        with self._cv:
            self._stop = True
            for job in self._pending.values():
                job.cancelled.set()
            self._pending.clear()
            if self._running:
                self._running.cancelled.set()
            self._cv.notify_all()
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        """Whether the worker thread runs."""
        return self._thread.is_alive()

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._pending and not self._stop:
                    self._cv.wait()
                if self._stop:
                    return
                key = next(iter(self._pending))
                job = self._running = self._pending.pop(key)
            outcome = Outcome(job.key, job.seq)
            try:
                if self._model is None:
                    self._model = self._load_model()

                def progress(fraction: float) -> None:
                    job.progress = fraction
                    if job.cancelled.is_set():
                        raise Cancelled()

                outcome.result = job.fn(self._model, progress)
            except Cancelled:
                outcome = None
            except (ValueError, OSError) as exc:  # bad input: its message is for the user
                outcome.error = str(exc)
            except Exception as exc:  # a bug: reported to the UI with its traceback logged, never raised here
                log.exception("evaluator job %r failed", job.key)
                outcome.error = f"{type(exc).__name__}: {exc}"
            with self._cv:
                if outcome is not None and not job.cancelled.is_set():
                    self._done.append(outcome)
                self._running = None
                self._cv.notify_all()
