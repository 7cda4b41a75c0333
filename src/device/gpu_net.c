/* gpu_net.c - the device backend (gpu_net.h): net.h's network run on a
 * device through the DeviceOps table. The node loops mirror the CPU
 * backend's (net.c): same node order, each node's inputs by index,
 * activations kept for backward, and net_create's backward plan (one
 * gradient buffer per Layer.gslot; a tensor read by two nodes gets the
 * second gradient added in). */
#include "gpu_net.h"

#include <stdlib.h>
#include <string.h>

#include "gpu_ops.h"

typedef struct GpuNet GpuNet;

#define REDUCE_ROWS 32 /* rows per partial sum: a fixed order, plenty of threads */
#define MAX_IMAGE_SETS 4

typedef struct GpuLayer {
    float *out;      /* activations (flatten: aliases the previous layer's) */
    float *mean;     /* BN: saved batch mean (float) */
    float *invstd;   /* BN: saved 1/sqrt(var+eps) */
    double *mean_d;  /* BN: the batch mean in double, for the centred sum */
    float *mask;     /* dropout */
} GpuLayer;

typedef struct ImageSlot {
    const uint8_t *host; /* the host set's pointer names it */
    uint8_t *dev;
    long n;
} ImageSlot;

struct GpuNet {
    const DeviceOps *ops;
    Device *d;
    char desc[160];
    int n_layers, max_batch;
    size_t n_params, n_state, in_size, max_act;
    float *params, *grads, *state, *m, *v;
    float *input;
    int n_gbuf;
    float **gbuf;         /* activation gradients: net->gbuf's plan, on the device */
    float *col;           /* im2col / dcol scratch of the largest conv */
    double *red[2];       /* partial column sums */
    double *sum_a, *sum_b; /* column sums of one layer */
    float *tmp_c;         /* BN inference invstd */
    GpuLayer *layers;
    /* device augmentation */
    float *aug_x, *aug_mean;
    int *idx;
    AugParams *params_buf;
    ImageSlot sets[MAX_IMAGE_SETS];
    int n_sets;
    void *allocs[96];     /* everything allocated, for gpu_net_free */
    int n_allocs;
};

static int gpu_net_upload(GpuNet *g, const Net *net, const Adam *opt, Err *e);

static void *dalloc(GpuNet *g, size_t bytes, Err *e) {
    if (g->n_allocs == (int)(sizeof g->allocs / sizeof g->allocs[0])) {
        err_set(e, "%s: too many device buffers", g->ops->name);
        return NULL;
    }
    void *p = g->ops->alloc(g->d, bytes, e);
    if (p) g->allocs[g->n_allocs++] = p;
    return p;
}

static void gpu_net_free(GpuNet *g) {
    if (!g) return;
    if (g->d) {
        for (int i = 0; i < g->n_allocs; i++) g->ops->free(g->d, g->allocs[i]);
        for (int s = 0; s < g->n_sets; s++) g->ops->free(g->d, g->sets[s].dev);
        g->ops->close(g->d);
    }
    free(g->layers);
    free(g->gbuf);
    free(g);
}


