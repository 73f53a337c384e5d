"""docker's ``inspect -f`` runs a template twice if it must: first over its Go structs
(``types.ContainerJSON``, ``image.InspectResponse``), then, if that fails, over the JSON
with ``missingkey=error`` (``cli/command/inspect/inspector.go``). The two differ where
the JSON says less than the struct: a nil slice prints ``[]``, a nil map ``map[]``, a
nil pointer ``<nil>``, an absent string ``""``; and a Go field name that is not the JSON
key (``.ID`` is ``Id`` in JSON, ``.HostConfig.CPUShares`` is ``CpuShares``) exists only
in the first pass, the JSON key only in the second.

:func:`execute_inspect` does the same with :class:`GoStruct`, a view of the JSON that
knows the kinds and Go names of the fields templates reach for (the table below, from
moby's ``api/types``); a field it does not know is read from the JSON as it is.
"""

from __future__ import annotations

from dockyard.cli.format.gofmt import NilMap, NilSlice
from dockyard.cli.format.template import Template, TemplateError

# Kinds: s string, i number, b bool, l slice (nil prints []), m map (nil prints map[]),
# p pointer (nil prints <nil>), S struct (a nested GoStruct), L slice of structs, t a
# time.Time (prints as Go's Time.String()). A struct's fields are listed in Go's order:
# {{.State}} prints their values in it.
_CONTAINER = """
ID=Id:s Created:s Path:s Args:l State:S Image:s ResolvConfPath:s HostnamePath:s HostsPath:s
LogPath:s Name:s RestartCount:i Driver:s Platform:s MountLabel:s ProcessLabel:s
AppArmorProfile:s ExecIDs:l HostConfig:S GraphDriver:S SizeRw:p SizeRootFs:p Mounts:L
Config:S NetworkSettings:S
State.Status:s State.Running:b State.Paused:b State.Restarting:b State.OOMKilled:b
State.Dead:b State.Pid:i State.ExitCode:i State.Error:s State.StartedAt:s
State.FinishedAt:s State.Health:p
GraphDriver.Name:s GraphDriver.Data:m
Mounts.Type:s Mounts.Name:s Mounts.Source:s Mounts.Destination:s Mounts.Driver:s
Mounts.Mode:s Mounts.RW:b Mounts.Propagation:s
Config.Hostname:s Config.Domainname:s Config.User:s Config.AttachStdin:b
Config.AttachStdout:b Config.AttachStderr:b Config.ExposedPorts:m Config.Tty:b
Config.OpenStdin:b Config.StdinOnce:b Config.Env:l Config.Cmd:l Config.Healthcheck:p
Config.ArgsEscaped:b Config.Image:s Config.Volumes:m Config.WorkingDir:s
Config.Entrypoint:l Config.NetworkDisabled:b Config.MacAddress:s Config.OnBuild:l
Config.Labels:m Config.StopSignal:s Config.StopTimeout:p Config.Shell:l
HostConfig.Binds:l HostConfig.ContainerIDFile:s HostConfig.LogConfig:S
HostConfig.LogConfig.Type:s HostConfig.LogConfig.Config:m HostConfig.NetworkMode:s
HostConfig.PortBindings:m HostConfig.RestartPolicy:S HostConfig.RestartPolicy.Name:s
HostConfig.RestartPolicy.MaximumRetryCount:i HostConfig.AutoRemove:b
HostConfig.VolumeDriver:s HostConfig.VolumesFrom:l HostConfig.ConsoleSize:l
HostConfig.Annotations:m HostConfig.CapAdd:l HostConfig.CapDrop:l HostConfig.CgroupnsMode:s
HostConfig.DNS=Dns:l HostConfig.DNSOptions=DnsOptions:l HostConfig.DNSSearch=DnsSearch:l
HostConfig.ExtraHosts:l HostConfig.GroupAdd:l HostConfig.IpcMode:s HostConfig.Cgroup:s
HostConfig.Links:l HostConfig.OomScoreAdj:i HostConfig.PidMode:s HostConfig.Privileged:b
HostConfig.PublishAllPorts:b HostConfig.ReadonlyRootfs:b HostConfig.SecurityOpt:l
HostConfig.StorageOpt:m HostConfig.Tmpfs:m HostConfig.UTSMode:s HostConfig.UsernsMode:s
HostConfig.ShmSize:i HostConfig.Sysctls:m HostConfig.Runtime:s HostConfig.Isolation:s
HostConfig.CPUShares=CpuShares:i HostConfig.Memory:i HostConfig.NanoCPUs=NanoCpus:i
HostConfig.CgroupParent:s HostConfig.BlkioWeight:i HostConfig.BlkioWeightDevice:l
HostConfig.BlkioDeviceReadBps:l HostConfig.BlkioDeviceWriteBps:l
HostConfig.BlkioDeviceReadIOps:l HostConfig.BlkioDeviceWriteIOps:l
HostConfig.CPUPeriod=CpuPeriod:i HostConfig.CPUQuota=CpuQuota:i
HostConfig.CPURealtimePeriod=CpuRealtimePeriod:i
HostConfig.CPURealtimeRuntime=CpuRealtimeRuntime:i HostConfig.CpusetCpus:s
HostConfig.CpusetMems:s HostConfig.Devices:l HostConfig.DeviceCgroupRules:l
HostConfig.DeviceRequests:l HostConfig.MemoryReservation:i HostConfig.MemorySwap:i
HostConfig.MemorySwappiness:p HostConfig.OomKillDisable:p HostConfig.PidsLimit:p
HostConfig.Ulimits:l HostConfig.CPUCount=CpuCount:i HostConfig.CPUPercent=CpuPercent:i
HostConfig.IOMaximumIOps:i HostConfig.IOMaximumBandwidth:i HostConfig.Mounts:l
HostConfig.MaskedPaths:l HostConfig.ReadonlyPaths:l HostConfig.Init:p
NetworkSettings.Bridge:s NetworkSettings.SandboxID:s NetworkSettings.SandboxKey:s
NetworkSettings.Ports:m NetworkSettings.HairpinMode:b
NetworkSettings.LinkLocalIPv6Address:s NetworkSettings.LinkLocalIPv6PrefixLen:i
NetworkSettings.SecondaryIPAddresses:l NetworkSettings.SecondaryIPv6Addresses:l
NetworkSettings.EndpointID:s NetworkSettings.Gateway:s NetworkSettings.GlobalIPv6Address:s
NetworkSettings.GlobalIPv6PrefixLen:i NetworkSettings.IPAddress:s
NetworkSettings.IPPrefixLen:i NetworkSettings.IPv6Gateway:s NetworkSettings.MacAddress:s
NetworkSettings.Networks:m
"""
_IMAGE = """
ID=Id:s RepoTags:l RepoDigests:l Parent:s Comment:s Created:s DockerVersion:s Author:s
Config:S Architecture:s Variant:s Os:s OsVersion:s Size:i GraphDriver:S RootFS:S
Metadata:S Descriptor:p Manifests:l Metadata.LastTagTime:t
Config.User:s Config.ExposedPorts:m Config.Env:l Config.Entrypoint:l Config.Cmd:l
Config.Volumes:m Config.WorkingDir:s Config.Labels:m Config.StopSignal:s
Config.ArgsEscaped:b Config.Healthcheck:p Config.OnBuild:l Config.Shell:l
GraphDriver.Name:s GraphDriver.Data:m RootFS.Type:s RootFS.Layers:l
"""


