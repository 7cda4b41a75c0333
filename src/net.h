/* net.h - a network: a graph of named nodes read from the text format of
 * arch.h, its parameters, and one training step.
 *
 *   Arch a;                                    // or arch_parse(&a, ...) on a text
 *   arch_load(&a, "seed_cnn", &e);             // a built-in name or a file
 *   Net *net = net_create(&a, 32, 32, 3, 32, threads, &e);   // input shape from the data
 *   net_init(net, seed);                       // Glorot / Keras initialisation
 *   net_place(net, "cpu", &opt, &e);           // or "cuda", "emulated": the backend
 *   for (each batch) {
 *       logits = net_forward(net, x, B, 1, &rng, -1);         // training forward
 *       loss = softmax_xent(dlogits, NULL, logits, labels, B, 10);
 *       net_update(net, &opt, dlogits, B);     // zero grads, backward, Adam
 *   }
 *   net_sync_host(net, &opt, &e); checkpoint_save(...); net_free(net);
 *
 * Every node has a kind (kinds.h: conv, batchnorm, maxpool, flatten,
 * dropout, dense, add, gap), its options, and its inputs by name; nodes are
 * kept in the text's order, which is a topological order (a node names only
 * nodes above it). Parameters live in one contiguous block (and their
 * gradients in another), in node order; each node's activations are kept
 * for backward and can be tapped by name.
 *
 * Where it runs is one NetBackend table (net->backend): the CPU (net.c,
 * through the Kernels table of src/kernels/kernels.h and the kind table of
 * kinds.h) or a device (src/device/gpu_net.c: CUDA or its CPU emulation).
 * Nothing outside the backends asks which one it is. */
#ifndef AUGPROBE_NET_H
#define AUGPROBE_NET_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "arch.h"
#include "augment_math.h"
#include "common.h"
#include "kernels/kernels.h"
#include "kinds.h"
#include "optim.h"
#include "rng.h"

typedef struct Layer {
    NodeSpec spec;
    int in[2];             /* input node indices; -1: the network's input */
    int h, w, c;           /* output shape of one example (dense: 1 x 1 x units) */
    int in_h, in_w, in_c;  /* shape of input 0 of one example */
    size_t param_off;      /* offset of this node's trainable params in Net.params */
    size_t n_params;       /* conv/dense: kernel then bias; BN: gamma then beta */
    size_t state_off;      /* BN: moving_mean then moving_var in Net.state */
    size_t n_state;
    size_t scratch;        /* floats per example of im2col scratch (strided conv) */
    size_t aux_fixed;      /* floats of aux, plus aux_per_example per example of the */
    size_t aux_per_example; /*   batch (both set by the kind's infer) */
    size_t macs;           /* multiply-accumulates of one example's forward (conv, dense;
                              set by the kind's infer; 0 for the kinds without a product) */
    float *out;            /* activations [max_batch][h*w*c] (alias kinds: the input's) */
    float *aux;            /* BN: saved mean and invstd (2*c); dropout: mask */
    /* backward plan (net_create): */
    int gslot;             /* gradient buffer of this node's output; -1: none reaches it */
    int din_add[2];        /* input k's gradient is added to (its other consumers came first) */
} Layer;

typedef struct Net Net;
struct DeviceOps;

/* Where a network runs. The CPU's is in net.c, the device's in
 * src/device/gpu_net.c; net.c calls only these. */
typedef struct NetBackend {
    const char *name; /* "cpu", "device" */
    /* Forward of nodes 0..upto on host floats x, or (x NULL) on images
     * idx[0..B) of an attached set, image b augmented by aug[b]. */
    const float *(*forward)(Net *net, const float *x, const uint8_t *images, const int *idx,
                            const AugParams *aug, int B, int training, Rng *rng, int upto);
    int (*backward)(Net *net, const float *dout, int B);
    void (*zero_grads)(Net *net);
    void (*update)(Net *net, Adam *opt); /* one Adam step */
    int (*sync_host)(Net *net, Adam *opt, Err *e);
    int (*attach)(Net *net, const uint8_t *images, long n, Err *e);
    const float *(*layer_out)(Net *net, int i, int B);
    void (*describe)(const Net *net, char *buf, size_t len);
    void (*release)(Net *net); /* frees net->backend_state */
} NetBackend;

struct Net {
    char arch[64];          /* "seed_cnn", "ranknet_head", a file's base name */
    char *arch_text;        /* the network's text (checkpoints record it) */
    char arch_source[256];  /* where the text came from, for errors */
    int n_layers;
    Layer *layers;          /* the nodes, in topological order */
    int in_h, in_w, in_c;   /* one example of the input */
    int max_batch;
    float *params;          /* every trainable parameter, contiguous */
    float *grads;           /* same layout as params */
    size_t n_params;
    float *state;           /* non-trainable: BN moving statistics */
    size_t n_state;
    int n_gbuf;
    float **gbuf;           /* activation-gradient buffers (Layer.gslot), plus 2 for adds */
    float *col, *dcol;      /* im2col scratch of strided convs (NULL when none) */
    const Kernels *k;
    KernelCtx kctx;         /* threads and scratch of the CPU kernels */
    float *input;           /* copy of the last training forward's x, for backward */
    float *images_x;        /* net_forward_images' augmented batch (CPU backend) */
    const NetBackend *backend;
    void *backend_state;    /* the device's mirror of the network (NULL on the CPU) */
    int host_stale;         /* the device has steps the host copy lacks */
    Err err;                /* why the last net_forward/net_backward failed */
};

