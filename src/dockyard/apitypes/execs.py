"""Execs as Docker's JSON: the ``ExecConfig`` and ``ExecStartConfig`` bodies, and
``ExecInspectResponse``."""

from __future__ import annotations

import os
from typing import Any

from dockyard.apitypes.reader import Obj
from dockyard.daemon.containers.model import ExecConfig, ExecStart, ExecView
from dockyard.errors import InvalidArgument
from dockyard.runtime.detachkeys import parse_detach_keys

__all__ = ["ExecConfig", "ExecStart", "ExecView", "exec_inspect_json", "parse_detach_keys",
           "parse_exec_config", "parse_exec_start"]



def _console_size(o: Obj) -> tuple[int, int] | None:
    v = o.raw("ConsoleSize")
    if v is None:
        return None
    if (not isinstance(v, list) or len(v) != 2
            or not all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 65536
                       for x in v)):
        raise InvalidArgument("ConsoleSize: expected [height, width]")
    return (v[0], v[1]) if v[0] and v[1] else None


def parse_exec_config(doc: Any) -> ExecConfig:
    o = Obj(doc, "")
    cmd = o.opt_strings("Cmd", allow_string=True) or ()
    if not cmd:
        raise InvalidArgument("No exec command specified")
    env = o.strings("Env")
    for entry in env:
        if not entry or entry.startswith("="):
            raise InvalidArgument(f"invalid environment variable: {entry!r}")
    working_dir = o.string("WorkingDir")
    if working_dir and not os.path.isabs(working_dir):
        raise InvalidArgument(f"the working directory '{working_dir}' is invalid, it needs "
                              "to be an absolute path")
    detach_keys = o.string("DetachKeys")
    if detach_keys:
        parse_detach_keys(detach_keys)
    config = ExecConfig(
        cmd=cmd, env=env, user=o.string("User"), working_dir=working_dir,
        tty=o.boolean("Tty"), privileged=o.boolean("Privileged"),
        attach_stdin=o.boolean("AttachStdin"), attach_stdout=o.boolean("AttachStdout"),
        attach_stderr=o.boolean("AttachStderr"), detach_keys=detach_keys,
        console_size=_console_size(o))
    o.raw("Detach")  # deprecated and without effect in Docker too: start says it
    o.raw("Container")  # docker-py repeats the path's container here; moby ignores it
    o.finish()
    return config


def parse_exec_start(doc: Any) -> ExecStart:
    if doc is None:
        return ExecStart()
    o = Obj(doc, "")
    start = ExecStart(detach=o.boolean("Detach"), tty=o.boolean("Tty"),
                      console_size=_console_size(o))
    o.finish()
    return start


def exec_inspect_json(v: ExecView) -> dict[str, Any]:
    cfg = v.config
    return {
        "ID": v.id,
        "Running": v.running,
        "ExitCode": v.exit_code,
        "ProcessConfig": {"tty": cfg.tty, "entrypoint": cfg.cmd[0],
                          "arguments": list(cfg.cmd[1:]), "privileged": cfg.privileged,
                          "user": cfg.user},
        "OpenStdin": cfg.attach_stdin,
        "OpenStderr": cfg.attach_stderr,
        "OpenStdout": cfg.attach_stdout,
        "CanRemove": False,
        "ContainerID": v.container_id,
        "DetachKeys": cfg.detach_keys,
        "Pid": v.pid,
    }