static GpuNet *gpu_net_create(const Net *net, const DeviceOps *ops, const Adam *opt, Err *e) {
    GpuNet *g = xcalloc(1, sizeof *g);
    g->ops = ops;
    g->d = ops->open(e);
    if (!g->d) {
        free(g);
        return NULL;
    }
    char what[128];
    ops->describe(g->d, what, sizeof what);
    snprintf(g->desc, sizeof g->desc, "%s: %s", ops->name, what);
    g->n_layers = net->n_layers;
    g->max_batch = net->max_batch;
    g->n_params = net->n_params;
    g->n_state = net->n_state;
    g->in_size = (size_t)net->in_h * net->in_w * net->in_c;
    g->layers = xcalloc((size_t)net->n_layers, sizeof *g->layers);
    size_t B = (size_t)net->max_batch, max_act = g->in_size, max_col = 1;
    for (int i = 0; i < net->n_layers; i++) {
        const Layer *L = &net->layers[i];
        size_t act = net_layer_size(net, i);
        if (act > max_act) max_act = act;
        if (L->spec.kind == LAYER_CONV) {
            size_t col = (size_t)L->h * L->w * L->spec.ksize * L->spec.ksize * L->in_c;
            if (col > max_col) max_col = col;
        }
    }
    g->max_act = max_act;
    size_t f = sizeof(float), red = max_act * B / REDUCE_ROWS + max_act + 1;
#define ALLOC(ptr, bytes)                                                                      \
    do {                                                                                       \
        if (!((ptr) = dalloc(g, (bytes), e))) goto fail;                                       \
    } while (0)
    ALLOC(g->params, (g->n_params + 1) * f);
    ALLOC(g->grads, (g->n_params + 1) * f);
    ALLOC(g->m, (g->n_params + 1) * f);
    ALLOC(g->v, (g->n_params + 1) * f);
    ALLOC(g->state, (g->n_state + 1) * f);
    ALLOC(g->input, g->in_size * B * f);
    g->n_gbuf = net->n_gbuf;
    g->gbuf = xcalloc((size_t)g->n_gbuf, sizeof *g->gbuf);
    for (int b = 0; b < g->n_gbuf; b++) ALLOC(g->gbuf[b], max_act * B * f);
    ALLOC(g->col, max_col * B * f);
    ALLOC(g->red[0], red * sizeof(double));
    ALLOC(g->red[1], red * sizeof(double));
    ALLOC(g->sum_a, max_act * sizeof(double));
    ALLOC(g->sum_b, max_act * sizeof(double));
    ALLOC(g->tmp_c, max_act * f);
    ALLOC(g->aug_x, g->in_size * B * f);
    ALLOC(g->aug_mean, 3 * B * f);
    ALLOC(g->idx, B * sizeof(int));
    ALLOC(g->params_buf, B * sizeof(AugParams));
    /* Per-layer buffers share one allocation each kind, to stay few. */
    size_t act_total = 0, bn_total = 0;
    for (int i = 0; i < net->n_layers; i++) {
        const Layer *L = &net->layers[i];
        if (!kind_def(L->spec.kind)->alias) act_total += net_layer_size(net, i) * B;
        if (L->spec.kind == LAYER_DROPOUT) act_total += net_layer_size(net, i) * B;
        if (L->spec.kind == LAYER_BATCHNORM) bn_total += (size_t)L->c;
    }
    float *act, *bnf;
    double *bnd;
    ALLOC(act, (act_total + 1) * f);
    ALLOC(bnf, (2 * bn_total + 1) * f);
    ALLOC(bnd, (bn_total + 1) * sizeof(double));
#undef ALLOC
    for (int i = 0; i < net->n_layers; i++) {
        const Layer *L = &net->layers[i];
        GpuLayer *G = &g->layers[i];
        size_t n = net_layer_size(net, i) * B;
        if (kind_def(L->spec.kind)->alias) {
            G->out = L->in[0] >= 0 ? g->layers[L->in[0]].out : g->input;
        } else {
            G->out = act;
            act += n;
        }
        if (L->spec.kind == LAYER_DROPOUT) {
            G->mask = act;
            act += n;
        }
        if (L->spec.kind == LAYER_BATCHNORM) {
            G->mean = bnf;
            G->invstd = bnf + L->c;
            bnf += 2 * (size_t)L->c;
            G->mean_d = bnd;
            bnd += L->c;
        }
    }
    if (gpu_net_upload(g, net, opt, e)) goto fail;
    return g;
fail:
    gpu_net_free(g);
    return NULL;
}

static int gpu_net_upload(GpuNet *g, const Net *net, const Adam *opt, Err *e) {
    const DeviceOps *o = g->ops;
    size_t f = sizeof(float);
    if (o->upload(g->d, g->params, net->params, g->n_params * f, e) ||
        o->upload(g->d, g->state, net->state, g->n_state * f, e))
        return -1;
    if (opt && opt->n == g->n_params)
        return o->upload(g->d, g->m, opt->m, g->n_params * f, e) ||
                       o->upload(g->d, g->v, opt->v, g->n_params * f, e)
                   ? -1
                   : 0;
    o->zero(g->d, g->m, g->n_params * f);
    o->zero(g->d, g->v, g->n_params * f);
    return o->sync(g->d, e);
}

