/* Patch lists: Immer and RFC 6902 semantics, wire form, atomic apply, inverses.
 *
 * Documents are built with the value constructors (A(...) arrays, O(k, v, ...)
 * objects); `same` compares exactly, key order and number kinds included. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "patchwire/codec.h"
#include "patchwire/patch.h"

/* ---------------------------------------------------------------- builders */

static pw_value S(const char *s)
{
    pw_value v;
    cr_assert_eq(pw_string_cstr(&v, s), PW_OK);
    return v;
}
#define I(x) pw_int(x)
#define N pw_null()

static pw_value arr_of(size_t n, pw_value *items)
{
    pw_value v;
    cr_assert_eq(pw_array_from(&v, items, n), PW_OK);
    return v;
}
static pw_value obj_of(size_t n, pw_value *kv)
{
    pw_value v;
    cr_assert_eq(pw_object_from(&v, kv, n), PW_OK);
    return v;
}
#define NV(...) (sizeof((pw_value[]){__VA_ARGS__}) / sizeof(pw_value))
#define A(...) arr_of(NV(__VA_ARGS__), (pw_value[]){__VA_ARGS__})
#define A0() arr_of(0, NULL)
#define O(...) obj_of(NV(__VA_ARGS__) / 2, (pw_value[]){__VA_ARGS__})
#define O0() obj_of(0, NULL)

static pw_value ptr(const char *s)
{
    pw_value v;
    cr_assert_eq(pw_pointer_parse(s, strlen(s), &v, NULL), PW_OK, "pointer %s", s);
    return v;
}

/* Immer patch (path an array value) with and without a value. */
static void ip(pw_patches *l, pw_op op, pw_value path, pw_value value)
{
    cr_assert_eq(pw_patches_push(l, op, path, N, value, true), PW_OK);
}
static void ip_nv(pw_patches *l, pw_op op, pw_value path)
{
    cr_assert_eq(pw_patches_push(l, op, path, N, N, false), PW_OK);
}
/* RFC 6902 patch (path a pointer). */
static void rp(pw_patches *l, pw_op op, const char *path, pw_value value)
{
    cr_assert_eq(pw_patches_push(l, op, ptr(path), N, value, true), PW_OK);
}
static void rp_nv(pw_patches *l, pw_op op, const char *path)
{
    cr_assert_eq(pw_patches_push(l, op, ptr(path), N, N, false), PW_OK);
}
static void rp_from(pw_patches *l, pw_op op, const char *from, const char *path)
{
    cr_assert_eq(pw_patches_push(l, op, ptr(path), ptr(from), N, false), PW_OK);
}

/* ---------------------------------------------------------------- checks */

static bool same(const pw_value *a, const pw_value *b)
{
    pw_kind k = pw_value_kind(a);
    if (k != pw_value_kind(b))
        return false;
    switch (k) {
    case PW_ARRAY:
        if (pw_value_len(a) != pw_value_len(b))
            return false;
        for (size_t i = 0; i < pw_value_len(a); i++)
            if (!same(pw_array_get(a, i), pw_array_get(b, i)))
                return false;
        return true;
    case PW_OBJECT:
        if (pw_value_len(a) != pw_value_len(b))
            return false;
        for (size_t i = 0; i < pw_value_len(a); i++) {
            const pw_value *ka, *va, *kb, *vb;
            pw_object_at(a, i, &ka, &va);
            pw_object_at(b, i, &kb, &vb);
            if (!pw_value_equal(ka, kb) || !same(va, vb))
                return false;
        }
        return true;
    default:
        return pw_value_equal(a, b);
    }
}

/* Test-only compact printer, for failure messages. */
static void show_into(const pw_value *v, char *buf, size_t size, size_t *w)
{
#define PUT(...)                                                                                   \
    (*w += (size_t)snprintf(buf + (*w < size ? *w : size), *w < size ? size - *w : 0, __VA_ARGS__))
    size_t n;
    const char *s;
    switch (pw_value_kind(v)) {
    case PW_NULL:
        PUT("null");
        break;
    case PW_BOOL:
        PUT(pw_value_bool(v) ? "true" : "false");
        break;
    case PW_INT:
        PUT("%lld", (long long)pw_value_int(v));
        break;
    case PW_DOUBLE:
        PUT("%g", pw_value_number(v));
        break;
    case PW_STRING:
        s = pw_value_str(v, &n);
        PUT("\"%.*s\"", (int)n, s);
        break;
    case PW_ARRAY:
        PUT("[");
        for (size_t i = 0; i < pw_value_len(v); i++) {
            if (i)
                PUT(",");
            show_into(pw_array_get(v, i), buf, size, w);
        }
        PUT("]");
        break;
    case PW_OBJECT:
        PUT("{");
        for (size_t i = 0; i < pw_value_len(v); i++) {
            const pw_value *k, *x;
            pw_object_at(v, i, &k, &x);
            s = pw_value_str(k, &n);
            PUT("%s\"%.*s\":", i ? "," : "", (int)n, s);
            show_into(x, buf, size, w);
        }
        PUT("}");
        break;
    }
#undef PUT
}
static const char *show(const pw_value *v)
{
    static char bufs[4][1024];
    static int next;
    char *b = bufs[next++ & 3];
    size_t w = 0;
    b[0] = '\0';
    show_into(v, b, 1024, &w);
    return b;
}

#define expect_same(got, want)                                                                     \
    do {                                                                                           \
        pw_value want_ = (want);                                                                   \
        cr_assert(same((got), &want_), "got %s, want %s", show(got), show(&want_));                \
        pw_value_release(&want_);                                                                  \
    } while (0)

static pw_value deep(const pw_value *v)
{
    pw_value out;
    if (pw_value_kind(v) == PW_ARRAY) {
        cr_assert_eq(pw_array_new(&out, 0), PW_OK);
        for (size_t i = 0; i < pw_value_len(v); i++)
            cr_assert_eq(pw_array_push(&out, deep(pw_array_get(v, i))), PW_OK);
        return out;
    }
    if (pw_value_kind(v) == PW_OBJECT) {
        cr_assert_eq(pw_object_new(&out, 0), PW_OK);
        for (size_t i = 0; i < pw_value_len(v); i++) {
            const pw_value *k, *x;
            pw_object_at(v, i, &k, &x);
            cr_assert_eq(pw_object_set(&out, deep(k), deep(x), NULL), PW_OK);
        }
        return out;
    }
    if (pw_value_kind(v) == PW_STRING) {
        size_t n;
        const char *s = pw_value_str(v, &n);
        cr_assert_eq(pw_string_new(&out, s, n), PW_OK);
        return out;
    }
    return *v;
}

/* Applies l to *doc expecting success, then checks that the inverse undoes it
 * (equal to the original; exactly so unless `order_may_change`). */
static void apply_ok(pw_value *doc, pw_patches *l, bool order_may_change)
{
    pw_value before = deep(doc);
    pw_patches inv;
    pw_patches_init(&inv, PW_DIALECT_IMMER);
    pw_error e;
    cr_assert_eq(pw_patches_apply(doc, l, &inv, &e), PW_OK, "%s", e.msg);
    cr_assert_eq(inv.dialect, l->dialect);
    pw_value undone = pw_value_retain(*doc);
    cr_assert_eq(pw_patches_apply(&undone, &inv, NULL, &e), PW_OK, "inverse: %s", e.msg);
    if (order_may_change)
        cr_assert(pw_value_equal(&undone, &before), "undo gave %s, want %s", show(&undone),
                  show(&before));
    else
        cr_assert(same(&undone, &before), "undo gave %s, want %s", show(&undone), show(&before));
    pw_value_release(&undone);
    pw_value_release(&before);
    pw_patches_clear(&inv);
}

/* Applies l expecting code; checks the doc is exactly as before. */
static void apply_fails(pw_value *doc, pw_patches *l, pw_err code, long index, const char *msg)
{
    pw_value before = deep(doc);
    pw_patches inv;
    pw_patches_init(&inv, l->dialect);
    pw_error e;
    pw_err rc = pw_patches_apply(doc, l, &inv, &e);
    cr_assert_eq(rc, code, "got %d (%s), want %d", rc, e.msg, code);
    cr_assert_eq(e.code, code);
    cr_assert_eq(e.index, index, "index %ld: %s", e.index, e.msg);
    if (msg)
        cr_assert(strstr(e.msg, msg), "message \"%s\" lacks \"%s\"", e.msg, msg);
    cr_assert_eq(inv.len, 0, "no inverse on failure");
    cr_assert(same(doc, &before), "doc changed: %s, was %s", show(doc), show(&before));
    pw_value_release(&before);
}

/* One Immer patch on doc, expecting `want`. */
static void immer1(pw_value doc, pw_op op, pw_value path, pw_value value, bool has, pw_value want)
{
    pw_patches l;
    pw_patches_init(&l, PW_DIALECT_IMMER);
    cr_assert_eq(pw_patches_push(&l, op, path, N, value, has), PW_OK);
    apply_ok(&doc, &l, true);
    expect_same(&doc, want);
    pw_value_release(&doc);
    pw_patches_clear(&l);
}

static void immer_fails(pw_value doc, pw_op op, pw_value path, pw_value value, pw_err code,
                        const char *msg)
{
    pw_patches l;
    pw_patches_init(&l, PW_DIALECT_IMMER);
    cr_assert_eq(pw_patches_push(&l, op, path, N, value, true), PW_OK);
    apply_fails(&doc, &l, code, 0, msg);
    pw_value_release(&doc);
    pw_patches_clear(&l);
}

static void rfc1(pw_value doc, pw_op op, const char *path, pw_value value, pw_value want)
{
    pw_patches l;
    pw_patches_init(&l, PW_DIALECT_RFC6902);
    rp(&l, op, path, value);
    apply_ok(&doc, &l, true);
    expect_same(&doc, want);
    pw_value_release(&doc);
    pw_patches_clear(&l);
}

