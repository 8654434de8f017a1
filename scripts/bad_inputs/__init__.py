"""Sections of the bad-input catalogue: area name -> ``cases(tmp: Path, field: str) -> list[Case]``,
``field`` being the field backend (``exact`` or ``neural``) the area's models, commands and specs use.

Each area lives in its own module (``api``, ``bundle``, ``cli``, ``batch``, ``addon``); a module
that is not written yet is skipped.
"""
import importlib

SECTIONS = {}
for _area in ("api", "bundle", "cli", "batch", "addon"):
    try:
        SECTIONS[_area] = importlib.import_module(f".{_area}", __name__).cases
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{_area}":
            raise
