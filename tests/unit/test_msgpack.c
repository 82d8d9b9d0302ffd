/* MessagePack codec: type mapping, every width, rejections, hostile input, limits. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "patchwire/codec.h"

#define B(...) ((const uint8_t[]){__VA_ARGS__}), sizeof((const uint8_t[]){__VA_ARGS__})

static pw_limits limits(size_t input, uint32_t depth, size_t string)
{
    pw_limits l = {.max_input_bytes = input, .max_depth = depth, .max_string_bytes = string};
    return l;
}

/* Decodes and expects success. */
static pw_value dec_ok(const uint8_t *p, size_t n)
{
    pw_value v;
    pw_error e;
    pw_err rc = pw_codec_msgpack.decode(p, n, NULL, &v, &e);
    cr_assert_eq(rc, PW_OK, "decode failed: %d %s", rc, rc ? e.msg : "");
    return v;
}

/* Decodes and expects the failure `code` at byte `offset`; checks that *out is null. */
static void dec_fail(const uint8_t *p, size_t n, const pw_limits *lim, pw_err code, size_t offset,
                     const char *words)
{
    pw_value v = pw_int(7);
    pw_error e;
    pw_err rc = pw_codec_msgpack.decode(p, n, lim, &v, &e);
    cr_assert_eq(rc, code, "expected %d, got %d (%s)", code, rc, rc ? e.msg : "ok");
    cr_assert_eq(e.code, code);
    cr_assert_eq(e.offset, offset, "offset %zu, expected %zu (%s)", e.offset, offset, e.msg);
    cr_assert_eq(pw_value_kind(&v), PW_NULL);
    if (words)
        cr_assert(strstr(e.msg, words), "message \"%s\" lacks \"%s\"", e.msg, words);
}

static void enc(const pw_value *v, pw_buf *b)
{
    pw_buf_init(b);
    cr_assert_eq(pw_codec_msgpack.encode(v, b, NULL), PW_OK);
}

static void enc_expect(pw_value v, const uint8_t *want, size_t n)
{
    pw_buf b;
    enc(&v, &b);
    cr_assert_eq(b.len, n, "encoded %zu bytes, expected %zu", b.len, n);
    cr_assert_eq(memcmp(b.data, want, n), 0, "encoded bytes differ");
    pw_buf_free(&b);
    pw_value_release(&v);
}

static pw_value str(const char *s)
{
    pw_value v;
    cr_assert_eq(pw_string_cstr(&v, s), PW_OK);
    return v;
}

static pw_value roundtrip(const pw_value *v)
{
    pw_buf b;
    enc(v, &b);
    pw_value back = dec_ok(b.data, b.len);
    pw_buf_free(&b);
    return back;
}

/* ---------------------------------------------------------------- scalars */

Test(msgpack, nil_and_booleans_map_to_null_and_bool)
{
    pw_value v = dec_ok(B(0xc0));
    cr_assert_eq(pw_value_kind(&v), PW_NULL);
    v = dec_ok(B(0xc2));
    cr_assert_eq(pw_value_kind(&v), PW_BOOL);
    cr_assert_not(pw_value_bool(&v));
    v = dec_ok(B(0xc3));
    cr_assert(pw_value_bool(&v));
    enc_expect(pw_null(), B(0xc0));
    enc_expect(pw_bool(false), B(0xc2));
    enc_expect(pw_bool(true), B(0xc3));
}

static void int_case(int64_t i, const uint8_t *want, size_t n)
{
    enc_expect(pw_int(i), want, n);
    pw_value v = dec_ok(want, n);
    cr_assert_eq(pw_value_kind(&v), PW_INT, "kind of %lld", (long long)i);
    cr_assert_eq(pw_value_int(&v), i, "decoded %lld, expected %lld", (long long)pw_value_int(&v),
                 (long long)i);
}

Test(msgpack, integers_encode_in_smallest_form_at_every_boundary)
{
    int_case(0, B(0x00));
    int_case(127, B(0x7f));
    int_case(128, B(0xcc, 0x80));
    int_case(255, B(0xcc, 0xff));
    int_case(256, B(0xcd, 0x01, 0x00));
    int_case(65535, B(0xcd, 0xff, 0xff));
    int_case(65536, B(0xce, 0x00, 0x01, 0x00, 0x00));
    int_case(4294967295, B(0xce, 0xff, 0xff, 0xff, 0xff));
    int_case(4294967296, B(0xcf, 0, 0, 0, 1, 0, 0, 0, 0));
    int_case(INT64_MAX, B(0xcf, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff));
    int_case(-1, B(0xff));
    int_case(-32, B(0xe0));
    int_case(-33, B(0xd0, 0xdf));
    int_case(-128, B(0xd0, 0x80));
    int_case(-129, B(0xd1, 0xff, 0x7f));
    int_case(-32768, B(0xd1, 0x80, 0x00));
    int_case(-32769, B(0xd2, 0xff, 0xff, 0x7f, 0xff));
    int_case(INT32_MIN, B(0xd2, 0x80, 0x00, 0x00, 0x00));
    int_case((int64_t)INT32_MIN - 1, B(0xd3, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff));
    int_case(INT64_MIN, B(0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0));
}

static void int_dec(int64_t want, const uint8_t *p, size_t n)
{
    pw_value v = dec_ok(p, n);
    cr_assert_eq(pw_value_kind(&v), PW_INT);
    cr_assert_eq(pw_value_int(&v), want, "decoded %lld, expected %lld", (long long)pw_value_int(&v),
                 (long long)want);
}

