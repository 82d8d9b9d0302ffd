/* client.c - the WebSocket client: one connection to a hub, kept up.
 *
 * The one idea: the service thread owns the connection; other threads only
 * append copied messages to a mutex-protected queue and wake the service
 * (lws_cancel_service), whose EVENT_WAIT_CANCELLED callback asks lws for a
 * writable callback. A lost connection drops what was queued (a replica
 * resyncs on reconnect) and schedules the next attempt on an lws timer,
 * with a doubling, capped delay jittered by +-25%, back to the minimum once
 * a connection is made. */
#include "patchwire/ws.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libwebsockets.h>
#include <openssl/x509.h>

#include "frameq.h"
#include "rxbuf.h"
#include "wsutil.h"

struct pw_ws_client {
    struct lws_context *ctx;
    struct lws *wsi; /* the open connection, service thread only */
    char *url, *url_parts, *path, *token, *tls_ca;
    const char *address;
    int port;
    bool tls;
    pw_ws_client_options o;
    const char *subprotocol;
    pw_replica *replica;

    pthread_mutex_t mu; /* guards q's ring, connected, closing, owner */
    pw__ws_frameq q;    /* q.sent: service thread only */
    atomic_bool connected;
    bool closing;
    bool has_owner;
    pthread_t owner; /* the thread that calls _service */

    atomic_uint_fast64_t connects;
    atomic_uint_fast16_t close_code;
    bool attempting, freeing;
    int backoff_ms;
    uint64_t rng;
    pw__ws_rxbuf rx;
    char cert_why[160]; /* why the server's certificate was refused, this attempt */
    char failure[256];  /* why the client gave up; "" while it keeps trying */
    lws_sorted_usec_list_t wait_sul, retry_sul;
    struct lws_protocols protocols[3];
    uint8_t scratch[LWS_PRE + PW__WS_CHUNK];
};

static void client_log(pw_ws_client *c, pw_ws_log_level level, const char *what, const char *why)
{
    pw__ws_log(c->o.log, c->o.log_userdata, level, "%s %s%s%s", what, c->url, why ? ": " : "",
               why ? why : "");
}

/* ---- connecting and reconnecting ---- */

static int jittered(pw_ws_client *c, int ms)
{
    c->rng ^= c->rng << 13;
    c->rng ^= c->rng >> 7;
    c->rng ^= c->rng << 17;
    long span = ms / 2; /* +-25% */
    long d = (long)ms - span / 2 + (span ? (long)(c->rng % (uint64_t)(span + 1)) : 0);
    return d > 0 ? (int)d : 0;
}

static void attempt(lws_sorted_usec_list_t *sul);

static void schedule_retry(pw_ws_client *c)
{
    int delay = jittered(c, c->backoff_ms);
    c->backoff_ms =
        c->backoff_ms > c->o.backoff_max_ms / 2 ? c->o.backoff_max_ms : c->backoff_ms * 2;
    lws_sul_schedule(c->ctx, 0, &c->retry_sul, attempt, (lws_usec_t)delay * LWS_US_PER_MS);
}

static void attempt(lws_sorted_usec_list_t *sul)
{
    pw_ws_client *c = lws_container_of(sul, pw_ws_client, retry_sul);
    if (c->closing || c->wsi || c->attempting)
        return;
    struct lws_client_connect_info i;
    memset(&i, 0, sizeof i);
    i.context = c->ctx;
    i.address = c->address;
    i.port = c->port;
    i.path = c->path;
    i.host = c->address;
    i.origin = c->address;
    i.protocol = c->subprotocol;
    i.local_protocol_name = c->subprotocol;
    if (c->tls) {
        i.ssl_connection = LCCSCF_USE_SSL;
        if (c->o.tls_insecure)
            i.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
                                LCCSCF_ALLOW_EXPIRED | LCCSCF_ALLOW_INSECURE;
    }
    c->attempting = true;
    c->cert_why[0] = '\0';
    if (!lws_client_connect_via_info(&i) && c->attempting) {
        c->attempting = false;
        client_log(c, PW_WS_LOG_INFO, "cannot connect to", "connection not started");
        schedule_retry(c);
    }
}

