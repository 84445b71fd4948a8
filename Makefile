# ctsync — build, test, lint, demo, bench.
# `make test` is the command README.md gives and CI (.ci/run) runs.

GO       ?= go
BIN      ?= bin/ctsync
# Packages where the race detector pays: concurrent state, leases, workers.
# The Graph adapter and simulator run plain: -race on msgraph-sdk-go's
# generated models doubles a cold build for little gain.
RACE_PKGS = ./guestmap/... ./policy/... ./sync/... ./internal/...
PLAIN_PKGS = ./cmd/... ./tenants/...
FUZZTIME ?= 10s

.PHONY: build test test-race test-plain fuzz lint demo bench ci tidy-check

build:
	$(GO) build -o $(BIN) ./cmd/ctsync

test: test-race test-plain fuzz

test-race:
	$(GO) test -race -count=1 $(RACE_PKGS)

test-plain:
	$(GO) test -count=1 $(PLAIN_PKGS)

# Short runs of the parsers' fuzz targets: no panic, no hang.
fuzz:
	@for f in $$($(GO) test -list '^Fuzz' ./policy/ 2>/dev/null | grep '^Fuzz'); do \
		echo "fuzz $$f for $(FUZZTIME)"; \
		$(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) ./policy/ || exit 1; \
	done

lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

tidy-check:
	$(GO) mod tidy -diff

demo: build
	./$(BIN) demo

# Every benchmark prints its figures (b.ReportMetric). The heavy ones run
# once (their own loops are sized); the simulator's throughput needs time.
bench:
	$(GO) test -run='^$$' -bench=. -benchtime=1x -benchmem ./guestmap/ ./policy/ ./tenants/ ./sync/...
	$(GO) test -run='^$$' -bench=. -benchtime=2s ./tenants/graphsim/

ci: lint tidy-check test
