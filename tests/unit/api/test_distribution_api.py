"""Pull, push and login through the API over a fake registry backend (no daemon): Docker's
JSON progress lines (moby's stream formatter), the status when an error comes before the
first line, the error line after it, X-Registry-Auth decoding, a client that leaves
cancelling the transfer, the push's aux line, POST /auth's answers."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from dockyard import errors
from dockyard.api.app import build_app
from dockyard.api.auth import AuthRouter
from dockyard.api.images import ImageRouter
from dockyard.apitypes.distribution import (
    human_size,
    parse_pull,
    progress_bar,
    progress_json,
    push_reference,
)
from dockyard.daemon.pulls import ProgressPipe, Transfer
from dockyard.distribution import RegistryAuth
from dockyard.image.progress import Progress, PushResult

from .test_images_router import FakeImages

DIGEST = "sha256:" + "cd" * 32

Work = Callable[[ProgressPipe, threading.Event], object]


class FakeRegistry:
    """Each call starts a real ``Transfer`` over ``work`` (set by the test)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.work: Work = lambda pipe, cancel: None
        self.cancelled: threading.Event | None = None
        self.login_error: Exception | None = None

    async def pull(self, ref: str, *, auth: RegistryAuth, platform: str = ""
                   ) -> Transfer[object]:
        self.calls.append(("pull", ref, auth, platform))
        return self._start()

    async def push(self, ref: str, *, auth: RegistryAuth) -> Transfer[object]:
        self.calls.append(("push", ref, auth))
        if ref.endswith("/missing:latest"):
            raise errors.NotFound("An image does not exist locally with the tag: missing")
        return self._start()

    def _start(self) -> Transfer[object]:
        transfer: Transfer[object] = Transfer(self.work, asyncio.get_running_loop())
        self.cancelled = transfer.cancelled
        return transfer

    async def login(self, auth: RegistryAuth) -> str:
        self.calls.append(("login", auth))
        if self.login_error is not None:
            raise self.login_error
        return "tok"


def run(test: Callable[[TestClient, FakeRegistry], Awaitable[None]]) -> None:
    async def main() -> None:
        registry = FakeRegistry()
        app = build_app([ImageRouter(FakeImages(), registry), AuthRouter(registry)])
        async with TestClient(TestServer(app)) as client:
            await test(client, registry)

    asyncio.run(main())


def lines(body: bytes) -> list[dict[str, Any]]:
    assert body.endswith(b"\r\n"), body
    return [json.loads(x) for x in body.split(b"\r\n") if x]


# --------------------------------------------------------------------------- wire shapes


def test_human_sizes_as_go_units() -> None:
    assert [human_size(n) for n in (0, 999, 1000, 1234567, 2152000, 3 * 1024 ** 3)] == [
        "0B", "999B", "1kB", "1.235MB", "2.152MB", "3.221GB"]


def test_progress_bar_as_moby_draws_it() -> None:
    assert progress_bar(0, 0) == ""
    assert progress_bar(500, None) == "    500B"
    bar = progress_bar(1_100_000, 2_200_000)
    assert bar == "[" + "=" * 25 + ">" + " " * 25 + "]    1.1MB/2.2MB"
    assert progress_bar(2_200_000, 2_200_000).startswith("[" + "=" * 50 + ">]")
    assert progress_bar(3, 2) == "[" + "=" * 50 + ">]       3B"  # a wonky total


def test_progress_lines() -> None:
    assert progress_json(Progress("Downloading", "abcdef012345", 1_100_000, 2_200_000)) == {
        "status": "Downloading", "progressDetail": {"current": 1_100_000, "total": 2_200_000},
        "progress": progress_bar(1_100_000, 2_200_000), "id": "abcdef012345"}
    # A layer's action without numbers: an empty progressDetail, as progress.Update.
    assert progress_json(Progress("Pull complete", "abcdef012345")) == {
        "status": "Pull complete", "progressDetail": {}, "id": "abcdef012345"}
    # Messages: bare statuses (the docker CLI starts a new block of lines at each).
    assert progress_json(Progress("Pulling from library/busybox", "latest")) == {
        "status": "Pulling from library/busybox", "id": "latest"}
    for text in (f"Digest: {DIGEST}", "Status: Downloaded newer image for busybox:latest",
                 "The push refers to repository [127.0.0.1:5000/x]",
                 f"latest: digest: {DIGEST} size: 527"):
        assert progress_json(Progress(text)) == {"status": text}


