/* apply.c - applying a patch list to a document, all or nothing, with inverses.
 *
 * The one idea: the document is edited in place (walking down unshares only
 * nodes that a snapshot also holds), and every primitive edit records the
 * patch that undoes it, with the room for that record reserved before the
 * edit. Success hands the records over, last first, as the inverse list;
 * failure applies them last first, which restores the document exactly (key
 * order included) at a cost proportional to the work done, never to the size
 * of the document. Compound ops (move) are a remove and an add, each recorded.
 *
 * The returned inverse of removing an object member is an add, which puts the
 * member back at the end: equal (pw_value_equal ignores key order), not in the
 * same place. Rollback itself restores the position (pw__object_insert_at).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "path_internal.h"
#include "patchwire/patch.h"
#include "value_internal.h"

/* Most array elements one list may add or cut through "length" and through
 * replaces past the end. JS makes sparse arrays there, we materialise the
 * holes, and a cut element costs an undo record: without a budget per list,
 * a few KB of such patches would claim gigabytes. */
#define MAX_GROWTH ((size_t)1 << 18)

typedef struct undo {
    pw_patch p;
    long pos; /* re-adding an object member: its former position, else -1 */
} undo;

typedef struct undo_log {
    undo *items;
    size_t len, cap;
    undo inline_items[8];
} undo_log;

typedef struct ctx {
    bool rfc;
    undo_log *log; /* NULL while rolling back */
    pw_error *err; /* NULL while rolling back */
    size_t index;  /* of the patch being applied */
    const pw_patch *patch;
    size_t budget; /* elements left for "length" and past-the-end changes */
} ctx;

/* Takes n from the list's budget of added or cut elements (rollback has none
 * to spend: it only undoes what was paid for). */
static bool spend(ctx *c, size_t n)
{
    if (!c->log)
        return true;
    if (n > c->budget)
        return false;
    c->budget -= n;
    return true;
}

/* ---------------------------------------------------------------- undo log */

static void log_init(undo_log *l)
{
    l->items = l->inline_items;
    l->len = 0;
    l->cap = sizeof l->inline_items / sizeof l->inline_items[0];
}

static void log_free(undo_log *l)
{
    for (size_t i = 0; i < l->len; i++) {
        pw_value_release(&l->items[i].p.path);
        pw_value_release(&l->items[i].p.value);
    }
    if (l->items != l->inline_items)
        free(l->items);
    log_init(l);
}

static bool log_reserve(undo_log *l, size_t more)
{
    if (!l || more <= l->cap - l->len)
        return true;
    if (more > SIZE_MAX / 2 / sizeof(undo) - l->len)
        return false;
    size_t cap = l->cap * 2;
    while (cap < l->len + more)
        cap *= 2;
    undo *items;
    if (l->items == l->inline_items) {
        items = malloc(cap * sizeof *items);
        if (items)
            memcpy(items, l->items, l->len * sizeof *items);
    } else {
        items = realloc(l->items, cap * sizeof *items);
    }
    if (!items)
        return false;
    l->items = items;
    l->cap = cap;
    return true;
}

/* Records the undo of an edit just made; room was reserved, so it cannot
 * fail. Takes ownership of path and value. */
static void log_push(ctx *c, pw_op op, pw_value path, pw_value value, long pos)
{
    if (!c->log) {
        pw_value_release(&path);
        pw_value_release(&value);
        return;
    }
    undo *u = &c->log->items[c->log->len++];
    u->p.op = op;
    u->p.path = path;
    u->p.from = pw_null();
    u->p.value = value;
    u->p.has_value = op != PW_OP_REMOVE;
    u->pos = pos;
}

