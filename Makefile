# Two commands on a fresh Debian machine: `make up` and `make test`.
PYTHON ?= python3
PORT ?= 8080
DATA ?= ./data

.PHONY: deps up test bench faults load cluster clean

deps:
	@bash scripts/install-deps.sh

up: deps
	$(PYTHON) -m server up --port $(PORT) --data $(DATA)

test: deps
	$(PYTHON) -m pytest tests

bench: deps
	$(PYTHON) -m pytest tests/perf -o python_files='bench_*.py' -s -p no:cacheprovider

# Issue 10's proofs: kill -9 every part while recordings flow (docs/reliability.md), and
# 50 simulated stations for LOAD_SECONDS against `fullrecord serve` with 2 workers.
faults: deps
	$(PYTHON) -m pytest tests/faults -o python_files='campaign_*.py' -s -p no:cacheprovider

LOAD_SECONDS ?= 600
load: deps
	LOAD_SECONDS=$(LOAD_SECONDS) $(PYTHON) -m pytest tests/load -o python_files='load_*.py' -s -p no:cacheprovider

# Issue 19's proofs across hosts: two API nodes (own directories and host names) behind nginx,
# sharing PostgreSQL, Redis and SeaweedFS; uploads, kill -9 and SIGSTOP of a node (docs/reliability.md).
cluster: deps
	@bash scripts/install-js-clients.sh
	$(PYTHON) -m pytest tests/cluster -o python_files='cluster_*.py' -s -p no:cacheprovider

clean:
	rm -rf .make test-artifacts .pytest_cache
