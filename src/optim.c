/* optim.c - Adam with Keras's update rule (see optim.h). The step size
 * alpha = lr * sqrt(1 - b2^t) / (1 - b1^t) is computed once per step in
 * double; the per-parameter update is element-wise, so the result does not
 * depend on the thread count. */
#include "optim.h"

#include <math.h>
#include <stdlib.h>

#include "common.h"

#ifdef _OPENMP
#include <omp.h>
#endif

void adam_init(Adam *opt, size_t n_params) {
    opt->lr = 1e-3f;
    opt->beta1 = 0.9f;
    opt->beta2 = 0.999f;
    opt->eps = 1e-7f;
    opt->t = 0;
    opt->n = n_params;
    opt->m = xalloc_floats(n_params ? n_params : 1);
    opt->v = xalloc_floats(n_params ? n_params : 1);
}

void adam_free(Adam *opt) {
    free(opt->m);
    free(opt->v);
    opt->m = opt->v = NULL;
    opt->n = 0;
}

float adam_next_alpha(Adam *opt) {
    opt->t++;
    double b1 = opt->beta1, b2 = opt->beta2;
    return (float)(opt->lr * sqrt(1.0 - pow(b2, (double)opt->t)) /
                   (1.0 - pow(b1, (double)opt->t)));
}

void adam_step(Adam *opt, float *params, const float *grads) {
    adam_step_threads(opt, params, grads, 0);
}

void adam_step_threads(Adam *opt, float *params, const float *grads, int threads) {
#ifdef _OPENMP
    if (threads < 1) threads = omp_get_max_threads();
#else
    threads = 1;
#endif
    float alpha = adam_next_alpha(opt);
    float beta1 = opt->beta1, beta2 = opt->beta2, eps = opt->eps;
    float *m = opt->m, *v = opt->v;
    long n = (long)opt->n;
#pragma omp parallel for num_threads(threads) schedule(static) if (n > 65536)
    for (long i = 0; i < n; i++) {
        float g = grads[i];
        m[i] = beta1 * m[i] + (1.0f - beta1) * g;
        v[i] = beta2 * v[i] + (1.0f - beta2) * g * g;
        params[i] -= alpha * m[i] / (sqrtf(v[i]) + eps);
    }
}
