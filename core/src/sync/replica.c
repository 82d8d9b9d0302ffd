/* replica.c - the client role: a store kept equal to a hub over one connection.
 *
 * The one idea: every patches message the replica sends is answered by the
 * hub with exactly one ack or error, in order, and everything the hub sends
 * carries the key's version; so the replica always knows whether its store
 * holds the hub's state at a version, or is ahead by changes it can name,
 * or must wait for a FullSync. Answers to messages sent before a FullSync
 * arrived are "stale": an ack among them means the FullSync missed that
 * change, and the replica asks for another.
 *
 * Over a broadcast stream (opts.origin set) the hub's answer to a change is
 * the change itself coming back in the stream with the id the replica gave
 * it, and a FullSync in the stream settles everything before it: what was in
 * flight either comes back later in the stream (and is applied then, as
 * anyone's change) or never does. */
#include "patchwire/replica.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "patchwire/buf.h"
#include "patchwire/codec.h"
#include "patchwire/msg.h"

typedef struct rkey {
    char *name;
    size_t len;
    bool synced;        /* a FullSync arrived */
    bool waiting;       /* for a FullSync: patches are ignored, nothing is sent */
    uint64_t seq;       /* the hub's version the store holds (plus what is in flight) */
    size_t outstanding; /* patches messages sent and not yet answered */
    size_t stale;       /* of them, sent before the last FullSync arrived */
    pw_patches buffer;  /* local changes made while one was in flight */
    uint64_t buffer_base;
    pw_value inflight_id; /* stream: the id of the change in flight (null: none) */
    uint64_t sent_base;   /* of the last patches message sent */
} rkey;

struct pw_replica {
    pw_replica_options opts;
    pw_store *store;
    rkey **keys;
    size_t nkeys, capkeys;
    pw_buf out;
    char *origin;     /* stream: a copy of opts.origin */
    uint64_t next_id; /* stream: the number in the next change's id */
    pw_replica_stats st;
};

void pw_replica_options_init(pw_replica_options *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->codec = &pw_codec_json;
    pw_store_options_init(&opts->store);
    pw_limits_init(&opts->limits);
}

static rkey *find_key(const pw_replica *r, const char *name, size_t len)
{
    for (size_t i = 0; i < r->nkeys; i++)
        if (r->keys[i]->len == len && memcmp(r->keys[i]->name, name, len) == 0)
            return r->keys[i];
    return NULL;
}

static rkey *add_key(pw_replica *r, const char *name, size_t len)
{
    if (r->nkeys == r->capkeys) {
        size_t cap = r->capkeys ? r->capkeys * 2 : 8;
        rkey **keys = realloc(r->keys, cap * sizeof *keys);
        if (!keys)
            return NULL;
        r->keys = keys;
        r->capkeys = cap;
    }
    rkey *k = calloc(1, sizeof *k);
    char *copy = malloc(len + 1);
    if (!k || !copy) {
        free(k);
        free(copy);
        return NULL;
    }
    memcpy(copy, name, len);
    copy[len] = '\0';
    k->name = copy;
    k->len = len;
    pw_patches_init(&k->buffer, PW_DIALECT_IMMER);
    k->inflight_id = pw_null();
    r->keys[r->nkeys++] = k;
    return k;
}

/* Encodes m (of key k) with the replica's codec and sends it; false on
 * failure. */
static bool send_msg(pw_replica *r, const rkey *k, const pw_msg *m)
{
    pw_buf_reset(&r->out);
    if (pw_msg_encode(r->opts.codec, m, &r->out, NULL))
        return false;
    bool binary = r->opts.codec != &pw_codec_json;
    if (r->opts.send_keyed)
        return r->opts.send_keyed(k->name, k->len, r->out.data, r->out.len, binary,
                                  r->opts.send_userdata) == PW_OK;
    return r->opts.send(r->out.data, r->out.len, binary, r->opts.send_userdata) == PW_OK;
}

