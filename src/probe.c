/* probe.c - the RankNet probe on frozen features: pairs, the feature cache,
 * the head's training and evaluation, and the result's text and JSON.
 * See probe.h for the pipeline and the notebook bugs it fixes. */
#include "probe.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "feature_export.h"
#include "json_util.h"
#include "layers.h"
#include "optim.h"
#include "resize.h"
#include "rng.h"

/* Sub-streams of RNG_TAG_PROBE besides the pairs' (which use the split id). */
enum { PROBE_STREAM_HEAD_INIT = 100, PROBE_STREAM_SHUFFLE, PROBE_STREAM_DROPOUT };

static uint64_t probe_stream(uint64_t sub, uint64_t index) {
    return rng_mix(RNG_TAG_PROBE, rng_mix(sub, index));
}

const char *probe_pair_mode_name(ProbePairMode m) {
    return m == PROBE_PAIRS_CROSS ? "cross" : "same";
}

const char *probe_head_name(ProbeHeadKind h) { return h == PROBE_HEAD_LINEAR ? "linear" : "mlp"; }

void probe_result_free(ProbeResult *r) {
    free(r->outcome);
    r->outcome = NULL;
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
    c->boot = STATS_BOOT;
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
    float identity = aug_identity_level(family);
    double mean = 0;
    for (int i = 0; i < n_levels; i++) mean += levels[i];
    return n_levels > 0 && mean / n_levels < identity;
}

/* ---- pairs ---- */

void probe_pairs_make(ProbePairs *p, int n_images, int passes, const float *levels,
                      int n_levels, uint64_t seed, ProbeSplit split, ProbePairMode mode,
                      int threads) {
    long n = (long)passes * n_images;
    p->n = (int)n;
    p->image = xmalloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    p->image_b = xmalloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    int cross = mode == PROBE_PAIRS_CROSS && n_images >= 2;
    p->la = xmalloc((size_t)(n > 0 ? n : 1));
    p->lb = xmalloc((size_t)(n > 0 ? n : 1));
    p->target = xmalloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    int ties = 0;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(+ : ties)
    for (long k = 0; k < n; k++) {
        uint64_t pass = (uint64_t)(k / n_images), image = (uint64_t)(k % n_images);
        Rng r = rng_stream(seed, probe_stream((uint64_t)split, pass << 32 | image));
        int a = (int)rng_below(&r, (uint64_t)n_levels);
        int b = (int)rng_below(&r, (uint64_t)n_levels);
        p->image[k] = (int)image;
        p->image_b[k] = (int)image;
        if (cross) { /* another image, uniform among the other n - 1 */
            int j = (int)rng_below(&r, (uint64_t)n_images - 1);
            p->image_b[k] = j >= (int)image ? j + 1 : j;
        }
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
    free(p->image_b);
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
        char names[1024], taps[512] = "";
        layer_names(trunk, names, sizeof names);
        for (int k = 0, used = 0; k < trunk->n_layers && used + 1 < (int)sizeof taps; k++)
            if (trunk->layers[k].spec.tap[0]) {
                int w = snprintf(taps + used, sizeof taps - (size_t)used, "%s%s",
                                 used ? ", " : "", trunk->layers[k].spec.tap);
                if (w < 0) break;
                used += w;
            }
        err_set(e, "--layer: no layer named '%s' (%s%s%slayers: %s)", layer,
                taps[0] ? "taps: " : "", taps, taps[0] ? "; " : "", names);
    }
    return i;
}

int probe_features_compute(Net *trunk, const ImageSet *set, int n, AugKind family,
                           const float *levels, int n_levels, const ProbeTap *taps,
                           int n_taps, size_t max_bytes, ProbeFeatures *out,
                           long *forward_images, Err *e) {
    return probe_features_compute_norm(trunk, set, n, family, levels, n_levels, taps, n_taps,
                                       max_bytes, PROBE_NORM_NONE, out, forward_images, e);
}

/* Augmented images of a batch as the trunk takes them: 32x32 as they are,
 * else resized bilinearly to its input; normalised when norm says so.
 * x32[nb][32*32*3] in, the result in big (nb of the trunk's input) when
 * resized, else in x32. Resized on the trunk's threads. */
static float *prepare_batch(const Net *trunk, float *x32, float *big, int nb, ProbeNorm norm) {
    const int S = trunk->in_h;
    float *x = x32;
    if (S != CIFAR_H) {
#pragma omp parallel for num_threads(trunk->kctx.threads) schedule(static)
        for (int j = 0; j < nb; j++)
            resize_bilinear(x32 + (size_t)j * CIFAR_PIXELS, CIFAR_H, CIFAR_W, CIFAR_C,
                            big + (size_t)j * S * S * CIFAR_C, S, S);
        x = big;
    }
    if (norm == PROBE_NORM_IMAGENET)
        resize_normalize(x, (long)nb * S * S, RESIZE_IMAGENET_MEAN, RESIZE_IMAGENET_STD);
    return x;
}

