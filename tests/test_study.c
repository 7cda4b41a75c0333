/* test_study.c - `augprobe study` end to end at tiny sizes: usage errors;
 * the whole grid with every report section, every table row, every cell in
 * results.json and on disk, the figures' sizes, and a findings paragraph
 * whose numbers all come from results.json; a deleted cell is the only one
 * recomputed, with the same numbers; an interrupted (shorter) training is
 * resumed; a network trained with other settings is refused. */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../src/common.h"
#include "../src/json_util.h"
#include "../src/plot.h"
#include "../src/study.h"
#include "test.h"

static char out[1 << 17];

/* The tiny sizes: a few seconds of CPU for the whole grid. */
#define TINY "--train-limit 64 --epochs 1 --eval-limit 16 --probe-limit 8 --passes 1 " \
             "--probe-epochs 1 --bootstrap 100 --threads 2"

static int run(const char *args) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s %s", test_bin(), args);
    return test_run(cmd, out, sizeof out);
}

static int run_study(const char *dir, const char *extra) {
    char args[2048];
    snprintf(args, sizeof args, "study --data %s --out %s " TINY " %s", test_data_dir(), dir,
             extra);
    return run(args);
}

static char *slurp(const char *dir, const char *name) {
    char *p = path_join(dir, name);
    uint8_t *data = NULL;
    size_t n;
    int rc = file_read_all(p, &data, &n, NULL);
    free(p);
    return rc ? NULL : (char *)data;
}

static cJSON *read_json(const char *dir, const char *name) {
    char *text = slurp(dir, name);
    cJSON *o = text ? cJSON_Parse(text) : NULL;
    free(text);
    return o;
}

static double num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* PNG width and height from the IHDR chunk; -1 when not a PNG. */
static int png_size(const char *dir, const char *name, int *w, int *h) {
    char *p = path_join(dir, name);
    uint8_t *buf = NULL;
    size_t n = 0;
    int rc = file_read_all(p, &buf, &n, NULL);
    free(p);
    if (rc || n < 24 || memcmp(buf, "\x89PNG\r\n\x1a\n", 8) != 0) {
        free(buf);
        return -1;
    }
    *w = (int)((uint32_t)buf[16] << 24 | (uint32_t)buf[17] << 16 | (uint32_t)buf[18] << 8 | buf[19]);
    *h = (int)((uint32_t)buf[20] << 24 | (uint32_t)buf[21] << 16 | (uint32_t)buf[22] << 8 | buf[23]);
    free(buf);
    return 0;
}

/* Every number anywhere in a JSON tree. */
static void collect_numbers(const cJSON *o, double *vals, int *n, int cap) {
    for (const cJSON *it = o; it; it = it->next) {
        if (cJSON_IsNumber(it) && *n < cap) vals[(*n)++] = it->valuedouble;
        if (it->child) collect_numbers(it->child, vals, n, cap);
    }
}

static struct timespec mtime_of(const char *path) {
    struct stat st;
    struct timespec t = {0, 0};
    if (stat(path, &st) == 0) t = st.st_mtim;
    return t;
}

