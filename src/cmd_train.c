/* cmd_train.c - `augprobe train` (the notebook's classifier training, with
 * checkpoints and --resume) and `augprobe eval` (accuracy, per-class
 * accuracy and the confusion matrix of a saved model). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "augment.h"
#include "cifar10.h"
#include "cli.h"
#include "common.h"
#include "dirlock.h"
#include "resources.h"
#include "train.h"

static const char TRAIN_USAGE[] =
    "Usage: augprobe train [flags]\n"
    "Trains the notebook's CNN on the 40,000-image train split (Adam, batch 32,\n"
    "augmentation hflip,vflip,zoom=0.5:1.0), evaluating on val and test after every\n"
    "epoch. Writes to --out: model.safetensors, checkpoint.safetensors, history.csv,\n"
    "curves.png, run.json. Ctrl-C stops after the current step, keeping the last\n"
    "epoch's checkpoint; --resume continues from it. --seed sets the train/val split,\n"
    "the initial weights, the order, the augmentation and dropout; the same seed and\n"
    "--threads give the same bits.\n\n"
    "Flags:\n"
    "  --epochs N      epochs (default 50; with --resume: the total to reach)\n"
    "  --aug SPEC      training augmentation (default " TRAIN_DEFAULT_AUG ")\n"
    "  --no-aug        no augmentation\n"
    "  --batch N       batch size (default 32)\n"
    "  --lr X          Adam learning rate (default 0.001)\n"
    "  --lr-schedule S constant (default, the notebook) or cosine (annealed to 0 over\n"
    "                  the run's steps; --resume cannot then change --epochs)\n"
    "  --limit N       train on the first N images of the train split (default: all)\n"
    "  --eval-limit N  evaluate on the first N images of val and test (default: all)\n"
    "  --kernels NAME  compute kernels: auto, reference, avx512, avx2, portable\n"
    "  --arch NAME|FILE the network: seed_cnn (default) or a network file (README)\n"
    "  --out DIR       run directory (default runs/train)\n"
    "  --resume        continue the run in --out from its checkpoint\n";

static const char EVAL_USAGE[] =
    "Usage: augprobe eval --model FILE [flags]\n"
    "Evaluates a saved model (model.safetensors or checkpoint.safetensors): loss,\n"
    "accuracy, per-class accuracy and the confusion matrix.\n\n"
    "Flags:\n"
    "  --model FILE    the model to evaluate (required)\n"
    "  --split NAME    test (default) or val (the model's own train/val split)\n"
    "  --limit N       evaluate the first N images of the split (default: all)\n"
    "  --batch N       evaluation batch (default 128)\n"
    "  --kernels NAME  compute kernels (default auto)\n"
    "  --arch NAME|FILE the network to load it into (default: the one the file records)\n";

enum {
    OPT_EPOCHS = 1,
    OPT_AUG,
    OPT_NO_AUG,
    OPT_BATCH,
    OPT_LR,
    OPT_LIMIT,
    OPT_EVAL_LIMIT,
    OPT_KERNELS,
    OPT_OUT,
    OPT_RESUME,
    OPT_MODEL,
    OPT_SPLIT,
    OPT_ARCH,
    OPT_LR_SCHEDULE,
};

/* Flags given explicitly, so --resume can tell them from defaults. */
typedef struct TrainFlagsSet {
    int epochs, aug, batch, lr, lr_schedule, limit, eval_limit, seed, threads, kernels, arch;
} TrainFlagsSet;

static int check_kernels_flag(const char *cmd, const char *name) {
    if (!strcmp(name, "auto") || kernels_by_name(name)) return 0;
    fprintf(stderr, "augprobe %s: --kernels: '%s' is unknown or not supported here (compiled: %s)\n",
            cmd, name, kernels_compiled());
    return -1;
}

/* Fills the flags not given from the checkpoint's config; a given flag that
 * differs from it is a usage error. threads and kernels may change (they can
 * change the last bits of the result, which is said). */
