/* checkpoint.c - safetensors save/load of a Net (+ Adam, Rng): layouts,
 * naming and checks are described in checkpoint.h. The loader validates the
 * whole file into scratch buffers before touching the net, and every
 * problem is reported as one line naming the file. */
#define _POSIX_C_SOURCE 200809L /* pread */
#include "checkpoint.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

/* A header longer than this is not a checkpoint of ours (the seed CNN's
 * header with Adam moments is ~8 KB). */
#define MAX_HEADER_BYTES (16u << 20)

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "checkpoint.c assumes a little-endian host (safetensors data is little-endian)"
#endif

/* One named tensor of the file and where it lives in the net. */
typedef struct {
    char name[96];
    int ndim;
    int64_t shape[4]; /* the file's (PyTorch) shape */
    TensorLayout layout;
    int is_state;     /* in net->state (BN moving stats), else net->params */
    size_t off, n;    /* float offset in params/state, and count */
    int K, cin, cout; /* conv: K, Cin, Cout; dense: cin = In, cout = Out */
} TensorDesc;

/* Lists the net's tensors in file order (the kind table's, node by node);
 * returns the count. */
static int net_tensors(const Net *net, TensorDesc **out) {
    TensorDesc *t = xcalloc((size_t)net->n_layers * KIND_MAX_TENSORS + 1, sizeof *t);
    int n = 0;
    for (int l = 0; l < net->n_layers; l++) {
        const Layer *L = &net->layers[l];
        const KindDef *kd = kind_def(L->spec.kind);
        NetTensor nt[KIND_MAX_TENSORS];
        int m = kd->tensors ? kd->tensors(L, nt) : 0;
        for (int j = 0; j < m; j++) {
            TensorDesc *d = &t[n++];
            snprintf(d->name, sizeof d->name, "%s.%s", L->spec.name, nt[j].suffix);
            d->layout = nt[j].layout, d->is_state = nt[j].is_state;
            d->off = nt[j].off, d->n = nt[j].n;
            d->K = nt[j].K, d->cin = nt[j].cin, d->cout = nt[j].cout;
            if (d->layout == TENSOR_CONV)
                d->ndim = 4, d->shape[0] = d->cout, d->shape[1] = d->cin, d->shape[2] = d->K,
                d->shape[3] = d->K;
            else if (d->layout == TENSOR_DENSE)
                d->ndim = 2, d->shape[0] = d->cout, d->shape[1] = d->cin;
            else
                d->ndim = 1, d->shape[0] = (int64_t)d->n;
        }
    }
    *out = t;
    return n;
}

/* Our layout -> the file's (to_file) or back. */
static void convert(const TensorDesc *d, float *dst, const float *src, int to_file) {
    if (d->layout == TENSOR_PLAIN) {
        memcpy(dst, src, d->n * sizeof(float));
    } else if (d->layout == TENSOR_DENSE) {
        /* ours [In][Out], file [Out][In] */
        for (int i = 0; i < d->cin; i++)
            for (int o = 0; o < d->cout; o++) {
                size_t ours = (size_t)i * d->cout + o, file = (size_t)o * d->cin + i;
                if (to_file) dst[file] = src[ours];
                else dst[ours] = src[file];
            }
    } else {
        /* ours HWIO [K][K][Cin][Cout], file OIHW [Cout][Cin][K][K] */
        int K = d->K;
        for (int y = 0; y < K; y++)
            for (int x = 0; x < K; x++)
                for (int i = 0; i < d->cin; i++)
                    for (int o = 0; o < d->cout; o++) {
                        size_t ours = (((size_t)y * K + x) * d->cin + i) * d->cout + o;
                        size_t file = (((size_t)o * d->cin + i) * K + y) * K + x;
                        if (to_file) dst[file] = src[ours];
                        else dst[ours] = src[file];
                    }
    }
}

/* One tensor to write: its description and our-layout source. */
typedef struct {
    char name[112];
    const TensorDesc *d;
    const float *src;
} Entry;

