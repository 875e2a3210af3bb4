# Latent Explorer: `make run` installs and starts the app, `make serve` serves it to a class (replicas behind
# HAProxy), `make test` installs and runs every test.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
APT := $(shell command -v apt-get 2>/dev/null)
ROOT := $(shell [ "$$(id -u)" = 0 ] && echo yes)

.PHONY: run serve test test-fast fuzz install data chromium haproxy bench clean

run: install data
	$(VENV)/bin/streamlit run explorer/app.py

# A class: one app process per core behind HAProxy, sticky by cookie, until Ctrl-C
# (python -m explorer serve --help: --replicas, --port, --address 0.0.0.0 for the students' laptops).
SERVE_ARGS ?=
serve: install data haproxy
	$(PY) -m explorer serve $(SERVE_ARGS)

test: install data chromium haproxy
	$(PY) -m pytest -q

# Starts no process (tests/conftest.py fails an unmarked test that does); EXPLORER_AMP=0 trains in float32.
test-fast: install
	$(PY) -m pytest -q -m "not slow and not e2e"

# Property-based fuzzing of every parser (tests/test_fuzz_*.py) for minutes, with new random inputs each
# run; make test runs the same tests briefly (the "ci" profile: 50 inputs each, repeatable).
fuzz: install
	HYPOTHESIS_PROFILE=long $(PY) -m pytest -q -p no:cacheprovider tests/test_fuzz_*.py --hypothesis-show-statistics

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# Fashion-MNIST from Debian's dataset-fashion-mnist package when we can install it;
# otherwise the app uses the bundled digits set and says how to get more.
data:
	@if [ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ]; then \
	  echo "Fashion-MNIST: found in /usr/share/datasets/fashion-mnist"; \
	elif [ -n "$(APT)" ] && [ "$(ROOT)" = yes ]; then \
	  (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) || \
	  echo "note: could not install dataset-fashion-mnist; run: $(PY) -m explorer fetch-data fashion-mnist"; \
	else \
	  echo "note: Fashion-MNIST not found. Install it with 'sudo apt-get install dataset-fashion-mnist'"; \
	  echo "      or download it with '$(PY) -m explorer fetch-data fashion-mnist'. The app falls back to digits."; \
	fi

# A Debian package a target needs: $(1) the command, $(2) the package, $(3) what needs it, $(4) the
# variable that names another binary. Installed with apt-get when we are root, else a clear error.
define debian_tool
	@if [ -n "$$$(4)" ] || command -v $(1) >/dev/null 2>&1 || [ -x /usr/sbin/$(1) ]; then \
	  echo "$(2): $$(command -v $(1) || echo /usr/sbin/$(1))"; \
	elif [ -n "$(APT)" ] && [ "$(ROOT)" = yes ]; then \
	  apt-get update -qq && apt-get install -y -qq $(2); \
	else \
	  echo "error: $(3) $(2). Install it with 'sudo apt-get install $(2)'"; \
	  echo "       (or set $(4) to its binary) and run make again."; \
	  exit 1; \
	fi
endef

# Debian's Chromium drives the end-to-end browser tests (Playwright's own download is not used).
chromium:
	$(call debian_tool,chromium,chromium,the browser tests need,EXPLORER_CHROMIUM)

# Debian's HAProxy is the load balancer of `make serve` (and of its tests).
haproxy:
	$(call debian_tool,haproxy,haproxy,serving replicas needs,EXPLORER_HAPROXY)

bench: install data
	$(PY) -m explorer bench

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
