# toolgate — `make run` and `make test` are the two commands; everything else is a step of them.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

OPA_VERSION   := v1.22.3
REGAL_VERSION := v0.39.0
TOOLS_BIN     := $(CURDIR)/.tools/bin
OPA           := $(TOOLS_BIN)/opa
REGAL         := $(TOOLS_BIN)/regal
COVERAGE      := 95
CONFIG        ?= config/demo.yaml
OPA_STAMP     := $(TOOLS_BIN)/.opa-$(OPA_VERSION)
REGAL_STAMP   := $(TOOLS_BIN)/.regal-$(REGAL_VERSION)
NODE_STAMP    := node_modules/.installed
VENV          := .venv
PY_STAMP      := $(VENV)/.installed

# Where the PostgreSQL binaries are: TOOLGATE_PG_BIN as the tests read it, else Debian's postgresql-15.
PG_BIN        := $(or $(TOOLGATE_PG_BIN),/usr/lib/postgresql/15/bin)
SUDO          := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: docs docs-check bench-tools parity python-setup python-test postgres chromium demo conformance conformance-ratchet print-opa-version bench bundle setup tools build policy run test check-ts lint jest rego-test rego-fmt rego-check rego-lint clean

## setup: npm ci + the pinned OPA and Regal built from the Go module proxy + the Python venv + PostgreSQL 15 and Chromium where missing (idempotent)
setup: $(NODE_STAMP) tools python-setup postgres chromium

# The console's browser tests drive Debian's Chromium through playwright-core (no browser download).
CHROMIUM ?= $(or $(TOOLGATE_CHROMIUM),/usr/bin/chromium)
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
	  echo "installing Chromium (Debian package chromium) for the console's browser tests"; \
	  $(SUDO) apt-get update && $(SUDO) apt-get install -y chromium; \
	fi

# The multi-replica test starts its own PostgreSQL cluster from these binaries (Debian's postgresql-15).
# With TOOLGATE_PG_BIN set, those binaries are used as given: installing Debian's would not put them there.
postgres:
	@if [ -x "$(PG_BIN)/postgres" ]; then :; \
	elif [ -n "$(TOOLGATE_PG_BIN)" ]; then \
	  echo "TOOLGATE_PG_BIN=$(TOOLGATE_PG_BIN) has no executable postgres" >&2; exit 1; \
	else \
	  echo "installing PostgreSQL 15 (Debian package postgresql-15) for the multi-replica test"; \
	  $(SUDO) apt-get update && $(SUDO) apt-get install -y postgresql-15; \
	fi

tools: $(OPA_STAMP) $(REGAL_STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

# The Python guard (clients/python) and its test dependencies, pinned in its pyproject, from PyPI.
python-setup: $(PY_STAMP)

$(PY_STAMP): clients/python/pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -e 'clients/python[test]'
	@touch $@

$(OPA_STAMP):
	@mkdir -p $(TOOLS_BIN)
	@echo "building opa $(OPA_VERSION) from the Go module proxy (first time only; takes minutes)"
	GOBIN=$(TOOLS_BIN) go install github.com/open-policy-agent/opa@$(OPA_VERSION)
	@rm -f $(TOOLS_BIN)/.opa-*; touch $@

# The proxy refuses regal's version list, which `go install pkg@version` reads for
# deprecation notices; download the exact module and build it in place instead.
$(REGAL_STAMP):
	@mkdir -p $(TOOLS_BIN)
	@echo "building regal $(REGAL_VERSION) from the Go module proxy (first time only)"
	dir=$$(go mod download -json github.com/open-policy-agent/regal@$(REGAL_VERSION) | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])'); \
	  cd "$$dir" && GOFLAGS=-mod=mod go build -trimpath -ldflags "-X github.com/open-policy-agent/regal/pkg/version.Version=$(REGAL_VERSION)" -o $(TOOLS_BIN)/regal .
	@rm -f $(TOOLS_BIN)/.regal-*; touch $@

## build: compile the TypeScript service and bundle the operator console (console/ → dist/console/)
build: $(NODE_STAMP)
	npx tsc -p tsconfig.build.json
	node console/build.mjs

## policy: check, test and compile policies/ to build/bundle.tar.gz (what the service loads)
policy: $(NODE_STAMP) tools build
	node dist/cli.js build --policies policies --tests rego-tests --out build

## bundle: build a bundle as CI would (build/bundle.tar.gz); sign it with SIGNING_KEY=key.pem [KEY_ID=ci] [SCOPE=…] [SIGNING_ALG=RS256]
SIGNING_ALG ?= RS256
KEY_ID      ?= default
bundle: $(NODE_STAMP) tools build
	node dist/cli.js bundle --policies policies --tests rego-tests --out build $(if $(SIGNING_KEY),--signing-key $(SIGNING_KEY) --signing-alg $(SIGNING_ALG) --key-id $(KEY_ID) $(if $(SCOPE),--scope $(SCOPE)))

## run: set up, build, and start toolgate on 127.0.0.1 with the demo config (demo keys in .toolgate/demo)
run: policy
	node dist/cli.js demo-keys --out .toolgate/demo
	node dist/main.js --config $(CONFIG)

## demo: toolgate plus the demo MCP server (127.0.0.1:3000/mcp) guarded by it; prints how to connect
demo: policy
	node dist/demo/run-demo.js