static void add_meta(cJSON *meta, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void add_meta(cJSON *meta, const char *key, const char *fmt, ...) {
    char buf[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    cJSON_AddStringToObject(meta, key, buf);
}

int checkpoint_save(const char *path, const Net *net, const Adam *opt, const Rng *rng,
                    const CheckpointMeta *meta, Err *e) {
    if (net->host_stale) /* a caller bug: never write weights older than the device's */
        return err_set(e, "%s: the network's host copy is stale (net_sync_host first)", path);
    if (opt && opt->n != net->n_params)
        return err_set(e, "%s: optimiser has %zu values, the network %zu", path, opt->n,
                       net->n_params);
    TensorDesc *td;
    int nt = net_tensors(net, &td);
    Entry *ent = xcalloc((size_t)nt * 3 + 1, sizeof *ent);
    int ne = 0;
    for (int i = 0; i < nt; i++) {
        ent[ne++] = (Entry){"", &td[i], (td[i].is_state ? net->state : net->params) + td[i].off};
        snprintf(ent[ne - 1].name, sizeof ent[ne - 1].name, "%s", td[i].name);
    }
    if (opt)
        for (int i = 0; i < nt; i++) {
            if (td[i].is_state) continue;
            ent[ne] = (Entry){"", &td[i], opt->m + td[i].off};
            snprintf(ent[ne++].name, sizeof ent[0].name, "optim.m.%s", td[i].name);
            ent[ne] = (Entry){"", &td[i], opt->v + td[i].off};
            snprintf(ent[ne++].name, sizeof ent[0].name, "optim.v.%s", td[i].name);
        }

    cJSON *root = cJSON_CreateObject(), *md = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "__metadata__", md);
    add_meta(md, "format_version", "%d", CHECKPOINT_FORMAT_VERSION);
    cJSON_AddStringToObject(md, "arch", net->arch);
    cJSON_AddStringToObject(md, "arch_text", net->arch_text); /* what the model is */
    add_meta(md, "epoch", "%d", meta ? meta->epoch : 0);
    add_meta(md, "seed", "%" PRIu64, meta ? meta->seed : 0);
    cJSON_AddStringToObject(md, "extra", meta ? meta->extra : "");
    if (opt) {
        add_meta(md, "optim.step", "%" PRId64, opt->t);
        add_meta(md, "optim.lr", "%.9g", (double)opt->lr);
        add_meta(md, "optim.beta1", "%.9g", (double)opt->beta1);
        add_meta(md, "optim.beta2", "%.9g", (double)opt->beta2);
        add_meta(md, "optim.eps", "%.9g", (double)opt->eps);
    }
    if (rng)
        add_meta(md, "rng", "%016" PRIx64 ",%016" PRIx64 ",%016" PRIx64 ",%016" PRIx64, rng->s[0],
                 rng->s[1], rng->s[2], rng->s[3]);
    size_t off = 0;
    for (int i = 0; i < ne; i++) {
        const TensorDesc *d = ent[i].d;
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "dtype", "F32");
        double shape[4], offs[2] = {(double)off, (double)(off + d->n * 4)};
        for (int j = 0; j < d->ndim; j++) shape[j] = (double)d->shape[j];
        cJSON_AddItemToObject(t, "shape", cJSON_CreateDoubleArray(shape, d->ndim));
        cJSON_AddItemToObject(t, "data_offsets", cJSON_CreateDoubleArray(offs, 2));
        cJSON_AddItemToObject(root, ent[i].name, t);
        off += d->n * 4;
    }
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!json) {
        free(ent), free(td);
        return err_set(e, "%s: cannot build the header", path);
    }
    /* Pad the header with spaces so the data starts 8-byte aligned. */
    size_t hlen = strlen(json), padded = (hlen + 7) / 8 * 8;
    uint8_t lenbuf[8];
    for (int i = 0; i < 8; i++) lenbuf[i] = (uint8_t)((uint64_t)padded >> (8 * i));

    AtomicFile af;
    if (atomic_open(&af, path, e)) {
        free(json), free(ent), free(td);
        return -1;
    }
    fwrite(lenbuf, 1, 8, af.f);
    fwrite(json, 1, hlen, af.f);
    for (size_t i = hlen; i < padded; i++) fputc(' ', af.f);
    size_t maxn = 0;
    for (int i = 0; i < ne; i++)
        if (ent[i].d->n > maxn) maxn = ent[i].d->n;
    float *buf = xalloc_floats(maxn ? maxn : 1);
    for (int i = 0; i < ne; i++) {
        convert(ent[i].d, buf, ent[i].src, 1);
        fwrite(buf, sizeof(float), ent[i].d->n, af.f);
    }
    free(buf);
    free(json), free(ent), free(td);
    return atomic_commit(&af, e); /* checks every write above via ferror */
}

/* ---- loading ---- */

/* A validated tensor entry of the file. */
typedef struct {
    const char *name;
    uint64_t begin, end;
} Span;