/* ---------------------------------------------------------------- errors */

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static pw_err
fail(ctx *c, pw_err code, const char *fmt, ...)
{
    if (!c->err || !c->patch)
        return code;
    char reason[160], path[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    pw__path_text(&c->patch->path, path, sizeof path);
    pw_error_set(c->err, code, "patch %zu (%s %s): %s", c->index, pw_op_name(c->patch->op),
                 path[0] ? path : "\"\"", reason);
    c->err->index = (long)c->index;
    return code;
}

static pw_err no_memory(ctx *c)
{
    return fail(c, PW_ENOMEM, "out of memory");
}

/* Segment text for messages, cut short. */
#define SEG_FMT "\"%.*s\""
#define SEG_ARG(g) (int)((g)->n > 40 ? 40 : (g)->n), (g)->s

/* ---------------------------------------------------------------- paths */

static pw_err check_path(ctx *c, const pw_value *path, const char *what)
{
    if (pw_value_kind(path) != PW_ARRAY)
        return fail(c, PW_EOP, "%s is %s, not an array of segments", what,
                    pw_kind_phrase(pw_value_kind(path)));
    size_t n = pw_value_len(path);
    if (n > PW_MAX_PATH_SEGMENTS)
        return fail(c, PW_ELIMIT, "%s has %zu segments, more than %d", what, n,
                    PW_MAX_PATH_SEGMENTS);
    for (size_t d = 0; d < n; d++) {
        pw__seg g;
        if (!pw__seg_read(pw_array_get(path, d), &g))
            return fail(c, PW_EOP, "%s segment %zu is not a string or a non-negative integer", what,
                        d);
        if (pw__seg_forbidden(&g))
            return fail(c, PW_EOP, "%s segment %zu is " SEG_FMT ": refused (prototype pollution)",
                        what, d, SEG_ARG(&g));
    }
    return PW_OK;
}

/* A copy of path with its last segment replaced by seg (owned). */
static pw_err path_with_last(const pw_value *path, pw_value seg, pw_value *out)
{
    size_t n = pw_value_len(path);
    pw_err rc = pw_array_new(out, n);
    if (rc) {
        pw_value_release(&seg);
        return rc;
    }
    for (size_t d = 0; d + 1 < n; d++)
        pw_array_push(out, pw_value_retain(*pw_array_get(path, d))); /* fits: no failure */
    return pw_array_push(out, seg);
}

/* A path to element i of the same array: an int segment in Immer, decimal
 * text in RFC 6902 (so the inverse list reads back as pointers). */
static pw_err path_with_index(const ctx *c, const pw_value *path, size_t i, pw_value *out)
{
    pw_value seg = pw_int((int64_t)i);
    if (c->rfc) {
        char buf[24];
        int n = snprintf(buf, sizeof buf, "%zu", i);
        pw_err rc = pw_string_new(&seg, buf, (size_t)n);
        if (rc)
            return rc;
    }
    return path_with_last(path, seg, out);
}

/* The path itself when its last segment already says index i, else a copy. */
static pw_err path_for_index(const ctx *c, const pw_value *path, int r, const pw__seg *g, size_t i,
                             pw_value *out)
{
    size_t said;
    if (r == PW__IDX_OK && pw__seg_index(g, &said) == PW__IDX_OK && said == i) {
        *out = pw_value_retain(*path);
        return PW_OK;
    }
    return path_with_index(c, path, i, out);
}

static pw_value *slot_at(pw_value *v, size_t pos)
{
    if (pw_value_kind(v) == PW_ARRAY)
        return &((pw__arr *)v->u_.node)->items[pos];
    return &((pw__obj *)v->u_.node)->items[pos].val;
}

/* Where segment d of path leads inside cur: an element index or a member
 * position. Every failure is "doesn't resolve" for intermediate segments. */
static pw_err step(ctx *c, const pw_value *cur, const pw_value *path, size_t d, const char *what,
                   size_t *pos)
{
    pw__seg g;
    pw__seg_read(pw_array_get(path, d), &g);
    pw_kind k = pw_value_kind(cur);
    if (k == PW_ARRAY) {
        size_t i, len = pw_value_len(cur);
        if (pw__seg_index(&g, &i) != PW__IDX_OK) {
            pw__seg_key(&g);
            return fail(c, PW_ENOPATH,
                        "%s doesn't resolve: segment %zu (" SEG_FMT ") is not an array index", what,
                        d, SEG_ARG(&g));
        }
        if (i >= len)
            return fail(c, PW_ENOPATH,
                        "%s doesn't resolve: segment %zu: index %zu out of range (length %zu)",
                        what, d, i, len);
        *pos = i;
        return PW_OK;
    }
    if (k == PW_OBJECT) {
        pw__seg_key(&g);
        long at = pw_object_find(cur, g.s, g.n);
        if (at < 0)
            return fail(c, PW_ENOPATH, "%s doesn't resolve: no member " SEG_FMT " (segment %zu)",
                        what, SEG_ARG(&g), d);
        *pos = (size_t)at;
        return PW_OK;
    }
    return fail(c, PW_ENOPATH, "%s doesn't resolve: segment %zu goes into %s", what, d,
                pw_kind_phrase(k));
}

/* Follows all but the last segment, unsharing each container passed through,
 * to the container the last segment addresses. */
static pw_err walk_parent(ctx *c, pw_value *doc, const pw_value *path, pw_value **parent)
{
    size_t n = pw_value_len(path);
    pw_value *cur = doc;
    for (size_t d = 0; d + 1 < n; d++) {
        size_t pos;
        pw_err rc = step(c, cur, path, d, "path", &pos);
        if (rc)
            return rc;
        if (pw_value_unshare(cur))
            return no_memory(c);
        cur = slot_at(cur, pos);
    }
    pw_kind k = pw_value_kind(cur);
    if (k != PW_ARRAY && k != PW_OBJECT)
        return fail(c, PW_ENOPATH, "path doesn't resolve: the parent is %s", pw_kind_phrase(k));
    *parent = cur;
    return PW_OK;
}

/* Strict read-only lookup of the whole path (RFC 6902 test, move, copy). */
static pw_err lookup(ctx *c, const pw_value *doc, const pw_value *path, const char *what,
                     const pw_value **out)
{
    const pw_value *cur = doc;
    size_t n = pw_value_len(path);
    for (size_t d = 0; d < n; d++) {
        size_t pos;
        pw_err rc = step(c, cur, path, d, what, &pos);
        if (rc)
            return rc;
        cur = slot_at((pw_value *)cur, pos); /* read only */
    }
    *out = cur;
    return PW_OK;
}

/* True when a names the same location as b (same = true) or a proper
 * ancestor of it (same = false). */
static bool path_prefix(const pw_value *a, const pw_value *b, bool same)
{
    size_t na = pw_value_len(a), nb = pw_value_len(b);
    if (same ? na != nb : na >= nb)
        return false;
    for (size_t d = 0; d < na; d++) {
        pw__seg x, y;
        pw__seg_read(pw_array_get(a, d), &x);
        pw__seg_read(pw_array_get(b, d), &y);
        pw__seg_key(&x);
        pw__seg_key(&y);
        if (x.n != y.n || memcmp(x.s, y.s, x.n) != 0)
            return false;
    }
    return true;
}

/* ---------------------------------------------------------------- primitives */

static pw_err set_root(ctx *c, pw_value *doc, const pw_value *path, pw_value v)
{
    if (!log_reserve(c->log, 1)) {
        pw_value_release(&v);
        return no_memory(c);
    }
    pw_value old = *doc;
    *doc = v;
    log_push(c, PW_OP_REPLACE, pw_value_retain(*path), old, -1);
    return PW_OK;
}

/* Sets member g of an object to v (owned), creating it (at position hint
 * when hint >= 0, else at the end) or overwriting it. */
static pw_err set_member(ctx *c, pw_value *obj, const pw_value *path, pw__seg *g, pw_value v,
                         long hint)
{
    pw__seg_key(g);
    long at = pw_object_find(obj, g->s, g->n);
    if (!log_reserve(c->log, 1) || pw_value_unshare(obj)) {
        pw_value_release(&v);
        return no_memory(c);
    }
    if (at >= 0) {
        pw_value *slot = slot_at(obj, (size_t)at);
        pw_value old = *slot;
        *slot = v;
        log_push(c, PW_OP_REPLACE, pw_value_retain(*path), old, -1);
        return PW_OK;
    }
    pw_value key;
    pw_err rc = g->is_int ? pw_string_new(&key, g->s, g->n) : PW_OK;
    if (rc) {
        pw_value_release(&v);
        return no_memory(c);
    }
    if (!g->is_int)
        key = pw_value_retain(*g->v);
    if (hint >= 0 && (size_t)hint <= pw_value_len(obj))
        rc = pw__object_insert_at(obj, (size_t)hint, key, v);
    else
        rc = pw_object_set(obj, key, v, NULL);
    if (rc)
        return no_memory(c);
    log_push(c, PW_OP_REMOVE, pw_value_retain(*path), pw_null(), -1);
    return PW_OK;
}

/* Deletes member g; a missing member is an error unless missing_ok. The
 * removed value is also handed to *taken when taken is non-NULL. */
static pw_err remove_member(ctx *c, pw_value *obj, const pw_value *path, pw__seg *g,
                            bool missing_ok, pw_value *taken)
{
    pw__seg_key(g);
    long at = pw_object_find(obj, g->s, g->n);
    if (at < 0)
        return missing_ok ? PW_OK : fail(c, PW_ENOPATH, "no member " SEG_FMT, SEG_ARG(g));
    pw_value old;
    if (!log_reserve(c->log, 1) || pw_object_remove(obj, g->s, g->n, &old))
        return no_memory(c);
    if (taken)
        *taken = pw_value_retain(old);
    log_push(c, PW_OP_ADD, pw_value_retain(*path), old, at);
    return PW_OK;
}

static pw_err not_index(ctx *c, pw__seg *g)
{
    pw__seg_key(g);
    return fail(c, PW_ENOPATH, SEG_FMT " is not an array index (digits only, no leading zero)",
                SEG_ARG(g));
}

static pw_err do_add(ctx *c, pw_value *doc, const pw_value *path, pw_value v, bool has, long hint)
{
    size_t n = pw_value_len(path);
    pw_value *parent;
    pw_err rc;
    if (n == 0) {
        if (has)
            return set_root(c, doc, path, v);
        rc = fail(c, PW_EOP, "missing value for the whole document");
        goto out;
    }
    if ((rc = walk_parent(c, doc, path, &parent)))
        goto out;
    pw__seg g;
    pw__seg_read(pw_array_get(path, n - 1), &g);
    if (pw_value_kind(parent) == PW_OBJECT) {
        /* Immer without a value: JS set the member to undefined, which JSON
         * drops, so the member is gone for every JSON peer. */
        if (!has)
            return remove_member(c, parent, path, &g, true, NULL);
        return set_member(c, parent, path, &g, v, hint);
    }
    size_t len = pw_value_len(parent), i;
    int r = pw__seg_index(&g, &i);
    if (r == PW__IDX_BAD) {
        rc = not_index(c, &g);
        goto out;
    }
    if (r == PW__IDX_DASH)
        i = len;
    if (i > len) {
        if (c->rfc) {
            rc = fail(c, PW_ERANGE, "index %zu out of range (length %zu)", i, len);
            goto out;
        }
        i = len; /* JS splice clamps */
    }
    pw_value inv;
    if (!log_reserve(c->log, 1) || path_for_index(c, path, r, &g, i, &inv)) {
        rc = no_memory(c);
        goto out;
    }
    if (pw_array_insert(parent, i, v)) {
        pw_value_release(&inv);
        return no_memory(c);
    }
    log_push(c, PW_OP_REMOVE, inv, pw_null(), -1);
    return PW_OK;
out:
    pw_value_release(&v);
    return rc;
}

static pw_err do_remove(ctx *c, pw_value *doc, const pw_value *path, pw_value *taken)
{
    size_t n = pw_value_len(path);
    pw_value *parent;
    if (n == 0)
        return fail(c, PW_ENOPATH, "cannot remove the whole document");
    pw_err rc = walk_parent(c, doc, path, &parent);
    if (rc)
        return rc;
    pw__seg g;
    pw__seg_read(pw_array_get(path, n - 1), &g);
    if (pw_value_kind(parent) == PW_OBJECT)
        return remove_member(c, parent, path, &g, !c->rfc, taken);
    size_t len = pw_value_len(parent), i;
    if (pw__seg_index(&g, &i) != PW__IDX_OK)
        return not_index(c, &g);
    if (i >= len)
        return c->rfc ? fail(c, PW_ERANGE, "index %zu out of range (length %zu)", i, len)
                      : PW_OK; /* Immer: splice past the end removes nothing */
    pw_value old;
    if (!log_reserve(c->log, 1) || pw_array_remove(parent, i, &old))
        return no_memory(c);
    if (taken)
        *taken = pw_value_retain(old);
    log_push(c, PW_OP_ADD, pw_value_retain(*path), old, -1);
    return PW_OK;
}

/* Reads an array length from a patch value: a non-negative integer. */
static bool length_value(const pw_value *v, size_t *out)
{
    double d = pw_value_number(v);
    pw_kind k = pw_value_kind(v);
    if (k == PW_INT && pw_value_int(v) >= 0) {
        *out = (size_t)pw_value_int(v);
        return true;
    }
    if (k == PW_DOUBLE && d >= 0 && d < 9007199254740992.0 && (double)(int64_t)d == d) {
        *out = (size_t)d;
        return true;
    }
    return false;
}

/* Immer's replace of an array's "length": truncates, or extends with nulls. */
static pw_err set_length(ctx *c, pw_value *arr, const pw_value *path, pw_value v, bool has)
{
    size_t m, len = pw_value_len(arr);
    bool ok = has && length_value(&v, &m);
    pw_value_release(&v);
    if (!ok)
        return fail(c, PW_EOP, "\"length\" needs a non-negative integer value");
    if (m == len)
        return PW_OK;
    if (!spend(c, m > len ? m - len : len - m))
        return fail(c, PW_ELIMIT, "would add or cut %zu elements: over the limit of %zu per list",
                    m > len ? m - len : len - m, MAX_GROWTH);
    if (m > len) {
        if (!log_reserve(c->log, 1) || pw_array_resize(arr, m))
            return no_memory(c);
        log_push(c, PW_OP_REPLACE, pw_value_retain(*path), pw_int((int64_t)len), -1);
        return PW_OK;
    }
    /* Undone by re-adding the cut elements in order, m first. */
    size_t cut = len - m;
    pw_value *paths = NULL;
    if (c->log) {
        paths = log_reserve(c->log, cut) ? malloc(cut * sizeof *paths) : NULL;
        size_t built = 0;
        while (paths && built < cut && !path_with_index(c, path, m + built, &paths[built]))
            built++;
        if (!paths || built < cut) {
            while (paths && built)
                pw_value_release(&paths[--built]);
            free(paths);
            return no_memory(c);
        }
    }
    if (pw_value_unshare(arr)) {
        for (size_t k = 0; paths && k < cut; k++)
            pw_value_release(&paths[k]);
        free(paths);
        return no_memory(c);
    }
    for (size_t i = len; i-- > m;) {
        pw_value old;
        pw_array_remove(arr, i, &old); /* unshared and in range: cannot fail */
        log_push(c, PW_OP_ADD, paths ? paths[i - m] : pw_null(), old, -1);
    }
    free(paths);
    return PW_OK;
}

static pw_err do_replace(ctx *c, pw_value *doc, const pw_value *path, pw_value v, bool has)
{
    size_t n = pw_value_len(path);
    pw_value *parent;
    pw_err rc;
    if (n == 0) {
        if (has)
            return set_root(c, doc, path, v);
        rc = fail(c, PW_EOP, "missing value for the whole document");
        goto out;
    }
    if ((rc = walk_parent(c, doc, path, &parent)))
        goto out;
    pw__seg g;
    pw__seg_read(pw_array_get(path, n - 1), &g);
    if (pw_value_kind(parent) == PW_OBJECT) {
        if (!has) /* Immer, undefined value: see do_add */
            return remove_member(c, parent, path, &g, true, NULL);
        pw__seg_key(&g);
        if (c->rfc && pw_object_find(parent, g.s, g.n) < 0) {
            rc = fail(c, PW_ENOPATH, "no member " SEG_FMT " to replace", SEG_ARG(&g));
            goto out;
        }
        return set_member(c, parent, path, &g, v, -1); /* Immer creates a missing key */
    }
    if (!c->rfc && !g.is_int && g.n == 6 && memcmp(g.s, "length", 6) == 0)
        return set_length(c, parent, path, v, has);
    size_t len = pw_value_len(parent), i;
    if (pw__seg_index(&g, &i) != PW__IDX_OK) {
        rc = not_index(c, &g);
        goto out;
    }
    if (i >= len && (c->rfc || !spend(c, i - len))) {
        rc = c->rfc ? fail(c, PW_ERANGE, "index %zu out of range (length %zu)", i, len)
                    : fail(c, PW_ELIMIT,
                           "index %zu is too far past the end (length %zu): over the limit of "
                           "%zu added elements per list",
                           i, len, MAX_GROWTH);
        goto out;
    }
    if (!log_reserve(c->log, 1)) {
        rc = no_memory(c);
        goto out;
    }
    if (i < len) {
        pw_value old;
        if (pw_array_set(parent, i, v, &old))
            return no_memory(c);
        log_push(c, PW_OP_REPLACE, pw_value_retain(*path), old, -1);
        return PW_OK;
    }
    if (i == len) { /* Immer: JS assignment at the length appends */
        if (pw_array_push(parent, v))
            return no_memory(c);
        log_push(c, PW_OP_REMOVE, pw_value_retain(*path), pw_null(), -1);
        return PW_OK;
    }
    /* Immer past the end: JS leaves holes, JSON sends them as null. */
    pw_value inv, seg;
    if (pw_string_cstr(&seg, "length") || path_with_last(path, seg, &inv)) {
        rc = no_memory(c);
        goto out;
    }
    if (pw_array_resize(parent, i + 1)) {
        pw_value_release(&inv);
        rc = no_memory(c);
        goto out;
    }
    pw_value_release(slot_at(parent, i));
    *slot_at(parent, i) = v;
    log_push(c, PW_OP_REPLACE, inv, pw_int((int64_t)len), -1);
    return PW_OK;
out:
    pw_value_release(&v);
    return rc;
}

/* ---------------------------------------------------------------- ops */

/* How deep patches may make a document: one level less than the default
 * decode depth, so that a FullSync message carrying it ({"data": DOC} adds a
 * level) still decodes everywhere. Checked for every value a patch adds
 * (add, replace, move, copy); a scalar costs nothing to check. */
#define MAX_DOC_DEPTH (PW_DEFAULT_MAX_DEPTH - 1)

static pw_err check_nesting(ctx *c, const pw_value *v, const pw_value *path)
{
    size_t at = pw_value_len(path);
    if (at <= MAX_DOC_DEPTH && !pw__value_deeper_than(v, MAX_DOC_DEPTH - at))
        return PW_OK;
    return fail(c, PW_ELIMIT, "the value would nest the document deeper than %d levels",
                MAX_DOC_DEPTH);
}

static pw_err do_move(ctx *c, pw_value *doc, const pw_patch *pt)
{
    const pw_value *src;
    pw_err rc = lookup(c, doc, &pt->from, "from", &src);
    if (rc)
        return rc;
    if ((rc = check_nesting(c, src, &pt->path)))
        return rc;
    if (path_prefix(&pt->from, &pt->path, true))
        return PW_OK;
    if (path_prefix(&pt->from, &pt->path, false))
        return fail(c, PW_EOP, "cannot move a value into its own child");
    pw_value v;
    if ((rc = do_remove(c, doc, &pt->from, &v)))
        return rc;
    return do_add(c, doc, &pt->path, v, true, -1);
}

static pw_err do_copy(ctx *c, pw_value *doc, const pw_patch *pt)
{
    const pw_value *src;
    pw_err rc = lookup(c, doc, &pt->from, "from", &src);
    if (rc)
        return rc;
    if ((rc = check_nesting(c, src, &pt->path)))
        return rc;
    return do_add(c, doc, &pt->path, pw_value_retain(*src), true, -1);
}

static pw_err do_test(ctx *c, pw_value *doc, const pw_patch *pt)
{
    const pw_value *v;
    pw_err rc = lookup(c, doc, &pt->path, "path", &v);
    if (rc)
        return rc;
    if (!pw_value_equal(v, &pt->value))
        return fail(c, PW_ETEST, "test failed: the value differs");
    return PW_OK;
}

static pw_err apply_patch(ctx *c, pw_value *doc, const pw_patch *pt)
{
    if ((unsigned)pt->op > PW_OP_TEST)
        return fail(c, PW_EOP, "unknown op");
    if (!c->rfc && pt->op > PW_OP_REPLACE)
        return fail(c, PW_EOP, "not an Immer op (move, copy and test are RFC 6902 only)");
    pw_err rc = check_path(c, &pt->path, "path");
    if (!rc && (pt->op == PW_OP_MOVE || pt->op == PW_OP_COPY))
        rc = check_path(c, &pt->from, "from");
    if (rc)
        return rc;
    bool wants = pt->op == PW_OP_ADD || pt->op == PW_OP_REPLACE || pt->op == PW_OP_TEST;
    if (c->rfc && wants && !pt->has_value)
        return fail(c, PW_EOP, "missing value");
    pw_value v = pt->has_value ? pt->value : pw_null();
    if ((pt->op == PW_OP_ADD || pt->op == PW_OP_REPLACE) && (rc = check_nesting(c, &v, &pt->path)))
        return rc;
    switch (pt->op) {
    case PW_OP_ADD:
        return do_add(c, doc, &pt->path, pw_value_retain(v), pt->has_value, -1);
    case PW_OP_REMOVE:
        return do_remove(c, doc, &pt->path, NULL);
    case PW_OP_REPLACE:
        return do_replace(c, doc, &pt->path, pw_value_retain(v), pt->has_value);
    case PW_OP_MOVE:
        return do_move(c, doc, pt);
    case PW_OP_COPY:
        return do_copy(c, doc, pt);
    case PW_OP_TEST:
        return do_test(c, doc, pt);
    }
    return PW_EOP;
}

/* Undoes every recorded edit, last first, consuming the log. The records
 * were made against exactly the states they now meet, so each one applies;
 * the values move back into the document rather than being shared. */
static void rollback(undo_log *l, pw_value *doc, bool rfc)
{
    ctx c = {.rfc = rfc, .log = NULL, .err = NULL, .index = 0, .patch = NULL};
    while (l->len) {
        undo *u = &l->items[--l->len];
        pw_value v = u->p.value;
        switch (u->p.op) {
        case PW_OP_ADD:
            do_add(&c, doc, &u->p.path, v, true, u->pos);
            break;
        case PW_OP_REMOVE:
            do_remove(&c, doc, &u->p.path, NULL);
            break;
        default:
            do_replace(&c, doc, &u->p.path, v, true);
            break;
        }
        pw_value_release(&u->p.path);
    }
}

pw_err pw_patches_apply(pw_value *doc, const pw_patches *p, pw_patches *inverse, pw_error *err)
{
    pw_error_clear(err);
    if (!doc || !p)
        return pw_error_set(err, PW_EINVAL, "apply: no document or no patch list");
    if (inverse && inverse->len && inverse->dialect != p->dialect)
        return pw_error_set(err, PW_EINVAL, "apply: the inverse list holds the other dialect");
    undo_log log;
    log_init(&log);
    ctx c = {
        .rfc = p->dialect == PW_DIALECT_RFC6902, .log = &log, .err = err, .budget = MAX_GROWTH};
    pw_err rc = PW_OK;
    for (size_t i = 0; i < p->len && !rc; i++) {
        c.index = i;
        c.patch = &p->items[i];
        rc = apply_patch(&c, doc, &p->items[i]);
    }
    if (!rc && inverse) {
        /* Room first, so handing the records over cannot fail half way. */
        size_t need = inverse->len + log.len;
        if (need > inverse->cap) {
            size_t cap = inverse->cap < 8 ? 8 : inverse->cap;
            while (cap < need)
                cap *= 2;
            pw_patch *items = cap < SIZE_MAX / sizeof *items
                                  ? realloc(inverse->items, cap * sizeof *items)
                                  : NULL;
            if (!items)
                rc = pw_error_set(err, PW_ENOMEM, "apply: out of memory for the inverse");
            else {
                inverse->items = items;
                inverse->cap = cap;
            }
        }
        if (!rc) {
            inverse->dialect = p->dialect;
            while (log.len)
                inverse->items[inverse->len++] = log.items[--log.len].p;
        }
    }
    if (rc)
        rollback(&log, doc, c.rfc);
    log_free(&log);
    return rc;
}