static void rfc_fails(pw_value doc, pw_op op, const char *path, pw_value value, pw_err code,
                      const char *msg)
{
    pw_patches l;
    pw_patches_init(&l, PW_DIALECT_RFC6902);
    rp(&l, op, path, value);
    apply_fails(&doc, &l, code, 0, msg);
    pw_value_release(&doc);
    pw_patches_clear(&l);
}

static void rfc_move(pw_value doc, pw_op op, const char *from, const char *path, pw_value want)
{
    pw_patches l;
    pw_patches_init(&l, PW_DIALECT_RFC6902);
    rp_from(&l, op, from, path);
    apply_ok(&doc, &l, true);
    expect_same(&doc, want);
    pw_value_release(&doc);
    pw_patches_clear(&l);
}

/* ---------------------------------------------------------------- Immer: the table */

Test(patch_immer, add_on_array_inserts_at_index)
{
    immer1(A(I(1), I(2), I(3)), PW_OP_ADD, A(I(1)), S("x"), true, A(I(1), S("x"), I(2), I(3)));
}

Test(patch_immer, add_at_array_length_appends)
{
    immer1(A(I(1), I(2)), PW_OP_ADD, A(I(2)), I(9), true, A(I(1), I(2), I(9)));
}

Test(patch_immer, add_past_array_length_appends_like_splice)
{
    immer1(A(I(1), I(2)), PW_OP_ADD, A(I(7)), I(9), true, A(I(1), I(2), I(9)));
}

Test(patch_immer, add_with_dash_appends)
{
    immer1(O(S("items"), A(I(1))), PW_OP_ADD, A(S("items"), S("-")), I(2), true,
           O(S("items"), A(I(1), I(2))));
}

Test(patch_immer, add_on_object_creates_or_overwrites)
{
    immer1(O(S("a"), I(1)), PW_OP_ADD, A(S("b")), I(2), true, O(S("a"), I(1), S("b"), I(2)));
    immer1(O(S("a"), I(1), S("b"), I(2)), PW_OP_ADD, A(S("a")), I(5), true,
           O(S("a"), I(5), S("b"), I(2)));
}

Test(patch_immer, replace_array_element)
{
    immer1(A(I(1), I(2)), PW_OP_REPLACE, A(I(0)), S("z"), true, A(S("z"), I(2)));
}

Test(patch_immer, replace_at_array_length_appends)
{
    immer1(A(I(1), I(2)), PW_OP_REPLACE, A(I(2)), I(3), true, A(I(1), I(2), I(3)));
}

Test(patch_immer, replace_past_array_length_fills_holes_with_null)
{
    immer1(A(I(1)), PW_OP_REPLACE, A(I(3)), I(4), true, A(I(1), N, N, I(4)));
}

Test(patch_immer, replace_length_truncates)
{
    immer1(O(S("l"), A(I(1), I(2), I(3), I(4))), PW_OP_REPLACE, A(S("l"), S("length")), I(1), true,
           O(S("l"), A(I(1))));
}

Test(patch_immer, replace_length_extends_with_nulls)
{
    immer1(A(I(1)), PW_OP_REPLACE, A(S("length")), I(3), true, A(I(1), N, N));
}

Test(patch_immer, replace_length_to_same_length_changes_nothing)
{
    immer1(A(I(1)), PW_OP_REPLACE, A(S("length")), pw_double(1.0), true, A(I(1)));
}

Test(patch_immer, replace_length_needs_a_non_negative_integer)
{
    immer_fails(A(I(1)), PW_OP_REPLACE, A(S("length")), I(-1), PW_EOP, "length");
    immer_fails(A(I(1)), PW_OP_REPLACE, A(S("length")), pw_double(1.5), PW_EOP, "length");
    immer_fails(A(I(1)), PW_OP_REPLACE, A(S("length")), S("2"), PW_EOP, "length");
}

Test(patch_immer, array_growth_is_bounded)
{
    immer_fails(A(I(1)), PW_OP_REPLACE, A(S("length")), I(1000000000), PW_ELIMIT, "limit");
    immer_fails(A(I(1)), PW_OP_REPLACE, A(I(1000000000)), I(1), PW_ELIMIT, "past the end");
}

Test(patch_immer, replace_on_object_sets_and_creates_missing_key)
{
    immer1(O(S("a"), I(1)), PW_OP_REPLACE, A(S("a")), I(2), true, O(S("a"), I(2)));
    immer1(O(S("a"), I(1)), PW_OP_REPLACE, A(S("b")), I(2), true, O(S("a"), I(1), S("b"), I(2)));
}

Test(patch_immer, remove_splices_array_element_out)
{
    immer1(A(I(1), I(2), I(3)), PW_OP_REMOVE, A(I(1)), N, false, A(I(1), I(3)));
}

Test(patch_immer, remove_out_of_range_is_a_silent_no_op_without_inverse)
{
    pw_value doc = A(I(1));
    pw_patches l, inv;
    pw_patches_init(&l, PW_DIALECT_IMMER);
    pw_patches_init(&inv, PW_DIALECT_IMMER);
    ip_nv(&l, PW_OP_REMOVE, A(I(5)));
    ip_nv(&l, PW_OP_REMOVE, A(S("nokey"), I(0))); /* parent missing: that IS an error */
    apply_fails(&doc, &l, PW_ENOPATH, 1, "doesn't resolve");
    pw_patches_clear(&l);
    ip_nv(&l, PW_OP_REMOVE, A(I(5)));
    cr_assert_eq(pw_patches_apply(&doc, &l, &inv, NULL), PW_OK);
    cr_assert_eq(inv.len, 0);
    expect_same(&doc, A(I(1)));
    pw_value_release(&doc);
    pw_patches_clear(&l);
}

Test(patch_immer, remove_deletes_object_key_and_missing_key_is_no_op)
{
    immer1(O(S("a"), I(1), S("b"), I(2)), PW_OP_REMOVE, A(S("a")), N, false, O(S("b"), I(2)));
    immer1(O(S("a"), I(1)), PW_OP_REMOVE, A(S("zz")), N, false, O(S("a"), I(1)));
}

Test(patch_immer, move_copy_test_are_errors)
{
    pw_op ops[] = {PW_OP_MOVE, PW_OP_COPY, PW_OP_TEST};
    for (int i = 0; i < 3; i++)
        immer_fails(O(S("a"), I(1)), ops[i], A(S("a")), I(1), PW_EOP, "not an Immer op");
}

Test(patch_immer, empty_path_replace_or_add_replaces_the_document)
{
    immer1(O(S("a"), I(1)), PW_OP_REPLACE, A0(), A(I(1)), true, A(I(1)));
    immer1(O(S("a"), I(1)), PW_OP_ADD, A0(), S("s"), true, S("s"));
}

Test(patch_immer, removing_the_root_is_an_error)
{
    immer_fails(O(S("a"), I(1)), PW_OP_REMOVE, A0(), N, PW_ENOPATH, "whole document");
}

Test(patch_immer, intermediate_segments_must_resolve_to_containers)
{
    pw_value doc = O(S("a"), O(S("b"), I(1)), S("l"), A(I(1)));
    immer_fails(deep(&doc), PW_OP_REPLACE, A(S("x"), S("y")), I(1), PW_ENOPATH, "doesn't resolve");
    immer_fails(deep(&doc), PW_OP_REPLACE, A(S("a"), S("b"), S("c")), I(1), PW_ENOPATH,
                "parent is");
    immer_fails(deep(&doc), PW_OP_ADD, A(S("l"), I(4), S("c")), I(1), PW_ENOPATH, "out of range");
    immer_fails(deep(&doc), PW_OP_ADD, A(S("l"), S("length"), S("c")), I(1), PW_ENOPATH,
                "not an array index");
    pw_value_release(&doc);
}

Test(patch_immer, decimal_string_indexes_arrays_and_int_keys_objects)
{
    immer1(A(I(1), I(2)), PW_OP_REPLACE, A(S("1")), I(5), true, A(I(1), I(5)));
    immer1(O(S("7"), I(1)), PW_OP_REPLACE, A(I(7)), I(5), true, O(S("7"), I(5)));
    immer1(O(S("k"), A(O(S("x"), I(1)))), PW_OP_REPLACE, A(S("k"), S("0"), S("x")), I(2), true,
           O(S("k"), A(O(S("x"), I(2)))));
}

Test(patch_immer, non_canonical_index_is_an_error)
{
    immer_fails(A(I(1), I(2)), PW_OP_ADD, A(S("01")), I(5), PW_ENOPATH, "not an array index");
    immer_fails(A(I(1), I(2)), PW_OP_REMOVE, A(S("-")), N, PW_ENOPATH, "not an array index");
    immer_fails(A(I(1), I(2)), PW_OP_REPLACE, A(S("x")), I(1), PW_ENOPATH, "not an array index");
}

Test(patch_immer, missing_value_is_null_in_arrays_and_removal_in_objects)
{
    immer1(A(I(1)), PW_OP_ADD, A(I(0)), N, false, A(N, I(1)));
    immer1(A(I(1)), PW_OP_REPLACE, A(I(0)), N, false, A(N));
    immer1(O(S("a"), I(1), S("b"), I(2)), PW_OP_REPLACE, A(S("a")), N, false, O(S("b"), I(2)));
    immer1(O(S("a"), I(1)), PW_OP_ADD, A(S("a")), N, false, O0());
    immer1(O(S("a"), I(1)), PW_OP_ADD, A(S("q")), N, false, O(S("a"), I(1)));
}