TEST(study_help_and_usage_errors) {
    CHECK_INT_EQ(run("study --help"), 0);
    CHECK_STR_CONTAINS(out, "Usage: augprobe study");
    CHECK_STR_CONTAINS(out, "--quick");
    CHECK_STR_CONTAINS(out, "--pairs LIST");
    static const struct {
        const char *args, *want;
    } bad[] = {
        {"study --quick --full", "--quick and --full exclude each other"},
        {"study --seeds 0", "--seeds: 0 is out of range"},
        {"study --seeds 17", "--seeds: 17 is out of range"},
        {"study --epochs 0", "--epochs: 0 is out of range"},
        {"study --probe-limit -1", "--probe-limit"},
        {"study --passes x", "--passes"},
        {"study --families zoom,rotation", "--families: 'rotation' is not one of"},
        {"study --taps conv9", "--taps: 'conv9' is not one of"},
        {"study --networks resnet", "--networks: 'resnet' is not one of"},
        {"study --pairs diagonal", "--pairs: 'diagonal' is not one of: cross same"},
        {"study --bootstrap 10", "--bootstrap: 10 is out of range"},
        {"study --out ''", "--out: empty directory name"},
        {"study --bogus", "unknown flag '--bogus'"},
        {"study extra", "unexpected argument 'extra'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = run(bad[i].args);
        if (rc != 2) test_fail(__FILE__, __LINE__, "'%s': exit %d, want 2", bad[i].args, rc);
        CHECK_STR_CONTAINS(out, bad[i].want);
        CHECK_STR_CONTAINS(out, "Usage: augprobe study");
    }
}

TEST(study_parse_mask_lists) {
    unsigned m = 0;
    Err e;
    StudyConfig sc;
    study_config_quick(&sc);
    const char *taps[STUDY_TAPS];
    study_tap_labels(&sc, taps);
    CHECK_INT_EQ(study_parse_mask("--taps", "dense1,block1_pool", taps, sc.n_taps, &m, &e), 0);
    CHECK_INT_EQ(m, (1u << 4) | 1u);
    CHECK_INT_EQ(study_parse_mask("--taps", "all", taps, sc.n_taps, &m, &e), 0);
    CHECK_INT_EQ(m, 31);
    CHECK_INT_EQ(study_parse_mask("--families", "zoom,", study_family_names(), STUDY_FAMILIES, &m, &e), -1);
    CHECK_INT_EQ(study_parse_mask("--families", "blur", study_family_names(), STUDY_FAMILIES, &m, &e), 0);
    CHECK_INT_EQ(m, 1u << 6);
    CHECK_INT_EQ(study_parse_mask("--pairs", "same", STUDY_MODE_NAMES, STUDY_MODES, &m, &e), 0);
    CHECK_INT_EQ(m, 1u << STUDY_MODE_SAME);
    StudyConfig q, f;
    study_config_quick(&q);
    study_config_full(&f);
    CHECK_INT_EQ(f.epochs, 50);
    CHECK_INT_EQ(f.passes, 4);
    CHECK_INT_EQ(f.probe_epochs, 50);
    CHECK_INT_EQ(f.seeds, 3);
    CHECK_INT_EQ(f.train_limit, 0);
    CHECK_INT_EQ(f.probe_limit, 0);
    CHECK_INT_EQ(f.mlp_all, 1);
    CHECK_INT_EQ(q.mlp_all, 0);
    CHECK_INT_EQ(q.seeds, 1);
    CHECK(q.epochs < f.epochs && q.probe_limit > 0);
    CHECK_INT_EQ(q.net_mask, 31);
    CHECK_INT_EQ(q.family_mask, 127);
    CHECK_INT_EQ(q.tap_mask, 31);
    CHECK_INT_EQ(q.mode_mask, 3);
    CHECK_INT_EQ(q.boot, 1000);
}

/* The first number of a markdown table cell (after p), or NaN. */
static double cell_number(const char **p) {
    while (**p == ' ') (*p)++;
    char *end;
    double v = strtod(*p, &end);
    if (end == *p) v = NAN;
    const char *bar = strchr(*p, '|');
    *p = bar ? bar + 1 : *p + strlen(*p);
    return v;
}

TEST(study_whole_grid_tiny_report_results_figures) {
    if (!test_data_dir()) SKIP("no offline CIFAR-10 (../shared/data/cifar10-q75)");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/grid", test_tmpdir());
    REQUIRE(run_study(dir, "") == 0);
    /* 3 networks x 7 x 2 modes x 5 taps + 2 floors x 7 x 2 + the notebook's 2, and the
     * importance probes of 3 networks x 7 x 2 modes */
    CHECK_STR_CONTAINS(out, "282 cells");
    StudyConfig sc;
    study_config_quick(&sc);
    char *md = slurp(dir, "report.md");
    char *csv = slurp(dir, "results.csv");
    cJSON *res = read_json(dir, "results.json");
    REQUIRE(md && res && csv);

    static const char *sections[] = {
        "## Findings", "## Setup", "- Data:", "unverified", "- Profile: quick (overrides: --epochs 1",
        "- Seeds: 1..1", "- Program: augprobe", "kernels", "threads", "- Machine:", "cores",
        "- Time:", "s wall", "s CPU", "`stats` (8 values", "- Statistics: 95% intervals",
        "100 bootstrap", "## The notebook's result", "where a has more aug :",
        "where b has more aug :", "MLP − linear", "## Per augmentation", "### zoom", "### blur",
        "**cross pairs**", "**same pairs**", "| tap | aug | noaug | random | pixels | stats |",
        "| tap | aug − pixels | noaug − pixels | random − pixels | aug − random | noaug − random "
        "| aug − noaug | aug − stats |",
        "### zoom beside its blur control", "## Relative importance of the taps",
        "| all taps (accuracy) |", "](importance.png)", "## Predictions from the literature",
        "| 1 | colour augmentations", "| 2 | training data", "| 3 | scale (zoom)",
        "## Figures", "](preview.png)", "](depth.png)", "](seed1/aug/curves.png)",
        "](seed1/noaug/curves.png)", "## Networks"};
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++)
        CHECK_STR_CONTAINS(md, sections[i]);

    /* Every cell of every family's accuracy table equals results.json's table. */
    const cJSON *table = cJSON_GetObjectItemCaseSensitive(res, "table");
    const cJSON *cells = cJSON_GetObjectItemCaseSensitive(res, "cells");
    CHECK_INT_EQ(cJSON_GetArraySize(cells), 240);
    CHECK_INT_EQ(cJSON_GetArraySize(table), 2 * 7 * (3 * 5 + 2));
    int compared = 0;
    for (int f = 0; f < STUDY_FAMILIES; f++)
        for (int m = 0; m < STUDY_MODES; m++) {
            char head[128];
            snprintf(head, sizeof head, "### %s\n", study_family_names()[f]);
            const char *p = strstr(md, head);
            REQUIRE(p);
            snprintf(head, sizeof head, "**%s pairs**", STUDY_MODE_NAMES[m]);
            p = strstr(p, head);
            REQUIRE(p);
            for (int t = 0; t < sc.n_taps; t++) {
                char row[64];
                snprintf(row, sizeof row, "\n| %s (", sc.taps[t].label);
                p = strstr(p, row);
                REQUIRE(p);
                p = strchr(p + 1, '|') + 1;
                cell_number(&p); /* the tap label's cell was skipped above */
                for (int n = 0; n < STUDY_NETS; n++) {
                    double v = cell_number(&p);
                    const char *layer = n >= STUDY_NET_PIXELS ? STUDY_NET_NAMES[n] : sc.taps[t].label;
                    const cJSON *r, *hit = NULL;
                    cJSON_ArrayForEach(r, table) {
                        if (!strcmp(cJSON_GetObjectItem(r, "network")->valuestring, STUDY_NET_NAMES[n]) &&
                            !strcmp(cJSON_GetObjectItem(r, "augmentation")->valuestring, study_family_names()[f]) &&
                            !strcmp(cJSON_GetObjectItem(r, "pairs")->valuestring, STUDY_MODE_NAMES[m]) &&
                            !strcmp(cJSON_GetObjectItem(r, "layer")->valuestring, layer))
                            hit = r;
                    }
                    REQUIRE(hit);
                    const cJSON *acc = cJSON_GetObjectItem(hit, "accuracy");
                    CHECK_NEAR(v, num(acc, "value"), 0.0005 + 1e-9);
                    const cJSON *ci = cJSON_GetObjectItem(acc, "ci95");
                    CHECK(cJSON_GetArrayItem(ci, 0)->valuedouble <= cJSON_GetArrayItem(ci, 1)->valuedouble);
                    compared++;
                }
            }
        }
    CHECK_INT_EQ(compared, 7 * 2 * 5 * 5);
    /* Each cell: accuracy is its counts' ratio; pairs and outcomes agree. */
    const cJSON *c;
    cJSON_ArrayForEach(c, cells) {
        const cJSON *a = cJSON_GetObjectItem(c, "a_more"), *b = cJSON_GetObjectItem(c, "b_more");
        double right = cJSON_GetArrayItem(a, 0)->valuedouble + cJSON_GetArrayItem(b, 0)->valuedouble;
        double total = cJSON_GetArrayItem(a, 1)->valuedouble + cJSON_GetArrayItem(b, 1)->valuedouble;
        CHECK(total > 0);
        CHECK_NEAR(num(c, "accuracy"), right / total, 1e-12);
        CHECK_INT_EQ(num(c, "pairs_test"), 8);
        CHECK(cJSON_IsObject(cJSON_GetObjectItem(c, "threshold75")));
    }
    /* results.csv: one header line, one row per cell */
    int lines = 0;
    for (const char *p = csv; *p; p++) lines += *p == '\n';
    CHECK_INT_EQ(lines, 1 + 240);
    CHECK(!strncmp(csv, "seed,network,augmentation,pairs,layer,head,dim,accuracy,accuracy_lo,", 68));
    CHECK_STR_CONTAINS(csv, "\n1,pixels,brightness,cross,pixels,linear,3072,");
    CHECK_STR_CONTAINS(csv, "\n1,aug,zoom_notebook,same,flatten,mlp,2048,");
    char *cellfile = path_join(dir, "cells/seed1-stats-blur-cross-stats-linear.json");
    CHECK(path_exists(cellfile));
    free(cellfile);

    /* The notebook's lines are the notebook cell's counts. */
    const cJSON *nb = cJSON_GetObjectItem(res, "notebook");
    const cJSON *am = cJSON_GetObjectItem(nb, "a_more"), *bm = cJSON_GetObjectItem(nb, "b_more");
    REQUIRE(am && bm);
    char line[128];
    snprintf(line, sizeof line, "where a has more aug :  %d  /  %d",
             cJSON_GetArrayItem(am, 0)->valueint, cJSON_GetArrayItem(am, 1)->valueint);
    CHECK_STR_CONTAINS(md, line);
    snprintf(line, sizeof line, "where b has more aug :  %d  /  %d",
             cJSON_GetArrayItem(bm, 0)->valueint, cJSON_GetArrayItem(bm, 1)->valueint);
    CHECK_STR_CONTAINS(md, line);

    /* Predictions: three, each with a verdict the interval implies. */
    const cJSON *preds = cJSON_GetObjectItem(res, "predictions");
    CHECK_INT_EQ(cJSON_GetArraySize(preds), 3);
    const cJSON *pr;
    cJSON_ArrayForEach(pr, preds) {
        const char *v = cJSON_GetObjectItem(pr, "verdict")->valuestring;
        const cJSON *ci = cJSON_GetObjectItem(pr, "ci95");
        double lo = cJSON_GetArrayItem(ci, 0)->valuedouble, hi = cJSON_GetArrayItem(ci, 1)->valuedouble;
        const char *want = lo > 0 ? "supported" : hi < 0 ? "not supported" : "inconclusive";
        CHECK(!strcmp(v, want));
    }
    /* Every difference marked real has an interval that excludes 0. */
    const cJSON *d;
    int real = 0;
    cJSON_ArrayForEach(d, cJSON_GetObjectItem(res, "differences")) {
        const cJSON *ci = cJSON_GetObjectItem(cJSON_GetObjectItem(d, "accuracy"), "ci95");
        double lo = cJSON_GetArrayItem(ci, 0)->valuedouble, hi = cJSON_GetArrayItem(ci, 1)->valuedouble;
        CHECK(cJSON_IsTrue(cJSON_GetObjectItem(d, "real")) == (lo > 0 || hi < 0));
        real += lo > 0 || hi < 0;
    }
    CHECK_INT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(res, "differences")), 2 * 7 * 5 * 7);
    CHECK_INT_EQ(num(cJSON_GetObjectItem(res, "comparisons"), "real"), real);

    /* Findings: generated text, the same in both files, every number from results.json. */
    const cJSON *fj = cJSON_GetObjectItem(res, "findings");
    const cJSON *text = cJSON_GetObjectItem(fj, "text");
    REQUIRE(cJSON_IsString(text));
    CHECK_STR_CONTAINS(md, text->valuestring);
    CHECK_STR_CONTAINS(text->valuestring, "The pixels floor");
    CHECK_STR_CONTAINS(text->valuestring, "Predictions from the literature");
    CHECK_STR_CONTAINS(text->valuestring, "paired comparisons");
    /* the aug - stats counts are those of results.json's cross-pair rows,
     * and a family is named "no tap is above it" exactly when none of its
     * rows is real and positive */
    {
        int up = 0, down = 0, n = 0, above[8] = {0}, fams = 0;
        const char *names[8];
        cJSON_ArrayForEach(d, cJSON_GetObjectItem(res, "differences")) {
            if (strcmp(cJSON_GetObjectItem(d, "difference")->valuestring, "aug - stats") ||
                strcmp(cJSON_GetObjectItem(d, "pairs")->valuestring, "cross"))
                continue;
            double v = num(cJSON_GetObjectItem(d, "accuracy"), "value");
            int is_real = cJSON_IsTrue(cJSON_GetObjectItem(d, "real"));
            const char *fam = cJSON_GetObjectItem(d, "augmentation")->valuestring;
            int fi = 0;
            while (fi < fams && strcmp(names[fi], fam)) fi++;
            if (fi == fams && fams < 8) names[fams++] = fam;
            n++;
            up += is_real && v > 0;
            down += is_real && v < 0;
            if (fi < 8) above[fi] += is_real && v > 0;
        }
        CHECK_INT_EQ(n, 7 * 5);
        char want[256];
        snprintf(want, sizeof want,
                 "**aug - stats**: higher in %d, lower in %d, no real difference in %d of %d "
                 "family x tap cells",
                 up, down, n - up - down, n);
        CHECK_STR_CONTAINS(text->valuestring, want);
        const char *tail = strstr(text->valuestring, want);
        const char *stop = tail ? strstr(tail, ". ") : NULL;
        for (int fi = 0; fi < fams && tail && stop; fi++) {
            const char *at = strstr(tail, names[fi]);
            int named = at && at < stop;
            if (named != !above[fi])
                test_fail(__FILE__, __LINE__, "%s: %d taps above stats, named: %d", names[fi],
                          above[fi], named);
        }
    }
    static double vals[400000];
    int nv = 0;
    collect_numbers(res, vals, &nv, 400000);
    int checked = 0;
    for (const char *p = text->valuestring; *p; p++) {
        if (!isdigit((unsigned char)*p) || (p > text->valuestring && (isdigit((unsigned char)p[-1]) || p[-1] == '.')))
            continue;
        const char *start = p > text->valuestring && (p[-1] == '+' || p[-1] == '-') ? p - 1 : p;
        char *end;
        double v = strtod(start, &end);
        if (!memchr(start, '.', (size_t)(end - start))) continue; /* counts: "6 of 30" */
        int found = 0;
        for (int i = 0; i < nv && !found; i++) found = fabs(vals[i] - v) <= 0.0005 + 1e-9;
        if (!found) test_fail(__FILE__, __LINE__, "findings number %.*s not in results.json",
                              (int)(end - start), start);
        checked++;
        p = end - 1;
    }
    CHECK(checked >= 4 + 9);

    /* Figures: 7 panels in rows of 4, the legend in its own strip. */
    int w, h;
    CHECK_INT_EQ(png_size(dir, "depth.png", &w, &h), 0);
    CHECK_INT_EQ(w, 4 * PLOT_PANEL_W);
    CHECK_INT_EQ(h, 2 * PLOT_PANEL_H + PLOT_LEGEND_H);
    CHECK_INT_EQ(png_size(dir, "preview.png", &w, &h), 0);
    CHECK_INT_EQ(w, 5 * (32 * 4 + PLOT_GRID_PAD) + PLOT_GRID_PAD);
    CHECK_INT_EQ(h, 5 * (32 * 4 + PLOT_GRID_CAPTION + PLOT_GRID_PAD) + PLOT_GRID_PAD);
    CHECK_INT_EQ(png_size(dir, "seed1/aug/curves.png", &w, &h), 0);
    CHECK_INT_EQ(png_size(dir, "seed1/noaug/curves.png", &w, &h), 0);

    const cJSON *st = cJSON_GetObjectItem(res, "stats");
    CHECK_INT_EQ(num(st, "cells_computed"), 282);
    /* importance: every (network, family, mode), shares summing to 1 */
    const cJSON *imp = cJSON_GetObjectItem(res, "importance"), *ir;
    CHECK_INT_EQ(cJSON_GetArraySize(imp), 3 * 7 * 2);
    cJSON_ArrayForEach(ir, imp) {
        const cJSON *tj = cJSON_GetObjectItem(ir, "taps"), *t;
        CHECK_INT_EQ(cJSON_GetArraySize(tj), 5);
        double sum = 0;
        int defined = 0;
        cJSON_ArrayForEach(t, tj) {
            const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(t, "share"), "value");
            if (cJSON_IsNumber(v)) sum += v->valuedouble, defined++;
        }
        CHECK(defined == 0 || (defined == 5 && fabs(sum - 1) < 1e-9));
    }
    CHECK_INT_EQ(png_size(dir, "importance.png", &w, &h), 0);
    CHECK_INT_EQ(w, 3 * PLOT_PANEL_W);
    CHECK_INT_EQ(h, PLOT_PANEL_H + PLOT_LEGEND_H);
    CHECK_INT_EQ(num(st, "nets_trained"), 2);
    free(md);
    free(csv);
    cJSON_Delete(res);
}

