/* inproc.c - the in-process transport: an inbox of frames per connection.
 *
 * The one idea: sending is appending a frame reference to the connection's
 * ring of pending frames, and the hub hears that bytes were written only
 * when the reader pops them, so a reader that never reads is a slow peer.
 * A close from the hub only marks the connection; the leave is reported
 * from the next inproc call, outside the hub. */
#include "patchwire/inproc.h"

#include <stdlib.h>
#include <string.h>

struct pw_inproc_conn {
    pw_inproc *ip;
    pw_peer *peer; /* NULL once the leave is reported */
    pw_inproc_conn *prev, *next;
    pw_frame **ring;
    size_t head, count, cap, bytes;
    bool closed;
};

struct pw_inproc {
    pw_hub *hub;
    pw_inproc_conn *conns;
    size_t unreported; /* closed connections whose leave is not reported */
};

static pw_err inproc_send(void *transport, void *conn, pw_frame *frame)
{
    (void)transport;
    pw_inproc_conn *c = conn;
    if (c->closed) {
        pw_frame_release(frame);
        return PW_EIO;
    }
    if (c->count == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        pw_frame **ring = malloc(cap * sizeof *ring);
        if (!ring) {
            pw_frame_release(frame);
            return PW_ENOMEM;
        }
        for (size_t i = 0; i < c->count; i++)
            ring[i] = c->ring[(c->head + i) % c->cap];
        free(c->ring);
        c->ring = ring;
        c->head = 0;
        c->cap = cap;
    }
    c->ring[(c->head + c->count++) % c->cap] = frame;
    c->bytes += frame->len;
    return PW_OK;
}

static void inproc_close(void *transport, void *conn, const char *reason)
{
    (void)reason;
    pw_inproc *ip = transport;
    pw_inproc_conn *c = conn;
    if (c->closed)
        return;
    c->closed = true;
    if (c->peer)
        ip->unreported++;
}

static const pw_transport_ops inproc_ops = {
    .name = "inproc",
    .send = inproc_send,
    .close = inproc_close,
};

pw_inproc *pw_inproc_new(pw_hub *hub)
{
    pw_inproc *ip = calloc(1, sizeof *ip);
    if (ip)
        ip->hub = hub;
    return ip;
}

static void report_leave(pw_inproc_conn *c)
{
    if (!c->peer)
        return;
    if (c->closed)
        c->ip->unreported--;
    pw_hub_peer_leave(c->ip->hub, c->peer);
    c->peer = NULL;
}

void pw_inproc_flush(pw_inproc *ip)
{
    for (pw_inproc_conn *c = ip->conns; c && ip->unreported; c = c->next)
        if (c->closed)
            report_leave(c);
}

static pw_inproc_conn *connect(pw_inproc *ip, const char *identity, const pw_codec *codec,
                               bool ingress)
{
    pw_inproc_flush(ip);
    pw_inproc_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->ip = ip;
    c->next = ip->conns;
    if (ip->conns)
        ip->conns->prev = c;
    ip->conns = c;
    /* the hub sends FullSyncs from inside join: the connection is ready */
    c->peer = ingress ? pw_hub_ingress_join(ip->hub, &inproc_ops, ip, c, identity)
                      : pw_hub_peer_join(ip->hub, &inproc_ops, ip, c, identity, codec);
    if (!c->peer) {
        c->closed = true;
        pw_inproc_disconnect(c);
        return NULL;
    }
    if (c->closed)
        ip->unreported++;
    return c;
}

pw_inproc_conn *pw_inproc_connect(pw_inproc *ip, const char *identity, const pw_codec *codec)
{
    return connect(ip, identity, codec, false);
}

pw_inproc_conn *pw_inproc_connect_ingress(pw_inproc *ip, const char *identity)
{
    return connect(ip, identity, NULL, true);
}

pw_err pw_inproc_send_keyed(pw_inproc_conn *c, const char *key, size_t key_len, const uint8_t *p,
                            size_t n, pw_error *err)
{
    pw_inproc_flush(c->ip);
    if (c->closed || !c->peer)
        return pw_error_set(err, PW_EIO, "inproc connection is closed");
    return pw_hub_peer_receive_keyed(c->ip->hub, c->peer, key, key_len, p, n, err);
}

pw_err pw_inproc_send(pw_inproc_conn *c, const uint8_t *p, size_t n, pw_error *err)
{
    pw_inproc_flush(c->ip);
    if (c->closed || !c->peer)
        return pw_error_set(err, PW_EIO, "inproc connection is closed");
    return pw_hub_peer_receive(c->ip->hub, c->peer, p, n, err);
}

pw_frame *pw_inproc_recv(pw_inproc_conn *c)
{
    pw_inproc_flush(c->ip);
    if (c->count == 0)
        return NULL;
    pw_frame *f = c->ring[c->head];
    c->head = (c->head + 1) % c->cap;
    c->count--;
    c->bytes -= f->len;
    if (c->peer)
        pw_hub_peer_written(c->ip->hub, c->peer, pw_frame_cost(f));
    return f;
}

size_t pw_inproc_pending(const pw_inproc_conn *c)
{
    return c->count;
}
size_t pw_inproc_pending_bytes(const pw_inproc_conn *c)
{
    return c->bytes;
}
bool pw_inproc_closed(const pw_inproc_conn *c)
{
    return c->closed;
}

void pw_inproc_disconnect(pw_inproc_conn *c)
{
    if (!c)
        return;
    pw_inproc *ip = c->ip;
    report_leave(c);
    c->closed = true;
    while (c->count) {
        pw_frame_release(c->ring[c->head]);
        c->head = (c->head + 1) % c->cap;
        c->count--;
    }
    free(c->ring);
    if (c->prev)
        c->prev->next = c->next;
    else
        ip->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
}

void pw_inproc_free(pw_inproc *ip)
{
    if (!ip)
        return;
    while (ip->conns)
        pw_inproc_disconnect(ip->conns);
    free(ip);
}