Test(patch_immer, inverse_of_clamped_or_dash_add_removes_the_real_index)
{
    pw_value doc = A(I(1), I(2));
    pw_patches l, inv;
    pw_patches_init(&l, PW_DIALECT_IMMER);
    pw_patches_init(&inv, PW_DIALECT_IMMER);
    ip(&l, PW_OP_ADD, A(I(9)), I(3));
    ip(&l, PW_OP_ADD, A(S("-")), I(4));
    cr_assert_eq(pw_patches_apply(&doc, &l, &inv, NULL), PW_OK);
    expect_same(&doc, A(I(1), I(2), I(3), I(4)));
    cr_assert_eq(inv.len, 2);
    cr_assert_eq(inv.items[0].op, PW_OP_REMOVE);
    expect_same(&inv.items[0].path, A(I(3)));
    expect_same(&inv.items[1].path, A(I(2)));
    pw_value_release(&doc);
    pw_patches_clear(&l);
    pw_patches_clear(&inv);
}

Test(patch_immer, inverse_of_replace_and_remove_carry_old_values)
{
    pw_value doc = O(S("a"), I(1), S("b"), A(I(1), I(2)));
    pw_patches l, inv;
    pw_patches_init(&l, PW_DIALECT_IMMER);
    pw_patches_init(&inv, PW_DIALECT_IMMER);
    ip(&l, PW_OP_REPLACE, A(S("a")), I(10));
    ip_nv(&l, PW_OP_REMOVE, A(S("b"), I(0)));
    ip(&l, PW_OP_REPLACE, A(S("c")), I(3));
    cr_assert_eq(pw_patches_apply(&doc, &l, &inv, NULL), PW_OK);
    cr_assert_eq(inv.len, 3);
    /* last forward op first */
    cr_assert_eq(inv.items[0].op, PW_OP_REMOVE);
    expect_same(&inv.items[0].path, A(S("c")));
    cr_assert_eq(inv.items[1].op, PW_OP_ADD);
    expect_same(&inv.items[1].path, A(S("b"), I(0)));
    expect_same(&inv.items[1].value, I(1));
    cr_assert_eq(inv.items[2].op, PW_OP_REPLACE);
    expect_same(&inv.items[2].value, I(1));
    pw_value_release(&doc);
    pw_patches_clear(&l);
    pw_patches_clear(&inv);
}

Test(patch_immer, immer7_array_shrink_sequence_round_trips)
{
    /* What Immer 7 emits for items.splice(1, 2): positional replaces + length. */
    pw_value doc = O(S("items"), A(S("a"), S("b"), S("c"), S("d"), S("e")));
    pw_patches l;
    pw_patches_init(&l, PW_DIALECT_IMMER);
    ip(&l, PW_OP_REPLACE, A(S("items"), I(1)), S("d"));
    ip(&l, PW_OP_REPLACE, A(S("items"), I(2)), S("e"));
    ip(&l, PW_OP_REPLACE, A(S("items"), S("length")), I(3));
    apply_ok(&doc, &l, false);
    expect_same(&doc, O(S("items"), A(S("a"), S("d"), S("e"))));
    pw_value_release(&doc);
    pw_patches_clear(&l);
}

Test(patch_immer, immer10_descending_removes_round_trip)
{
    pw_value doc = O(S("items"), A(S("a"), S("b"), S("c"), S("d")));
    pw_patches l;
    pw_patches_init(&l, PW_DIALECT_IMMER);
    ip_nv(&l, PW_OP_REMOVE, A(S("items"), I(3)));
    ip_nv(&l, PW_OP_REMOVE, A(S("items"), I(2)));
    apply_ok(&doc, &l, false);
    expect_same(&doc, O(S("items"), A(S("a"), S("b"))));
    pw_value_release(&doc);
    pw_patches_clear(&l);
}

/* ---------------------------------------------------------------- RFC 6902 */

Test(patch_rfc, add_inserts_appends_and_sets)
{
    rfc1(A(I(1), I(2)), PW_OP_ADD, "/1", S("x"), A(I(1), S("x"), I(2)));
    rfc1(A(I(1), I(2)), PW_OP_ADD, "/2", S("x"), A(I(1), I(2), S("x")));
    rfc1(A(I(1), I(2)), PW_OP_ADD, "/-", S("x"), A(I(1), I(2), S("x")));
    rfc1(O(S("a"), I(1)), PW_OP_ADD, "/b", I(2), O(S("a"), I(1), S("b"), I(2)));
    rfc1(O(S("a"), I(1)), PW_OP_ADD, "/a", I(2), O(S("a"), I(2)));
    rfc1(O(S("a"), I(1)), PW_OP_ADD, "", A(I(1)), A(I(1)));
}

Test(patch_rfc, add_past_array_end_is_out_of_range)
{
    rfc_fails(A(I(1), I(2)), PW_OP_ADD, "/3", I(0), PW_ERANGE, "index 3 out of range (length 2)");
}

Test(patch_rfc, leading_zero_and_non_digit_indexes_are_errors)
{
    rfc_fails(A(I(1), I(2)), PW_OP_ADD, "/01", I(0), PW_ENOPATH, "not an array index");
    rfc_fails(A(I(1), I(2)), PW_OP_REPLACE, "/00", I(0), PW_ENOPATH, "not an array index");
    rfc_fails(A(I(1), I(2)), PW_OP_REMOVE, "/+1", N, PW_ENOPATH, "not an array index");
    rfc_fails(O(S("a"), A(I(1))), PW_OP_REPLACE, "/a/01", I(0), PW_ENOPATH, "not an array index");
    rfc_fails(O(S("a"), A(I(1))), PW_OP_TEST, "/a/01", I(1), PW_ENOPATH, "not an array index");
}

Test(patch_rfc, missing_parent_is_an_error)
{
    rfc_fails(O(S("a"), I(1)), PW_OP_ADD, "/x/y", I(0), PW_ENOPATH, "no member \"x\"");
    rfc_fails(O(S("a"), I(1)), PW_OP_ADD, "/a/y", I(0), PW_ENOPATH, "parent is");
    rfc_fails(O(S("a"), A0()), PW_OP_ADD, "/a/0/y", I(0), PW_ENOPATH, "out of range");
}

Test(patch_rfc, remove_requires_an_existing_target)
{
    rfc1(A(I(1), I(2)), PW_OP_REMOVE, "/0", N, A(I(2)));
    rfc1(O(S("a"), I(1), S("b"), I(2)), PW_OP_REMOVE, "/a", N, O(S("b"), I(2)));
    rfc_fails(A(I(1)), PW_OP_REMOVE, "/1", N, PW_ERANGE, "out of range");
    rfc_fails(A(I(1)), PW_OP_REMOVE, "/-", N, PW_ENOPATH, "not an array index");
    rfc_fails(O(S("a"), I(1)), PW_OP_REMOVE, "/b", N, PW_ENOPATH, "no member \"b\"");
    rfc_fails(O(S("a"), I(1)), PW_OP_REMOVE, "", N, PW_ENOPATH, "whole document");
}

Test(patch_rfc, replace_requires_an_existing_target)
{
    rfc1(A(I(1), I(2)), PW_OP_REPLACE, "/1", I(5), A(I(1), I(5)));
    rfc1(O(S("a"), I(1)), PW_OP_REPLACE, "/a", I(5), O(S("a"), I(5)));
    rfc1(O(S("a"), I(1)), PW_OP_REPLACE, "", I(5), I(5));
    rfc_fails(A(I(1)), PW_OP_REPLACE, "/1", I(5), PW_ERANGE, "out of range");
    rfc_fails(O(S("a"), I(1)), PW_OP_REPLACE, "/b", I(5), PW_ENOPATH, "no member \"b\"");
    rfc_fails(A(I(1)), PW_OP_REPLACE, "/length", I(0), PW_ENOPATH, "not an array index");
}

Test(patch_rfc, escaped_keys_address_the_right_member)
{
    rfc1(O(S("a/b"), I(1), S("m~n"), I(2)), PW_OP_REPLACE, "/a~1b", I(9),
         O(S("a/b"), I(9), S("m~n"), I(2)));
    rfc1(O(S("a/b"), I(1), S("m~n"), I(2)), PW_OP_REMOVE, "/m~0n", N, O(S("a/b"), I(1)));
    rfc1(O(S(""), I(1)), PW_OP_REPLACE, "/", I(2), O(S(""), I(2)));
}

Test(patch_rfc, move_within_object_and_array)
{
    rfc_move(O(S("a"), I(1), S("b"), O0()), PW_OP_MOVE, "/a", "/b/c", O(S("b"), O(S("c"), I(1))));
    rfc_move(A(I(1), I(2), I(3), I(4)), PW_OP_MOVE, "/0", "/3", A(I(2), I(3), I(4), I(1)));
    rfc_move(A(I(1), I(2), I(3)), PW_OP_MOVE, "/2", "/0", A(I(3), I(1), I(2)));
    rfc_move(O(S("l"), A(I(1), I(2)), S("o"), O0()), PW_OP_MOVE, "/l/1", "/o/x",
             O(S("l"), A(I(1)), S("o"), O(S("x"), I(2))));
    rfc_move(O(S("a"), I(1), S("b"), I(2)), PW_OP_MOVE, "/a", "/a", O(S("a"), I(1), S("b"), I(2)));
}

Test(patch_rfc, move_from_missing_or_into_own_child_fails)
{
    pw_value doc = O(S("a"), O(S("b"), I(1)));
    pw_patches l;
    pw_patches_init(&l, PW_DIALECT_RFC6902);
    rp_from(&l, PW_OP_MOVE, "/a", "/a/b/c");
    apply_fails(&doc, &l, PW_EOP, 0, "own child");
    pw_patches_clear(&l);
    rp_from(&l, PW_OP_MOVE, "", "/x");
    apply_fails(&doc, &l, PW_EOP, 0, "own child");
    pw_patches_clear(&l);
    rp_from(&l, PW_OP_MOVE, "/zz", "/x");
    apply_fails(&doc, &l, PW_ENOPATH, 0, "from doesn't resolve");
    pw_patches_clear(&l);
    /* the target's parent is missing: the removal of /a must be undone */
    rp_from(&l, PW_OP_MOVE, "/a", "/q/r");
    apply_fails(&doc, &l, PW_ENOPATH, 0, "no member \"q\"");
    pw_patches_clear(&l);
    /* a sibling whose name starts like the source is not a child */
    rp_from(&l, PW_OP_MOVE, "/a", "/ab");
    apply_ok(&doc, &l, true);
    expect_same(&doc, O(S("ab"), O(S("b"), I(1))));
    pw_value_release(&doc);
    pw_patches_clear(&l);
}

