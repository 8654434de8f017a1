"""Thread policy of the interactive and batch runtime (add-on, CLI, batch renderer).

The model's per-point cost is a Python loop over small per-part networks, so torch's intra-op
thread pool buys nothing here (measured: 64³ / 128³ / 256³ meshes take the same time with 1 and 2
threads on the 2-core machine), while its barriers make every parallel op wait for the slowest
thread: beside a busy neighbour, a 64³ preview took 7-8 s instead of 0.13 s. The runtime therefore
runs torch with one intra-op and one inter-op thread; on a busy machine it then degrades like any
single-threaded process (at most to its fair share), and several batch shards use one core each.

``IMGHUM_THREADS=N`` overrides the count (e.g. for a machine where a bigger model gains from it).
Training keeps torch's defaults. See ``scripts/benchmark_threads.py`` for the measurements.
"""
from __future__ import annotations

import os

ENV = "IMGHUM_THREADS"


def runtime_threads() -> int:
    """Intra-op threads the runtime uses: ``IMGHUM_THREADS`` when set to a positive integer, else 1."""
    value = os.environ.get(ENV, "").strip()
    if value:
        try:
            n = int(value)
        except ValueError:
            raise ValueError(f"{ENV} must be a positive integer, got {value!r}") from None
        if n < 1:
            raise ValueError(f"{ENV} must be a positive integer, got {value!r}")
        return n
    return 1


def use_runtime_policy() -> int:
    """Apply the runtime's thread policy to torch (idempotent, any thread); returns the thread count.

    The intra-op count is per process and inherited by threads torch starts later; the inter-op
    pool can only be sized before its first use, so a late call leaves it as it is.
    """
    import torch

    n = runtime_threads()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(n)
    except RuntimeError:  # already started (or already set): sizing it is only possible once
        pass
    return n
