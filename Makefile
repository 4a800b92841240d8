# The two commands of the README, and the variants CI and developers use.
# Everything goes through scripts/bootstrap first, so a fresh Debian 12
# machine needs nothing installed by hand.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: up test test-plain test-asan test-deploy build deps bench fuzz docs clean

up: build
	./$(BUILD)/bin/caisson up

test: test-plain test-asan

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
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
