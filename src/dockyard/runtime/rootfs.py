"""Building the container's root filesystem, in the init, before the process is exec'd.

Everything here runs in the container's init (a forked, single-threaded child, already in
its new mount namespace) and follows runc's ``libcontainer/rootfs_linux.go``:

1. make ``/`` rslave (or the spec's ``rootfsPropagation``), so nothing we mount leaks back
   to the host, and make the rootfs's parent mount private (pivot_root refuses shared);
2. bind-mount the rootfs onto itself, so it is a mount point pivot_root can use;
3. mount the spec's mounts in order, each destination resolved inside the rootfs
   (symlinks followed as the container would see them, never out of it);
4. create the default device nodes and the ``/dev`` symlinks;
5. pivot_root into it and detach the old root (``MS_MOVE`` + chroot on a ramfs root);
6. after the pivot: read-only and masked paths, read-only root.
"""

from __future__ import annotations

import errno
import os
import stat

from dockyard.errors import InvalidArgument
from dockyard.linux import syscalls as sc
from dockyard.oci.runtime_spec import Device, Mount, Spec
from dockyard.runtime import mountopts
from dockyard.runtime.paths import secure_join

# Not typing's TYPE_CHECKING/NamedTuple: the runtime CLI's start-up (dockyard.records).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple
else:
    from dockyard.records import NamedTuple

# runc's DefaultSimpleDevices: created in every container that gets its own /dev.
DEFAULT_DEVICES = (
    Device("/dev/null", "c", 1, 3, 0o666, 0, 0),
    Device("/dev/zero", "c", 1, 5, 0o666, 0, 0),
    Device("/dev/full", "c", 1, 7, 0o666, 0, 0),
    Device("/dev/tty", "c", 5, 0, 0o666, 0, 0),
    Device("/dev/urandom", "c", 1, 9, 0o666, 0, 0),
    Device("/dev/random", "c", 1, 8, 0o666, 0, 0),
)

DEV_SYMLINKS = (
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
)


class CgroupMountPlan(NamedTuple):
    """What a ``type: cgroup`` mount needs, computed by the parent before the fork."""

    version: int
    binds: tuple[tuple[str, str], ...]  # v1: (host dir of our cgroup, name under the mount)
    symlinks: tuple[tuple[str, str], ...]  # v1: (link name, target), e.g. cpu -> cpu,cpuacct
    v2_dir: str  # v2: host dir of our cgroup (bound when there is no cgroup namespace)
    own_cgroupns: bool


def resolve_bind_source(bundle: str, source: str) -> str:
    """A bind source: absolute as given, relative to the bundle otherwise, never above it."""
    if os.path.isabs(source):
        return source
    full = os.path.normpath(os.path.join(bundle, source))
    if full != bundle and not full.startswith(bundle.rstrip("/") + "/"):
        raise InvalidArgument(f"bind mount source {source!r} escapes the bundle directory")
    return full


def check_mounts(spec: Spec, bundle: str) -> None:
    """Validate the mounts before anything is created, for clear errors and no leftovers."""
    for i, m in enumerate(spec.mounts):
        opts = mountopts.parse(m.options)
        if m.type == "bind" or opts.is_bind:
            if not m.source:
                raise InvalidArgument(f"mounts[{i}]: bind mount of {m.destination} has no source")
            src = resolve_bind_source(bundle, m.source)
            if not os.path.exists(src):
                raise InvalidArgument(
                    f"mounts[{i}]: bind source {src} of {m.destination} does not exist")
        elif not m.type:
            raise InvalidArgument(f"mounts[{i}]: mount of {m.destination} has no type")


# Propagation types after which no mount of the namespace is shared any more.
_NOTHING_SHARED = (sc.MS_SLAVE | sc.MS_REC, sc.MS_PRIVATE | sc.MS_REC)


