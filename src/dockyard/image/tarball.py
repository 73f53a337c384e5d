"""Reading an image archive (``docker save`` output, an OCI layout as a tar): hostile input.

Nothing in the archive is ever written to a path it names. The tar stream (plain, or gzip,
zstd or xz as a whole: sniffed) is parsed with the layer unpacker's bounded parser, and
each regular file goes to one of two places:

- small files (at most ``SMALL`` bytes: JSON documents, tiny layers) stay in memory, up to
  ``MAX_MEMORY`` bytes in all;
- larger files stream straight into the content store as blobs, verified against their
  name when it is ``blobs/<alg>/<hex>`` (a wrong one is refused) and otherwise named by the
  digest computed on the way. Each is added to the load's lease before it is committed.

Names are cleaned (absolute names and ``..`` refused); directories are implied; symbolic
and hard links are recorded and resolved by name inside the archive (never on disk), at
most ``MAX_LINKS`` deep and never above its root; devices, FIFOs and anything else are
refused. What the load cannot use is left to garbage collection once the lease ends.
"""

from __future__ import annotations

import io
import logging
import posixpath
import re
from typing import BinaryIO, NamedTuple

from dockyard.archive import DecompressingReader, EntryType, Limits
from dockyard.archive.safety import clean_name
from dockyard.archive.tarformat import TarReader
from dockyard.content import read_blob
from dockyard.errors import AlreadyExists, InvalidArgument, NotFound
from dockyard.metadata import Resource
from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import Digest, digest_bytes, parse_digest

from .stores import Stores

log = logging.getLogger(__name__)

SMALL = 1 << 20
MAX_MEMORY = 512 << 20
MAX_LINKS = 40
MAX_ENTRIES = 1_000_000
_BLOB_NAME = re.compile(r"blobs/(sha256|sha512)/([a-f0-9]+)", re.ASCII)


class Member(NamedTuple):
    """A regular file of the archive: in memory (``data``) or in the content store."""

    name: str
    size: int
    data: bytes | None
    digest: Digest | None


class ArchiveFiles:
    """The archive's files by cleaned name, with its links resolved on demand."""

    def __init__(self, stores: Stores) -> None:
        self._stores = stores
        self.files: dict[str, Member] = {}
        self.symlinks: dict[str, str] = {}

    def names(self) -> list[str]:
        return sorted(self.files)

    def _resolve(self, name: str) -> str:
        path = "/".join(clean_name(name, "archive name"))
        for _ in range(MAX_LINKS):
            if path in self.files:
                return path
            parts = path.split("/")
            # Find the longest prefix that is a symlink and replace it by its target.
            for i in range(len(parts), 0, -1):
                prefix = "/".join(parts[:i])
                target = self.symlinks.get(prefix)
                if target is None:
                    continue
                base = posixpath.dirname(prefix)
                joined = posixpath.normpath(posixpath.join(base, target)) if not \
                    target.startswith("/") else posixpath.normpath(target.lstrip("/"))
                if joined.startswith("..") or joined == "..":
                    raise InvalidArgument(f"archive: link {prefix!r} -> {target!r} points "
                                          "outside the archive")
                path = "/".join([p for p in (joined if joined != "." else "").split("/") if p]
                                + parts[i:])
                break
            else:
                raise NotFound(f"archive: no file {name!r}")
        raise InvalidArgument(f"archive: too many levels of links resolving {name!r}")

    def has(self, name: str) -> bool:
        try:
            self._resolve(name)
        except (NotFound, InvalidArgument):
            return False
        return True

    def member(self, name: str) -> Member:
        return self.files[self._resolve(name)]

    def read(self, name: str, max_size: int = 64 << 20) -> bytes:
        """The whole content of a (small) file."""
        m = self.member(name)
        if m.size > max_size:
            raise InvalidArgument(f"archive: {name!r} is {m.size} bytes, more than "
                                  f"{max_size} allowed for it")
        if m.data is not None:
            return m.data
        if m.digest is None:
            raise NotFound(f"archive: no content for {name!r}")
        return read_blob(self._stores.content, m.digest, max_size)

    def open(self, name: str) -> BinaryIO:
        m = self.member(name)
        if m.data is not None:
            return io.BytesIO(m.data)
        if m.digest is None:
            raise NotFound(f"archive: no content for {name!r}")
        return self._stores.content.open_blob(m.digest)

    def blob(self, name: str, lease_id: str) -> tuple[Digest, int]:
        """The file as a blob in the content store (stored now if it was in memory)."""
        m = self.member(name)
        if m.digest is not None and m.data is None:
            return m.digest, m.size
        data = m.data or b""
        desc = Descriptor("application/octet-stream", digest_bytes(data), len(data))
        self._stores.meta.leases.add(lease_id, Resource.content(desc.digest))
        self._stores.content.ingest_bytes(data, desc)
        return desc.digest, desc.size


