# The project's commands. `make run` and `make test` work on a fresh machine
# that has only Python 3.11; everything else they need they install.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

# CI runs the suite on the PostgreSQL and Redis that run on the machine.
ifeq ($(CI),true)
export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
export REDIS_URL ?= redis://127.0.0.1:6379/0
endif

# glibc thresholds the Dockerfile sets too (see the comment there).
MALLOC_ENV := MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=134217728

.PHONY: run test test-fast lint readme bench system-deps migrate model clean image-test k8s-check

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.prod-installed: requirements/base.txt requirements/prod.txt | $(BIN)/python
	$(BIN)/pip install -r requirements/prod.txt
	touch $@

$(VENV)/.dev-installed: requirements/base.txt requirements/prod.txt requirements/dev.txt | $(BIN)/python
	$(BIN)/pip install -r requirements/dev.txt
	touch $@ $(VENV)/.prod-installed

.env: | $(BIN)/python
	$(BIN)/python -c "import secrets; print('SECRET_KEY=' + secrets.token_urlsafe(50))" > $@
	chmod 600 $@

migrate: $(VENV)/.prod-installed .env
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0

model: $(VENV)/.prod-installed .env
	$(BIN)/python manage.py export_model --if-missing

## run: set up, then serve on 127.0.0.1:8000 (SQLite, local storage, in-process cache)
run: migrate model
	DJANGO_SETTINGS_MODULE=config.settings.local WEB_CONCURRENCY=1 $(MALLOC_ENV) \
	  $(BIN)/gunicorn -c config/gunicorn.conf.py --bind $(HOST):$(PORT) config.wsgi:application

## test: set up, then run the whole suite
test: $(VENV)/.dev-installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## test-fast: the quick lane, under 2 minutes: what needs no live server, browser or container
## and is not slow (the markers; tests/conftest.py fails a test that starts one unmarked)
test-fast: $(VENV)/.dev-installed
	$(BIN)/python -m pytest -m "not live and not browser and not slow" $(PYTEST_ARGS)

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/hadolint Dockerfile

## readme: rewrite README's configuration table from config/environment.py
readme:
	$(PYTHON) -m config.environment

## system-deps: Debian packages the browser, proxy and multi-host tests use (needs root)
system-deps:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver nginx socat > /dev/null

## image-test: build the production image and smoke-test it in a container engine
## (as root it starts its own dockerd when none runs; skipped with a reason otherwise)
image-test: $(VENV)/.dev-installed
	bash deploy/image/image-test.sh

# The Kubernetes validators in a virtualenv of their own: checkov's dependency
# tree cannot move the app's pins.
K8S_VENV ?= $(VENV)/k8s
# The Kubernetes version whose JSON schemas the manifests are checked against,
# and the oldest one the base needs (docs/deploy.md, "Minimum Kubernetes version").
K8S_VERSION ?= 1.37.0
K8S_MIN_VERSION ?= 1.30.0

$(K8S_VENV)/.installed: requirements/k8s.txt
	$(PYTHON) -m venv $(K8S_VENV)
	$(K8S_VENV)/bin/pip install --quiet -r requirements/k8s.txt
	touch $@

## k8s-check: deploy/k8s against Kubernetes' JSON schemas and checkov's policies
k8s-check: $(K8S_VENV)/.installed
	$(K8S_VENV)/bin/kubernetes-validate --strict --kubernetes-version $(K8S_VERSION) \
	  $(filter-out deploy/k8s/kustomization.yaml,$(wildcard deploy/k8s/*.yaml))
	$(K8S_VENV)/bin/kubernetes-validate --strict --kubernetes-version $(K8S_MIN_VERSION) \
	  $(filter-out deploy/k8s/kustomization.yaml,$(wildcard deploy/k8s/*.yaml))
	$(K8S_VENV)/bin/checkov --quiet --compact --skip-download --framework kubernetes --directory deploy/k8s

$(VENV)/.bench-installed: requirements/bench.txt $(VENV)/.dev-installed
	$(BIN)/pip install -r requirements/bench.txt
	touch $@

# The commit `make bench` compares with (any git ref), checked out into a
# temporary git worktree for the run.
BASELINE ?= b7a9b89
QUICK ?=

## bench: the benchmarks into docs/benchmarks.md, beside BASELINE and a plain FastAPI service
## (QUICK=1: the smoke run, about 2 minutes; the full run stays under 15)
bench: $(VENV)/.bench-installed
	$(BIN)/python bench/run_all.py --baseline $(BASELINE) $(if $(QUICK),--quick)

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache
