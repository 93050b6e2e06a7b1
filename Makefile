# subserve: `make run` serves the demo app, `make test` runs every test,
# `make test-unit` the in-process ones only (seconds: the edit-test loop).
# Both set up .venv (CPython >= 3.13, found by scripts/find-python) on first use.

PYTHON ?= $(shell scripts/find-python)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXT_SOURCES := $(wildcard ext/*.c ext/*.h)
EXT := subserve/_engine$(shell test -x $(PY) && $(PY) -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
BIND ?= 127.0.0.1:8000
PYTEST_ARGS ?=
# The extras installed with the package. Those in OPTIONAL_EXTRAS are then
# installed one requirement at a time, and the ones that cannot be are listed
# instead of failing the setup: scripts/forky sets EXTRAS=test
# OPTIONAL_EXTRAS=apps, since a new CPython may lack some apps' wheels (the
# tests that need them skip).
EXTRAS ?= test,apps
OPTIONAL_EXTRAS ?=

.PHONY: run test test-unit build lint test-asan bench bench-install bench-quick bench-recovery \
	docker-test clean forky-root test-forky test-forky-asan

$(STAMP): pyproject.toml setup.py
	@test -n "$(PYTHON)" || { echo "error: no CPython >= 3.13 found; see scripts/find-python" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q 'setuptools>=70' wheel
	$(PY) -m pip install -q -e '.[$(EXTRAS)]' --config-settings editable_mode=compat
	$(if $(OPTIONAL_EXTRAS),$(PY) scripts/install-optional.py $(OPTIONAL_EXTRAS))
	touch $@

# Rebuild the extension in place whenever a C source changes.
build: $(STAMP) $(EXT_SOURCES)
	$(PY) setup.py -q build_ext --inplace

run: build
	$(VENV)/bin/subserve subserve.demo:app --bind $(BIND)

test: build
	$(PY) -m pytest $(PYTEST_ARGS)

# No subprocess, no listening socket: tests/unit/conftest.py refuses both.
test-unit: build
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

lint: build
	$(VENV)/bin/ruff check subserve tests bench

# The test suite against an AddressSanitizer build of the extension. Leak
# reports are off: CPython itself keeps memory alive until exit.
test-asan: $(STAMP)
	SUBSERVE_ASAN=1 $(PY) setup.py -q build_ext --inplace --force --build-temp build/asan
	LD_PRELOAD=$$(gcc -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
		PYTHONMALLOC=malloc $(PY) -m pytest -x $(PYTEST_ARGS)
	$(PY) setup.py -q build_ext --inplace --force

# The suite on Debian forky's own CPythons, each in its own copy of the tree
# and .venv inside a debootstrapped forky root kept in /var/cache/subserve
# (scripts/forky; needs root). FORKY_PYTHONS=python3.15 runs one of them.
# Prints SKIPPED when Debian's mirror is out of reach and no root exists yet.
FORKY_PYTHONS ?= python3.14 python3.15

forky-root:
	scripts/forky root

test-forky:
	for py in $(FORKY_PYTHONS); do PYTEST_ARGS='$(PYTEST_ARGS)' scripts/forky test $$py || exit 1; done

test-forky-asan:
	for py in $(FORKY_PYTHONS); do PYTEST_ARGS='$(PYTEST_ARGS)' scripts/forky test --asan $$py || exit 1; done

bench-install:
	bench/install.sh "$(CURDIR)"

bench: bench-install
	bench/.venv/bin/python bench/run.py

# A few minutes: one 3 s run per row, 2 workers only.
bench-quick: bench-install
	bench/.venv/bin/python bench/run.py --quick --repeat 1 --workers 2

# Recovery figures: segfault -> first answer, a stuck request -> capacity back,
# the supervisor's memory (a few minutes; subserve alone, no peers).
bench-recovery: build
	$(PY) bench/recovery.py

# Build the Docker image against a local Debian + CPython 3.13 base (Docker Hub
# is out of reach here), run the demo app in it and check HTTP, non-root, the
# healthcheck and a clean exit on SIGTERM. Installs docker.io/debootstrap and
# starts dockerd when needed; prints SKIPPED where no engine can run. Slow on
# first use (~1 min), so not part of `make test`.
docker-test: $(STAMP)
	PY=$(PY) docker/test-image.sh

clean:
	rm -rf build $(VENV) subserve/*.so
