"""The tar format, read as a stream and written deterministically (ustar + PAX, as Go writes).

Reading (``TarReader``) parses ustar, GNU and PAX headers straight off the chunks of a
``DecompressingReader``: GNU long names (``L``/``K``), PAX records (``path``, ``linkpath``,
``size``, ``uid``, ``gid``, ``mtime``, ``SCHILY.xattr.*``, ``LIBARCHIVE.xattr.*``), global
PAX headers, base-256 numbers. Sparse files (GNU ``S``, PAX ``GNU.sparse.*``) and
multi-volume archives are refused. Every size is checked against ``Limits`` before a byte of
content is read; content is handed out as memoryview slices of the decompressed chunks.

Writing (``encode_header``) produces a ustar header, preceded by a PAX header only when a
field does not fit (long or non-ASCII names, big numbers) or xattrs are present. Names of
users and groups are left empty so that extraction uses the numeric ids, and mtimes are
whole seconds, as moby writes layers: the same tree always gives the same bytes.
"""

from __future__ import annotations

import base64
import enum
import os
import stat
import struct
import urllib.parse
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from dockyard.archive.compression import DecompressingReader
from dockyard.archive.safety import Limits
from dockyard.errors import InvalidArgument

BLOCK = 512
_ZERO_BLOCK = bytes(BLOCK)


class EntryType(enum.Enum):
    """What a tar entry makes."""

    FILE = "0"
    HARDLINK = "1"
    SYMLINK = "2"
    CHAR = "3"
    BLOCK = "4"
    DIR = "5"
    FIFO = "6"


_TYPEFLAGS: dict[bytes, EntryType] = {
    b"0": EntryType.FILE, b"\0": EntryType.FILE, b"7": EntryType.FILE,
    b"1": EntryType.HARDLINK, b"2": EntryType.SYMLINK, b"3": EntryType.CHAR,
    b"4": EntryType.BLOCK, b"5": EntryType.DIR, b"6": EntryType.FIFO,
    b"D": EntryType.DIR,  # GNU dump dir: a directory with a listing as content
}


