"""The flags of ``run``/``create`` and the ``POST /containers/create`` body they make.

A pure mapping (no daemon, no terminal), mirroring the docker CLI's ``opts.go``
``parse``: values are checked with Docker's words (``invalid argument "x" for "-m,
--memory" flag: invalid size: 'x'``), pointer fields (``Init``, ``PidsLimit``,
``StopTimeout``) are sent only when the flag was given, and the attach fields follow
``-a``/``-i``/``-d`` as Docker sets them. :func:`create_request` returns the query and the
body; the unit tests check it flag by flag.
"""

from __future__ import annotations

import os

from dockyard.cli.args import BOOL, INT, LIST, STRING, Flag, Options
from dockyard.cli.context import StatusError
from dockyard.cli.values import (
    go_duration,
    memory_swap,
    nano_cpus,
    ram_in_bytes,
    restart_policy,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

# Parse-time checks of list flags (Docker's ``opts`` validators): a bad value is a
# usage error, printed with the usage line.

def check_env(value: str) -> str:
    if value.startswith("="):
        raise ValueError(f"invalid environment variable: {value}")
    return value


def check_attach(value: str) -> str:
    if value.lower() not in ("stdin", "stdout", "stderr"):
        raise ValueError("valid streams are STDIN, STDOUT and STDERR")
    return value


_SYSCTLS = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
            "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced")


def check_sysctl(value: str) -> str:
    """moby's ``ValidateSysctl``: IPC kernel parameters and ``net.*``/``fs.mqueue.*``."""
    key, eq, _ = value.partition("=")
    if eq and (key in _SYSCTLS or key.startswith(("net.", "fs.mqueue."))):
        return value
    raise ValueError(f"sysctl '{value}' is not allowed")


def check_mount(value: str) -> str:
    parse_mount(value)
    return value


def check_ulimit(value: str) -> str:
    parse_ulimit(value)
    return value


# ---------------------------------------------------------------------- the flags

