/* diff.c - patches that turn one document into another.
 *
 * The idea: structural sharing makes most of two related documents the very
 * same nodes, so a subtree whose node (or value) is identical on both sides is
 * skipped at once and the work follows only the edited paths. Objects are
 * compared key by key; arrays by common prefix and suffix, with positional
 * replaces, adds and removes (in descending order, as Immer 10 writes them)
 * in the middle. Every emitted patch applies, in order, to the result of the
 * previous one, under either dialect.
 */
#include <stdlib.h>
#include <string.h>

#include "patchwire/patch.h"
#include "value_internal.h"

#define DIFF_MAX_DEPTH 10000 /* recursion: well within an 8 MiB stack */

typedef struct differ {
    pw_patches *out;
    pw_value *path; /* segments of the current position */
    size_t depth, cap;
} differ;

static bool same_node(const pw_value *a, const pw_value *b)
{
    return a->tag_ == b->tag_ && a->tag_ >= PW__TAG_STR && a->u_.node == b->u_.node;
}

static pw_err push_seg(differ *d, pw_value seg)
{
    if (d->depth == d->cap) {
        size_t ncap = d->cap ? d->cap * 2 : 16;
        pw_value *p = realloc(d->path, ncap * sizeof *p);
        if (!p) {
            pw_value_release(&seg);
            return PW_ENOMEM;
        }
        d->path = p;
        d->cap = ncap;
    }
    d->path[d->depth++] = seg;
    return PW_OK;
}

static void pop_seg(differ *d)
{
    pw_value_release(&d->path[--d->depth]);
}

/* Emits op at the current path with an extra last segment `last` (or none
 * when last is NULL); value is retained from the caller's tree. */
static pw_err emit(differ *d, pw_op op, const pw_value *last, const pw_value *value)
{
    size_t n = d->depth + (last ? 1 : 0);
    pw_value path;
    pw_err rc = pw_array_new(&path, n);
    for (size_t i = 0; i < d->depth && !rc; i++)
        rc = pw_array_push(&path, pw_value_retain(d->path[i]));
    if (!rc && last)
        rc = pw_array_push(&path, pw_value_retain(*last));
    if (rc) {
        pw_value_release(&path);
        return rc;
    }
    return pw_patches_push(d->out, op, path, pw_null(), value ? pw_value_retain(*value) : pw_null(),
                           value != NULL);
}

static pw_err diff_value(differ *d, const pw_value *a, const pw_value *b);

/* diff of a member: push its segment (taken), recurse, pop. */
static pw_err diff_at(differ *d, pw_value seg, const pw_value *a, const pw_value *b)
{
    if (same_node(a, b)) {
        pw_value_release(&seg);
        return PW_OK;
    }
    pw_err rc = push_seg(d, seg);
    if (rc)
        return rc;
    rc = diff_value(d, a, b);
    pop_seg(d);
    return rc;
}

static pw_err diff_object(differ *d, const pw_value *a, const pw_value *b)
{
    pw_err rc = PW_OK;
    size_t na = pw_value_len(a), nb = pw_value_len(b);
    for (size_t i = 0; i < na && !rc; i++) {
        const pw_value *k;
        pw_object_at(a, i, &k, NULL);
        size_t klen;
        const char *ks = pw_value_str(k, &klen);
        if (!pw_object_get(b, ks, klen))
            rc = emit(d, PW_OP_REMOVE, k, NULL);
    }
    for (size_t i = 0; i < nb && !rc; i++) {
        const pw_value *k, *vb;
        pw_object_at(b, i, &k, &vb);
        size_t klen;
        const char *ks = pw_value_str(k, &klen);
        const pw_value *va = pw_object_get(a, ks, klen);
        if (!va)
            rc = emit(d, PW_OP_ADD, k, vb);
        else
            rc = diff_at(d, pw_value_retain(*k), va, vb);
    }
    return rc;
}

static bool same(const pw_value *a, const pw_value *b)
{
    return same_node(a, b) || pw_value_equal(a, b);
}

static pw_err diff_array(differ *d, const pw_value *a, const pw_value *b)
{
    size_t na = pw_value_len(a), nb = pw_value_len(b), pre = 0, suf = 0;
    while (pre < na && pre < nb && same(pw_array_get(a, pre), pw_array_get(b, pre)))
        pre++;
    while (suf < na - pre && suf < nb - pre &&
           same(pw_array_get(a, na - 1 - suf), pw_array_get(b, nb - 1 - suf)))
        suf++;
    size_t ma = na - pre - suf, mb = nb - pre - suf, common = ma < mb ? ma : mb;
    pw_err rc = PW_OK;
    for (size_t i = pre; i < pre + common && !rc; i++)
        rc = diff_at(d, pw_int((int64_t)i), pw_array_get(a, i), pw_array_get(b, i));
    for (size_t i = pre + common; i < pre + mb && !rc; i++) { /* b is longer */
        pw_value idx = pw_int((int64_t)i);
        rc = emit(d, PW_OP_ADD, &idx, pw_array_get(b, i));
    }
    for (size_t i = pre + ma; i > pre + common && !rc; i--) { /* a is longer */
        pw_value idx = pw_int((int64_t)(i - 1));
        rc = emit(d, PW_OP_REMOVE, &idx, NULL);
    }
    return rc;
}

static pw_err diff_value(differ *d, const pw_value *a, const pw_value *b)
{
    if (same_node(a, b))
        return PW_OK;
    if (d->depth > DIFF_MAX_DEPTH)
        return PW_EDEPTH;
    pw_kind ka = pw_value_kind(a), kb = pw_value_kind(b);
    if (ka == PW_OBJECT && kb == PW_OBJECT)
        return diff_object(d, a, b);
    if (ka == PW_ARRAY && kb == PW_ARRAY)
        return diff_array(d, a, b);
    if (pw_value_equal(a, b))
        return PW_OK;
    return emit(d, PW_OP_REPLACE, NULL, b);
}

pw_err pw_diff(const pw_value *a, const pw_value *b, pw_patches *out)
{
    size_t before = out->len;
    differ d = {.out = out};
    pw_err rc = diff_value(&d, a, b);
    while (d.depth)
        pop_seg(&d);
    free(d.path);
    if (rc) { /* take back what this call appended */
        while (out->len > before) {
            pw_patch *p = &out->items[--out->len];
            pw_value_release(&p->path);
            pw_value_release(&p->from);
            pw_value_release(&p->value);
        }
    }
    return rc;
}