Test(msgpack, integers_decode_from_every_width_even_when_not_minimal)
{
    int_dec(0, B(0xcc, 0x00));
    int_dec(5, B(0xcd, 0x00, 0x05));
    int_dec(5, B(0xce, 0, 0, 0, 5));
    int_dec(5, B(0xcf, 0, 0, 0, 0, 0, 0, 0, 5));
    int_dec(5, B(0xd0, 0x05));
    int_dec(-5, B(0xd1, 0xff, 0xfb));
    int_dec(-5, B(0xd2, 0xff, 0xff, 0xff, 0xfb));
    int_dec(-5, B(0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfb));
    int_dec(127, B(0xd0, 0x7f));
    int_dec(32767, B(0xd1, 0x7f, 0xff));
    int_dec(INT32_MAX, B(0xd2, 0x7f, 0xff, 0xff, 0xff));
    int_dec(-16, B(0xf0));
}

Test(msgpack, uint64_above_int64_max_becomes_a_double)
{
    pw_value v = dec_ok(B(0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0));
    cr_assert_eq(pw_value_kind(&v), PW_DOUBLE);
    cr_assert_eq(pw_value_number(&v), 9223372036854775808.0);
    v = dec_ok(B(0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff));
    cr_assert_eq(pw_value_kind(&v), PW_DOUBLE);
    cr_assert_eq(pw_value_number(&v), 18446744073709551615.0);
}

Test(msgpack, float32_and_float64_decode_to_double_and_doubles_encode_as_float64)
{
    pw_value v = dec_ok(B(0xca, 0x3f, 0xc0, 0x00, 0x00));
    cr_assert_eq(pw_value_kind(&v), PW_DOUBLE);
    cr_assert_eq(pw_value_number(&v), 1.5);
    v = dec_ok(B(0xca, 0x3d, 0xcc, 0xcc, 0xcd)); /* 0.1f: widened exactly, not rounded */
    cr_assert_eq(pw_value_number(&v), (double)0.1f);
    v = dec_ok(B(0xcb, 0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18));
    cr_assert_eq(pw_value_number(&v), 3.141592653589793);
    enc_expect(pw_double(1.5), B(0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0));
    enc_expect(pw_double(-0.0), B(0xcb, 0x80, 0, 0, 0, 0, 0, 0, 0));
    /* a double holding an integer stays a double on the wire */
    enc_expect(pw_double(2.0), B(0xcb, 0x40, 0, 0, 0, 0, 0, 0, 0));
    /* NaN and infinities have no JSON form: rejected so every peer agrees */
    dec_fail(B(0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0), NULL, PW_ETYPE, 0, "NaN");
    dec_fail(B(0xcb, 0xff, 0xf0, 0, 0, 0, 0, 0, 0), NULL, PW_ETYPE, 0, "infinite");
    dec_fail(B(0x91, 0xca, 0x7f, 0x80, 0, 0), NULL, PW_ETYPE, 1, "infinite");
}

/* ---------------------------------------------------------------- strings */

/* A string of n bytes in its msgpack form, with header `hdr` of `hn` bytes. */
static uint8_t *str_bytes(const uint8_t *hdr, size_t hn, size_t n, size_t *total)
{
    uint8_t *p = malloc(hn + n);
    cr_assert(p);
    memcpy(p, hdr, hn);
    for (size_t i = 0; i < n; i++)
        p[hn + i] = (uint8_t)('a' + i % 26);
    *total = hn + n;
    return p;
}

static void str_case(size_t n, const uint8_t *hdr, size_t hn)
{
    size_t total;
    uint8_t *want = str_bytes(hdr, hn, n, &total);
    pw_value s;
    cr_assert_eq(pw_string_new(&s, (const char *)want + hn, n), PW_OK);
    pw_buf b;
    enc(&s, &b);
    cr_assert_eq(b.len, total, "string of %zu encoded to %zu bytes", n, b.len);
    cr_assert_eq(memcmp(b.data, want, total), 0, "string of %zu bytes encoded wrong", n);
    pw_value back = dec_ok(want, total);
    cr_assert(pw_value_equal(&back, &s));
    pw_value_release(&back);
    pw_value_release(&s);
    pw_buf_free(&b);
    free(want);
}

Test(msgpack, strings_use_fixstr_str8_str16_str32_and_decode_from_each)
{
    str_case(0, B(0xa0));
    str_case(5, B(0xa5));
    str_case(31, B(0xbf));
    str_case(32, B(0xd9, 32));
    str_case(255, B(0xd9, 255));
    str_case(256, B(0xda, 0x01, 0x00));
    str_case(65535, B(0xda, 0xff, 0xff));
    str_case(65536, B(0xdb, 0x00, 0x01, 0x00, 0x00));
    /* non-minimal forms decode too */
    pw_value v = dec_ok(B(0xd9, 2, 'h', 'i'));
    cr_assert(pw_value_str_eq(&v, "hi", 2));
    v = dec_ok(B(0xda, 0, 2, 'h', 'i'));
    cr_assert(pw_value_str_eq(&v, "hi", 2));
    v = dec_ok(B(0xdb, 0, 0, 0, 2, 'h', 'i'));
    cr_assert(pw_value_str_eq(&v, "hi", 2));
}

Test(msgpack, strings_keep_nul_bytes)
{
    pw_value v = dec_ok(B(0xa3, 'a', 0, 'b'));
    cr_assert(pw_value_str_eq(&v, "a\0b", 3));
    enc_expect(v, B(0xa3, 'a', 0, 'b'));
}