@dataclass(frozen=True, slots=True)
class TarEntry:
    """One member of a layer tar, with every field the unpacker honours."""

    name: str
    type: EntryType
    mode: int = 0o644
    """Permission bits including setuid, setgid and sticky (12 bits, no file type)."""
    uid: int = 0
    gid: int = 0
    size: int = 0
    mtime_ns: int = 0
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    xattrs: tuple[tuple[str, bytes], ...] = field(default=())


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _encode(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


def _cstr(raw: bytes) -> bytes:
    end = raw.find(b"\0")
    return raw if end < 0 else raw[:end]


def _number(raw: bytes, what: str) -> int:
    try:  # the common case first: octal digits, then NULs or spaces
        return int(raw.rstrip(b"\0 ") or b"0", 8)
    except ValueError:
        pass
    if raw and not raw[0] & 0x80:  # NUL- or space-terminated octal, junk after the NUL
        text = raw.split(b"\0", 1)[0].strip()
        if not text:
            return 0
        try:
            return int(text, 8)
        except ValueError:
            raise InvalidArgument(f"tar header: bad octal {what} {text!r}") from None
    if raw and raw[0] & 0x80:  # base-256 (GNU): big-endian two's complement
        value = int.from_bytes(raw[1:], "big")
        if raw[0] == 0xFF:
            value -= 1 << (8 * (len(raw) - 1))
        elif raw[0] != 0x80:
            raise InvalidArgument(f"tar header: bad base-256 {what}")
        return value
    text = _cstr(raw).strip(b" \0")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise InvalidArgument(f"tar header: bad octal {what} {text!r}") from None


def _byte_sum(block: bytes | bytearray) -> int:
    """The sum of a header block's 512 bytes. Adler-32's low half is 1 + the sum of the
    bytes modulo 65521: exact for 256 bytes (at most 65280), and C-fast."""
    return (zlib.adler32(block[:256]) & 0xFFFF) + (zlib.adler32(block[256:]) & 0xFFFF) - 2


def _parse_pax(data: bytes, entry_hint: str) -> dict[str, bytes]:
    records: dict[str, bytes] = {}
    pos = 0
    while pos < len(data):
        if data[pos] == 0:  # trailing NUL padding (some writers)
            break
        sp = data.find(b" ", pos)
        if sp < 0:
            raise InvalidArgument(f"PAX header before {entry_hint!r}: bad record")
        try:
            length = int(data[pos:sp])
        except ValueError:
            raise InvalidArgument(f"PAX header before {entry_hint!r}: bad length") from None
        end = pos + length
        if length <= sp - pos + 1 or end > len(data) or data[end - 1:end] != b"\n":
            raise InvalidArgument(f"PAX header before {entry_hint!r}: bad record length")
        key, eq, value = data[sp + 1:end - 1].partition(b"=")
        if not eq:
            raise InvalidArgument(f"PAX header before {entry_hint!r}: record without '='")
        records[key.decode("utf-8", "surrogateescape")] = value
        pos = end
    return records


def _pax_int(value: bytes, key: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InvalidArgument(f"PAX record {key}: not an integer: {value!r}") from None


def _pax_time_ns(value: bytes) -> int:
    text = value.decode("ascii", "replace")
    neg = text.startswith("-")
    whole, _, frac = text.lstrip("-").partition(".")
    try:
        ns = int(whole or "0") * 1_000_000_000 + int((frac + "000000000")[:9] or "0")
    except ValueError:
        raise InvalidArgument(f"PAX record mtime: bad time {value!r}") from None
    return -ns if neg else ns


class TarReader:
    """Entries of a tar stream, and the content of each, read exactly once, in order.

    Lifecycle: iterate ``entries()``; for a ``FILE`` entry either call ``copy_content(write)``
    or move on (the content is then skipped). After the end-of-archive marker, the caller
    drains the source so that the diff_id covers the trailing padding.
    """

    def __init__(self, source: DecompressingReader, limits: Limits) -> None:
        self._src = source
        self._limits = limits
        self._buf = b""
        self._pos = 0
        self._pending = 0  # content + padding bytes of the current entry not yet consumed
        self._pending_pad = 0
        self.entries_read = 0

    # -- raw stream --------------------------------------------------------------------

    def _take(self, n: int) -> bytes:
        avail = len(self._buf) - self._pos
        if avail >= n:
            out = self._buf[self._pos:self._pos + n]
            self._pos += n
            return out
        parts = [self._buf[self._pos:]]
        have = avail
        while have < n:
            chunk = self._src.read_chunk()
            if not chunk:
                raise InvalidArgument("layer: unexpected end of the tar stream")
            parts.append(chunk)
            have += len(chunk)
        joined = b"".join(parts)
        self._buf, self._pos = joined, n
        return joined[:n]

    def _at_eof(self) -> bool:
        """True when the stream ended exactly here (between two entries)."""
        while len(self._buf) == self._pos:
            chunk = self._src.read_chunk()
            if not chunk:
                return True
            self._buf, self._pos = chunk, 0
        return False

    def _skip(self, n: int) -> None:
        while n:
            avail = len(self._buf) - self._pos
            if not avail:
                self._buf, self._pos = self._src.read_chunk(), 0
                if not self._buf:
                    raise InvalidArgument("layer: unexpected end of the tar stream")
                continue
            k = min(avail, n)
            self._pos += k
            n -= k

    def copy_content(self, write: Callable[[memoryview], None]) -> None:
        """Hand the current entry's content to ``write`` in slices (at most 1 MiB each)."""
        n = self._pending
        while n:
            avail = len(self._buf) - self._pos
            if not avail:
                self._buf, self._pos = self._src.read_chunk(), 0
                if not self._buf:
                    raise InvalidArgument("layer: unexpected end of the tar stream")
                continue
            k = min(avail, n)
            write(memoryview(self._buf)[self._pos:self._pos + k])
            self._pos += k
            n -= k
        self._pending = 0

    def _finish_entry(self) -> None:
        self._skip(self._pending)
        pad, self._pending, self._pending_pad = self._pending_pad, 0, 0
        while pad and not self._at_eof():
            k = min(len(self._buf) - self._pos, pad)
            self._pos += k
            pad -= k
        # a stream ending inside the last entry's padding lost nothing (umoci 0.4 writes so)

    def _special(self, size: int, what: str, hint: str) -> bytes:
        if size > self._limits.max_header_size or size < 0:
            raise InvalidArgument(
                f"{what} header before {hint!r}: {size} bytes exceeds the limit of "
                f"{self._limits.max_header_size}")
        data = self._take(size)
        self._skip(-size % BLOCK)
        return data

    # -- headers -----------------------------------------------------------------------

    def entries(self) -> Iterator[TarEntry]:
        global_pax: dict[str, bytes] = {}
        pax: dict[str, bytes] = {}
        long_name: bytes | None = None
        long_link: bytes | None = None
        while True:
            self._finish_entry()
            if self._at_eof():
                return  # no end-of-archive blocks: Go's reader (Docker) accepts it, so do we
            block = self._take(BLOCK)
            if block == _ZERO_BLOCK:
                return
            self.entries_read += 1
            if self.entries_read > self._limits.max_entries:
                raise InvalidArgument(
                    f"layer has more than {self._limits.max_entries} entries")
            hdr = self._parse_block(block)
            flag = hdr.flag
            if flag not in _SPECIAL:
                records = {**global_pax, **pax} if global_pax else pax
                pax = {}
                entry = self._make_entry(hdr, records, long_name, long_link)
                long_name = long_link = None
                yield entry
                continue
            size = hdr.size
            hint = _decode(hdr.name)
            if flag in (b"x", b"X"):
                pax.update(_parse_pax(self._special(size, "PAX", hint), hint))
                continue
            if flag == b"g":
                global_pax.update(_parse_pax(self._special(size, "PAX", hint), hint))
                continue
            if flag == b"L":
                long_name = _cstr(self._special(size, "GNU long name", hint))
                continue
            if flag == b"K":
                long_link = _cstr(self._special(size, "GNU long link", hint))
                continue

    def _parse_block(self, block: bytes) -> _RawHeader:
        stored = _number(block[148:156], "checksum")
        unsigned = _byte_sum(block) - sum(block[148:156]) + 8 * 32  # the field as spaces
        if stored != unsigned:
            signed = sum(b - 256 if b > 127 else b for b in block[:148] + block[156:]) + 8 * 32
            if stored != signed:
                raise InvalidArgument(
                    f"layer: bad tar header checksum (near {_decode(_cstr(block[:100]))!r}); "
                    "not a tar stream, or corrupt")
        name, mode, uid, gid, size, mtime, flag, link, magic = _FIELDS.unpack_from(block)
        name = _cstr(name)
        if magic[:6] == b"ustar\0":  # POSIX ustar: a prefix field
            prefix = _cstr(block[345:500])
            if prefix:
                name = prefix + b"/" + name
        dev = flag in (b"3", b"4")
        return _RawHeader(
            name, flag, _number(size, "size"), _number(mode, "mode"), _number(uid, "uid"),
            _number(gid, "gid"), _number(mtime, "mtime"), _cstr(link) if link[0] else b"",
            _number(block[329:337], "devmajor") if dev else 0,
            _number(block[337:345], "devminor") if dev else 0)

    def _make_entry(self, hdr: _RawHeader, pax: dict[str, bytes], long_name: bytes | None,
                    long_link: bytes | None) -> TarEntry:
        name_raw = long_name if long_name is not None else hdr.name
        link_raw = long_link if long_link is not None else hdr.linkname
        if pax:
            name_raw = pax.get("path", name_raw)
            link_raw = pax.get("linkpath", link_raw)
        name = _decode(name_raw)
        link = _decode(link_raw) if link_raw else ""
        flag = hdr.flag
        if flag == b"S" or (pax and any(k.startswith("GNU.sparse.") for k in pax)):
            raise InvalidArgument(f"entry {name!r}: sparse files are not supported")
        if flag in (b"M", b"N", b"V"):
            raise InvalidArgument(f"entry {name!r}: multi-volume archives are not supported")
        etype = _TYPEFLAGS.get(flag)
        if etype is None:
            raise InvalidArgument(f"entry {name!r}: unsupported tar entry type {flag!r}")
        if etype is EntryType.FILE and flag != b"7" and name.endswith("/"):
            etype = EntryType.DIR  # old tars mark directories by the trailing slash
        size, uid, gid, mtime_ns = hdr.size, hdr.uid, hdr.gid, hdr.mtime * 1_000_000_000
        if pax:
            size = _pax_int(pax["size"], "size") if "size" in pax else size
            uid = _pax_int(pax["uid"], "uid") if "uid" in pax else uid
            gid = _pax_int(pax["gid"], "gid") if "gid" in pax else gid
            mtime_ns = _pax_time_ns(pax["mtime"]) if "mtime" in pax else mtime_ns
        if size < 0 or uid < 0 or gid < 0:
            raise InvalidArgument(f"entry {name!r}: negative size, uid or gid")
        size_on_tape = 0 if flag in _NO_CONTENT else size
        if size_on_tape > self._limits.max_entry_size:
            raise InvalidArgument(
                f"entry {name!r}: size {size} exceeds the per-entry limit of "
                f"{self._limits.max_entry_size} bytes")
        xattrs: list[tuple[str, bytes]] = []
        for key, value in pax.items() if pax else ():
            if key.startswith("SCHILY.xattr."):
                xattrs.append((key[len("SCHILY.xattr."):], value))
            elif key.startswith("LIBARCHIVE.xattr."):
                xname = urllib.parse.unquote(key[len("LIBARCHIVE.xattr."):])
                try:
                    xattrs.append((xname, base64.b64decode(value + b"==")))
                except ValueError:
                    raise InvalidArgument(f"entry {name!r}: bad xattr {xname}") from None
        if etype is EntryType.DIR:
            self._pending, self._pending_pad = 0, size_on_tape + (-size_on_tape % BLOCK)
        else:
            self._pending, self._pending_pad = size_on_tape, -size_on_tape % BLOCK
        return TarEntry(name=name, type=etype, mode=hdr.mode & 0o7777, uid=uid, gid=gid,
                        size=size if etype is EntryType.FILE else 0, mtime_ns=mtime_ns,
                        linkname=link, devmajor=hdr.devmajor, devminor=hdr.devminor,
                        xattrs=tuple(sorted(xattrs)) if xattrs else ())


_NO_CONTENT = (b"1", b"2", b"3", b"4", b"5", b"6")
_SPECIAL = frozenset((b"x", b"X", b"g", b"L", b"K"))
"""Type flags of headers that describe the next entry rather than being one."""
_FIELDS = struct.Struct("100s8s8s8s12s12s8xc100s8s")
"""name, mode, uid, gid, size, mtime, (checksum), typeflag, linkname, magic+version."""


class _RawHeader(NamedTuple):
    name: bytes
    flag: bytes
    size: int
    mode: int
    uid: int
    gid: int
    mtime: int
    linkname: bytes
    devmajor: int
    devminor: int


# -- writing -----------------------------------------------------------------------------


def _octal(value: int, width: int) -> bytes | None:
    """``width``-byte NUL-terminated octal, or None when it does not fit."""
    if value < 0:
        return None
    text = b"%0*o" % (width - 1, value)
    if len(text) > width - 1:
        return None
    return text + b"\0"


def _pax_record(key: str, value: bytes) -> bytes:
    body = b" " + _encode(key) + b"=" + value + b"\n"
    n = len(body) + 1
    while len(str(n)) + len(body) != n:
        n = len(str(n)) + len(body)
    return str(n).encode() + body


def _split_ustar(name: bytes) -> tuple[bytes, bytes] | None:
    if len(name) <= 100:
        return b"", name
    if len(name) > 256:
        return None
    for i in range(min(len(name) - 1, 155), 0, -1):
        if name[i:i + 1] == b"/" and len(name) - i - 1 <= 100 and i <= 155:
            return name[:i], name[i + 1:]
    return None


def _block(name: bytes, prefix: bytes, mode: int, uid: bytes, gid: bytes, size: bytes,
           mtime: bytes, flag: bytes, linkname: bytes, devmajor: int, devminor: int) -> bytes:
    hdr = bytearray(BLOCK)
    hdr[0:len(name)] = name
    hdr[100:108] = _octal(mode, 8) or b"0000000\0"
    hdr[108:116] = uid
    hdr[116:124] = gid
    hdr[124:136] = size
    hdr[136:148] = mtime
    hdr[148:156] = b" " * 8
    hdr[156:157] = flag
    hdr[157:157 + len(linkname)] = linkname
    hdr[257:265] = b"ustar\x0000"
    hdr[329:337] = _octal(devmajor, 8) or b"0000000\0"
    hdr[337:345] = _octal(devminor, 8) or b"0000000\0"
    hdr[345:345 + len(prefix)] = prefix
    hdr[148:156] = b"%06o\0 " % _byte_sum(hdr)
    return bytes(hdr)


def encode_header(entry: TarEntry) -> bytes:
    """The header block(s) of ``entry``: a PAX header first when a field does not fit."""
    records: dict[str, bytes] = {}
    is_dir = entry.type is EntryType.DIR
    name = _encode(entry.name.rstrip("/") + ("/" if is_dir else ""))
    split = _split_ustar(name) if name.isascii() else None
    if split is None:
        records["path"] = name
        prefix, short = b"", name[:100]
    else:
        prefix, short = split
    link = _encode(entry.linkname)
    if len(link) > 100 or not link.isascii():
        records["linkpath"] = link
        link = link[:100]
    numbers: dict[str, bytes] = {}
    for key, value, width in (("uid", entry.uid, 8), ("gid", entry.gid, 8),
                              ("size", entry.size, 12)):
        enc = _octal(value, width)
        if enc is None:
            records[key] = str(value).encode()
            enc = _octal(0, width)
        numbers[key] = enc or b""
    mtime = entry.mtime_ns // 1_000_000_000
    mtime_enc = _octal(mtime, 12)
    if mtime_enc is None:
        records["mtime"] = str(mtime).encode()
        mtime_enc = b"00000000000\0"
    for xname, xvalue in entry.xattrs:
        records["SCHILY.xattr." + xname] = xvalue
    out = []
    if records:
        body = b"".join(_pax_record(k, records[k]) for k in sorted(records))
        pax_name = b"PaxHeaders.0/" + short[-(100 - 13):] if short else b"PaxHeaders.0/x"
        out.append(_block(pax_name, prefix[:155], 0o644, b"0000000\0", b"0000000\0",
                          _octal(len(body), 12) or b"", b"00000000000\0", b"x", b"", 0, 0))
        out.append(body + bytes(-len(body) % BLOCK))
    out.append(_block(short, prefix, entry.mode & 0o7777, numbers["uid"], numbers["gid"],
                      numbers["size"], mtime_enc, entry.type.value.encode(), link,
                      entry.devmajor, entry.devminor))
    return b"".join(out)


END_OF_ARCHIVE = bytes(2 * BLOCK)


def padding(size: int) -> bytes:
    return bytes(-size % BLOCK)


def entry_from_stat(name: str, st: os.stat_result, *, linkname: str = "",
                    xattrs: tuple[tuple[str, bytes], ...] = ()) -> TarEntry:
    """A tar entry describing ``st`` (an ``lstat`` result) under ``name``."""
    mode = st.st_mode
    if stat.S_ISREG(mode):
        etype, size = EntryType.FILE, st.st_size
    elif stat.S_ISDIR(mode):
        etype, size = EntryType.DIR, 0
    elif stat.S_ISLNK(mode):
        etype, size = EntryType.SYMLINK, 0
    elif stat.S_ISCHR(mode):
        etype, size = EntryType.CHAR, 0
    elif stat.S_ISBLK(mode):
        etype, size = EntryType.BLOCK, 0
    elif stat.S_ISFIFO(mode):
        etype, size = EntryType.FIFO, 0
    else:
        raise InvalidArgument(f"{name!r}: cannot archive a socket or unknown file type")
    dev = st.st_rdev if etype in (EntryType.CHAR, EntryType.BLOCK) else 0
    return TarEntry(name=name, type=etype, mode=stat.S_IMODE(mode), uid=st.st_uid,
                    gid=st.st_gid, size=size, mtime_ns=st.st_mtime_ns, linkname=linkname,
                    devmajor=os.major(dev), devminor=os.minor(dev), xattrs=xattrs)