## test: every check: typecheck, lint, Rego fmt/check/test+coverage/parity/Regal, jest, the Python guard's pytest, OPA's compliance suite (ratchet)
CONFORMANCE_MIN_PASSED := 2351
test: setup build check-ts lint rego-fmt rego-check rego-test parity rego-lint jest python-test conformance-ratchet

check-ts: $(NODE_STAMP)
	npx tsc -p tsconfig.json --noEmit
	npx tsc -p console/tsconfig.json

lint: $(NODE_STAMP)
	npx eslint src test console

rego-fmt: $(OPA_STAMP)
	@out=$$($(OPA) fmt --list policies rego-tests); if [ -n "$$out" ]; then echo "not formatted (run: $(OPA) fmt -w policies rego-tests):"; echo "$$out"; exit 1; fi

rego-check: $(OPA_STAMP) build
	$(OPA) check --strict --capabilities $$(node dist/cli.js capabilities --out build) policies
	$(OPA) check --strict policies rego-tests

rego-test: $(OPA_STAMP)
	@mkdir -p build
	$(OPA) test policies rego-tests --coverage --threshold $(COVERAGE) --format json > build/coverage.json || { $(OPA) test policies rego-tests -v | tail -40; echo "opa test failed or coverage below $(COVERAGE)%"; exit 1; }
	@python3 -c 'import json; print("rego coverage: %.1f%%" % json.load(open("build/coverage.json"))["coverage"])'

# The parity gate on the repo's own policies (every Rego test through the compiled wasm and
# toolgate's runtime; all of them must be checkable), then the shipped example, which must be
# refused naming its diverging test.
PARITY_EXAMPLE := examples/parity-divergence
PARITY_EXPECT  := test_huge_amount_is_named_in_the_reason at $(PARITY_EXAMPLE)/tests/mcp/authz/decision_test.rego:22: topdown true, wasm undefined
parity: $(OPA_STAMP) build
	node dist/cli.js parity --policies policies --tests rego-tests --out build --all-checked
	@if out=$$(node dist/cli.js build --policies $(PARITY_EXAMPLE)/policies --tests $(PARITY_EXAMPLE)/tests --out build/parity-example 2>&1); then \
	  echo "$$out"; echo "$(PARITY_EXAMPLE) passed the parity gate; it must be refused"; exit 1; fi; \
	  echo "$$out" | grep -qF '$(PARITY_EXPECT)' || { echo "$$out"; echo "$(PARITY_EXAMPLE): not refused for the expected test"; exit 1; }; \
	  echo "$(PARITY_EXAMPLE): refused as expected (a real divergence between opa test and the wasm runtime)"

rego-lint: $(REGAL_STAMP)
	$(REGAL) lint policies rego-tests

jest: $(NODE_STAMP) $(OPA_STAMP) postgres chromium build
	npm test

# pytest against a real toolgate (dist/), the real opa and the example server; its summary line closes the output.
python-test: $(PY_STAMP) $(OPA_STAMP) build
	cd clients/python && ../../$(VENV)/bin/python -m pytest

print-opa-version:
	@echo $(OPA_VERSION)

# The whole suite (about a minute on 2 cores, compiled cases cached in .cache/); fails if fewer pass than before.
conformance-ratchet: setup build
	@node dist/conformance/main.js --min-passed $(CONFORMANCE_MIN_PASSED) > build/conformance.txt || { tail -30 build/conformance.txt; exit 1; }
	@tail -1 build/conformance.txt

## conformance: OPA's whole compliance suite (from the pinned module in the Go module cache) through toolgate's evaluator
conformance: setup build
	node dist/conformance/main.js

clean:
	rm -rf dist build coverage

## bench: every benchmark (in-process, HTTP vs OPA server and floor, workers, scale, reload, 5-minute soak, replay, shadow, list filtering and worst-case inputs, a stuck evaluation with two workers), written into BENCHMARKS.md
# wrk (Debian's package) is the native load generator next to autocannon in the workers bench.
bench-tools:
	@if ! command -v wrk >/dev/null; then \
	  echo "installing wrk (Debian package) for the HTTP benchmarks"; \
	  $(SUDO) apt-get update && $(SUDO) apt-get install -y wrk; \
	fi

bench: setup build bench-tools
	node dist/bench/in-process.js --write
	node dist/bench/http.js --write
	node dist/bench/workers.js --write
	node dist/bench/scale.js --write
	node dist/bench/guard.js --write
	node dist/bench/reload.js --write
	node dist/bench/soak.js --write
	node dist/bench/replay.js --write
	node dist/bench/privileges.js --write
	node dist/bench/shadow.js --write
	node dist/bench/list.js --write
	node dist/bench/stall.js --write

## docs: regenerate the reference pages from the code (config schema, CLI help, OpenAPI), offline
docs: $(NODE_STAMP) build
	node scripts/docs.mjs gen

## docs-check: no broken relative link, and every command, flag, make target, config key and code the docs name exists
docs-check: $(NODE_STAMP) build
	node scripts/docs.mjs check

# The docs and package checks issue 26 added to `make test` (own targets so merges stay small).
test: docs-check

# The quick-starts use .venv (the Python guard and `python -m build`): `make run` creates it.
run: python-setup
