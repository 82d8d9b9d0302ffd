/* randdoc.c - seeded random documents: nested objects and arrays, int64
 * edges, arbitrary finite doubles, strings with escapes, NUL and non-ASCII. */
#include "randdoc.h"

#include <criterion/criterion.h>
#include <string.h>

static uint64_t rng_state = 1;
static randdoc_opts opts_now;

void randdoc_seed(uint64_t seed) { rng_state = seed ? seed : 1; }

uint64_t randdoc_next(void)
{
    uint64_t x = rng_state; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1Du;
}

size_t randdoc_below(size_t n) { return n ? (size_t)(randdoc_next() % n) : 0; }

static const char *const words[] = {
    "",     "a",      "title",         "done",  "items", "ключ",     "日本語のテキスト",
    "😀ok", "tab\tq", "quote\"slash\\", "nul",  "-",     "0",        "a string longer than sso",
    "~1/x", "id",     "__not_proto",   "\x7f", "e\xcc\x81", "emoji 🎉 party time"};

static pw_value rand_string(void)
{
    pw_value s;
    if (randdoc_below(12) == 0) { /* a string holding a NUL byte */
        cr_assert_eq(pw_string_new(&s, "nul\0byte", 8), PW_OK);
        return s;
    }
    const char *w = words[randdoc_below(sizeof words / sizeof words[0])];
    if (opts_now.js_safe && strcmp(w, "0") == 0)
        w = "zero"; /* JavaScript objects move integer-like keys to the front */
    cr_assert_eq(pw_string_cstr(&s, w), PW_OK);
    return s;
}

static pw_value rand_scalar(void)
{
    switch (randdoc_below(9)) {
    case 0:
        return pw_null();
    case 1:
        return pw_bool(randdoc_below(2));
    case 2:
        return pw_int((int64_t)randdoc_below(100));
    case 3: {
        static const int64_t edges[] = {INT64_MIN, INT64_MAX, -1, 0, 9007199254740993LL,
                                        -9007199254740993LL};
        return pw_int(opts_now.js_safe ? (int64_t)randdoc_below(1000) - 500 : edges[randdoc_below(6)]);
    }
    case 4: {
        double d;
        do {
            uint64_t bits = randdoc_next();
            memcpy(&d, &bits, sizeof d);
        } while (d != d || d - d != 0 || (opts_now.js_safe && d == (double)(int64_t)d &&
                                          (d > 9007199254740992.0 || d < -9007199254740992.0)));
        /* finite only: NaN/Inf have no JSON form; js_safe: an integral double beyond 2^53
         * would print as an integer JavaScript cannot hold exactly */
        return pw_double(d);
    }
    case 5: {
        static const double nice[] = {0.1, 1.5, -2.25, 1e21, 1.5e-7, 123456.789, 5e-324};
        return pw_double(nice[randdoc_below(7)]);
    }
    default:
        return rand_string();
    }
}

static pw_value rand_value(int depth)
{
    size_t pick = randdoc_below(depth > 0 ? 10 : 6);
    if (pick < 6)
        return rand_scalar();
    pw_value v;
    size_t n = randdoc_below(6);
    if (pick < 8) {
        cr_assert_eq(pw_array_new(&v, n), PW_OK);
        for (size_t i = 0; i < n; i++)
            cr_assert_eq(pw_array_push(&v, rand_value(depth - 1)), PW_OK);
    } else {
        cr_assert_eq(pw_object_new(&v, n), PW_OK);
        for (size_t i = 0; i < n; i++)
            cr_assert_eq(pw_object_set(&v, rand_string(), rand_value(depth - 1), NULL), PW_OK);
    }
    return v;
}

/* Edits a random place of *v (copy-on-write keeps other holders intact). */
void randdoc_mutate(pw_value *v, int depth)
{
    pw_kind k = pw_value_kind(v);
    size_t n = pw_value_len(v);
    if ((k != PW_ARRAY && k != PW_OBJECT) || depth == 0 || randdoc_below(5) == 0) {
        pw_value_release(v);
        *v = rand_value(2);
        return;
    }
    size_t i = randdoc_below(n + 1);
    if (k == PW_ARRAY) {
        switch (randdoc_below(3)) {
        case 0:
            cr_assert_eq(pw_array_insert(v, i, rand_value(2)), PW_OK);
            return;
        case 1:
            if (i < n) {
                cr_assert_eq(pw_array_remove(v, i, NULL), PW_OK);
                return;
            }
            break;
        default:
            break;
        }
        if (i < n)
            randdoc_mutate(pw_array_get_mut(v, i), depth - 1);
        return;
    }
    const pw_value *key;
    if (i == n || !pw_object_at(v, i, &key, NULL)) {
        cr_assert_eq(pw_object_set(v, rand_string(), rand_value(2), NULL), PW_OK);
        return;
    }
    size_t klen;
    const char *ks = pw_value_str(key, &klen);
    char kbuf[64];
    memcpy(kbuf, ks, klen < sizeof kbuf ? klen : sizeof kbuf);
    if (randdoc_below(3) == 0)
        cr_assert_eq(pw_object_remove(v, kbuf, klen, NULL), PW_OK);
    else
        randdoc_mutate(pw_object_get_mut(v, kbuf, klen), depth - 1);
}

pw_value randdoc_value(int depth, const randdoc_opts *opts)
{
    randdoc_opts none = {0};
    opts_now = opts ? *opts : none;
    return rand_value(depth);
}
