"""JSON and TOML parsing for files people bring: every way a document can be unreadable is the
parser's own decode error (``json.JSONDecodeError`` / ``tomllib.TOMLDecodeError``, both
``ValueError``), never ``RecursionError`` (``[`` nested 200,000 deep) or the integer-size
``ValueError`` (a 5,000-digit number), so a reader's ``except`` clause reports them all. No bpy.
"""
from __future__ import annotations

import json
import tomllib
from typing import Any

#: What is wrong with a document nested beyond the parser's recursion limit.
TOO_DEEP = "its arrays or objects are nested too deeply to read (a real file nests a few levels)"
#: What is wrong with a document holding a number beyond Python's integer-string limit.
TOO_LONG = "it holds a number with too many digits to read"


class JSONUnreadable(json.JSONDecodeError):
    """A JSON document the parser cannot follow (its message has no position: the fault is the whole)."""

    def __str__(self) -> str:
        return self.msg


def json_loads(text: str | bytes) -> Any:
    """``json.loads(text)``; a document too deep or holding a number too long to read raises a
    ``json.JSONDecodeError`` saying so."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError):  # bytes that are not UTF-8: the caller says so
        raise
    except RecursionError:
        reason = TOO_DEEP
    except ValueError:  # "Exceeds the limit (4300 digits) for integer string conversion"
        reason = TOO_LONG
    raise JSONUnreadable(reason, text if isinstance(text, str) else "", 0) from None


def toml_loads(text: str) -> dict[str, Any]:
    """``tomllib.loads(text)``; a document too deep or holding a number too long to read raises a
    ``tomllib.TOMLDecodeError`` saying so."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        raise
    except RecursionError:
        reason = TOO_DEEP
    except ValueError:
        reason = TOO_LONG
    raise tomllib.TOMLDecodeError(reason) from None
