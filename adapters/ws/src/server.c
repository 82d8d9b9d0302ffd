/* server.c - the WebSocket server: each lws connection is a hub peer.
 *
 * The one idea: the hub owns each peer's queue of frames (bounded by its
 * max_queue_bytes); the server only holds frame references until lws can
 * write them, one chunk per writable callback through one scratch buffer
 * shared by every connection, and reports each written frame back to the
 * hub. An idle connection costs lws's own state (its rx buffer is
 * WS_RX_BUFFER bytes) plus a ws_conn. Closing is always asynchronous: the
 * hub's close and a shutdown mark the connection and ask for a writable
 * callback, which sends the close frame; lws then reports CLOSED, where the
 * peer leaves the hub. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "patchwire/ws.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "conntab.h"
#include "frameq.h"
#include "rxbuf.h"
#include "wsutil.h"

#define WS_RX_BUFFER 1024 /* lws's per-connection rx buffer */
#define CLOSE_GRACE_S 5   /* a closing peer that does not read is dropped after it */
#define SWEEP_MS 1000     /* how often the time limits are checked */
#define IDENTITY_MAX 1024

enum { PROTO_AUTO, PROTO_JSON, PROTO_MSGPACK, PROTO_COUNT };

typedef struct ws_conn ws_conn;
struct ws_conn {
    pw_ws_server *s; /* NULL until established and after closed */
    struct lws *wsi;
    pw_peer *peer;
    ws_conn *prev, *next;
    pw__ws_frameq q;
    pw__ws_rxbuf rx;
    uint64_t id;
    uint16_t close_code;    /* nonzero: send a close frame at the next writable */
    const char *close_why;  /* its reason; NULL: close_text(close_code) */
    uint64_t half_since;    /* ms: a message began to arrive and is not complete; 0: none */
    uint64_t stalled_since; /* ms: frames wait and nothing was written since; 0: none */
    bool ping_out;          /* a receipt ping awaits its pong */
    uint8_t ping[16];       /* what it carried: the hub's frame count, then a nonce */
};

struct pw_ws_server {
    pw_hub *hub;
    struct lws_context *ctx;
    int port;
    size_t max_message;
    pw_ws_log_cb log;
    void *log_userdata;
    ws_conn *conns;
    size_t nconns;
    uint64_t next_id;
    bool shutting_down;
    char *static_dir;
    char *static_root; /* static_dir with every link resolved */
    bool (*admit)(const char *identity, void *userdata);
    void *admit_userdata;
    pw__ws_conntab sockets; /* every accepted socket, by address */
    size_t max_sockets, max_per_address;
    uint64_t message_timeout_ms, read_timeout_ms;
    lws_sorted_usec_list_t sweep_sul;
    uint64_t refused;      /* sockets closed at accept for a limit, since the last log line */
    time_t refused_logged; /* when that line was written */
    struct lws_protocols protocols[PROTO_COUNT + 1];
    struct lws_http_mount mount;
    struct lws_protocol_vhost_options mime[4];
    lws_sorted_usec_list_t wait_sul;
    uint8_t scratch[LWS_PRE + PW__WS_CHUNK];
};

static const char *close_text(uint16_t code)
{
    switch (code) {
    case LWS_CLOSE_STATUS_GOINGAWAY:
        return "server shutting down";
    case LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE:
        return "message too big";
    default:
        return "closed by the hub";
    }
}

static void peer_name(struct lws *wsi, uint64_t id, char *buf, size_t cap)
{
    char addr[64];
    if (!lws_get_peer_simple(wsi, addr, sizeof addr))
        strcpy(addr, "?");
    snprintf(buf, cap, "#%llu %s", (unsigned long long)id, addr);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void conn_start_close(ws_conn *c, uint16_t code)
{
    if (c->close_code)
        return;
    c->close_code = code;
    lws_callback_on_writable(c->wsi);
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, CLOSE_GRACE_S);
}

/* ---- the hub's side: the only ops table of this file ---- */

