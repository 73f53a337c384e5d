"""docker's ``prettyPrintServerInfo`` (``cli/command/system/info.go``): the Server part
of ``dockyard info``, line by line, with Go's ``Println`` spacing and the lines docker
leaves out when their value is empty."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _go(value: object) -> str:
    from dockyard.cli.format.gofmt import sprint_value

    return sprint_value(value)


def server_info_lines(info: dict[str, Any], *, client_debug: bool = False) -> list[str]:
    """docker's ``prettyPrintServerInfo``, one string per line (the last one empty)."""
    from dockyard.cli.format.human import bytes_size

    out: list[str] = []

    def println(*args: object) -> None:
        out.append(" ".join(_go(a) for a in args))

    def nonempty(label: str, value: object) -> None:
        if value not in (None, ""):
            println(label, value)

    println(" Containers:", info.get("Containers", 0))
    println("  Running:", info.get("ContainersRunning", 0))
    println("  Paused:", info.get("ContainersPaused", 0))
    println("  Stopped:", info.get("ContainersStopped", 0))
    println(" Images:", info.get("Images", 0))
    nonempty(" Server Version:", info.get("ServerVersion"))
    nonempty(" Storage Driver:", info.get("Driver"))
    for pair in info.get("DriverStatus") or []:
        out.append(f"  {pair[0]}: {pair[1]}")
    for pair in info.get("SystemStatus") or []:
        out.append(f" {pair[0]}: {pair[1]}")
    nonempty(" Logging Driver:", info.get("LoggingDriver"))
    nonempty(" Cgroup Driver:", info.get("CgroupDriver"))
    nonempty(" Cgroup Version:", info.get("CgroupVersion"))
    plugins = info.get("Plugins") or {}
    println(" Plugins:")
    println("  Volume:", " ".join(plugins.get("Volume") or []))
    println("  Network:", " ".join(plugins.get("Network") or []))
    if plugins.get("Authorization"):
        println("  Authorization:", " ".join(plugins["Authorization"]))
    println("  Log:", " ".join(plugins.get("Log") or []))
    if info.get("CDISpecDirs"):
        println(" CDI spec directories:")
        out.extend(f"  {d}" for d in info["CDISpecDirs"])
    swarm = info.get("Swarm") or {}
    println(" Swarm:", swarm.get("LocalNodeState", ""))
    if swarm.get("LocalNodeState") not in ("inactive", "locked", "", None):
        println("  NodeID:", swarm.get("NodeID", ""))
        println("  Is Manager:", bool(swarm.get("ControlAvailable")))
        println("  Node Address:", swarm.get("NodeAddr", ""))
    runtimes = info.get("Runtimes") or {}
    if runtimes:
        println(" Runtimes:", " ".join(runtimes))
        println(" Default Runtime:", info.get("DefaultRuntime", ""))
    if info.get("OSType") == "linux":
        println(" Init Binary:", info.get("InitBinary", ""))
        println(" containerd version:", (info.get("ContainerdCommit") or {}).get("ID", ""))
        println(" runc version:", (info.get("RuncCommit") or {}).get("ID", ""))
        println(" init version:", (info.get("InitCommit") or {}).get("ID", ""))
        options = info.get("SecurityOptions") or []
        if options:
            println(" Security Options:")
            for option in options:
                fields = dict(kv.partition("=")[::2] for kv in str(option).split(","))
                out.append("  " + fields.get("name", str(option)))
                if fields.get("profile"):
                    println("   Profile:", fields["profile"])
    nonempty(" Kernel Version:", info.get("KernelVersion"))
    nonempty(" Operating System:", info.get("OperatingSystem"))
    nonempty(" OSType:", info.get("OSType"))
    nonempty(" Architecture:", info.get("Architecture"))
    println(" CPUs:", info.get("NCPU", 0))
    println(" Total Memory:", bytes_size(float(info.get("MemTotal") or 0)))
    nonempty(" Name:", info.get("Name"))
    nonempty(" ID:", info.get("ID"))
    println(" Docker Root Dir:", info.get("DockerRootDir", ""))
    println(" Debug Mode:", bool(info.get("Debug")))
    if info.get("Debug") or client_debug:
        println("  File Descriptors:", info.get("NFd", 0))
        println("  Goroutines:", info.get("NGoroutines", 0))
        println("  System Time:", info.get("SystemTime", ""))
        println("  EventsListeners:", info.get("NEventsListener", 0))
    nonempty(" HTTP Proxy:", info.get("HttpProxy"))
    nonempty(" HTTPS Proxy:", info.get("HttpsProxy"))
    nonempty(" No Proxy:", info.get("NoProxy"))
    if info.get("Labels"):
        println(" Labels:")
        out.extend(f"  {label}" for label in info["Labels"])
    println(" Experimental:", bool(info.get("ExperimentalBuild")))
    registry = info.get("RegistryConfig") or {}
    cidrs = registry.get("InsecureRegistryCIDRs") or []
    indexes = registry.get("IndexConfigs") or {}
    if cidrs or indexes:
        println(" Insecure Registries:")
        out.extend(
            f"  {cfg.get('Name', name)}" for name, cfg in indexes.items() if not cfg.get("Secure")
        )
        out.extend(f"  {cidr}" for cidr in cidrs)
    if registry.get("Mirrors"):
        println(" Registry Mirrors:")
        out.extend(f"  {m}" for m in registry["Mirrors"])
    println(" Live Restore Enabled:", bool(info.get("LiveRestoreEnabled")))
    if info.get("ProductLicense"):
        println(" Product License:", info["ProductLicense"])
    pools = info.get("DefaultAddressPools") or []
    if pools:
        println(" Default Address Pools:")
        out.extend(f"   Base: {p.get('Base')}, Size: {p.get('Size')}" for p in pools)
    out.append("")
    return out
