/* optim.h - Adam with Keras's defaults and update rule:
 *   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 *   p -= lr * sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps)
 * (eps outside the bias correction, unlike torch.optim.Adam). */
#ifndef AUGPROBE_OPTIM_H
#define AUGPROBE_OPTIM_H

#include <stddef.h>
#include <stdint.h>

typedef struct Adam {
    float lr, beta1, beta2, eps; /* 1e-3, 0.9, 0.999, 1e-7 */
    int64_t t;                   /* steps taken */
    size_t n;
    float *m, *v;                /* moments, n each, contiguous like Net.params */
} Adam;

void adam_init(Adam *opt, size_t n_params); /* Keras defaults, zero moments */
void adam_free(Adam *opt);
void adam_step(Adam *opt, float *params, const float *grads);
/* The same on `threads` threads (< 1: OpenMP's default); the result does
 * not depend on it (the update is element-wise). */
void adam_step_threads(Adam *opt, float *params, const float *grads, int threads);
/* Counts a step (t++) and returns its step size alpha (the GPU path runs
 * the element-wise update itself). */
float adam_next_alpha(Adam *opt);

#endif
