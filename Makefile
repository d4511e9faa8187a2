# Two commands on a fresh Debian machine: `make up` and `make test`.
PYTHON ?= python3
PORT ?= 8080
DATA ?= ./data

.PHONY: deps up test bench clean

deps:
	@bash scripts/install-deps.sh

up: deps
	$(PYTHON) -m server up --port $(PORT) --data $(DATA)

test: deps
	$(PYTHON) -m pytest tests

bench: deps
	$(PYTHON) -m pytest tests/perf -o python_files='bench_*.py' -s -p no:cacheprovider

clean:
	rm -rf .make test-artifacts .pytest_cache
