/* golden.c - the golden weights and batches of golden.h; must stay
 * identical to tools/golden_common.py (float32 operation for operation).
 * Also deterministic random images for tests (golden_images). */
#include "golden.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t golden_hash(uint64_t tag, uint64_t i) {
    uint64_t z = tag * 0x9E3779B97F4A7C15ull + i;
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

float golden_unit(uint64_t tag, uint64_t i) {
    int64_t k = (int64_t)(golden_hash(tag, i) >> 40) - 8388608;
    return (float)k / 8388608.0f;
}

void golden_set_weights(Net *net) {
    for (int l = 0; l < net->n_layers; l++) {
        const Layer *L = &net->layers[l];
        float *p = net->params + L->param_off, *s = net->state + L->state_off;
        uint64_t tag = 100 + 4 * (uint64_t)l;
        if (L->spec.kind == LAYER_CONV || L->spec.kind == LAYER_DENSE) {
            size_t units = (size_t)L->spec.units, nk = L->n_params - units;
            size_t rf = L->spec.kind == LAYER_CONV ? (size_t)L->spec.ksize * L->spec.ksize : 1;
            size_t fan_in = nk / units, fan_out = rf * units;
            float lim = (float)sqrt(6.0 / (double)(fan_in + fan_out));
            for (size_t i = 0; i < nk; i++) p[i] = golden_unit(tag, i) * lim;
            for (size_t i = 0; i < units; i++) p[nk + i] = golden_unit(tag + 1, i) * 0.1f;
        } else if (L->spec.kind == LAYER_BATCHNORM) {
            for (int c = 0; c < L->c; c++) {
                p[c] = 1.0f + 0.25f * golden_unit(tag, (uint64_t)c);
                p[L->c + c] = 0.1f * golden_unit(tag + 1, (uint64_t)c);
                s[c] = 0.1f * golden_unit(tag + 2, (uint64_t)c);
                s[L->c + c] = 1.0f + 0.5f * golden_unit(tag + 3, (uint64_t)c);
            }
        }
    }
}

void golden_batch(int step, float *x, uint8_t *y, int B) {
    for (uint64_t i = 0; i < (uint64_t)B * 32 * 32 * 3; i++)
        x[i] = (float)(golden_hash(1000 + (uint64_t)step, i) % 256) / 255.0f;
    for (int n = 0; n < B; n++) y[n] = (uint8_t)(golden_hash(2000 + (uint64_t)step, (uint64_t)n) % 10);
}

ImageSet golden_images(int n, uint64_t seed) {
    ImageSet s;
    memset(&s, 0, sizeof s);
    s.n = n;
    uint8_t *img = xmalloc((size_t)n * CIFAR_PIXELS), *lab = xmalloc((size_t)n);
    for (size_t i = 0; i < (size_t)n * CIFAR_PIXELS; i++)
        img[i] = (uint8_t)(golden_hash(500 + seed, i) & 255);
    for (int i = 0; i < n; i++) lab[i] = (uint8_t)(i % CIFAR_CLASSES);
    s.images = img;
    s.labels = lab;
    return s;
}

void golden_images_free(ImageSet *s) {
    free((void *)s->images);
    free((void *)s->labels);
    memset(s, 0, sizeof *s);
}

/* ---- golden weights by tensor name ---- */

uint64_t golden_name_tag(const char *name) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *c = (const unsigned char *)name; *c; c++)
        h = (h ^ *c) * 0x100000001b3ull;
    return h;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

void golden_named_tensor(const char *name, const int64_t *shape, int ndim, float *out) {
    uint64_t tag = golden_name_tag(name);
    size_t n = 1;
    for (int d = 0; d < ndim; d++) n *= (size_t)shape[d];
    float scale = 0.1f, offset = 0.0f;
    if (ends_with(name, ".weight") && ndim >= 2) {
        size_t rf = ndim == 4 ? (size_t)(shape[2] * shape[3]) : 1;
        size_t fan_in = (size_t)shape[1] * rf, fan_out = (size_t)shape[0] * rf;
        scale = (float)sqrt(6.0 / (double)(fan_in + fan_out));
    } else if (ends_with(name, ".weight")) {
        scale = 0.25f, offset = 1.0f;
    } else if (ends_with(name, ".running_var")) {
        scale = 0.5f, offset = 1.0f;
    }
    for (size_t i = 0; i < n; i++) out[i] = offset + scale * golden_unit(tag, i);
}

int golden_tensor_shape(const NetTensor *t, int64_t shape[4]) {
    if (t->layout == TENSOR_CONV) {
        shape[0] = t->cout, shape[1] = t->cin, shape[2] = shape[3] = t->K;
        return 4;
    }
    if (t->layout == TENSOR_DENSE) {
        shape[0] = t->cout, shape[1] = t->cin;
        return 2;
    }
    shape[0] = (int64_t)t->n;
    return 1;
}

void golden_convert(const NetTensor *t, float *dst, const float *src, int to_file) {
    if (t->layout == TENSOR_PLAIN) {
        memcpy(dst, src, t->n * sizeof(float));
        return;
    }
    int K = t->layout == TENSOR_CONV ? t->K : 1;
    for (int y = 0; y < K; y++)
        for (int x = 0; x < K; x++)
            for (int i = 0; i < t->cin; i++)
                for (int o = 0; o < t->cout; o++) {
                    /* ours HWIO [K][K][I][O] (dense [I][O]); file OIHW (dense [O][I]) */
                    size_t ours = (((size_t)y * K + x) * t->cin + i) * t->cout + o;
                    size_t file = (((size_t)o * t->cin + i) * K + y) * K + x;
                    if (to_file) dst[file] = src[ours];
                    else dst[ours] = src[file];
                }
}

void golden_set_named_weights(Net *net) {
    for (int l = 0; l < net->n_layers; l++) {
        const Layer *L = &net->layers[l];
        const KindDef *kd = kind_def(L->spec.kind);
        NetTensor t[KIND_MAX_TENSORS];
        int m = kd->tensors ? kd->tensors(L, t) : 0;
        for (int j = 0; j < m; j++) {
            char name[128];
            int64_t shape[4];
            snprintf(name, sizeof name, "%s.%s", L->spec.name, t[j].suffix);
            int nd = golden_tensor_shape(&t[j], shape);
            float *tmp = xalloc_floats(t[j].n);
            golden_named_tensor(name, shape, nd, tmp);
            golden_convert(&t[j], (t[j].is_state ? net->state : net->params) + t[j].off, tmp, 0);
            free(tmp);
        }
    }
}

void golden_batch_sized(int step, float *x, int B, int H, int W, int C, int64_t *y, int classes) {
    for (uint64_t i = 0; i < (uint64_t)B * H * W * C; i++)
        x[i] = (float)(golden_hash(1100 + (uint64_t)step, i) % 256) / 255.0f;
    for (int n = 0; n < B; n++)
        y[n] = (int64_t)(golden_hash(2100 + (uint64_t)step, (uint64_t)n) % (uint64_t)classes);
}
