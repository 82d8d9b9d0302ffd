/* store_history.c - transactions, undo and redo of a store's keys.
 *
 * The one idea: a key touched by open transactions keeps two flat lists, the
 * patches applied and their inverses (each edit's appended reversed), plus a
 * small stack of marks, one per transaction level that touched it, each with
 * where that level's records start and a snapshot of the document as the
 * level found it (O(1) with structural sharing). An inner commit only
 * relabels or drops marks; an abort puts the snapshot back (exact, key order
 * included, and it cannot fail) and tells subscribers with that level's
 * inverses; the outermost commit sends the applied list and keeps the
 * reversed inverses as one undo step.
 *
 * Undo applies a step's patches like any local change and keeps the inverse
 * that apply returns as the redo step (and the other way round). A step that
 * no longer applies (remote changes removed what it touched) is dropped and
 * its error returned.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "path_internal.h"
#include "patchwire/store.h"
#include "store_internal.h"

bool pw__steps_reserve(pw__steps *st, size_t more)
{
    if (more <= st->cap - st->len)
        return true;
    size_t cap = st->cap ? st->cap * 2 : 4;
    while (cap < st->len + more)
        cap *= 2;
    pw_patches *items = realloc(st->items, cap * sizeof *items);
    if (!items)
        return false;
    st->items = items;
    st->cap = cap;
    return true;
}

void pw__steps_clear(pw__steps *st)
{
    for (size_t i = 0; i < st->len; i++)
        pw_patches_clear(&st->items[i]);
    st->len = 0;
}

void pw__steps_push(pw__steps *st, pw_patches *p, size_t max)
{
    if (!max) {
        pw_patches_clear(p);
        return;
    }
    while (st->len >= max) { /* drop the oldest */
        pw_patches_clear(&st->items[0]);
        memmove(st->items, st->items + 1, (st->len - 1) * sizeof *st->items);
        st->len--;
    }
    st->items[st->len++] = *p;
    pw_patches_init(p, PW_DIALECT_IMMER);
}

static void truncate_patches(pw_patches *p, size_t len)
{
    while (p->len > len) {
        pw_patch *pt = &p->items[--p->len];
        pw_value_release(&pt->path);
        pw_value_release(&pt->from);
        pw_value_release(&pt->value);
    }
}

void pw__state_history_free(pw__state *st)
{
    pw__steps_clear(&st->undo);
    pw__steps_clear(&st->redo);
    free(st->undo.items);
    free(st->redo.items);
    pw_patches_clear(&st->fwd);
    pw_patches_clear(&st->inv_rev);
    for (size_t i = 0; i < st->nmarks; i++)
        pw_value_release(&st->marks[i].snapshot);
    free(st->marks);
}

static bool marks_reserve(pw__state *st)
{
    if (st->nmarks < st->cap_marks)
        return true;
    size_t cap = st->cap_marks ? st->cap_marks * 2 : 2;
    pw__mark *marks = realloc(st->marks, cap * sizeof *marks);
    if (!marks)
        return false;
    st->marks = marks;
    st->cap_marks = cap;
    return true;
}

static bool dirty_reserve(pw_store *s)
{
    if (s->ndirty < s->cap_dirty)
        return true;
    size_t cap = s->cap_dirty ? s->cap_dirty * 2 : 4;
    pw__state **dirty = realloc(s->dirty, cap * sizeof *dirty);
    if (!dirty)
        return false;
    s->dirty = dirty;
    s->cap_dirty = cap;
    return true;
}

static pw__mark *top_mark(pw__state *st)
{
    return st->nmarks ? &st->marks[st->nmarks - 1] : NULL;
}

pw_err pw__txn_touch(pw_store *s, pw__state *st, size_t nfwd)
{
    pw__mark *top = top_mark(st);
    bool new_mark = !top || top->level < s->depth;
    if (!st->dirty &&
        (!dirty_reserve(s) || (s->opts.max_history && !pw__steps_reserve(&st->undo, 1))))
        return PW_ENOMEM;
    if ((new_mark && !marks_reserve(st)) || !pw__patches_reserve(&st->fwd, nfwd))
        return PW_ENOMEM;
    if (!st->dirty) {
        s->dirty[s->ndirty++] = st;
        st->dirty = true;
    }
    if (new_mark)
        st->marks[st->nmarks++] = (pw__mark){.level = s->depth,
                                             .fwd_at = st->fwd.len,
                                             .inv_at = st->inv_rev.len,
                                             .snapshot = pw_value_retain(st->doc)};
    return PW_OK;
}

static pw_err refuse_busy(const pw_store *s)
{
    return !s || s->busy ? PW_EINVAL : PW_OK;
}

pw_err pw_store_begin(pw_store *s)
{
    if (refuse_busy(s) || s->depth == UINT_MAX)
        return PW_EINVAL;
    s->depth++;
    return PW_OK;
}

unsigned pw_store_transaction_depth(const pw_store *s)
{
    return s ? s->depth : 0;
}

/* Inner commit: the level's records become the enclosing level's. */
static void merge_level(pw_store *s)
{
    unsigned d = s->depth;
    for (size_t i = 0; i < s->ndirty; i++) {
        pw__state *st = s->dirty[i];
        pw__mark *top = top_mark(st);
        if (!top || top->level != d)
            continue;
        if (st->nmarks > 1 && st->marks[st->nmarks - 2].level == d - 1) {
            pw_value_release(&top->snapshot);
            st->nmarks--;
        } else {
            top->level = d - 1;
        }
    }
    s->depth--;
}

