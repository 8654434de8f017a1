"""Cases of the bad-input catalogue and how each one is judged.

A case ends in one of: ``message`` (a clear, expected error: a domain exception in the API, exit
status 2 with a one-line ``error:`` message on the command line, an ERROR report in Blender),
``ok`` (the input is accepted and the result was checked as correct), or ``FAIL`` (a traceback,
a hang, a wrong exit status, or a result the check rejected).
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Outcome:
    """How one case ended: ``status`` is ``message``, ``ok`` or ``FAIL``; ``detail`` is what the user saw."""

    status: str
    detail: str


@dataclass
class Case:
    """One bad input: ``run`` returns its :class:`Outcome` (it may raise; that is judged a FAIL)."""

    area: str
    name: str
    run: Callable[[], Outcome]


def expect_error(fn: Callable[[], object], errors: tuple[type[BaseException], ...] = (ValueError,),
                 check: Callable[[object], str | None] | None = None) -> Outcome:
    """Call ``fn``: a raised ``errors`` is a clear message; any other exception a FAIL. When ``fn``
    returns, ``check(result)`` says what is wrong with the result (None: correct) — no check: FAIL."""
    try:
        result = fn()
    except errors as exc:
        return Outcome("message", f"{type(exc).__name__}: {exc}")
    if check is None:
        return Outcome("FAIL", f"accepted silently: {result!r:.120}")
    problem = check(result)
    return Outcome("FAIL", problem) if problem else Outcome("ok", "accepted, result checked")


def expect_exit(argv: list[str], code: int = 2, timeout: float = 300, env: dict | None = None) -> Outcome:
    """Run ``python argv`` in the repo root: exit ``code`` with an ``error:`` line and no traceback is a
    message (code 0: ok); anything else (traceback, other status, timeout) a FAIL."""
    try:
        proc = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired:
        return Outcome("FAIL", f"hung (> {timeout:g} s)")
    text = proc.stderr.strip() or proc.stdout.strip()
    last = text.splitlines()[-1] if text else ""
    if "Traceback (most recent call last)" in proc.stderr:
        return Outcome("FAIL", f"traceback, exit {proc.returncode}: {last}")
    if proc.returncode != code:
        return Outcome("FAIL", f"exit {proc.returncode} (expected {code}): {last}")
    errors = [ln for ln in text.splitlines() if ln.startswith("error:")]
    if code != 0 and not errors:
        return Outcome("FAIL", f"exit {code} without an 'error:' line: {last}")
    return Outcome("ok" if code == 0 else "message", f"exit {proc.returncode}: {errors[-1] if errors else last}")


def run_case(case: Case, timeout: float = 300) -> Outcome:
    """Run one case in a thread so a hang is reported instead of blocking the table."""
    box: list[Outcome] = []

    def target():
        try:
            box.append(case.run())
        except Exception as exc:  # the catalogue's job is to report these
            box.append(Outcome("FAIL", f"traceback: {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"))

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    return box[0] if box else Outcome("FAIL", f"hung (> {timeout:g} s)")
