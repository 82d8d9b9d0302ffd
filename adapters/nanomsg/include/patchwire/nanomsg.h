/* nanomsg.h - the nanomsg transport: a hub's state on pub/sub sockets, and a
 * replica that follows it.
 *
 * Server: one URL names three sockets (pw_nn_endpoint): PUB on PORT carries
 * every key's state and every accepted change, each message the key's bytes,
 * one 0x00 byte, then the encoded message; PULL on PORT+1 takes the devices'
 * edits (patches with or without base, fullsync, resync); REP on PORT+2
 * answers {"type":"resync","key":K} with the key's FullSync (with seq). For
 * ipc:// and inproc:// the three are PATH.pub, PATH.pull and PATH.rep. The
 * PUB socket is one hub peer (it gets every key's FullSync on join and every
 * accepted change, encoded once); the PULL socket is one ingress peer whose
 * errors are published on PUB under the key (the device that sent the edit
 * knows its id) and whose acks are dropped (the change on PUB is the
 * answer). A quiet key's version is published now and then (heartbeat_ms),
 * so losing the tail of a burst is seen too. A slow subscriber is nanomsg's to drop: the hub's
 * memory stays bounded by pw_hub_options.max_queue_bytes whatever subscribers do.
 * nanomsg has no identities: both peers join with identity "", so with an
 * access hook PUB carries (and REP serves) only the keys "" may read, and
 * PULL applies only the edits "" may write.
 *
 * Client: a SUB socket following chosen keys, a PUSH socket for edits and a
 * REQ socket for FullSyncs, bound to a replica in stream mode (its origin
 * set). It asks REP for a key's FullSync when it starts following it,
 * whenever the replica sees a gap in seq, and after the hub restarted (the
 * SUB socket reconnected), and when a heartbeat names a version it lacks;
 * what the stream brings while a FullSync is on its
 * way is kept (bounded) and replayed after it, so only newer changes apply.
 *
 * Threading: the thread that calls _service owns the server and its hub (or
 * the client and its replica); nothing here starts a thread. Both can be
 * polled together with other transports: _pollfds gives the level-triggered
 * descriptors to wait on, then _service(0) does the work.
 */
#ifndef PATCHWIRE_NANOMSG_H
#define PATCHWIRE_NANOMSG_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "patchwire/codec.h"
#include "patchwire/error.h"
#include "patchwire/hub.h"
#include "patchwire/replica.h"
#include "patchwire/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pw_nn_socket {
    PW_NN_PUB = 0, /* the state and the accepted changes */
    PW_NN_PULL,    /* edits in */
    PW_NN_REP,     /* FullSyncs on request */
} pw_nn_socket;

/* The nanomsg address of one of the three sockets a URL names
 * (tcp://HOST:PORT, ipc://PATH or inproc://NAME), written to out (cap
 * bytes). PW_EINVAL with the reason in err for anything else. */
pw_err pw_nn_endpoint(const char *url, pw_nn_socket which, char *out, size_t cap, pw_error *err);

typedef enum pw_nn_log_level {
    PW_NN_LOG_ERROR = 0,
    PW_NN_LOG_INFO, /* one line per rejected message */
    PW_NN_LOG_DEBUG,
} pw_nn_log_level;

/* One line of log, without a newline. */
typedef void (*pw_nn_log_cb)(pw_nn_log_level level, const char *line, void *userdata);

/* ---- server ---- */

typedef struct pw_nn_server pw_nn_server;

typedef struct pw_nn_server_options {
    const char *url;       /* required */
    const pw_codec *codec; /* what PUB carries; default JSON */
    /* Once a key's stream has been quiet this long after a change, the
     * key's version is published ({"type":"ack","key":K,"seq":V}, no id),
     * then again after twice as long, up to every 5 s: a subscriber that
     * lost the last changes of a burst sees no later seq, so it is told.
     * Default 100; 0: never. */
    int heartbeat_ms;
    pw_nn_log_cb log; /* NULL: no log */
    void *log_userdata;
} pw_nn_server_options;

void pw_nn_server_options_init(pw_nn_server_options *opts);

/* Binds the three sockets and joins the hub (which publishes every key's
 * FullSync at once); the hub must outlive the server. Messages larger than
 * the hub's max_input_bytes are dropped by nanomsg before they are read.
 * NULL on failure, with the reason in err (bad URL, address in use). */
