# augprobe - build, test, run, bench. See README.md.
CC      ?= gcc
PKGS    := libcurl libarchive libcjson cairo libcrypto
CFLAGS  ?= -O3
# -fno-math-errno: no code reads errno after a math call, and without it
# sqrtf cannot be vectorised (Adam's update was 5x slower).
CFLAGS  += -std=c17 -Wall -Wextra -fopenmp -fno-math-errno -g -MMD -MP $(shell pkg-config --cflags $(PKGS))
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

.PHONY: all run test check-asan bench bench-kernels fuzz clean
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

# The test suite under AddressSanitizer + UBSan (separate build dir).
check-asan:
	$(MAKE) BUILD=build/asan CFLAGS="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	    LDLIBS_EXTRA= build/asan/tests/run_tests
	ASAN_OPTIONS=detect_leaks=1 AUGPROBE_ASAN=1 build/asan/tests/run_tests $(T)

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

-include $(OBJS:.o=.d) $(TESTOBJS:.o=.d) $(BENCHSRCS:%.c=$(BUILD)/%.d)
