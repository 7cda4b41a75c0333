/* probe.c - the RankNet probe on frozen features: pairs, the feature cache,
 * the head's training and evaluation, and the result's text and JSON.
 * See probe.h for the pipeline and the notebook bugs it fixes. */
#include "probe.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "layers.h"
#include "optim.h"
#include "rng.h"

/* Sub-streams of RNG_TAG_PROBE besides the pairs' (which use the split id). */
enum { PROBE_STREAM_HEAD_INIT = 100, PROBE_STREAM_SHUFFLE, PROBE_STREAM_DROPOUT };

static uint64_t probe_stream(uint64_t sub, uint64_t index) {
    return rng_mix(RNG_TAG_PROBE, rng_mix(sub, index));
}

void probe_config_family(ProbeConfig *c, AugKind family) {
    c->family = family;
    c->n_levels = aug_default_levels(family, c->levels);
}

void probe_config_defaults(ProbeConfig *c) {
    memset(c, 0, sizeof *c);
    probe_config_family(c, AUG_ZOOM);
    snprintf(c->layer, sizeof c->layer, "flatten");
    c->pool = PROBE_POOL_FLATTEN;
    c->passes = 4;
    c->epochs = 50;
    c->batch = 32;
    c->seed = 1;
    c->split_seed = 1;
    c->threads = 1;
    snprintf(c->device, sizeof c->device, "cpu");
    c->limit = 0;
    c->max_feature_bytes = (size_t)1536 << 20;
}

int probe_parse_levels(AugKind family, const char *text, float *levels, int *n_levels, Err *e) {
    float lo, hi;
    aug_valid_range(family, &lo, &hi);
    int n = 0;
    const char *p = text;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char item[64];
        if (len == 0 || len >= sizeof item)
            return err_set(e, "--levels: '%s' is not a comma-separated list of numbers", text);
        memcpy(item, p, len);
        item[len] = 0;
        char *stop;
        double v = strtod(item, &stop);
        if (*stop || !isfinite(v))
            return err_set(e, "--levels: '%s' is not a number", item);
        if (v < lo || v > hi)
            return err_set(e, "--levels: %s is outside %s's range [%g, %g]", item,
                           aug_kind_name(family), lo, hi);
        if (n == PROBE_MAX_LEVELS)
            return err_set(e, "--levels: more than %d levels", PROBE_MAX_LEVELS);
        for (int i = 0; i < n; i++)
            if (levels[i] == (float)v) return err_set(e, "--levels: %s is given twice", item);
        levels[n++] = (float)v;
        if (!end) break;
        p = end + 1;
    }
    if (n < 2) return err_set(e, "--levels: '%s': need at least two distinct levels", text);
    *n_levels = n;
    return 0;
}

int probe_more_is_lower(AugKind family, const float *levels, int n_levels) {
    float identity = family == AUG_ZOOM || family == AUG_ASPECT || family == AUG_CONTRAST ||
                             family == AUG_SATURATION
                         ? 1.0f
                         : 0.0f;
    double mean = 0;
    for (int i = 0; i < n_levels; i++) mean += levels[i];
    return n_levels > 0 && mean / n_levels < identity;
}

/* ---- pairs ---- */

void probe_pairs_make(ProbePairs *p, int n_images, int passes, const float *levels,
                      int n_levels, uint64_t seed, ProbeSplit split) {
    long n = (long)passes * n_images;
    p->n = (int)n;
    p->image = xmalloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    p->la = xmalloc((size_t)(n > 0 ? n : 1));
    p->lb = xmalloc((size_t)(n > 0 ? n : 1));
    p->target = xmalloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    int ties = 0;
#pragma omp parallel for schedule(static) reduction(+ : ties)
    for (long k = 0; k < n; k++) {
        uint64_t pass = (uint64_t)(k / n_images), image = (uint64_t)(k % n_images);
        Rng r = rng_stream(seed, probe_stream((uint64_t)split, pass << 32 | image));
        int a = (int)rng_below(&r, (uint64_t)n_levels);
        int b = (int)rng_below(&r, (uint64_t)n_levels);
        p->image[k] = (int)image;
        p->la[k] = (uint8_t)a;
        p->lb[k] = (uint8_t)b;
        float t = levels[a] > levels[b] ? 1.0f : levels[a] < levels[b] ? -1.0f : 0.0f;
        p->target[k] = t;
        ties += t == 0.0f;
    }
    p->ties = ties;
}

