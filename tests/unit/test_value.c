/* Document model: kinds, strings, containers, equality, copy-on-write. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "patchwire/codec.h"
#include "patchwire/value.h"

static pw_value str(const char *s)
{
    pw_value v;
    cr_assert_eq(pw_string_cstr(&v, s), PW_OK);
    return v;
}

Test(value, scalars_report_their_kind_and_contents)
{
    pw_value n = pw_null(), b = pw_bool(true), i = pw_int(-42), d = pw_double(2.5);
    cr_assert_eq(pw_value_kind(&n), PW_NULL);
    cr_assert_eq(pw_value_kind(&b), PW_BOOL);
    cr_assert(pw_value_bool(&b));
    cr_assert_eq(pw_value_int(&i), -42);
    cr_assert_float_eq(pw_value_number(&d), 2.5, 0);
    cr_assert_eq(pw_value_number(&i), -42.0);
}

Test(value, strings_short_and_long_keep_bytes_including_nul)
{
    const char raw[] = "a\0b";
    pw_value s;
    cr_assert_eq(pw_string_new(&s, raw, 3), PW_OK);
    size_t n;
    const char *p = pw_value_str(&s, &n);
    cr_assert_eq(n, 3);
    cr_assert_eq(memcmp(p, raw, 3), 0);
    pw_value l = str("a string well beyond the inline limit");
    p = pw_value_str(&l, &n);
    cr_assert_eq(n, strlen("a string well beyond the inline limit"));
    cr_assert_str_eq(p, "a string well beyond the inline limit");
    pw_value fourteen = str("0123456789abcd"), fifteen = str("0123456789abcde");
    cr_assert(pw_value_str_eq(&fourteen, "0123456789abcd", 14));
    cr_assert(pw_value_str_eq(&fifteen, "0123456789abcde", 15));
    pw_value_release(&s);
    pw_value_release(&l);
    pw_value_release(&fourteen);
    pw_value_release(&fifteen);
    cr_assert_eq(pw_value_kind(&l), PW_NULL);
}

Test(value, numbers_compare_as_javascript_when_a_double_is_involved)
{
    pw_value one = pw_int(1), onef = pw_double(1.0), half = pw_double(1.5);
    cr_assert(pw_value_equal(&one, &onef));
    cr_assert(pw_value_equal(&onef, &one));
    cr_assert_not(pw_value_equal(&one, &half));
    /* beyond 2^53 an int equals the double it converts to, as in JavaScript */
    pw_value big = pw_int(INT64_MAX), bigf = pw_double(9223372036854775808.0);
    cr_assert(pw_value_equal(&big, &bigf));
    pw_value odd = pw_int(9007199254740993), oddf = pw_double(9007199254740992.0);
    cr_assert(pw_value_equal(&odd, &oddf));
    pw_value even = pw_int(9007199254740992), even1 = pw_int(9007199254740993);
    cr_assert_not(pw_value_equal(&even, &even1)); /* two ints stay exact */
    pw_value t = pw_bool(true);
    cr_assert_not(pw_value_equal(&one, &t));
}

Test(value, array_insert_set_remove_resize)
{
    pw_value a;
    cr_assert_eq(pw_array_new(&a, 0), PW_OK);
    for (int i = 0; i < 100; i++)
        cr_assert_eq(pw_array_push(&a, pw_int(i)), PW_OK);
    cr_assert_eq(pw_array_insert(&a, 0, pw_int(-1)), PW_OK);
    cr_assert_eq(pw_value_len(&a), 101);
    cr_assert_eq(pw_value_int(pw_array_get(&a, 0)), -1);
    cr_assert_eq(pw_value_int(pw_array_get(&a, 100)), 99);
    cr_assert_eq(pw_array_insert(&a, 102, pw_int(0)), PW_ERANGE);
    pw_value old;
    cr_assert_eq(pw_array_remove(&a, 0, &old), PW_OK);
    cr_assert_eq(pw_value_int(&old), -1);
    cr_assert_eq(pw_array_set(&a, 5, str("five is a long string here"), &old), PW_OK);
    cr_assert_eq(pw_value_int(&old), 5);
    cr_assert_eq(pw_array_resize(&a, 3), PW_OK);
    cr_assert_eq(pw_value_len(&a), 3);
    cr_assert_eq(pw_array_resize(&a, 5), PW_OK);
    cr_assert_eq(pw_value_kind(pw_array_get(&a, 4)), PW_NULL);
    cr_assert_null(pw_array_get(&a, 5));
    cr_assert_eq(pw_array_remove(&a, 5, NULL), PW_ERANGE);
    pw_value_release(&a);
}

