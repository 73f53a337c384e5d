"""Write the fast ``dockyard`` launcher: ``python -m dockyard.cli.launcher PATH``.

pip's console script for ``dockyard`` works, but it runs the interpreter with the site
scan (every ``.pth`` of the venv, ~30 ms here) and imports ``re`` before ``main`` even
starts: more than half of the 80 ms budget of ``dockyard ps``. The launcher written here
runs ``python -I -S`` instead (no site, no environment, no script directory on
``sys.path``) and puts on ``sys.path`` only what ``dockyard`` needs: the directory that
holds the ``dockyard`` package (the source tree for an editable install) first, the
venv's site-packages last (for the commands that need third-party packages, such as
``dockyard registry``; its ``.pth`` files are not run). ``scripts/bootstrap.sh`` writes it
over pip's script after ``pip install``.
"""

from __future__ import annotations

import os
import sys
import sysconfig

TEMPLATE = '''#!{python} -IS
# The dockyard CLI launcher, written by `python -m dockyard.cli.launcher` (see
# scripts/bootstrap.sh): no site scan, so `dockyard ps` starts in a few milliseconds.
import sys
sys.path[:0] = [{package_root!r}]
sys.path.append({purelib!r})
from dockyard.cli.main import main
sys.exit(main())
'''


def launcher_text(python: str | None = None) -> str:
    """The launcher's source for the running interpreter and ``dockyard`` package."""
    import dockyard

    package_root = os.path.dirname(os.path.dirname(os.path.abspath(dockyard.__file__)))
    return TEMPLATE.format(python=python or sys.executable, package_root=package_root,
                           purelib=sysconfig.get_paths()["purelib"])


def install(path: str, python: str | None = None) -> None:
    """Write the launcher at ``path`` (atomically, mode 0755)."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(launcher_text(python))
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0].startswith("-"):
        sys.stderr.write("usage: python -m dockyard.cli.launcher PATH\n")
        return 2
    install(args[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
