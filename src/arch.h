/* arch.h - networks as data: a small text format, one node per line, and
 * the networks shipped with augprobe as compiled-in texts of that format.
 *
 *   # comment (a '#' starts one anywhere on a line)
 *   NAME  KIND  [OPTION ...]
 *
 * NAME names the node's output (letters, digits, '_', '-', '.'; "input" is
 * the network's input). KIND is one of kinds.h's: conv, batchnorm, maxpool,
 * flatten, dropout, dense, add, gap. OPTIONs:
 *   filters=N (conv), units=N (dense)   output channels / units
 *   kernel=K (conv: odd; maxpool: 2)    stride=S (conv: 1; maxpool: 2)
 *   pad=P (maxpool, <= K/2; 0)          nobias (conv: no bias)
 *   rate=R (dropout, in [0, 1))         relu (conv, dense, add, batchnorm)
 *   torch (batchnorm: PyTorch's momentum 0.1 and eps 1e-5, and momentum=
 *     in PyTorch's sense)               momentum=M, eps=E (batchnorm)
 *   in=A or in=A,B                      inputs by name; default: the node on
 *                                       the line before (the first: input)
 *   tap=LABEL (any kind)                the study probes this node's output
 *                                       under LABEL (a spatial one averaged
 *                                       over space); labels are unique, not
 *                                       "pixels" or "stats" (the floors)
 * batchnorm's momentum=M is Keras's (moving = M*moving + (1-M)*batch;
 * default 0.99, eps 1e-3), or with `torch` PyTorch's (running =
 * (1-M)*running + M*batch; default 0.1, eps 1e-5).
 * A node may only name nodes defined above it, so a network is acyclic by
 * construction. `add` takes two inputs of the same shape. The README has
 * the full description and an example ResNet block.
 *
 * Errors are one line naming the source, the line and what is wrong:
 * "nets/x.net:7: unknown kind 'convv' (kinds: conv, batchnorm, ...)". Shape
 * errors are found by net_create, which names the line too. */
#ifndef AUGPROBE_ARCH_H
#define AUGPROBE_ARCH_H

#include "common.h"
#include "kinds.h"

#define ARCH_MAX_NODES 4096
#define ARCH_MAX_TEXT (1u << 20)

typedef struct Arch {
    char name[64];    /* "seed_cnn", or the file's base name without extension */
    char source[256]; /* the file, or "seed_cnn (built-in)": errors name it */
    char *text;       /* the text it was parsed from (checkpoints record it) */
    int n;
    NodeSpec *nodes;
} Arch;

/* Parses text. 0, or -1 with one line in e ("SOURCE:LINE: ..."); a is
 * empty on error, and arch_free is safe either way. */
int arch_parse(Arch *a, const char *name, const char *source, const char *text, Err *e);
void arch_free(Arch *a);

/* The built-in networks: "seed_cnn" (the seed notebook's CNN, on the data's
 * images), "ranknet_head" (the probe's head, on feature vectors),
 * "resnet18" (ResNet-18 for 32x32 images) and "resnet18-imagenet"
 * (torchvision's resnet18); the ResNets' tensor names are torchvision's. */
const char *arch_builtin(const char *name);
/* "seed_cnn, ranknet_head, resnet18, resnet18-imagenet" */
const char *arch_builtin_names(void);

/* The node whose tap label is label, or -1; the number of taps. */
int arch_find_tap(const Arch *a, const char *label);
int arch_n_taps(const Arch *a);

/* The network an --arch that may be unset names: NULL or "" is seed_cnn,
 * the default everywhere (train, eval, probe, study, a config's arch). */
const char *arch_or_default(const char *name_or_file);

enum { ARCH_NOT_FOUND = -2 };
/* --arch NAME|FILE: a built-in name, else a file; NULL or "" the default
 * (arch_or_default). Returns 0, -1 (a file
 * that cannot be read or has an error: exit 1) or ARCH_NOT_FOUND (neither a
 * built-in name nor an existing file: a usage error, exit 2), e set. */
int arch_load(Arch *a, const char *name_or_file, Err *e);

#endif
