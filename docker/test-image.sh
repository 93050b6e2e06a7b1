#!/bin/sh
# `make docker-test`: build the subserve image against a local base and test
# the container (docker/test_image.py). Slow (a first run debootstraps a
# Debian rootfs), hence not part of `make test`.
#
#   PY=.venv/bin/python docker/test-image.sh
#
# Docker Hub is out of reach here, so the base is a local stand-in for
# python:3.13-slim (docker/make-local-base.sh, built once and cached), and
# containers cannot reach PyPI (HTTPS from the container network fails), so
# the build's Python dependencies (setuptools, wheel, click) are built as
# wheels on the host into docker/wheels/ and the image is built with
# WHEELS_ONLY=1 (pip --no-index). Where no Docker engine can run, it prints
# why and "SKIPPED", and exits 0.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PY=${PY:-.venv/bin/python}
IMAGE=${IMAGE:-subserve:docker-test}
BASE=${BASE:-subserve-local/python:3.13-slim}
BUILDER_BASE=${BUILDER_BASE:-subserve-local/python:3.13-build}
DOCKERD_LOG=${DOCKERD_LOG:-/var/tmp/subserve-dockerd.log}

skip() {
    echo "docker-test: SKIPPED: $*"
    exit 0
}

as_root() { [ "$(id -u)" = 0 ]; }

apt_install() {  # apt_install PACKAGE... (root only)
    as_root && command -v apt-get >/dev/null || return 1
    echo "docker-test: installing $* with apt-get"
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"; } \
        >/var/tmp/subserve-apt.log 2>&1 || { tail -5 /var/tmp/subserve-apt.log; return 1; }
}

# 1. A Docker engine: use a running one, else install docker.io and start dockerd.
if ! docker info >/dev/null 2>&1; then
    if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
        apt_install docker.io || skip "no Docker engine, and docker.io cannot be installed (needs root and apt-get)"
    fi
    as_root || skip "no running Docker engine, and starting dockerd needs root"
    dockerd_pid=
    if ! pgrep -x dockerd >/dev/null 2>&1; then
        echo "docker-test: starting dockerd (log: $DOCKERD_LOG)"
        nohup dockerd >"$DOCKERD_LOG" 2>&1 &
        dockerd_pid=$!
    fi
    i=0
    until docker info >/dev/null 2>&1; do
        i=$((i + 1))
        if [ -n "$dockerd_pid" ] && ! kill -0 "$dockerd_pid" 2>/dev/null; then
            echo "docker-test: dockerd exited; last lines of $DOCKERD_LOG:"
            tail -n 15 "$DOCKERD_LOG" 2>/dev/null || true
            skip "no Docker engine can run here"
        fi
        if [ $i -ge 30 ]; then
            echo "docker-test: dockerd did not come up in 30 s; last lines of $DOCKERD_LOG:"
            tail -n 15 "$DOCKERD_LOG" 2>/dev/null || true
            skip "no Docker engine can run here"
        fi
        sleep 1
    done
fi
echo "docker-test: engine $(docker version --format '{{.Server.Version}}' 2>/dev/null)"

# 2. The local base images (cached: skipped when they exist).
if ! docker image inspect "$BASE" >/dev/null 2>&1 || ! docker image inspect "$BUILDER_BASE" >/dev/null 2>&1; then
    command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap \
        || { echo "docker-test: cannot install debootstrap for the local base image" >&2; exit 1; }
fi
docker/make-local-base.sh "$BASE" "$BUILDER_BASE"

# 3. The wheels the build needs, from the host's package index: the build
# system's requirements and the project's dependencies, read from
# pyproject.toml so that a new dependency cannot be forgotten here.
REQS=$("$PY" -c 'import tomllib
p = tomllib.load(open("pyproject.toml", "rb"))
print(" ".join(p["build-system"]["requires"] + ["wheel"] + p["project"]["dependencies"]))')
echo "docker-test: wheels for $REQS into docker/wheels/"
# shellcheck disable=SC2086 # one word per requirement, none has spaces
"$PY" -m pip wheel -q -w docker/wheels $REQS

# 4. The image. DOCKER_BUILDKIT=0: the Dockerfile needs no BuildKit feature,
# and the classic builder is there with every engine and CLI.
echo "docker-test: docker build -t $IMAGE (BASE=$BASE, BUILDER_BASE=$BUILDER_BASE, WHEELS_ONLY=1)"
DOCKER_BUILDKIT=0 docker build -q -t "$IMAGE" \
    --build-arg BASE="$BASE" --build-arg BUILDER_BASE="$BUILDER_BASE" --build-arg WHEELS_ONLY=1 .
docker image ls --format 'docker-test: image {{.Repository}}:{{.Tag}} {{.Size}}' "$IMAGE"

# 5. Run it and check it.
exec "$PY" docker/test_image.py "$IMAGE"
