/* resources.c - resource bounds checked up front (see resources.h). */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE
#include "resources.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cifar10.h"

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

int mem_check_probe(const char *layer, int max_mb, uint64_t cache_bytes, uint64_t net_bytes,
                    Err *e) {
    char flag[96], a[32], b[48] = "", breakdown[160];
    snprintf(flag, sizeof flag, "--layer %s with --max-memory %d", layer, max_mb);
    mem_format(a, sizeof a, cache_bytes);
    if (net_bytes) {
        char n[32];
        mem_format(n, sizeof n, net_bytes);
        snprintf(b, sizeof b, ", the network: %s", n);
    }
    snprintf(breakdown, sizeof breakdown,
             "a feature cache of %s for each of 2 splits%s, CIFAR-10", a, b);
    uint64_t total = 2 * cache_bytes + net_bytes +
                     (uint64_t)(CIFAR_TRAIN_ALL + CIFAR_TEST) * CIFAR_RECORD;
    return mem_check(total, flag, breakdown, e);
}