pw_nn_server *pw_nn_server_new(pw_hub *hub, const pw_nn_server_options *opts, pw_error *err);
/* Reads edits and requests, publishes what waits, waiting up to timeout_ms
 * for something to do (0: do not wait). Every hub call happens in here. */
pw_err pw_nn_server_service(pw_nn_server *s, int timeout_ms);
/* Fills up to cap pollfds (POLLIN each) that become readable when _service
 * has work; returns how many (at most 3). */
int pw_nn_server_pollfds(const pw_nn_server *s, struct pollfd *fds, int cap);

typedef struct pw_nn_server_stats {
    uint64_t published;      /* PUB messages sent */
    uint64_t publish_failed; /* frames nanomsg refused (dropped) */
    uint64_t edits;          /* PULL messages read */
    uint64_t requests;       /* REP requests answered */
    uint64_t rejects;        /* PULL or REP messages refused */
    uint64_t heartbeats;     /* versions published for quiet keys */
    uint64_t reserved[4];
} pw_nn_server_stats;

void pw_nn_server_stats_get(const pw_nn_server *s, pw_nn_server_stats *out);
/* Leaves the hub and closes the sockets. */
void pw_nn_server_free(pw_nn_server *s);

/* ---- client ---- */

typedef struct pw_nn_client pw_nn_client;

typedef struct pw_nn_client_options {
    const char *url; /* the server's URL (required) */
    /* NN_RCVMAXSIZE of the SUB and REQ sockets: a larger FullSync or change
     * would vanish; default 64 MiB (the hub's default message limit). */
    size_t max_message_bytes;
    int rcvbuf;    /* NN_RCVBUF of the SUB socket; 0: nanomsg's (128 KiB) */
    int resend_ms; /* a FullSync request unanswered this long is sent again; default 1,000 */
    size_t max_backlog_bytes; /* stream kept while a FullSync is awaited; default 8 MiB */
    size_t max_queue_bytes;   /* edits waiting for the PULL socket; default 8 MiB */
    pw_nn_log_cb log;
    void *log_userdata;
} pw_nn_client_options;

void pw_nn_client_options_init(pw_nn_client_options *opts);

/* Connects the three sockets (nanomsg connects and reconnects in the
 * background). NULL on a bad URL or out of memory, with the reason in err. */
pw_nn_client *pw_nn_client_new(const pw_nn_client_options *opts, pw_error *err);
/* A name unique to this client, made at _new: the replica's origin. */
const char *pw_nn_client_origin(const pw_nn_client *c);
/* Binds the replica: set its opts.send_keyed to pw_nn_replica_send,
 * send_userdata to the client and origin to pw_nn_client_origin before
 * pw_replica_new, then call this before following a key. */
pw_err pw_nn_replica_send(const char *key, size_t key_len, const uint8_t *p, size_t n, bool binary,
                          void *client);
void pw_nn_client_bind_replica(pw_nn_client *c, pw_replica *r);
/* Subscribes to the key and asks for its FullSync. */
pw_err pw_nn_client_follow(pw_nn_client *c, const char *key, size_t key_len);
/* Reads the stream and answers, sends what waits, waiting up to
 * timeout_ms. Every replica call happens in here. */
pw_err pw_nn_client_service(pw_nn_client *c, int timeout_ms);
int pw_nn_client_pollfds(const pw_nn_client *c, struct pollfd *fds, int cap);

typedef struct pw_nn_client_stats {
    uint64_t received;        /* stream messages of followed keys */
    uint64_t requests;        /* FullSync requests sent (start, gaps, restarts) */
    uint64_t snapshots;       /* FullSyncs received from REP */
    uint64_t restarts;        /* reconnections of the stream seen (hub restarted) */
    uint64_t backlog_dropped; /* stream messages dropped past max_backlog_bytes */
    uint64_t heartbeat_gaps;  /* heartbeats that named a version the replica lacked */
    uint64_t reserved[4];
} pw_nn_client_stats;

void pw_nn_client_stats_get(const pw_nn_client *c, pw_nn_client_stats *out);
void pw_nn_client_free(pw_nn_client *c);

#ifdef __cplusplus
}
#endif
#endif
