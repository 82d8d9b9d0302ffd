/* server.c - a hub's state on nanomsg sockets: PUB (every key's FullSync and
 * accepted change), PULL (edits in), REP (FullSyncs on request).
 *
 * The one idea: a broadcast stream is two hub peers. The PUB socket is a
 * plain peer that never sends, so it gets everything exactly once, encoded
 * once; the PULL socket is an ingress, whose answers go out on PUB too (an
 * error under the key, for the device whose id it names) or nowhere (an ack:
 * the relayed change is the answer). REP answers from the hub's shared
 * FullSync frame, so a thousand joiners cost one encoding. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nanomsg/nn.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>

#include "nnutil.h"
#include "patchwire/msg.h"

enum { CONN_PUB = 0, CONN_PULL = 1, CONN_NONE = 2 };
enum { BATCH = 1024 };            /* messages read per socket per service call */
enum { HEARTBEAT_MAX_MS = 5000 }; /* a quiet key's heartbeat, at the longest */

/* A key seen on PUB: its version and when its next heartbeat is due. */
typedef struct skey {
    char *name;
    size_t len;
    uint64_t seq;
    long next_ms;
    int interval_ms;
} skey;

struct pw_nn_server {
    pw_hub *hub;
    pw_nn_server_options opts;
    int pub, pull, rep;
    pw_peer *peer[2];  /* CONN_PUB: the stream; CONN_PULL: the ingress */
    int conn[2];       /* what the hub is given as conn: &conn[CONN_*] */
    bool closed[2];    /* the hub closed the peer: join again */
    size_t written[2]; /* bytes published or dropped, not yet reported */
    skey *keys;
    size_t nkeys, cap;
    pw_nn__outq q; /* what PUB would not take yet */
    pw_nn_server_stats st;
    pw_buf out; /* REP error answers, heartbeats */
};

static long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

static skey *find_key(pw_nn_server *s, const char *key, size_t len)
{
    for (size_t i = 0; i < s->nkeys; i++)
        if (s->keys[i].len == len && memcmp(s->keys[i].name, key, len) == 0)
            return &s->keys[i];
    return NULL;
}

/* Notes what PUB carried of a key (out of memory: that key gets no
 * heartbeat and REP does not serve it). */
static void note_key(pw_nn_server *s, const pw_frame *f)
{
    skey *k = find_key(s, f->key, f->key_len);
    if (!k) {
        if (s->nkeys == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 8;
            skey *grown = realloc(s->keys, cap * sizeof *grown);
            if (!grown)
                return;
            s->keys = grown;
            s->cap = cap;
        }
        char *name = malloc(f->key_len + 1);
        if (!name)
            return;
        memcpy(name, f->key, f->key_len + 1);
        k = &s->keys[s->nkeys++];
        *k = (skey){.name = name, .len = f->key_len};
    }
    k->seq = f->seq;
    k->interval_ms = s->opts.heartbeat_ms;
    k->next_ms = now_ms() + k->interval_ms;
}

static void count_sent(int which, size_t len, void *userdata)
{
    pw_nn_server *s = userdata;
    if (which != CONN_NONE)
        s->written[which] += len;
    s->st.published++;
}

/* Publishes KEY\0BYTES, or queues it behind what waits: its bytes count as
 * written once nanomsg took them (or refused them), so what waits here is
 * bounded by the hub's max_queue_bytes. */
static void publish(pw_nn_server *s, const pw_frame *f, int which)
{
    const char *key = f->key ? f->key : "";
    void *msg = pw_nn__msg_join(key, f->key ? f->key_len + 1 : 1, f->data, f->len);
    if (msg && !s->q.head) {
        void *m = msg;
        if (nn_send(s->pub, &m, NN_MSG, NN_DONTWAIT) >= 0) {
            count_sent(which, pw_frame_cost(f), s);
            return;
        }
        if (nn_errno() != EAGAIN && nn_errno() != EINTR) {
            nn_freemsg(msg);
            msg = NULL;
        }
    }
    if (!msg || !pw_nn__outq_push(&s->q, msg, pw_frame_cost(f), which)) {
        if (which != CONN_NONE)
            s->written[which] += pw_frame_cost(f);
        s->st.publish_failed++;
    }
}

