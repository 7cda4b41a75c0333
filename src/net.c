/* net.c - the feed-forward network of net.h: builds the layer list from
 * LayerSpecs, owns parameters, gradients, BN moving statistics and
 * activations, and runs forward and backward through a Kernels table. */
#include "net.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "augment.h"
#include "gpu_net.h"
#include "layers.h"


static const LayerSpec SEED_CNN[] = {
    {LAYER_CONV, "block1_conv1", 32, 3, 1, 0},   {LAYER_BATCHNORM, "block1_bn1", 0, 0, 0, 0},
    {LAYER_CONV, "block1_conv2", 32, 3, 1, 0},   {LAYER_BATCHNORM, "block1_bn2", 0, 0, 0, 0},
    {LAYER_MAXPOOL, "block1_pool", 0, 0, 0, 0},  {LAYER_CONV, "block2_conv1", 64, 3, 1, 0},
    {LAYER_BATCHNORM, "block2_bn1", 0, 0, 0, 0}, {LAYER_CONV, "block2_conv2", 64, 3, 1, 0},
    {LAYER_BATCHNORM, "block2_bn2", 0, 0, 0, 0}, {LAYER_MAXPOOL, "block2_pool", 0, 0, 0, 0},
    {LAYER_CONV, "block3_conv1", 128, 3, 1, 0},  {LAYER_BATCHNORM, "block3_bn1", 0, 0, 0, 0},
    {LAYER_CONV, "block3_conv2", 128, 3, 1, 0},  {LAYER_BATCHNORM, "block3_bn2", 0, 0, 0, 0},
    {LAYER_MAXPOOL, "block3_pool", 0, 0, 0, 0},  {LAYER_FLATTEN, "flatten", 0, 0, 0, 0},
    {LAYER_DROPOUT, "dropout1", 0, 0, 0, 0.2f},  {LAYER_DENSE, "dense1", 1024, 0, 1, 0},
    {LAYER_DROPOUT, "dropout2", 0, 0, 0, 0.2f},  {LAYER_DENSE, "logits", 10, 0, 0, 0},
};

static const LayerSpec RANKNET_HEAD[] = {
    {LAYER_DROPOUT, "dropout1", 0, 0, 0, 0.2f},
    {LAYER_DENSE, "dense1", 1024, 0, 1, 0},
    {LAYER_DROPOUT, "dropout2", 0, 0, 0, 0.2f},
    {LAYER_DENSE, "score", 1, 0, 0, 0},
};

const LayerSpec *net_arch_seed_cnn(int *n_layers) {
    *n_layers = (int)(sizeof SEED_CNN / sizeof SEED_CNN[0]);
    return SEED_CNN;
}

const LayerSpec *net_arch_ranknet_head(int *n_layers) {
    *n_layers = (int)(sizeof RANKNET_HEAD / sizeof RANKNET_HEAD[0]);
    return RANKNET_HEAD;
}

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

/* Flatten reads its input buffer in place: it owns no activations. */
static int layer_owns_out(const Layer *L) { return L->spec.kind != LAYER_FLATTEN; }