def root_propagation(propagation: str) -> int:
    """The flags step 1 applies to ``/`` for the spec's ``rootfsPropagation``."""
    return mountopts.PROPAGATION.get(propagation, sc.MS_SLAVE | sc.MS_REC)


def prepare_root(rootfs: str, propagation: str) -> None:
    """Steps 1-2: stop mount propagation to the host, make the rootfs a mount point."""
    flag = root_propagation(propagation)
    sc.mount(None, "/", None, flag)
    if flag not in _NOTHING_SHARED:
        # After a recursive slave or private, no mount is shared: nothing to look up.
        _make_parent_private(rootfs)
    sc.mount(rootfs, rootfs, "bind", sc.MS_BIND | sc.MS_REC)


def _make_parent_private(rootfs: str) -> None:
    """pivot_root fails when the new root's parent mount is shared: make it private."""
    best = ""
    shared = False
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            mnt = fields[4].replace("\\040", " ")
            if (rootfs == mnt or rootfs.startswith(mnt.rstrip("/") + "/")) and len(mnt) > len(best):
                best = mnt
                shared = any(o.startswith("shared:") for o in fields[6:fields.index("-")])
    if best and shared:
        sc.mount(None, best, None, sc.MS_PRIVATE)


def _dir_mode(path: str) -> int | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.S_IMODE(st.st_mode) if stat.S_ISDIR(st.st_mode) else None


def _ensure_dir(path: str) -> None:
    try:
        if stat.S_ISDIR(os.stat(path).st_mode):
            return
    except FileNotFoundError:
        pass
    os.makedirs(path, mode=0o755, exist_ok=True)


def _ensure_file(path: str) -> None:
    _ensure_dir(os.path.dirname(path))
    if not os.path.lexists(path):
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))


def mount_all(spec: Spec, rootfs: str, bundle: str, cgroup: CgroupMountPlan) -> None:
    """Step 3: the spec's mounts, in order."""
    for m in spec.mounts:
        mount_one(m, rootfs, bundle, cgroup, spec)


def mount_one(m: Mount, rootfs: str, bundle: str, cgroup: CgroupMountPlan, spec: Spec) -> None:
    opts = mountopts.parse(m.options)
    if m.type in ("proc", "sysfs"):
        _refuse_symlinked_destination(rootfs, m)
    dest = secure_join(rootfs, m.destination)
    if m.type == "bind" or opts.is_bind:
        _bind(resolve_bind_source(bundle, m.source), dest, opts)
    elif m.type == "cgroup":
        _mount_cgroup(dest, opts, cgroup)
    else:
        # runc gives a tmpfs over an existing directory that directory's mode.
        old_mode = _dir_mode(dest) if m.type == "tmpfs" else None
        _ensure_dir(dest)
        flags = opts.flags
        if m.destination == "/dev":
            flags &= ~sc.MS_RDONLY  # populated first; remount_dev_ro() finishes it
        try:
            sc.mount(m.source or m.type, dest, m.type, flags, opts.data or None)
        except OSError as e:
            if m.type == "sysfs" and e.errno == errno.EPERM and spec.linux.namespace("network") is None:
                # sysfs cannot be mounted without an own network namespace: bind the host's.
                _bind("/sys", dest, mountopts.parse([*m.options, "rbind"]))
            else:
                raise
        if old_mode is not None and not flags & sc.MS_RDONLY:
            os.chmod(dest, old_mode)
    for p in opts.propagation:
        sc.mount(None, dest, None, p)


def _refuse_symlinked_destination(rootfs: str, m: Mount) -> None:
    """procfs and sysfs go on ordinary directories only (runc CVE-2019-19921): a symlink
    there would redirect the kernel's view of the container onto a path of the rootfs'
    author's choosing."""
    path = os.path.join(rootfs, m.destination.lstrip("/"))
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        raise InvalidArgument(
            f"{m.type} must be mounted on an ordinary directory: {m.destination} is not one")