/* Called by the hub: must not block or call into it (the bytes written are
 * reported from _service). Takes the frame's reference and releases it: PUB
 * holds a copy with the key in front. */
static pw_err nn_server_send(void *transport, void *conn, pw_frame *frame)
{
    pw_nn_server *s = transport;
    int which = *(int *)conn;
    if (which == CONN_PULL && frame->kind == PW_FRAME_ACK) {
        s->written[which] += pw_frame_cost(frame); /* the relayed change is the answer */
    } else {
        if (which == CONN_PUB && frame->key &&
            (frame->kind == PW_FRAME_PATCHES || frame->kind == PW_FRAME_FULLSYNC))
            note_key(s, frame);
        publish(s, frame, which);
    }
    pw_frame_release(frame);
    return PW_OK;
}

static void nn_server_close(void *transport, void *conn, const char *reason)
{
    pw_nn_server *s = transport;
    int which = *(int *)conn;
    s->closed[which] = true;
    pw_nn__log(s->opts.log, s->opts.log_userdata, PW_NN_LOG_INFO, "hub closed the %s peer (%s)",
               which == CONN_PUB ? "PUB" : "PULL", reason ? reason : "no reason");
}

static const pw_transport_ops nn_server_ops = {
    .name = "nanomsg",
    .send = nn_server_send,
    .close = nn_server_close,
    .receipts = false,
};

static bool join(pw_nn_server *s, int which)
{
    s->closed[which] = false;
    s->written[which] = 0;
    s->peer[which] =
        which == CONN_PUB
            ? pw_hub_peer_join(s->hub, &nn_server_ops, s, &s->conn[CONN_PUB], "", s->opts.codec)
            : pw_hub_ingress_join(s->hub, &nn_server_ops, s, &s->conn[CONN_PULL], "");
    return s->peer[which] != NULL;
}

void pw_nn_server_options_init(pw_nn_server_options *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->codec = &pw_codec_json;
    opts->heartbeat_ms = 100;
}

static int open_bound(const pw_nn_server_options *o, int protocol, pw_nn_socket which, int rcvmax,
                      pw_error *err)
{
    int sock = pw_nn__open(protocol, err);
    if (sock < 0)
        return -1;
    if (rcvmax && !pw_nn__setint(sock, NN_SOL_SOCKET, NN_RCVMAXSIZE, rcvmax)) {
        pw_error_set(err, PW_EIO, "NN_RCVMAXSIZE: %s", nn_strerror(nn_errno()));
        nn_close(sock);
        return -1;
    }
    if (!pw_nn__attach(sock, o->url, which, true, err)) {
        nn_close(sock);
        return -1;
    }
    return sock;
}

pw_nn_server *pw_nn_server_new(pw_hub *hub, const pw_nn_server_options *opts, pw_error *err)
{
    pw_error local;
    if (!err)
        err = &local;
    pw_error_clear(err);
    if (!hub || !opts || !opts->url) {
        pw_error_set(err, PW_EINVAL, "no hub or no nanomsg URL");
        return NULL;
    }
    pw_nn_server *s = calloc(1, sizeof *s);
    if (!s) {
        pw_error_set(err, PW_ENOMEM, "out of memory");
        return NULL;
    }
    s->hub = hub;
    s->opts = *opts;
    if (!s->opts.codec)
        s->opts.codec = &pw_codec_json;
    s->conn[CONN_PUB] = CONN_PUB;
    s->conn[CONN_PULL] = CONN_PULL;
    s->pub = s->pull = s->rep = -1;
    pw_nn__outq_init(&s->q);
    pw_buf_init(&s->out);
    size_t limit = pw_hub_limits(hub)->max_input_bytes;
    int rcvmax = limit > INT_MAX ? -1 : (int)limit;
    if ((s->pub = open_bound(&s->opts, NN_PUB, PW_NN_PUB, 0, err)) < 0 ||
        (s->pull = open_bound(&s->opts, NN_PULL, PW_NN_PULL, rcvmax, err)) < 0 ||
        (s->rep = open_bound(&s->opts, NN_REP, PW_NN_REP, rcvmax, err)) < 0) {
        pw_nn_server_free(s);
        return NULL;
    }
    if (!join(s, CONN_PUB) || !join(s, CONN_PULL)) {
        pw_error_set(err, PW_ENOMEM, "out of memory");
        pw_nn_server_free(s);
        return NULL;
    }
    return s;
}

