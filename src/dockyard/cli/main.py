"""``dockyard``: the entry point and its command table.

Each command group is imported only when it runs, so ``dockyard <cmd>`` pays for its own
imports and nothing else (the CLI's start-up time is a goal). Today the table holds the
registry (``dockyard registry serve|gc|htpasswd``); Docker's container, image and system
commands join it with issue 6.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

USAGE = """usage: dockyard COMMAND [ARGS...]

commands:
  registry serve|gc|htpasswd   the OCI Distribution registry (see: dockyard registry --help)

The container commands (run, ps, images, ...) are served by dockyardd: use the docker CLI
with DOCKER_HOST=unix:///run/dockyard.sock until dockyard's own land.
"""


def _registry(argv: Sequence[str]) -> int:
    from dockyard.registry.cli import main

    return main(argv)


COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "registry": _registry,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return 0 if args else 2
    command = COMMANDS.get(args[0])
    if command is None:
        sys.stderr.write(f"dockyard: unknown command {args[0]!r}\n\n{USAGE}")
        return 2
    return command(args[1:])


if __name__ == "__main__":
    sys.exit(main())
