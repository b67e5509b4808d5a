# The controller image: only the runtime — the controller and the CLI, no test bed, no demo, no
# dev tools, no pip. Built by Docker or by buildah (CI: hack/image/build.sh):
#
#   docker build --build-arg COMMIT=$(git rev-parse --short=12 HEAD) -t model-rollouts:0.1.0 .
#
# BASE is an argument because the project's CI machines reach no container registry: there it is
# a Debian bookworm root file system with python3 built by mmdebstrap (hack/image/build.sh).
# Users build on the public base unchanged. Any base with python3 >= 3.11 and its venv module
# works: the program lives in its own virtual environment, /opt/model-rollouts.
ARG BASE=python:3.11-slim

FROM ${BASE} AS build
COPY pyproject.toml README.md /tmp/src/
COPY rollouts /tmp/src/rollouts
COPY analysis /tmp/src/analysis
# The development harness (local stack, test bed) stays out of the image, and so does its
# `demo` extra: the controller never imports it (an import-linter contract); `rollouts demo`
# and `rollouts testbed` say so here instead of failing (tests/unit/test_without_harness.py).
RUN rm -rf /tmp/src/rollouts/local /tmp/src/rollouts/testbed \
    && python3 -m venv /opt/model-rollouts \
    && /opt/model-rollouts/bin/pip install --no-cache-dir --disable-pip-version-check /tmp/src \
    && /opt/model-rollouts/bin/pip uninstall --yes --quiet pip setuptools \
    && find /opt/model-rollouts -name __pycache__ -prune -exec rm -rf {} +

FROM ${BASE}
ARG COMMIT=unknown
COPY --from=build /opt/model-rollouts /opt/model-rollouts
ENV PATH=/opt/model-rollouts/bin:$PATH \
    MODEL_ROLLOUTS_COMMIT=${COMMIT} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# A numeric non-root user needs no passwd entry; Kubernetes' runAsNonRoot can check a number.
USER 65532:65532
WORKDIR /
ENTRYPOINT ["rollouts"]
CMD ["controller"]
