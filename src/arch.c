/* arch.c - the network text format of arch.h: the parser and the built-in
 * networks. */
#include "arch.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The seed notebook's CNN: 3 blocks of Conv-ReLU, BN, Conv-ReLU, BN,
 * MaxPool; Flatten; Dropout 0.2; Dense 1024 ReLU; Dropout 0.2; Dense 10
 * ("logits"; softmax is in the loss). Its taps are the study's five. */
static const char SEED_CNN[] =
    "# seed_cnn: the seed notebook's CNN (Keras layer names)\n"
    "block1_conv1  conv       filters=32 kernel=3 relu\n"
    "block1_bn1    batchnorm\n"
    "block1_conv2  conv       filters=32 kernel=3 relu\n"
    "block1_bn2    batchnorm\n"
    "block1_pool   maxpool    tap=block1_pool\n"
    "block2_conv1  conv       filters=64 kernel=3 relu\n"
    "block2_bn1    batchnorm\n"
    "block2_conv2  conv       filters=64 kernel=3 relu\n"
    "block2_bn2    batchnorm\n"
    "block2_pool   maxpool    tap=block2_pool\n"
    "block3_conv1  conv       filters=128 kernel=3 relu\n"
    "block3_bn1    batchnorm\n"
    "block3_conv2  conv       filters=128 kernel=3 relu\n"
    "block3_bn2    batchnorm\n"
    "block3_pool   maxpool    tap=block3_pool\n"
    "flatten       flatten    tap=flatten\n"
    "dropout1      dropout    rate=0.2\n"
    "dense1        dense      units=1024 relu tap=dense1\n"
    "dropout2      dropout    rate=0.2\n"
    "logits        dense      units=10\n";

/* ResNet-18 (He et al. 2016) as torchvision builds it: convolutions
 * without bias, Conv -> BN -> ReLU, BatchNorm with PyTorch's momentum 0.1
 * and eps 1e-5, BasicBlocks whose sum is followed by a ReLU, a strided 1x1
 * projection (conv + BN, "downsample") entering stages 2-4. The taps
 * (tap=) are the outputs the probe reads: the stem, each stage's last
 * block, the global average pool. The two variants differ only in the stem
 * (STEM names its last node, layer1.0's shortcut input) and the classes;
 * RESNET18_BODY is their shared stages 1-4 and pool, so a change to one
 * block is made once. */
/* A BasicBlock pair "layer<N>.0", "layer<N>.1" of C channels entering
 * with a stride-2 1x1 projection of PREV (stages 2-4). */
#define RESNET18_DOWN_STAGE(N, C, PREV) \
    "layer" N ".0.conv1        conv      filters=" C " kernel=3 stride=2 nobias\n" \
    "layer" N ".0.bn1          batchnorm torch relu\n" \
    "layer" N ".0.conv2        conv      filters=" C " kernel=3 nobias\n" \
    "layer" N ".0.bn2          batchnorm torch\n" \
    "layer" N ".0.downsample.0 conv      filters=" C " kernel=1 stride=2 nobias in=" PREV "\n" \
    "layer" N ".0.downsample.1 batchnorm torch\n" \
    "layer" N ".0              add       in=layer" N ".0.bn2,layer" N ".0.downsample.1 relu\n" \
    "layer" N ".1.conv1        conv      filters=" C " kernel=3 nobias\n" \
    "layer" N ".1.bn1          batchnorm torch relu\n" \
    "layer" N ".1.conv2        conv      filters=" C " kernel=3 nobias\n" \
    "layer" N ".1.bn2          batchnorm torch\n" \
    "layer" N ".1              add       in=layer" N ".1.bn2,layer" N ".0 relu tap=layer" N "\n"

#define RESNET18_BODY(STEM)  \
    "layer1.0.conv1        conv      filters=64 kernel=3 nobias\n" \
    "layer1.0.bn1          batchnorm torch relu\n" \
    "layer1.0.conv2        conv      filters=64 kernel=3 nobias\n" \
    "layer1.0.bn2          batchnorm torch\n" \
    "layer1.0              add       in=layer1.0.bn2," STEM " relu\n" \
    "layer1.1.conv1        conv      filters=64 kernel=3 nobias\n" \
    "layer1.1.bn1          batchnorm torch relu\n" \
    "layer1.1.conv2        conv      filters=64 kernel=3 nobias\n" \
    "layer1.1.bn2          batchnorm torch\n" \
    "layer1.1              add       in=layer1.1.bn2,layer1.0 relu tap=layer1\n" \
    RESNET18_DOWN_STAGE("2", "128", "layer1.1") \
    RESNET18_DOWN_STAGE("3", "256", "layer2.1") \
    RESNET18_DOWN_STAGE("4", "512", "layer3.1") \
    "avgpool               gap       tap=avgpool\n"