Test(msgpack, valid_utf8_of_every_length_is_accepted)
{
    /* é, €, 😀, U+D7FF, U+E000, U+10FFFF, after 9 ASCII bytes (past the fast path) */
    const uint8_t p[] = {0xbe, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80, 0xed,
                         0x9f, 0xbf, 0xee, 0x80, 0x80, 0xf4, 0x8f, 0xbf, 0xbf, 'a',  'b',
                         'c',  'd',  'e',  'f',  'g',  'h',  'i',  0xc3, 0xa9};
    _Static_assert(sizeof p == 1 + 30, "length matches header");
    pw_value v = dec_ok(p, sizeof p);
    cr_assert(pw_value_str_eq(&v, (const char *)p + 1, sizeof p - 1));
    pw_value_release(&v);
}

Test(msgpack, invalid_utf8_is_rejected_with_its_offset)
{
    dec_fail(B(0xa2, 0xc0, 0x80), NULL, PW_ESYNTAX, 1, "UTF-8");             /* overlong 2 */
    dec_fail(B(0xa2, 0xc1, 0xbf), NULL, PW_ESYNTAX, 1, "UTF-8");             /* overlong 2 */
    dec_fail(B(0xa3, 0xe0, 0x80, 0x80), NULL, PW_ESYNTAX, 1, "UTF-8");       /* overlong 3 */
    dec_fail(B(0xa3, 0xe0, 0x9f, 0xbf), NULL, PW_ESYNTAX, 1, "UTF-8");       /* overlong 3 */
    dec_fail(B(0xa4, 0xf0, 0x8f, 0xbf, 0xbf), NULL, PW_ESYNTAX, 1, "UTF-8"); /* overlong 4 */
    dec_fail(B(0xa3, 0xed, 0xa0, 0x80), NULL, PW_ESYNTAX, 1, "UTF-8");       /* U+D800 */
    dec_fail(B(0xa3, 0xed, 0xbf, 0xbf), NULL, PW_ESYNTAX, 1, "UTF-8");       /* U+DFFF */
    dec_fail(B(0xa4, 0xf4, 0x90, 0x80, 0x80), NULL, PW_ESYNTAX, 1, "UTF-8"); /* U+110000 */
    dec_fail(B(0xa4, 0xf5, 0x80, 0x80, 0x80), NULL, PW_ESYNTAX, 1, "UTF-8");
    dec_fail(B(0xa1, 0x80), NULL, PW_ESYNTAX, 1, "UTF-8"); /* lone continuation */
    dec_fail(B(0xa1, 0xff), NULL, PW_ESYNTAX, 1, "UTF-8");
    dec_fail(B(0xa3, 'a', 0xe2, 0x82), NULL, PW_ESYNTAX, 2, "UTF-8");  /* cut short */
    dec_fail(B(0xa3, 0xe2, 0x28, 0xa1), NULL, PW_ESYNTAX, 1, "UTF-8"); /* bad 2nd byte */
    dec_fail(B(0xa3, 0xe2, 0x82, 0x28), NULL, PW_ESYNTAX, 1, "UTF-8"); /* bad 3rd byte */
    dec_fail(B(0xaa, '0', '1', '2', '3', '4', '5', '6', '7', '8', 0xfe), NULL, PW_ESYNTAX, 10,
             "UTF-8");
    /* in a map key, inside a container */
    dec_fail(B(0x91, 0x81, 0xa1, 0xc0, 0x01), NULL, PW_ESYNTAX, 3, "UTF-8");
}

/* ---------------------------------------------------------------- containers */

static pw_value int_array(size_t n)
{
    pw_value a;
    cr_assert_eq(pw_array_new(&a, n), PW_OK);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(pw_array_push(&a, pw_int((int64_t)(i % 100))), PW_OK);
    return a;
}

static void container_case(pw_value v, const uint8_t *hdr, size_t hn)
{
    pw_buf b;
    enc(&v, &b);
    cr_assert_geq(b.len, hn);
    cr_assert_eq(memcmp(b.data, hdr, hn), 0, "header of a %zu-member container", pw_value_len(&v));
    pw_value back = dec_ok(b.data, b.len);
    cr_assert(pw_value_equal(&back, &v));
    pw_value_release(&back);
    pw_value_release(&v);
    pw_buf_free(&b);
}

Test(msgpack, arrays_use_fixarray_array16_array32)
{
    container_case(int_array(0), B(0x90));
    container_case(int_array(15), B(0x9f));
    container_case(int_array(16), B(0xdc, 0x00, 0x10));
    container_case(int_array(65535), B(0xdc, 0xff, 0xff));
    container_case(int_array(65536), B(0xdd, 0x00, 0x01, 0x00, 0x00));
    pw_value v = dec_ok(B(0xdc, 0, 2, 0x01, 0x02));
    cr_assert_eq(pw_value_len(&v), 2);
    cr_assert_eq(pw_value_int(pw_array_get(&v, 1)), 2);
    pw_value_release(&v);
    v = dec_ok(B(0xdd, 0, 0, 0, 1, 0xc3));
    cr_assert(pw_value_bool(pw_array_get(&v, 0)));
    pw_value_release(&v);
}

static pw_value int_object(size_t n)
{
    pw_value o;
    cr_assert_eq(pw_object_new(&o, n), PW_OK);
    for (size_t i = 0; i < n; i++) {
        char key[24];
        int len = snprintf(key, sizeof key, "k%zu", i);
        cr_assert_eq(pw_object_set_str(&o, key, (size_t)len, pw_int((int64_t)i), NULL), PW_OK);
    }
    return o;
}