static int gpu_net_download(GpuNet *g, Net *net, Adam *opt, Err *e) {
    const DeviceOps *o = g->ops;
    size_t f = sizeof(float);
    if (o->download(g->d, net->params, g->params, g->n_params * f, e) ||
        o->download(g->d, net->grads, g->grads, g->n_params * f, e) ||
        o->download(g->d, net->state, g->state, g->n_state * f, e))
        return -1;
    if (opt && opt->n == g->n_params)
        return o->download(g->d, opt->m, g->m, g->n_params * f, e) ||
                       o->download(g->d, opt->v, g->v, g->n_params * f, e)
                   ? -1
                   : 0;
    return 0;
}

static int gpu_net_attach_images(GpuNet *g, const uint8_t *images, long n, long bytes_per_image,
                          Err *e) {
    for (int s = 0; s < g->n_sets; s++)
        if (g->sets[s].host == images && g->sets[s].n >= n) return 0;
    if (g->n_sets == MAX_IMAGE_SETS)
        return err_set(e, "%s: more than %d image sets attached", g->ops->name, MAX_IMAGE_SETS);
    size_t bytes = (size_t)n * (size_t)bytes_per_image;
    uint8_t *dev = g->ops->alloc(g->d, bytes, e);
    if (!dev) return -1;
    if (g->ops->upload(g->d, dev, images, bytes, e)) {
        g->ops->free(g->d, dev);
        return -1;
    }
    g->sets[g->n_sets++] = (ImageSlot){images, dev, n};
    return 0;
}

/* out[c] = column sums of the M x C matrix x (mode: gpu_ops.h COL_*), in
 * double, by levels of REDUCE_ROWS-row partial sums: a fixed order. */
static void col_sums(GpuNet *g, double *out, const float *x, const float *y,
                     const double *center, const float *mean, const float *invstd, long M,
                     int C, int mode) {
    const DeviceOps *o = g->ops;
    long R = (M + REDUCE_ROWS - 1) / REDUCE_ROWS;
    double *cur = R == 1 ? out : g->red[0];
    o->col_partial(g->d, R * C, cur, x, y, center, mean, invstd, M, C, REDUCE_ROWS, mode);
    while (R > 1) {
        long R2 = (R + REDUCE_ROWS - 1) / REDUCE_ROWS;
        double *dst = R2 == 1 ? out : cur == g->red[0] ? g->red[1] : g->red[0];
        o->col_partial_d(g->d, R2 * C, dst, cur, R, C, REDUCE_ROWS);
        cur = dst;
        R = R2;
    }
}

/* Augments images idx[0..B) of an attached set into g->input. */
static int augment_input(GpuNet *g, const uint8_t *images, const int *idx,
                         const AugParams *params, int B, int H, int W, Err *e) {
    const DeviceOps *o = g->ops;
    const uint8_t *dev = NULL;
    for (int s = 0; s < g->n_sets; s++)
        if (g->sets[s].host == images) dev = g->sets[s].dev;
    if (!dev) return err_set(e, "%s: image set not attached to the device", o->name);
    for (int b = 0; b < B; b++) /* no device op for it: callers augment on the host */
        if (params[b].blur != 0.0f)
            return err_set(e, "%s: blur is augmented on the host only", o->name);
    if (o->upload(g->d, g->idx, idx, sizeof(int) * (size_t)B, e) ||
        o->upload(g->d, g->params_buf, params, sizeof(AugParams) * (size_t)B, e))
        return -1;
    long npix = (long)B * H * W;
    o->aug_geometry(g->d, npix, g->aug_x, dev, g->idx, g->params_buf, H, W);
    int contrast = 0;
    for (int b = 0; b < B; b++) contrast |= params[b].contrast != 1.0f;
    if (contrast) o->aug_mean(g->d, 3L * B, g->aug_mean, g->aug_x, H, W);
    o->aug_colour_flip(g->d, npix, g->input, g->aug_x, g->aug_mean, g->params_buf, H, W);
    return 0;
}

