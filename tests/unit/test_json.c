/* JSON codec: strict decoding with offsets, limits, numbers, unicode, and
 * JavaScript-compatible encoding. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "patchwire/codec.h"

static pw_limits defaults(void)
{
    pw_limits lim;
    pw_limits_init(&lim);
    return lim;
}

static pw_err decode_n(const char *s, size_t n, const pw_limits *lim, pw_value *v, pw_error *e)
{
    return pw_codec_json.decode((const uint8_t *)s, n, lim, v, e);
}

static pw_value decode_ok(const char *s)
{
    pw_value v;
    pw_error e;
    pw_err rc = decode_n(s, strlen(s), NULL, &v, &e);
    cr_assert_eq(rc, PW_OK, "decode of %s failed: %s", s, e.msg);
    return v;
}

/* Asserts that s (n bytes) fails with code at offset, with a message that
 * names the offset. */
static void expect_fail_n(const char *s, size_t n, const pw_limits *lim, pw_err code, size_t offset)
{
    pw_value v = pw_int(7);
    pw_error e;
    pw_err rc = decode_n(s, n, lim, &v, &e);
    cr_assert_eq(rc, code, "input %.*s: got %d (%s), want %d", (int)n, s, rc, e.msg, code);
    cr_assert_eq(e.code, code);
    cr_assert_eq(e.offset, offset, "input %.*s: offset %zu, want %zu (%s)", (int)n, s, e.offset,
                 offset, e.msg);
    cr_assert_eq(pw_value_kind(&v), PW_NULL, "out must be null on failure");
    char at[32];
    snprintf(at, sizeof at, "byte %zu", offset);
    cr_assert(strstr(e.msg, at), "message '%s' lacks '%s'", e.msg, at);
}

static void expect_fail(const char *s, pw_err code, size_t offset)
{
    expect_fail_n(s, strlen(s), NULL, code, offset);
}

static char *encode(const pw_value *v)
{
    pw_buf b = {0};
    pw_error e;
    cr_assert_eq(pw_codec_json.encode(v, &b, &e), PW_OK);
    char *s = malloc(b.len + 1);
    memcpy(s, b.data, b.len);
    s[b.len] = '\0';
    pw_buf_free(&b);
    return s;
}

/* decode then encode must give exactly `want`. */
static void expect_roundtrip(const char *in, const char *want)
{
    pw_value v = decode_ok(in);
    char *s = encode(&v);
    cr_assert_str_eq(s, want, "encode(decode(%s))", in);
    free(s);
    pw_value_release(&v);
}

static void expect_double_text(double d, const char *want)
{
    pw_value v = pw_double(d);
    char *s = encode(&v);
    cr_assert_str_eq(s, want, "encoding of %.17g", d);
    free(s);
}

/* ---------------------------------------------------------------- decode */

Test(json_decode, scalars_and_containers)
{
    pw_value v = decode_ok("{\"a\":[1,-2.5,true,false,null,\"x\"],\"b\":{}}");
    cr_assert_eq(pw_value_kind(&v), PW_OBJECT);
    cr_assert_eq(pw_value_len(&v), 2);
    const pw_value *a = pw_object_get(&v, "a", 1);
    cr_assert_eq(pw_value_len(a), 6);
    cr_assert_eq(pw_value_int(pw_array_get(a, 0)), 1);
    cr_assert_eq(pw_value_kind(pw_array_get(a, 1)), PW_DOUBLE);
    cr_assert_eq(pw_value_number(pw_array_get(a, 1)), -2.5);
    cr_assert(pw_value_bool(pw_array_get(a, 2)));
    cr_assert_eq(pw_value_kind(pw_array_get(a, 3)), PW_BOOL);
    cr_assert_not(pw_value_bool(pw_array_get(a, 3)));
    cr_assert_eq(pw_value_kind(pw_array_get(a, 4)), PW_NULL);
    cr_assert(pw_value_str_eq(pw_array_get(a, 5), "x", 1));
    const pw_value *b = pw_object_get(&v, "b", 1);
    cr_assert_eq(pw_value_kind(b), PW_OBJECT);
    cr_assert_eq(pw_value_len(b), 0);
    pw_value_release(&v);
}

Test(json_decode, top_level_scalars)
{
    pw_value v = decode_ok("42");
    cr_assert_eq(pw_value_int(&v), 42);
    v = decode_ok("\"s\"");
    cr_assert(pw_value_str_eq(&v, "s", 1));
    v = decode_ok("null");
    cr_assert_eq(pw_value_kind(&v), PW_NULL);
    v = decode_ok("[]");
    cr_assert_eq(pw_value_len(&v), 0);
    pw_value_release(&v);
}

Test(json_decode, whitespace_around_and_between_tokens)
{
    pw_value v = decode_ok(" \t\r\n{ \"a\" : [ 1 , 2 ] ,\n\"b\"\t:\r\"c\" } \n");
    cr_assert_eq(pw_value_len(pw_object_get(&v, "a", 1)), 2);
    cr_assert(pw_value_str_eq(pw_object_get(&v, "b", 1), "c", 1));
    pw_value_release(&v);
    v = decode_ok("[ ]");
    cr_assert_eq(pw_value_len(&v), 0);
    pw_value_release(&v);
    v = decode_ok("{ }");
    cr_assert_eq(pw_value_len(&v), 0);
    pw_value_release(&v);
}

