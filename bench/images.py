"""Benchmark: unpack, save and load of a 3-layer ~200 MB image, beside GNU tar, umoci, skopeo.

    sudo python bench/images.py [--scale 1.0] [--rounds 3] [--snapshotter overlay]
                                [--workdir DIR] [--keep]

Builds three gzip layers (about 200 MB uncompressed at scale 1: random bytes, compressible
text, and many small files in nested directories) as an OCI image layout, then times, in the
same run, on the same disk, page cache warm for everyone, dirty data synced before each timed
span (best of ``--rounds``):

unpack
  ``tar -x``      GNU ``tar -xzf`` of each layer into its own directory (the reference; an
                  overlay snapshot is one directory per layer too)
  ``dockyard``    ``ImageService.unpack`` into the snapshotter (prepare, apply_layer with
                  diff_id verification, commit; metadata rows)
  ``umoci``       ``umoci unpack`` of the same OCI layout into a bundle
save / load
  ``dockyard save``   the image to a docker-archive (dockerd-25 layout)
  ``skopeo d→o``      ``skopeo copy docker-archive:<our save> oci:<dir>``
  ``dockyard load``   that archive into an empty data root (reading, verifying, storing
                      and unpacking)
  ``dockyard load -u`` the same without unpacking
  ``skopeo o→d``      ``skopeo copy oci:<dir> docker-archive:<file>``

Goals (issue 3): unpack within 1.5x of ``tar -x``, and faster than umoci. Not a test: it
prints figures and never fails a build.
"""

from __future__ import annotations

import argparse
import io
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

from dockyard.archive import CompressingWriter, DiffMode, write_diff
from dockyard.image import ImageService
from dockyard.image.load import load
from dockyard.oci import mediatypes as mt
from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import digest_bytes, parse_digest
from dockyard.oci.manifest import canonical_json, new_image_config, new_index, new_manifest

WORDS = ("lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed",
         "do", "eiusmod", "tempor", "incididunt", "ut", "labore", "et", "dolore", "magna",
         "aliqua", "container", "image", "layer", "overlay", "snapshot", "digest", "manifest",
         "config", "runtime", "kernel", "namespace", "cgroup")


def lorem_text(rng: random.Random, size: int) -> bytes:
    """``size`` bytes of lines of words (compressible like text; also used by unpack.py)."""
    out = io.StringIO()
    n = 0
    while n < size:
        line = " ".join(rng.choices(WORDS, k=rng.randint(4, 14))) + "\n"
        out.write(line)
        n += len(line)
    return out.getvalue().encode()[:size]


def make_trees(base: Path, scale: float) -> list[Path]:
    rng = random.Random(42)
    trees = [base / f"tree{i}" for i in range(3)]
    for t in trees:
        t.mkdir(parents=True)
    mb = int((1 << 20) * scale)
    # 1: random binaries (~70 MB)
    (trees[0] / "bin").mkdir()
    for i in range(7):
        (trees[0] / "bin" / f"blob{i}").write_bytes(os.urandom(10 * mb))
    # 2: compressible text (~70 MB)
    (trees[1] / "share").mkdir()
    for i in range(14):
        (trees[1] / "share" / f"doc{i}.txt").write_bytes(lorem_text(rng, 5 * mb))
    # 3: many small files (~60 MB in ~12,000 files)
    n_files = max(100, int(12_000 * scale))
    for i in range(n_files):
        d = trees[2] / "lib" / f"pkg{i // 200}" / f"mod{i % 10}"
        d.mkdir(parents=True, exist_ok=True)
        size = rng.randint(1, 9000)
        data = lorem_text(rng, size) if i % 2 else os.urandom(size)
        (d / f"f{i}.py").write_bytes(data)
    return trees


