# moat's two commands: `make run` builds bin/moat and starts the registry on
# the embedded default (local disk + SQLite under ./moat-data, the data
# directory every moat command defaults to); `make test` installs what the
# tests need and runs every test. `.ci/run` runs `make test`.

GO        ?= go
DATA_DIR  ?= ./moat-data
ADDR      ?= 127.0.0.1:5000
FUZZTIME  ?= 2s

# Packages with goroutines, locks or shared state run under the race
# detector; the rest (pure parsers and scanners) run without it to keep
# the suite fast. Directories that do not exist yet are ignored.
RACE_DIRS := cmd internal/server internal/distribution internal/registry \
	internal/blob internal/meta internal/sqldb internal/auth internal/events internal/jobs \
	internal/findings internal/scanning internal/webhooks internal/app internal/audit \
	internal/lifecycle internal/replication internal/proxy internal/scan/catalog \
	internal/scan/vulndb internal/scan/match internal/gunzip internal/admission internal/inventory \
	internal/kube internal/sign internal/signing
RACE_PATTERNS := $(foreach d,$(RACE_DIRS),$(if $(wildcard $(d)),./$(d)/...))

# The process-level tests (everything under test/) build and start moat
# themselves, so go test's cache cannot see a change to the server: they
# always run (-count=1).
E2E_PKGS := ./test/crash ./test/auth ./test/e2e ./test/cli ./test/readme

.PHONY: all run build lint deps test test-race test-unit test-e2e fuzz-smoke bench

all: build

run: build
	bin/moat serve --addr $(ADDR) --data-dir $(DATA_DIR)

# The release binary is static: every dependency is pure Go (SQLite included).
build:
	CGO_ENABLED=0 $(GO) build -o bin/moat ./cmd/moat

# lint fails on vet findings and when go.mod/go.sum are not tidy
# (go mod tidy -diff prints the difference and exits non-zero).
lint:
	@echo "== lint: go vet, go mod tidy -diff =="
	$(GO) vet ./...
	$(GO) mod tidy -diff

deps:
	scripts/install-deps.sh

# test runs every stage (lint first) even when one fails (make -k), then
# fails if any did.
# MOAT_TEST_POSTGRES_URL, when already set, names a server to use instead of
# the throwaway one scripts/postgres.sh starts.
test: deps
	@url="$${MOAT_TEST_POSTGRES_URL:-}"; \
	if [ -z "$$url" ]; then url="$$(scripts/postgres.sh start)" || exit 1; fi; \
	echo "PostgreSQL for tests: $$url"; \
	MOAT_TEST_POSTGRES_URL="$$url" $(MAKE) --no-print-directory -k lint test-race test-unit fuzz-smoke test-e2e

test-race:
	@echo "== unit tests with -race =="
	@start=$$(date +%s); \
	pkgs="$$($(GO) list $(RACE_PATTERNS) 2>/dev/null)"; \
	$(GO) test -race -timeout 15m $$pkgs; status=$$?; \
	echo "== unit tests with -race: $$(( $$(date +%s) - start ))s =="; exit $$status

test-unit:
	@echo "== unit tests =="
	@race=" $$($(GO) list $(RACE_PATTERNS) 2>/dev/null | tr '\n' ' ') "; \
	pkgs=""; \
	for p in $$($(GO) list ./...); do \
		case "$$race" in *" $$p "*) continue ;; esac; \
		case "$$p" in */moat/test/*) continue ;; esac; \
		pkgs="$$pkgs $$p"; \
	done; \
	start=$$(date +%s); \
	$(GO) test -timeout 15m $$pkgs; status=$$?; \
	echo "== unit tests: $$(( $$(date +%s) - start ))s =="; exit $$status

# test-e2e builds moat once, with the race detector (the server is where
# concurrency lives), and the process-level packages drive it with the real
# clients, the OCI conformance suite, the access-control, crash, first-start
# and README tests (SQLite and PostgreSQL). It runs last so that go test's
# summary closes the log.
test-e2e:
	@echo "== end-to-end and conformance tests =="
	@mkdir -p .tmp && $(GO) build -race -o .tmp/moat-race ./cmd/moat
	PATH="$(CURDIR)/.tools/bin:$$PATH" MOAT_E2E_BINARY="$(CURDIR)/.tmp/moat-race" $(GO) test -v -count=1 -timeout 30m $(E2E_PKGS)

# fuzz-smoke runs every fuzz target for FUZZTIME each.
fuzz-smoke:
	@echo "== fuzz smoke ($(FUZZTIME) per target) =="
	@scripts/fuzz-smoke.sh $(FUZZTIME)

# bench runs the Go benchmarks once; pass BENCH=pattern PKG=./internal/x/...
# to narrow them and compare runs with benchstat.
BENCH ?= .
PKG   ?= ./...
bench:
	$(GO) test -run='^$$' -bench='$(BENCH)' -benchmem $(PKG)
