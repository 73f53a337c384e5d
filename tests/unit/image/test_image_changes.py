"""``--change`` instructions applied to a container config."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidArgument
from dockyard.image.changes import apply_changes
from dockyard.image.times import format_time, parse_time
from dockyard.oci.manifest import ContainerConfig


def test_every_instruction() -> None:
    c = apply_changes(ContainerConfig(cmd=("old",)), [
        'ENTRYPOINT ["/bin/app", "--flag"]',
        "CMD serve --port 80",
        'ENV A=1 B="two words"',
        "ENV C 3 and more",
        "ENV A=overridden",
        "WORKDIR /srv",
        "WORKDIR data",
        "USER nobody:nogroup",
        "EXPOSE 80 53/udp 8000-8002",
        'LABEL org.x=1 "with space"="y z"',
        'VOLUME ["/data", "/logs"]',
        "VOLUME /cache",
        "stopsignal SIGQUIT",
    ])
    assert c.entrypoint == ("/bin/app", "--flag")
    assert c.cmd == ("/bin/sh", "-c", "serve --port 80")
    assert c.env == ("B=two words", "C=3 and more", "A=overridden")
    assert c.working_dir == "/srv/data"
    assert c.user == "nobody:nogroup"
    assert c.exposed_ports == ("53/udp", "80/tcp", "8000/tcp", "8001/tcp", "8002/tcp")
    assert dict(c.labels) == {"org.x": "1", "with space": "y z"}
    assert c.volumes == ("/cache", "/data", "/logs")
    assert c.stop_signal == "SIGQUIT"


def test_entrypoint_clears_cmd_and_exec_form_cmd() -> None:
    c = apply_changes(ContainerConfig(cmd=("sh",)), ["ENTRYPOINT top"])
    assert c.cmd is None and c.entrypoint == ("/bin/sh", "-c", "top")
    assert apply_changes(c, ['CMD ["-b"]']).cmd == ("-b",)


@pytest.mark.parametrize("change", [
    "RUN echo no", "FROM busybox", "EXPOSE 99999", "EXPOSE 80/xtp", "USER", "ENV",
    "ENV novalue", "LABEL =x", "WORKDIR", "STOPSIGNAL", "VOLUME", 'ENV A="unterminated',
])
def test_refused(change: str) -> None:
    with pytest.raises(InvalidArgument):
        apply_changes(ContainerConfig(), [change])


def test_times() -> None:
    assert format_time(ns=1_700_000_000_123_000_000) == "2023-11-14T22:13:20.123Z"
    assert format_time(ns=1_700_000_000 * 10**9) == "2023-11-14T22:13:20Z"
    assert parse_time("2023-11-14T22:13:20.123456789Z") == pytest.approx(1_700_000_000.123456)
    assert parse_time("2023-11-14T23:13:20+01:00") == 1_700_000_000
    with pytest.raises(InvalidArgument):
        parse_time("yesterday")
