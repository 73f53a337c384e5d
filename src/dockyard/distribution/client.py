"""One repository of one registry: manifests and blobs, for pulls and pushes.

Lifecycle: ``Repository.open(domain, path, auth, config, push=...)`` (or
``Repository(transport, path)``) → calls from any number of threads → ``close()``. The
calls follow what dockerd does on the wire (DESIGN.md, "The registry"):

- ``resolve(ref)``: ``HEAD /v2/<name>/manifests/<ref>`` with every manifest ``Accept``
  type; falls back to ``GET`` when the HEAD does not tell the digest.
- ``fetch_manifest(ref)``: ``GET`` the document, verified against its digest.
- ``blob_response(digest, offset)``: a streaming ``GET /blobs/<digest>`` with
  ``Range: bytes=<offset>-`` when resuming (redirects to storage followed).
- ``stat_blob`` / ``mount_blob`` / ``upload_blob``: ``HEAD`` first, then a cross-repo
  mount (``POST ?mount=<digest>&from=<repo>``; a 202 means the registry declined, and the
  upload it opened is used), then ``POST`` → ``PATCH`` (the whole blob, streamed, or fixed
  chunks with ``Content-Range``) → ``PUT ?digest=``, always following ``Location`` as given.
- ``put_manifest(ref, media_type, raw)``: ``PUT /manifests/<ref>``; the digest stored.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.parse
from collections.abc import Callable, Iterable, Iterator

import urllib3

from dockyard.errors import DockyardError, InvalidArgument, NotFound
from dockyard.oci import mediatypes as mt
from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import Digest, digest_bytes, parse_digest
from dockyard.oci.manifest import detect_media_type

from .auth import RegistryAuth
from .config import RegistryConfig
from .endpoints import Endpoint
from .errors import NO_BASIC_CREDENTIALS, RegistryError, challenge_error, request_error
from .tokens import parse_challenges
from .transport import Transport

log = logging.getLogger(__name__)

MANIFEST_ACCEPT = ", ".join([mt.OCI_INDEX, mt.OCI_MANIFEST, mt.DOCKER_MANIFEST_LIST,
                             mt.DOCKER_MANIFEST])
MAX_MANIFEST = 4 << 20
SMALL_BLOB = 256 << 10
"""Blobs up to this size are uploaded in one ``PUT`` (config, small layers)."""


def _with_query(location: str, **params: str) -> str:
    parts = urllib.parse.urlsplit(location)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    query += list(params.items())
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def _content_type(resp: urllib3.BaseHTTPResponse) -> str:
    return (resp.headers.get("Content-Type") or "").split(";")[0].strip()


class Repository:
    """One repository (``name`` without the registry domain) of one registry."""

    def __init__(self, transport: Transport, name: str, *, push: bool = False) -> None:
        self.transport = transport
        self.name = name
        self.pull_scope = f"repository:{name}:pull"
        self.scopes: tuple[str, ...] = ((f"repository:{name}:pull,push",) if push
                                        else (self.pull_scope,))

    @classmethod
    def open(cls, domain: str, name: str, auth: RegistryAuth | None, config: RegistryConfig,
             *, push: bool = False, endpoint: Endpoint | None = None) -> Repository:
        return cls(Transport(domain, auth, config, for_push=push, endpoint=endpoint), name,
                   push=push)

    @property
    def domain(self) -> str:
        return self.transport.host

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Repository:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _path(self, kind: str, ref: str) -> str:
        return f"/v2/{self.name}/{kind}/{ref}"

    def _fail(self, method: str, resp: urllib3.BaseHTTPResponse, path: str) -> Exception:
        body = resp.data if resp.status != 200 else b""
        challenge: RegistryError | str | None = None
        if resp.status == 401:
            found = parse_challenges(resp.headers.get("WWW-Authenticate", ""))
            for c in found:
                if c.scheme == "bearer" and (challenge := challenge_error(
                        c.params.get("error", ""), c.params.get("error_description", ""))):
                    break
            if (challenge is None and found and found[0].scheme == "basic"
                    and self.transport.auth.credentials.anonymous):
                challenge = NO_BASIC_CREDENTIALS  # moby's basic handler, before any request
        return request_error(method, self.transport.url(path), resp.status, body, challenge)

    # ----------------------------------------------------------------- manifests

    def resolve(self, ref: str) -> Descriptor:
        """The descriptor of the manifest or index ``ref`` (tag or digest) names.

        ``NotFound``/``PermissionDenied``/``Unavailable`` from the registry's answer.
        """
        path = self._path("manifests", ref)
        resp = self.transport.request("HEAD", path, scopes=self.scopes,
                                      headers={"Accept": MANIFEST_ACCEPT})
        if resp.status == 200:
            digest = resp.headers.get("Docker-Content-Digest", "")
            size = resp.headers.get("Content-Length", "")
            ctype = _content_type(resp)
            if digest and size.isdigit() and (mt.is_manifest(ctype) or mt.is_index(ctype)):
                return Descriptor(ctype, parse_digest(digest), int(size))
        elif resp.status not in (405, 404):
            raise self._fail("HEAD", self._get_error(path), path)
        desc, _ = self.fetch_manifest(ref)
        return desc

    def _get_error(self, path: str) -> urllib3.BaseHTTPResponse:
        """HEAD answers have no body: GET again for the registry's error message."""
        return self.transport.request("GET", path, scopes=self.scopes,
                                      headers={"Accept": MANIFEST_ACCEPT})

    def fetch_manifest(self, ref: str) -> tuple[Descriptor, bytes]:
        """``GET`` a manifest or index: its descriptor and exact bytes (verified when
        ``ref`` is a digest; the media type from ``Content-Type``, else the document)."""
        path = self._path("manifests", ref)
        resp = self.transport.request("GET", path, scopes=self.scopes,
                                      headers={"Accept": MANIFEST_ACCEPT})
        if resp.status != 200:
            raise self._fail("GET", resp, path)
        raw = resp.data
        if len(raw) > MAX_MANIFEST:
            raise InvalidArgument(f"manifest {ref}: larger than {MAX_MANIFEST} bytes")
        algorithm = "sha256"
        if ref.startswith("sha512:"):
            algorithm = "sha512"
        digest = digest_bytes(raw, algorithm)
        if ":" in ref and parse_digest(ref) != digest:
            raise InvalidArgument(f"manifest verification failed for digest {ref}")
        header = resp.headers.get("Docker-Content-Digest", "")
        if ":" not in ref and header and header != str(digest):
            log.warning("registry %s: manifest %s: Docker-Content-Digest %s but the bytes "
                        "hash to %s", self.domain, ref, header, digest)
        ctype = _content_type(resp)
        if not (mt.is_manifest(ctype) or mt.is_index(ctype)):
            ctype = detect_media_type(raw, f"manifest {ref}")
        return Descriptor(ctype, digest, len(raw)), raw

    def put_manifest(self, ref: str, media_type: str, raw: bytes) -> Digest:
        """``PUT`` a manifest or index under ``ref`` (a tag or its digest)."""
        path = self._path("manifests", ref)
        resp = self.transport.request("PUT", path, scopes=self.scopes, body=raw,
                                      headers={"Content-Type": media_type})
        if resp.status not in (200, 201, 202):
            raise self._fail("PUT", resp, path)
        digest = digest_bytes(raw)
        got = resp.headers.get("Docker-Content-Digest", "")
        if got and got != str(digest):
            raise InvalidArgument(f"registry {self.domain} stored manifest {ref} as {got}, "
                                  f"expected {digest}")
        return digest

    def tags(self, page: int = 1000) -> list[str]:
        """Every tag of the repository (``GET /tags/list``, following ``Link`` pages), as
        ``docker pull --all-tags`` needs them."""
        path = f"/v2/{self.name}/tags/list?n={page}"
        out: list[str] = []
        for _ in range(10_000):
            resp = self.transport.request("GET", path, scopes=self.scopes)
            if resp.status != 200:
                raise self._fail("GET", resp, path)
            try:
                doc = json.loads(resp.data)
            except ValueError as e:
                raise InvalidArgument(f"registry {self.domain}: unreadable tag list: {e}") from e
            tags = doc.get("tags") if isinstance(doc, dict) else None
            out += [t for t in tags or [] if isinstance(t, str)]
            m = re.search(r"<([^>]+)>\s*;\s*rel=\"?next\"?", resp.headers.get("Link", ""))
            if m is None:
                return out
            path = m.group(1)
        raise InvalidArgument(f"registry {self.domain}: too many tag pages")

    # ----------------------------------------------------------------- blobs

    def blob_response(self, digest: Digest, offset: int = 0) -> urllib3.BaseHTTPResponse:
        """A streaming ``GET`` of the blob from ``offset``; status 206 (range honoured) or
        200 (the whole blob: the caller skips ``offset`` bytes). ``release_conn()`` it."""
        path = self._path("blobs", str(digest))
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        resp = self.transport.request("GET", path, scopes=self.scopes, headers=headers,
                                      stream=True)
        if resp.status in (200, 206):
            return resp
        try:
            resp.read()
            raise self._fail("GET", resp, path)
        finally:
            resp.release_conn()

    def fetch_blob(self, desc: Descriptor, max_size: int = MAX_MANIFEST) -> bytes:
        """A small blob (a config) whole, verified."""
        if desc.size > max_size:
            raise InvalidArgument(f"blob {desc.digest}: {desc.size} bytes is too large")
        resp = self.blob_response(desc.digest)
        try:
            data = resp.read()
        finally:
            resp.release_conn()
        if len(data) != desc.size or digest_bytes(data, desc.digest.algorithm) != desc.digest:
            raise InvalidArgument(f"blob {desc.digest}: digest mismatch (got {len(data)} "
                                  f"bytes hashing to {digest_bytes(data)})")
        return data

    def stat_blob(self, digest: Digest) -> int | None:
        """``HEAD`` the blob: its size, or ``None`` when the repository lacks it."""
        path = self._path("blobs", str(digest))
        resp = self.transport.request("HEAD", path, scopes=self.scopes)
        if resp.status == 200:
            size = resp.headers.get("Content-Length", "")
            return int(size) if size.isdigit() else 0
        if resp.status == 404:
            return None
        raise self._fail("HEAD", resp, path)

    def start_upload(self, digest: Digest | None = None, mount_from: str = "") -> str | None:
        """``POST /blobs/uploads/`` (a mount when ``mount_from`` names another repository
        of this registry): ``None`` when the blob got mounted, else the upload
        ``Location``."""
        path = f"/v2/{self.name}/blobs/uploads/"
        scopes = self.scopes
        if mount_from and digest is not None:
            path += "?" + urllib.parse.urlencode({"mount": str(digest), "from": mount_from})
            scopes = (*scopes, f"repository:{mount_from}:pull")
        resp = self.transport.request("POST", path, scopes=scopes)
        if resp.status == 201 and mount_from:
            return None
        if resp.status != 202:
            raise self._fail("POST", resp, path)
        location = resp.headers.get("Location", "")
        if not location:
            raise InvalidArgument(f"registry {self.domain}: upload answer without Location")
        return self.transport.url(location) if location.startswith("/") else (
            location if "://" in location else urllib.parse.urljoin(
                self.transport.url(path), location))

    def cancel_upload(self, location: str) -> None:
        try:
            resp = self.transport.request("DELETE", location, scopes=self.scopes,
                                          retry=False)
            resp.drain_conn()
        except DockyardError as e:  # best effort: the registry expires uploads
            log.debug("cancel upload %s: %s", location, e)

    def upload_blob(self, desc: Descriptor, chunks: Callable[[], Iterable[bytes]], *,
                    location: str | None = None, chunk_size: int | None = None,
                    on_bytes: Callable[[int], None] | None = None) -> None:
        """Upload the blob whose bytes ``chunks()`` yields (called once per attempt).

        Small blobs go in one ``PUT``; others in one streamed ``PATCH`` (what dockerd
        does) or, with ``chunk_size``, in ``PATCH``es of that size with
        ``Content-Range``; then ``PUT ?digest=``. ``on_bytes(n)`` reports bytes sent.
        """
        loc = location or self.start_upload()
        if loc is None:
            return
        ok = False
        try:
            if desc.size <= SMALL_BLOB and chunk_size is None:
                data = b"".join(chunks())
                resp = self.transport.request(
                    "PUT", _with_query(loc, digest=str(desc.digest)), scopes=self.scopes,
                    body=data, headers={"Content-Type": "application/octet-stream"},
                    retry=False)
                self._check_put(resp, desc)
                if on_bytes:
                    on_bytes(len(data))
                ok = True
                return
            if chunk_size is None:
                def body() -> Iterator[bytes]:
                    for c in chunks():
                        if on_bytes:
                            on_bytes(len(c))
                        yield c
                resp = self.transport.request(
                    "PATCH", loc, scopes=self.scopes, body=body,
                    headers={"Content-Type": "application/octet-stream"}, retry=False)
                loc = self._next_location(resp, loc, "PATCH")
            else:
                loc = self._patch_chunks(loc, chunks, chunk_size, on_bytes)
            resp = self.transport.request("PUT", _with_query(loc, digest=str(desc.digest)),
                                          scopes=self.scopes, retry=False,
                                          headers={"Content-Length": "0"})
            self._check_put(resp, desc)
            ok = True
        finally:
            if not ok:
                self.cancel_upload(loc)

    def _patch_chunks(self, loc: str, chunks: Callable[[], Iterable[bytes]], size: int,
                      on_bytes: Callable[[int], None] | None) -> str:
        offset = 0
        buf = bytearray()

        def send(data: bytes) -> str:
            nonlocal offset
            resp = self.transport.request(
                "PATCH", loc, scopes=self.scopes, body=data, retry=False,
                headers={"Content-Type": "application/octet-stream",
                         "Content-Range": f"{offset}-{offset + len(data) - 1}"})
            offset += len(data)
            if on_bytes:
                on_bytes(len(data))
            return self._next_location(resp, loc, "PATCH")

        for c in chunks():
            buf += c
            while len(buf) >= size:
                loc = send(bytes(buf[:size]))
                del buf[:size]
        if buf:
            loc = send(bytes(buf))
        return loc

    def _next_location(self, resp: urllib3.BaseHTTPResponse, loc: str, method: str) -> str:
        if resp.status != 202:
            raise self._fail(method, resp, loc)
        nxt = resp.headers.get("Location", "")
        if not nxt:
            return loc
        return nxt if "://" in nxt else urllib.parse.urljoin(loc, nxt)

    def _check_put(self, resp: urllib3.BaseHTTPResponse, desc: Descriptor) -> None:
        if resp.status not in (201, 204):
            raise self._fail("PUT", resp, f"/v2/{self.name}/blobs/uploads/")
        got = resp.headers.get("Docker-Content-Digest", "")
        if got and got != str(desc.digest):
            raise InvalidArgument(f"registry stored blob {got}, expected {desc.digest}")


def split_repository(full_name: str) -> tuple[str, str]:
    """``127.0.0.1:5000/a/b`` → ``("127.0.0.1:5000", "a/b")`` (names are normalized)."""
    domain, _, path = full_name.partition("/")
    if not path:
        raise NotFound(f"invalid repository name {full_name!r}")
    return domain, path