int probe_features_compute_norm(Net *trunk, const ImageSet *set, int n, AugKind family,
                                const float *levels, int n_levels, const ProbeTap *taps,
                                int n_taps, size_t max_bytes, ProbeNorm norm, ProbeFeatures *out,
                                long *forward_images, Err *e) {
    if (n <= 0 || n > set->n)
        return err_set(e, "probe: %d images asked of a split of %d", n, set->n);
    if (trunk->in_h != trunk->in_w || trunk->in_c != CIFAR_C || trunk->in_h < 8 ||
        trunk->in_h > PROBE_MAX_INPUT)
        return err_set(e, "probe: the trunk takes %dx%dx%d images; it must take square RGB "
                          "images of 8 to %d pixels",
                       trunk->in_h, trunk->in_w, trunk->in_c, PROBE_MAX_INPUT);
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
    /* Blur has no device op: it is augmented here and the floats go in
     * (on the CPU that is what net_forward_images does anyway); so are
     * images resized or normalised for the trunk. */
    int prep = trunk->in_h != CIFAR_H || norm != PROBE_NORM_NONE;
    float *host_x = family == AUG_BLUR || prep ? xalloc_floats((size_t)B * CIFAR_PIXELS) : NULL;
    float *big = trunk->in_h != CIFAR_H
                     ? xalloc_floats((size_t)B * trunk->in_h * trunk->in_w * CIFAR_C)
                     : NULL;
    long ran = 0;
    int rc = net_attach_images(trunk, set->images, set->n, e);
    for (int l = 0; l < n_levels && rc == 0; l++) {
        for (int j = 0; j < B; j++) aug_params_level(family, levels[l], &params[j]);
        for (int start = 0; start < n && rc == 0; start += B) {
            int nb = n - start < B ? n - start : B;
            for (int j = 0; j < nb; j++) img[j] = start + j;
            const float *x = NULL;
            if (host_x) {
                aug_apply_batch(params, set, img, nb, host_x, trunk->kctx.threads);
                x = prepare_batch(trunk, host_x, big, nb, norm);
            }
            if (!(x ? net_forward(trunk, x, nb, 0, NULL, deepest)
                    : net_forward_images(trunk, set->images, img, params, nb, 0, NULL, deepest))) {
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
                probe_tap_vectors(ly, act, nb, taps[t].pool,
                                  out[t].x + ((size_t)l * n + start) * dims[t],
                                  trunk->kctx.threads);
            }
        }
    }
    free(params);
    free(img);
    free(host_x);
    free(big);
    if (rc) {
        for (int t = 0; t < n_taps; t++) probe_features_free(&out[t]);
        return -1;
    }
    if (forward_images) *forward_images = ran;
    return 0;
}

void probe_tap_vectors(const Layer *ly, const float *act, int nb, ProbePool pool, float *dst,
                       int threads) {
    size_t per = (size_t)ly->h * ly->w * ly->c;
    if (pool == PROBE_POOL_FLATTEN) {
        memcpy(dst, act, sizeof(float) * per * (size_t)nb);
        return;
    }
    int C = ly->c, S = ly->h * ly->w;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int j = 0; j < nb; j++) {
        const float *a = act + (size_t)j * per;
        float *o = dst + (size_t)j * C;
        for (int ch = 0; ch < C; ch++) o[ch] = 0;
        for (int s = 0; s < S; s++)
            for (int ch = 0; ch < C; ch++) o[ch] += a[(size_t)s * C + ch];
        for (int ch = 0; ch < C; ch++) o[ch] /= (float)S;
    }
}

void probe_features_free(ProbeFeatures *f) {
    free(f->x);
    memset(f, 0, sizeof *f);
}

void probe_stats_features(const float *img, int h, int w, float *out) {
    const int npix = h * w;
    double sum[3] = {0, 0, 0}, sq[3] = {0, 0, 0}, sat = 0, hf = 0;
    long hf_n = 0;
    for (int i = 0; i < npix; i++) {
        const float *px = img + (size_t)i * 3;
        float mx = px[0], mn = px[0];
        for (int k = 0; k < 3; k++) {
            sum[k] += px[k];
            sq[k] += (double)px[k] * px[k];
            mx = px[k] > mx ? px[k] : mx;
            mn = px[k] < mn ? px[k] : mn;
        }
        sat += mx > 0 ? (mx - mn) / mx : 0; /* tf.image.rgb_to_hsv's s */
    }
    for (int r = 0; r < h; r++)
        for (int c = 0; c < w; c++)
            for (int k = 0; k < 3; k++) {
                float v = img[((size_t)r * w + c) * 3 + k];
                if (c + 1 < w) {
                    float d = img[((size_t)r * w + c + 1) * 3 + k] - v;
                    hf += (double)d * d;
                    hf_n++;
                }
                if (r + 1 < h) {
                    float d = img[((size_t)(r + 1) * w + c) * 3 + k] - v;
                    hf += (double)d * d;
                    hf_n++;
                }
            }
    for (int k = 0; k < 3; k++) {
        double m = sum[k] / npix, var = sq[k] / npix - m * m;
        out[k] = (float)m;
        out[3 + k] = (float)sqrt(var > 0 ? var : 0);
    }
    out[6] = (float)(sat / npix);
    out[7] = (float)(hf_n ? hf / hf_n : 0);
}

