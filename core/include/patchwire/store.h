/* store.h - named synced states on one peer: edits, transactions, history.
 *
 * A store holds states by key (a document and its version). A C program edits
 * them through the store instead of Immer drafts; every change, local or
 * remote, is applied atomically as a patch list and reported to subscribers
 * with the patches that were applied. Local changes also produce the patch
 * list to send (one per edit, or one per committed transaction), and their
 * inverses form the undo history, with Visly State's rules: a committed
 * transaction is one undo step, undo and redo are sent like any edit, and a
 * FullSync from the hub replaces the state and clears the history.
 *
 * One thread owns a store. The store does no I/O: a replica (or any program)
 * takes the outgoing lists through the on_local callback.
 *
 * Callbacks (on_local and subscribers) run after the change is complete and
 * recorded; on_local first, then the subscribers in subscription order. A
 * callback may read the store, subscribe and unsubscribe (itself included),
 * but every call that would change it fails with PW_EINVAL, and it must not
 * free the store. A change that applies no patch (an empty list, an RFC 6902
 * list of tests) calls nothing and records nothing. A failed call changes
 * nothing and calls nothing.
 *
 * Errors: an unknown key is PW_EINVAL; a failing patch list gives the code
 * and message of pw_patches_apply (index and path) prefixed with the key.
 */
#ifndef PATCHWIRE_STORE_H
#define PATCHWIRE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "patchwire/error.h"
#include "patchwire/patch.h"
#include "patchwire/value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pw_store pw_store;

typedef enum pw_origin {
    PW_ORIGIN_LOCAL = 0, /* an edit, a committed transaction, undo or redo */
    PW_ORIGIN_REMOTE,    /* patches received from the hub */
    PW_ORIGIN_FULLSYNC,  /* the whole state replaced from the hub */
} pw_origin;

/* What a subscriber is told after each change of a key. `patches` are the
 * Immer patches that were applied (for a FullSync: one replace of the root;
 * for a list given in RFC 6902 form: its Immer equivalent, computed as the
 * diff of the document before and after, so ops may be ordered or shaped
 * differently from the list given, e.g. a move becomes a remove and an add);
 * they and `doc` are valid during the call only (retain `*doc` to keep it). */
typedef struct pw_change {
    const char *key;
    size_t key_len;
    pw_origin origin;
    const pw_patches *patches;
    const pw_value *doc; /* the state after the change */
    uint64_t version;    /* the key's version after the change */
    void *reserved[4];
} pw_change;

typedef void (*pw_change_cb)(const pw_change *change, void *userdata);

typedef struct pw_store_options {
    size_t max_history; /* undo steps kept per key; default 100, 0 = no history */
    /* Called with every local change to send: one patch list per edit or per
     * committed outermost transaction, undo and redo included. */
    pw_change_cb on_local;
    void *on_local_userdata;
} pw_store_options;

void pw_store_options_init(pw_store_options *opts);

/* opts may be NULL for the defaults. NULL when out of memory. */
pw_store *pw_store_new(const pw_store_options *opts);
void pw_store_free(pw_store *s);

/* Creates a state with an initial document (taken, on failure too) at
 * version 0. PW_EINVAL if the key exists or is empty. */
pw_err pw_store_create(pw_store *s, const char *key, size_t key_len, pw_value initial);
bool pw_store_has(const pw_store *s, const char *key, size_t key_len);
/* The current document, NULL for an unknown key. Borrowed: valid until the
 * next change of that key; pw_value_retain it for an O(1) snapshot. */
const pw_value *pw_store_get(const pw_store *s, const char *key, size_t key_len);
uint64_t pw_store_version(const pw_store *s, const char *key, size_t key_len);
/* Number of keys, and the i-th key in creation order (NULL past the end). */
size_t pw_store_count(const pw_store *s);
const char *pw_store_key_at(const pw_store *s, size_t i, size_t *key_len);

/* ---- local edits; path is an array value of segments (borrowed) ---- */
/* Sets the value at path: an object member (created if missing) or an
 * existing array element; an empty path replaces the whole document.
 * Segments are strings or non-negative ints; "3" and 3 both index an array,
 * and the patch sent carries the int (an object key is sent as a string).
 * PW_ETYPE: path not an array or a bad segment; PW_ENOPATH: a segment before
 * the last does not resolve (or names a missing member to remove); PW_ERANGE:
 * the last index is out of range. v is taken, on failure too. */