static int merge_resume(TrainConfig *cfg, const TrainFlagsSet *set, const char *out,
                        int *exit_code) {
    TrainConfig st = *cfg;
    int done = 0;
    Err e;
    if (train_read_checkpoint_config(out, &st, &done, &e)) {
        fprintf(stderr, "augprobe train: %s\n", e.msg);
        *exit_code = EXIT_FAIL;
        return -1;
    }
    char ckpt[1200];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", out);
    *exit_code = EXIT_USAGE;
    unsigned given = (set->aug ? TRAIN_CFG_AUG : 0) | (set->batch ? TRAIN_CFG_BATCH : 0) |
                     (set->lr ? TRAIN_CFG_LR : 0) |
                     (set->lr_schedule ? TRAIN_CFG_LR_SCHEDULE : 0) |
                     (set->limit ? TRAIN_CFG_LIMIT : 0) |
                     (set->eval_limit ? TRAIN_CFG_EVAL_LIMIT : 0) |
                     (set->seed ? TRAIN_CFG_SEED : 0) | (set->arch ? TRAIN_CFG_ARCH : 0) |
                     (set->epochs ? TRAIN_CFG_EPOCHS : 0);
    if (train_config_check(cfg, &st, done, given, ckpt, &e)) {
        fprintf(stderr, "augprobe train: %s\n", e.msg);
        return -1;
    }
    int epochs = set->epochs ? cfg->epochs : st.epochs;
    int threads = cfg->threads;
    char kernels[32];
    snprintf(kernels, sizeof kernels, "%s", cfg->kernels);
    int quiet = cfg->quiet;
    const char *out_dir = cfg->out_dir;
    char device[sizeof cfg->device];
    snprintf(device, sizeof device, "%s", cfg->device); /* where to go on: today's choice */
    *cfg = st;
    snprintf(cfg->device, sizeof cfg->device, "%s", device);
    cfg->epochs = epochs;
    cfg->resume = 1;
    cfg->quiet = quiet;
    cfg->out_dir = out_dir;
    if (set->threads && threads != st.threads && !quiet)
        printf("note: --threads %d differs from the run's %d: the result may differ in the "
               "last bits from an uninterrupted run\n", threads, st.threads);
    if (set->threads) cfg->threads = threads;
    if (set->kernels && strcmp(kernels, st.kernels) && strcmp(kernels, "auto")) {
        if (!quiet)
            printf("note: --kernels %s differs from the run's %s: the result may differ in "
                   "the last bits from an uninterrupted run\n", kernels, st.kernels);
        snprintf(cfg->kernels, sizeof cfg->kernels, "%s", kernels);
    }
    /* a stored kernel path this processor lacks: fall back to the fastest */
    if (!set->kernels && !kernels_by_name(cfg->kernels)) {
        if (!quiet)
            printf("note: the run's kernels '%s' are not available here; using auto\n",
                   cfg->kernels);
        snprintf(cfg->kernels, sizeof cfg->kernels, "auto");
    }
    *exit_code = 0;
    return 0;
}

/* Refuses a batch whose memory need (network a at the larger of the
 * training and evaluation batches, Adam's moments when training, the data
 * set) is over what this machine allows, and a's shape errors (net_create's
 * line). */
static int train_memory_check(const Arch *a, int batch, int eval_batch, int training, Err *e) {
    int max_batch = batch > eval_batch ? batch : eval_batch;
    uint64_t net;
    if (net_memory_bytes(a, CIFAR_H, CIFAR_W, CIFAR_C, max_batch, training, &net, e)) return -1;
    uint64_t data = (uint64_t)(CIFAR_TRAIN_ALL + CIFAR_TEST) * CIFAR_RECORD;
    char flag[32], na[32], nb[32], breakdown[192];
    snprintf(flag, sizeof flag, "--batch %d", batch);
    mem_format(na, sizeof na, net);
    mem_format(nb, sizeof nb, data);
    snprintf(breakdown, sizeof breakdown, "%s%s at batch %d: %s, CIFAR-10: %s", a->name,
             training ? " and Adam" : "", max_batch, na, nb);
    return mem_check(net + data, flag, breakdown, e);
}