def _table(text: str) -> tuple[dict[str, tuple[str, str]], frozenset[str]]:
    """``{"Path.GoName": (json key, kind)}`` and the JSON keys hidden by a Go name."""
    fields: dict[str, tuple[str, str]] = {}
    hidden: set[str] = set()
    for entry in text.split():
        path, _, kind = entry.partition(":")
        path, _, key = path.partition("=")
        parent, _, name = path.rpartition(".")
        fields[path] = (key or name, kind)
        if key:
            hidden.add(f"{parent}.{key}" if parent else key)
    return fields, frozenset(hidden)


_SCHEMAS: dict[str, tuple[dict[str, tuple[str, str]], frozenset[str]]] = {}


def _schema(kind: str) -> tuple[dict[str, tuple[str, str]], frozenset[str]]:
    schema = _SCHEMAS.get(kind)
    if schema is None:
        schema = _table(_CONTAINER if kind == "container" else _IMAGE)
        _SCHEMAS[kind] = schema
    return schema


_ZERO: dict[str, object] = {"s": "", "i": 0, "b": False, "p": None}


class GoStruct:
    """The JSON object ``raw`` seen as the Go struct at ``path`` of ``kind``."""

    __slots__ = ("_kind", "_path", "_raw")

    def __init__(self, raw: dict[str, object], kind: str, path: str = "") -> None:
        self._raw = raw
        self._kind = kind
        self._path = path

    def __getattr__(self, name: str) -> object:
        if name.startswith("_"):
            raise AttributeError(name)
        fields, hidden = _schema(self._kind)
        path = f"{self._path}.{name}" if self._path else name
        if path in hidden:
            raise AttributeError(name)  # a JSON key whose Go field is named otherwise
        key, kind = fields.get(path, (name, ""))
        if key not in self._raw:
            if kind in _ZERO:
                return _ZERO[kind]
            if kind in ("l", "L"):
                return NilSlice()
            if kind == "m":
                return NilMap()
            raise AttributeError(name)  # not a field of the struct
        value = self._raw[key]
        if value is None:
            if kind in ("l", "L"):
                return NilSlice()
            if kind == "m":
                return NilMap()
            return None
        if kind == "t" and isinstance(value, str):
            return go_time_string(value)
        if kind == "S" and isinstance(value, dict):
            return GoStruct(value, self._kind, path)
        if kind == "L" and isinstance(value, list):
            return [GoStruct(v, self._kind, path) if isinstance(v, dict) else v for v in value]
        return value

    def wire(self) -> object:
        if (self._kind, self._path) in _OMITEMPTY:
            # an OCI image config: omitempty fields, none of a container's
            fields, _ = _schema(self._kind)
            known = {
                key for path, (key, _) in fields.items() if path.rpartition(".")[0] == self._path
            }
            return {
                k: v
                for k, v in self._raw.items()
                if k in known and v not in (None, "", [], {}, False)
            }
        return self._raw

    def __str__(self) -> str:
        """Go's ``{v1 v2 ...}`` of a struct, in its fields' order."""
        from dockyard.cli.format.gofmt import sprint_value

        fields, _ = _schema(self._kind)
        prefix = f"{self._path}." if self._path else ""
        names = [
            p[len(prefix) :] for p in fields if p.startswith(prefix) and "." not in p[len(prefix) :]
        ]
        if not names:
            return sprint_value(self._raw)
        return "{" + " ".join(sprint_value(getattr(self, n)) for n in names) + "}"


