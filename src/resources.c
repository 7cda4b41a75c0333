/* resources.c - resource bounds checked up front (see resources.h). */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE
#include "resources.h"

#include "arch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cifar10.h"
#include "net.h"

static void take(MemLimit *m, uint64_t bytes, const char *what) {
    if (bytes && bytes < m->bytes) {
        m->bytes = bytes;
        snprintf(m->what, sizeof m->what, "%s", what);
    }
}

/* A cgroup limit file: a number of bytes, or "max" (none). Bounded read. */
static uint64_t cgroup_value(const char *path) {
    uint8_t *buf;
    size_t len;
    if (file_read_max(path, 4096, NULL, &buf, &len, NULL)) return 0;
    char *end;
    unsigned long long v = strtoull((char *)buf, &end, 10);
    int ok = end != (char *)buf && (*end == '\n' || *end == 0);
    free(buf);
    /* v1 says "no limit" with a huge number */
    return ok && v < ((uint64_t)1 << 60) ? (uint64_t)v : 0;
}

void mem_limit(MemLimit *m) {
    m->bytes = UINT64_MAX;
    snprintf(m->what, sizeof m->what, "unknown");
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    if (pages > 0 && page > 0) take(m, (uint64_t)pages * (uint64_t)page, "physical memory");
    take(m, cgroup_value("/sys/fs/cgroup/memory.max"), "cgroup memory.max");
    take(m, cgroup_value("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
         "cgroup memory.limit_in_bytes");
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        take(m, (uint64_t)rl.rlim_cur, "ulimit -v");
    if (getrlimit(RLIMIT_DATA, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        take(m, (uint64_t)rl.rlim_cur, "ulimit -d");
}

void mem_format(char *buf, size_t cap, uint64_t bytes) {
    if (bytes >= ((uint64_t)1 << 30))
        snprintf(buf, cap, "%.1f GB", (double)bytes / (double)((uint64_t)1 << 30));
    else
        snprintf(buf, cap, "%.0f MB", (double)bytes / (double)((uint64_t)1 << 20));
}

int mem_check(uint64_t need, const char *flag, const char *breakdown, Err *e) {
    MemLimit m;
    mem_limit(&m);
    if (need <= m.bytes) return 0;
    char a[32], b[32];
    mem_format(a, sizeof a, need);
    mem_format(b, sizeof b, m.bytes);
    return err_set(e, "%s: needs about %s of memory (%s), more than the %s this machine allows "
                      "(%s)", flag, a, breakdown, b, m.what);
}

uint64_t mem_seed_net_bytes(int max_batch, int with_adam) {
    /* The same arithmetic as net_create, from the layers' shapes (a
     * batch-of-one net would allocate 30 MB to tell). */
    Arch a;
    if (arch_parse(&a, "seed_cnn", "seed_cnn (built-in)", arch_builtin("seed_cnn"), NULL))
        return 0; /* cannot happen: the built-in text is tested */
    const int n = a.n;
    const NodeSpec *s = a.nodes;
    uint64_t h = CIFAR_H, w = CIFAR_W, c = CIFAR_C, in = h * w * c;
    uint64_t params = 0, state = 0, max_act = in, per_image = 2 * in; /* input, images_x */
    for (int i = 0; i < n; i++) {
        switch (s[i].kind) {
        case LAYER_CONV:
            params += (uint64_t)s[i].ksize * s[i].ksize * c * s[i].units + s[i].units;
            c = (uint64_t)s[i].units;
            break;
        case LAYER_BATCHNORM:
            params += 2 * c, state += 2 * c;
            break;
        case LAYER_MAXPOOL:
            h /= 2, w /= 2;
            break;
        case LAYER_FLATTEN:
            c = h * w * c, h = w = 1;
            break;
        case LAYER_DENSE:
            params += h * w * c * s[i].units + s[i].units;
            h = w = 1, c = (uint64_t)s[i].units;
            break;
        default:
            break;
        }
        uint64_t act = h * w * c;
        if (s[i].kind != LAYER_FLATTEN) per_image += act;   /* its output */
        if (s[i].kind == LAYER_DROPOUT) per_image += act;   /* its mask */
        if (act > max_act) max_act = act;
    }
    arch_free(&a);
    per_image += 2 * max_act; /* the two gradient buffers */
    uint64_t floats = params * (with_adam ? 4 : 2) + state + per_image * (uint64_t)max_batch;
    return floats * sizeof(float);
}

int mem_check_probe(const char *layer, int max_mb, uint64_t cache_bytes, Err *e) {
    char flag[96], a[32], breakdown[128];
    snprintf(flag, sizeof flag, "--layer %s with --max-memory %d", layer, max_mb);
    mem_format(a, sizeof a, cache_bytes);
    snprintf(breakdown, sizeof breakdown,
             "a feature cache of %s for each of 2 splits, the network, CIFAR-10", a);
    uint64_t total = 2 * cache_bytes + mem_seed_net_bytes(128, 0) +
                     (uint64_t)(CIFAR_TRAIN_ALL + CIFAR_TEST) * CIFAR_RECORD;
    return mem_check(total, flag, breakdown, e);
}
