/* feature_export.c - features out to NumPy (see feature_export.h). */
#include "feature_export.h"

#include <stdlib.h>
#include <string.h>

#include "npy.h"
#include "rng.h"

uint64_t features_aug_stream(int split) {
    /* cmd_augment.c's stream_of(split) */
    return rng_mix(RNG_TAG_AUGMENT, 1000u + (unsigned)split);
}

int features_write(Net *trunk, const ImageSet *set, int n, int layer_index, ProbePool pool,
                   const AugSpec *spec, uint64_t seed, uint64_t stream, const char *path,
                   int *dim_out, Err *e) {
    if (n < 1 || n > set->n)
        return err_set(e, "features: %d images asked of a split of %d", n, set->n);
    if (layer_index < 0 || layer_index >= trunk->n_layers)
        return err_set(e, "features: no layer %d", layer_index);
    size_t dim = probe_tap_dim(trunk, layer_index, pool);
    if (dim_out) *dim_out = (int)dim;
    const Layer *ly = &trunk->layers[layer_index];
    char *labels_path = npy_labels_path(path);
    AtomicFile feats, labels;
    memset(&labels, 0, sizeof labels);
    if (atomic_open(&feats, path, e)) {
        free(labels_path);
        return -1;
    }
    if (atomic_open(&labels, labels_path, e)) {
        atomic_abort(&feats);
        free(labels_path);
        return -1;
    }
    free(labels_path);
    size_t shape[2] = {(size_t)n, dim};
    int rc = 0;
    if (npy_write_header(feats.f, NPY_F32, shape, 2) ||
        npy_write_header(labels.f, NPY_I64, shape, 1))
        rc = err_set(e, "%s: write failed", path);
    int B = trunk->max_batch;
    AugParams *params = xmalloc(sizeof(AugParams) * (size_t)B);
    int *idx = xmalloc(sizeof(int) * (size_t)B);
    float *out = xalloc_floats(dim * (size_t)B);
    int64_t *lab = xmalloc(sizeof(int64_t) * (size_t)B);
    if (rc == 0) rc = net_attach_images(trunk, set->images, set->n, e);
    for (int start = 0; start < n && rc == 0; start += B) {
        int nb = n - start < B ? n - start : B;
        for (int j = 0; j < nb; j++) idx[j] = start + j;
        aug_draw_batch(spec, idx, nb, seed, stream, params);
        const float *act = net_forward_images(trunk, set->images, idx, params, nb, 0, NULL, layer_index);
        if (act) act = net_layer_out(trunk, layer_index, nb);
        if (!act) {
            rc = err_set(e, "features: %s", net_error(trunk));
            break;
        }
        probe_tap_vectors(ly, act, nb, pool, out, trunk->kctx.threads);
        for (int j = 0; j < nb; j++) lab[j] = set->labels[start + j];
        if (npy_write_data(feats.f, NPY_F32, out, dim * (size_t)nb) ||
            npy_write_data(labels.f, NPY_I64, lab, (size_t)nb))
            rc = err_set(e, "%s: write failed", path);
    }
    free(params);
    free(idx);
    free(out);
    free(lab);
    if (rc) {
        atomic_abort(&feats);
        atomic_abort(&labels);
        return -1;
    }
    if (atomic_commit(&feats, e)) {
        atomic_abort(&labels);
        return -1;
    }
    return atomic_commit(&labels, e);
}

int features_keep(const char *dir, const char *split, const ProbeFeatures *f,
                  const uint8_t *labels, const float *levels, Err *e) {
    if (mkdir_p(dir, e)) return -1;
    char name[96];
    snprintf(name, sizeof name, "%s.npy", split);
    char *path = path_join(dir, name);
    size_t shape[3] = {(size_t)f->n_levels, (size_t)f->n_images, (size_t)f->dim};
    int rc = npy_save(path, NPY_F32, f->x, shape, 3, e);
    if (rc == 0) {
        char *lp = npy_labels_path(path);
        rc = npy_save_labels(lp, labels, (size_t)f->n_images, e);
        free(lp);
    }
    free(path);
    if (rc == 0) {
        path = path_join(dir, "levels.npy");
        size_t nl = (size_t)f->n_levels;
        rc = npy_save(path, NPY_F32, levels, &nl, 1, e);
        free(path);
    }
    return rc;
}
