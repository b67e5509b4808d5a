# The controller image: `docker build -t model-rollouts:0.1.0 .`
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY rollouts ./rollouts
COPY analysis ./analysis
RUN pip install --no-cache-dir . && useradd --uid 65532 --no-create-home controller
USER 65532
ENTRYPOINT ["rollouts"]
CMD ["controller"]