static void emit(pw_replica *r, const rkey *k, pw_replica_event_type type, const pw_patches *p,
                 uint64_t seq, const char *message)
{
    if (!r->opts.on_event)
        return;
    pw_replica_event ev = {.type = type,
                           .key = k->name,
                           .key_len = k->len,
                           .base = k->sent_base,
                           .seq = seq,
                           .patches = p,
                           .message = message};
    r->opts.on_event(&ev, r->opts.on_event_userdata);
}

/* {"type":"resync","key":K}; the key waits for its FullSync. */
static void request_resync(pw_replica *r, rkey *k)
{
    if (k->waiting)
        return;
    k->waiting = true;
    pw_msg m;
    pw_msg_init(&m);
    m.type = PW_MSG_RESYNC;
    if (!pw_string_new(&m.key, k->name, k->len))
        send_msg(r, k, &m);
    pw_msg_clear(&m);
    r->st.resyncs++;
}

/* Over a stream: a new id for the change about to be sent, "ORIGIN:N". */
static pw_err next_id(pw_replica *r, pw_value *out)
{
    char id[PW_MSG_ID_MAX + 1];
    int n = snprintf(id, sizeof id, "%.200s:%llu", r->opts.origin,
                     (unsigned long long)++r->next_id);
    return pw_string_new(out, id, (size_t)n);
}

/* {"type":"patches","key":K,"base":B,"id":ID,"data":[...]} (id over a
 * stream only). */
static void send_patches(pw_replica *r, rkey *k, const pw_patches *p, uint64_t base)
{
    pw_msg m;
    pw_msg_init(&m);
    m.type = PW_MSG_PATCHES;
    m.has_base = true;
    m.base = base;
    m.patches = *p; /* borrowed: not cleared below */
    bool ok = !pw_string_new(&m.key, k->name, k->len) && (!r->opts.origin || !next_id(r, &m.id));
    ok = ok && send_msg(r, k, &m);
    if (ok && r->opts.origin) {
        pw_value_release(&k->inflight_id);
        k->inflight_id = pw_value_retain(m.id);
    }
    pw_patches_init(&m.patches, PW_DIALECT_IMMER);
    pw_msg_clear(&m);
    if (!ok) {
        /* the change is in the store but not at the hub: get back in line */
        request_resync(r, k);
        return;
    }
    k->outstanding++;
    k->sent_base = base;
    r->st.sent++;
    emit(r, k, PW_REPLICA_SENT, p, 0, NULL);
}

static bool buffer_append(rkey *k, const pw_patches *p)
{
    for (size_t i = 0; i < p->len; i++) {
        const pw_patch *pt = &p->items[i];
        if (pw_patches_push(&k->buffer, pt->op, pw_value_retain(pt->path),
                            pw_value_retain(pt->from), pw_value_retain(pt->value), pt->has_value))
            return false;
    }
    return true;
}

static void on_local(const pw_change *c, void *userdata)
{
    pw_replica *r = userdata;
    rkey *k = find_key(r, c->key, c->key_len);
    if (!k || !k->synced || k->waiting) {
        r->st.dropped++; /* the FullSync to come replaces it */
    } else if (k->outstanding > k->stale) {
        if (k->buffer.len == 0)
            k->buffer_base = k->seq;
        if (!buffer_append(k, c->patches))
            request_resync(r, k);
    } else {
        send_patches(r, k, c->patches, k->seq);
    }
    if (r->opts.store.on_local)
        r->opts.store.on_local(c, r->opts.store.on_local_userdata);
}

pw_replica *pw_replica_new(const pw_replica_options *opts)
{
    if (!opts || (!opts->send && !opts->send_keyed))
        return NULL;
    pw_replica *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->opts = *opts;
    if (opts->origin && !(r->opts.origin = r->origin = strdup(opts->origin))) {
        free(r);
        return NULL;
    }
    if (!r->opts.codec)
        r->opts.codec = &pw_codec_json;
    pw_store_options so = opts->store;
    so.on_local = on_local;
    so.on_local_userdata = r;
    r->store = pw_store_new(&so);
    if (!r->store) {
        free(r->origin);
        free(r);
        return NULL;
    }
    pw_buf_init(&r->out);
    return r;
}

