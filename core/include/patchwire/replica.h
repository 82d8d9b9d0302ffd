/* replica.h - the client role: a store kept equal to a hub over one connection.
 *
 * A replica owns a store (store.h) and speaks for it on one connection to a
 * hub. It waits for the hub's FullSync of a key before it sends anything for
 * it; then each local change (an edit, a committed transaction, undo, redo)
 * goes out as {"type":"patches","key":K,"base":B,"data":[...]}, B being the
 * last version of K the replica had when the change was made, and the hub
 * accepts it only if no change since B overlaps it (proto/SPEC.md, section
 * 1.2). One change per key is in flight: edits made meanwhile apply to the
 * store at once and are sent together when the hub acks the one in flight.
 *
 * The replica checks `seq` on everything it receives: a gap, a patch that
 * does not apply, or an error makes it wait for a FullSync (asking for one
 * with {"type":"resync","key":K} unless the hub sends it anyway). A FullSync
 * replaces the key's state, dropping local changes the hub has not accepted:
 * a replica never diverges silently, but a rejected edit is lost (the error
 * callback hears of it).
 *
 * One thread owns a replica and its store. pw_replica_receive must not be
 * called inside a store transaction or from a store callback.
 */
#ifndef PATCHWIRE_REPLICA_H
#define PATCHWIRE_REPLICA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "patchwire/codec.h"
#include "patchwire/error.h"
#include "patchwire/store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pw_replica pw_replica;

/* Sends one encoded message (n bytes at p, borrowed; binary: MessagePack)
 * to the hub. Called from inside store edits and pw_replica_receive; must
 * not call back into the replica or its store. An error means the
 * connection is unusable: the replica waits for pw_replica_reconnect. */
typedef pw_err (*pw_replica_send_cb)(const uint8_t *p, size_t n, bool binary, void *userdata);
/* The same, also given the key the message is for (a transport with a
 * channel per key: an MQTT topic). */
typedef pw_err (*pw_replica_send_keyed_cb)(const char *key, size_t key_len, const uint8_t *p,
                                           size_t n, bool binary, void *userdata);
/* The hub refused something of `key` (key NULL when it named none). */
typedef void (*pw_replica_error_cb)(const char *key, size_t key_len, const char *message,
                                    void *userdata);

typedef struct pw_replica_options {
    const pw_codec *codec;   /* what the replica sends; default JSON */
    pw_replica_send_cb send; /* required */
    void *send_userdata;
    pw_replica_error_cb on_error; /* optional */
    void *on_error_userdata;
    pw_store_options store; /* of the store the replica creates; its
                             * on_local is called after the replica's own */
    pw_limits limits;       /* for decoding the hub's messages */
    /* Instead of send (one of the two is required; send_userdata for both). */
    pw_replica_send_keyed_cb send_keyed;
    /* Over a broadcast stream (an MQTT broker, nanomsg pub/sub), where every
     * accepted change is published to everyone, the replica included: a
     * name unique among the hub's peers (an MQTT client id). Each change
     * then carries "id":"ORIGIN:N"; the change coming back with that id is
     * its ack, errors naming other ids are other devices', and a FullSync
     * settles what was in flight (proto/SPEC.md, "MQTT"). NULL: the
     * replica has a connection of its own (WebSocket, in-process). */
    const char *origin;
} pw_replica_options;

void pw_replica_options_init(pw_replica_options *opts);

/* A replica with a new empty store. NULL when out of memory or send is NULL. */
pw_replica *pw_replica_new(const pw_replica_options *opts);
void pw_replica_free(pw_replica *r);
/* The replica's store (owned by it): read, edit and subscribe through it.
 * Keys appear with their first FullSync; pw_store_create'd keys are not
 * sent until the hub has them. */
pw_store *pw_replica_store(pw_replica *r);

/* One complete message from the hub. PW_OK when it was used or ignored
 * (an unknown type, patches while waiting for a FullSync); an error when
 * it could not be read (the replica then asks for a resync of the key it
 * names, if any). */
pw_err pw_replica_receive(pw_replica *r, const uint8_t *p, size_t n, pw_error *err);

/* A FullSync published to everyone rather than sent to this replica (a
 * retained MQTT state): taken only when the key has none yet or waits for
 * one; otherwise the stream brings what the replica lacks. Anything else
 * is handled as by pw_replica_receive. */
pw_err pw_replica_receive_snapshot(pw_replica *r, const uint8_t *p, size_t n, pw_error *err);

/* True when the key has no FullSync yet or waits for one (unknown keys
 * too). */
bool pw_replica_waiting(const pw_replica *r, const char *key, size_t key_len);

/* The connection was replaced (or restored): nothing is in flight any more
 * and every key waits for the FullSync the hub sends on join. */
void pw_replica_reconnect(pw_replica *r);

/* True when the key has its FullSync, no change in flight or buffered and
 * no resync pending: the store holds the hub's version `*seq`. */
bool pw_replica_idle(const pw_replica *r, const char *key, size_t key_len, uint64_t *seq);

typedef struct pw_replica_stats {
    uint64_t sent;      /* patches messages sent */
    uint64_t acked;     /* of them, accepted */
    uint64_t errors;    /* error messages received */
    uint64_t resyncs;   /* resync requests sent */
    uint64_t fullsyncs; /* FullSyncs received */
    uint64_t dropped;   /* local changes dropped by a FullSync before being accepted */
    uint64_t reserved[4];
} pw_replica_stats;

void pw_replica_stats_get(const pw_replica *r, pw_replica_stats *out);

#ifdef __cplusplus
}
#endif
#endif
