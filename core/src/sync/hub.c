/* hub.c - the server role: authoritative documents per key, peers, fan-out.
 *
 * The one idea: a change is applied once to the authoritative document, then
 * encoded once per codec its readers speak, and the same immutable frame is
 * queued (one reference each) for every reader. Each peer has a byte budget
 * for frames the transport has not written yet; a peer past it either stops
 * receiving changes and gets one FullSync of everything once it has drained
 * (PW_OVERFLOW_RESYNC), or is closed (PW_OVERFLOW_DISCONNECT). */
#include "patchwire/hub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "patchwire/buf.h"
#include "patchwire/msg.h"

#include "changelog.h"
#include "internal.h"
#include "durable.h"
#include "peek.h"
#include "strtab.h"

/* Distinct codecs one change can be encoded for. */
#define FRAME_SET_MAX 8

/* One message, encoded on demand once per codec. */
typedef struct frame_set {
    size_t n;
    const pw_codec *codec[FRAME_SET_MAX];
    pw_frame *frame[FRAME_SET_MAX];
} frame_set;

typedef struct hub_key {
    char *name;
    size_t len;
    pw_value doc;
    uint64_t version;
    frame_set fullsync; /* the FullSync of (doc, version), cleared on change */
    size_t index;       /* in hub->keys, and in each peer's pkeys */
    size_t size;        /* JSON bytes of doc when measured (0: not yet) */
    size_t grown;       /* bytes of the changes that may grow it, accepted since */
    size_t churn;       /* bytes of every change accepted since */
    pw__changelog log;
} hub_key;

/* What the hub knows of one peer's view of one key. */
typedef struct peer_key {
    bool known;         /* a FullSync of the key was sent to the peer */
    bool unread;        /* receipts: the last FullSync is not known to have arrived */
    uint64_t confirmed; /* changes up to this version are in the peer's edits */
    uint64_t fullsync;  /* version of the last FullSync sent to the peer */
    uint64_t mark;      /* receipts: frames sent to the peer up to that FullSync */
    uint64_t resync_at; /* ms: the last FullSync it asked for was sent then */
    bool resynced;      /* resync_at is set */
    bool resync_due;    /* one more asked for: sent at resync_at + the interval */
} peer_key;

struct pw_peer {
    const pw_transport_ops *ops;
    void *transport, *conn;
    char *identity;
    const pw_codec *codec; /* NULL until the first message: JSON meanwhile */
    size_t queued;         /* bytes sent and not reported written */
    size_t index;          /* in hub->peers */
    uint64_t id;           /* > 0, never reused: the origin of its changes */
    uint64_t frames;       /* frames sent to it so far (the marks of receipts) */
    size_t unread;         /* keys whose last FullSync awaits a receipt */
    peer_key *pkeys;       /* by key index, npkeys of them */
    size_t npkeys;
    bool behind;  /* overflowed: changes skipped until it drains */
    bool closed;  /* closed by the hub; leave not yet reported */
    bool ingress; /* edits of devices that read elsewhere (pw_hub_ingress_join) */
    size_t held;  /* frames waiting for a commit (persist.h) */
};

struct pw_hub {
    pw_hub_options opts;
    hub_key **keys;
    size_t nkeys, capkeys;
    pw_peer **peers;
    size_t npeers, cappeers;
    pw_buf scratch;
    uint64_t next_peer_id;
    size_t resyncs_due; /* peer keys with resync_due */
    pw_hub_metrics m;
    pw__durable *dur; /* NULL: nothing is stored (persist.h) */
};

/* Durable state (persist.h): the hooks, defined at the end of this file. */
static void durable_touch(pw_hub *hub, struct hub_key *k, bool created);
static void durable_change(pw_hub *hub, pw_peer *peer, struct hub_key *k, uint64_t origin,
                           const pw_patches *patches, const pw_value *id);
static void durable_close(pw_hub *hub);

void pw_hub_options_init(pw_hub_options *opts)
{
    memset(opts, 0, sizeof *opts);
    pw_limits_init(&opts->limits);
    opts->max_patches_per_msg = 10000;
    opts->max_keys = 1024;
    opts->max_queue_bytes = (size_t)8 << 20;
    opts->overflow = PW_OVERFLOW_RESYNC;
    opts->max_changelog = 1024;
    opts->max_readonly_bytes = 65536;
    opts->resync_interval_ms = 1000;
    opts->max_state_bytes = (size_t)64 << 20;
}

pw_hub *pw_hub_new(const pw_hub_options *opts)
{
    pw_hub *hub = calloc(1, sizeof *hub);
    if (!hub)
        return NULL;
    if (opts)
        hub->opts = *opts;
    else
        pw_hub_options_init(&hub->opts);
    pw_buf_init(&hub->scratch);
    return hub;
}

/* ---- frames ---- */

static const pw_codec *peer_codec(const pw_peer *peer)
{
    return peer->codec ? peer->codec : &pw_codec_json;
}

static pw_hub_codec_metrics *codec_metrics(pw_hub *hub, const pw_codec *c)
{
    if (c == &pw_codec_json)
        return &hub->m.json;
    if (c == &pw_codec_msgpack)
        return &hub->m.msgpack;
    return NULL;
}

/* What a frame holds, for transports that route by key (pw_frame). */
typedef struct route {
    pw_frame_kind kind;
    const char *key;
    size_t key_len;
    uint64_t seq;
} route;

/* A new frame holding v encoded with c (one reference), or NULL. Only JSON
 * is text; every other codec travels in binary frames. */
static pw_frame *encode_frame(pw_hub *hub, const pw_codec *c, const pw_value *v, route r)
{
    pw_buf_reset(&hub->scratch);
    if (c->encode(v, &hub->scratch, NULL))
        return NULL;
    pw_hub_codec_metrics *cm = codec_metrics(hub, c);
    if (cm)
        cm->encodes++;
    return pw_frame_new_routed(hub->scratch.data, hub->scratch.len, c != &pw_codec_json, r.kind,
                               r.key, r.key_len, r.seq);
}

/* The frame of v for codec c, encoded on first use (borrowed from the set). */
static pw_frame *frame_set_get(pw_hub *hub, frame_set *set, const pw_codec *c, const pw_value *v,
                               route r)
{
    for (size_t i = 0; i < set->n; i++)
        if (set->codec[i] == c)
            return set->frame[i];
    if (!v || set->n == FRAME_SET_MAX)
        return NULL;
    pw_frame *f = encode_frame(hub, c, v, r);
    if (f) {
        set->codec[set->n] = c;
        set->frame[set->n++] = f;
    }
    return f;
}

static void frame_set_clear(frame_set *set)
{
    for (size_t i = 0; i < set->n; i++)
        pw_frame_release(set->frame[i]);
    set->n = 0;
}

