#!/usr/bin/env bash
# The main job, from a fresh machine: install, make a busybox root filesystem offline from
# Debian's busybox-static, and run a container in it with dockyard's own runtime.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
bin=.venv/bin
work=$(mktemp -d /tmp/dockyard-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
$bin/python -m dockyard.image.busybox "$work/bundle/rootfs"
$bin/dockyard-runtime spec --bundle "$work/bundle"
# Not a terminal, and the command to run:
$bin/python - "$work/bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]
spec = json.load(open(p))
spec["process"]["terminal"] = False
spec["process"]["args"] = ["echo", "hello from a container"]
json.dump(spec, open(p, "w"), indent=2)
PY
$bin/dockyard-runtime --root "$work/state" run --bundle "$work/bundle" "demo-$$"
