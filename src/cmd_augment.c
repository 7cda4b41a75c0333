/* cmd_augment.c - `augprobe export` (augmented images as CIFAR-10 binary
 * records) and `augprobe preview` (the notebook's 5x5 augmentation check as
 * a PNG, also drawn by `study` through preview.h). Both load CIFAR-10, split it
 * by --seed and augment with a spec. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "augment.h"
#include "cifar10.h"
#include "cli.h"
#include "common.h"
#include "plot.h"
#include "preview.h"

#define NOTEBOOK_SPEC "hflip,vflip,zoom=0.5:1.0"

enum { OPT_AUG = 1, OPT_SPLIT, OPT_LIMIT, OPT_OUTPUT, OPT_SCALE };
enum { SPLIT_TRAIN, SPLIT_VAL, SPLIT_TEST };
static const char *const SPLIT_NAMES[] = {"train", "val", "test"};

/* [0, 1] float to a byte: x * 255 rounded half away from zero, clamped. */
static uint8_t to_byte(float x) {
    float v = roundf(x * 255.0f);
    return v <= 0.0f ? 0 : v >= 255.0f ? 255 : (uint8_t)v;
}

/* The random stream of an export or preview: image i of split s gets
 * rng_stream(seed, rng_mix(stream_of(s), i)) inside aug_batch. */
static uint64_t stream_of(int split) { return rng_mix(RNG_TAG_AUGMENT, 1000u + (unsigned)split); }

static int parse_aug(const char *cmd, const char *text, AugSpec *spec) {
    Err e = {{0}};
    if (aug_parse(spec, text, &e)) {
        fprintf(stderr, "augprobe %s: --aug: %s\n", cmd, e.msg);
        return -1;
    }
    return 0;
}

static int load_data(const char *cmd, const GlobalOpts *g, Cifar10 *d) {
    Err e = {{0}};
    if (cifar10_load(d, g->data_dir, 1, g->quiet, g->threads, &e)) {
        fprintf(stderr, "augprobe %s: %s\n", cmd, e.msg);
        return -1;
    }
    cifar10_split(d, g->seed);
    return 0;
}

static const char EXPORT_USAGE[] =
    "Usage: augprobe export --aug SPEC --split train|val|test [--limit N] -o FILE [flags]\n"
    "Writes the images of a split, each augmented by SPEC with parameters drawn per\n"
    "image from --seed, as CIFAR-10 binary records: a label byte, then 1024 red,\n"
    "1024 green and 1024 blue bytes (pixel * 255 rounded, clamped to 0..255).\n"
    "--aug none reproduces the images byte for byte. The split is the seeded\n"
    "40,000/10,000 split of the training images, as in training.\n"
    "\n"
    "  --aug SPEC        augmentations, e.g. \"" NOTEBOOK_SPEC "\", \"zoom=0.7\",\n"
    "                    \"brightness=-0.2:0.2\", \"hflip=0.3\" or \"none\"; names:\n"
    "                    hflip vflip zoom aspect brightness contrast saturation hue\n"
    "                    rotation translation\n"
    "  --split S         train, val or test\n"
    "  --limit N         only the first N images of the split\n"
    "  -o, --output FILE where to write (atomically)\n";

