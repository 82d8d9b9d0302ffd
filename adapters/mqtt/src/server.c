/* server.c - the hub's side of MQTT: one broker connection, two hub peers.
 *
 * The one idea: the broker is a reader and an ingress of the hub. The reader
 * (joined while the broker is connected, so every (re)connect republishes
 * every state) gets the FullSyncs and every accepted change, and each frame
 * goes to the topic its key and kind name; the bytes are reported written
 * only when paho completes the publish, so the hub's queue budget bounds
 * what waits for the broker. The ingress gets what devices publish on
 * `edit`; its errors go to `error`, its FullSyncs (answers to resync)
 * become a republished retained state. Otherwise a changed key's retained
 * state is republished at once if the last was an interval ago, else when
 * the interval is over: at most once per interval, and never more than an
 * interval behind. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "link.h"
#include "patchwire/mqtt.h"

enum { READER, INGRESS, STATE }; /* what a publish was for: its tag's low bits */
#define TAG(what, gen) (((uint64_t)(gen) << 2) | (what))
#define STATE_BUDGET ((size_t)16 << 20) /* republished states waiting for the broker */
#define RESYNC_SPACING_MS 100           /* one republication per key per this, at most */

typedef struct skey {
    char *name;
    size_t len;
    uint64_t published; /* version of the last retained state published */
    bool dirty;         /* changed since */
    int64_t state_at;   /* when the last one was published */
    int64_t state_due;  /* dirty: when the next may be */
    bool resync;        /* a device asked: republish now */
    bool unusable;      /* cannot be a topic level: logged once */
    int64_t resync_after;
} skey;