static void drop_queue(pw_ws_client *c)
{
    pthread_mutex_lock(&c->mu);
    atomic_store(&c->connected, false);
    pw__ws_frameq_clear(&c->q);
    pthread_mutex_unlock(&c->mu);
    pw__ws_rxbuf_reset(&c->rx);
}

static void on_established(pw_ws_client *c, struct lws *wsi)
{
    c->attempting = false;
    c->wsi = wsi;
    pthread_mutex_lock(&c->mu);
    atomic_store(&c->connected, true);
    bool closing = c->closing;
    pthread_mutex_unlock(&c->mu);
    atomic_fetch_add(&c->connects, 1);
    atomic_store(&c->close_code, 0);
    c->backoff_ms = c->o.backoff_min_ms;
    if (closing) {
        lws_callback_on_writable(wsi);
        return;
    }
    client_log(c, PW_WS_LOG_INFO, "connected to", NULL);
    if (c->replica)
        pw_replica_reconnect(c->replica);
    if (c->o.cb.on_open)
        c->o.cb.on_open(c->o.userdata);
}

/* Whether a first attempt failed in a way that retrying cannot mend (the
 * TLS setup of one side or the other), with the reason in c->failure. */
static bool gave_up(pw_ws_client *c, const char *why)
{
    if (c->tls && c->cert_why[0])
        snprintf(c->failure, sizeof c->failure, "%s", c->cert_why);
    else if (c->tls && strstr(why, "SSL"))
        snprintf(c->failure, sizeof c->failure,
                 "TLS handshake failed (is it a ws:// server, without TLS?)");
    else if (strstr(why, "refused the WebSocket upgrade"))
        snprintf(c->failure, sizeof c->failure, "%s", why);
    else if (!c->tls && strcmp(why, "read failed") == 0)
        snprintf(c->failure, sizeof c->failure,
                 "the server closed the connection during the WebSocket handshake (is it a wss:// "
                 "server, with TLS?)");
    else
        return false;
    return true;
}

/* A connection or an attempt ended; was_open: it had been established. */
static void on_lost(pw_ws_client *c, bool was_open, const char *why)
{
    c->wsi = NULL;
    c->attempting = false;
    drop_queue(c);
    if (c->freeing)
        return;
    if (was_open) {
        char reason[96];
        unsigned code = (unsigned)atomic_load(&c->close_code);
        if (code)
            snprintf(reason, sizeof reason, "closed by the server (%u)", code);
        else
            snprintf(reason, sizeof reason, "%s", why);
        client_log(c, PW_WS_LOG_INFO, "disconnected from", reason);
        if (c->o.cb.on_close)
            c->o.cb.on_close(reason, c->o.userdata);
    } else if (atomic_load(&c->connects) == 0 && gave_up(c, why)) {
        client_log(c, PW_WS_LOG_ERROR, "cannot connect to", c->failure);
        return;
    } else {
        client_log(c, PW_WS_LOG_INFO, "cannot connect to", why);
    }
    if (!c->closing)
        schedule_retry(c);
}

/* ---- reading and writing ---- */

static int on_receive(pw_ws_client *c, struct lws *wsi, const void *in, size_t len)
{
    const uint8_t *msg;
    size_t n;
    bool binary = lws_frame_is_binary(wsi);
    int r = pw__ws_rxbuf_feed(wsi, &c->rx, in, len, c->o.max_message_bytes, &msg, &n);
    if (r < 0) {
        client_log(c, PW_WS_LOG_INFO, "closing",
                   r == PW_ELIMIT ? "message too big" : "out of memory");
        lws_close_reason(wsi,
                         r == PW_ELIMIT ? LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE
                                        : LWS_CLOSE_STATUS_UNEXPECTED_CONDITION,
                         NULL, 0);
        return -1;
    }
    if (r == 0)
        return 0;
    if (c->replica) {
        pw_error err;
        pw_error_clear(&err);
        if (pw_replica_receive(c->replica, msg, n, &err) < 0)
            client_log(c, PW_WS_LOG_DEBUG, "unusable message from", err.msg);
    }
    if (c->o.cb.on_message)
        c->o.cb.on_message(msg, n, binary, c->o.userdata);
    pw__ws_rxbuf_reset(&c->rx);
    return 0;
}

