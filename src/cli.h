/* cli.h - what every subcommand shares: global flags, value parsing with
 * clear errors, and the command entry points (implemented in src/cmd_*.c). */
#ifndef AUGPROBE_CLI_H
#define AUGPROBE_CLI_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

typedef struct GlobalOpts {
    const char *data_dir; /* --data, else $AUGPROBE_DATA, else NULL (data/ or download) */
    uint64_t seed;        /* --seed, default 1 */
    int threads;          /* --threads (>= 1), default: all cores; passed to every
                             parallel loop, never set as OpenMP's global default */
    const char *device;   /* --device: cpu (default), cuda, auto, emulated */
    int quiet;            /* --quiet */
} GlobalOpts;

/* Option codes of the global flags; commands use their own codes below 1000. */
enum { OPT_DATA = 1000, OPT_SEED, OPT_THREADS, OPT_DEVICE, OPT_QUIET, OPT_HELP };

/* Put this at the start of every command's struct option table. */
#define CLI_GLOBAL_OPTIONS                                                           \
    {"data", required_argument, 0, OPT_DATA}, {"seed", required_argument, 0, OPT_SEED}, \
        {"threads", required_argument, 0, OPT_THREADS},                              \
        {"device", required_argument, 0, OPT_DEVICE},                                \
        {"quiet", no_argument, 0, OPT_QUIET}, {"help", no_argument, 0, OPT_HELP}

/* Help text for the global flags, to print in every command's usage. */
extern const char CLI_GLOBAL_HELP[];

/* A command: name, one-line summary, usage text, and entry point. The entry
 * point receives argv with argv[0] = command name. */
typedef struct Command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv, GlobalOpts *g);
} Command;

/* Sets defaults (seed 1, all cores, AUGPROBE_DATA). */
void cli_defaults(GlobalOpts *g);

/* The standard getopt_long loop step. Call with each code getopt_long
 * returned that the command does not handle itself. Handles the global flags
 * and errors. Returns 0 when handled, 1 when --help was asked (caller prints
 * usage and exits 0), or -1 after printing one clear error line (caller
 * prints usage and exits EXIT_USAGE). */
int cli_global_opt(int code, const char *cmd, char **argv, GlobalOpts *g);

/* Starts option parsing of a command (resets getopt, silences its own
 * messages; errors are printed by cli_global_opt). */
void cli_begin(void);
/* Optstring to pass to getopt_long: ":" plus the command's short options. */
#define CLI_OPTSTRING(shorts) ":" shorts

/* Strict value parsers: print "augprobe CMD: --flag: 'v' is not ..." and
 * return -1 on a malformed or out-of-range value. */
int cli_parse_long(const char *cmd, const char *flag, const char *val, long min, long max,
                   long *out);
int cli_parse_int(const char *cmd, const char *flag, const char *val, int min, int max,
                  int *out);
int cli_parse_u64(const char *cmd, const char *flag, const char *val, uint64_t *out);
int cli_parse_float(const char *cmd, const char *flag, const char *val, double min,
                    double max, float *out);
/* After parsing: rejects leftover positional arguments. */
int cli_no_positional(const char *cmd, int argc, char **argv);

/* Prints usage text (to stdout for --help, stderr for errors). */
void cli_print_usage(FILE *f, const char *usage);
/* Every command's answer to a bad command line: the usage on stderr, then
 * EXIT_USAGE (to return). */
int cli_usage_error(const char *usage);
/* What a command does with cli_global_opt's result r: -1 when parsing goes
 * on (r == 0); after --help the usage on stdout and EXIT_OK; after an error
 * cli_usage_error. A result >= 0 is the command's exit code. */
int cli_global_result(int r, const char *usage);

/* --arch NAME|FILE, checked when parsed (the network text loads and is
 * valid) and, when out is not NULL, copied into out[len]. Returns 0, or
 * after one printed line "augprobe CMD: ..." the exit code: EXIT_USAGE when
 * spec is neither a built-in name nor a file (or longer than out),
 * EXIT_FAIL when the file cannot be read or has an error. */
int cli_arch_flag(const char *cmd, const char *spec, char *out, size_t len);

/* Command entry points. */
int cmd_info(int argc, char **argv, GlobalOpts *g);
int cmd_data(int argc, char **argv, GlobalOpts *g);
int cmd_summary(int argc, char **argv, GlobalOpts *g);
int cmd_export(int argc, char **argv, GlobalOpts *g);
int cmd_preview(int argc, char **argv, GlobalOpts *g);
int cmd_train(int argc, char **argv, GlobalOpts *g);
int cmd_eval(int argc, char **argv, GlobalOpts *g);
int cmd_probe(int argc, char **argv, GlobalOpts *g);
int cmd_features(int argc, char **argv, GlobalOpts *g);
int cmd_study(int argc, char **argv, GlobalOpts *g);

extern const Command COMMANDS[];
extern const int N_COMMANDS;

#endif
