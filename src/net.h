/* net.h - a feed-forward network built from a list of layer descriptions:
 * the seed's CNN, the probe's RankNet head, and variants. Parameters live in
 * one contiguous block (and their gradients in another), activations of every
 * layer are kept for backward and can be tapped by name. Heavy layers run
 * through a Kernels table (src/kernels/kernels.h). */
#ifndef AUGPROBE_NET_H
#define AUGPROBE_NET_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "augment_math.h"
#include "cifar10.h"
#include "common.h"
#include "device.h"
#include "kernels/kernels.h"
#include "optim.h"
#include "rng.h"

struct GpuNet;

/* Keras BatchNormalization's defaults (CPU and device paths alike). */
#define NET_BN_MOMENTUM 0.99f
#define NET_BN_EPSILON 1e-3f

typedef enum LayerKind {
    LAYER_CONV,      /* Conv2D, stride 1, same padding, bias, optional ReLU */
    LAYER_BATCHNORM, /* Keras BatchNormalization (momentum 0.99, eps 1e-3) */
    LAYER_MAXPOOL,   /* MaxPooling2D 2x2 */
    LAYER_FLATTEN,   /* NHWC -> (h, w, c) order, as Keras's Flatten */
    LAYER_DROPOUT,   /* inverted dropout, active only in training */
    LAYER_DENSE,     /* Dense with bias, optional ReLU */
} LayerKind;

typedef struct LayerSpec {
    LayerKind kind;
    const char *name; /* names the layer's output: "block1_conv1", "flatten", ... */
    int units;        /* conv filters / dense units */
    int ksize;        /* conv kernel size (odd) */
    int relu;         /* activation='relu' fused into the layer */
    float rate;       /* dropout rate */
} LayerSpec;

typedef struct Layer {
    LayerSpec spec;
    int h, w, c;           /* output shape of one example (dense: 1 x 1 x units) */
    int in_h, in_w, in_c;  /* input shape of one example */
    size_t param_off;      /* offset of this layer's trainable params in Net.params */
    size_t n_params;       /* conv/dense: kernel then bias; BN: gamma then beta */
    size_t state_off;      /* BN: moving_mean then moving_var in Net.state */
    size_t n_state;
    float *out;            /* activations [max_batch][h*w*c] */
    float *aux;            /* BN: saved mean and invstd (2*c); dropout: mask */
} Layer;

typedef struct Net {
    char arch[64];          /* "seed_cnn", "ranknet_head", ... (checkpoint metadata) */
    int n_layers;
    Layer *layers;
    int in_h, in_w, in_c;
    int max_batch;
    float *params;          /* every trainable parameter, contiguous */
    float *grads;           /* same layout as params */
    size_t n_params;
    float *state;           /* non-trainable: BN moving statistics */
    size_t n_state;
    float *dbuf[2];         /* ping-pong activation-gradient buffers */
    const Kernels *k;
    KernelCtx kctx;
    float *input;           /* copy of the last training forward's x, for backward */
    float *images_x;        /* net_forward_images' augmented batch (CPU path) */
    struct GpuNet *gpu;     /* set by net_use_device: the layers run there */
    int host_stale;         /* the device has steps the host copy lacks */
    Err err;                /* why the last net_forward/net_backward failed */
} Net;

/* The seed's CNN (MISSION.md): 3 blocks of Conv-ReLU, BN, Conv-ReLU, BN,
 * MaxPool; Flatten; Dropout 0.2; Dense 1024 ReLU; Dropout 0.2; Dense 10
 * ("logits"; softmax is in the loss). Layer names: block{1,2,3}_conv{1,2},
 * block{1,2,3}_bn{1,2}, block{1,2,3}_pool, flatten, dropout1, dense1,
 * dropout2, logits. */
const LayerSpec *net_arch_seed_cnn(int *n_layers);
/* The RankNet head: Dropout 0.2, Dense 1024 ReLU, Dropout 0.2, Dense 1. */
const LayerSpec *net_arch_ranknet_head(int *n_layers);

