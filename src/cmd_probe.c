/* cmd_probe.c - `augprobe probe`: the RankNet experiment on a frozen
 * network's features (see probe.h), printed as the notebook does and saved
 * as probe.json. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "augment.h"
#include "checkpoint.h"
#include "cifar10.h"
#include "cli.h"
#include "common.h"
#include "dirlock.h"
#include "resources.h"
#include "net.h"
#include "probe.h"
#include "train.h"

static const char USAGE[] =
    "Usage: augprobe probe [flags]\n"
    "Freezes a trained network, shows it two copies of each image augmented by\n"
    "different amounts, and trains a RankNet head on one layer's features to say\n"
    "which copy was augmented more. Training pairs come from the validation split,\n"
    "test pairs from the test split; pairs with equal levels (ties) are counted\n"
    "but excluded from the loss and the accuracy.\n"
    "\n"
    "Flags:\n"
    "  --model FILE     trained network (model or checkpoint .safetensors from\n"
    "                   `augprobe train`), or 'random': the untrained control\n"
    "                   (net_init(--seed)), or a floor that needs no network:\n"
    "                   'pixels' (the augmented image, 3,072 values) or 'stats'\n"
    "                   (RGB means and sds, mean saturation, high-frequency\n"
    "                   energy) (default runs/train/model.safetensors)\n"
    "  --aug FAMILY     augmentation to probe (default zoom); default levels:\n"
    "%s"
    "  --levels A,B,..  levels to draw pairs from (2..16 distinct values in the\n"
    "                   family's valid range), instead of the defaults; 'ladder':\n"
    "                   the study's finer ladder (src/augment.h)\n"
    "  --pairs MODE     same (default, the notebook's: two copies of one image) or\n"
    "                   cross (a and b from different images)\n"
    "  --head KIND      mlp (default, the notebook's RankNet head) or linear\n"
    "                   (standardised features, L2-regularised, same loss)\n"
    "  --arch NAME|FILE the network: the one to load --model into (default: the\n"
    "                   one the file records; another is an error), or to\n"
    "                   initialise for --model random (default seed_cnn)\n"
    "  --layer NAME     layer whose output is probed (default flatten, as the\n"
    "                   notebook): a layer name of `augprobe summary`, or a tap\n"
    "                   label of the network (tap=LABEL; a spatial tap is then\n"
    "                   averaged over space unless --pool says otherwise)\n"
    "  --input-size N   the network's input side: the 32x32 images are resized\n"
    "                   (bilinear, as PyTorch's F.interpolate) to NxN (default 32;\n"
    "                   224 for resnet18-imagenet's pre-trained weights)\n"
    "  --normalize MODE none (default: pixels in [0, 1]) or imagenet (ImageNet's\n"
    "                   per-channel mean and sd, as torchvision's weights expect)\n"
    "  --pool MODE      how a spatial layer becomes a vector: flatten (default: all\n"
    "                   h*w*c values) or avg (mean over space: c values)\n"
    "  --passes N       passes over each split when drawing pairs (default 4)\n"
    "  --epochs N       epochs of the head (default 50)\n"
    "  --batch N        pairs per step (default 32)\n"
    "  --limit N        use only the first N images of val and of test (0 = all)\n"
    "  --max-memory MB  refuse a split's feature cache larger than this (default 1536)\n"
    "  --out DIR        where probe.json goes (default runs/probe)\n"
    "  --keep-features DIR  also keep the feature caches as NumPy files:\n"
    "                   DIR/val.npy, DIR/test.npy (float32 [levels, images, dim]),\n"
    "                   DIR/val.labels.npy, DIR/test.labels.npy (int64), DIR/levels.npy\n"
    "\n"
    "Prints the notebook's lines 'where a has more aug : n / N' (pairs where a's\n"
    "level is further from the identity: for zoom the smaller factor, the\n"
    "notebook's target < 0) and 'where b has more aug', the ties, the non-tie\n"
    "test accuracy and the accuracy per level gap |a - b|, then the accuracy's 95%%\n"
    "interval (bootstrap over test images) and the 75%% threshold gap; writes\n"
    "DIR/probe.json and DIR/probe.csv (accuracy per gap).\n";

enum {
    OPT_MODEL = 1,
    OPT_AUG,
    OPT_LEVELS,
    OPT_LAYER,
    OPT_POOL,
    OPT_PASSES,
    OPT_EPOCHS,
    OPT_BATCH,
    OPT_LIMIT,
    OPT_MAXMEM,
    OPT_OUT,
    OPT_PAIRS,
    OPT_HEAD,
    OPT_KEEP,
    OPT_ARCH,
    OPT_INPUT_SIZE,
    OPT_NORMALIZE,
};

/* The usage text with every family's default levels filled in. */
static void print_usage(FILE *f) {
    char levels[2048] = "";
    size_t used = 0;
    for (int k = 0; k < AUG_KINDS; k++) {
        float lv[PROBE_MAX_LEVELS];
        int n = aug_default_levels((AugKind)k, lv);
        if (n < 2) continue; /* flips have no levels */
        int w = snprintf(levels + used, sizeof levels - used, "                     %-12s",
                         aug_kind_name((AugKind)k));
        for (int i = 0; i < n && w > 0 && used + (size_t)w < sizeof levels; i++) {
            used += (size_t)w;
            w = snprintf(levels + used, sizeof levels - used, "%s%g", i ? "," : "", lv[i]);
        }
        if (w > 0 && used + (size_t)w < sizeof levels) used += (size_t)w;
        if (used + 2 < sizeof levels) {
            levels[used++] = '\n';
            levels[used] = 0;
        }
    }
    char *text = xmalloc(sizeof USAGE + sizeof levels);
    snprintf(text, sizeof USAGE + sizeof levels, USAGE, levels);
    cli_print_usage(f, text);
    free(text);
}