def test_pull_requests() -> None:
    assert parse_pull({"fromImage": "busybox", "tag": "latest"}).reference == \
        "docker.io/library/busybox:latest"
    by_digest = parse_pull({"fromImage": "127.0.0.1:5000/a/b", "tag": DIGEST})
    assert by_digest.reference == f"127.0.0.1:5000/a/b@{DIGEST}" and not by_digest.all_tags
    assert parse_pull({"fromImage": f"busybox@{DIGEST}"}).reference == \
        f"docker.io/library/busybox@{DIGEST}"
    assert parse_pull({"fromImage": "busybox:1.36"}).reference == \
        "docker.io/library/busybox:1.36"
    every = parse_pull({"fromImage": "busybox"})
    assert every.all_tags and every.reference == "docker.io/library/busybox"
    assert parse_pull({"fromImage": "x", "tag": "1", "platform": "linux/arm64"}).platform \
        == "linux/arm64"
    for bad in ({"fromImage": "UPPER"}, {"fromImage": "x", "tag": "no/slash"},
                {"fromImage": "x", "tag": "sha256:short"},
                {"fromImage": "x", "platform": "linux/arm64/v8/extra"}):
        with pytest.raises(errors.InvalidArgument):
            parse_pull(bad)
    assert push_reference("127.0.0.1:5000/x", "v1") == "127.0.0.1:5000/x:v1"
    assert push_reference("127.0.0.1:5000/x", "") == "127.0.0.1:5000/x"
    with pytest.raises(errors.InvalidArgument):
        push_reference(f"x@{DIGEST}", "")


# --------------------------------------------------------------------------- the bridge


def test_progress_pipe_drops_fast_byte_counts_only() -> None:
    async def main() -> None:
        now = [0.0]
        pipe = ProgressPipe(asyncio.get_running_loop(), clock=lambda: now[0])

        def feed() -> None:
            for i in range(100):  # 100 counts within 0.05 s: only the first goes
                now[0] = i * 0.0005
                pipe(Progress("Downloading", "a", i, 100))
            pipe(Progress("Downloading", "b", 1, 100))  # another layer: its own pace
            now[0] = 0.2
            pipe(Progress("Downloading", "a", 99, 100))
            pipe(Progress("Downloading", "a", 100, 100))  # complete: never dropped
            pipe(Progress("Download complete", "a"))

        await asyncio.to_thread(feed)
        await asyncio.sleep(0)
        got = []
        while not pipe.queue.empty():
            got.append(pipe.queue.get_nowait())
        assert [(p.id, p.current) for p in got if isinstance(p, Progress)] == [
            ("a", 0), ("b", 1), ("a", 99), ("a", 100), ("a", None)]
        assert pipe.dropped == 99

    asyncio.run(main())


def test_progress_pipe_keeps_a_layer_final_status_last() -> None:
    async def main() -> None:
        pipe = ProgressPipe(asyncio.get_running_loop())

        def feed() -> None:
            pipe(Progress("Pulling from x", "v1"))
            pipe(Progress("Pull complete", "a"))
            pipe(Progress("Download complete", "a"))  # late, from another thread: dropped
            pipe(Progress(f"Digest: {DIGEST}"))
            pipe(Progress("Pulling from x", "v2"))  # the next tag (pull -a): "a" again
            pipe(Progress("Already exists", "a"))
            pipe(Progress("Pushed", "b"))
            pipe(Progress("Pushing", "b", 5, 10))

        await asyncio.to_thread(feed)
        await asyncio.sleep(0)
        got = []
        while not pipe.queue.empty():
            item = pipe.queue.get_nowait()
            assert isinstance(item, Progress)
            got.append((item.status, item.id))
        assert got == [("Pulling from x", "v1"), ("Pull complete", "a"),
                       (f"Digest: {DIGEST}", ""), ("Pulling from x", "v2"),
                       ("Already exists", "a"), ("Pushed", "b")]

    asyncio.run(main())


# --------------------------------------------------------------------------- routes


def test_pull_streams_progress_then_the_end() -> None:
    async def t(client: TestClient, registry: FakeRegistry) -> None:
        def work(pipe: ProgressPipe, cancel: threading.Event) -> None:
            pipe(Progress("Pulling from library/busybox", "latest"))
            pipe(Progress("Pulling fs layer", "0123456789ab"))
            pipe(Progress("Downloading", "0123456789ab", 10, 20))
            pipe(Progress("Pull complete", "0123456789ab"))
            pipe(Progress(f"Digest: {DIGEST}"))

        registry.work = work
        header = base64.urlsafe_b64encode(json.dumps(
            {"username": "u", "password": "p~?>", "serveraddress": "h:5000"}).encode())
        r = await client.post("/v1.45/images/create?fromImage=busybox&tag=latest"
                              "&platform=linux/amd64",
                              headers={"X-Registry-Auth": header.decode().rstrip("=")})
        assert r.status == 200 and r.headers["Content-Type"] == "application/json"
        got = lines(await r.read())
        assert [m["status"] for m in got] == [
            "Pulling from library/busybox", "Pulling fs layer", "Downloading",
            "Pull complete", f"Digest: {DIGEST}"]
        assert got[2]["progressDetail"] == {"current": 10, "total": 20}
        _, ref, auth, platform = registry.calls[-1]
        assert ref == "docker.io/library/busybox:latest" and platform == "linux/amd64"
        assert (auth.username, auth.password, auth.server_address) == ("u", "p~?>", "h:5000")

    run(t)


