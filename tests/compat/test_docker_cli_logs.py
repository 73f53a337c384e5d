"""``docker logs`` (the real docker CLI) of ~20 MB of mixed output gives back the bytes the
container printed, stdout on the CLI's stdout and stderr on its stderr, across rotated
files; ``--tail``, ``--since`` and ``-t`` give what the json-file itself says (decoded
here with ``json.loads``, entry by entry: an independent reader).

The container ``cat`` s two files made here (bind-mounted): plain 80-column lines, lines
with quotes, backslashes, tabs, control characters, unicode and invalid UTF-8 (which the
json-file holds as U+FFFD, as dockerd's does), a 40000-character line (three partial
messages of 16 KiB), and a last line without a newline.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import docker
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "daemon"))
import daemon_harness as harness

pytestmark = pytest.mark.root
SPECIAL = [b'say "hi"', b"back\\slash \\n not a newline", b"tab\tin\tline", b"bell \x07 esc \x1b[1m",
           "unicod\u00e9 \u2603 \U0001f600".encode(), b"invalid \xff\xfe utf-8 \xc3", b"cr\r", b""]


def contents() -> tuple[bytes, bytes]:
    rng = random.Random(5)
    out: list[bytes] = []
    for i in range(230_000):
        if i % 500 == 0:
            out.append(rng.choice(SPECIAL) + b"\n")
        out.append(b"%08d " % i + b"abcdefghij" * 7 + b"\n")
        if i == 100_000:
            out.append(b"L" * 40_000 + b"\n")
    out.append(b"the last line has no newline")
    err = [b"err %d %s\n" % (i, rng.choice(SPECIAL)) for i in range(3000)]
    return b"".join(out), b"".join(err)


def shown(raw: bytes) -> bytes:
    return raw.decode("utf-8", "replace").encode()


def docker_logs(d: harness.Daemon, *args: str) -> tuple[bytes, bytes]:
    p = subprocess.run(["docker", "logs", *args], env=d.env(), capture_output=True,
                       timeout=60, check=False)
    assert p.returncode == 0, p.stderr[-2000:]
    return p.stdout, p.stderr


def fixed(when: str) -> bytes:
    """``-t`` 's RFC3339NanoFixed of a json-file time."""
    base, _, frac = when.rstrip("Z").partition(".")
    return f"{base}.{frac.ljust(9, '0')}Z".encode()


def test_logs_give_back_what_the_container_printed(d: harness.Daemon,
                                                    tmp_path: Path) -> None:
    out, err = contents()
    (tmp_path / "out").write_bytes(out)
    (tmp_path / "err").write_bytes(err)
    name = f"logs-{os.getpid()}"
    try:
        d.docker("run", "-d", "--name", name, "-v", f"{tmp_path}:/in:ro",
                 "--log-opt", "max-size=8m", "--log-opt", "max-file=9", "busybox", "sh",
                 "-c", "cat /in/out; cat /in/err >&2", check=True)
        assert d.docker("wait", name, timeout=60, check=True).stdout.strip() == "0"
        got_out, got_err = docker_logs(d, name)
        assert got_out == shown(out)
        assert got_err == shown(err)

        log_path = d.docker("inspect", "-f", "{{.LogPath}}", name, check=True).stdout.strip()
        assert os.path.exists(f"{log_path}.2")  # rotated: the read spans files
        files = sorted(Path(log_path).parent.glob(Path(log_path).name + ".*"),
                       key=lambda p: -int(p.suffix[1:]))
        lines = b"".join(p.read_bytes() for p in [*files, Path(log_path)]).splitlines()
        entries = [json.loads(line) for line in lines[-4000:]]

        def expect(chosen: list[dict[str, str]], stamps: bool = False) -> tuple[bytes, bytes]:
            streams: dict[str, list[bytes]] = {"stdout": [], "stderr": []}
            for e in chosen:
                prefix = fixed(e["time"]) + b" " if stamps else b""
                streams[e["stream"]].append(prefix + e["log"].encode())
            return b"".join(streams["stdout"]), b"".join(streams["stderr"])

        assert docker_logs(d, "--tail", "2500", name) == expect(entries[-2500:])
        assert docker_logs(d, "--tail", "700", "-t", name) == expect(entries[-700:], True)
        since, until = entries[-1500]["time"], entries[-800]["time"]
        assert fixed(entries[0]["time"]) < fixed(since)  # what is older is not needed
        chosen = [e for e in entries if fixed(e["time"]) >= fixed(since)]
        assert docker_logs(d, "--since", since, name) == expect(chosen)
        assert docker_logs(d, "--since", since, "-t", name) == expect(chosen, True)
        chosen = [e for e in chosen if fixed(e["time"]) <= fixed(until)]
        assert docker_logs(d, "--since", since, "--until", until, name) == expect(chosen)
        # docker-py joins the frames of a stream as the CLI does.
        with docker.APIClient(base_url=d.host, timeout=60) as api:
            assert api.logs(name, stdout=False, stderr=True) == shown(err)
            assert b"".join(api.logs(name, stream=True, tail=10)) == b"".join(
                e["log"].encode() for e in entries[-10:])
        # Speed is bench/logs.py's business (this machine is too noisy for a timed test);
        # that the block reader's fast paths are taken is tested in test_container_logblocks.
    finally:
        d.docker("rm", "-f", name, timeout=30)
