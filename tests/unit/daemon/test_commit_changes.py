"""``docker commit --change``: the changes are one Dockerfile (moby joins them with
newlines and parses the whole), so a line ending in ``\\`` continues on the next, comment
and empty lines are skipped, and only the allowed instructions pass; the committed config
keeps the container's ``Hostname`` and ``Image`` as moby's does."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from dockyard.daemon.containers.commit import container_fields, instructions, split_changes
from dockyard.daemon.containers.config import ContainerConfig as DaemonConfig
from dockyard.errors import InvalidArgument
from dockyard.oci.manifest import ContainerConfig


def test_continuation_lines_join() -> None:
    assert instructions(("LABEL a=b \\\nc=d",)) == ["LABEL a=b c=d"]
    assert instructions(("LABEL a=b \\", "# a comment", "", "  c=d")) == ["LABEL a=b   c=d"]
    assert instructions(("ENV A=1\nUSER nobody", "# skipped", "  ", "EXPOSE 80")) == \
        ["ENV A=1", "USER nobody", "EXPOSE 80"]
    assert instructions(("CMD x \\",)) == ["CMD x"]


def test_onbuild_split_and_refused_triggers() -> None:
    plain, onbuild = split_changes(("ONBUILD RUN \\\n  make", "ENV A=1"))
    assert plain == ["ENV A=1"] and onbuild == ["RUN   make"]
    with pytest.raises(InvalidArgument, match="FROM isn't allowed"):
        split_changes(("ONBUILD FROM x",))


@dataclass(frozen=True)
class _Req:
    config: ContainerConfig | None = None


def test_committed_config_keeps_hostname_and_image() -> None:
    c = DaemonConfig(image="busybox", hostname="myhost", tty=True)
    fields = container_fields(_Req(), c)  # type: ignore[arg-type]
    assert fields["Hostname"] == "myhost" and fields["Image"] == "busybox"
    assert fields["Tty"] is True
    assert container_fields(_Req(ContainerConfig()), c) == {}  # type: ignore[arg-type]