void probe_pairs_free(ProbePairs *p) {
    free(p->image);
    free(p->la);
    free(p->lb);
    free(p->target);
    memset(p, 0, sizeof *p);
}

/* ---- feature cache ---- */

size_t probe_tap_dim(const Net *trunk, int layer_index, ProbePool pool) {
    const Layer *l = &trunk->layers[layer_index];
    return pool == PROBE_POOL_AVG ? (size_t)l->c : (size_t)l->h * l->w * l->c;
}

static const char *pool_name(ProbePool pool) {
    return pool == PROBE_POOL_AVG ? "avg" : "flatten";
}

/* "a, b, c" list of the trunk's layer names, for error messages. */
static void layer_names(const Net *net, char *buf, size_t len) {
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < net->n_layers && used + 1 < len; i++) {
        int w = snprintf(buf + used, len - used, "%s%s", i ? ", " : "",
                         net->layers[i].spec.name);
        if (w < 0) break;
        used += (size_t)w;
    }
}

int probe_find_tap(const Net *trunk, const char *layer, Err *e) {
    int i = net_find_layer(trunk, layer);
    if (i < 0) {
        char names[1024];
        layer_names(trunk, names, sizeof names);
        err_set(e, "--layer: no layer named '%s' (layers: %s)", layer, names);
    }
    return i;
}

int probe_features_compute(Net *trunk, const ImageSet *set, int n, AugKind family,
                           const float *levels, int n_levels, const ProbeTap *taps,
                           int n_taps, size_t max_bytes, ProbeFeatures *out,
                           long *forward_images, Err *e) {
    if (n <= 0 || n > set->n)
        return err_set(e, "probe: %d images asked of a split of %d", n, set->n);
    if (trunk->in_h != CIFAR_H || trunk->in_w != CIFAR_W || trunk->in_c != CIFAR_C)
        return err_set(e, "probe: the trunk does not take 32x32x3 images");
    int idx[PROBE_MAX_TAPS], deepest = -1;
    size_t dims[PROBE_MAX_TAPS];
    double bytes = 0;
    if (n_taps < 1 || n_taps > PROBE_MAX_TAPS)
        return err_set(e, "probe: %d taps (1..%d)", n_taps, PROBE_MAX_TAPS);
    for (int t = 0; t < n_taps; t++) {
        idx[t] = probe_find_tap(trunk, taps[t].layer, e);
        if (idx[t] < 0) return -1;
        if (strlen(taps[t].layer) >= PROBE_LAYER_NAME)
            return err_set(e, "--layer: name too long: '%s'", taps[t].layer);
        dims[t] = probe_tap_dim(trunk, idx[t], taps[t].pool);
        bytes += (double)dims[t] * n * n_levels * sizeof(float);
        if (idx[t] > deepest) deepest = idx[t];
    }
    if (bytes > (double)max_bytes)
        return err_set(e,
                       "probe: the feature cache of %d images x %d levels needs %.0f MB "
                       "(limit %.0f MB): use --pool avg, a smaller --limit or --max-memory",
                       n, n_levels, bytes / 1048576.0, (double)max_bytes / 1048576.0);

    for (int t = 0; t < n_taps; t++) {
        ProbeFeatures *f = &out[t];
        memset(f, 0, sizeof *f);
        snprintf(f->layer, sizeof f->layer, "%s", taps[t].layer);
        f->pool = taps[t].pool;
        f->n_images = n;
        f->n_levels = n_levels;
        f->dim = (int)dims[t];
        f->x = xalloc_floats(dims[t] * (size_t)n * n_levels);
    }
    int B = trunk->max_batch;
    AugParams *params = xmalloc(sizeof(AugParams) * (size_t)B);
    int *img = xmalloc(sizeof(int) * (size_t)B);
    long ran = 0;
    int rc = net_attach_images(trunk, set->images, set->n, e);
    for (int l = 0; l < n_levels && rc == 0; l++) {
        for (int j = 0; j < B; j++) aug_params_level(family, levels[l], &params[j]);
        for (int start = 0; start < n && rc == 0; start += B) {
            int nb = n - start < B ? n - start : B;
            for (int j = 0; j < nb; j++) img[j] = start + j;
            if (!net_forward_images(trunk, set->images, img, params, nb, 0, NULL, deepest)) {
                rc = err_set(e, "probe: %s", net_error(trunk));
                break;
            }
            ran += nb;
            for (int t = 0; t < n_taps; t++) {
                const Layer *ly = &trunk->layers[idx[t]];
                const float *act = net_layer_out(trunk, idx[t], nb);
                if (!act) {
                    rc = err_set(e, "probe: %s", net_error(trunk));
                    break;
                }
                size_t per = (size_t)ly->h * ly->w * ly->c, dim = dims[t];
                float *dst = out[t].x + ((size_t)l * n + start) * dim;
                if (taps[t].pool == PROBE_POOL_FLATTEN) {
                    memcpy(dst, act, sizeof(float) * per * nb);
                    continue;
                }
                int C = ly->c, S = ly->h * ly->w;
#pragma omp parallel for schedule(static)
                for (int j = 0; j < nb; j++) {
                    const float *a = act + (size_t)j * per;
                    float *o = dst + (size_t)j * dim;
                    for (int ch = 0; ch < C; ch++) o[ch] = 0;
                    for (int s = 0; s < S; s++)
                        for (int ch = 0; ch < C; ch++) o[ch] += a[(size_t)s * C + ch];
                    for (int ch = 0; ch < C; ch++) o[ch] /= (float)S;
                }
            }
        }
    }
    free(params);
    free(img);
    if (rc) {
        for (int t = 0; t < n_taps; t++) probe_features_free(&out[t]);
        return -1;
    }
    if (forward_images) *forward_images = ran;
    return 0;
}

