# alignlab: a thin wrapper over CMake. `make reproduce` and `make test` are the two commands.
BUILD    ?= build
SANBUILD ?= build-sanitize
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE    ?= cmake
PREFIX   ?= /usr/local

.PHONY: all deps build test test-sanitize bench reproduce smoke notes install clean soak fuzz

all: build

deps:
	@sh scripts/deps.sh

$(BUILD)/CMakeCache.txt:
	$(CMAKE) -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=$(PREFIX)

build: $(BUILD)/CMakeCache.txt
	$(CMAKE) --build $(BUILD) -j $(JOBS)

test: deps
	$(MAKE) build
	cd $(BUILD) && ctest --output-on-failure -j 1

test-sanitize: deps
	$(CMAKE) -S . -B $(SANBUILD) -DCMAKE_BUILD_TYPE=Debug -DAL_SANITIZE=ON -DAL_NATIVE=OFF
	$(CMAKE) --build $(SANBUILD) -j $(JOBS)
	cd $(SANBUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ALIGNLAB_SMOKE=1 ALIGNLAB_SANITIZE=1 CRITERION_NO_EARLY_EXIT=1 \
	  ctest --output-on-failure -j 1

# kill -9 at random moments and resume, many times per trainer (SOAK_KILLS each; make test kills once)
SOAK_KILLS ?= 8
soak: build
	ALIGNLAB_SOAK_KILLS=$(SOAK_KILLS) OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 ALIGNLAB_SHELL=$(CURDIR)/$(BUILD)/alignlab \
	  $(BUILD)/alignlab tests/soak_kill_resume.lua

# libFuzzer harnesses (clang) and the Lua parsers' fuzzer, FUZZ_SECONDS each (tests/fuzz/README.md)
FUZZ_SECONDS ?= 60
fuzz: build
	FUZZ_SECONDS=$(FUZZ_SECONDS) sh tests/fuzz/fuzz.sh $(CURDIR)/$(BUILD)

bench: deps
	$(MAKE) build
	sh bench/run.sh $(BUILD)

reproduce: deps
	$(MAKE) build
	$(BUILD)/alignlab reproduce

smoke: build
	$(BUILD)/alignlab reproduce --smoke

notes: deps
	$(MAKE) build
	$(BUILD)/alignlab weave --all notebooks -o $(BUILD)/notes
	@echo "the course: $(BUILD)/notes/index.html"

install: build
	$(CMAKE) --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) $(SANBUILD)
