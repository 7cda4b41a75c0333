/* json_util.c - see json_util.h. */
#include "json_util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int json_write_file(const char *path, const cJSON *o, Err *e) {
    char *text = cJSON_Print(o);
    if (!text) return err_set(e, "%s: cannot format the JSON (out of memory)", path);
    size_t len = strlen(text);
    char *file = xmalloc(len + 2);
    memcpy(file, text, len);
    file[len] = '\n'; /* a text file ends with a newline */
    file[len + 1] = 0;
    cJSON_free(text);
    int rc = file_write_atomic(path, file, len + 1, e);
    free(file);
    return rc;
}

static const cJSON *member(const cJSON *o, const char *key) {
    return o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
}

int json_get_number(const cJSON *o, const char *key, double *out) {
    const cJSON *v = member(o, key);
    if (!cJSON_IsNumber(v)) return -1;
    *out = v->valuedouble;
    return 0;
}

int json_get_number_or_null(const cJSON *o, const char *key, double *out) {
    const cJSON *v = member(o, key);
    if (cJSON_IsNull(v)) {
        *out = NAN;
        return 0;
    }
    return json_get_number(o, key, out);
}

int json_get_int(const cJSON *o, const char *key, int *out) {
    const cJSON *v = member(o, key);
    if (!cJSON_IsNumber(v)) return -1;
    *out = v->valueint;
    return 0;
}

int json_get_string(const cJSON *o, const char *key, char *buf, size_t len) {
    const cJSON *v = member(o, key);
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= len) return -1;
    memcpy(buf, v->valuestring, strlen(v->valuestring) + 1);
    return 0;
}

int json_get_u64_string(const cJSON *o, const char *key, uint64_t *out) {
    const cJSON *v = member(o, key);
    if (!cJSON_IsString(v)) return -1;
    const char *s = v->valuestring;
    if (*s < '0' || *s > '9') return -1; /* strtoull would take "-1" or " 1" */
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (*end || errno) return -1;
    *out = (uint64_t)x;
    return 0;
}