/* An error answer on REP: {"type":"error","key":K,"data":{"message":TEXT}}. */
static void reply_error(pw_nn_server *s, const pw_codec *codec, const pw_value *key,
                        const char *text)
{
    pw_msg m;
    pw_msg_init(&m);
    m.type = PW_MSG_ERROR;
    m.key = pw_value_retain(*key);
    s->out.len = 0;
    if (pw_msg_set_error_text(&m, text) == PW_OK &&
        pw_msg_encode(codec, &m, &s->out, NULL) == PW_OK)
        nn_send(s->rep, s->out.data, s->out.len, NN_DONTWAIT);
    pw_msg_clear(&m);
    s->st.rejects++;
}

static void answer_request(pw_nn_server *s, const uint8_t *p, size_t n)
{
    const pw_codec *codec = pw_codec_detect(p, n);
    pw_msg m;
    pw_error err;
    pw_value none = pw_null();
    if (!codec) {
        reply_error(s, &pw_codec_json, &none, "empty request");
        return;
    }
    if (pw_msg_decode(codec, p, n, pw_hub_limits(s->hub), &m, &err) != PW_OK) {
        pw_nn__log(s->opts.log, s->opts.log_userdata, PW_NN_LOG_INFO, "REP: refused a request: %s",
                   err.msg);
        reply_error(s, codec, &none, err.msg);
        return;
    }
    size_t klen = 0;
    const char *key = pw_value_str(&m.key, &klen);
    pw_frame *f = NULL;
    if (m.type != PW_MSG_RESYNC)
        reply_error(s, codec, &m.key, "REP answers {\"type\":\"resync\",\"key\":K} only");
    else if (!find_key(s, key, klen) || !(f = pw_hub_fullsync_frame(s->hub, key, klen, codec)))
        reply_error(s, codec, &m.key, "no such key");
    else if (nn_send(s->rep, f->data, f->len, NN_DONTWAIT) >= 0)
        s->st.requests++;
    pw_frame_release(f);
    pw_msg_clear(&m);
}

static void read_requests(pw_nn_server *s)
{
    for (int i = 0; i < BATCH; i++) {
        void *buf = NULL;
        int n = nn_recv(s->rep, &buf, NN_MSG, NN_DONTWAIT);
        if (n < 0)
            return;
        answer_request(s, buf, (size_t)n);
        nn_freemsg(buf);
    }
}

static void read_edits(pw_nn_server *s)
{
    for (int i = 0; i < BATCH && !s->closed[CONN_PULL]; i++) {
        void *buf = NULL;
        int n = nn_recv(s->pull, &buf, NN_MSG, NN_DONTWAIT);
        if (n < 0)
            return;
        s->st.edits++;
        pw_error err;
        if (pw_hub_peer_receive(s->hub, s->peer[CONN_PULL], buf, (size_t)n, &err) != PW_OK) {
            s->st.rejects++;
            pw_nn__log(s->opts.log, s->opts.log_userdata, PW_NN_LOG_INFO,
                       "PULL: refused an edit: %s", err.msg);
        }
        nn_freemsg(buf);
    }
}

/* Reports what was written, and joins again a peer the hub closed. */
static void settle(pw_nn_server *s)
{
    for (int w = CONN_PUB; w <= CONN_PULL; w++) {
        if (s->closed[w]) {
            pw_hub_peer_leave(s->hub, s->peer[w]);
            s->peer[w] = NULL;
            join(s, w);
        } else if (s->written[w] && s->peer[w]) {
            size_t n = s->written[w];
            s->written[w] = 0;
            pw_hub_peer_written(s->hub, s->peer[w], n);
        }
    }
}

