"""``DaemonRegistry`` over a fake image service: which references a push names (one tag,
every local tag, moby's words for a missing one), the items a transfer hands out in
order (progress, then each push's result), the pull/push events, a cancelled transfer."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any, cast

import pytest

from dockyard import errors
from dockyard.daemon.pulls import DaemonRegistry, Transfer
from dockyard.distribution import RegistryAuth, RegistryConfig
from dockyard.image import ImageService
from dockyard.image.progress import Progress, PullResult, PushResult

DIGEST = "sha256:" + "ab" * 32
REPO = "127.0.0.1:5000/team/app"


class FakeImages:
    def __init__(self, tags: list[str]) -> None:
        self.tags = tags
        self.calls: list[tuple[str, str]] = []

    def _image(self) -> Any:
        return SimpleNamespace(config=SimpleNamespace(config=SimpleNamespace(
            labels={"team": "a"})))

    def get(self, ref: str) -> Any:
        if ref not in self.tags:
            raise errors.NotFound(f"No such image: {ref}")
        return self._image()

    def images(self) -> list[Any]:
        familiar = [t.replace("docker.io/library/", "") for t in self.tags]
        return [SimpleNamespace(repo_tags=tuple(familiar))]

    def push(self, ref: str, *, auth: RegistryAuth, progress: Any, config: RegistryConfig,
             cancel: threading.Event) -> PushResult:
        self.calls.append(("push", ref))
        progress(Progress("Pushed", "0123456789ab"))
        return PushResult(ref.rsplit(":", 1)[1], DIGEST, 527)

    def remote_tags(self, ref: str, *, auth: RegistryAuth, config: RegistryConfig
                    ) -> list[str]:
        self.calls.append(("tags", ref))
        return ["fast2", "fast1", "fast2"] if ref.endswith("/app") else []

    def pull(self, ref: str, *, auth: RegistryAuth, platform: str, progress: Any,
             config: RegistryConfig, cancel: threading.Event) -> PullResult:
        self.calls.append(("pull", ref))
        progress(Progress("Pulling fs layer", "0123456789ab"))
        if not cancel.wait(0 if "fast" in ref else 10):
            return PullResult(self._image(), DIGEST, ref, True)
        raise errors.FailedPrecondition("pull cancelled")


async def drain(transfer: Transfer[Any]) -> list[Any]:
    items = []
    while not transfer.finished:
        item = await transfer.next(5)
        if item is not None:
            items.append(item)
    return items


def registry(images: FakeImages) -> tuple[DaemonRegistry, list[tuple[str, str, dict[str, str]]]]:
    events: list[tuple[str, str, dict[str, str]]] = []

    def sink(action: str, actor: str, attrs: Mapping[str, str]) -> None:
        events.append((action, actor, dict(attrs)))

    return DaemonRegistry(cast(ImageService, images), RegistryConfig(), sink), events


def test_push_one_tag_every_tag_and_a_missing_one() -> None:
    images = FakeImages([f"{REPO}:v1", f"{REPO}:v2", "docker.io/library/busybox:latest"])
    reg, events = registry(images)

    async def main() -> None:
        items = await drain(await reg.push(f"{REPO}:v1", auth=RegistryAuth()))
        assert items == [Progress("Pushed", "0123456789ab"), PushResult("v1", DIGEST, 527)]
        items = await drain(t := await reg.push(REPO, auth=RegistryAuth()))
        assert [i.tag for i in items if isinstance(i, PushResult)] == ["v1", "v2"]
        assert [r.tag for r in await t.wait()] == ["v1", "v2"]
        for ref in (f"{REPO}:v9", "127.0.0.1:5000/other"):
            with pytest.raises(errors.NotFound, match=r"An image does not exist locally "
                               r"with the tag: 127\.0\.0\.1:5000/"):
                await reg.push(ref, auth=RegistryAuth())

    asyncio.run(main())
    assert images.calls == [("push", f"{REPO}:v1"), ("push", f"{REPO}:v1"),
                            ("push", f"{REPO}:v2")]
    assert events[0] == ("push", f"{REPO}:v1", {"team": "a", "name": f"{REPO}:v1"})
    assert [e[0] for e in events] == ["push"] * 3


def test_pull_event_and_cancel() -> None:
    images = FakeImages([])
    reg, events = registry(images)

    async def main() -> None:
        fast = await reg.pull(f"{REPO}:fast", auth=RegistryAuth())
        assert await drain(fast) == [Progress("Pulling fs layer", "0123456789ab")]
        assert [r.reference for r in await fast.wait()] == [f"{REPO}:fast"]
        slow = await reg.pull(f"{REPO}:slow", auth=RegistryAuth())
        assert await slow.next(5) == Progress("Pulling fs layer", "0123456789ab")
        slow.cancel()
        with pytest.raises(errors.FailedPrecondition, match="cancelled"):
            await asyncio.wait_for(slow.wait(), 5)

    asyncio.run(main())
    assert events == [("pull", f"{REPO}:fast", {"team": "a", "name": f"{REPO}:fast"})]


def test_pull_every_tag() -> None:
    images = FakeImages([])
    reg, events = registry(images)

    async def main() -> None:
        every = await reg.pull(REPO, auth=RegistryAuth())
        await drain(every)
        assert [r.reference for r in await every.wait()] == [f"{REPO}:fast1", f"{REPO}:fast2"]
        none = await reg.pull("127.0.0.1:5000/empty", auth=RegistryAuth())
        await drain(none)
        with pytest.raises(errors.NotFound, match="no tags available for 127"):
            await none.wait()

    asyncio.run(main())
    assert images.calls[:3] == [("tags", REPO), ("pull", f"{REPO}:fast1"),
                                ("pull", f"{REPO}:fast2")]
    assert [e[1] for e in events] == [f"{REPO}:fast1", f"{REPO}:fast2"]



class ChattyImages(FakeImages):
    """Says what image.pull/push say around each tag."""

    def push(self, ref: str, *, auth: RegistryAuth, progress: Any, config: RegistryConfig,
             cancel: threading.Event) -> PushResult:
        progress(Progress(f"The push refers to repository [{REPO}]"))
        return super().push(ref, auth=auth, progress=progress, config=config, cancel=cancel)

    def pull(self, ref: str, *, auth: RegistryAuth, platform: str, progress: Any,
             config: RegistryConfig, cancel: threading.Event) -> PullResult:
        result = super().pull(ref, auth=auth, platform=platform, progress=progress,
                              config=config, cancel=cancel)
        progress(Progress(f"Digest: {DIGEST}"))
        progress(Progress(f"Status: Downloaded newer image for {ref}"))
        return result


def test_every_tag_says_the_repository_once() -> None:
    """moby: ``pull -a`` ends with one Status line for the repository; ``push -a`` says
    "The push refers to repository" once."""
    images = ChattyImages([f"{REPO}:v1", f"{REPO}:v2"])
    reg, _ = registry(images)

    async def main() -> None:
        items = await drain(await reg.pull(REPO, auth=RegistryAuth()))
        statuses = [i.status for i in items if isinstance(i, Progress) and not i.id]
        assert statuses == [f"Digest: {DIGEST}", f"Digest: {DIGEST}",
                            f"Status: Downloaded newer image for {REPO}"]
        items = await drain(await reg.pull(f"{REPO}:fast", auth=RegistryAuth()))
        assert items[-1] == Progress(f"Status: Downloaded newer image for {REPO}:fast")
        items = await drain(await reg.push(REPO, auth=RegistryAuth()))
        preambles = [i for i in items if isinstance(i, Progress)
                     and i.status.startswith("The push refers")]
        assert len(preambles) == 1 and items[0] == preambles[0]
        assert [i.tag for i in items if isinstance(i, PushResult)] == ["v1", "v2"]

    asyncio.run(main())
