"""The OCI runtime spec's ``config.json``, as typed, validated, frozen values.

``parse_spec`` turns the decoded JSON into a ``Spec`` or raises ``InvalidArgument`` naming
the offending field (``linux.namespaces[2].type: unknown namespace type "foo"``). Only the
fields dockyard honours are modelled; unknown fields are ignored, as the spec requires.
``Spec.raw`` keeps the decoded document, so the bundle can be written back unchanged.
"""

from __future__ import annotations

from dockyard.errors import InvalidArgument
from dockyard.linux.caps import CAPABILITIES
from dockyard.oci import jsoncodec

# Not typing's: this module is on the start-up path of every ``dockyard-runtime`` command
# (see dockyard.records); no json either (its regular expressions): jsoncodec.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NamedTuple
else:
    from dockyard.records import NamedTuple

NAMESPACE_TYPES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time")


class User(NamedTuple):
    uid: int = 0
    gid: int = 0
    umask: int | None = None
    additional_gids: tuple[int, ...] = ()


class Capabilities(NamedTuple):
    bounding: tuple[str, ...] = ()
    effective: tuple[str, ...] = ()
    inheritable: tuple[str, ...] = ()
    permitted: tuple[str, ...] = ()
    ambient: tuple[str, ...] = ()


class Rlimit(NamedTuple):
    type: str
    soft: int
    hard: int


class ConsoleSize(NamedTuple):
    height: int
    width: int


class Process(NamedTuple):
    args: tuple[str, ...]
    cwd: str = "/"
    env: tuple[str, ...] = ()
    terminal: bool = False
    console_size: ConsoleSize | None = None
    user: User = User()
    capabilities: Capabilities | None = None
    rlimits: tuple[Rlimit, ...] = ()
    no_new_privileges: bool = False
    oom_score_adj: int | None = None


class Root(NamedTuple):
    path: str
    readonly: bool = False


class Mount(NamedTuple):
    destination: str
    type: str = ""
    source: str = ""
    options: tuple[str, ...] = ()


class Namespace(NamedTuple):
    type: str
    path: str = ""


class IDMapping(NamedTuple):
    container_id: int
    host_id: int
    size: int


class Device(NamedTuple):
    """A device node to create in the container (``linux.devices``)."""

    path: str
    type: str
    major: int
    minor: int
    file_mode: int | None = None
    uid: int | None = None
    gid: int | None = None


class DeviceRule(NamedTuple):
    """An entry of the cgroup device allow-list (``linux.resources.devices``)."""

    allow: bool
    type: str = "a"
    major: int | None = None
    minor: int | None = None
    access: str = "rwm"


class MemoryResources(NamedTuple):
    limit: int | None = None
    reservation: int | None = None
    swap: int | None = None
    swappiness: int | None = None
    disable_oom_killer: bool | None = None


class CPUResources(NamedTuple):
    shares: int | None = None
    quota: int | None = None
    burst: int | None = None
    period: int | None = None
    realtime_runtime: int | None = None
    realtime_period: int | None = None
    cpus: str | None = None
    mems: str | None = None
    idle: int | None = None


class PidsResources(NamedTuple):
    limit: int


class BlockIOResources(NamedTuple):
    weight: int | None = None


class Resources(NamedTuple):
    devices: tuple[DeviceRule, ...] = ()
    memory: MemoryResources | None = None
    cpu: CPUResources | None = None
    pids: PidsResources | None = None
    block_io: BlockIOResources | None = None
    unified: tuple[tuple[str, str], ...] = ()


SECCOMP_ACTIONS = ("SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
                   "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW",
                   "SCMP_ACT_LOG")
SECCOMP_OPS = ("SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
               "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ")
SECCOMP_FLAGS = ("SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW")


class SeccompArg(NamedTuple):
    position: int  # "index": which argument (not a field name a tuple may have)
    value: int
    value_two: int
    op: str


