"""Checkers for hand-written documents (batch specs, presets, joint maps): each takes ``where`` the
value sits (a path such as ``bodies[0].pose``), returns the value when it is allowed and otherwise
raises :class:`ValidationError` whose message starts with ``where`` and says what is allowed.

A module raising its own error type (``SpecError``, ``PresetError``, ...) subclasses
:class:`ValidationError` and wraps its entry points in :func:`errors_as`. No bpy, torch or numpy.
"""
from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class ValidationError(ValueError):
    """A value that is not allowed where it is; the message starts with that place."""


class Bounds(Protocol):
    """A default and inclusive bounds (e.g. a vocabulary ``Range``)."""

    default: float
    lo: float
    hi: float


@contextmanager
def errors_as(error: type[ValidationError]) -> Iterator[None]:
    """Re-raise the checkers' errors as ``error`` (a subclass), so callers catch one type per module.
    Also a decorator."""
    try:
        yield
    except error:
        raise
    except ValidationError as exc:
        raise error(str(exc)) from None


def _at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _what(v: Any) -> str:
    if isinstance(v, list):
        return f"a list of {len(v)}" if v else "an empty list"
    return f"{type(v).__name__} {v!r}"


def did_you_mean(name: str, options: Collection[str]) -> str:
    """' (did you mean X?)' for the option closest to ``name``, or '' when none is close."""
    close = difflib.get_close_matches(str(name), list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def number(where: str, v: Any, lo: float = -math.inf, hi: float = math.inf, integer: bool = False) -> float:
    """A finite number (an int with ``integer``) in ``[lo, hi]``, as float (int)."""
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(v, bool) or not isinstance(v, kind):
        raise ValidationError(f"{where}: expected {'an integer' if integer else 'a number'}, got {_what(v)}")
    if not (lo <= v <= hi and -math.inf < v < math.inf):  # NaN fails too
        raise ValidationError(f"{where}: {v!r} is outside [{lo:g}, {hi:g}]")
    return int(v) if integer else float(v)


def ranged(where: str, d: dict, key: str, bounds: Bounds, integer: bool = False) -> float:
    """``d[key]`` (at ``where.key``) within ``bounds``, or their default when absent."""
    return number(_at(where, key), d.get(key, bounds.default), bounds.lo, bounds.hi, integer)


def choice(where: str, v: Any, options: Collection[str]) -> str:
    """One of ``options``."""
    if not isinstance(v, str) or v not in options:
        hint = did_you_mean(v, options) if isinstance(v, str) else ""
        raise ValidationError(f"{where}: {v!r} is not one of {', '.join(map(repr, options))}{hint}")
    return v


def flag(where: str, v: Any) -> bool:
    """``true`` or ``false``."""
    if not isinstance(v, bool):
        raise ValidationError(f"{where}: expected true or false, got {v!r}")
    return v


def vector(where: str, v: Any, n: int, lo: float = -math.inf, hi: float = math.inf,
           integer: bool = False) -> list[float]:
    """A list of ``n`` numbers, each checked as by :func:`number` (at ``where[i]``)."""
    if not isinstance(v, list) or len(v) != n:
        raise ValidationError(f"{where}: expected a list of {n} numbers, got {_what(v)}")
    return [number(f"{where}[{i}]", x, lo, hi, integer) for i, x in enumerate(v)]


def required(where: str, d: dict, key: str, note: str = "") -> Any:
    """``d[key]``; an error naming ``where.key`` (and ``note``: what it takes) when absent."""
    if key not in d:
        raise ValidationError(f"{_at(where, key)}: required{f' {note}' if note else ''}")
    return d[key]


def table(where: str, v: Any, allowed: Collection[str], *, kind: str = "a table") -> dict:
    """A table (``kind`` names it as its format does: a TOML table, a JSON object) with only the
    ``allowed`` fields."""
    if not isinstance(v, dict):
        raise ValidationError(f"{where}: expected {kind}, got {type(v).__name__}")
    unknown = [k for k in v if k not in allowed]
    if unknown:
        raise ValidationError(f"{where}: unknown field {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")
    return v


def model_names(where: str, v: Any, names: Collection[str], what: str, *, kind: str = "a table") -> dict:
    """A table keyed by ``names`` the model has (``what`` each is: ``"bone"``, ``"phenotype"``)."""
    if not isinstance(v, dict):
        raise ValidationError(f"{where}: expected {kind}, got {type(v).__name__}")
    unknown = [k for k in v if k not in names]
    if len(unknown) == 1:
        raise ValidationError(f"{where}: this model has no {what} {unknown[0]!r}{did_you_mean(unknown[0], names)}")
    if unknown:
        more = f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
        raise ValidationError(f"{where}: this model has no {what}s {', '.join(map(repr, unknown[:3]))}{more}")
    return v


def named_values(where: str, v: Any, names: Collection[str], what: str, lo: float, hi: float, *,
                 kind: str = "a table") -> dict[str, float]:
    """A table of numbers in ``[lo, hi]`` keyed by ``names`` the model has (see :func:`model_names`)."""
    d = model_names(where, v, names, what, kind=f"{kind} of {what} values")
    return {k: number(f"{where}.{k}", x, lo, hi) for k, x in d.items()}


def list_of(where: str, v: Any, item: Callable[[str, Any], T], what: str = "tables",
            nonempty: bool = False) -> list[T]:
    """A list (``nonempty``: of at least one) of ``what``, each checked by ``item(where[i], value)``."""
    if not isinstance(v, list) or (nonempty and not v):
        raise ValidationError(f"{where}: expected a {'non-empty ' if nonempty else ''}list of {what}, got {_what(v)}")
    return [item(f"{where}[{i}]", x) for i, x in enumerate(v)]


def existing_path(where: str, v: Any, base_dir: Path, what: str, kind: str = "file") -> Path:
    """The resolved path of an existing file (``kind="folder"``: folder) named relative to ``base_dir``
    (``what``: what it should hold, for the message)."""
    if not isinstance(v, str) or not v or "\0" in v:
        raise ValidationError(f"{where}: expected the path of {what}, got {v!r}")
    found = (base_dir / v).resolve()
    if not (found.is_dir() if kind == "folder" else found.is_file()):
        raise ValidationError(f"{where}: {found} does not exist or is not a {kind}")
    return found
