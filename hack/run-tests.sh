#!/usr/bin/env bash
# The test run behind `make test`: every pytest suite, with "no tests collected" as a failure,
# and a test-bed process still running after pytest as a failure too.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
# Every test bed this run starts (fixtures, `rollouts testbed up` in a test) keeps its state
# under this folder, so the check below sees this run's processes and nobody else's.
MODEL_ROLLOUTS_TESTBED_STATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/model-rollouts-testbed.XXXXXX")
export MODEL_ROLLOUTS_TESTBED_STATE_DIR
"$BIN/pytest" tests "$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "run-tests: pytest collected no tests; that is a failure" >&2
  status=1
fi
if ! "$BIN/rollouts" testbed check --stop; then
  echo "run-tests: test-bed processes were still running after pytest (stopped now); that is a failure" >&2
  status=1
fi
rm -rf "$MODEL_ROLLOUTS_TESTBED_STATE_DIR"
exit "$status"