void pw_replica_free(pw_replica *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nkeys; i++) {
        pw_patches_clear(&r->keys[i]->buffer);
        pw_value_release(&r->keys[i]->inflight_id);
        free(r->keys[i]->name);
        free(r->keys[i]);
    }
    free(r->keys);
    pw_store_free(r->store);
    pw_buf_free(&r->out);
    free(r->origin);
    free(r);
}

pw_store *pw_replica_store(pw_replica *r)
{
    return r->store;
}

void pw_replica_reconnect(pw_replica *r)
{
    for (size_t i = 0; i < r->nkeys; i++) {
        rkey *k = r->keys[i];
        if (k->buffer.len || k->outstanding)
            r->st.dropped++;
        pw_patches_clear(&k->buffer);
        pw_value_release(&k->inflight_id);
        k->outstanding = k->stale = 0;
        k->waiting = true; /* the hub sends a FullSync of every key on join */
    }
}

bool pw_replica_waiting(const pw_replica *r, const char *key, size_t key_len)
{
    const rkey *k = find_key(r, key, key_len);
    return !k || !k->synced || k->waiting;
}

bool pw_replica_idle(const pw_replica *r, const char *key, size_t key_len, uint64_t *seq)
{
    const rkey *k = find_key(r, key, key_len);
    if (seq)
        *seq = k ? k->seq : 0;
    return k && k->synced && !k->waiting && !k->outstanding && !k->buffer.len;
}

void pw_replica_stats_get(const pw_replica *r, pw_replica_stats *out)
{
    *out = r->st;
}

static pw_err take_fullsync(pw_replica *r, rkey *k, pw_msg *m, pw_error *err)
{
    uint64_t seq = m->has_seq ? m->seq : k->seq;
    pw_value doc = m->data;
    m->data = pw_null();
    pw_err rc = pw_store_fullsync(r->store, k->name, k->len, doc, seq);
    if (rc)
        return pw_error_set(err, rc, "fullsync of \"%.*s\": the store refused it (%s)", (int)k->len,
                            k->name, pw_strerror(rc));
    r->st.fullsyncs++;
    if (k->buffer.len)
        r->st.dropped++;
    pw_patches_clear(&k->buffer);
    k->synced = true;
    k->waiting = false;
    k->seq = seq;
    k->stale = k->outstanding;
    if (r->opts.origin) { /* what was in flight comes back in the stream, or never */
        k->outstanding = k->stale = 0;
        pw_value_release(&k->inflight_id);
    }
    return PW_OK;
}

/* Over a stream: m carries the id of this key's change in flight. */
static bool is_inflight(const pw_replica *r, const rkey *k, const pw_msg *m)
{
    size_t n = 0, want = 0;
    const char *id = pw_value_str(&m->id, &n), *mine = pw_value_str(&k->inflight_id, &want);
    return r->opts.origin && k->outstanding && id && mine && n == want && memcmp(id, mine, n) == 0;
}

static void take_patches(pw_replica *r, rkey *k, const pw_msg *m)
{
    if (!k->synced || k->waiting || (m->has_seq && m->seq <= k->seq))
        return;
    if (!m->has_seq || m->seq != k->seq + 1) {
        request_resync(r, k);
        return;
    }
    if (pw_store_apply_remote(r->store, k->name, k->len, &m->patches, m->seq, NULL)) {
        request_resync(r, k); /* it crossed a change of ours: the hub rejects that */
        return;
    }
    k->seq = m->seq;
}

