#!/bin/sh
# Runs in: the benchmark driver's setup (outside the server).
#
# Installs what bench/run.py needs, idempotently:
#   - wrk (Debian package), libev-dev (bjoern builds against it), and
#     apache2-dev + apache2-bin (mod_wsgi builds against the first and runs
#     the second's apache2; apache2-dev does not pull it in);
#   - a separate venv, bench/.venv, from the CPython >= 3.13 that
#     scripts/find-python prints, holding the peers (gunicorn,
#     uvicorn[standard], granian, bjoern, mod_wsgi), the frameworks of the
#     Flask, Django and FastAPI scenarios, matplotlib for the chart, and subserve
#     itself, built from a snapshot of the repo.
# A peer that fails to install is recorded in bench/.venv/peers.tsv with the
# reason and skipped; only a missing wrk or Python is fatal.
#
# Usage: bench/install.sh [REPO_ROOT]     (default: the repo holding this file)
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "${1:-$here/..}" && pwd)
venv="$here/.venv"
status="$venv/peers.tsv"

log() { echo "bench/install.sh: $*" >&2; }

# apt-get update costs seconds and network: do it at most once per run, and
# only when a package is actually missing.
apt_updated=no
apt_install() {
    if dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; then
        return 0
    fi
    if [ "$apt_updated" = no ]; then
        log "apt-get update"
        apt-get update -qq >/dev/null || log "apt-get update failed (continuing)"
        apt_updated=yes
    fi
    log "apt-get install $1"
    # dpkg is chatty; keep its output only when it fails.
    aptlog=$(mktemp)
    if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >"$aptlog" 2>&1; then
        rm -f "$aptlog"
    else
        tail -n 5 "$aptlog" >&2
        rm -f "$aptlog"
        return 1
    fi
}

# wrk is the load generator: without it there is no benchmark.
if ! command -v wrk >/dev/null 2>&1; then
    apt_install wrk || { log "cannot install wrk"; exit 1; }
fi
# libev-dev only matters for bjoern; its failure just skips bjoern later.
apt_install libev-dev || log "cannot install libev-dev; bjoern will likely not build"
apache=ok
apt_install apache2-dev && apt_install apache2-bin || apache=no

python=$("$root/scripts/find-python") || exit 1

# Recreate the venv if it was made from a different interpreter, so results
# never silently mix Python versions.
if [ -x "$venv/bin/python" ]; then
    want=$("$python" -c 'import sys; print(sys.version)')
    have=$("$venv/bin/python" -c 'import sys; print(sys.version)' 2>/dev/null || true)
    if [ "$want" != "$have" ]; then
        log "venv Python differs ($have vs $want): recreating"
        rm -rf "$venv"
    fi
fi
if [ ! -x "$venv/bin/python" ]; then
    log "creating $venv from $python"
    "$python" -m venv "$venv" || { log "cannot create venv"; exit 1; }
    "$venv/bin/python" -m pip install -q --upgrade pip || log "pip upgrade failed (continuing)"
fi
pip="$venv/bin/python -m pip"

: >"$status.tmp"
record() {  # name, ok|skipped, detail
    printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$status.tmp"
}
# Keep the last lines of pip's output as the reason: the full log stays in
# the venv for whoever wants it.
reason_from() {
    grep -iE 'error|fatal|not found' "$1" | tail -n 3 | tr '\t\n' '  ' | cut -c1-300
}

installed() {  # name, [python statement that must run]: already there and usable?
    $pip show -q "$1" >/dev/null 2>&1 && "$venv/bin/python" -c "${2:-pass}" >/dev/null 2>&1
}

install_peer() {  # name, pip requirement, [python statement proving it works]
    if installed "$1" "${3:-}"; then
        record "$1" ok "$($pip show "$1" 2>/dev/null | sed -n 's/^Version: //p')"
        return
    fi
    log "pip install $2"
    if $pip install -q "$2" >"$venv/pip-$1.log" 2>&1 && installed "$1" "${3:-}"; then
        record "$1" ok "$($pip show "$1" 2>/dev/null | sed -n 's/^Version: //p')"
    else
        reason=$(reason_from "$venv/pip-$1.log")
        log "$1 did not install: $reason (see $venv/pip-$1.log)"
        record "$1" skipped "pip install failed: ${reason:-see $venv/pip-$1.log}"
    fi
}

install_peer gunicorn gunicorn
# uvicorn runs with httptools and uvloop: [standard] brings them.
install_peer uvicorn 'uvicorn[standard]' 'import httptools, uvloop'
install_peer granian granian
install_peer bjoern bjoern
# Not peers, but recorded the same way: a missing one fails its scenario or the chart.
install_peer flask flask
install_peer django django
# pydantic-core refuses OWN_GIL subinterpreters: subserve's auto kind serves it with processes.
install_peer fastapi fastapi 'import fastapi, pydantic'
install_peer matplotlib matplotlib 'import matplotlib.pyplot'

if [ "$apache" = ok ]; then
    install_peer mod_wsgi mod_wsgi
else
    record mod_wsgi skipped "apache2-dev/apache2-bin could not be installed with apt-get"
fi
# mod_wsgi 6's per-interpreter GIL is an Apache directive, not a
# mod_wsgi-express flag: bench/run.py includes it from a file. Look for it in
# the module itself, so an older mod_wsgi is skipped with the reason.
if [ -x "$venv/bin/mod_wsgi-express" ]; then
    so=$("$venv/bin/mod_wsgi-express" module-location 2>/dev/null)
    if [ -n "$so" ] && grep -aq WSGIPerInterpreterGIL "$so"; then
        record mod_wsgi-pergil ok "WSGIPerInterpreterGIL in $(basename "$so")"
    else
        record mod_wsgi-pergil skipped "this mod_wsgi has no WSGIPerInterpreterGIL directive"
    fi
fi

# subserve changes under our feet, so it is reinstalled on every run. It is
# built from a copy of the tree: building in place would drop build/ and
# *.egg-info into a repo other people are editing.
snap=$(mktemp -d)
trap 'rm -rf "$snap"' EXIT
tar -C "$root" --exclude=./.git --exclude=./bench/.venv --exclude=./build \
    --exclude='*.egg-info' --exclude='*.so' --exclude=__pycache__ -cf - . | tar -C "$snap" -xf -
log "pip install subserve (from a snapshot of $root)"
if $pip install -q --force-reinstall --no-deps "$snap" >"$venv/pip-subserve.log" 2>&1 \
    && $pip install -q "$snap" >>"$venv/pip-subserve.log" 2>&1 \
    && [ -x "$venv/bin/subserve" ]; then
    rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
    dirty=$(git -C "$root" status --porcelain 2>/dev/null | grep -q . && echo "+dirty" || true)
    record subserve ok "$($pip show subserve 2>/dev/null | sed -n 's/^Version: //p') (git $rev$dirty, installed $(date -u +%Y-%m-%dT%H:%MZ))"
else
    reason=$(reason_from "$venv/pip-subserve.log")
    log "subserve did not install: $reason (see $venv/pip-subserve.log)"
    record subserve skipped "pip install failed: ${reason:-no subserve entry point; see $venv/pip-subserve.log}"
fi

mv "$status.tmp" "$status"
log "done; peers:"
cat "$status" >&2