def build_layout(trees: list[Path], layout: Path) -> list[Path]:
    """An OCI layout of the three trees as gzip layers; returns the layer blob paths."""
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    descs, diff_ids, paths = [], [], []
    for t in trees:
        tmp = layout / "layer.tmp"
        with open(tmp, "wb") as f:
            w = CompressingWriter(f, "gzip")
            write_diff(None, str(t), w, mode=DiffMode.TREE)  # type: ignore[arg-type]
            r = w.finish()
        digest = parse_digest(r.digest)
        path = blobs / digest.hex
        tmp.rename(path)
        paths.append(path)
        descs.append(Descriptor(mt.OCI_LAYER_GZIP, digest, r.size))
        diff_ids.append(parse_digest(r.diff_id))
    cfg = new_image_config(architecture="amd64", os="linux", diff_ids=diff_ids,
                           created="2024-01-01T00:00:00Z")
    (blobs / cfg.digest.hex).write_bytes(cfg.raw)
    cfg_d = Descriptor(mt.OCI_CONFIG, cfg.digest, len(cfg.raw))
    man = new_manifest(cfg_d, descs)
    (blobs / man.digest.hex).write_bytes(man.raw)
    index = new_index([man.descriptor()._replace(annotations={
        "org.opencontainers.image.ref.name": "bench",
        "io.containerd.image.name": "docker.io/library/bench:latest"})])
    (layout / "index.json").write_bytes(index.raw)
    (layout / "oci-layout").write_bytes(canonical_json({"imageLayoutVersion": "1.0.0"}))
    assert digest_bytes(man.raw) == man.digest
    return paths


def best(rounds: int, setup: Callable[[int], None], work: Callable[[int], None],
         teardown: Callable[[int], None]) -> float:
    times = []
    for i in range(rounds):
        setup(i)
        try:
            os.sync()  # no row pays for the write-back of the setup's (or a previous row's) data
            t0 = time.perf_counter()
            work(i)
            times.append(time.perf_counter() - t0)
        finally:
            teardown(i)
    return min(times)


