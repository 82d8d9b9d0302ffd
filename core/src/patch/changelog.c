/* changelog.c - touched paths of patch lists and the per-key log of them.
 *
 * The one idea: a change is summarised by the paths it touches, widened to
 * the parent array for ops that shift indices (an insert or a removal moves
 * every later element), so that two changes whose touched paths are not
 * prefixes of one another commute: applying them in either order gives the
 * same document. */
#include "changelog.h"

#include <stdlib.h>
#include <string.h>

#include "path_internal.h"

/* Bounds on what one change records, so that comparing two changes costs at
 * most MAX_PATHS^2 * MAX_SEGMENTS whatever a peer sends: a longer path is cut
 * to its first segments, more paths are merged into their common prefix.
 * Both only widen what a change touches, so they never hide an overlap. */
#define MAX_PATHS 32
#define MAX_SEGMENTS 32

void pw__changelog_init(pw__changelog *l, size_t cap, uint64_t version)
{
    memset(l, 0, sizeof *l);
    l->cap = cap;
    l->first = version + 1;
}

static void forget(pw__changelog *l, uint64_t next)
{
    for (size_t i = 0; i < l->count; i++)
        pw_value_release(&l->ring[(l->head + i) % l->cap].paths);
    l->head = l->count = 0;
    l->first = next;
}

void pw__changelog_free(pw__changelog *l)
{
    forget(l, 0);
    free(l->ring);
    l->ring = NULL;
}

void pw__changelog_add(pw__changelog *l, uint64_t version, uint64_t origin, pw_value paths)
{
    if (l->first + l->count != version || l->cap == 0)
        forget(l, version + 1);
    if (l->cap == 0) {
        pw_value_release(&paths);
        return;
    }
    if (!l->ring && !(l->ring = calloc(l->cap, sizeof *l->ring))) {
        pw_value_release(&paths);
        forget(l, version + 1);
        return;
    }
    if (pw_value_kind(&paths) != PW_ARRAY) { /* the caller ran out of memory */
        forget(l, version + 1);
        return;
    }
    if (l->count == l->cap) {
        pw_value_release(&l->ring[l->head].paths);
        l->head = (l->head + 1) % l->cap;
        l->count--;
        l->first++;
    }
    pw__change *c = &l->ring[(l->head + l->count++) % l->cap];
    c->version = version;
    c->origin = origin;
    c->paths = paths;
}

static bool any_overlap(const pw_value *as, const pw_value *bs)
{
    for (size_t i = 0; i < pw_value_len(as); i++)
        for (size_t j = 0; j < pw_value_len(bs); j++)
            if (pw__paths_overlap(pw_array_get(as, i), pw_array_get(bs, j)))
                return true;
    return false;
}

bool pw__changelog_overlaps(const pw__changelog *l, uint64_t after, uint64_t now,
                            uint64_t skip_origin, const pw_value *paths)
{
    if (after >= now)
        return false;
    if (after + 1 < l->first)
        return true;
    /* versions are consecutive from l->first: walk (after, now] only */
    size_t from = (size_t)(after + 1 - l->first), to = l->count;
    if (now + 1 - l->first < to)
        to = (size_t)(now + 1 - l->first);
    for (size_t i = from; i < to; i++) {
        const pw__change *c = &l->ring[(l->head + i) % l->cap];
        if (skip_origin && c->origin == skip_origin)
            continue;
        if (!paths || any_overlap(&c->paths, paths))
            return true;
    }
    return false;
}

/* path[0 .. n) as a new array. */
static pw_err prefix(const pw_value *path, size_t n, pw_value *out)
{
    pw_err rc = pw_array_new(out, n);
    for (size_t i = 0; !rc && i < n; i++)
        rc = pw_array_push(out, pw_value_retain(*pw_array_get(path, i)));
    if (rc)
        pw_value_release(out);
    return rc;
}

/* The container path's parent names in doc, or NULL. */
static const pw_value *parent_of(const pw_value *doc, const pw_value *path)
{
    size_t n = pw_value_len(path);
    const pw_value *v = doc;
    for (size_t i = 0; v && i + 1 < n; i++) {
        pw__seg g;
        if (!pw__seg_read(pw_array_get(path, i), &g))
            return NULL;
        if (pw_value_kind(v) == PW_ARRAY) {
            size_t idx;
            v = pw__seg_index(&g, &idx) == PW__IDX_OK ? pw_array_get(v, idx) : NULL;
        } else if (pw_value_kind(v) == PW_OBJECT) {
            pw__seg_key(&g);
            v = pw_object_get(v, g.s, g.n);
        } else {
            v = NULL;
        }
    }
    return v;
}