static int on_writable(pw_ws_client *c, struct lws *wsi)
{
    pthread_mutex_lock(&c->mu);
    bool closing = c->closing;
    pw_frame *f = pw__ws_frameq_head(&c->q);
    pthread_mutex_unlock(&c->mu);
    if (closing) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
        return -1;
    }
    if (!f)
        return 0;
    int r = pw__ws_write_chunk(wsi, f, &c->q.sent, c->scratch);
    if (r < 0)
        return -1;
    bool more = true;
    if (r == 1) {
        pthread_mutex_lock(&c->mu);
        pw_frame *done = pw__ws_frameq_pop(&c->q);
        more = c->q.count > 0;
        pthread_mutex_unlock(&c->mu);
        pw_frame_release(done);
    }
    if (more)
        lws_callback_on_writable(wsi);
    return 0;
}

static void add_authorization(pw_ws_client *c, struct lws *wsi, void *in, size_t len)
{
    unsigned char **p = in, *end = *p + len;
    size_t n = strlen(c->token) + 8;
    char *v = malloc(n);
    if (!v)
        return;
    snprintf(v, n, "Bearer %s", c->token);
    if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, (unsigned char *)v,
                                     (int)strlen(v), p, end))
        client_log(c, PW_WS_LOG_ERROR, "token too long for", NULL);
    free(v);
}

static int client_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                           size_t len)
{
    pw_ws_client *c = lws_context_user(lws_get_context(wsi));
    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
        if (c->token)
            add_authorization(c, wsi, in, len);
        return 0;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        on_established(c, wsi);
        return 0;
    case LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION:
        if (!len && !c->cert_why[0]) /* len: OpenSSL's preverify_ok */
            snprintf(c->cert_why, sizeof c->cert_why, "the server's certificate is not trusted (%s)",
                     X509_verify_cert_error_string(X509_STORE_CTX_get_error(user)));
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        return on_receive(c, wsi, in, len);
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        return on_writable(c, wsi);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (len >= 2) {
            const uint8_t *b = in;
            atomic_store(&c->close_code, (uint_fast16_t)(b[0] << 8 | b[1]));
        }
        return 0;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (c->attempting && !c->wsi) {
            const char *why = in && len ? (const char *)in : "connection failed";
            char refused[96];
            unsigned status = wsi && strstr(why, "upgrade") ? lws_http_client_http_response(wsi) : 0;
            if (status == 401 || status == 403 || strstr(why, "unauthorized")) {
                snprintf(refused, sizeof refused,
                         "the hub refused the WebSocket upgrade (HTTP %u): a missing or wrong token?",
                         status ? status : 401);
                why = refused;
            }
            on_lost(c, false, why);
        }
        return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (c->wsi == wsi)
            on_lost(c, true, "connection closed");
        return 0;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (c && c->wsi) {
            pthread_mutex_lock(&c->mu);
            bool pending = c->q.count > 0 || c->closing;
            pthread_mutex_unlock(&c->mu);
            if (pending)
                lws_callback_on_writable(c->wsi);
        }
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

/* ---- the public side ---- */

void pw_ws_client_options_init(pw_ws_client_options *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->codec = &pw_codec_json;
    opts->backoff_min_ms = 100;
    opts->backoff_max_ms = 10000;
    opts->max_message_bytes = (size_t)64 << 20;
    opts->max_queue_bytes = (size_t)8 << 20;
}

/* Splits url into address, port and path ("/" plus the rest, query kept). */
static pw_err parse_url(pw_ws_client *c, const char *url, pw_error *err)
{
    const char *sep = strstr(url, "://");
    if (!sep)
        return pw_error_set(err, PW_EINVAL, "url %s: expected ws://host[:port]/path", url);
    size_t n = strlen(url), at = (size_t)(sep + 3 - url) + strcspn(sep + 3, "/?#");
    c->url_parts = malloc(n + 2);
    if (!c->url_parts)
        return pw_error_set(err, PW_ENOMEM, "out of memory");
    memcpy(c->url_parts, url, at);
    size_t k = at;
    if (url[at] != '/')
        c->url_parts[k++] = '/'; /* lws_parse_uri wants a '/' before the query */
    memcpy(c->url_parts + k, url + at, n - at + 1);
    const char *prot, *address, *path;
    int port;
    if (lws_parse_uri(c->url_parts, &prot, &address, &port, &path))
        return pw_error_set(err, PW_EINVAL, "url %s: cannot parse", url);
    if (strcmp(prot, "ws") && strcmp(prot, "wss") && strcmp(prot, "http") && strcmp(prot, "https"))
        return pw_error_set(err, PW_EINVAL, "url %s: the scheme must be ws://, wss://, http:// or https://", url);
    if (!*address || port <= 0 || port > 65535)
        return pw_error_set(err, PW_EINVAL, "url %s: no host or a bad port", url);
    c->tls = strcmp(prot, "wss") == 0 || strcmp(prot, "https") == 0;
    c->address = address;
    c->port = port;
    c->path = malloc(strlen(path) + 2);
    if (!c->path)
        return pw_error_set(err, PW_ENOMEM, "out of memory");
    c->path[0] = '/';
    strcpy(c->path + 1, path);
    return PW_OK;
}

static char *dup_or_null(const char *s, bool *failed)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *failed = true;
    return d;
}

