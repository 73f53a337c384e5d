"""Benchmark: unpack a 3-layer gzip image with dockyard's apply_layer, GNU tar and umoci.

    python bench/unpack.py [--scale 1.0] [--rounds 3] [--workdir DIR] [--keep]

Makes three gzip layers (about 200 MB uncompressed at scale 1: random binaries, text-like
files, and many small files in nested directories), written by dockyard's own write_diff
and CompressingWriter, then times, in the same run and on the same disk:

- ``tar -xzf`` of each layer in turn into one directory (GNU tar, the reference);
- ``apply_layer`` of each layer in turn (native whiteout mode), in this process;
- ``apply_layer`` with ``tar``-style external gunzip (``gzip -dc`` piped in), for comparison;
- ``umoci unpack`` of an OCI layout holding the same layers (when umoci is installed).

Prints the best of ``--rounds`` wall-clock times per tool (the rounds interleave the tools)
and the ratio to GNU tar (goal: dockyard within 1.5x of tar, and faster than umoci). Page
cache is warm for everyone. On a shared virtual disk the figures are noisy; a ``--workdir``
on tmpfs (``/dev/shm/...``) measures the unpackers rather than the disk.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from images import lorem_text  # bench/ is the script's directory, so on sys.path

from dockyard.archive import CompressingWriter, apply_layer, write_diff


def make_trees(base: Path, scale: float) -> list[Path]:
    rng = random.Random(42)
    text = lorem_text(rng, 4 << 20)

    def text_file(path: Path, size: int) -> None:
        off = rng.randrange(0, len(text) - size) if size < len(text) else 0
        path.write_bytes(f"# {path.name} {rng.random()}\n".encode() + text[off:off + size])

    trees = []
    # layer 1: an OS-like base: many small files in nested dirs, some binaries
    t1 = base / "tree1"
    for i in range(int(6000 * scale)):
        d = t1 / f"usr/share/pkg{i % 300}/sub{i % 7}"
        d.mkdir(parents=True, exist_ok=True)
        text_file(d / f"file{i}.txt", rng.randint(200, 12000))
    (t1 / "usr/bin").mkdir(parents=True)
    for i in range(int(40 * scale)):
        (t1 / f"usr/bin/tool{i}").write_bytes(os.urandom(rng.randint(100_000, 1_900_000)))
        os.chmod(t1 / f"usr/bin/tool{i}", 0o755)
    trees.append(t1)
    # layer 2: big text-like files (logs, sources)
    t2 = base / "tree2"
    (t2 / "opt/data").mkdir(parents=True)
    for i in range(int(60 * scale)):
        text_file(t2 / f"opt/data/blob{i}.txt", rng.randint(500_000, 1_500_000))
    trees.append(t2)
    # layer 3: an application: random blobs and many tiny files
    t3 = base / "tree3"
    (t3 / "app/node_modules").mkdir(parents=True)
    for i in range(int(4000 * scale)):
        d = t3 / f"app/node_modules/m{i % 200}"
        d.mkdir(exist_ok=True)
        text_file(d / f"index{i}.js", rng.randint(50, 3000))
    for i in range(int(15 * scale)):
        (t3 / f"app/asset{i}.bin").write_bytes(os.urandom(2_000_000))
    trees.append(t3)
    return trees


def make_layers(work: Path, scale: float) -> list[tuple[Path, str, str, int]]:
    """(path, digest, diff_id, uncompressed size) of each gzip layer, made once per workdir."""
    meta = work / "layers.json"
    if meta.exists():
        return [(Path(p), d, i, s) for p, d, i, s in json.loads(meta.read_text())]
    trees = make_trees(work / "trees", scale)
    layers = []
    for n, tree in enumerate(trees):
        path = work / f"layer{n}.tar.gz"
        with open(path, "wb") as f:
            w = CompressingWriter(f, "gzip")
            write_diff(None, str(tree), w, mode="tree")  # type: ignore[arg-type]
            r = w.finish()
        layers.append((path, r.digest, r.diff_id, r.uncompressed_size))
    shutil.rmtree(work / "trees")
    meta.write_text(json.dumps([(str(p), d, i, s) for p, d, i, s in layers]))
    return layers


def make_oci_layout(work: Path, layers: list[tuple[Path, str, str, int]]) -> Path:
    layout = work / "oci"
    if layout.exists():
        return layout
    blobs = layout / "blobs/sha256"
    blobs.mkdir(parents=True)
    for path, digest, _, _ in layers:
        os.link(path, blobs / digest.split(":")[1])

    def put(data: bytes) -> tuple[str, int]:
        h = hashlib.sha256(data).hexdigest()
        (blobs / h).write_bytes(data)
        return "sha256:" + h, len(data)

    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [i for _, _, i, _ in layers]},
                         "config": {}}).encode()
    cdig, csize = put(config)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cdig,
                   "size": csize},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d,
                    "size": p.stat().st_size} for p, d, _, _ in layers]}).encode()
    mdig, msize = put(manifest)
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": mdig,
        "size": msize, "annotations": {"org.opencontainers.image.ref.name": "bench"}}]}))
    return layout


def run_once(fn: Callable[[Path], None], out: Path) -> float:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    subprocess.run(["sync"], check=True)
    t0 = time.perf_counter()
    fn(out)
    took = time.perf_counter() - t0
    shutil.rmtree(out)
    return took


def race(tools: dict[str, Callable[[Path], None]], work: Path, rounds: int) -> dict[str, float]:
    """Best time of each tool; rounds interleave the tools so disk noise hits all alike."""
    best = {name: float("inf") for name in tools}
    for _ in range(rounds):
        for i, (name, fn) in enumerate(tools.items()):
            best[name] = min(best[name], run_once(fn, work / f"out-{i}"))
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workdir")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="dockyard-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        layers = make_layers(work, args.scale)
        comp = sum(p.stat().st_size for p, _, _, _ in layers)
        raw = sum(s for _, _, _, s in layers)
        print(f"layers: {len(layers)}, {comp / 1e6:.0f} MB gzip, {raw / 1e6:.0f} MB tar "
              f"(made in {time.perf_counter() - t0:.1f}s)")

        def gnu_tar(out: Path) -> None:
            for p, _, _, _ in layers:
                subprocess.run(["tar", "-xzf", str(p), "-C", str(out)], check=True)

        def ours(out: Path) -> None:
            for p, _, diff_id, _ in layers:
                with open(p, "rb") as f:
                    apply_layer(f, str(out), whiteout_mode="native", expected_diff_id=diff_id)

        def ours_gzip_pipe(out: Path) -> None:
            for p, _, _, _ in layers:
                with subprocess.Popen(["gzip", "-dc", str(p)], stdout=subprocess.PIPE) as proc:
                    if proc.stdout is None:
                        raise RuntimeError("no pipe")
                    apply_layer(proc.stdout, str(out), whiteout_mode="native")

        tools: dict[str, Callable[[Path], None]] = {
            "GNU tar -xzf": gnu_tar, "dockyard apply_layer": ours,
            "dockyard + gzip -dc pipe": ours_gzip_pipe}
        if shutil.which("umoci"):
            layout = make_oci_layout(work, layers)

            def umoci(out: Path) -> None:
                subprocess.run(["umoci", "unpack", "--image", f"{layout}:bench",
                                str(out / "bundle")], check=True, capture_output=True)

            tools["umoci unpack"] = umoci
        results = race(tools, work, args.rounds)
        ref = results["GNU tar -xzf"]
        print(f"{'tool':28} {'best of ' + str(args.rounds):>12} {'vs tar':>8} {'MB/s':>8}")
        for name, secs in results.items():
            print(f"{name:28} {secs:11.2f}s {secs / ref:7.2f}x {raw / 1e6 / secs:8.0f}")
        return 0
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work)


if __name__ == "__main__":
    sys.exit(main())