Test(patch_rfc, copy_shares_and_later_edits_stay_apart)
{
    pw_value doc = O(S("a"), O(S("x"), I(1)));
    pw_patches l;
    pw_patches_init(&l, PW_DIALECT_RFC6902);
    rp_from(&l, PW_OP_COPY, "/a", "/b");
    rp(&l, PW_OP_REPLACE, "/b/x", I(2));
    apply_ok(&doc, &l, false);
    expect_same(&doc, O(S("a"), O(S("x"), I(1)), S("b"), O(S("x"), I(2))));
    pw_patches_clear(&l);
    rp_from(&l, PW_OP_COPY, "", "/self");
    apply_ok(&doc, &l, false);
    cr_assert_not_null(pw_object_get(&doc, "self", 4));
    expect_same(pw_object_get(&doc, "self", 4),
                O(S("a"), O(S("x"), I(1)), S("b"), O(S("x"), I(2))));
    pw_patches_clear(&l);
    rp_from(&l, PW_OP_COPY, "/nope", "/c");
    apply_fails(&doc, &l, PW_ENOPATH, 0, "from doesn't resolve");
    pw_value_release(&doc);
    pw_patches_clear(&l);
}

Test(patch_rfc, test_compares_deeply_and_numerically)
{
    pw_value doc = O(S("a"), A(I(1), O(S("k"), S("v"))), S("n"), I(1));
    pw_patches l;
    pw_patches_init(&l, PW_DIALECT_RFC6902);
    rp(&l, PW_OP_TEST, "/a", A(I(1), O(S("k"), S("v"))));
    rp(&l, PW_OP_TEST, "/n", pw_double(1.0));
    rp(&l, PW_OP_TEST, "", deep(&doc));
    pw_patches inv;
    pw_patches_init(&inv, PW_DIALECT_RFC6902);
    cr_assert_eq(pw_patches_apply(&doc, &l, &inv, NULL), PW_OK);
    cr_assert_eq(inv.len, 0, "test has no inverse");
    pw_patches_clear(&l);
    rp(&l, PW_OP_REPLACE, "/n", I(2));
    rp(&l, PW_OP_TEST, "/a/1/k", S("w"));
    apply_fails(&doc, &l, PW_ETEST, 1, "test failed");
    pw_patches_clear(&l);
    rp(&l, PW_OP_TEST, "/a/5", N);
    apply_fails(&doc, &l, PW_ENOPATH, 0, "out of range");
    pw_value_release(&doc);
    pw_patches_clear(&l);
}

Test(patch_rfc, error_message_names_index_op_path_and_reason)
{
    pw_value items[5];
    for (int i = 0; i < 5; i++)
        items[i] = O(S("title"), S("t"));
    pw_value doc = O(S("items"), arr_of(5, items));
    pw_patches l;
    pw_patches_init(&l, PW_DIALECT_RFC6902);
    rp(&l, PW_OP_REPLACE, "/items/0/title", S("a"));
    rp(&l, PW_OP_REPLACE, "/items/1/title", S("b"));
    rp(&l, PW_OP_TEST, "/items/1/title", S("b"));
    rp(&l, PW_OP_REPLACE, "/items/7/title", S("c"));
    pw_error e;
    cr_assert_eq(pw_patches_apply(&doc, &l, NULL, &e), PW_ENOPATH);
    cr_assert_eq(e.index, 3);
    cr_assert_str_eq(e.msg, "patch 3 (replace /items/7/title): path doesn't resolve: segment 1: "
                            "index 7 out of range (length 5)");
    pw_patches_clear(&l);
    rp(&l, PW_OP_REMOVE, "/items/7", N);
    cr_assert_eq(pw_patches_apply(&doc, &l, NULL, &e), PW_ERANGE);
    cr_assert_str_eq(e.msg, "patch 0 (remove /items/7): index 7 out of range (length 5)");
    pw_value_release(&doc);
    pw_patches_clear(&l);
}

Test(patch_rfc, missing_value_and_unknown_op_fail_at_apply_too)
{
    pw_value doc = O(S("a"), I(1));
    pw_patches l;
    pw_patches_init(&l, PW_DIALECT_RFC6902);
    rp_nv(&l, PW_OP_ADD, "/b");
    apply_fails(&doc, &l, PW_EOP, 0, "missing value");
    pw_patches_clear(&l);
    rp(&l, (pw_op)42, "/b", I(1));
    apply_fails(&doc, &l, PW_EOP, 0, "unknown op");
    pw_value_release(&doc);
    pw_patches_clear(&l);
}

Test(patch_rfc, inverse_paths_are_pointer_strings_for_the_real_index)
{
    pw_value doc = A(I(1));
    pw_patches l, inv;
    pw_patches_init(&l, PW_DIALECT_RFC6902);
    pw_patches_init(&inv, PW_DIALECT_IMMER);
    rp(&l, PW_OP_ADD, "/-", I(2));
    cr_assert_eq(pw_patches_apply(&doc, &l, &inv, NULL), PW_OK);
    cr_assert_eq(inv.dialect, PW_DIALECT_RFC6902);
    pw_value wire;
    cr_assert_eq(pw_patches_to_value(&inv, &wire), PW_OK);
    expect_same(&wire, A(O(S("op"), S("remove"), S("path"), S("/1"))));
    pw_value_release(&wire);
    pw_value_release(&doc);
    pw_patches_clear(&l);
    pw_patches_clear(&inv);
}

/* ---------------------------------------------------------------- wire form */

static pw_value wire_patch(const char *op, pw_value path)
{
    return O(S("op"), S(op), S("path"), path);
}
static pw_value wire_patch_v(const char *op, pw_value path, pw_value value)
{
    return O(S("op"), S(op), S("path"), path, S("value"), value);
}

static void read_fails(pw_value list, long index, const char *msg)
{
    pw_patches out;
    pw_patches_init(&out, PW_DIALECT_IMMER);
    ip(&out, PW_OP_ADD, A(S("keep")), I(1));
    pw_error e;
    cr_assert_eq(pw_patches_from_value(&list, &out, &e), PW_EOP, "accepted %s", show(&list));
    cr_assert_eq(e.index, index, "index %ld: %s", e.index, e.msg);
    if (msg)
        cr_assert(strstr(e.msg, msg), "message \"%s\" lacks \"%s\"", e.msg, msg);
    cr_assert_eq(out.len, 1, "out unchanged");
    cr_assert_eq(out.dialect, PW_DIALECT_IMMER);
    pw_value_release(&list);
    pw_patches_clear(&out);
}

static void read_fails_fresh(pw_value list, long index, const char *msg)
{
    pw_patches out;
    pw_patches_init(&out, PW_DIALECT_IMMER);
    pw_error e;
    cr_assert_eq(pw_patches_from_value(&list, &out, &e), PW_EOP, "accepted %s", show(&list));
    cr_assert_eq(e.index, index, "index %ld: %s", e.index, e.msg);
    if (msg)
        cr_assert(strstr(e.msg, msg), "message \"%s\" lacks \"%s\"", e.msg, msg);
    cr_assert_eq(out.len, 0);
    cr_assert_eq(out.dialect, PW_DIALECT_IMMER);
    pw_value_release(&list);
}

Test(patch_wire, detects_immer_from_array_paths)
{
    pw_value list = A(wire_patch_v("add", A(S("items"), I(0)), O(S("title"), S("milk"))),
                      wire_patch("remove", A(S("x"))));
    pw_patches out;
    pw_patches_init(&out, PW_DIALECT_RFC6902);
    cr_assert_eq(pw_patches_from_value(&list, &out, NULL), PW_OK);
    cr_assert_eq(out.dialect, PW_DIALECT_IMMER);
    cr_assert_eq(out.len, 2);
    cr_assert_eq(out.items[0].op, PW_OP_ADD);
    cr_assert(out.items[0].has_value);
    expect_same(&out.items[0].path, A(S("items"), I(0)));
    cr_assert_eq(out.items[1].op, PW_OP_REMOVE);
    cr_assert_not(out.items[1].has_value);
    pw_value_release(&list);
    pw_patches_clear(&out);
}

Test(patch_wire, detects_rfc6902_from_string_paths)
{
    pw_value list = A(wire_patch_v("add", S("/items/0"), I(1)),
                      O(S("op"), S("move"), S("from"), S("/a~1b"), S("path"), S("/c")),
                      wire_patch_v("test", S(""), N));
    pw_patches out;
    pw_patches_init(&out, PW_DIALECT_IMMER);
    cr_assert_eq(pw_patches_from_value(&list, &out, NULL), PW_OK);
    cr_assert_eq(out.dialect, PW_DIALECT_RFC6902);
    cr_assert_eq(out.len, 3);
    expect_same(&out.items[0].path, A(S("items"), S("0")));
    cr_assert_eq(out.items[1].op, PW_OP_MOVE);
    expect_same(&out.items[1].from, A(S("a/b")));
    expect_same(&out.items[2].path, A0());
    cr_assert(out.items[2].has_value);
    pw_value_release(&list);
    pw_patches_clear(&out);
}