static int span_cmp(const void *a, const void *b) {
    const Span *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

static const char *meta_str(const cJSON *md, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(md, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Non-negative integer JSON number, exactly representable. */
/* Reads n bytes at offset off of fd: 0, or -1 (short file or error). */
static int read_at(int fd, uint8_t *buf, size_t n, off_t off) {
    while (n > 0) {
        ssize_t got = pread(fd, buf, n, off);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return -1;
        buf += got, n -= (size_t)got, off += got;
    }
    return 0;
}

int checkpoint_read_arch(const char *path, Arch *a, Err *e) {
    memset(a, 0, sizeof *a);
    /* Only the header is read: the file may be far larger than a small
     * file's bound (a ResNet-18 checkpoint with Adam's moments: 134 MB). */
    uint64_t len;
    int fd = file_open_regular(path, UINT64_MAX, "a checkpoint", &len, e);
    if (fd < 0) return -1;
    uint8_t *file = NULL, head[8];
    uint64_t hlen = 0;
    int rc = -1;
    cJSON *root = NULL;
    if (len < 8 || read_at(fd, head, 8, 0)) {
        err_set(e, "%s: %" PRIu64 " bytes: too short for a safetensors file", path, len);
        goto done;
    }
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)head[i] << (8 * i);
    if (hlen > MAX_HEADER_BYTES || hlen > len - 8) {
        err_set(e, "%s: header length %" PRIu64 " does not fit the file", path, hlen);
        goto done;
    }
    file = xmalloc((size_t)hlen + 8);
    if (read_at(fd, file + 8, (size_t)hlen, 8)) {
        err_set(e, "%s: read error in its header: %s", path, errno ? strerror(errno) : "short file");
        goto done;
    }
    root = cJSON_ParseWithLength((const char *)file + 8, (size_t)hlen);
    const cJSON *md = root ? cJSON_GetObjectItemCaseSensitive(root, "__metadata__") : NULL;
    const char *name = md ? meta_str(md, "arch") : NULL, *text = md ? meta_str(md, "arch_text") : NULL;
    if (!name) {
        err_set(e, "%s: no architecture in its metadata (not an augprobe checkpoint; a PyTorch "
                   "state_dict needs --arch to name its network)", path);
        goto done;
    }
    if (!text) text = arch_builtin(name); /* written before checkpoints recorded the text */
    if (!text) {
        err_set(e, "%s: architecture '%.64s' is not built in and the file has no arch_text",
                path, name);
        goto done;
    }
    char source[300];
    snprintf(source, sizeof source, "%s (its arch_text)", path);
    rc = arch_parse(a, name, source, text, e);
done:
    cJSON_Delete(root);
    free(file);
    close(fd);
    return rc;
}

static int json_u64(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= 9007199254740992.0) || d != floor(d)) return -1;
    *out = (uint64_t)d;
    return 0;
}

/* "<node>.num_batches_tracked": a PyTorch BatchNorm's counter. */
static int is_batch_counter(const char *name) {
    static const char suffix[] = ".num_batches_tracked";
    size_t n = strlen(name), k = sizeof suffix - 1;
    return n > k && !strcmp(name + n - k, suffix);
}

/* Checks every entry of the header (dtype, shape form, offsets in range,
 * no overlaps). data_len: bytes after the header. */
