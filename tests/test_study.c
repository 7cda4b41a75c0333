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
#include "../src/plot.h"
#include "../src/study.h"
#include "test.h"

static char out[1 << 17];

/* The tiny sizes: a few seconds of CPU for the whole grid. */
#define TINY "--train-limit 64 --epochs 1 --eval-limit 16 --probe-limit 8 --passes 1 " \
             "--probe-epochs 1 --threads 2"

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
    static const struct {
        const char *args, *want;
    } bad[] = {
        {"study --quick --full", "--quick and --full exclude each other"},
        {"study --seeds 0", "--seeds: 0 is out of range"},
        {"study --seeds 17", "--seeds: 17 is out of range"},
        {"study --epochs 0", "--epochs: 0 is out of range"},
        {"study --probe-limit -1", "--probe-limit"},
        {"study --passes x", "--passes"},
        {"study --families zoom,blur", "--families: 'blur' is not one of"},
        {"study --taps conv9", "--taps: 'conv9' is not one of"},
        {"study --networks resnet", "--networks: 'resnet' is not one of"},
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
    CHECK_INT_EQ(study_parse_mask("--taps", "dense1,block1_pool", STUDY_TAP_NAMES, STUDY_TAPS, &m, &e), 0);
    CHECK_INT_EQ(m, (1u << 4) | 1u);
    CHECK_INT_EQ(study_parse_mask("--taps", "all", STUDY_TAP_NAMES, STUDY_TAPS, &m, &e), 0);
    CHECK_INT_EQ(m, 31);
    CHECK_INT_EQ(study_parse_mask("--families", "zoom,", study_family_names(), STUDY_FAMILIES, &m, &e), -1);
    CHECK_INT_EQ(study_parse_mask("--families", "hue", study_family_names(), STUDY_FAMILIES, &m, &e), 0);
    CHECK_INT_EQ(m, 1u << 5);
    StudyConfig q, f;
    study_config_quick(&q);
    study_config_full(&f);
    CHECK_INT_EQ(f.epochs, 50);
    CHECK_INT_EQ(f.passes, 4);
    CHECK_INT_EQ(f.probe_epochs, 50);
    CHECK_INT_EQ(f.seeds, 3);
    CHECK_INT_EQ(f.train_limit, 0);
    CHECK_INT_EQ(f.probe_limit, 0);
    CHECK_INT_EQ(q.seeds, 1);
    CHECK(q.epochs < f.epochs && q.train_limit > 0 && q.probe_limit > 0);
    CHECK_INT_EQ(q.net_mask, 7);
    CHECK_INT_EQ(q.family_mask, 63);
    CHECK_INT_EQ(q.tap_mask, 31);
}

