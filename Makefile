# Thin wrapper around CMake/ctest. See README.md.
BUILD     ?= build
ASAN_BUILD ?= build-asan
TYPE      ?= Release
JOBS      ?= $(shell nproc)
CMAKE_ARGS ?=
DATA      ?= ./data

.PHONY: all deps build run test test-asan bench clean

all: build

deps:
	@tools/install-deps

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(TYPE) $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: deps build
	@mkdir -p $(DATA)
	@echo "nsqd: TCP 127.0.0.1:4150, HTTP 127.0.0.1:4151, data in $(DATA) (Ctrl-C stops it)"
	@echo "try:  curl -d hello 'http://127.0.0.1:4151/pub?topic=test'"
	@exec $(BUILD)/bin/nsqd --tcp-address=127.0.0.1:4150 --http-address=127.0.0.1:4151 --data-path=$(DATA)

test: deps build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan: deps
	@$(MAKE) --no-print-directory build BUILD=$(ASAN_BUILD) TYPE=Debug \
	  CMAKE_ARGS="-DCNSQ_SANITIZE=address,undefined -DCNSQ_WERROR=ON"
	@cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS)

bench: deps build
	@tools/bench/run $(BUILD)/bin

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
