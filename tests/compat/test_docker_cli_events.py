"""The real docker CLI's ``events`` against dockyardd: ``--since``/``--until`` over what
happened, a live stream while containers start and die, ``--filter`` and ``--format``.

The CLI sends ``since``/``until`` as Unix times; a duration (``--until 0s``) is sent in
whole seconds, so the windows here are given with nanoseconds, as ``docker events`` users
do with RFC 3339 times.
"""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "daemon"))
import daemon_harness as harness

pytestmark = pytest.mark.root


def rfc3339(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_since_until_over_a_run(d: harness.Daemon) -> None:
    t0 = time.time()
    d.docker("run", "--rm", "--name", "ev-rm", "--label", "suite=events", "busybox", "sh",
             "-c", "exit 3")
    d.docker("run", "-d", "--name", "ev-bg", "busybox", "sleep", "100", check=True)
    d.docker("exec", "ev-bg", "true", check=True)
    d.docker("stop", "-t", "1", "ev-bg", check=True)
    d.docker("rm", "ev-bg", check=True)
    t1 = time.time()
    p = d.docker("events", "--since", rfc3339(t0), "--until", rfc3339(t1), "--format",
                 "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}", timeout=20, check=True)
    lines = p.stdout.splitlines()
    assert lines[:5] == ["container create ev-rm", "container attach ev-rm",
                         "container start ev-rm", "container die ev-rm",
                         "container destroy ev-rm"]
    rest = [ln for ln in lines[5:] if not ln.startswith("container exec_")]
    assert rest == ["container create ev-bg", "container start ev-bg",
                    "container kill ev-bg", "container kill ev-bg", "container die ev-bg",
                    "container stop ev-bg", "container destroy ev-bg"]
    execs = [ln.split()[1].rstrip(":") for ln in lines[5:] if ln.startswith("container exec_")]
    assert execs == ["exec_create", "exec_start", "exec_die"]
    assert "container exec_start: true  ev-bg" in lines  # moby's "<verb>: <cmd> <args>"

    p = d.docker("events", "--since", rfc3339(t0), "--until", rfc3339(t1), "--filter",
                 "event=die", "--format", "{{.Actor.Attributes.name}} "
                 "{{.Actor.Attributes.exitCode}}", timeout=20, check=True)
    assert p.stdout == "ev-rm 3\nev-bg 137\n"
    p = d.docker("events", "--since", rfc3339(t0), "--until", rfc3339(t1), "--filter",
                 "label=suite=events", "--filter", "type=container", "--format",
                 "{{json .}}", timeout=20, check=True)
    docs = [json.loads(ln) for ln in p.stdout.splitlines()]
    assert [e["Action"] for e in docs] == ["create", "attach", "start", "die", "destroy"]
    assert docs[0]["Actor"]["Attributes"] == {"image": "busybox", "name": "ev-rm",
                                              "suite": "events"}
    assert all(e["scope"] == "local" and e["timeNano"] // 10**9 == e["time"] for e in docs)
    # the default format: time, type, action, id, (attributes)
    p = d.docker("events", "--since", rfc3339(t0), "--until", rfc3339(t1), "--filter",
                 "container=ev-rm", "--filter", "event=start", timeout=20, check=True)
    when, kind, action, cid, attrs = p.stdout.split(" ", 4)
    assert (kind, action, len(cid)) == ("container", "start", 64)
    assert when.endswith("Z") and attrs.startswith("(image=busybox, name=ev-rm")
    # an until in the past ends the stream at once, after the past events
    t = time.monotonic()
    p = d.docker("events", "--until", rfc3339(t1), "--filter", "container=ev-bg", timeout=20,
                 check=True)
    assert time.monotonic() - t < 10 and "destroy" in p.stdout


def test_live_stream_while_containers_start_and_die(d: harness.Daemon) -> None:
    since, until = time.time(), time.time() + 8
    events = subprocess.Popen(
        ["timeout", "30", harness.DOCKER, "events", "--since", rfc3339(since), "--until",
         rfc3339(until), "--filter",
         "type=container", "--filter", "event=start", "--filter", "event=die", "--format",
         "{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=d.env())
    try:
        time.sleep(1.0)  # subscribed
        for i in range(3):
            d.docker("run", "--rm", "--name", f"live-{i}", "busybox", "sh", "-c", f"exit {i}",
                     check=False)
        out, err = events.communicate(timeout=30)  # ends by itself at --until
    finally:
        if events.poll() is None:
            events.kill()
            events.wait()
    assert events.returncode == 0, err
    assert out.splitlines() == [f"{a} live-{i} {c}" for i in range(3)
                                for a, c in (("start", "<no value>"), ("die", str(i)))]


def test_bad_window(d: harness.Daemon) -> None:
    p = d.docker("events", "--since", "2000000000", "--until", "1000000000", timeout=20)
    assert p.returncode != 0 and "cannot be after" in p.stderr
