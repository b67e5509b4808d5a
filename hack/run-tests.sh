#!/usr/bin/env bash
# The test run behind `make test`: every pytest suite, with "no tests collected" as a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
"$BIN/pytest" tests "$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "run-tests: pytest collected no tests; that is a failure" >&2
  exit 1
fi
exit "$status"