_OMITEMPTY = frozenset({("image", "Config")})


def go_time_string(value: str) -> str:
    """An RFC 3339 time as Go's ``Time.String()``: ``2026-11-28 00:40:47.207642368 +0000
    UTC`` (fraction without trailing zeros; the offset's name when UTC)."""
    date, sep, rest = value.partition("T")
    if not sep:
        return value
    zone = "Z" if rest.endswith(("Z", "z")) else rest[-6:]
    clock = rest[:-1] if zone == "Z" else rest[:-6]
    whole, _, frac = clock.partition(".")
    frac = frac.rstrip("0")
    text = f"{date} {whole}" + (f".{frac}" if frac else "")
    if zone == "Z":
        return text + " +0000 UTC"
    return f"{text} {zone.replace(':', '')} {zone.replace(':', '')}"


def kind_of(obj: object) -> str:
    """``container`` or ``image`` for an inspect answer, by its shape; "" otherwise."""
    if not isinstance(obj, dict):
        return ""
    if "State" in obj and "HostConfig" in obj:
        return "container"
    if "RepoTags" in obj and "RootFS" in obj:
        return "image"
    return ""


def execute_inspect(tmpl: Template, obj: object) -> str:
    """docker's ``TemplateInspector.Inspect``: the template over the typed view, else over
    the JSON with ``missingkey=error`` (whose error is the one reported)."""
    kind = kind_of(obj)
    if kind and isinstance(obj, dict):
        try:
            return tmpl.execute(GoStruct(obj, kind), nil_error=True)
        except TemplateError:
            return tmpl.execute(obj, missing_key="error")
    return tmpl.execute(obj)
