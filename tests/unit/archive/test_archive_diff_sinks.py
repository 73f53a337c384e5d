"""write_diff gives the same bytes and diff_id whether ``out`` is a plain file (the diff
hashes it) or a sink that digests itself (a content store's writer: hashed once), with
small files written header+content+padding at once and big ones in blocks."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

from dockyard.archive.diff import DigestingOut, write_diff
from dockyard.oci.digest import Digest, Digester


class Sink:
    """A self-digesting out, as ``image.create._WriterFile`` over a content writer."""

    def __init__(self) -> None:
        self.buf = io.BytesIO()
        self.hash = Digester()
        self.updates = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self.hash.update(data)
        self.updates += 1
        return self.buf.write(data)

    def digest(self) -> Digest:
        return self.hash.digest()

    @property
    def offset(self) -> int:
        return self.buf.tell()


def _tree(root: Path) -> None:
    (root / "d").mkdir(parents=True)
    for i in range(20):
        (root / "d" / f"small{i}").write_bytes(os.urandom(100 * i))
    (root / "d" / "empty").write_bytes(b"")
    (root / "big").write_bytes(os.urandom(3 * (1 << 20) + 7))  # more than one read block
    os.symlink("d/small1", root / "link")
    os.link(root / "d" / "small3", root / "hard")


def test_self_digesting_sink_same_bytes_and_diff_id(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    _tree(upper)
    plain = io.BytesIO()
    r1 = write_diff(None, str(upper), plain)
    sink = Sink()
    assert isinstance(sink, DigestingOut)
    r2 = write_diff(None, str(upper), sink)
    assert sink.buf.getvalue() == plain.getvalue()
    assert r1.diff_id == r2.diff_id
    assert str(r1.diff_id) == "sha256:" + hashlib.sha256(plain.getvalue()).hexdigest()
    assert r1.size == r2.size == len(plain.getvalue())
    assert r1.entries == r2.entries == 25  # d, 20 small, empty, big, link, hard
    # one write per small file (header, content and padding together), not three
    assert sink.updates < 3 * 22


def test_a_plain_file_is_not_taken_for_a_digesting_sink() -> None:
    assert not isinstance(io.BytesIO(), DigestingOut)
