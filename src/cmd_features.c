/* cmd_features.c - `augprobe features`: one layer's features of a split, as
 * NumPy files (feature_export.h, npy.h). */
#include <cjson/cJSON.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "augment.h"
#include "checkpoint.h"
#include "cifar10.h"
#include "cli.h"
#include "common.h"
#include "feature_export.h"
#include "net.h"
#include "npy.h"
#include "probe.h"
#include "train.h"

static const char USAGE[] =
    "Usage: augprobe features [flags] -o FILE.npy\n"
    "Runs the first images of a split through a frozen network (inference mode:\n"
    "BN moving statistics, no dropout) and writes one layer's features as a NumPy\n"
    "file: float32, shape [N, D], C order; the labels beside it as int64 [N]\n"
    "(FILE.labels.npy). numpy.load reads both as they are.\n"
    "\n"
    "Flags:\n"
    "  --model FILE     trained network (.safetensors from `augprobe train`), or\n"
    "                   'random': the untrained network of --seed\n"
    "                   (default runs/train/model.safetensors)\n"
    "  --layer NAME     layer whose output is taken (default flatten); any layer\n"
    "                   name of `augprobe summary`\n"
    "  --pool MODE      a spatial layer as a vector: flatten (default: all h*w*c\n"
    "                   values, Keras Flatten order) or avg (mean over space: c)\n"
    "  --aug SPEC       augment each image first (as `augprobe export`: the same\n"
    "                   --seed draws the same images), e.g. zoom=0.7 or\n"
    "                   hflip,zoom=0.5:1.0; default none\n"
    "  --split S        val (default: images the model never trained on), test or\n"
    "                   train\n"
    "  --limit N        only the first N images of the split (default all)\n"
    "  -o, --output F   the features file (default features.npy); written to a\n"
    "                   temporary file and renamed, as the labels file\n";

enum { OPT_MODEL = 1, OPT_LAYER, OPT_POOL, OPT_AUG, OPT_SPLIT, OPT_LIMIT };

static const char *const SPLITS[3] = {"train", "val", "test"};

int cmd_features(int argc, char **argv, GlobalOpts *g) {
    static const struct option opts[] = {CLI_GLOBAL_OPTIONS,
                                         {"model", required_argument, 0, OPT_MODEL},
                                         {"layer", required_argument, 0, OPT_LAYER},
                                         {"pool", required_argument, 0, OPT_POOL},
                                         {"aug", required_argument, 0, OPT_AUG},
                                         {"split", required_argument, 0, OPT_SPLIT},
                                         {"limit", required_argument, 0, OPT_LIMIT},
                                         {"output", required_argument, 0, 'o'},
                                         {0, 0, 0, 0}};
    const char *model = "runs/train/model.safetensors", *layer = "flatten";
    const char *aug_text = "none", *out_path = "features.npy";
    ProbePool pool = PROBE_POOL_FLATTEN;
    int split = 1, limit = 0;
    cli_begin();
    int c;
    while ((c = getopt_long(argc, argv, CLI_OPTSTRING("o:"), opts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case OPT_MODEL: model = optarg; break;
        case OPT_LAYER: layer = optarg; break;
        case OPT_AUG: aug_text = optarg; break;
        case OPT_POOL:
            if (!strcmp(optarg, "flatten")) pool = PROBE_POOL_FLATTEN;
            else if (!strcmp(optarg, "avg")) pool = PROBE_POOL_AVG;
            else {
                fprintf(stderr, "augprobe features: --pool: '%s' is not flatten or avg\n", optarg);
                bad = 1;
            }
            break;
        case OPT_SPLIT:
            split = -1;
            for (int s = 0; s < 3; s++)
                if (!strcmp(optarg, SPLITS[s])) split = s;
            if (split < 0) {
                fprintf(stderr, "augprobe features: --split: '%s' is not val, test or train\n",
                        optarg);
                bad = 1;
            }
            break;
        case OPT_LIMIT:
            bad = cli_parse_int("features", "--limit", optarg, 0, CIFAR_TRAIN_ALL, &limit);
            break;
        case 'o':
            if (!*optarg) {
                fprintf(stderr, "augprobe features: -o: empty path\n");
                bad = 1;
            }
            out_path = optarg;
            break;
        default: {
            int rc = cli_global_result(cli_global_opt(c, "features", argv, g), USAGE);
            if (rc >= 0) return rc;
        }
        }
        if (bad) return cli_usage_error(USAGE);
    }
    if (cli_no_positional("features", argc, argv)) return cli_usage_error(USAGE);
    Err e = {{0}};
    AugSpec spec;
    if (aug_parse(&spec, aug_text, &e)) {
        fprintf(stderr, "augprobe features: --aug: %s\n", e.msg);
        return cli_usage_error(USAGE);
    }

    /* the network the model records (the seed CNN for 'random') */
    Net *trunk = train_model_net(strcmp(model, "random") ? model : NULL, 128, g->threads, "", &e);
    if (!trunk) {
        fprintf(stderr, "augprobe features: %s\n", e.msg);
        return EXIT_FAIL;
    }
    int tap = probe_find_tap(trunk, layer, &e);
    if (tap < 0) {
        fprintf(stderr, "augprobe features: %s\n", e.msg);
        net_free(trunk);
        return cli_usage_error(USAGE);
    }
    /* The output's directory first: a bad -o fails before the data is read. */
    char *dir_copy = xstrdup(out_path);
    const char *dir = dirname(dir_copy);
    int dir_ok = path_is_dir(dir);
    if (!dir_ok) err_set(&e, "%s: directory %s does not exist", out_path, dir);
    free(dir_copy);

    int rc = EXIT_FAIL;
    Cifar10 data;
    memset(&data, 0, sizeof data);
    CheckpointMeta meta;
    memset(&meta, 0, sizeof meta);
    if (!dir_ok) goto done;
    int is_random = !strcmp(model, "random");
    if (is_random) net_init(trunk, g->seed);
    else if (checkpoint_load(model, trunk, NULL, NULL, &meta, &e))
        goto done;
    if (net_place(trunk, g->device, NULL, &e)) goto done;
    if (cifar10_load(&data, g->data_dir, 1, g->quiet, g->threads, &e)) goto done;
    cifar10_split(&data, is_random ? 1 : train_split_seed(&meta, meta.seed));
    const ImageSet *set = split == 0 ? &data.train : split == 1 ? &data.val : &data.test;
    int n = limit > 0 && limit < set->n ? limit : set->n;
    int dim = 0;
    double t0 = now_seconds();
    if (features_write(trunk, set, n, tap, pool, &spec, g->seed, features_aug_stream(split),
                       out_path, &dim, &e))
        goto done;
    if (!g->quiet) {
        char *lp = npy_labels_path(out_path), canon[512];
        aug_format(&spec, canon, sizeof canon);
        printf("wrote %s: float32 [%d, %d] (%s of %s, %s; aug %s; %s split) and %s: int64 [%d] "
               "in %.1f s\n",
               out_path, n, dim, pool == PROBE_POOL_AVG ? "avg" : "flatten", layer, model,
               canon[0] ? canon : "none", SPLITS[split], lp, n, now_seconds() - t0);
        free(lp);
    }
    rc = EXIT_OK;
done:
    if (rc != EXIT_OK) fprintf(stderr, "augprobe features: %s\n", e.msg);
    cifar10_free(&data);
    net_free(trunk);
    return rc;
}
