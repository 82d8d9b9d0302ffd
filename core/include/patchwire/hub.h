/* hub.h - the server role: one authoritative state per key, many peers.
 *
 * Peers come and go through transports (transport.h). The hub decodes each
 * message with the codec the peer uses, checks access, applies it atomically
 * to the authoritative document, bumps the key's version and fans the change
 * out to every other peer that may read the key, encoding it once per codec,
 * not once per peer. Every message the hub sends for a key carries `seq`, the
 * key's version after it. Plain Visly State clients need nothing more: on
 * join they get a FullSync of every key they may read, their patches are
 * applied and relayed, nothing is echoed to them.
 *
 * Concurrent edits (proto/SPEC.md, section 1.2): a patches message with
 * `base` (a replica's) is applied only if no change since that version
 * touched an overlapping path, and answered with an ack or an error and a
 * FullSync; a plain peer whose patch may have crossed a change it had not
 * seen gets a FullSync after it is applied and relayed. {"type":"resync"}
 * asks for a FullSync of a key.
 *
 * A message that fails (malformed, denied, does not apply, over a limit)
 * changes nothing and is not relayed; the sender gets an error message and a
 * FullSync of the key, so it converges on the hub's state. Other peers are
 * never affected by what one peer sends.
 *
 * One thread owns a hub: every function here is called on that thread.
 */
#ifndef PATCHWIRE_HUB_H
#define PATCHWIRE_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "patchwire/codec.h"
#include "patchwire/error.h"
#include "patchwire/transport.h"
#include "patchwire/value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pw_hub pw_hub;
typedef struct pw_peer pw_peer;

typedef enum pw_access {
    PW_ACCESS_READ = 0,
    PW_ACCESS_WRITE,
} pw_access;

/* Asked whether the peer with `identity` (from the transport: a token, a
 * client id; may be "") may read or write `key`. */
typedef bool (*pw_access_cb)(const char *identity, const char *key, size_t key_len, pw_access what,
                             void *userdata);

typedef enum pw_overflow {
    PW_OVERFLOW_RESYNC = 0, /* drop the peer's queued changes, send one FullSync when it drains */
    PW_OVERFLOW_DISCONNECT, /* close the peer */
} pw_overflow;

typedef struct pw_hub_options {
    pw_limits limits;           /* decoding of peer messages (max bytes, depth, string) */
    size_t max_patches_per_msg; /* default 10,000 */
    size_t max_keys;            /* default 1,024; a FullSync for a new key past it fails */
    /* What the frames sent to a peer and not yet written may cost
     * (pw_frame_cost: each frame's bytes, counted whole even when shared,
     * plus PW_FRAME_OVERHEAD for its slot and header); default 8 MiB. A
     * change that would take a non-empty queue past it is an overflow.
     * FullSync bursts (on join, after a drain) are sent whatever the queue holds: they are
     * bounded by the state itself. */
    size_t max_queue_bytes;
    pw_overflow overflow; /* default PW_OVERFLOW_RESYNC */
    pw_access_cb access;  /* NULL: every peer may read and write every key */
    void *access_userdata;
    /* Changes remembered per key (their touched paths) to judge concurrent
     * edits (proto/SPEC.md, "Versions and convergence"); default 1,024. A
     * change built on an older version is treated as overlapping. */
    size_t max_changelog;
    /* With an access hook: the largest message a peer may send for a key it
     * may not write (a resync), and the largest whose "type" and "key" need
     * not be plain strings near its top. Past it, or when it is a change of
     * such a key, the message is refused before it is decoded (the key is
     * read in place). Default 64 KiB. */
    size_t max_readonly_bytes;
    /* At most one FullSync per peer and key in this many milliseconds for
     * what a peer asks (a resync, a refused message; not a plain change
     * that crossed another, whose FullSync goes out at once as the peer's
     * copy diverged): the error still goes out at once, the FullSync waits for
     * the end of the interval (pw_hub_service) and is sent once however
     * often it was asked for. 0: no limit. An ingress is not limited (its
     * answers go to every device behind it). Default 1,000. */
    uint32_t resync_interval_ms;
    /* Bytes a key's state may take, as JSON; a change from a peer that
     * would pass it is refused (PW_ELIMIT, error + FullSync). Measured
     * cheaply: the size of the state's last JSON FullSync encoding plus the
     * bytes of each change accepted since (an upper bound: removals count
     * at the next encoding, which is redone when the bound says no and
     * enough has changed since). Default 64 MiB. The application's
     * pw_hub_set_state is not limited. */
    size_t max_state_bytes;
    /* Milliseconds on a monotonic clock; NULL: CLOCK_MONOTONIC. */
    uint64_t (*clock)(void *userdata);
    void *clock_userdata;
} pw_hub_options;

void pw_hub_options_init(pw_hub_options *opts);

/* opts may be NULL for the defaults. NULL when out of memory. */
pw_hub *pw_hub_new(const pw_hub_options *opts);
/* Frees the hub; peers still joined are closed through their transports,
 * which must not call the hub again. */
void pw_hub_free(pw_hub *hub);

/* Sets the state of a key from the application (taken, on failure too):
 * creates the key or replaces its document, bumps its version and sends a
 * FullSync to every peer that may read it. */