def _bind(source: str, dest: str, opts: mountopts.MountOptions) -> None:
    if os.path.isdir(source):
        _ensure_dir(dest)
    else:
        _ensure_file(dest)
    sc.mount(source, dest, "bind", opts.flags & (sc.MS_BIND | sc.MS_REC))
    extra = opts.flags & ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT)
    if extra:
        sc.mount(source, dest, None, extra | sc.MS_BIND | sc.MS_REMOUNT)


def _mount_cgroup(dest: str, opts: mountopts.MountOptions, plan: CgroupMountPlan) -> None:
    _ensure_dir(dest)
    flags = opts.flags & (sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC | sc.MS_RELATIME)
    ro = opts.flags & sc.MS_RDONLY
    if plan.version == 2:
        if plan.own_cgroupns:
            sc.mount("cgroup", dest, "cgroup2", flags | ro)
        else:
            sc.mount(plan.v2_dir, dest, "bind", sc.MS_BIND | sc.MS_REC)
            sc.mount(plan.v2_dir, dest, None, flags | ro | sc.MS_BIND | sc.MS_REMOUNT)
        return
    # v1, as runc: a tmpfs holding one bind per hierarchy of the container's own cgroup.
    sc.mount("tmpfs", dest, "tmpfs", flags, "mode=755")
    for host_dir, name in plan.binds:
        sub = os.path.join(dest, name)
        os.mkdir(sub, 0o755)  # in the tmpfs just mounted: nothing there yet
        sc.mount(host_dir, sub, "bind", sc.MS_BIND | sc.MS_REC)
        sc.mount(host_dir, sub, None, flags | ro | sc.MS_BIND | sc.MS_REMOUNT)
    for link, target in plan.symlinks:
        path = os.path.join(dest, link)
        if not os.path.lexists(path):
            os.symlink(target, path)
    if ro:
        sc.mount("tmpfs", dest, None, flags | sc.MS_RDONLY | sc.MS_REMOUNT, "mode=755")


def ensure_cwd(rootfs: str, cwd: str) -> None:
    """Create the process's working directory inside the rootfs if it is missing."""
    path = secure_join(rootfs, cwd)
    if not os.path.isdir(path):
        os.makedirs(path, mode=0o755, exist_ok=True)


def needs_dev(spec: Spec) -> bool:
    """A container gets its own device nodes unless /dev is a bind mount of a host tree."""
    for m in spec.mounts:
        if m.destination == "/dev":
            return not (m.type == "bind" or mountopts.parse(m.options).is_bind)
    return True


_KINDS = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}


