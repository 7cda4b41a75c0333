/* golden.c - the golden weights and batches of golden.h; must stay
 * identical to tools/golden_common.py (float32 operation for operation).
 * Also deterministic random images for tests (golden_images). */
#include "golden.h"

#include <math.h>
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
