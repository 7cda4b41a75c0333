# augprobe - build, test, run, bench. See README.md.
CC      ?= gcc
PKGS    := libcurl libarchive libcjson cairo libcrypto
CFLAGS  ?= -O3
# -fno-math-errno: no code reads errno after a math call, and without it
# sqrtf cannot be vectorised (Adam's update was 5x slower).
# override: a CFLAGS given on the command line (check-asan, fuzz) replaces
# only the optimisation/sanitizer part, never the language, warning,
# dependency and library flags here.
override CFLAGS += -std=c17 -Wall -Wextra -fopenmp -fno-math-errno -g -MMD -MP $(shell pkg-config --cflags $(PKGS))
LDLIBS  += $(shell pkg-config --libs $(PKGS)) -fopenmp -lm
# Kernels for a SIMD level are compiled with that level's flags only; the
# program picks one at run time, so it still runs without AVX-512.
AVX512_FLAGS := -mavx512f -mavx512vl -mavx512bw -mavx512dq -mavx2 -mfma
AVX2_FLAGS   := -mavx2 -mfma

BUILD   ?= build
BIN     ?= augprobe
SRCS    := $(wildcard src/*.c src/kernels/*.c)
LIBSRCS := $(filter-out src/main.c,$(SRCS))
TESTSRCS:= $(wildcard tests/*.c)
OBJS    := $(SRCS:%.c=$(BUILD)/%.o)
LIBOBJS := $(LIBSRCS:%.c=$(BUILD)/%.o)
TESTOBJS:= $(TESTSRCS:%.c=$(BUILD)/%.o)

# make run: the data directory, when neither --data nor $AUGPROBE_DATA says.
RUN_DATA ?= $(shell if [ -n "$$AUGPROBE_DATA" ]; then echo "$$AUGPROBE_DATA"; \
             elif [ -e data ]; then echo data; \
             elif [ -d ../shared/data/cifar10-q75 ]; then echo ../shared/data/cifar10-q75; fi)
RUN_ARGS ?= study --quick --out runs/study

.PHONY: all run test check-asan bench bench-kernels fuzz fuzzers clean
all: $(BIN)

$(BIN): $(OBJS)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/run_tests: $(LIBOBJS) $(TESTOBJS)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%_avx512.o: %_avx512.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(AVX512_FLAGS) -c -o $@ $<

$(BUILD)/%_avx2.o: %_avx2.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(AVX2_FLAGS) -c -o $@ $<

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

run: $(BIN)
	./$(BIN) $(RUN_ARGS) $(if $(RUN_DATA),--data $(RUN_DATA))

test: $(BIN) $(BUILD)/tests/run_tests
	AUGPROBE_BIN=./$(BIN) $(BUILD)/tests/run_tests $(T)

# The test suite under AddressSanitizer + UBSan + LeakSanitizer (separate
# build dir), the CLI tests running a sanitized ./augprobe too. A sanitizer
# report in a child exits 86, so a CLI test expecting exit 1 still fails.
SAN_CFLAGS := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
SAN_ENV    := ASAN_OPTIONS=detect_leaks=1:exitcode=86:abort_on_error=0 \
              UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=86 \
              LSAN_OPTIONS=exitcode=86:suppressions=$(CURDIR)/tests/lsan.supp AUGPROBE_ASAN=1
check-asan:
	$(MAKE) BUILD=build/asan BIN=build/asan/augprobe CFLAGS="$(SAN_CFLAGS)" \
	    build/asan/augprobe build/asan/tests/run_tests
	$(SAN_ENV) AUGPROBE_BIN=build/asan/augprobe build/asan/tests/run_tests $(T)

# libFuzzer harnesses (fuzz/fuzz_*.c, clang), each run FUZZ_SECONDS on a
# working corpus in build/fuzz/corpus/NAME seeded from fuzz/corpus/NAME.
# Crashes land in build/fuzz/crashes/. FUZZ=name runs one harness.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ         ?= $(patsubst fuzz/%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_CFLAGS  := -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
                -fno-sanitize-recover=undefined
fuzzers: $(patsubst %,$(BUILD)/fuzz/%,$(FUZZ))
$(BUILD)/fuzz/%: fuzz/%.c $(LIBOBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer -o $@ $< $(filter %.o,$^) $(LDLIBS)
# This harness includes src/cifar10.c to reach its static parsers.
$(BUILD)/fuzz/fuzz_cifar_batch: fuzz/fuzz_cifar_batch.c $(filter-out $(BUILD)/src/cifar10.o,$(LIBOBJS))
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer -o $@ $< $(filter %.o,$^) $(LDLIBS)
fuzz:
	$(MAKE) CC=$(FUZZ_CC) BUILD=build/fuzz CFLAGS="$(FUZZ_CFLAGS)" fuzzers
	@set -e; for f in $(FUZZ); do \
	    mkdir -p build/fuzz/corpus/$$f build/fuzz/crashes; \
	    echo "== $$f ($(FUZZ_SECONDS) s)"; \
	    OMP_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=1 build/fuzz/fuzz/$$f -max_total_time=$(FUZZ_SECONDS) \
	        -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 -close_fd_mask=3 \
	        -artifact_prefix=build/fuzz/crashes/$$f- \
	        $$( [ -f fuzz/$$f.dict ] && echo -dict=fuzz/$$f.dict ) \
	        build/fuzz/corpus/$$f fuzz/corpus/$$f; \
	done

# make bench: augprobe vs the PyTorch peer on the same work (see bench/bench.c).
BENCHSRCS := $(wildcard bench/*.c)
$(BUILD)/bench/bench: $(LIBOBJS) $(BENCHSRCS:%.c=$(BUILD)/%.o)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

bench: $(BUILD)/bench/bench
	$(BUILD)/bench/bench $(BENCH_ARGS)

# make bench-kernels: per-layer times of the kernels on the seed net's shapes
# (bench/kernels/kernels_bench.c; not part of bench/bench).
$(BUILD)/bench/kernels/kernels_bench: $(BUILD)/bench/kernels/kernels_bench.o \
    $(BUILD)/bench/peak.o $(BUILD)/bench/peak_avx512.o $(BUILD)/bench/peak_avx2.o $(LIBOBJS)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

bench-kernels: $(BUILD)/bench/kernels/kernels_bench
	$(BUILD)/bench/kernels/kernels_bench $(BENCH_KERNELS_ARGS)

# Where a whole training step's time goes, per kernel call (step_profile.c).
$(BUILD)/bench/kernels/step_profile: $(BUILD)/bench/kernels/step_profile.o $(LIBOBJS)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

clean:
	rm -rf build augprobe

-include $(OBJS:.o=.d) $(TESTOBJS:.o=.d) $(BENCHSRCS:%.c=$(BUILD)/%.d) $(wildcard $(BUILD)/fuzz/*.d)