/* Removes the timing fields (they differ run to run) from a results.json. */
static void drop_timings(cJSON *o) {
    static const char *keys[] = {"wall_seconds", "cpu_seconds", "probe_seconds_recorded",
                                 "training_seconds_recorded", "head_seconds",
                                 "features_seconds", "training_seconds", "rank_busy_seconds",
                                 "text"};
    for (cJSON *it = o ? o->child : NULL; it; it = it->next) drop_timings(it);
    if (cJSON_IsObject(o))
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            cJSON_DeleteItemFromObjectCaseSensitive(o, keys[i]);
}

TEST(study_same_seed_and_threads_same_results_both_modes) {
    if (!test_data_dir()) SKIP("no offline CIFAR-10 (../shared/data/cifar10-q75)");
    char d1[1024], d2[1024];
    snprintf(d1, sizeof d1, "%s/det1", test_tmpdir());
    snprintf(d2, sizeof d2, "%s/det2", test_tmpdir());
    const char *grid = "--networks aug,random,pixels --families brightness,blur "
                       "--taps block1_pool,dense1";
    REQUIRE(run_study(d1, grid) == 0);
    REQUIRE(run_study(d2, grid) == 0);
    cJSON *a = read_json(d1, "results.json"), *b = read_json(d2, "results.json");
    REQUIRE(a && b);
    /* the findings text holds no timing: compare it whole */
    CHECK(!strcmp(cJSON_GetObjectItem(cJSON_GetObjectItem(a, "findings"), "text")->valuestring,
                  cJSON_GetObjectItem(cJSON_GetObjectItem(b, "findings"), "text")->valuestring));
    drop_timings(a);
    drop_timings(b);
    char *ta = cJSON_PrintUnformatted(a), *tb = cJSON_PrintUnformatted(b);
    CHECK(!strcmp(ta, tb));
    CHECK_STR_CONTAINS(ta, "\"pairs\":\"cross\"");
    CHECK_STR_CONTAINS(ta, "\"pairs\":\"same\"");
    free(ta);
    free(tb);
    cJSON_Delete(a);
    cJSON_Delete(b);
    /* the cells themselves, outcome bits included, are byte-identical but for timings */
    char *ca = slurp(d1, "cells/seed1-aug-blur-cross-dense1-linear.json");
    char *cb = slurp(d2, "cells/seed1-aug-blur-cross-dense1-linear.json");
    REQUIRE(ca && cb);
    cJSON *ja = cJSON_Parse(ca), *jb = cJSON_Parse(cb);
    CHECK(!strcmp(cJSON_GetObjectItem(ja, "outcome")->valuestring,
                  cJSON_GetObjectItem(jb, "outcome")->valuestring));
    cJSON_Delete(ja);
    cJSON_Delete(jb);
    free(ca);
    free(cb);
}

