"""Where the workplace's shared acceptance scripts are (``registry-interop.sh``, ...).

``DOCKYARD_ACCEPTANCE_DIR`` if it is set; else the first ``shared/acceptance`` directory
beside this checkout or one of its ancestors: the workplace keeps them in
``../shared/acceptance`` of the repository, and a clone made deeper (a CI run's) finds
them by walking up instead of missing them and skipping the tests that run them.

Not a test module: ``tests/conftest.py`` puts this directory on ``sys.path``.
"""

from __future__ import annotations

import os
from pathlib import Path

_HERE = Path(__file__).resolve()


def acceptance_script(name: str) -> Path:
    """The script ``name``; where it was looked for last if it is nowhere (the caller
    skips with that path in its reason)."""
    env = os.environ.get("DOCKYARD_ACCEPTANCE_DIR")
    if env:
        return Path(env) / name
    for parent in _HERE.parents:
        candidate = parent / "shared" / "acceptance" / name
        if candidate.is_file():
            return candidate
    return _HERE.parents[3] / "shared" / "acceptance" / name