/* {"type":"ack","key":K,"seq":V} with no id on PUB for each key quiet for
 * its interval (which then doubles, up to HEARTBEAT_MAX_MS): a subscriber
 * that lost the last changes of a burst finds no later seq to show it the
 * gap, so it is told the version. Returns the ms until the next one is due
 * (-1: none). */
static int publish_heartbeats(pw_nn_server *s)
{
    if (s->opts.heartbeat_ms <= 0)
        return -1;
    long now = now_ms(), next = -1;
    for (size_t i = 0; i < s->nkeys; i++) {
        skey *k = &s->keys[i];
        if (k->next_ms <= now) {
            pw_msg m;
            pw_msg_init(&m);
            m.type = PW_MSG_ACK;
            m.has_seq = true;
            m.seq = k->seq;
            s->out.len = 0;
            if (pw_string_new(&m.key, k->name, k->len) == PW_OK &&
                pw_msg_encode(s->opts.codec, &m, &s->out, NULL) == PW_OK) {
                pw_frame f = {
                    .len = s->out.len, .data = s->out.data, .key = k->name, .key_len = k->len};
                publish(s, &f, CONN_NONE);
                s->st.heartbeats++;
            }
            pw_msg_clear(&m);
            k->interval_ms =
                k->interval_ms > HEARTBEAT_MAX_MS / 2 ? HEARTBEAT_MAX_MS : k->interval_ms * 2;
            k->next_ms = now + k->interval_ms;
        }
        if (next < 0 || k->next_ms - now < next)
            next = k->next_ms - now;
    }
    return next > INT_MAX ? INT_MAX : (int)next;
}

int pw_nn_server_pollfds(const pw_nn_server *s, struct pollfd *fds, int cap)
{
    int n = 0;
    int want[3] = {pw_nn__fd(s->pull, NN_RCVFD), pw_nn__fd(s->rep, NN_RCVFD),
                   s->q.head ? pw_nn__fd(s->pub, NN_SNDFD) : -1};
    for (int i = 0; i < 3 && n < cap; i++)
        if (want[i] >= 0)
            fds[n++] = (struct pollfd){.fd = want[i], .events = POLLIN};
    return n;
}

pw_err pw_nn_server_service(pw_nn_server *s, int timeout_ms)
{
    settle(s);
    int due = publish_heartbeats(s);
    if (due >= 0 && (timeout_ms < 0 || due < timeout_ms))
        timeout_ms = due;
    if (timeout_ms != 0) {
        struct pollfd fds[3];
        int n = pw_nn_server_pollfds(s, fds, 3);
        if (poll(fds, (nfds_t)n, timeout_ms) < 0 && errno != EINTR)
            return PW_EIO;
    }
    if (s->q.head && !pw_nn__outq_flush(&s->q, s->pub, count_sent, s)) {
        for (pw_nn__out *o = s->q.head; o; o = o->next)
            if (o->tag != CONN_NONE)
                s->written[o->tag] += o->len;
        s->st.publish_failed += s->q.count;
        pw_nn__outq_clear(&s->q);
    }
    read_requests(s);
    read_edits(s);
    settle(s);
    return PW_OK;
}

void pw_nn_server_stats_get(const pw_nn_server *s, pw_nn_server_stats *out)
{
    *out = s->st;
}

void pw_nn_server_free(pw_nn_server *s)
{
    if (!s)
        return;
    for (int w = CONN_PUB; w <= CONN_PULL; w++)
        if (s->peer[w])
            pw_hub_peer_leave(s->hub, s->peer[w]);
    pw_nn__outq_clear(&s->q);
    for (size_t i = 0; i < s->nkeys; i++)
        free(s->keys[i].name);
    free(s->keys);
    if (s->pub >= 0)
        nn_close(s->pub);
    if (s->pull >= 0)
        nn_close(s->pull);
    if (s->rep >= 0)
        nn_close(s->rep);
    pw_buf_free(&s->out);
    free(s);
}