pw_err pw_store_commit(pw_store *s)
{
    if (refuse_busy(s) || !s->depth)
        return PW_EINVAL;
    if (s->depth > 1) {
        merge_level(s);
        return PW_OK;
    }
    s->depth = 0;
    for (size_t i = 0; i < s->ndirty; i++) {
        pw__state *st = s->dirty[i];
        while (st->nmarks)
            pw_value_release(&st->marks[--st->nmarks].snapshot);
        st->dirty = false;
        if (!st->fwd.len) {
            pw_patches_clear(&st->inv_rev);
            continue;
        }
        pw__reverse_tail(&st->inv_rev, 0);
        pw__steps_push(&st->undo, &st->inv_rev, s->opts.max_history); /* room reserved */
        pw__steps_clear(&st->redo);
    }
    /* Everything recorded first: on_local runs on a settled store. */
    for (size_t i = 0; i < s->ndirty; i++) {
        pw__state *st = s->dirty[i];
        if (st->fwd.len)
            pw__store_notify(s, st, PW_ORIGIN_LOCAL, &st->fwd, PW__TELL_LOCAL);
        pw_patches_clear(&st->fwd);
    }
    s->ndirty = 0;
    return PW_OK;
}

pw_err pw_store_abort(pw_store *s)
{
    if (refuse_busy(s) || !s->depth)
        return PW_EINVAL;
    unsigned d = s->depth--;
    /* First every key restored, then the subscribers told, each with the
     * inverses of that level: the patches that lead back to the snapshot. */
    for (size_t i = 0; i < s->ndirty; i++) {
        pw__state *st = s->dirty[i];
        pw__mark *top = top_mark(st);
        st->aborting = top && top->level == d;
        if (!st->aborting)
            continue;
        pw_value_release(&st->doc);
        st->doc = top->snapshot;
        st->abort_at = top->inv_at;
        truncate_patches(&st->fwd, top->fwd_at);
        pw__reverse_tail(&st->inv_rev, top->inv_at);
        st->nmarks--;
    }
    for (size_t i = 0; i < s->ndirty; i++) {
        pw__state *st = s->dirty[i];
        if (!st->aborting)
            continue;
        st->aborting = false;
        pw_patches restoring = {.dialect = PW_DIALECT_IMMER,
                                .len = st->inv_rev.len - st->abort_at,
                                .cap = st->inv_rev.len - st->abort_at,
                                .items = st->inv_rev.items + st->abort_at};
        if (restoring.len)
            pw__store_notify(s, st, PW_ORIGIN_LOCAL, &restoring, PW__TELL_SUBS);
        truncate_patches(&st->inv_rev, st->abort_at);
    }
    if (!s->depth) {
        for (size_t i = 0; i < s->ndirty; i++) {
            s->dirty[i]->dirty = false;
            pw_patches_clear(&s->dirty[i]->fwd);
            pw_patches_clear(&s->dirty[i]->inv_rev);
        }
        s->ndirty = 0;
    }
    return PW_OK;
}

/* One undo (from = undo, to = redo) or redo (the other way round). */
static pw_err history_step(pw_store *s, const char *key, size_t key_len, bool undo, pw_error *err)
{
    pw__state *st;
    pw_err rc = pw__store_state(s, key, key_len, &st, err);
    if (rc)
        return rc;
    const char *what = undo ? "undo" : "redo";
    if (s->depth) {
        pw_error_set(err, PW_EINVAL, "%s inside a transaction", what);
        return pw__store_key_error(err, PW_EINVAL, st);
    }
    pw__steps *from = undo ? &st->undo : &st->redo, *to = undo ? &st->redo : &st->undo;
    if (!from->len) {
        pw_error_set(err, PW_ERANGE, "nothing to %s", what);
        return pw__store_key_error(err, PW_ERANGE, st);
    }
    if (!pw__steps_reserve(to, 1)) {
        pw_error_set(err, PW_ENOMEM, "out of memory");
        return pw__store_key_error(err, PW_ENOMEM, st);
    }
    pw_patches step = from->items[--from->len], back;
    pw_patches_init(&back, PW_DIALECT_IMMER);
    rc = pw_patches_apply(&st->doc, &step, &back, err);
    if (rc == PW_ENOMEM) { /* the step still applies: keep it */
        from->len++;
        return pw__store_key_error(err, rc, st);
    }
    if (rc) {
        char reason[sizeof err->msg];
        if (err) {
            memcpy(reason, err->msg, sizeof reason);
            pw_error_set(err, rc, "%s step dropped, it no longer applies: %s", what, reason);
        }
        pw_patches_clear(&step);
        return pw__store_key_error(err, rc, st);
    }
    pw__steps_push(to, &back, s->opts.max_history);
    pw__store_notify(s, st, PW_ORIGIN_LOCAL, &step, PW__TELL_SUBS | PW__TELL_LOCAL);
    pw_patches_clear(&step);
    return PW_OK;
}

pw_err pw_store_undo(pw_store *s, const char *key, size_t key_len, pw_error *err)
{
    return history_step(s, key, key_len, true, err);
}

pw_err pw_store_redo(pw_store *s, const char *key, size_t key_len, pw_error *err)
{
    return history_step(s, key, key_len, false, err);
}

bool pw_store_can_undo(const pw_store *s, const char *key, size_t key_len)
{
    pw__state *st = s ? pw__store_find(s, key, key_len) : NULL;
    return st && st->undo.len > 0;
}

bool pw_store_can_redo(const pw_store *s, const char *key, size_t key_len)
{
    pw__state *st = s ? pw__store_find(s, key, key_len) : NULL;
    return st && st->redo.len > 0;
}