static const char RESNET18[] =
    "# resnet18: ResNet-18 for 32x32 images (3x3 stem, no max-pool); node names\n"
    "# make the checkpoint's tensor names torchvision's state_dict names\n"
    "conv1                 conv      filters=64 kernel=3 nobias\n"
    "bn1                   batchnorm torch relu tap=stem\n"
    RESNET18_BODY("bn1")
    "fc                    dense     units=10\n";

static const char RESNET18_IMAGENET[] =
    "# resnet18-imagenet: torchvision's resnet18 (7x7 stride-2 stem, max-pool 3/2/1,\n"
    "# 1000 classes), its state_dict names\n"
    "conv1                 conv      filters=64 kernel=7 stride=2 nobias\n"
    "bn1                   batchnorm torch relu\n"
    "maxpool               maxpool   kernel=3 stride=2 pad=1 tap=stem\n"
    RESNET18_BODY("maxpool")
    "fc                    dense     units=1000\n";

#undef RESNET18_BODY
#undef RESNET18_DOWN_STAGE

/* The probe's RankNet head, on feature vectors. */
static const char RANKNET_HEAD[] =
    "# ranknet_head: the probe's RankNet scorer\n"
    "dropout1  dropout  rate=0.2\n"
    "dense1    dense    units=1024 relu\n"
    "dropout2  dropout  rate=0.2\n"
    "score     dense    units=1\n";

static const struct {
    const char *name, *text;
} BUILTIN[] = {{"seed_cnn", SEED_CNN},
               {"ranknet_head", RANKNET_HEAD},
               {"resnet18", RESNET18},
               {"resnet18-imagenet", RESNET18_IMAGENET}};

const char *arch_builtin(const char *name) {
    for (size_t i = 0; i < sizeof BUILTIN / sizeof BUILTIN[0]; i++)
        if (!strcmp(name, BUILTIN[i].name)) return BUILTIN[i].text;
    return NULL;
}

const char *arch_builtin_names(void) {
    return "seed_cnn, ranknet_head, resnet18, resnet18-imagenet";
}

void arch_free(Arch *a) {
    if (!a) return;
    free(a->text);
    free(a->nodes);
    memset(a, 0, sizeof *a);
}

static int name_ok(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.') return 0;
    return 1;
}

/* A whole decimal integer in [lo, hi]. */
static int parse_int(const char *s, int lo, int hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi || !isdigit((unsigned char)*s)) return -1;
    *out = (int)v;
    return 0;
}

static int parse_rate(const char *s, float *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !(v >= 0 && v < 1)) return -1;
    *out = (float)v;
    return 0;
}

/* A node name (shorter than NODE_NAME_MAX, checked by the caller) into dst. */
static void copy_name(char dst[NODE_NAME_MAX], const char *src) {
    size_t n = strlen(src);
    if (n >= NODE_NAME_MAX) n = NODE_NAME_MAX - 1;
    memcpy(dst, src, n);
    dst[n] = 0;
}

/* Index of the node named name among nodes[0..n), or -1. */
static int find(const NodeSpec *nodes, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(nodes[i].name, name)) return i;
    return -1;
}

/* Index of the node among nodes[0..n) whose tap label is label, or -1. */
static int arch_find_tap_in(const NodeSpec *nodes, int n, const char *label) {
    for (int i = 0; i < n; i++)
        if (nodes[i].tap[0] && !strcmp(nodes[i].tap, label)) return i;
    return -1;
}

int arch_find_tap(const Arch *a, const char *label) { return arch_find_tap_in(a->nodes, a->n, label); }

int arch_n_taps(const Arch *a) {
    int n = 0;
    for (int i = 0; i < a->n; i++) n += a->nodes[i].tap[0] != 0;
    return n;
}

/* Does a later line define name? (an input naming it would be a cycle or a
 * forward reference) */
