# Samsa: the two commands a new user needs are `make demo` and `make test`.
SHELL := /bin/bash
SWIFT ?= swift
VENV := .venv
PY := $(VENV)/bin/python
RELEASE_BIN := .build/release/samsa

.PHONY: demo test deps build release unit compat venv bench clean check-generated fuzz fuzz-build fuzz-test soak

deps:
	@scripts/deps.sh

release: deps
	$(SWIFT) build -c release --product samsa

# Builds in release mode and starts the broker on 127.0.0.1:9092 with its data in ./data.
demo: release
	$(RELEASE_BIN) server-start config/server.properties

venv: $(VENV)/.stamp
$(VENV)/.stamp: Tests/compat/requirements.txt
	@scripts/deps.sh kcat
	@python3 -c 'import venv, ensurepip' 2>/dev/null || scripts/deps.sh python3-venv
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r Tests/compat/requirements.txt
	touch $@

unit: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

compat: release venv
	SAMSA_BIN=$(abspath $(RELEASE_BIN)) $(PY) -m pytest -q Tests/compat

# Soak: the release broker under producers and consumers for SOAK_SECONDS (default 120), restarted with SIGTERM
# and SIGKILL, then every acknowledged record checked (scripts/soak/soak.py). Not part of `make test`.
soak: release venv
	$(PY) scripts/soak/soak.py --bin $(abspath $(RELEASE_BIN))

# The generated protocol codecs must match their schema (scripts/protocol/).
check-generated:
	python3 scripts/protocol/generate.py --check

# libFuzzer targets for every decoder (fuzz/README.md): `make fuzz` runs each for FUZZ_SECONDS (default 300);
# `make test` runs each for FUZZ_TEST_SECONDS on the committed corpus.
FUZZ_SECONDS ?= 300
FUZZ_TEST_SECONDS ?= 15
fuzz-build: deps
	fuzz/build.sh
fuzz: fuzz-build
	fuzz/run.sh $(FUZZ_SECONDS)
fuzz-test: fuzz-build
	fuzz/run.sh $(FUZZ_TEST_SECONDS)

# Everything the project tests.
test: check-generated unit compat fuzz-test

bench: deps
	cd Benchmarks && $(SWIFT) package --disable-sandbox benchmark

clean:
	rm -rf .build $(VENV)