/* ---- keys ---- */

static hub_key *find_key(const pw_hub *hub, const char *name, size_t len)
{
    for (size_t i = 0; i < hub->nkeys; i++) {
        hub_key *k = hub->keys[i];
        if (k->len == len && memcmp(k->name, name, len) == 0)
            return k;
    }
    return NULL;
}

/* A new key at version 1 holding doc (taken, on failure too). */
static hub_key *add_key(pw_hub *hub, const char *name, size_t len, pw_value doc)
{
    if (!pw__grow((void **)&hub->keys, NULL, &hub->capkeys, hub->nkeys + 1, sizeof *hub->keys))
        goto fail;
    hub_key *k = calloc(1, sizeof *k);
    char *copy = malloc(len + 1);
    if (!k || !copy) {
        free(k);
        free(copy);
        goto fail;
    }
    memcpy(copy, name, len);
    copy[len] = '\0';
    k->name = copy;
    k->len = len;
    k->doc = doc;
    k->version = 1;
    k->index = hub->nkeys;
    pw__changelog_init(&k->log, hub->opts.max_changelog, k->version);
    hub->keys[hub->nkeys++] = k;
    return k;
fail:
    pw_value_release(&doc);
    return NULL;
}

/* Records the change that made k->version; paths taken. */
static void log_change(hub_key *k, uint64_t origin, pw_value paths)
{
    pw__changelog_add(&k->log, k->version, origin, paths);
}

static void replace_doc(hub_key *k, pw_value doc, uint64_t origin)
{
    pw_value_release(&k->doc);
    k->doc = doc;
    k->version++;
    k->size = k->grown = k->churn = 0;
    frame_set_clear(&k->fullsync);
    pw_value root = pw_null();
    pw__touched_root(&root); /* a null (out of memory) forgets the log */
    log_change(k, origin, root);
}

static void free_key(hub_key *k)
{
    pw__changelog_free(&k->log);
    frame_set_clear(&k->fullsync);
    pw_value_release(&k->doc);
    free(k->name);
    free(k);
}

static bool may(const pw_hub *hub, const pw_peer *peer, const char *key, size_t len, pw_access what)
{
    return !hub->opts.access ||
           hub->opts.access(peer->identity, key, len, what, hub->opts.access_userdata);
}

static route route_of(const hub_key *k, pw_frame_kind kind)
{
    return (route){kind, k->name, k->len, k->version};
}

/* The wire tree of a message of k at its version: a FullSync (data: the
 * document), an ack, or a change (data: patches); id echoed when not null. */
static pw_err key_msg_value(const hub_key *k, pw_msg_type type, const pw_patches *patches,
                            const pw_value *id, pw_value *out)
{
    pw_msg m;
    pw_msg_init(&m);
    pw_err rc = pw_string_new(&m.key, k->name, k->len);
    if (rc)
        return rc;
    m.type = type;
    m.has_seq = true;
    m.seq = k->version;
    if (id)
        m.id = pw_value_retain(*id);
    if (type == PW_MSG_FULLSYNC)
        m.data = pw_value_retain(k->doc);
    if (patches)
        m.patches = *patches; /* borrowed: not cleared below */
    rc = pw_msg_to_value(&m, out);
    if (patches)
        pw_patches_init(&m.patches, PW_DIALECT_IMMER);
    pw_msg_clear(&m);
    return rc;
}

static pw_err fullsync_value(const hub_key *k, const pw_value *id, pw_value *out)
{
    return key_msg_value(k, PW_MSG_FULLSYNC, NULL, id, out);
}

static pw_frame *fullsync_frame(pw_hub *hub, hub_key *k, const pw_codec *c)
{
    for (size_t i = 0; i < k->fullsync.n; i++)
        if (k->fullsync.codec[i] == c)
            return k->fullsync.frame[i];
    pw_value v;
    if (fullsync_value(k, NULL, &v))
        return NULL;
    pw_frame *f = frame_set_get(hub, &k->fullsync, c, &v, route_of(k, PW_FRAME_FULLSYNC));
    pw_value_release(&v);
    if (f && c == &pw_codec_json) /* the state's size, measured for free */
        k->size = f->len, k->grown = k->churn = 0;
    return f;
}

/* ---- sending to one peer ---- */

static void peer_close(pw_peer *peer, const char *reason)
{
    if (peer->closed)
        return;
    peer->closed = true;
    peer->ops->close(peer->transport, peer->conn, reason);
}

static int send_or_hold(pw_hub *hub, pw_peer *peer, pw_frame *frame);

/* Queues frame for peer. A forced send (a FullSync burst at join or after a
 * drain) ignores the byte budget: it is bounded by the state itself. A NULL
 * frame (out of memory) closes the peer rather than let it miss a change. */
static bool deliver(pw_hub *hub, pw_peer *peer, pw_frame *frame, bool force)
{
    if (peer->closed || (peer->behind && !force))
        return false;
    if (!frame) {
        peer_close(peer, "out of memory");
        return false;
    }
    size_t max = hub->opts.max_queue_bytes;
    size_t cost = pw_frame_cost(frame);
    if (!force && peer->queued > 0 && (peer->queued >= max || cost > max - peer->queued)) {
        hub->m.overflows++;
        if (hub->opts.overflow == PW_OVERFLOW_DISCONNECT)
            peer_close(peer, "send queue overflow");
        else
            peer->behind = true;
        return false;
    }
    if (send_or_hold(hub, peer, pw_frame_retain(frame))) {
        peer_close(peer, "send failed");
        return false;
    }
    peer->queued += cost;
    peer->frames++;
    pw_hub_codec_metrics *cm = codec_metrics(hub, peer_codec(peer));
    if (cm) {
        cm->msgs_out++;
        cm->bytes_out += frame->len;
    }
    return true;
}

/* The peer's view of k; NULL when out of memory. */
static peer_key *pkey(pw_peer *peer, const hub_key *k)
{
    if (k->index >= peer->npkeys) {
        size_t n = k->index + 1 > 2 * peer->npkeys ? k->index + 1 : 2 * peer->npkeys;
        peer_key *pk = realloc(peer->pkeys, n * sizeof *pk);
        if (!pk)
            return NULL;
        memset(pk + peer->npkeys, 0, (n - peer->npkeys) * sizeof *pk);
        peer->pkeys = pk;
        peer->npkeys = n;
    }
    return &peer->pkeys[k->index];
}

/* Notes that the peer was sent a FullSync of k at its current version. */
static void sent_fullsync(pw_peer *peer, const hub_key *k)
{
    peer_key *pk = pkey(peer, k);
    if (!pk) {
        peer_close(peer, "out of memory");
        return;
    }
    if (!pk->known)
        pk->confirmed = k->version;
    pk->known = true;
    pk->fullsync = k->version;
    if (peer->ops->receipts) {
        /* Read only once the transport says it arrived: a plain peer may
         * send what it built before (Visly flushes its queue on open). */
        peer->unread += !pk->unread;
        pk->unread = true;
        pk->mark = peer->frames;
    }
}