int cmd_export(int argc, char **argv, GlobalOpts *g) {
    static const struct option opts[] = {CLI_GLOBAL_OPTIONS,
                                         {"aug", required_argument, 0, OPT_AUG},
                                         {"split", required_argument, 0, OPT_SPLIT},
                                         {"limit", required_argument, 0, OPT_LIMIT},
                                         {"output", required_argument, 0, 'o'},
                                         {0, 0, 0, 0}};
    const char *aug_text = NULL, *out_path = NULL;
    int split = -1, limit = -1;
    cli_begin();
    int c;
    while ((c = getopt_long(argc, argv, CLI_OPTSTRING("o:"), opts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case OPT_AUG: aug_text = optarg; break;
        case OPT_SPLIT:
            split = -1;
            for (int s = 0; s < 3; s++)
                if (!strcmp(optarg, SPLIT_NAMES[s])) split = s;
            if (split < 0) {
                fprintf(stderr, "augprobe export: --split: '%s' is not train, val or test\n",
                        optarg);
                bad = 1;
            }
            break;
        case OPT_LIMIT: bad = cli_parse_int("export", "--limit", optarg, 1, CIFAR_TRAIN_ALL, &limit); break;
        case 'o':
            if (!*optarg) {
                fprintf(stderr, "augprobe export: -o: empty path\n");
                bad = 1;
            }
            out_path = optarg;
            break;
        default: {
            int rc = cli_global_result(cli_global_opt(c, "export", argv, g), EXPORT_USAGE);
            if (rc >= 0) return rc;
        }
        }
        if (bad) return cli_usage_error(EXPORT_USAGE);
    }
    const char *missing = !aug_text ? "--aug" : split < 0 ? "--split" : !out_path ? "-o" : NULL;
    if (missing) fprintf(stderr, "augprobe export: %s is required\n", missing);
    AugSpec spec;
    if (missing || cli_no_positional("export", argc, argv) || parse_aug("export", aug_text, &spec)) {
        return cli_usage_error(EXPORT_USAGE);
    }

    /* The output first: an unwritable path fails before the data is read. */
    Err e = {{0}};
    AtomicFile af;
    if (atomic_open(&af, out_path, &e)) {
        fprintf(stderr, "augprobe export: %s\n", e.msg);
        return EXIT_FAIL;
    }
    Cifar10 d;
    if (load_data("export", g, &d)) {
        atomic_abort(&af);
        return EXIT_FAIL;
    }
    const ImageSet *set = split == SPLIT_TRAIN ? &d.train : split == SPLIT_VAL ? &d.val : &d.test;
    int n = limit > 0 && limit < set->n ? limit : set->n;
    enum { CHUNK = 512 };
    int *idx = xmalloc(sizeof(int) * CHUNK);
    float *buf = xalloc_floats((size_t)CHUNK * CIFAR_PIXELS);
    uint8_t *rec = xmalloc((size_t)CHUNK * CIFAR_RECORD);
    double t0 = now_seconds();
    for (int start = 0; start < n; start += CHUNK) {
        int m = n - start < CHUNK ? n - start : CHUNK;
        for (int i = 0; i < m; i++) idx[i] = start + i;
        aug_batch(&spec, set, idx, m, g->seed, stream_of(split), buf, g->threads);
        for (int i = 0; i < m; i++) {
            uint8_t *r = rec + (size_t)i * CIFAR_RECORD;
            const float *img = buf + (size_t)i * CIFAR_PIXELS;
            r[0] = set->labels[start + i];
            for (int p = 0; p < CIFAR_H * CIFAR_W; p++)
                for (int k = 0; k < 3; k++) r[1 + k * CIFAR_H * CIFAR_W + p] = to_byte(img[p * 3 + k]);
        }
        if (fwrite(rec, CIFAR_RECORD, (size_t)m, af.f) != (size_t)m) break; /* atomic_commit reports it */
    }
    double secs = now_seconds() - t0;
    free(idx), free(buf), free(rec);
    int rc = atomic_commit(&af, &e);
    if (rc) {
        fprintf(stderr, "augprobe export: %s\n", e.msg);
    } else if (!g->quiet) {
        char canon[512];
        aug_format(&spec, canon, sizeof canon);
        printf("wrote %d %s images (%s, seed %llu) to %s in %.2f s\n", n, SPLIT_NAMES[split], canon,
               (unsigned long long)g->seed, out_path, secs);
    }
    cifar10_free(&d);
    return rc ? EXIT_FAIL : EXIT_OK;
}

int augment_preview_png(const char *path, const Cifar10 *d, const AugSpec *spec, uint64_t seed,
                        int scale, int threads, int *n_drawn, Err *e) {
    enum { N = 25, COLS = 5 };
    int n = d->train.n < N ? d->train.n : N, idx[N];
    for (int i = 0; i < n; i++) idx[i] = i;
    float *buf = xalloc_floats((size_t)N * CIFAR_PIXELS);
    uint8_t *img = xmalloc((size_t)N * CIFAR_PIXELS);
    aug_batch(spec, &d->train, idx, n, seed, stream_of(SPLIT_TRAIN), buf, threads);
    for (size_t i = 0; i < (size_t)n * CIFAR_PIXELS; i++) img[i] = to_byte(buf[i]);
    const char *caps[N];
    for (int i = 0; i < n; i++) caps[i] = d->class_names[d->train.labels[i]];
    int rc = plot_image_grid_png(path, img, n, COLS, CIFAR_H, CIFAR_W, caps, scale, e);
    free(buf), free(img);
    if (n_drawn) *n_drawn = n;
    return rc;
}

static const char PREVIEW_USAGE[] =
    "Usage: augprobe preview [--aug SPEC] [-o FILE] [--scale N] [flags]\n"
    "Draws the notebook's check of its augmentation: the first 25 training images\n"
    "(of the seeded split), each augmented by SPEC, in a 5x5 grid, enlarged and\n"
    "captioned with their class names.\n"
    "\n"
    "  --aug SPEC        augmentations (default \"" NOTEBOOK_SPEC "\", the notebook's;\n"
    "                    see augprobe export --help)\n"
    "  -o, --output FILE PNG to write (default preview.png)\n"
    "  --scale N         enlargement, 1..16 (default 4)\n";

int cmd_preview(int argc, char **argv, GlobalOpts *g) {
    static const struct option opts[] = {CLI_GLOBAL_OPTIONS,
                                         {"aug", required_argument, 0, OPT_AUG},
                                         {"output", required_argument, 0, 'o'},
                                         {"scale", required_argument, 0, OPT_SCALE},
                                         {0, 0, 0, 0}};
    const char *aug_text = NOTEBOOK_SPEC, *out_path = "preview.png";
    int scale = 4;
    cli_begin();
    int c;
    while ((c = getopt_long(argc, argv, CLI_OPTSTRING("o:"), opts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case OPT_AUG: aug_text = optarg; break;
        case OPT_SCALE: bad = cli_parse_int("preview", "--scale", optarg, 1, 16, &scale); break;
        case 'o':
            if (!*optarg) {
                fprintf(stderr, "augprobe preview: -o: empty path\n");
                bad = 1;
            }
            out_path = optarg;
            break;
        default: {
            int rc = cli_global_result(cli_global_opt(c, "preview", argv, g), PREVIEW_USAGE);
            if (rc >= 0) return rc;
        }
        }
        if (bad) return cli_usage_error(PREVIEW_USAGE);
    }
    AugSpec spec;
    if (cli_no_positional("preview", argc, argv) || parse_aug("preview", aug_text, &spec)) {
        return cli_usage_error(PREVIEW_USAGE);
    }

    Cifar10 d;
    if (load_data("preview", g, &d)) return EXIT_FAIL;
    Err e = {{0}};
    int n = 0;
    int rc = augment_preview_png(out_path, &d, &spec, g->seed, scale, g->threads, &n, &e);
    if (rc)
        fprintf(stderr, "augprobe preview: %s\n", e.msg);
    else if (!g->quiet) {
        char canon[512];
        aug_format(&spec, canon, sizeof canon);
        printf("wrote %s: the first %d training images with %s (seed %llu)\n", out_path, n, canon,
               (unsigned long long)g->seed);
    }
    cifar10_free(&d);
    return rc ? EXIT_FAIL : EXIT_OK;
}
