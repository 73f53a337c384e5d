"""``POST /commit``: a container's changes as a new image (moby's
``CreateImageFromContainer``).

The new image's config is the override the client sent (or the container's own config),
with the ``changes`` lines applied (Dockerfile instructions: CMD, ENTRYPOINT, ENV,
EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR), then completed from the
container's config the way moby's ``merge`` does (empty fields taken, env and labels
added where the key is new, ports and volumes united).

A running container is frozen while its layer is read (``pause``, Docker's default).
With ``pause=false`` dockyard freezes it all the same: the diff walks the container's
upper directory by path, and a process of the container must not be able to swap a
directory there for a symlink mid-walk. The freeze lasts the diff and is undone after,
whatever happens.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Protocol

from dockyard import errors
from dockyard.daemon.containers.config import ContainerConfig as DaemonConfig
from dockyard.daemon.containers.model import Status
from dockyard.daemon.containers.runner import Runner
from dockyard.daemon.containers.table import Table
from dockyard.daemon.events import EventType
from dockyard.image import ImageService
from dockyard.image.changes import apply_changes
from dockyard.image.resolve import tag_name
from dockyard.oci import reference
from dockyard.oci.manifest import ContainerConfig, HealthConfig

log = logging.getLogger(__name__)


class CommitOptions(Protocol):
    """The fields of a commit request (``apitypes.files.CommitOptions``)."""

    @property
    def container(self) -> str: ...

    @property
    def repo(self) -> str: ...

    @property
    def tag(self) -> str: ...

    @property
    def comment(self) -> str: ...

    @property
    def author(self) -> str: ...

    @property
    def pause(self) -> bool: ...

    @property
    def changes(self) -> tuple[str, ...]: ...

    @property
    def config(self) -> ContainerConfig | None:
        """The client's config override (the request body), or None."""
        ...


def image_config_of(c: DaemonConfig) -> ContainerConfig:
    """The image-config view of a container's config."""
    return ContainerConfig(user=c.user, exposed_ports=c.exposed_ports, env=c.env,
                           entrypoint=c.entrypoint, cmd=c.cmd, volumes=c.volumes,
                           working_dir=c.working_dir, labels=dict(c.labels),
                           stop_signal=c.stop_signal, args_escaped=c.args_escaped,
                           on_build=c.on_build, shell=c.shell,
                           healthcheck=None if c.healthcheck is None else HealthConfig(
                               c.healthcheck.test, c.healthcheck.interval,
                               c.healthcheck.timeout, c.healthcheck.start_period,
                               c.healthcheck.start_interval, c.healthcheck.retries))


_CONTINUATION = re.compile(r"\\[ \t]*$")


def instructions(changes: tuple[str, ...]) -> list[str]:
    """The instructions of the ``changes``, parsed as moby does: joined with newlines into
    one Dockerfile, whose lines ending in ``\\`` continue on the next (comment lines and
    empty lines inside a continuation skipped)."""
    out: list[str] = []
    current: str | None = None
    for raw in "\n".join(changes).splitlines():
        if current is None:
            raw = raw.strip()
            if not raw or raw.startswith("#"):
                continue
        elif not raw.strip() or raw.lstrip().startswith("#"):
            continue
        text = raw.rstrip() if current is None else raw
        trimmed = _CONTINUATION.sub("", text)
        current = (current or "") + trimmed
        if trimmed == text:
            out.append(current.strip())
            current = None
    if current is not None and current.strip():
        out.append(current.strip())
    return out