int cmd_train(int argc, char **argv, GlobalOpts *g) {
    static const struct option opts[] = {
        CLI_GLOBAL_OPTIONS,
        {"epochs", required_argument, 0, OPT_EPOCHS},
        {"aug", required_argument, 0, OPT_AUG},
        {"no-aug", no_argument, 0, OPT_NO_AUG},
        {"batch", required_argument, 0, OPT_BATCH},
        {"lr", required_argument, 0, OPT_LR},
        {"lr-schedule", required_argument, 0, OPT_LR_SCHEDULE},
        {"limit", required_argument, 0, OPT_LIMIT},
        {"eval-limit", required_argument, 0, OPT_EVAL_LIMIT},
        {"kernels", required_argument, 0, OPT_KERNELS},
        {"out", required_argument, 0, OPT_OUT},
        {"resume", no_argument, 0, OPT_RESUME},
        {"arch", required_argument, 0, OPT_ARCH},
        {0, 0, 0, 0},
    };
    TrainConfig cfg;
    train_config_default(&cfg);
    TrainFlagsSet set = {0};
    int no_aug = 0, aug_flag = 0;
    cli_begin();
    int c;
    while ((c = getopt_long(argc, argv, CLI_OPTSTRING(""), opts, NULL)) != -1) {
        int r = 0;
        switch (c) {
        case OPT_EPOCHS:
            r = cli_parse_int("train", "--epochs", optarg, 1, 1000000, &cfg.epochs);
            set.epochs = 1;
            break;
        case OPT_AUG: {
            AugSpec spec;
            Err e;
            if (aug_parse(&spec, optarg, &e)) {
                fprintf(stderr, "augprobe train: --aug: %s\n", e.msg);
                r = -1;
            } else if (strlen(optarg) >= sizeof cfg.aug) {
                fprintf(stderr, "augprobe train: --aug: spec too long\n");
                r = -1;
            } else {
                snprintf(cfg.aug, sizeof cfg.aug, "%s", optarg);
            }
            set.aug = aug_flag = 1;
            break;
        }
        case OPT_NO_AUG:
            no_aug = 1;
            set.aug = 1;
            break;
        case OPT_BATCH:
            r = cli_parse_int("train", "--batch", optarg, 1, 4096, &cfg.batch);
            set.batch = 1;
            break;
        case OPT_LR:
            r = cli_parse_float("train", "--lr", optarg, 1e-12, 1e38, &cfg.lr);
            set.lr = 1;
            break;
        case OPT_LR_SCHEDULE:
            if (!strcmp(optarg, "cosine") || !strcmp(optarg, "constant")) {
                cfg.lr_cosine = !strcmp(optarg, "cosine");
            } else {
                fprintf(stderr, "augprobe train: --lr-schedule: '%s' is not constant or cosine\n",
                        optarg);
                r = -1;
            }
            set.lr_schedule = 1;
            break;
        case OPT_LIMIT:
            r = cli_parse_int("train", "--limit", optarg, 1, CIFAR_TRAIN_ALL - CIFAR_VAL,
                              &cfg.limit);
            set.limit = 1;
            break;
        case OPT_EVAL_LIMIT:
            r = cli_parse_int("train", "--eval-limit", optarg, 1, CIFAR_TEST, &cfg.eval_limit);
            set.eval_limit = 1;
            break;
        case OPT_KERNELS:
            r = check_kernels_flag("train", optarg);
            snprintf(cfg.kernels, sizeof cfg.kernels, "%s", optarg);
            set.kernels = 1;
            break;
        case OPT_OUT:
            if (!*optarg) {
                fprintf(stderr, "augprobe train: --out: empty path\n");
                r = -1;
            }
            cfg.out_dir = optarg;
            break;
        case OPT_RESUME:
            cfg.resume = 1;
            break;
        case OPT_ARCH:
            if ((r = cli_arch_flag("train", optarg, cfg.arch, sizeof cfg.arch)) == EXIT_FAIL)
                return EXIT_FAIL;
            r = r ? -1 : 0; /* a usage error */
            set.arch = 1;
            break;
        default:
            if (c == OPT_SEED) set.seed = 1;
            if (c == OPT_THREADS) set.threads = 1;
            r = cli_global_opt(c, "train", argv, g);
            if (r == 1) {
                cli_print_usage(stdout, TRAIN_USAGE);
                return EXIT_OK;
            }
        }
        if (r < 0) return cli_usage_error(TRAIN_USAGE);
    }
    if (cli_no_positional("train", argc, argv)) return cli_usage_error(TRAIN_USAGE);
    if (no_aug && aug_flag) {
        fprintf(stderr, "augprobe train: --no-aug and --aug are exclusive\n");
        return cli_usage_error(TRAIN_USAGE);
    }
    if (no_aug) cfg.aug[0] = 0;
    cfg.seed = g->seed;
    cfg.split_seed = g->seed;
    cfg.threads = g->threads;
    snprintf(cfg.device, sizeof cfg.device, "%s", g->device);
    cfg.quiet = g->quiet;

    if (cfg.resume) {
        int code;
        if (merge_resume(&cfg, &set, cfg.out_dir, &code)) {
            if (code == EXIT_USAGE) cli_print_usage(stderr, TRAIN_USAGE);
            return code;
        }
    }
    /* A batch this machine cannot hold fails now, before anything big is
     * allocated (the network's buffers grow with the batch). */
    Err e;
    Arch arch;
    int mrc = arch_load(&arch, cfg.arch, &e) ? -1
              : train_memory_check(&arch, cfg.batch, cfg.eval_batch > 0 ? cfg.eval_batch : 128,
                                   1, &e);
    arch_free(&arch);
    if (mrc) {
        fprintf(stderr, "augprobe train: %s\n", e.msg);
        return EXIT_FAIL;
    }
    /* An unwritable or busy --out fails now, before minutes of loading and
     * training; the lock (one writer per directory) is held until exit. */
    if (dir_lock(cfg.out_dir, &e) < 0) {
        fprintf(stderr, "augprobe train: --out: %s\n", e.msg);
        return EXIT_FAIL;
    }

    /* --threads is >= 1, and so is a resumed run's stored count unless edited */
    if (cfg.threads < 1) cfg.threads = 1;
    Cifar10 data;
    memset(&data, 0, sizeof data);
    if (cifar10_load(&data, g->data_dir, 1, cfg.quiet, cfg.threads, &e)) {
        fprintf(stderr, "augprobe train: %s\n", e.msg);
        return EXIT_FAIL;
    }
    cifar10_split(&data, cfg.split_seed);
    /* From here on Ctrl-C stops at a clean point (before, it just quits). */
    train_catch_signals();
    TrainResult res;
    int rc = train_run(&cfg, &data, &res, &e);
    cifar10_free(&data);
    if (rc < 0) {
        fprintf(stderr, "augprobe train: %s\n", e.msg);
        return EXIT_FAIL;
    }
    if (rc == TRAIN_STOPPED && res.epochs_done == 0) {
        fprintf(stderr, "augprobe train: interrupted during the first epoch; nothing was saved\n");
        train_result_free(&res);
        return EXIT_INTERRUPTED;
    }
    if (rc == TRAIN_STOPPED) {
        fprintf(stderr,
                "augprobe train: interrupted; %d of %d epochs are saved in %s/checkpoint.safetensors\n"
                "resume with: augprobe train --resume --out %s%s%s\n",
                res.epochs_done, cfg.epochs, cfg.out_dir, cfg.out_dir,
                g->data_dir ? " --data " : "", g->data_dir ? g->data_dir : "");
        train_result_free(&res);
        return EXIT_INTERRUPTED;
    }
    const TrainEpoch *f = &res.final;
    printf("done: %d epoch%s, test accuracy %.4f (val %.4f), %.1f s; model in %s/model.safetensors\n",
           res.epochs_done, res.epochs_done == 1 ? "" : "s", f->test_acc, f->val_acc, res.wall_seconds, cfg.out_dir);
    train_result_free(&res);
    return EXIT_OK;
}

