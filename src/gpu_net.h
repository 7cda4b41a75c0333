/* gpu_net.h - a Net's mirror on a device (device.h): parameters, gradients,
 * BN statistics, Adam moments, activations and scratch in device memory,
 * and net.h's forward, backward and Adam step run there. Used through
 * net.h (net_use_device and friends); the host Net keeps the shapes and,
 * after gpu_net_download, a copy of the weights for checkpoints.
 *
 * Semantics are the reference layers' (layers.h) except dropout, whose
 * masks come from a counter-based hash (gpu_ops.h) keyed by one draw of the
 * step's Rng: a device run is deterministic, but not bit-equal to a CPU run.
 * Convolution is im2col + GEMM; every reduction has a fixed order. */
#ifndef AUGPROBE_GPU_NET_H
#define AUGPROBE_GPU_NET_H

#include <stdint.h>

#include "device.h"
#include "net.h"
#include "optim.h"

typedef struct GpuNet GpuNet;

/* Opens a device of ops and allocates the mirror of net (max_batch and
 * shapes); uploads net's parameters and BN statistics, and opt's moments
 * (opt may be NULL: zero moments). */
GpuNet *gpu_net_create(const Net *net, const DeviceOps *ops, const Adam *opt, Err *e);
void gpu_net_free(GpuNet *g);
/* "cuda: NVIDIA H200 (cc 9.0, 139.8 GiB)" */
const char *gpu_net_describe(const GpuNet *g);
const DeviceOps *gpu_net_ops(const GpuNet *g);

int gpu_net_upload(GpuNet *g, const Net *net, const Adam *opt, Err *e);
/* Parameters, gradients and BN statistics into net, moments into opt (may
 * be NULL). */
int gpu_net_download(GpuNet *g, Net *net, Adam *opt, Err *e);

/* Uploads a set of uint8 HWC images once (kept until gpu_net_free); later
 * forwards name it by the same pointer. */
int gpu_net_attach_images(GpuNet *g, const uint8_t *images, long n, long bytes_per_image,
                          Err *e);

/* Forward of layers 0..upto on B inputs: host floats x, or (x NULL) the
 * images idx[0..B) of an attached set augmented on the device by params.
 * training: batch statistics and dropout (dropout only when use_dropout;
 * the mask of each layer is keyed by dropout_key). */
int gpu_net_forward(GpuNet *g, const Net *net, const float *x, const uint8_t *images,
                    const int *idx, const AugParams *params, int B, int training,
                    int use_dropout, uint64_t dropout_key, int upto, Err *e);
/* Copies layer i's output for B examples to host memory. */
int gpu_net_layer_output(GpuNet *g, const Net *net, int i, int B, float *host, Err *e);
/* Backward after a full training forward; dout is host memory. Accumulates
 * into the device gradients. */
int gpu_net_backward(GpuNet *g, const Net *net, const float *dout, int B, Err *e);
void gpu_net_zero_grads(GpuNet *g);
/* One Adam update with the step size alpha (adam_alpha). */
void gpu_net_adam(GpuNet *g, const Adam *opt, float alpha);

#endif