/* Node i's forward: its kind's ops, from its inputs' activations. */
static void node_forward(GpuNet *g, const Net *net, int i, int B, int training, int use_dropout,
                         uint64_t dropout_key) {
    const DeviceOps *o = g->ops;
    Device *d = g->d;
    const Layer *L = &net->layers[i];
    GpuLayer *G = &g->layers[i];
    const float *p = g->params + L->param_off;
    const float *in = L->in[0] >= 0 ? g->layers[L->in[0]].out : g->input;
    long M = (long)B * L->in_h * L->in_w;
    long n_out = (long)B * (long)net_layer_size(net, i);
    switch (L->spec.kind) {
    case LAYER_CONV: {
        int K = L->spec.ksize, kkc = K * K * L->in_c;
        long Mo = (long)B * L->h * L->w; /* output rows */
        o->im2col(d, Mo * kkc, g->col, in, B, L->in_h, L->in_w, L->in_c, K, L->spec.stride,
                  L->h, L->w);
        /* out[Mo][Cout] = col[Mo][kkc] . w[kkc][Cout], column-major view */
        o->gemm(d, 0, 0, L->c, (int)Mo, kkc, 1.0f, p, L->c, g->col, kkc, 0.0f, G->out, L->c);
        const float *bias = L->spec.nobias ? NULL : p + L->n_params - L->spec.units;
        if (bias || L->spec.relu) o->bias_act(d, n_out, G->out, bias, L->c, L->spec.relu);
        break;
    }
    case LAYER_DENSE: {
        int n_in = L->in_h * L->in_w * L->in_c;
        o->gemm(d, 0, 0, L->c, B, n_in, 1.0f, p, L->c, in, n_in, 0.0f, G->out, L->c);
        o->bias_act(d, n_out, G->out, p + (size_t)n_in * L->c, L->c, L->spec.relu);
        break;
    }
    case LAYER_BATCHNORM: {
        float *s = g->state + L->state_off;
        int C = L->c;
        if (training) {
            col_sums(g, g->sum_a, in, NULL, NULL, NULL, NULL, M, C, COL_SUM);
            o->bn_mean(d, C, G->mean_d, G->mean, g->sum_a, M);
            col_sums(g, g->sum_b, in, NULL, G->mean_d, NULL, NULL, M, C,
                     COL_SUMSQ_CENTERED);
            o->bn_var(d, C, G->invstd, s, s + C, G->mean_d, g->sum_b, M, L->spec.momentum,
                      L->spec.eps);
            o->bn_apply(d, M * C, G->out, in, G->mean, G->invstd, p, p + C, C, L->spec.relu);
        } else {
            o->bn_infer_invstd(d, C, g->tmp_c, s + C, L->spec.eps);
            o->bn_apply(d, M * C, G->out, in, s, g->tmp_c, p, p + C, C, L->spec.relu);
        }
        break;
    }
    case LAYER_MAXPOOL:
        o->maxpool_forward(d, n_out, G->out, in, L->in_h, L->in_w, L->in_c, L->spec.ksize,
                           L->spec.stride, L->spec.pad, L->h, L->w);
        break;
    case LAYER_FLATTEN:
        break; /* out aliases in */
    case LAYER_DROPOUT:
        /* rate 0 is the identity with a mask of ones (backward needs it) */
        o->dropout_forward(d, n_out, G->out, G->mask, in,
                           training && use_dropout ? L->spec.rate : 0.0f,
                           rng_mix(dropout_key, (uint64_t)i));
        break;
    case LAYER_ADD: {
        const float *in1 = L->in[1] >= 0 ? g->layers[L->in[1]].out : g->input;
        o->add(d, n_out, G->out, in, in1, L->spec.relu);
        break;
    }
    case LAYER_GAP:
        o->gap_forward(d, n_out, G->out, in, (long)L->in_h * L->in_w, L->c);
        break;
    default: /* has_ops admits no other kind */
        break;
    }
}

