/* client.c - a replica following a hub's keys over nanomsg: SUB for the
 * stream, PUSH for edits, REQ for FullSyncs.
 *
 * The one idea: the stream is the truth and REP only fills holes. A key
 * asks REP for its FullSync when it is first followed, when the replica
 * finds a gap in seq (its resync message is turned into a request) and when
 * the SUB socket connects again (the hub may have restarted with other
 * versions). While a request is out, the key's stream is kept aside and
 * replayed after the answer, so what was published meanwhile is not lost;
 * one request at a time, as REQ allows. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nanomsg/nn.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>

#include "nnutil.h"

enum { BATCH = 1024 }; /* messages read per socket per service call */

typedef struct ckey {
    char *name;
    size_t len;
    bool want;           /* a FullSync is to be asked for */
    bool asked;          /* the request is out */
    bool check;          /* asked by a heartbeat, not the replica: take the answer */
    pw_nn__outq backlog; /* stream messages (KEY\0BYTES) while asked */
} ckey;

struct pw_nn_client {
    pw_nn_client_options opts;
    char origin[64];
    int sub, push, req;
    pw_replica *replica;
    ckey *keys;
    size_t nkeys;
    ckey *asked;          /* the key whose request is out, or NULL */
    pw_nn__outq q;        /* edits PUSH would not take yet */
    bool broken;          /* an edit could not be queued: every key starts over */
    uint64_t established; /* NN_STAT_ESTABLISHED_CONNECTIONS of SUB last seen */
    pw_nn_client_stats st;
    pw_buf out;
};

void pw_nn_client_options_init(pw_nn_client_options *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->max_message_bytes = PW_DEFAULT_MAX_INPUT_BYTES;
    opts->resend_ms = 1000;
    opts->max_backlog_bytes = (size_t)8 << 20;
    opts->max_queue_bytes = (size_t)8 << 20;
}

static int connected(int protocol, const pw_nn_client_options *o, pw_nn_socket which, int rcvmax,
                     pw_error *err)
{
    int s = pw_nn__open(protocol, err);
    if (s < 0)
        return -1;
    bool ok = true;
    if (rcvmax)
        ok = pw_nn__setint(s, NN_SOL_SOCKET, NN_RCVMAXSIZE, rcvmax);
    if (ok && protocol == NN_SUB && o->rcvbuf > 0)
        ok = pw_nn__setint(s, NN_SOL_SOCKET, NN_RCVBUF, o->rcvbuf);
    if (ok && protocol == NN_REQ)
        ok = pw_nn__setint(s, NN_REQ, NN_REQ_RESEND_IVL, o->resend_ms > 0 ? o->resend_ms : 1000);
    if (ok) /* a hub that restarts is found again soon */
        ok = pw_nn__setint(s, NN_SOL_SOCKET, NN_RECONNECT_IVL, 50) &&
             pw_nn__setint(s, NN_SOL_SOCKET, NN_RECONNECT_IVL_MAX, 1000);
    if (!ok) {
        pw_error_set(err, PW_EIO, "socket option: %s", nn_strerror(nn_errno()));
        nn_close(s);
        return -1;
    }
    if (!pw_nn__attach(s, o->url, which, false, err)) {
        nn_close(s);
        return -1;
    }
    return s;
}

