/* cmd_data.c - `augprobe data`: load (or download) CIFAR-10, check it, split
 * it, and print where it came from, whether it is verified, and the images
 * and class counts of each split. */
#include <stdio.h>
#include <string.h>

#include "cifar10.h"
#include "cli.h"
#include "common.h"

static const char USAGE[] =
    "Usage: augprobe data [--data PATH] [--seed N] [--no-download] [--quiet]\n"
    "Loads CIFAR-10 (downloading the official archive into data/ when no copy is\n"
    "found), checks it, splits the 50,000 training images into 40,000 train and\n"
    "10,000 validation images by --seed, and prints a summary.\n"
    "\n"
    "  --no-download  fail instead of downloading when no copy is found\n";

enum { OPT_NO_DOWNLOAD = 1 };

/* 40000 -> "40,000" */
static const char *thousands(long v, char *buf, size_t cap) {
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%ld", v < 0 ? -v : v);
    size_t o = 0;
    if (v < 0 && o + 1 < cap) buf[o++] = '-';
    for (int i = 0; i < n && o + 2 < cap; i++) {
        if (i && (n - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = 0;
    return buf;
}

static void class_counts(const ImageSet *s, long counts[CIFAR_CLASSES]) {
    memset(counts, 0, CIFAR_CLASSES * sizeof counts[0]);
    for (int i = 0; i < s->n; i++) counts[s->labels[i]]++;
}

int cmd_data(int argc, char **argv, GlobalOpts *g) {
    static const struct option opts[] = {
        CLI_GLOBAL_OPTIONS, {"no-download", no_argument, 0, OPT_NO_DOWNLOAD}, {0, 0, 0, 0}};
    int no_download = 0;
    cli_begin();
    int c;
    while ((c = getopt_long(argc, argv, CLI_OPTSTRING(""), opts, NULL)) != -1) {
        if (c == OPT_NO_DOWNLOAD) {
            no_download = 1;
            continue;
        }
        int rc = cli_global_result(cli_global_opt(c, "data", argv, g), USAGE);
        if (rc >= 0) return rc;
    }
    if (cli_no_positional("data", argc, argv)) return cli_usage_error(USAGE);

    Cifar10 d;
    Err e = {{0}};
    double t0 = now_seconds();
    if (cifar10_load(&d, g->data_dir, !no_download, g->quiet, g->threads, &e)) {
        fprintf(stderr, "augprobe data: %s\n", e.msg);
        return EXIT_FAIL;
    }
    double t_load = now_seconds() - t0;
    cifar10_split(&d, g->seed);

    char a[32], b[32], t[32];
    printf("source:   %s (%s)\n", d.source, path_is_dir(d.source) ? "directory" : "archive");
    printf("check:    %s: %s\n", d.verified ? "verified" : "unverified copy", d.note);
    printf("images:   train %s / val %s / test %s (split of the 50,000 by seed %llu)\n",
           thousands(d.train.n, a, sizeof a), thousands(d.val.n, b, sizeof b),
           thousands(d.test.n, t, sizeof t), (unsigned long long)g->seed);
    if (!g->quiet) printf("loaded:   %.2f s\n", t_load);
    long ct[CIFAR_CLASSES], cv[CIFAR_CLASSES], cs[CIFAR_CLASSES];
    class_counts(&d.train, ct);
    class_counts(&d.val, cv);
    class_counts(&d.test, cs);
    printf("\n%-3s %-14s %7s %7s %7s\n", "", "class", "train", "val", "test");
    for (int k = 0; k < CIFAR_CLASSES; k++)
        printf("%-3d %-14s %7ld %7ld %7ld\n", k, d.class_names[k], ct[k], cv[k], cs[k]);
    printf("%-3s %-14s %7d %7d %7d\n", "", "total", d.train.n, d.val.n, d.test.n);
    cifar10_free(&d);
    return EXIT_OK;
}