TEST(study_rerun_recomputes_only_deleted_cells_with_same_numbers) {
    if (!test_data_dir()) SKIP("no offline CIFAR-10 (../shared/data/cifar10-q75)");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/resume", test_tmpdir());
    const char *grid = "--networks aug,random --families zoom,hue --taps block1_pool,flatten "
                       "--pairs cross";
    REQUIRE(run_study(dir, grid) == 0);
    CHECK_STR_CONTAINS(out, "12 cells"); /* 8, and 4 importance cells (2 taps) */
    const char *names[] = {
        "aug-zoom-cross-block1_pool-linear",    "aug-zoom-cross-flatten-linear",
        "aug-hue-cross-block1_pool-linear",     "aug-hue-cross-flatten-linear",
        "random-zoom-cross-block1_pool-linear", "random-zoom-cross-flatten-linear",
        "random-hue-cross-block1_pool-linear",  "random-hue-cross-flatten-linear"};
    char *paths[8], *before[8];
    struct timespec t_before[8];
    for (int i = 0; i < 8; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "cells/seed1-%s.json", names[i]);
        paths[i] = path_join(dir, rel);
        before[i] = slurp(dir, rel);
        t_before[i] = mtime_of(paths[i]);
        CHECK(before[i] != NULL);
    }
    char *report_before = slurp(dir, "report.md");
    /* A rerun with nothing to do recomputes nothing. */
    REQUIRE(run_study(dir, grid) == 0);
    cJSON *res = read_json(dir, "results.json");
    CHECK_INT_EQ(num(cJSON_GetObjectItem(res, "stats"), "cells_computed"), 0);
    CHECK_INT_EQ(num(cJSON_GetObjectItem(res, "stats"), "cells_reused"), 12);
    cJSON_Delete(res);

    /* Delete one cell of the trained network and one of the control. */
    const int del[2] = {1, 7};
    for (int j = 0; j < 2; j++) REQUIRE(remove(paths[del[j]]) == 0);
    REQUIRE(run_study(dir, grid) == 0);
    res = read_json(dir, "results.json");
    const cJSON *st = cJSON_GetObjectItem(res, "stats");
    CHECK_INT_EQ(num(st, "cells_computed"), 2);
    CHECK_INT_EQ(num(st, "cells_reused"), 10);
    CHECK_INT_EQ(num(st, "nets_trained"), 0);
    CHECK_INT_EQ(num(st, "nets_reused"), 1); /* aug, loaded from its model file */
    for (int i = 0; i < 8; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "cells/seed1-%s.json", names[i]);
        char *now = slurp(dir, rel);
        REQUIRE(now != NULL);
        struct timespec t = mtime_of(paths[i]);
        int untouched = t.tv_sec == t_before[i].tv_sec && t.tv_nsec == t_before[i].tv_nsec;
        if (i == del[0] || i == del[1]) {
            /* recomputed: the same numbers (only the timings differ) */
            cJSON *a = cJSON_Parse(before[i]), *b = cJSON_Parse(now);
            CHECK(num(a, "accuracy") == num(b, "accuracy"));
            CHECK(num(a, "train_loss") == num(b, "train_loss"));
            CHECK(cJSON_Compare(cJSON_GetObjectItem(a, "a_more"), cJSON_GetObjectItem(b, "a_more"), 1));
            CHECK(cJSON_Compare(cJSON_GetObjectItem(a, "b_more"), cJSON_GetObjectItem(b, "b_more"), 1));
            CHECK(cJSON_Compare(cJSON_GetObjectItem(a, "by_gap"), cJSON_GetObjectItem(b, "by_gap"), 1));
            CHECK(cJSON_Compare(cJSON_GetObjectItem(a, "threshold75"),
                                cJSON_GetObjectItem(b, "threshold75"), 1));
            CHECK(!strcmp(cJSON_GetObjectItem(a, "outcome")->valuestring,
                          cJSON_GetObjectItem(b, "outcome")->valuestring));
            cJSON_Delete(a);
            cJSON_Delete(b);
        } else {
            CHECK(untouched);
            CHECK(!strcmp(now, before[i]));
        }
        free(now);
    }
    /* The report's table is unchanged. */
    char *report_after = slurp(dir, "report.md");
    REQUIRE(report_before && report_after);
    const char *ta = strstr(report_before, "## Per augmentation"), *tb = strstr(report_after, "## Per augmentation");
    const char *ea = strstr(report_before, "## Figures"), *eb = strstr(report_after, "## Figures");
    REQUIRE(ta && tb && ea && eb);
    CHECK(ea - ta == eb - tb && memcmp(ta, tb, (size_t)(ea - ta)) == 0);
    cJSON_Delete(res);
    free(report_before);
    free(report_after);
    for (int i = 0; i < 8; i++) free(paths[i]), free(before[i]);
}