Test(json_decode, non_json_whitespace_is_rejected)
{
    expect_fail("\f1", PW_ESYNTAX, 0);
    expect_fail("[1,\v2]", PW_ESYNTAX, 3);
    expect_fail("\xc2\xa0\x31", PW_ESYNTAX, 0);     /* no-break space, then 1 */
    expect_fail("\xef\xbb\xbf\x31", PW_ESYNTAX, 0); /* byte order mark, then 1 */
}

Test(json_decode, empty_input_fails)
{
    expect_fail("", PW_ESYNTAX, 0);
    expect_fail("   ", PW_ESYNTAX, 3);
    pw_value v;
    pw_error e;
    cr_assert_eq(pw_codec_json.decode(NULL, 0, NULL, &v, &e), PW_ESYNTAX);
    cr_assert_eq(e.offset, 0);
}

Test(json_decode, trailing_garbage_fails)
{
    expect_fail("1 2", PW_ESYNTAX, 2);
    expect_fail("{} x", PW_ESYNTAX, 3);
    expect_fail("[1]]", PW_ESYNTAX, 3);
    expect_fail("\"a\"\"b\"", PW_ESYNTAX, 3);
    expect_fail("truex", PW_ESYNTAX, 4);
    expect_fail("0x10", PW_ESYNTAX, 1);
    expect_fail_n("1\0", 2, NULL, PW_ESYNTAX, 1);
}

Test(json_decode, comments_are_rejected)
{
    expect_fail("// c\n1", PW_ESYNTAX, 0);
    expect_fail("[1 /* c */]", PW_ESYNTAX, 3);
    expect_fail("1 # c", PW_ESYNTAX, 2);
}

Test(json_decode, trailing_commas_are_rejected)
{
    expect_fail("[1,]", PW_ESYNTAX, 3);
    expect_fail("{\"a\":1,}", PW_ESYNTAX, 7);
    expect_fail("[,1]", PW_ESYNTAX, 1);
    expect_fail("{,}", PW_ESYNTAX, 1);
    expect_fail("[1,,2]", PW_ESYNTAX, 3);
}

Test(json_decode, structural_errors_name_their_offset)
{
    expect_fail("[1 2]", PW_ESYNTAX, 3);
    expect_fail("{\"a\" 1}", PW_ESYNTAX, 5);
    expect_fail("{\"a\":}", PW_ESYNTAX, 5);
    expect_fail("{1:2}", PW_ESYNTAX, 1);
    expect_fail("{'a':2}", PW_ESYNTAX, 1);
    expect_fail("{\"a\":1 \"b\":2}", PW_ESYNTAX, 7);
    expect_fail("[1}", PW_ESYNTAX, 2);
    expect_fail("{\"a\":1]", PW_ESYNTAX, 6);
    expect_fail("]", PW_ESYNTAX, 0);
    expect_fail("[", PW_ESYNTAX, 1);
    expect_fail("[1", PW_ESYNTAX, 2);
    expect_fail("{\"a\"", PW_ESYNTAX, 4);
    expect_fail("{\"a\":", PW_ESYNTAX, 5);
    expect_fail("{", PW_ESYNTAX, 1);
}

Test(json_decode, literals_must_be_exact)
{
    expect_fail("tru", PW_ESYNTAX, 0);
    expect_fail("nul", PW_ESYNTAX, 0);
    expect_fail("[True]", PW_ESYNTAX, 1);
    expect_fail("[fals]", PW_ESYNTAX, 1);
    expect_fail("NaN", PW_ESYNTAX, 0);
    expect_fail("Infinity", PW_ESYNTAX, 0);
    expect_fail("undefined", PW_ESYNTAX, 0);
}

Test(json_decode, number_grammar_is_strict)
{
    expect_fail("01", PW_ESYNTAX, 0);
    expect_fail("[-012]", PW_ESYNTAX, 1);
    expect_fail("00", PW_ESYNTAX, 0);
    expect_fail("+1", PW_ESYNTAX, 0);
    expect_fail(".5", PW_ESYNTAX, 0);
    expect_fail("1.", PW_ESYNTAX, 2);
    expect_fail("[1.]", PW_ESYNTAX, 3);
    expect_fail("1.e5", PW_ESYNTAX, 2);
    expect_fail("1e", PW_ESYNTAX, 2);
    expect_fail("1e+", PW_ESYNTAX, 3);
    expect_fail("-", PW_ESYNTAX, 1);
    expect_fail("-a", PW_ESYNTAX, 1);
    expect_fail("- 1", PW_ESYNTAX, 1);
    expect_fail("1.5.2", PW_ESYNTAX, 3);
    pw_value v = decode_ok("0.5e-3");
    cr_assert_eq(pw_value_number(&v), 0.0005);
    v = decode_ok("1E2");
    cr_assert_eq(pw_value_kind(&v), PW_DOUBLE);
    cr_assert_eq(pw_value_number(&v), 100.0);
    v = decode_ok("-0.0e+0");
    cr_assert(signbit(pw_value_number(&v)));
}

