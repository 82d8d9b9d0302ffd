/* transport.h - what a transport adapter implements, and the frames it moves.
 *
 * A transport moves opaque frames between the hub's thread and remote peers.
 * It knows nothing of keys, patches or codecs beyond the frame's binary flag
 * (a text frame carries JSON, a binary one MessagePack). The contract is one
 * small table of functions, in the spirit of nng's transport ops:
 *
 *   hub -> transport: ops->send (queue a frame for a connection), ops->close
 *   transport -> hub: pw_hub_peer_join / _receive / _written / _leave, and
 *                     _received (receipts) if ops->receipts
 *
 * Threading: every call in either direction happens on the thread that owns
 * the hub. A transport with threads of its own (a library's service thread,
 * paho's callbacks) hands received bytes and events to that thread through
 * its own queue and wakeup, and writes queued frames from wherever it likes:
 * a frame is immutable and its refcount is atomic, so it may be released on
 * any thread.
 */
#ifndef PATCHWIRE_TRANSPORT_H
#define PATCHWIRE_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "patchwire/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a frame the hub made carries, for transports that route by key and
 * type (an MQTT topic per key, a nanomsg PUB prefix). */
typedef enum pw_frame_kind {
    PW_FRAME_OTHER = 0, /* not said (pw_frame_new) */
    PW_FRAME_FULLSYNC,
    PW_FRAME_PATCHES,
    PW_FRAME_ACK,
    PW_FRAME_ERROR,
} pw_frame_kind;

/* One encoded message, shared by every peer it goes to: encoded once per
 * codec, one reference per peer queue. Fields are read-only after _new. */
typedef struct pw_frame {
    size_t len;
    bool binary; /* MessagePack (binary frame) or JSON (text frame) */
    const uint8_t *data;
    /* Set by the hub on the frames it sends: the message's type, its key
     * (NULL when it names none; NUL-terminated, key_len bytes) and seq (0
     * when it has none). A transport that moves opaque bytes ignores them. */
    pw_frame_kind kind;
    const char *key;
    size_t key_len;
    uint64_t seq;
} pw_frame;

/* A frame holding a copy of the n bytes at p, with one reference; NULL when
 * out of memory. */
pw_frame *pw_frame_new(const uint8_t *p, size_t n, bool binary);
/* The same, saying what the frame holds (the key is copied; may be NULL). */
pw_frame *pw_frame_new_routed(const uint8_t *p, size_t n, bool binary, pw_frame_kind kind,
                              const char *key, size_t key_len, uint64_t seq);
pw_frame *pw_frame_retain(pw_frame *f);
/* Drops one reference (atomically: safe from any thread); NULL is ignored. */
void pw_frame_release(pw_frame *f);

/* What a frame queued for one peer may cost, in bytes: its data and key,
 * its header (held for that peer alone once the others have written it) and
 * a queue slot in a ring that may double. The unit of a peer's queue
 * budget (pw_hub_options.max_queue_bytes) and of pw_hub_peer_written. */
#define PW_FRAME_OVERHEAD 96
static inline size_t pw_frame_cost(const pw_frame *f)
{
    return f->len + f->key_len + PW_FRAME_OVERHEAD;
}

typedef struct pw_transport_ops {
    const char *name;
    /* Queues `frame` for the connection `conn`, taking one reference (on
     * failure too), which the transport releases once the frame is written
     * or dropped. Called on the hub's thread; must not block and must not
     * call into the hub. An error means the connection is unusable: the hub
     * closes the peer. */
    pw_err (*send)(void *transport, void *conn, pw_frame *frame);
    /* Asks the transport to close `conn` (reason is for logs, may be NULL).
     * Must not call into the hub from inside; the transport reports
     * pw_hub_peer_leave later, from the hub's thread, as for any close. */
    void (*close)(void *transport, void *conn, const char *reason);
    /* The transport reports, through pw_hub_peer_received, when frames it
     * was sent have arrived at the peer (a WebSocket pong echoing a mark).
     * The hub then counts a FullSync as read by a plain peer only once it
     * arrived; without receipts, from the moment it was sent. */
    bool receipts;
} pw_transport_ops;

#ifdef __cplusplus
}
#endif
#endif
