# Trackstar: `make run` serves the demo config, `make test` runs every test. Both install what is
# missing first (Debian packages via apt-get; run as root or with sudo available).

SWIFT        ?= swift
DEB_PACKAGES := libuv1-dev liburing-dev pkg-config libsqlite3-dev libcurl4-openssl-dev openssl tzdata clickhouse-server \
                libloc-dev libloc-database location uap-core libpcre2-dev libmaxminddb-dev
BENCH_DEBS   := nginx-light wrk valgrind
# The management API's fuzzer (schemathesis, from PyPI into .build/api-venv) and the console's browser test.
API_DEBS     := python3-venv chromium chromium-driver
SUDO         := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CONFIG       ?= examples/trackstar.toml

.PHONY: all deps bench-deps api-deps api-test console-test build release run test bench loadtest loadtest-pinned loadtest-deliveries sanitize asan tsan fuzz clean

all: release

# Installs each missing Debian package; quiet when everything is there already.
define apt_install
	@missing=""; for p in $(1); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
endef

deps:
	$(call apt_install,$(DEB_PACKAGES))

bench-deps: deps
	$(call apt_install,$(BENCH_DEBS))

api-deps:
	$(call apt_install,$(API_DEBS))

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release --product trackstar

run: release
	.build/release/trackstar serve --config $(CONFIG)

# Every test, then the live-server tests again on the epoll receive path (the default, auto, takes
# io_uring where the kernel offers it; epoll is what older kernels and locked-down containers get).
test: deps api-deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	TRACKSTAR_TEST_IO=epoll $(SWIFT) test --skip-build --filter TrackstarServerTests
	./Tests/Api/schemathesis.sh $(API_EXAMPLES)
	python3 Tests/Api/console_browser.py

# The management API fuzzed from its OpenAPI document against a live server (about a minute at 25
# examples per operation); API_EXAMPLES=200 for a longer run.
API_EXAMPLES ?= 25
api-test: deps api-deps
	$(SWIFT) build
	./Tests/Api/schemathesis.sh $(API_EXAMPLES)

# The console in headless Chromium against a live server with seeded traffic; keeps screenshots in .build/api-report.
console-test: deps api-deps
	$(SWIFT) build
	python3 Tests/Api/console_browser.py

# The whole test suite under AddressSanitizer, then ThreadSanitizer; the live tests run the
# sanitized binary too. Separate build folders, so a normal build is not disturbed. Suppressions,
# each entry with the reason it is safe: Tests/lsan.supp and Tests/tsan.supp (docs/performance.md,
# "Sanitizers"). TSAN_REPORTS=DIR keeps the live servers' reports there (their stderr is discarded).
sanitize: asan tsan

asan: deps
	$(SWIFT) build --build-tests --scratch-path .build-asan --sanitize=address
	TRACKSTAR_SANITIZER=address LSAN_OPTIONS=suppressions=$(CURDIR)/Tests/lsan.supp TRACKSTAR_BINARY=$(CURDIR)/.build-asan/debug/trackstar $(SWIFT) test --skip-build --scratch-path .build-asan --sanitize=address

TSAN_REPORTS ?= $(CURDIR)/.build-tsan/reports
tsan: deps
	$(SWIFT) build --build-tests --scratch-path .build-tsan --sanitize=thread
	rm -rf $(TSAN_REPORTS) && mkdir -p $(TSAN_REPORTS)
	TRACKSTAR_SANITIZER=thread TSAN_OPTIONS="suppressions=$(CURDIR)/Tests/tsan.supp log_path=$(TSAN_REPORTS)/report" TRACKSTAR_BINARY=$(CURDIR)/.build-tsan/debug/trackstar $(SWIFT) test --skip-build --scratch-path .build-tsan --sanitize=thread
	@if ls $(TSAN_REPORTS)/report.* >/dev/null 2>&1; then echo "ThreadSanitizer reports in $(TSAN_REPORTS):"; ls $(TSAN_REPORTS); exit 1; fi

# libFuzzer harnesses (Fuzz/, a package of its own): each runs 60 s under ASan; crashes are kept.
fuzz: deps
	./Fuzz/run.sh 60

bench: bench-deps
	cd Benchmarks && $(SWIFT) package benchmark --no-progress
	cd Benchmarks && $(SWIFT) package benchmark thresholds check --metric mallocCountTotal --no-progress

loadtest: bench-deps release
	./loadtest/compare.sh

# The pinned comparison: server on one core, generator on the other; ratios against the do-nothing
# floor and nginx, keep-alive and one connection per click, feed off and the default configuration.
loadtest-pinned: bench-deps release
	./loadtest/pinned.sh

# Partner postbacks: deliveries/s to a loopback receiver, click throughput during a delivery storm.
loadtest-deliveries: bench-deps release
	cd loadtest && $(SWIFT) build -c release
	./loadtest/deliveries.sh

clean:
	rm -rf .build Benchmarks/.build