Test(json_decode, integers_fit_int64_else_double)
{
    pw_value v = decode_ok("9223372036854775807");
    cr_assert_eq(pw_value_kind(&v), PW_INT);
    cr_assert_eq(pw_value_int(&v), INT64_MAX);
    v = decode_ok("-9223372036854775808");
    cr_assert_eq(pw_value_kind(&v), PW_INT);
    cr_assert_eq(pw_value_int(&v), INT64_MIN);
    v = decode_ok("9223372036854775808");
    cr_assert_eq(pw_value_kind(&v), PW_DOUBLE);
    cr_assert_eq(pw_value_number(&v), 9223372036854775808.0);
    v = decode_ok("-9223372036854775809");
    cr_assert_eq(pw_value_kind(&v), PW_DOUBLE);
    cr_assert_eq(pw_value_number(&v), -9223372036854775808.0);
    v = decode_ok("123456789012345678901234567890");
    cr_assert_eq(pw_value_kind(&v), PW_DOUBLE);
    cr_assert_eq(pw_value_number(&v), 123456789012345678901234567890.0);
    v = decode_ok("0");
    cr_assert_eq(pw_value_kind(&v), PW_INT);
    cr_assert_eq(pw_value_int(&v), 0);
    v = decode_ok("1.0");
    cr_assert_eq(pw_value_kind(&v), PW_DOUBLE, "a fraction makes a double");
}

Test(json_decode, minus_zero_is_a_negative_zero_double)
{
    pw_value v = decode_ok("-0");
    cr_assert_eq(pw_value_kind(&v), PW_DOUBLE);
    cr_assert_eq(pw_value_number(&v), 0.0);
    cr_assert(signbit(pw_value_number(&v)));
}

Test(json_decode, doubles_convert_correctly_rounded)
{
    static const struct {
        const char *text;
        double want;
    } cases[] = {
        {"0.1", 0.1},
        {"123.456", 123.456},
        {"1e-7", 1e-7},
        {"2.2250738585072014e-308", 2.2250738585072014e-308},
        {"4.9e-324", 4.9e-324},
        {"1.7976931348623157e308", 1.7976931348623157e308},
        {"9007199254740993", 9007199254740992.0}, /* int64, not double */
        {"0.30000000000000004", 0.30000000000000004},
        {"3.141592653589793238462643383279", 3.141592653589793},
        {"1e23", 1e23},
        {"8.988465674311579e307", 8.988465674311579e307},
        {"0.000001", 0.000001},
        /* 1 + 2^-53, halfway between two doubles: ties go to the even one */
        {"1.00000000000000011102230246251565404236316680908203125", 1.0},
        {"1.00000000000000011102230246251565404236316680908203126", 1.0000000000000002},
        {"1.00000000000000011102230246251565404236316680908203124", 1.0},
        {"100000000000000000000000000000000000000e-38", 1.0},
        {"0e500", 0.0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pw_value v = decode_ok(cases[i].text);
        cr_assert_eq(pw_value_number(&v), cases[i].want, "%s -> %.17g", cases[i].text,
                     pw_value_number(&v));
    }
}

Test(json_decode, numbers_beyond_double_range_are_rejected_tiny_ones_round_to_zero)
{
    expect_fail("1e400", PW_ESYNTAX, 0);
    expect_fail("[1,-1e400]", PW_ESYNTAX, 3);
    expect_fail("1E+2233720368", PW_ESYNTAX, 0);
    expect_fail("1e99999999999999999999", PW_ESYNTAX, 0);
    pw_value v = decode_ok("1e-400");
    cr_assert_eq(pw_value_number(&v), 0.0);
    v = decode_ok("1.7976931348623157e308");
    cr_assert_eq(pw_value_number(&v), 1.7976931348623157e308);
}

Test(json_decode, duplicate_keys_keep_last_value_at_first_position)
{
    pw_value v = decode_ok("{\"a\":1,\"b\":2,\"a\":3}");
    cr_assert_eq(pw_value_len(&v), 2);
    const pw_value *k, *val;
    cr_assert(pw_object_at(&v, 0, &k, &val));
    cr_assert(pw_value_str_eq(k, "a", 1));
    cr_assert_eq(pw_value_int(val), 3);
    cr_assert(pw_object_at(&v, 1, &k, &val));
    cr_assert(pw_value_str_eq(k, "b", 1));
    pw_value_release(&v);
}

Test(json_decode, key_order_is_kept)
{
    expect_roundtrip("{\"z\":1,\"a\":2,\"m\":{\"y\":1,\"b\":2}}",
                     "{\"z\":1,\"a\":2,\"m\":{\"y\":1,\"b\":2}}");
}

Test(json_decode, large_object_lookup_and_duplicates)
{
    char buf[4096];
    size_t n = 0;
    n += (size_t)snprintf(buf + n, sizeof buf - n, "{");
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "\"key%d\":%d,", i, i);
    n += (size_t)snprintf(buf + n, sizeof buf - n, "\"key7\":700}");
    pw_value v = decode_ok(buf);
    cr_assert_eq(pw_value_len(&v), 100);
    cr_assert_eq(pw_value_int(pw_object_get(&v, "key99", 5)), 99);
    cr_assert_eq(pw_value_int(pw_object_get(&v, "key7", 4)), 700);
    cr_assert_eq(pw_object_find(&v, "key7", 4), 7);
    pw_value_release(&v);
}

Test(json_decode, escapes_decode)
{
    pw_value v = decode_ok("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\u00e9\\u20AC\"");
    size_t n;
    const char *s = pw_value_str(&v, &n);
    const char want[] = "\"\\/\b\f\n\r\tA\xc3\xa9\xe2\x82\xac";
    cr_assert_eq(n, sizeof want - 1);
    cr_assert_eq(memcmp(s, want, n), 0);
    pw_value_release(&v);
}

