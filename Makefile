# One entry point for people and CI. `make test` is the command README.md and .ci/run use.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: dev system lint fmt crds chart testbed testbed-core image test unit demo bench clean

dev: $(VENV)/.installed  ## virtualenv with the package (editable) and the dev tools

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

system:  ## system packages the tests and the demo need (Prometheus; checks Go), installed if missing
	bash hack/setup-system.sh

lint: dev  ## ruff (lint + format), mypy --strict, import contracts, CRD up to date
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/rollouts crd | diff -u crds/modelrollout.yaml - || (echo "crds/modelrollout.yaml is stale: run 'make crds'" >&2; exit 1)

fmt: dev  ## format and auto-fix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

crds: dev  ## regenerate crds/ from the models, and the chart's copies
	$(BIN)/rollouts crd > crds/modelrollout.yaml
	$(PY) hack/update-readme.py
	$(MAKE) chart

# The Helm chart cannot read files outside its folder, so it carries copies of the CRD and of the
# kustomize RBAC it renders from (one source of truth: tests/integration/test_helm_chart.py fails
# when a copy differs from its original).
CHART := deploy/helm/model-rollouts
CHART_COPIES := crds/modelrollout.yaml deploy/controller/base/rbac.yaml deploy/controller/rbac.yaml \
	deploy/controller/namespaced/rbac.yaml deploy/rbac/ci.yaml deploy/rbac/oncall.yaml \
	deploy/rbac/oncall-direct.yaml deploy/rbac/owner.yaml deploy/rbac/field-owners-policy.yaml

chart:  ## copy the CRD and the kustomize RBAC into the Helm chart (each to the same path under it)
	for file in $(CHART_COPIES); do install -D -m 0644 "$$file" "$(CHART)/$$file" || exit 1; done

testbed: dev system  ## build (or reuse) the local Kubernetes test bed binaries, and the tests' helm and Prometheus 3
	bash hack/testbed/build.sh

testbed-core: dev system  ## the test bed alone, without the test-only tools (what the demo needs)
	TESTBED_SKIP_TEST_TOOLS=1 bash hack/testbed/build.sh

image: system  ## the controller image with buildah (a local Debian base unless BASE=python:3.11-slim)
	bash hack/image/build.sh

test: lint testbed  ## everything CI runs: lint, types, contracts, unit, integration and e2e tests
	bash hack/run-tests.sh

unit: dev  ## the fast pure tests only
	$(BIN)/pytest tests/unit -q

demo: dev testbed-core  ## the quick start: a whole rollout on a local test bed with real Prometheus
	$(BIN)/rollouts demo

bench: dev  ## benchmarks; results land in bench/results/
	$(PY) bench/analysis_speed.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
