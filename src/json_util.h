/* json_util.h - the JSON chores every writer and reader of our files
 * shares, on cJSON: a document written atomically as a text file, and
 * typed reads of one member that fail (-1) rather than guess. Floats are
 * written as their shortest round-trip decimal: float_tidy (common.h).
 * Kept free of cJSON's header (struct cJSON is declared, not defined). */
#ifndef AUGPROBE_JSON_UTIL_H
#define AUGPROBE_JSON_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct cJSON;

/* o, pretty-printed and ending with a newline, written atomically
 * (file_write_atomic) to path. */
int json_write_file(const char *path, const struct cJSON *o, Err *e);

/* Member key of object o (o may be NULL: every read then fails). */
/* a number */
int json_get_number(const struct cJSON *o, const char *key, double *out);
/* a number, or null (read as NAN) */
int json_get_number_or_null(const struct cJSON *o, const char *key, double *out);
/* a number, as an int (cJSON's valueint: out-of-range values saturate) */
int json_get_int(const struct cJSON *o, const char *key, int *out);
/* a string that fits buf (len bytes with its NUL) */
int json_get_string(const struct cJSON *o, const char *key, char *buf, size_t len);
/* a uint64 written as a decimal string ("18446744073709551615"): JSON
 * numbers lose integers above 2^53 */
int json_get_u64_string(const struct cJSON *o, const char *key, uint64_t *out);

#endif
