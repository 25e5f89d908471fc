# Every target works on a fresh Debian machine with Go; what a target needs
# from Debian (redis-server, tshark, freeDiameter) is installed when missing.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
GO      ?= go

.PHONY: all build run test test-short bench verify deps clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/ ./cmd/...

## run: build and start eird with the demo configuration (starts Redis if none answers)
run: build
	scripts/run.sh

deps:
	scripts/deps.sh redis-server tshark dumpcap freeDiameterd

## test: every test, with the race detector; tests start their own Redis, tshark and freeDiameter
test: deps
	$(GO) test -race -count=1 -timeout 20m ./...

## test-short: unit tests only (no Redis, no processes)
test-short:
	$(GO) test -race -count=1 ./eir/ ./eir/provision/ ./eir/memstore/ ./diameter/... ./config/ ./internal/redact/

bench: deps
	$(GO) test -run '^$$' -bench . -benchmem ./eir/... ./diameter/...

verify:
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(GO) mod tidy -diff

clean:
	rm -rf bin .run