class SeccompRule(NamedTuple):
    names: tuple[str, ...]
    action: str
    errno_ret: int | None = None
    args: tuple[SeccompArg, ...] = ()


class Seccomp(NamedTuple):
    """``linux.seccomp`` (the runtime spec's, as runc reads it)."""

    default_action: str
    default_errno_ret: int | None = None
    architectures: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    syscalls: tuple[SeccompRule, ...] = ()


class Linux(NamedTuple):
    namespaces: tuple[Namespace, ...] = ()
    uid_mappings: tuple[IDMapping, ...] = ()
    gid_mappings: tuple[IDMapping, ...] = ()
    devices: tuple[Device, ...] = ()
    cgroups_path: str = ""
    resources: Resources | None = None
    rootfs_propagation: str = ""
    masked_paths: tuple[str, ...] = ()
    readonly_paths: tuple[str, ...] = ()
    sysctl: tuple[tuple[str, str], ...] = ()
    mount_label: str = ""
    seccomp: Seccomp | None = None

    def namespace(self, kind: str) -> Namespace | None:
        for ns in self.namespaces:
            if ns.type == kind:
                return ns
        return None


# A shared empty default: Spec is immutable and nobody mutates raw.
_NO_RAW: dict[str, Any] = {}


class Spec(NamedTuple):
    oci_version: str
    root: Root
    process: Process | None
    hostname: str = ""
    domainname: str = ""
    mounts: tuple[Mount, ...] = ()
    linux: Linux = Linux()
    annotations: tuple[tuple[str, str], ...] = ()
    raw: dict[str, Any] = _NO_RAW


# --------------------------------------------------------------------------- parsing


class _Obj:
    """A JSON object with its path, for error messages that name the field."""

    __slots__ = ("d", "path")

    def __init__(self, d: object, path: str) -> None:
        if not isinstance(d, dict):
            raise InvalidArgument(f"{path or 'config'}: expected an object")
        self.d: dict[str, Any] = d
        self.path = path

    def _p(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return self.d.get(key) is not None

    def text(self, key: str, default: str | None = None) -> str:
        v = self.d.get(key)
        if v is None:
            if default is None:
                raise InvalidArgument(f"{self._p(key)}: required")
            return default
        if not isinstance(v, str):
            raise InvalidArgument(f"{self._p(key)}: expected a string")
        return v

    def opt_int(self, key: str, lo: int | None = None, hi: int | None = None) -> int | None:
        v = self.d.get(key)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int):
            raise InvalidArgument(f"{self._p(key)}: expected an integer")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise InvalidArgument(f"{self._p(key)}: {v} out of range")
        return int(v)

    def integer(self, key: str, default: int | None = None) -> int:
        v = self.opt_int(key)
        if v is None:
            if default is None:
                raise InvalidArgument(f"{self._p(key)}: required")
            return default
        return v

    def flag(self, key: str, default: bool = False) -> bool:
        v = self.d.get(key)
        if v is None:
            return default
        if not isinstance(v, bool):
            raise InvalidArgument(f"{self._p(key)}: expected true or false")
        return v

    def opt_flag(self, key: str) -> bool | None:
        return self.flag(key) if key in self.d and self.d[key] is not None else None

    def child(self, key: str) -> _Obj | None:
        v = self.d.get(key)
        return None if v is None else _Obj(v, self._p(key))

    def array(self, key: str) -> list[tuple[str, Any]]:
        v = self.d.get(key)
        if v is None:
            return []
        if not isinstance(v, list):
            raise InvalidArgument(f"{self._p(key)}: expected an array")
        return [(f"{self._p(key)}[{i}]", item) for i, item in enumerate(v)]

    def strings(self, key: str) -> tuple[str, ...]:
        out: list[str] = []
        for p, item in self.array(key):
            if not isinstance(item, str):
                raise InvalidArgument(f"{p}: expected a string")
            out.append(item)
        return tuple(out)

    def str_map(self, key: str) -> tuple[tuple[str, str], ...]:
        v = self.d.get(key)
        if v is None:
            return ()
        if not isinstance(v, dict) or not all(
            isinstance(k, str) and isinstance(x, str) for k, x in v.items()
        ):
            raise InvalidArgument(f"{self._p(key)}: expected an object of strings")
        return tuple(v.items())


