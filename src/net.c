/* net.c - the network of net.h: builds the node graph from an Arch (shapes
 * through the kind table), owns parameters, gradients, BN moving statistics
 * and activations, dispatches every step to its NetBackend, and is the CPU
 * backend: nodes in order forward, in reverse order backward, each through
 * its kind's entry (kinds.c). */
#include "net.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "augment.h"
#include "layers.h"

size_t net_layer_size(const Net *net, int i) {
    const Layer *L = &net->layers[i];
    return (size_t)L->h * L->w * L->c;
}

size_t net_output_size(const Net *net) { return net_layer_size(net, net->n_layers - 1); }

int net_find_layer(const Net *net, const char *name) {
    for (int i = 0; i < net->n_layers; i++)
        if (!strcmp(net->layers[i].spec.name, name)) return i;
    return -1;
}

/* ---- building ---- */

/* Index of input k's node (-1: the network's input). */
static int input_index(const Layer *layers, int i, const char *name) {
    if (!strcmp(name, "input")) return -1;
    for (int j = 0; j < i; j++)
        if (!strcmp(layers[j].spec.name, name)) return j;
    return -2; /* arch_parse rules this out */
}

/* Shapes, parameter and state offsets of every node. */
static int infer_shapes(const Arch *a, Layer *layers, int in_h, int in_w, int in_c,
                        size_t *n_params, size_t *n_state, Err *e) {
    *n_params = *n_state = 0;
    for (int i = 0; i < a->n; i++) {
        Layer *L = &layers[i];
        L->spec = a->nodes[i];
        const KindDef *kd = kind_def(L->spec.kind);
        const Layer *src[2] = {NULL, NULL};
        for (int k = 0; k < 2; k++) L->in[k] = -1;
        for (int k = 0; k < L->spec.n_in; k++) {
            L->in[k] = input_index(layers, i, L->spec.in[k]);
            if (L->in[k] == -2)
                return err_set(e, "%s:%d: node %s: no input named '%s'", a->source,
                               L->spec.line, L->spec.name, L->spec.in[k]);
            if (L->in[k] >= 0) src[k] = &layers[L->in[k]];
        }
        L->in_h = src[0] ? src[0]->h : in_h;
        L->in_w = src[0] ? src[0]->w : in_w;
        L->in_c = src[0] ? src[0]->c : in_c;
        Layer input1 = {.h = in_h, .w = in_w, .c = in_c};
        const Layer *in1 = L->spec.n_in > 1 ? (src[1] ? src[1] : &input1) : NULL;
        Err why;
        if (kd->infer(L, in1, &why))
            return err_set(e, "%s:%d: node %s: %s", a->source, L->spec.line, L->spec.name,
                           why.msg);
        L->param_off = *n_params;
        L->state_off = *n_state;
        *n_params += L->n_params;
        *n_state += L->n_state;
    }
    return 0;
}

/* The backward plan: which gradient buffer holds each node's output
 * gradient. Walking the nodes in reverse, a node's buffer is taken when its
 * first consumer (in that order) writes into it and given back once the
 * node has passed its gradient on; later consumers add into it. A chain
 * uses two buffers, in turn. Returns the number of buffers. */
static int plan_backward(Layer *layers, int n) {
    int *free_slots = xmalloc(sizeof(int) * (size_t)(n + 1)), n_free = 0, n_slots = 0;
#define TAKE() (n_free ? free_slots[--n_free] : n_slots++)
    for (int i = 0; i < n; i++) layers[i].gslot = -1, layers[i].din_add[0] = 0,
                                layers[i].din_add[1] = 0;
    layers[n - 1].gslot = TAKE();
    for (int i = n - 1; i >= 0; i--) {
        Layer *L = &layers[i];
        if (L->gslot < 0) continue; /* no gradient reaches it (a side branch) */
        int alias = kind_def(L->spec.kind)->alias, keep = 0;
        for (int k = 0; k < L->spec.n_in; k++) {
            int j = L->in[k];
            if (j < 0) continue; /* the network's input: no gradient */
            if (layers[j].gslot >= 0) {
                L->din_add[k] = 1;
            } else if (alias) {
                layers[j].gslot = L->gslot; /* the gradient stays in place */
                keep = 1;
            } else {
                layers[j].gslot = TAKE();
            }
        }
        if (!keep) free_slots[n_free++] = L->gslot;
    }
#undef TAKE
    free(free_slots);
    return n_slots;
}