TEST(study_whole_grid_tiny_report_results_figures) {
    if (!test_data_dir()) SKIP("no offline CIFAR-10 (../shared/data/cifar10-q75)");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/grid", test_tmpdir());
    REQUIRE(run_study(dir, "") == 0);
    CHECK_STR_CONTAINS(out, "90 cells");
    char *md = slurp(dir, "report.md");
    cJSON *res = read_json(dir, "results.json");
    REQUIRE(md && res);

    static const char *sections[] = {
        "## Setup", "- Data:", "unverified", "- Profile: quick (overrides: --epochs 1",
        "- Seeds: 1..1", "- Program: augprobe", "kernels", "threads", "- Machine:", "cores",
        "- Time:", "s wall", "s CPU", "## The notebook's result", "where a has more aug :",
        "where b has more aug :", "## Probe accuracy", "single seed, no spread",
        "| network | augmentation | block1_pool (avg, 32) | block2_pool (avg, 64) | "
        "block3_pool (avg, 128) | flatten (2048) | dense1 (1024) |",
        "## Figures", "](preview.png)", "](depth.png)", "](seed1/aug/curves.png)",
        "](seed1/noaug/curves.png)", "## Findings", "## Networks"};
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++)
        CHECK_STR_CONTAINS(md, sections[i]);

    /* Every row of the table, each with 5 accuracies equal to results.json's means. */
    const cJSON *table = cJSON_GetObjectItemCaseSensitive(res, "table");
    const cJSON *cells = cJSON_GetObjectItemCaseSensitive(res, "cells");
    CHECK_INT_EQ(cJSON_GetArraySize(table), 90);
    CHECK_INT_EQ(cJSON_GetArraySize(cells), 90);
    const char *fams[] = {"zoom", "aspect", "brightness", "contrast", "saturation", "hue"};
    int k = 0;
    for (int n = 0; n < STUDY_NETS; n++)
        for (int f = 0; f < STUDY_FAMILIES; f++) {
            char row[128];
            snprintf(row, sizeof row, "\n| %s | %s |", STUDY_NET_NAMES[n], fams[f]);
            const char *p = strstr(md, row);
            if (!p) {
                test_fail(__FILE__, __LINE__, "table row '%s' missing", row + 1);
                k += STUDY_TAPS;
                continue;
            }
            p += strlen(row);
            for (int t = 0; t < STUDY_TAPS; t++, k++) {
                double v = strtod(p, (char **)&p);
                const cJSON *r = cJSON_GetArrayItem(table, k);
                CHECK_INT_EQ(num(r, "n"), 1);
                CHECK(!strcmp(cJSON_GetObjectItem(r, "layer")->valuestring, STUDY_TAP_NAMES[t]));
                CHECK_NEAR(v, num(r, "mean"), 0.0005 + 1e-9);
                CHECK(num(r, "mean") >= 0 && num(r, "mean") <= 1);
                p = strchr(p, '|');
                if (!p) break;
                p++;
                char cell[256];
                snprintf(cell, sizeof cell, "cells/seed1-%s-%s-%s.json", STUDY_NET_NAMES[n],
                         fams[f], STUDY_TAP_NAMES[t]);
                char *path = path_join(dir, cell);
                CHECK(path_exists(path));
                free(path);
            }
        }
    /* Each cell's accuracy is its counts' ratio. */
    const cJSON *c;
    cJSON_ArrayForEach(c, cells) {
        const cJSON *a = cJSON_GetObjectItem(c, "a_more"), *b = cJSON_GetObjectItem(c, "b_more");
        double right = cJSON_GetArrayItem(a, 0)->valuedouble + cJSON_GetArrayItem(b, 0)->valuedouble;
        double total = cJSON_GetArrayItem(a, 1)->valuedouble + cJSON_GetArrayItem(b, 1)->valuedouble;
        CHECK(total > 0);
        CHECK_NEAR(num(c, "accuracy"), right / total, 1e-12);
        CHECK_INT_EQ(num(c, "pairs_test"), 8);
    }

    /* The notebook's lines are the aug/zoom/flatten cell's counts. */
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

    /* Findings: generated text, the same in both files, every number from results.json. */
    const cJSON *fj = cJSON_GetObjectItem(res, "findings");
    const cJSON *text = cJSON_GetObjectItem(fj, "text");
    REQUIRE(cJSON_IsString(text));
    CHECK_STR_CONTAINS(md, text->valuestring);
    CHECK_STR_CONTAINS(text->valuestring, "Best tap per augmentation");
    CHECK_STR_CONTAINS(text->valuestring, "untrained control");
    CHECK_STR_CONTAINS(text->valuestring, "from block1_pool to dense1");
    static double vals[100000];
    int nv = 0;
    collect_numbers(res, vals, &nv, 100000);
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
    CHECK(checked >= 3 * 6 + 3 + 2 + 6);

    /* Figures. */
    int w, h;
    CHECK_INT_EQ(png_size(dir, "depth.png", &w, &h), 0);
    CHECK_INT_EQ(w, 3 * PLOT_PANEL_W);
    CHECK_INT_EQ(h, PLOT_PANEL_H);
    CHECK_INT_EQ(png_size(dir, "preview.png", &w, &h), 0);
    CHECK_INT_EQ(w, 5 * (32 * 4 + PLOT_GRID_PAD) + PLOT_GRID_PAD);
    CHECK_INT_EQ(h, 5 * (32 * 4 + PLOT_GRID_CAPTION + PLOT_GRID_PAD) + PLOT_GRID_PAD);
    CHECK_INT_EQ(png_size(dir, "seed1/aug/curves.png", &w, &h), 0);
    CHECK_INT_EQ(png_size(dir, "seed1/noaug/curves.png", &w, &h), 0);

    const cJSON *st = cJSON_GetObjectItem(res, "stats");
    CHECK_INT_EQ(num(st, "cells_computed"), 90);
    CHECK_INT_EQ(num(st, "nets_trained"), 2);
    free(md);
    cJSON_Delete(res);
}

