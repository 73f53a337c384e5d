"""A real registry server per test, on 127.0.0.1 and an ephemeral port, in a thread.

``start_registry(**config)`` serves a ``RegistryConfig`` (filesystem storage in the
test's temp dir unless told otherwise) with the same ``serve_socket`` the CLI uses
(``tests/support/registry_thread.py``), and stops it at teardown whatever happened. Tests
drive it with aiohttp's client through ``run(coro)``; helpers push blobs and manifests
the way clients do.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from registry_thread import ThreadRegistry as Running
from registry_thread import serve_registry

T = TypeVar("T")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


@pytest.fixture
def start_registry(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def start(**overrides: Any) -> Running:
        r = serve_registry(tmp_path / f"registry{len(started)}", **overrides)
        started.append(r)
        return r

    try:
        yield start
    finally:
        for r in started:
            r.stop()


@pytest.fixture
def reg(start_registry: Callable[..., Running]) -> Running:
    return start_registry()


def run(coro: Awaitable[T]) -> T:
    async def wrapped() -> T:
        return await coro
    return asyncio.run(wrapped())


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def push_blob(s: aiohttp.ClientSession, url: str, name: str, data: bytes) -> str:
    """POST + PUT (the monolithic two-step upload)."""
    d = sha256(data)
    async with s.post(f"{url}/v2/{name}/blobs/uploads/") as r:
        assert r.status == 202, await r.text()
        loc = r.headers["Location"]
    async with s.put(loc, params={"digest": d}, data=data,
                     headers={"Content-Type": "application/octet-stream"}) as r:
        assert r.status == 201, await r.text()
    return d


def manifest_bytes(config: bytes, layers: list[bytes], *, media_type: str | None = OCI_MANIFEST,
                   subject: dict[str, Any] | None = None, artifact_type: str = "",
                   annotations: dict[str, str] | None = None) -> bytes:
    doc: dict[str, Any] = {"schemaVersion": 2}
    if media_type:
        doc["mediaType"] = media_type
    if artifact_type:
        doc["artifactType"] = artifact_type
    doc["config"] = {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)}
    doc["layers"] = [{"mediaType": OCI_LAYER, "digest": sha256(x), "size": len(x)}
                     for x in layers]
    if subject is not None:
        doc["subject"] = subject
    if annotations:
        doc["annotations"] = annotations
    return json.dumps(doc).encode()


async def push_image(s: aiohttp.ClientSession, url: str, name: str, tag: str,
                     layers: list[bytes] | None = None, **kw: Any) -> tuple[str, bytes]:
    """Push a config, layers and a manifest; the manifest's digest and bytes."""
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    layers = [b"layer of " + name.encode() + tag.encode()] if layers is None else layers
    for blob in (config, *layers):
        await push_blob(s, url, name, blob)
    raw = manifest_bytes(config, layers, **kw)
    ctype = kw.get("media_type") or OCI_MANIFEST
    async with s.put(f"{url}/v2/{name}/manifests/{tag}", data=raw,
                     headers={"Content-Type": ctype}) as r:
        assert r.status == 201, await r.text()
        assert r.headers["Docker-Content-Digest"] == sha256(raw)
    return sha256(raw), raw


async def error_code(r: aiohttp.ClientResponse) -> str:
    doc = await r.json(content_type=None)
    return str(doc["errors"][0]["code"])


class Helpers:
    """The helpers above, for test modules (conftest is not importable under importlib)."""

    run = staticmethod(run)
    sha256 = staticmethod(sha256)
    push_blob = staticmethod(push_blob)
    push_image = staticmethod(push_image)
    manifest_bytes = staticmethod(manifest_bytes)
    error_code = staticmethod(error_code)
    OCI_MANIFEST = OCI_MANIFEST
    OCI_INDEX = OCI_INDEX
    OCI_CONFIG = OCI_CONFIG
    OCI_LAYER = OCI_LAYER
    DOCKER_MANIFEST = DOCKER_MANIFEST


@pytest.fixture
def h() -> type[Helpers]:
    return Helpers
