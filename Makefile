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

.PHONY: build test test-race test-plain fuzz chaos lint demo docs bench bench-report bench-scale bench-idle ci tidy-check release release-check

build:
	$(GO) build -o $(BIN) ./cmd/ctsync

test: test-race test-plain fuzz

# The e2e package runs real processes under -race: a busy 2-core machine
# can take it past go test's default 10-minute limit per package.
test-race:
	$(GO) test -race -count=1 -timeout 25m $(RACE_PKGS)

test-plain:
	$(GO) test -count=1 $(PLAIN_PKGS)

# Short runs of the parsers' fuzz targets: no panic, no hang.
fuzz:
	@for p in ./policy/ ./internal/config/; do \
	for f in $$($(GO) test -list '^Fuzz' $$p 2>/dev/null | grep '^Fuzz'); do \
		echo "fuzz $$p $$f for $(FUZZTIME)"; \
		$(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) $$p || exit 1; \
	done; done

# Replicas killed with SIGKILL at random moments during a mesh's initial
# sync, 20 times (`make test` runs the same test with 5): no duplicate
# guest, no lost user. CTSYNC_CHAOS_SEED=N repeats a run's kill times.
CHAOS_KILLS ?= 20
chaos:
	CTSYNC_CHAOS_KILLS=$(CHAOS_KILLS) $(GO) test -race -count=1 -timeout 60m -run '^TestChaosReplicaKills$$' -v ./sync/e2e/

lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

tidy-check:
	$(GO) mod tidy -diff

demo: build
	./$(BIN) demo

# The markdown reference of every command, from the commands themselves
# (cmd/ctsync's TestDocsCLIUpToDate fails when docs/cli is stale). Man
# pages: `ctsync gen-docs --dir DIR --man`.
docs:
	rm -rf docs/cli
	$(GO) run ./cmd/ctsync gen-docs --dir docs/cli

# Every benchmark prints its figures (b.ReportMetric). The heavy ones run
# once (their own loops are sized); the simulator's throughput needs time.
# `make bench-report` (below) is the issue-14 report as one table;
# `make bench-idle` what an idle mesh costs Graph (it skips in `bench`).
bench:
	$(GO) test -run='^$$' -bench=. -benchtime=1x -benchmem ./guestmap/ ./policy/ ./tenants/ ./sync/...
	$(GO) test -run='^$$' -bench=. -benchtime=2s ./tenants/graphsim/

# The benchmark report of issue 14 (next to `bench`, which reports each
# benchmark's own figures): initial syncs of one pair at 2,000 and 10,000
# users with ctsync and the simulator as real processes (wall time,
# writes/s against Graph's quota, requests per guest, 429s, peak RSS of
# both, no-change and 1 %-changed cycles, parked users, duplicates), then
# a side-by-side against a naive sequential invite loop, as markdown
# tables (the side-by-side at 300 users: the naive loop takes 1.1 s a
# user). About 35 minutes on 2 cores, most of it the 10,000 users. CTSYNC_BENCH_100K=1 adds 100,000
# users (hours); CTSYNC_BENCH_SIZES=300 CTSYNC_BENCH_NAIVE_USERS=50 tries
# it in two minutes. Other knobs: CTSYNC_BENCH_PROFILE (realistic),
# CTSYNC_BENCH_CYCLE_TIMEOUT (ctsync's default). No -race: it measures.
# A first sync of a 100,000-user tenant across cycles, pacer lifted: its
# memory (ctsync's peak RSS, anonymous memory, mapped store file, heap),
# and checks that nothing failed, duplicated or lost its manager. About 4
# minutes on 2 cores; CTSYNC_SCALE_REDIS=redis://127.0.0.1:6379/9 measures
# it with Redis (flush that database first).
SCALE_USERS ?= 100000
bench-scale:
	CTSYNC_SCALE_USERS=$(SCALE_USERS) $(GO) test -count=1 -run='^$$' -bench='^BenchmarkScaleFirstSync$$' -benchtime=1x -timeout 60m ./sync/e2e/

bench-report:
	CTSYNC_BENCH_REPORT=1 $(GO) test -count=1 -timeout 12h -run '^TestBenchReport$$' -v ./sync/e2e/

# What an idle mesh costs Graph: 3 tenants of 10,000 users (IDLE_USERS),
# a full mesh (6 pairs) synced first with the pacer lifted, then `ctsync
# run` at the default interval and fast lane, and at 10s, 15s and 1m, each
# left idle for CTSYNC_IDLE_WINDOW (3m): Graph requests and resource units
# per minute per tenant, writes (0), share of the tenant's RU budget. About
# 20 minutes on 2 cores; CTSYNC_IDLE_INTERVALS=default,30s picks the rows.
IDLE_USERS ?= 10000
bench-idle:
	CTSYNC_IDLE_MESH=1 CTSYNC_IDLE_USERS=$(IDLE_USERS) $(GO) test -count=1 -run='^$$' -bench='^BenchmarkIdleMesh$$' -benchtime=1x -timeout 90m ./sync/e2e/

ci: lint tidy-check test

# Release binaries: static (CGO_ENABLED=0), without build paths (-trimpath),
# named by `git describe`. The binary's own version and revision come from
# the build info Go stamps from git (ctsync_build_info), so nothing is
# injected with -X; -buildvcs is explicit because a GOFLAGS=-buildvcs=false
# in the environment (as on these build machines) would drop them silently.
# Checksums in dist/SHA256SUMS (`sha256sum -c SHA256SUMS`).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
BUILDVCS ?= auto
RELEASE_PLATFORMS = linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64

release:
	@mkdir -p dist && rm -f dist/ctsync-* dist/SHA256SUMS
	@for p in $(RELEASE_PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; ext=; [ $$os = windows ] && ext=.exe; \
		out=dist/ctsync-$(VERSION)-$$os-$$arch$$ext; echo "build $$out"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -buildvcs=$(BUILDVCS) -ldflags='-s -w' -o $$out ./cmd/ctsync || exit 1; \
	done
	@cd dist && if command -v sha256sum >/dev/null; then sha256sum ctsync-*; else shasum -a 256 ctsync-*; fi > SHA256SUMS
	@cat dist/SHA256SUMS

# Proof that the other architectures and Windows build, without keeping
# the binaries. Not part of `make test`/`make ci`: a cold build of the Graph
# SDK for each extra GOOS/GOARCH takes minutes on a 2-core machine (measured:
# linux/arm64 16 min, windows/amd64 about 8, while other builds ran; 30 s
# and less once cached).
release-check:
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -o /dev/null ./cmd/ctsync
	CGO_ENABLED=0 GOOS=windows GOARCH=amd64 $(GO) build -trimpath -o /dev/null ./cmd/ctsync
