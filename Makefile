# Thin wrapper around CMake: `make` builds, `make test` runs the suite, `make run` is the main job.
BUILD ?= build
SAN_BUILD ?= build-san
JOBS ?= $(shell nproc)
MODELS ?= models
CMAKE_FLAGS ?=

.PHONY: all build deps deps-extra test test-san run stop train clean format lint

all: build

build:
	@command -v cmake >/dev/null || $(MAKE) deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

deps:
	scripts/deps

# the suite's UI test needs Chromium (and the benchmarks wrk, nginx)
deps-extra:
	MOVIEREC_DEPS_EXTRA=1 scripts/deps

test: deps-extra build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The suite again under AddressSanitizer + UndefinedBehaviorSanitizer.
test-san: deps-extra
	cmake -S . -B $(SAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMR_SANITIZE=ON -DMR_BENCH=OFF $(CMAKE_FLAGS) >/dev/null
	cmake --build $(SAN_BUILD) -j $(JOBS)
	cd $(SAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS)

train: build
	$(BUILD)/movierec train --models $(MODELS)

run:
	scripts/deps
	$(MAKE) build
	scripts/run

stop:
	scripts/stop

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	  --inline-suppr --suppress=missingIncludeSystem -I src src

format:
	find src tests bench fuzz -name '*.[ch]' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(SAN_BUILD)
