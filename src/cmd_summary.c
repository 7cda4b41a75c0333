/* cmd_summary.c - `augprobe summary`: prints a network like Keras's
 * model.summary() (layer, output shape, parameter count, totals). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "common.h"
#include "net.h"

/* The probe head's input: the seed CNN's flattened features. */
#define RANKNET_FEATURES 2048

int cmd_summary(int argc, char **argv, GlobalOpts *g) {
    enum { OPT_ARCH = 1 };
    static const struct option opts[] = {CLI_GLOBAL_OPTIONS,
                                         {"arch", required_argument, 0, OPT_ARCH},
                                         {0, 0, 0, 0}};
    static const char use[] =
        "Usage: augprobe summary [--arch seed_cnn|ranknet_head]\n"
        "Prints the network like Keras's model.summary(): each layer's output shape and\n"
        "parameter count, then the totals (BN moving statistics are non-trainable).\n"
        "  --arch NAME    seed_cnn (the classifier, default) or ranknet_head (the probe's\n"
        "                 head on 2048 flattened features)\n";
    const char *arch = "seed_cnn";
    cli_begin();
    int c;
    while ((c = getopt_long(argc, argv, CLI_OPTSTRING(""), opts, NULL)) != -1) {
        if (c == OPT_ARCH) {
            arch = optarg;
            continue;
        }
        int rc = cli_global_result(cli_global_opt(c, "summary", argv, g), use);
        if (rc >= 0) return rc;
    }
    if (cli_no_positional("summary", argc, argv)) return cli_usage_error(use);
    int n_layers, h = 32, w = 32, ch = 3;
    const LayerSpec *specs;
    if (!strcmp(arch, "seed_cnn")) {
        specs = net_arch_seed_cnn(&n_layers);
    } else if (!strcmp(arch, "ranknet_head")) {
        specs = net_arch_ranknet_head(&n_layers);
        h = w = 1, ch = RANKNET_FEATURES;
    } else {
        fprintf(stderr, "augprobe summary: --arch: '%s' is not seed_cnn or ranknet_head\n", arch);
        return cli_usage_error(use);
    }
    Err e;
    Net *net = net_create(arch, specs, n_layers, h, w, ch, 1, 1, &e);
    if (!net) {
        fprintf(stderr, "augprobe summary: %s\n", e.msg);
        return EXIT_FAIL;
    }
    net_summary(net, stdout);
    net_free(net);
    return EXIT_OK;
}
