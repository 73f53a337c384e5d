#!/usr/bin/env python3
"""Pull and push through a local reference registry: dockyardd beside a real dockerd and
skopeo, in the same run.

Images (made here as OCI layouts, gzip layers of random bytes, so nothing compresses):

- ``big``: 3 layers of 64 MiB (``--big-layers``, ``--big-mib``);
- ``small``: 40 layers of a few small files each (``--small-layers``).

They are put with ``skopeo copy`` into Debian's ``docker-registry`` (distribution 2.8, the
reference) on 127.0.0.1, plain HTTP (loopback is insecure for every client). Rows, each
the wall-clock time of one command:

===================  =========================================================================
``pull <image>``     ``docker pull`` through dockyardd, through dockerd (the docker CLI for
                     both), and ``skopeo copy docker://… dir:…`` (download only, no unpack:
                     the floor). Before each sample the image is removed (``docker rmi``;
                     dockyardd's layers are collected with it, dockerd keeps no blobs) so
                     every layer is downloaded and unpacked again; a pull that said "Already
                     exists" is flagged.
``push <image>``     ``docker push`` of the pulled image into a second docker-registry whose
                     storage is emptied (the registry restarted) before each sample, so every
                     blob is uploaded (no HEAD hit, no cross-repo mount); skopeo copies the
                     OCI layout there.
===================  =========================================================================

Samples are interleaved (one per engine per round, the order rotating), so a machine busy
with other work slows every column alike; the load average is printed. Goal (issue 8):
dockyardd's pull at least 1.5x faster than dockerd's (dockerd unpacks layers one after
another). dockerd runs when it is installed (``docker.io``, installed with apt when
missing, as ``bench/daemon.py`` does); without it its column says NOT MEASURED.

Run as root: ``python3 bench/pull.py [--rounds 3] [--workdir /tmp] [--no-dockerd]``.
Everything started (registries, both daemons, containerd, mounts, cgroups, temp dirs) is
stopped and removed at the end, also when it fails.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from daemon_engines import Dockerd, Dockyardd, Engine, ensure_dockerd, log, unmount_under

REGISTRY = "/usr/bin/docker-registry"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
GOAL = 1.5
SKOPEO = "skopeo"


# --------------------------------------------------------------------------- images


def _blob(layout: Path, data: bytes) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def _layer(files: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, payload in files:
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


def make_layout(layout: Path, tag: str, layers: list[list[tuple[str, bytes]]]) -> int:
    """An OCI layout ``layout:tag`` of gzip layers; the bytes of its layers."""
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    descs, diff_ids, total = [], [], 0
    for files in layers:
        tar = _layer(files)
        diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
        packed = gzip.compress(tar, compresslevel=1, mtime=0)
        total += len(packed)
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                      **_blob(layout, packed)})
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["/data"], "Env": ["PATH=/usr/bin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": f"layer {i}"} for i in range(len(layers))]}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   **_blob(layout, config)},
        "layers": descs}).encode()
    index_path = layout / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {
        "schemaVersion": 2, "manifests": []}
    index["manifests"].append({"mediaType": OCI_MANIFEST, **_blob(layout, manifest),
                               "annotations": {"org.opencontainers.image.ref.name": tag}})
    index_path.write_text(json.dumps(index))
    return total


def make_images(layout: Path, args: argparse.Namespace) -> dict[str, int]:
    big = [[(f"big{i}.bin", os.urandom(args.big_mib << 20))] for i in range(args.big_layers)]
    size_big = make_layout(layout, "big", big)
    small = [[(f"l{i:02d}/f{j}", os.urandom(4096 * (j + 1))) for j in range(6)]
             for i in range(args.small_layers)]
    size_small = make_layout(layout, "small", small)
    return {"big": size_big, "small": size_small}


# --------------------------------------------------------------------------- registries


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RefRegistry:
    """Debian's docker-registry on 127.0.0.1 with its storage in ``root``."""

    root: Path
    port: int = field(default_factory=_free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, *, empty: bool = False) -> None:
        if empty:
            shutil.rmtree(self.root / "store", ignore_errors=True)
        self.root.mkdir(parents=True, exist_ok=True)
        cfg = self.root / "config.yml"
        cfg.write_text(f"version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                       f"storage:\n  filesystem:\n    rootdirectory: {self.root / 'store'}\n"
                       f"  delete:\n    enabled: true\nhttp:\n  addr: {self.host}\n")
        self.proc = subprocess.Popen([REGISTRY, "serve", str(cfg)], stdout=subprocess.DEVNULL,
                                     stderr=open(self.root / "log", "ab"),  # noqa: SIM115
                                     start_new_session=True)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"docker-registry did not start: "
                                       f"{(self.root / 'log').read_text()[-2000:]}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None