def split_changes(lines: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(changes for ``image.changes``, ONBUILD triggers): one instruction per line."""
    plain: list[str] = []
    onbuild: list[str] = []
    for line in instructions(lines):
        word, _, arg = line.partition(" ")
        if word.upper() == "ONBUILD":
            trigger = arg.strip()
            first = trigger.partition(" ")[0].upper()
            if not trigger or first in ("ONBUILD", "FROM", "MAINTAINER"):
                raise errors.InvalidArgument(f"{first or 'ONBUILD'} isn't allowed as an "
                                             "ONBUILD trigger")
            onbuild.append(trigger)
        else:
            plain.append(line)
    return plain, onbuild


def merge(user: ContainerConfig, base: ContainerConfig) -> ContainerConfig:
    """moby's ``merge(userConf, imageConf)``."""
    env = list(user.env)
    if not env:
        env = list(base.env)
    else:
        keys = {e.partition("=")[0] for e in env}
        env += [e for e in base.env if e.partition("=")[0] not in keys]
    labels = dict(base.labels)
    labels.update(user.labels)
    entrypoint, cmd, escaped = user.entrypoint, user.cmd, user.args_escaped
    if not entrypoint:
        if not cmd:
            cmd, escaped = base.cmd, base.args_escaped
        if entrypoint is None:
            entrypoint = base.entrypoint
    return user._replace(
        user=user.user or base.user,
        exposed_ports=tuple(sorted(set(user.exposed_ports) | set(base.exposed_ports))),
        env=tuple(env), labels=labels, entrypoint=entrypoint, cmd=cmd, args_escaped=escaped,
        healthcheck=user.healthcheck or base.healthcheck,
        working_dir=user.working_dir or base.working_dir,
        volumes=tuple(sorted(set(user.volumes) | set(base.volumes))),
        stop_signal=user.stop_signal or base.stop_signal)


def container_fields(req: CommitOptions, c: DaemonConfig) -> dict[str, object]:
    """The container-only keys of moby's committed config: without an override body moby
    commits the container's whole ``Config`` (its ``Hostname``, the ``Image`` it was
    created from, ...); with one, the override's (which dockyard does not keep: none)."""
    if req.config is not None:
        return {}
    return {"Hostname": c.hostname, "Domainname": c.domainname,
            "AttachStdin": c.attach_stdin, "AttachStdout": c.attach_stdout,
            "AttachStderr": c.attach_stderr, "Tty": c.tty, "OpenStdin": c.open_stdin,
            "StdinOnce": c.stdin_once, "Image": c.image}


def new_config(req: CommitOptions, container: DaemonConfig) -> ContainerConfig:
    base = image_config_of(container)
    plain, onbuild = split_changes(req.changes)
    config = apply_changes(req.config if req.config is not None else base, plain)
    if onbuild:
        config = config._replace(on_build=(*config.on_build, *onbuild))
    return merge(config, base)


class Committer:
    def __init__(self, table: Table, runner: Runner, images: ImageService) -> None:
        self.table = table
        self.runner = runner
        self.images = images

    async def commit(self, req: CommitOptions) -> str:
        """The new image's ID."""
        entry = self.table.find(req.container)
        c = entry.container
        names = []
        if req.repo:
            try:
                names = [tag_name(req.repo, req.tag)]
            except errors.InvalidArgument as exc:
                raise errors.InvalidArgument(f"invalid reference format: {exc}") from None
        elif req.tag:
            raise errors.InvalidArgument("a tag needs a repository")
        config = new_config(req, c.config)
        parent = await asyncio.to_thread(self.images.get, c.image_id)
        created_by = " ".join(c.config.cmd or ())
        froze = False
        if c.state.status is Status.RUNNING:
            await self.runner.pause(entry)
            froze = True
        elif c.state.status is Status.RESTARTING:
            raise errors.Conflict(f"container {c.id} is restarting: wait until it runs")
        try:
            image = await asyncio.to_thread(
                self.images.commit, c.id, parent, config, names=names, author=req.author,
                comment=req.comment, created_by=created_by, container_id=c.id,
                container_fields=container_fields(req, c.config))
        finally:
            if froze:
                try:
                    await self.runner.unpause(entry)
                except errors.Conflict as exc:
                    log.info("commit of %s: not unpaused: %s", c.short_id, exc)
        image_id = str(image.id)
        ref = ""
        if names:
            ref = reference.familiar_string(reference.parse(names[0]))
            self.runner.events.publish(EventType.IMAGE, "tag", image_id, {"name": ref})
        self.runner.event(entry.container, "commit",
                          {"comment": req.comment, "imageID": image_id, "imageRef": ref})
        return image_id