def run(*argv: str) -> None:
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def tar_layout(layout: Path, out: Path) -> None:
    import tarfile

    with tarfile.open(out, "w") as tf:
        tf.add(layout, arcname=".")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--snapshotter", default="overlay")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dockyard-bench-images-", dir=args.workdir))
    rows: list[tuple[str, float | None, str]] = []
    try:
        print(f"building the image in {work} ...", file=sys.stderr)
        trees = make_trees(work / "src", args.scale)
        layout = work / "layout"
        layers = build_layout(trees, layout)
        size = sum(sum(f.stat().st_size for f in t.rglob("*") if f.is_file()) for t in trees)
        packed = sum(p.stat().st_size for p in layers)
        shutil.rmtree(work / "src")
        layout_tar = work / "layout.tar"
        tar_layout(layout, layout_tar)

        # -- unpack ---------------------------------------------------------------------
        out = work / "out"

        def fresh(_: int) -> None:
            out.mkdir()

        def gone(_: int) -> None:
            shutil.rmtree(out)

        def tar_x(_: int) -> None:
            for i, p in enumerate(layers):
                d = out / str(i)
                d.mkdir()
                run("tar", "-xzf", str(p), "-C", str(d))

        t_tar = best(args.rounds, fresh, tar_x, gone)
        rows.append(("unpack: tar -x (reference)", t_tar, "1.00x"))

        svc_holder: list[ImageService] = []

        def svc_setup(i: int) -> None:
            svc = ImageService.open(str(work / f"root{i}"), args.snapshotter)
            with open(layout_tar, "rb") as f:
                load(svc.stores, f, do_unpack=False)
            svc_holder.append(svc)

        def svc_unpack(_: int) -> None:
            svc_holder[-1].unpack("bench")

        def svc_teardown(i: int) -> None:
            svc_holder.pop().close()
            shutil.rmtree(work / f"root{i}")

        t_ours = best(args.rounds, svc_setup, svc_unpack, svc_teardown)
        rows.append((f"unpack: dockyard ({args.snapshotter})", t_ours,
                     f"{t_ours / t_tar:.2f}x  goal <= 1.50x: "
                     f"{'met' if t_ours <= 1.5 * t_tar else 'MISSED'}"))
        if shutil.which("umoci"):
            def umoci(_: int) -> None:
                run("umoci", "unpack", "--image", f"{layout}:bench", str(out / "bundle"))

            t_umoci = best(args.rounds, fresh, umoci, gone)
            rows.append(("unpack: umoci unpack", t_umoci,
                         f"{t_umoci / t_tar:.2f}x  dockyard faster: "
                         f"{'met' if t_ours < t_umoci else 'MISSED'}"))
        else:
            rows.append(("unpack: umoci unpack", None, "NOT MEASURED: umoci not installed"))

        # -- save / load ----------------------------------------------------------------
        src = ImageService.open(str(work / "src-root"), args.snapshotter)
        try:
            with open(layout_tar, "rb") as f:
                load(src.stores, f, do_unpack=False)
            saved = work / "saved.tar"

            def save(_: int) -> None:
                with open(saved, "wb") as f:
                    src.save(["bench"], f)

            t_save = best(args.rounds, lambda i: None, save, lambda i: None)
        finally:
            src.close()
        t_d2o: float | None = None
        t_o2d: float | None = None
        if shutil.which("skopeo"):
            def sk_d2o(i: int) -> None:
                run("skopeo", "copy", "--quiet", f"docker-archive:{saved}",
                    f"oci:{work / f'sk{i}'}:bench")

            t_d2o = best(args.rounds, lambda i: None, sk_d2o,
                         lambda i: shutil.rmtree(work / f"sk{i}") if i else None)

            def sk_o2d(i: int) -> None:
                run("skopeo", "copy", "--quiet", f"oci:{work / 'sk0'}:bench",
                    f"docker-archive:{work / f'back{i}.tar'}:bench:latest")

            t_o2d = best(args.rounds, lambda i: None, sk_o2d,
                         lambda i: os.unlink(work / f"back{i}.tar"))
        rows.append(("save: dockyard save", t_save,
                     f"{t_save / t_o2d:.2f}x skopeo o->d" if t_o2d else ""))
        rows.append(("save: skopeo copy oci -> docker-archive", t_o2d, "reference"
                     if t_o2d else "NOT MEASURED: skopeo not installed"))

        def our_load(unpack: bool) -> Callable[[int], None]:
            def do(i: int) -> None:
                svc = ImageService.open(str(work / f"load{i}"), args.snapshotter)
                try:
                    with open(saved, "rb") as f:
                        if unpack:
                            svc.load(f)
                        else:
                            load(svc.stores, f, do_unpack=False)
                finally:
                    svc.close()
            return do

        def load_gone(i: int) -> None:
            shutil.rmtree(work / f"load{i}")

        t_load = best(args.rounds, lambda i: None, our_load(True), load_gone)
        t_load_nu = best(args.rounds, lambda i: None, our_load(False), load_gone)
        rows.append(("load: dockyard load (+unpack)", t_load,
                     f"{t_load / t_d2o:.2f}x skopeo d->o" if t_d2o else ""))
        rows.append(("load: dockyard load, no unpack", t_load_nu,
                     f"{t_load_nu / t_d2o:.2f}x skopeo d->o" if t_d2o else ""))
        rows.append(("load: skopeo copy docker-archive -> oci", t_d2o, "reference"
                     if t_d2o else "NOT MEASURED: skopeo not installed"))
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)

    print(f"\nimage: 3 layers, {size / 1e6:.0f} MB uncompressed, {packed / 1e6:.0f} MB gzip; "
          f"best of {args.rounds}; {os.cpu_count()} CPUs\n")
    print(f"{'row':<44} {'seconds':>8}  vs reference")
    print("-" * 90)
    for name, t, note in rows:
        print(f"{name:<44} {'-' if t is None else f'{t:8.2f}':>8}  {note}")
    print(json.dumps({name: t for name, t, _ in rows}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