Net *net_create(const char *arch, const LayerSpec *specs, int n_layers, int in_h, int in_w,
                int in_c, int max_batch, int threads, Err *e) {
    if (n_layers <= 0) return err_set(e, "net %s: no layers", arch), NULL;
    if (in_h <= 0 || in_w <= 0 || in_c <= 0 || max_batch <= 0)
        return err_set(e, "net %s: bad input shape %dx%dx%d or batch %d", arch, in_h, in_w, in_c,
                       max_batch),
               NULL;
    Layer *layers = xcalloc((size_t)n_layers, sizeof *layers);
    int h = in_h, w = in_w, c = in_c;
    size_t n_params = 0, n_state = 0, max_act = (size_t)h * w * c;
    for (int i = 0; i < n_layers; i++) {
        Layer *L = &layers[i];
        const LayerSpec *s = &specs[i];
        L->spec = *s;
        L->in_h = h, L->in_w = w, L->in_c = c;
        L->param_off = n_params;
        L->state_off = n_state;
        switch (s->kind) {
        case LAYER_CONV:
            if (s->units <= 0 || s->ksize <= 0 || s->ksize % 2 == 0) {
                free(layers);
                return err_set(e, "net %s: layer %s: conv needs units > 0 and an odd kernel",
                               arch, s->name),
                       NULL;
            }
            L->n_params = (size_t)s->ksize * s->ksize * c * s->units + (size_t)s->units;
            c = s->units;
            break;
        case LAYER_BATCHNORM:
            L->n_params = 2 * (size_t)c;
            L->n_state = 2 * (size_t)c;
            break;
        case LAYER_MAXPOOL:
            if (h % 2 || w % 2) {
                free(layers);
                return err_set(e, "net %s: layer %s: max-pool input %dx%d is not even", arch,
                               s->name, h, w),
                       NULL;
            }
            h /= 2, w /= 2;
            break;
        case LAYER_FLATTEN:
            c = h * w * c, h = w = 1;
            break;
        case LAYER_DROPOUT:
            if (!(s->rate >= 0 && s->rate < 1)) {
                free(layers);
                return err_set(e, "net %s: layer %s: dropout rate %g outside [0, 1)", arch,
                               s->name, (double)s->rate),
                       NULL;
            }
            break;
        case LAYER_DENSE:
            if (s->units <= 0) {
                free(layers);
                return err_set(e, "net %s: layer %s: dense needs units > 0", arch, s->name), NULL;
            }
            L->n_params = (size_t)h * w * c * s->units + (size_t)s->units;
            h = w = 1, c = s->units;
            break;
        default:
            free(layers);
            return err_set(e, "net %s: layer %d: unknown kind %d", arch, i, (int)s->kind), NULL;
        }
        L->h = h, L->w = w, L->c = c;
        n_params += L->n_params;
        n_state += L->n_state;
        if ((size_t)h * w * c > max_act) max_act = (size_t)h * w * c;
    }

    Net *net = xcalloc(1, sizeof *net);
    snprintf(net->arch, sizeof net->arch, "%s", arch);
    net->n_layers = n_layers;
    net->layers = layers;
    net->in_h = in_h, net->in_w = in_w, net->in_c = in_c;
    net->max_batch = max_batch;
    net->n_params = n_params;
    net->n_state = n_state;
    net->params = xalloc_floats(n_params ? n_params : 1);
    net->grads = xalloc_floats(n_params ? n_params : 1);
    net->state = xalloc_floats(n_state ? n_state : 1);
    for (int b = 0; b < 2; b++) net->dbuf[b] = xalloc_floats(max_act * (size_t)max_batch);
    net->input = xalloc_floats((size_t)in_h * in_w * in_c * (size_t)max_batch);
    net->images_x = xalloc_floats((size_t)in_h * in_w * in_c * (size_t)max_batch);
    for (int i = 0; i < n_layers; i++) {
        Layer *L = &layers[i];
        size_t act = net_layer_size(net, i) * (size_t)max_batch;
        if (layer_owns_out(L)) L->out = xalloc_floats(act);
        if (L->spec.kind == LAYER_BATCHNORM) L->aux = xalloc_floats(2 * (size_t)L->c);
        if (L->spec.kind == LAYER_DROPOUT) L->aux = xalloc_floats(act);
    }
    /* Flatten aliases the activations of the layer before it (or the input). */
    for (int i = 0; i < n_layers; i++)
        if (!layer_owns_out(&layers[i])) layers[i].out = i ? layers[i - 1].out : net->input;
    kctx_init(&net->kctx, threads);
    net->k = kernels_cpu_best();
    return net;
}

void net_free(Net *net) {
    if (!net) return;
    for (int i = 0; i < net->n_layers; i++) {
        if (layer_owns_out(&net->layers[i])) free(net->layers[i].out);
        free(net->layers[i].aux);
    }
    free(net->layers);
    free(net->params);
    free(net->grads);
    free(net->state);
    free(net->dbuf[0]);
    free(net->dbuf[1]);
    free(net->input);
    free(net->images_x);
    gpu_net_free(net->gpu);
    kctx_free(&net->kctx);
    free(net);
}