Test(msgpack, maps_use_fixmap_map16_map32_and_keep_key_order)
{
    container_case(int_object(0), B(0x80));
    container_case(int_object(15), B(0x8f));
    container_case(int_object(16), B(0xde, 0x00, 0x10));
    container_case(int_object(65536), B(0xdf, 0x00, 0x01, 0x00, 0x00));
    pw_value v = dec_ok(B(0xde, 0, 2, 0xa1, 'z', 0x01, 0xa1, 'a', 0x02));
    const pw_value *k;
    cr_assert(pw_object_at(&v, 0, &k, NULL));
    cr_assert(pw_value_str_eq(k, "z", 1));
    cr_assert(pw_object_at(&v, 1, &k, NULL));
    cr_assert(pw_value_str_eq(k, "a", 1));
    pw_value_release(&v);
    v = dec_ok(B(0xdf, 0, 0, 0, 1, 0xa1, 'k', 0xc0));
    cr_assert_not_null(pw_object_get(&v, "k", 1));
    pw_value_release(&v);
}

Test(msgpack, repeated_map_key_keeps_last_value_at_first_position)
{
    pw_value v = dec_ok(B(0x83, 0xa1, 'a', 0x01, 0xa1, 'b', 0x02, 0xa1, 'a', 0x03));
    cr_assert_eq(pw_value_len(&v), 2);
    const pw_value *k, *val;
    cr_assert(pw_object_at(&v, 0, &k, &val));
    cr_assert(pw_value_str_eq(k, "a", 1));
    cr_assert_eq(pw_value_int(val), 3);
    pw_value_release(&v);
}

Test(msgpack, repeated_keys_are_found_in_large_objects_and_among_long_keys)
{
    /* 13 pairs (an object big enough for a hash index), "k3" repeated last */
    uint8_t p[64];
    size_t n = 0;
    p[n++] = 0x8d;
    for (int i = 0; i < 13; i++) {
        p[n++] = 0xa2;
        p[n++] = 'k';
        p[n++] = (uint8_t)('a' + (i == 12 ? 3 : i));
        p[n++] = (uint8_t)i;
    }
    pw_value v = dec_ok(p, n);
    cr_assert_eq(pw_value_len(&v), 12);
    const pw_value *k, *val;
    cr_assert(pw_object_at(&v, 3, &k, &val));
    cr_assert(pw_value_str_eq(k, "kd", 2));
    cr_assert_eq(pw_value_int(val), 12);
    pw_value_release(&v);

    /* keys past the inline length, equal and not */
    const char *key = "a key that is longer than fourteen";
    uint8_t q[128];
    n = 0;
    q[n++] = 0x83;
    for (int i = 0; i < 3; i++) {
        q[n++] = 0xd9;
        q[n++] = 34;
        memcpy(q + n, key, 34);
        if (i == 1)
            q[n + 33] = '!';
        n += 34;
        q[n++] = (uint8_t)i;
    }
    v = dec_ok(q, n);
    cr_assert_eq(pw_value_len(&v), 2);
    cr_assert_eq(pw_value_int(pw_object_get(&v, key, 34)), 2);
    pw_value_release(&v);

    /* inline keys that share a prefix are different keys */
    v = dec_ok(B(0x83, 0xa3, 'a', 'b', 'c', 0x01, 0xa4, 'a', 'b', 'c', 'd', 0x02, 0xa4, 'a', 'b',
                 'c', 0x00, 0x03));
    cr_assert_eq(pw_value_len(&v), 3);
    pw_value_release(&v);
}

/* Random maps with keys from a small pool (inline and heap, some sharing
 * their ends): decoding must agree with pw_object_from on the same pairs. */
Test(msgpack, repeated_keys_agree_with_object_from_on_random_maps)
{
    static const char *const pool[] = {
        "a",
        "ab",
        "abc",
        "b",
        "0123456789abcd",
        "0123456789abce",
        "a key longer than inline",
        "a key longer than inlinf",
        "b key longer than inline",
        "a key, longer than inline",
    };
    uint64_t seed = 12345;
    for (int round = 0; round < 2000; round++) {
        seed = seed * 6364136223846793005u + 1442695040888963407u;
        size_t n = (size_t)(seed >> 60); /* 0..15 pairs: both sides of the index size */
        uint8_t p[1024];
        size_t len = 0;
        p[len++] = (uint8_t)(0x80 | n);
        pw_value kv[32];
        for (size_t i = 0; i < n; i++) {
            seed = seed * 6364136223846793005u + 1442695040888963407u;
            const char *k = pool[(seed >> 33) % (sizeof pool / sizeof pool[0])];
            size_t kl = strlen(k);
            p[len++] = 0xd9;
            p[len++] = (uint8_t)kl;
            memcpy(p + len, k, kl);
            len += kl;
            p[len++] = (uint8_t)i;
            kv[2 * i] = str(k);
            kv[2 * i + 1] = pw_int((int64_t)i);
        }
        pw_value want, got = dec_ok(p, len);
        cr_assert_eq(pw_object_from(&want, kv, n), PW_OK);
        cr_assert_eq(pw_value_len(&got), pw_value_len(&want), "round %d", round);
        for (size_t i = 0; i < pw_value_len(&want); i++) { /* same order, same values */
            const pw_value *k1, *v1, *k2, *v2;
            cr_assert(pw_object_at(&want, i, &k1, &v1));
            cr_assert(pw_object_at(&got, i, &k2, &v2));
            cr_assert(pw_value_equal(k1, k2) && pw_value_equal(v1, v2), "round %d", round);
        }
        pw_value_release(&want);
        pw_value_release(&got);
    }
}

Test(msgpack, failure_inside_a_map_releases_a_key_waiting_for_its_value)
{
    uint8_t p[64] = {0x92, 0x81, 0xd9, 32};
    memset(p + 4, 'x', 32);
    dec_fail(p, 36, NULL, PW_ESYNTAX, 36, "inside the value at byte 1"); /* ends after the key */
    p[36] = 0xc4; /* bin where the value goes */
    dec_fail(p, 38, NULL, PW_EUNSUPPORTED, 36, "bin");
}