pw_nn_client *pw_nn_client_new(const pw_nn_client_options *opts, pw_error *err)
{
    pw_error local;
    if (!err)
        err = &local;
    pw_error_clear(err);
    char probe[1024];
    if (!opts || pw_nn_endpoint(opts->url, PW_NN_PUB, probe, sizeof probe, err) != PW_OK)
        return NULL;
    pw_nn_client *c = calloc(1, sizeof *c);
    if (!c) {
        pw_error_set(err, PW_ENOMEM, "out of memory");
        return NULL;
    }
    c->opts = *opts;
    if (!c->opts.max_message_bytes)
        c->opts.max_message_bytes = PW_DEFAULT_MAX_INPUT_BYTES;
    if (!c->opts.max_backlog_bytes)
        c->opts.max_backlog_bytes = (size_t)8 << 20;
    if (!c->opts.max_queue_bytes)
        c->opts.max_queue_bytes = (size_t)8 << 20;
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    snprintf(c->origin, sizeof c->origin, "nn-%ld-%lx", (long)getpid(),
             (unsigned long)(t.tv_nsec ^ (t.tv_sec << 20) ^ (long)(uintptr_t)c));
    pw_nn__outq_init(&c->q);
    pw_buf_init(&c->out);
    c->sub = c->push = c->req = -1;
    int rcvmax = c->opts.max_message_bytes > INT_MAX ? -1 : (int)c->opts.max_message_bytes;
    if ((c->sub = connected(NN_SUB, &c->opts, PW_NN_PUB, rcvmax, err)) < 0 ||
        (c->push = connected(NN_PUSH, &c->opts, PW_NN_PULL, 0, err)) < 0 ||
        (c->req = connected(NN_REQ, &c->opts, PW_NN_REP, rcvmax, err)) < 0) {
        pw_nn_client_free(c);
        return NULL;
    }
    return c;
}

const char *pw_nn_client_origin(const pw_nn_client *c)
{
    return c->origin;
}

void pw_nn_client_bind_replica(pw_nn_client *c, pw_replica *r)
{
    c->replica = r;
}

static ckey *find_key(pw_nn_client *c, const char *key, size_t len)
{
    for (size_t i = 0; i < c->nkeys; i++)
        if (c->keys[i].len == len && memcmp(c->keys[i].name, key, len) == 0)
            return &c->keys[i];
    return NULL;
}

/* Sends the next wanted request if none is out. */
static void ask_next(pw_nn_client *c)
{
    if (c->asked)
        return;
    for (size_t i = 0; i < c->nkeys; i++) {
        ckey *k = &c->keys[i];
        if (!k->want)
            continue;
        pw_msg m;
        pw_msg_init(&m);
        m.type = PW_MSG_RESYNC;
        c->out.len = 0;
        bool ok = pw_string_new(&m.key, k->name, k->len) == PW_OK &&
                  pw_msg_encode(&pw_codec_json, &m, &c->out, NULL) == PW_OK &&
                  nn_send(c->req, c->out.data, c->out.len, NN_DONTWAIT) >= 0;
        pw_msg_clear(&m);
        if (!ok)
            return; /* tried again at the next service */
        k->want = false;
        k->asked = true;
        c->asked = k;
        c->st.requests++;
        return;
    }
}

static void want(ckey *k)
{
    if (!k->asked)
        k->want = true;
}

pw_err pw_nn_client_follow(pw_nn_client *c, const char *key, size_t key_len)
{
    if (!key || !key_len || memchr(key, '\0', key_len))
        return PW_EINVAL;
    ckey *k = find_key(c, key, key_len);
    if (!k) {
        ckey *grown = realloc(c->keys, (c->nkeys + 1) * sizeof *grown);
        if (!grown)
            return PW_ENOMEM;
        if (c->asked) /* the array moved */
            c->asked = grown + (c->asked - c->keys);
        c->keys = grown;
        k = &c->keys[c->nkeys];
        memset(k, 0, sizeof *k);
        if (!(k->name = malloc(key_len + 1)))
            return PW_ENOMEM;
        memcpy(k->name, key, key_len);
        k->name[key_len] = '\0';
        k->len = key_len;
        pw_nn__outq_init(&k->backlog);
        c->nkeys++;
        /* the topic is the key and its NUL: "app" never matches "appstate" */
        if (nn_setsockopt(c->sub, NN_SUB, NN_SUB_SUBSCRIBE, k->name, key_len + 1) < 0)
            return PW_EIO;
    }
    want(k);
    ask_next(c);
    return PW_OK;
}

/* The replica's resync as this transport says it: a request to REP. The
 * replica writes the type first (pw_msg_encode), so its first bytes tell. */
