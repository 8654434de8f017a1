"""Background evaluator: one worker thread runs jobs; latest request wins per key. The evaluator is
the one owner of the model: it loads it once, through a plain loader (:func:`bundle_loader`), on
whichever thread needs it first (the worker for a job, the caller's for :meth:`Evaluator.model`),
and both share that one copy.

Jobs are callables ``job(model, progress) -> result`` that only compute (numpy / torch). Results
are collected by the caller's thread with :meth:`Evaluator.poll` (the add-on's modal applier) or
:meth:`Evaluator.drain` (headless code and tests, where no event loop runs). A newer request for a
key supersedes a pending one, and a running one is marked cancelled and its result discarded.
``poll``, ``busy`` and ``drain`` take an optional key filter, so that different callers collect
only their own outcomes (the add-on's previews vs. a modal bake or fit).
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable

log = logging.getLogger("imghum")
#: Selects keys (``where`` arguments): None selects every key.
KeyFilter = Callable[[str], bool] | None


def bundle_loader(path: str, field: str = "exact") -> Callable[[], Any]:
    """A plain model loader for the bundle at ``path`` with the ``field`` backend:
    :func:`imghum_blender.field.model.load_model`, which applies the runtime thread policy
    (:func:`.threads.use_runtime_policy`; torch is imported when it is called, not here)."""
    return partial(_load_bundle, str(path), field)


def _load_bundle(path: str, field: str):
    from ..field.model import load_model

    return load_model(path, field=field)  # one torch thread unless IMGHUM_THREADS says otherwise


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
    """Runs jobs on one daemon thread. ``load_model`` (no arguments, e.g. :func:`bundle_loader`) is
    called once, by the first thread that needs the model; ``submitted`` counts the jobs submitted."""

    def __init__(self, load_model: Callable[[], Any], name: str = "imghum-evaluator"):
        self._load_model = load_model
        self._model = None
        self._model_lock = threading.Lock()
        self.submitted = 0
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
            self.submitted += 1
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

    def model(self):
        """The model, loaded once by whichever thread asks first (the others wait for it) and shared
        with the jobs. A failed load raises here (and is tried again on the next call)."""
        with self._model_lock:
            if self._model is None:
                self._model = self._load_model()
            return self._model

    @property
    def model_loaded(self) -> bool:
        """Whether the model is in memory."""
        return self._model is not None

    def busy(self, key: str | None = None, where: KeyFilter = None) -> bool:
        """Whether work is pending or running: for ``key``, for the keys ``where`` selects, or at all."""
        if key is not None:
            where = key.__eq__
        with self._cv:
            keys = [*self._pending] + ([self._running.key] if self._running is not None else [])
            return any(where is None or where(k) for k in keys)

    def progress(self, key: str) -> float | None:
        """Progress in [0, 1] of the running job of ``key`` (None when it is not running)."""
        with self._cv:
            return self._running.progress if self._running and self._running.key == key else None

    def poll(self, where: KeyFilter = None) -> list[Outcome]:
        """Finished, still-current outcomes of the keys ``where`` selects (default: all; superseded
        ones are dropped), oldest first; the other keys' outcomes stay for their own callers."""
        with self._cv:
            done = [o for o in self._done if where is None or where(o.key)]
            self._done = [o for o in self._done if not (where is None or where(o.key))]
            return [o for o in done if self._latest.get(o.key) == o.seq]

    def drain(self, timeout: float | None = None, where: KeyFilter = None) -> list[Outcome]:
        """Wait until no work of the keys ``where`` selects (default: any) is pending or running,
        then :meth:`poll` them."""
        end = None if timeout is None else time.monotonic() + timeout
        with self._cv:
            while self.busy(where=where):
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError("the evaluator is still busy")
                self._cv.wait(left)
        return self.poll(where)

    def stop(self, timeout: float = 30.0) -> None:
        """Cancel everything, join the thread and drop the model."""
        with self._cv:
            self._stop = True
            for job in self._pending.values():
                job.cancelled.set()
            self._pending.clear()
            if self._running:
                self._running.cancelled.set()
            self._cv.notify_all()
        self._thread.join(timeout)
        self._model = None  # (not under the load lock: a load still running must not block this)

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
                model = self.model()

                def progress(fraction: float) -> None:
                    job.progress = fraction
                    if job.cancelled.is_set():
                        raise Cancelled()

                outcome.result = job.fn(model, progress)
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