static pw_err ws_send(void *transport, void *conn, pw_frame *frame)
{
    (void)transport;
    ws_conn *c = conn;
    if (c->close_code) {
        pw_frame_release(frame);
        return PW_EIO;
    }
    pw_err e = pw__ws_frameq_push(&c->q, frame);
    if (e == PW_OK)
        lws_callback_on_writable(c->wsi);
    return e;
}

static void ws_close(void *transport, void *conn, const char *reason)
{
    pw_ws_server *s = transport;
    ws_conn *c = conn;
    char name[96];
    peer_name(c->wsi, c->id, name, sizeof name);
    pw__ws_log(s->log, s->log_userdata, PW_WS_LOG_INFO, "closing %s: %s", name,
               reason ? reason : "closed by the hub");
    conn_start_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION);
}

static const pw_transport_ops ws_server_ops = {
    .name = "ws",
    .send = ws_send,
    .close = ws_close,
    .receipts = true, /* pings carrying the hub's frame count, see conn_writable */
};

/* ---- lws's side ---- */

/* The token query parameter, else an Authorization: Bearer credential. */
static const char *conn_identity(struct lws *wsi, char *buf, size_t cap)
{
    const char *v = lws_get_urlarg_by_name(wsi, "token=", buf, (int)cap);
    if (v)
        return v;
    int n = lws_hdr_copy(wsi, buf, (int)cap, WSI_TOKEN_HTTP_AUTHORIZATION);
    if (n > 7 && strncasecmp(buf, "Bearer ", 7) == 0) {
        v = buf + 7;
        while (*v == ' ')
            v++;
        return v;
    }
    return "";
}

static const pw_codec *proto_codec(const struct lws_protocols *p)
{
    if (p && p->id == PROTO_JSON)
        return &pw_codec_json;
    if (p && p->id == PROTO_MSGPACK)
        return &pw_codec_msgpack;
    return NULL;
}

static void conn_link(pw_ws_server *s, ws_conn *c)
{
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
}

static void conn_unlink(pw_ws_server *s, ws_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    s->nconns--;
}

static int conn_open(pw_ws_server *s, ws_conn *c, struct lws *wsi)
{
    char idbuf[IDENTITY_MAX], name[96];
    const char *identity = conn_identity(wsi, idbuf, sizeof idbuf);
    const pw_codec *codec = proto_codec(lws_get_protocol(wsi));
    memset(c, 0, sizeof *c);
    c->s = s;
    c->wsi = wsi;
    c->id = ++s->next_id;
    conn_link(s, c);
    peer_name(wsi, c->id, name, sizeof name);
    c->peer = pw_hub_peer_join(s->hub, &ws_server_ops, s, c, identity, codec);
    if (!c->peer) {
        pw__ws_log(s->log, s->log_userdata, PW_WS_LOG_ERROR, "cannot join %s: out of memory", name);
        conn_unlink(s, c);
        pw__ws_frameq_clear(&c->q);
        c->s = NULL;
        return -1;
    }
    pw__ws_log(s->log, s->log_userdata, PW_WS_LOG_INFO, "connect %s identity=%s codec=%s", name,
               *identity ? "token" : "none", codec ? codec->name : "auto");
    return 0;
}

static void conn_closed(pw_ws_server *s, ws_conn *c)
{
    /* The socket may be gone already: the connect line gave the address. */
    char name[32];
    snprintf(name, sizeof name, "#%llu", (unsigned long long)c->id);
    conn_unlink(s, c);
    pw__ws_frameq_clear(&c->q);
    pw__ws_rxbuf_reset(&c->rx);
    pw_peer *peer = c->peer;
    c->peer = NULL;
    c->s = NULL;
    pw__ws_log(s->log, s->log_userdata, PW_WS_LOG_INFO, "disconnect %s", name);
    if (peer)
        pw_hub_peer_leave(s->hub, peer);
}

