/* store_internal.h - the store's layout, shared by store.c (keys, edits,
 * subscriptions), store_history.c (transactions, undo and redo) and
 * store_record.c (the records both keep; it calls neither).
 *
 * Every list kept here is an Immer list: local edits are recorded, sent and
 * undone in the dialect the wire carries. Room for each record is reserved
 * before a document changes, so nothing can fail once it has changed. */
#ifndef PATCHWIRE_STORE_INTERNAL_H
#define PATCHWIRE_STORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "patchwire/store.h"
#include "strtab.h"

/* One open transaction level that touched a key: where its records begin in
 * the key's fwd / inv_rev lists, and the document as the level found it. */
typedef struct pw__mark {
    unsigned level;
    size_t fwd_at, inv_at;
    pw_value snapshot;
} pw__mark;

/* A stack of patch lists (undo or redo steps), oldest first. */
typedef struct pw__steps {
    pw_patches *items;
    size_t len, cap;
} pw__steps;

typedef struct pw__state {
    char *key; /* NUL-terminated copy */
    size_t key_len;
    pw_value doc;
    uint64_t version;
    pw__steps undo, redo;
    /* Open transactions: the patches applied so far, and their inverses,
     * each edit's inverse list appended reversed (so reversing the whole
     * tail of any level gives that level's undo list, ready to apply). */
    pw_patches fwd, inv_rev;
    pw__mark *marks;
    size_t nmarks, cap_marks;
    bool dirty;      /* on the store's list of keys the open transaction touched */
    bool aborting;   /* during pw_store_abort: restored, subscribers not told yet */
    size_t abort_at; /* during pw_store_abort: where the restoring patches start */
} pw__state;

typedef struct pw__sub {
    uint64_t id; /* 0 once unsubscribed during a dispatch */
    char *key;   /* NULL: every key */
    size_t key_len;
    pw_value prefix; /* array of segments, or null for any change */
    bool has_prefix;
    pw_change_cb cb;
    void *userdata;
} pw__sub;

struct pw_store {
    pw_store_options opts;
    pw__state **states; /* creation order */
    size_t count, cap;
    pw__strtab index; /* positions in states; not built while small */
    pw__sub *subs;
    size_t nsubs, cap_subs;
    uint64_t next_id;
    unsigned busy;   /* callbacks running: the store may not change */
    bool sweep_subs; /* some subs were unsubscribed during a dispatch */
    unsigned depth;  /* open transactions */
    pw__state **dirty;
    size_t ndirty, cap_dirty;
};

/* ---- store.c ---- */
pw__state *pw__store_find(const pw_store *s, const char *key, size_t key_len);
/* The state of key, or an error naming it (unknown key, or a callback
 * running). */
pw_err pw__store_state(pw_store *s, const char *key, size_t key_len, pw__state **out,
                       pw_error *err);
enum { PW__TELL_SUBS = 1, PW__TELL_LOCAL = 2 };
/* Tells about a change of st: its subscribers, on_local, or both (`who`). */
void pw__store_notify(pw_store *s, pw__state *st, pw_origin origin, const pw_patches *p,
                      unsigned who);
/* Rewrites err's message as `key "...": <message>`. Returns code. */
pw_err pw__store_key_error(pw_error *err, pw_err code, const pw__state *st);

/* ---- store_record.c ---- */
bool pw__steps_reserve(pw__steps *st, size_t more);
void pw__steps_clear(pw__steps *st);
/* Pushes a step (taken) onto a reserved stack, dropping the oldest beyond max. */
void pw__steps_push(pw__steps *st, pw_patches *p, size_t max);
/* Makes room, before an edit inside a transaction, for recording it: a mark
 * for the current level and a place on the dirty list and the undo stack. */
pw_err pw__txn_touch(pw_store *s, pw__state *st, size_t nfwd);
void pw__state_history_free(pw__state *st);

static inline pw__mark *pw__top_mark(pw__state *st)
{
    return st->nmarks ? &st->marks[st->nmarks - 1] : NULL;
}

/* Reverses the patches of p from index `from` to the end, in place. */
static inline void pw__reverse_tail(pw_patches *p, size_t from)
{
    for (size_t i = from, j = p->len; i + 1 < j; i++, j--) {
        pw_patch t = p->items[i];
        p->items[i] = p->items[j - 1];
        p->items[j - 1] = t;
    }
}

#endif