static int gpu_net_forward(GpuNet *g, const Net *net, const float *x, const uint8_t *images,
                    const int *idx, const AugParams *params, int B, int training,
                    int use_dropout, uint64_t dropout_key, int upto, Err *e) {
    const DeviceOps *o = g->ops;
    Device *d = g->d;
    if (B <= 0 || B > g->max_batch)
        return err_set(e, "batch %d does not fit the network (max %d)", B, g->max_batch);
    if (upto < 0 || upto >= g->n_layers) upto = g->n_layers - 1;
    if (x) {
        if (o->upload(d, g->input, x, g->in_size * (size_t)B * sizeof(float), e)) return -1;
    } else if (augment_input(g, images, idx, params, B, net->in_h, net->in_w, e)) {
        return -1;
    }
    for (int i = 0; i <= upto; i++) node_forward(g, net, i, B, training, use_dropout, dropout_key);
    return 0;
}

static int gpu_net_layer_output(GpuNet *g, const Net *net, int i, int B, float *host, Err *e) {
    size_t n = net_layer_size(net, i) * (size_t)B;
    return g->ops->download(g->d, host, g->layers[i].out, n * sizeof(float), e);
}

/* Node i's backward: gr = dLoss/d(its output), the fused ReLU already
 * applied; ACCUMULATES its parameter gradients and OVERWRITES dins[k]
 * (NULL: not needed) with its input k's gradient. */
static void node_backward(GpuNet *g, const Net *net, int i, int B, const float *gr,
                          float *const dins[2]) {
    const DeviceOps *o = g->ops;
    Device *d = g->d;
    const Layer *L = &net->layers[i];
    GpuLayer *G = &g->layers[i];
    const float *p = g->params + L->param_off;
    float *gp = g->grads + L->param_off;
    const float *in = L->in[0] >= 0 ? g->layers[L->in[0]].out : g->input;
    float *din = dins[0];
    long n_out = (long)B * (long)net_layer_size(net, i);
    long M = (long)B * L->in_h * L->in_w;
    switch (L->spec.kind) {
    case LAYER_CONV: {
        int K = L->spec.ksize, kkc = K * K * L->in_c, Co = L->c;
        long Mo = (long)B * L->h * L->w;
        /* the forward's col was overwritten by later layers: redo it */
        o->im2col(d, Mo * kkc, g->col, in, B, L->in_h, L->in_w, L->in_c, K, L->spec.stride,
                  L->h, L->w);
        /* dw[kkc][Co] += col^T . g */
        o->gemm(d, 0, 1, Co, kkc, (int)Mo, 1.0f, gr, Co, g->col, kkc, 1.0f, gp, Co);
        if (!L->spec.nobias) { /* db += the column sums of g */
            col_sums(g, g->sum_a, gr, NULL, NULL, NULL, NULL, Mo, Co, COL_SUM);
            o->add_sums(d, Co, gp + L->n_params - L->spec.units, g->sum_a);
        }
        if (din) {
            /* dcol[Mo][kkc] = g . w^T, then scattered back as a gather */
            o->gemm(d, 1, 0, kkc, (int)Mo, Co, 1.0f, p, Co, gr, Co, 0.0f, g->col, kkc);
            o->col2im(d, M * L->in_c, din, g->col, B, L->in_h, L->in_w, L->in_c, K,
                      L->spec.stride, L->h, L->w);
        }
        break;
    }
    case LAYER_DENSE: {
        int n_in = L->in_h * L->in_w * L->in_c, Co = L->c;
        o->gemm(d, 0, 1, Co, n_in, B, 1.0f, gr, Co, in, n_in, 1.0f, gp, Co);
        col_sums(g, g->sum_a, gr, NULL, NULL, NULL, NULL, B, Co, COL_SUM);
        o->add_sums(d, Co, gp + (size_t)n_in * Co, g->sum_a);
        if (din) o->gemm(d, 1, 0, n_in, B, Co, 1.0f, p, Co, gr, Co, 0.0f, din, n_in);
        break;
    }
    case LAYER_BATCHNORM: {
        int C = L->c;
        col_sums(g, g->sum_a, gr, NULL, NULL, NULL, NULL, M, C, COL_SUM);
        col_sums(g, g->sum_b, in, gr, NULL, G->mean, G->invstd, M, C, COL_SUM_XHAT_PROD);
        o->add_sums(d, C, gp, g->sum_b);
        o->add_sums(d, C, gp + C, g->sum_a);
        if (din)
            o->bn_backward(d, M * C, din, gr, in, G->mean, G->invstd, p, g->sum_a, g->sum_b,
                           M, C);
        break;
    }
    case LAYER_MAXPOOL:
        if (din)
            o->maxpool_backward(d, M * L->in_c, din, gr, in, L->in_h, L->in_w, L->in_c,
                                L->spec.ksize, L->spec.stride, L->spec.pad, L->h, L->w);
        break;
    case LAYER_DROPOUT:
        if (din) o->mul(d, n_out, din, gr, G->mask);
        break;
    case LAYER_ADD: /* both inputs get the gradient */
        for (int k = 0; k < 2; k++)
            if (dins[k]) o->copy(d, dins[k], gr, (size_t)n_out * sizeof(float));
        break;
    case LAYER_GAP:
        if (din) o->gap_backward(d, M * L->in_c, din, gr, (long)L->in_h * L->in_w, L->c);
        break;
    default: /* has_ops admits no other kind */
        break;
    }
}

