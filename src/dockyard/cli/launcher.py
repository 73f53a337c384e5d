"""Write the fast ``dockyard`` launcher: ``python -m dockyard.cli.launcher PATH [MODULE]``.

pip's console script for ``dockyard`` works, but it runs the interpreter with the site
scan (every ``.pth`` of the venv, ~30 ms here) and imports ``re`` before ``main`` even
starts: more than half of the 80 ms budget of ``dockyard ps``. The launcher written here
runs ``python -I -S`` instead (no site, no environment, no script directory on
``sys.path``) and puts on ``sys.path`` only what ``dockyard`` needs: the directory that
holds the ``dockyard`` package (the source tree for an editable install) first, the
venv's site-packages last (for the commands that need third-party packages, such as
``dockyard registry``; its ``.pth`` files are not run). ``scripts/bootstrap.sh`` writes it
over pip's script after ``pip install``.

The same launcher serves ``dockyard-runtime`` (``MODULE`` = ``dockyard.runtime.cli``): an
OCI runtime binary starts a fresh process per container operation, and its start-up time
is a goal of its own (no slower than ``runc run``).
"""

from __future__ import annotations

import os
import sys
import sysconfig

TEMPLATE = '''#!{python} -IS
# The {name} launcher, written by `python -m dockyard.cli.launcher` (see
# scripts/bootstrap.sh): no site scan, so the command starts in a few milliseconds.
import sys
{prelude}sys.path[:0] = [{package_root!r}]
sys.path.append({purelib!r})
from {module} import {function}
sys.exit({function}())
'''

# dockyard-runtime: a cyclic garbage collection every 700 allocations would run a dozen
# times while its modules load and a container starts (~5 ms, for no garbage: the
# process is short-lived, or waits); a collection every 100000 still bounds the garbage
# of a long ``run`` that relays a terminal.
_RUNTIME_PRELUDE = """import gc
gc.set_threshold(100_000)
"""

# The modules a launcher may run (pyproject's [project.scripts] entries): the command's
# name, the function to call (the runtime's ``run`` is ``main`` without the interpreter's
# teardown) and what to do before importing it.
MODULES = {"dockyard.cli.main": ("dockyard CLI", "main", ""),
           "dockyard.runtime.cli": ("dockyard-runtime", "run", _RUNTIME_PRELUDE)}
DEFAULT_MODULE = "dockyard.cli.main"


def launcher_text(python: str | None = None, module: str = DEFAULT_MODULE) -> str:
    """The launcher's source for the running interpreter and ``dockyard`` package."""
    import dockyard

    if module not in MODULES:
        raise ValueError(f"no launcher for {module!r}: one of {', '.join(MODULES)}")
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(dockyard.__file__)))
    return TEMPLATE.format(python=python or sys.executable, package_root=package_root,
                           purelib=sysconfig.get_paths()["purelib"], module=module,
                           name=MODULES[module][0], function=MODULES[module][1],
                           prelude=MODULES[module][2])


def install(path: str, python: str | None = None, module: str = DEFAULT_MODULE) -> None:
    """Write the launcher of ``module``'s ``main`` at ``path`` (atomically, mode 0755)."""
    text = launcher_text(python, module)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not 1 <= len(args) <= 2 or args[0].startswith("-") or (
            len(args) == 2 and args[1] not in MODULES):
        sys.stderr.write("usage: python -m dockyard.cli.launcher PATH [MODULE]\n"
                         f"  MODULE: one of {', '.join(MODULES)} (default {DEFAULT_MODULE})\n")
        return 2
    install(args[0], module=args[1] if len(args) == 2 else DEFAULT_MODULE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
