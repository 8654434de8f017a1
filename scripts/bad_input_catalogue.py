"""Replay the bad-input catalogue (API, bundle, CLI, batch renderer, add-on) and print a table.

    python scripts/bad_input_catalogue.py [--area api|bundle|cli|batch|addon] [--json FILE]

Every case must end in a clear message or a checked correct result; the exit status is 1 when
any case ends in a traceback, a hang or a silent wrong result.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bad_inputs import SECTIONS  # noqa: E402
from bad_inputs.catalogue import run_case  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--area", choices=sorted(SECTIONS), action="append", help="only these areas")
    parser.add_argument("--json", help="also write the table as JSON here")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="imghum-catalogue-") as tmp:
        for area in args.area or SECTIONS:
            for case in SECTIONS[area](Path(tmp)):
                outcome = run_case(case)
                rows.append({"area": case.area, "case": case.name, "status": outcome.status,
                             "detail": outcome.detail.strip().splitlines()[0][:160] if outcome.detail.strip() else ""})
                print(f"{case.area:7} {outcome.status:8} {case.name:48} {rows[-1]['detail']}", flush=True)
    failed = [r for r in rows if r["status"] == "FAIL"]
    print(f"\n{len(rows)} cases: {sum(r['status'] == 'message' for r in rows)} clear messages, "
          f"{sum(r['status'] == 'ok' for r in rows)} correct results, {len(failed)} failures")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
