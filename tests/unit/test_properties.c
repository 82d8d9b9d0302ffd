/* Property tests over random documents: the codecs, diff, apply and inverse
 * agree with each other on every document a seeded generator produces. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "patchwire/codec.h"
#include "patchwire/patch.h"
#include "patchwire/value.h"
#include "randdoc.h"

#define ROUNDS 3000

static void encode(const pw_codec *c, const pw_value *v, pw_buf *out)
{
    pw_error err;
    pw_buf_reset(out);
    pw_err rc = c->encode(v, out, &err);
    cr_assert_eq(rc, PW_OK, "%s encode: %s", c->name, err.msg);
}

static pw_value decode(const pw_codec *c, const pw_buf *in)
{
    pw_value v;
    pw_error err;
    pw_err rc = c->decode(in->data, in->len, NULL, &v, &err);
    cr_assert_eq(rc, PW_OK, "%s decode: %s (%.*s)", c->name, err.msg, (int)in->len,
                 (const char *)in->data);
    return v;
}

Test(properties, json_to_msgpack_to_json_is_identity)
{
    randdoc_seed(0x9E3779B97F4A7C15u);
    pw_buf j1 = {0}, m = {0}, j2 = {0};
    for (int r = 0; r < ROUNDS; r++) {
        pw_value doc = randdoc_value(4, NULL);
        encode(&pw_codec_json, &doc, &j1);
        pw_value from_json = decode(&pw_codec_json, &j1);
        cr_assert(pw_value_equal(&doc, &from_json), "round %d: %.*s", r, (int)j1.len, j1.data);
        encode(&pw_codec_msgpack, &from_json, &m);
        pw_value from_mp = decode(&pw_codec_msgpack, &m);
        cr_assert(pw_value_equal(&doc, &from_mp), "round %d", r);
        encode(&pw_codec_json, &from_mp, &j2);
        cr_assert_eq(j1.len, j2.len, "round %d: %.*s vs %.*s", r, (int)j1.len, j1.data,
                     (int)j2.len, j2.data);
        cr_assert_eq(memcmp(j1.data, j2.data, j1.len), 0, "round %d", r);
        pw_value_release(&doc);
        pw_value_release(&from_json);
        pw_value_release(&from_mp);
    }
    pw_buf_free(&j1);
    pw_buf_free(&m);
    pw_buf_free(&j2);
}

/* apply(a, diff(a, b)) == b, and applying the inverse gives a back. */
static void diff_apply_inverse(pw_dialect dialect, uint64_t seed)
{
    randdoc_seed(seed);
    for (int r = 0; r < ROUNDS; r++) {
        pw_value a = randdoc_value(4, NULL);
        pw_value b = pw_value_retain(a);
        int edits = 1 + (int)randdoc_below(4);
        for (int e = 0; e < edits; e++)
            randdoc_mutate(&b, 4);
        if (randdoc_below(8) == 0) { /* sometimes two unrelated documents */
            pw_value_release(&b);
            b = randdoc_value(4, NULL);
        }

        pw_patches d;
        pw_patches_init(&d, dialect);
        cr_assert_eq(pw_diff(&a, &b, &d), PW_OK);

        /* through the wire form, so paths are formatted and parsed again */
        pw_value wire;
        cr_assert_eq(pw_patches_to_value(&d, &wire), PW_OK);
        pw_buf text = {0};
        encode(&pw_codec_json, &wire, &text);
        pw_value wire2 = decode(&pw_codec_json, &text);
        pw_patches p;
        pw_patches_init(&p, PW_DIALECT_IMMER);
        pw_error err;
        if (d.len) {
            cr_assert_eq(pw_patches_from_value(&wire2, &p, &err), PW_OK, "round %d: %s", r,
                         err.msg);
            cr_assert_eq(p.dialect, dialect);
        }

        pw_value doc = pw_value_retain(a), snapshot = pw_value_retain(a);
        pw_patches inv;
        pw_patches_init(&inv, dialect);
        cr_assert_eq(pw_patches_apply(&doc, &p, &inv, &err), PW_OK, "round %d: %s in %.*s", r,
                     err.msg, (int)text.len, text.data);
        cr_assert(pw_value_equal(&doc, &b), "round %d: diff %.*s", r, (int)text.len, text.data);
        cr_assert(pw_value_equal(&snapshot, &a), "round %d: snapshot changed", r);

        cr_assert_eq(pw_patches_apply(&doc, &inv, NULL, &err), PW_OK, "round %d: %s", r,
                     err.msg);
        cr_assert(pw_value_equal(&doc, &a), "round %d: inverse did not restore", r);

        pw_patches_clear(&inv);
        pw_patches_clear(&p);
        pw_patches_clear(&d);
        pw_buf_free(&text);
        pw_value_release(&wire);
        pw_value_release(&wire2);
        pw_value_release(&doc);
        pw_value_release(&snapshot);
        pw_value_release(&a);
        pw_value_release(&b);
    }
}

Test(properties, immer_diff_applies_and_inverse_restores)
{
    diff_apply_inverse(PW_DIALECT_IMMER, 42);
}

Test(properties, rfc6902_diff_applies_and_inverse_restores)
{
    diff_apply_inverse(PW_DIALECT_RFC6902, 4242);
}

/* A failing patch anywhere in a list leaves the document as it was. */
Test(properties, failed_list_changes_nothing)
{
    randdoc_seed(7);
    for (int r = 0; r < ROUNDS; r++) {
        pw_value a = randdoc_value(4, NULL), b = pw_value_retain(a);
        randdoc_mutate(&b, 4);
        randdoc_mutate(&b, 4);
        pw_patches d;
        pw_patches_init(&d, PW_DIALECT_RFC6902);
        cr_assert_eq(pw_diff(&a, &b, &d), PW_OK);
        /* append a patch that must fail: a test against a value never generated */
        pw_value path, val;
        cr_assert_eq(pw_array_new(&path, 0), PW_OK);
        cr_assert_eq(pw_string_cstr(&val, "never generated by rand_value"), PW_OK);
        cr_assert_eq(pw_patches_push(&d, PW_OP_TEST, path, pw_null(), val, true), PW_OK);

        pw_value doc = pw_value_retain(a);
        cr_assert_eq(pw_value_unshare(&doc), PW_OK); /* edits go in place */
        pw_error err;
        cr_assert_eq(pw_patches_apply(&doc, &d, NULL, &err), PW_ETEST, "round %d: %s", r,
                     err.msg);
        cr_assert_eq(err.index, (long)d.len - 1);
        cr_assert(pw_value_equal(&doc, &a), "round %d: partial apply", r);
        pw_patches_clear(&d);
        pw_value_release(&doc);
        pw_value_release(&a);
        pw_value_release(&b);
    }
}