static int conn_receive(pw_ws_server *s, ws_conn *c, const void *in, size_t len)
{
    const uint8_t *msg;
    size_t n;
    char name[96];
    if (c->close_code)
        return 0; /* closing: nothing more is buffered */
    int r = pw__ws_rxbuf_feed(c->wsi, &c->rx, in, len, s->max_message, &msg, &n);
    if (r < 0) {
        peer_name(c->wsi, c->id, name, sizeof name);
        uint16_t code = r == PW_ELIMIT ? LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE
                                       : LWS_CLOSE_STATUS_UNEXPECTED_CONDITION;
        pw__ws_log(s->log, s->log_userdata, PW_WS_LOG_INFO, "closing %s: %s (limit %zu bytes)",
                   name, r == PW_ELIMIT ? "message too big" : "out of memory", s->max_message);
        pw__ws_rxbuf_reset(&c->rx);
        const char *text = close_text(code);
        lws_close_reason(c->wsi, (enum lws_close_status)code, (unsigned char *)(uintptr_t)text,
                         strlen(text));
        return -1;
    }
    if (r == 0) {
        if (!c->half_since)
            c->half_since = now_ms();
        return 0;
    }
    c->half_since = 0;
    {
        pw_error err;
        pw_error_clear(&err);
        pw_err e = pw_hub_peer_receive(s->hub, c->peer, msg, n, &err);
        if (e < 0) {
            peer_name(c->wsi, c->id, name, sizeof name);
            pw__ws_log(s->log, s->log_userdata, PW_WS_LOG_INFO, "rejected message from %s: %s",
                       name, err.msg[0] ? err.msg : pw_strerror(e));
        }
    }
    pw__ws_rxbuf_reset(&c->rx);
    return 0;
}

static bool wants_ping(const ws_conn *c)
{
    return !c->ping_out && !c->close_code && pw_hub_peer_awaits_receipt(c->peer);
}

static int conn_writable(pw_ws_server *s, ws_conn *c)
{
    if (c->close_code) {
        const char *text = c->close_why ? c->close_why : close_text(c->close_code);
        lws_close_reason(c->wsi, (enum lws_close_status)c->close_code,
                         (unsigned char *)(uintptr_t)text, strlen(text));
        return -1;
    }
    pw_frame *f = pw__ws_frameq_head(&c->q);
    if (!f) {
        /* Everything the hub sent is written: a ping carrying the hub's
         * frame count comes back once all of it has arrived (a pong is sent
         * after the frames before it), the receipt the hub waits for. */
        if (!c->ping_out && pw_hub_peer_awaits_receipt(c->peer)) {
            uint64_t mark = pw_hub_peer_frames(c->peer);
            for (int i = 0; i < 8; i++)
                c->ping[i] = (uint8_t)(mark >> (56 - 8 * i));
            if (lws_get_random(s->ctx, c->ping + 8, 8) != 8)
                return -1;
            uint8_t *p = s->scratch + LWS_PRE;
            memcpy(p, c->ping, sizeof c->ping);
            if (lws_write(c->wsi, p, sizeof c->ping, LWS_WRITE_PING) < (int)sizeof c->ping)
                return -1;
            c->ping_out = true;
        }
        return 0;
    }
    if (c->q.sent == 0 && f->len <= PW__WS_BATCH_MAX) {
        size_t n = 0, frames = pw__ws_pack(&c->q, s->scratch + LWS_PRE, PW__WS_CHUNK, &n);
        if (lws_write(c->wsi, s->scratch + LWS_PRE, n, LWS_WRITE_RAW) < (int)n)
            return -1;
        c->stalled_since = 0;
        for (size_t i = 0; i < frames; i++) {
            f = pw__ws_frameq_pop(&c->q);
            size_t cost = pw_frame_cost(f);
            pw_frame_release(f);
            pw_hub_peer_written(s->hub, c->peer, cost);
        }
        if (c->q.count || c->close_code || wants_ping(c))
            lws_callback_on_writable(c->wsi);
        return 0;
    }
    int r = pw__ws_write_chunk(c->wsi, f, &c->q.sent, s->scratch);
    if (r < 0)
        return -1;
    c->stalled_since = 0;
    if (r == 1) {
        f = pw__ws_frameq_pop(&c->q);
        size_t cost = pw_frame_cost(f);
        pw_frame_release(f);
        pw_hub_peer_written(s->hub, c->peer, cost);
    }
    if (c->q.count || c->close_code || wants_ping(c))
        lws_callback_on_writable(c->wsi);
    return 0;
}

