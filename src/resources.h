/* resources.h - resource bounds checked up front: a configuration whose
 * memory need is clearly over what this machine allows (a huge --batch, a
 * huge feature cache under a raised --max-memory) is refused before
 * anything big is allocated, with the estimate and the limit in the one-line
 * message, instead of dying of an OOM kill or "out of memory" minutes in. */
#ifndef AUGPROBE_RESOURCES_H
#define AUGPROBE_RESOURCES_H

#include <stdint.h>

#include "common.h"

/* What this process may use: the smallest of physical memory, the cgroup's
 * memory.max (v2) or memory.limit_in_bytes (v1), and the address-space and
 * data limits (ulimit -v, ulimit -d). `what` names the one that binds. */
typedef struct MemLimit {
    uint64_t bytes;
    char what[48];
} MemLimit;
void mem_limit(MemLimit *m);

/* Refuses (-1, one line in e) when need > the limit:
 *   "FLAG: needs about X of memory (BREAKDOWN), more than the Y this
 *    machine allows (WHAT)" */
int mem_check(uint64_t need, const char *flag, const char *breakdown, Err *e);

/* probe: two feature caches of cache_bytes (val and test), the trunk's
 * net_bytes (net_memory_bytes of the network it reads; 0 for a floor), the
 * data set; flag text "--layer L with --max-memory M". */
int mem_check_probe(const char *layer, int max_mb, uint64_t cache_bytes, uint64_t net_bytes,
                    Err *e);

/* "1.5 GB", "184 MB" */
void mem_format(char *buf, size_t cap, uint64_t bytes);

#endif