void probe_features_free(ProbeFeatures *f) {
    free(f->x);
    memset(f, 0, sizeof *f);
}

/* ---- head ---- */

static int check_features(const ProbeConfig *c, const ProbeFeatures *f, const char *which,
                          Err *e) {
    if (!f->x || f->n_images <= 0 || f->dim <= 0)
        return err_set(e, "probe: the %s feature cache is empty", which);
    if (f->n_levels != c->n_levels)
        return err_set(e, "probe: the %s feature cache has %d levels, the config %d", which,
                       f->n_levels, c->n_levels);
    if (c->passes < 1 || c->batch < 1 || c->epochs < 0)
        return err_set(e, "probe: passes, batch must be >= 1 and epochs >= 0");
    return 0;
}

/* Inference scores of every cached (level, image): [level][image]; NULL
 * when the head's device failed (net_error). */
static float *score_all(Net *head, const ProbeFeatures *f) {
    long rows = (long)f->n_levels * f->n_images;
    float *scores = xmalloc(sizeof(float) * (size_t)rows);
    int B = head->max_batch;
    for (long start = 0; start < rows; start += B) {
        int nb = rows - start < B ? (int)(rows - start) : B;
        const float *s = net_forward(head, f->x + (size_t)start * f->dim, nb, 0, NULL, -1);
        if (!s) {
            free(scores);
            return NULL;
        }
        memcpy(scores + start, s, sizeof(float) * (size_t)nb);
    }
    return scores;
}

/* Whether d = score(a) - score(b) ranks a non-tie pair the right way
 * (d == 0 is wrong either way, as in the notebook's count). */
static int ranked_right(float target, float d) { return target > 0 ? d > 0 : d < 0; }

