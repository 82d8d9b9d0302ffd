/* persist.h - durable hub state: a small store interface, and a hub that
 * writes every change it accepts through one.
 *
 * A store keeps, per key, a snapshot (document and version) and the changes
 * accepted since (version, patch list, origin). The hub hands it the changes
 * of one loop turn as one batch, written in one transaction (group commit),
 * and compacts a key's log into a snapshot once the log outgrows the
 * document. The SQLite store (pw_persist_sqlite_open) is the one built in;
 * another is a pw_persist_ops table, nothing in the hub changes.
 *
 * Sync (pw_sync): with PW_SYNC_ALWAYS nothing a change causes (relay, ack,
 * FullSyncs, anything sent after it in that turn) leaves the hub before its
 * transaction is durable: the hub holds what it would send until
 * pw_hub_flush commits, then sends it in order. If the commit fails, the
 * turn's changes are undone, their senders get an error and a FullSync, and
 * peers that were due held frames get FullSyncs of what they may read; the
 * hub keeps serving. PW_SYNC_BATCH relays at once and commits (fsync) every
 * interval; PW_SYNC_OFF relays at once and commits every turn without
 * fsync.
 */
#ifndef PATCHWIRE_PERSIST_H
#define PATCHWIRE_PERSIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "patchwire/error.h"
#include "patchwire/hub.h"
#include "patchwire/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One accepted change: the key's version after it, who made it (the hub's
 * peer id, 0 for the application), when (Unix ms), and its Immer patch list
 * in JSON (a whole-document change is [{"op":"replace","path":[],...}]). */
typedef struct pw_persist_change {
    const char *key;
    size_t key_len;
    uint64_t version;
    uint64_t origin;
    int64_t time_ms;
    const uint8_t *patches;
    size_t patches_len;
} pw_persist_change;

/* Called by load once per key with its document (taken) and version. */
typedef pw_err (*pw_persist_key_cb)(const char *key, size_t key_len, pw_value doc, uint64_t version,
                                    void *userdata);

typedef pw_err (*pw_persist_change_cb)(const pw_persist_change *change, void *userdata);

typedef struct pw_persist pw_persist;

/* Every member may block on the disk; none calls back into the hub. */
typedef struct pw_persist_ops {
    const char *name;
    /* Every key: its snapshot with its logged changes applied. */
    pw_err (*load)(pw_persist *s, pw_persist_key_cb cb, void *userdata, pw_error *err);
    /* Writes n changes (borrowed) in one transaction, durable (fsync) when
     * asked; on failure nothing of them is stored. */
    pw_err (*append)(pw_persist *s, const pw_persist_change *changes, size_t n, bool durable,
                     pw_error *err);
    /* Replaces the key's snapshot with doc (its JSON, borrowed) at version
     * and drops the logged changes up to it, in one transaction. */
    pw_err (*snapshot)(pw_persist *s, const char *key, size_t key_len, const uint8_t *doc,
                       size_t doc_len, uint64_t version, bool durable, pw_error *err);
    /* The key's logged changes (since its snapshot) in version order;
     * NULL when the store keeps none. */
    pw_err (*history)(pw_persist *s, const char *key, size_t key_len, pw_persist_change_cb cb,
                      void *userdata, pw_error *err);
    void (*close)(pw_persist *s);
} pw_persist_ops;

/* What every store starts with. */
struct pw_persist {
    const pw_persist_ops *ops;
};

static inline void pw_persist_close(pw_persist *s)
{
    if (s)
        s->ops->close(s);
}

enum { PW_PERSIST_READ_ONLY = 1 };

/* Opens (or creates) the SQLite store at path, locked for this process
 * (another hub holding it is PW_EIO with a message saying so). A file that
 * is not a patchwire state file or comes from a newer schema is refused with
 * a message and left as it is; corruption found while loading fails the
 * load. PW_PERSIST_READ_ONLY: opens an existing store to read it, without
 * the lock (a hub may be writing it). NULL on failure (err says why;
 * PW_EUNSUPPORTED when the library was built without SQLite). */
pw_persist *pw_persist_sqlite_open(const char *path, unsigned flags, pw_error *err);

typedef enum pw_sync {
    PW_SYNC_ALWAYS = 0,
    PW_SYNC_BATCH,
    PW_SYNC_OFF,
} pw_sync;

typedef struct pw_persist_options {
    pw_sync sync;              /* default PW_SYNC_ALWAYS */
    unsigned interval_ms;      /* PW_SYNC_BATCH: commit period; default 50 */
    uint64_t snapshot_changes; /* snapshot a key after this many changes; default 10,000 */
    /* Called with one line for what was loaded and for every failed commit. */
    void (*log)(bool error, const char *line, void *userdata);
    void *log_userdata;
} pw_persist_options;

void pw_persist_options_init(pw_persist_options *opts);

/* Loads every key of store into the hub (which must hold no key yet; seq
 * continues where it stopped) and writes every change the hub accepts from
 * now on through it. The store is borrowed: close it after pw_hub_free. */
pw_err pw_hub_persist(pw_hub *hub, pw_persist *store, const pw_persist_options *opts,
                      pw_error *err);
/* Called by the loop after each turn: commits the turn's changes when due,
 * then sends what waited for the commit. PW_EIO when a commit failed (its
 * changes were refused as described above). */
pw_err pw_hub_flush(pw_hub *hub);
/* Milliseconds until pw_hub_flush has work (0: now), or -1 for none. */
int pw_hub_flush_ms(const pw_hub *hub);

#ifdef __cplusplus
}
#endif
#endif