static int defined_later(const char *rest, const char *name) {
    size_t n = strlen(name);
    for (const char *p = rest; p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == '\r') p++;
        if (!strncmp(p, name, n) && (p[n] == ' ' || p[n] == '\t')) return 1;
        p = strchr(p, '\n');
        if (p) p++;
    }
    return 0;
}

/* A number in (lo, hi) (exclusive bounds), also as a float. */
static int parse_open(const char *s, double lo, double hi, float *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !(v > lo && v < hi) || !((float)v > lo && (float)v < hi))
        return -1;
    *out = (float)v;
    return 0;
}

/* Parses one option token into s; seen collects the OPT_* given. A
 * batchnorm's momentum= is kept raw in *momentum (its meaning depends on
 * `torch`, which may come after it). */
static int parse_option(NodeSpec *s, const KindDef *kd, char *tok, unsigned *seen,
                        char *in_text, size_t in_len, float *momentum, Err *e) {
    char *eq = strchr(tok, '=');
    const char *val = eq ? eq + 1 : NULL;
    if (eq) *eq = 0;
    unsigned opt;
    int bad = 0;
    const char *what = "";
    if (!strcmp(tok, "relu") && !val) {
        opt = OPT_RELU, s->relu = 1;
    } else if (!strcmp(tok, "nobias") && !val) {
        opt = OPT_NOBIAS, s->nobias = 1;
    } else if (!strcmp(tok, "torch") && !val) {
        opt = OPT_TORCH;
    } else if (!strcmp(tok, "filters") || !strcmp(tok, "units")) {
        opt = OPT_UNITS, what = "a whole number from 1";
        if (!strcmp(tok, s->kind == LAYER_CONV ? "units" : "filters") &&
            (kd->opts & OPT_UNITS))
            return err_set(e, "%s takes %s=N, not %s=", kd->name,
                           s->kind == LAYER_CONV ? "filters" : "units", tok);
        bad = !val || parse_int(val, 1, 1 << 20, &s->units);
    } else if (!strcmp(tok, "kernel")) {
        /* a conv's kernel is odd (padding K/2 on both sides); a pool's any */
        int odd = s->kind != LAYER_MAXPOOL;
        opt = OPT_KERNEL, what = odd ? "an odd number from 1 to 63" : "a whole number from 1 to 63";
        bad = !val || parse_int(val, 1, 63, &s->ksize) || (odd && s->ksize % 2 == 0);
    } else if (!strcmp(tok, "stride")) {
        opt = OPT_STRIDE, what = "a whole number from 1 to 64";
        bad = !val || parse_int(val, 1, 64, &s->stride);
    } else if (!strcmp(tok, "pad")) {
        opt = OPT_PAD, what = "a whole number from 0 to 31";
        bad = !val || parse_int(val, 0, 31, &s->pad);
    } else if (!strcmp(tok, "rate")) {
        opt = OPT_RATE, what = "a number in [0, 1)";
        bad = !val || parse_rate(val, &s->rate);
    } else if (!strcmp(tok, "momentum")) {
        opt = OPT_MOMENTUM, what = "a number in (0, 1)";
        bad = !val || parse_open(val, 0, 1, momentum);
    } else if (!strcmp(tok, "eps")) {
        opt = OPT_EPS, what = "a number in (0, 1)";
        bad = !val || parse_open(val, 0, 1, &s->eps);
    } else if (!strcmp(tok, "tap")) {
        opt = OPT_TAP, what = "a label (letters, digits, _ - .)";
        bad = !val || strlen(val) >= NODE_NAME_MAX || !name_ok(val);
        if (!bad && (!strcmp(val, "pixels") || !strcmp(val, "stats")))
            return err_set(e, "tap=%s: '%s' names a floor of the study; choose another label",
                           val, val);
        if (!bad) copy_name(s->tap, val);
    } else if (!strcmp(tok, "in")) {
        if (!val || !*val) return err_set(e, "in= needs one or two node names");
        if (in_text[0]) return err_set(e, "in= given twice");
        snprintf(in_text, in_len, "%s", val);
        return 0;
    } else {
        return err_set(e, "unknown option '%s%s%s' (options: filters, units, kernel, stride, "
                          "pad, rate, relu, nobias, torch, momentum, eps, tap, in)",
                       tok, val ? "=" : "", val ? val : "");
    }
    if (!(kd->opts & opt) && opt != OPT_TAP) /* any node may be a tap */
        return err_set(e, "%s takes no %s option", kd->name, tok);
    if (*seen & opt) return err_set(e, "option %s given twice", tok);
    *seen |= opt;
    if (bad) return err_set(e, "%s=%s: must be %s", tok, val ? val : "", what);
    return 0;
}