static int usage_error(void) {
    print_usage(stderr);
    return EXIT_USAGE;
}

/* The frozen trunk, its parameters still zero: --arch's network, else the
 * one the model file records (a file whose header cannot be read, or no
 * file: seed_cnn, so that loading it names the problem), for inputs of
 * size x size (a batch of 128 at 32x32, fewer for larger inputs), and its
 * host memory in *net_bytes (net_memory_bytes). Any number of outputs: the
 * probe reads layers, not classes. */
static Net *probe_trunk(const char *model, const char *arch, int size, int threads,
                        uint64_t *net_bytes, Err *e) {
    Arch a;
    if (train_model_arch(model, arch, &a, e)) return NULL;
    long batch = 128L * CIFAR_H * CIFAR_W / ((long)size * size);
    int max_batch = batch < 1 ? 1 : batch > 128 ? 128 : (int)batch;
    Net *net = net_memory_bytes(&a, size, size, CIFAR_C, max_batch, 0, net_bytes, e)
                   ? NULL
                   : net_create(&a, size, size, CIFAR_C, max_batch, threads > 0 ? threads : 1, e);
    arch_free(&a);
    return net;
}

/* --layer LABEL naming a tap (tap=LABEL) rather than a layer: the tap's
 * node into c->layer, and (unless --pool was given) avg for a spatial one.
 * A layer name is left as it is. */
static void layer_from_tap(const Net *trunk, ProbeConfig *c, int pool_given) {
    if (net_find_layer(trunk, c->layer) >= 0) return;
    for (int i = 0; i < trunk->n_layers; i++) {
        const Layer *l = &trunk->layers[i];
        if (!l->spec.tap[0] || strcmp(l->spec.tap, c->layer)) continue;
        snprintf(c->layer, sizeof c->layer, "%s", l->spec.name);
        if (!pool_given) c->pool = l->h * l->w > 1 ? PROBE_POOL_AVG : PROBE_POOL_FLATTEN;
        return;
    }
}

