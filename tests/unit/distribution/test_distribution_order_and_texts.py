"""A pull's progress lines in Docker's order per layer, moby's words for a private
repository pulled without credentials, and partial pull ingests kept across a restart
(``Stores.open``'s recovery) while other idle ingests go."""

from __future__ import annotations

import io
import os
import subprocess
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
import urllib3
from registry_fakes import FaultProxy, ThreadRegistry
from test_distribution_pull_push import FAST, make_image, random_layers, svc

from dockyard.content.writer import LocalWriter
from dockyard.distribution import RegistryAuth, RegistryConfig, endpoints
from dockyard.distribution.client import Repository
from dockyard.distribution.endpoints import Endpoint
from dockyard.errors import NotFound, PermissionDenied, Unavailable
from dockyard.image import ImageService
from dockyard.image.progress import Progress
from dockyard.oci.digest import Digest, digest_bytes

__all__ = ["svc"]  # the fixture, shared with the pull/push tests

ORDER = ["Pulling fs layer", "Waiting", "Downloading", "Verifying Checksum",
         "Download complete", "Extracting", "Pull complete"]


def test_progress_order_per_layer(svc: ImageService, registry: ThreadRegistry,
                                  proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each layer: Pulling fs layer → (Waiting) → Downloading → Verifying Checksum →
    Download complete → Extracting → Pull complete, even when the blob's commit (an fsync)
    is slower than the unpack's snapshot commit."""
    name = f"{proxy.host}/order/app:v1"
    img = make_image(svc, name, random_layers(3, 400_000))
    svc.push(name, config=FAST)
    svc.remove(name, force=True)
    commit = LocalWriter.commit

    def slow_commit(self: LocalWriter, *args: object, **kwargs: object) -> None:
        time.sleep(0.3)
        commit(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(LocalWriter, "commit", slow_commit)
    events: list[Progress] = []
    two = RegistryConfig(retries=2, backoff=0.01, timeout=10, max_concurrent_downloads=2)
    assert svc.pull(name, config=two, progress=events.append).image.id == img.id
    for layer in img.manifest.layers:
        short = layer.digest.hex[:12]
        seen = [e.status for e in events if e.id == short]
        ranks = [ORDER.index(s) for s in seen]
        assert ranks == sorted(ranks), seen
        assert seen[0] == "Pulling fs layer" and seen[-1] == "Pull complete", seen
        for needed in ("Downloading", "Verifying Checksum", "Download complete",
                       "Extracting"):
            assert needed in seen, seen


def test_private_repository_without_credentials(
        svc: ImageService, auth_registry: Callable[[str], ThreadRegistry]) -> None:
    """moby's translatePullError over distribution's HandleErrorResponse: the 401's
    ``error="insufficient_scope"`` is ``denied``, not the body's ``unauthorized``."""
    reg = auth_registry("token")
    name = f"{reg.host}/secret/app:v1"
    make_image(svc, name, [{"a": b"a"}])
    svc.push(name, auth=RegistryAuth(username="alice", password="wonderland"), config=FAST)
    svc.remove(name, force=True)
    with pytest.raises(NotFound) as e:
        svc.pull(name, config=FAST)
    assert str(e.value) == (f"pull access denied for {reg.host}/secret/app, repository does "
                            "not exist or may require 'docker login': denied: requested "
                            "access to the resource is denied")


def _ingest(svc: ImageService, ref: str, data: bytes, age: float = 0.0) -> str:
    w = svc.stores.content.writer(ref)
    with w:
        w.write(data)
    d = svc.stores.content.layout.ingest_dir(ref)  # type: ignore[attr-defined]
    if age:
        t = time.time() - age
        for name in os.listdir(d):
            os.utime(os.path.join(d, name), (t, t))
    return str(d)


def test_recovery_keeps_young_pull_ingests(tmp_path: Path) -> None:
    """A restart keeps a pull's partial ingest younger than a day (the next pull resumes
    it); older ones, other writers' and ones with an unreadable header go."""
    root = str(tmp_path / "root")
    young = f"pull-{digest_bytes(b'young')}"
    old = f"pull-{digest_bytes(b'old')}"
    with ImageService.open(root, "native") as svc:
        _ingest(svc, young, b"x" * 1000)
        _ingest(svc, old, b"y" * 10, age=25 * 3600)
        _ingest(svc, "load-something", b"z" * 10)
        broken = _ingest(svc, f"pull-{digest_bytes(b'broken')}", b"w")
        os.unlink(os.path.join(broken, "ref"))
    with ImageService.open(root, "native") as svc:
        statuses = svc.stores.content.list_statuses()
        assert [(s.ref, s.offset) for s in statuses] == [(young, 1000)]
        assert not os.path.exists(broken)
        w = svc.stores.content.writer(young)
        with w:
            assert w.offset == 1000
            w.write(io.BytesIO(b"x").read())


def test_no_insecure_request_warning_for_an_insecure_registry(
        start_registry: Callable[..., ThreadRegistry], tmp_path: Path) -> None:
    """HTTPS to an insecure registry (certificate not checked) raises no urllib3
    InsecureRequestWarning; the filter names that host only."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                    "/CN=localhost", "-keyout", str(key), "-out", str(cert)], check=True,
                   capture_output=True, timeout=60)
    reg = start_registry(tls_cert=str(cert), tls_key=str(key))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        # catch_warnings restores the filters on exit: ours is added inside, so re-add
        endpoints._QUIET_HOSTS.discard("127.0.0.1")
        with Repository.open(reg.host, "t/tls", None, FAST, push=True,
                             endpoint=Endpoint(f"https://{reg.host}", insecure=True)) as repo:
            repo.transport.ping()
            with pytest.raises(NotFound):
                repo.resolve("v1")
        warnings.warn("Unverified HTTPS request is being made to host 'example.org'. x",
                      urllib3.exceptions.InsecureRequestWarning, stacklevel=1)
    texts = [str(w.message) for w in caught
             if issubclass(w.category, urllib3.exceptions.InsecureRequestWarning)]
    assert texts == ["Unverified HTTPS request is being made to host 'example.org'. x"], texts


def test_push_names_layers_by_diff_id_and_a_known_image_pulls_quietly(
        svc: ImageService, registry: ThreadRegistry) -> None:
    """moby's ids: a pushed layer's lines name its diff_id, a pulled one's its blob; a
    pull of an image that is here already (another tag) shows no layer lines."""
    name = f"{registry.host}/ids/app:v1"
    img = make_image(svc, name, random_layers(2, 1000))
    events: list[Progress] = []
    svc.push(name, config=FAST, progress=events.append)
    diff_ids = {d.hex[:12] for d in img.config.diff_ids}
    assert {e.id for e in events if e.status == "Pushed"} == diff_ids
    assert {e.id for e in events if e.status == "Preparing"} == diff_ids
    svc.remove(name, force=True)
    events.clear()
    svc.pull(name, config=FAST, progress=events.append)  # the image itself was gone
    assert {e.id for e in events if e.status == "Pull complete"} == {
        d.digest.hex[:12] for d in img.manifest.layers}
    other = f"{registry.host}/ids/app:v2"
    svc.tag(name, other)
    svc.push(other, config=FAST)
    svc.remove(other)
    events.clear()
    svc.pull(other, config=FAST, progress=events.append)
    assert [e.status for e in events if e.id] == ["Pulling from ids/app"], events


def test_basic_auth_without_credentials(
        svc: ImageService, auth_registry: Callable[[str], ThreadRegistry]) -> None:
    """A Basic challenge and no credentials: Docker's ``no basic auth credentials``."""
    reg = auth_registry("htpasswd")
    name = f"{reg.host}/basic/app:v1"
    make_image(svc, name, [{"a": b"a"}])
    with pytest.raises(PermissionDenied) as e:
        svc.push(name, config=FAST)
    assert str(e.value) == "no basic auth credentials"
    with pytest.raises(PermissionDenied) as e:
        svc.pull(f"{reg.host}/basic/other:v1", config=FAST)
    assert str(e.value) == (f'Head "http://{reg.host}/v2/basic/other/manifests/v1": '
                            "no basic auth credentials")


def test_pull_by_digest_names_the_reference(svc: ImageService,
                                            registry: ThreadRegistry) -> None:
    """moby's first line of a digest pull: the whole reference, then the path."""
    name = f"{registry.host}/bydigest/app:v1"
    img = make_image(svc, name, [{"a": b"a"}])
    svc.push(name, config=FAST)
    ref = f"{registry.host}/bydigest/app@{img.manifest.digest}"
    events: list[Progress] = []
    svc.pull(ref, config=FAST, progress=events.append)
    assert events[0] == Progress("Pulling from bydigest/app", ref)
    assert events[-1] == Progress(f"Status: Image is up to date for {ref}")


def test_a_layer_that_cannot_be_reached_names_the_reason(
        svc: ImageService, registry: ThreadRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    """dockerd's last line for a registry gone in the middle of a pull: the reason alone
    (``dial tcp ...: connect: connection refused``), after the retries."""
    name = f"{registry.host}/gone/app:v1"
    img = make_image(svc, name, [{"a": b"a"}])
    svc.push(name, config=FAST)
    svc.remove(name, force=True)
    svc.collect()
    layer = img.manifest.layers[0].digest
    fetch = Repository.blob_response

    def refused(self: Repository, digest: Digest, offset: int = 0) -> object:
        if digest != layer:  # the config comes
            return fetch(self, digest, offset)
        raise Unavailable(f'Get "http://{registry.host}/v2/gone/app/blobs/{digest}": '
                          "dial tcp 127.0.0.1:1: connect: connection refused")

    monkeypatch.setattr(Repository, "blob_response", refused)
    with pytest.raises(Unavailable) as e:
        svc.pull(name, config=FAST)
    assert str(e.value) == "dial tcp 127.0.0.1:1: connect: connection refused"