Test(patch_wire, mixing_dialects_is_an_error_naming_the_index)
{
    read_fails_fresh(A(wire_patch("remove", A(S("a"))), wire_patch("remove", A(S("b"))),
                       wire_patch("remove", S("/c"))),
                     2, "mix");
    read_fails_fresh(A(wire_patch("remove", S("/c")), wire_patch("remove", A(S("a")))), 1, "mix");
    /* appending to a list of the other dialect is mixing too */
    read_fails(A(wire_patch("remove", S("/c"))), 0, "mix");
}

Test(patch_wire, empty_list_reads_as_nothing)
{
    pw_value list = A0();
    pw_patches out;
    pw_patches_init(&out, PW_DIALECT_RFC6902);
    cr_assert_eq(pw_patches_from_value(&list, &out, NULL), PW_OK);
    cr_assert_eq(out.len, 0);
    cr_assert_eq(out.dialect, PW_DIALECT_RFC6902);
    pw_value_release(&list);
}

Test(patch_wire, rejects_malformed_patches)
{
    read_fails(A(I(1)), 0, "object");
    read_fails(A(O(S("path"), A0())), 0, "missing \"op\"");
    read_fails(A(wire_patch("frobnicate", A0())), 0, "unknown op \"frobnicate\"");
    read_fails(A(O(S("op"), I(3), S("path"), A0())), 0, "not a string");
    read_fails(A(O(S("op"), S("add"))), 0, "missing \"path\"");
    read_fails(A(wire_patch("remove", I(4))), 0, "path is an integer");
    read_fails(A(wire_patch("remove", A(S("a"))), wire_patch("move", A(S("b")))), 1,
               "not an Immer op");
    read_fails(A(wire_patch("copy", A(S("b")))), 0, "not an Immer op");
    read_fails(A(wire_patch_v("test", A(S("b")), I(1))), 0, "not an Immer op");
    read_fails(A(wire_patch("remove", A(pw_bool(true)))), 0, "segment 0");
    read_fails(A(wire_patch("remove", A(S("a"), I(-1)))), 0, "segment 1");
    read_fails(A(wire_patch("remove", A(pw_double(1.5)))), 0, "segment 0");
    read_fails(A(wire_patch("remove", A(N))), 0, "segment 0");
    read_fails(A(wire_patch("remove", A(A0()))), 0, "segment 0");
    pw_value l = A(wire_patch("remove", S("a")));
    read_fails_fresh(l, 0, "must be empty or start with '/'");
    read_fails_fresh(A(wire_patch("remove", S("/a~2"))), 0, "'~'");
}

Test(patch_wire, rfc6902_requires_value_and_from)
{
    read_fails_fresh(A(wire_patch("add", S("/a"))), 0, "missing \"value\"");
    read_fails_fresh(A(wire_patch("replace", S("/a"))), 0, "missing \"value\"");
    read_fails_fresh(A(wire_patch("test", S("/a"))), 0, "missing \"value\"");
    read_fails_fresh(A(wire_patch("move", S("/a"))), 0, "missing \"from\"");
    read_fails_fresh(A(O(S("op"), S("copy"), S("path"), S("/a"), S("from"), A0())), 0,
                     "not a JSON Pointer");
}

Test(patch_wire, prototype_pollution_segments_are_refused)
{
    const char *bad[] = {"__proto__", "constructor", "prototype"};
    for (int i = 0; i < 3; i++) {
        read_fails(A(wire_patch_v("add", A(S("a"), S(bad[i]), S("x")), I(1))), 0, bad[i]);
        read_fails(A(wire_patch_v("replace", A(S(bad[i])), I(1))), 0, bad[i]);
        char p[64];
        snprintf(p, sizeof p, "/%s/polluted", bad[i]);
        read_fails_fresh(A(wire_patch_v("add", S(p), I(1))), 0, bad[i]);
        read_fails_fresh(A(O(S("op"), S("copy"), S("from"), S(p), S("path"), S("/x"))), 0, bad[i]);
    }
    /* near misses are ordinary keys */
    pw_value ok = A(wire_patch_v("add", A(S("__proto"), S("Constructor"), S("prototypes")), I(1)));
    pw_patches out;
    pw_patches_init(&out, PW_DIALECT_IMMER);
    cr_assert_eq(pw_patches_from_value(&ok, &out, NULL), PW_OK);
    pw_value_release(&ok);
    pw_patches_clear(&out);
}

Test(patch_wire, apply_refuses_prototype_segments_built_in_code)
{
    pw_value doc = O(S("a"), O0());
    pw_patches l;
    pw_patches_init(&l, PW_DIALECT_IMMER);
    ip(&l, PW_OP_ADD, A(S("a"), S("__proto__")), I(1));
    apply_fails(&doc, &l, PW_EOP, 0, "prototype");
    pw_value_release(&doc);
    pw_patches_clear(&l);
}

Test(patch_wire, integral_double_segments_become_ints)
{
    pw_value list = A(wire_patch_v("replace", A(S("l"), pw_double(2.0)), I(1)));
    pw_patches out;
    pw_patches_init(&out, PW_DIALECT_IMMER);
    cr_assert_eq(pw_patches_from_value(&list, &out, NULL), PW_OK);
    const pw_value *seg = pw_array_get(&out.items[0].path, 1);
    cr_assert_eq(pw_value_kind(seg), PW_INT);
    cr_assert_eq(pw_value_int(seg), 2);
    /* the caller's list is not modified */
    const pw_value *orig = pw_array_get(pw_object_get(pw_array_get(&list, 0), "path", 4), 1);
    cr_assert_eq(pw_value_kind(orig), PW_DOUBLE);
    pw_value_release(&list);
    pw_patches_clear(&out);
}

Test(patch_wire, immer_missing_value_is_accepted_and_unknown_fields_ignored)
{
    pw_value list = A(O(S("op"), S("replace"), S("path"), A(S("a")), S("seq"), I(7)),
                      O(S("op"), S("add"), S("path"), A(I(0)), S("extra"), A0()));
    pw_patches out;
    pw_patches_init(&out, PW_DIALECT_IMMER);
    cr_assert_eq(pw_patches_from_value(&list, &out, NULL), PW_OK);
    cr_assert_eq(out.len, 2);
    cr_assert_not(out.items[0].has_value);
    cr_assert_not(out.items[1].has_value);
    pw_value_release(&list);
    pw_patches_clear(&out);
}

Test(patch_wire, list_must_be_an_array)
{
    pw_value notlist = O0();
    pw_patches out;
    pw_patches_init(&out, PW_DIALECT_IMMER);
    pw_error e;
    cr_assert_eq(pw_patches_from_value(&notlist, &out, &e), PW_EOP);
    cr_assert(strstr(e.msg, "array"));
    pw_value_release(&notlist);
}

Test(patch_wire, to_value_writes_immer_form_in_immer_field_order)
{
    pw_patches l;
    pw_patches_init(&l, PW_DIALECT_IMMER);
    ip(&l, PW_OP_REPLACE, A(S("items"), I(0), S("done")), pw_bool(true));
    ip_nv(&l, PW_OP_REMOVE, A(S("items"), I(1)));
    ip_nv(&l, PW_OP_ADD, A(S("u")));
    pw_value wire;
    cr_assert_eq(pw_patches_to_value(&l, &wire), PW_OK);
    expect_same(&wire, A(O(S("op"), S("replace"), S("path"), A(S("items"), I(0), S("done")),
                           S("value"), pw_bool(true)),
                         O(S("op"), S("remove"), S("path"), A(S("items"), I(1))),
                         O(S("op"), S("add"), S("path"), A(S("u")))));
    pw_value_release(&wire);
    pw_patches_clear(&l);
}

Test(patch_wire, to_value_writes_rfc6902_pointers_with_from)
{
    pw_patches l;
    pw_patches_init(&l, PW_DIALECT_RFC6902);
    rp(&l, PW_OP_ADD, "/a~1b/0", I(1));
    rp_from(&l, PW_OP_MOVE, "/m~0n", "/x");
    rp(&l, PW_OP_TEST, "", N);
    pw_value wire;
    cr_assert_eq(pw_patches_to_value(&l, &wire), PW_OK);
    expect_same(&wire, A(O(S("op"), S("add"), S("path"), S("/a~1b/0"), S("value"), I(1)),
                         O(S("op"), S("move"), S("path"), S("/x"), S("from"), S("/m~0n")),
                         O(S("op"), S("test"), S("path"), S(""), S("value"), N)));
    /* and back */
    pw_patches back;
    pw_patches_init(&back, PW_DIALECT_IMMER);
    cr_assert_eq(pw_patches_from_value(&wire, &back, NULL), PW_OK);
    cr_assert_eq(back.dialect, PW_DIALECT_RFC6902);
    cr_assert_eq(back.len, 3);
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(back.items[i].op, l.items[i].op);
        cr_assert(same(&back.items[i].path, &l.items[i].path));
        cr_assert(same(&back.items[i].from, &l.items[i].from));
        cr_assert_eq(back.items[i].has_value, l.items[i].has_value);
        cr_assert(same(&back.items[i].value, &l.items[i].value));
    }
    pw_value wire2;
    cr_assert_eq(pw_patches_to_value(&back, &wire2), PW_OK);
    cr_assert(same(&wire, &wire2));
    pw_value_release(&wire);
    pw_value_release(&wire2);
    pw_patches_clear(&l);
    pw_patches_clear(&back);
}

Test(patch_wire, immer_from_value_to_value_round_trips)
{
    pw_value wire = A(wire_patch_v("add", A(S("items"), I(0)), O(S("title"), S("milk"))),
                      wire_patch_v("replace", A(S("items"), S("length")), I(0)),
                      wire_patch("remove", A(S("k"))), wire_patch_v("replace", A0(), O0()));
    pw_patches l;
    pw_patches_init(&l, PW_DIALECT_IMMER);
    cr_assert_eq(pw_patches_from_value(&wire, &l, NULL), PW_OK);
    pw_value again;
    cr_assert_eq(pw_patches_to_value(&l, &again), PW_OK);
    cr_assert(same(&wire, &again), "%s vs %s", show(&wire), show(&again));
    pw_value_release(&wire);
    pw_value_release(&again);
    pw_patches_clear(&l);
}