def run_flags(*, run: bool) -> list[Flag]:
    """The flags of ``create`` (``run`` adds ``-d``, ``--rm`` semantics and
    ``--sig-proxy``)."""
    flags = [
        Flag("add-host", LIST, "Add a custom host-to-IP mapping (host:ip)"),
        Flag("attach", LIST, "Attach to STDIN, STDOUT or STDERR", short="a",
             convert=check_attach),
        Flag("cap-add", LIST, "Add Linux capabilities"),
        Flag("cap-drop", LIST, "Drop Linux capabilities"),
        Flag("cgroup-parent", STRING, "Optional parent cgroup for the container"),
        Flag("cgroupns", STRING, "Cgroup namespace to use (host|private)"),
        Flag("cidfile", STRING, "Write the container ID to the file"),
        Flag("cpu-period", INT, "Limit CPU CFS (Completely Fair Scheduler) period"),
        Flag("cpu-quota", INT, "Limit CPU CFS (Completely Fair Scheduler) quota"),
        Flag("cpu-shares", INT, "CPU shares (relative weight)", short="c"),
        Flag("cpus", STRING, "Number of CPUs", metavar="decimal", convert=nano_cpus),
        Flag("cpuset-cpus", STRING, "CPUs in which to allow execution (0-3, 0,1)"),
        Flag("cpuset-mems", STRING, "MEMs in which to allow execution (0-3, 0,1)"),
        Flag("detach-keys", STRING, "Override the key sequence for detaching a container"),
        Flag("dns", LIST, "Set custom DNS servers"),
        Flag("dns-option", LIST, "Set DNS options"),
        Flag("dns-search", LIST, "Set custom DNS search domains"),
        Flag("domainname", STRING, "Container NIS domain name"),
        Flag("entrypoint", STRING, "Overwrite the default ENTRYPOINT of the image"),
        Flag("env", LIST, "Set environment variables", short="e", convert=check_env),
        Flag("env-file", LIST, "Read in a file of environment variables"),
        Flag("expose", LIST, "Expose a port or a range of ports"),
        Flag("group-add", LIST, "Add additional groups to join"),
        Flag("health-cmd", STRING, "Command to run to check health"),
        Flag("health-interval", STRING, "Time between running the check (ms|s|m|h) "
             "(default 0s)", metavar="duration", convert=go_duration),
        Flag("health-retries", INT, "Consecutive failures needed to report unhealthy"),
        Flag("health-start-interval", STRING, "Time between running the check during the "
             "start period (ms|s|m|h) (default 0s)", metavar="duration",
             convert=go_duration),
        Flag("health-start-period", STRING, "Start period for the container to initialize "
             "before starting health-retries countdown (ms|s|m|h) (default 0s)",
             metavar="duration", convert=go_duration),
        Flag("health-timeout", STRING, "Maximum time to allow one check to run "
             "(ms|s|m|h) (default 0s)", metavar="duration", convert=go_duration),
        Flag("hostname", STRING, "Container host name", short="h"),
        Flag("init", BOOL, "Run an init inside the container that forwards signals and "
             "reaps processes"),
        Flag("interactive", BOOL, "Keep STDIN open even if not attached", short="i"),
        Flag("ipc", STRING, "IPC mode to use"),
        Flag("label", LIST, "Set meta data on a container", short="l"),
        Flag("label-file", LIST, "Read in a line delimited file of labels"),
        Flag("log-driver", STRING, "Logging driver for the container"),
        Flag("log-opt", LIST, "Log driver options"),
        Flag("memory", STRING, "Memory limit", short="m", metavar="bytes",
             convert=ram_in_bytes),
        Flag("memory-reservation", STRING, "Memory soft limit", metavar="bytes",
             convert=ram_in_bytes),
        Flag("memory-swap", STRING, "Swap limit equal to memory plus swap: '-1' to enable "
             "unlimited swap", metavar="bytes", convert=memory_swap),
        Flag("memory-swappiness", INT, "Tune container memory swappiness (0 to 100)",
             default=-1),
        Flag("mount", LIST, "Attach a filesystem mount to the container", metavar="mount",
             convert=check_mount),
        Flag("name", STRING, "Assign a name to the container"),
        Flag("network", STRING, "Connect a container to a network", metavar="network"),
        Flag("net", STRING, "", hidden=True),
        Flag("no-healthcheck", BOOL, "Disable any container-specified HEALTHCHECK"),
        Flag("oom-kill-disable", BOOL, "Disable OOM Killer"),
        Flag("oom-score-adj", INT, "Tune host's OOM preferences (-1000 to 1000)"),
        Flag("pid", STRING, "PID namespace to use"),
        Flag("pids-limit", INT, "Tune container pids limit (set -1 for unlimited)"),
        Flag("platform", STRING, "Set platform if server is multi-platform capable"),
        Flag("privileged", BOOL, "Give extended privileges to this container"),
        Flag("publish", LIST, "Publish a container's port(s) to the host", short="p"),
        Flag("publish-all", BOOL, "Publish all exposed ports to random ports", short="P"),
        Flag("pull", STRING, 'Pull image before running ("always", "missing", "never")',
             default="missing"),
        Flag("quiet", BOOL, "Suppress the pull output", short="q"),
        Flag("read-only", BOOL, "Mount the container's root filesystem as read only"),
        Flag("restart", STRING, "Restart policy to apply when a container exits",
             default="no"),
        Flag("rm", BOOL, "Automatically remove the container and its associated anonymous "
             "volumes when it exits"),
        Flag("runtime", STRING, "Runtime to use for this container"),
        Flag("security-opt", LIST, "Security Options"),
        Flag("shm-size", STRING, "Size of /dev/shm", metavar="bytes", convert=ram_in_bytes),
        Flag("stop-signal", STRING, "Signal to stop the container"),
        Flag("stop-timeout", INT, "Timeout (in seconds) to stop a container"),
        Flag("sysctl", LIST, "Sysctl options", metavar="map", convert=check_sysctl),
        Flag("tmpfs", LIST, "Mount a tmpfs directory"),
        Flag("tty", BOOL, "Allocate a pseudo-TTY", short="t"),
        Flag("ulimit", LIST, "Ulimit options", metavar="ulimit", convert=check_ulimit),
        Flag("user", STRING, "Username or UID (format: <name|uid>[:<group|gid>])",
             short="u"),
        Flag("userns", STRING, "User namespace to use"),
        Flag("uts", STRING, "UTS namespace to use"),
        Flag("volume", LIST, "Bind mount a volume", short="v"),
        Flag("volumes-from", LIST, "Mount volumes from the specified container(s)"),
        Flag("workdir", STRING, "Working directory inside the container", short="w"),
    ]
    if run:
        flags += [
            Flag("detach", BOOL, "Run container in background and print container ID",
                 short="d"),
            Flag("sig-proxy", BOOL, "Proxy received signals to the process", default=True),
        ]
    flags.sort(key=lambda f: f.long)
    return flags