Test(value, object_keeps_insertion_order_and_finds_keys_large_and_small)
{
    pw_value o;
    cr_assert_eq(pw_object_new(&o, 0), PW_OK);
    char k[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof k, "key-%d", i);
        cr_assert_eq(pw_object_set_str(&o, k, strlen(k), pw_int(i), NULL), PW_OK);
    }
    cr_assert_eq(pw_value_len(&o), 1000);
    for (int i = 0; i < 1000; i += 7) {
        snprintf(k, sizeof k, "key-%d", i);
        cr_assert_eq(pw_value_int(pw_object_get(&o, k, strlen(k))), i);
        const pw_value *key;
        cr_assert(pw_object_at(&o, (size_t)i, &key, NULL));
        cr_assert(pw_value_str_eq(key, k, strlen(k)));
    }
    cr_assert_null(pw_object_get(&o, "nope", 4));
    pw_value old;
    cr_assert_eq(pw_object_set_str(&o, "key-3", 5, pw_bool(false), &old), PW_OK);
    cr_assert_eq(pw_value_int(&old), 3);
    cr_assert_eq(pw_object_find(&o, "key-3", 5), 3);
    cr_assert_eq(pw_object_remove(&o, "key-3", 5, NULL), PW_OK);
    cr_assert_eq(pw_object_remove(&o, "key-3", 5, NULL), PW_ENOPATH);
    cr_assert_eq(pw_object_find(&o, "key-4", 5), 3);
    cr_assert_eq(pw_value_len(&o), 999);
    pw_value_release(&o);
}

Test(value, object_from_repeated_key_keeps_last_value_at_first_position)
{
    pw_value kv[6] = {str("a"), pw_int(1), str("b"), pw_int(2), str("a"), pw_int(3)};
    pw_value o;
    cr_assert_eq(pw_object_from(&o, kv, 3), PW_OK);
    cr_assert_eq(pw_value_len(&o), 2);
    const pw_value *k, *v;
    cr_assert(pw_object_at(&o, 0, &k, &v));
    cr_assert(pw_value_str_eq(k, "a", 1));
    cr_assert_eq(pw_value_int(v), 3);
    pw_value_release(&o);

    pw_value bad[2] = {pw_int(1), pw_int(2)};
    cr_assert_eq(pw_object_from(&o, bad, 1), PW_ETYPE);
}

Test(value, object_equality_ignores_key_order)
{
    pw_value kv1[4] = {str("x"), pw_int(1), str("y"), pw_int(2)};
    pw_value kv2[4] = {str("y"), pw_double(2.0), str("x"), pw_int(1)};
    pw_value a, b;
    cr_assert_eq(pw_object_from(&a, kv1, 2), PW_OK);
    cr_assert_eq(pw_object_from(&b, kv2, 2), PW_OK);
    cr_assert(pw_value_equal(&a, &b));
    cr_assert_eq(pw_object_set_str(&b, "y", 1, pw_int(3), NULL), PW_OK);
    cr_assert_not(pw_value_equal(&a, &b));
    pw_value_release(&a);
    pw_value_release(&b);
}

Test(value, snapshot_is_untouched_by_edits_of_the_original)
{
    pw_value doc, items;
    cr_assert_eq(pw_object_new(&doc, 0), PW_OK);
    cr_assert_eq(pw_array_new(&items, 0), PW_OK);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(pw_array_push(&items, pw_int(i)), PW_OK);
    cr_assert_eq(pw_object_set_str(&doc, "items", 5, items, NULL), PW_OK);

    pw_value snap = pw_value_retain(doc);
    cr_assert(pw_value_is_shared(&doc));
    pw_value *it = pw_object_get_mut(&doc, "items", 5);
    cr_assert_not_null(it);
    cr_assert_eq(pw_array_set(it, 3, pw_int(300), NULL), PW_OK);
    cr_assert_not(pw_value_is_shared(&doc));

    cr_assert_eq(pw_value_int(pw_array_get(pw_object_get(&snap, "items", 5), 3)), 3);
    cr_assert_eq(pw_value_int(pw_array_get(pw_object_get(&doc, "items", 5), 3)), 300);
    /* untouched siblings are still shared between the two trees */
    cr_assert_not(pw_value_equal(&doc, &snap));
    pw_value_release(&snap);
    pw_value_release(&doc);
}

Test(value, edit_of_unshared_document_happens_in_place)
{
    pw_value a;
    cr_assert_eq(pw_array_new(&a, 4), PW_OK);
    cr_assert_eq(pw_array_push(&a, pw_int(1)), PW_OK);
    const pw_value *before = pw_array_get(&a, 0);
    cr_assert_eq(pw_array_set(&a, 0, pw_int(2), NULL), PW_OK);
    cr_assert_eq(pw_array_get(&a, 0), before);
    pw_value_release(&a);
}