# --------------------------------------------------------------------------- samples


@dataclass
class Samples:
    values: dict[str, list[float]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def add(self, who: str, value: float) -> None:
        self.values.setdefault(who, []).append(value)


def timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    p = subprocess.run(argv, capture_output=True, env=env, check=False, timeout=900)
    elapsed = time.perf_counter() - start
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {p.returncode}: "
                           f"{p.stderr.decode(errors='replace').strip()[-2000:]}")
    return elapsed, p.stdout.decode(errors="replace")


def engine_pull(engine: Engine, ref: str, row: Samples) -> None:
    engine.docker("rmi", "-f", ref, check=False)
    subprocess.run(["sync"], check=False)
    elapsed, out = timed(["docker", "pull", ref], engine.env)
    if "Already exists" in out:
        row.notes[engine.name] = "some layers were already there"
    row.add(engine.name, elapsed)


def engine_push(engine: Engine, target: RefRegistry, source: str, image: str,
                row: Samples) -> None:
    ref = f"{target.host}/push/{image}:v1"
    engine.docker("tag", source, ref)
    target.stop()
    target.start(empty=True)
    subprocess.run(["sync"], check=False)
    elapsed, out = timed(["docker", "push", ref], engine.env)
    if "already exists" in out.lower() or "Mounted from" in out:
        row.notes[engine.name] = "some blobs were not uploaded"
    row.add(engine.name, elapsed)
    engine.docker("rmi", ref, check=False)


def skopeo_pull(source: RefRegistry, image: str, work: Path, row: Samples) -> None:
    dest = work / "skopeo-pull"
    shutil.rmtree(dest, ignore_errors=True)
    subprocess.run(["sync"], check=False)
    elapsed, _ = timed([SKOPEO, "--insecure-policy", "copy", "--src-tls-verify=false",
                        f"docker://{source.host}/bench/{image}:v1", f"dir:{dest}"])
    shutil.rmtree(dest, ignore_errors=True)
    row.add("skopeo", elapsed)


def skopeo_push(layout: Path, target: RefRegistry, image: str, row: Samples) -> None:
    target.stop()
    target.start(empty=True)
    subprocess.run(["sync"], check=False)
    elapsed, _ = timed([SKOPEO, "--insecure-policy", "copy", "--dest-tls-verify=false",
                        f"oci:{layout}:{image}", f"docker://{target.host}/push/{image}:v1"])
    row.add("skopeo", elapsed)


# --------------------------------------------------------------------------- report


def report(rows: dict[str, Samples], sizes: dict[str, int], columns: list[str],
           missing: dict[str, str], loads: list[tuple[float, float, float]]) -> str:
    head = f"{'row':<14}" + "".join(f"{c + ' s (min/med)':>26}" for c in columns) + \
        f"{'dockerd/dockyardd':>20}"
    lines = [head, "-" * len(head)]
    verdicts = []
    for name, row in rows.items():
        cells = []
        for c in columns:
            v = row.values.get(c)
            if v:
                cells.append(f"{min(v):>12.2f} / {statistics.median(v):<8.2f}   ")
            else:
                cells.append(f"{'NOT MEASURED':>26}")
        ratio = ""
        ours, theirs = row.values.get("dockyardd"), row.values.get("dockerd")
        if ours and theirs:
            r = statistics.median(theirs) / statistics.median(ours)
            ratio = f"{r:>19.2f}x"
            if name.startswith("pull"):
                verdicts.append(f"{name}: dockyardd {r:.2f}x faster than dockerd "
                                f"(goal {GOAL}x: {'met' if r >= GOAL else 'MISSED'})")
        lines.append(f"{name:<14}" + "".join(cells) + ratio)
        for who, note in row.notes.items():
            lines.append(f"{'':<14}note: {who}: {note}")
    lines.append("")
    lines += [f"image {k}: {v / 1e6:.1f} MB of gzip layers" for k, v in sizes.items()]
    for who, why in missing.items():
        lines.append(f"{who}: NOT MEASURED ({why})")
    lines += verdicts
    lines.append("load average (1/5/15 min) before, after: " + ", ".join(
        "/".join(f"{x:.2f}" for x in load) for load in loads))
    if max(load[0] for load in loads) > (os.cpu_count() or 1):
        lines.append("WARNING: the machine was busy; compare ratios, not seconds")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


