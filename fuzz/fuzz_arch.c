/* fuzz_arch.c - libFuzzer harness for the network text format (arch_parse)
 * and the shape inference behind it (net_create) on arbitrary text. A
 * rejected text must leave one line naming the source ("fuzz.net"); an
 * accepted one must hold nodes whose inputs name nodes above them (so the
 * graph is acyclic), with valid options for their kind. When it also
 * builds for a small input, one inference forward must run and give finite
 * outputs from the zero weights' biases. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/arch.h"
#include "../src/net.h"

static void check_error(const Err *e) {
    if (!e->msg[0] || strchr(e->msg, '\n') || strncmp(e->msg, "fuzz.net", 8)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0; /* long texts add nothing but time */
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    Arch a;
    Err e = {{0}};
    if (arch_parse(&a, "fuzz", "fuzz.net", text, &e) != 0) {
        check_error(&e);
        arch_free(&a);
        free(text);
        return 0;
    }
    if (a.n < 1 || a.n > ARCH_MAX_NODES || strcmp(a.text, text)) abort();
    for (int i = 0; i < a.n; i++) {
        const NodeSpec *s = &a.nodes[i];
        const KindDef *kd = kind_def(s->kind);
        if ((int)s->kind < 0 || s->kind >= LAYER_KINDS || s->n_in != kd->n_in) abort();
        if (s->kind == LAYER_CONV && (s->ksize % 2 == 0 || s->units < 1 || s->stride < 1)) abort();
        if (s->kind == LAYER_DROPOUT && !(s->rate >= 0 && s->rate < 1)) abort();
        if (s->kind == LAYER_MAXPOOL && (s->ksize < 1 || s->stride < 1 || s->pad < 0 ||
                                         s->pad > s->ksize / 2))
            abort();
        if (s->kind == LAYER_BATCHNORM &&
            !(s->momentum > 0 && s->momentum < 1 && s->eps > 0 && s->eps < 1))
            abort();
        for (int k = 0; k < s->n_in; k++) {
            int found = !strcmp(s->in[k], "input");
            for (int j = 0; j < i && !found; j++) found = !strcmp(a.nodes[j].name, s->in[k]);
            if (!found) abort(); /* an input below it or nowhere: a cycle or a dangling name */
        }
    }
    /* small shapes only: a fuzzer's filters=1000000 would allocate gigabytes */
    long work = 0;
    for (int i = 0; i < a.n; i++) work += (long)a.nodes[i].units * a.nodes[i].ksize * a.nodes[i].ksize;
    if (work < 4096) {
        Net *net = net_create(&a, 4, 4, 3, 1, 1, &e);
        if (!net) {
            check_error(&e);
        } else {
            float x[4 * 4 * 3] = {0};
            const float *out = net_forward(net, x, 1, 0, NULL, -1);
            if (!out) abort();
            for (size_t j = 0; j < net_output_size(net); j++)
                if (!isfinite(out[j])) abort();
            net_free(net);
        }
    }
    arch_free(&a);
    free(text);
    return 0;
}
