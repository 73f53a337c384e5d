"""``docker top``: the host's ``ps`` output, kept to the container's processes (moby's
``daemon/top_unix.go``).

The container's pids are read from its cgroup; ``ps`` runs with the user's arguments
(``-ef`` by default) and ``-q <pids>``, or without ``-q`` when ``ps`` refuses the
combination (``f`` and ``q`` exclude each other); the output is then filtered to the lines
whose PID column is one of the container's, keeping a thread line (``-`` as PID) after a
kept process line (``ps m``). The last column takes the rest of the line (commands have
spaces). Blocking; the service runs it in a worker thread.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Collection

from dockyard.daemon.containers.model import TopResult
from dockyard.errors import FailedPrecondition, Internal, InvalidArgument

DEFAULT_PS_ARGS = "-ef"
PS_TIMEOUT = 30.0
_PID_EQUALS = re.compile(r"\s+([^\s]*)=\s*(PID[^\s]*)")


def validate_ps_args(ps_args: str) -> None:
    """moby ``validatePSArgs``: only ``pid=PID...`` may rename a PID column."""
    for key, value in _PID_EQUALS.findall(ps_args):
        if key != "pid":
            raise InvalidArgument(f'specifying "{key}={value}" is not allowed')


def _fields(line: str) -> list[str]:
    """Split on ASCII whitespace only (moby's ``fieldsASCII``)."""
    return [f for f in re.split(r"[ \t\n\v\f\r]+", line) if f]


def parse_ps_output(output: str, pids: Collection[int]) -> TopResult:
    lines = output.split("\n")
    titles = _fields(lines[0]) if lines else []
    if "PID" not in titles:
        raise Internal("Couldn't find PID field in ps output")
    pid_index = titles.index("PID")
    processes: list[tuple[str, ...]] = []
    kept_previous = False
    for line in lines[1:]:
        if not line:
            continue
        fields = _fields(line)
        if len(fields) <= pid_index:
            continue
        if fields[pid_index] == "-":
            if kept_previous:
                processes.append(_fit(fields, len(titles)))
            continue
        try:
            pid = int(fields[pid_index])
        except ValueError:
            raise Internal(f"Unexpected pid '{fields[pid_index]}'") from None
        kept_previous = pid in pids
        if kept_previous:
            processes.append(_fit(fields, len(titles)))
    return TopResult(tuple(titles), tuple(processes))


def _fit(fields: list[str], columns: int) -> tuple[str, ...]:
    """As many fields as titles: the overhanging ones joined into the last (the command)."""
    return (*fields[:columns - 1], " ".join(fields[columns - 1:]))


def run_ps(ps_args: str, pids: Collection[int], ps: str = "ps") -> TopResult:
    args = (ps_args or DEFAULT_PS_ARGS).split(" ")
    pid_list = "-q" + ",".join(str(p) for p in sorted(pids))
    try:
        proc = subprocess.run([ps, *args, pid_list], capture_output=True, timeout=PS_TIMEOUT,
                              check=False)
        if proc.returncode != 0:
            # some ps options (such as f) cannot be used together with q: without it
            proc = subprocess.run([ps, *args], capture_output=True, timeout=PS_TIMEOUT,
                                  check=False)
    except FileNotFoundError:
        raise FailedPrecondition(f"Error running ps: {ps} is not installed") from None
    except subprocess.TimeoutExpired:
        raise Internal(f"Error running ps: no answer in {PS_TIMEOUT:.0f}s") from None
    if proc.returncode != 0:
        # ps's first line of complaint says why (bad arguments: the caller's error)
        first = proc.stderr.decode("utf-8", "replace").strip().split("\n", 1)[0]
        if first:
            raise InvalidArgument(first)
        raise Internal(f"ps: exit status {proc.returncode}")
    return parse_ps_output(proc.stdout.decode("utf-8", "replace"), frozenset(pids))
