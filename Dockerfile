# The controller image: `docker build -t model-rollouts:0.1.0 .`
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY rollouts ./rollouts
COPY analysis ./analysis
# The development harness (local stack, test bed) stays out of the image, and so does its
# `demo` extra: the controller never imports it (an import-linter contract); `rollouts demo`
# and `rollouts testbed` say so here instead of failing (tests/unit/test_without_harness.py).
RUN rm -rf rollouts/local rollouts/testbed \
    && pip install --no-cache-dir . && useradd --uid 65532 --no-create-home controller
USER 65532
ENTRYPOINT ["rollouts"]
CMD ["controller"]