static bool is_resync(const uint8_t *p, size_t n, bool binary)
{
    static const char json[] = "{\"type\":\"resync\"";
    static const uint8_t mp[] = {0xa4, 't', 'y', 'p', 'e', 0xa6, 'r', 'e', 's', 'y', 'n', 'c'};
    if (binary)
        return n > sizeof mp && memcmp(p + 1, mp, sizeof mp) == 0;
    return n >= sizeof json - 1 && memcmp(p, json, sizeof json - 1) == 0;
}

pw_err pw_nn_replica_send(const char *key, size_t key_len, const uint8_t *p, size_t n, bool binary,
                          void *client)
{
    pw_nn_client *c = client;
    if (is_resync(p, n, binary)) {
        ckey *k = find_key(c, key, key_len);
        if (k) {
            want(k);
            ask_next(c);
        }
        return PW_OK;
    }
    if (c->q.bytes + n > c->opts.max_queue_bytes) {
        c->broken = true;
        return PW_EIO;
    }
    void *msg = pw_nn__msg_join(NULL, 0, p, n);
    if (!msg)
        return PW_ENOMEM;
    if (!c->q.head) {
        void *m = msg;
        if (nn_send(c->push, &m, NN_MSG, NN_DONTWAIT) >= 0)
            return PW_OK;
        if (nn_errno() != EAGAIN && nn_errno() != EINTR) {
            nn_freemsg(msg);
            return PW_EIO;
        }
    }
    return pw_nn__outq_push(&c->q, msg, n, 0) ? PW_OK : PW_ENOMEM;
}

/* Everything starts over: in-flight edits are gone, every key asks again. */
static void restart(pw_nn_client *c)
{
    if (c->replica)
        pw_replica_reconnect(c->replica);
    pw_nn__outq_clear(&c->q);
    for (size_t i = 0; i < c->nkeys; i++) {
        pw_nn__outq_clear(&c->keys[i].backlog);
        c->keys[i].check = false;
        want(&c->keys[i]);
    }
    ask_next(c);
}

static void feed(pw_nn_client *c, const uint8_t *p, size_t n, bool snapshot)
{
    if (!c->replica)
        return;
    pw_error err;
    pw_err rc = snapshot ? pw_replica_receive_snapshot(c->replica, p, n, &err)
                         : pw_replica_receive(c->replica, p, n, &err);
    if (rc != PW_OK)
        pw_nn__log(c->opts.log, c->opts.log_userdata, PW_NN_LOG_INFO, "%s: %s",
                   snapshot ? "REP" : "SUB", err.msg);
}

/* A heartbeat ({"type":"ack","key":K,"seq":V} without id; the hub writes
 * the type first) naming a version newer than the replica's: changes were
 * lost with nothing after them to show the gap. */
static bool behind(pw_nn_client *c, const ckey *k, const uint8_t *p, size_t n)
{
    static const char json[] = "{\"type\":\"ack\"";
    static const uint8_t mp[] = {0xa4, 't', 'y', 'p', 'e', 0xa3, 'a', 'c', 'k'};
    if (!c->replica || n > 4096 ||
        (!(n >= sizeof json - 1 && memcmp(p, json, sizeof json - 1) == 0) &&
         !(n > sizeof mp && memcmp(p + 1, mp, sizeof mp) == 0)))
        return false;
    pw_msg m;
    const pw_codec *codec = pw_codec_detect(p, n);
    if (!codec || pw_msg_decode(codec, p, n, NULL, &m, NULL) != PW_OK)
        return false;
    uint64_t seq;
    pw_replica_idle(c->replica, k->name, k->len, &seq);
    bool lost = m.type == PW_MSG_ACK && pw_value_kind(&m.id) == PW_NULL && m.has_seq &&
                m.seq > seq && !pw_replica_waiting(c->replica, k->name, k->len);
    pw_msg_clear(&m);
    return lost;
}

/* One message of the key's stream. */
static void deliver(pw_nn_client *c, ckey *k, const uint8_t *p, size_t n)
{
    if (behind(c, k, p, n)) {
        c->st.heartbeat_gaps++;
        k->check = true; /* the answer replaces the state: the replica does not wait for it */
        want(k);
        ask_next(c);
        return;
    }
    feed(c, p, n, false);
}

