/* checkpoint.h - networks saved as safetensors: 8-byte little-endian header
 * length, a JSON header, raw little-endian float32 tensors. Tensor names and
 * shapes follow PyTorch's state_dict of the equivalent nn.Sequential (conv
 * weights OIHW, dense weights [out][in]), so tools/ scripts load them into
 * PyTorch directly; our HWIO / [in][out] layouts are transposed on the way.
 * Adam moments, the step count and an RNG state may be stored too, so that
 * training resumes exactly. Written atomically (temp file + rename).
 *
 * Tensor names: the node's name (NodeSpec.name) and PyTorch's attribute, as
 * the kind table lists them (kinds.c):
 *   conv   "<layer>.weight" [Cout][Cin][K][K] (OIHW), "<layer>.bias" [Cout]
 *   dense  "<layer>.weight" [Out][In], "<layer>.bias" [Out]; after a Flatten
 *          the In index runs in (h, w, c) order (Keras's), so a PyTorch model
 *          must permute NCHW to NHWC before its Flatten
 *   BN     "<layer>.weight" (gamma), "<layer>.bias" (beta),
 *          "<layer>.running_mean", "<layer>.running_var" [C]
 *   conv with nobias: "<layer>.weight" only
 * i.e. the state_dict of an nn.Sequential(OrderedDict) whose modules carry
 * our layer names (tools/golden_common.py builds one; BN's
 * num_batches_tracked is not stored). With an optimiser: "optim.m.<tensor>"
 * and "optim.v.<tensor>" for every trainable tensor, in that tensor's
 * layout. Metadata (all strings): format_version, arch, arch_text (the network in
 * arch.h's text format), epoch, seed, extra;
 * with an optimiser optim.step, optim.lr, optim.beta1, optim.beta2,
 * optim.eps; with an Rng "rng" (4 words, hex). Floats are F32 little-endian
 * (the only dtype accepted). */
#ifndef AUGPROBE_CHECKPOINT_H
#define AUGPROBE_CHECKPOINT_H

#include <stdint.h>

#include "common.h"
#include "net.h"
#include "optim.h"
#include "rng.h"

#define CHECKPOINT_FORMAT_VERSION 1

typedef struct CheckpointMeta {
    char arch[64];   /* must match the Net's arch on load */
    int epoch;       /* epochs completed */
    uint64_t seed;
    char extra[2048]; /* free-form JSON object text for the caller ("" = none),
                         e.g. train's config; stored as one metadata string */
} CheckpointMeta;

/* opt and rng may be NULL (a model-only file). */
int checkpoint_save(const char *path, const Net *net, const Adam *opt, const Rng *rng,
                    const CheckpointMeta *meta, Err *e);

/* The network a checkpoint holds: its recorded arch_text (or, for files
 * written before it was recorded, the built-in network of its arch name),
 * parsed. Checks only the header. */
int checkpoint_read_arch(const char *path, Arch *a, Err *e);

/* Loads into an existing net of the same architecture. A file whose
 * metadata names no arch (a state_dict saved by PyTorch's safetensors) is
 * loaded by its tensor names and shapes alone: every tensor it holds must
 * be one of the net's, except BN's int64 "*.num_batches_tracked" counters
 * (ignored); it has no optimiser or RNG state. Checks the header
 * length, the JSON, dtypes, every shape against the net, that every offset
 * lies inside the file and no two tensors overlap, and that every value is
 * finite. opt / rng / meta may be NULL (ignored); opt or rng given but absent
 * from the file is an error. All or nothing: on error (-1, one line in e)
 * net, opt, rng and meta are unchanged. opt must have been adam_init'ed with
 * net->n_params. */
int checkpoint_load(const char *path, Net *net, Adam *opt, Rng *rng, CheckpointMeta *meta,
                    Err *e);

#endif