void net_set_kernels(Net *net, const Kernels *k) { net->k = k; }

/* Threaded: the seed net's 9.6 MB memset is ~1% of a training step. */
void net_zero_grads(Net *net) {
    if (net->gpu) {
        gpu_net_zero_grads(net->gpu);
        return;
    }
    long n = (long)net->n_params, parts = net->kctx.threads;
#pragma omp parallel for num_threads(net->kctx.threads) schedule(static) if (n > 65536)
    for (long p = 0; p < parts; p++) {
        long lo = n * p / parts, hi = n * (p + 1) / parts;
        memset(net->grads + lo, 0, (size_t)(hi - lo) * sizeof(float));
    }
}

void net_init(Net *net, uint64_t seed) {
    memset(net->params, 0, net->n_params * sizeof(float));
    for (int i = 0; i < net->n_layers; i++) {
        Layer *L = &net->layers[i];
        float *p = net->params + L->param_off;
        float *s = net->state + L->state_off;
        Rng rng = rng_stream(seed, rng_mix(RNG_TAG_INIT, (uint64_t)i));
        switch (L->spec.kind) {
        case LAYER_CONV:
        case LAYER_DENSE: {
            /* Glorot-uniform as Keras computes fans: receptive field times
             * channels; the bias (the last `units` floats) stays zero. */
            size_t rf = L->spec.kind == LAYER_CONV ? (size_t)L->spec.ksize * L->spec.ksize : 1;
            size_t fan_in = rf * (size_t)L->in_h * L->in_w * L->in_c;
            if (L->spec.kind == LAYER_CONV) fan_in = rf * (size_t)L->in_c;
            size_t fan_out = rf * (size_t)L->spec.units;
            float limit = (float)sqrt(6.0 / (double)(fan_in + fan_out));
            size_t n_kernel = L->n_params - (size_t)L->spec.units;
            for (size_t j = 0; j < n_kernel; j++) p[j] = rng_uniform(&rng, -limit, limit);
            break;
        }
        case LAYER_BATCHNORM:
            for (int c = 0; c < L->c; c++) {
                p[c] = 1.0f;            /* gamma */
                p[L->c + c] = 0.0f;     /* beta */
                s[c] = 0.0f;            /* moving mean */
                s[L->c + c] = 1.0f;     /* moving variance */
            }
            break;
        default:
            break;
        }
    }
}

/* B in 1..max_batch; else a caller bug: fail loudly (net_error), not corrupt. */
static int batch_fits(Net *net, int B) {
    if (B > 0 && B <= net->max_batch) return 1;
    err_set(&net->err, "batch %d does not fit the network (max %d)", B, net->max_batch);
    return 0;
}

/* net_forward on the device: input from host x, or the attached images. */
static const float *gpu_forward(Net *net, const float *x, const ImageSet *set, const int *idx,
                                const AugParams *params, int B, int training, Rng *rng,
                                int upto) {
    uint64_t key = training && rng ? rng_u64(rng) : 0;
    if (gpu_net_forward(net->gpu, net, x, set ? set->images : NULL, idx, params, B, training,
                        rng != NULL, key, upto, &net->err) ||
        gpu_net_layer_output(net->gpu, net, upto, B, net->layers[upto].out, &net->err))
        return NULL;
    if (training) net->host_stale = 1; /* BN moving statistics changed */
    return net->layers[upto].out;
}

