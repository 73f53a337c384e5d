"""``docker import --change`` / ``docker commit --change``: Dockerfile instructions applied to a
container config.

Accepted (as moby's ``daemon/images`` ``changes`` allow for import): ``CMD``, ``ENTRYPOINT``,
``ENV``, ``WORKDIR``, ``USER``, ``EXPOSE``, ``LABEL``, ``VOLUME``, ``STOPSIGNAL``,
``HEALTHCHECK`` (``NONE``, or ``[--interval=D] [--timeout=D] [--start-period=D]
[--start-interval=D] [--retries=N] CMD <exec or shell form>``). Each is a
pure function over ``ContainerConfig`` in a dispatch table (moby's ``dispatchers.go``).
Argument forms follow the Dockerfile: ``CMD ["a","b"]`` (exec form, JSON) or ``CMD a b``
(shell form: ``["/bin/sh", "-c", "a b"]``); ``ENV k=v k2="v 2"`` or ``ENV k v``; ``EXPOSE 80
53/udp``; ``VOLUME ["/a"]`` or ``VOLUME /a /b``.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from collections.abc import Callable, Sequence

from dockyard.errors import InvalidArgument
from dockyard.oci.manifest import ContainerConfig, HealthConfig

Change = Callable[[ContainerConfig, str], ContainerConfig]


def _json_list(arg: str) -> list[str] | None:
    """The exec form's list, or ``None`` when ``arg`` is not a JSON array of strings."""
    if not arg.startswith("["):
        return None
    try:
        value = json.loads(arg)
    except ValueError:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return value


def _command(arg: str) -> tuple[str, ...]:
    exec_form = _json_list(arg)
    if exec_form is not None:
        return tuple(exec_form)
    return ("/bin/sh", "-c", arg)


def _words(arg: str, what: str) -> list[str]:
    try:
        return shlex.split(arg, posix=True)
    except ValueError as e:
        raise InvalidArgument(f"{what}: {e}") from e


def _pairs(arg: str, what: str) -> list[tuple[str, str]]:
    """``k=v k2="v 2"`` pairs, or the legacy ``k v`` form (one pair, the rest the value)."""
    words = _words(arg, what)
    if not words:
        raise InvalidArgument(f"{what} requires at least one argument")
    if "=" not in words[0]:
        key, _, value = arg.strip().partition(" ")
        if not value.strip():
            raise InvalidArgument(f"{what} {key} needs a value (or {key}=value)")
        return [(key, value.strip())]
    out = []
    for w in words:
        key, eq, value = w.partition("=")
        if not eq or not key:
            raise InvalidArgument(f"{what}: {w!r} is not key=value")
        out.append((key, value))
    return out


def _cmd(c: ContainerConfig, arg: str) -> ContainerConfig:
    return c._replace(cmd=_command(arg))


def _entrypoint(c: ContainerConfig, arg: str) -> ContainerConfig:
    # Setting an entrypoint clears an inherited CMD, as in a Dockerfile.
    return c._replace(entrypoint=_command(arg), cmd=None)


def _env(c: ContainerConfig, arg: str) -> ContainerConfig:
    env = list(c.env)
    for key, value in _pairs(arg, "ENV"):
        env = [e for e in env if e.partition("=")[0] != key]
        env.append(f"{key}={value}")
    return c._replace(env=tuple(env))


def _label(c: ContainerConfig, arg: str) -> ContainerConfig:
    labels = dict(c.labels)
    labels.update(_pairs(arg, "LABEL"))
    return c._replace(labels=labels)


def _workdir(c: ContainerConfig, arg: str) -> ContainerConfig:
    path = arg.strip()
    if not path:
        raise InvalidArgument("WORKDIR requires a path")
    return c._replace(working_dir=posixpath.normpath(posixpath.join(c.working_dir or "/", path)))


def _user(c: ContainerConfig, arg: str) -> ContainerConfig:
    user = arg.strip()
    if not user or " " in user:
        raise InvalidArgument(f"USER requires exactly one argument, got {arg!r}")
    return c._replace(user=user)


def _expose(c: ContainerConfig, arg: str) -> ContainerConfig:
    ports = set(c.exposed_ports)
    for word in _words(arg, "EXPOSE"):
        port, _, proto = word.partition("/")
        proto = proto.lower() or "tcp"
        if proto not in ("tcp", "udp", "sctp"):
            raise InvalidArgument(f"EXPOSE {word}: invalid protocol {proto!r}")
        first, dash, last = port.partition("-")
        if not first.isdigit() or (dash and not last.isdigit()):
            raise InvalidArgument(f"EXPOSE {word}: invalid port")
        lo, hi = int(first), int(last) if dash else int(first)
        if not 0 < lo <= hi <= 65535:
            raise InvalidArgument(f"EXPOSE {word}: port out of range")
        for p in range(lo, hi + 1):
            ports.add(f"{p}/{proto}")
    return c._replace(exposed_ports=tuple(sorted(ports)))


