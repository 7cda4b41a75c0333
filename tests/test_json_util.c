/* test_json_util.c - shortest round-trip floats (common.h's float_text,
 * float_tidy) against numpy's shortest-unique digits, and the JSON helpers
 * of json_util.h: the written file, and every typed read refusing what is
 * not its type. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/json_util.h"
#include "../src/rng.h"
#include "test.h"

#define CHECK_STR_EQ(got, want)                                                        \
    do {                                                                               \
        const char *g_ = (got), *w_ = (want);                                          \
        if (strcmp(g_, w_)) test_fail(__FILE__, __LINE__, "\"%s\", want \"%s\"", g_, w_); \
    } while (0)

static float from_bits(uint32_t b) {
    float v;
    memcpy(&v, &b, sizeof v);
    return v;
}

static uint32_t bits_of(float v) {
    uint32_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

/* Significant digits of a decimal text ("-1.2621775e-29" -> 8, "0.05" -> 1). */
static int sig_digits(const char *s) {
    int n = 0, lead = 1, trailing_zeros = 0;
    for (; *s && *s != 'e' && *s != 'E'; s++) {
        if (*s < '0' || *s > '9') continue;
        if (lead && *s == '0') continue;
        lead = 0;
        n++;
        trailing_zeros = *s == '0' ? trailing_zeros + 1 : 0;
    }
    return n - trailing_zeros > 0 ? n - trailing_zeros : 1;
}

/* numpy.format_float_scientific(np.float32(v), unique=True): the shortest
 * digits that round-trip (tools: numpy 1.x). The first rows are the brief's
 * cases; 0x0f800000 etc. are powers of two where the correctly rounded
 * 8-digit text does not round-trip but its neighbour does. */
static const struct {
    uint32_t bits;
    const char *numpy;
} SHORTEST[] = {
    {0x3dcccccdu, "1.e-01"},        {0x00000001u, "1.e-45"},        {0x80000000u, "-0.e+00"},
    {0x00000000u, "0.e+00"},        {0x7f7fffffu, "3.4028235e+38"}, {0x00800000u, "1.1754944e-38"},
    {0x007fffffu, "1.1754942e-38"}, {0x4b800000u, "1.6777216e+07"}, {0x3a83126fu, "1.e-03"},
    {0x3727c5acu, "1.e-05"},        {0x41a00000u, "2.e+01"},        {0x3f19999au, "6.e-01"},
    {0x3d4ccccdu, "5.e-02"},        {0x3eaaaaabu, "3.3333334e-01"}, {0xc0200000u, "-2.5e+00"},
    {0x4ceb79a3u, "1.2345679e+08"}, {0x00000005u, "7.e-45"},        {0x0f800000u, "1.2621775e-29"},
    {0x6b000000u, "1.5474251e+26"}, {0x6c800000u, "1.2379401e+27"}, {0x501502f9u, "1.e+10"},
    {0x8da24260u, "-1.e-30"},       {0x3e99999au, "3.e-01"},        {0x322bcc76u, "9.999999e-09"},
    {0x00400000u, "5.877472e-39"},  {0x80000001u, "-1.e-45"},       {0x52e6b438u, "4.9543302e+11"},
    {0xf2a74de4u, "-6.6276046e+30"}, {0x269e0d37u, "1.0967034e-15"}, {0x6513270eu, "4.343177e+22"},
    {0xa6a3a450u, "-1.1354934e-15"}, {0x0c5c7fd0u, "1.6986646e-31"}, {0x128b2f33u, "8.783769e-28"},
    {0xd23f0824u, "-2.0511883e+11"}, {0x892f902bu, "-2.1132646e-33"}, {0x1818e811u, "1.9762703e-24"},
    {0x5d9dc9f8u, "1.4212364e+18"}, {0x9531985du, "-3.586506e-26"}, {0x0ed90475u, "5.3498922e-30"},
    {0xe8e25d94u, "-8.5518483e+24"}, {0x81e74ef5u, "-8.4969296e-38"}, {0x36f675ccu, "7.3450847e-06"},
    {0x099950d8u, "3.6909435e-33"}, {0x1600a35au, "1.0391302e-25"}, {0x6f03675au, "4.066748e+28"},
    {0x6b0d549bu, "1.7085808e+26"}, {0x11e20b8fu, "3.5663636e-28"}, {0x3d9c1724u, "7.621601e-02"},
    {0x1738f7d9u, "5.9766434e-25"}, {0x8d116eceu, "-4.481495e-31"}, {0x6cad4a26u, "1.6759546e+27"},
    {0x0f21ddb6u, "7.980613e-30"},  {0xd3ac94afu, "-1.4824577e+12"}, {0x90c192cfu, "-7.635127e-29"},
    {0x1fb17c23u, "7.516778e-20"},  {0xf28c105du, "-5.5485035e+30"}, {0x39263059u, "1.5849005e-04"},
};