/* The sizes of net_create's buffers besides the per-node ones (Layer.out,
 * .aux), from its plan. */
typedef struct Sizes {
    size_t n_params, n_state;
    size_t in_size;     /* floats of one input example */
    size_t max_act;     /* the largest activation of one example (the input's included) */
    size_t max_scratch; /* the largest im2col scratch of one example (0: none) */
    int n_gbuf;         /* activation-gradient buffers, of max_act per example each */
} Sizes;

/* net_create's plan for arch: its nodes with their shapes (returned,
 * a->n of them) and the buffer sizes. NULL with e set for no nodes, a bad
 * input shape or batch, or a shape error. One rule for net_create,
 * net_memory_bytes and net_forward_macs. */
static Layer *plan_net(const Arch *a, int in_h, int in_w, int in_c, int max_batch, Sizes *s,
                       Err *e) {
    if (a->n <= 0) return err_set(e, "net %s: no nodes", a->name), NULL;
    if (in_h <= 0 || in_w <= 0 || in_c <= 0 || max_batch <= 0)
        return err_set(e, "net %s: bad input shape %dx%dx%d or batch %d", a->name, in_h, in_w,
                       in_c, max_batch),
               NULL;
    Layer *layers = xcalloc((size_t)a->n, sizeof *layers);
    if (infer_shapes(a, layers, in_h, in_w, in_c, &s->n_params, &s->n_state, e)) {
        free(layers);
        return NULL;
    }
    s->in_size = (size_t)in_h * in_w * in_c;
    s->max_act = s->in_size, s->max_scratch = 0;
    for (int i = 0; i < a->n; i++) {
        size_t act = (size_t)layers[i].h * layers[i].w * layers[i].c;
        if (act > s->max_act) s->max_act = act;
        if (layers[i].scratch > s->max_scratch) s->max_scratch = layers[i].scratch;
    }
    s->n_gbuf = plan_backward(layers, a->n);
    int adds = 0;
    for (int i = 0; i < a->n; i++) adds |= layers[i].din_add[0] | layers[i].din_add[1];
    if (adds) s->n_gbuf += 2; /* what the gradients added into others are written to */
    return layers;
}

Net *net_create(const Arch *a, int in_h, int in_w, int in_c, int max_batch, int threads,
                Err *e) {
    Sizes s;
    Layer *layers = plan_net(a, in_h, in_w, in_c, max_batch, &s, e);
    if (!layers) return NULL;
    Net *net = xcalloc(1, sizeof *net);
    snprintf(net->arch, sizeof net->arch, "%s", a->name);
    snprintf(net->arch_source, sizeof net->arch_source, "%s", a->source);
    net->arch_text = xstrdup(a->text ? a->text : "");
    net->n_layers = a->n;
    net->layers = layers;
    net->in_h = in_h, net->in_w = in_w, net->in_c = in_c;
    net->max_batch = max_batch;
    net->n_params = s.n_params;
    net->n_state = s.n_state;
    net->params = xalloc_floats(s.n_params ? s.n_params : 1);
    net->grads = xalloc_floats(s.n_params ? s.n_params : 1);
    net->state = xalloc_floats(s.n_state ? s.n_state : 1);
    net->n_gbuf = s.n_gbuf;
    net->gbuf = xcalloc((size_t)net->n_gbuf, sizeof *net->gbuf);
    for (int b = 0; b < net->n_gbuf; b++)
        net->gbuf[b] = xalloc_floats(s.max_act * (size_t)max_batch);
    if (s.max_scratch) {
        net->col = xalloc_floats(s.max_scratch * (size_t)max_batch);
        net->dcol = xalloc_floats(s.max_scratch * (size_t)max_batch);
    }
    net->input = xalloc_floats(s.in_size * (size_t)max_batch);
    net->images_x = xalloc_floats(s.in_size * (size_t)max_batch);
    for (int i = 0; i < a->n; i++) {
        Layer *L = &layers[i];
        size_t act = net_layer_size(net, i) * (size_t)max_batch;
        if (!kind_def(L->spec.kind)->alias) L->out = xalloc_floats(act);
        size_t aux = L->aux_fixed + L->aux_per_example * (size_t)max_batch;
        if (aux) L->aux = xalloc_floats(aux);
    }
    /* alias kinds (flatten) share their input's activations */
    for (int i = 0; i < a->n; i++)
        if (kind_def(layers[i].spec.kind)->alias)
            layers[i].out = layers[i].in[0] >= 0 ? layers[layers[i].in[0]].out : net->input;
    kctx_init(&net->kctx, threads);
    net->k = kernels_cpu_best();
    net->backend = net_backend_cpu();
    return net;
}