# ---------------------------------------------------------------------- lists and files

def read_kv_file(path: str, what: str) -> list[str]:
    """Docker's env/label files: one ``K=V`` (or ``K``) per line, ``#`` comments and blank
    lines skipped, leading whitespace trimmed."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise StatusError(f"open {path}: {exc.strerror or exc}", 125) from None
    out = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        key = line.split("=", 1)[0]
        if not key or any(c.isspace() for c in key):
            raise StatusError(f"{what} file {path}: line {n}: variable '{key}' contains "
                              "whitespaces" if key else f"{what} file {path}: line {n}: "
                              "no variable name", 125)
        out.append(line)
    return out


def env_list(values: list[str], environ: Mapping[str, str]) -> list[str]:
    """``K=V`` kept; a bare ``K`` takes the value of the local environment (and is left
    out when the variable is not set, as Docker does)."""
    out = []
    for v in values:
        if "=" in v:
            out.append(check_env(v))
        elif v in environ:
            out.append(f"{v}={environ[v]}")
    return out


def labels_map(values: list[str]) -> dict[str, str]:
    out = {}
    for v in values:
        key, _, value = v.partition("=")
        out[key] = value
    return out


def kv_map(values: list[str]) -> dict[str, str]:
    """Docker's ``ConvertKVStringsToMap``: ``k=v`` → k: v, a bare ``k`` → k: "" (the
    daemon judges the keys)."""
    out = {}
    for v in values:
        key, _, value = v.partition("=")
        out[key] = value
    return out


# ---------------------------------------------------------------------- mounts

def parse_volume(spec: str, cwd: str) -> tuple[str | None, str | None]:
    """``-v``: ``(bind, anonymous volume target)``. ``/host:/ctr[:opts]``, a relative
    ``./dir`` made absolute (Docker 23+), ``name:/ctr`` passed as is, ``/ctr`` alone an
    anonymous volume."""
    parts = spec.split(":")
    if len(parts) == 1:
        return None, spec
    if len(parts) > 3 or not parts[0] or not parts[1]:
        raise StatusError(f"invalid spec: {spec}: empty section between colons" if
                          "" in parts else f"invalid volume specification: '{spec}'", 125)
    src = parts[0]
    if src.startswith("."):
        src = os.path.normpath(os.path.join(cwd, src))
        parts[0] = src
    return ":".join(parts), None


def parse_mount(spec: str) -> dict[str, object]:
    """``--mount type=bind,source=/a,target=/b[,readonly][,bind-propagation=rshared]`` or
    ``type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1777`` as a ``HostConfig.Mounts``
    entry; ValueError with the reason."""
    mount: dict[str, object] = {"Type": "volume"}
    bind: dict[str, object] = {}
    tmpfs: dict[str, object] = {}
    for field in _csv_fields(spec):
        key, eq, value = field.partition("=")
        key = key.strip().lower()
        if key in ("readonly", "ro"):
            if eq and value.lower() not in ("1", "true", "0", "false"):
                raise ValueError(f"invalid value for {key}: {value}")
            mount["ReadOnly"] = not eq or value.lower() in ("1", "true")
            continue
        if not eq:
            raise ValueError(f"invalid field '{field}' must be a key=value pair")
        if key == "type":
            mount["Type"] = value
        elif key in ("source", "src"):
            mount["Source"] = value
        elif key in ("target", "destination", "dst"):
            mount["Target"] = value
        elif key == "bind-propagation":
            bind["Propagation"] = value
        elif key == "bind-recursive":
            pass
        elif key == "consistency":
            mount["Consistency"] = value
        elif key == "tmpfs-size":
            try:
                tmpfs["SizeBytes"] = ram_in_bytes(value)
            except ValueError:
                raise ValueError(f"invalid value for {key}: {value}") from None
        elif key == "tmpfs-mode":
            try:
                tmpfs["Mode"] = int(value, 8)
            except ValueError:
                raise ValueError(f"invalid value for {key}: {value}") from None
        else:
            raise ValueError(f"unexpected key '{key}' in '{field}'")
    if "Target" not in mount:
        raise ValueError("target is required")
    if bind:
        mount["BindOptions"] = bind
    if tmpfs:
        mount["TmpfsOptions"] = tmpfs
    return mount


def _csv_fields(spec: str) -> list[str]:
    """Docker reads ``--mount`` as one CSV record (quotes allowed around fields)."""
    fields, cur, quoted = [], "", False
    for ch in spec:
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            fields.append(cur)
            cur = ""
        else:
            cur += ch
    fields.append(cur)
    return [f for f in fields if f]


def parse_ulimit(spec: str) -> dict[str, object]:
    name, eq, limits = spec.partition("=")
    soft, _, hard = limits.partition(":")
    try:
        s = int(soft)
        h = int(hard) if hard else s
    except ValueError:
        raise ValueError(f"invalid ulimit argument: {spec}") from None
    if not eq or not name:
        raise ValueError(f"invalid ulimit argument: {spec}")
    return {"Name": name, "Soft": s, "Hard": h}


def parse_publish(specs: list[str]) -> tuple[dict[str, dict[str, object]],
                                             dict[str, list[dict[str, str]]]]:
    """``-p [ip:][hostPort:]containerPort[/proto]`` → ``(ExposedPorts, PortBindings)``."""
    exposed: dict[str, dict[str, object]] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for spec in specs:
        rest, _, proto = spec.partition("/")
        proto = proto or "tcp"
        parts = rest.rsplit(":", 2)
        ip, host = "", ""
        if len(parts) == 3:
            ip, host, ctr = parts
        elif len(parts) == 2:
            host, ctr = parts
        else:
            ctr = parts[0]
        ip = ip.strip("[]")
        if not ctr.isdigit():
            raise StatusError(f"invalid containerPort: {ctr}", 125)
        key = f"{ctr}/{proto}"
        exposed[key] = {}
        bindings.setdefault(key, []).append({"HostIp": ip, "HostPort": host})
    return exposed, bindings


# ---------------------------------------------------------------------- the body

def create_request(opts: Options, *, environ: Mapping[str, str], cwd: str,
                   detach: bool = False,
                   console_size: tuple[int, int] | None = None) -> tuple[dict[str, str],
                                                                          dict[str, object]]:
    """``(query, body)`` of ``POST /containers/create`` for the parsed ``run``/``create``
    command line (``opts.args`` = IMAGE [COMMAND [ARG...]])."""
    image, *cmd = opts.args
    attach = [a.lower() for a in opts.values("attach")]
    if detach and attach:
        raise StatusError("conflicting options: cannot specify both --attach and --detach", 1)
    if opts.flag("rm") and opts.text("restart") not in ("", "no"):
        raise StatusError("conflicting options: cannot specify both --restart and --rm", 125)
    try:
        restart = restart_policy(opts.text("restart"))
    except ValueError as exc:
        raise StatusError(str(exc), 125) from None
    interactive = opts.flag("interactive")
    tty = opts.flag("tty")
    if detach:
        attach_stdin = attach_stdout = attach_stderr = False
    elif attach:
        attach_stdin, attach_stdout, attach_stderr = (
            "stdin" in attach, "stdout" in attach, "stderr" in attach)
    else:
        attach_stdin, attach_stdout, attach_stderr = interactive, True, True

    env_values: list[str] = []
    for path in opts.values("env-file"):
        env_values += read_kv_file(path, "env")
    env_values += opts.values("env")
    label_values: list[str] = []
    for path in opts.values("label-file"):
        label_values += read_kv_file(path, "label")
    label_values += opts.values("label")

    config: dict[str, object] = {
        "Hostname": opts.text("hostname"),
        "Domainname": opts.text("domainname"),
        "User": opts.text("user"),
        "AttachStdin": attach_stdin,
        "AttachStdout": attach_stdout,
        "AttachStderr": attach_stderr,
        "Tty": tty,
        "OpenStdin": interactive,
        "StdinOnce": attach_stdin,
        "Env": env_list(env_values, environ),
        "Cmd": cmd or None,
        "Image": image,
        "WorkingDir": opts.text("workdir"),
        "Entrypoint": None,
        "Labels": labels_map(label_values),
    }
    if opts.given("entrypoint"):
        config["Entrypoint"] = [opts.text("entrypoint")]
    if opts.text("stop-signal"):
        config["StopSignal"] = opts.text("stop-signal")
    if opts.given("stop-timeout"):
        config["StopTimeout"] = opts.number("stop-timeout")
    health = _healthcheck(opts)
    if health is not None:
        config["Healthcheck"] = health

    binds: list[str] = []
    volumes: dict[str, dict[str, object]] = {}
    for spec in opts.values("volume"):
        bind, anon = parse_volume(spec, cwd)
        if bind is not None:
            binds.append(bind)
        if anon is not None:
            volumes[anon] = {}
    if volumes:
        config["Volumes"] = volumes
    exposed, port_bindings = parse_publish(opts.values("publish"))
    for spec in opts.values("expose"):
        port_s, _, proto = spec.partition("/")
        exposed[f"{port_s}/{proto or 'tcp'}"] = {}
    if exposed:
        config["ExposedPorts"] = exposed

    network = opts.text("network") or opts.text("net") or "default"
    host: dict[str, object] = {
        "Binds": binds or None,
        "Mounts": [parse_mount(m) for m in opts.values("mount")] or None,
        "AutoRemove": opts.flag("rm"),
        "Privileged": opts.flag("privileged"),
        "ReadonlyRootfs": opts.flag("read-only"),
        "CapAdd": opts.values("cap-add") or None,
        "CapDrop": opts.values("cap-drop") or None,
        "RestartPolicy": restart if restart.get("Name") else {"Name": "no"},
        "LogConfig": {"Type": opts.text("log-driver"),
                      "Config": kv_map(opts.values("log-opt"))},
        "NetworkMode": network,
        "PortBindings": port_bindings or None,
        "PublishAllPorts": opts.flag("publish-all"),
        "Memory": _num(opts, "memory"),
        "MemoryReservation": _num(opts, "memory-reservation"),
        "MemorySwap": _num(opts, "memory-swap"),
        "NanoCpus": _num(opts, "cpus"),
        "CpuShares": opts.number("cpu-shares"),
        "CpuPeriod": opts.number("cpu-period"),
        "CpuQuota": opts.number("cpu-quota"),
        "CpusetCpus": opts.text("cpuset-cpus"),
        "CpusetMems": opts.text("cpuset-mems"),
        "OomKillDisable": opts.flag("oom-kill-disable"),
        "OomScoreAdj": opts.number("oom-score-adj"),
        "ShmSize": _num(opts, "shm-size"),
        "Tmpfs": _tmpfs(opts.values("tmpfs")) or None,
        "Ulimits": [parse_ulimit(u) for u in opts.values("ulimit")] or None,
        "SecurityOpt": security_opts(opts.values("security-opt")) or None,
        "Sysctls": kv_map(opts.values("sysctl")) or None,
        "GroupAdd": opts.values("group-add") or None,
        "ExtraHosts": opts.values("add-host") or None,
        "Dns": opts.values("dns") or None,
        "DnsOptions": opts.values("dns-option") or None,
        "DnsSearch": opts.values("dns-search") or None,
        "IpcMode": opts.text("ipc"),
        "PidMode": opts.text("pid"),
        "UTSMode": opts.text("uts"),
        "UsernsMode": opts.text("userns"),
        "CgroupParent": opts.text("cgroup-parent"),
        "CgroupnsMode": opts.text("cgroupns"),
        "Runtime": opts.text("runtime"),
        "VolumesFrom": opts.values("volumes-from") or None,
    }
    if opts.given("memory-swappiness") and opts.number("memory-swappiness") != -1:
        host["MemorySwappiness"] = opts.number("memory-swappiness")
    if opts.given("init"):
        host["Init"] = opts.flag("init")
    if opts.given("pids-limit"):
        host["PidsLimit"] = opts.number("pids-limit")
    if tty and console_size is not None:
        host["ConsoleSize"] = list(console_size)
    body: dict[str, object] = {**config, "HostConfig": host}
    if network not in ("default", "bridge", "host", "none") and \
            not network.startswith("container:"):
        body["NetworkingConfig"] = {"EndpointsConfig": {network: {}}}
    query: dict[str, str] = {}
    if opts.text("name"):
        query["name"] = opts.text("name")
    if opts.text("platform"):
        query["platform"] = opts.text("platform")
    return query, body


def _num(opts: Options, name: str) -> int:
    value = opts.raw(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def security_opts(values: list[str]) -> list[str]:
    """The docker CLI's ``--security-opt`` checks; ``seccomp=FILE`` becomes
    ``seccomp=<the file's JSON, compacted>`` (``unconfined`` and ``builtin`` are names)."""
    out = []
    for opt in values:
        key, sep, value = opt.partition("=")
        if not sep and key != "no-new-privileges":
            key, sep, value = opt.partition(":")
        if (not sep or not value) and key != "no-new-privileges":
            raise StatusError(f"Invalid --security-opt: {opt!r}", 125)
        if key == "seccomp" and value not in ("builtin", "unconfined"):
            from dockyard.oci import jsoncodec  # only with a profile file

            try:
                with open(value, "rb") as f:
                    raw = f.read()
            except OSError as exc:
                raise StatusError(f"opening seccomp profile ({value}) failed: "
                                  f"open {value}: {exc.strerror or exc}", 125) from None
            try:
                opt = "seccomp=" + jsoncodec.dumps(jsoncodec.loads(raw))
            except ValueError as exc:
                raise StatusError(f"compacting json for seccomp profile ({value}) failed: "
                                  f"{exc}", 125) from None
        out.append(opt)
    return out


def _tmpfs(values: list[str]) -> dict[str, str]:
    out = {}
    for v in values:
        path, _, options = v.partition(":")
        out[path] = options
    return out


def _healthcheck(opts: Options) -> dict[str, object] | None:
    fields = ("health-cmd", "health-interval", "health-timeout", "health-start-period",
              "health-start-interval", "health-retries")
    given = any(opts.given(f) for f in fields)
    if opts.flag("no-healthcheck"):
        if given:
            raise StatusError("--no-healthcheck conflicts with --health-* options", 125)
        return {"Test": ["NONE"]}
    if not given:
        return None
    for f in fields[1:5]:
        if _num(opts, f) < 0:
            raise StatusError(f"--{f} cannot be negative", 125)
    if opts.number("health-retries") < 0:
        raise StatusError("--health-retries cannot be negative", 125)
    test = ["CMD-SHELL", opts.text("health-cmd")] if opts.text("health-cmd") else None
    return {"Test": test, "Interval": _num(opts, "health-interval"),
            "Timeout": _num(opts, "health-timeout"),
            "StartPeriod": _num(opts, "health-start-period"),
            "StartInterval": _num(opts, "health-start-interval"),
            "Retries": opts.number("health-retries")}