Test(patch_wire, op_names)
{
    cr_assert_str_eq(pw_op_name(PW_OP_ADD), "add");
    cr_assert_str_eq(pw_op_name(PW_OP_REMOVE), "remove");
    cr_assert_str_eq(pw_op_name(PW_OP_REPLACE), "replace");
    cr_assert_str_eq(pw_op_name(PW_OP_MOVE), "move");
    cr_assert_str_eq(pw_op_name(PW_OP_COPY), "copy");
    cr_assert_str_eq(pw_op_name(PW_OP_TEST), "test");
    cr_assert_str_eq(pw_op_name((pw_op)99), "invalid");
}

/* ---------------------------------------------------------------- atomicity */

Test(patch_atomic, third_patch_failing_leaves_document_exactly_as_before)
{
    pw_value doc = O(S("a"), I(1), S("b"), A(I(1), I(2), I(3)), S("c"), O(S("d"), S("e")));
    pw_value snap = pw_value_retain(doc);
    pw_patches l;
    pw_patches_init(&l, PW_DIALECT_IMMER);
    ip_nv(&l, PW_OP_REMOVE, A(S("a")));                     /* key order must come back */
    ip(&l, PW_OP_REPLACE, A(S("b"), S("length")), I(1));    /* cut elements come back */
    ip(&l, PW_OP_REPLACE, A(S("c"), S("x"), S("y")), I(1)); /* fails */
    apply_fails(&doc, &l, PW_ENOPATH, 2, "no member \"x\"");
    cr_assert(pw_value_equal(&doc, &snap));
    pw_value_release(&snap);
    pw_value_release(&doc);
    pw_patches_clear(&l);
}

Test(patch_atomic, rollback_undoes_every_kind_of_edit)
{
    pw_value doc = O(S("k1"), I(1), S("k2"), I(2), S("k3"), I(3), S("l"), A(I(1), I(2), I(3), I(4)),
                     S("o"), O(S("x"), I(1)));
    pw_patches l;
    pw_patches_init(&l, PW_DIALECT_IMMER);
    ip_nv(&l, PW_OP_REMOVE, A(S("k2")));
    ip(&l, PW_OP_ADD, A(S("k2")), I(22));
    ip(&l, PW_OP_ADD, A(S("l"), I(0)), I(0));
    ip_nv(&l, PW_OP_REMOVE, A(S("l"), I(2)));
    ip(&l, PW_OP_REPLACE, A(S("l"), S("length")), I(9));
    ip(&l, PW_OP_REPLACE, A(S("l"), I(12)), I(12));
    ip(&l, PW_OP_REPLACE, A(S("l"), S("length")), I(1));
    ip(&l, PW_OP_REPLACE, A0(), A(I(1)));
    ip(&l, PW_OP_REPLACE, A0(), deep(&doc));
    ip_nv(&l, PW_OP_REPLACE, A(S("o"), S("x")));
    ip(&l, PW_OP_REPLACE, A(S("o"), S("new")), I(1));
    ip_nv(&l, PW_OP_REMOVE, A(S("k1")));
    ip(&l, PW_OP_REMOVE, A(S("nope"), S("deeper")), N);
    apply_fails(&doc, &l, PW_ENOPATH, 12, "doesn't resolve");
    pw_value_release(&doc);
    pw_patches_clear(&l);
}

Test(patch_atomic, rfc_move_and_copy_roll_back)
{
    pw_value doc = O(S("a"), O(S("x"), A(I(1), I(2))), S("b"), A(S("p"), S("q")));
    pw_patches l;
    pw_patches_init(&l, PW_DIALECT_RFC6902);
    rp_from(&l, PW_OP_MOVE, "/a/x", "/b/1");
    rp(&l, PW_OP_ADD, "/b/1/0", I(0));
    rp_from(&l, PW_OP_COPY, "/b", "/a/c");
    rp_from(&l, PW_OP_MOVE, "/b/0", "/z");
    rp(&l, PW_OP_REPLACE, "/a/c/1/0", I(7));
    rp(&l, PW_OP_TEST, "/a/c/1/0", I(8)); /* fails */
    apply_fails(&doc, &l, PW_ETEST, 5, "test failed");
    pw_value_release(&doc);
    pw_patches_clear(&l);
}

Test(patch_atomic, failed_apply_leaves_inverse_list_untouched)
{
    pw_value doc = A(I(1));
    pw_patches l, inv;
    pw_patches_init(&l, PW_DIALECT_IMMER);
    pw_patches_init(&inv, PW_DIALECT_IMMER);
    ip_nv(&inv, PW_OP_REMOVE, A(I(0)));
    ip(&l, PW_OP_ADD, A(I(0)), I(0));
    ip(&l, PW_OP_ADD, A(S("x"), I(0)), I(0));
    cr_assert_eq(pw_patches_apply(&doc, &l, &inv, NULL), PW_ENOPATH);
    cr_assert_eq(inv.len, 1);
    expect_same(&doc, A(I(1)));
    pw_value_release(&doc);
    pw_patches_clear(&l);
    pw_patches_clear(&inv);
}

Test(patch_atomic, inverse_list_of_other_dialect_is_refused)
{
    pw_value doc = A(I(1));
    pw_patches l, inv;
    pw_patches_init(&l, PW_DIALECT_IMMER);
    pw_patches_init(&inv, PW_DIALECT_RFC6902);
    rp_nv(&inv, PW_OP_REMOVE, "/0");
    ip(&l, PW_OP_ADD, A(I(0)), I(0));
    cr_assert_eq(pw_patches_apply(&doc, &l, &inv, NULL), PW_EINVAL);
    expect_same(&doc, A(I(1)));
    pw_value_release(&doc);
    pw_patches_clear(&l);
    pw_patches_clear(&inv);
}

Test(patch_atomic, inverses_append_after_existing_ones)
{
    pw_value doc = A(I(1));
    pw_patches l, inv;
    pw_patches_init(&l, PW_DIALECT_IMMER);
    pw_patches_init(&inv, PW_DIALECT_IMMER);
    ip(&l, PW_OP_ADD, A(I(0)), I(0));
    cr_assert_eq(pw_patches_apply(&doc, &l, &inv, NULL), PW_OK);
    cr_assert_eq(pw_patches_apply(&doc, &l, &inv, NULL), PW_OK);
    cr_assert_eq(inv.len, 2);
    expect_same(&doc, A(I(0), I(0), I(1)));
    pw_value_release(&doc);
    pw_patches_clear(&l);
    pw_patches_clear(&inv);
}

/* ---------------------------------------------------------------- sharing */

Test(patch_sharing, snapshot_taken_before_apply_is_untouched)
{
    pw_value doc = O(S("items"), A(O(S("title"), S("a")), O(S("title"), S("b"))), S("n"), I(1));
    pw_value copy = deep(&doc);
    pw_value snap = pw_value_retain(doc);
    pw_patches l;
    pw_patches_init(&l, PW_DIALECT_IMMER);
    ip(&l, PW_OP_REPLACE, A(S("items"), I(1), S("title"), S("c")), S("zzz"));
    ip(&l, PW_OP_REPLACE, A(S("items"), I(1), S("title")), S("c"));
    ip_nv(&l, PW_OP_REMOVE, A(S("items"), I(0)));
    ip(&l, PW_OP_REPLACE, A(S("n")), I(2));
    /* first one fails (title is a string): with a snapshot held, nothing moves */
    apply_fails(&doc, &l, PW_ENOPATH, 0, NULL);
    cr_assert(same(&snap, &copy));
    pw_patches_clear(&l);
    ip(&l, PW_OP_REPLACE, A(S("items"), I(1), S("title")), S("c"));
    ip_nv(&l, PW_OP_REMOVE, A(S("items"), I(0)));
    ip(&l, PW_OP_REPLACE, A(S("n")), I(2));
    cr_assert_eq(pw_patches_apply(&doc, &l, NULL, NULL), PW_OK);
    expect_same(&doc, O(S("items"), A(O(S("title"), S("c"))), S("n"), I(2)));
    cr_assert(same(&snap, &copy), "snapshot changed: %s", show(&snap));
    pw_value_release(&snap);
    pw_value_release(&copy);
    pw_value_release(&doc);
    pw_patches_clear(&l);
}

Test(patch_sharing, unshared_document_is_edited_in_place)
{
    pw_value items[64];
    for (int i = 0; i < 64; i++)
        items[i] = O(S("title"), I(i), S("done"), pw_bool(false));
    pw_value doc = O(S("items"), arr_of(64, items));
    const pw_value *root_items = pw_object_get(&doc, "items", 5);
    const pw_value *first = pw_array_get(root_items, 0);
    const pw_value *slot = pw_object_get(pw_array_get(root_items, 40), "done", 4);
    pw_patches l, inv;
    pw_patches_init(&l, PW_DIALECT_IMMER);
    pw_patches_init(&inv, PW_DIALECT_IMMER);
    ip(&l, PW_OP_REPLACE, A(S("items"), I(40), S("done")), pw_bool(true));
    for (int k = 0; k < 3; k++)
        cr_assert_eq(pw_patches_apply(&doc, &l, k == 0 ? &inv : NULL, NULL), PW_OK);
    /* same storage: no node on the path was cloned */
    cr_assert_eq(pw_object_get(&doc, "items", 5), root_items);
    cr_assert_eq(pw_array_get(root_items, 0), first);
    cr_assert_eq(pw_object_get(pw_array_get(root_items, 40), "done", 4), slot);
    cr_assert(pw_value_bool(slot));
    cr_assert_eq(pw_patches_apply(&doc, &inv, NULL, NULL), PW_OK);
    cr_assert_not(pw_value_bool(slot));
    pw_value_release(&doc);
    pw_patches_clear(&l);
    pw_patches_clear(&inv);
}