int net_memory_bytes(const Arch *a, int in_h, int in_w, int in_c, int max_batch, int with_adam,
                     uint64_t *bytes, Err *e) {
    Sizes s;
    Layer *layers = plan_net(a, in_h, in_w, in_c, max_batch, &s, e);
    if (!layers) return -1;
    const uint64_t B = (uint64_t)max_batch;
    /* what net_create allocates, buffer by buffer */
    uint64_t floats = (uint64_t)s.n_params * 2 + s.n_state;          /* params, grads, state */
    floats += (uint64_t)s.n_gbuf * s.max_act * B;                    /* gradient buffers */
    floats += 2 * (uint64_t)s.max_scratch * B;                       /* col, dcol */
    floats += 2 * (uint64_t)s.in_size * B;                           /* input, images_x */
    for (int i = 0; i < a->n; i++) {
        const Layer *L = &layers[i];
        if (!kind_def(L->spec.kind)->alias) floats += (uint64_t)L->h * L->w * L->c * B;
        floats += L->aux_fixed + L->aux_per_example * B;
    }
    if (with_adam) floats += (uint64_t)s.n_params * 2; /* adam_init's m and v */
    free(layers);
    *bytes = floats * sizeof(float);
    return 0;
}

int net_forward_macs(const Arch *a, int in_h, int in_w, int in_c, uint64_t *macs, Err *e) {
    Sizes s;
    Layer *layers = plan_net(a, in_h, in_w, in_c, 1, &s, e);
    if (!layers) return -1;
    *macs = 0;
    for (int i = 0; i < a->n; i++) *macs += layers[i].macs;
    free(layers);
    return 0;
}

Net *net_create_text(const char *name, const char *text, int in_h, int in_w, int in_c,
                     int max_batch, int threads, Err *e) {
    Arch a;
    if (arch_parse(&a, name, name, text, e)) return NULL;
    Net *net = net_create(&a, in_h, in_w, in_c, max_batch, threads, e);
    arch_free(&a);
    return net;
}

void net_free(Net *net) {
    if (!net) return;
    if (net->backend->release) net->backend->release(net);
    for (int i = 0; i < net->n_layers; i++) {
        if (!kind_def(net->layers[i].spec.kind)->alias) free(net->layers[i].out);
        free(net->layers[i].aux);
    }
    for (int b = 0; b < net->n_gbuf; b++) free(net->gbuf[b]);
    free(net->gbuf);
    free(net->col);
    free(net->dcol);
    free(net->layers);
    free(net->params);
    free(net->grads);
    free(net->state);
    free(net->input);
    free(net->images_x);
    free(net->arch_text);
    kctx_free(&net->kctx);
    free(net);
}

void net_set_kernels(Net *net, const Kernels *k) { net->k = k; }

void net_init(Net *net, uint64_t seed) {
    memset(net->params, 0, net->n_params * sizeof(float));
    for (int i = 0; i < net->n_layers; i++) {
        Layer *L = &net->layers[i];
        const KindDef *kd = kind_def(L->spec.kind);
        Rng rng = rng_stream(seed, rng_mix(RNG_TAG_INIT, (uint64_t)i));
        if (kd->init) kd->init(L, net->params + L->param_off, net->state + L->state_off, &rng);
    }
}

/* ---- the steps, through the backend ---- */

/* B in 1..max_batch; else a caller bug: fail loudly (net_error), not corrupt. */
static int batch_fits(Net *net, int B) {
    if (B > 0 && B <= net->max_batch) return 1;
    err_set(&net->err, "batch %d does not fit the network (max %d)", B, net->max_batch);
    return 0;
}

const float *net_forward(Net *net, const float *x, int B, int training, Rng *rng, int upto) {
    if (!batch_fits(net, B)) return NULL;
    if (upto < 0 || upto >= net->n_layers) upto = net->n_layers - 1;
    return net->backend->forward(net, x, NULL, NULL, NULL, B, training, rng, upto);
}

