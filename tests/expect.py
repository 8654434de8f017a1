"""Readable comparisons for what the Blender-side scripts report: a failure names what was expected
and what came back (the missing and the unexpected items of lists, sets and dicts), not ``assert False``.

(Importable from the test modules: tests/conftest.py puts this folder on ``sys.path``.)"""
from collections.abc import Mapping


def same(got, expected, what: str) -> None:
    """``got == expected``, or an AssertionError saying ``what`` differs and how."""
    if got == expected:
        return
    raise AssertionError(f"{what}: {difference(got, expected)}")


def includes(got, wanted, what: str) -> None:
    """Every item of ``wanted`` is in ``got`` (a list, set or dict's keys), or an AssertionError
    naming the missing items and what ``got`` holds."""
    missing = [x for x in _items(wanted) if x not in got]
    if missing:
        raise AssertionError(f"{what}: missing {missing!r}; got {_items(got)!r}")


def difference(got, expected) -> str:
    """What ``got`` lacks, has extra or has otherwise, compared with ``expected``."""
    if isinstance(got, Mapping) and isinstance(expected, Mapping):
        parts = []
        missing = {k: expected[k] for k in expected if k not in got}
        unexpected = {k: got[k] for k in got if k not in expected}
        changed = {k: {"expected": expected[k], "got": got[k]} for k in expected if k in got and got[k] != expected[k]}
        for name, part in (("missing", missing), ("unexpected", unexpected), ("differing", changed)):
            if part:
                parts.append(f"{name} {part!r}")
        return "; ".join(parts)
    collections = (list, tuple, set, frozenset)
    if isinstance(got, collections) and isinstance(expected, collections):
        missing = [x for x in _items(expected) if x not in got]
        unexpected = [x for x in _items(got) if x not in expected]
        if missing or unexpected:
            return f"missing {missing!r}, unexpected {unexpected!r} ({len(expected)} expected, {len(got)} got)"
        return f"the same items in another order or number: expected {list(expected)!r}, got {list(got)!r}"
    return f"expected {expected!r}, got {got!r}"


def _items(values) -> list:
    """A list of ``values`` (sets sorted, so that messages are stable)."""
    if isinstance(values, (set, frozenset)):
        return sorted(values, key=repr)
    return list(values)
