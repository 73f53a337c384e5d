#!/usr/bin/env bash
# The main job, on a fresh machine, as root: install what dockyard needs, start the daemon
# (dockyardd) on a private socket and data root, make the busybox base image offline from
# Debian's busybox-static, and run a container in it with dockyard's CLI and with the real
# docker CLI, then with dockyard's own OCI runtime directly. Everything it starts is stopped and removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
bin=$PWD/.venv/bin
work=$(mktemp -d /tmp/dockyard-demo.XXXXXX)
sock=$work/dockyard.sock
# The demo's own cgroup parent (the daemon's default is /dockyard, kept between runs as
# Docker keeps /docker): removed at the end with everything else.
cgparent="/$(basename "$work")"
daemon_pid=""

cleanup() {
  if [ -n "$daemon_pid" ]; then
    kill -TERM "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  # Live restore keeps the supervisor (the containers' parent) running without the
  # daemon: stop it too, since this demo owns it.
  if [ -S "$work/exec/supervisor/supervisor.sock" ]; then
    "$bin/python" -c 'import sys
from dockyard.runtime.supervisor.client import SupervisorClient
SupervisorClient.for_state(sys.argv[1]).shutdown(force=True)' "$work/exec/supervisor" || true
  fi
  rm -rf "$work"
  local h
  for h in /sys/fs/cgroup /sys/fs/cgroup/*; do
    if [ -d "$h$cgparent" ]; then
      find "$h$cgparent" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    fi
  done
}
trap cleanup EXIT

echo "== starting dockyardd on $sock"
"$bin/dockyardd" --data-root "$work/data" --exec-root "$work/exec" -H "unix://$sock" \
  --cgroup-parent "$cgparent" --log-level warning &
daemon_pid=$!
for _ in $(seq 100); do
  [ -S "$sock" ] && DOCKER_HOST="unix://$sock" docker version >/dev/null 2>&1 && break
  sleep 0.1
done

echo "== making the busybox base image offline (from Debian's busybox-static)"
"$bin/dockyard-base-image" -H "unix://$sock" busybox

echo "== dockyard run (dockyard's own CLI), against dockyardd"
"$bin/dockyard" -H "unix://$sock" run --rm busybox echo hello from a container

echo "== docker run (the real docker CLI), against the same dockyardd"
DOCKER_HOST="unix://$sock" docker run --rm busybox echo hello from a container

echo "== the same with dockyard's own runtime, no daemon"
mkdir -p "$work/bundle"
"$bin/python" -m dockyard.image rootfs "$work/bundle/rootfs"
"$bin/dockyard-runtime" spec --bundle "$work/bundle"
"$bin/python" - "$work/bundle/config.json" "$cgparent" <<'PY'
import json, sys
path = sys.argv[1]
with open(path) as f:
    spec = json.load(f)
spec["process"]["terminal"] = False
spec["process"]["args"] = ["echo", "hello from a container"]
spec["linux"]["cgroupsPath"] = sys.argv[2] + "/runtime"
with open(path, "w") as f:
    json.dump(spec, f, indent=2)
PY
"$bin/dockyard-runtime" --root "$work/runtime" run --bundle "$work/bundle" "demo-$$"