const float *net_forward_images(Net *net, const uint8_t *images, const int *idx,
                                const AugParams *aug, int B, int training, Rng *rng, int upto) {
    if (!batch_fits(net, B)) return NULL;
    if (net->in_c != 3) {
        err_set(&net->err, "net %s takes %dx%dx%d inputs, not RGB images", net->arch,
                net->in_h, net->in_w, net->in_c);
        return NULL;
    }
    if (upto < 0 || upto >= net->n_layers) upto = net->n_layers - 1;
    return net->backend->forward(net, NULL, images, idx, aug, B, training, rng, upto);
}

int net_backward(Net *net, const float *dout, int B) {
    return net->backend->backward(net, dout, B);
}

void net_zero_grads(Net *net) { net->backend->zero_grads(net); }

void net_adam_step(Net *net, Adam *opt) { net->backend->update(net, opt); }

int net_update(Net *net, Adam *opt, const float *dout, int B) {
    net_zero_grads(net);
    if (net_backward(net, dout, B)) return -1;
    net_adam_step(net, opt);
    return 0;
}

void net_describe_device(const Net *net, char *buf, size_t len) {
    net->backend->describe(net, buf, len);
}

int net_sync_host(Net *net, Adam *opt, Err *e) { return net->backend->sync_host(net, opt, e); }

const char *net_error(const Net *net) { return net->err.msg[0] ? net->err.msg : "unknown error"; }

int net_attach_images(Net *net, const uint8_t *images, long n, Err *e) {
    return n > 0 ? net->backend->attach(net, images, n, e) : 0;
}

const float *net_layer_out(Net *net, int i, int B) { return net->backend->layer_out(net, i, B); }

/* ---- the CPU backend ---- */

static const float *cpu_forward(Net *net, const float *x, const uint8_t *images, const int *idx,
                                const AugParams *aug, int B, int training, Rng *rng, int upto) {
    size_t in_size = (size_t)net->in_h * net->in_w * net->in_c;
    if (!x) {
#pragma omp parallel for num_threads(net->kctx.threads) schedule(static) if (B > 1)
        for (int b = 0; b < B; b++)
            aug_apply(&aug[b], images + (size_t)idx[b] * in_size,
                      net->images_x + (size_t)b * in_size, net->in_h, net->in_w);
        x = net->images_x;
    }
    const float *in = x;
    if (training) {
        /* Kept for backward: the first node's weight gradient needs it. */
        memcpy(net->input, x, in_size * (size_t)B * sizeof(float));
        in = net->input;
    }
    for (int i = 0; i <= upto; i++) {
        Layer *L = &net->layers[i];
        const float *in0 = L->in[0] >= 0 ? net->layers[L->in[0]].out : in;
        const float *in1 = L->spec.n_in < 2 ? NULL : L->in[1] >= 0 ? net->layers[L->in[1]].out
                                                                     : in;
        const KindDef *kd = kind_def(L->spec.kind);
        if (kd->alias)
            L->out = (float *)in0;
        else
            kd->forward(net, L, in0, in1, B, training, rng);
    }
    return net->layers[upto].out;
}

static void add_into(float *dst, const float *src, long n, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static) if (n > 65536)
    for (long j = 0; j < n; j++) dst[j] += src[j];
}

static int cpu_backward(Net *net, const float *dout, int B) {
    const Kernels *k = net->k;
    KernelCtx *kc = &net->kctx;
    Layer *last = &net->layers[net->n_layers - 1];
    memcpy(net->gbuf[last->gslot], dout, net_output_size(net) * (size_t)B * sizeof(float));
    /* the last two buffers, when the plan adds gradients (see net_create) */
    float *tmp[2] = {net->gbuf[net->n_gbuf - 2 < 0 ? 0 : net->n_gbuf - 2],
                     net->gbuf[net->n_gbuf - 1]};
    for (int i = net->n_layers - 1; i >= 0; i--) {
        Layer *L = &net->layers[i];
        if (L->gslot < 0) continue;
        const KindDef *kd = kind_def(L->spec.kind);
        float *g = net->gbuf[L->gslot];
        long n_out = (long)B * (long)net_layer_size(net, i);
        if (L->spec.relu) k->relu_backward(kc, g, g, L->out, n_out);
        if (kd->alias) { /* the gradient stays in place, or adds into the input's */
            if (L->din_add[0]) add_into(net->gbuf[net->layers[L->in[0]].gslot], g, n_out,
                                        kc->threads);
            continue;
        }
        const float *in[2] = {NULL, NULL};
        float *din[2] = {NULL, NULL};
        for (int j = 0; j < L->spec.n_in; j++) {
            in[j] = L->in[j] >= 0 ? net->layers[L->in[j]].out : net->input;
            if (L->in[j] >= 0)
                din[j] = L->din_add[j] ? tmp[j] : net->gbuf[net->layers[L->in[j]].gslot];
        }
        kd->backward(net, L, g, in[0], in[1], din[0], din[1], B);
        for (int j = 0; j < L->spec.n_in; j++)
            if (din[j] && L->din_add[j]) {
                const Layer *S = &net->layers[L->in[j]];
                add_into(net->gbuf[S->gslot], din[j], (long)B * (long)S->h * S->w * S->c,
                         kc->threads);
            }
    }
    return 0;
}