@contextlib.contextmanager
def started(work: Path, with_dockerd: bool) -> Iterator[tuple[list[Engine], dict[str, str]]]:
    engines: list[Engine] = []
    missing: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        ours = Dockyardd("dockyardd", work / "dockyardd")
        ours.root.mkdir()
        stack.callback(ours.stop)
        log("starting dockyardd")
        ours.start()
        engines.append(ours)
        if with_dockerd:
            why = ensure_dockerd()
            if why is None:
                ref = Dockerd("dockerd", work / "dockerd")
                ref.root.mkdir()
                stack.callback(ref.stop)
                log("starting dockerd")
                ref.start("overlay2")
                engines.append(ref)
            else:
                missing["dockerd"] = why
        else:
            missing["dockerd"] = "--no-dockerd"
        yield engines, missing


def pull_steps(engines: list[Engine], source: RefRegistry, image: str, work: Path,
               row: Samples) -> list[Callable[[], None]]:
    ref = f"{source.host}/bench/{image}:v1"
    steps: list[Callable[[], None]] = [
        functools.partial(engine_pull, e, ref, row) for e in engines]
    steps.append(functools.partial(skopeo_pull, source, image, work, row))
    return steps


def push_steps(engines: list[Engine], source: RefRegistry, target: RefRegistry,
               layout: Path, image: str, row: Samples) -> list[Callable[[], None]]:
    ref = f"{source.host}/bench/{image}:v1"
    steps: list[Callable[[], None]] = [
        functools.partial(engine_push, e, target, ref, image, row) for e in engines]
    steps.append(functools.partial(skopeo_push, layout, target, image, row))
    return steps


def rotate(items: list[Callable[[], None]], round_no: int) -> None:
    k = round_no % len(items)
    for fn in items[k:] + items[:k]:
        fn()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--big-layers", type=int, default=3)
    ap.add_argument("--big-mib", type=int, default=64)
    ap.add_argument("--small-layers", type=int, default=40)
    ap.add_argument("--workdir", default="/tmp", help="where the temp dir goes")
    ap.add_argument("--no-dockerd", action="store_true")
    ap.add_argument("--no-push", action="store_true")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("bench/pull.py needs root (daemons, mounts, cgroups)", file=sys.stderr)
        return 2
    for tool in (REGISTRY, SKOPEO):
        if shutil.which(tool) is None:
            print(f"bench/pull.py: {tool} is missing", file=sys.stderr)
            return 2
    work = Path(tempfile.mkdtemp(prefix="dockyard-bench-pull-", dir=args.workdir))
    source = RefRegistry(work / "source-registry")
    target = RefRegistry(work / "push-registry")
    try:
        layout = work / "layout"
        log("making the images")
        sizes = make_images(layout, args)
        source.start()
        for image in sizes:
            timed([SKOPEO, "--insecure-policy", "copy", "--dest-tls-verify=false",
                   f"oci:{layout}:{image}", f"docker://{source.host}/bench/{image}:v1"])
        with started(work, not args.no_dockerd) as (engines, missing):
            columns = [e.name for e in engines] + ["skopeo"]
            rows: dict[str, Samples] = {}
            loads = [os.getloadavg()]
            for image in sizes:
                ref = f"{source.host}/bench/{image}:v1"
                for e in engines:  # warm-up: the first pull of each engine is not timed
                    e.docker("pull", ref)
                pull_row = rows.setdefault(f"pull {image}", Samples())
                for r in range(args.rounds):
                    log(f"pull {image}: round {r + 1}/{args.rounds}")
                    rotate(pull_steps(engines, source, image, work, pull_row), r)
                if args.no_push:
                    continue
                push_row = rows.setdefault(f"push {image}", Samples())
                for r in range(args.rounds):
                    log(f"push {image}: round {r + 1}/{args.rounds}")
                    rotate(push_steps(engines, source, target, layout, image, push_row), r)
            loads.append(os.getloadavg())
            print(report(rows, sizes, columns, missing, loads))
    finally:
        target.stop()
        source.stop()
        unmount_under(work)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