def _caps(o: _Obj) -> Capabilities:
    sets = {}
    for name in ("bounding", "effective", "inheritable", "permitted", "ambient"):
        caps = o.strings(name)
        for c in caps:
            if c not in CAPABILITIES:
                raise InvalidArgument(f"{o.path}.{name}: unknown capability {c!r}")
        sets[name] = caps
    return Capabilities(**sets)


def _process(o: _Obj) -> Process:
    args = o.strings("args")
    if not args:
        raise InvalidArgument(f"{o.path}.args: must name the program to run")
    cwd = o.text("cwd", "/")
    if not cwd.startswith("/"):
        raise InvalidArgument(f"{o.path}.cwd: must be an absolute path, not {cwd!r}")
    user = User()
    u = o.child("user")
    if u is not None:
        gids = []
        for p, g in u.array("additionalGids"):
            if isinstance(g, bool) or not isinstance(g, int) or g < 0:
                raise InvalidArgument(f"{p}: expected a non-negative integer")
            gids.append(g)
        user = User(uid=u.integer("uid", 0), gid=u.integer("gid", 0), umask=u.opt_int("umask", 0, 0o777),
                    additional_gids=tuple(gids))
        if user.uid < 0 or user.gid < 0:
            raise InvalidArgument(f"{u.path}: uid and gid must not be negative")
    size = None
    cs = o.child("consoleSize")
    if cs is not None:
        size = ConsoleSize(height=cs.integer("height", 0), width=cs.integer("width", 0))
    rlimits = []
    for p, item in o.array("rlimits"):
        r = _Obj(item, p)
        kind = r.text("type")
        if not kind.startswith("RLIMIT_"):
            raise InvalidArgument(f"{p}.type: unknown rlimit {kind!r}")
        rlimits.append(Rlimit(kind, r.integer("soft"), r.integer("hard")))
    caps_obj = o.child("capabilities")
    return Process(
        args=args,
        cwd=cwd,
        env=o.strings("env"),
        terminal=o.flag("terminal"),
        console_size=size,
        user=user,
        capabilities=_caps(caps_obj) if caps_obj is not None else None,
        rlimits=tuple(rlimits),
        no_new_privileges=o.flag("noNewPrivileges"),
        oom_score_adj=o.opt_int("oomScoreAdj", -1000, 1000),
    )


def parse_process(data: object, path: str = "process") -> Process:
    """Parse a ``process`` object (also the file ``exec --process`` takes)."""
    return _process(_Obj(data, path))