static int check_entries(const char *path, const cJSON *root, uint64_t data_len, Err *e) {
    int n = cJSON_GetArraySize(root), ns = 0;
    Span *sp = xcalloc((size_t)n + 1, sizeof *sp);
    int rc = 0;
    uint64_t covered = 0; /* the end of the last tensor */
    for (const cJSON *t = root->child; t && !rc; t = t->next) {
        if (!strcmp(t->string, "__metadata__")) continue;
        if (!cJSON_IsObject(t)) {
            rc = err_set(e, "%s: tensor %s: entry is not an object", path, t->string);
            break;
        }
        const cJSON *dt = cJSON_GetObjectItemCaseSensitive(t, "dtype");
        const cJSON *sh = cJSON_GetObjectItemCaseSensitive(t, "shape");
        const cJSON *of = cJSON_GetObjectItemCaseSensitive(t, "data_offsets");
        /* PyTorch's BN step counter (int64, not a parameter): allowed, ignored */
        int counter = cJSON_IsString(dt) && !strcmp(dt->valuestring, "I64") &&
                      is_batch_counter(t->string);
        if (!cJSON_IsString(dt)) {
            rc = err_set(e, "%s: tensor %s: no dtype", path, t->string);
        } else if (strcmp(dt->valuestring, "F32") != 0 && !counter) {
            rc = err_set(e, "%s: tensor %s: dtype %.32s not supported (F32 only)", path,
                         t->string, dt->valuestring);
        } else if (!cJSON_IsArray(sh) || cJSON_GetArraySize(sh) > 8) {
            rc = err_set(e, "%s: tensor %s: bad shape", path, t->string);
        } else if (!cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2) {
            rc = err_set(e, "%s: tensor %s: data_offsets is not [begin, end]", path, t->string);
        } else {
            uint64_t count = 1, b, en;
            for (const cJSON *d = sh->child; d && !rc; d = d->next) {
                uint64_t v;
                if (json_u64(d, &v) || (v && count > UINT64_MAX / 8 / v))
                    rc = err_set(e, "%s: tensor %s: bad shape", path, t->string);
                else count *= v;
            }
            if (rc) break;
            if (json_u64(of->child, &b) || json_u64(of->child->next, &en))
                rc = err_set(e, "%s: tensor %s: data_offsets are not byte offsets", path,
                             t->string);
            else if (en < b)
                rc = err_set(e, "%s: tensor %s: data_offsets [%" PRIu64 ", %" PRIu64
                             "] end before they begin", path, t->string, b, en);
            else if (en > data_len)
                rc = err_set(e, "%s: tensor %s: data_offsets [%" PRIu64 ", %" PRIu64
                             "] outside the file's %" PRIu64 " data bytes", path, t->string, b,
                             en, data_len);
            else if (en - b != count * (counter ? 8 : 4))
                rc = err_set(e, "%s: tensor %s: %" PRIu64 " bytes for %" PRIu64 " %s", path,
                             t->string, en - b, count, counter ? "int64s" : "floats");
            else
                sp[ns++] = (Span){t->string, b, en}, covered = en > covered ? en : covered;
        }
    }
    if (!rc) {
        qsort(sp, (size_t)ns, sizeof *sp, span_cmp);
        for (int i = 1; i < ns && !rc; i++)
            if (sp[i].begin < sp[i - 1].end)
                rc = err_set(e, "%s: tensors %s and %s overlap", path, sp[i - 1].name, sp[i].name);
    }
    /* safetensors: the data section is exactly the tensors; a file larger
     * than its header's tensors is not one we wrote. */
    if (!rc && data_len > covered)
        rc = err_set(e, "%s: %" PRIu64 " bytes of data, but the header's tensors end at byte %"
                     PRIu64 ": the file is larger than its tensors", path, data_len, covered);
    free(sp);
    return rc;
}

/* Reads tensor `name` (already range-checked) into dst in our layout, after
 * checking its shape against d and that every value is finite. */
static const char FOREIGN_HINT[] =
    " (no __metadata__ names its network, as in a PyTorch state_dict: --arch names it)";

static int read_tensor(const char *path, const cJSON *root, const uint8_t *data,
                       const char *name, const TensorDesc *d, float *dst, float *tmp,
                       int foreign, Err *e) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!t) return err_set(e, "%s: missing tensor %s%s", path, name, foreign ? FOREIGN_HINT : "");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(t, "shape");
    int ok = cJSON_GetArraySize(sh) == d->ndim;
    int j = 0;
    for (const cJSON *s = sh->child; ok && s; s = s->next, j++) ok = s->valuedouble == (double)d->shape[j];
    if (!ok) {
        char want[96] = "", got[96] = "";
        size_t w = 0, g = 0;
        for (j = 0; j < d->ndim; j++)
            w += (size_t)snprintf(want + w, sizeof want - w, "%s%" PRId64, j ? ", " : "", d->shape[j]);
        j = 0;
        for (const cJSON *s = sh->child; s && g < sizeof got - 24; s = s->next, j++)
            g += (size_t)snprintf(got + g, sizeof got - g, "%s%.0f", j ? ", " : "", s->valuedouble);
        return err_set(e, "%s: tensor %s: shape [%s] does not match the network's [%s]%s", path,
                       name, got, want, foreign ? FOREIGN_HINT : "");
    }
    uint64_t b = (uint64_t)cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(t, "data_offsets"), 0)->valuedouble;
    memcpy(tmp, data + b, d->n * sizeof(float));
    for (size_t i = 0; i < d->n; i++)
        if (!isfinite(tmp[i]))
            return err_set(e, "%s: tensor %s: value %zu is not finite (%g)", path, name, i,
                           (double)tmp[i]);
    convert(d, dst, tmp, 0);
    return 0;
}