/* The pong of a receipt ping: it counts only when it echoes the ping still
 * unanswered, nonce included, so a peer cannot claim in advance to have
 * read what it has not (a peer may also send unsolicited pongs). */
static void conn_pong(pw_ws_server *s, ws_conn *c, const uint8_t *p, size_t len)
{
    if (!c->ping_out || len != sizeof c->ping || memcmp(p, c->ping, len) != 0)
        return;
    uint64_t mark = 0;
    for (int i = 0; i < 8; i++)
        mark = mark << 8 | c->ping[i];
    c->ping_out = false;
    if (mark <= pw_hub_peer_frames(c->peer))
        pw_hub_peer_received(s->hub, c->peer, mark);
    if (wants_ping(c))
        lws_callback_on_writable(c->wsi);
}

/* ---- time limits ---- */

/* A message begun longer ago than message_timeout closes the connection
 * (1008) and frees what it buffered; frames that could not be written for
 * read_timeout drop it at once, as a peer that reads nothing cannot read a
 * close frame either. A frame counts as begun once its header has arrived
 * (lws reports what of its payload remains), a fragmented message until its
 * final fragment. */
static void conn_check_time(pw_ws_server *s, ws_conn *c, uint64_t now)
{
    char name[96];
    if (c->close_code)
        return;
    bool half = c->rx.n > 0 || lws_remaining_packet_payload(c->wsi) > 0;
    if (!half)
        c->half_since = 0;
    else if (!c->half_since)
        c->half_since = now;
    else if (now - c->half_since >= s->message_timeout_ms) {
        peer_name(c->wsi, c->id, name, sizeof name);
        pw__ws_log(s->log, s->log_userdata, PW_WS_LOG_INFO,
                   "closing %s: a message not finished in %llu s", name,
                   (unsigned long long)(s->message_timeout_ms / 1000));
        pw__ws_rxbuf_reset(&c->rx);
        c->close_why = "message not finished in time";
        conn_start_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION);
        return;
    }
    if (!c->q.count)
        c->stalled_since = 0;
    else if (!c->stalled_since)
        c->stalled_since = now;
    else if (now - c->stalled_since >= s->read_timeout_ms) {
        peer_name(c->wsi, c->id, name, sizeof name);
        pw__ws_log(s->log, s->log_userdata, PW_WS_LOG_INFO,
                   "dropping %s: read nothing for %llu s with %zu bytes waiting", name,
                   (unsigned long long)(s->read_timeout_ms / 1000), c->q.bytes);
        c->close_code = LWS_CLOSE_STATUS_GOINGAWAY;
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    }
}

static void sweep(lws_sorted_usec_list_t *sul)
{
    pw_ws_server *s = lws_container_of(sul, pw_ws_server, sweep_sul);
    uint64_t now = now_ms();
    for (ws_conn *c = s->conns; c; c = c->next)
        conn_check_time(s, c, now);
    lws_sul_schedule(s->ctx, 0, &s->sweep_sul, sweep, (lws_usec_t)SWEEP_MS * LWS_US_PER_MS);
}

/* An upgrade is refused before the peer holds a slot when the access hook
 * says its identity may do nothing at all. */
