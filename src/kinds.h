/* kinds.h - the layer kinds, one table entry each (src/kinds.c): what the
 * network text format calls it, which options it takes, how many inputs,
 * its output shape, its parameters (and their safetensors names), its
 * initialisation, and its CPU forward and backward.
 *
 * Adding a kind touches four files: its reference forward/backward
 * (layers.h, layers.c), its id below, and its entry in kinds.c (shape
 * inference, tensors, init, forward, backward; a fast path through the
 * Kernels table where one exists). A device op is optional: the device
 * backend (src/device/gpu_net.c) refuses a network with a kind it lacks. */
#ifndef AUGPROBE_KINDS_H
#define AUGPROBE_KINDS_H

#include <stddef.h>

#include "common.h"
#include "rng.h"

struct Net;
struct Layer;

typedef enum LayerKind {
    LAYER_CONV,      /* Conv2D, zero padding K/2, stride s, bias (or none), optional ReLU */
    LAYER_BATCHNORM, /* BatchNormalization, Keras's or (torch) PyTorch's defaults, optional ReLU */
    LAYER_MAXPOOL,   /* max-pool K x K, stride S, padding P (-inf); default 2x2, stride 2 */
    LAYER_FLATTEN,   /* NHWC -> (h, w, c) order, as Keras's Flatten */
    LAYER_DROPOUT,   /* inverted dropout, active only in training */
    LAYER_DENSE,     /* Dense with bias, optional ReLU */
    LAYER_ADD,       /* elementwise sum of two inputs, optional ReLU (residual) */
    LAYER_GAP,       /* global average pool: [H][W][C] -> [C] */
    LAYER_KINDS
} LayerKind;

#define NODE_NAME_MAX 48

/* One node of a network, as the text format states it (arch.h). */
typedef struct NodeSpec {
    LayerKind kind;
    char name[NODE_NAME_MAX]; /* names the node's output: "block1_conv1", "flatten", ... */
    char in[2][NODE_NAME_MAX]; /* its inputs by name ("input": the network's input) */
    int n_in;
    int units;  /* conv filters / dense units */
    int ksize;  /* conv kernel size (odd); maxpool window (2 when not given) */
    int stride; /* conv stride (1 when not given); maxpool stride (2) */
    int pad;    /* maxpool padding on each side (0) */
    int relu;   /* activation='relu' fused into the layer (conv, dense, add, batchnorm) */
    int nobias; /* conv without a bias (torchvision's bias=False) */
    float rate; /* dropout rate */
    /* batchnorm: the moving statistics' weight on their OLD value (Keras's
     * momentum; PyTorch's momentum is 1 - this) and epsilon. Keras's 0.99 and
     * 1e-3 unless the text says otherwise (`torch`: 0.9 and 1e-5). */
    float momentum, eps;
    char tap[NODE_NAME_MAX]; /* tap=LABEL: the study probes this node's output under
                                LABEL ("" = not a tap; arch.h) */
    int line;   /* its line in the text, for errors */
} NodeSpec;

/* Keras's BatchNormalization defaults, and PyTorch's (momentum as above). */
#define BN_KERAS_MOMENTUM 0.99f
#define BN_KERAS_EPSILON 1e-3f
#define BN_TORCH_MOMENTUM 0.9f
#define BN_TORCH_EPSILON 1e-5f

/* Options a kind takes in the text format. */
enum {
    OPT_UNITS = 1,  /* filters=N (conv) / units=N (dense) */
    OPT_KERNEL = 2, /* kernel=K */
    OPT_STRIDE = 4, /* stride=S */
    OPT_RELU = 8,   /* relu */
    OPT_RATE = 16,  /* rate=R */
    OPT_PAD = 32,   /* pad=P (maxpool) */
    OPT_NOBIAS = 64, /* nobias (conv) */
    OPT_TORCH = 128,    /* torch (batchnorm: PyTorch's defaults and momentum convention) */
    OPT_TAP = 256,      /* tap=LABEL (any kind) */
    OPT_MOMENTUM = 512, /* momentum=M (batchnorm) */
    OPT_EPS = 1024,     /* eps=E (batchnorm) */
};

/* One tensor of a layer in a checkpoint, and where it lives in the net. */
typedef enum { TENSOR_PLAIN, TENSOR_CONV, TENSOR_DENSE } TensorLayout;
typedef struct NetTensor {
    const char *suffix;  /* "weight", "bias", "running_mean", ... */
    TensorLayout layout; /* conv: HWIO here, OIHW in the file; dense: [In][Out] here, [Out][In] */
    int is_state;        /* in Net.state (BN moving statistics), else Net.params */
    size_t off, n;       /* float offset in params/state, and count */
    int K, cin, cout;    /* conv: K, Cin, Cout; dense: cin = In, cout = Out; plain: cout = n */
} NetTensor;
#define KIND_MAX_TENSORS 4

typedef struct KindDef {
    const char *name;  /* in the text format: "conv" */
    const char *keras; /* in the summary: "Conv2D" */
    int n_in;          /* inputs it takes */
    unsigned opts;     /* OPT_* it accepts */
    unsigned required; /* OPT_* it needs */
    int spatial;       /* the summary prints (None, h, w, c) rather than (None, c) */
    int alias;         /* out is its input's buffer and the gradient stays in place
                          (flatten: NHWC already is (h, w, c) order); no forward/backward */
    /* Output shape, n_params, n_state, scratch/aux sizes and macs of L from its inputs'
     * shapes (already in L->in_h/in_w/in_c; in1: the second input or NULL).
     * -1 with e set (the caller adds the file and line). */
    int (*infer)(struct Layer *L, const struct Layer *in1, Err *e);
    /* Keras initialisation of p (n_params) and s (n_state); may be NULL. */
    void (*init)(struct Layer *L, float *p, float *s, Rng *rng);
    /* Checkpoint tensors of L; returns the count (<= KIND_MAX_TENSORS). */
    int (*tensors)(const struct Layer *L, NetTensor *t);
    /* CPU forward of B examples into L->out. rng NULL in training: dropout
     * is the identity (its mask all ones). */
    void (*forward)(struct Net *net, struct Layer *L, const float *in0, const float *in1, int B,
                    int training, Rng *rng);
    /* CPU backward: g = dLoss/dL->out (the fused ReLU already applied);
     * OVERWRITES din0/din1 (NULL: not needed) and ACCUMULATES into the
     * parameter gradients gp. */
    void (*backward)(struct Net *net, struct Layer *L, float *g, const float *in0,
                     const float *in1, float *din0, float *din1, int B);
} KindDef;

const KindDef *kind_def(LayerKind k);
/* The kind called name in the text format, or NULL. */
const KindDef *kind_by_name(const char *name, LayerKind *k);
/* "conv, batchnorm, ..." for error messages. */
const char *kind_names(void);

#endif
