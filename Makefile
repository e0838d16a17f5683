# journaltools: set-up and checks.  `make demo` and `make test` are the two set-up commands.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# python3-rados/python3-rbd are built for the system Python: the venv is made from it
# with --system-site-packages so that `import rados` works inside.
SYSTEM_PYTHON := /usr/bin/python3
CEPH_PACKAGES := ceph-mon ceph-osd ceph-mgr ceph-common python3-rados python3-rbd rbd-mirror strace
# gcc and the headers build the optional C core (journaltools/_native.c, setup.py); without them the
# install still works, on the pure-Python path
BUILD_PACKAGES := gcc python3-dev
# headless Chromium renders `journal report` pages in tests/test_journal_report.py
REPORT_PACKAGES := chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install build-deps ceph-deps release-roots demo test test-releases test-slow lint clean

$(VENV)/bin/journaltools: pyproject.toml setup.py journaltools/_native.c journaltools/_native_json.c
	test -x $(PY) || $(SYSTEM_PYTHON) -m venv --system-site-packages $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# compat mode: a plain path entry in a .pth file; the default mode's import hook (setuptools'
	# editable finder, with pathlib, re, urllib) costs every journaltools process ~10 ms of start-up
	$(PY) -m pip install -q -e '.[test]' --config-settings editable_mode=compat
	touch $@

install: build-deps $(VENV)/bin/journaltools

# a C compiler and the Python headers, for the optional C core
build-deps:
	@if ! command -v gcc >/dev/null || ! test -f "$$($(SYSTEM_PYTHON) -c 'import sysconfig; print(sysconfig.get_paths()["include"])')/Python.h"; then \
		echo "installing $(BUILD_PACKAGES)"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BUILD_PACKAGES) >/dev/null; \
	fi

ceph-deps: build-deps
	@if ! command -v rbd >/dev/null || ! command -v ceph-mon >/dev/null || ! command -v strace >/dev/null || ! $(SYSTEM_PYTHON) -c 'import rados, rbd' 2>/dev/null; then \
		echo "installing Ceph ($(CEPH_PACKAGES))"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(CEPH_PACKAGES) >/dev/null; \
	fi
	@if ! command -v chromium >/dev/null; then \
		echo "installing $(REPORT_PACKAGES)"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(REPORT_PACKAGES) >/dev/null; \
	fi

# Reef (Debian trixie) and Tentacle (Debian sid) in debootstrap roots, for the per-release live tests
# (tests/releases.py); built once, cached outside the clone (about 1.5 GB, about 2.5 minutes measured here when missing)
release-roots:
	$(SUDO) tools/release-root.sh trixie >/dev/null
	$(SUDO) tools/release-root.sh sid >/dev/null

demo: install
	$(VENV)/bin/journaltools --store fixtures/stores/all_events journal info rbd/108bbb69e2b9
	$(VENV)/bin/journaltools --store fixtures/stores/all_events journal status rbd/108bbb69e2b9
	$(VENV)/bin/journaltools --store fixtures/stores/all_events journal inspect --verbose rbd/108bbb69e2b9 | tail -n 12

test: ceph-deps release-roots install
	$(VENV)/bin/pytest -q -p no:cacheprovider

# only the live cross-checks against Pacific, Reef and Tentacle (part of `make test` too)
test-releases: ceph-deps release-roots install
	$(VENV)/bin/pytest -q -p no:cacheprovider -m releases

test-slow: ceph-deps install
	JOURNALTOOLS_FUZZ_EXAMPLES=100000 $(VENV)/bin/pytest -q -m slow

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
