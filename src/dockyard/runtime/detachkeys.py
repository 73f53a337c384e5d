"""Detach keys: the key sequence that ends an attached stream without ending the process.

Docker's ``--detach-keys`` (default ``ctrl-p,ctrl-q``): while a client is attached to a
process's terminal, the bytes it sends towards the process's stdin are scanned for the
sequence; on a full match the attachment ends (the connection is closed) and the process
keeps running, as ``docker attach`` then ``ctrl-p ctrl-q`` does with dockerd.

Two pure pieces, usable by the daemon (which parses the user's spec) and the supervisor
(which scans the stream, being the one holding the connection):

- :func:`parse_detach_keys`, moby/term's ``ToBytes``: a comma-separated list of keys, each
  one byte (``a``), ``ctrl-@``, ``ctrl-a`` … ``ctrl-z``, ``ctrl-[``, ``ctrl-\\``,
  ``ctrl-]``, ``ctrl-^``, ``ctrl-_`` (ASCII 0 … 31) or ``DEL`` (127).
- :class:`EscapeScanner`, moby's escape proxy made stream-safe: bytes that could begin the
  sequence are held back; they are released (in order, nothing lost or reordered) as soon
  as the sequence breaks, and swallowed when it completes. Unlike moby/term's proxy, which
  only matches keys read one per ``read``, a match is found anywhere in the stream and
  across chunk boundaries (a network peer may coalesce keystrokes).
"""

from __future__ import annotations

from dockyard.errors import InvalidArgument

__all__ = ["DEFAULT_DETACH_KEYS", "MAX_DETACH_KEYS", "EscapeScanner", "detach_sequence",
           "keys_from_wire",
           "keys_to_wire", "parse_detach_keys"]

DEFAULT_DETACH_KEYS = b"\x10\x11"
"""``ctrl-p,ctrl-q``: dockerd's (and the docker CLI's) default sequence."""

MAX_DETACH_KEYS = 64
"""A sanity bound on a sequence's length (moby has none; nobody types 64 keys)."""

# moby/term's ASCII table: ctrl-@ is 0, ctrl-a 1 … ctrl-z 26, then ctrl-[ \ ] ^ _ (27-31).
_CTRL: dict[str, int] = {
    name: code for code, name in enumerate(
        ["ctrl-@", *(f"ctrl-{chr(c)}" for c in range(ord("a"), ord("z") + 1)),
         "ctrl-[", "ctrl-\\", "ctrl-]", "ctrl-^", "ctrl-_"])}


def parse_detach_keys(spec: str) -> bytes:
    """``"ctrl-p,ctrl-q"`` → ``b"\\x10\\x11"``; a bad spec is an ``InvalidArgument`` with
    dockerd's words (``Invalid detach keys (<spec>) provided``). An empty spec is refused:
    callers treat "not given" themselves (the default sequence)."""
    out = bytearray()
    for key in spec.split(","):
        raw = key.encode("utf-8", "surrogateescape")
        if len(raw) == 1:  # a single byte, as Go's len(key) == 1
            out += raw
        elif key in _CTRL:
            out.append(_CTRL[key])
        elif key == "DEL":
            out.append(127)
        else:
            raise InvalidArgument(f"Invalid detach keys ({spec}) provided")
    if len(out) > MAX_DETACH_KEYS:
        raise InvalidArgument(f"Invalid detach keys ({spec}) provided: more than "
                              f"{MAX_DETACH_KEYS} keys")
    return bytes(out)


def _failure(keys: bytes) -> list[int]:
    """KMP's failure function: for each prefix length, the longest proper border."""
    fail = [0] * len(keys)
    k = 0
    for i in range(1, len(keys)):
        while k and keys[i] != keys[k]:
            k = fail[k - 1]
        if keys[i] == keys[k]:
            k += 1
        fail[i] = k
    return fail


class EscapeScanner:
    """Scans a byte stream for a key sequence; see the module docstring.

    Lifecycle: make one per attached stream, :meth:`feed` every chunk read from the
    client, write what it returns to the process; once it reports the match, the stream is
    over (feeding again is refused). :attr:`held` is what is held back at the moment (a
    partial match, to be dropped if the stream ends there, as moby does).
    """

    __slots__ = ("_fail", "_held", "detached", "keys")

    def __init__(self, keys: bytes) -> None:
        if not keys:
            raise InvalidArgument("an escape scanner needs a non-empty key sequence")
        self.keys = keys
        self._fail = _failure(keys)
        self._held = 0
        self.detached = False

    @property
    def held(self) -> bytes:
        return self.keys[:self._held]

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """Bytes to pass on now, and whether the sequence was completed (the bytes after
        the match are dropped: the client detached)."""
        if self.detached:
            raise InvalidArgument("the stream already detached")
        keys = self.keys
        if not self._held and keys[0] not in data:
            return data, False  # the common case: nothing that could start the sequence
        held0 = self._held
        k = held0
        for i, b in enumerate(data):
            while k and keys[k] != b:
                k = self._fail[k - 1]
            if keys[k] == b:
                k += 1
            if k == len(keys):
                self.detached = True
                self._held = 0
                seen = keys[:held0] + data[:i + 1]
                return seen[:len(seen) - len(keys)], True
        self._held = k
        seen = keys[:held0] + data
        return seen[:len(seen) - k], False


def keys_to_wire(keys: bytes) -> str:
    """A sequence as the supervisor protocol carries it (JSON has no bytes): hex."""
    return keys.hex()


def keys_from_wire(value: object) -> bytes:
    """The inverse of :func:`keys_to_wire`; None or "" is no sequence (no scanning)."""
    if value is None or value == "":
        return b""
    if not isinstance(value, str) or len(value) > 2 * MAX_DETACH_KEYS:
        raise InvalidArgument("detach_keys: expected at most "
                              f"{MAX_DETACH_KEYS} bytes in hex")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise InvalidArgument("detach_keys: expected hex digits") from None


def detach_sequence(requested: bytes | None, *, tty: bool) -> bytes:
    """The sequence to scan an attached stdin for (b"": none), as moby does: only a
    terminal's input is scanned (``copyEscapable`` runs for TTY streams only), with the
    default sequence when none was asked for."""
    if not tty:
        return b""
    return requested or DEFAULT_DETACH_KEYS
