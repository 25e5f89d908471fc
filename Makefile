# Every target works on a fresh Debian machine with Go; what a target needs
# from Debian (redis-server, tshark, freeDiameter) is installed when missing.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
GO      ?= go
# release: static (no cgo), reproducible (no paths, VCS stamp or build id) binaries.
DIST      ?= dist
PLATFORMS ?= linux/amd64 linux/arm64
RELEASE_FLAGS := -trimpath -buildvcs=false -ldflags "-s -w -buildid= $(LDFLAGS)"

.PHONY: all help build release release-check image run test test-short bench bench-sync bench-layout bench-edits bench-scale soak-hosts verify deps clean

## all: build the binaries (the default target)
all: build

## help: list the targets with what each does
help:
	@awk '/^## [a-z-]+:/ { sub(/^## /, ""); n = index($$0, ":"); printf "  %-13s %s\n", substr($$0, 1, n - 1), substr($$0, n + 2) }' $(MAKEFILE_LIST)

## build: build eird, eirctl and eirbench into bin/
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/ ./cmd/...

## release: static, reproducible eird, eirctl and eirbench for linux/amd64 and linux/arm64 in dist/<os>_<arch>/, with dist/SHA256SUMS (VERSION=, COMMIT= to override)
release:
	rm -rf $(DIST)
	@set -e; for p in $(PLATFORMS); do os=$${p%/*}; arch=$${p#*/}; \
	  echo "CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch" '$(GO) build $(RELEASE_FLAGS) -o $(DIST)/'"$${os}_$${arch}/" ./cmd/eird ./cmd/eirctl ./cmd/eirbench; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build $(RELEASE_FLAGS) -o $(DIST)/$${os}_$${arch}/ ./cmd/eird ./cmd/eirctl ./cmd/eirbench; \
	done
	cd $(DIST) && find . -type f ! -name SHA256SUMS | sed 's|^\./||' | LC_ALL=C sort | xargs sha256sum > SHA256SUMS
	cat $(DIST)/SHA256SUMS

## release-check: make release, then again from an empty build cache into .run/dist-check/; the two SHA256SUMS must be equal
release-check: release
	rm -rf .run/dist-check .run/gocache-check
	mkdir -p .run
	GOCACHE=$(CURDIR)/.run/gocache-check $(MAKE) --no-print-directory release DIST=.run/dist-check VERSION=$(VERSION) COMMIT=$(COMMIT)
	rm -rf .run/gocache-check
	cmp $(DIST)/SHA256SUMS .run/dist-check/SHA256SUMS
	@echo "release-check: the two builds are identical"

# image: the container image, built by podman from a staged context without
# any registry (FROM scratch); the binaries are built for the host's arch.
IMAGE         ?= localhost/eird
IMAGE_CONTEXT ?= .run/image
IMAGE_ARCH    ?= $(shell $(GO) env GOARCH)

## image: the container image localhost/eird:VERSION and :latest (IMAGE= to rename) with podman, from scratch (static eird and eirctl, CA certificates, deploy/container/eird.yaml; user 65532)
image:
	scripts/deps.sh podman update-ca-certificates
	rm -rf $(IMAGE_CONTEXT)
	mkdir -p $(IMAGE_CONTEXT)/rootfs/etc/ssl/certs $(IMAGE_CONTEXT)/rootfs/etc/eird $(IMAGE_CONTEXT)/rootfs/var/lib/eird
	CGO_ENABLED=0 GOOS=linux GOARCH=$(IMAGE_ARCH) $(GO) build $(RELEASE_FLAGS) -o $(IMAGE_CONTEXT)/rootfs/ ./cmd/eird ./cmd/eirctl
	install -m 0644 /etc/ssl/certs/ca-certificates.crt $(IMAGE_CONTEXT)/rootfs/etc/ssl/certs/
	install -m 0644 deploy/container/eird.yaml $(IMAGE_CONTEXT)/rootfs/etc/eird/
	printf 'root:x:0:0:root:/:/sbin/nologin\neird:x:65532:65532:eird:/var/lib/eird:/sbin/nologin\n' > $(IMAGE_CONTEXT)/rootfs/etc/passwd
	printf 'root:x:0:\neird:x:65532:\n' > $(IMAGE_CONTEXT)/rootfs/etc/group
	chmod 0644 $(IMAGE_CONTEXT)/rootfs/etc/passwd $(IMAGE_CONTEXT)/rootfs/etc/group
	chmod 0755 $(IMAGE_CONTEXT)/rootfs/eird $(IMAGE_CONTEXT)/rootfs/eirctl
	chmod 0700 $(IMAGE_CONTEXT)/rootfs/var/lib/eird
	podman build --format docker --layers=false --pull=never --platform linux/$(IMAGE_ARCH) --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) \
	  -f Containerfile -t $(IMAGE):$(VERSION) -t $(IMAGE):latest $(IMAGE_CONTEXT)


## run: build and start eird with the demo configuration (EIRD_CONFIG= for another), starting a local Redis for a loopback address where none answers; exits with eird's status
run: build
	scripts/run.sh

