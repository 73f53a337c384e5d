"""A prune ``until`` that is neither a time nor a duration is refused in moby's words
(``failed to parse value as time or duration: "abc"``), for containers and images."""

from __future__ import annotations

import pytest

from dockyard.daemon.containers.filters import compile_prune_filters
from dockyard.errors import InvalidArgument
from dockyard.image.naming import parse_until


def test_container_prune_until_words() -> None:
    with pytest.raises(InvalidArgument) as exc:
        compile_prune_filters({"until": ["abc"]})
    assert str(exc.value) == 'failed to parse value as time or duration: "abc"'
    compile_prune_filters({"until": ["10m"]})


def test_image_prune_until_words() -> None:
    with pytest.raises(InvalidArgument) as exc:
        parse_until("abc")
    assert str(exc.value) == 'failed to parse value as time or duration: "abc"'
    assert parse_until("1h", now=7200.0) == 3600.0