/* ---------------------------------------------------------------- random property */

static uint64_t rng_state;
static unsigned rnd(unsigned n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state % n);
}

static const char *const keys[] = {"a", "b", "c", "d", "e", "a long key past the inline size"};

static pw_value rand_doc(int depth)
{
    unsigned r = rnd(depth > 0 ? 9 : 6);
    switch (r) {
    case 0:
        return N;
    case 1:
        return pw_bool(rnd(2));
    case 2:
        return I((int64_t)rnd(100));
    case 3:
        return pw_double(rnd(100) + 0.5);
    case 4:
        return S(keys[rnd(6)]);
    case 5:
        return S("a string that needs a heap node");
    case 6:
    case 7: {
        pw_value o = O0();
        for (unsigned i = 0, n = rnd(5); i < n; i++)
            cr_assert_eq(pw_object_set(&o, S(keys[rnd(6)]), rand_doc(depth - 1), NULL), PW_OK);
        return o;
    }
    default: {
        pw_value a = A0();
        for (unsigned i = 0, n = rnd(5); i < n; i++)
            cr_assert_eq(pw_array_push(&a, rand_doc(depth - 1)), PW_OK);
        return a;
    }
    }
}

/* A path under construction: segments as values, owned. */
typedef struct gpath {
    pw_value seg[16];
    size_t n;
} gpath;

static void gp_index(gpath *p, size_t i, bool rfc)
{
    if (rfc || rnd(8) == 0) { /* Immer also takes decimal strings */
        char buf[24];
        snprintf(buf, sizeof buf, "%zu", i);
        p->seg[p->n++] = S(buf);
    } else {
        p->seg[p->n++] = I((int64_t)i);
    }
}

static pw_value gp_value(const gpath *p, const char *last)
{
    pw_value a = A0();
    for (size_t i = 0; i < p->n; i++)
        cr_assert_eq(pw_array_push(&a, pw_value_retain(p->seg[i])), PW_OK);
    if (last)
        cr_assert_eq(pw_array_push(&a, S(last)), PW_OK);
    return a;
}

static pw_value gp_value_index(const gpath *p, size_t i, bool rfc)
{
    gpath q = *p;
    gp_index(&q, i, rfc);
    pw_value v = gp_value(&q, NULL);
    pw_value_release(&q.seg[q.n - 1]);
    return v;
}

static void gp_free(gpath *p)
{
    for (size_t i = 0; i < p->n; i++)
        pw_value_release(&p->seg[i]);
    p->n = 0;
}

/* Random walk from the root; stops at a node (containers only when
 * `containers`), filling p. */
static const pw_value *rand_node(const pw_value *doc, gpath *p, bool containers, bool rfc)
{
    const pw_value *cur = doc;
    p->n = 0;
    for (;;) {
        size_t len = pw_value_len(cur);
        pw_kind k = pw_value_kind(cur);
        if ((k != PW_ARRAY && k != PW_OBJECT) || len == 0 || rnd(3) == 0 || p->n >= 15)
            return cur;
        size_t i = rnd((unsigned)len);
        const pw_value *next, *key;
        if (k == PW_ARRAY)
            next = pw_array_get(cur, i);
        else
            pw_object_at(cur, i, &key, &next);
        pw_kind nk = pw_value_kind(next);
        if (containers && nk != PW_ARRAY && nk != PW_OBJECT)
            return cur;
        if (k == PW_ARRAY)
            gp_index(p, i, rfc);
        else
            p->seg[p->n++] = pw_value_retain(*key);
        cur = next;
    }
}

/* Pushes a random patch that is valid against doc. */
static void rand_immer_patch(const pw_value *doc, pw_patches *l)
{
    if (rnd(25) == 0) {
        ip(l, PW_OP_REPLACE, A0(), rand_doc(2));
        return;
    }
    gpath p;
    const pw_value *c = rand_node(doc, &p, true, false);
    pw_kind k = pw_value_kind(c);
    bool has = rnd(12) != 0;
    pw_value v = has ? rand_doc(2) : N;
    if (k == PW_ARRAY) {
        size_t len = pw_value_len(c);
        switch (rnd(5)) {
        case 0:
            cr_assert_eq(pw_patches_push(l, PW_OP_ADD,
                                         rnd(5) ? gp_value_index(&p, rnd(len + 2), false)
                                                : gp_value(&p, "-"),
                                         N, v, has),
                         PW_OK);
            break;
        case 1:
            cr_assert_eq(pw_patches_push(l, PW_OP_REPLACE, gp_value_index(&p, rnd(len + 1), false),
                                         N, v, has),
                         PW_OK);
            break;
        case 2:
            pw_value_release(&v);
            ip_nv(l, PW_OP_REMOVE, gp_value_index(&p, rnd(len + 1), false));
            break;
        case 3:
            pw_value_release(&v);
            ip(l, PW_OP_REPLACE, gp_value(&p, "length"), I((int64_t)rnd(len + 3)));
            break;
        default:
            pw_value_release(&v);
            ip(l, PW_OP_REPLACE, gp_value_index(&p, len + rnd(3), false), rand_doc(1));
            break;
        }
    } else if (k == PW_OBJECT) {
        pw_op ops[] = {PW_OP_ADD, PW_OP_REPLACE, PW_OP_REMOVE};
        pw_op op = ops[rnd(3)];
        if (op == PW_OP_REMOVE) {
            pw_value_release(&v);
            has = false;
        }
        cr_assert_eq(pw_patches_push(l, op, gp_value(&p, keys[rnd(6)]), N, v, has), PW_OK);
    } else { /* a scalar root */
        pw_value_release(&v);
        ip(l, PW_OP_ADD, A0(), rand_doc(2));
    }
    gp_free(&p);
}

static void rand_rfc_patch(const pw_value *doc, pw_patches *l)
{
    gpath p, q;
    const pw_value *c = rand_node(doc, &p, true, true);
    pw_kind k = pw_value_kind(c);
    size_t len = pw_value_len(c);
    unsigned r = rnd(8);
    if (r == 0 || (k != PW_ARRAY && k != PW_OBJECT)) { /* test or root replace */
        const pw_value *t = rand_node(doc, &q, false, true);
        if (rnd(2))
            cr_assert_eq(
                pw_patches_push(l, PW_OP_TEST, gp_value(&q, NULL), N, pw_value_retain(*t), true),
                PW_OK);
        else
            rp(l, PW_OP_REPLACE, "", rand_doc(2));
        gp_free(&q);
    } else if (r <= 2) { /* move or copy: from any node into an add location */
        const pw_value *t = rand_node(doc, &q, false, true);
        (void)t;
        pw_value to =
            k == PW_ARRAY ? gp_value_index(&p, rnd(len + 1), true) : gp_value(&p, keys[rnd(6)]);
        cr_assert_eq(
            pw_patches_push(l, r == 1 ? PW_OP_MOVE : PW_OP_COPY, to, gp_value(&q, NULL), N, false),
            PW_OK);
        gp_free(&q);
    } else if (k == PW_ARRAY) {
        if (len == 0 || r == 3)
            cr_assert_eq(
                pw_patches_push(l, PW_OP_ADD,
                                rnd(4) ? gp_value_index(&p, rnd(len + 1), true) : gp_value(&p, "-"),
                                N, rand_doc(2), true),
                PW_OK);
        else if (r <= 5)
            cr_assert_eq(pw_patches_push(l, PW_OP_REPLACE, gp_value_index(&p, rnd(len), true), N,
                                         rand_doc(2), true),
                         PW_OK);
        else
            cr_assert_eq(
                pw_patches_push(l, PW_OP_REMOVE, gp_value_index(&p, rnd(len), true), N, N, false),
                PW_OK);
    } else {
        const pw_value *key = NULL;
        if (len)
            pw_object_at(c, rnd((unsigned)len), &key, NULL);
        size_t kn = 0;
        const char *ks = key ? pw_value_str(key, &kn) : NULL;
        char kb[64];
        snprintf(kb, sizeof kb, "%.*s", (int)kn, ks ? ks : "");
        if (!key || r == 3)
            cr_assert_eq(
                pw_patches_push(l, PW_OP_ADD, gp_value(&p, keys[rnd(6)]), N, rand_doc(2), true),
                PW_OK);
        else if (r <= 5)
            cr_assert_eq(pw_patches_push(l, PW_OP_REPLACE, gp_value(&p, kb), N, rand_doc(2), true),
                         PW_OK);
        else
            cr_assert_eq(pw_patches_push(l, PW_OP_REMOVE, gp_value(&p, kb), N, N, false), PW_OK);
    }
    gp_free(&p);
}

/* Builds a list of valid patches against a copy (`sim`), applying each as it
 * goes; a candidate the sim refuses (a move whose target moved) is dropped. */
static void rand_list(const pw_value *doc, pw_dialect d, pw_patches *l, pw_value *sim)
{
    *sim = deep(doc);
    size_t want = 1 + rnd(6);
    for (int tries = 0; l->len < want && tries < 50; tries++) {
        pw_patches one;
        pw_patches_init(&one, d);
        if (d == PW_DIALECT_IMMER)
            rand_immer_patch(sim, &one);
        else
            rand_rfc_patch(sim, &one);
        pw_error e;
        pw_err rc = pw_patches_apply(sim, &one, NULL, &e);
        bool movelike = one.items[0].op == PW_OP_MOVE;
        cr_assert(rc == PW_OK || movelike, "generated patch refused: %s on %s", e.msg, show(sim));
        if (rc == PW_OK) {
            pw_patch *pt = &one.items[0];
            cr_assert_eq(pw_patches_push(l, pt->op, pt->path, pt->from, pt->value, pt->has_value),
                         PW_OK);
            one.len = 0;
        }
        pw_patches_clear(&one);
    }
}

