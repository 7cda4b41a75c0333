/* cmd_study.c - `augprobe study`: the paper's question over the whole grid
 * (networks x augmentations x taps x seeds) in one command, resumable, with
 * a report. The work is in study.c. */
#include <stdio.h>
#include <string.h>

#include "cifar10.h"
#include "cli.h"
#include "common.h"
#include "dirlock.h"
#include "study.h"
#include "study_sched.h"
#include "train.h"

enum {
    OPT_OUT = 1,
    OPT_QUICK,
    OPT_FULL,
    OPT_EPOCHS,
    OPT_TRAIN_LIMIT,
    OPT_EVAL_LIMIT,
    OPT_PASSES,
    OPT_PROBE_EPOCHS,
    OPT_PROBE_LIMIT,
    OPT_SEEDS,
    OPT_NETWORKS,
    OPT_FAMILIES,
    OPT_TAPS,
    OPT_PAIRS,
    OPT_BOOT,
    OPT_PLAN,
    OPT_RANKS,
    OPT_ARCH,
    OPT_LR_SCHEDULE,
};

static const char USAGE[] =
    "Usage: augprobe study [--quick | --full] [--out DIR] [knobs] [flags]\n"
    "Answers the paper's question over a grid, with the controls that make the\n"
    "answer mean something: networks (aug: trained with hflip,vflip,zoom=0.5:1.0;\n"
    "noaug: trained without; random: untrained; pixels and stats: floors that need\n"
    "no network) x augmentations (zoom aspect brightness contrast saturation hue\n"
    "blur, each at its ladder of levels) x pair modes (cross: a and b are\n"
    "different images, the primary answer; same: two copies of one image, the\n"
    "notebook's) x taps (the layers the network marks with tap=LABEL; seed_cnn's:\n"
    "block1_pool block2_pool block3_pool averaged over space, flatten, dense1) x\n"
    "seeds 1..N, a linear RankNet probe per cell (and the notebook's MLP head on\n"
    "the notebook's cell; on every cell with --full), with 95% bootstrap\n"
    "intervals, 75% thresholds and paired differences; and each tap's importance:\n"
    "the accuracy a linear probe on all taps together loses without it, as shares.\n"
    "Writes DIR/report.md, report.html, results.json, results.csv, preview.png,\n"
    "depth.png, importance.png (each figure with its SVG twin), the training runs\n"
    "DIR/seed<s>/<net>/ and one JSON per finished cell in DIR/cells/.\n"
    "Rerunning continues: finished cells and networks are reused, an interrupted\n"
    "training resumes from its checkpoint.\n"
    "\n"
    "Profiles (default --quick):\n"
    "  --quick            4 epochs (Adam, cosine-annealed) on all 40,000 images\n"
    "                     (evaluated on 1,000), 2 passes, 15 probe epochs, 1,000\n"
    "                     val and 1,000 test images probed, 1 seed (about 17\n"
    "                     minutes on 2 free AVX2 cores; `--plan` estimates it here)\n"
    "  --full             the paper's: 50 epochs on all 40,000 images, 4 passes,\n"
    "                     50 probe epochs, the MLP head on every cell too, every\n"
    "                     val/test image, 3 seeds (days on 2 cores; `--plan`)\n"
    "  --arch NAME|FILE   the network trained and probed: seed_cnn (default),\n"
    "                     another built-in or a network file with tap=LABEL nodes\n"
    "                     (README); a network in the study's table (resnet18)\n"
    "                     trains its own epochs and batch, others the profile's\n"
    "                     epochs at batch 32\n"
    "Knobs (override the profile):\n"
    "  --epochs N         training epochs of aug and noaug\n"
    "  --lr-schedule S    their Adam rate: cosine (quick) or constant (full, the\n"
    "                     notebook's)\n"
    "  --train-limit N    train on the first N training images (0 = all)\n"
    "  --eval-limit N     per-epoch evaluation on the first N val/test images (0 = all)\n"
    "  --passes N         probe passes over each split\n"
    "  --probe-epochs N   RankNet head epochs\n"
    "  --probe-limit N    probe the first N val and N test images (0 = all)\n"
    "  --seeds N          seeds 1..N (1..16)\n"
    "  --networks LIST    restrict the grid, e.g. aug,random,pixels (default all)\n"
    "  --families LIST    e.g. zoom,blur (default all)\n"
    "  --taps LIST        tap labels, e.g. flatten,dense1 (default all)\n"
    "  --pairs LIST       cross, same or both (default cross,same)\n"
    "  --bootstrap N      bootstrap replicates of the intervals (default 1000)\n"
    "  --out DIR          output directory (default runs/study)\n"
    "  --plan             print the task graph, the unit costs assumed, the total\n"
    "                     work, the critical path and the simulated time on N ranks\n"
    "                     (list scheduling); trains nothing\n"
    "  --ranks N          with --plan: for N ranks (default: a table for 1, 8, 64, 512)\n"
    "On a cluster: mpirun -np N augprobe study ... (or srun): the ranks share the\n"
    "work, each with --threads threads; DIR must be on a filesystem all ranks see.\n"
    "--seed S sets the train/val split (default 1, the notebook's random_state);\n"
    "networks and probes use the seeds 1..N. Ctrl-C stops at a clean point.\n";

