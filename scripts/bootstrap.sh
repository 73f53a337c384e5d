#!/usr/bin/env bash
# Install what dockyard needs on a fresh Debian 12 machine (as root) and make .venv.
#   scripts/bootstrap.sh          runtime packages + the package itself
#   scripts/bootstrap.sh --test   also the test tools (runc, crun, skopeo, ...) and test deps
# Idempotent: packages already present are not fetched again.
set -euo pipefail
cd "$(dirname "$0")/.."

# libseccomp2: the runtime compiles the containers' seccomp filters with it (dockyard.runtime.seccomp).
pkgs=(busybox-static tini iproute2 procps python3-venv libseccomp2)
if [ "${1:-}" = "--test" ]; then
  # Outside judges and references the tests drive: runc, skopeo, umoci, podman, a real
  # dockerd (docker.io, never started as a service), mmdebstrap for the Debian image;
  # zsh to load and run the script of `dockyard completion zsh`.
  pkgs+=(runc crun skopeo umoci podman docker.io mmdebstrap strace zsh)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]}" >&2
  apt-get update -qq
  # Keep package scripts from starting services (dockerd, containerd) on this host.
  guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    guard=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  [ -n "$guard" ] && rm -f /usr/sbin/policy-rc.d
fi

# The venv is made from Debian's python3 (built with PGO and LTO): pure-Python code runs
# ~1.8x faster on it than on an unoptimised build that may come first in PATH (pyenv's
# here), which the runtime's cold start and the daemon's latencies feel directly.
# A venv made from another interpreter is made again.
PY=/usr/bin/python3
if [ -x .venv/bin/python ] && ! grep -qx "home = $(dirname "$PY")" .venv/pyvenv.cfg; then
  rm -rf .venv
fi
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
extra=""
[ "${1:-}" = "--test" ] && extra="[test]"
.venv/bin/pip install -q --disable-pip-version-check -e ".${extra}"
# The fast `dockyard` launcher (python -I -S: no site scan; see dockyard/cli/launcher.py)
# replaces pip's console script, which costs ~30 ms more per command.
.venv/bin/python -m dockyard.cli.launcher .venv/bin/dockyard
.venv/bin/python -m dockyard.cli.launcher .venv/bin/dockyard-runtime dockyard.runtime.cli
# Byte-compile now: an editable install leaves no .pyc, and where PYTHONDONTWRITEBYTECODE
# is set (as in some sandboxes) every command would compile its modules again (~0.1 s
# per process for the runtime's imports alone).
.venv/bin/python -m compileall -q -j0 src >/dev/null