const float *net_forward(Net *net, const float *x, int B, int training, Rng *rng, int upto) {
    const Kernels *k = net->k;
    KernelCtx *kc = &net->kctx;
    if (!batch_fits(net, B)) return NULL;
    if (upto < 0 || upto >= net->n_layers) upto = net->n_layers - 1;
    if (net->gpu) return gpu_forward(net, x, NULL, NULL, NULL, B, training, rng, upto);
    size_t in_size = (size_t)net->in_h * net->in_w * net->in_c;
    const float *in = x;
    if (training) {
        /* Kept for backward: the first layer's weight gradient needs it. */
        memcpy(net->input, x, in_size * (size_t)B * sizeof(float));
        in = net->input;
    }
    if (net->layers[0].spec.kind == LAYER_FLATTEN) net->layers[0].out = (float *)in;
    for (int i = 0; i <= upto; i++) {
        Layer *L = &net->layers[i];
        float *p = net->params + L->param_off;
        long M = (long)B * L->in_h * L->in_w;
        long n_out = (long)B * (long)net_layer_size(net, i);
        switch (L->spec.kind) {
        case LAYER_CONV:
            k->conv2d_forward(kc, L->out, in, p, p + L->n_params - L->spec.units, B, L->in_h,
                              L->in_w, L->in_c, L->c, L->spec.ksize, L->spec.relu);
            break;
        case LAYER_DENSE: {
            int n_in = L->in_h * L->in_w * L->in_c;
            k->dense_forward(kc, L->out, in, p, p + (size_t)n_in * L->c, B, n_in, L->c,
                             L->spec.relu);
            break;
        }
        case LAYER_BATCHNORM: {
            float *s = net->state + L->state_off;
            if (training)
                k->batchnorm_forward_train(kc, L->out, L->aux, L->aux + L->c, in, p, p + L->c, s,
                                           s + L->c, M, L->c, NET_BN_MOMENTUM, NET_BN_EPSILON);
            else
                k->batchnorm_forward_infer(kc, L->out, in, p, p + L->c, s, s + L->c, M, L->c,
                                           NET_BN_EPSILON);
            break;
        }
        case LAYER_MAXPOOL:
            k->maxpool2_forward(kc, L->out, in, B, L->in_h, L->in_w, L->in_c);
            break;
        case LAYER_FLATTEN:
            break; /* out aliases in: NHWC is already (h, w, c) order */
        case LAYER_DROPOUT:
            if (training && rng) {
                dropout_forward(L->out, L->aux, in, n_out, L->spec.rate, rng);
            } else {
                memcpy(L->out, in, (size_t)n_out * sizeof(float));
                if (training)
                    for (long j = 0; j < n_out; j++) L->aux[j] = 1.0f;
            }
            break;
        }
        in = L->out;
    }
    return net->layers[upto].out;
}

int net_backward(Net *net, const float *dout, int B) {
    if (net->gpu) return gpu_net_backward(net->gpu, net, dout, B, &net->err);
    const Kernels *k = net->k;
    KernelCtx *kc = &net->kctx;
    int cur = 0;
    size_t n_last = net_output_size(net) * (size_t)B;
    memcpy(net->dbuf[cur], dout, n_last * sizeof(float));
    for (int i = net->n_layers - 1; i >= 0; i--) {
        Layer *L = &net->layers[i];
        float *p = net->params + L->param_off;
        float *gp = net->grads + L->param_off;
        const float *in = i ? net->layers[i - 1].out : net->input;
        float *g = net->dbuf[cur];
        float *din = i ? net->dbuf[1 - cur] : NULL;
        long n_out = (long)B * (long)net_layer_size(net, i);
        long M = (long)B * L->in_h * L->in_w;
        if (L->spec.relu) k->relu_backward(kc, g, g, L->out, n_out);
        switch (L->spec.kind) {
        case LAYER_CONV:
            k->conv2d_backward(kc, din, gp, gp + L->n_params - L->spec.units, g, in, p, B,
                               L->in_h, L->in_w, L->in_c, L->c, L->spec.ksize);
            break;
        case LAYER_DENSE: {
            int n_in = L->in_h * L->in_w * L->in_c;
            k->dense_backward(kc, din, gp, gp + (size_t)n_in * L->c, g, in, p, B, n_in, L->c);
            break;
        }
        case LAYER_BATCHNORM:
            k->batchnorm_backward(kc, din, gp, gp + L->c, g, in, L->aux, L->aux + L->c, p, M,
                                  L->c);
            break;
        case LAYER_MAXPOOL:
            if (din) k->maxpool2_backward(kc, din, g, in, B, L->in_h, L->in_w, L->in_c);
            break;
        case LAYER_FLATTEN:
            continue; /* same layout: the gradient stays in place */
        case LAYER_DROPOUT:
            if (din) dropout_backward(din, g, L->aux, n_out);
            break;
        }
        cur = 1 - cur;
    }
    return 0;
}