def _volume(c: ContainerConfig, arg: str) -> ContainerConfig:
    paths = _json_list(arg)
    if paths is None:
        paths = _words(arg, "VOLUME")
    if not paths or any(not p.strip() for p in paths):
        raise InvalidArgument("VOLUME requires at least one non-empty path")
    return c._replace(volumes=tuple(sorted(set(c.volumes) | set(paths))))


def _stopsignal(c: ContainerConfig, arg: str) -> ContainerConfig:
    sig = arg.strip()
    if not sig or " " in sig:
        raise InvalidArgument(f"STOPSIGNAL requires exactly one argument, got {arg!r}")
    return c._replace(stop_signal=sig)


_UNIT_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
            "m": 60_000_000_000, "h": 3_600_000_000_000}
_HEALTH_FLAGS = {"--interval": "Interval", "--timeout": "Timeout",
                 "--start-period": "StartPeriod", "--start-interval": "StartInterval"}


def _go_duration(text: str, what: str) -> int:
    """Go's ``time.ParseDuration`` (non-negative values), in nanoseconds."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
    if text == "0":
        return 0
    if not parts or "".join(a + b for a, b in parts) != text:
        raise InvalidArgument(f"HEALTHCHECK {what}: invalid duration {text!r}")
    return int(sum(float(a) * _UNIT_NS[b] for a, b in parts))


def _healthcheck(c: ContainerConfig, arg: str) -> ContainerConfig:
    """moby's ``dispatchHealthcheck``: ``NONE``, or the options then ``CMD``."""
    rest = arg.strip()
    if rest.upper() == "NONE":
        return c._replace(healthcheck=HealthConfig(test=("NONE",)))
    values: dict[str, int] = {}
    while rest.startswith("--"):
        flag, _, rest = rest.partition(" ")
        rest = rest.lstrip()
        name, eq, value = flag.partition("=")
        if not eq:
            raise InvalidArgument(f"HEALTHCHECK {name}: needs a value ({name}=...)")
        if name == "--retries":
            if not value.lstrip("-").isdigit():
                raise InvalidArgument(f"HEALTHCHECK --retries: invalid number {value!r}")
            if int(value) < 0:
                raise InvalidArgument(f"--retries cannot be negative ({value})")
            values["Retries"] = int(value)
        elif name in _HEALTH_FLAGS:
            ns = _go_duration(value, name)
            if 0 < ns < 1_000_000:
                raise InvalidArgument(f"{_HEALTH_FLAGS[name]} \"{value}\" cannot be less "
                                      "than 1ms")
            values[_HEALTH_FLAGS[name]] = ns
        else:
            raise InvalidArgument(f"HEALTHCHECK: unknown flag {name}")
    kind, _, command = rest.partition(" ")
    if kind.upper() == "NONE":
        raise InvalidArgument("HEALTHCHECK NONE takes no other arguments")
    if kind.upper() != "CMD":
        raise InvalidArgument(f"Unknown type {kind!r} in HEALTHCHECK (try CMD)")
    command = command.strip()
    exec_form = _json_list(command)
    if exec_form is not None:
        test: tuple[str, ...] = ("CMD", *exec_form)
    elif command:
        test = ("CMD-SHELL", command)
    else:
        raise InvalidArgument("Missing command after HEALTHCHECK CMD")
    return c._replace(healthcheck=HealthConfig(
        test=test, interval=values.get("Interval", 0), timeout=values.get("Timeout", 0),
        start_period=values.get("StartPeriod", 0),
        start_interval=values.get("StartInterval", 0), retries=values.get("Retries", 0)))


CHANGES: dict[str, Change] = {
    "CMD": _cmd,
    "ENTRYPOINT": _entrypoint,
    "ENV": _env,
    "EXPOSE": _expose,
    "HEALTHCHECK": _healthcheck,
    "LABEL": _label,
    "STOPSIGNAL": _stopsignal,
    "USER": _user,
    "VOLUME": _volume,
    "WORKDIR": _workdir,
}


def apply_changes(config: ContainerConfig, changes: Sequence[str]) -> ContainerConfig:
    """``config`` with each ``--change`` line applied in order."""
    for line in changes:
        text = line.strip()
        word, _, arg = text.partition(" ")
        handler = CHANGES.get(word.upper())
        if handler is None:
            raise InvalidArgument(f"{word} is not a valid change command (allowed: "
                                  f"{', '.join(sorted(CHANGES))})")
        config = handler(config, arg.strip())
    return config