int probe_features_input(ProbeInput input, const ImageSet *set, int n, AugKind family,
                         const float *levels, int n_levels, size_t max_bytes, int threads,
                         ProbeFeatures *out, Err *e) {
    if (n <= 0 || n > set->n)
        return err_set(e, "probe: %d images asked of a split of %d", n, set->n);
    const int dim = input == PROBE_INPUT_PIXELS ? CIFAR_PIXELS : PROBE_STATS_DIM;
    double bytes = (double)dim * n * n_levels * sizeof(float);
    if (bytes > (double)max_bytes)
        return err_set(e,
                       "probe: the %s feature cache of %d images x %d levels needs %.0f MB "
                       "(limit %.0f MB): use a smaller --limit or --max-memory",
                       input == PROBE_INPUT_PIXELS ? "pixels" : "stats", n, n_levels,
                       bytes / 1048576.0, (double)max_bytes / 1048576.0);
    memset(out, 0, sizeof *out);
    snprintf(out->layer, sizeof out->layer, "%s", input == PROBE_INPUT_PIXELS ? "pixels" : "stats");
    out->pool = PROBE_POOL_FLATTEN;
    out->n_images = n;
    out->n_levels = n_levels;
    out->dim = dim;
    out->x = xalloc_floats((size_t)dim * n * n_levels);
    for (int l = 0; l < n_levels; l++) {
        AugParams p;
        aug_params_level(family, levels[l], &p);
#pragma omp parallel num_threads(threads)
        {
            float *img = input == PROBE_INPUT_STATS ? xmalloc(sizeof(float) * CIFAR_PIXELS) : NULL;
#pragma omp for schedule(static)
            for (int i = 0; i < n; i++) {
                float *dst = out->x + ((size_t)l * n + i) * dim;
                const uint8_t *src = set->images + (size_t)i * CIFAR_PIXELS;
                if (input == PROBE_INPUT_PIXELS) {
                    aug_apply(&p, src, dst, CIFAR_H, CIFAR_W);
                } else {
                    aug_apply(&p, src, img, CIFAR_H, CIFAR_W);
                    probe_stats_features(img, CIFAR_H, CIFAR_W, dst);
                }
            }
            free(img);
        }
    }
    return 0;
}

/* ---- head ---- */

static int check_features(const ProbeConfig *c, const ProbeFeatures *f, const char *which,
                          Err *e) {
    if (!f->x || f->n_images <= 0 || f->dim <= 0)
        return err_set(e, "probe: the %s feature cache is empty", which);
    if (f->n_levels != c->n_levels)
        return err_set(e, "probe: the %s feature cache has %d levels, the config %d", which,
                       f->n_levels, c->n_levels);
    if (c->passes < 1 || c->batch < 1 || c->threads < 1 || c->epochs < 0)
        return err_set(e, "probe: passes, batch and threads must be >= 1 and epochs >= 0");
    return 0;
}

/* Inference scores of every cached (level, image): [level][image]; NULL
 * when the head's device failed (net_error). A linear head scores on
 * `threads` threads, an mlp on its network's. */