Net *probe_head_train(const ProbeConfig *c, const ProbeFeatures *train, ProbeResult *r,
                      Err *e) {
    if (check_features(c, train, "training", e)) return NULL;
    const int D = train->dim, N = train->n_images, B = c->batch;
    ProbePairs pairs;
    probe_pairs_make(&pairs, N, c->passes, c->levels, c->n_levels, c->seed, PROBE_SPLIT_TRAIN);
    r->pairs_train = pairs.n;
    r->ties_train = pairs.ties;
    r->feature_dim = D;
    /* Ties carry no gradient (ranknet_loss excludes them), so batches are
     * built from the non-tie pairs only: every step sees B informative pairs. */
    int m = 0;
    int *order = xmalloc(sizeof(int) * (size_t)(pairs.n > 0 ? pairs.n : 1));
    for (int k = 0; k < pairs.n; k++)
        if (pairs.target[k] != 0) order[m++] = k;
    if (m == 0) {
        free(order);
        probe_pairs_free(&pairs);
        err_set(e, "probe: every training pair is a tie");
        return NULL;
    }
    /* 2B rows per training step; scoring the cache runs in larger batches */
    int max_batch = 2 * B > 256 ? 2 * B : 256;
    Net *head = net_create_text("ranknet_head", arch_builtin("ranknet_head"), 1, 1, D, max_batch,
                                c->threads, e);
    if (!head) {
        free(order);
        probe_pairs_free(&pairs);
        return NULL;
    }
    net_init(head, rng_mix(c->seed, probe_stream(PROBE_STREAM_HEAD_INIT, 0)));
    if (net_place(head, c->device, NULL, e)) {
        net_free(head);
        free(order);
        probe_pairs_free(&pairs);
        return NULL;
    }
    Adam opt;
    adam_init(&opt, head->n_params);
    int failed = 0;
    float *xb = xalloc_floats((size_t)2 * B * D);
    float *y = xmalloc(sizeof(float) * (size_t)B), *d = xmalloc(sizeof(float) * (size_t)B);
    float *dd = xmalloc(sizeof(float) * (size_t)B);
    float *dout = xmalloc(sizeof(float) * (size_t)2 * B);
    uint64_t step = 0;
    double epoch_loss = 0;
    for (int epoch = 0; epoch < c->epochs; epoch++) {
        Rng shuf = rng_stream(c->seed, probe_stream(PROBE_STREAM_SHUFFLE, (uint64_t)epoch));
        rng_shuffle(&shuf, order, m);
        double loss_sum = 0;
        for (int start = 0; start < m; start += B) {
            int nb = m - start < B ? m - start : B;
            for (int j = 0; j < nb; j++) {
                int k = order[start + j], img = pairs.image[k];
                memcpy(xb + (size_t)j * D, train->x + ((size_t)pairs.la[k] * N + img) * D,
                       sizeof(float) * D);
                memcpy(xb + (size_t)(nb + j) * D,
                       train->x + ((size_t)pairs.lb[k] * N + img) * D, sizeof(float) * D);
                y[j] = pairs.target[k];
            }
            /* a rows then b rows in one batch: each copy gets its own dropout mask */
            Rng drop = rng_stream(c->seed, probe_stream(PROBE_STREAM_DROPOUT, step));
            const float *s = net_forward(head, xb, 2 * nb, 1, &drop, -1);
            if (!s) {
                failed = 1;
                break;
            }
            for (int j = 0; j < nb; j++) d[j] = s[j] - s[nb + j];
            float loss = ranknet_loss(dd, d, y, nb);
            for (int j = 0; j < nb; j++) {
                dout[j] = dd[j];
                dout[nb + j] = -dd[j];
            }
            if (net_update(head, &opt, dout, 2 * nb)) {
                failed = 1;
                break;
            }
            loss_sum += (double)loss * nb;
            step++;
        }
        if (failed) break;
        epoch_loss = loss_sum / m;
        if (!c->quiet)
            fprintf(stderr, "probe %s: epoch %d/%d  loss %.4f\n", train->layer, epoch + 1,
                    c->epochs, epoch_loss);
    }
    r->train_loss = epoch_loss;

    float *scores = failed || net_sync_host(head, NULL, e) ? NULL : score_all(head, train);
    if (scores) {
        int right = 0;
        for (int j = 0; j < m; j++) {
            int k = order[j], img = pairs.image[k];
            float dk =
                scores[(size_t)pairs.la[k] * N + img] - scores[(size_t)pairs.lb[k] * N + img];
            right += ranked_right(pairs.target[k], dk);
        }
        r->train_accuracy = (double)right / m;
    } else { /* the device failed */
        if (failed) err_set(e, "probe head: %s", net_error(head));
        net_free(head);
        head = NULL;
    }
    free(scores);
    free(xb);
    free(y);
    free(d);
    free(dd);
    free(dout);
    adam_free(&opt);
    free(order);
    probe_pairs_free(&pairs);
    return head;
}

/* The distinct |a - b| > 0 of the levels, ascending (near-equal ones merged). */
static int gap_index(const ProbeResult *r, float gap) {
    for (int g = 0; g < r->n_gaps; g++)
        if (fabsf(r->gap[g] - gap) <= 1e-5f * (1.0f + fabsf(gap))) return g;
    return -1;
}

static void make_gaps(ProbeResult *r, const float *levels, int n_levels) {
    r->n_gaps = 0;
    for (int a = 0; a < n_levels; a++)
        for (int b = a + 1; b < n_levels; b++) {
            float gap = fabsf(levels[a] - levels[b]);
            if (gap == 0 || gap_index(r, gap) >= 0) continue;
            int g = r->n_gaps++;
            while (g > 0 && r->gap[g - 1] > gap) {
                r->gap[g] = r->gap[g - 1];
                g--;
            }
            r->gap[g] = gap;
        }
    for (int g = 0; g < r->n_gaps; g++) {
        r->by_gap[g] = (ProbeCount){0, 0};
        r->accuracy_by_gap[g] = 0;
    }
}

