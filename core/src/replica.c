/* replica.c - the client role: a store kept equal to a hub over one connection.
 *
 * The one idea: every patches message the replica sends is answered by the
 * hub with exactly one ack or error, in order, and everything the hub sends
 * carries the key's version; so the replica always knows whether its store
 * holds the hub's state at a version, or is ahead by changes it can name,
 * or must wait for a FullSync. Answers to messages sent before a FullSync
 * arrived are "stale": an ack among them means the FullSync missed that
 * change, and the replica asks for another. */
#include "patchwire/replica.h"

#include <stdlib.h>
#include <string.h>

#include "patchwire/buf.h"
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
    uint64_t sent_base; /* of the last patches message sent */
} rkey;

struct pw_replica {
    pw_replica_options opts;
    pw_store *store;
    rkey **keys;
    size_t nkeys, capkeys;
    pw_buf out;
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
    r->keys[r->nkeys++] = k;
    return k;
}

/* Encodes v with the replica's codec and sends it; false on failure. */
static bool send_value(pw_replica *r, const pw_value *v)
{
    pw_buf_reset(&r->out);
    if (r->opts.codec->encode(v, &r->out, NULL))
        return false;
    return r->opts.send(r->out.data, r->out.len, r->opts.codec != &pw_codec_json,
                        r->opts.send_userdata) == PW_OK;
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

static pw_err set_str(pw_value *obj, const char *name, const char *s, size_t n)
{
    pw_value v;
    pw_err rc = pw_string_new(&v, s, n);
    return rc ? rc : pw_object_set_str(obj, name, strlen(name), v, NULL);
}

/* {"type":"resync","key":K}; the key waits for its FullSync. */
static void request_resync(pw_replica *r, rkey *k)
{
    if (k->waiting)
        return;
    k->waiting = true;
    pw_value v;
    if (pw_object_new(&v, 2))
        return;
    if (!set_str(&v, "type", "resync", 6) && !set_str(&v, "key", k->name, k->len))
        send_value(r, &v);
    pw_value_release(&v);
    r->st.resyncs++;
}

/* {"type":"patches","key":K,"base":B,"data":[...]}. */
static void send_patches(pw_replica *r, rkey *k, const pw_patches *p, uint64_t base)
{
    pw_value v, data = pw_null();
    bool ok = !pw_object_new(&v, 4);
    ok = ok && !set_str(&v, "type", "patches", 7) && !set_str(&v, "key", k->name, k->len) &&
         !pw_object_set_str(&v, "base", 4, pw_int((int64_t)base), NULL) &&
         !pw_patches_to_value(p, &data) && !pw_object_set_str(&v, "data", 4, data, NULL);
    ok = ok && send_value(r, &v);
    pw_value_release(&v);
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
    if (!opts || !opts->send)
        return NULL;
    pw_replica *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->opts = *opts;
    if (!r->opts.codec)
        r->opts.codec = &pw_codec_json;
    pw_store_options so = opts->store;
    so.on_local = on_local;
    so.on_local_userdata = r;
    r->store = pw_store_new(&so);
    if (!r->store) {
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
        free(r->keys[i]->name);
        free(r->keys[i]);
    }
    free(r->keys);
    pw_store_free(r->store);
    pw_buf_free(&r->out);
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
        k->outstanding = k->stale = 0;
        k->waiting = true; /* the hub sends a FullSync of every key on join */
    }
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
    return PW_OK;
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

/* An answer to the oldest unanswered patches message of the key; message:
 * the hub's reason when it refused it. */
static void take_answer(pw_replica *r, rkey *k, const pw_msg *m, bool ack, const char *message)
{
    if (k->outstanding == 0)
        return;
    k->outstanding--;
    if (k->stale) {
        k->stale--;
        if (ack) /* accepted after the FullSync we hold was made: we lack it */
            request_resync(r, k);
        return;
    }
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

pw_err pw_replica_receive(pw_replica *r, const uint8_t *p, size_t n, pw_error *err)
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
    if (m.type == PW_MSG_FULLSYNC) {
        if (!k && !(k = add_key(r, key, klen)))
            rc =
                pw_error_set(err, PW_ENOMEM, "fullsync of \"%.*s\": out of memory", (int)klen, key);
        else
            rc = take_fullsync(r, k, &m, err);
    } else if (m.type == PW_MSG_PATCHES) {
        if (k)
            take_patches(r, k, &m);
    } else if (pw_value_str_eq(&m.type_name, "ack", 3)) {
        if (k)
            take_answer(r, k, &m, true, NULL);
    } else if (pw_value_str_eq(&m.type_name, "error", 5)) {
        r->st.errors++;
        const pw_value *t = pw_object_get(&m.data, "message", 7);
        size_t tlen = 0;
        const char *text = t ? pw_value_str(t, &tlen) : NULL;
        char buf[512];
        tlen = text ? (tlen < sizeof buf ? tlen : sizeof buf - 1) : 0;
        memcpy(buf, text ? text : "", tlen);
        buf[tlen] = '\0';
        if (k) {
            take_answer(r, k, &m, false, buf);
            if (m.has_seq) /* the hub follows it with a FullSync */
                k->waiting = true;
            else if (k->synced)
                request_resync(r, k);
        }
        if (r->opts.on_error)
            r->opts.on_error(key, klen, buf, r->opts.on_error_userdata);
    }
    pw_msg_clear(&m);
    return rc;
}
