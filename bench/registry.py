"""Benchmark: our registry beside Debian's ``docker-registry`` (distribution, the CNCF
reference), measured in the same run on the same machine.

    python bench/registry.py [--layers 3] [--layer-mib 64] [--seconds 5] [--workers 1]
                             [--keep]

For each registry (both on 127.0.0.1, storage in a temp dir, the server pinned to CPU 0
with ``taskset``, the load generator to CPU 1, since they would compete for the 2 cores):

``push``        ``skopeo copy oci:<layout> docker://...`` of an image of ``--layers``
                uncompressed tar layers of ``--layer-mib`` MiB random data (3 x 64 MiB by
                default, ~200 MB) into the empty registry, seconds
``pull``        ``skopeo copy docker://... oci:<new dir>`` of the same image, seconds
``blob GET``    ``wrk -t1 -c16`` on one 16 MiB blob for ``--seconds``: MB/s
``HEAD/s``      ``ab -i -k -c16`` HEAD of the manifest by tag: requests per second
                (wrk sends no HEAD)

Goals (issue 7): at least the reference's figures for blob GET and HEAD. Not a test: it
prints figures and never fails a build. Needs skopeo, wrk, ab (apache2-utils) and
docker-registry; installs the missing ones with apt.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")
TOOLS = {"skopeo": "skopeo", "wrk": "wrk", "ab": "apache2-utils",
         "docker-registry": "docker-registry", "taskset": "util-linux"}
SERVER_CPU, LOAD_CPU = "0", "1"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def ensure_tools() -> None:
    missing = [pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None]
    if missing:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], env=env, check=True)


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def blob(layout: Path, data: bytes) -> dict[str, object]:
    d = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / d).write_bytes(data)
    return {"digest": f"sha256:{d}", "size": len(data)}


def make_layout(layout: Path, layers: int, mib: int) -> None:
    """An OCI layout ``layout:bench`` of uncompressed tar layers of random bytes."""
    (layout / "blobs" / "sha256").mkdir(parents=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    descs, diff_ids = [], []
    for i in range(layers):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            info = tarfile.TarInfo(f"data{i}.bin")
            payload = os.urandom(mib * 1024 * 1024)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
        data = buf.getvalue()
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", **blob(layout, data)})
        diff_ids.append(descs[-1]["digest"])
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      **blob(layout, config)},
                           "layers": descs}).encode()
    m = blob(layout, manifest)
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": OCI_MANIFEST, **m,
         "annotations": {"org.opencontainers.image.ref.name": "bench"}}]}))


@contextmanager
def server(argv: list[str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["taskset", "-c", SERVER_CPU, *argv], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while subprocess.run(["curl", "-sf", "-o", "/dev/null",
                              f"http://127.0.0.1:{port}/v2/"], check=False).returncode != 0:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{argv[0]} did not start")
            time.sleep(0.2)
        yield proc
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def measure(port: int, layout: Path, work: Path, seconds: int) -> dict[str, float]:
    host = f"127.0.0.1:{port}"
    sk = ["taskset", "-c", LOAD_CPU, "skopeo", "--insecure-policy", "copy"]
    out: dict[str, float] = {}
    pulls = []
    ref = f"docker://{host}/bench/image:v1"
    subprocess.run(["sync"], check=True)
    out["push s"] = timed([*sk, "--dest-tls-verify=false", f"oci:{layout}:bench", ref])
    for i in range(2):
        dest = work / f"pulled-{port}-{i}"
        subprocess.run(["sync"], check=True)
        pulls.append(timed([*sk, "--src-tls-verify=false", ref, f"oci:{dest}:v1"]))
        shutil.rmtree(dest)
    out["pull s"] = min(pulls)
    # one 16 MiB blob, 16 connections
    data = os.urandom(16 * 1024 * 1024)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    started = subprocess.run(["curl", "-sf", "-X", "POST", "-D", "-", "-o", "/dev/null",
                              f"http://{host}/v2/bench/blob/blobs/uploads/"],
                             capture_output=True, text=True, check=True).stdout
    loc = re.search(r"(?im)^location:\s*(\S+)", started)
    if loc is None:
        raise RuntimeError(f"no upload location: {started}")
    target = loc.group(1)
    if target.startswith("/"):
        target = f"http://{host}{target}"
    sep = "&" if "?" in target else "?"
    subprocess.run(["curl", "-sf", "-X", "PUT", "-o", "/dev/null", "--data-binary", "@-",
                    "-H", "Content-Type: application/octet-stream",
                    f"{target}{sep}digest={digest}"], input=data, check=True)
    url = f"http://{host}/v2/bench/blob/blobs/{digest}"
    wrk = subprocess.run(["taskset", "-c", LOAD_CPU, "wrk", "-t1", "-c16", f"-d{seconds}s",
                          url], capture_output=True, text=True, check=True).stdout
    m = re.search(r"Transfer/sec:\s+([\d.]+)([KMG]B)", wrk)
    scale = {"KB": 1e-3, "MB": 1.0, "GB": 1e3}
    out["blob GET MB/s"] = float(m.group(1)) * scale[m.group(2)] * 1.048576 if m else 0.0
    ab = subprocess.run(["taskset", "-c", LOAD_CPU, "ab", "-q", "-i", "-k", "-c", "16",
                         "-t", str(seconds), "-n", "1000000", "-H",
                         f"Accept: {OCI_MANIFEST}",
                         f"http://{host}/v2/bench/image/manifests/v1"],
                        capture_output=True, text=True, check=False).stdout
    m2 = re.search(r"Requests per second:\s+([\d.]+)", ab)
    out["HEAD/s"] = float(m2.group(1)) if m2 else 0.0
    bad = re.search(r"Non-2xx responses:\s+(\d+)", ab)
    if bad:
        print(f"warning: {bad.group(1)} HEAD answers were not 2xx on {host}", file=sys.stderr)
    if "Non-2xx or 3xx responses" in wrk:
        print(f"warning: some blob GETs failed on {host}: {wrk}", file=sys.stderr)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--layer-mib", type=int, default=64)
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--keep", action="store_true")
    args = p.parse_args()
    ensure_tools()
    work = Path(tempfile.mkdtemp(prefix="dockyard-bench-registry-"))
    try:
        layout = work / "layout"
        make_layout(layout, args.layers, args.layer_mib)
        results: dict[str, dict[str, float]] = {}

        port = free_port()
        cfg = work / "distribution.yml"
        cfg.write_text(f"version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                       f"storage:\n  filesystem:\n    rootdirectory: {work / 'ref-store'}\n"
                       f"  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n")
        with server(["docker-registry", "serve", str(cfg)], port):
            results["docker-registry"] = measure(port, layout, work, args.seconds)

        port = free_port()
        env_py = [sys.executable, "-m", "dockyard.registry.cli", "serve", "--listen",
                  f"127.0.0.1:{port}", "--storage", str(work / "our-store"),
                  "--workers", str(args.workers)]
        os.environ["PYTHONPATH"] = SRC + os.pathsep + os.environ.get("PYTHONPATH", "")
        with server(env_py, port):
            results["dockyard"] = measure(port, layout, work, args.seconds)

        size = args.layers * args.layer_mib
        print(f"registry bench: image of {args.layers} x {args.layer_mib} MiB layers "
              f"({size} MiB), server on CPU {SERVER_CPU}, clients on CPU {LOAD_CPU}")
        keys = ["push s", "pull s", "blob GET MB/s", "HEAD/s"]
        print(f"{'':18}" + "".join(f"{k:>16}" for k in keys))
        for name, row in results.items():
            print(f"{name:18}" + "".join(f"{row[k]:>16.2f}" for k in keys))
        ref, ours = results["docker-registry"], results["dockyard"]
        print("ratio (ours/ref)  " + "".join(
            f"{(ref[k] / ours[k] if k.endswith(' s') else ours[k] / ref[k]) if ours[k] and ref[k] else 0:>15.2f}x"
            for k in keys) + "   (>1: ours better)")
        return 0
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