static void client_destroy(pw_ws_client *c)
{
    free(c->url);
    free(c->url_parts);
    free(c->path);
    free(c->token);
    free(c->tls_ca);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

pw_ws_client *pw_ws_client_new(const pw_ws_client_options *opts, pw_error *err)
{
    if (!opts || !opts->url) {
        pw_error_set(err, PW_EINVAL, "no url to connect to");
        return NULL;
    }
    pw_ws_client *c = calloc(1, sizeof *c);
    if (!c || pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c);
        pw_error_set(err, PW_ENOMEM, "out of memory for the WebSocket client");
        return NULL;
    }
    c->o = *opts;
    pw_ws_client_options defaults;
    pw_ws_client_options_init(&defaults);
    if (!c->o.codec)
        c->o.codec = defaults.codec;
    if (c->o.backoff_min_ms <= 0)
        c->o.backoff_min_ms = defaults.backoff_min_ms;
    if (c->o.backoff_max_ms < c->o.backoff_min_ms)
        c->o.backoff_max_ms = c->o.backoff_min_ms;
    if (!c->o.max_message_bytes)
        c->o.max_message_bytes = defaults.max_message_bytes;
    if (!c->o.max_queue_bytes)
        c->o.max_queue_bytes = defaults.max_queue_bytes;
    c->subprotocol = c->o.codec == &pw_codec_msgpack ? "patchwire.msgpack" : "patchwire.json";
    c->backoff_ms = c->o.backoff_min_ms;
    c->rng = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)c ^ 0x9e3779b97f4a7c15u;
    bool failed = false;
    c->url = dup_or_null(opts->url, &failed);
    c->token = dup_or_null(opts->token, &failed);
    c->tls_ca = dup_or_null(opts->tls_ca, &failed);
    if (failed) {
        pw_error_set(err, PW_ENOMEM, "out of memory for the WebSocket client");
        client_destroy(c);
        return NULL;
    }
    if (parse_url(c, opts->url, err) != PW_OK) {
        client_destroy(c);
        return NULL;
    }
    if (c->tls && c->tls_ca && access(c->tls_ca, R_OK) != 0) {
        pw_error_set(err, PW_EIO, "cannot read the CA file %s: %s", c->tls_ca, strerror(errno));
        client_destroy(c);
        return NULL;
    }
    c->o.url = c->url;
    c->o.token = c->token;
    c->o.tls_ca = c->tls_ca;

    static const char *const names[2] = {"patchwire.json", "patchwire.msgpack"};
    for (int i = 0; i < 2; i++)
        c->protocols[i] = (struct lws_protocols){
            .name = names[i],
            .callback = client_callback,
            .rx_buffer_size = 4096,
            .tx_packet_size = PW__WS_CHUNK,
        };
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = c->protocols;
    info.user = c;
    info.gid = -1;
    info.uid = -1;
    if (c->tls) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.client_ssl_ca_filepath = c->tls_ca;
    }
    pw__ws_quiet_lws();
    c->ctx = lws_create_context(&info);
    if (!c->ctx) {
        pw_error_set(err, PW_EIO, "cannot create a WebSocket client for %s", c->url);
        client_destroy(c);
        return NULL;
    }
    lws_sul_schedule(c->ctx, 0, &c->retry_sul, attempt, 0);
    return c;
}