Test(json_decode, escape_inside_long_string_keeps_surrounding_bytes)
{
    pw_value v = decode_ok("\"0123456789abcdef\\n0123456789abcdef\"");
    cr_assert(pw_value_str_eq(&v, "0123456789abcdef\n0123456789abcdef", 33));
    pw_value_release(&v);
}

Test(json_decode, nul_escape_is_kept_in_the_string)
{
    pw_value v = decode_ok("\"a\\u0000b\"");
    cr_assert(pw_value_str_eq(&v, "a\0b", 3));
    char *s = encode(&v);
    cr_assert_str_eq(s, "\"a\\u0000b\"");
    free(s);
    pw_value_release(&v);
}

Test(json_decode, invalid_escapes_fail_at_the_backslash)
{
    expect_fail("\"ab\\x\"", PW_ESYNTAX, 3);
    expect_fail("\"\\U0041\"", PW_ESYNTAX, 1);
    expect_fail("\"\\u00g1\"", PW_ESYNTAX, 1);
    expect_fail("\"\\u12\"", PW_ESYNTAX, 1);
    expect_fail("\"\\u12", PW_ESYNTAX, 1);
    expect_fail("\"\\'\"", PW_ESYNTAX, 1);
    expect_fail("[\"\\", PW_ESYNTAX, 3);
}

Test(json_decode, surrogate_pair_escape_gives_astral_character)
{
    pw_value v = decode_ok("\"\\uD83D\\uDE00\"");
    cr_assert(pw_value_str_eq(&v, "\xf0\x9f\x98\x80", 4));
    pw_value_release(&v);
    v = decode_ok("\"\\udbff\\udfff\"");
    cr_assert(pw_value_str_eq(&v, "\xf4\x8f\xbf\xbf", 4));
    pw_value_release(&v);
}

Test(json_decode, lone_surrogate_escapes_fail)
{
    expect_fail("\"\\uD83D\"", PW_ESYNTAX, 1);
    expect_fail("\"ab\\uDE00\"", PW_ESYNTAX, 3);
    expect_fail("\"\\uD83Dx\"", PW_ESYNTAX, 1);
    expect_fail("\"\\uD83D\\n\"", PW_ESYNTAX, 1);
    expect_fail("\"\\uD83D\\uD83D\"", PW_ESYNTAX, 1);
    expect_fail("\"\\uD83D\\u0041\"", PW_ESYNTAX, 1);
    pw_error e;
    pw_value v;
    decode_n("\"\\uD83D\"", 8, NULL, &v, &e);
    cr_assert(strstr(e.msg, "surrogate"), "%s", e.msg);
}

Test(json_decode, raw_utf8_is_accepted)
{
    const char *in = "[\"\xc3\xa9\",\"\xe2\x82\xac\",\"\xf0\x9f\x98\x80\",\"\xef\xbf\xbf\","
                     "\"\xf4\x8f\xbf\xbf\",\"caf\xc3\xa9 au lait, tr\xc3\xa8s bien\"]";
    pw_value v = decode_ok(in);
    cr_assert(pw_value_str_eq(pw_array_get(&v, 2), "\xf0\x9f\x98\x80", 4));
    char *s = encode(&v);
    cr_assert_str_eq(s, in, "raw UTF-8 is written back unescaped");
    free(s);
    pw_value_release(&v);
}

Test(json_decode, invalid_utf8_fails_at_the_bad_byte)
{
    expect_fail("\"ab\x80\"", PW_ESYNTAX, 3);           /* stray continuation */
    expect_fail("\"\xc0\xaf\"", PW_ESYNTAX, 1);         /* overlong '/' */
    expect_fail("\"\xc1\xbf\"", PW_ESYNTAX, 1);         /* overlong */
    expect_fail("\"\xe0\x80\xaf\"", PW_ESYNTAX, 1);     /* overlong 3-byte */
    expect_fail("\"\xf0\x80\x80\xaf\"", PW_ESYNTAX, 1); /* overlong 4-byte */
    expect_fail("\"\xed\xa0\x80\"", PW_ESYNTAX, 1);     /* U+D800 in UTF-8 */
    expect_fail("\"\xed\xbf\xbf\"", PW_ESYNTAX, 1);     /* U+DFFF in UTF-8 */
    expect_fail("\"\xf4\x90\x80\x80\"", PW_ESYNTAX, 1); /* U+110000 */
    expect_fail("\"\xf5\x80\x80\x80\"", PW_ESYNTAX, 1); /* lead byte beyond range */
    expect_fail("\"\xff\"", PW_ESYNTAX, 1);
    expect_fail("\"x\xe2\x82\"", PW_ESYNTAX, 2);    /* truncated before the quote */
    expect_fail("\"x\xe2\x82", PW_ESYNTAX, 2);      /* truncated at end of input */
    expect_fail("\"\xf0\x9f\x98\"", PW_ESYNTAX, 1); /* truncated 4-byte */
    expect_fail("{\"k\xc3\":1}", PW_ESYNTAX, 3);    /* in a key */
    expect_fail("[\xc3\xa9]", PW_ESYNTAX, 1);       /* outside a string */
}

