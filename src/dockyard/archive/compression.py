"""Layer compression: detect by magic bytes, decompress as a bounded stream, compress in one pass.

A layer blob is a tar stream, plain or compressed with gzip, zstd or xz. Decompression is
streamed in chunks of at most ``CHUNK`` bytes (never a whole layer in memory) and hashes the
uncompressed bytes as they go by, so the caller gets the layer's ``diff_id`` for free. It is
also the first line of defence against decompression bombs: the uncompressed total and the
ratio of uncompressed to compressed bytes are bounded by ``Limits``.

Compression (``compress`` or ``CompressingWriter``) produces the blob and, in the same pass,
its digest and size and the diff_id of what went in.
"""

from __future__ import annotations

import enum
import logging
import lzma
import queue
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, BinaryIO, cast

import zstandard

from dockyard.archive.safety import Limits
from dockyard.errors import InvalidArgument
from dockyard.oci.digest import CANONICAL, Digest, Digester

log = logging.getLogger(__name__)

CHUNK = 1 << 20
"""Largest uncompressed chunk handed to the tar reader (and largest read of the raw stream)."""

_RAW_READ = 256 << 10
_QUEUE_CHUNKS = 8

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_XZ_MAGIC = b"\xfd7zXZ\x00"


class Compression(enum.Enum):
    """How a layer blob is compressed."""

    NONE = "none"
    GZIP = "gzip"
    ZSTD = "zstd"
    XZ = "xz"


def detect_compression(head: bytes) -> Compression:
    """The compression of a stream, from its first bytes (at least 6 for xz)."""
    if head.startswith(_GZIP_MAGIC):
        return Compression.GZIP
    if head.startswith(_ZSTD_MAGIC):
        return Compression.ZSTD
    if head.startswith(_XZ_MAGIC):
        return Compression.XZ
    return Compression.NONE


class _CountingReader:
    """A raw stream that counts the compressed bytes read from it (with a look-ahead head)."""

    def __init__(self, stream: BinaryIO, head: bytes) -> None:
        self._stream = stream
        self._head = head
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        if self._head:
            data = self._head if size < 0 else self._head[:size]
            self._head = self._head[len(data):]
        else:
            data = self._stream.read(_RAW_READ if size < 0 else size)
        self.count += len(data)
        return data