def _resources(o: _Obj) -> Resources:
    rules = []
    for p, item in o.array("devices"):
        r = _Obj(item, p)
        if "allow" not in r.d:
            raise InvalidArgument(f"{p}.allow: required")
        kind = r.text("type", "a")
        if kind not in ("a", "b", "c"):
            raise InvalidArgument(f"{p}.type: must be a, b or c, not {kind!r}")
        access = r.text("access", "rwm")
        if not access or any(ch not in "rwm" for ch in access):
            raise InvalidArgument(f"{p}.access: must be made of r, w and m, not {access!r}")
        rules.append(DeviceRule(allow=r.flag("allow"), type=kind, major=r.opt_int("major"),
                                minor=r.opt_int("minor"), access=access))
    mem = None
    m = o.child("memory")
    if m is not None:
        mem = MemoryResources(limit=m.opt_int("limit"), reservation=m.opt_int("reservation"),
                              swap=m.opt_int("swap"), swappiness=m.opt_int("swappiness", 0, 100),
                              disable_oom_killer=m.opt_flag("disableOOMKiller"))
    cpu = None
    c = o.child("cpu")
    if c is not None:
        cpu = CPUResources(shares=c.opt_int("shares", 0), quota=c.opt_int("quota"),
                           burst=c.opt_int("burst", 0), period=c.opt_int("period", 0),
                           realtime_runtime=c.opt_int("realtimeRuntime"),
                           realtime_period=c.opt_int("realtimePeriod", 0),
                           cpus=c.text("cpus", "") or None, mems=c.text("mems", "") or None,
                           idle=c.opt_int("idle"))
    pids = None
    pi = o.child("pids")
    if pi is not None:
        pids = PidsResources(limit=pi.integer("limit"))
    blk = None
    b = o.child("blockIO")
    if b is not None:
        blk = BlockIOResources(weight=b.opt_int("weight", 0, 1000))
    return Resources(devices=tuple(rules), memory=mem, cpu=cpu, pids=pids, block_io=blk,
                     unified=o.str_map("unified"))


def parse_resources(data: object, path: str = "linux.resources") -> Resources:
    """Parse a ``linux.resources`` object (also what ``update --resources`` takes)."""
    return _resources(_Obj(data, path))


def _seccomp_action(o: _Obj, key: str) -> str:
    action = o.text(key)
    if action not in SECCOMP_ACTIONS:
        raise InvalidArgument(f"{o._p(key)}: unknown or unsupported action {action!r}")
    return action


def _seccomp(o: _Obj) -> Seccomp:
    arches = o.strings("architectures")
    for arch in arches:
        if not arch.startswith("SCMP_ARCH_"):
            raise InvalidArgument(f"{o.path}.architectures: unknown architecture {arch!r}")
    flags = o.strings("flags")
    for f in flags:
        if f not in SECCOMP_FLAGS:
            raise InvalidArgument(f"{o.path}.flags: unsupported flag {f!r}")
    if o.has("listenerPath"):
        raise InvalidArgument(f"{o.path}.listenerPath: seccomp notification is not supported")
    rules = []
    for p, item in o.array("syscalls"):
        r = _Obj(item, p)
        names = r.strings("names")
        if not names:
            raise InvalidArgument(f"{p}.names: must name at least one system call")
        args = []
        for ap, a_item in r.array("args"):
            a = _Obj(a_item, ap)
            op = a.text("op")
            if op not in SECCOMP_OPS:
                raise InvalidArgument(f"{ap}.op: unknown operator {op!r}")
            args.append(SeccompArg(position=a.opt_int("index", 0, 5) or 0,
                                   value=a.opt_int("value", 0, 2**64 - 1) or 0,
                                   value_two=a.opt_int("valueTwo", 0, 2**64 - 1) or 0,
                                   op=op))
        rules.append(SeccompRule(names=names, action=_seccomp_action(r, "action"),
                                 errno_ret=r.opt_int("errnoRet", 0, 4095),
                                 args=tuple(args)))
    return Seccomp(default_action=_seccomp_action(o, "defaultAction"),
                   default_errno_ret=o.opt_int("defaultErrnoRet", 0, 4095),
                   architectures=arches, flags=flags, syscalls=tuple(rules))


def parse_seccomp(data: object, path: str = "linux.seccomp") -> Seccomp:
    """Parse a ``linux.seccomp`` object (an exec reads it alone from ``config.json``)."""
    return _seccomp(_Obj(data, path))