def test_pull_error_before_and_after_the_first_line() -> None:
    async def t(client: TestClient, registry: FakeRegistry) -> None:
        def unknown(pipe: ProgressPipe, cancel: threading.Event) -> None:
            # "Pulling from" alone is held back: the error is still the status.
            pipe(Progress("Pulling from x", "nope"))
            raise errors.NotFound("manifest for 127.0.0.1:5000/x:nope not found: "
                                  "manifest unknown: manifest unknown")

        registry.work = unknown
        r = await client.post("/images/create?fromImage=127.0.0.1:5000/x&tag=nope")
        assert r.status == 404
        assert (await r.json())["message"].startswith("manifest for 127.0.0.1:5000/x:nope")

        def broken(pipe: ProgressPipe, cancel: threading.Event) -> None:
            pipe(Progress("Pulling from x", "1"))
            pipe(Progress("Pulling fs layer", "0123456789ab"))
            raise errors.InvalidArgument("digest mismatch")

        registry.work = broken
        r = await client.post("/images/create?fromImage=127.0.0.1:5000/x&tag=1")
        assert r.status == 200
        got = lines(await r.read())
        assert [m.get("status") for m in got[:2]] == ["Pulling from x", "Pulling fs layer"]
        assert got[-1] == {"errorDetail": {"message": "digest mismatch"},
                           "error": "digest mismatch"}
        r = await client.post("/images/create?fromImage=x&tag=1",
                              headers={"X-Registry-Auth": "!!not base64!!"})
        assert r.status == 400
        r = await client.post("/images/create?fromImage=NOT-VALID")
        assert r.status == 400

    run(t)


def test_a_client_that_leaves_cancels_the_pull() -> None:
    async def t(client: TestClient, registry: FakeRegistry) -> None:
        stopped = threading.Event()

        def slow(pipe: ProgressPipe, cancel: threading.Event) -> None:
            pipe(Progress("Pulling fs layer", "0123456789ab"))
            try:
                # Quiet for a while, then byte counts: either way the leaving is seen.
                if not cancel.wait(10):
                    raise AssertionError("the pull was not cancelled")
            finally:
                stopped.set()

        registry.work = slow
        r = await client.post("/images/create?fromImage=x&tag=1")
        assert r.status == 200
        assert json.loads(await r.content.readline())["status"] == "Pulling fs layer"
        r.close()
        assert await asyncio.to_thread(stopped.wait, 10)
        assert registry.cancelled is not None and registry.cancelled.is_set()

    run(t)


def test_push_one_tag_or_all_with_the_aux_line() -> None:
    async def t(client: TestClient, registry: FakeRegistry) -> None:
        def work(pipe: ProgressPipe, cancel: threading.Event) -> None:
            pipe(Progress("The push refers to repository [127.0.0.1:5000/x]"))
            pipe(Progress("Pushed", "0123456789ab"))
            pipe(Progress(f"v1: digest: {DIGEST} size: 527"))
            pipe.put(PushResult("v1", DIGEST, 527))

        registry.work = work
        r = await client.post("/images/127.0.0.1:5000/x/push?tag=v1")
        assert r.status == 200
        got = lines(await r.read())
        assert got[-1] == {"progressDetail": {},
                           "aux": {"Tag": "v1", "Digest": DIGEST, "Size": 527}}
        assert got[1] == {"status": "Pushed", "progressDetail": {}, "id": "0123456789ab"}
        assert registry.calls[-1][:2] == ("push", "127.0.0.1:5000/x:v1")
        r = await client.post("/v1.45/images/127.0.0.1:5000/x/push")
        assert r.status == 200 and registry.calls[-1][1] == "127.0.0.1:5000/x"
        r = await client.post("/images/missing/push?tag=latest")
        assert r.status == 404

    run(t)


def test_auth() -> None:
    async def t(client: TestClient, registry: FakeRegistry) -> None:
        r = await client.post("/v1.45/auth", json={"username": "u", "password": "p",
                                                   "serveraddress": "127.0.0.1:5000"})
        assert r.status == 200
        assert await r.json() == {"Status": "Login Succeeded", "IdentityToken": "tok"}
        assert registry.calls[-1][1].server_address == "127.0.0.1:5000"
        registry.login_error = errors.PermissionDenied(
            'Get "http://127.0.0.1:5000/v2/": unauthorized: incorrect username or password')
        r = await client.post("/auth", json={"username": "u", "password": "bad"})
        assert r.status == 401
        assert "incorrect username or password" in (await r.json())["message"]
        registry.login_error = errors.Unavailable("connection refused")
        r = await client.post("/auth", json={"username": "u"})
        assert r.status == 503
        r = await client.post("/auth", json=["x"])
        assert r.status == 400

    run(t)