class DecompressingReader:
    """Uncompressed chunks of a possibly compressed stream, hashed and bounded.

    Lifecycle: construct over the raw stream (the compression is sniffed from the first
    bytes), call ``read_chunk()`` until it returns ``b""``, then read ``diff_id`` and
    ``size``. Every chunk is at most ``CHUNK`` bytes. Exceeding ``limits.max_total_size``
    or ``limits.max_ratio`` (once past ``limits.ratio_floor``) raises ``InvalidArgument``.
    """

    def __init__(self, stream: BinaryIO, limits: Limits, *, threaded: bool = False,
                 algorithm: str = CANONICAL) -> None:
        head = b""
        while len(head) < 6:
            more = stream.read(6 - len(head))
            if not more:
                break
            head += more
        self.compression = detect_compression(head)
        self._raw = _CountingReader(stream, head)
        self._limits = limits
        self._hash = Digester(algorithm)
        self.size = 0
        self._chunks = self._generate()
        self._done = False
        self._queue: queue.Queue[bytes | BaseException] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if threaded:
            self._queue = queue.Queue(maxsize=_QUEUE_CHUNKS)
            self._thread = threading.Thread(target=self._produce, name="layer-decompress",
                                            daemon=True)
            self._thread.start()

    @property
    def compressed_size(self) -> int:
        return self._raw.count

    @property
    def diff_id(self) -> Digest:
        """The digest of every uncompressed byte read so far (the whole layer at EOF)."""
        return self._hash.digest()

    def read_chunk(self) -> bytes:
        if self._done:
            return b""
        if self._queue is None:
            chunk = self._next_checked()
        else:
            item = self._queue.get()
            if isinstance(item, BaseException):
                self._done = True
                raise item
            chunk = item
        if not chunk:
            self._done = True
        return chunk

    def drain(self) -> None:
        """Read (and hash) whatever follows the end of the tar archive."""
        while self.read_chunk():
            pass

    def close(self) -> None:
        """Stop the decompressing thread (if any); the stream is left open."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _next_checked(self) -> bytes:
        chunk = next(self._chunks, b"")
        if chunk:
            self.size += len(chunk)
            self._hash.update(chunk)
            self._check_bounds()
        return chunk

    def _produce(self) -> None:
        # The thread decompresses and hashes (zlib, zstd, lzma and hashlib release the GIL
        # on large buffers) while the caller's thread writes files: two cores at work.
        q = self._queue
        if q is None:
            return
        try:
            while not self._stop.is_set():
                chunk = self._next_checked()
                self._put(q, chunk)
                if not chunk:
                    return
        except BaseException as e:  # handed to the consumer, raised there
            self._put(q, e)

    def _put(self, q: queue.Queue[bytes | BaseException], item: bytes | BaseException) -> None:
        while not self._stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _check_bounds(self) -> None:
        lim = self._limits
        if self.size > lim.max_total_size:
            raise InvalidArgument(
                f"layer expands past the limit of {lim.max_total_size} uncompressed bytes "
                f"(read {self._raw.count} {self.compression.value} bytes)")
        if (self.compression is not Compression.NONE and self.size > lim.ratio_floor
                and self.size > lim.max_ratio * max(self._raw.count, 1)):
            raise InvalidArgument(
                f"layer looks like a decompression bomb: {self._raw.count} "
                f"{self.compression.value} bytes expand to more than {self.size} "
                f"(ratio limit {lim.max_ratio})")

    def _generate(self) -> Iterator[bytes]:
        if self.compression is Compression.GZIP:
            return self._gzip()
        if self.compression is Compression.ZSTD:
            return self._zstd()
        if self.compression is Compression.XZ:
            return self._xz()
        return self._plain()

    def _plain(self) -> Iterator[bytes]:
        while True:
            data = self._raw.read(CHUNK)
            if not data:
                return
            yield data

    def _gzip(self) -> Iterator[bytes]:
        d = zlib.decompressobj(31)
        started = False
        while True:
            data = self._raw.read(_RAW_READ)
            if not data:
                if started and not d.eof:
                    raise InvalidArgument("layer: truncated gzip stream")
                return
            buf = data
            while buf:
                started = True
                try:
                    out = d.decompress(buf, CHUNK)
                except zlib.error as e:
                    raise InvalidArgument(f"layer: corrupt gzip stream: {e}") from e
                if out:
                    yield out
                if d.eof:
                    rest = d.unused_data
                    if rest.startswith(_GZIP_MAGIC):
                        d = zlib.decompressobj(31)  # another gzip member follows
                        buf = rest
                        continue
                    if rest.strip(b"\0"):
                        raise InvalidArgument("layer: garbage after the gzip stream")
                    self._expect_zeros()
                    return
                buf = d.unconsumed_tail

    def _expect_zeros(self) -> None:
        while True:
            data = self._raw.read(_RAW_READ)
            if not data:
                return
            if data.strip(b"\0"):
                raise InvalidArgument("layer: garbage after the compressed stream")

    def _zstd(self) -> Iterator[bytes]:
        dctx = zstandard.ZstdDecompressor()
        raw = cast("IO[bytes]", self._raw)
        with dctx.stream_reader(raw, read_size=_RAW_READ, read_across_frames=True,
                                closefd=False) as reader:
            while True:
                try:
                    out = reader.read(CHUNK)
                except zstandard.ZstdError as e:
                    raise InvalidArgument(f"layer: corrupt zstd stream: {e}") from e
                if not out:
                    return
                yield out

    def _xz(self) -> Iterator[bytes]:
        d = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
        while True:
            if d.eof:
                rest = d.unused_data
                if rest.startswith(_XZ_MAGIC):
                    d = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
                    data = rest
                else:
                    if rest.strip(b"\0"):
                        raise InvalidArgument("layer: garbage after the xz stream")
                    self._expect_zeros()
                    return
            elif d.needs_input:
                data = self._raw.read(_RAW_READ)
                if not data:
                    raise InvalidArgument("layer: truncated xz stream")
            else:
                data = b""
            try:
                out = d.decompress(data, CHUNK)
            except lzma.LZMAError as e:
                raise InvalidArgument(f"layer: corrupt xz stream: {e}") from e
            if out:
                yield out


@dataclass(frozen=True, slots=True)
class CompressResult:
    """What one compression pass produced: the blob's digest and size, and its diff_id.

    The digests are ``"sha256:<hex>"`` strings (callers in ``image`` parse them); the other
    results (``ApplyResult``, ``DiffResult``) carry ``Digest`` values.
    """

    digest: str
    size: int
    diff_id: str
    uncompressed_size: int
    compression: Compression


class CompressingWriter:
    """A write-only file object compressing into ``out``, hashing both sides.

    Lifecycle: ``write()`` the uncompressed tar bytes (e.g. hand it to ``write_diff`` as its
    ``out``), then ``finish()`` once for the ``CompressResult``; ``out`` is flushed, not
    closed. ``Compression.NONE`` writes the bytes through (digest == diff_id).
    """

    def __init__(self, out: BinaryIO, compression: Compression | str, *,
                 level: int | None = None) -> None:
        self.compression = Compression(compression)
        self._out = out
        self._in_hash = Digester()
        self._out_hash = Digester()
        self._in_size = 0
        self._out_size = 0
        self._finished = False
        self._gz: zlib._Compress | None = None
        self._zs: zstandard.ZstdCompressionObj | None = None
        self._xz: lzma.LZMACompressor | None = None
        if self.compression is Compression.GZIP:
            self._gz = zlib.compressobj(6 if level is None else level, zlib.DEFLATED, 31)
        elif self.compression is Compression.ZSTD:
            self._zs = zstandard.ZstdCompressor(level=3 if level is None else level).compressobj()
        elif self.compression is Compression.XZ:
            self._xz = lzma.LZMACompressor(format=lzma.FORMAT_XZ,
                                           preset=6 if level is None else level)

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._finished:
            raise ValueError("write after finish()")
        n = len(data)
        if not n:
            return 0
        self._in_hash.update(data)
        self._in_size += n
        if self._gz is not None:
            self._emit(self._gz.compress(data))
        elif self._zs is not None:
            self._emit(self._zs.compress(bytes(data)))
        elif self._xz is not None:
            self._emit(self._xz.compress(data))
        else:
            self._emit(data)
        return n

    def flush(self) -> None:
        self._out.flush()

    def _emit(self, data: bytes | bytearray | memoryview) -> None:
        if data:
            self._out_hash.update(data)
            self._out_size += len(data)
            self._out.write(data)

    def finish(self) -> CompressResult:
        if self._finished:
            raise ValueError("finish() called twice")
        self._finished = True
        if self._gz is not None:
            self._emit(self._gz.flush())
        elif self._zs is not None:
            self._emit(self._zs.flush())
        elif self._xz is not None:
            self._emit(self._xz.flush())
        self._out.flush()
        return CompressResult(digest=str(self._out_hash.digest()), size=self._out_size,
                              diff_id=str(self._in_hash.digest()),
                              uncompressed_size=self._in_size, compression=self.compression)


def compress(stream: BinaryIO, compression: Compression | str, out: BinaryIO, *,
             level: int | None = None) -> CompressResult:
    """Compress all of ``stream`` into ``out``; digest, size and diff_id in the same pass."""
    w = CompressingWriter(out, compression, level=level)
    while True:
        data = stream.read(CHUNK)
        if not data:
            break
        w.write(data)
    return w.finish()


def decompressed_chunks(stream: BinaryIO, limits: Limits | None = None) -> Iterator[bytes]:
    """The uncompressed bytes of ``stream`` (any supported compression), chunk by chunk."""
    reader = DecompressingReader(stream, limits or Limits())
    while True:
        chunk = reader.read_chunk()
        if not chunk:
            return
        yield chunk