int cmd_eval(int argc, char **argv, GlobalOpts *g) {
    static const struct option opts[] = {
        CLI_GLOBAL_OPTIONS,
        {"model", required_argument, 0, OPT_MODEL},
        {"split", required_argument, 0, OPT_SPLIT},
        {"limit", required_argument, 0, OPT_LIMIT},
        {"batch", required_argument, 0, OPT_BATCH},
        {"kernels", required_argument, 0, OPT_KERNELS},
        {"arch", required_argument, 0, OPT_ARCH},
        {0, 0, 0, 0},
    };
    const char *model = NULL, *split = "test", *kernels = "auto";
    char arch[256] = "";
    int limit = 0, batch = 128, seed_set = 0;
    cli_begin();
    int c;
    while ((c = getopt_long(argc, argv, CLI_OPTSTRING(""), opts, NULL)) != -1) {
        int r = 0;
        switch (c) {
        case OPT_MODEL:
            model = optarg;
            break;
        case OPT_SPLIT:
            split = optarg;
            if (strcmp(split, "test") && strcmp(split, "val")) {
                fprintf(stderr, "augprobe eval: --split: '%s' is not test or val\n", split);
                r = -1;
            }
            break;
        case OPT_LIMIT:
            r = cli_parse_int("eval", "--limit", optarg, 1, CIFAR_TEST, &limit);
            break;
        case OPT_BATCH:
            r = cli_parse_int("eval", "--batch", optarg, 1, 4096, &batch);
            break;
        case OPT_KERNELS:
            r = check_kernels_flag("eval", optarg);
            kernels = optarg;
            break;
        case OPT_ARCH:
            if ((r = cli_arch_flag("eval", optarg, arch, sizeof arch)) == EXIT_FAIL) return EXIT_FAIL;
            r = r ? -1 : 0; /* a usage error */
            break;
        default:
            if (c == OPT_SEED) seed_set = 1;
            r = cli_global_opt(c, "eval", argv, g);
            if (r == 1) {
                cli_print_usage(stdout, EVAL_USAGE);
                return EXIT_OK;
            }
        }
        if (r < 0) return cli_usage_error(EVAL_USAGE);
    }
    if (cli_no_positional("eval", argc, argv)) return cli_usage_error(EVAL_USAGE);
    if (!model) {
        fprintf(stderr, "augprobe eval: --model FILE is required\n");
        return cli_usage_error(EVAL_USAGE);
    }
    Err e;
    Arch net_arch;
    int mrc = train_model_arch(model, arch[0] ? arch : NULL, &net_arch, &e) ? -1
              : train_memory_check(&net_arch, batch, batch, 0, &e);
    arch_free(&net_arch);
    if (mrc) {
        fprintf(stderr, "augprobe eval: %s\n", e.msg);
        return EXIT_FAIL;
    }
    CheckpointMeta meta;
    Net *net = train_load_model_arch(model, arch[0] ? arch : NULL, batch, g->threads, kernels,
                                     &meta, &e);
    if (!net || net_place(net, g->device, NULL, &e)) {
        fprintf(stderr, "augprobe eval: %s\n", e.msg);
        net_free(net);
        return EXIT_FAIL;
    }
    Cifar10 data;
    memset(&data, 0, sizeof data);
    if (cifar10_load(&data, g->data_dir, 1, g->quiet, g->threads, &e)) {
        fprintf(stderr, "augprobe eval: %s\n", e.msg);
        net_free(net);
        return EXIT_FAIL;
    }
    ImageSet set = data.test;
    uint64_t split_seed = seed_set ? g->seed : train_split_seed(&meta, meta.seed);
    if (!strcmp(split, "val")) {
        cifar10_split(&data, split_seed);
        set = data.val;
    }
    if (limit && set.n > limit) set.n = limit;
    float loss, acc;
    int cm[CIFAR_CLASSES][CIFAR_CLASSES];
    double t0 = now_seconds();
    if (eval_split(net, &set, &loss, &acc, cm)) {
        fprintf(stderr, "augprobe eval: %s\n", net_error(net));
        net_free(net);
        cifar10_free(&data);
        return EXIT_FAIL;
    }
    double secs = now_seconds() - t0;

    printf("model: %s (%s, %d epoch%s, seed %llu)\n", model, meta.arch, meta.epoch,
           meta.epoch == 1 ? "" : "s", (unsigned long long)meta.seed);
    if (!strcmp(split, "val"))
        printf("split: val (%d images; train/val split seed %llu)\n", set.n,
               (unsigned long long)split_seed);
    else
        printf("split: test (%d images)\n", set.n);
    printf("loss %.4f  accuracy %.4f  (%.1f s, %.0f img/s, kernels %s)\n\n", loss, acc, secs,
           secs > 0 ? set.n / secs : 0.0, net->k->name);
    printf("per-class accuracy:\n");
    for (int i = 0; i < CIFAR_CLASSES; i++) {
        int n = 0;
        for (int j = 0; j < CIFAR_CLASSES; j++) n += cm[i][j];
        printf("  %-12s %.4f  (%d/%d)\n", data.class_names[i], n ? (double)cm[i][i] / n : 0.0,
               cm[i][i], n);
    }
    printf("\nconfusion matrix (rows: true class, columns: predicted):\n%-12s", "");
    for (int j = 0; j < CIFAR_CLASSES; j++) printf(" %6.6s", data.class_names[j]);
    printf("\n");
    for (int i = 0; i < CIFAR_CLASSES; i++) {
        printf("%-12s", data.class_names[i]);
        for (int j = 0; j < CIFAR_CLASSES; j++) printf(" %6d", cm[i][j]);
        printf("\n");
    }
    cifar10_free(&data);
    net_free(net);
    return EXIT_OK;
}