def _linux(o: _Obj) -> Linux:
    namespaces = []
    seen = set()
    for p, item in o.array("namespaces"):
        n = _Obj(item, p)
        kind = n.text("type")
        if kind not in NAMESPACE_TYPES:
            raise InvalidArgument(f"{p}.type: unknown namespace type {kind!r}")
        if kind in seen:
            raise InvalidArgument(f"{p}.type: namespace {kind!r} listed twice")
        seen.add(kind)
        path = n.text("path", "")
        if path and not path.startswith("/"):
            raise InvalidArgument(f"{p}.path: must be absolute, not {path!r}")
        namespaces.append(Namespace(kind, path))

    def idmaps(key: str) -> tuple[IDMapping, ...]:
        out = []
        for p, item in o.array(key):
            m = _Obj(item, p)
            out.append(IDMapping(m.integer("containerID"), m.integer("hostID"), m.integer("size")))
        return tuple(out)

    devices = []
    for p, item in o.array("devices"):
        d = _Obj(item, p)
        path = d.text("path")
        if not path.startswith("/"):
            raise InvalidArgument(f"{p}.path: must be absolute, not {path!r}")
        kind = d.text("type")
        if kind not in ("c", "b", "u", "p"):
            raise InvalidArgument(f"{p}.type: must be c, b, u or p, not {kind!r}")
        devices.append(Device(path=path, type=kind, major=d.integer("major", 0),
                              minor=d.integer("minor", 0), file_mode=d.opt_int("fileMode", 0, 0o7777),
                              uid=d.opt_int("uid", 0), gid=d.opt_int("gid", 0)))
    res = o.child("resources")
    prop = o.text("rootfsPropagation", "")
    if prop not in ("", "private", "rprivate", "slave", "rslave", "shared", "rshared",
                    "unbindable", "runbindable"):
        raise InvalidArgument(f"linux.rootfsPropagation: unknown propagation {prop!r}")
    return Linux(
        namespaces=tuple(namespaces),
        uid_mappings=idmaps("uidMappings"),
        gid_mappings=idmaps("gidMappings"),
        devices=tuple(devices),
        cgroups_path=o.text("cgroupsPath", ""),
        resources=_resources(res) if res is not None else None,
        rootfs_propagation=prop,
        masked_paths=o.strings("maskedPaths"),
        readonly_paths=o.strings("readonlyPaths"),
        sysctl=o.str_map("sysctl"),
        mount_label=o.text("mountLabel", ""),
        seccomp=_seccomp(filt) if (filt := o.child("seccomp")) is not None else None,
    )


def parse_spec(data: object) -> Spec:
    """Validate a decoded ``config.json`` and return it as a ``Spec``."""
    o = _Obj(data, "")
    version = o.text("ociVersion")
    r = o.child("root")
    if r is None:
        raise InvalidArgument("root: required")
    root = Root(path=r.text("path"), readonly=r.flag("readonly"))
    if not root.path:
        raise InvalidArgument("root.path: must not be empty")
    p = o.child("process")
    mounts = []
    for path, item in o.array("mounts"):
        m = _Obj(item, path)
        dest = m.text("destination")
        if not dest.startswith("/"):
            raise InvalidArgument(f"{path}.destination: must be absolute, not {dest!r}")
        mounts.append(Mount(destination=dest, type=m.text("type", ""), source=m.text("source", ""),
                            options=m.strings("options")))
    lx = o.child("linux")
    return Spec(
        oci_version=version,
        root=root,
        process=_process(p) if p is not None else None,
        hostname=o.text("hostname", ""),
        domainname=o.text("domainname", ""),
        mounts=tuple(mounts),
        linux=_linux(lx) if lx is not None else Linux(),
        annotations=o.str_map("annotations"),
        raw=data if isinstance(data, dict) else {},
    )


def load_spec(path: str) -> Spec:
    """Read and parse a ``config.json`` file, with clear errors for a missing or bad file."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise InvalidArgument(f"{path}: no such file (is this an OCI bundle?)") from None
    except OSError as e:
        raise InvalidArgument(f"{path}: {e.strerror}") from None
    try:
        data = jsoncodec.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidArgument(f"{path}: not valid JSON: {e}") from None
    return parse_spec(data)