def create_devices(rootfs: str, devices: tuple[Device, ...]) -> None:
    """Step 4: device nodes, the ptmx link and the /dev symlinks (umask must be 0).

    The entries directly in ``/dev`` are made relative to one descriptor of the
    container's ``/dev`` (resolved inside the rootfs once: a name without a slash cannot
    lead anywhere else); deeper device paths are resolved one by one."""
    dev_dir = secure_join(rootfs, "/dev")
    _ensure_dir(dev_dir)
    dfd = os.open(dev_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        for dev in (*DEFAULT_DEVICES, *devices):
            _make_node(rootfs, dfd, dev)
        _replace_link(dfd, "pts/ptmx", "ptmx")
        for target, link in DEV_SYMLINKS:
            _add_link(dfd, target, link[len("/dev/"):])
        if os.path.exists("/proc/kcore"):
            _add_link(dfd, "/proc/kcore", "core")
    finally:
        os.close(dfd)


def _make_node(rootfs: str, dfd: int, dev: Device) -> None:
    kind = _KINDS[dev.type]
    mode = dev.file_mode if dev.file_mode is not None else 0o666
    rdev = os.makedev(dev.major, dev.minor)
    name = dev.path[len("/dev/"):] if dev.path.startswith("/dev/") else ""
    if not name or "/" in name or name in (".", ".."):
        path = secure_join(rootfs, dev.path)
        _ensure_dir(os.path.dirname(path))
        if os.path.lexists(path):
            os.unlink(path)
        os.mknod(path, kind | mode, rdev)
        os.chown(path, dev.uid or 0, dev.gid or 0)
        return
    try:
        os.mknod(name, kind | mode, rdev, dir_fd=dfd)
    except FileExistsError:
        os.unlink(name, dir_fd=dfd)
        os.mknod(name, kind | mode, rdev, dir_fd=dfd)
    os.chown(name, dev.uid or 0, dev.gid or 0, dir_fd=dfd, follow_symlinks=False)


def _replace_link(dfd: int, target: str, name: str) -> None:
    try:
        os.symlink(target, name, dir_fd=dfd)
    except FileExistsError:
        os.unlink(name, dir_fd=dfd)
        os.symlink(target, name, dir_fd=dfd)


def _add_link(dfd: int, target: str, name: str) -> None:
    try:
        os.symlink(target, name, dir_fd=dfd)
    except FileExistsError:
        pass


def pivot_root(rootfs: str, no_pivot: bool, propagation: int = 0) -> None:
    """Step 5: make the rootfs ``/``; the old root is detached and gone from the namespace.
    ``propagation``: the flags step 1 gave ``/`` (``root_propagation``)."""
    if not no_pivot:
        oldroot = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
        newroot = os.open(rootfs, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fchdir(newroot)
            try:
                sc.pivot_root(".", ".")
            except OSError as e:
                if e.errno != errno.EINVAL:
                    raise
                no_pivot = True  # a rootfs on ramfs/initramfs: pivot_root cannot work
            else:
                # The old root is now stacked under ".": go there, keep its unmount from
                # propagating anywhere (already so after a recursive slave or private),
                # and detach it.
                os.fchdir(oldroot)
                if propagation not in _NOTHING_SHARED:
                    sc.mount(None, ".", None, sc.MS_SLAVE | sc.MS_REC)
                sc.umount2(".", sc.MNT_DETACH)
        finally:
            os.close(oldroot)
            os.close(newroot)
    if no_pivot:
        os.chdir(rootfs)
        sc.mount(rootfs, "/", None, sc.MS_MOVE)
        os.chroot(".")
    os.chdir("/")


def readonly_path(path: str) -> None:
    """Step 6: bind a path onto itself read-only (missing paths are skipped)."""
    try:
        sc.mount(path, path, None, sc.MS_BIND | sc.MS_REC)
    except OSError as e:
        if e.errno == errno.ENOENT:
            return
        raise
    flags = sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | _locked_flags(path)
    sc.mount(path, path, None, flags)


def _locked_flags(path: str) -> int:
    st = os.statvfs(path)
    flags = 0
    for bit, ms in ((os.ST_NOSUID, sc.MS_NOSUID), (os.ST_NODEV, sc.MS_NODEV),
                    (os.ST_NOEXEC, sc.MS_NOEXEC)):
        if st.f_flag & bit:
            flags |= ms
    return flags


def mask_path(path: str) -> None:
    """Step 6: hide a path: /dev/null over a file, an empty read-only tmpfs over a dir."""
    try:
        sc.mount("/dev/null", path, None, sc.MS_BIND)
    except OSError as e:
        if e.errno == errno.ENOENT:
            return
        if e.errno != errno.ENOTDIR:
            raise
        sc.mount("tmpfs", path, "tmpfs", sc.MS_RDONLY)


def readonly_root() -> None:
    sc.mount("/", "/", None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | _locked_flags("/"))


def remount_dev_ro(spec: Spec) -> None:
    """A /dev mount asked read-only is populated first, then made read-only."""
    for m in spec.mounts:
        if m.destination == "/dev" and "ro" in m.options and m.type == "tmpfs":
            opts = mountopts.parse(m.options)
            sc.mount(None, "/dev", None, opts.flags | sc.MS_REMOUNT | sc.MS_RDONLY)
