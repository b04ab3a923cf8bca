# Production image of the image-classification API.
#
# Build:  docker build -t inference-api .
# Run:    see deploy/compose.yaml and docs/deploy.md. The container is meant to run
#         with a read-only root filesystem; /var/lib/app (VAR_DIR) is the one folder
#         it writes to (the model cache), so mount a volume or a tmpfs there.
#
# No `# syntax=` line: it would make BuildKit fetch a frontend image from a
# registry; the engine's built-in frontend reads everything below.
#
# PyTorch comes from PyTorch's own CPU-only wheel index by default
# (TORCH_INDEX_URL): PyPI's default Linux wheels bundle CUDA and weigh several
# GB more. An empty TORCH_INDEX_URL takes torch from pip's own configuration,
# as `make image-test` does on a machine whose pip config lists a mirror. The
# torch/torchvision versions are taken from requirements/base.txt, so the image
# and the pinned requirements cannot drift; `==2.14.1` matches the CPU index's
# `2.14.1+cpu` builds (PEP 440 local versions).
#
# Optional build secrets, for a build behind a mirror or a private CA (never in
# a layer): `--secret id=pip.conf,src=...` is read as pip's configuration file,
# `--secret id=ca.crt,src=...` is there for that file's `cert =` line.
#
# The base must provide python3 with its venv module (python:3.11-slim does;
# deploy/image/standin-base.sh makes an equivalent from Debian's packages).

ARG PYTHON_IMAGE=python:3.11-slim

# --- build: a virtualenv with every dependency, nothing else --------------------
FROM ${PYTHON_IMAGE} AS build

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH

# python3: the name both python:3.11-slim and Debian's python3 package provide.
RUN python3 -m venv /opt/venv

WORKDIR /build
# Only the requirements, so this layer is rebuilt when they change, not the code.
COPY requirements/ requirements/
RUN --mount=type=secret,id=pip.conf --mount=type=secret,id=ca.crt \
    export PIP_CONFIG_FILE=/run/secrets/pip.conf \
    && grep -E '^(torch|torchvision)==' requirements/base.txt > torch-pins.txt \
    && pip install --no-cache-dir ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} \
        -r torch-pins.txt \
    && pip install --no-cache-dir -r requirements/prod.txt

# --- runtime: the virtualenv, the code, a non-root user -------------------------
FROM ${PYTHON_IMAGE} AS runtime

ARG APP_UID=10001
# MALLOC_*: with glibc's adaptive defaults the forward pass's buffers go back
# to the kernel after each request and fault back in on the next; fixed
# thresholds keep them in the heap (docs/decisions.md, "What was tried":
# about 30 -> 19 ms per forward pass, the same memory after the worst-case
# images). glibc reads them at start, so they cannot live in gunicorn.conf.py.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    VAR_DIR=/var/lib/app \
    MODEL_CACHE_DIR=/var/lib/app/model-cache \
    TMPDIR=/var/lib/app/tmp \
    PROMETHEUS_MULTIPROC_DIR=/dev/shm/prometheus \
    GUNICORN_BIND=0.0.0.0:8000 \
    WEB_CONCURRENCY=2 \
    MALLOC_MMAP_THRESHOLD_=33554432 \
    MALLOC_TRIM_THRESHOLD_=134217728

RUN groupadd --system --gid ${APP_UID} app \
    && useradd --system --uid ${APP_UID} --gid app --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin app \
    && mkdir -p /var/lib/app/model-cache /var/lib/app/tmp \
    && chown -R ${APP_UID}:${APP_UID} /var/lib/app

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
# Code owned by root: the app user can read it, not change it.
COPY . .
# Static files are collected at build time (the base profile needs no secret for
# this); bytecode is compiled now because the running container cannot write it.
RUN DJANGO_SETTINGS_MODULE=config.settings.base python manage.py collectstatic --noinput \
        --verbosity 0 \
    && python -m compileall -q /app

USER ${APP_UID}:${APP_UID}
VOLUME ["/var/lib/app"]
EXPOSE 8000

# /healthz only says the process answers; readiness (model, database, cache) is
# /readyz, for the orchestrator's traffic decisions. ALLOWED_HOSTS must include
# "localhost" for this probe. The port is GUNICORN_BIND's, so a container run
# on the host's network with another port is probed where it listens.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request as u; port = os.environ.get('GUNICORN_BIND', ':8000').rpartition(':')[2]; r = u.urlopen(u.Request(f'http://127.0.0.1:{port}/healthz', headers={'Host': 'localhost'}), timeout=4); sys.exit(0 if r.status == 200 else 1)"]

ENTRYPOINT ["gunicorn", "-c", "config/gunicorn.conf.py", "config.wsgi:application"]