Test(msgpack, members_still_due_in_enclosing_containers_count_against_the_input)
{
    /* [[1,2,3], ?]: the inner array cannot claim every byte, its sibling needs one */
    dec_fail(B(0x92, 0x93, 0x01, 0x02, 0x03), NULL, PW_ESYNTAX, 1, "still due");
    dec_fail(B(0x82, 0xa1, 'a', 0x94, 0x01, 0x02, 0x03, 0xa1, 'b'), NULL, PW_ESYNTAX, 3,
             "still due");
    pw_value v = dec_ok(B(0x92, 0x93, 0x01, 0x02, 0x03, 0xc0));
    pw_value_release(&v);
}

Test(msgpack, empty_containers_and_empty_strings)
{
    pw_value v = dec_ok(B(0x93, 0x90, 0x80, 0xa0));
    cr_assert_eq(pw_value_len(&v), 3);
    cr_assert_eq(pw_value_kind(pw_array_get(&v, 0)), PW_ARRAY);
    cr_assert_eq(pw_value_kind(pw_array_get(&v, 1)), PW_OBJECT);
    cr_assert(pw_value_str_eq(pw_array_get(&v, 2), "", 0));
    enc_expect(v, B(0x93, 0x90, 0x80, 0xa0));
}

/* ---------------------------------------------------------------- rejected types */

Test(msgpack, bin_and_ext_are_rejected_naming_type_and_offset)
{
    dec_fail(B(0xc4, 0x01, 0x00), NULL, PW_EUNSUPPORTED, 0, "bin");
    dec_fail(B(0x92, 0x01, 0xc5, 0x00, 0x01, 0x00), NULL, PW_EUNSUPPORTED, 2, "bin (0xc5)");
    dec_fail(B(0x91, 0xc6, 0, 0, 0, 1, 0), NULL, PW_EUNSUPPORTED, 1, "bin");
    dec_fail(B(0xc7, 0x01, 0x05, 0x00), NULL, PW_EUNSUPPORTED, 0, "ext");
    dec_fail(B(0xc8, 0x00, 0x01, 0x05, 0x00), NULL, PW_EUNSUPPORTED, 0, "ext");
    dec_fail(B(0xc9, 0, 0, 0, 1, 0x05, 0x00), NULL, PW_EUNSUPPORTED, 0, "ext");
    for (uint8_t b = 0xd4; b <= 0xd8; b++) { /* fixext 1, 2, 4, 8, 16 */
        uint8_t p[18] = {0x81, 0xa1, 'x', b};
        dec_fail(p, sizeof p, NULL, PW_EUNSUPPORTED, 3, "ext");
    }
    /* timestamps are ext -1: rejected too */
    dec_fail(B(0xd6, 0xff, 0, 0, 0, 0), NULL, PW_EUNSUPPORTED, 0, "at byte 0");
}

Test(msgpack, non_string_map_keys_are_rejected)
{
    dec_fail(B(0x81, 0x01, 0x02), NULL, PW_ETYPE, 1, "map key at byte 1 is an integer");
    dec_fail(B(0x81, 0xc0, 0x02), NULL, PW_ETYPE, 1, "nil");
    dec_fail(B(0x82, 0xa1, 'a', 0x01, 0x90, 0x02), NULL, PW_ETYPE, 4, "array");
    dec_fail(B(0x81, 0xa1, 'a', 0x81, 0xcb, 0, 0, 0, 0, 0, 0, 0, 0, 0x01), NULL, PW_ETYPE, 4,
             "float");
    dec_fail(B(0x81, 0x80, 0x01), NULL, PW_ETYPE, 1, "map");
    dec_fail(B(0x81, 0xc4, 0x01, 0x61, 0x01), NULL, PW_EUNSUPPORTED, 1, "bin");
    /* a value that is a string-looking int does not make a key */
    dec_fail(B(0x81, 0xc3, 0xa1, 'a'), NULL, PW_ETYPE, 1, "boolean");
}

Test(msgpack, never_used_byte_is_a_syntax_error)
{
    dec_fail(B(0xc1), NULL, PW_ESYNTAX, 0, "0xc1");
    dec_fail(B(0x92, 0x01, 0xc1), NULL, PW_ESYNTAX, 2, "0xc1");
}

/* ---------------------------------------------------------------- hostile input */

Test(msgpack, empty_input_and_trailing_bytes_are_syntax_errors)
{
    dec_fail(NULL, 0, NULL, PW_ESYNTAX, 0, "empty");
    dec_fail(B(0x01, 0x02), NULL, PW_ESYNTAX, 1, "trailing");
    dec_fail(B(0x91, 0x01, 0xc0, 0xc0), NULL, PW_ESYNTAX, 2, "2 trailing bytes");
}

static void patches_message(pw_value *out)
{
    pw_value path, patch, data, msg;
    cr_assert_eq(pw_array_new(&path, 3), PW_OK);
    cr_assert_eq(pw_array_push(&path, str("items")), PW_OK);
    cr_assert_eq(pw_array_push(&path, pw_int(0)), PW_OK);
    cr_assert_eq(pw_array_push(&path, str("done")), PW_OK);
    cr_assert_eq(pw_object_new(&patch, 3), PW_OK);
    cr_assert_eq(pw_object_set_str(&patch, "op", 2, str("replace"), NULL), PW_OK);
    cr_assert_eq(pw_object_set_str(&patch, "path", 4, path, NULL), PW_OK);
    cr_assert_eq(pw_object_set_str(&patch, "value", 5, pw_bool(true), NULL), PW_OK);
    cr_assert_eq(pw_array_new(&data, 1), PW_OK);
    cr_assert_eq(pw_array_push(&data, patch), PW_OK);
    cr_assert_eq(pw_object_new(&msg, 3), PW_OK);
    cr_assert_eq(pw_object_set_str(&msg, "type", 4, str("patches"), NULL), PW_OK);
    cr_assert_eq(pw_object_set_str(&msg, "key", 3, str("appstate"), NULL), PW_OK);
    cr_assert_eq(pw_object_set_str(&msg, "data", 4, data, NULL), PW_OK);
    *out = msg;
}