/* What a kill leaves between a network's last checkpoint and the run.json
 * train_run writes last: the checkpoint and model are done, but run.json
 * says "running" (or is still the previous epoch's, epochs_done 1) and no
 * cell of the network exists yet. The rerun must complete run.json, not
 * reuse the network as it is: its results.json equals an uninterrupted
 * run's (the chaos test's occasional difference, found this way). */
TEST(study_rerun_completes_run_json_left_by_a_kill) {
    if (!test_data_dir()) SKIP("no offline CIFAR-10 (../shared/data/cifar10-q75)");
    char ref_dir[1024], dir[1024];
    snprintf(ref_dir, sizeof ref_dir, "%s/ref", test_tmpdir());
    const char *grid = "--networks aug --families zoom --taps flatten --pairs cross --epochs 2";
    REQUIRE(run_study(ref_dir, grid) == 0);
    cJSON *want = read_json(ref_dir, "results.json");
    REQUIRE(want);
    drop_timings(want);
    for (int variant = 0; variant < 2; variant++) {
        snprintf(dir, sizeof dir, "%s/killed%d", test_tmpdir(), variant);
        char cmd[8192], out_cmd[256];
        snprintf(cmd, sizeof cmd, "cp -a '%s' '%s' && rm '%s/results.json' '%s'/cells/seed1-aug-*",
                 ref_dir, dir, dir, dir);
        REQUIRE(test_run(cmd, out_cmd, sizeof out_cmd) == 0);
        /* run.json as the kill left it */
        char *text = slurp(dir, "seed1/aug/run.json");
        REQUIRE(text);
        cJSON *rj = cJSON_Parse(text);
        free(text);
        REQUIRE(rj);
        cJSON_ReplaceItemInObject(rj, "status", cJSON_CreateString("running"));
        if (variant == 1) cJSON_ReplaceItemInObject(rj, "epochs_done", cJSON_CreateNumber(1));
        char *rp = path_join(dir, "seed1/aug/run.json");
        Err e;
        REQUIRE(json_write_file(rp, rj, &e) == 0);
        free(rp);
        cJSON_Delete(rj);
        REQUIRE(run_study(dir, grid) == 0);
        cJSON *got = read_json(dir, "results.json");
        REQUIRE(got);
        const cJSON *nets = cJSON_GetObjectItem(got, "networks");
        CHECK(!strcmp(cJSON_GetObjectItem(cJSON_GetArrayItem(nets, 0), "status")->valuestring,
                      "complete"));
        CHECK_INT_EQ(num(cJSON_GetArrayItem(nets, 0), "epochs_done"), 2);
        CHECK_INT_EQ(num(cJSON_GetObjectItem(got, "stats"), "nets_trained"), 0);
        drop_timings(got);
        cJSON_DeleteItemFromObject(got, "stats");
        cJSON *w = cJSON_Duplicate(want, 1);
        cJSON_DeleteItemFromObject(w, "stats");
        char *tg = cJSON_PrintUnformatted(got), *tw2 = cJSON_PrintUnformatted(w);
        CHECK(!strcmp(tg, tw2));
        free(tg);
        free(tw2);
        cJSON_Delete(w);
        cJSON_Delete(got);
    }
    cJSON_Delete(want);
}

