"""Fresh training bodies while training runs: worker processes write new data chunks
(:func:`data.make_chunk`) into the run's ``stream`` folder, and the trainer takes the newest
``window`` of them in at each refresh. Chunks are numbered from :data:`FIRST_INDEX` on (so their
seeds never repeat the fixed data set's); a resumed run continues the numbering, and chunks that fell
out of the window are deleted (they can be made again from their index)."""
from __future__ import annotations

import multiprocessing as mp
import re
from pathlib import Path

from .data import make_chunk

FIRST_INDEX = 1_000_000
_CHUNK = re.compile(r"chunk_(\d+)\.npz")


class Stream:
    """Keeps ``workers`` chunks of ``chunk_bodies`` bodies (:data:`data.RECIPES` ``focus``) in the
    making; :meth:`poll` collects them."""

    def __init__(self, bundle: str, folder: Path, workers: int, chunk_bodies: int, seed: int, window: int,
                 focus: str = "body"):
        if workers < 1 or window < 1:
            raise ValueError(f"streaming needs at least one worker and a window of one chunk (got {workers}, {window})")
        self.bundle, self.folder, self.chunk_bodies, self.seed, self.window = bundle, folder, chunk_bodies, seed, window
        self.focus = focus
        folder.mkdir(parents=True, exist_ok=True)
        found = sorted((int(m[1]), p) for p in folder.iterdir() if (m := _CHUNK.fullmatch(p.name)))
        self.ready = [str(p) for _, p in found]
        self.next = max([i + 1 for i, _ in found], default=FIRST_INDEX)
        self.workers = workers
        self.pool = mp.get_context("spawn").Pool(workers)
        self.pending: list = []
        self._drop_old()
        self._fill()

    def _fill(self) -> None:
        while len(self.pending) < self.workers:
            job = (self.bundle, str(self.folder), self.next, self.chunk_bodies, self.seed, self.focus)
            self.pending.append(self.pool.apply_async(make_chunk, (job,)))
            self.next += 1

    def _drop_old(self) -> None:
        for path in self.ready[:-self.window]:
            Path(path).unlink(missing_ok=True)
        self.ready = self.ready[-self.window:]

    def poll(self) -> int:
        """Take in the chunks finished since the last poll (keeping the newest ``window``), start
        new ones; returns how many arrived. A failed chunk raises its worker's error."""
        done = [r for r in self.pending if r.ready()]
        self.pending = [r for r in self.pending if not r.ready()]
        self.ready.extend(r.get() for r in done)
        self._drop_old()
        self._fill()
        return len(done)

    def close(self) -> None:
        self.pool.terminate()
        self.pool.join()
