/* cmd_summary.c - `augprobe summary`: prints a network like Keras's
 * model.summary() (layer, output shape, parameter count, totals). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "common.h"
#include "cifar10.h"
#include "net.h"

/* The probe head's input: the seed CNN's flattened features. */
#define RANKNET_FEATURES 2048

int cmd_summary(int argc, char **argv, GlobalOpts *g) {
    enum { OPT_ARCH = 1 };
    static const struct option opts[] = {CLI_GLOBAL_OPTIONS,
                                         {"arch", required_argument, 0, OPT_ARCH},
                                         {0, 0, 0, 0}};
    static const char use[] =
        "Usage: augprobe summary [--arch NAME|FILE]\n"
        "Prints the network like Keras's model.summary(): each layer's output shape and\n"
        "parameter count, then the totals (BN moving statistics are non-trainable).\n"
        "  --arch NAME|FILE  seed_cnn (the classifier, default), ranknet_head (the probe's\n"
        "                 head on 2048 flattened features), or a network file (README:\n"
        "                 the network text format) on 32x32x3 images\n";
    const char *arch = "seed_cnn";
    cli_begin();
    int c;
    while ((c = getopt_long(argc, argv, CLI_OPTSTRING(""), opts, NULL)) != -1) {
        if (c == OPT_ARCH) {
            int r = cli_arch_flag("summary", optarg, NULL, 0);
            if (r) return r == EXIT_USAGE ? cli_usage_error(use) : r;
            arch = optarg;
            continue;
        }
        int rc = cli_global_result(cli_global_opt(c, "summary", argv, g), use);
        if (rc >= 0) return rc;
    }
    if (cli_no_positional("summary", argc, argv)) return cli_usage_error(use);
    /* the probe's head takes feature vectors; every other network CIFAR-10 images */
    int h = CIFAR_H, w = CIFAR_W, ch = CIFAR_C;
    if (!strcmp(arch, "ranknet_head")) h = w = 1, ch = RANKNET_FEATURES;
    Err e;
    Arch a;
    int rc = arch_load(&a, arch, &e);
    if (rc == ARCH_NOT_FOUND) {
        fprintf(stderr, "augprobe summary: %s\n", e.msg);
        return cli_usage_error(use);
    }
    Net *net = rc ? NULL : net_create(&a, h, w, ch, 1, 1, &e);
    arch_free(&a);
    if (!net) {
        fprintf(stderr, "augprobe summary: %s\n", e.msg);
        return EXIT_FAIL;
    }
    net_summary(net, stdout);
    net_free(net);
    return EXIT_OK;
}