/* Builds a network for inputs of in_h x in_w x in_c and batches of up to
 * max_batch. Parameters are zero until net_init. Uses kernels_cpu_best(). */
Net *net_create(const char *arch, const LayerSpec *specs, int n_layers, int in_h, int in_w,
                int in_c, int max_batch, int threads, Err *e);
void net_free(Net *net);
void net_set_kernels(Net *net, const Kernels *k);

/* Keras initialisation: Glorot-uniform kernels, zero biases, gamma 1,
 * beta 0, moving mean 0, moving variance 1. Deterministic in seed. */
void net_init(Net *net, uint64_t seed);

/* Runs layers 0..upto (upto < 0: all) on x [B][in_h][in_w][in_c] (B <=
 * max_batch) and returns the output of layer upto. training: BN on batch
 * statistics (updating the moving ones) and dropout masks drawn from rng;
 * otherwise inference (moving statistics, no dropout; rng may be NULL).
 * Training with rng NULL runs dropout as the identity (tests, golden runs).
 * The returned buffer belongs to the net and is valid until the next call;
 * NULL when B is not in 1..max_batch or the device failed (net_error). */
const float *net_forward(Net *net, const float *x, int B, int training, Rng *rng, int upto);

/* Backward through every layer after a full (upto < 0) training forward of
 * B examples:
 * dout is dLoss/d(output of the last layer). ACCUMULATES into net->grads
 * (call net_zero_grads before each step). The input's gradient is not
 * computed. */
int net_backward(Net *net, const float *dout, int B); /* 0, or -1 (net_error) */
void net_zero_grads(Net *net);

/* ---- where it runs ----
 * By default on the CPU through the Kernels table. net_use_device moves the
 * layers to a device (gpu_net.h): it uploads the current parameters, BN
 * statistics and opt's moments (opt may be NULL), so call it after net_init
 * or checkpoint_load. From then on net_forward, net_backward,
 * net_zero_grads and net_adam_step run there, outputs come back to host
 * buffers, and net->params/state/opt moments on the host are stale until
 * net_sync_host (checkpoint_save refuses a stale net). Every function below
 * also works, unchanged in results, on the CPU. */
int net_use_device(Net *net, const DeviceOps *ops, const Adam *opt, Err *e);
/* --device: "cpu" (nothing to do), "cuda" (the CUDA backend; an error when
 * this build has none or no GPU opens), "auto" (cuda when it opens, else the
 * CPU), "emulated" (the GPU path run on the CPU, for tests). The error names
 * --device. */
int net_place(Net *net, const char *device, const Adam *opt, Err *e);
/* "cpu (avx512)" or the device's description. */
void net_describe_device(const Net *net, char *buf, size_t len);
/* Brings the host copies (params, grads, state, opt's moments; opt may be
 * NULL) up to date. No-op on the CPU. */
int net_sync_host(Net *net, Adam *opt, Err *e);
/* One Adam step on the net's gradients (adam_step on the CPU). */
void net_adam_step(Net *net, Adam *opt);
/* The message of the last failed net_forward* or net_backward. */
const char *net_error(const Net *net);

/* Makes set's images available to net_forward_images (on a device: one
 * upload, kept until net_free; the set must outlive the net). */
int net_attach_images(Net *net, const ImageSet *set, Err *e);
/* net_forward on images idx[0..B) of set, image b augmented by params[b]
 * (aug_apply; on a device, on the device). Same results as aug_apply into
 * a buffer and net_forward on it. */
const float *net_forward_images(Net *net, const ImageSet *set, const int *idx,
                                const AugParams *params, int B, int training, Rng *rng,
                                int upto);
/* Layer i's output of the last forward (B examples), in host memory. */
const float *net_layer_out(Net *net, int i, int B);

/* Index of the layer named name, or -1. */
int net_find_layer(const Net *net, const char *name);
/* Floats per example in layer i's output. */
size_t net_layer_size(const Net *net, int i);
/* Output size per example of the last layer. */
size_t net_output_size(const Net *net);

/* Keras's model.summary(): name, output shape, params, totals. */
void net_summary(const Net *net, FILE *f);

#endif
