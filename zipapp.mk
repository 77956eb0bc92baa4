# make -f zipapp.mk  ->  dist/credproc.pyz: credproc, boto3, botocore, platformdirs and
# cryptography in one file that runs with a plain `python3`: no pip, no network.
#
# Runs on CPython 3.9.2 to 3.14 on the kind of system that built it (Linux x86_64 or aarch64
# with glibc 2.17+, or macOS 11+ on Apple silicon); each Python finds its own wheels inside.
# Tested (tests/test_zipapp.py) with CPython 3.11 on Linux x86_64 only. Builds in 20 to 40 s
# (51 MB). One file for all three systems (71 MB, about 1 min):
#   make -f zipapp.mk SYSTEMS="manylinux2014_x86_64 manylinux2014_aarch64 macosx_11_0_arm64"
#
# Why pex (--venv --sh-boot): cryptography's .so and botocore's data files must be on disk, so
# the stdlib zipapp cannot work; pex and shiv both unpack once and reuse the copy. pex wins:
#  - one file for every Python: cffi's module is built per Python minor and cryptography's
#    _rust.abi3.so has one name on every platform, so shiv needs a file per Python and system;
#  - the cache hit, credproc's hot path (scripts/bench): run as a program (`credproc.pyz`,
#    its /bin/sh head execs the unpacked venv) it costs what a pip install costs (42 vs 40 ms);
#    as `python3 credproc.pyz` it pays pex's Python bootstrap and a re-exec (135 ms; shiv: 75);
#  - PYTHONDONTWRITEBYTECODE=1: the unpacked venv runs `python -I`, which writes bytecode once
#    and reuses it (plain shiv recompiles on every run).
# The first run unpacks into ~/.cache/pex (PEX_ROOT overrides; about 125 MB) in 3 to 5 s.
#
# EXTRAS=login carries awscrt, which botocore needs for `aws login` source profiles: 68 MB
# instead of 51, 170 MB unpacked instead of 121 (one awscrt per Python ABI), so it is not the
# default. A change of EXTRAS rebuilds the file.
#
# pip 25.2 resolves: pex's vendored pip 20.3.4 builds cffi from source for other targets
# instead of taking its wheels. credproc's wheel is built first, from a copy: pip then never
# walks the checkout (.venv, node_modules) nor packs a stale build/lib, and pex's parallel
# resolves (one per target) do not race to build the same source tree.

PYTHON  ?= .venv/bin/python
PEX     ?= .venv/bin/pex
PYTHONS ?= 3.9.2-cp39 3.10.0-cp310 3.11.0-cp311 3.12.0-cp312 3.13.0-cp313 3.14.0-cp314
# without a constraint pex keys its venv by interpreter path, and the sh boot never finds it
CONSTRAINT ?= CPython>=3.9.2,<3.15
# the wheel tags of this system (on any other, SYSTEMS is empty: a file for one local Python)
SYSTEM_Linux_x86_64  := manylinux2014_x86_64
SYSTEM_Linux_aarch64 := manylinux2014_aarch64
SYSTEM_Darwin_arm64  := macosx_11_0_arm64
SYSTEMS ?= $(SYSTEM_$(shell uname -s)_$(shell uname -m))
# pex's download cache stays in the checkout (build/ is ignored), not in ~/.cache
export PEX_ROOT ?= $(CURDIR)/build/pex-root

EXTRAS  ?=
EXTRAS_STAMP := build/extras-$(or $(EXTRAS),none)

SOURCES := pyproject.toml README.md $(wildcard credproc/*.py credproc/*/*.py)

dist/credproc.pyz: $(SOURCES) zipapp.mk $(EXTRAS_STAMP)
	rm -rf build/zipapp && mkdir -p build/zipapp/src dist
	tar -cf - $(SOURCES) | tar -xf - -C build/zipapp/src
	$(PYTHON) -m pip wheel -q --no-deps -w build/zipapp build/zipapp/src
	$(PEX) "$$(echo build/zipapp/credproc-*.whl)$(if $(EXTRAS),[$(EXTRAS)])" \
		-c credproc --venv --sh-boot --pip-version 25.2 \
		--interpreter-constraint '$(CONSTRAINT)' \
		$(foreach s,$(SYSTEMS),$(foreach p,$(PYTHONS),--platform $(s)-cp-$(p))) -o $@.tmp
	mv $@.tmp $@

$(EXTRAS_STAMP):
	mkdir -p build && rm -f build/extras-* && touch $@

.PHONY: clean
clean:
	rm -rf dist/credproc.pyz build/zipapp
