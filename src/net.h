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

#include "common.h"
#include "kernels/kernels.h"
#include "rng.h"

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
 * NULL when B is not in 1..max_batch. */
const float *net_forward(Net *net, const float *x, int B, int training, Rng *rng, int upto);

/* Backward through every layer after a full (upto < 0) training forward of
 * B examples:
 * dout is dLoss/d(output of the last layer). ACCUMULATES into net->grads
 * (call net_zero_grads before each step). The input's gradient is not
 * computed. */
void net_backward(Net *net, const float *dout, int B);
void net_zero_grads(Net *net);

/* Index of the layer named name, or -1. */
int net_find_layer(const Net *net, const char *name);
/* Floats per example in layer i's output. */
size_t net_layer_size(const Net *net, int i);
/* Output size per example of the last layer. */
size_t net_output_size(const Net *net);

/* Keras's model.summary(): name, output shape, params, totals. */
void net_summary(const Net *net, FILE *f);

#endif
