/* fuzz_flags.c - libFuzzer harness for the flag-value parsers in src/cli.c:
 * cli_parse_long/int/u64/float and the global flags via cli_global_opt, on
 * arbitrary text. Byte 0 picks the parser and its range; the rest is the
 * value. Checks that an accepted value is in range and agrees with libc. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    char *val = malloc(size);
    memcpy(val, data + 1, size - 1);
    val[size - 1] = 0; /* the value ends at its first NUL, as argv would */
    int which = data[0] % 8;
    switch (which) {
    case 0: { /* epochs-like: [1, 100000] */
        int v = -7;
        if (cli_parse_int("fuzz", "--epochs", val, 1, 100000, &v) == 0) {
            if (v < 1 || v > 100000) abort();
            if (strtol(val, NULL, 10) != v) abort();
        } else if (v != -7) abort(); /* a rejected value leaves out untouched */
        break;
    }
    case 1: { /* a full-range long */
        long v = 0;
        if (cli_parse_long("fuzz", "--n", val, LONG_MIN, LONG_MAX, &v) == 0) {
            errno = 0;
            char *end;
            long ref = strtol(val, &end, 10);
            if (ref != v || *end || errno || !*val) abort();
        }
        break;
    }
    case 2: { /* a negative-including small range */
        int v = 0;
        if (cli_parse_int("fuzz", "--level", val, -5, 5, &v) == 0 && (v < -5 || v > 5)) abort();
        break;
    }
    case 3: {
        uint64_t v = 0;
        if (cli_parse_u64("fuzz", "--seed", val, &v) == 0) {
            if (!*val || val[0] == '-' || val[0] == '+') abort();
            if (strtoull(val, NULL, 10) != v) abort();
        }
        break;
    }
    case 4: { /* lr-like: (0, 10] written as [1e-9, 10] */
        float v = -1;
        if (cli_parse_float("fuzz", "--lr", val, 1e-9, 10, &v) == 0) {
            if (!isfinite(v) || v < 1e-9f * 0.999f || v > 10.0f) abort();
        }
        break;
    }
    case 5: { /* a full finite range */
        float v = 0;
        if (cli_parse_float("fuzz", "--x", val, -1e30, 1e30, &v) == 0 && !isfinite(v)) abort();
        break;
    }
    default: { /* the global flags, as getopt_long would hand them over */
        static const int codes[] = {OPT_DATA, OPT_SEED, OPT_THREADS};
        GlobalOpts g;
        cli_defaults(&g);
        char *argv[] = {"fuzz", "--x", val, NULL};
        optarg = val;
        optind = 3;
        int code = codes[(data[0] / 8) % 3];
        int r = cli_global_opt(code, "fuzz", argv, &g);
        if (r == 0 && code == OPT_THREADS && (g.threads < 1 || g.threads > 1024)) abort();
        if (r == 0 && code == OPT_DATA && g.data_dir != val) abort();
        if (r != 0 && r != -1) abort();
        break;
    }
    }
    free(val);
    return 0;
}
