/* fuzz_augspec.c - libFuzzer harness for the augmentation spec grammar
 * (aug_parse) on arbitrary text. An accepted spec must hold valid items
 * (known kind, lo <= hi, finite, inside aug_valid_range, each name once),
 * and its canonical text (aug_format) must parse back to the same spec and
 * format to the same text; draws from it must be finite. A rejected spec
 * must leave a one-line message. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/augment.h"

static int same_spec(const AugSpec *a, const AugSpec *b) {
    if (a->n != b->n) return 0;
    for (int i = 0; i < a->n; i++)
        if (a->items[i].kind != b->items[i].kind || a->items[i].lo != b->items[i].lo ||
            a->items[i].hi != b->items[i].hi)
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    AugSpec spec;
    Err e = {{0}};
    if (aug_parse(&spec, text, &e) != 0) {
        /* one clear line: non-empty, no line break (err_set replaces them) */
        if (!e.msg[0] || strchr(e.msg, '\n')) abort();
        free(text);
        return 0;
    }
    if (spec.n < 0 || spec.n > AUG_MAX_ITEMS) abort();
    int seen[AUG_KINDS] = {0};
    for (int i = 0; i < spec.n; i++) {
        const AugItem *it = &spec.items[i];
        if ((int)it->kind < 0 || it->kind >= AUG_KINDS) abort();
        if (seen[it->kind]++) abort(); /* each name at most once */
        if (!isfinite(it->lo) || !isfinite(it->hi) || it->lo > it->hi) abort();
        float vlo, vhi;
        aug_valid_range(it->kind, &vlo, &vhi);
        if (it->lo < vlo || it->hi > vhi) abort();
        if (aug_kind_from_name(aug_kind_name(it->kind)) != (int)it->kind) abort();
    }
    char buf[1024], buf2[1024];
    aug_format(&spec, buf, sizeof buf);
    AugSpec again;
    Err e2 = {{0}};
    if (aug_parse(&again, buf, &e2) != 0) abort(); /* canonical text must re-parse */
    if (!same_spec(&spec, &again)) abort();        /* ... to the same values */
    aug_format(&again, buf2, sizeof buf2);
    if (strcmp(buf, buf2)) abort();
    /* drawing from an accepted spec must give finite parameters */
    Rng r = rng_stream(1, 2);
    AugParams p;
    aug_draw(&spec, &r, &p);
    if (!isfinite(p.zx) || !isfinite(p.zy) || !isfinite(p.brightness) || !isfinite(p.contrast) ||
        !isfinite(p.saturation) || !isfinite(p.hue) || !isfinite(p.rotation) ||
        !isfinite(p.tx) || !isfinite(p.ty))
        abort();
    free(text);
    return 0;
}