struct pw_mqtt_server {
    pw_hub *hub;
    pw_mqtt_server_options o;
    char *identity;
    mqlink *link;
    int reader_conn, ingress_conn; /* their addresses are the hub's conn handles */
    pw_peer *reader, *ingress;
    bool reader_closed, ingress_closed;
    uint64_t gen; /* of the reader: completions of an earlier one are ignored */
    size_t reader_unsent, ingress_unsent; /* bytes dropped, to report written */
    size_t state_inflight;
    skey *keys;
    size_t nkeys, capkeys;
    pw_mqtt_server_stats st;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void pw_mqtt_server_options_init(pw_mqtt_server_options *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->link.qos = 1;
    opts->codec = &pw_codec_json;
    opts->state_interval_ms = 1000;
}

static const pw_mqtt_link_options *lo(const pw_mqtt_server *s)
{
    return mqlink_options(s->link);
}

static skey *key_of(pw_mqtt_server *s, const char *name, size_t len)
{
    for (size_t i = 0; i < s->nkeys; i++)
        if (s->keys[i].len == len && memcmp(s->keys[i].name, name, len) == 0)
            return &s->keys[i];
    if (s->nkeys == s->capkeys) {
        size_t cap = s->capkeys ? s->capkeys * 2 : 16;
        skey *k = realloc(s->keys, cap * sizeof *k);
        if (!k)
            return NULL;
        s->keys = k;
        s->capkeys = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return NULL;
    memcpy(copy, name, len);
    copy[len] = '\0';
    skey *k = &s->keys[s->nkeys++];
    *k = (skey){.name = copy, .len = len};
    return k;
}

/* The topic of k for `what` into buf; false (logged once) when the key
 * cannot be a topic level. */
static bool topic_of(pw_mqtt_server *s, skey *k, const char *what, char *buf, size_t cap)
{
    if (mq_topic(buf, cap, lo(s)->prefix, k->name, k->len, what))
        return true;
    if (!k->unusable)
        mq_log(lo(s), PW_MQTT_LOG_ERROR,
               "key \"%.*s\" is not published over MQTT: a topic level may not be empty or "
               "hold '/', '+' or '#'",
               (int)(k->len > 64 ? 64 : k->len), k->name);
    k->unusable = true;
    return false;
}

static bool publish(pw_mqtt_server *s, const char *topic, const pw_frame *f, bool retained,
                    int what, size_t bytes)
{
    if (!mqlink_is_connected(s->link) ||
        mqlink_publish(s->link, topic, f->data, f->len, retained, true, TAG(what, s->gen), bytes)) {
        s->st.dropped++;
        return false;
    }
    s->st.published++;
    return true;
}

static void mark_dirty(pw_mqtt_server *s, skey *k)
{
    if (k->dirty)
        return;
    k->dirty = true;
    int64_t earliest = k->state_at + s->o.state_interval_ms, now = now_ms();
    k->state_due = earliest > now ? earliest : now;
}

static void published_state(skey *k, uint64_t seq)
{
    k->published = seq > k->published ? seq : k->published;
    k->dirty = false;
    k->state_at = now_ms();
}

/* The retained state of k, now, from the hub's shared FullSync frame;
 * false when it could not go (it stays due: tried again later). */
static bool publish_state(pw_mqtt_server *s, skey *k, bool force)
{
    char topic[1024];
    if (s->state_inflight > STATE_BUDGET || !topic_of(s, k, "state", topic, sizeof topic))
        return false;
    pw_frame *f = pw_hub_fullsync_frame(s->hub, k->name, k->len, s->o.codec);
    uint64_t current = 0; /* past f->seq while a change is not stored yet (persist.h) */
    pw_hub_state(s->hub, k->name, k->len, &current);
    bool done = false;
    if (f && (force || f->seq > k->published) && publish(s, topic, f, true, STATE, f->len)) {
        s->state_inflight += f->len;
        s->st.states++;
        published_state(k, f->seq);
        done = true;
    } else if (f && !force && f->seq <= k->published) {
        k->dirty = false;
        done = true;
    }
    if (f && current > f->seq)
        k->dirty = true;
    pw_frame_release(f);
    return done;
}

/* ---- the hub's transport ops ---- */

static void reader_frame(pw_mqtt_server *s, pw_frame *f)
{
    char topic[1024];
    skey *k = f->key ? key_of(s, f->key, f->key_len) : NULL;
    bool sent = false;
    if (k && topic_of(s, k, "patches", topic, sizeof topic)) {
        if (f->kind == PW_FRAME_FULLSYNC) {
            sent = publish(s, topic, f, false, READER, pw_frame_cost(f));
            char st[1024];
            if (mq_topic(st, sizeof st, lo(s)->prefix, k->name, k->len, "state") &&
                publish(s, st, f, true, READER, 0)) {
                s->st.states++;
                published_state(k, f->seq);
            }
        } else if (f->kind == PW_FRAME_PATCHES) {
            sent = publish(s, topic, f, false, READER, pw_frame_cost(f));
            mark_dirty(s, k);
        }
        if (!sent)
            mark_dirty(s, k); /* the next state tells what was missed */
    }
    if (!sent)
        s->reader_unsent += pw_frame_cost(f);
}

static void ingress_frame(pw_mqtt_server *s, pw_frame *f)
{
    char topic[1024];
    /* an error may name any key a device made up: no record is kept for it */
    if (f->kind == PW_FRAME_ERROR && f->key &&
        mq_topic(topic, sizeof topic, lo(s)->prefix, f->key, f->key_len, "error") &&
        publish(s, topic, f, false, INGRESS, pw_frame_cost(f)))
        return;
    skey *k = f->kind == PW_FRAME_FULLSYNC && f->key ? key_of(s, f->key, f->key_len) : NULL;
    if (k)
        k->resync = true; /* republished after the message is handled */
    s->ingress_unsent += pw_frame_cost(f);
}

static pw_err srv_send(void *transport, void *conn, pw_frame *frame)
{
    pw_mqtt_server *s = transport;
    if (conn == &s->reader_conn)
        reader_frame(s, frame);
    else
        ingress_frame(s, frame);
    pw_frame_release(frame);
    return PW_OK;
}

static void srv_close(void *transport, void *conn, const char *reason)
{
    pw_mqtt_server *s = transport;
    mq_log(lo(s), PW_MQTT_LOG_INFO, "hub closed the MQTT %s: %s",
           conn == &s->reader_conn ? "publisher" : "edit channel", reason ? reason : "");
    if (conn == &s->reader_conn)
        s->reader_closed = true;
    else
        s->ingress_closed = true;
}

static const pw_transport_ops mqtt_ops = {
    .name = "mqtt",
    .send = srv_send,
    .close = srv_close,
};

/* ---- peers ---- */

static void reader_leave(pw_mqtt_server *s)
{
    if (s->reader)
        pw_hub_peer_leave(s->hub, s->reader);
    s->reader = NULL;
    s->reader_closed = false;
    s->reader_unsent = 0;
    s->gen++;
}

/* Joining sends every FullSync: published as retained states. */
static void reader_join(pw_mqtt_server *s)
{
    reader_leave(s);
    s->reader = pw_hub_peer_join(s->hub, &mqtt_ops, s, &s->reader_conn, s->identity, s->o.codec);
    if (!s->reader)
        mq_log(lo(s), PW_MQTT_LOG_ERROR, "cannot join the hub: out of memory");
}

static void ingress_join(pw_mqtt_server *s)
{
    if (s->ingress)
        pw_hub_peer_leave(s->hub, s->ingress);
    s->ingress_closed = false;
    s->ingress_unsent = 0;
    s->ingress = pw_hub_ingress_join(s->hub, &mqtt_ops, s, &s->ingress_conn, s->identity);
}

static void on_connected(pw_mqtt_server *s)
{
    mqlink_connected(s->link);
    s->st.connects++;
    mq_log(lo(s), PW_MQTT_LOG_INFO, "broker %s: connected%s as %s", lo(s)->url,
           s->st.connects > 1 ? " again" : "", mqlink_client_id(s->link));
    char topic[1024];
    snprintf(topic, sizeof topic, "%s+/edit", lo(s)->prefix);
    char *topics[] = {topic};
    mqlink_subscribe(s->link, topics, 1);
    s->state_inflight = 0;
    reader_join(s);
}

static void on_down(pw_mqtt_server *s, const mq_event *e)
{
    bool was = mqlink_is_connected(s->link);
    mqlink_disconnected(s->link);
    reader_leave(s);
    mq_log(lo(s), was ? PW_MQTT_LOG_INFO : PW_MQTT_LOG_ERROR, "broker %s: %s%s; reconnecting",
           lo(s)->url, was ? "disconnected: " : "cannot connect: ", e->text);
}

static void on_edit(pw_mqtt_server *s, const mq_event *e)
{
    const char *key, *what;
    size_t klen;
    if (!mq_topic_split(e->topic, lo(s)->prefix, &key, &klen, &what) || strcmp(what, "edit") != 0)
        return;
    s->st.edits++;
    if (!s->ingress)
        return;
    pw_error err;
    if (pw_hub_peer_receive_keyed(s->hub, s->ingress, key, klen, e->payload, e->bytes, &err))
        mq_log(lo(s), PW_MQTT_LOG_INFO, "edit on %s refused: %s", e->topic, err.msg);
}

static void on_done(pw_mqtt_server *s, const mq_event *e)
{
    int what = (int)(e->tag & 3);
    uint64_t gen = e->tag >> 2;
    if (what == STATE)
        s->state_inflight -= e->bytes < s->state_inflight ? e->bytes : s->state_inflight;
    else if (what == READER && gen == s->gen && s->reader && e->bytes)
        pw_hub_peer_written(s->hub, s->reader, e->bytes);
    else if (what == INGRESS && s->ingress)
        pw_hub_peer_written(s->hub, s->ingress, e->bytes);
}

/* What the hub was sent and did not go to the broker counts as written;
 * peers the hub closed join again. */
static void settle(pw_mqtt_server *s)
{
    if (s->reader_closed)
        reader_leave(s);
    if (!s->reader && mqlink_is_connected(s->link))
        reader_join(s);
    if (s->ingress_closed || !s->ingress)
        ingress_join(s);
    while (s->reader && s->reader_unsent) { /* written may send again: loop until quiet */
        size_t n = s->reader_unsent;
        s->reader_unsent = 0;
        pw_hub_peer_written(s->hub, s->reader, n);
    }
    while (s->ingress && s->ingress_unsent) {
        size_t n = s->ingress_unsent;
        s->ingress_unsent = 0;
        pw_hub_peer_written(s->hub, s->ingress, n);
    }
}

static void republish(pw_mqtt_server *s)
{
    int64_t now = now_ms();
    for (size_t i = 0; i < s->nkeys && mqlink_is_connected(s->link); i++) {
        skey *k = &s->keys[i];
        if (k->resync && now >= k->resync_after) {
            k->resync = !publish_state(s, k, true);
            k->resync_after = now + RESYNC_SPACING_MS;
        } else if (k->dirty && now >= k->state_due) {
            publish_state(s, k, false);
            if (k->dirty) /* the broker is behind, or the change not stored yet */
                k->state_due = now + (s->state_inflight > STATE_BUDGET ? s->o.state_interval_ms : 10);
        }
    }
}

int pw_mqtt_server_next_ms(const pw_mqtt_server *s)
{
    int next = mqlink_next(s->link);
    int64_t now = now_ms();
    for (size_t i = 0; i < s->nkeys && mqlink_is_connected(s->link); i++) {
        const skey *k = &s->keys[i];
        int64_t at = k->resync ? k->resync_after : k->dirty ? k->state_due : -1;
        if (at < 0)
            continue;
        int ms = at <= now ? 0 : (int)(at - now);
        if (next < 0 || ms < next)
            next = ms;
    }
    return next;
}

pw_err pw_mqtt_server_service(pw_mqtt_server *s, int timeout_ms)
{
    mqlink_tick(s->link);
    int next = pw_mqtt_server_next_ms(s);
    mqlink_wait(s->link, next >= 0 && next < timeout_ms ? next : timeout_ms);
    for (mq_event *e = mqlink_take(s->link), *n; e; e = n) {
        n = e->next;
        switch (e->type) {
        case MQ_CONNECTED:
            on_connected(s);
            break;
        case MQ_FAILED:
        case MQ_LOST:
            on_down(s, e);
            break;
        case MQ_MESSAGE:
            on_edit(s, e);
            break;
        case MQ_DONE:
            on_done(s, e);
            break;
        }
        mqlink_event_free(e);
        settle(s);
    }
    settle(s);
    republish(s);
    mqlink_tick(s->link);
    return PW_OK;
}

pw_mqtt_server *pw_mqtt_server_new(pw_hub *hub, const pw_mqtt_server_options *opts, pw_error *err)
{
    pw_mqtt_server_options defaults;
    pw_mqtt_server_options_init(&defaults);
    if (!opts)
        opts = &defaults;
    pw_mqtt_server *s = calloc(1, sizeof *s);
    if (!s)
        return pw_error_set(err, PW_ENOMEM, "out of memory"), NULL;
    s->hub = hub;
    s->o = *opts;
    if (!s->o.codec)
        s->o.codec = &pw_codec_json;
    if (s->o.state_interval_ms <= 0)
        s->o.state_interval_ms = defaults.state_interval_ms;
    s->identity = strdup(opts->identity ? opts->identity : "");
    s->link = s->identity ? mqlink_new(&opts->link, "patchwire-hub", err) : NULL;
    if (!s->link) {
        if (!s->identity)
            pw_error_set(err, PW_ENOMEM, "out of memory");
        free(s->identity);
        free(s);
        return NULL;
    }
    ingress_join(s);
    if (!s->ingress) {
        pw_mqtt_server_free(s);
        return pw_error_set(err, PW_ENOMEM, "out of memory"), NULL;
    }
    mqlink_tick(s->link);
    return s;
}

int pw_mqtt_server_fd(const pw_mqtt_server *s)
{
    return mqlink_fd(s->link);
}

void pw_mqtt_server_wake(pw_mqtt_server *s)
{
    mqlink_wake(s->link);
}

bool pw_mqtt_server_connected(const pw_mqtt_server *s)
{
    return mqlink_is_connected(s->link);
}

void pw_mqtt_server_stats_get(const pw_mqtt_server *s, pw_mqtt_server_stats *out)
{
    *out = s->st;
    out->inbox_dropped = mqlink_inbox_dropped(s->link);
}

void pw_mqtt_server_free(pw_mqtt_server *s)
{
    if (!s)
        return;
    reader_leave(s);
    if (s->ingress)
        pw_hub_peer_leave(s->hub, s->ingress);
    mqlink_free(s->link);
    for (size_t i = 0; i < s->nkeys; i++)
        free(s->keys[i].name);
    free(s->keys);
    free(s->identity);
    free(s);
}
