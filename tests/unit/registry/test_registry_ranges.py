"""Range (blob GET) and Content-Range (chunk PATCH) parsing."""

from __future__ import annotations

import pytest

from dockyard.registry.errors import RangeInvalid
from dockyard.registry.ranges import (
    ByteRange,
    parse_content_range,
    parse_range,
    upload_range_header,
)


@pytest.mark.parametrize(("header", "size", "want"), [
    (None, 10, None),
    ("", 10, None),
    ("bytes=0-4", 10, ByteRange(0, 4)),
    ("bytes=2-", 10, ByteRange(2, 9)),
    ("bytes=-3", 10, ByteRange(7, 9)),
    ("bytes=-30", 10, ByteRange(0, 9)),
    ("bytes=5-100", 10, ByteRange(5, 9)),
    ("bytes=9-9", 10, ByteRange(9, 9)),
    (" bytes = 1 - 2 ", 10, ByteRange(1, 2)),
    ("bytes=0-1,4-5", 10, None),  # several ranges: ignored, whole blob
    ("items=0-1", 10, None),
    ("bytes=5-2", 10, None),  # invalid: ignored
    ("bytes=-", 10, None),
])
def test_parse_range(header: str | None, size: int, want: ByteRange | None) -> None:
    assert parse_range(header, size) == want


@pytest.mark.parametrize(("header", "size"), [
    ("bytes=10-", 10), ("bytes=10-20", 10), ("bytes=-0", 10), ("bytes=0-", 0),
    ("bytes=-5", 0),
])
def test_unsatisfiable_range(header: str, size: int) -> None:
    with pytest.raises(RangeInvalid) as info:
        parse_range(header, size)
    assert info.value.size == size


def test_length() -> None:
    assert ByteRange(3, 7).length == 5


@pytest.mark.parametrize(("header", "want"), [
    ("0-9", ByteRange(0, 9)),
    ("100-199", ByteRange(100, 199)),
    ("bytes 5-6", ByteRange(5, 6)),
    ("bytes=5-6", ByteRange(5, 6)),
    ("bytes 5-6/100", ByteRange(5, 6)),
    ("bytes 5-6/*", ByteRange(5, 6)),
])
def test_parse_content_range(header: str, want: ByteRange) -> None:
    assert parse_content_range(header) == want


@pytest.mark.parametrize("header", ["", "5", "a-b", "-5", "5-", "9-3", "0-1-2"])
def test_bad_content_range_is_416(header: str) -> None:
    with pytest.raises(RangeInvalid):
        parse_content_range(header)


def test_upload_range_header() -> None:
    assert upload_range_header(0) == "0-0"
    assert upload_range_header(1) == "0-0"
    assert upload_range_header(100) == "0-99"
