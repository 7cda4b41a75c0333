/* npy.c - NumPy .npy writer (see npy.h). */
#include "npy.h"

#include <stdlib.h>
#include <string.h>

enum { NPY_ALIGN = 64, NPY_MAGIC_LEN = 8, NPY_GROWTH_DIGITS = 21 };

int npy_write_header(FILE *f, NpyType t, const size_t *shape, int ndim) {
    if (ndim < 0 || ndim > NPY_MAX_DIMS) return -1;
    char dict[512], dims[320] = "";
    size_t used = 0;
    for (int i = 0; i < ndim; i++)
        used += (size_t)snprintf(dims + used, sizeof dims - used, "%s%zu", i ? ", " : "", shape[i]);
    if (ndim == 1) snprintf(dims + used, sizeof dims - used, ",");
    int len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }",
                       t == NPY_F32 ? "<f4" : "<i8", dims);
    /* numpy >= 1.24 leaves room to grow the first axis in place: spaces up to
     * 21 digits of shape[0] (none for a 0-d array). */
    if (ndim > 0) {
        char first[32];
        int digits = snprintf(first, sizeof first, "%zu", shape[0]);
        for (int i = digits; i < NPY_GROWTH_DIGITS; i++) dict[len++] = ' ';
        dict[len] = 0;
    }
    /* pad with spaces, then '\n', to a multiple of 64 bytes in all */
    size_t hlen = (size_t)len + 1;
    size_t pad = NPY_ALIGN - (NPY_MAGIC_LEN + 2 + hlen) % NPY_ALIGN;
    if (pad == NPY_ALIGN) pad = 0;
    size_t total = hlen + pad;
    if (total > 65535) return -1;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(total & 255),
                             (unsigned char)(total >> 8)};
    if (fwrite(pre, 1, sizeof pre, f) != sizeof pre) return -1;
    if (fwrite(dict, 1, (size_t)len, f) != (size_t)len) return -1;
    for (size_t i = 0; i < pad; i++)
        if (fputc(' ', f) == EOF) return -1;
    return fputc('\n', f) == EOF ? -1 : 0;
}

int npy_write_data(FILE *f, NpyType t, const void *data, size_t n) {
    size_t size = t == NPY_F32 ? 4 : 8;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    unsigned char buf[4096];
    const unsigned char *p = data;
    for (size_t i = 0; i < n;) {
        size_t k = 0;
        for (; i < n && k + size <= sizeof buf; i++, k += size)
            for (size_t b = 0; b < size; b++) buf[k + b] = p[i * size + size - 1 - b];
        if (fwrite(buf, 1, k, f) != k) return -1;
    }
    return 0;
#else
    return fwrite(data, size, n, f) == n ? 0 : -1;
#endif
}

int npy_save(const char *path, NpyType t, const void *data, const size_t *shape, int ndim, Err *e) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    AtomicFile af;
    if (atomic_open(&af, path, e)) return -1;
    if (npy_write_header(af.f, t, shape, ndim) || npy_write_data(af.f, t, data, n)) {
        atomic_abort(&af);
        return err_set(e, "%s: write failed", path);
    }
    return atomic_commit(&af, e);
}

int npy_save_labels(const char *path, const uint8_t *labels, size_t n, Err *e) {
    int64_t *l = xmalloc(sizeof(int64_t) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) l[i] = labels[i];
    int rc = npy_save(path, NPY_I64, l, &n, 1, e);
    free(l);
    return rc;
}

char *npy_labels_path(const char *path) {
    size_t n = strlen(path);
    if (n > 4 && !strcmp(path + n - 4, ".npy")) n -= 4;
    char *out = xmalloc(n + sizeof ".labels.npy");
    memcpy(out, path, n);
    memcpy(out + n, ".labels.npy", sizeof ".labels.npy");
    return out;
}