static void property_loop(pw_dialect d)
{
    rng_state = 0x9e3779b97f4a7c15u;
    size_t applied = 0;
    for (int iter = 0; iter < 1000; iter++) {
        pw_value orig = rand_doc(4), orig_copy = deep(&orig), sim;
        pw_patches l, inv;
        pw_patches_init(&l, d);
        pw_patches_init(&inv, d);
        rand_list(&orig, d, &l, &sim);
        applied += l.len;
        /* half the time the original is held as a snapshot: copy-on-write path */
        bool shared = iter & 1;
        pw_value work = shared ? pw_value_retain(orig) : deep(&orig);
        pw_error e;
        cr_assert_eq(pw_patches_apply(&work, &l, &inv, &e), PW_OK, "iter %d: %s", iter, e.msg);
        cr_assert(same(&work, &sim), "iter %d: batch %s != one by one %s", iter, show(&work),
                  show(&sim));
        cr_assert(same(&orig, &orig_copy), "iter %d: snapshot changed", iter);
        cr_assert_eq(pw_patches_apply(&work, &inv, NULL, &e), PW_OK, "iter %d inverse: %s", iter,
                     e.msg);
        cr_assert(pw_value_equal(&work, &orig), "iter %d: undo gave %s, want %s", iter, show(&work),
                  show(&orig));
        pw_value_release(&work);

        /* the same list with a failing patch at the end changes nothing */
        work = shared ? deep(&orig) : pw_value_retain(orig);
        if (d == PW_DIALECT_IMMER)
            ip(&l, PW_OP_REPLACE, A(S("zz_missing"), S("x")), I(1));
        else
            rp(&l, PW_OP_TEST, "", S("never equal"));
        cr_assert_neq(pw_patches_apply(&work, &l, NULL, &e), PW_OK);
        cr_assert_eq(e.index, (long)l.len - 1, "iter %d: %s", iter, e.msg);
        cr_assert(same(&work, &orig_copy), "iter %d: rollback gave %s, want %s", iter, show(&work),
                  show(&orig_copy));
        cr_assert(same(&orig, &orig_copy), "iter %d: snapshot changed", iter);

        pw_value_release(&work);
        pw_value_release(&sim);
        pw_value_release(&orig);
        pw_value_release(&orig_copy);
        pw_patches_clear(&l);
        pw_patches_clear(&inv);
    }
    cr_assert_gt(applied, 2000, "the generator makes real lists (%zu patches)", applied);
}

Test(patch_property, immer_random_lists_invert_and_roll_back)
{
    property_loop(PW_DIALECT_IMMER);
}

Test(patch_property, rfc6902_random_lists_invert_and_roll_back)
{
    property_loop(PW_DIALECT_RFC6902);
}

Test(patch_limits, path_longer_than_the_limit_is_refused)
{
    pw_value segs[PW_MAX_PATH_SEGMENTS + 1];
    for (size_t i = 0; i <= PW_MAX_PATH_SEGMENTS; i++)
        segs[i] = S("a");
    pw_value obj;
    cr_assert_eq(pw_object_new(&obj, 0), PW_OK);
    immer_fails(obj, PW_OP_ADD, arr_of(PW_MAX_PATH_SEGMENTS + 1, segs), pw_int(1), PW_ELIMIT,
                "more than 1024");
}

/* Nesting through patches stops one level short of the default decode
 * depth: one add per step, each a level deeper, and the deepest document
 * reached still travels in a FullSync that decodes under the default limits. */
Test(patch_limits, patches_cannot_nest_a_document_past_what_peers_decode)
{
    pw_value doc;
    cr_assert_eq(pw_object_new(&doc, 0), PW_OK);
    pw_value path;
    cr_assert_eq(pw_array_new(&path, 0), PW_OK);
    pw_err rc = PW_OK;
    size_t steps = 0;
    while (rc == PW_OK && steps < 2 * PW_DEFAULT_MAX_DEPTH) {
        cr_assert_eq(pw_array_push(&path, S("a")), PW_OK);
        pw_value child;
        cr_assert_eq(pw_object_new(&child, 0), PW_OK);
        pw_patches l;
        pw_patches_init(&l, PW_DIALECT_IMMER);
        cr_assert_eq(pw_patches_push(&l, PW_OP_ADD, pw_value_retain(path), N, child, true),
                     PW_OK);
        rc = pw_patches_apply(&doc, &l, NULL, NULL);
        pw_patches_clear(&l);
        steps++;
    }
    cr_assert_eq(rc, PW_ELIMIT);
    cr_assert_eq(steps, PW_DEFAULT_MAX_DEPTH - 1); /* 510 adds, the 511th refused */

    pw_msg m;
    pw_msg_init(&m);
    m.type = PW_MSG_FULLSYNC;
    cr_assert_eq(pw_string_cstr(&m.key, "k"), PW_OK);
    m.data = doc;
    pw_buf bytes = {0};
    cr_assert_eq(pw_msg_encode(&pw_codec_json, &m, &bytes, NULL), PW_OK);
    pw_msg back;
    pw_error e;
    cr_assert_eq(pw_msg_decode(&pw_codec_json, bytes.data, bytes.len, NULL, &back, &e), PW_OK,
                 "%s", e.msg);
    cr_assert(pw_value_equal(&back.data, &m.data));
    pw_msg_clear(&back);
    pw_msg_clear(&m);
    pw_buf_free(&bytes);
    pw_value_release(&path);
}

/* {"n":{"n":...levels deep...},"v":[[...200 deep...]]} */
static pw_value chain_doc(size_t levels)
{
    pw_value chain;
    cr_assert_eq(pw_object_new(&chain, 1), PW_OK);
    for (size_t i = 0; i < levels; i++) {
        pw_value up;
        cr_assert_eq(pw_object_new(&up, 1), PW_OK);
        cr_assert_eq(pw_object_set_str(&up, "n", 1, chain, NULL), PW_OK);
        chain = up;
    }
    pw_value deep_arr = pw_null();
    for (int i = 0; i < 200; i++) {
        pw_value a;
        cr_assert_eq(pw_array_new(&a, 1), PW_OK);
        if (i)
            cr_assert_eq(pw_array_push(&a, deep_arr), PW_OK);
        deep_arr = a;
    }
    cr_assert_eq(pw_object_set_str(&chain, "v", 1, deep_arr, NULL), PW_OK);
    return chain;
}

/* Moves or copies the 400-deep "/n" chain into the nested arrays of "/v",
 * k levels down: the path has k + 2 segments, the value is 400 deep. */
static void nest_chain(pw_op op, size_t k, pw_err want)
{
    pw_value doc = chain_doc(400);
    char *to = malloc(k * 2 + 5);
    size_t w = 0;
    memcpy(to, "/v", 2);
    w = 2;
    for (size_t i = 0; i < k; i++) {
        to[w++] = '/';
        to[w++] = '0';
    }
    memcpy(to + w, "/-", 3);
    pw_value before = deep(&doc);
    pw_patches l;
    pw_patches_init(&l, PW_DIALECT_RFC6902);
    rp_from(&l, op, "/n", to);
    pw_error e;
    cr_assert_eq(pw_patches_apply(&doc, &l, NULL, &e), want, "%s to depth %zu: %s",
                 pw_op_name(op), k, e.msg);
    if (want)
        cr_assert(same(&doc, &before));
    pw_value_release(&before);
    pw_patches_clear(&l);
    free(to);
    pw_value_release(&doc);
}

Test(patch_limits, move_and_copy_cannot_nest_a_document_past_its_depth_bound)
{
    nest_chain(PW_OP_MOVE, 100, PW_OK);     /* 102 + 400 levels */
    nest_chain(PW_OP_COPY, 109, PW_OK);     /* 111 + 400 = 511, the bound */
    nest_chain(PW_OP_MOVE, 110, PW_ELIMIT); /* one past it */
    nest_chain(PW_OP_COPY, 150, PW_ELIMIT);
}

Test(patch_limits, array_growth_and_cuts_share_one_budget_per_list)
{
    pw_value doc;
    cr_assert_eq(pw_object_new(&doc, 1), PW_OK);
    pw_value arr;
    cr_assert_eq(pw_array_new(&arr, 0), PW_OK);
    cr_assert_eq(pw_object_set_str(&doc, "a", 1, arr, NULL), PW_OK);
    /* grow to 2^17 and cut back: 2^18 elements in all, exactly the budget */
    pw_patches l;
    pw_patches_init(&l, PW_DIALECT_IMMER);
    pw_value ka[2] = {S("a"), S("length")};
    cr_assert_eq(pw_patches_push(&l, PW_OP_REPLACE, arr_of(2, ka), N, pw_int(1 << 17), true),
                 PW_OK);
    pw_value kb[2] = {S("a"), S("length")};
    cr_assert_eq(pw_patches_push(&l, PW_OP_REPLACE, arr_of(2, kb), N, pw_int(0), true), PW_OK);
    pw_error e;
    cr_assert_eq(pw_patches_apply(&doc, &l, NULL, &e), PW_OK, "%s", e.msg);
    /* one more element anywhere in the same list is refused, and undone */
    pw_value kc[2] = {S("a"), S("length")};
    cr_assert_eq(pw_patches_push(&l, PW_OP_REPLACE, arr_of(2, kc), N, pw_int(1), true), PW_OK);
    pw_value before = deep(&doc);
    cr_assert_eq(pw_patches_apply(&doc, &l, NULL, &e), PW_ELIMIT);
    cr_assert_eq(e.index, 2);
    cr_assert(same(&doc, &before));
    pw_value_release(&before);
    pw_patches_clear(&l);
    pw_value_release(&doc);
}
