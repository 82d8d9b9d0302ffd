/* durable.h - what a hub with a store keeps between two commits (hub.c,
 * persist.h): the accepted changes not yet written, the frames that wait
 * for their commit, the state of each key before the turn (to undo it when
 * the commit fails), and per key how much log its snapshot has behind it.
 * Peers and keys are the hub's, seen here as opaque handles. Internal. */
#ifndef PATCHWIRE_DURABLE_H
#define PATCHWIRE_DURABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "patchwire/patch.h"
#include "patchwire/persist.h"
#include "patchwire/transport.h"
#include "patchwire/value.h"

typedef struct pw__durable pw__durable;

pw__durable *pw__durable_new(pw_persist *store, const pw_persist_options *opts);
/* Commits nothing: frames held are released, saved documents too. */
void pw__durable_free(pw__durable *d);
void pw__durable_log(const pw__durable *d, bool error, const char *fmt, ...);
pw_persist *pw__durable_store(const pw__durable *d);

/* True when sends must wait for the commit: sync always and a change is
 * pending. */
bool pw__durable_holding(const pw__durable *d);
/* Keeps frame (the reference is taken) for peer until the commit; false
 * when out of memory (the frame is released). */
bool pw__durable_hold(pw__durable *d, void *peer, pw_frame *frame);
/* The i-th held frame and its peer (NULL once the peer left). */
size_t pw__durable_held(const pw__durable *d);
pw_frame *pw__durable_held_at(const pw__durable *d, size_t i, void **peer);

/* Before a change of key (index: the hub's, stable while the key exists):
 * remembers its document and version as they were before the turn, once
 * per turn (sync always only). created: the key is new, doc is null. */
pw_err pw__durable_touch(pw__durable *d, void *key, size_t index, const pw_value *doc,
                         uint64_t version, bool created);
size_t pw__durable_touched(const pw__durable *d);
/* The i-th touched key, its document (borrowed) and version before the turn. */
void *pw__durable_touched_at(const pw__durable *d, size_t i, pw_value **doc, uint64_t *version,
                             bool *created);

/* An accepted change of key: patches NULL when doc replaced the document.
 * peer and id: who sent it, for a refusal (peer NULL: the application). */
pw_err pw__durable_change(pw__durable *d, size_t index, const char *key, size_t key_len,
                          uint64_t version, uint64_t origin, const pw_patches *patches,
                          const pw_value *doc, void *peer, const pw_value *id);
size_t pw__durable_changes(const pw__durable *d);
/* The i-th pending change: its sender (NULL: none or gone), key and id. */
void *pw__durable_change_at(const pw__durable *d, size_t i, const char **key, size_t *key_len,
                            const pw_value **id);
/* Peer left: nothing held for it is sent, no refusal goes to it. */
void pw__durable_forget_peer(pw__durable *d, const void *peer);
/* A key was dropped (its creation undone): its index starts afresh. */
void pw__durable_forget_key(pw__durable *d, size_t index);

/* Whether a commit is due now (now_ms: CLOCK_MONOTONIC), and in how many
 * ms one will be (-1: nothing pending). */
bool pw__durable_due(const pw__durable *d, int64_t now_ms);
int pw__durable_next_ms(const pw__durable *d, int64_t now_ms);
/* Writes the pending changes in one transaction. Either way the pending
 * changes are cleared afterwards by pw__durable_end_turn. */
pw_err pw__durable_commit(pw__durable *d, pw_error *err);
/* Clears the turn: held frames (whoever did not take them), saved states,
 * pending changes; a failed commit in batch or off mode marks the changed
 * keys for a snapshot instead. */
void pw__durable_end_turn(pw__durable *d, bool failed);
/* Index of the next key whose log outgrew its snapshot, from *pos on; false
 * when none. */
bool pw__durable_next_snapshot(const pw__durable *d, size_t *pos);
/* Writes doc at version as the snapshot of the key at index. */
pw_err pw__durable_snapshot(pw__durable *d, size_t index, const char *key, size_t key_len,
                            const pw_value *doc, uint64_t version, pw_error *err);

int64_t pw__durable_now_ms(void);

#endif