/* Builds arch's network for inputs of in_h x in_w x in_c (from the data)
 * and batches of up to max_batch, on the CPU with kernels_cpu_best() and
 * `threads` threads. Parameters are zero until net_init. Shape errors name
 * the node's line: "seed_cnn (built-in):5: node block1_pool: ...". */
Net *net_create(const Arch *arch, int in_h, int in_w, int in_c, int max_batch, int threads,
                Err *e);
/* What net_create(a, in_h, in_w, in_c, max_batch) allocates on the host,
 * buffer by buffer from its own plan: parameters and their gradients, BN
 * statistics and saved batch statistics, every node's activations, dropout
 * masks, the backward plan's gradient buffers, strided convolutions' im2col
 * scratch, the input copies; plus Adam's two moments when with_adam. A
 * lower bound: the kernels' scratch (grown on first use), a device's
 * mirror and malloc's own overhead are not counted. 0 with *bytes set, or
 * -1 with net_create's error in e. */
int net_memory_bytes(const Arch *a, int in_h, int in_w, int in_c, int max_batch, int with_adam,
                     uint64_t *bytes, Err *e);
/* Multiply-accumulates of one example's forward through a at in_h x in_w x
 * in_c: conv K*K*Cin*Cout*Ho*Wo, dense In*Out, the other kinds 0 (Layer.macs
 * summed). 0, or -1 with net_create's error in e. */
int net_forward_macs(const Arch *a, int in_h, int in_w, int in_c, uint64_t *macs, Err *e);
/* arch_parse + net_create, for networks written inline (tests, tools). */
Net *net_create_text(const char *name, const char *text, int in_h, int in_w, int in_c,
                     int max_batch, int threads, Err *e);
void net_free(Net *net);
void net_set_kernels(Net *net, const Kernels *k);

/* Keras initialisation: Glorot-uniform kernels, zero biases, gamma 1,
 * beta 0, moving mean 0, moving variance 1. Deterministic in seed: node i
 * draws from rng_stream(seed, rng_mix(RNG_TAG_INIT, i)). */
void net_init(Net *net, uint64_t seed);

/* Runs nodes 0..upto (upto < 0: all) on x [B][in_h][in_w][in_c] (B <=
 * max_batch) and returns the output of node upto. training: BN on batch
 * statistics (updating the moving ones) and dropout masks drawn from rng;
 * otherwise inference (moving statistics, no dropout; rng may be NULL).
 * Training with rng NULL runs dropout as the identity (tests, golden runs).
 * The returned buffer belongs to the net and is valid until the next call;
 * NULL when B is not in 1..max_batch or the device failed (net_error). */
const float *net_forward(Net *net, const float *x, int B, int training, Rng *rng, int upto);

/* One training step after a full (upto < 0) training forward of B
 * examples, dout = dLoss/d(output of the last node): zero the gradients,
 * backward, one Adam step. 0, or -1 (net_error). */
int net_update(Net *net, Adam *opt, const float *dout, int B);

/* The three parts of net_update, for tests and tools that look between
 * them. net_backward ACCUMULATES into net->grads; the input's gradient is
 * not computed. */
int net_backward(Net *net, const float *dout, int B); /* 0, or -1 (net_error) */
void net_zero_grads(Net *net);
void net_adam_step(Net *net, Adam *opt);

/* ---- where it runs ----
 * By default on the CPU. net_use_device moves the nodes to a device (the
 * device backend, src/device/gpu_net.c): it uploads the current
 * parameters, BN statistics and opt's moments (opt may be NULL), so call it
 * after net_init or checkpoint_load. From then on every function here runs
 * there, outputs come back to host buffers, and net->params/state/opt
 * moments on the host are stale until net_sync_host (checkpoint_save
 * refuses a stale net). Results are the CPU's, except dropout masks. Both
 * are implemented in src/device/gpu_net.c. */
int net_use_device(Net *net, const struct DeviceOps *ops, const Adam *opt, Err *e);
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
/* The message of the last failed net_forward* or net_backward. */
const char *net_error(const Net *net);

/* Makes n uint8 HWC images of the net's input shape available to
 * net_forward_images (on a device: one upload, kept until net_free; the
 * images must outlive the net). */
int net_attach_images(Net *net, const uint8_t *images, long n, Err *e);
/* net_forward on images idx[0..B), image b augmented by aug[b] (aug_apply;
 * on a device, on the device). Same results as aug_apply into a buffer and
 * net_forward on it. */
const float *net_forward_images(Net *net, const uint8_t *images, const int *idx,
                                const AugParams *aug, int B, int training, Rng *rng, int upto);
/* Node i's output of the last forward (B examples), in host memory. */
const float *net_layer_out(Net *net, int i, int B);

/* Index of the node named name, or -1. */
int net_find_layer(const Net *net, const char *name);
/* Floats per example in node i's output. */
size_t net_layer_size(const Net *net, int i);
/* Output size per example of the last node. */
size_t net_output_size(const Net *net);

/* Keras's model.summary(): name, output shape, params, totals. */
void net_summary(const Net *net, FILE *f);

/* The CPU backend (for the device backend's fallbacks and tests). */
const NetBackend *net_backend_cpu(void);

#endif
