/* store_record.c - what a store keeps as it edits: undo and redo stacks, and
 * the marks and lists of open transactions.
 *
 * The one idea: room for every record is made before a document changes (so
 * nothing can fail once it has), by helpers that call neither the edits
 * (store.c) nor transactions and undo (store_history.c); both use them.
 */
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

pw_err pw__txn_touch(pw_store *s, pw__state *st, size_t nfwd)
{
    pw__mark *top = pw__top_mark(st);
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