static int parse_rng(const char *s, Rng *out) {
    Rng r;
    char *end;
    for (int i = 0; i < 4; i++) {
        if (i && *s++ != ',') return -1;
        r.s[i] = strtoull(s, &end, 16);
        if (end == s) return -1;
        s = end;
    }
    if (*s || !(r.s[0] | r.s[1] | r.s[2] | r.s[3])) return -1;
    *out = r;
    return 0;
}

static int parse_float(const char *s, float *out) {
    char *end;
    if (!s || !*s) return -1;
    double v = strtod(s, &end);
    if (*end || !isfinite(v)) return -1;
    *out = (float)v;
    return 0;
}

int checkpoint_load(const char *path, Net *net, Adam *opt, Rng *rng, CheckpointMeta *meta,
                    Err *e) {
    uint8_t *file;
    size_t len;
    /* The largest file this net can load: the longest header we accept and
     * every tensor with Adam's two moments. Anything larger (a sparse 100 GB
     * file) is refused before it is read, a device or FIFO before it is
     * opened for reading (/dev/zero would never end). */
    uint64_t max_file = 8 + (uint64_t)MAX_HEADER_BYTES +
                        4 * (3 * (uint64_t)net->n_params + (uint64_t)net->n_state);
    char what[96];
    snprintf(what, sizeof what, "a %s checkpoint", net->arch);
    if (file_read_max(path, max_file, what, &file, &len, e)) return -1;
    int rc = 0;
    cJSON *root = NULL;
    TensorDesc *td = NULL;
    float *params = NULL, *state = NULL, *m = NULL, *v = NULL, *tmp = NULL;
    uint64_t hlen = 0;
    CheckpointMeta cm;
    Adam ad;
    Rng r = {{0}};
    char *end;
    int nt, foreign = 0;
    memset(&cm, 0, sizeof cm);
    memset(&ad, 0, sizeof ad);
    if (len < 8) {
        rc = err_set(e, "%s: %zu bytes: too short for a safetensors file", path, len);
        goto done;
    }
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)file[i] << (8 * i);
    if (hlen > MAX_HEADER_BYTES) {
        rc = err_set(e, "%s: header length %" PRIu64 " is absurd (over %u bytes)", path, hlen,
                     MAX_HEADER_BYTES);
        goto done;
    }
    if (hlen > len - 8) {
        rc = err_set(e, "%s: header length %" PRIu64 " is larger than the file (%zu bytes)", path,
                     hlen, len);
        goto done;
    }
    root = cJSON_ParseWithLength((const char *)file + 8, (size_t)hlen);
    if (!root || !cJSON_IsObject(root)) {
        rc = err_set(e, "%s: the header is not a JSON object", path);
        goto done;
    }
    const uint8_t *data = file + 8 + hlen;
    if (check_entries(path, root, (uint64_t)(len - 8 - hlen), e)) {
        rc = -1;
        goto done;
    }
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(root, "__metadata__");
    if (md && !cJSON_IsObject(md)) {
        rc = err_set(e, "%s: __metadata__ is not an object", path);
        goto done;
    }
    /* No arch in the metadata: a state_dict written by another program
     * (PyTorch's safetensors): its tensor names and shapes must be the
     * net's, and it holds weights only. */
    foreign = !md || !meta_str(md, "arch");
    if (foreign) {
        snprintf(cm.arch, sizeof cm.arch, "%s", net->arch);
        snprintf(cm.extra, sizeof cm.extra, "%s", "");
        nt = net_tensors(net, &td);
        for (const cJSON *t = root->child; t; t = t->next) {
            if (!strcmp(t->string, "__metadata__") || is_batch_counter(t->string)) continue;
            int k = 0;
            while (k < nt && strcmp(td[k].name, t->string)) k++;
            if (k == nt) {
                rc = err_set(e, "%s: tensor %s is not in the %s network%s", path, t->string,
                             net->arch, FOREIGN_HINT);
                goto done;
            }
        }
        free(td);
        td = NULL;
        goto tensors;
    }
    const char *fv = meta_str(md, "format_version"), *arch = meta_str(md, "arch");
    if (!fv || atoi(fv) < 1 || atoi(fv) > CHECKPOINT_FORMAT_VERSION) {
        rc = err_set(e, "%s: format_version %s not supported (this build reads 1..%d)", path,
                     fv ? fv : "(missing)", CHECKPOINT_FORMAT_VERSION);
        goto done;
    }
    if (!arch || strcmp(arch, net->arch) != 0) {
        rc = err_set(e, "%s: architecture '%s', expected '%s'", path, arch ? arch : "(missing)",
                     net->arch);
        goto done;
    }
    snprintf(cm.arch, sizeof cm.arch, "%s", arch);
    const char *ep = meta_str(md, "epoch"), *sd = meta_str(md, "seed"), *ex = meta_str(md, "extra");
    long epv = ep ? strtol(ep, &end, 10) : -1;
    if (!ep || *end || epv < 0 || epv > 1000000000) {
        rc = err_set(e, "%s: metadata epoch '%s' is not a count", path, ep ? ep : "(missing)");
        goto done;
    }
    cm.epoch = (int)epv;
    cm.seed = sd ? strtoull(sd, &end, 10) : 0;
    if (!sd || *end) {
        rc = err_set(e, "%s: metadata seed '%s' is not a number", path, sd ? sd : "(missing)");
        goto done;
    }
    if (ex && strlen(ex) >= sizeof cm.extra) {
        rc = err_set(e, "%s: metadata extra is longer than %zu bytes", path, sizeof cm.extra - 1);
        goto done;
    }
    snprintf(cm.extra, sizeof cm.extra, "%s", ex ? ex : "");

