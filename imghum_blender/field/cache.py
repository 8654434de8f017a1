"""Per-model caches, each owned by the module that uses it (weakly keyed: dropped with the model)."""
from __future__ import annotations

import functools
import threading
import weakref
from typing import TYPE_CHECKING, Callable, TypeVar

if TYPE_CHECKING:
    from .model import Model

T = TypeVar("T")


def per_model(build: Callable[[Model], T]) -> Callable[[Model], T]:
    """Decorator: ``build(model)`` runs once per model object (thread-safe lookup). The value must
    not refer to the model, or the model would never be freed."""
    values: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
    lock = threading.Lock()

    @functools.wraps(build)
    def cached(model: Model) -> T:
        with lock:
            if model in values:
                return values[model]
        value = build(model)
        with lock:
            return values.setdefault(model, value)

    return cached