/* The gradient of node i's input k (-1: the network's input) is written to
 * its plan's buffer, or (din_add: another consumer's gradient is there
 * already) to tmp[k] and then added in; as the CPU's cpu_backward. */
static int gpu_net_backward(GpuNet *g, const Net *net, const float *dout, int B, Err *e) {
    const DeviceOps *o = g->ops;
    Device *d = g->d;
    const Layer *last = &net->layers[net->n_layers - 1];
    size_t n_last = net_output_size(net) * (size_t)B;
    if (o->upload(d, g->gbuf[last->gslot], dout, n_last * sizeof(float), e)) return -1;
    float *tmp[2] = {g->gbuf[g->n_gbuf - 2 < 0 ? 0 : g->n_gbuf - 2], g->gbuf[g->n_gbuf - 1]};
    for (int i = net->n_layers - 1; i >= 0; i--) {
        const Layer *L = &net->layers[i];
        if (L->gslot < 0) continue; /* no gradient reaches it */
        float *gr = g->gbuf[L->gslot];
        long n_out = (long)B * (long)net_layer_size(net, i);
        if (L->spec.relu) o->relu_backward(d, n_out, gr, g->layers[i].out);
        if (kind_def(L->spec.kind)->alias) { /* in place, or added into the input's */
            if (L->din_add[0]) {
                float *to = g->gbuf[net->layers[L->in[0]].gslot];
                o->add(d, n_out, to, to, gr, 0);
            }
            continue;
        }
        float *dins[2] = {NULL, NULL};
        for (int k = 0; k < L->spec.n_in; k++)
            if (L->in[k] >= 0)
                dins[k] = L->din_add[k] ? tmp[k] : g->gbuf[net->layers[L->in[k]].gslot];
        node_backward(g, net, i, B, gr, dins);
        for (int k = 0; k < L->spec.n_in; k++)
            if (dins[k] && L->din_add[k]) {
                float *to = g->gbuf[net->layers[L->in[k]].gslot];
                o->add(d, (long)B * (long)net_layer_size(net, L->in[k]), to, to, dins[k], 0);
            }
    }
    return o->sync(d, e);
}

static void gpu_net_zero_grads(GpuNet *g) { g->ops->zero(g->d, g->grads, g->n_params * sizeof(float)); }

static void gpu_net_adam(GpuNet *g, const Adam *opt, float alpha) {
    g->ops->adam(g->d, (long)g->n_params, g->params, g->m, g->v, g->grads, alpha, opt->beta1,
                 opt->beta2, opt->eps);
}

/* ---- the backend table ---- */

static GpuNet *state(const Net *net) { return (GpuNet *)net->backend_state; }

static const float *dev_forward(Net *net, const float *x, const uint8_t *images, const int *idx,
                                const AugParams *aug, int B, int training, Rng *rng, int upto) {
    uint64_t key = training && rng ? rng_u64(rng) : 0;
    if (gpu_net_forward(state(net), net, x, images, idx, aug, B, training, rng != NULL, key,
                        upto, &net->err) ||
        gpu_net_layer_output(state(net), net, upto, B, net->layers[upto].out, &net->err))
        return NULL;
    if (training) net->host_stale = 1; /* BN moving statistics changed */
    return net->layers[upto].out;
}