## deps: install what the tests drive when missing (redis-server, tshark, freeDiameterd, curl, h2load, promtool, podman, runc, podman-compose, CA certificates, ip)
deps:
	scripts/deps.sh redis-server tshark dumpcap freeDiameterd curl h2load promtool podman runc podman-compose update-ca-certificates systemd-analyze ip

## test: make verify, then every test with the race detector; tests start their own Redis, tshark and freeDiameter
test: deps verify
	$(GO) test -race -count=1 -timeout 20m ./...

## test-short: unit tests only (no Redis, no processes)
test-short:
	$(GO) test -race -count=1 ./eir/ ./eir/provision/ ./eir/memstore/ ./diameter/... ./config/ ./eir/observe/...

## bench: micro-benchmarks, Redis memory per IMEI, a 10-million-row registry sync, edits on a 10-million list and its local copy, then eird against a bare go-diameter server in the same run (eirbench ratio); writes BENCHMARKS.md
bench: build
	scripts/deps.sh redis-server
	mkdir -p .run
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./eir/ ./eir/redisstore/ ./eir/sighting/ ./diameter/ ./n5g/ | tee .run/micro.txt
	bin/eirbench layout -n 1000000,10000000 -markdown .run/layout.md
	bin/eirbench sync -n $${ROWS:-10000000} -markdown .run/sync.md
	bin/eirbench edits -n $${EDIT_ENTRIES:-10000000} -edits 1000 -compare 20 -markdown .run/edits.md
	cat .run/layout.md .run/sync.md .run/edits.md $$(test -f .run/exact.md && echo .run/exact.md) $$(test -f .run/scale.md && echo .run/scale.md) $$(test -f .run/observe-memory.md && echo .run/observe-memory.md) > .run/extra.md
	bin/eirbench ratio -rounds $${ROUNDS:-5} -observe-off-rounds $${OBSERVE_OFF_ROUNDS:-5} $${SOAK:+-soak $$SOAK} -markdown BENCHMARKS.md -micro .run/micro.txt -extra .run/extra.md

## bench-edits: 1,000 single edits into a 10-million-entry list while checks run (and 20 with overlays off), and the local copy's size and load time
bench-edits: build
	scripts/deps.sh redis-server
	bin/eirbench edits -n $${EDIT_ENTRIES:-10000000} -edits $${EDITS:-1000} -compare 20

## bench-scale: 100,000,000 IMEIs, 9,000,000 TACs, 1,000,000 ranges and 10,000,000 exceptions applied through the sync engine (own redis-server), then eird's cold start and S13 throughput against the reference, compared with 1,000,000 IMEIs; writes .run/scale.md (make bench adds it to BENCHMARKS.md). Needs about 12 GB of disk under SCALE_DIR (default: a temporary directory) and 8 GB of memory
bench-scale: build
	scripts/deps.sh redis-server
	mkdir -p .run
	bin/eirbench scale -imeis $${IMEIS:-100000000} -tacs $${TACS:-9000000} -ranges $${RANGES:-1000000} -pairs $${PAIRS:-10000000} $${SCALE_DIR:+-dir $$SCALE_DIR} -markdown .run/scale.md

## soak-hosts: the several-hosts scenario (3 eird in network namespaces, a Redis Cluster 3+3 and a Sentinel group) with master after master killed under load for SOAK (default 10m) each; needs root (ip netns)
soak-hosts: deps
	TEST_HOSTS_SOAK=$${SOAK:-10m} go test -race -count=1 -timeout 60m -run TestHostsRedis -v ./test/

## bench-sync: apply a generated 10-million-row DIRBS blacklist through the sync engine (own redis-server), then the same list with 50,000 other IMEIs (held by the guards); prints rows/s and bytes/IMEI
bench-sync: build
	scripts/deps.sh redis-server
	bin/eirbench sync -n $${ROWS:-10000000}

## bench-layout: Redis bytes per IMEI at 1 million IMEIs, or at each size of IMEIS=1000000,10000000 (own redis-server)
bench-layout: build
	scripts/deps.sh redis-server
	bin/eirbench layout -n $${IMEIS:-1000000}

## verify: gofmt, no build outputs or files over 1 MB (outside testdata/) tracked by git, go vet, go mod tidy
verify:
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	@bad=$$(git ls-files -z | xargs -0 -r sh -c 'for f; do [ -f "$$f" ] || continue; case "$$f" in testdata/*|*/testdata/*) big=0;; *) big=1048576;; esac; \
	    if head -c 4 "$$f" | grep -q ELF || { [ $$big -gt 0 ] && [ $$(stat -c %s "$$f") -gt $$big ]; }; then echo "$$f"; fi; done' sh); \
	  test -z "$$bad" || { echo "build outputs or large files tracked by git (git rm --cached them; .gitignore):"; echo "$$bad"; exit 1; }
	$(GO) vet ./...
	$(GO) mod tidy -diff

## clean: remove bin/, dist/ and .run/
clean:
	rm -rf bin dist .run
