"""Run the batch renderer inside a Blender executable:

    blender -b -P scripts/batch_in_blender.py -- SPEC.toml --out DIR [--resume] [--shard K/N]

Uses this checkout's ``imghum_blender`` (and enables this checkout as the add-on unless an
installed imGHUM extension is enabled). This Blender is the host: its user folder is used as it
is, and the checkout's temporary extension repository is removed again at the end (preferences are
never saved). Blender's Python needs torch, scikit-image and scipy: install the self-contained
extension zip (``scripts/build_extension.py --wheels``) first.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from imghum_blender.batch.__main__ import main  # noqa: E402

sys.exit(main())
