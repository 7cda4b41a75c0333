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
CORE_LDLIBS := -fopenmp -lm
# Kernels for a SIMD level are compiled with that level's flags only; the
# program picks one at run time, so it still runs without AVX-512.
AVX512_FLAGS := -mavx512f -mavx512vl -mavx512bw -mavx512dq -mavx2 -mfma
AVX2_FLAGS   := -mavx2 -mfma

BUILD   ?= build
BIN     ?= augprobe
SRCS    := $(wildcard src/*.c src/kernels/*.c src/device/*.c)
LIBSRCS := $(filter-out src/main.c,$(SRCS))
TESTSRCS:= $(wildcard tests/*.c)
OBJS    := $(SRCS:%.c=$(BUILD)/%.o)
LIBOBJS := $(LIBSRCS:%.c=$(BUILD)/%.o)
TESTOBJS:= $(TESTSRCS:%.c=$(BUILD)/%.o)

# The CUDA backend (src/device/cuda.cu) is built wherever nvcc is found;
# CUDA=0 leaves it out, CUDA=1 insists on it. Without it the build is the
# same C program, with src/device/cuda_stub.c's device_cuda() returning NULL.
ifeq ($(origin NVCC),undefined)
NVCC := $(shell command -v nvcc 2>/dev/null || \
          { [ -x /usr/local/cuda/bin/nvcc ] && echo /usr/local/cuda/bin/nvcc; })
endif
CUDA ?= auto
ifeq ($(CUDA),auto)
CUDA_ON := $(if $(NVCC),1,0)
else ifeq ($(CUDA),0)
CUDA_ON := 0
else
CUDA_ON := 1
ifeq ($(NVCC),)
$(error CUDA=$(CUDA) but no nvcc found; set NVCC=/path/to/nvcc)
endif
endif
# sm_90 is the H200; the embedded compute_90 PTX lets newer GPUs JIT it.
CUDA_ARCH ?= 90
# The toolkit root, from nvcc's place (.../bin/nvcc), for its libraries.
ifeq ($(origin CUDA_HOME)$(CUDA_ON),undefined1)
CUDA_HOME := $(patsubst %/bin/,%,$(dir $(shell command -v $(NVCC))))
endif
NVCCFLAGS ?= -O3
# -fmad=false: no fused multiply-adds the C code does not have, so the
# element-wise ops round as the CPU emulation's (they are memory-bound).
CUDA_FLAGS := -std=c++17 -Isrc -fmad=false \
              -gencode arch=compute_$(CUDA_ARCH),code=[sm_$(CUDA_ARCH),compute_$(CUDA_ARCH)] \
              -Xcompiler -Wall,-Wextra -MMD -MP
CUDA_OBJ  := $(BUILD)/src/device/cuda.o
ifeq ($(CUDA_ON),1)
override CFLAGS += -DAUGPROBE_CUDA
CUDA_LIBS := -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublas -lcudart -lstdc++
LDLIBS  += $(CUDA_LIBS)
CORE_LDLIBS += $(CUDA_LIBS)
OBJS    += $(CUDA_OBJ)
LIBOBJS += $(CUDA_OBJ)
endif
# Records CUDA_ON; every object depends on it. Rewritten (as the Makefile is
# read, so make -n stays exact) only when CUDA_ON changes, so switching the
# backend rebuilds the C objects (-DAUGPROBE_CUDA) instead of linking stale
# ones (a stub and cuda.o both defining device_cuda).
CUDA_STAMP := $(BUILD)/cuda.cfg
$(shell mkdir -p $(BUILD) && { echo $(CUDA_ON) | cmp -s - $(CUDA_STAMP) || echo $(CUDA_ON) > $(CUDA_STAMP); })

# MPI (src/study_mpi.c: `mpirun augprobe study`) is built wherever mpicc is
# found (Open MPI or MPICH: its compile and link flags come from `mpicc
# -show`, which both understand; the compiler stays $(CC)); MPI=0 leaves it
# out, MPI=1 insists on it. Without it study_mpi.c is a stub and a study runs
# in one process, as `augprobe info` says.
ifeq ($(origin MPICC),undefined)
MPICC := $(shell command -v mpicc 2>/dev/null)
endif
MPI ?= auto
ifeq ($(MPI),auto)
MPI_ON := $(if $(MPICC),1,0)
else ifeq ($(MPI),0)
MPI_ON := 0
else
MPI_ON := 1
ifeq ($(MPICC),)
$(error MPI=$(MPI) but no mpicc found; set MPICC=/path/to/mpicc)
endif
endif
ifeq ($(MPI_ON),1)
MPI_SHOW   := $(shell $(MPICC) -show)
ifeq ($(MPI_SHOW),)
$(error $(MPICC) -show printed nothing; build with MPI=0)
endif
MPI_CFLAGS := -DAUGPROBE_MPI $(filter -I% -D% -pthread,$(wordlist 2,999,$(MPI_SHOW)))
MPI_LIBS   := $(filter-out -I% -D% -c,$(wordlist 2,999,$(MPI_SHOW)))
LDLIBS     += $(MPI_LIBS)
endif
.DEFAULT_GOAL := all
MPI_STAMP := $(BUILD)/mpi.cfg
$(shell mkdir -p $(BUILD) && { echo $(MPI_ON) | cmp -s - $(MPI_STAMP) || echo $(MPI_ON) > $(MPI_STAMP); })
$(BUILD)/src/study_mpi.o: override CFLAGS += $(MPI_CFLAGS)
$(BUILD)/src/study_mpi.o: $(MPI_STAMP)

# make run: the data directory, when neither --data nor $AUGPROBE_DATA says.
RUN_DATA ?= $(shell if [ -n "$$AUGPROBE_DATA" ]; then echo "$$AUGPROBE_DATA"; \
             elif [ -e data ]; then echo data; \
             elif [ -d ../shared/data/cifar10-q75 ]; then echo ../shared/data/cifar10-q75; fi)
RUN_ARGS ?= study --quick --out runs/study

.PHONY: all deps run test check-asan bench bench-kernels fuzz fuzzers gpu-core clean
all: $(BIN)

# Before anything is compiled: tools/deps.sh checks the compiler and the
# libraries (pkg-config) and installs the missing Debian packages, printing
# the command first (NO_INSTALL=1: only prints it and stops). Silent, one
# pkg-config call, when everything is there. Every object waits for it
# (order-only, so it never forces a rebuild).
DEPS_PKGS ?= $(PKGS)
deps:
	@sh tools/deps.sh $(if $(filter-out 0,$(NO_INSTALL)),--no-install) --cc '$(CC)' $(DEPS_PKGS)

$(BIN): $(OBJS)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/run_tests: $(LIBOBJS) $(TESTOBJS)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%_avx512.o: %_avx512.c $(CUDA_STAMP) | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(AVX512_FLAGS) -c -o $@ $<

$(BUILD)/%_avx2.o: %_avx2.c $(CUDA_STAMP) | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(AVX2_FLAGS) -c -o $@ $<

$(BUILD)/%.o: %.c $(CUDA_STAMP) | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# nvcc's -MMD -MP writes cuda.d next to cuda.o; it is included below with
# the other objects' .d files, so header edits rebuild it too.
$(CUDA_OBJ): src/device/cuda.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) $(CUDA_FLAGS) -c -o $@ $<


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
# CUDA=0: the CUDA runtime and ASan do not mix; the GPU path is tested
# through the emulation anyway. MPI=0: the MPI library's own allocations
# would need suppressions; the MPI tests are skipped there (with the reason).
check-asan:
	$(MAKE) BUILD=build/asan BIN=build/asan/augprobe CFLAGS="$(SAN_CFLAGS)" CUDA=0 MPI=0 \
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
	$(MAKE) CC=$(FUZZ_CC) BUILD=build/fuzz CFLAGS="$(FUZZ_CFLAGS)" CUDA=0 MPI=0 fuzzers
	@set -e; for f in $(FUZZ); do \
	    mkdir -p build/fuzz/corpus/$$f build/fuzz/crashes; \
	    echo "== $$f ($(FUZZ_SECONDS) s)"; \
	    OMP_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=1 build/fuzz/fuzz/$$f -max_total_time=$(FUZZ_SECONDS) \
	        -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 -close_fd_mask=3 \
	        -artifact_prefix=build/fuzz/crashes/$$f- \
	        $$( [ -f fuzz/$$f.dict ] && echo -dict=fuzz/$$f.dict ) \
	        build/fuzz/corpus/$$f fuzz/corpus/$$f; \
	done

# make gpu-core: the engine alone (layers, kernels, net, Adam, augmentation,
# the device path with CUDA where nvcc is) with the engine's tests and the
# benchmark, linked without the I/O libraries (curl, archive, cJSON, cairo,
# OpenSSL): for a GPU machine whose image lacks their -dev packages
# (tools/gpu_check.sh). Tests that need the CLI or the data are not in it.
CORE_SRCS  := $(addprefix src/,common.c rng.c layers.c arch.c kinds.c net.c optim.c augment.c \
                omp_defaults.c) $(wildcard src/kernels/*.c src/device/*.c)
CORE_TESTS := $(addprefix tests/,test_main.c golden.c test_net.c test_device.c test_layers.c \
                test_kernels.c test_device_graph.c)
CORE_OBJS  := $(CORE_SRCS:%.c=$(BUILD)/%.o) $(if $(filter 1,$(CUDA_ON)),$(CUDA_OBJ))
gpu-core: $(BUILD)/core/run_tests $(BUILD)/core/bench
# The engine needs none of the libraries: deps checks only the compiler.
gpu-core: DEPS_PKGS :=
$(BUILD)/core/run_tests: $(CORE_OBJS) $(CORE_TESTS:%.c=$(BUILD)/%.o)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(CORE_LDLIBS)
$(BUILD)/core/bench: $(CORE_OBJS) $(patsubst %.c,$(BUILD)/%.o,$(wildcard bench/*.c))
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(CORE_LDLIBS)

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
