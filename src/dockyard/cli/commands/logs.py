"""``logs``: ``GET /containers/{id}/logs`` copied to stdout and stderr.

The response says how it is framed (``multiplexed-stream`` without a TTY, raw with
one), so no inspect is needed first; ``--since``/``--until`` take what the docker CLI
takes (:mod:`dockyard.cli.timestamps`).
"""

from __future__ import annotations

from dockyard.cli.args import BOOL, STRING, Flag, Spec
from dockyard.cli.commands.containers import cpath
from dockyard.cli.commands.interactive import write_all
from dockyard.cli.context import PROG, Context, StatusError

LOGS = Spec(f"{PROG} logs", f"{PROG} logs [OPTIONS] CONTAINER",
            "Fetch the logs of a container", [
                Flag("details", BOOL, "Show extra details provided to logs"),
                Flag("follow", BOOL, "Follow log output", short="f"),
                Flag("since", STRING, "Show logs since timestamp (e.g. "
                     '"2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)'),
                Flag("tail", STRING, 'Number of lines to show from the end of the logs',
                     short="n", default="all"),
                Flag("timestamps", BOOL, "Show timestamps", short="t"),
                Flag("until", STRING, "Show logs before a timestamp (e.g. "
                     '"2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)'),
            ], min_args=1, max_args=1, aliases=[f"{PROG} container logs", f"{PROG} logs"])


def logs(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(LOGS, argv)
    from dockyard.cli.timestamps import api_timestamp

    query: dict[str, str | bool] = {"stdout": True, "stderr": True}
    for name in ("since", "until"):
        if opts.text(name):
            try:
                query[name] = api_timestamp(opts.text(name))
            except ValueError as exc:
                raise StatusError(f'invalid value for "{name}": {exc}', 1) from None
    if opts.flag("timestamps"):
        query["timestamps"] = True
    if opts.flag("follow"):
        query["follow"] = True
    if opts.flag("details"):
        query["details"] = True
    query["tail"] = opts.text("tail", "all")
    resp = ctx.client().get(cpath(opts.args[0], "logs"), query)
    out = ctx.out_bytes.fileno()
    err = ctx.err_bytes.fileno()
    with resp:
        for stream, payload in resp.iter_frames():
            write_all(err if stream == 2 else out, payload)
    return 0