/* A knob given on the command line: its value, and that it was given. */
typedef struct Knob {
    int given, value;
} Knob;

static int parse_mask(const char *flag, const char *text, const char *const *names, int n,
                      unsigned *mask) {
    Err e;
    if (study_parse_mask(flag, text, names, n, mask, &e) == 0) return 0;
    fprintf(stderr, "augprobe study: %s\n", e.msg);
    return -1;
}

int cmd_study(int argc, char **argv, GlobalOpts *g) {
    static const struct option opts[] = {CLI_GLOBAL_OPTIONS,
                                         {"out", required_argument, 0, OPT_OUT},
                                         {"quick", no_argument, 0, OPT_QUICK},
                                         {"full", no_argument, 0, OPT_FULL},
                                         {"epochs", required_argument, 0, OPT_EPOCHS},
                                         {"train-limit", required_argument, 0, OPT_TRAIN_LIMIT},
                                         {"eval-limit", required_argument, 0, OPT_EVAL_LIMIT},
                                         {"passes", required_argument, 0, OPT_PASSES},
                                         {"probe-epochs", required_argument, 0, OPT_PROBE_EPOCHS},
                                         {"probe-limit", required_argument, 0, OPT_PROBE_LIMIT},
                                         {"seeds", required_argument, 0, OPT_SEEDS},
                                         {"networks", required_argument, 0, OPT_NETWORKS},
                                         {"families", required_argument, 0, OPT_FAMILIES},
                                         {"taps", required_argument, 0, OPT_TAPS},
                                         {"pairs", required_argument, 0, OPT_PAIRS},
                                         {"bootstrap", required_argument, 0, OPT_BOOT},
                                         {"plan", no_argument, 0, OPT_PLAN},
                                         {"ranks", required_argument, 0, OPT_RANKS},
                                         {"arch", required_argument, 0, OPT_ARCH},
                                         {"lr-schedule", required_argument, 0, OPT_LR_SCHEDULE},
                                         {0, 0, 0, 0}};
    const char *out = "runs/study";
    int quick = 0, full = 0, plan = 0;
    Knob ranks = {0, 0};
    Knob epochs = {0, 0}, train_limit = {0, 0}, eval_limit = {0, 0}, passes = {0, 0},
         probe_epochs = {0, 0}, probe_limit = {0, 0}, seeds = {0, 0}, boot = {0, 0};
    const char *nets_text = NULL, *fams_text = NULL, *taps_text = NULL, *modes_text = NULL;
    const char *arch = NULL;
    const char *schedule = NULL;
    unsigned net_mask = 0, fam_mask = 0, tap_mask = 0, mode_mask = 0;
    cli_begin();
    int c;
    while ((c = getopt_long(argc, argv, CLI_OPTSTRING(""), opts, NULL)) != -1) {
        int bad = 0;
        Knob *k = NULL;
        int lo = 0, hi = 0;
        const char *flag = NULL;
        switch (c) {
        case OPT_OUT:
            if (!*optarg) {
                fprintf(stderr, "augprobe study: --out: empty directory name\n");
                bad = 1;
            }
            out = optarg;
            break;
        case OPT_QUICK: quick = 1; break;
        case OPT_FULL: full = 1; break;
        case OPT_PLAN: plan = 1; break;
        case OPT_LR_SCHEDULE:
            schedule = optarg;
            if (strcmp(optarg, "cosine") && strcmp(optarg, "constant")) {
                fprintf(stderr, "augprobe study: --lr-schedule: '%s' is not constant or cosine\n",
                        optarg);
                bad = 1;
            }
            break;
        case OPT_RANKS: k = &ranks, lo = 1, hi = 1 << 20, flag = "--ranks"; break;
        case OPT_EPOCHS: k = &epochs, lo = 1, hi = 10000, flag = "--epochs"; break;
        case OPT_TRAIN_LIMIT:
            k = &train_limit, lo = 0, hi = CIFAR_TRAIN_ALL - CIFAR_VAL, flag = "--train-limit";
            break;
        case OPT_EVAL_LIMIT: k = &eval_limit, lo = 0, hi = CIFAR_TEST, flag = "--eval-limit"; break;
        case OPT_PASSES: k = &passes, lo = 1, hi = 100, flag = "--passes"; break;
        case OPT_PROBE_EPOCHS: k = &probe_epochs, lo = 1, hi = 10000, flag = "--probe-epochs"; break;
        case OPT_PROBE_LIMIT: k = &probe_limit, lo = 0, hi = CIFAR_TEST, flag = "--probe-limit"; break;
        case OPT_SEEDS: k = &seeds, lo = 1, hi = STUDY_MAX_SEEDS, flag = "--seeds"; break;
        case OPT_BOOT: k = &boot, lo = 50, hi = 100000, flag = "--bootstrap"; break;
        case OPT_PAIRS:
            modes_text = optarg;
            bad = parse_mask("--pairs", optarg, STUDY_MODE_NAMES, STUDY_MODES, &mode_mask);
            break;
        case OPT_NETWORKS:
            nets_text = optarg;
            bad = parse_mask("--networks", optarg, STUDY_NET_NAMES, STUDY_NETS, &net_mask);
            break;
        case OPT_FAMILIES:
            fams_text = optarg;
            bad = parse_mask("--families", optarg, study_family_names(), STUDY_FAMILIES,
                             &fam_mask);
            break;
        case OPT_TAPS: /* checked against the network's taps below */
            taps_text = optarg;
            break;
        case OPT_ARCH:
            if (!*optarg || strlen(optarg) >= sizeof(((StudyConfig *)0)->arch)) {
                fprintf(stderr, "augprobe study: --arch: '%s' is not a network name or file\n",
                        optarg);
                bad = 1;
            }
            arch = optarg;
            break;
        default: {
            int rc = cli_global_result(cli_global_opt(c, "study", argv, g), USAGE);
            if (rc >= 0) return rc;
        }
        }
        if (k) {
            bad = cli_parse_int("study", flag, optarg, lo, hi, &k->value);
            k->given = 1;
        }
        if (bad) return cli_usage_error(USAGE);
    }
    if (quick && full) {
        fprintf(stderr, "augprobe study: --quick and --full exclude each other\n");
        return cli_usage_error(USAGE);
    }
    if (cli_no_positional("study", argc, argv)) return cli_usage_error(USAGE);
    if (ranks.given && !plan) {
        fprintf(stderr, "augprobe study: --ranks goes with --plan (mpirun -np N sets the ranks)\n");
        return cli_usage_error(USAGE);
    }

    StudyConfig cfg;
    if (full)
        study_config_full(&cfg);
    else
        study_config_quick(&cfg);
    cfg.out_dir = out;
    if (arch) {
        Err ae;
        int arc = study_config_arch(&cfg, arch, &ae);
        if (arc == ARCH_NOT_FOUND) {
            fprintf(stderr, "augprobe study: %s\n", ae.msg);
            return cli_usage_error(USAGE);
        }
        if (arc) {
            fprintf(stderr, "augprobe study: --arch: %s\n", ae.msg);
            return EXIT_FAIL;
        }
    }
    if (taps_text) {
        const char *labels[STUDY_TAPS];
        study_tap_labels(&cfg, labels);
        if (parse_mask("--taps", taps_text, labels, cfg.n_taps, &tap_mask))
            return cli_usage_error(USAGE);
    }
    /* Overrides, applied and recorded in a fixed order for the report. */
    struct {
        const char *flag;
        const Knob *k;
        int *field;
    } knobs[] = {{"--epochs", &epochs, &cfg.epochs},
                 {"--train-limit", &train_limit, &cfg.train_limit},
                 {"--eval-limit", &eval_limit, &cfg.eval_limit},
                 {"--passes", &passes, &cfg.passes},
                 {"--probe-epochs", &probe_epochs, &cfg.probe_epochs},
                 {"--probe-limit", &probe_limit, &cfg.probe_limit},
                 {"--seeds", &seeds, &cfg.seeds},
                 {"--bootstrap", &boot, &cfg.boot}};
    size_t used = 0;
    for (size_t i = 0; i < sizeof knobs / sizeof knobs[0]; i++) {
        if (!knobs[i].k->given || knobs[i].k == &ranks) continue;
        *knobs[i].field = knobs[i].k->value;
        used += (size_t)snprintf(cfg.overrides + used, sizeof cfg.overrides - used, "%s%s %d",
                                 used ? " " : "", knobs[i].flag, knobs[i].k->value);
        if (used >= sizeof cfg.overrides) used = sizeof cfg.overrides - 1;
    }
    if (schedule) {
        cfg.lr_cosine = !strcmp(schedule, "cosine");
        used += (size_t)snprintf(cfg.overrides + used, sizeof cfg.overrides - used,
                                 "%s--lr-schedule %s", used ? " " : "", schedule);
        if (used >= sizeof cfg.overrides) used = sizeof cfg.overrides - 1;
    }
    const struct {
        const char *flag, *text;
        unsigned mask, *field;
    } masks[] = {{"--networks", nets_text, net_mask, &cfg.net_mask},
                 {"--families", fams_text, fam_mask, &cfg.family_mask},
                 {"--taps", taps_text, tap_mask, &cfg.tap_mask},
                 {"--pairs", modes_text, mode_mask, &cfg.mode_mask}};
    for (size_t i = 0; i < sizeof masks / sizeof masks[0]; i++) {
        if (!masks[i].text) continue;
        *masks[i].field = masks[i].mask;
        used += (size_t)snprintf(cfg.overrides + used, sizeof cfg.overrides - used, "%s%s %s",
                                 used ? " " : "", masks[i].flag, masks[i].text);
        if (used >= sizeof cfg.overrides) used = sizeof cfg.overrides - 1;
    }
    cfg.split_seed = g->seed;
    cfg.threads = g->threads;
    snprintf(cfg.device, sizeof cfg.device, "%s", g->device);
    cfg.quiet = g->quiet;

    Err e = {{0}};
    if (plan) {
        /* the split's sizes, without reading the data */
        if (study_plan(&cfg, CIFAR_TRAIN_ALL - CIFAR_VAL, CIFAR_VAL, CIFAR_TEST, ranks.value,
                       &e)) {
            fprintf(stderr, "augprobe study: %s\n", e.msg);
            return EXIT_FAIL;
        }
        return EXIT_OK;
    }
    if (study_memory_check(&cfg, &e)) { /* before anything is read or written */
        fprintf(stderr, "augprobe study: %s\n", e.msg);
        return EXIT_FAIL;
    }
    if (study_mpi_begin(cfg.device, &e)) {
        fprintf(stderr, "augprobe study: %s\n", e.msg);
        return EXIT_FAIL;
    }
    /* Under MPI only rank 0 prints the outcome; every rank exits with it. */
    int rank = study_mpi_rank();
    /* one writer per directory, held until exit; under MPI the coordinating rank holds it */
    if (rank == 0 && dir_lock(out, &e) < 0) {
        fprintf(stderr, "augprobe study: --out: %s\n", e.msg);
        study_mpi_abort(EXIT_FAIL);
        return EXIT_FAIL;
    }
    Cifar10 d;
    double t0 = now_seconds();
    if (cifar10_load(&d, g->data_dir, 1, g->quiet || rank > 0, g->threads, &e)) {
        fprintf(stderr, "augprobe study: %s\n", e.msg);
        study_mpi_abort(EXIT_FAIL); /* the other ranks may have loaded it: end them too */
        return EXIT_FAIL;
    }
    cifar10_split(&d, g->seed);
    cfg.data_seconds = now_seconds() - t0;
    train_catch_signals();
    StudyStats st;
    int rc = study_run(&cfg, &d, &st, &e);
    cifar10_free(&d);
    study_mpi_end();
    if (rank > 0) return rc == STUDY_STOPPED ? EXIT_INTERRUPTED : rc ? EXIT_FAIL : EXIT_OK;
    if (rc == STUDY_STOPPED) {
        fprintf(stderr, "augprobe study: stopped; %d cells done are kept in %s/cells, run the "
                        "same command again to continue\n",
                st.cells_reused + st.cells_computed, out);
        return EXIT_INTERRUPTED;
    }
    if (rc) {
        fprintf(stderr, "augprobe study: %s\n", e.msg);
        return EXIT_FAIL;
    }
    if (!g->quiet)
        printf("done: %d cells (%d computed, %d reused) in %.1f s on %d rank%s; report in "
               "%s/report.md\n",
               st.cells_total, st.cells_computed, st.cells_reused, st.wall_seconds, st.ranks,
               st.ranks == 1 ? "" : "s", out);
    return EXIT_OK;
}
