/* gpu_net.h - the device backend of net.h (a NetBackend): a Net's mirror on
 * a device (device.h: CUDA or its CPU emulation) holding parameters,
 * gradients, BN statistics, Adam moments, activations and scratch, and
 * net.h's forward, backward and Adam step run there. It is used only
 * through net.h: net_place / net_use_device (defined in gpu_net.c) install
 * it, and from then on every net_* step goes through its table; the host
 * Net keeps the shapes and, after net_sync_host, a copy of the weights for
 * checkpoints.
 *
 * Semantics are the reference layers' (layers.h) except dropout, whose
 * masks come from a counter-based hash (gpu_ops.h) keyed by one draw of the
 * step's Rng: a device run is deterministic, but not bit-equal to a CPU run.
 * Convolution (any stride) is im2col + GEMM; every reduction has a fixed
 * order.
 *
 * Kinds it runs: every kind of kinds.h (conv, batchnorm, maxpool, flatten,
 * dropout, dense, add, gap), on any graph net.h builds (a node with two
 * inputs; a tensor read by two nodes, whose gradients add). A kind it has
 * no ops for is refused by net_use_device with one line naming the node. */
#ifndef AUGPROBE_GPU_NET_H
#define AUGPROBE_GPU_NET_H

#include "../net.h"
#include "device.h"

/* The backend's table (net->backend is it once a net is placed on a device). */
const NetBackend *gpu_net_backend(void);

#endif