/* {"type":"patches","key":"appstate","data":[{"op":"replace","path":["items",0,"done"],
 * "value":true}]}, written by hand from the MessagePack spec. */
/* clang-format off */
static const uint8_t patches_bytes[] = {
    0x83,                                                 /* map of 3 */
    0xa4, 't', 'y', 'p', 'e', 0xa7, 'p', 'a', 't', 'c', 'h', 'e', 's', /* type: patches */
    0xa3, 'k', 'e', 'y', 0xa8, 'a', 'p', 'p', 's', 't', 'a', 't', 'e', /* key: appstate */
    0xa4, 'd', 'a', 't', 'a', 0x91,                       /* data: [ */
    0x83,                                                 /* { */
    0xa2, 'o', 'p', 0xa7, 'r', 'e', 'p', 'l', 'a', 'c', 'e',  /* op: replace */
    0xa4, 'p', 'a', 't', 'h', 0x93, 0xa5, 'i', 't', 'e', 'm', 's', 0x00, 0xa4, 'd', 'o', 'n',
    'e',                                                  /* path: ["items",0,"done"] */
    0xa5, 'v', 'a', 'l', 'u', 'e', 0xc3,                  /* value: true */
};
/* clang-format on */

Test(msgpack, patches_message_encodes_to_hand_written_bytes_and_back)
{
    pw_value msg;
    patches_message(&msg);
    pw_buf b;
    enc(&msg, &b);
    cr_assert_eq(b.len, sizeof patches_bytes);
    cr_assert_eq(memcmp(b.data, patches_bytes, sizeof patches_bytes), 0);
    pw_value back = dec_ok(patches_bytes, sizeof patches_bytes);
    cr_assert(pw_value_equal(&back, &msg));
    const pw_value *t = pw_object_get(&back, "type", 4);
    cr_assert(t && pw_value_str_eq(t, "patches", 7));
    pw_value_release(&back);
    pw_value_release(&msg);
    pw_buf_free(&b);
}

Test(msgpack, encode_appends_to_what_the_buffer_holds)
{
    pw_buf b;
    pw_buf_init(&b);
    cr_assert_eq(pw_buf_append(&b, "xy", 2), PW_OK);
    pw_value v = pw_int(1);
    cr_assert_eq(pw_codec_msgpack.encode(&v, &b, NULL), PW_OK);
    cr_assert_eq(b.len, 3);
    cr_assert_eq(memcmp(b.data, "xy\x01", 3), 0);
    pw_buf_free(&b);
}

/* A document with every kind, nested, to cut short at every byte. */
static void rich_document(pw_value *out)
{
    pw_value msg, inner, big;
    patches_message(&msg);
    cr_assert_eq(pw_object_new(&inner, 0), PW_OK);
    cr_assert_eq(pw_object_set_str(&inner, "n", 1, pw_null(), NULL), PW_OK);
    cr_assert_eq(pw_object_set_str(&inner, "f", 1, pw_double(-2.25), NULL), PW_OK);
    cr_assert_eq(pw_object_set_str(&inner, "i16", 3, pw_int(-300), NULL), PW_OK);
    cr_assert_eq(pw_object_set_str(&inner, "u32", 3, pw_int(70000), NULL), PW_OK);
    cr_assert_eq(pw_object_set_str(&inner, "i64", 3, pw_int(INT64_MIN), NULL), PW_OK);
    cr_assert_eq(
        pw_object_set_str(&inner, "s", 1, str("a string that is past fixstr length"), NULL), PW_OK);
    cr_assert_eq(pw_object_set_str(&inner, "u", 1, str("h\xc3\xa9llo \xf0\x9f\x98\x80"), NULL),
                 PW_OK);
    big = int_array(20); /* array16 */
    cr_assert_eq(pw_object_set_str(&inner, "a", 1, big, NULL), PW_OK);
    cr_assert_eq(pw_object_set_str(&inner, "e", 1, int_object(0), NULL), PW_OK);
    cr_assert_eq(pw_object_set_str(&msg, "extra", 5, inner, NULL), PW_OK);
    *out = msg;
}

Test(msgpack, every_truncation_of_a_valid_message_fails_cleanly)
{
    pw_value doc;
    rich_document(&doc);
    pw_buf b;
    enc(&doc, &b);
    for (size_t n = 0; n < b.len; n++) {
        uint8_t *copy = malloc(n ? n : 1); /* exact size: ASan sees any over-read */
        cr_assert(copy);
        memcpy(copy, b.data, n);
        pw_value v = pw_int(1);
        pw_error e;
        pw_err rc = pw_codec_msgpack.decode(copy, n, NULL, &v, &e);
        cr_assert_eq(rc, PW_ESYNTAX, "prefix of %zu bytes gave %d (%s)", n, rc, e.msg);
        cr_assert_eq(pw_value_kind(&v), PW_NULL);
        cr_assert_leq(e.offset, n, "offset %zu past the %zu-byte prefix", e.offset, n);
        free(copy);
    }
    pw_value whole = dec_ok(b.data, b.len);
    cr_assert(pw_value_equal(&whole, &doc));
    pw_value_release(&whole);
    pw_value_release(&doc);
    pw_buf_free(&b);
}