static int dev_backward(Net *net, const float *dout, int B) {
    return gpu_net_backward(state(net), net, dout, B, &net->err);
}

static void dev_zero_grads(Net *net) { gpu_net_zero_grads(state(net)); }

static void dev_update(Net *net, Adam *opt) {
    gpu_net_adam(state(net), opt, adam_next_alpha(opt));
    net->host_stale = 1;
}

static int dev_sync_host(Net *net, Adam *opt, Err *e) {
    if (gpu_net_download(state(net), net, opt, e)) return -1;
    net->host_stale = 0;
    return 0;
}

static int dev_attach(Net *net, const uint8_t *images, long n, Err *e) {
    return gpu_net_attach_images(state(net), images, n,
                                 (long)net->in_h * net->in_w * net->in_c, e);
}

static const float *dev_layer_out(Net *net, int i, int B) {
    if (gpu_net_layer_output(state(net), net, i, B, net->layers[i].out, &net->err)) return NULL;
    return net->layers[i].out;
}

static void dev_describe(const Net *net, char *buf, size_t len) {
    snprintf(buf, len, "%s", state(net)->desc);
}

static void dev_release(Net *net) {
    gpu_net_free(state(net));
    net->backend_state = NULL;
}

static const NetBackend DEVICE = {
    .name = "device",
    .forward = dev_forward,
    .backward = dev_backward,
    .zero_grads = dev_zero_grads,
    .update = dev_update,
    .sync_host = dev_sync_host,
    .attach = dev_attach,
    .layer_out = dev_layer_out,
    .describe = dev_describe,
    .release = dev_release,
};

const NetBackend *gpu_net_backend(void) { return &DEVICE; }


/* Whether the device has ops for node L: a new kind has none until its
 * ops are written here, so it is refused, not run wrong (a new option of a
 * kind that the ops do not implement adds its test here). Every option of
 * the kinds below runs: conv with or without a bias, batchnorm with any
 * momentum/eps and a fused ReLU, max-pool with any window, stride and
 * padding. */
static int has_ops(const Layer *L) {
    switch (L->spec.kind) {
    case LAYER_CONV:
    case LAYER_BATCHNORM:
    case LAYER_MAXPOOL:
    case LAYER_FLATTEN:
    case LAYER_DROPOUT:
    case LAYER_DENSE:
    case LAYER_ADD:
    case LAYER_GAP: return 1;
    default: return 0;
    }
}

static int check_runs_here(const Net *net, const DeviceOps *ops, Err *e) {
    for (int i = 0; i < net->n_layers; i++) {
        const Layer *L = &net->layers[i];
        if (!has_ops(L))
            return err_set(e, "%s: node %s: the device has no %s yet (run it on the CPU)",
                           ops->name, L->spec.name, kind_def(L->spec.kind)->name);
    }
    return 0;
}

int net_use_device(Net *net, const DeviceOps *ops, const Adam *opt, Err *e) {
    if (check_runs_here(net, ops, e)) return -1;
    GpuNet *g = gpu_net_create(net, ops, opt, e);
    if (!g) return -1;
    if (net->backend->release) net->backend->release(net);
    net->backend = &DEVICE;
    net->backend_state = g;
    net->host_stale = 0;
    return 0;
}

int net_place(Net *net, const char *device, const Adam *opt, Err *e) {
    DeviceChoice c;
    if (!device || !*device) device = "cpu";
    if (device_choice_parse(device, &c))
        return err_set(e, "--device: '%s' is not one of cpu, cuda, auto, emulated", device);
    if (c == DEVICE_CPU) return 0;
    if (c == DEVICE_EMULATED) return net_use_device(net, device_emulated(), opt, e);
    const DeviceOps *cuda = device_cuda();
    Err why;
    if (!cuda) {
        if (c == DEVICE_AUTO) return 0;
        return err_set(e, "--device cuda: this build has no CUDA backend (nvcc was not found "
                          "when it was built)");
    }
    if (net_use_device(net, cuda, opt, &why) == 0) return 0;
    if (c == DEVICE_AUTO) return 0;
    return err_set(e, "--device cuda: %s", why.msg);
}