Test(json_decode, unescaped_control_characters_fail)
{
    expect_fail("\"a\nb\"", PW_ESYNTAX, 2);
    expect_fail("\"\t\"", PW_ESYNTAX, 1);
    expect_fail("\"0123456789\x1f\"", PW_ESYNTAX, 11);
    expect_fail_n("\"a\0\"", 4, NULL, PW_ESYNTAX, 2);
    pw_value v = decode_ok("\"\x7f\""); /* DEL is not a control character in JSON */
    cr_assert(pw_value_str_eq(&v, "\x7f", 1));
}

Test(json_decode, unterminated_string_fails)
{
    expect_fail("\"abc", PW_ESYNTAX, 4);
    expect_fail("[\"abcdefghijklmnopqrstuvwxyz", PW_ESYNTAX, 28);
}

Test(json_decode, depth_exactly_at_limit_succeeds)
{
    pw_limits lim = defaults();
    lim.max_depth = 5;
    pw_value v;
    pw_error e;
    cr_assert_eq(decode_n("[[[[{\"a\":1}]]]]", 15, &lim, &v, &e), PW_OK, "%s", e.msg);
    pw_value_release(&v);
    expect_fail_n("[[[[[[]]]]]]", 12, &lim, PW_EDEPTH, 5);
    lim.max_depth = 0;
    cr_assert_eq(decode_n("7", 1, &lim, &v, &e), PW_OK);
    expect_fail_n("[]", 2, &lim, PW_EDEPTH, 0);

    size_t depth = PW_DEFAULT_MAX_DEPTH;
    char *s = malloc(2 * depth + 2);
    memset(s, '[', depth);
    memset(s + depth, ']', depth);
    cr_assert_eq(decode_n(s, 2 * depth, NULL, &v, &e), PW_OK, "%s", e.msg);
    pw_value_release(&v);
    s[depth] = '[';
    s[depth + 1] = ']';
    memset(s + depth + 2, ']', depth);
    expect_fail_n(s, 2 * depth + 2, NULL, PW_EDEPTH, depth);
    free(s);
}

Test(json_decode, hundred_thousand_deep_nesting_fails_cleanly)
{
    size_t n = 100000;
    char *s = malloc(n * 5);
    memset(s, '[', n);
    expect_fail_n(s, n, NULL, PW_EDEPTH, PW_DEFAULT_MAX_DEPTH);
    for (size_t i = 0; i < n; i++)
        memcpy(s + 5 * i, "{\"a\":", 5);
    expect_fail_n(s, n * 5, NULL, PW_EDEPTH, 5 * PW_DEFAULT_MAX_DEPTH);
    free(s);
}

Test(json_decode, very_deep_nesting_under_a_raised_limit_uses_no_recursion)
{
    size_t depth = 200000;
    char *s = malloc(2 * depth);
    memset(s, '[', depth);
    memset(s + depth, ']', depth);
    pw_limits lim = defaults();
    lim.max_depth = 1000000;
    pw_value v;
    pw_error e;
    cr_assert_eq(decode_n(s, 2 * depth, &lim, &v, &e), PW_OK, "%s", e.msg);
    pw_buf b = {0};
    cr_assert_eq(pw_codec_json.encode(&v, &b, &e), PW_OK);
    cr_assert_eq(b.len, 2 * depth);
    cr_assert_eq(memcmp(b.data, s, b.len), 0);
    pw_buf_free(&b);
    pw_value_release(&v);
    /* unclosed: the error path releases 200000 open containers' members */
    memcpy(s + depth, "1,", 2);
    expect_fail_n(s, depth + 2, &lim, PW_ESYNTAX, depth + 2);
    free(s);
}

Test(json_decode, failure_releases_everything_built_so_far)
{
    /* run under ASan/valgrind: a leak here is a test failure */
    expect_fail("{\"items\":[{\"id\":1,\"title\":\"a title longer than sso\"},{\"id\":2,\"t\":x}]}",
                PW_ESYNTAX, 65);
    expect_fail("[[1,2],[3,[4,\"five and more bytes\"]],{\"a\":[}]", PW_ESYNTAX, 43);
}

Test(json_decode, max_string_bytes_limits_decoded_length)
{
    pw_limits lim = defaults();
    lim.max_string_bytes = 4;
    pw_value v;
    pw_error e;
    cr_assert_eq(decode_n("[\"abcd\"]", 8, &lim, &v, &e), PW_OK);
    pw_value_release(&v);
    expect_fail_n("[\"abcde\"]", 9, &lim, PW_ELIMIT, 1);
    expect_fail_n("{\"abcde\":1}", 11, &lim, PW_ELIMIT, 1);
    /* escapes count as the bytes they decode to */
    cr_assert_eq(decode_n("\"\\u00e9\\u00e9\"", 14, &lim, &v, &e), PW_OK);
    pw_value_release(&v);
    expect_fail_n("[\"\\u00e9\\u00e9x\"]", 17, &lim, PW_ELIMIT, 1);
    expect_fail_n("[\"\\n\\n\\n\\n\\n\\n\\n\\n\"]", 20, &lim, PW_ELIMIT, 1);
}

Test(json_decode, max_input_bytes_is_checked_before_parsing)
{
    pw_limits lim = defaults();
    lim.max_input_bytes = 8;
    pw_value v;
    pw_error e;
    cr_assert_eq(decode_n("[1,2,3] ", 8, &lim, &v, &e), PW_OK);
    pw_value_release(&v);
    /* invalid text too: the size check comes first */
    expect_fail_n("[1,2,3]  x", 10, &lim, PW_ELIMIT, 8);
    cr_assert_eq(decode_n("[1,2,3]  x", 10, &lim, &v, &e), PW_ELIMIT);
    cr_assert(strstr(e.msg, "limit"), "%s", e.msg);
}

