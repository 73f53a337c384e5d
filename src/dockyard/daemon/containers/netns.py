"""Bring the loopback interface up in a container's network namespace.

A new network namespace has ``lo`` down; runc brings it up, our in-process runtime does
not, so the daemon does it between create and start, while the init waits. Without forking
(the daemon is threaded): the calling worker thread enters the namespace with ``setns``
(a per-thread operation for network namespaces), makes a socket there (a socket belongs to
the namespace it was made in), returns to its own namespace at once, and sets
``IFF_UP`` with ``SIOCSIFFLAGS`` through that socket.
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct

from dockyard.errors import FailedPrecondition
from dockyard.linux import syscalls as sc

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
_IFREQ = struct.Struct("16sH22x")


def loopback_up(pid: int) -> None:
    """Set ``lo`` up in the network namespace of process ``pid`` (blocking, no fork)."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        os.close(own)
        raise FailedPrecondition(
            f"process {pid} is gone: cannot configure its network") from None
    try:
        sc.setns(target, sc.CLONE_NEWNET)
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        finally:
            sc.setns(own, sc.CLONE_NEWNET)
    finally:
        os.close(target)
        os.close(own)
    with sock:
        req = _IFREQ.pack(b"lo", 0)
        flags = _IFREQ.unpack(fcntl.ioctl(sock.fileno(), SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(sock.fileno(), SIOCSIFFLAGS, _IFREQ.pack(b"lo", flags | IFF_UP))
