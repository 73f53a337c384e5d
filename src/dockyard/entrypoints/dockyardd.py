"""``dockyardd``: the daemon's entry point and its one composition root.

Start-up, in this order (each step may refuse to go on, with a message and exit 1):

1. parse flags and the config file into a frozen ``DaemonConfig``;
2. prepare the data and exec roots and take the data root's lock (a second daemon on the
   same data root is refused);
3. spawn the supervisor, or reconnect to it when it outlived a previous daemon (live
   restore). This happens *before any thread exists*: spawning forks, and the supervisor
   is the only process that forks containers;
4. open the image service (its stores recover from a crash), build the services;
5. in the event loop: recover the containers (running ones are watched again through the
   supervisor, exits that happened while the daemon was down are processed, what a crash
   left is cleaned), then serve the Engine API on each ``-H`` socket (mode 0660).

SIGTERM and SIGINT stop the daemon, not the containers: the supervisor keeps them, their
logs and their exit statuses until the next daemon start.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import functools
import gc
import logging
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from dockyard import errors
from dockyard.api.app import build_app
from dockyard.api.attach import AttachRouter
from dockyard.api.auth import AuthRouter
from dockyard.api.containers import ContainerRouter
from dockyard.api.events import EventsRouter
from dockyard.api.execs import ExecRouter
from dockyard.api.files import FilesRouter
from dockyard.api.images import ImageRouter
from dockyard.api.logs import LogsRouter
from dockyard.api.stats import ResourceRouter
from dockyard.api.stubs import StubRouter
from dockyard.api.system import SystemRouter
from dockyard.daemon.config import (
    DEFAULT_DATA_ROOT,
    DEFAULT_EXEC_ROOT,
    DEFAULT_HOST,
    DEFAULT_INIT_PATH,
    LOG_LEVELS,
    DaemonConfig,
    build_config,
    load_config_file,
)
from dockyard.daemon.containers.commit import Committer
from dockyard.daemon.containers.files import ContainerFiles
from dockyard.daemon.containers.service import ContainerService
from dockyard.daemon.containers.stats import ContainerStats
from dockyard.daemon.containers.update import ContainerUpdater
from dockyard.daemon.diskuse import DiskUsageService
from dockyard.daemon.events import EventBus, EventType
from dockyard.daemon.images import DaemonImages, ImageCounter
from dockyard.daemon.layout import DaemonLock, DataRoot, ExecRoot
from dockyard.daemon.pulls import DaemonRegistry
from dockyard.daemon.supervision import AsyncSupervisor, connect, runtime_spec
from dockyard.daemon.system import SystemService, engine_id
from dockyard.distribution import DEFAULT_CERTS_DIR
from dockyard.image import ImageService
from dockyard.runtime.supervisor.client import SupervisorClient

log = logging.getLogger("dockyardd")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
WORKER_THREADS = 32
SHUTDOWN_GRACE = 1.0


def parse_args(argv: Sequence[str] | None) -> DaemonConfig:
    p = argparse.ArgumentParser(prog="dockyardd", description="the dockyard daemon: serves "
                                "the Docker Engine API and runs containers")
    # Defaults are applied by DaemonConfig, so that a flag given can be told from one not
    # given (a directive may not come from both the command line and the config file).
    p.add_argument("--data-root", help=f"persistent state (default {DEFAULT_DATA_ROOT})")
    p.add_argument("--exec-root", help=f"runtime state (default {DEFAULT_EXEC_ROOT})")
    p.add_argument("-H", "--host", action="append", dest="hosts",
                   help=f"socket to serve (default {DEFAULT_HOST}); repeatable")
    p.add_argument("--config-file", help="JSON file with the same keys as the long flags")
    p.add_argument("--runtime", help="'dockyard' (in-process, the default) or an OCI "
                   "runtime binary with runc's command line ('runc')")
    p.add_argument("--snapshotter", "--storage-driver", dest="snapshotter",
                   help="overlay (default) or native")
    p.add_argument("--init-path", help=f"the init for --init (default {DEFAULT_INIT_PATH})")
    p.add_argument("--cgroup-parent", help="parent cgroup of containers (default /dockyard)")
    p.add_argument("-l", "--log-level", choices=LOG_LEVELS, help="default info")
    p.add_argument("--insecure-registry", action="append", dest="insecure_registries",
                   help="a registry (host[:port] or CIDR) reached over plain HTTP and "
                   "without certificate checks; repeatable (loopback always is)")
    p.add_argument("--registry-mirror", action="append", dest="registry_mirrors",
                   help="a Docker Hub mirror (http[s]://host[:port]); repeatable")
    p.add_argument("--certs-dir", help="registry CAs and client certificates, in "
                   f"<dir>/<host:port>/ (default {DEFAULT_CERTS_DIR})")
    ns = p.parse_args(argv)
    flags: dict[str, Any] = {k: v for k, v in vars(ns).items()
                             if v is not None and k != "config_file"}
    for name in ("hosts", "insecure_registries", "registry_mirrors"):
        if name in flags:
            flags[name] = tuple(flags[name])
    file_fields = load_config_file(ns.config_file) if ns.config_file else {}
    return build_config(flags, file_fields)


@dataclass(frozen=True, slots=True)
class Services:
    """Everything the composition root built, for serving and for shutting down."""

    config: DaemonConfig
    lock: DaemonLock
    supervisor: SupervisorClient
    images: ImageService
    containers: ContainerService
    system: SystemService
    events: EventBus


def build(config: DaemonConfig) -> Services:
    """Steps 2-4 of the module docstring. Runs before any thread exists."""
    data, run = DataRoot(config.data_root), ExecRoot(config.exec_root)
    data.prepare()
    run.prepare()
    lock = DaemonLock(data.lock)
    lock.acquire()
    try:
        client, reconnected = connect(run.supervisor, log_level=config.log_level)
    except BaseException:
        lock.release()
        raise
    try:
        images = ImageService.open(config.data_root, config.snapshotter)
    except BaseException:
        client.close()
        lock.release()
        raise
    supervisor = AsyncSupervisor(client, runtime_spec(config.runtime, run.runtime))
    events = EventBus()
    containers = ContainerService(config, data, run, supervisor, images, events)
    system = SystemService(config, containers, ImageCounter(images),
                           engine_id(os.path.join(config.data_root, "engine-id")))
    log.info("dockyardd %d: data root %s, exec root %s, supervisor %s", os.getpid(),
             config.data_root, config.exec_root,
             "reconnected" if reconnected else "started")
    return Services(config, lock, client, images, containers, system, events)


async def serve(services: Services) -> None:
    """Step 5: recover, serve until SIGTERM/SIGINT, stop serving (containers keep running)."""
    loop = asyncio.get_running_loop()
    loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(
        max_workers=WORKER_THREADS, thread_name_prefix="dockyardd"))
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await services.containers.recover()
    image_events = functools.partial(services.events.publish, EventType.IMAGE)
    registry = DaemonRegistry(services.images, services.config.registry, image_events)
    app = build_app([
        SystemRouter(services.system),
        ContainerRouter(services.containers),
        AttachRouter(services.containers),
        ExecRouter(services.containers.execs),
        LogsRouter(services.containers),
        FilesRouter(ContainerFiles(services.containers.table, services.containers.runner,
                                   services.containers.rootfs, services.containers.run),
                    Committer(services.containers.table, services.containers.runner,
                              services.images)),
        ResourceRouter(
            ContainerStats(lambda ref: services.containers.table.find(ref).container,
                           services.containers.runner.cgroup_path),
            ContainerUpdater(services.containers.table, services.containers.runner,
                             blkio_weight=services.containers.blkio_weight),
            DiskUsageService(services.images, services.containers)),
        EventsRouter(services.events),
        ImageRouter(DaemonImages(services.images, services.containers, image_events),
                    registry),
        AuthRouter(registry),
        StubRouter(),
    ])
    # Streams still open at shutdown (waits, followed logs) end after SHUTDOWN_GRACE: the
    # daemon's clients see the connection close; the containers keep running.
    runner = web.AppRunner(app, access_log=None, handle_signals=False,
                           shutdown_timeout=SHUTDOWN_GRACE)
    await runner.setup()
    # What start-up made (modules, the app, the recovered state) lives as long as the
    # daemon: frozen out of the collector's sight, a full collection no longer walks it
    # (one cost a request 100-200 ms on a busy machine).
    gc.collect()
    gc.freeze()
    try:
        for path in services.config.socket_paths:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            site = web.UnixSite(runner, path)
            await site.start()
            os.chmod(path, services.config.socket_mode)
            log.info("API listening on %s", path)
        with open(ExecRoot(services.config.exec_root).pid_file, "w", encoding="ascii") as f:
            f.write(f"{os.getpid()}\n")
        await stop.wait()
        log.info("stopping (containers keep running: live restore)")
    finally:
        await runner.cleanup()
        await services.containers.close()
        for path in services.config.socket_paths:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(ExecRoot(services.config.exec_root).pid_file)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config = parse_args(argv)
    except errors.DockyardError as exc:
        sys.stderr.write(f"dockyardd: {exc}\n")
        return 1
    logging.basicConfig(level=config.log_level.upper(), format=LOG_FORMAT)
    try:
        services = build(config)
    except (errors.DockyardError, OSError) as exc:
        log.error("cannot start: %s", exc)
        return 1
    try:
        asyncio.run(serve(services))
    finally:
        services.images.close()
        services.supervisor.close()
        services.lock.release()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
