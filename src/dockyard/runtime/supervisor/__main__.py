"""``python -m dockyard.runtime.supervisor --state DIR``: start the supervisor of DIR.

Prints ``ready <pid>`` and exits 0 once the supervisor (detached, in its own session)
accepts connections; exits :data:`~dockyard.runtime.supervisor.startup.EXIT_ALREADY_RUNNING`
when another supervisor holds DIR, 1 on any other failure, with the reason on stderr.
``--foreground`` serves in this process instead (for a service manager, or debugging).
"""

from __future__ import annotations

import argparse
import os
import sys

from dockyard import errors
from dockyard.runtime.supervisor.records import StateDir
from dockyard.runtime.supervisor.startup import (
    DEFAULT_SPARES,
    EXIT_ALREADY_RUNNING,
    acquire_lock,
    daemonize,
    serve,
    setup_logging,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dockyard.runtime.supervisor",
                                     description="the parent of dockyard's containers")
    parser.add_argument("--state", required=True, help="state directory (one supervisor each)")
    parser.add_argument("--foreground", action="store_true", help="do not detach")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")
    parser.add_argument("--spares", type=int, default=DEFAULT_SPARES,
                        help="pre-forked spares per cgroup parent for the in-process runtime "
                             f"(default {DEFAULT_SPARES}; 0 disables)")
    ns = parser.parse_args(argv)
    try:
        state = StateDir(os.path.abspath(ns.state))
        state.prepare()
        acquire_lock(state)  # held until this process and its forks are all gone
    except errors.AlreadyExists as exc:
        sys.stderr.write(f"supervisor: {exc}\n")
        return EXIT_ALREADY_RUNNING
    except (errors.DockyardError, OSError) as exc:
        sys.stderr.write(f"supervisor: {exc}\n")
        return 1
    if ns.foreground:
        setup_logging(ns.log_level)

        def ready(pid: int) -> None:
            sys.stdout.write(f"ready {pid}\n")
            sys.stdout.flush()

        return serve(state, ready, ns.spares)
    return daemonize(state, ns.log_level, ns.spares)


if __name__ == "__main__":
    sys.exit(main())
