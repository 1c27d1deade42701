# cnmctl: `make lab` walks the lesson, `make test` runs every test.
# Both install what they need on a fresh Debian machine (run as root).

VENV    ?= .venv
PY      := $(VENV)/bin/python
APT_PKGS := python3-venv iproute2 util-linux nftables iptables dnsutils iputils-ping busybox-static procps \
            dnsmasq-base dnsperf gcc libc6-dev
SHIM := cnmctl/runtime/cnmctl-shim
APT_STAMP := $(VENV)/.apt-installed
# Only `make bench` needs these (bench/ports.py: throughput through a published port).
BENCH_APT_PKGS := iperf3

.PHONY: all deps deps-apt deps-bench shim test unit lint lab bench clean alpine-image

all: test

# Debian packages: installed once per machine (checked with dpkg, not a stamp, so
# a new machine always installs them even when the venv came along).
deps-apt:
	@if ! dpkg -s $(APT_PKGS) >/dev/null 2>&1; then \
		echo "installing Debian packages: $(APT_PKGS)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PKGS) >/dev/null; \
	fi

deps-bench:
	@if ! dpkg -s $(BENCH_APT_PKGS) >/dev/null 2>&1; then \
		echo "installing Debian packages: $(BENCH_APT_PKGS)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BENCH_APT_PKGS) >/dev/null; \
	fi

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	# compat mode: a plain .pth path entry; the default editable finder adds ~10 ms to every start
	$(VENV)/bin/pip install -q -e '.[test]' --config-settings editable_mode=compat
	touch $@

# The container monitor (runtime/shim.c): C, because it stays in memory beside every
# container (a few hundred KB where a Python one would cost 3-4 MB).
$(SHIM): cnmctl/runtime/shim.c
	$${CC:-gcc} -O2 -Wall -Wextra -o $@ $<

shim: deps-apt $(SHIM)

deps: deps-apt $(VENV)/.installed $(SHIM)

lint: deps
	$(VENV)/bin/ruff check cnmctl tests bench tools

# The whole suite: unit tests, then (as root, inside private namespaces) integration tests.
test: deps lint
	$(PY) -m pytest -q tests

unit: deps
	$(PY) -m pytest -q tests/unit

# The lesson's tasks, printed command by command, in a throwaway namespace whose
# "outside" resolver is a local stub (tests/stub-resolver.sh). The walkthrough imports
# the alpine image (tools/mkimage-busybox) into its own throwaway store first.
lab: deps
	unshare --net --mount --pid --fork --mount-proc --propagation private \
		sh -c 'bash tests/stub-resolver.sh && \
		       exec env PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash tests/lab/walkthrough.sh'

# A small busybox image named alpine, from the host's busybox-static, in the store
# (CNMCTL_ROOT, /var/lib/cnmctl by default): `cnmctl run -it alpine sh`.
alpine-image: deps
	$(PY) tools/mkimage-busybox | $(VENV)/bin/cnmctl import - alpine

bench: deps deps-bench
	unshare --net --mount --pid --fork --mount-proc --propagation private \
		sh -c 'bash tests/stub-resolver.sh && $(PY) bench/run.py && exec $(PY) bench/dns_perf.py'

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache $(SHIM)
