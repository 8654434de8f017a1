"""Replay the bad-input catalogue (API, bundle, CLI, batch renderer, add-on) and print a table.

    python scripts/bad_input_catalogue.py [--area api|bundle|cli|batch|addon] [--case TEXT] [--field exact|neural]
                                          [--json FILE]

``--field`` picks the field backend every area uses (its models, ``mesh``/``fit`` commands, batch specs and
the add-on's preference; default: exact). Every case must end in a clear message or a checked correct result;
the exit status is 1 when any case ends in a traceback, a hang or a silent wrong result. ``--case`` replays only
the cases whose name holds one of its texts (an area's cases are still built, the add-on's all run in its session).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bad_inputs import SECTIONS  # noqa: E402
from imghum_blender.bundle.vocabulary import FIELD_BACKENDS  # noqa: E402
from bad_inputs.catalogue import run_case  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--area", choices=sorted(SECTIONS), action="append", help="only these areas")
    parser.add_argument("--case", action="append", metavar="TEXT", help="only the cases whose name holds TEXT")
    parser.add_argument("--field", choices=FIELD_BACKENDS, default=FIELD_BACKENDS[0],
                        help="the field backend every area uses (default: %(default)s)")
    parser.add_argument("--json", help="also write the table as JSON here")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="imghum-catalogue-") as tmp:
        for area in args.area or SECTIONS:
            for case in SECTIONS[area](Path(tmp), args.field):
                if args.case and not any(text in case.name for text in args.case):
                    continue
                outcome = run_case(case)
                rows.append({"area": case.area, "field": args.field, "case": case.name, "status": outcome.status,
                             "detail": outcome.detail.strip().splitlines()[0][:160] if outcome.detail.strip() else ""})
                print(f"{case.area:7} {outcome.status:8} {case.name:48} {rows[-1]['detail']}", flush=True)
    failed = [r for r in rows if r["status"] == "FAIL"]
    print(f"\n{args.field} field: {len(rows)} cases: {sum(r['status'] == 'message' for r in rows)} clear messages, "
          f"{sum(r['status'] == 'ok' for r in rows)} correct results, {len(failed)} failures")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
