# modelyard proxy image: `docker build -t modelyard .`
# Runs `modelyard serve` as an unprivileged user on port 8080. The snapshot is mounted at
# /etc/modelyard/snapshot.json (a Kubernetes ConfigMap, see deploy/kubernetes), baked in by
# a two-line image FROM this one, or polled from a URL: `serve --snapshot https://...`.

# ---- build: install modelyard and its dependencies into a virtual environment ----
FROM python:3.11-slim-bookworm AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN python -m venv /opt/modelyard
WORKDIR /src
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY gateway ./gateway
COPY cli ./cli
# A C compiler for modelyard's own compiled request path (setup.py, mypyc), in this stage
# only: none ends up in the final image. The distribution's current gcc is what is wanted.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
COPY setup.py ./
# Binary wheels only for the dependencies: every one ships them for this platform.
RUN /opt/modelyard/bin/pip install --no-cache-dir --only-binary=:all: ".[bedrock]" \
 && /opt/modelyard/bin/modelyard --help > /dev/null

# ---- run: the virtual environment on a clean slim base, as a non-root user ----
FROM python:3.11-slim-bookworm

ENV PATH=/opt/modelyard/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 modelyard \
 && useradd --system --uid 10001 --gid modelyard --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin modelyard \
 && mkdir -p /etc/modelyard
COPY --from=build /opt/modelyard /opt/modelyard

USER 10001:10001
WORKDIR /tmp
EXPOSE 8080
ENTRYPOINT ["modelyard"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080", "--snapshot", "/etc/modelyard/snapshot.json"]
