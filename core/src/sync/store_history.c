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

static void truncate_patches(pw_patches *p, size_t len)
{
    while (p->len > len) {
        pw_patch *pt = &p->items[--p->len];
        pw_value_release(&pt->path);
        pw_value_release(&pt->from);
        pw_value_release(&pt->value);
    }
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
        pw__mark *top = pw__top_mark(st);
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
        pw__mark *top = pw__top_mark(st);
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