int net_use_device(Net *net, const DeviceOps *ops, const Adam *opt, Err *e) {
    GpuNet *g = gpu_net_create(net, ops, opt, e);
    if (!g) return -1;
    gpu_net_free(net->gpu);
    net->gpu = g;
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

void net_describe_device(const Net *net, char *buf, size_t len) {
    if (net->gpu)
        snprintf(buf, len, "%s", gpu_net_describe(net->gpu));
    else
        snprintf(buf, len, "cpu (%s)", net->k->name);
}

int net_sync_host(Net *net, Adam *opt, Err *e) {
    if (!net->gpu) return 0;
    if (gpu_net_download(net->gpu, net, opt, e)) return -1;
    net->host_stale = 0;
    return 0;
}

void net_adam_step(Net *net, Adam *opt) {
    if (!net->gpu) {
        adam_step(opt, net->params, net->grads);
        return;
    }
    gpu_net_adam(net->gpu, opt, adam_next_alpha(opt));
    net->host_stale = 1;
}

const char *net_error(const Net *net) { return net->err.msg[0] ? net->err.msg : "unknown error"; }

int net_attach_images(Net *net, const ImageSet *set, Err *e) {
    if (!net->gpu || set->n <= 0) return 0;
    return gpu_net_attach_images(net->gpu, set->images, set->n, CIFAR_PIXELS, e);
}

const float *net_forward_images(Net *net, const ImageSet *set, const int *idx,
                                const AugParams *params, int B, int training, Rng *rng,
                                int upto) {
    if (!batch_fits(net, B)) return NULL;
    if (net->in_h != CIFAR_H || net->in_w != CIFAR_W || net->in_c != CIFAR_C) {
        err_set(&net->err, "net %s does not take 32x32x3 images", net->arch);
        return NULL;
    }
    if (upto < 0 || upto >= net->n_layers) upto = net->n_layers - 1;
    if (net->gpu) return gpu_forward(net, NULL, set, idx, params, B, training, rng, upto);
    aug_apply_batch(params, set, idx, B, net->images_x);
    return net_forward(net, net->images_x, B, training, rng, upto);
}

const float *net_layer_out(Net *net, int i, int B) {
    if (net->gpu && gpu_net_layer_output(net->gpu, net, i, B, net->layers[i].out, &net->err))
        return NULL;
    return net->layers[i].out;
}

static const char *kind_name(LayerKind k) {
    switch (k) {
    case LAYER_CONV: return "Conv2D";
    case LAYER_BATCHNORM: return "BatchNormalization";
    case LAYER_MAXPOOL: return "MaxPooling2D";
    case LAYER_FLATTEN: return "Flatten";
    case LAYER_DROPOUT: return "Dropout";
    case LAYER_DENSE: return "Dense";
    }
    return "?";
}

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
        char name[128], shape[64];
        snprintf(name, sizeof name, "%s (%s)", L->spec.name, kind_name(L->spec.kind));
        if (L->spec.kind == LAYER_CONV || L->spec.kind == LAYER_BATCHNORM ||
            L->spec.kind == LAYER_MAXPOOL)
            snprintf(shape, sizeof shape, "(None, %d, %d, %d)", L->h, L->w, L->c);
        else
            snprintf(shape, sizeof shape, "(None, %d)", L->c);
        size_t n = L->n_params + L->n_state;
        total += n;
        non_trainable += L->n_state;
        fprintf(f, " %-37s%-26s%zu\n", name, shape, n);
        fputs(i + 1 < net->n_layers ? "\n" : "", f);
    }
    char a[32], b[32], c[32];
    with_commas(a, sizeof a, total);
    with_commas(b, sizeof b, total - non_trainable);
    with_commas(c, sizeof c, non_trainable);
    fprintf(f, "%sTotal params: %s\nTrainable params: %s\nNon-trainable params: %s\n%s", dbl, a,
            b, c, rule);
}