static void read_stream(pw_nn_client *c)
{
    for (int i = 0; i < BATCH; i++) {
        void *buf = NULL;
        int n = nn_recv(c->sub, &buf, NN_MSG, NN_DONTWAIT);
        if (n < 0)
            return;
        const uint8_t *p = buf, *nul = memchr(p, '\0', (size_t)n);
        ckey *k = nul ? find_key(c, buf, (size_t)(nul - p)) : NULL;
        if (!k) {
            nn_freemsg(buf);
            continue;
        }
        c->st.received++;
        if (k->asked) {
            if (k->backlog.bytes + (size_t)n > c->opts.max_backlog_bytes) {
                /* a gap the replica will see and ask about again */
                c->st.backlog_dropped += k->backlog.count + 1;
                pw_nn__outq_clear(&k->backlog);
                nn_freemsg(buf);
            } else {
                pw_nn__outq_push(&k->backlog, buf, (size_t)n, 0);
            }
            continue;
        }
        deliver(c, k, nul + 1, (size_t)(p + n - nul - 1));
        nn_freemsg(buf);
    }
}

static void read_answer(pw_nn_client *c)
{
    void *buf = NULL;
    int n = nn_recv(c->req, &buf, NN_MSG, NN_DONTWAIT);
    if (n < 0)
        return;
    ckey *k = c->asked;
    c->asked = NULL;
    if (k) {
        k->asked = false;
        c->st.snapshots++;
        feed(c, buf, (size_t)n, !k->check);
        k->check = false;
        /* what the stream brought meanwhile: older than the snapshot is
         * ignored, newer applies */
        pw_nn__outq backlog = k->backlog;
        pw_nn__outq_init(&k->backlog);
        for (pw_nn__out *o = backlog.head; o; o = o->next) {
            const uint8_t *p = o->msg, *nul = memchr(p, '\0', o->len);
            deliver(c, k, nul + 1, (size_t)(p + o->len - nul - 1));
        }
        pw_nn__outq_clear(&backlog);
    }
    nn_freemsg(buf);
    ask_next(c);
}

int pw_nn_client_pollfds(const pw_nn_client *c, struct pollfd *fds, int cap)
{
    int n = 0;
    int want_fds[3] = {pw_nn__fd(c->sub, NN_RCVFD), pw_nn__fd(c->req, NN_RCVFD),
                       c->q.head ? pw_nn__fd(c->push, NN_SNDFD) : -1};
    for (int i = 0; i < 3 && n < cap; i++)
        if (want_fds[i] >= 0)
            fds[n++] = (struct pollfd){.fd = want_fds[i], .events = POLLIN};
    return n;
}

pw_err pw_nn_client_service(pw_nn_client *c, int timeout_ms)
{
    if (timeout_ms != 0) {
        struct pollfd fds[3];
        int n = pw_nn_client_pollfds(c, fds, 3);
        if (poll(fds, (nfds_t)n, timeout_ms) < 0 && errno != EINTR)
            return PW_EIO;
    }
    uint64_t est = nn_get_statistic(c->sub, NN_STAT_ESTABLISHED_CONNECTIONS);
    if (est > c->established) {
        if (c->established)
            c->st.restarts++;
        c->established = est;
        restart(c); /* what was published before we were connected is lost */
    }
    if (c->broken) {
        c->broken = false;
        restart(c);
    }
    if (c->q.head && !pw_nn__outq_flush(&c->q, c->push, NULL, NULL))
        restart(c);
    read_answer(c);
    read_stream(c);
    ask_next(c);
    return PW_OK;
}

void pw_nn_client_stats_get(const pw_nn_client *c, pw_nn_client_stats *out)
{
    *out = c->st;
}

void pw_nn_client_free(pw_nn_client *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nkeys; i++) {
        pw_nn__outq_clear(&c->keys[i].backlog);
        free(c->keys[i].name);
    }
    free(c->keys);
    pw_nn__outq_clear(&c->q);
    if (c->sub >= 0)
        nn_close(c->sub);
    if (c->push >= 0)
        nn_close(c->push);
    if (c->req >= 0)
        nn_close(c->req);
    pw_buf_free(&c->out);
    free(c);
}