/* Threaded: the seed net's 9.6 MB memset is ~1% of a training step. */
static void cpu_zero_grads(Net *net) {
    long n = (long)net->n_params, parts = net->kctx.threads;
#pragma omp parallel for num_threads(net->kctx.threads) schedule(static) if (n > 65536)
    for (long p = 0; p < parts; p++) {
        long lo = n * p / parts, hi = n * (p + 1) / parts;
        memset(net->grads + lo, 0, (size_t)(hi - lo) * sizeof(float));
    }
}

static void cpu_update(Net *net, Adam *opt) {
    adam_step_threads(opt, net->params, net->grads, net->kctx.threads);
}

static int cpu_sync_host(Net *net, Adam *opt, Err *e) {
    (void)net, (void)opt, (void)e;
    return 0;
}

static int cpu_attach(Net *net, const uint8_t *images, long n, Err *e) {
    (void)net, (void)images, (void)n, (void)e;
    return 0;
}

static const float *cpu_layer_out(Net *net, int i, int B) {
    (void)B;
    return net->layers[i].out;
}

static void cpu_describe(const Net *net, char *buf, size_t len) {
    snprintf(buf, len, "cpu (%s)", net->k->name);
}

static const NetBackend CPU = {
    .name = "cpu",
    .forward = cpu_forward,
    .backward = cpu_backward,
    .zero_grads = cpu_zero_grads,
    .update = cpu_update,
    .sync_host = cpu_sync_host,
    .attach = cpu_attach,
    .layer_out = cpu_layer_out,
    .describe = cpu_describe,
    .release = NULL,
};

const NetBackend *net_backend_cpu(void) { return &CPU; }

/* ---- summary ---- */

/* 2397226 -> "2,397,226" */
static void with_commas(char *buf, size_t cap, size_t v) {
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%zu", v), o = 0;
    for (int i = 0; i < n && (size_t)o + 2 < cap; i++) {
        if (i && (n - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = 0;
}

void net_summary(const Net *net, FILE *f) {
    static const char rule[] =
        "____________________________________________________________________________\n";
    static const char dbl[] =
        "============================================================================\n";
    fprintf(f, "Model: \"%s\"\n%s", net->arch, rule);
    fprintf(f, " %-37s%-26s%s\n%s", "Layer (type)", "Output Shape", "Param #", dbl);
    size_t total = 0, non_trainable = 0;
    for (int i = 0; i < net->n_layers; i++) {
        const Layer *L = &net->layers[i];
        const KindDef *kd = kind_def(L->spec.kind);
        char name[128], shape[64];
        snprintf(name, sizeof name, "%s (%s)", L->spec.name, kd->keras);
        if (kd->spatial)
            snprintf(shape, sizeof shape, "(None, %d, %d, %d)", L->h, L->w, L->c);
        else
            snprintf(shape, sizeof shape, "(None, %d)", L->c);
        size_t n = L->n_params + L->n_state;
        total += n;
        non_trainable += L->n_state;
        fprintf(f, " %-37s%s%-26s%zu\n", name, strlen(name) >= 37 ? " " : "", shape, n);
        fputs(i + 1 < net->n_layers ? "\n" : "", f);
    }
    char a[32], b[32], c[32];
    with_commas(a, sizeof a, total);
    with_commas(b, sizeof b, total - non_trainable);
    with_commas(c, sizeof c, non_trainable);
    fprintf(f, "%sTotal params: %s\nTrainable params: %s\nNon-trainable params: %s\n%s", dbl, a,
            b, c, rule);
}
