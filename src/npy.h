/* npy.h - NumPy .npy files (format version 1.0), written by hand: the magic
 * "\x93NUMPY", version 1.0, a little-endian uint16 header length, a Python
 * dict literal {'descr': ..., 'fortran_order': False, 'shape': (...), }
 * padded with spaces and a newline so that the data starts at a multiple of
 * 64 bytes, then the data, little-endian, C order. The header is the one
 * numpy 1.24's numpy.save writes for the same array (byte for byte, checked
 * against fixtures it made: tools/make_npy_fixtures.py), so numpy.load reads
 * the files as they are. */
#ifndef AUGPROBE_NPY_H
#define AUGPROBE_NPY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common.h"

typedef enum NpyType {
    NPY_F32, /* '<f4' */
    NPY_I64, /* '<i8' */
} NpyType;

#define NPY_MAX_DIMS 8

/* Writes the header of an array of type t and shape[0..ndim) to f (ndim 0..8).
 * Returns 0, or -1 on a write error or a bad shape. */
int npy_write_header(FILE *f, NpyType t, const size_t *shape, int ndim);
/* Writes n values of type t (host order) to f little-endian. 0 or -1. */
int npy_write_data(FILE *f, NpyType t, const void *data, size_t n);
/* A whole array to path, atomically (temp file + rename). */
int npy_save(const char *path, NpyType t, const void *data, const size_t *shape, int ndim, Err *e);
/* labels (uint8) as an int64 array [n], atomically. */
int npy_save_labels(const char *path, const uint8_t *labels, size_t n, Err *e);

/* The labels file that goes with a features file: "x.npy" -> "x.labels.npy",
 * any other name -> name + ".labels.npy". A new string. */
char *npy_labels_path(const char *path);

#endif