pw_err pw_store_set(pw_store *s, const char *key, size_t key_len, const pw_value *path, pw_value v,
                    pw_error *err);
/* Inserts into the array that path's parent names, before the index path
 * ends with (== length appends), or sets an object member (an Immer add).
 * An empty path is PW_EINVAL. */
pw_err pw_store_insert(pw_store *s, const char *key, size_t key_len, const pw_value *path,
                       pw_value v, pw_error *err);
/* Removes an existing array element or object member; not the root. */
pw_err pw_store_remove(pw_store *s, const char *key, size_t key_len, const pw_value *path,
                       pw_error *err);
/* Applies a patch list (borrowed; Immer or RFC 6902) as one local change. */
pw_err pw_store_apply(pw_store *s, const char *key, size_t key_len, const pw_patches *p,
                      pw_error *err);

/* ---- transactions (nested; per store, spanning every key) ----
 * Edits inside a transaction apply at once (subscribers are told at once);
 * the outermost commit sends one list per changed key (in the order keys
 * were first changed) and records one undo step per key; abort restores
 * every key changed at that level exactly (key order included: from a
 * snapshot), tells its subscribers with the restoring patches (origin
 * LOCAL) and sends nothing. An inner commit merges into the enclosing
 * level. commit / abort with no open transaction are PW_EINVAL. */
pw_err pw_store_begin(pw_store *s);
pw_err pw_store_commit(pw_store *s);
pw_err pw_store_abort(pw_store *s);
/* Nesting depth of open transactions (0 when none is open). */
unsigned pw_store_transaction_depth(const pw_store *s);

/* ---- history (per key) ----
 * PW_ERANGE when there is nothing to undo or redo. A new local edit clears
 * the redo stack. Not allowed inside a transaction (PW_EINVAL). Undo and
 * redo are local changes: on_local sends their patches, subscribers are
 * told. Remote patches do not touch the history, so a step may no longer
 * apply after one (what it changed was removed): the call then fails with
 * the apply error and the step is dropped. Undoing the removal of an object
 * member re-adds it at the end of its object (as Immer's inverse does). */
pw_err pw_store_undo(pw_store *s, const char *key, size_t key_len, pw_error *err);
pw_err pw_store_redo(pw_store *s, const char *key, size_t key_len, pw_error *err);
bool pw_store_can_undo(const pw_store *s, const char *key, size_t key_len);
bool pw_store_can_redo(const pw_store *s, const char *key, size_t key_len);

/* ---- changes from the hub ----
 * Remote patches apply atomically, are not recorded in the history and are
 * not sent back out; version becomes the given one. A FullSync replaces the
 * document (taken), sets the version, clears the key's history, and creates
 * the key if it is new. Neither is allowed inside a transaction. */
pw_err pw_store_apply_remote(pw_store *s, const char *key, size_t key_len, const pw_patches *p,
                             uint64_t version, pw_error *err);
pw_err pw_store_fullsync(pw_store *s, const char *key, size_t key_len, pw_value doc,
                         uint64_t version);

/* ---- subscriptions ----
 * cb runs after every change of `key` (key NULL: of every key) whose patches
 * touch `prefix` (an array of segments, borrowed and copied; NULL: any
 * change): a patch touches it when one path is a prefix of the other. Each
 * change calls cb once, with all of its patches; a FullSync reaches every
 * subscriber of the key. Segments compare as in paths (int 3 equals "3").
 * Returns an id > 0 for pw_store_unsubscribe, or 0 when out of memory, cb is
 * NULL or prefix is not an array of segments. A subscription made inside a
 * callback hears from the next change on; unsubscribing inside a callback
 * is safe. */
uint64_t pw_store_subscribe(pw_store *s, const char *key, size_t key_len, const pw_value *prefix,
                            pw_change_cb cb, void *userdata);
void pw_store_unsubscribe(pw_store *s, uint64_t id);

#ifdef __cplusplus
}
#endif
#endif