Test(json_decode, error_record_is_complete)
{
    pw_value v;
    pw_error e;
    cr_assert_eq(decode_n("[1,\"a\\qb\"]", 10, NULL, &v, &e), PW_ESYNTAX);
    cr_assert_eq(e.offset, 5);
    cr_assert_eq(e.index, -1);
    cr_assert(strstr(e.msg, "invalid escape"), "%s", e.msg);
    cr_assert(strstr(e.msg, "byte 5"), "%s", e.msg);
    /* a NULL error record is fine */
    cr_assert_eq(decode_n("[1,", 3, NULL, &v, NULL), PW_ESYNTAX);
    cr_assert_eq(decode_n("[1]", 3, NULL, &v, NULL), PW_OK);
    pw_value_release(&v);
}

Test(json_decode, many_values_grow_the_stack)
{
    size_t count = 50000;
    char *s = malloc(count * 8 + 16);
    size_t n = 0;
    s[n++] = '[';
    for (size_t i = 0; i < count; i++)
        n += (size_t)sprintf(s + n, "%s[%zu]", i ? "," : "", i);
    s[n++] = ']';
    pw_value v;
    pw_error e;
    cr_assert_eq(decode_n(s, n, NULL, &v, &e), PW_OK, "%s", e.msg);
    cr_assert_eq(pw_value_len(&v), count);
    cr_assert_eq(pw_value_int(pw_array_get(pw_array_get(&v, 4321), 0)), 4321);
    pw_value_release(&v);
    free(s);
}

/* ---------------------------------------------------------------- encode */

Test(json_encode, compact_output_in_stored_key_order)
{
    expect_roundtrip(" { \"type\" : \"patches\" , \"data\" : [ { \"op\" : \"add\" , \"path\" : "
                     "[ \"items\" , 0 ] , \"value\" : { \"title\" : \"milk\" } } ] } ",
                     "{\"type\":\"patches\",\"data\":[{\"op\":\"add\",\"path\":[\"items\",0],"
                     "\"value\":{\"title\":\"milk\"}}]}");
    expect_roundtrip("[[],{},[[]],{\"a\":{}}]", "[[],{},[[]],{\"a\":{}}]");
}

Test(json_encode, escapes_only_quote_backslash_and_controls)
{
    pw_value v;
    const char raw[] = "q\" b\\ s/ \b\f\n\r\t \x01\x1f\x7f \xc3\xa9 \xe2\x80\xa8";
    cr_assert_eq(pw_string_new(&v, raw, sizeof raw - 1), PW_OK);
    char *s = encode(&v);
    cr_assert_str_eq(s, "\"q\\\" b\\\\ s/ \\b\\f\\n\\r\\t \\u0001\\u001f\x7f \xc3\xa9 "
                        "\xe2\x80\xa8\"");
    pw_value back;
    pw_error e;
    cr_assert_eq(decode_n(s, strlen(s), NULL, &back, &e), PW_OK, "%s", e.msg);
    cr_assert(pw_value_equal(&v, &back));
    free(s);
    pw_value_release(&v);
    pw_value_release(&back);
}

Test(json_encode, escapes_round_trip_through_decode)
{
    expect_roundtrip("\"\\u0041\\/\\u00e9\\uD83D\\uDE00\\u2028\\u0007\"",
                     "\"A/\xc3\xa9\xf0\x9f\x98\x80\xe2\x80\xa8\\u0007\"");
}

Test(json_encode, integers_print_in_decimal)
{
    expect_roundtrip("[0,-1,9223372036854775807,-9223372036854775808]",
                     "[0,-1,9223372036854775807,-9223372036854775808]");
}

Test(json_encode, doubles_print_like_javascript)
{
    expect_double_text(2.0, "2");
    expect_double_text(-2.0, "-2");
    expect_double_text(0.1, "0.1");
    expect_double_text(123.456, "123.456");
    expect_double_text(-0.0, "0");
    expect_double_text(0.0, "0");
    expect_double_text(1e20, "100000000000000000000");
    expect_double_text(1e21, "1e+21");
    expect_double_text(1.5e-7, "1.5e-7");
    expect_double_text(1e-7, "1e-7");
    expect_double_text(1e-6, "0.000001");
    expect_double_text(1.5e-6, "0.0000015");
    expect_double_text(-1.2345678901234568e+21, "-1.2345678901234568e+21");
    expect_double_text(123456789012345680000.0, "123456789012345680000");
    expect_double_text(0.30000000000000004, "0.30000000000000004");
    expect_double_text(5e-324, "5e-324");
    expect_double_text(1.7976931348623157e308, "1.7976931348623157e+308");
    expect_double_text(9007199254740992.0, "9007199254740992");
    expect_double_text(9007199254740994.0, "9007199254740994");
    expect_double_text(1.5, "1.5");
    expect_double_text(-1e-300, "-1e-300");
    expect_double_text(9.223372036854776e18, "9223372036854776000");
    expect_double_text(4.35, "4.35");
    expect_double_text(2.5e25, "2.5e+25");
}

Test(json_encode, non_finite_doubles_print_null)
{
    expect_double_text(NAN, "null");
    expect_double_text(INFINITY, "null");
    expect_double_text(-INFINITY, "null");
}