/* Resolves in_text ("a" or "a,b", or "" for the previous node) into s->in. */
static int parse_inputs(NodeSpec *s, const KindDef *kd, const NodeSpec *nodes, int i,
                        char *in_text, const char *rest, Err *e) {
    s->n_in = 0;
    if (!in_text[0]) {
        if (kd->n_in != 1)
            return err_set(e, "%s takes %d inputs: name them with in=A,B", kd->name, kd->n_in);
        copy_name(s->in[0], i ? nodes[i - 1].name : "input");
        s->n_in = 1;
        return 0;
    }
    for (char *tok = in_text, *next; tok; tok = next) {
        next = strchr(tok, ',');
        if (next) *next++ = 0;
        if (s->n_in == 2) return err_set(e, "in=: more than two inputs");
        if (strlen(tok) >= NODE_NAME_MAX || !name_ok(tok))
            return err_set(e, "in=: '%s' is not a node name", tok);
        if (strcmp(tok, "input") && find(nodes, i, tok) < 0) {
            if (!strcmp(tok, s->name))
                return err_set(e, "in=%s: a node cannot take its own output (a cycle)", tok);
            if (defined_later(rest, tok))
                return err_set(e, "in=%s: '%s' is defined below; a node takes only nodes "
                                  "above it (a cycle otherwise)",
                               tok, tok);
            return err_set(e, "in=%s: no node named '%s' above", tok, tok);
        }
        copy_name(s->in[s->n_in++], tok);
    }
    if (s->n_in != kd->n_in)
        return err_set(e, "%s takes %d input%s, in= names %d", kd->name, kd->n_in,
                       kd->n_in == 1 ? "" : "s", s->n_in);
    return 0;
}

/* The next blank-separated token of *p (NUL-terminated in place), or NULL. */
static char *next_token(char **p) {
    char *t = *p + strspn(*p, " \t\r");
    if (!*t) return NULL;
    char *end = t + strcspn(t, " \t\r");
    *p = *end ? end + 1 : end;
    *end = 0;
    return t;
}

/* One non-empty line (comment stripped) into s. */
static int parse_line(NodeSpec *s, const NodeSpec *nodes, int i, char *line, const char *rest,
                      Err *e) {
    char *rest_of_line = line;
    char *name = next_token(&rest_of_line);
    char *kind = next_token(&rest_of_line);
    if (!kind) return err_set(e, "'%s': a line is NAME KIND [OPTIONS]", name);
    if (strlen(name) >= NODE_NAME_MAX)
        return err_set(e, "node name too long (at most %d characters)", NODE_NAME_MAX - 1);
    if (!name_ok(name))
        return err_set(e, "'%s' is not a node name (letters, digits, _ - .)", name);
    if (!strcmp(name, "input")) return err_set(e, "'input' names the network's input");
    if (find(nodes, i, name) >= 0) return err_set(e, "a second node named '%s'", name);
    memset(s, 0, sizeof *s);
    copy_name(s->name, name);
    const KindDef *kd = kind_by_name(kind, &s->kind);
    if (!kd) return err_set(e, "unknown kind '%s' (kinds: %s)", kind, kind_names());
    int pool = s->kind == LAYER_MAXPOOL;
    s->stride = pool ? 2 : 1;
    s->ksize = pool ? 2 : 0;
    unsigned seen = 0;
    float momentum = 0;
    char in_text[2 * NODE_NAME_MAX + 8] = "";
    for (char *tok; (tok = next_token(&rest_of_line));) {
        if (strlen(tok) >= sizeof in_text) return err_set(e, "option too long: '%.40s...'", tok);
        if (parse_option(s, kd, tok, &seen, in_text, sizeof in_text, &momentum, e)) return -1;
    }
    if (s->kind == LAYER_BATCHNORM) {
        /* momentum= in the convention of the style: Keras's (weight on the
         * old value) or, with torch, PyTorch's (weight on the batch's) */
        int torch = (seen & OPT_TORCH) != 0;
        s->momentum = !(seen & OPT_MOMENTUM) ? (torch ? BN_TORCH_MOMENTUM : BN_KERAS_MOMENTUM)
                      : torch               ? 1.0f - momentum
                                            : momentum;
        if (!(seen & OPT_EPS)) s->eps = torch ? BN_TORCH_EPSILON : BN_KERAS_EPSILON;
        if (!(s->momentum > 0 && s->momentum < 1))
            return err_set(e, "momentum=%g: too close to 0 or 1 (float32)", (double)momentum);
    }
    if (pool && s->pad > s->ksize / 2)
        return err_set(e, "pad=%d: at most half the kernel (%d)", s->pad, s->ksize / 2);
    unsigned missing = kd->required & ~seen;
    if (missing)
        return err_set(e, "%s needs %s", kd->name,
                       missing & OPT_UNITS    ? (s->kind == LAYER_CONV ? "filters=N" : "units=N")
                       : missing & OPT_KERNEL ? "kernel=K"
                                              : "rate=R");
    return parse_inputs(s, kd, nodes, i, in_text, rest, e);
}

