# The two commands of the README, and the variants CI and developers use.
# Everything goes through scripts/bootstrap first, so a fresh Debian 12
# machine needs nothing installed by hand.
BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: up test test-plain test-asan test-tsan test-deploy build deps bench fuzz docs lint clean

up: build
	./$(BUILD)/bin/caisson up

test: test-plain test-asan test-tsan

deps:
	@scripts/bootstrap

build: deps
	@cmake -S . -B $(BUILD) $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

test-plain: build
	ctest --test-dir $(BUILD) --output-on-failure -j 2

test-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCAISSON_SANITIZE=ON $(CMAKE_ARGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    ctest --test-dir $(ASAN_BUILD) --output-on-failure -j 2

# The suites labelled `threaded` (ui-bridge, tool-runner, event-log) under
# ThreadSanitizer. Every process writes its reports to $(TSAN_BUILD)/tsan
# (tests/CMakeLists.txt), so a race in a service a test spawned fails the
# run even when the test itself passed.
test-tsan: deps
	@cmake -S . -B $(TSAN_BUILD) -DCAISSON_TSAN=ON $(CMAKE_ARGS) >/dev/null
	@cmake --build $(TSAN_BUILD) -j $(JOBS)
	@rm -f $(TSAN_BUILD)/tsan/report.*
	@rc=0; ctest --test-dir $(TSAN_BUILD) -L threaded --output-on-failure -j 2 || rc=1; \
	if ls $(TSAN_BUILD)/tsan/report.* >/dev/null 2>&1; then \
	    cat $(TSAN_BUILD)/tsan/report.*; echo "test-tsan: ThreadSanitizer reports above"; rc=1; \
	fi; exit $$rc

# Static analysis: cppcheck over every C file, with the checks and the
# exclusions docs/development.md lists (.cppcheck/). Fails on any finding.
lint: deps
	cppcheck --quiet -j $(JOBS) --std=c11 --enable=warning,style,performance,portability \
	    --library=posix --library=gnu --library=.cppcheck/jansson.cfg --library=.cppcheck/cmocka.cfg \
	    --suppressions-list=.cppcheck/suppressions --inline-suppr --error-exitcode=1 \
	    --template='{file}:{line}: {severity} ({id}): {message}' \
	    -I libcommon -I . libcommon services tests bench

# Builds the images and proves compose.yaml with podman (tests/deploy/run).
test-deploy:
	tests/deploy/run

bench: build
	./$(BUILD)/bin/bench-bus
	./$(BUILD)/bin/bench-ui
	./$(BUILD)/bin/bench-tools
	./$(BUILD)/bin/bench-agent
	./$(BUILD)/bin/bench-eventlog
	./$(BUILD)/bin/bench-sandbox
	./$(BUILD)/bin/bench-memory
	./$(BUILD)/bin/bench-egress
	./$(BUILD)/bin/bench-gateway
	./$(BUILD)/bin/bench-mcp

fuzz: deps
	@cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCAISSON_FUZZ=ON >/dev/null
	@cmake --build build-fuzz -j $(JOBS) --target fuzz-proto
	./build-fuzz/bin/fuzz-proto -max_total_time=$${FUZZ_SECONDS:-60} -max_len=4096 build-fuzz/corpus
	@cmake --build build-fuzz -j $(JOBS) --target fuzz-llm
	@mkdir -p build-fuzz/corpus-llm
	./build-fuzz/bin/fuzz-llm -max_total_time=$${FUZZ_SECONDS:-60} -max_len=8192 build-fuzz/corpus-llm

docs: build
	./$(BUILD)/bin/caisson-docgen protocol > docs/protocol.md
	./$(BUILD)/bin/caisson-docgen configuration > docs/configuration.md
	@# docs/events.md: the kinds section between its markers, the prose kept
	./$(BUILD)/bin/caisson-docgen events > $(BUILD)/events-kinds.md
	awk -v gen=$(BUILD)/events-kinds.md '/^<!-- BEGIN generated/ { while ((getline l < gen) > 0) \
	    print l; skip = 1; next } skip && /^<!-- END generated/ { skip = 0; next } !skip' \
	    docs/events.md > $(BUILD)/events.md && mv $(BUILD)/events.md docs/events.md

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) build-fuzz