pw_err pw_hub_set_state(pw_hub *hub, const char *key, size_t key_len, pw_value doc);
/* The authoritative document of a key (borrowed; retain it to keep a
 * snapshot) and its version; NULL for an unknown key. */
const pw_value *pw_hub_state(const pw_hub *hub, const char *key, size_t key_len, uint64_t *version);

/* The key's FullSync ({"type":"fullsync","key":K,"seq":V,"data":DOC}) in
 * codec (NULL: JSON), encoded once per version and codec and shared: a new
 * reference, or NULL for an unknown key or out of memory. For transports
 * that republish a state (a retained MQTT message). */
pw_frame *pw_hub_fullsync_frame(pw_hub *hub, const char *key, size_t key_len, const pw_codec *codec);

/* The limits the hub decodes peer messages with (its options' limits), for
 * transports that bound a message before it reaches the hub. */
const pw_limits *pw_hub_limits(const pw_hub *hub);

/* Does what is due: FullSyncs held back by resync_interval_ms. Call it
 * from the loop that owns the hub; returns the milliseconds until it has
 * something to do again, or -1 when nothing waits. */
int pw_hub_service(pw_hub *hub);

/* ---- peer events, reported by transports ---- */

/* A new connection. identity is copied (NULL means ""). codec: the one the
 * peer speaks, or NULL to take it from the peer's first message (JSON until
 * then). Sends the peer a FullSync of every key it may read. NULL when out of
 * memory (the transport should close the connection). */
pw_peer *pw_hub_peer_join(pw_hub *hub, const pw_transport_ops *ops, void *transport, void *conn,
                          const char *identity, const pw_codec *codec);
/* An ingress: the edits of devices that follow the state somewhere else (a
 * broker's `edit` topic while the hub publishes the state on other topics,
 * a nanomsg PULL socket beside a PUB one). It gets no FullSync on join and
 * no one's changes; it answers each message, in the codec that message
 * came in (detected per message): a change with `base` or `id` with an
 * ack, a refused one with an error (without seq: no FullSync follows), a
 * resync with a FullSync of the key. Its changes are relayed to every
 * reader, so the devices see them come back in order. */
pw_peer *pw_hub_ingress_join(pw_hub *hub, const pw_transport_ops *ops, void *transport, void *conn,
                             const char *identity);

/* One complete message from the peer. Returns what happened to it (PW_OK:
 * applied and relayed, or an unknown type ignored); on failure the hub has
 * already answered the peer as described at the top of this file (the error
 * message is in proto/SPEC.md section 1.1; a denied write is PW_EDENIED).
 * A message from a peer the hub has closed is dropped (PW_EIO). */
pw_err pw_hub_peer_receive(pw_hub *hub, pw_peer *peer, const uint8_t *p, size_t n, pw_error *err);
/* The same for a channel that names its key (an MQTT topic): a message
 * for another key is refused, and an error about a message that names no
 * key names this one. */
pw_err pw_hub_peer_receive_keyed(pw_hub *hub, pw_peer *peer, const char *key, size_t key_len,
                                 const uint8_t *p, size_t n, pw_error *err);
/* The transport wrote (or dropped) frames sent to the peer: `bytes` is the
 * sum of their pw_frame_cost. */
void pw_hub_peer_written(pw_hub *hub, pw_peer *peer, size_t bytes);
/* The connection is gone; the peer is freed. */
void pw_hub_peer_leave(pw_hub *hub, pw_peer *peer);

/* ---- receipts (transports with ops->receipts) ----
 * A plain peer says nothing of what it has read, so a transport that can
 * tell when frames arrived reports it: it takes a mark, the number of frames
 * sent to the peer so far (pw_hub_peer_frames), asks the peer to echo it
 * after them (a WebSocket ping), and reports the echo. Needed only while
 * pw_hub_peer_awaits_receipt: a FullSync was sent and has not arrived. */
uint64_t pw_hub_peer_frames(const pw_peer *peer);
bool pw_hub_peer_awaits_receipt(const pw_peer *peer);
/* Every frame up to `mark` has arrived at the peer. */
void pw_hub_peer_received(pw_hub *hub, pw_peer *peer, uint64_t mark);

/* ---- metrics ---- */

typedef struct pw_hub_codec_metrics {
    uint64_t msgs_in, bytes_in;   /* received from peers speaking this codec */
    uint64_t msgs_out, bytes_out; /* sent (one count per peer delivery) */
    uint64_t encodes;             /* messages encoded: one per codec per change */
} pw_hub_codec_metrics;

typedef struct pw_hub_metrics {
    uint64_t peers; /* joined now */
    uint64_t keys;
    pw_hub_codec_metrics json, msgpack;
    uint64_t rejects;           /* messages refused (malformed, denied, failed to apply, limits) */
    uint64_t resyncs;           /* FullSyncs sent to bring a peer back in line */
    uint64_t overflows;         /* queues dropped for a FullSync, or peers closed, on overflow */
    uint64_t refused_undecoded; /* refused before decoding: no write access (or unreadable) */
    uint64_t resyncs_held;      /* FullSyncs asked for within resync_interval_ms (coalesced) */
    uint64_t state_refusals;    /* changes refused as they would pass max_state_bytes */
    uint64_t reserved[5];
} pw_hub_metrics;

void pw_hub_metrics_get(const pw_hub *hub, pw_hub_metrics *out);

#ifdef __cplusplus
}
#endif
#endif