Test(msgpack, huge_length_prefixes_fail_without_allocating)
{
    /* 4 G members / 1 GB strings claimed in a few bytes: must not try to allocate */
    dec_fail(B(0xdd, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0), NULL, PW_ESYNTAX, 0, "claims");
    dec_fail(B(0xdf, 0x40, 0x00, 0x00, 0x00, 0, 0, 0, 0, 0), NULL, PW_ESYNTAX, 0, "claims");
    dec_fail(B(0xdb, 0x40, 0x00, 0x00, 0x00, 'a', 'b', 'c', 'd', 'e'), NULL, PW_ESYNTAX, 0,
             "claims");
    dec_fail(B(0x91, 0xdc, 0xff, 0xff, 0xc0), NULL, PW_ESYNTAX, 1, "claims");
    dec_fail(B(0x92, 0xc0, 0xda, 0x10, 0x00, 'a'), NULL, PW_ESYNTAX, 2, "claims");
    /* a map of n pairs needs 2n bytes */
    dec_fail(B(0xde, 0x00, 0x02, 0xa1, 'a', 0x01), NULL, PW_ESYNTAX, 0, "claims 2 members");
    /* each level claiming everything that follows still fails cleanly */
    uint8_t nest[60];
    for (size_t i = 0; i < 12; i++) {
        nest[5 * i] = 0xdd;
        uint32_t left = (uint32_t)(sizeof nest - 5 * i - 5);
        nest[5 * i + 1] = (uint8_t)(left >> 24);
        nest[5 * i + 2] = (uint8_t)(left >> 16);
        nest[5 * i + 3] = (uint8_t)(left >> 8);
        nest[5 * i + 4] = (uint8_t)left;
    }
    pw_value v;
    cr_assert_eq(pw_codec_msgpack.decode(nest, sizeof nest, NULL, &v, NULL), PW_ESYNTAX);
}

static uint8_t *nested_arrays(size_t depth, size_t *len)
{
    uint8_t *p = malloc(depth + 1);
    cr_assert(p);
    memset(p, 0x91, depth);
    p[depth] = 0xc0;
    *len = depth + 1;
    return p;
}

Test(msgpack, nesting_100000_deep_fails_with_edepth)
{
    size_t n;
    uint8_t *p = nested_arrays(100000, &n);
    dec_fail(p, n, NULL, PW_EDEPTH, 512, "deeper than the limit of 512");
    /* maps too */
    for (size_t i = 0; i < 50000; i++) {
        p[2 * i] = 0x81;
        p[2 * i + 1] = 0xa0;
    }
    dec_fail(p, n, NULL, PW_EDEPTH, 1024, "map");
    free(p);
}

Test(msgpack, nesting_100000_deep_decodes_and_encodes_when_the_limit_allows)
{
    size_t n;
    uint8_t *p = nested_arrays(100000, &n);
    pw_limits lim = limits(PW_DEFAULT_MAX_INPUT_BYTES, 100000, PW_DEFAULT_MAX_STRING_BYTES);
    /* a one-byte array node per input byte: 56 bytes per byte, over the
     * default ratio of 48 once past the 64 KiB every message may take */
    pw_value v;
    cr_assert_eq(pw_codec_msgpack.decode(p, n, &lim, &v, NULL), PW_ELIMIT);
    lim.max_decoded_ratio = 64;
    cr_assert_eq(pw_codec_msgpack.decode(p, n, &lim, &v, NULL), PW_OK);
    pw_buf b;
    enc(&v, &b);
    cr_assert_eq(b.len, n);
    cr_assert_eq(memcmp(b.data, p, n), 0);
    pw_buf_free(&b);
    pw_value_release(&v);
    lim.max_depth = 99999;
    dec_fail(p, n, &lim, PW_EDEPTH, 99999, NULL);
    free(p);
}

Test(msgpack, depth_exactly_at_the_limit_is_accepted)
{
    size_t n;
    uint8_t *p = nested_arrays(512, &n);
    pw_value v = dec_ok(p, n);
    pw_value_release(&v);
    free(p);
    p = nested_arrays(513, &n);
    dec_fail(p, n, NULL, PW_EDEPTH, 512, NULL);
    free(p);
    pw_limits lim = limits(100, 2, 100);
    cr_assert_eq(pw_codec_msgpack.decode(B(0x91, 0x81, 0xa1, 'a', 0x01), &lim, &v, NULL), PW_OK);
    pw_value_release(&v);
    /* an empty container is a level too */
    dec_fail(B(0x91, 0x91, 0x90), &lim, PW_EDEPTH, 2, NULL);
    dec_fail(B(0x91, 0x91, 0x80), &lim, PW_EDEPTH, 2, NULL);
    lim.max_depth = 0;
    cr_assert_eq(pw_codec_msgpack.decode(B(0x05), &lim, &v, NULL), PW_OK);
    dec_fail(B(0x90), &lim, PW_EDEPTH, 0, NULL);
}

Test(msgpack, input_and_string_limits_are_enforced)
{
    pw_limits lim = limits(4, 512, 3);
    pw_value v;
    cr_assert_eq(pw_codec_msgpack.decode(B(0xa3, 'a', 'b', 'c'), &lim, &v, NULL), PW_OK);
    pw_value_release(&v);
    dec_fail(B(0x94, 0x01, 0x02, 0x03, 0x04), &lim, PW_ELIMIT, 4, "over the limit");
    lim.max_input_bytes = 100;
    dec_fail(B(0xa4, 'a', 'b', 'c', 'd'), &lim, PW_ELIMIT, 0, "over the limit of 3");
    dec_fail(B(0x81, 0xa4, 'a', 'b', 'c', 'd', 0x01), &lim, PW_ELIMIT, 1, "string at byte 1");
    lim.max_string_bytes = 0;
    cr_assert_eq(pw_codec_msgpack.decode(B(0x81, 0xa0, 0xa0), &lim, &v, NULL), PW_OK);
    pw_value_release(&v);
}