Test(json_encode, minus_zero_decodes_to_double_and_prints_zero)
{
    expect_roundtrip("-0", "0");
    expect_roundtrip("[-0.0]", "[0]");
}

/* xorshift64*, fixed seed: the same bit patterns every run */
static uint64_t next_random(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Du;
}

Test(json_encode, random_doubles_round_trip_bit_exactly)
{
    uint64_t seed = 0x9E3779B97F4A7C15u;
    int tested = 0;
    pw_buf b = {0};
    for (int i = 0; i < 4000; i++) {
        uint64_t bits = next_random(&seed);
        if (i % 4 == 1)
            bits &= 0x800FFFFFFFFFFFFFu | ((uint64_t)(1000 + i % 60) << 52); /* near 1 */
        double d;
        memcpy(&d, &bits, sizeof d);
        if (!isfinite(d))
            continue;
        pw_value v = pw_double(d), back;
        pw_error e;
        pw_buf_reset(&b);
        cr_assert_eq(pw_codec_json.encode(&v, &b, &e), PW_OK);
        cr_assert_eq(pw_codec_json.decode(b.data, b.len, NULL, &back, &e), PW_OK, "%.*s: %s",
                     (int)b.len, (const char *)b.data, e.msg);
        double got = pw_value_number(&back);
        uint64_t got_bits;
        memcpy(&got_bits, &got, sizeof got);
        if (d == 0)
            cr_assert_eq(got, 0.0);
        else
            cr_assert_eq(got_bits, bits, "%.17g printed as %.*s read back as %.17g", d, (int)b.len,
                         (const char *)b.data, got);
        tested++;
    }
    cr_assert_gt(tested, 3500);
    pw_buf_free(&b);
}

/* Significant digits of a JSON number text: from the first to the last
 * nonzero digit of the mantissa. */
static int significant_digits(const uint8_t *p, size_t n)
{
    int digits = 0, upto_last_nonzero = 0;
    bool started = false;
    for (size_t i = 0; i < n && p[i] != 'e'; i++) {
        if (p[i] >= '1' && p[i] <= '9')
            started = true;
        if (started && p[i] >= '0' && p[i] <= '9') {
            digits++;
            if (p[i] != '0')
                upto_last_nonzero = digits;
        }
    }
    return upto_last_nonzero;
}

Test(json_encode, shortest_text_is_shortest)
{
    uint64_t seed = 12345;
    pw_buf b = {0};
    for (int i = 0; i < 2000; i++) {
        uint64_t r = next_random(&seed);
        double d = (double)(r >> 11) / 9007199254740992.0 * pow(10, (int)(r % 40) - 20);
        int shortest = 1;
        char g[40];
        for (;; shortest++) {
            snprintf(g, sizeof g, "%.*g", shortest, d);
            if (strtod(g, NULL) == d)
                break;
        }
        pw_value v = pw_double(d);
        pw_buf_reset(&b);
        cr_assert_eq(pw_codec_json.encode(&v, &b, NULL), PW_OK);
        cr_assert_eq(significant_digits(b.data, b.len), shortest, "%s printed as %.*s", g,
                     (int)b.len, (const char *)b.data);
    }
    pw_buf_free(&b);
}

Test(json_encode, appends_to_existing_buffer)
{
    pw_buf b = {0};
    cr_assert_eq(pw_buf_append(&b, "x=", 2), PW_OK);
    pw_value v = decode_ok("{\"a\":[1,\"b\"]}");
    cr_assert_eq(pw_codec_json.encode(&v, &b, NULL), PW_OK);
    cr_assert_eq(b.len, 15);
    cr_assert_eq(memcmp(b.data, "x={\"a\":[1,\"b\"]}", 15), 0);
    pw_buf_free(&b);
    pw_value_release(&v);
}

Test(json_encode, built_tree_with_long_strings_and_shared_nodes)
{
    pw_value arr, s;
    cr_assert_eq(pw_array_new(&arr, 0), PW_OK);
    cr_assert_eq(pw_string_cstr(&s, "a string that does not fit inline \"quoted\""), PW_OK);
    cr_assert_eq(pw_array_push(&arr, pw_value_retain(s)), PW_OK);
    cr_assert_eq(pw_array_push(&arr, s), PW_OK);
    pw_value obj;
    cr_assert_eq(pw_object_new(&obj, 0), PW_OK);
    cr_assert_eq(pw_object_set_str(&obj, "list", 4, pw_value_retain(arr), NULL), PW_OK);
    cr_assert_eq(pw_object_set_str(&obj, "again", 5, arr, NULL), PW_OK);
    char *out = encode(&obj);
    cr_assert_str_eq(out, "{\"list\":[\"a string that does not fit inline \\\"quoted\\\"\","
                          "\"a string that does not fit inline \\\"quoted\\\"\"],"
                          "\"again\":[\"a string that does not fit inline \\\"quoted\\\"\","
                          "\"a string that does not fit inline \\\"quoted\\\"\"]}");
    free(out);
    pw_value_release(&obj);
}

/* ---------------------------------------------------------------- robustness */