int arch_parse(Arch *a, const char *name, const char *source, const char *text, Err *e) {
    memset(a, 0, sizeof *a);
    size_t len = strlen(text);
    if (len > ARCH_MAX_TEXT)
        return err_set(e, "%s: longer than %u bytes: not a network file", source, ARCH_MAX_TEXT);
    char *copy = xstrdup(text);
    NodeSpec *nodes = xcalloc(ARCH_MAX_NODES, sizeof *nodes);
    int n = 0, lineno = 0, rc = 0;
    Err why;
    for (char *line = copy, *next; line; line = next) {
        lineno++;
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        /* the rest of the original text, for the cycle check */
        const char *rest = next ? text + (next - copy) : NULL;
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        if (strspn(line, " \t\r") == strlen(line)) continue;
        if (n == ARCH_MAX_NODES) {
            rc = err_set(e, "%s:%d: more than %d nodes", source, lineno, ARCH_MAX_NODES);
            break;
        }
        if (parse_line(&nodes[n], nodes, n, line, rest, &why)) {
            rc = err_set(e, "%s:%d: %s", source, lineno, why.msg);
            break;
        }
        int twin = nodes[n].tap[0] ? arch_find_tap_in(nodes, n, nodes[n].tap) : -1;
        if (twin >= 0) {
            rc = err_set(e, "%s:%d: tap=%s: node '%s' (line %d) has that tap label already",
                         source, lineno, nodes[n].tap, nodes[twin].name, nodes[twin].line);
            break;
        }
        nodes[n++].line = lineno;
    }
    free(copy);
    if (rc == 0 && n == 0) rc = err_set(e, "%s: no nodes (a line is NAME KIND [OPTIONS])", source);
    if (rc) {
        free(nodes);
        return -1;
    }
    a->nodes = xrealloc(nodes, sizeof *nodes * (size_t)n);
    a->n = n;
    a->text = xstrdup(text);
    snprintf(a->name, sizeof a->name, "%s", name);
    snprintf(a->source, sizeof a->source, "%s", source);
    return 0;
}

const char *arch_or_default(const char *name_or_file) {
    return name_or_file && *name_or_file ? name_or_file : "seed_cnn";
}

int arch_load(Arch *a, const char *spec, Err *e) {
    memset(a, 0, sizeof *a);
    spec = arch_or_default(spec);
    char source[256];
    const char *text = arch_builtin(spec);
    if (text) {
        snprintf(source, sizeof source, "%s (built-in)", spec);
        return arch_parse(a, spec, source, text, e);
    }
    if (!path_exists(spec)) {
        err_set(e, "--arch: '%s' is neither a built-in network (%s) nor a file", spec,
                arch_builtin_names());
        return ARCH_NOT_FOUND;
    }
    uint8_t *buf;
    size_t len;
    if (file_read_all(spec, &buf, &len, e)) return -1;
    if (strlen((char *)buf) != len) {
        free(buf);
        return err_set(e, "%s: contains a NUL byte: not a network file", spec);
    }
    /* the name: the file's base name without its extension */
    const char *base = strrchr(spec, '/');
    base = base ? base + 1 : spec;
    char name[64];
    snprintf(name, sizeof name, "%s", base);
    char *dot = strrchr(name, '.');
    if (dot && dot != name) *dot = 0;
    int rc = arch_parse(a, name, spec, (char *)buf, e);
    free(buf);
    return rc;
}