static int upgrade_filter(pw_ws_server *s, struct lws *wsi)
{
    if (s->shutting_down)
        return 1;
    if (!s->admit)
        return 0;
    char idbuf[IDENTITY_MAX];
    const char *identity = conn_identity(wsi, idbuf, sizeof idbuf);
    if (s->admit(identity, s->admit_userdata))
        return 0;
    char addr[64];
    if (!lws_get_peer_simple(wsi, addr, sizeof addr))
        strcpy(addr, "?");
    pw__ws_log(s->log, s->log_userdata, PW_WS_LOG_INFO, "refused upgrade from %s: %s", addr,
               *identity ? "the token grants nothing" : "no token");
    lws_return_http_status(wsi, *identity ? HTTP_STATUS_FORBIDDEN : HTTP_STATUS_UNAUTHORIZED, NULL);
    return 1;
}

/* A static file request is served only when its path, every link
 * resolved, stays inside static_root; a missing file is left to lws (404). */
static int http_filter(pw_ws_server *s, struct lws *wsi, const char *uri)
{
    if (!s->static_root || !uri)
        return 0;
    size_t ulen = strlen(uri);
    char path[PATH_MAX], real[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/%s%s", s->static_dir, uri,
                     ulen && uri[ulen - 1] == '/' ? "index.html" : "");
    if (n < 0 || (size_t)n >= sizeof path || !realpath(path, real))
        return 0;
    size_t rlen = strlen(s->static_root);
    if (strncmp(real, s->static_root, rlen) == 0 && (real[rlen] == '/' || real[rlen] == '\0'))
        return 0;
    char addr[64];
    if (!lws_get_peer_simple(wsi, addr, sizeof addr))
        strcpy(addr, "?");
    pw__ws_log(s->log, s->log_userdata, PW_WS_LOG_INFO,
               "refused %s to %s: it resolves outside the static directory", uri, addr);
    lws_return_http_status(wsi, HTTP_STATUS_FORBIDDEN, NULL);
    return 1;
}

/* ---- connection limits ---- */

/* The address an accepted socket is counted under, kept with its wsi until
 * lws destroys it. */
typedef struct counted {
    struct sockaddr_storage addr;
} counted;

/* A socket just accepted, before anything is read from it: closed at once
 * when it would pass a limit (one log line per second says how many). */
static int accept_filter(pw_ws_server *s, const struct lws_filter_network_conn_args *a)
{
    const struct sockaddr *sa = (const struct sockaddr *)&a->cli_addr;
    bool all = s->sockets.total >= s->max_sockets;
    if (!all && pw__ws_conntab_count(&s->sockets, sa) < s->max_per_address)
        return 0;
    s->refused++;
    time_t now = time(NULL);
    if (now != s->refused_logged) {
        char addr[64] = "?";
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, addr, sizeof addr);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, addr, sizeof addr);
        pw__ws_log(s->log, s->log_userdata, PW_WS_LOG_INFO,
                   "refused %llu connection(s), the last from %s: %s (limit %zu)",
                   (unsigned long long)s->refused, addr,
                   all ? "too many connections" : "too many from one address",
                   all ? s->max_sockets : s->max_per_address);
        s->refused = 0;
        s->refused_logged = now;
    }
    return 1;
}

static void socket_counted(pw_ws_server *s, struct lws *wsi)
{
    counted *k = calloc(1, sizeof *k);
    socklen_t len = sizeof k->addr;
    if (!k || getpeername(lws_get_socket_fd(wsi), (struct sockaddr *)&k->addr, &len) != 0 ||
        !pw__ws_conntab_add(&s->sockets, (struct sockaddr *)&k->addr)) {
        free(k); /* not counted: it still holds a descriptor, the reserve has room */
        return;
    }
    lws_set_opaque_user_data(wsi, k);
}

static void socket_gone(pw_ws_server *s, struct lws *wsi)
{
    counted *k = lws_get_opaque_user_data(wsi);
    if (!k)
        return;
    lws_set_opaque_user_data(wsi, NULL);
    pw__ws_conntab_remove(&s->sockets, (struct sockaddr *)&k->addr);
    free(k);
}

