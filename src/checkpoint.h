/* checkpoint.h - networks saved as safetensors: 8-byte little-endian header
 * length, a JSON header, raw little-endian float32 tensors. Tensor names and
 * shapes follow PyTorch's state_dict of the equivalent nn.Sequential (conv
 * weights OIHW, dense weights [out][in]), so tools/ scripts load them into
 * PyTorch directly; our HWIO / [in][out] layouts are transposed on the way.
 * Adam moments, the step count and an RNG state may be stored too, so that
 * training resumes exactly. Written atomically (temp file + rename). */
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

/* Loads into an existing net of the same architecture. Checks the header
 * length, the JSON, dtypes, every shape against the net, that every offset
 * lies inside the file, and that every value is finite. opt / rng may be
 * NULL (ignored); when given but absent from the file that is an error. */
int checkpoint_load(const char *path, Net *net, Adam *opt, Rng *rng, CheckpointMeta *meta,
                    Err *e);

#endif