int cmd_probe(int argc, char **argv, GlobalOpts *g) {
    static const struct option opts[] = {CLI_GLOBAL_OPTIONS,
                                         {"model", required_argument, 0, OPT_MODEL},
                                         {"aug", required_argument, 0, OPT_AUG},
                                         {"levels", required_argument, 0, OPT_LEVELS},
                                         {"layer", required_argument, 0, OPT_LAYER},
                                         {"pool", required_argument, 0, OPT_POOL},
                                         {"passes", required_argument, 0, OPT_PASSES},
                                         {"epochs", required_argument, 0, OPT_EPOCHS},
                                         {"batch", required_argument, 0, OPT_BATCH},
                                         {"limit", required_argument, 0, OPT_LIMIT},
                                         {"max-memory", required_argument, 0, OPT_MAXMEM},
                                         {"out", required_argument, 0, OPT_OUT},
                                         {"pairs", required_argument, 0, OPT_PAIRS},
                                         {"head", required_argument, 0, OPT_HEAD},
                                         {"keep-features", required_argument, 0, OPT_KEEP},
                                         {"arch", required_argument, 0, OPT_ARCH},
                                         {"input-size", required_argument, 0, OPT_INPUT_SIZE},
                                         {"normalize", required_argument, 0, OPT_NORMALIZE},
                                         {0, 0, 0, 0}};
    ProbeConfig c;
    probe_config_defaults(&c);
    const char *model = "runs/train/model.safetensors", *out_dir = "runs/probe";
    const char *levels_text = NULL, *arch = NULL;
    int max_mb = 1536, pool_given = 0, input_size = CIFAR_H;
    Err e = {{0}};
    cli_begin();
    int code;
    while ((code = getopt_long(argc, argv, CLI_OPTSTRING(""), opts, NULL)) != -1) {
        switch (code) {
        case OPT_MODEL:
            model = optarg;
            break;
        case OPT_AUG: {
            int k = aug_kind_from_name(optarg);
            float lv[PROBE_MAX_LEVELS];
            if (k < 0 || aug_default_levels((AugKind)k, lv) < 2) {
                fprintf(stderr,
                        "augprobe probe: --aug: '%s' is not a probed family (zoom, aspect, "
                        "brightness, contrast, saturation, hue, rotation, translation, "
                        "blur)\n",
                        optarg);
                return usage_error();
            }
            probe_config_family(&c, (AugKind)k);
            break;
        }
        case OPT_LEVELS:
            levels_text = optarg;
            break;
        case OPT_LAYER:
            if (!*optarg || strlen(optarg) >= sizeof c.layer) {
                fprintf(stderr, "augprobe probe: --layer: '%s' is not a layer name\n", optarg);
                return usage_error();
            }
            snprintf(c.layer, sizeof c.layer, "%s", optarg);
            break;
        case OPT_POOL:
            pool_given = 1;
            if (!strcmp(optarg, "flatten")) c.pool = PROBE_POOL_FLATTEN;
            else if (!strcmp(optarg, "avg")) c.pool = PROBE_POOL_AVG;
            else {
                fprintf(stderr, "augprobe probe: --pool: '%s' is not flatten or avg\n", optarg);
                return usage_error();
            }
            break;
        case OPT_PAIRS:
            if (!strcmp(optarg, "same")) c.pairs = PROBE_PAIRS_SAME;
            else if (!strcmp(optarg, "cross")) c.pairs = PROBE_PAIRS_CROSS;
            else {
                fprintf(stderr, "augprobe probe: --pairs: '%s' is not same or cross\n", optarg);
                return usage_error();
            }
            break;
        case OPT_HEAD:
            if (!strcmp(optarg, "mlp")) c.head = PROBE_HEAD_MLP;
            else if (!strcmp(optarg, "linear")) c.head = PROBE_HEAD_LINEAR;
            else {
                fprintf(stderr, "augprobe probe: --head: '%s' is not mlp or linear\n", optarg);
                return usage_error();
            }
            break;
        case OPT_PASSES:
            if (cli_parse_int("probe", "--passes", optarg, 1, 1000, &c.passes))
                return usage_error();
            break;
        case OPT_EPOCHS:
            if (cli_parse_int("probe", "--epochs", optarg, 1, 100000, &c.epochs))
                return usage_error();
            break;
        case OPT_BATCH:
            if (cli_parse_int("probe", "--batch", optarg, 1, 4096, &c.batch))
                return usage_error();
            break;
        case OPT_LIMIT:
            if (cli_parse_int("probe", "--limit", optarg, 0, CIFAR_TEST, &c.limit))
                return usage_error();
            break;
        case OPT_MAXMEM:
            if (cli_parse_int("probe", "--max-memory", optarg, 1, 1 << 20, &max_mb))
                return usage_error();
            break;
        case OPT_OUT:
            if (!*optarg) {
                fprintf(stderr, "augprobe probe: --out: empty path\n");
                return usage_error();
            }
            out_dir = optarg;
            break;
        case OPT_ARCH: {
            int r = cli_arch_flag("probe", optarg, NULL, 0);
            if (r) return r == EXIT_USAGE ? usage_error() : r;
            arch = optarg;
            break;
        }
        case OPT_INPUT_SIZE:
            if (cli_parse_int("probe", "--input-size", optarg, 8, PROBE_MAX_INPUT, &input_size))
                return usage_error();
            break;
        case OPT_NORMALIZE:
            if (!strcmp(optarg, "none")) c.normalize = PROBE_NORM_NONE;
            else if (!strcmp(optarg, "imagenet")) c.normalize = PROBE_NORM_IMAGENET;
            else {
                fprintf(stderr, "augprobe probe: --normalize: '%s' is not none or imagenet\n",
                        optarg);
                return usage_error();
            }
            break;
        case OPT_KEEP:
            if (!*optarg) {
                fprintf(stderr, "augprobe probe: --keep-features: empty path\n");
                return usage_error();
            }
            c.keep_features = optarg;
            break;
        default: {
            int r = cli_global_opt(code, "probe", argv, g);
            if (r == 1) {
                print_usage(stdout);
                return EXIT_OK;
            }
            if (r < 0) return usage_error();
        }
        }
    }
    if (cli_no_positional("probe", argc, argv)) return usage_error();
    /* --levels is checked against the final --aug, whatever the flag order. */
    if (levels_text && !strcmp(levels_text, "ladder"))
        c.n_levels = aug_ladder_levels(c.family, c.levels);
    else if (levels_text &&
             probe_parse_levels(c.family, levels_text, c.levels, &c.n_levels, &e)) {
        fprintf(stderr, "augprobe probe: %s\n", e.msg);
        return usage_error();
    }
    c.seed = g->seed;
    c.threads = g->threads;
    snprintf(c.device, sizeof c.device, "%s", g->device);
    c.quiet = g->quiet;
    c.max_feature_bytes = (size_t)max_mb << 20;
    c.input_size = input_size;

    int rc = EXIT_FAIL;
    int floor_input = !strcmp(model, "pixels") || !strcmp(model, "stats");
    uint64_t trunk_bytes = 0;
    Net *trunk = probe_trunk(strcmp(model, "random") && !floor_input ? model : NULL,
                             floor_input ? NULL : arch, input_size, g->threads, &trunk_bytes, &e);
    Cifar10 data;
    memset(&data, 0, sizeof data);
    ProbeResult r;
    memset(&r, 0, sizeof r);
    CheckpointMeta meta;
    memset(&meta, 0, sizeof meta);
    if (!trunk) goto fail;
    if (floor_input) { /* no network: the probe reads the image itself */
        snprintf(c.layer, sizeof c.layer, "%s", model);
        c.pool = PROBE_POOL_FLATTEN;
        net_free(trunk);
        trunk = NULL;
        trunk_bytes = 0;
    }
    if (!floor_input) layer_from_tap(trunk, &c, pool_given);
    int tap = floor_input ? 0 : probe_find_tap(trunk, c.layer, &e);
    if (tap < 0) {
        /* A usage error, caught before the data is loaded. */
        fprintf(stderr, "augprobe probe: %s\n", e.msg);
        net_free(trunk);
        return usage_error();
    }
    /* The feature cache's size is known before loading anything. */
    size_t dim = !floor_input              ? probe_tap_dim(trunk, tap, c.pool)
                 : !strcmp(model, "stats") ? PROBE_STATS_DIM
                                           : CIFAR_PIXELS;
    double need = (double)dim * (c.limit ? c.limit : CIFAR_VAL) * c.n_levels * sizeof(float);
    if (need > (double)c.max_feature_bytes) {
        err_set(&e,
                "--layer %s: its feature cache needs %.0f MB per split (limit %d MB): use "
                "--pool avg, a smaller --limit or --max-memory",
                c.layer, need / 1048576.0, max_mb);
        goto fail;
    }
    /* and both splits' caches must fit the machine, whatever --max-memory says */
    if (mem_check_probe(c.layer, max_mb, (uint64_t)need, trunk_bytes, &e)) goto fail;
    int is_random = !strcmp(model, "random") || floor_input;
    if (floor_input) {
        /* nothing to load or place */
    } else if (!strcmp(model, "random")) {
        net_init(trunk, g->seed);
    } else if (checkpoint_load(model, trunk, NULL, NULL, &meta, &e)) {
        goto fail;
    }
    if (trunk && net_place(trunk, c.device, NULL, &e)) goto fail;
    if (cifar10_load(&data, g->data_dir, 1, g->quiet, g->threads, &e)) goto fail;
    /* --model random: the notebook's random_state = 1 */
    uint64_t split_seed = is_random ? 1 : train_split_seed(&meta, meta.seed);
    cifar10_split(&data, split_seed);
    c.split_seed = split_seed;
    if (dir_lock(out_dir, &e) < 0) goto fail; /* one writer per directory, until exit */
    if (!g->quiet)
        fprintf(stderr, "probe: %s on %s (%s), model %s, %d+%d images x %d levels\n",
                aug_kind_name(c.family), c.layer, c.pool == PROBE_POOL_AVG ? "avg" : "flatten",
                model, c.limit ? c.limit : data.val.n, c.limit ? c.limit : data.test.n,
                c.n_levels);
    memset(&r, 0, sizeof r);
    if (probe_run(&c, trunk, &data, &r, &e)) goto fail;
    probe_print(stdout, &c, &r);
    char *path = path_join(out_dir, "probe.json");
    int wrc = probe_write_json(path, &c, &r, model, &e);
    if (!wrc && !g->quiet) fprintf(stderr, "probe: wrote %s (%.1f s)\n", path, r.seconds);
    free(path);
    if (wrc) goto fail;
    rc = EXIT_OK;
fail:
    if (rc != EXIT_OK) fprintf(stderr, "augprobe probe: %s\n", e.msg);
    probe_result_free(&r);
    cifar10_free(&data);
    net_free(trunk);
    return rc;
}