TEST(study_rerun_recomputes_only_deleted_cells_with_same_numbers) {
    if (!test_data_dir()) SKIP("no offline CIFAR-10 (../shared/data/cifar10-q75)");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/resume", test_tmpdir());
    const char *grid = "--networks aug,random --families zoom,hue --taps block1_pool,flatten";
    REQUIRE(run_study(dir, grid) == 0);
    CHECK_STR_CONTAINS(out, "8 cells");
    const char *names[] = {"aug-zoom-block1_pool", "aug-zoom-flatten",    "aug-hue-block1_pool",
                           "aug-hue-flatten",      "random-zoom-block1_pool", "random-zoom-flatten",
                           "random-hue-block1_pool", "random-hue-flatten"};
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
    CHECK_INT_EQ(num(cJSON_GetObjectItem(res, "stats"), "cells_reused"), 8);
    cJSON_Delete(res);

    /* Delete one cell of the trained network and one of the control. */
    const int del[2] = {1, 7};
    for (int j = 0; j < 2; j++) REQUIRE(remove(paths[del[j]]) == 0);
    REQUIRE(run_study(dir, grid) == 0);
    res = read_json(dir, "results.json");
    const cJSON *st = cJSON_GetObjectItem(res, "stats");
    CHECK_INT_EQ(num(st, "cells_computed"), 2);
    CHECK_INT_EQ(num(st, "cells_reused"), 6);
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
            CHECK(cJSON_Compare(cJSON_GetObjectItem(a, "accuracy_by_gap"),
                                cJSON_GetObjectItem(b, "accuracy_by_gap"), 1));
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
    const char *ta = strstr(report_before, "## Probe accuracy"), *tb = strstr(report_after, "## Probe accuracy");
    const char *ea = strstr(report_before, "## Figures"), *eb = strstr(report_after, "## Figures");
    REQUIRE(ta && tb && ea && eb);
    CHECK(ea - ta == eb - tb && memcmp(ta, tb, (size_t)(ea - ta)) == 0);
    cJSON_Delete(res);
    free(report_before);
    free(report_after);
    for (int i = 0; i < 8; i++) free(paths[i]), free(before[i]);
}

TEST(study_resumes_shorter_training_and_refuses_other_settings) {
    if (!test_data_dir()) SKIP("no offline CIFAR-10 (../shared/data/cifar10-q75)");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/extend", test_tmpdir());
    const char *grid = "--networks aug --families zoom --taps flatten";
    REQUIRE(run_study(dir, grid) == 0);
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
    cJSON_Delete(res);
    char *md = slurp(dir, "report.md");
    CHECK_STR_CONTAINS(md, "a PARTIAL grid");
    CHECK_STR_CONTAINS(md, "| 1 | aug | complete | 2 |");
    free(md);
    /* Another training subset in the same directory: refused, nothing lost. */
    char args[2048];
    snprintf(args, sizeof args,
             "study --data %s --out %s --train-limit 32 --epochs 2 --eval-limit 16 "
             "--probe-limit 8 --passes 1 --probe-epochs 1 --threads 2 %s",
             test_data_dir(), dir, grid);
    CHECK_INT_EQ(run(args), 1);
    CHECK_STR_CONTAINS(out, "augprobe study: ");
    CHECK_STR_CONTAINS(out, "--train-limit");
    CHECK_STR_CONTAINS(out, "use another --out");
}