int probe_head_eval(const ProbeConfig *c, Net *head, const ProbeFeatures *test,
                    ProbeResult *r, Err *e) {
    if (check_features(c, test, "test", e)) return -1;
    if (head->in_h * head->in_w * head->in_c != test->dim)
        return err_set(e, "probe: the head takes %d features, the test cache has %d",
                       head->in_h * head->in_w * head->in_c, test->dim);
    const int N = test->n_images;
    ProbePairs pairs;
    probe_pairs_make(&pairs, N, c->passes, c->levels, c->n_levels, c->seed, PROBE_SPLIT_TEST);
    float *scores = score_all(head, test);
    if (!scores) {
        probe_pairs_free(&pairs);
        return err_set(e, "probe head: %s", net_error(head));
    }
    r->pairs_test = pairs.n;
    r->ties_test = pairs.ties;
    r->more_is_lower = probe_more_is_lower(c->family, c->levels, c->n_levels);
    r->a_more = (ProbeCount){0, 0};
    r->b_more = (ProbeCount){0, 0};
    make_gaps(r, c->levels, c->n_levels);
    for (int k = 0; k < pairs.n; k++) {
        float t = pairs.target[k];
        if (t == 0) continue;
        int img = pairs.image[k], la = pairs.la[k], lb = pairs.lb[k];
        float dk = scores[(size_t)la * N + img] - scores[(size_t)lb * N + img];
        int ok = ranked_right(t, dk);
        int a_more = r->more_is_lower ? t < 0 : t > 0;
        ProbeCount *side = a_more ? &r->a_more : &r->b_more;
        side->correct += ok;
        side->total++;
        int g = gap_index(r, fabsf(c->levels[la] - c->levels[lb]));
        if (g >= 0) {
            r->by_gap[g].correct += ok;
            r->by_gap[g].total++;
        }
    }
    int total = r->a_more.total + r->b_more.total;
    r->accuracy = total ? (double)(r->a_more.correct + r->b_more.correct) / total : 0;
    for (int g = 0; g < r->n_gaps; g++)
        r->accuracy_by_gap[g] =
            r->by_gap[g].total ? (double)r->by_gap[g].correct / r->by_gap[g].total : 0;
    free(scores);
    probe_pairs_free(&pairs);
    return 0;
}

int probe_fit_eval(const ProbeConfig *c, const ProbeFeatures *train,
                   const ProbeFeatures *test, ProbeResult *r, Err *e) {
    double t0 = now_seconds();
    memset(r, 0, sizeof *r);
    Net *head = probe_head_train(c, train, r, e);
    if (!head) return -1;
    int rc = probe_head_eval(c, head, test, r, e);
    net_free(head);
    r->seconds = now_seconds() - t0;
    return rc;
}

int probe_run(const ProbeConfig *c, Net *trunk, const Cifar10 *data, ProbeResult *r, Err *e) {
    double t0 = now_seconds();
    memset(r, 0, sizeof *r);
    const ImageSet *val = &data->val, *test = &data->test;
    if (val->n <= 0 || test->n <= 0)
        return err_set(e, "probe: the data has no validation or test split");
    int n_val = c->limit > 0 && c->limit < val->n ? c->limit : val->n;
    int n_test = c->limit > 0 && c->limit < test->n ? c->limit : test->n;
    ProbeTap tap = {c->layer, c->pool};
    ProbeFeatures f;
    long ran = 0;
    /* One split's cache at a time bounds the peak memory. */
    if (probe_features_compute(trunk, val, n_val, c->family, c->levels, c->n_levels, &tap, 1,
                               c->max_feature_bytes, &f, &ran, e))
        return -1;
    r->forward_images += ran;
    if (!c->quiet)
        fprintf(stderr, "probe: features of %d val images x %d levels (%d floats each): %.1f s\n",
                n_val, c->n_levels, f.dim, now_seconds() - t0);
    double t1 = now_seconds();
    Net *head = probe_head_train(c, &f, r, e);
    if (head && !c->quiet)
        fprintf(stderr, "probe: head trained in %.1f s\n", now_seconds() - t1);
    probe_features_free(&f);
    if (!head) return -1;
    int rc = probe_features_compute(trunk, test, n_test, c->family, c->levels, c->n_levels,
                                    &tap, 1, c->max_feature_bytes, &f, &ran, e);
    if (rc == 0) {
        r->forward_images += ran;
        rc = probe_head_eval(c, head, &f, r, e);
        probe_features_free(&f);
    }
    net_free(head);
    r->seconds = now_seconds() - t0;
    return rc;
}