Test(msgpack, error_record_accepts_null)
{
    pw_value v;
    cr_assert_eq(pw_codec_msgpack.decode(B(0xc4, 0x00), NULL, &v, NULL), PW_EUNSUPPORTED);
    cr_assert_eq(pw_codec_msgpack.decode(B(0x92, 0x01), NULL, &v, NULL), PW_ESYNTAX);
}

/* ---------------------------------------------------------------- identity */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static pw_value random_value(int depth)
{
    unsigned k = (unsigned)(rnd() % (depth > 4 ? 5 : 7));
    switch (k) {
    case 0:
        return pw_null();
    case 1:
        return pw_bool(rnd() & 1);
    case 2: {
        int shift = (int)(rnd() % 64);
        return pw_int((int64_t)rnd() >> shift);
    }
    case 3:
        return pw_double((double)(int64_t)rnd() / (double)(rnd() | 1));
    case 4: {
        char s[300];
        size_t n = (size_t)(rnd() % (rnd() & 1 ? 20 : 300));
        for (size_t i = 0; i < n; i++)
            s[i] = (char)(' ' + rnd() % 95);
        pw_value v;
        cr_assert_eq(pw_string_new(&v, s, n), PW_OK);
        return v;
    }
    case 5: {
        size_t n = (size_t)(rnd() % 20);
        pw_value a;
        cr_assert_eq(pw_array_new(&a, n), PW_OK);
        for (size_t i = 0; i < n; i++)
            cr_assert_eq(pw_array_push(&a, random_value(depth + 1)), PW_OK);
        return a;
    }
    default: {
        size_t n = (size_t)(rnd() % 20);
        pw_value o;
        cr_assert_eq(pw_object_new(&o, n), PW_OK);
        for (size_t i = 0; i < n; i++) {
            char key[16];
            int len = snprintf(key, sizeof key, "key%u", (unsigned)(rnd() % 40));
            cr_assert_eq(pw_object_set_str(&o, key, (size_t)len, random_value(depth + 1), NULL),
                         PW_OK);
        }
        return o;
    }
    }
}

Test(msgpack, encode_then_decode_is_the_identity_on_nested_documents)
{
    for (int round = 0; round < 300; round++) {
        pw_value v = random_value(0);
        pw_buf b, again;
        enc(&v, &b);
        pw_value back = dec_ok(b.data, b.len);
        cr_assert(pw_value_equal(&back, &v), "round %d differs", round);
        enc(&back, &again); /* and the bytes are stable */
        cr_assert_eq(again.len, b.len);
        cr_assert_eq(memcmp(again.data, b.data, b.len), 0);
        pw_buf_free(&again);
        pw_buf_free(&b);
        pw_value_release(&back);
        pw_value_release(&v);
    }
    pw_value doc;
    rich_document(&doc);
    pw_value back = roundtrip(&doc);
    cr_assert(pw_value_equal(&back, &doc));
    pw_value_release(&back);
    pw_value_release(&doc);
}

Test(msgpack_decode, never_used_byte_as_a_map_key_is_a_syntax_error)
{
    dec_fail(B(0x81, 0xc1, 0x01), NULL, PW_ESYNTAX, 1, "0xc1");
}

/* An array32 of count members, each the byte `member`. */
static uint8_t *array32_of(uint32_t count, uint8_t member, size_t *n)
{
    *n = 5 + (size_t)count;
    uint8_t *p = malloc(*n);
    p[0] = 0xdd;
    p[1] = (uint8_t)(count >> 24);
    p[2] = (uint8_t)(count >> 16);
    p[3] = (uint8_t)(count >> 8);
    p[4] = (uint8_t)count;
    memset(p + 5, member, count);
    return p;
}

Test(msgpack, value_limit_refuses_a_large_array_at_its_header)
{
    size_t n;
    uint8_t *p = array32_of(32u << 20, 0x00, &n); /* 32 Mi zeros */
    pw_limits lim;
    pw_limits_init(&lim);
    lim.max_values = (size_t)1 << 20;
    dec_fail(p, n, &lim, PW_ELIMIT, 0, "limit of 1048576 values");
    dec_fail(p, n, NULL, PW_ELIMIT, 0, "values"); /* over the default 16 Mi too */
    free(p);
    p = array32_of(1u << 20, 0x00, &n);
    lim.max_values = ((size_t)1 << 20) + 1;
    pw_value v;
    cr_assert_eq(pw_codec_msgpack.decode(p, n, &lim, &v, NULL), PW_OK);
    cr_assert_eq(pw_value_len(&v), 1u << 20);
    pw_value_release(&v);
    free(p);
}

Test(msgpack, decoded_memory_is_bounded_by_a_ratio_of_the_input)
{
    size_t n;
    uint8_t *p = array32_of(1u << 20, 0x90, &n); /* a million empty arrays, one byte each */
    pw_value v = pw_int(7);
    pw_error e;
    cr_assert_eq(pw_codec_msgpack.decode(p, n, NULL, &v, &e), PW_ELIMIT);
    cr_assert_eq(pw_value_kind(&v), PW_NULL);
    cr_assert(strstr(e.msg, "bytes of memory"), "%s", e.msg);
    cr_assert_lt(e.offset, n, "refused before the end, at byte %zu", e.offset);
    free(p);
    p = array32_of(1u << 20, 0x01, &n); /* dense small numbers: 16 bytes per byte */
    cr_assert_eq(pw_codec_msgpack.decode(p, n, NULL, &v, &e), PW_OK, "%s", e.msg);
    pw_value_release(&v);
    free(p);
}
