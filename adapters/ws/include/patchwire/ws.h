/* ws.h - the WebSocket transport (libwebsockets): a hub's server and a
 * replica's client.
 *
 * Server: one port serves WebSocket on any path (as express-ws does) and,
 * optionally, static files over HTTP, with optional TLS. A text frame is a
 * JSON message, a binary frame a MessagePack one; a peer that asks for the
 * subprotocol "patchwire.json" or "patchwire.msgpack" is answered in that
 * codec from its first message (the FullSync on join), any other peer in the
 * codec of the first message it sends (JSON until then, as Visly clients
 * expect). The peer's identity for the hub's access hook is the `token`
 * query parameter of the URL, or the credentials of an `Authorization:
 * Bearer T` header; "" when neither is given. Static files are served
 * only when the path resolves inside static_dir, symbolic links included
 * (as nginx's disable_symlinks does for links that leave the root).
 *
 * Client: connects to a ws:// or wss:// URL and reconnects with capped
 * exponential backoff and jitter; pw_ws_client_bind_replica makes a replica
 * resync after every reconnect.
 *
 * Threading: the thread that calls _service owns the server (and the hub it
 * serves) or the client; every callback runs on it. pw_ws_client_send and
 * the _wake calls may be made from any thread: sends are queued and written
 * by the service thread. The server keeps no queue of its own: each peer's
 * frames are the hub's, bounded by pw_hub_options.max_queue_bytes.
 */
#ifndef PATCHWIRE_WS_H
#define PATCHWIRE_WS_H

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

typedef enum pw_ws_log_level {
    PW_WS_LOG_ERROR = 0,
    PW_WS_LOG_INFO, /* one line per connect, disconnect and rejected message */
    PW_WS_LOG_DEBUG,
} pw_ws_log_level;

/* One line of log, without a newline. */
typedef void (*pw_ws_log_cb)(pw_ws_log_level level, const char *line, void *userdata);

/* ---- server ---- */

typedef struct pw_ws_server pw_ws_server;

typedef struct pw_ws_server_options {
    const char *host;       /* address to bind; default "127.0.0.1" */
    int port;               /* default 8080; 0 picks a free port (pw_ws_server_port) */
    const char *static_dir; /* served over HTTP on the same port; NULL: no files */
    const char *tls_cert;   /* PEM files; both set: wss:// and https:// */
    const char *tls_key;
    /* A message over it closes the connection with 1009 (message too big);
     * default: the hub's limits.max_input_bytes. */
    size_t max_message_bytes;
    /* Asked at the upgrade whether identity (see above) may do anything at
     * all; false refuses the upgrade with HTTP 401 (no identity given) or
     * 403, before the peer holds a slot or sends a byte. NULL: all may. */
    bool (*admit)(const char *identity, void *userdata);
    void *admit_userdata;
    /* Sockets held at once (WebSocket, HTTP and half-open alike), in all
     * and from one address (an IPv4 address or an IPv6 /64); a socket over
     * either is closed as soon as it is accepted. Defaults: the process's
     * descriptor limit less PW_WS_FD_RESERVE (so accept never fails for
     * lack of descriptors, which would make it spin), and 256. */
    size_t max_connections;
    size_t max_connections_per_address;
    /* Seconds a message may take once it has started to arrive (a frame, or
     * a fragmented message, begun and not finished); past it the connection
     * is closed with 1008 and what was buffered is freed. Default
     * PW_WS_DEFAULT_MESSAGE_TIMEOUT_S. */
    unsigned message_timeout_s;
    /* Seconds a peer with frames waiting for it may go without reading any
     * (nothing of them can be written); past it the connection is dropped
     * and the peer leaves the hub. Default PW_WS_DEFAULT_READ_TIMEOUT_S.
     * Both are checked once a second. */
    unsigned read_timeout_s;
    pw_ws_log_cb log; /* NULL: no log */
    void *log_userdata;
} pw_ws_server_options;

void pw_ws_server_options_init(pw_ws_server_options *opts);

#define PW_WS_FD_RESERVE 64 /* descriptors kept free for files, logs and the listener */
#define PW_WS_DEFAULT_MAX_PER_ADDRESS 256
#define PW_WS_DEFAULT_MESSAGE_TIMEOUT_S 30
#define PW_WS_DEFAULT_READ_TIMEOUT_S 60

/* Listens and serves the hub's peers (the hub must outlive the server).
 * NULL on failure, with the reason in err (address in use, unreadable TLS
 * files, out of memory). */
pw_ws_server *pw_ws_server_new(pw_hub *hub, const pw_ws_server_options *opts, pw_error *err);
/* The port listened on (the one picked when opts.port was 0). */
int pw_ws_server_port(const pw_ws_server *s);
/* Accepts, reads and writes what is ready, waiting up to timeout_ms for
 * something to do (0: do not wait). Every hub call happens in here. */
