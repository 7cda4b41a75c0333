/* cli.c - global flags and strict flag-value parsing shared by every command. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include "arch.h"
#include "common.h"
#include "device/device.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char CLI_GLOBAL_HELP[] =
    "Global flags:\n"
    "  --data DIR     CIFAR-10 directory or cifar-10-binary.tar.gz (default: $AUGPROBE_DATA,\n"
    "                 else data/, else download the official archive into data/)\n"
    "  --seed N       random seed (default 1)\n"
    "  --threads N    CPU threads (default: all cores)\n"
    "  --device D     where train, eval, probe and study compute: cpu (default),\n"
    "                 cuda (an NVIDIA GPU; needs a build with nvcc), auto (cuda when\n"
    "                 a GPU is there, else cpu), emulated (the GPU code on the CPU: slow,\n"
    "                 for tests)\n"
    "  --quiet        print only results and errors\n"
    "  --help         this help\n";

void cli_defaults(GlobalOpts *g) {
    memset(g, 0, sizeof *g);
    g->seed = 1;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    g->threads = n > 0 ? (int)n : 1;
    g->device = "cpu";
    const char *env = getenv("AUGPROBE_DATA");
    if (env && *env) g->data_dir = env;
}

void cli_begin(void) {
    optind = 0; /* GNU: full re-initialisation */
    opterr = 0;
}

int cli_global_opt(int code, const char *cmd, char **argv, GlobalOpts *g) {
    switch (code) {
    case OPT_DATA:
        if (!*optarg) {
            fprintf(stderr, "augprobe %s: --data: empty path\n", cmd);
            return -1;
        }
        g->data_dir = optarg;
        return 0;
    case OPT_SEED:
        return cli_parse_u64(cmd, "--seed", optarg, &g->seed);
    case OPT_THREADS:
        return cli_parse_int(cmd, "--threads", optarg, 1, 1024, &g->threads);
    case OPT_DEVICE: {
        DeviceChoice c;
        if (device_choice_parse(optarg, &c)) {
            fprintf(stderr, "augprobe %s: --device: '%s' is not one of cpu, cuda, auto, emulated\n",
                    cmd, optarg);
            return -1;
        }
        g->device = device_choice_name(c);
        return 0;
    }
    case OPT_QUIET:
        g->quiet = 1;
        return 0;
    case OPT_HELP:
        return 1;
    case ':':
        fprintf(stderr, "augprobe %s: %s needs a value\n", cmd, argv[optind - 1]);
        return -1;
    case '?':
        if (optopt)
            fprintf(stderr, "augprobe %s: unknown flag '-%c'\n", cmd, optopt);
        else
            fprintf(stderr, "augprobe %s: unknown flag '%s'\n", cmd, argv[optind - 1]);
        return -1;
    default:
        fprintf(stderr, "augprobe %s: unexpected flag\n", cmd);
        return -1;
    }
}

int cli_parse_long(const char *cmd, const char *flag, const char *val, long min, long max,
                   long *out) {
    char *end;
    errno = 0;
    long v = strtol(val, &end, 10);
    if (!*val || *end || errno) {
        fprintf(stderr, "augprobe %s: %s: '%s' is not an integer\n", cmd, flag, val);
        return -1;
    }
    if (v < min || v > max) {
        fprintf(stderr, "augprobe %s: %s: %ld is out of range [%ld, %ld]\n", cmd, flag, v, min,
                max);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_int(const char *cmd, const char *flag, const char *val, int min, int max,
                  int *out) {
    long v;
    if (cli_parse_long(cmd, flag, val, min, max, &v)) return -1;
    *out = (int)v;
    return 0;
}

int cli_parse_u64(const char *cmd, const char *flag, const char *val, uint64_t *out) {
    char *end;
    errno = 0;
    if (!*val || *val == '-' || *val == '+') {
        fprintf(stderr, "augprobe %s: %s: '%s' is not a non-negative integer\n", cmd, flag, val);
        return -1;
    }
    unsigned long long v = strtoull(val, &end, 10);
    if (*end || errno) {
        fprintf(stderr, "augprobe %s: %s: '%s' is not a non-negative integer\n", cmd, flag, val);
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

int cli_parse_float(const char *cmd, const char *flag, const char *val, double min,
                    double max, float *out) {
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    if (!*val || *end || errno || !isfinite(v)) {
        fprintf(stderr, "augprobe %s: %s: '%s' is not a number\n", cmd, flag, val);
        return -1;
    }
    if (v < min || v > max) {
        fprintf(stderr, "augprobe %s: %s: %g is out of range [%g, %g]\n", cmd, flag, v, min,
                max);
        return -1;
    }
    *out = (float)v;
    return 0;
}

int cli_no_positional(const char *cmd, int argc, char **argv) {
    if (optind < argc) {
        fprintf(stderr, "augprobe %s: unexpected argument '%s'\n", cmd, argv[optind]);
        return -1;
    }
    return 0;
}

void cli_print_usage(FILE *f, const char *usage) {
    fputs(usage, f);
    fputs("\n", f);
    fputs(CLI_GLOBAL_HELP, f);
}

int cli_usage_error(const char *usage) {
    cli_print_usage(stderr, usage);
    return EXIT_USAGE;
}

int cli_global_result(int r, const char *usage) {
    if (r == 0) return -1;
    if (r == 1) {
        cli_print_usage(stdout, usage);
        return EXIT_OK;
    }
    return cli_usage_error(usage);
}

int cli_arch_flag(const char *cmd, const char *spec, char *out, size_t len) {
    Arch a;
    Err e;
    int too_long = out && strlen(spec) >= len;
    int rc = too_long ? ARCH_NOT_FOUND : arch_load(&a, spec, &e);
    if (too_long) err_set(&e, "--arch: path too long");
    if (rc != ARCH_NOT_FOUND) arch_free(&a);
    if (rc == 0) {
        if (out) snprintf(out, len, "%s", spec);
        return 0;
    }
    fprintf(stderr, "augprobe %s: %s%s\n", cmd, rc == -1 ? "--arch: " : "", e.msg);
    return rc == ARCH_NOT_FOUND ? EXIT_USAGE : EXIT_FAIL;
}
