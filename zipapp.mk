# make -f zipapp.mk  ->  dist/credproc.pyz and dist/credproc.pyz.sha256: credproc and its
# dependencies in one file that runs with a plain `python3`: no pip, no network.
#
# Needs only python3 (3.11+, with its venv module: Debian's python3-venv), make and PyPI: the
# build tools (a pinned pip) go into build/tools, the wheels into build/pyz. The wheels are the
# ones pyz/lock.txt names, by hash, so two builds of one commit are byte-identical; the lock
# is made from pyproject.toml's dependencies by `make -f zipapp.mk lock` (a build refuses a
# lock made from other ones). One file per system (SYSTEM, a wheel platform tag), for the
# CPython versions in PYTHONS (each finds its own compiled packages inside).
#
# Why a builder of our own (pyz/build.py, pyz/boot.py) rather than pex or shiv: the file must
# carry only what credproc runs (of botocore's data, five services' models), unpack in well
# under the 5 s an old Rust SDK gives a credential_process, and start as fast as a pip install.
# pex's file was 51 MB and unpacked 125 MB in 3 to 5 s; shiv cannot carry several Pythons.

PYTHON3 ?= python3
SYSTEM_Linux_x86_64  := manylinux2014_x86_64
SYSTEM_Linux_aarch64 := manylinux2014_aarch64
SYSTEM_Darwin_arm64  := macosx_11_0_arm64
SYSTEM  ?= $(SYSTEM_$(shell uname -s)_$(shell uname -m))
# botocore and cryptography have left 3.9 behind; cffi's compiled module is one per version
PYTHONS ?= 3.10 3.11 3.12 3.13 3.14
# timestamps inside the file: the commit's, so a rebuild of one commit gives the same bytes
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 315532800)
TOOLS := build/tools
BUILD := $(TOOLS)/bin/python pyz/build.py
# EXTRAS=login: with awscrt, for `aws login` source profiles (its own lock, pyz/lock-login.txt)
EXTRAS  ?=
PYZ     ?= dist/credproc.pyz
STAMP   := build/pyz/$(notdir $(PYZ)).epoch
TARGET = --system $(SYSTEM) --pythons "$(PYTHONS)" --extras "$(EXTRAS)"

SOURCES := pyproject.toml $(wildcard credproc/*.py credproc/*/*.py) $(wildcard pyz/*)

$(PYZ): $(TOOLS)/ready $(SOURCES) zipapp.mk $(STAMP)
	$(BUILD) build $(TARGET) --epoch $(SOURCE_DATE_EPOCH) --out $@

# the file's timestamps are the commit's: a new commit is a new file, even with the same
# sources; and a file with other extras is another file
$(STAMP): FORCE
	@mkdir -p $(@D)
	@echo $(SOURCE_DATE_EPOCH) $(EXTRAS) | cmp -s - $@ || echo $(SOURCE_DATE_EPOCH) $(EXTRAS) > $@

$(TOOLS)/ready: pyz/tools.txt
	rm -rf $(TOOLS)
	$(PYTHON3) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install -q --require-hashes -r pyz/tools.txt
	touch $@

.PHONY: lock clean FORCE
FORCE:

lock: $(TOOLS)/ready
	$(BUILD) lock $(TARGET)

clean:
	rm -rf dist/credproc.pyz dist/credproc.pyz.sha256 build/pyz build/tools