TEST(float_text_is_the_shortest_round_trip_as_numpy) {
    char buf[32];
    for (size_t i = 0; i < sizeof SHORTEST / sizeof SHORTEST[0]; i++) {
        float v = from_bits(SHORTEST[i].bits);
        float_text(buf, sizeof buf, v, 0);
        if (bits_of(strtof(buf, NULL)) != SHORTEST[i].bits ||
            sig_digits(buf) != sig_digits(SHORTEST[i].numpy) ||
            strtod(buf, NULL) != strtod(SHORTEST[i].numpy, NULL))
            test_fail(__FILE__, __LINE__, "0x%08x: \"%s\", numpy \"%s\"",
                      (unsigned)SHORTEST[i].bits, buf, SHORTEST[i].numpy);
    }
    /* the texts themselves, where callers show them */
    CHECK_STR_EQ(float_text(buf, sizeof buf, 0.1f, 0), "0.1");
    CHECK_STR_EQ(float_text(buf, sizeof buf, 1e-45f, 0), "1e-45");
    CHECK_STR_EQ(float_text(buf, sizeof buf, -0.0f, 0), "-0");
    CHECK_STR_EQ(float_text(buf, sizeof buf, 3.4028235e38f, 0), "3.4028235e+38");
    CHECK_STR_EQ(float_text(buf, sizeof buf, from_bits(0x0f800000u), 0), "1.2621775e-29");
    CHECK_STR_EQ(float_text(buf, sizeof buf, 20.0f, 0), "2e+01");
    CHECK_STR_EQ(float_text(buf, sizeof buf, 20.0f, 1), "20"); /* plain: no exponent */
    CHECK_STR_EQ(float_text(buf, sizeof buf, 1e-5f, 1), "1e-05"); /* none plain in 9 digits */
    CHECK_STR_EQ(float_text(buf, sizeof buf, 16777216.0f, 1), "16777216");
    CHECK_STR_EQ(float_text(buf, sizeof buf, NAN, 0), "nan");
    CHECK_STR_EQ(float_text(buf, sizeof buf, -INFINITY, 0), "-inf");
    /* float_tidy: the double of that decimal, for JSON writers */
    CHECK(float_tidy(0.6f) == 0.6 && float_tidy(0.001f) == 0.001 && float_tidy(0.05f) == 0.05);
    CHECK(float_tidy(-0.0f) == 0.0 && signbit(float_tidy(-0.0f)));
    CHECK(float_tidy(1e-45f) == 1e-45);
}

/* Every finite float of a random sample (subnormals, both signs, every
 * exponent) reads back to its bits, in at most 9 digits. */
TEST(float_text_round_trips_a_sweep_of_floats) {
    Rng r = rng_stream(17, 1);
    char buf[32];
    int bad = 0, plain_bad = 0;
    for (int i = 0; i < 200000; i++) {
        uint32_t b = (uint32_t)rng_u64(&r);
        if (i < 4096) /* half subnormal, half of the three smallest exponents */
            b = (b & 0x807fffffu) | (uint32_t)(i % 2 ? 0 : (i / 2 % 4) << 23);
        float v = from_bits(b);
        if (!isfinite(v)) continue;
        float_text(buf, sizeof buf, v, 0);
        bad += bits_of(strtof(buf, NULL)) != b || sig_digits(buf) > 9;
        float_text(buf, sizeof buf, v, 1);
        plain_bad += bits_of(strtof(buf, NULL)) != b;
    }
    CHECK_INT_EQ(bad, 0);
    CHECK_INT_EQ(plain_bad, 0);
}

TEST(json_helpers_write_a_text_file_and_read_only_their_type) {
    char path[600];
    snprintf(path, sizeof path, "%s/j.json", test_tmpdir());
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "n", 2.5);
    cJSON_AddNumberToObject(o, "i", 7);
    cJSON_AddNumberToObject(o, "big", 1e12);
    cJSON_AddNullToObject(o, "z");
    cJSON_AddStringToObject(o, "s", "abc");
    cJSON_AddStringToObject(o, "u", "18446744073709551615");
    cJSON_AddStringToObject(o, "neg", "-1");
    cJSON_AddNumberToObject(o, "lr", float_tidy(0.001f));
    Err e;
    REQUIRE(json_write_file(path, o, &e) == 0);
    cJSON_Delete(o);
    uint8_t *text = NULL;
    size_t len = 0;
    REQUIRE(file_read_all(path, &text, &len, &e) == 0);
    CHECK(len > 2 && text[len - 1] == '\n' && text[len - 2] == '}');
    CHECK_STR_CONTAINS((char *)text, "\"lr\":\t0.001\n");
    o = cJSON_Parse((char *)text);
    free(text);
    REQUIRE(o);
    double d = 0;
    int i = 0;
    char s[4];
    uint64_t u = 0;
    CHECK(json_get_number(o, "n", &d) == 0 && d == 2.5);
    CHECK(json_get_number(o, "s", &d) == -1 && json_get_number(o, "gone", &d) == -1);
    CHECK(json_get_number(o, "z", &d) == -1);
    CHECK(json_get_number_or_null(o, "z", &d) == 0 && isnan(d));
    CHECK(json_get_number_or_null(o, "s", &d) == -1);
    CHECK(json_get_int(o, "i", &i) == 0 && i == 7);
    CHECK(json_get_int(o, "big", &i) == 0 && i == 2147483647); /* saturates */
    CHECK(json_get_int(o, "s", &i) == -1);
    CHECK(json_get_string(o, "s", s, sizeof s) == 0 && !strcmp(s, "abc"));
    CHECK(json_get_string(o, "s", s, 3) == -1); /* "abc" and its NUL need 4 */
    CHECK(json_get_string(o, "n", s, sizeof s) == -1);
    CHECK(json_get_u64_string(o, "u", &u) == 0 && u == UINT64_MAX);
    CHECK(json_get_u64_string(o, "neg", &u) == -1);
    CHECK(json_get_u64_string(o, "s", &u) == -1 && json_get_u64_string(o, "i", &u) == -1);
    CHECK(json_get_number(NULL, "n", &d) == -1);
    cJSON_Delete(o);
    cJSON *empty = cJSON_CreateObject();
    CHECK(json_write_file("/nonexistent-dir/x.json", empty, &e) == -1);
    CHECK_STR_CONTAINS(e.msg, "/nonexistent-dir");
    cJSON_Delete(empty);
}
