"""The per-container ``/etc/hostname``, ``/etc/hosts`` and ``/etc/resolv.conf``.

Written at create into the container's directory and bind-mounted over the image's files
at each start, as Docker does. With ``--network host`` the host's ``/etc/hosts`` and
``/etc/resolv.conf`` are copied; otherwise ``hosts`` holds the loopback entries, the
container's own name and ``ExtraHosts``, and ``resolv.conf`` the host's, minus loopback
nameservers (unreachable from the container's network namespace), or Docker's fallback
(8.8.8.8, 8.8.4.4) when none is left; ``Dns``/``DnsSearch``/``DnsOptions`` replace the
corresponding lines.
"""

from __future__ import annotations

import ipaddress
import logging
import os

from dockyard.daemon.containers.config import HostConfig
from dockyard.errors import InvalidArgument

log = logging.getLogger(__name__)

HOST_RESOLV_CONF = "/etc/resolv.conf"
HOST_HOSTS = "/etc/hosts"
FALLBACK_NAMESERVERS = ("8.8.8.8", "8.8.4.4")
MAX_HOST_FILE = 1 << 20

_DEFAULT_HOSTS = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)


def _read_host_file(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read(MAX_HOST_FILE).decode("utf-8", "replace")
    except OSError as exc:
        log.warning("cannot read %s: %s", path, exc)
        return ""


def parse_extra_host(entry: str) -> tuple[str, str]:
    """``host:ip`` (or ``host=ip``) → (host, ip); ``host-gateway`` is refused for now."""
    sep = "=" if "=" in entry else ":"
    host, _, ip = entry.partition(sep)
    if not host or not ip:
        raise InvalidArgument(f"HostConfig.ExtraHosts: invalid entry {entry!r}: expected "
                              "host:ip")
    if ip == "host-gateway":
        raise InvalidArgument("HostConfig.ExtraHosts: host-gateway needs bridge networking, "
                              "which dockyard does not have yet")
    ip = ip.strip("[]")
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        raise InvalidArgument(f"HostConfig.ExtraHosts: invalid IP address in {entry!r}") from None
    return host, ip


def hosts_file(hc: HostConfig) -> str:
    text = _read_host_file(HOST_HOSTS) if hc.network_mode == "host" else _DEFAULT_HOSTS
    for entry in hc.extra_hosts:
        host, ip = parse_extra_host(entry)
        text += f"{ip}\t{host}\n"
    return text


def resolv_conf(hc: HostConfig) -> str:
    host = _read_host_file(HOST_RESOLV_CONF)
    if hc.network_mode == "host" and not (hc.dns or hc.dns_search or hc.dns_options):
        return host
    nameservers: list[str] = []
    search: list[str] = []
    options: list[str] = []
    other: list[str] = []
    for line in host.splitlines():
        fields = line.split()
        if not fields or fields[0].startswith(("#", ";")):
            continue
        if fields[0] == "nameserver" and len(fields) > 1:
            nameservers.append(fields[1])
        elif fields[0] in ("search", "domain"):
            search = fields[1:]
        elif fields[0] == "options":
            options.extend(fields[1:])
        else:
            other.append(line)
    if hc.network_mode != "host":
        nameservers = [ns for ns in nameservers if not _is_loopback(ns)]
    if hc.dns:
        nameservers = list(hc.dns)
    if not nameservers and hc.network_mode != "host":
        nameservers = list(FALLBACK_NAMESERVERS)
    if hc.dns_search:
        search = [] if list(hc.dns_search) == ["."] else list(hc.dns_search)
    if hc.dns_options:
        options = list(hc.dns_options)
    out = [f"nameserver {ns}" for ns in nameservers]
    if search:
        out.append("search " + " ".join(search))
    if options:
        out.append("options " + " ".join(options))
    return "\n".join(out + other) + "\n"


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


def write_file(path: str, text: str) -> None:
    """``text`` as the new file ``path``, 0644 (at create, in the container's new
    directory: a create that dies half-way leaves a directory without a record, which
    recovery removes whole)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        os.fchmod(fd, 0o644)
        view = memoryview(text.encode("utf-8"))
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