def read_archive(stores: Stores, stream: BinaryIO, lease_id: str,
                 limits: Limits | None = None) -> ArchiveFiles:
    """Read the whole archive (see the module docstring)."""
    lim = limits or Limits(max_entries=MAX_ENTRIES)
    source = DecompressingReader(stream, lim)
    reader = TarReader(source, lim)
    out = ArchiveFiles(stores)
    in_memory = 0
    for n, entry in enumerate(reader.entries()):
        parts = clean_name(entry.name, "archive entry")
        name = "/".join(parts)
        if entry.type is EntryType.DIR or not parts:
            continue
        if entry.type is EntryType.SYMLINK:
            out.symlinks[name] = entry.linkname
            out.files.pop(name, None)
        elif entry.type is EntryType.HARDLINK:
            target = "/".join(clean_name(entry.linkname, "archive hardlink"))
            if target not in out.files:
                raise InvalidArgument(f"archive: hardlink {name!r} to {entry.linkname!r}, "
                                      "which is not an earlier file")
            out.files[name] = out.files[target]._replace(name=name)
            out.symlinks.pop(name, None)
        elif entry.type is EntryType.FILE:
            if entry.size <= SMALL:
                in_memory += entry.size
                if in_memory > MAX_MEMORY:
                    raise InvalidArgument(f"archive: more than {MAX_MEMORY} bytes of small "
                                          "files")
                buf = bytearray()
                reader.copy_content(buf.extend)
                out.files[name] = Member(name, entry.size, bytes(buf), None)
            else:
                digest = _store_large(stores, reader, name, entry.size, lease_id, n)
                out.files[name] = Member(name, entry.size, None, digest)
            out.symlinks.pop(name, None)
        else:
            raise InvalidArgument(f"archive: entry {name!r} is a {entry.type.name.lower()}; "
                                  "an image archive holds only files, directories and links")
    source.drain()
    log.debug("archive: %d files, %d links", len(out.files), len(out.symlinks))
    return out


def _store_large(stores: Stores, reader: TarReader, name: str, size: int, lease_id: str,
                 n: int) -> Digest:
    m = _BLOB_NAME.fullmatch(name)
    expected = None
    if m is not None:
        try:
            expected = Descriptor("application/octet-stream",
                                  parse_digest(f"{m.group(1)}:{m.group(2)}"), size)
        except InvalidArgument as e:
            raise InvalidArgument(f"archive: {name!r} is not named by a valid digest: "
                                  f"{e}") from e
        stores.meta.leases.add(lease_id, Resource.content(expected.digest))
    ref = f"load-{lease_id}-{n}"
    try:
        w = stores.content.writer(ref, expected)
    except AlreadyExists:
        if expected is None:
            raise
        return expected.digest  # already stored; the reader skips the content
    try:
        with w:
            w.truncate(0)

            def write(view: memoryview) -> None:
                w.write(view)

            reader.copy_content(write)
            digest = w.digest()
            if expected is not None and digest != expected.digest:
                raise InvalidArgument(f"archive: {name!r} does not match its name (its "
                                      f"digest is {digest})")
            stores.meta.leases.add(lease_id, Resource.content(digest))
            try:
                w.commit(size, digest)
            except AlreadyExists:
                pass  # the same bytes were there already
    except BaseException:
        if stores.content.list_statuses(ref):
            stores.content.abort(ref)
        raise
    return digest