static float *score_all(ProbeHead *h, const ProbeFeatures *f, int threads) {
    long rows = (long)f->n_levels * f->n_images;
    float *scores = xmalloc(sizeof(float) * (size_t)rows);
    if (h->kind == PROBE_HEAD_LINEAR) {
        const int D = f->dim;
#pragma omp parallel for num_threads(threads) schedule(static)
        for (long k = 0; k < rows; k++) {
            const float *x = f->x + (size_t)k * D;
            double s = 0;
            for (int j = 0; j < D; j++) s += (double)h->w[j] * x[j];
            scores[k] = (float)s;
        }
        return scores;
    }
    Net *head = h->mlp;
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

/* Row of (level, image) in a cache. */
static const float *feature_row(const ProbeFeatures *f, int level, int image) {
    return f->x + ((size_t)level * f->n_images + image) * f->dim;
}

/* The notebook's head: Dropout 0.2, Dense 1024 ReLU, Dropout 0.2, Dense 1,
 * trained on the non-tie pairs in `order` (m of them). Returns the epoch's
 * mean loss in *loss; NULL with e set when the head or its device fails. */
static Net *train_mlp(const ProbeConfig *c, const ProbeFeatures *train, const ProbePairs *pairs,
                      int *order, int m, double *loss_out, Err *e) {
    const int D = train->dim, B = c->batch;
    /* 2B rows per training step; scoring the cache runs in larger batches */
    int max_batch = 2 * B > 256 ? 2 * B : 256;
    Net *head = net_create_text("ranknet_head", arch_builtin("ranknet_head"), 1, 1, D, max_batch,
                                c->threads, e);
    if (!head) return NULL;
    net_init(head, rng_mix(c->seed, probe_stream(PROBE_STREAM_HEAD_INIT, 0)));
    if (net_place(head, c->device, NULL, e)) {
        net_free(head);
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
                int k = order[start + j];
                memcpy(xb + (size_t)j * D, feature_row(train, pairs->la[k], pairs->image[k]),
                       sizeof(float) * D);
                memcpy(xb + (size_t)(nb + j) * D,
                       feature_row(train, pairs->lb[k], pairs->image_b[k]), sizeof(float) * D);
                y[j] = pairs->target[k];
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
    *loss_out = epoch_loss;
    if (failed || net_sync_host(head, NULL, e)) {
        if (failed) err_set(e, "probe head: %s", net_error(head));
        net_free(head);
        head = NULL;
    }
    free(xb);
    free(y);
    free(d);
    free(dd);
    free(dout);
    adam_free(&opt);
    return head;
}

/* The linear head: s = v . z, z_j = (x_j - mean_j) / sd_j over the training
 * cache; d = s(a) - s(b) = sum_j w_j (xa_j - xb_j) with w_j = v_j / sd_j.
 * Loss: mean RankNet loss + PROBE_LINEAR_L2 / 2 |v|^2; Adam on v from zero
 * (the problem is convex: no random start). Gradients are summed over a
 * batch's pairs in a fixed order for each j, so the result does not depend
 * on the thread count. Returns w[D] (owned by the caller). */
static float *train_linear(const ProbeConfig *c, const ProbeFeatures *train,
                           const ProbePairs *pairs, int *order, int m, double *loss_out) {
    const int D = train->dim, B = c->batch;
    const long rows = (long)train->n_levels * train->n_images;
    /* 1 / sd of every feature (0 for a constant one: it cannot rank). The
     * sums run over rows in order for each feature (the same bits at any
     * thread count), a block of features per thread walking the rows, so
     * memory is read along rows, not down columns. */
    float *inv_sd = xmalloc(sizeof(float) * (size_t)D);
    enum { COLS = 64 };
#pragma omp parallel for num_threads(c->threads) schedule(static)
    for (int j0 = 0; j0 < D; j0 += COLS) {
        int nj = D - j0 < COLS ? D - j0 : COLS;
        double s[COLS] = {0}, q[COLS] = {0}, mean[COLS];
        for (long k = 0; k < rows; k++) {
            const float *x = train->x + (size_t)k * D + j0;
            for (int j = 0; j < nj; j++) s[j] += x[j];
        }
        for (int j = 0; j < nj; j++) mean[j] = s[j] / rows;
        for (long k = 0; k < rows; k++) {
            const float *x = train->x + (size_t)k * D + j0;
            for (int j = 0; j < nj; j++) {
                double u = x[j] - mean[j];
                q[j] += u * u;
            }
        }
        for (int j = 0; j < nj; j++) {
            double sd = sqrt(q[j] / rows);
            inv_sd[j0 + j] = sd > 1e-12 * (1 + fabs(mean[j])) ? (float)(1.0 / sd) : 0.0f;
            /* z_j = 0: v_j gets no gradient */
            if (c->drop && c->drop[j0 + j]) inv_sd[j0 + j] = 0.0f;
        }
    }
    float *v = xcalloc((size_t)D, sizeof(float)), *grad = xmalloc(sizeof(float) * (size_t)D);
    float *dz = xalloc_floats((size_t)B * D); /* standardised differences of a batch */
    float *g = xmalloc(sizeof(float) * (size_t)B);
    double *pair_loss = xmalloc(sizeof(double) * (size_t)B);
    Adam opt;
    adam_init(&opt, (size_t)D);
    opt.lr = PROBE_LINEAR_LR;
    double epoch_loss = 0;
    for (int epoch = 0; epoch < c->epochs; epoch++) {
        Rng shuf = rng_stream(c->seed, probe_stream(PROBE_STREAM_SHUFFLE, (uint64_t)epoch));
        rng_shuffle(&shuf, order, m);
        double loss_sum = 0;
        for (int start = 0; start < m; start += B) {
            int nb = m - start < B ? m - start : B;
#pragma omp parallel for num_threads(c->threads) schedule(static)
            for (int i = 0; i < nb; i++) {
                int k = order[start + i];
                const float *xa = feature_row(train, pairs->la[k], pairs->image[k]);
                const float *xb = feature_row(train, pairs->lb[k], pairs->image_b[k]);
                float *z = dz + (size_t)i * D;
                double d = 0;
                for (int j = 0; j < D; j++) {
                    z[j] = (xa[j] - xb[j]) * inv_sd[j];
                    d += (double)v[j] * z[j];
                }
                /* loss log(1 + exp(-y d)); dloss/dd = -y sigmoid(-y d) */
                double yd = pairs->target[k] * d;
                pair_loss[i] = yd > 0 ? log1p(exp(-yd)) : -yd + log1p(exp(yd));
                g[i] = (float)(-pairs->target[k] / (1.0 + exp(yd)) / nb);
            }
            double batch_loss = 0; /* summed in order: the same bits at any thread count */
            for (int i = 0; i < nb; i++) batch_loss += pair_loss[i];
            /* grad_j = sum over the batch's pairs i, in order, of g_i dz_ij;
             * a block of features per thread walks the pairs' rows */
#pragma omp parallel for num_threads(c->threads) schedule(static)
            for (int j0 = 0; j0 < D; j0 += COLS) {
                int nj = D - j0 < COLS ? D - j0 : COLS;
                double s[COLS] = {0};
                for (int i = 0; i < nb; i++) {
                    const float *z = dz + (size_t)i * D + j0;
                    for (int j = 0; j < nj; j++) s[j] += (double)g[i] * z[j];
                }
                for (int j = 0; j < nj; j++)
                    grad[j0 + j] = (float)(s[j] + PROBE_LINEAR_L2 * v[j0 + j]);
            }
            adam_step_threads(&opt, v, grad, c->threads);
            loss_sum += batch_loss;
        }
        epoch_loss = loss_sum / m;
        if (!c->quiet)
            fprintf(stderr, "probe %s (linear): epoch %d/%d  loss %.4f\n", train->layer,
                    epoch + 1, c->epochs, epoch_loss);
    }
    *loss_out = epoch_loss;
    for (int j = 0; j < D; j++) v[j] *= inv_sd[j];
    adam_free(&opt);
    free(inv_sd);
    free(grad);
    free(dz);
    free(g);
    free(pair_loss);
    return v;
}

void probe_head_free(ProbeHead *h) {
    net_free(h->mlp);
    free(h->w);
    memset(h, 0, sizeof *h);
}

int probe_head_train(const ProbeConfig *c, const ProbeFeatures *train, ProbeHead *h,
                     ProbeResult *r, Err *e) {
    memset(h, 0, sizeof *h);
    if (check_features(c, train, "training", e)) return -1;
    const int N = train->n_images;
    if (c->pairs == PROBE_PAIRS_CROSS && N < 2)
        return err_set(e, "probe: cross pairs need at least 2 images");
    ProbePairs pairs;
    probe_pairs_make(&pairs, N, c->passes, c->levels, c->n_levels, c->seed, PROBE_SPLIT_TRAIN,
                     c->pairs, c->threads);
    r->pairs_train = pairs.n;
    r->ties_train = pairs.ties;
    r->feature_dim = train->dim;
    /* Ties carry no gradient (ranknet_loss excludes them), so batches are
     * built from the non-tie pairs only: every step sees B informative pairs. */
    int m = 0;
    int *order = xmalloc(sizeof(int) * (size_t)(pairs.n > 0 ? pairs.n : 1));
    for (int k = 0; k < pairs.n; k++)
        if (pairs.target[k] != 0) order[m++] = k;
    int rc = 0;
    h->kind = c->head;
    h->dim = train->dim;
    if (m == 0) {
        rc = err_set(e, "probe: every training pair is a tie");
    } else if (c->head == PROBE_HEAD_LINEAR) {
        h->w = train_linear(c, train, &pairs, order, m, &r->train_loss);
    } else {
        h->mlp = train_mlp(c, train, &pairs, order, m, &r->train_loss, e);
        if (!h->mlp) rc = -1;
    }
    float *scores = rc ? NULL : score_all(h, train, c->threads);
    if (scores) {
        int right = 0;
        for (int j = 0; j < m; j++) {
            int k = order[j];
            float dk = scores[(size_t)pairs.la[k] * N + pairs.image[k]] -
                       scores[(size_t)pairs.lb[k] * N + pairs.image_b[k]];
            right += ranked_right(pairs.target[k], dk);
        }
        r->train_accuracy = (double)right / m;
    } else if (rc == 0) { /* the device failed */
        rc = err_set(e, "probe head: %s", net_error(h->mlp));
    }
    if (rc) probe_head_free(h);
    free(scores);
    free(order);
    probe_pairs_free(&pairs);
    return rc;
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

uint64_t probe_boot_group(AugKind family, ProbePairMode mode) {
    return rng_mix((uint64_t)family + 1, (uint64_t)mode + 1);
}

void probe_pair_gaps(const ProbeResult *r, const ProbePairs *pairs, const float *levels,
                     int *gap_of) {
    for (int k = 0; k < pairs->n; k++)
        gap_of[k] = pairs->target[k] == 0
                        ? -1
                        : gap_index(r, fabsf(levels[pairs->la[k]] - levels[pairs->lb[k]]));
}

/* The accuracy's interval and the threshold with its interval, from the
 * bootstrap over test images (stats.h). */
static void test_statistics(const ProbeConfig *c, const ProbePairs *pairs, int n_images,
                            ProbeResult *r) {
    int *gap_of = xmalloc(sizeof(int) * (size_t)(pairs->n > 0 ? pairs->n : 1));
    probe_pair_gaps(r, pairs, c->levels, gap_of);
    Outcomes o;
    outcomes_make(&o, n_images, r->n_gaps, pairs->n, pairs->image, gap_of, r->outcome);
    const int B = c->boot > 0 ? c->boot : STATS_BOOT;
    int *draws = stats_boot_draws(c->seed, probe_boot_group(c->family, c->pairs), n_images, B,
                                  c->threads);
    double *boot = xmalloc(sizeof(double) * (size_t)B);
    stats_boot_accuracy(&o, draws, B, boot, c->threads);
    stats_interval95(boot, B, &r->acc_lo, &r->acc_hi);
    double gap[PROBE_MAX_GAPS];
    int k[PROBE_MAX_GAPS], n[PROBE_MAX_GAPS];
    for (int g = 0; g < r->n_gaps; g++) {
        gap[g] = r->gap[g];
        k[g] = r->by_gap[g].correct;
        n[g] = r->by_gap[g].total;
    }
    r->thr_where = stats_psy_fit(gap, k, n, r->n_gaps, &r->threshold, &r->thr_beta);
    stats_boot_threshold(&o, gap, draws, B, boot, c->threads);
    stats_interval95(boot, B, &r->thr_lo, &r->thr_hi);
    free(boot);
    free(draws);
    outcomes_free(&o);
    free(gap_of);
}

int probe_head_eval(const ProbeConfig *c, ProbeHead *h, const ProbeFeatures *test,
                    ProbeResult *r, Err *e) {
    if (check_features(c, test, "test", e)) return -1;
    if (h->dim != test->dim)
        return err_set(e, "probe: the head takes %d features, the test cache has %d", h->dim,
                       test->dim);
    const int N = test->n_images;
    if (c->pairs == PROBE_PAIRS_CROSS && N < 2)
        return err_set(e, "probe: cross pairs need at least 2 images");
    ProbePairs pairs;
    probe_pairs_make(&pairs, N, c->passes, c->levels, c->n_levels, c->seed, PROBE_SPLIT_TEST,
                     c->pairs, c->threads);
    float *scores = score_all(h, test, c->threads);
    if (!scores) {
        probe_pairs_free(&pairs);
        return err_set(e, "probe head: %s", net_error(h->mlp));
    }
    r->pairs_test = pairs.n;
    r->ties_test = pairs.ties;
    r->more_is_lower = probe_more_is_lower(c->family, c->levels, c->n_levels);
    r->a_more = (ProbeCount){0, 0};
    r->b_more = (ProbeCount){0, 0};
    free(r->outcome);
    r->outcome = xcalloc((size_t)(pairs.n > 0 ? pairs.n : 1), 1);
    make_gaps(r, c->levels, c->n_levels);
    for (int k = 0; k < pairs.n; k++) {
        float t = pairs.target[k];
        if (t == 0) continue;
        int la = pairs.la[k], lb = pairs.lb[k];
        float dk = scores[(size_t)la * N + pairs.image[k]] - scores[(size_t)lb * N + pairs.image_b[k]];
        int ok = ranked_right(t, dk);
        r->outcome[k] = (uint8_t)ok;
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
    test_statistics(c, &pairs, N, r);
    free(scores);
    probe_pairs_free(&pairs);
    return 0;
}

int probe_fit_eval(const ProbeConfig *c, const ProbeFeatures *train,
                   const ProbeFeatures *test, ProbeResult *r, Err *e) {
    double t0 = now_seconds();
    memset(r, 0, sizeof *r);
    ProbeHead h;
    if (probe_head_train(c, train, &h, r, e)) return -1;
    int rc = probe_head_eval(c, &h, test, r, e);
    probe_head_free(&h);
    r->seconds = now_seconds() - t0;
    return rc;
}

/* The features of the first n images of a split for c's tap: a network's
 * layer, or a floor when trunk is NULL (c->layer "pixels" or "stats"). */
static int split_features(const ProbeConfig *c, Net *trunk, const ImageSet *set, int n,
                          ProbeFeatures *f, long *ran, Err *e) {
    if (!trunk) {
        ProbeInput in = !strcmp(c->layer, "stats") ? PROBE_INPUT_STATS : PROBE_INPUT_PIXELS;
        *ran = 0;
        return probe_features_input(in, set, n, c->family, c->levels, c->n_levels,
                                    c->max_feature_bytes, c->threads, f, e);
    }
    ProbeTap tap = {c->layer, c->pool};
    return probe_features_compute_norm(trunk, set, n, c->family, c->levels, c->n_levels, &tap, 1,
                                       c->max_feature_bytes, c->normalize, f, ran, e);
}

int probe_run(const ProbeConfig *c, Net *trunk, const Cifar10 *data, ProbeResult *r, Err *e) {
    double t0 = now_seconds();
    memset(r, 0, sizeof *r);
    const ImageSet *val = &data->val, *test = &data->test;
    if (val->n <= 0 || test->n <= 0)
        return err_set(e, "probe: the data has no validation or test split");
    int n_val = c->limit > 0 && c->limit < val->n ? c->limit : val->n;
    int n_test = c->limit > 0 && c->limit < test->n ? c->limit : test->n;
    ProbeFeatures f;
    long ran = 0;
    /* One split's cache at a time bounds the peak memory. */
    if (split_features(c, trunk, val, n_val, &f, &ran, e)) return -1;
    r->forward_images += ran;
    if (c->keep_features &&
        features_keep(c->keep_features, "val", &f, val->labels, c->levels, e)) {
        probe_features_free(&f);
        return -1;
    }
    if (!c->quiet)
        fprintf(stderr, "probe: features of %d val images x %d levels (%d floats each): %.1f s\n",
                n_val, c->n_levels, f.dim, now_seconds() - t0);
    double t1 = now_seconds();
    ProbeHead h;
    int rc = probe_head_train(c, &f, &h, r, e);
    if (rc == 0 && !c->quiet)
        fprintf(stderr, "probe: head trained in %.1f s\n", now_seconds() - t1);
    probe_features_free(&f);
    if (rc) return -1;
    rc = split_features(c, trunk, test, n_test, &f, &ran, e);
    if (rc == 0) {
        r->forward_images += ran;
        if (c->keep_features)
            rc = features_keep(c->keep_features, "test", &f, test->labels, c->levels, e);
        if (rc == 0) rc = probe_head_eval(c, &h, &f, r, e);
        probe_features_free(&f);
    }
    probe_head_free(&h);
    r->seconds = now_seconds() - t0;
    return rc;
}

/* ---- output ---- */

void probe_print(FILE *f, const ProbeConfig *c, const ProbeResult *r) {
    fprintf(f, "where a has more aug : %d / %d\n", r->a_more.correct, r->a_more.total);
    fprintf(f, "where b has more aug : %d / %d\n", r->b_more.correct, r->b_more.total);
    fprintf(f, "ties (a == b, excluded) : %d / %d\n", r->ties_test, r->pairs_test);
    fprintf(f, "accuracy (%s on %s%s, non-tie test pairs) : %.4f\n", aug_kind_name(c->family),
            c->layer, c->pool == PROBE_POOL_AVG ? " avg" : "", r->accuracy);
    fprintf(f, "accuracy by gap |a - b| :");
    for (int g = 0; g < r->n_gaps; g++)
        fprintf(f, "  %g: %.4f (%d)", float_tidy(r->gap[g]), r->accuracy_by_gap[g],
                r->by_gap[g].total);
    fprintf(f, "\n");
    char thr[128];
    probe_threshold_text(r, thr, sizeof thr);
    fprintf(f, "accuracy 95%% interval (bootstrap over test images) : [%.4f, %.4f]\n", r->acc_lo,
            r->acc_hi);
    fprintf(f, "75%% threshold gap (psychometric fit) : %s\n", thr);
}

/* One end of a threshold interval, clamped to the ladder's gaps. */
static void thr_end(char *buf, size_t len, double v, double g0, double g1) {
    if (!isfinite(v) || v > g1)
        snprintf(buf, len, ">%.3g", g1);
    else if (v < g0)
        snprintf(buf, len, "<%.3g", g0);
    else
        snprintf(buf, len, "%.3g", v);
}

void probe_threshold_text(const ProbeResult *r, char *buf, size_t len) {
    if (r->n_gaps < 1) {
        snprintf(buf, len, "-");
        return;
    }
    double g0 = r->gap[0], g1 = r->gap[r->n_gaps - 1];
    char lo[32], hi[32];
    thr_end(lo, sizeof lo, r->thr_lo, g0, g1);
    thr_end(hi, sizeof hi, r->thr_hi, g0, g1);
    /* an interval that lies wholly on the same side as the estimate adds nothing */
    int same_side = !strcmp(lo, hi) && (lo[0] == '<' || lo[0] == '>');
    if (r->thr_where == PSY_BELOW)
        snprintf(buf, len, same_side ? "below the ladder (<%.3g)" : "below the ladder (<%.3g) [%s, %s]",
                 g0, lo, hi);
    else if (r->thr_where == PSY_ABOVE)
        snprintf(buf, len, same_side ? "above the ladder (>%.3g)" : "above the ladder (>%.3g) [%s, %s]",
                 g1, lo, hi);
    else
        snprintf(buf, len, "%.3g [%s, %s]", r->threshold, lo, hi);
}

static const char *where_name(PsyWhere w) {
    return w == PSY_BELOW ? "below" : w == PSY_ABOVE ? "above" : "inside";
}

static cJSON *interval_json(double lo, double hi) {
    cJSON *a = cJSON_CreateArray();
    cJSON_AddItemToArray(a, isfinite(lo) ? cJSON_CreateNumber(lo) : cJSON_CreateNull());
    cJSON_AddItemToArray(a, isfinite(hi) ? cJSON_CreateNumber(hi) : cJSON_CreateNull());
    return a;
}

cJSON *probe_threshold_json(const ProbeResult *r) {
    cJSON *t = cJSON_CreateObject();
    cJSON_AddItemToObject(t, "value", isfinite(r->threshold) ? cJSON_CreateNumber(r->threshold)
                                                             : cJSON_CreateNull());
    cJSON_AddStringToObject(t, "where", where_name(r->thr_where));
    cJSON_AddItemToObject(t, "ci95", interval_json(r->thr_lo, r->thr_hi));
    cJSON_AddItemToObject(t, "beta", isfinite(r->thr_beta) ? cJSON_CreateNumber(r->thr_beta)
                                                           : cJSON_CreateNull());
    return t;
}

cJSON *probe_interval_json(double lo, double hi) { return interval_json(lo, hi); }

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
    if (c->input_size && c->input_size != CIFAR_H) cJSON_AddNumberToObject(o, "input_size", c->input_size);
    if (c->normalize == PROBE_NORM_IMAGENET) cJSON_AddStringToObject(o, "normalize", "imagenet");
    cJSON *lv = cJSON_AddArrayToObject(o, "levels");
    for (int i = 0; i < c->n_levels; i++)
        cJSON_AddItemToArray(lv, cJSON_CreateNumber(float_tidy(c->levels[i])));
    cJSON_AddNumberToObject(o, "pairs_train", r->pairs_train);
    cJSON_AddNumberToObject(o, "pairs_test", r->pairs_test);
    cJSON_AddNumberToObject(o, "ties_test", r->ties_test);
    cJSON_AddNumberToObject(o, "accuracy", r->accuracy);
    cJSON_AddItemToObject(o, "a_more", count_pair(r->a_more));
    cJSON_AddItemToObject(o, "b_more", count_pair(r->b_more));
    cJSON *gaps = cJSON_AddObjectToObject(o, "accuracy_by_gap");
    for (int g = 0; g < r->n_gaps; g++) {
        char key[32];
        snprintf(key, sizeof key, "%g", float_tidy(r->gap[g]));
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
    cJSON_AddStringToObject(o, "pairs", probe_pair_mode_name(c->pairs));
    cJSON_AddStringToObject(o, "head", probe_head_name(c->head));
    cJSON_AddItemToObject(o, "accuracy_ci95", interval_json(r->acc_lo, r->acc_hi));
    cJSON_AddItemToObject(o, "threshold75", probe_threshold_json(r));
    int rc = json_write_file(path, o, e);
    cJSON_Delete(o);
    if (rc) return rc;
    /* the CSV twin: accuracy per gap, for pandas / R */
    size_t cap = 64 + (size_t)r->n_gaps * 96, used = 0;
    char *csv = xmalloc(cap);
    used += (size_t)snprintf(csv, cap, "gap,correct,total,accuracy\n");
    for (int g = 0; g < r->n_gaps; g++)
        used += (size_t)snprintf(csv + used, cap - used, "%g,%d,%d,%.9g\n", float_tidy(r->gap[g]),
                                 r->by_gap[g].correct, r->by_gap[g].total, r->accuracy_by_gap[g]);
    char *csv_path = xmalloc(strlen(path) + 8);
    strcpy(csv_path, path);
    char *dot = strrchr(csv_path, '.');
    if (dot && !strchr(dot, '/')) *dot = 0;
    strcat(csv_path, ".csv");
    rc = file_write_atomic(csv_path, csv, used, e);
    free(csv_path);
    free(csv);
    return rc;
}