/* Whether a patch at path shifts the indices of its parent array. */
static bool shifts(const pw_value *doc, pw_op op, pw_dialect d, const pw_value *path)
{
    size_t n = pw_value_len(path);
    if (n == 0)
        return false;
    const pw_value *parent = parent_of(doc, path);
    if (!parent || pw_value_kind(parent) != PW_ARRAY)
        return false; /* an object, or created earlier in the list (touched there) */
    if (op != PW_OP_REPLACE)
        return true;
    if (d != PW_DIALECT_IMMER)
        return false;
    pw__seg g;
    size_t idx;
    return !pw__seg_read(pw_array_get(path, n - 1), &g) || pw__seg_index(&g, &idx) != PW__IDX_OK ||
           idx >= pw_value_len(parent);
}

static pw_err touch(pw_value *out, const pw_value *doc, pw_op op, pw_dialect d,
                    const pw_value *path)
{
    size_t n = pw_value_len(path);
    if (shifts(doc, op, d, path))
        n--;
    if (n == pw_value_len(path) && n <= MAX_SEGMENTS)
        return pw_array_push(out, pw_value_retain(*path));
    pw_value p;
    pw_err rc = prefix(path, n < MAX_SEGMENTS ? n : MAX_SEGMENTS, &p);
    return rc ? rc : pw_array_push(out, p);
}

/* Replaces the paths of *out by their longest common prefix. */
static pw_err merge(pw_value *out)
{
    const pw_value *first = pw_array_get(out, 0);
    size_t n = pw_value_len(first);
    for (size_t i = 1; i < pw_value_len(out); i++) {
        const pw_value *p = pw_array_get(out, i);
        size_t k = 0;
        while (k < n && k < pw_value_len(p) &&
               pw__seg_equal(pw_array_get(first, k), pw_array_get(p, k)))
            k++;
        n = k;
    }
    pw_value common, merged;
    pw_err rc = prefix(first, n, &common);
    if (rc)
        return rc;
    if ((rc = pw_array_new(&merged, 1))) {
        pw_value_release(&common);
        return rc;
    }
    if ((rc = pw_array_push(&merged, common))) {
        pw_value_release(&merged);
        return rc;
    }
    pw_value_release(out);
    *out = merged;
    return PW_OK;
}

pw_err pw__touched(const pw_value *doc, const pw_patches *p, pw_value *out)
{
    pw_err rc = pw_array_new(out, p->len);
    for (size_t i = 0; !rc && i < p->len; i++) {
        const pw_patch *pt = &p->items[i];
        switch (pt->op) {
        case PW_OP_TEST: /* what it reads decides whether the list applies */
            rc = touch(out, doc, PW_OP_REPLACE, p->dialect, &pt->path);
            break;
        case PW_OP_MOVE:
            rc = touch(out, doc, PW_OP_REMOVE, p->dialect, &pt->from);
            if (!rc)
                rc = touch(out, doc, PW_OP_ADD, p->dialect, &pt->path);
            break;
        case PW_OP_COPY:
            rc = touch(out, doc, PW_OP_REPLACE, p->dialect, &pt->from);
            if (!rc)
                rc = touch(out, doc, PW_OP_ADD, p->dialect, &pt->path);
            break;
        default:
            rc = touch(out, doc, pt->op, p->dialect, &pt->path);
        }
    }
    if (!rc && pw_value_len(out) > MAX_PATHS)
        rc = merge(out);
    if (rc)
        pw_value_release(out);
    return rc;
}

pw_err pw__touched_root(pw_value *out)
{
    pw_value root;
    pw_err rc = pw_array_new(&root, 0);
    if (!rc)
        rc = pw_array_new(out, 1);
    if (rc) {
        pw_value_release(&root);
        return rc;
    }
    rc = pw_array_push(out, root);
    if (rc)
        pw_value_release(out);
    return rc;
}