pw_err pw_ws_server_service(pw_ws_server *s, int timeout_ms);
/* Makes a running or the next _service call return soon. Any thread. */
void pw_ws_server_wake(pw_ws_server *s);
/* Starts a clean shutdown: stops accepting and sends every peer a close
 * frame (1001, going away). Keep calling _service until
 * pw_ws_server_connections is 0 (or a deadline passes), then _free. */
void pw_ws_server_shutdown(pw_ws_server *s);
/* WebSocket connections open now (joined peers). */
size_t pw_ws_server_connections(const pw_ws_server *s);
/* Closes what is still open (each peer leaves the hub) and frees the server. */
void pw_ws_server_free(pw_ws_server *s);

/* ---- client ---- */

typedef struct pw_ws_client pw_ws_client;

typedef struct pw_ws_client_callbacks {
    void (*on_open)(void *userdata); /* connected (again) */
    void (*on_message)(const uint8_t *p, size_t n, bool binary, void *userdata);
    /* lost (after on_open; a failed attempt is only logged); a reconnect
     * follows unless pw_ws_client_close was called */
    void (*on_close)(const char *reason, void *userdata);
} pw_ws_client_callbacks;

typedef struct pw_ws_client_options {
    const char *url;          /* ws://host[:port][/path][?query] or wss://... (required);
                               * http:// and https:// mean the same as ws:// and wss:// */
    const pw_codec *codec;    /* subprotocol asked for: patchwire.json or .msgpack; default JSON */
    const char *token;        /* sent as Authorization: Bearer; NULL: none */
    const char *tls_ca;       /* PEM file of CAs that may sign the server; NULL: the system's */
    bool tls_insecure;        /* accept any server certificate (tests) */
    int backoff_min_ms;       /* first retry delay; default 100 */
    int backoff_max_ms;       /* cap of the doubling delay; default 10,000; jitter +-25% */
    size_t max_message_bytes; /* incoming; default 64 MiB */
    size_t max_queue_bytes;   /* queued, not written; a send past it fails; default 8 MiB */
    pw_ws_client_callbacks cb;
    void *userdata;
    pw_ws_log_cb log;
    void *log_userdata;
} pw_ws_client_options;

void pw_ws_client_options_init(pw_ws_client_options *opts);

/* Starts connecting (the first attempt happens in _service). NULL on a bad
 * URL, an unreadable tls_ca file or out of memory, with the reason in err. */
pw_ws_client *pw_ws_client_new(const pw_ws_client_options *opts, pw_error *err);
/* Connects, reconnects, reads and writes, waiting up to timeout_ms. */
pw_err pw_ws_client_service(pw_ws_client *c, int timeout_ms);
/* Queues one message (copied) for the server. Any thread. PW_EIO when not
 * connected (nothing is kept for the next connection: a replica resyncs),
 * PW_ENOMEM when the queue is over max_queue_bytes. */
pw_err pw_ws_client_send(pw_ws_client *c, const uint8_t *p, size_t n, bool binary);
bool pw_ws_client_connected(const pw_ws_client *c);
/* Connections made so far (1 after the first, 2 after one reconnect, ...). */
uint64_t pw_ws_client_connects(const pw_ws_client *c);
/* The status code of the close frame the server sent last (1001: it shut
 * down, 1009: a message was too big), 0 when the connection ended without
 * one; reset on each connect. */
uint16_t pw_ws_client_close_code(const pw_ws_client *c);
/* Why the client gave up, NULL while it keeps trying. It gives up only when
 * the first connection fails in a way that retrying cannot mend: the
 * server's certificate is not trusted, or one side speaks TLS and the other
 * does not. */
const char *pw_ws_client_failure(const pw_ws_client *c);
void pw_ws_client_wake(pw_ws_client *c);
/* Sends a close frame and stops reconnecting; service until it is no
 * longer connected, then _free. */
void pw_ws_client_close(pw_ws_client *c);
void pw_ws_client_free(pw_ws_client *c);

/* Binds a replica to the client: received messages go to
 * pw_replica_receive, every (re)connect calls pw_replica_reconnect, and the
 * replica's sends go out through the client. Set opts->send and
 * opts->send_userdata of the replica with pw_ws_replica_send and the client
 * before pw_replica_new, then call this before the first _service. The
 * client's own callbacks, if any, are called after the replica's. */
pw_err pw_ws_replica_send(const uint8_t *p, size_t n, bool binary, void *client);
void pw_ws_client_bind_replica(pw_ws_client *c, pw_replica *r);

#ifdef __cplusplus
}
#endif
#endif