/* ---- output ---- */

/* A float as the shortest decimal that reads back to it (0.6f -> 0.6). */
static double tidy(float v) {
    char buf[32];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if ((float)strtod(buf, NULL) == v) break;
    }
    return strtod(buf, NULL);
}

void probe_print(FILE *f, const ProbeConfig *c, const ProbeResult *r) {
    fprintf(f, "where a has more aug : %d / %d\n", r->a_more.correct, r->a_more.total);
    fprintf(f, "where b has more aug : %d / %d\n", r->b_more.correct, r->b_more.total);
    fprintf(f, "ties (a == b, excluded) : %d / %d\n", r->ties_test, r->pairs_test);
    fprintf(f, "accuracy (%s on %s%s, non-tie test pairs) : %.4f\n", aug_kind_name(c->family),
            c->layer, c->pool == PROBE_POOL_AVG ? " avg" : "", r->accuracy);
    fprintf(f, "accuracy by gap |a - b| :");
    for (int g = 0; g < r->n_gaps; g++)
        fprintf(f, "  %g: %.4f (%d)", tidy(r->gap[g]), r->accuracy_by_gap[g], r->by_gap[g].total);
    fprintf(f, "\n");
}

static cJSON *count_pair(ProbeCount k) {
    cJSON *a = cJSON_CreateArray();
    cJSON_AddItemToArray(a, cJSON_CreateNumber(k.correct));
    cJSON_AddItemToArray(a, cJSON_CreateNumber(k.total));
    return a;
}

int probe_write_json(const char *path, const ProbeConfig *c, const ProbeResult *r,
                     const char *model, Err *e) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "augmentation", aug_kind_name(c->family));
    cJSON_AddStringToObject(o, "layer", c->layer);
    cJSON_AddStringToObject(o, "pool", pool_name(c->pool));
    cJSON *lv = cJSON_AddArrayToObject(o, "levels");
    for (int i = 0; i < c->n_levels; i++)
        cJSON_AddItemToArray(lv, cJSON_CreateNumber(tidy(c->levels[i])));
    cJSON_AddNumberToObject(o, "pairs_train", r->pairs_train);
    cJSON_AddNumberToObject(o, "pairs_test", r->pairs_test);
    cJSON_AddNumberToObject(o, "ties_test", r->ties_test);
    cJSON_AddNumberToObject(o, "accuracy", r->accuracy);
    cJSON_AddItemToObject(o, "a_more", count_pair(r->a_more));
    cJSON_AddItemToObject(o, "b_more", count_pair(r->b_more));
    cJSON *gaps = cJSON_AddObjectToObject(o, "accuracy_by_gap");
    for (int g = 0; g < r->n_gaps; g++) {
        char key[32];
        snprintf(key, sizeof key, "%g", tidy(r->gap[g]));
        cJSON_AddNumberToObject(gaps, key, r->accuracy_by_gap[g]);
    }
    cJSON_AddNumberToObject(o, "seconds", r->seconds);
    cJSON_AddStringToObject(o, "more_aug_is", r->more_is_lower ? "lower level" : "higher level");
    cJSON_AddStringToObject(o, "model", model ? model : "");
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)c->seed);
    cJSON_AddRawToObject(o, "seed", seed);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)c->split_seed);
    cJSON_AddRawToObject(o, "split_seed", seed);
    cJSON_AddNumberToObject(o, "epochs", c->epochs);
    cJSON_AddNumberToObject(o, "passes", c->passes);
    cJSON_AddNumberToObject(o, "batch", c->batch);
    cJSON_AddNumberToObject(o, "limit", c->limit);
    cJSON_AddNumberToObject(o, "ties_train", r->ties_train);
    cJSON_AddNumberToObject(o, "train_loss", r->train_loss);
    cJSON_AddNumberToObject(o, "train_accuracy", r->train_accuracy);
    cJSON_AddNumberToObject(o, "feature_dim", r->feature_dim);
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text) return err_set(e, "%s: cannot format the JSON", path);
    size_t len = strlen(text);
    char *buf = xmalloc(len + 2);
    memcpy(buf, text, len);
    buf[len] = '\n';
    cJSON_free(text);
    int rc = file_write_atomic(path, buf, len + 1, e);
    free(buf);
    return rc;
}
