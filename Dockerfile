# subserve: a WSGI server whose workers are OWN_GIL subinterpreters of one process.
#
#   docker build -t subserve .
#   docker run --rm -p 8000:8000 subserve                              # the demo app
#   docker run --rm -p 8000:8000 -v "$PWD:/app:ro" subserve myapp:app --workers 4
#   docker run --rm -p 8000:8000 -v "$PWD:/app:ro" -e SUBSERVE_APP=myapp:app -e SUBSERVE_WORKERS=4 subserve
#
# Build arguments:
#   BASE          the runtime's CPython >= 3.13 image (default python:3.13-slim)
#   BUILDER_BASE  the image the wheel is compiled in (default: BASE; gcc is
#                 installed with apt when it lacks one)
#   WHEELS_ONLY=1 pip uses only the wheels in docker/wheels/ (no package index),
#                 for builds whose containers cannot reach PyPI (make docker-test)
ARG BASE=python:3.13-slim
ARG BUILDER_BASE=${BASE}

# --- builder: compile the C engine into a wheel, with its dependencies ---
FROM ${BUILDER_BASE} AS builder
# python:3.13-slim has the Python headers but no C compiler; a Debian-packaged
# python3.13 (docker/make-local-base.sh's) has neither unless python3.13-dev is in.
RUN pkgs=; \
    command -v gcc >/dev/null 2>&1 || pkgs="gcc libc6-dev"; \
    python3 -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_path("include"), "Python.h")))' \
        || pkgs="$pkgs python$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')-dev"; \
    if [ -n "$pkgs" ]; then \
        apt-get update \
        && apt-get install -y --no-install-recommends $pkgs \
        && rm -rf /var/lib/apt/lists/*; \
    fi
ARG WHEELS_ONLY=0
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY docker/wheels/ /wheels/
COPY pyproject.toml setup.py README.md ./
COPY ext/ ext/
COPY subserve/ subserve/
# /dist ends up with subserve's wheel and click's: the runtime stage installs
# from it without any index.
RUN if [ "$WHEELS_ONLY" = 1 ]; then set -- --no-index; fi; \
    pip wheel "$@" --find-links /wheels --wheel-dir /dist . \
    && ls -l /dist

# --- runtime: the wheel on a slim Python, as a non-root user ---
FROM ${BASE}
ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=builder /dist/ /tmp/dist/
RUN pip install --no-cache-dir --no-index --find-links /tmp/dist subserve \
    && rm -rf /tmp/dist \
    && groupadd --system --gid 10001 subserve \
    && useradd --system --uid 10001 --gid subserve --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin subserve \
    && mkdir -p /app
COPY docker/healthcheck.py /usr/local/lib/subserve-healthcheck.py

# Put the app in /app (COPY or a read-only volume): it is the working directory
# and --app-dir's default, so `module:attr` imports from there. The app's files
# stay root-owned: the server only needs to read them.
WORKDIR /app
# Numeric, so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 10001:10001

# The app and address come from SUBSERVE_* variables, so `-e SUBSERVE_APP=...`
# works on its own, and arguments after the image name (CMD) override them:
# `docker run IMAGE myapp:app --workers 4`. Every option has its variable
# (SUBSERVE_WORKERS, SUBSERVE_GRACEFUL_TIMEOUT, ...). Set SUBSERVE_WORKERS to
# the container's CPU limit: the default, the CPU count, is the host's.
ENV SUBSERVE_APP=subserve.demo:app \
    SUBSERVE_BIND=0.0.0.0:8000
EXPOSE 8000

# subserve is PID 1 (exec form, no shell in between) and handles SIGTERM
# itself: it stops accepting, finishes in-flight requests for up to
# --graceful-timeout (30 s) and exits 0. It forks nothing, so it needs no init
# to reap zombies. `docker stop` waits only 10 s before SIGKILL: give it more
# (`docker stop -t 40`, `docker run --stop-timeout 40`, compose's
# stop_grace_period, Kubernetes' terminationGracePeriodSeconds).
STOPSIGNAL SIGTERM
# GET / on the address in SUBSERVE_BIND (or SUBSERVE_HEALTHCHECK_URL) with
# urllib: slim images have no curl.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python3", "/usr/local/lib/subserve-healthcheck.py"]
ENTRYPOINT ["subserve"]
# Empty on purpose: the base image's CMD (python3) must not become APP.
CMD []