/* An answer to the oldest unanswered patches message of the key. */
static void take_answer(pw_replica *r, rkey *k, const pw_msg *m, bool ack)
{
    size_t tlen = 0;
    const char *text = ack ? NULL : pw_msg_error_text(m, &tlen);
    char message[512];
    tlen = tlen < sizeof message ? tlen : sizeof message - 1;
    memcpy(message, text ? text : "", tlen);
    message[tlen] = '\0';
    if (k->outstanding == 0)
        return;
    k->outstanding--;
    if (k->stale) {
        k->stale--;
        if (ack) /* accepted after the FullSync we hold was made: we lack it */
            request_resync(r, k);
        return;
    }
    pw_value_release(&k->inflight_id);
    if (!ack) {
        emit(r, k, PW_REPLICA_REFUSED, NULL, 0, message);
        return;
    }
    if (k->waiting)
        return;
    r->st.acked++;
    emit(r, k, PW_REPLICA_ACCEPTED, NULL, m->has_seq ? m->seq : 0, NULL);
    if (!m->has_seq || m->seq != k->seq + 1) {
        request_resync(r, k);
        return;
    }
    k->seq = m->seq;
    if (k->buffer.len) {
        send_patches(r, k, &k->buffer, k->buffer_base);
        pw_patches_clear(&k->buffer);
    }
}

static void report_error(pw_replica *r, const pw_msg *m, const char *key, size_t klen)
{
    if (!r->opts.on_error)
        return;
    size_t tlen = 0;
    const char *text = pw_msg_error_text(m, &tlen);
    char buf[512];
    tlen = tlen < sizeof buf ? tlen : sizeof buf - 1;
    memcpy(buf, text, tlen);
    buf[tlen] = '\0';
    r->opts.on_error(key, klen, buf, r->opts.on_error_userdata);
}

static pw_err receive(pw_replica *r, const uint8_t *p, size_t n, bool snapshot, pw_error *err)
{
    pw_error local;
    if (!err)
        err = &local;
    pw_error_clear(err);
    const pw_codec *c = pw_codec_detect(p, n);
    pw_msg m;
    pw_err rc = c ? pw_msg_decode(c, p, n, &r->opts.limits, &m, err)
                  : pw_error_set(err, PW_ESYNTAX, "empty message from the hub");
    if (rc) {
        /* what it said is unknown: every key gets back in line */
        for (size_t i = 0; i < r->nkeys; i++)
            if (r->keys[i]->synced)
                request_resync(r, r->keys[i]);
        return rc;
    }
    size_t klen = 0;
    const char *key = pw_value_str(&m.key, &klen);
    rkey *k = key ? find_key(r, key, klen) : NULL;
    bool stream = r->opts.origin != NULL;
    switch (m.type) {
    case PW_MSG_FULLSYNC:
        if (snapshot && k && k->synced && !k->waiting)
            break; /* a republished state: the stream brings what we lack */
        if (!k && !(k = add_key(r, key, klen)))
            rc =
                pw_error_set(err, PW_ENOMEM, "fullsync of \"%.*s\": out of memory", (int)klen, key);
        else
            rc = take_fullsync(r, k, &m, err);
        break;
    case PW_MSG_PATCHES:
        if (k && is_inflight(r, k, &m))
            take_answer(r, k, &m, true);
        else if (k)
            take_patches(r, k, &m);
        break;
    case PW_MSG_ACK:
        if (k && (!stream || is_inflight(r, k, &m)))
            take_answer(r, k, &m, true);
        break;
    case PW_MSG_ERROR:
        if (stream && !(k && is_inflight(r, k, &m)))
            break; /* another device's */
        r->st.errors++;
        if (k) {
            take_answer(r, k, &m, false);
            if (m.has_seq) /* the hub follows it with a FullSync */
                k->waiting = true;
            else if (k->synced)
                request_resync(r, k);
        }
        report_error(r, &m, key, klen);
        break;
    default:
        break;
    }
    pw_msg_clear(&m);
    return rc;
}

pw_err pw_replica_receive(pw_replica *r, const uint8_t *p, size_t n, pw_error *err)
{
    return receive(r, p, n, false, err);
}

pw_err pw_replica_receive_snapshot(pw_replica *r, const uint8_t *p, size_t n, pw_error *err)
{
    return receive(r, p, n, true, err);
}
