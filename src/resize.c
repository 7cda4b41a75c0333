/* resize.c - bilinear resizing and normalisation (resize.h). */
#include "resize.h"

const float RESIZE_IMAGENET_MEAN[3] = {0.485f, 0.456f, 0.406f};
const float RESIZE_IMAGENET_STD[3] = {0.229f, 0.224f, 0.225f};

/* Source index pair and weight of output coordinate o (PyTorch's
 * area_pixel_compute_source_index with align_corners=False). */
static void source(int o, int in, int out, int *i0, int *i1, float *l1) {
    float scale = (float)in / (float)out;
    float real = scale * ((float)o + 0.5f) - 0.5f;
    if (real < 0) real = 0;
    int i = (int)real;
    *i0 = i;
    *i1 = i < in - 1 ? i + 1 : i;
    *l1 = real - (float)i;
}

void resize_bilinear(const float *src, int h, int w, int c, float *dst, int oh, int ow) {
    for (int y = 0; y < oh; y++) {
        int y0, y1;
        float ly;
        source(y, h, oh, &y0, &y1, &ly);
        for (int x = 0; x < ow; x++) {
            int x0, x1;
            float lx;
            source(x, w, ow, &x0, &x1, &lx);
            const float *p00 = src + ((long)y0 * w + x0) * c, *p01 = src + ((long)y0 * w + x1) * c;
            const float *p10 = src + ((long)y1 * w + x0) * c, *p11 = src + ((long)y1 * w + x1) * c;
            float *o = dst + ((long)y * ow + x) * c;
            for (int k = 0; k < c; k++)
                o[k] = (1 - ly) * ((1 - lx) * p00[k] + lx * p01[k]) +
                       ly * ((1 - lx) * p10[k] + lx * p11[k]);
        }
    }
}

void resize_normalize(float *x, long n_pixels, const float mean[3], const float std[3]) {
    for (long i = 0; i < n_pixels; i++)
        for (int k = 0; k < 3; k++) x[i * 3 + k] = (x[i * 3 + k] - mean[k]) / std[k];
}