TEST(study_resumes_shorter_training_and_refuses_other_settings) {
    if (!test_data_dir()) SKIP("no offline CIFAR-10 (../shared/data/cifar10-q75)");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/extend", test_tmpdir());
    const char *grid = "--networks aug --families zoom --taps flatten --pairs cross "
                       "--lr-schedule constant";
    REQUIRE(run_study(dir, grid) == 0);
    /* A cosine-annealed training cannot be extended: its rate depends on
     * the run's length. */
    char other[1024];
    snprintf(other, sizeof other, "%s/cosine", test_tmpdir());
    REQUIRE(run_study(other, "--networks aug --families zoom --taps flatten --pairs cross") == 0);
    CHECK(run_study(other, "--networks aug --families zoom --taps flatten --pairs cross "
                           "--epochs 2") != 0);
    CHECK_STR_CONTAINS(out, "a network trained with another --epochs (cosine schedule) is there");
    CHECK(run_study(other, "--networks aug --families zoom --taps flatten --pairs cross "
                           "--lr-schedule constant") != 0);
    CHECK_STR_CONTAINS(out, "another learning-rate schedule");
    /* A training stopped after epoch 1 of 2 is what a killed study leaves:
     * asking for 2 epochs continues it from its checkpoint. */
    char extra[256];
    snprintf(extra, sizeof extra, "%s --epochs 2", grid);
    REQUIRE(run_study(dir, extra) == 0);
    CHECK_STR_CONTAINS(out, "resuming");
    cJSON *res = read_json(dir, "results.json");
    const cJSON *st = cJSON_GetObjectItem(res, "stats");
    CHECK_INT_EQ(num(st, "nets_resumed"), 1);
    CHECK_INT_EQ(num(st, "cells_stale"), 1);
    CHECK_INT_EQ(num(st, "cells_computed"), 1);
    const cJSON *net = cJSON_GetArrayItem(cJSON_GetObjectItem(res, "networks"), 0);
    CHECK_INT_EQ(num(net, "epochs_done"), 2);
    CHECK_STR_CONTAINS(cJSON_GetObjectItem(res, "overrides")->valuestring, "--epochs 2");
    CHECK_STR_CONTAINS(cJSON_GetObjectItem(res, "overrides")->valuestring,
                       "--lr-schedule constant");
    cJSON_Delete(res);
    char *md = slurp(dir, "report.md");
    CHECK_STR_CONTAINS(md, "a PARTIAL grid");
    CHECK_STR_CONTAINS(md, "| 1 | aug | complete | 2 |");
    free(md);
    /* Another training subset in the same directory: refused, nothing lost. */
    char args[2048];
    snprintf(args, sizeof args,
             "study --data %s --out %s --train-limit 32 --epochs 2 --eval-limit 16 "
             "--probe-limit 8 --passes 1 --probe-epochs 1 --bootstrap 100 --threads 2 %s",
             test_data_dir(), dir, grid);
    CHECK_INT_EQ(run(args), 1);
    CHECK_STR_CONTAINS(out, "augprobe study: ");
    CHECK_STR_CONTAINS(out, "--train-limit");
    CHECK_STR_CONTAINS(out, "use another --out");
}