Test(json_decode, mutated_inputs_fail_cleanly_or_round_trip)
{
    static const char seed_text[] =
        "{\"type\":\"patches\",\"key\":\"app\\u00e9\",\"data\":[{\"op\":\"replace\",\"path\":"
        "[\"items\",42,\"done\"],\"value\":[true,false,null,-1.5e-3,\"\xf0\x9f\x98\x80\\n\"]}],"
        "\"seq\":9223372036854775807}";
    /* no 'e' or 'E': an exponent could reach infinity, which encodes as null */
    static const char alphabet[] = "{}[]\",:\\ 0123456789-+.trufalsn\x80\xc3\xed\xf0\x00\x1f";
    size_t n0 = sizeof seed_text - 1;
    uint64_t rng = 0xC0FFEE;
    char buf[512];
    pw_buf out = {0};
    int accepted = 0;
    for (int iter = 0; iter < 20000; iter++) {
        memcpy(buf, seed_text, n0);
        size_t n = n0;
        int edits = 1 + (int)(next_random(&rng) % 4);
        for (int k = 0; k < edits; k++) {
            uint64_t r = next_random(&rng);
            size_t at = (size_t)(r >> 8) % n;
            char c = alphabet[(r & 0xff) % (sizeof alphabet - 1)];
            if (r & (1u << 30))
                buf[at] = c; /* replace */
            else if (r & (1u << 31) && n > 1)
                memmove(buf + at, buf + at + 1, --n - at); /* delete */
            else
                n = at + 1; /* truncate */
        }
        pw_value v = pw_int(1);
        pw_error e;
        pw_err rc = decode_n(buf, n, NULL, &v, &e);
        if (rc) {
            cr_assert(rc == PW_ESYNTAX || rc == PW_EDEPTH, "rc %d", rc);
            cr_assert_leq(e.offset, n);
            cr_assert_eq(pw_value_kind(&v), PW_NULL);
            continue;
        }
        accepted++;
        pw_buf_reset(&out);
        cr_assert_eq(pw_codec_json.encode(&v, &out, NULL), PW_OK);
        pw_value back;
        cr_assert_eq(pw_codec_json.decode(out.data, out.len, NULL, &back, &e), PW_OK,
                     "re-decode of %.*s: %s", (int)out.len, (const char *)out.data, e.msg);
        cr_assert(pw_value_equal(&v, &back), "%.*s became %.*s", (int)n, buf, (int)out.len,
                  (const char *)out.data);
        pw_value_release(&v);
        pw_value_release(&back);
    }
    cr_assert_gt(accepted, 100);
    pw_buf_free(&out);
}

/* `[0,0,...,0]` of n bytes (n odd). */
static char *zeros_array(size_t n)
{
    char *s = malloc(n);
    s[0] = '[';
    for (size_t i = 1; i < n - 2; i += 2)
        memcpy(s + i, "0,", 2);
    memcpy(s + n - 2, "0]", 2);
    return s;
}

Test(json_decode, thirty_two_mb_of_zeros_is_refused_by_the_value_limit)
{
    size_t n = ((size_t)32 << 20) + 1;
    char *s = zeros_array(n);
    pw_limits lim = defaults();
    lim.max_values = (size_t)1 << 20;
    pw_value v = pw_int(7);
    pw_error e;
    cr_assert_eq(decode_n(s, n, &lim, &v, &e), PW_ELIMIT);
    cr_assert_eq(pw_value_kind(&v), PW_NULL);
    cr_assert(strstr(e.msg, "limit of 1048576 values"), "%s", e.msg);
    /* refused when the limit is reached, not after building all 16 Mi values */
    cr_assert_leq(e.offset, (size_t)4 << 20, "refused at byte %zu", e.offset);
    /* the default limit (16 Mi values) refuses the whole 16 Mi + 1 too */
    cr_assert_eq(decode_n(s, n, NULL, &v, &e), PW_ELIMIT);
    cr_assert(strstr(e.msg, "values"), "%s", e.msg);
    free(s);
}

Test(json_decode, dense_numbers_within_the_limits_decode)
{
    size_t n = ((size_t)1 << 20) + 1;
    char *s = zeros_array(n);
    pw_limits lim = defaults();
    lim.max_values = n / 2 + 1; /* the array and its n / 2 members */
    pw_value v;
    pw_error e;
    cr_assert_eq(decode_n(s, n, &lim, &v, &e), PW_OK, "%s", e.msg);
    cr_assert_eq(pw_value_len(&v), n / 2);
    pw_value_release(&v);
    lim.max_values--;
    cr_assert_eq(decode_n(s, n, &lim, &v, &e), PW_ELIMIT);
    free(s);
}

Test(json_decode, decoded_memory_is_bounded_by_a_ratio_of_the_input)
{
    /* `[[],[],...]`: 3 input bytes for each array node */
    size_t k = (size_t)1 << 20, n = 3 * k + 1;
    char *s = malloc(n);
    s[0] = '[';
    for (size_t i = 0; i < k; i++)
        memcpy(s + 1 + 3 * i, "[],", 3);
    s[n - 1] = ']';
    pw_value v = pw_int(7);
    pw_error e;
    cr_assert_eq(decode_n(s, n, NULL, &v, &e), PW_OK, "%s", e.msg); /* about 21 bytes per byte */
    pw_value_release(&v);
    pw_limits lim = defaults();
    lim.max_decoded_ratio = 8;
    cr_assert_eq(decode_n(s, n, &lim, &v, &e), PW_ELIMIT);
    cr_assert_eq(pw_value_kind(&v), PW_NULL);
    cr_assert(strstr(e.msg, "bytes of memory"), "%s", e.msg);
    cr_assert_lt(e.offset, n);
    free(s);
}