Test(value, deep_tree_is_freed_without_recursion)
{
    pw_value v = pw_null();
    for (int i = 0; i < 1000000; i++) {
        pw_value a;
        cr_assert_eq(pw_array_new(&a, 1), PW_OK);
        cr_assert_eq(pw_array_push(&a, v), PW_OK);
        v = a;
    }
    pw_value_release(&v);
}

/* Nodes freed on a thread go to that thread's cache, which is emptied when the
 * thread exits (the valgrind and LeakSanitizer passes of scripts/test would
 * report what stayed behind). */
static int churned;

static void *churn(void *arg)
{
    for (int round = 0; round < 100; round++) {
        pw_value a;
        if (pw_array_new(&a, 0))
            return NULL;
        for (int i = 0; i < 100; i++) {
            pw_value s;
            if (pw_string_cstr(&s, "a string too long to be kept inline") || pw_array_push(&a, s))
                break;
        }
        pw_value_release(&a);
    }
    return arg;
}

Test(value, node_cache_of_an_exiting_thread_is_freed)
{
    pthread_t t;
    void *ret = NULL;
    cr_assert_eq(pthread_create(&t, NULL, churn, &churned), 0);
    cr_assert_eq(pthread_join(t, &ret), 0);
    cr_assert_eq(ret, &churned);
}

/* ---- hashing of object keys (internal hooks of core/src/base/strtab.c, value/value.c) ---- */

uint64_t pw__siphash(uint64_t k0, uint64_t k1, const void *s, size_t n, int c, int d);
size_t pw__object_index_probes(const pw_value *obj);

Test(value, siphash_gives_the_papers_test_vectors)
{
    /* key 00 01 .. 0f, messages of 0 and 15 bytes 00 01 .. (SipHash-2-4) */
    uint64_t k0 = 0x0706050403020100u, k1 = 0x0f0e0d0c0b0a0908u;
    uint8_t m[15];
    for (int i = 0; i < 15; i++)
        m[i] = (uint8_t)i;
    cr_assert_eq(pw__siphash(k0, k1, m, 0, 2, 4), 0x726fdb47dd0e0e31u);
    cr_assert_eq(pw__siphash(k0, k1, m, 15, 2, 4), 0xa129ca6149be45e5u);
}

/* The unkeyed hash the object index used before (FNV-1a), for crafting keys. */
static uint64_t old_hash(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325u ^ n;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 0x100000001b3u;
    return h ^ (h >> 29);
}

Test(value, keys_crafted_to_collide_do_not_lengthen_probing)
{
    enum { N = 2000, SLOTS = 4096 }; /* the index of an N-member object */
    char(*keys)[16] = malloc(sizeof(*keys) * N);
    size_t found = 0;
    for (unsigned long c = 0; found < N && c < 100000000ul; c++) {
        int len = snprintf(keys[found], sizeof keys[found], "k%lu", c);
        if ((old_hash(keys[found], (size_t)len) & (SLOTS - 1)) == 0)
            found++;
    }
    cr_assert_eq(found, N, "crafting stopped at %zu keys", found);

    /* They all share one slot under the old hash: linear probing from it
     * visits 1 + 2 + ... + N slots to find them all. */
    size_t old_probes = 0;
    for (size_t i = 0; i < N; i++)
        old_probes += i + 1;
    cr_assert_gt(old_probes, (size_t)N * N / 2);

    size_t cap = (size_t)N * 24 + 8, len = 0;
    char *json = malloc(cap);
    json[len++] = '{';
    for (size_t i = 0; i < N; i++)
        len += (size_t)snprintf(json + len, cap - len, "%s\"%s\":%zu", i ? "," : "", keys[i], i);
    json[len++] = '}';
    pw_value obj;
    pw_error err;
    cr_assert_eq(pw_codec_json.decode((const uint8_t *)json, len, NULL, &obj, &err), PW_OK, "%s",
                 err.msg);
    cr_assert_eq(pw_value_len(&obj), N);
    size_t probes = pw__object_index_probes(&obj);
    cr_assert_gt(probes, 0, "an object of %d members has a hash index", N);
    cr_assert_lt(probes, (size_t)N * 3, "%zu slots visited to find %d keys", probes, N);
    for (size_t i = 0; i < N; i += 97) {
        const pw_value *v = pw_object_get(&obj, keys[i], strlen(keys[i]));
        cr_assert(v && pw_value_int(v) == (int64_t)i);
    }
    pw_value_release(&obj);
    free(json);
    free(keys);
}