tensors:
    nt = net_tensors(net, &td);
    size_t maxn = 1;
    for (int i = 0; i < nt; i++)
        if (td[i].n > maxn) maxn = td[i].n;
    tmp = xalloc_floats(maxn);
    params = xalloc_floats(net->n_params + 1);
    state = xalloc_floats(net->n_state + 1);
    for (int i = 0; i < nt && !rc; i++)
        rc = read_tensor(path, root, data, td[i].name,
                         &td[i], (td[i].is_state ? state : params) + td[i].off, tmp, foreign, e);
    if (rc) goto done;
    if (opt) {
        if (opt->n != net->n_params) {
            rc = err_set(e, "%s: optimiser has %zu values, the network %zu", path, opt->n,
                         net->n_params);
            goto done;
        }
        const char *st = foreign ? NULL : meta_str(md, "optim.step");
        long long t = st ? strtoll(st, &end, 10) : -1;
        if (!st || *end || t < 0) {
            rc = err_set(e, "%s: no optimiser state (optim.step) in this checkpoint", path);
            goto done;
        }
        ad.t = t;
        if (parse_float(meta_str(md, "optim.lr"), &ad.lr) ||
            parse_float(meta_str(md, "optim.beta1"), &ad.beta1) ||
            parse_float(meta_str(md, "optim.beta2"), &ad.beta2) ||
            parse_float(meta_str(md, "optim.eps"), &ad.eps)) {
            rc = err_set(e, "%s: optimiser hyper-parameters missing or not numbers", path);
            goto done;
        }
        m = xalloc_floats(net->n_params + 1);
        v = xalloc_floats(net->n_params + 1);
        char name[128];
        for (int i = 0; i < nt && !rc; i++) {
            if (td[i].is_state) continue;
            snprintf(name, sizeof name, "optim.m.%s", td[i].name);
            rc = read_tensor(path, root, data, name, &td[i], m + td[i].off, tmp, 0, e);
            if (rc) break;
            snprintf(name, sizeof name, "optim.v.%s", td[i].name);
            rc = read_tensor(path, root, data, name, &td[i], v + td[i].off, tmp, 0, e);
        }
        if (rc) goto done;
    }
    if (rng) {
        const char *rs = foreign ? NULL : meta_str(md, "rng");
        if (!rs || parse_rng(rs, &r)) {
            rc = err_set(e, "%s: no valid RNG state (rng) in this checkpoint", path);
            goto done;
        }
    }
    /* Everything checked: commit. */
    memcpy(net->params, params, net->n_params * sizeof(float));
    memcpy(net->state, state, net->n_state * sizeof(float));
    if (opt) {
        memcpy(opt->m, m, net->n_params * sizeof(float));
        memcpy(opt->v, v, net->n_params * sizeof(float));
        opt->t = ad.t, opt->lr = ad.lr, opt->beta1 = ad.beta1, opt->beta2 = ad.beta2;
        opt->eps = ad.eps;
    }
    if (rng) *rng = r;
    if (meta) *meta = cm;
done:
    cJSON_Delete(root);
    free(td), free(params), free(state), free(m), free(v), free(tmp);
    free(file);
    return rc;
}
