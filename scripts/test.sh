#!/usr/bin/env bash
# Install the test dependencies and run every check: ruff, mypy (strict), the import
# rules, and the whole pytest suite (unit, conformance, integration, compat). As root.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --test || exit 1
bin=.venv/bin
status=0
echo "== ruff" && $bin/ruff check src tests bench || status=1
echo "== mypy" && $bin/mypy || status=1
echo "== import rules" && $bin/lint-imports || status=1
echo "== pytest"
# As root (as in CI) every test can run: a skip is then a failure (see tests/conftest.py).
[ "$(id -u)" = 0 ] && export DOCKYARD_NO_SKIP=1
$bin/python -m pytest "$@"
rc=$?
# pytest exits 5 when it collected no test: that is a failure, never green.
if [ $rc -eq 5 ]; then
  echo "pytest ran no test: failing" >&2
  rc=1
fi
[ $rc -ne 0 ] && status=$rc
exit $status