pw_err pw_ws_client_service(pw_ws_client *c, int timeout_ms)
{
    pthread_mutex_lock(&c->mu);
    c->owner = pthread_self();
    c->has_owner = true;
    pthread_mutex_unlock(&c->mu);
    return pw__ws_service(c->ctx, &c->wait_sul, timeout_ms) < 0 ? PW_EIO : PW_OK;
}

pw_err pw_ws_client_send(pw_ws_client *c, const uint8_t *p, size_t n, bool binary)
{
    if (!c || (!p && n))
        return PW_EINVAL;
    pw_frame *f = pw_frame_new(p, n, binary);
    if (!f)
        return PW_ENOMEM;
    pthread_mutex_lock(&c->mu);
    pw_err e = PW_OK;
    if (!atomic_load(&c->connected) || c->closing)
        e = PW_EIO;
    else if (c->q.bytes + n > c->o.max_queue_bytes)
        e = PW_ENOMEM;
    if (e != PW_OK) {
        pthread_mutex_unlock(&c->mu);
        pw_frame_release(f);
        return e;
    }
    e = pw__ws_frameq_push(&c->q, f);
    bool here = c->has_owner && pthread_equal(c->owner, pthread_self());
    pthread_mutex_unlock(&c->mu);
    if (e != PW_OK)
        return e;
    if (here && c->wsi)
        lws_callback_on_writable(c->wsi);
    else
        lws_cancel_service(c->ctx);
    return PW_OK;
}

bool pw_ws_client_connected(const pw_ws_client *c)
{
    return atomic_load(&c->connected);
}

uint64_t pw_ws_client_connects(const pw_ws_client *c)
{
    return atomic_load(&c->connects);
}

const char *pw_ws_client_failure(const pw_ws_client *c)
{
    return c->failure[0] ? c->failure : NULL;
}

uint16_t pw_ws_client_close_code(const pw_ws_client *c)
{
    return (uint16_t)atomic_load(&c->close_code);
}

void pw_ws_client_wake(pw_ws_client *c)
{
    lws_cancel_service(c->ctx);
}

void pw_ws_client_close(pw_ws_client *c)
{
    pthread_mutex_lock(&c->mu);
    c->closing = true;
    pthread_mutex_unlock(&c->mu);
    lws_sul_cancel(&c->retry_sul);
    if (c->wsi)
        lws_callback_on_writable(c->wsi);
}

void pw_ws_client_free(pw_ws_client *c)
{
    if (!c)
        return;
    c->freeing = true;
    lws_sul_cancel(&c->retry_sul);
    lws_sul_cancel(&c->wait_sul);
    lws_context_destroy(c->ctx);
    drop_queue(c);
    client_destroy(c);
}

pw_err pw_ws_replica_send(const uint8_t *p, size_t n, bool binary, void *client)
{
    return pw_ws_client_send(client, p, n, binary);
}

void pw_ws_client_bind_replica(pw_ws_client *c, pw_replica *r)
{
    c->replica = r;
}