/* RFC 6455 7.4: codes a peer may send; 1012-1014 are registered since. */
static bool close_code_valid(unsigned code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

/* A close frame from the peer: echoed when well-formed (lws does that),
 * answered with 1002 for a code no peer may send, 1007 for a reason that is
 * not UTF-8. */
static int conn_peer_close(pw_ws_server *s, ws_conn *c, const uint8_t *p, size_t len)
{
    uint16_t code = 0;
    if (len == 1 || (len >= 2 && !close_code_valid((unsigned)(p[0] << 8 | p[1]))))
        code = LWS_CLOSE_STATUS_PROTOCOL_ERR;
    else if (len > 2 && !pw_utf8_valid(p + 2, len - 2))
        code = LWS_CLOSE_STATUS_INVALID_PAYLOAD;
    if (!code)
        return 0;
    const char *text =
        code == LWS_CLOSE_STATUS_PROTOCOL_ERR ? "invalid close code" : "close reason is not UTF-8";
    char name[96];
    peer_name(c->wsi, c->id, name, sizeof name);
    pw__ws_log(s->log, s->log_userdata, PW_WS_LOG_INFO, "closing %s: %s", name, text);
    lws_close_reason(c->wsi, (enum lws_close_status)code, (unsigned char *)(uintptr_t)text,
                     strlen(text));
    return -1;
}

static int server_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                           size_t len)
{
    pw_ws_server *s = lws_context_user(lws_get_context(wsi));
    ws_conn *c = user;
    switch (reason) {
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
        return accept_filter(s, user);
    case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
        socket_counted(s, wsi);
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        socket_gone(s, wsi);
        return 0;
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return upgrade_filter(s, wsi);
    case LWS_CALLBACK_FILTER_HTTP_CONNECTION:
        return http_filter(s, wsi, in);
    case LWS_CALLBACK_ESTABLISHED:
        return conn_open(s, c, wsi);
    case LWS_CALLBACK_RECEIVE:
        return c && c->s ? conn_receive(s, c, in, len) : -1;
    case LWS_CALLBACK_RECEIVE_PONG:
        if (c && c->s)
            conn_pong(s, c, in, len);
        return 0;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        return c && c->s ? conn_peer_close(s, c, in, len) : 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return c && c->s ? conn_writable(s, c) : 0;
    case LWS_CALLBACK_CLOSED:
        if (c && c->s)
            conn_closed(s, c);
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

/* ---- the public side ---- */

void pw_ws_server_options_init(pw_ws_server_options *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->host = "127.0.0.1";
    opts->port = 8080;
}

static pw_err check_options(const pw_ws_server_options *o, pw_error *err)
{
    if (o->port < 0 || o->port > 65535)
        return pw_error_set(err, PW_EINVAL, "port %d is out of range", o->port);
    if (!o->tls_cert != !o->tls_key)
        return pw_error_set(err, PW_EINVAL, "tls_cert and tls_key must be given together");
    const char *files[] = {o->tls_cert, o->tls_key};
    for (size_t i = 0; i < 2; i++)
        if (files[i] && access(files[i], R_OK) != 0)
            return pw_error_set(err, PW_EIO, "cannot read TLS file %s", files[i]);
    struct stat st;
    if (o->static_dir && (stat(o->static_dir, &st) != 0 || !S_ISDIR(st.st_mode)))
        return pw_error_set(err, PW_EINVAL, "static files: %s is not a directory", o->static_dir);
    return PW_OK;
}

static void set_protocols(pw_ws_server *s)
{
    static const char *const names[PROTO_COUNT] = {"patchwire", "patchwire.json",
                                                   "patchwire.msgpack"};
    for (unsigned i = 0; i < PROTO_COUNT; i++)
        s->protocols[i] = (struct lws_protocols){
            .name = names[i],
            .callback = server_callback,
            .per_session_data_size = sizeof(ws_conn),
            .rx_buffer_size = WS_RX_BUFFER,
            .id = i,
            .tx_packet_size = PW__WS_CHUNK,
        };
}

/* Static files on every path that is not a WebSocket upgrade, with the
 * types lws does not know. */
static void set_mount(pw_ws_server *s)
{
    static const char *const types[][2] = {
        {".mjs", "text/javascript"},
        {".json", "application/json"},
        {".map", "application/json"},
        {".wasm", "application/wasm"},
    };
    for (size_t i = 0; i < 4; i++)
        s->mime[i] = (struct lws_protocol_vhost_options){
            .next = i + 1 < 4 ? &s->mime[i + 1] : NULL,
            .name = types[i][0],
            .value = types[i][1],
        };
    s->mount = (struct lws_http_mount){
        .mountpoint = "/",
        .mountpoint_len = 1,
        .origin = s->static_dir,
        .def = "index.html",
        .origin_protocol = LWSMPRO_FILE,
        .extra_mimetypes = s->mime,
    };
}

static const char *bind_address(const char *host)
{
    if (!host || !*host || !strcmp(host, "0.0.0.0") || !strcmp(host, "*") || !strcmp(host, "::"))
        return NULL;
    return host;
}

/* Why host:port cannot be bound ("address in use", ...), NULL when it can.
 * lws fails too, but leaks a little when it does (4.1) and says only that
 * it failed, so an address is tried here first. Host names and interface
 * names are left to lws. */
static const char *cannot_bind(const char *host, int port)
{
    struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
    struct sockaddr *sa = (struct sockaddr *)&a4;
    socklen_t len = sizeof a4;
    if (!host)
        a4.sin_addr.s_addr = htonl(INADDR_ANY);
    else if (inet_pton(AF_INET6, host, &a6.sin6_addr) == 1) {
        sa = (struct sockaddr *)&a6;
        len = sizeof a6;
    } else if (inet_pton(AF_INET, host, &a4.sin_addr) != 1)
        return NULL;
    int fd = socket(sa->sa_family, SOCK_STREAM, 0);
    if (fd < 0)
        return NULL;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int e = bind(fd, sa, len) != 0 ? errno : 0;
    close(fd);
    switch (e) {
    case 0:
        return NULL;
    case EADDRINUSE:
        return "address in use";
    case EADDRNOTAVAIL:
        return "address not available (not an address of this machine)";
    case EACCES:
        return "permission denied (a port below 1024 needs privileges)";
    default:
        return strerror(e);
    }
}

static size_t default_max_sockets(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return 1u << 20;
    return rl.rlim_cur > 2 * PW_WS_FD_RESERVE ? (size_t)rl.rlim_cur - PW_WS_FD_RESERVE
                                              : (size_t)rl.rlim_cur / 2;
}

pw_ws_server *pw_ws_server_new(pw_hub *hub, const pw_ws_server_options *opts, pw_error *err)
{
    pw_ws_server_options o;
    pw_ws_server_options_init(&o);
    if (opts)
        o = *opts;
    if (!o.host)
        o.host = "127.0.0.1";
    if (!hub) {
        pw_error_set(err, PW_EINVAL, "no hub to serve");
        return NULL;
    }
    if (check_options(&o, err) != PW_OK)
        return NULL;
    const char *why = cannot_bind(bind_address(o.host), o.port);
    if (why) {
        pw_error_set(err, PW_EIO, "cannot listen on %s:%d: %s", o.host, o.port, why);
        return NULL;
    }
    pw_ws_server *s = calloc(1, sizeof *s);
    if (!s || (o.static_dir && (!(s->static_dir = strdup(o.static_dir)) ||
                                !(s->static_root = realpath(o.static_dir, NULL))))) {
        if (s) {
            free(s->static_dir);
            free(s->static_root);
        }
        free(s);
        pw_error_set(err, PW_ENOMEM, "out of memory for the WebSocket server");
        return NULL;
    }
    s->hub = hub;
    s->max_message =
        o.max_message_bytes ? o.max_message_bytes : pw_hub_limits(hub)->max_input_bytes;
    s->admit = o.admit;
    s->admit_userdata = o.admit_userdata;
    s->max_sockets = o.max_connections ? o.max_connections : default_max_sockets();
    s->max_per_address = o.max_connections_per_address ? o.max_connections_per_address
                                                       : PW_WS_DEFAULT_MAX_PER_ADDRESS;
    s->message_timeout_ms =
        1000ull * (o.message_timeout_s ? o.message_timeout_s : PW_WS_DEFAULT_MESSAGE_TIMEOUT_S);
    s->read_timeout_ms =
        1000ull * (o.read_timeout_s ? o.read_timeout_s : PW_WS_DEFAULT_READ_TIMEOUT_S);
    s->log = o.log;
    s->log_userdata = o.log_userdata;
    set_protocols(s);
    if (s->static_dir)
        set_mount(s);

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = o.port;
    info.iface = bind_address(o.host);
    /* lws 4.1 with IPv6 on binds an IPv4 address given as iface to every
     * interface (a dual-stack socket); an IPv4 literal gets an IPv4 socket. */
    struct in_addr v4;
    if (info.iface && inet_pton(AF_INET, info.iface, &v4) == 1)
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    info.protocols = s->protocols;
    info.mounts = s->static_dir ? &s->mount : NULL;
    info.user = s;
    info.gid = -1;
    info.uid = -1;
    if (o.tls_cert) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = o.tls_cert;
        info.ssl_private_key_filepath = o.tls_key;
    }
    pw__ws_quiet_lws();
    s->ctx = lws_create_context(&info);
    if (!s->ctx) {
        pw_error_set(err, PW_EIO, "cannot listen on %s:%d%s (address in use or unusable)", o.host,
                     o.port, o.tls_cert ? " with TLS" : "");
        free(s->static_dir);
        free(s->static_root);
        free(s);
        return NULL;
    }
    uint64_t mult = 0;
    lws_get_random(s->ctx, &mult, sizeof mult);
    pw__ws_conntab_init(&s->sockets, mult);
    s->port = lws_get_vhost_listen_port(lws_get_vhost_by_name(s->ctx, "default"));
    if (s->port <= 0) { /* lws made the context but no listening socket */
        pw_error_set(err, PW_EIO, "cannot listen on %s:%d", o.host, o.port);
        lws_context_destroy(s->ctx);
        free(s->static_dir);
        free(s);
        return NULL;
    }
    lws_sul_schedule(s->ctx, 0, &s->sweep_sul, sweep, (lws_usec_t)SWEEP_MS * LWS_US_PER_MS);
    pw__ws_log(s->log, s->log_userdata, PW_WS_LOG_INFO, "listening on %s://%s:%d/",
               o.tls_cert ? "wss" : "ws", o.host, s->port);
    return s;
}

int pw_ws_server_port(const pw_ws_server *s)
{
    return s->port;
}

pw_err pw_ws_server_service(pw_ws_server *s, int timeout_ms)
{
    int due = pw_hub_service(s->hub); /* held FullSyncs: the wait ends when one is due */
    if (due >= 0 && timeout_ms > 0 && due < timeout_ms)
        timeout_ms = due;
    return pw__ws_service(s->ctx, &s->wait_sul, timeout_ms) < 0 ? PW_EIO : PW_OK;
}

void pw_ws_server_wake(pw_ws_server *s)
{
    lws_cancel_service(s->ctx);
}

void pw_ws_server_shutdown(pw_ws_server *s)
{
    s->shutting_down = true;
    for (ws_conn *c = s->conns; c; c = c->next)
        conn_start_close(c, LWS_CLOSE_STATUS_GOINGAWAY);
}

size_t pw_ws_server_connections(const pw_ws_server *s)
{
    return s->nconns;
}

void pw_ws_server_free(pw_ws_server *s)
{
    if (!s)
        return;
    /* every peer leaves while its connection is still there; lws's CLOSED
     * callbacks during the destroy then find nothing left to do */
    while (s->conns)
        conn_closed(s, s->conns);
    lws_sul_cancel(&s->sweep_sul);
    lws_context_destroy(s->ctx);
    pw__ws_conntab_free(&s->sockets);
    free(s->static_dir);
    free(s->static_root);
    free(s);
}
