/* main.c - the augprobe command line: dispatches to a subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "common.h"
#include "device/device.h"
#include "kernels/kernels.h"
#include "omp_defaults.h"
#include "study_sched.h"

#ifdef _OPENMP
#include <omp.h>
#endif

const Command COMMANDS[] = {
    {"info", "version, compiler, SIMD path, threads, backends", cmd_info},
    {"data", "load (or download) CIFAR-10 and print a summary", cmd_data},
    {"summary", "print the network like Keras's model.summary()", cmd_summary},
    {"export", "write augmented images as CIFAR binary records", cmd_export},
    {"preview", "draw the 5x5 augmentation preview grid (PNG)", cmd_preview},
    {"train", "train the classifier (the notebook's recipe)", cmd_train},
    {"eval", "test accuracy, per-class accuracy, confusion matrix", cmd_eval},
    {"features", "one layer's features of a split as NumPy .npy files", cmd_features},
    {"probe", "RankNet probe: does a layer encode how much an image was augmented?", cmd_probe},
    {"study", "the whole experiment grid and its report", cmd_study},
};
const int N_COMMANDS = (int)(sizeof COMMANDS / sizeof COMMANDS[0]);

static void usage(FILE *f) {
    fprintf(f, "augprobe %s - do CNNs encode data augmentations?\n\n", AUGPROBE_VERSION);
    fprintf(f, "Usage: augprobe COMMAND [flags]    (augprobe COMMAND --help for its flags)\n\n");
    fprintf(f, "Commands:\n");
    for (int i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-9s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fprintf(f, "\n%s", CLI_GLOBAL_HELP);
}

int cmd_info(int argc, char **argv, GlobalOpts *g) {
    static const struct option opts[] = {CLI_GLOBAL_OPTIONS, {0, 0, 0, 0}};
    static const char use[] = "Usage: augprobe info [flags]\n"
                              "Prints the version, compiler, SIMD path, threads and backends.\n";
    cli_begin();
    int c;
    while ((c = getopt_long(argc, argv, CLI_OPTSTRING(""), opts, NULL)) != -1) {
        int rc = cli_global_result(cli_global_opt(c, "info", argv, g), use);
        if (rc >= 0) return rc;
    }
    if (cli_no_positional("info", argc, argv)) return cli_usage_error(use);
    const Kernels *k = kernels_cpu_best();
    printf("augprobe %s\n", AUGPROBE_VERSION);
    printf("compiler:  gcc %s\n", __VERSION__);
#ifdef _OPENMP
    printf("openmp:    %d\n", _OPENMP);
#else
    printf("openmp:    no\n");
#endif
    printf("simd:      %s (compiled: %s)\n", k->name, kernels_compiled());
    printf("threads:   %d\n", g->threads);
    printf("omp wait:  %s\n", omp_wait_policy_describe());
    printf("mpi:       %s\n", study_mpi_built()
                                   ? "yes (mpirun -np N augprobe study ... shares the study)"
                                   : "no (mpicc was not found at build time, or MPI=0): a "
                                     "study runs in one process");
    /* a CUDA build says whether a GPU opens here, and which */
    const DeviceOps *cuda = device_cuda();
    if (!cuda) {
        printf("backends:  cpu (no CUDA backend: nvcc was not found at build time)\n");
        return EXIT_OK;
    }
    Err e;
    Device *d = cuda->open(&e);
    if (!d) {
        printf("backends:  cpu, cuda (compiled; %s)\n", e.msg);
        return EXIT_OK;
    }
    char what[160];
    cuda->describe(d, what, sizeof what);
    cuda->close(d);
    printf("backends:  cpu, cuda (%s)\n", what);
    return EXIT_OK;
}

int main(int argc, char **argv) {
    omp_default_wait(argv);
    GlobalOpts g;
    cli_defaults(&g);
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
        usage(stdout);
        return EXIT_OK;
    }
    if (!strcmp(name, "--version")) {
        printf("augprobe %s\n", AUGPROBE_VERSION);
        return EXIT_OK;
    }
    for (int i = 0; i < N_COMMANDS; i++)
        if (!strcmp(name, COMMANDS[i].name)) return COMMANDS[i].run(argc - 1, argv + 1, &g);
    fprintf(stderr, "augprobe: unknown command '%s'\n", name);
    usage(stderr);
    return EXIT_USAGE;
}