static void send_fullsync(pw_hub *hub, pw_peer *peer, hub_key *k, bool force)
{
    if (deliver(hub, peer, fullsync_frame(hub, k, peer_codec(peer)), force))
        sent_fullsync(peer, k);
}

/* A FullSync of every key the peer may read; returns how many were sent. */
static uint64_t send_all_fullsyncs(pw_hub *hub, pw_peer *peer)
{
    uint64_t sent = 0;
    for (size_t i = 0; i < hub->nkeys && !peer->closed && !peer->ingress; i++) {
        hub_key *k = hub->keys[i];
        if (!may(hub, peer, k->name, k->len, PW_ACCESS_READ))
            continue;
        send_fullsync(hub, peer, k, true);
        sent++;
    }
    return sent;
}

/* ---- FullSyncs a peer asks for, at most one per key per interval ---- */

static uint64_t now_ms(const pw_hub *hub)
{
    if (hub->opts.clock)
        return hub->opts.clock(hub->opts.clock_userdata);
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static void resync_sent(pw_peer *peer, const hub_key *k, uint64_t now)
{
    peer_key *pk = pkey(peer, k);
    if (pk) {
        pk->resynced = true;
        pk->resync_at = now;
    }
}

/* A FullSync of k the peer asked for: now, or at the end of the interval
 * since the last one (once, however often it asks meanwhile). */
static void resync_key(pw_hub *hub, pw_peer *peer, hub_key *k)
{
    uint64_t now = now_ms(hub), every = hub->opts.resync_interval_ms;
    peer_key *pk = peer->ingress || !every ? NULL : pkey(peer, k);
    if (pk && pk->resynced && now - pk->resync_at < every) {
        hub->m.resyncs_held++;
        if (!pk->resync_due) {
            pk->resync_due = true;
            hub->resyncs_due++;
        }
        return;
    }
    send_fullsync(hub, peer, k, false);
    hub->m.resyncs++;
    if (pk)
        resync_sent(peer, k, now);
}

static void resync_cancel(pw_hub *hub, peer_key *pk)
{
    if (pk->resync_due) {
        pk->resync_due = false;
        hub->resyncs_due--;
    }
}

/* Sends the held FullSyncs that are due; returns the ms until the next one
 * (or -1). A peer that is behind gets every key when it drains anyway. */
static int send_due_resyncs(pw_hub *hub, uint64_t now)
{
    uint64_t every = hub->opts.resync_interval_ms, next = UINT64_MAX;
    for (size_t i = 0; i < hub->npeers && hub->resyncs_due; i++) {
        pw_peer *peer = hub->peers[i];
        for (size_t j = 0; j < peer->npkeys && j < hub->nkeys; j++) {
            peer_key *pk = &peer->pkeys[j];
            if (!pk->resync_due)
                continue;
            uint64_t at = pk->resync_at + every;
            if (now < at && !peer->closed && !peer->behind) {
                next = at - now < next ? at - now : next;
                continue;
            }
            resync_cancel(hub, pk);
            hub_key *k = hub->keys[j];
            if (peer->closed || peer->behind || !may(hub, peer, k->name, k->len, PW_ACCESS_READ))
                continue;
            send_fullsync(hub, peer, k, false);
            hub->m.resyncs++;
            resync_sent(peer, k, now);
        }
    }
    return next == UINT64_MAX ? -1 : next > INT32_MAX ? INT32_MAX : (int)next;
}

int pw_hub_service(pw_hub *hub)
{
    uint64_t now = now_ms(hub);
    return hub->resyncs_due ? send_due_resyncs(hub, now) : -1;
}

/* Sends msg (the wire tree of a change of k) to every peer but `from` that
 * may read k, encoding it once per codec; set holds the encodings. */
static void fan_out(pw_hub *hub, const pw_peer *from, const hub_key *k, frame_set *set,
                    const pw_value *msg, bool fullsync)
{
    route r = route_of(k, fullsync ? PW_FRAME_FULLSYNC : PW_FRAME_PATCHES);
    for (size_t i = 0; i < hub->npeers; i++) {
        pw_peer *peer = hub->peers[i];
        if (peer == from || peer->closed || peer->behind || peer->ingress ||
            !may(hub, peer, k->name, k->len, PW_ACCESS_READ))
            continue;
        if (deliver(hub, peer, frame_set_get(hub, set, peer_codec(peer), msg, r), false) &&
            fullsync)
            sent_fullsync(peer, k);
    }
}

/* A new FullSync of k for its readers; id: the sender's, echoed (or NULL). */
static void fan_out_fullsync(pw_hub *hub, const pw_peer *from, hub_key *k, const pw_value *id)
{
    pw_value v;
    pw_err rc = fullsync_value(k, id, &v);
    if (id && pw_value_kind(id) != PW_NULL) { /* not the cached FullSync: it names the sender */
        frame_set set = {0};
        fan_out(hub, from, k, &set, rc ? NULL : &v, true);
        frame_set_clear(&set);
    } else {
        fan_out(hub, from, k, &k->fullsync, rc ? NULL : &v, true);
    }
    pw_value_release(&v);
}

static void fan_out_patches(pw_hub *hub, const pw_peer *from, const hub_key *k,
                            const pw_patches *applied, const pw_value *id)
{
    pw_value v = pw_null();
    pw_err rc = key_msg_value(k, PW_MSG_PATCHES, applied, id, &v);
    frame_set set = {0};
    fan_out(hub, from, k, &set, rc ? NULL : &v, false);
    frame_set_clear(&set);
    pw_value_release(&v);
}

/* ---- the application's side ---- */

pw_err pw_hub_set_state(pw_hub *hub, const char *key, size_t key_len, pw_value doc)
{
    if (!key || key_len == 0) {
        pw_value_release(&doc);
        return PW_EINVAL;
    }
    hub_key *k = find_key(hub, key, key_len);
    if (k)
        durable_touch(hub, k, false);
    if (k)
        replace_doc(k, doc, 0);
    else if (!(k = add_key(hub, key, key_len, doc)))
        return PW_ENOMEM;
    else
        durable_touch(hub, k, true);
    durable_change(hub, NULL, k, 0, NULL, NULL);
    fan_out_fullsync(hub, NULL, k, NULL);
    return PW_OK;
}

static pw_frame *committed_fullsync_frame(pw_hub *hub, hub_key *k, const pw_codec *c);

pw_frame *pw_hub_fullsync_frame(pw_hub *hub, const char *key, size_t key_len, const pw_codec *codec)
{
    hub_key *k = find_key(hub, key, key_len);
    if (!k)
        return NULL;
    const pw_codec *c = codec ? codec : &pw_codec_json;
    /* with durable sync, what is published is what is stored */
    if (hub->dur && pw__durable_holding(hub->dur))
        return committed_fullsync_frame(hub, k, c);
    return pw_frame_retain(fullsync_frame(hub, k, c));
}

const pw_value *pw_hub_state(const pw_hub *hub, const char *key, size_t key_len, uint64_t *version)
{
    hub_key *k = find_key(hub, key, key_len);
    if (version)
        *version = k ? k->version : 0;
    return k ? &k->doc : NULL;
}

const pw_limits *pw_hub_limits(const pw_hub *hub)
{
    return &hub->opts.limits;
}

uint64_t pw_hub_peer_frames(const pw_peer *peer)
{
    return peer->frames - peer->held; /* held ones are not the transport's yet */
}

bool pw_hub_peer_awaits_receipt(const pw_peer *peer)
{
    return peer->unread > 0 && !peer->closed;
}

void pw_hub_peer_received(pw_hub *hub, pw_peer *peer, uint64_t mark)
{
    (void)hub;
    for (size_t i = 0; i < peer->npkeys && peer->unread; i++) {
        peer_key *pk = &peer->pkeys[i];
        if (pk->unread && pk->mark <= mark) {
            /* it holds that FullSync now: every change up to it is in its copy */
            pk->unread = false;
            peer->unread--;
            if (pk->fullsync > pk->confirmed)
                pk->confirmed = pk->fullsync;
        }
    }
}

void pw_hub_metrics_get(const pw_hub *hub, pw_hub_metrics *out)
{
    *out = hub->m;
    out->peers = hub->npeers;
    out->keys = hub->nkeys;
}

void pw_hub_free(pw_hub *hub)
{
    if (!hub)
        return;
    for (size_t i = 0; i < hub->npeers; i++) {
        peer_close(hub->peers[i], "hub closing");
        free(hub->peers[i]->pkeys);
        free(hub->peers[i]->identity);
        free(hub->peers[i]);
    }
    durable_close(hub);
    for (size_t i = 0; i < hub->nkeys; i++)
        free_key(hub->keys[i]);
    free(hub->peers);
    free(hub->keys);
    pw_buf_free(&hub->scratch);
    free(hub);
}

/* ---- peer events ---- */

static pw_peer *join(pw_hub *hub, const pw_transport_ops *ops, void *transport, void *conn,
                     const char *identity, const pw_codec *codec, bool ingress)
{
    if (!pw__grow((void **)&hub->peers, NULL, &hub->cappeers, hub->npeers + 1, sizeof *hub->peers))
        return NULL;
    if (!identity)
        identity = "";
    size_t idlen = strlen(identity);
    pw_peer *peer = calloc(1, sizeof *peer);
    char *id = malloc(idlen + 1);
    if (!peer || !id) {
        free(peer);
        free(id);
        return NULL;
    }
    memcpy(id, identity, idlen + 1);
    peer->ops = ops;
    peer->transport = transport;
    peer->conn = conn;
    peer->identity = id;
    peer->codec = codec;
    peer->id = ++hub->next_peer_id;
    peer->index = hub->npeers;
    peer->ingress = ingress;
    hub->peers[hub->npeers++] = peer;
    send_all_fullsyncs(hub, peer);
    return peer;
}

pw_peer *pw_hub_peer_join(pw_hub *hub, const pw_transport_ops *ops, void *transport, void *conn,
                          const char *identity, const pw_codec *codec)
{
    return join(hub, ops, transport, conn, identity, codec, false);
}

pw_peer *pw_hub_ingress_join(pw_hub *hub, const pw_transport_ops *ops, void *transport, void *conn,
                             const char *identity)
{
    return join(hub, ops, transport, conn, identity, NULL, true);
}

void pw_hub_peer_leave(pw_hub *hub, pw_peer *peer)
{
    if (hub->dur)
        pw__durable_forget_peer(hub->dur, peer);
    for (size_t j = 0; j < peer->npkeys && hub->resyncs_due; j++)
        resync_cancel(hub, &peer->pkeys[j]);
    size_t i = peer->index;
    hub->peers[i] = hub->peers[--hub->npeers];
    hub->peers[i]->index = i;
    free(peer->pkeys);
    free(peer->identity);
    free(peer);
}

void pw_hub_peer_written(pw_hub *hub, pw_peer *peer, size_t bytes)
{
    peer->queued -= bytes < peer->queued ? bytes : peer->queued;
    if (peer->queued == 0 && peer->behind && !peer->closed) {
        peer->behind = false;
        hub->m.resyncs += send_all_fullsyncs(hub, peer);
    }
}

/* {"type":"error","key":K,"seq":V,"id":ID,"data":{"message":TEXT}} (key,
 * seq and id only when known; seq only when a FullSync follows). */
static pw_err error_value(const char *key, size_t klen, const hub_key *k, const pw_value *id,
                          const char *text, pw_value *out)
{
    pw_msg m;
    pw_msg_init(&m);
    m.type = PW_MSG_ERROR;
    pw_err rc = key && klen ? pw_string_new(&m.key, key, klen) : PW_OK;
    if (!rc)
        rc = pw_msg_set_error_text(&m, text);
    if (!rc) {
        m.has_seq = k != NULL;
        m.seq = k ? k->version : 0;
        if (id)
            m.id = pw_value_retain(*id);
        rc = pw_msg_to_value(&m, out);
    }
    pw_msg_clear(&m);
    return rc;
}

/* Answers a refused message: an error, then a FullSync of the key when it
 * exists and the peer may read it (an ingress gets the error only: its
 * devices follow the key elsewhere). id: the refused message's, or NULL.
 * Returns the code of err. */
static pw_err reject(pw_hub *hub, pw_peer *peer, const char *key, size_t klen, const pw_value *id,
                     pw_error *err)
{
    hub->m.rejects++;
    hub_key *k = key ? find_key(hub, key, klen) : NULL;
    const char *text = err->msg;
    if (k && !may(hub, peer, key, klen, PW_ACCESS_READ)) {
        k = NULL;
        text = "change refused"; /* the reason would describe a document it may not read */
    }
    if (peer->ingress)
        k = NULL;
    pw_value v;
    if (!error_value(key, klen, k, id, text, &v)) {
        route r = {PW_FRAME_ERROR, key && klen ? key : NULL, key ? klen : 0, k ? k->version : 0};
        pw_frame *f = encode_frame(hub, peer_codec(peer), &v, r);
        pw_value_release(&v);
        deliver(hub, peer, f, false);
        pw_frame_release(f);
    }
    if (k && !peer->closed && !peer->behind)
        resync_key(hub, peer, k);
    return err->code;
}

/* {"type":"ack","key":K,"seq":V,"id":ID}: the sender's change was accepted
 * as V. */
static void send_ack(pw_hub *hub, pw_peer *peer, const hub_key *k, const pw_value *id)
{
    pw_value v = pw_null();
    bool ok = !key_msg_value(k, PW_MSG_ACK, NULL, id, &v);
    pw_frame *f = ok ? encode_frame(hub, peer_codec(peer), &v, route_of(k, PW_FRAME_ACK)) : NULL;
    pw_value_release(&v);
    deliver(hub, peer, f, false); /* NULL closes the peer rather than leave it waiting */
    pw_frame_release(f);
}

/* Who made a change, for the change log: the peer, or for an ingress (many
 * devices behind one peer) the device, told apart by the part of the id
 * before its last ':' (a stream replica's origin, SPEC "MQTT"). A change
 * without such an id is nobody else's: it gets an origin of its own. */
static uint64_t origin_of(pw_hub *hub, const pw_peer *peer, const pw_value *id)
{
    if (!peer->ingress)
        return peer->id;
    size_t n = 0;
    const char *s = pw_value_str(id, &n);
    const char *colon = NULL;
    for (size_t i = 0; s && i < n; i++)
        if (s[i] == ':')
            colon = s + i;
    if (!colon)
        return ++hub->next_peer_id;
    /* keyed: a device cannot pick an id whose origin passes for another's */
    return pw__str_hash(s, (size_t)(colon - s)) | (1ull << 63); /* apart from peer ids */
}

/* ---- the size of a key's state ---- */

/* Measures k's state exactly: its JSON FullSync, encoded (and kept for
 * the joiners of this version) if it is not yet. A state the application
 * set is measured once a sixteenth of the bound has changed (the bound may
 * be passed by that much), so a hub without JSON readers encodes no JSON
 * for it meanwhile. */
static size_t state_measure(pw_hub *hub, hub_key *k)
{
    pw_frame *f = fullsync_frame(hub, k, &pw_codec_json);
    return f ? f->len : SIZE_MAX;
}

static bool has_op(const pw_patches *p, pw_op op)
{
    for (size_t i = 0; i < p->len; i++)
        if (p->items[i].op == op)
            return true;
    return false;
}

static bool grows(const pw_patches *p)
{
    for (size_t i = 0; i < p->len; i++)
        if (p->items[i].op != PW_OP_REMOVE && p->items[i].op != PW_OP_TEST)
            return true;
    return false;
}

/* Whether a change of n bytes (the message) fits k's state bound. A copy
 * (RFC 6902) adds what it copies, not what was sent: its result is
 * measured on a snapshot. Only removals: the state does not grow. */
static pw_err state_room(pw_hub *hub, hub_key *k, const pw_patches *patches, size_t n,
                         pw_error *err)
{
    size_t max = hub->opts.max_state_bytes;
    size_t size = 0;
    bool fits = true;
    if (has_op(patches, PW_OP_COPY)) {
        pw_value snap = pw_value_retain(k->doc);
        if (!pw_patches_apply(&snap, patches, NULL, NULL)) {
            pw_buf_reset(&hub->scratch);
            fits = !pw_codec_json.encode(&snap, &hub->scratch, NULL) && hub->scratch.len <= max;
            size = hub->scratch.len;
        }
        pw_value_release(&snap);
    } else {
        if (!grows(patches))
            return PW_OK;
        /* measuring costs the state's size: done again only after changes
         * of a sixteenth of the bound, so it costs 16 times the bytes
         * received at most */
        if (k->churn >= max / 16 && (k->size == 0 || k->size + k->grown > max - n))
            state_measure(hub, k);
        size = k->size + k->grown;
        fits = n <= max && size <= max - n;
        size += n;
    }
    if (fits)
        return PW_OK;
    hub->m.state_refusals++;
    return pw_error_set(err, PW_ELIMIT, "patches for \"%.*s\": the state would pass %zu bytes",
                        (int)k->len, k->name, max);
}

/* A change of n bytes was accepted: it grew the state by n bytes at most. */
static void state_changed(hub_key *k, const pw_patches *patches, size_t n)
{
    if (grows(patches))
        k->grown += n;
    k->churn += n;
}

/* A peer's patches; has_base: it said the version they were built on. */
static pw_err receive_patches(pw_hub *hub, pw_peer *peer, const pw_msg *m, const char *key,
                              size_t klen, size_t n, pw_error *err)
{
    bool has_base = m->has_base;
    uint64_t base = m->base;
    uint64_t origin = origin_of(hub, peer, &m->id);
    if (!may(hub, peer, key, klen, PW_ACCESS_WRITE))
        return pw_error_set(err, PW_EDENIED, "patches for \"%.*s\": write denied", (int)klen, key);
    hub_key *k = find_key(hub, key, klen);
    if (!k)
        return pw_error_set(err, PW_ENOPATH, "patches for unknown key \"%.*s\"", (int)klen, key);
    if (m->patches.len > hub->opts.max_patches_per_msg)
        return pw_error_set(err, PW_ELIMIT, "patches for \"%.*s\": %zu patches, limit %zu",
                            (int)klen, key, m->patches.len, hub->opts.max_patches_per_msg);
    peer_key *pk = pkey(peer, k);
    pw_value touched = pw_null();
    if (!pk || pw__touched(&k->doc, &m->patches, &touched))
        return pw_error_set(err, PW_ENOMEM, "patches for \"%.*s\": out of memory", (int)klen, key);
    if (!pk->known) /* never sent the key: it built the patch on nothing we know */
        pk->confirmed = pk->fullsync = 0;
    uint64_t received = k->version;
    if (has_base && base > received) {
        pw_value_release(&touched);
        return pw_error_set(err, PW_EMSG, "patches for \"%.*s\": base %llu is past version %llu",
                            (int)klen, key, (unsigned long long)base, (unsigned long long)received);
    }
    if (has_base && pw__changelog_overlaps(&k->log, base, received, origin, &touched)) {
        pw_value_release(&touched);
        return pw_error_set(err, PW_ECONFLICT,
                            "patches for \"%.*s\": built on version %llu, a change since then "
                            "touched the same paths",
                            (int)klen, key, (unsigned long long)base);
    }
    pw_err rc = state_room(hub, k, &m->patches, n, err);
    if (!rc) {
        durable_touch(hub, k, false);
        rc = pw_patches_apply(&k->doc, &m->patches, NULL, err);
    }
    if (rc) {
        pw_value_release(&touched);
        return rc;
    }
    state_changed(k, &m->patches, n);
    /* A plain peer says nothing of what it has read: it may have built the
     * list before reading anything sent since its first FullSync. A later
     * FullSync means it may lose this list when it reads it. */
    bool plain = !has_base && !peer->ingress; /* an ingress's devices see every change */
    bool resync =
        plain && (pk->unread || pk->fullsync > pk->confirmed ||
                  pw__changelog_overlaps(&k->log, pk->confirmed, received, peer->id, &touched));
    /* When every change since its confirmed version was its own, the peer
     * has seen them all (it made them): this one extends what it has seen,
     * so a lone writer is never resynced however long it writes. */
    bool saw_all = plain && !resync &&
                   !pw__changelog_overlaps(&k->log, pk->confirmed, received, peer->id, NULL);
    k->version++;
    frame_set_clear(&k->fullsync);
    log_change(k, origin, touched);
    durable_change(hub, peer, k, origin, &m->patches, &m->id);
    if (saw_all)
        pk->confirmed = k->version;
    fan_out_patches(hub, peer, k, &m->patches, &m->id);
    if (has_base || pw_value_kind(&m->id) != PW_NULL)
        send_ack(hub, peer, k, &m->id);
    if (resync && !peer->closed && !peer->behind && may(hub, peer, key, klen, PW_ACCESS_READ)) {
        /* not held: the peer's copy diverged, later changes would not apply */
        send_fullsync(hub, peer, k, false);
        hub->m.resyncs++;
    }
    return PW_OK;
}

static pw_err receive_fullsync(pw_hub *hub, pw_peer *peer, pw_msg *m, const char *key, size_t klen,
                               size_t n, pw_error *err)
{
    if (!may(hub, peer, key, klen, PW_ACCESS_WRITE))
        return pw_error_set(err, PW_EDENIED, "fullsync of \"%.*s\": write denied", (int)klen, key);
    if (n > hub->opts.max_state_bytes) {
        hub->m.state_refusals++;
        return pw_error_set(err, PW_ELIMIT, "fullsync of \"%.*s\": the state would pass %zu bytes",
                            (int)klen, key, hub->opts.max_state_bytes);
    }
    hub_key *k = find_key(hub, key, klen);
    pw_value doc = m->data;
    m->data = pw_null();
    uint64_t origin = origin_of(hub, peer, &m->id);
    if (k) {
        durable_touch(hub, k, false);
        replace_doc(k, doc, origin);
    } else if (hub->nkeys >= hub->opts.max_keys) {
        pw_value_release(&doc);
        return pw_error_set(err, PW_ELIMIT, "fullsync of new key \"%.*s\": %zu keys, limit %zu",
                            (int)klen, key, hub->nkeys, hub->opts.max_keys);
    } else if (!(k = add_key(hub, key, klen, doc))) {
        return pw_error_set(err, PW_ENOMEM, "fullsync of new key \"%.*s\": out of memory",
                            (int)klen, key);
    } else {
        durable_touch(hub, k, true);
    }
    if (!k->size)
        k->size = n; /* its data is most of the message */
    durable_change(hub, peer, k, origin, NULL, &m->id);
    fan_out_fullsync(hub, peer, k, &m->id);
    if (pw_value_kind(&m->id) != PW_NULL)
        send_ack(hub, peer, k, &m->id);
    return PW_OK;
}

/* {"type":"resync","key":K}: a FullSync of K, if it exists and may be read. */
static void receive_resync(pw_hub *hub, pw_peer *peer, const char *key, size_t klen)
{
    hub_key *k = find_key(hub, key, klen);
    if (!k || !may(hub, peer, key, klen, PW_ACCESS_READ))
        return;
    resync_key(hub, peer, k);
}

/* Access before work (with an access hook): a message whose key, read in
 * place, the peer may not write is refused before it is decoded, unless it
 * is no larger than max_readonly_bytes and not a change (a resync of a key
 * it reads); so is a message over that size whose type and key cannot be
 * read in place. True: refused and answered. */
static bool refused_undecoded(pw_hub *hub, pw_peer *peer, const pw_codec *c, const uint8_t *p,
                              size_t n, const char *want_key, size_t want_len, pw_error *err)
{
    pw__peek pk;
    pw__peek_msg(c, p, n, &pk);
    if (pk.key && !pw_utf8_valid(pk.key, pk.key_len)) /* the decoder would refuse it */
        pk.key = NULL;
    if (pk.id && !pw_utf8_valid(pk.id, pk.id_len))
        pk.id = NULL;
    const char *key = want_key ? want_key : pk.key;
    size_t klen = want_key ? want_len : pk.key_len;
    size_t small = hub->opts.max_readonly_bytes;
    bool change = pk.type && ((pk.type_len == 7 && memcmp(pk.type, "patches", 7) == 0) ||
                              (pk.type_len == 8 && memcmp(pk.type, "fullsync", 8) == 0));
    if (!key) {
        if (n <= small)
            return false;
        pw_error_set(err, PW_EMSG,
                     "message of %zu bytes: past %zu bytes, \"type\" and \"key\" must be "
                     "plain strings",
                     n, small);
    } else if (may(hub, peer, key, klen, PW_ACCESS_WRITE)) {
        return false;
    } else if (change) {
        pw_error_set(err, PW_EDENIED, "%.*s for \"%.*s\": write denied", (int)pk.type_len, pk.type,
                     (int)klen, key);
    } else if (n <= small) {
        return false;
    } else {
        pw_error_set(err, PW_EDENIED, "message of %zu bytes for \"%.*s\": write denied, limit %zu",
                     n, (int)klen, key, small);
    }
    hub->m.refused_undecoded++;
    pw_value id = pw_null();
    if (pk.id && pw_string_new(&id, pk.id, pk.id_len))
        id = pw_null();
    else if (pk.has_id_int)
        id = pw_int(pk.id_int);
    reject(hub, peer, key, klen, pw_value_kind(&id) != PW_NULL ? &id : NULL, err);
    pw_value_release(&id);
    return true;
}

/* One message; want_key: the key the channel it came on names (NULL: any). */
static pw_err receive(pw_hub *hub, pw_peer *peer, const char *want_key, size_t want_len,
                      const uint8_t *p, size_t n, pw_error *err)
{
    pw_error local;
    if (!err)
        err = &local;
    pw_error_clear(err);
    if (peer->closed)
        return pw_error_set(err, PW_EIO, "message from a closed peer dropped");
    if (!peer->codec || peer->ingress) /* an ingress carries many devices' codecs */
        peer->codec = pw_codec_detect(p, n);
    const pw_codec *c = peer_codec(peer);
    pw_hub_codec_metrics *cm = codec_metrics(hub, c);
    if (cm) {
        cm->msgs_in++;
        cm->bytes_in += n;
    }
    if (n > hub->opts.limits.max_input_bytes) {
        pw_error_set(err, PW_ELIMIT, "message of %zu bytes, limit %zu", n,
                     hub->opts.limits.max_input_bytes);
        return reject(hub, peer, want_key, want_len, NULL, err);
    }
    if (hub->opts.access && refused_undecoded(hub, peer, c, p, n, want_key, want_len, err))
        return err->code;
    pw_value v;
    if (c->decode(p, n, &hub->opts.limits, &v, err))
        return reject(hub, peer, want_key, want_len, NULL, err);
    pw_msg m;
    pw_err rc = pw_msg_from_value(&v, &m, err);
    /* the key and id of a malformed message still name what to resync */
    const pw_value *kv = rc ? pw_object_get(&v, "key", 3) : &m.key;
    size_t klen = 0;
    const char *key = kv ? pw_value_str(kv, &klen) : NULL;
    const pw_value *id = rc ? pw_object_get(&v, "id", 2) : &m.id;
    if (id && pw_value_kind(id) != PW_STRING && pw_value_kind(id) != PW_INT)
        id = NULL;
    if (!rc && want_key && key && (klen != want_len || memcmp(key, want_key, klen) != 0)) {
        rc = pw_error_set(err, PW_EMSG, "%s message for key \"%.*s\" on the channel of \"%.*s\"",
                          pw_msg_type_name(m.type), (int)klen, key, (int)want_len, want_key);
        key = want_key, klen = want_len;
    }
    if (want_key && !key)
        key = want_key, klen = want_len;
    if (!rc && m.type == PW_MSG_PATCHES)
        rc = receive_patches(hub, peer, &m, key, klen, n, err);
    else if (!rc && m.type == PW_MSG_RESYNC)
        receive_resync(hub, peer, key, klen);
    else if (!rc && m.type == PW_MSG_FULLSYNC)
        rc = receive_fullsync(hub, peer, &m, key, klen, n, err);
    if (rc)
        reject(hub, peer, key, klen, id, err);
    pw_msg_clear(&m);
    pw_value_release(&v);
    return rc;
}

pw_err pw_hub_peer_receive(pw_hub *hub, pw_peer *peer, const uint8_t *p, size_t n, pw_error *err)
{
    return receive(hub, peer, NULL, 0, p, n, err);
}

pw_err pw_hub_peer_receive_keyed(pw_hub *hub, pw_peer *peer, const char *key, size_t key_len,
                                 const uint8_t *p, size_t n, pw_error *err)
{
    return receive(hub, peer, key, key_len, p, n, err);
}

/* The FullSync of k as it was before this turn's uncommitted changes (a new
 * reference; NULL for a key created this turn, or out of memory). */
static pw_frame *committed_fullsync_frame(pw_hub *hub, hub_key *k, const pw_codec *c)
{
    for (size_t i = 0; i < pw__durable_touched(hub->dur); i++) {
        pw_value *doc;
        uint64_t version;
        bool created;
        if (pw__durable_touched_at(hub->dur, i, &doc, &version, &created) != k)
            continue;
        if (created)
            return NULL;
        hub_key old = *k; /* the name, with the stored document and version */
        old.doc = *doc;
        old.version = version;
        pw_value v;
        if (fullsync_value(&old, NULL, &v))
            return NULL;
        pw_frame *f = encode_frame(hub, c, &v, route_of(&old, PW_FRAME_FULLSYNC));
        pw_value_release(&v);
        return f;
    }
    return pw_frame_retain(fullsync_frame(hub, k, c));
}

/* ---- durable state (persist.h) ----
 * With sync always, once a turn has accepted a change every frame the hub
 * sends waits in the durable layer (in order, counted as sent) until
 * pw_hub_flush has committed the turn: so nothing that shows the change, nor
 * anything sent after it, leaves before it is stored. */

static int send_or_hold(pw_hub *hub, pw_peer *peer, pw_frame *frame)
{
    if (!hub->dur || !pw__durable_holding(hub->dur))
        return peer->ops->send(peer->transport, peer->conn, frame);
    if (!pw__durable_hold(hub->dur, peer, frame))
        return -1;
    peer->held++;
    return 0;
}

static void durable_touch(pw_hub *hub, hub_key *k, bool created)
{
    if (hub->dur)
        pw__durable_touch(hub->dur, k, k->index, &k->doc, k->version, created);
}

static void durable_change(pw_hub *hub, pw_peer *peer, hub_key *k, uint64_t origin,
                           const pw_patches *patches, const pw_value *id)
{
    if (hub->dur)
        pw__durable_change(hub->dur, k->index, k->name, k->len, k->version, origin, patches,
                           &k->doc, peer, id);
}

static pw_err load_key(const char *key, size_t key_len, pw_value doc, uint64_t version,
                       void *userdata)
{
    pw_hub *hub = userdata;
    if (find_key(hub, key, key_len)) {
        pw_value_release(&doc);
        return PW_EINVAL;
    }
    hub_key *k = add_key(hub, key, key_len, doc);
    if (!k)
        return PW_ENOMEM;
    k->version = version;
    pw__changelog_free(&k->log);
    pw__changelog_init(&k->log, hub->opts.max_changelog, version);
    return PW_OK;
}

pw_err pw_hub_persist(pw_hub *hub, pw_persist *store, const pw_persist_options *opts, pw_error *err)
{
    if (hub->dur || hub->nkeys)
        return pw_error_set(err, PW_EINVAL, "the hub already has state");
    pw__durable *d = pw__durable_new(store, opts);
    if (!d)
        return pw_error_set(err, PW_ENOMEM, "out of memory");
    int64_t t0 = pw__durable_now_ms();
    pw_err rc = store->ops->load(store, load_key, hub, err);
    if (rc) {
        while (hub->nkeys)
            free_key(hub->keys[--hub->nkeys]);
        pw__durable_free(d);
        return rc;
    }
    uint64_t versions = 0;
    for (size_t i = 0; i < hub->nkeys; i++)
        versions += hub->keys[i]->version;
    pw__durable_log(d, false, "loaded %zu key%s (%llu versions in all) in %lld ms", hub->nkeys,
                    hub->nkeys == 1 ? "" : "s", (unsigned long long)versions,
                    (long long)(pw__durable_now_ms() - t0));
    hub->dur = d;
    return PW_OK;
}

/* Undoes the turn's changes of k: its document and version before it, or
 * no key at all (a key created this turn: the last one). */
static void restore_key(pw_hub *hub, hub_key *k, pw_value *doc, uint64_t version, bool created)
{
    for (size_t i = 0; i < hub->npeers; i++) {
        pw_peer *peer = hub->peers[i];
        if (k->index >= peer->npkeys)
            continue;
        peer_key *pk = &peer->pkeys[k->index];
        if (created) {
            peer->unread -= pk->unread;
            memset(pk, 0, sizeof *pk);
        } else {
            pk->confirmed = pk->confirmed < version ? pk->confirmed : version;
            pk->fullsync = pk->fullsync < version ? pk->fullsync : version;
        }
    }
    if (created) {
        pw__durable_forget_key(hub->dur, k->index);
        hub->nkeys--;
        free_key(k);
        return;
    }
    pw_value_release(&k->doc);
    k->doc = *doc;
    *doc = pw_null();
    k->version = version;
    frame_set_clear(&k->fullsync);
    pw__changelog_free(&k->log);
    pw__changelog_init(&k->log, hub->opts.max_changelog, version);
}

typedef struct refusal {
    pw_peer *peer;
    char *key;
    size_t key_len;
    pw_value id;
} refusal;

static bool add_peer_once(pw_peer ***list, size_t *n, pw_peer *peer)
{
    for (size_t i = 0; i < *n; i++)
        if ((*list)[i] == peer)
            return true;
    pw_peer **l = realloc(*list, (*n + 1) * sizeof **list);
    if (!l)
        return false;
    l[(*n)++] = peer;
    *list = l;
    return true;
}

/* The commit failed (sync always): the turn's changes are undone, what
 * waited for them is dropped, their senders get an error, and every peer
 * that lost frames gets FullSyncs of what it may read. */
static void refuse_turn(pw_hub *hub, const char *why)
{
    pw__durable *d = hub->dur;
    for (size_t i = pw__durable_touched(d); i-- > 0;) {
        pw_value *doc;
        uint64_t version;
        bool created;
        hub_key *k = pw__durable_touched_at(d, i, &doc, &version, &created);
        restore_key(hub, k, doc, version, created);
    }
    pw_peer **resync = NULL;
    size_t nresync = 0;
    bool oom = false;
    for (size_t i = 0; i < pw__durable_held(d); i++) {
        void *p;
        pw_frame *f = pw__durable_held_at(d, i, &p);
        pw_peer *peer = p;
        if (!peer)
            continue;
        peer->held--;
        size_t cost = pw_frame_cost(f);
        peer->queued -= cost < peer->queued ? cost : peer->queued;
        oom |= !add_peer_once(&resync, &nresync, peer);
    }
    size_t n = pw__durable_changes(d);
    refusal *r = calloc(n ? n : 1, sizeof *r);
    for (size_t i = 0; r && i < n; i++) {
        const char *key;
        const pw_value *id;
        r[i].peer = pw__durable_change_at(d, i, &key, &r[i].key_len, &id);
        r[i].key = malloc(r[i].key_len + 1);
        if (r[i].key)
            memcpy(r[i].key, key, r[i].key_len);
        r[i].id = pw_value_retain(*id);
        hub->m.rejects++;
        if (r[i].peer)
            oom |= !add_peer_once(&resync, &nresync, r[i].peer);
    }
    pw__durable_end_turn(d, true); /* from here on, sends go out */
    for (size_t i = 0; r && i < n; i++) {
        pw_peer *peer = r[i].peer;
        hub_key *k = r[i].key ? find_key(hub, r[i].key, r[i].key_len) : NULL;
        pw_value v;
        if (peer && !peer->closed && r[i].key &&
            !error_value(r[i].key, r[i].key_len, peer->ingress ? NULL : k, &r[i].id, why, &v)) {
            route rt = {PW_FRAME_ERROR, r[i].key, r[i].key_len, k ? k->version : 0};
            pw_frame *f = encode_frame(hub, peer_codec(peer), &v, rt);
            pw_value_release(&v);
            deliver(hub, peer, f, true);
            pw_frame_release(f);
        }
        free(r[i].key);
        pw_value_release(&r[i].id);
    }
    free(r);
    for (size_t i = 0; i < nresync; i++)
        hub->m.resyncs += send_all_fullsyncs(hub, resync[i]);
    free(resync);
    if (oom || !r) /* some peer may have missed its FullSync: it must not stay behind silently */
        for (size_t i = 0; i < hub->npeers; i++)
            hub->m.resyncs += send_all_fullsyncs(hub, hub->peers[i]);
}

static void durable_snapshots(pw_hub *hub)
{
    pw__durable *d = hub->dur;
    for (size_t i = 0; pw__durable_next_snapshot(d, &i); i++) {
        if (i >= hub->nkeys) {
            pw__durable_forget_key(d, i);
            continue;
        }
        hub_key *k = hub->keys[i];
        pw_error err;
        int64_t t0 = pw__durable_now_ms();
        if (pw__durable_snapshot(d, i, k->name, k->len, &k->doc, k->version, &err))
            pw__durable_log(d, true, "snapshot of \"%.*s\" failed: %s", (int)k->len, k->name,
                            err.msg);
        int64_t ms = pw__durable_now_ms() - t0;
        if (ms >= 20)
            pw__durable_log(d, false, "snapshot of \"%.*s\" at version %llu took %lld ms",
                            (int)k->len, k->name, (unsigned long long)k->version, (long long)ms);
    }
}

pw_err pw_hub_flush(pw_hub *hub)
{
    pw__durable *d = hub->dur;
    if (!d || !pw__durable_due(d, pw__durable_now_ms()))
        return PW_OK;
    bool held = pw__durable_holding(d);
    size_t n = pw__durable_changes(d);
    pw_error err;
    pw_error_clear(&err);
    pw_err rc = pw__durable_commit(d, &err);
    if (rc) {
        char why[300];
        snprintf(why, sizeof why, "change not stored: %s", err.msg);
        pw__durable_log(d, true, "commit of %zu change%s failed, %s: %s", n, n == 1 ? "" : "s",
                        held ? "refused to their senders" : "kept in memory until a snapshot",
                        err.msg);
        if (held)
            refuse_turn(hub, why);
        else
            pw__durable_end_turn(d, true);
        return PW_EIO;
    }
    for (size_t i = 0; i < pw__durable_held(d); i++) {
        void *p;
        pw_frame *f = pw__durable_held_at(d, i, &p);
        pw_peer *peer = p;
        if (!peer)
            continue;
        peer->held--;
        if (!peer->closed && peer->ops->send(peer->transport, peer->conn, pw_frame_retain(f)))
            peer_close(peer, "send failed");
    }
    pw__durable_end_turn(d, false);
    durable_snapshots(hub);
    return PW_OK;
}

int pw_hub_flush_ms(const pw_hub *hub)
{
    return hub->dur ? pw__durable_next_ms(hub->dur, pw__durable_now_ms()) : -1;
}

/* Closing: what was accepted and not yet written is written (nobody waits
 * for it any more: the peers are gone). */
static void durable_close(pw_hub *hub)
{
    pw__durable *d = hub->dur;
    if (!d)
        return;
    pw_error err;
    if (pw__durable_changes(d) && pw__durable_commit(d, &err))
        pw__durable_log(d, true, "last commit failed: %s", err.msg);
    pw__durable_free(d);
    hub->dur = NULL;
}
