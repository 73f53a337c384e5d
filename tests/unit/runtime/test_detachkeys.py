"""Detach keys: moby/term's ``ToBytes`` grammar and the escape scanner of attached stdin."""

from __future__ import annotations

import random

import pytest

from dockyard.errors import InvalidArgument
from dockyard.runtime.detachkeys import (
    DEFAULT_DETACH_KEYS,
    EscapeScanner,
    parse_detach_keys,
)


@pytest.mark.parametrize(("spec", "expected"), [
    ("ctrl-p,ctrl-q", b"\x10\x11"),
    ("ctrl-@", b"\x00"),
    ("ctrl-a,ctrl-z", b"\x01\x1a"),
    ("ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_", b"\x1b\x1c\x1d\x1e\x1f"),
    ("ctrl-x,x", b"\x18x"),
    ("a,b,c", b"abc"),
    ("DEL", b"\x7f"),
    ("ctrl-p,ctrl-p", b"\x10\x10"),
])
def test_parse(spec: str, expected: bytes) -> None:
    assert parse_detach_keys(spec) == expected


@pytest.mark.parametrize("spec", ["", "ctrl-", "ctrl-1", "ctrl-P", "ab", "ctrl-p,", ",",
                                  "é", "ctrl-p;ctrl-q", "del", ",".join("a" * 65)])
def test_parse_refuses(spec: str) -> None:
    with pytest.raises(InvalidArgument, match=r"Invalid detach keys \(.*\) provided"):
        parse_detach_keys(spec)


def test_default_is_ctrl_p_ctrl_q() -> None:
    assert parse_detach_keys("ctrl-p,ctrl-q") == DEFAULT_DETACH_KEYS


def feed_all(scanner: EscapeScanner, chunks: list[bytes]) -> tuple[bytes, bool]:
    out = b""
    for chunk in chunks:
        passed, detached = scanner.feed(chunk)
        out += passed
        if detached:
            return out, True
    return out, False


def test_plain_text_passes_untouched() -> None:
    s = EscapeScanner(b"\x10\x11")
    data = b"echo hello\n"
    passed, detached = s.feed(data)
    assert passed is data and not detached


def test_match_in_one_chunk_keeps_what_came_before() -> None:
    assert EscapeScanner(b"\x10\x11").feed(b"ls\n\x10\x11after") == (b"ls\n", True)


def test_match_across_chunks() -> None:
    s = EscapeScanner(b"\x10\x11")
    assert s.feed(b"ab\x10") == (b"ab", False)
    assert s.held == b"\x10"
    assert s.feed(b"\x11") == (b"", True)
    assert s.detached


def test_broken_prefix_is_released_in_order() -> None:
    s = EscapeScanner(b"\x10\x11")
    assert s.feed(b"\x10") == (b"", False)
    assert s.feed(b"a") == (b"\x10a", False)
    assert s.held == b""


def test_prefix_that_restarts_the_sequence() -> None:
    s = EscapeScanner(b"\x10\x11")
    assert s.feed(b"\x10") == (b"", False)
    assert s.feed(b"\x10") == (b"\x10", False)  # the first is released, the second held
    assert s.feed(b"\x11") == (b"", True)


def test_overlapping_sequence() -> None:
    # "aab" in "aaab": a naive matcher restarting at the mismatch misses it.
    assert feed_all(EscapeScanner(b"aab"), [b"a", b"a", b"a", b"b"]) == (b"a", True)
    assert EscapeScanner(b"abab").feed(b"xabaabab") == (b"xaba", True)


def test_feeding_after_the_match_is_refused() -> None:
    s = EscapeScanner(b"q")
    assert s.feed(b"q") == (b"", True)
    with pytest.raises(InvalidArgument):
        s.feed(b"x")


def test_empty_sequence_is_refused() -> None:
    with pytest.raises(InvalidArgument):
        EscapeScanner(b"")


def reference(keys: bytes, stream: bytes) -> tuple[bytes, bool]:
    i = stream.find(keys)
    return (stream, False) if i < 0 else (stream[:i], True)


@pytest.mark.parametrize("seed", range(20))
def test_any_chunking_gives_the_unchunked_answer(seed: int) -> None:
    rng = random.Random(seed)
    keys = bytes(rng.choice(b"ab") for _ in range(rng.randint(1, 4)))
    stream = bytes(rng.choice(b"abc") for _ in range(rng.randint(0, 40)))
    cuts = sorted(rng.sample(range(len(stream) + 1), min(len(stream) + 1, 5)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    out, detached = feed_all(EscapeScanner(keys), chunks)
    want_out, want_detached = reference(keys, stream)
    assert detached == want_detached
    if detached:
        assert out == want_out
    else:  # what is still held is the only difference, and it is a prefix of the keys
        assert want_out.startswith(out) and keys.startswith(want_out[len(out):])


def test_attach_query_and_the_sequence_used() -> None:
    from dockyard.apitypes.streams import parse_attach_options
    from dockyard.runtime.detachkeys import detach_sequence, keys_from_wire, keys_to_wire

    assert parse_attach_options({"detachKeys": "ctrl-x,x"}).detach_keys == b"\x18x"
    assert parse_attach_options({"detachKeys": ""}).detach_keys is None
    with pytest.raises(InvalidArgument, match=r"Invalid detach keys \(ctrl-\) provided"):
        parse_attach_options({"detachKeys": "ctrl-"})
    # moby scans a terminal's input only, with ctrl-p,ctrl-q unless told otherwise.
    assert detach_sequence(None, tty=True) == DEFAULT_DETACH_KEYS
    assert detach_sequence(b"\x18x", tty=True) == b"\x18x"
    assert detach_sequence(b"\x18x", tty=False) == b""
    assert keys_from_wire(keys_to_wire(b"\x10\x11")) == b"\x10\x11"
    assert keys_from_wire(None) == keys_from_wire("") == b""
    for bad in ("zz", 5, "00" * 65):
        with pytest.raises(InvalidArgument):
            keys_from_wire(bad)
