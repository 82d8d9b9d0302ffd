/* test_converge.c - concurrent edits through the hub end with every peer
 * equal to the hub (proto/SPEC.md, "Versions and convergence").
 *
 * Plain peers behave as Visly State's client: each edits its own copy at
 * once and sends the patches (pw_diff of its copy and a randomly edited
 * one) without waiting for anything; what the hub sends waits in the peer's
 * inbox and what the peer sends waits in its outbox, each read at random
 * times, in order. A FullSync replaces the copy, patches apply to it. A
 * relayed patch that does not apply locally (Visly's client would throw) is
 * allowed only while the hub cannot know better: the peer still has edits
 * the hub has not received, or a FullSync is already waiting in its inbox;
 * and a FullSync must follow it. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonv.h"
#include "patchwire/codec.h"
#include "patchwire/hub.h"
#include "patchwire/inproc.h"
#include "patchwire/msg.h"
#include "patchwire/patch.h"
#include "patchwire/replica.h"
#include "randdoc.h"

#define KEY "doc"

typedef struct queue {
    void **items;
    size_t head, len, cap;
} queue;

static void q_push(queue *q, void *x)
{
    if (q->head + q->len == q->cap) {
        if (q->head) {
            memmove(q->items, q->items + q->head, q->len * sizeof *q->items);
            q->head = 0;
        } else {
            q->cap = q->cap ? q->cap * 2 : 16;
            q->items = realloc(q->items, q->cap * sizeof *q->items);
            cr_assert(q->items);
        }
    }
    q->items[q->head + q->len++] = x;
}

static void *q_pop(queue *q)
{
    if (!q->len)
        return NULL;
    q->len--;
    return q->items[q->head++];
}

typedef struct cpeer {
    pw_inproc_conn *conn;
    const pw_codec *codec;
    pw_value doc;
    pw_replica *rep; /* a patchwire replica, or NULL for a plain peer */
    queue in;        /* pw_frame * from the hub, not yet read */
    queue out;       /* pw_buf * to the hub, not yet delivered */
    size_t edits_left;
    const char *own; /* when set, the only member of the root it edits */
    bool dirty;      /* a patch failed locally; a FullSync must follow */
} cpeer;

typedef struct stats {
    uint64_t edits, local_fails, unexplained, resyncs, rejects, msgs, rep_sent, rep_acked,
        rep_errors, rep_resyncs, rep_dropped;
} stats;

static pw_hub *hub;
static pw_inproc *ip;
static stats total;

/* Moves what the hub sent into the peer's own inbox. */
static void pull(cpeer *p)
{
    pw_frame *f;
    while ((f = pw_inproc_recv(p->conn)))
        q_push(&p->in, f);
}

static void decode(const cpeer *p, const pw_frame *f, pw_msg *m)
{
    pw_error err;
    cr_assert_eq(pw_msg_decode(p->codec, f->data, f->len, NULL, m, &err), PW_OK, "%s", err.msg);
}

static bool fullsync_waiting(const cpeer *p)
{
    bool found = false;
    for (size_t i = 0; i < p->in.len && !found; i++) {
        pw_msg m;
        decode(p, p->in.items[p->in.head + i], &m);
        found = m.type == PW_MSG_FULLSYNC;
        pw_msg_clear(&m);
    }
    return found;
}

/* Reads one message from the inbox as Visly's client does. */
static bool read_one(cpeer *p)
{
    pw_frame *f = q_pop(&p->in);
    if (!f)
        return false;
    if (p->rep) {
        pw_error err;
        cr_assert_eq(pw_replica_receive(p->rep, f->data, f->len, &err), PW_OK, "%s", err.msg);
        pw_frame_release(f);
        return true;
    }
    pw_msg mm, *m = &mm;
    decode(p, f, m);
    pw_frame_release(f);
    if (m->type == PW_MSG_FULLSYNC) {
        pw_value_release(&p->doc);
        p->doc = pw_value_retain(m->data);
        p->dirty = false;
    } else if (m->type == PW_MSG_PATCHES) {
        pw_error err;
        if (pw_patches_apply(&p->doc, &m->patches, NULL, &err)) {
            total.local_fails++;
            if (!p->out.len && !fullsync_waiting(p))
                total.unexplained++;
            p->dirty = true;
        }
    }
    pw_msg_clear(m);
    return true;
}

/* Moves one element of a random array of v to another place. */
static void move_in_array(pw_value *v)
{
    for (int depth = 0; depth < 4; depth++) {
        size_t n = pw_value_len(v);
        if (pw_value_kind(v) == PW_ARRAY && n >= 2 && randdoc_below(2) == 0) {
            pw_value x;
            cr_assert_eq(pw_array_remove(v, randdoc_below(n), &x), PW_OK);
            cr_assert_eq(pw_array_insert(v, randdoc_below(n), x), PW_OK);
            return;
        }
        if (n == 0)
            return;
        if (pw_value_kind(v) == PW_ARRAY) {
            v = pw_array_get_mut(v, randdoc_below(n));
        } else if (pw_value_kind(v) == PW_OBJECT) {
            const pw_value *key;
            cr_assert(pw_object_at(v, randdoc_below(n), &key, NULL));
            size_t klen;
            const char *ks = pw_value_str(key, &klen);
            v = pw_object_get_mut(v, ks, klen);
        } else {
            return;
        }
        cr_assert(v);
    }
}

/* A local edit: applied at once, its patches queued for the hub. */
static const pw_value *doc_of(cpeer *p)
{
    return p->rep ? pw_store_get(pw_replica_store(p->rep), KEY, 3) : &p->doc;
}

static void edit(cpeer *p)
{
    const pw_value *cur = doc_of(p);
    cr_assert(cur);
    pw_value next = pw_value_retain(*cur);
    pw_value *target = p->own ? pw_object_get_mut(&next, p->own, strlen(p->own)) : &next;
    cr_assert(target);
    for (size_t i = 0, n = 1 + randdoc_below(3); i < n; i++) {
        if (randdoc_below(3) == 0)
            move_in_array(target);
        else
            randdoc_mutate(target, 4);
    }
    pw_msg m;
    pw_msg_init(&m);
    cr_assert_eq(pw_diff(cur, &next, &m.patches), PW_OK);
    p->edits_left--;
    if (m.patches.len == 0) {
        pw_value_release(&next);
        pw_msg_clear(&m);
        return;
    }
    pw_error err;
    total.edits++;
    if (p->rep) { /* the replica sends it (or buffers it) */
        cr_assert_eq(pw_store_apply(pw_replica_store(p->rep), KEY, 3, &m.patches, &err), PW_OK,
                     "%s", err.msg);
        cr_assert(pw_value_equal(doc_of(p), &next));
        pw_value_release(&next);
        pw_msg_clear(&m);
        return;
    }
    cr_assert_eq(pw_patches_apply(&p->doc, &m.patches, NULL, &err), PW_OK, "%s", err.msg);
    cr_assert(pw_value_equal(&p->doc, &next));
    pw_value_release(&next);
    m.type = PW_MSG_PATCHES;
    cr_assert_eq(pw_string_cstr(&m.key, KEY), PW_OK);
    pw_buf *b = calloc(1, sizeof *b);
    cr_assert(b);
    cr_assert_eq(pw_msg_encode(p->codec, &m, b, &err), PW_OK, "%s", err.msg);
    pw_msg_clear(&m);
    q_push(&p->out, b);
}

static pw_err rep_send(const uint8_t *data, size_t n, bool binary, void *userdata)
{
    cpeer *p = userdata;
    (void)binary;
    pw_buf *b = calloc(1, sizeof *b);
    cr_assert(b);
    cr_assert_eq(pw_buf_append(b, data, n), PW_OK);
    q_push(&p->out, b);
    return PW_OK;
}

static bool deliver_one(cpeer *p)
{
    pw_buf *b = q_pop(&p->out);
    if (!b)
        return false;
    pw_error err;
    pw_err rc = pw_inproc_send(p->conn, b->data, b->len, &err);
    cr_assert(rc == PW_OK || rc == PW_ENOPATH || rc == PW_EOP || rc == PW_ERANGE ||
                  rc == PW_ETYPE || rc == PW_ELIMIT || rc == PW_ECONFLICT,
              "hub refused a well-formed edit: %s", err.msg);
    pw_buf_free(b);
    free(b);
    total.msgs++;
    return true;
}

static uint64_t fake_now; /* the hub's clock in ms */

static uint64_t fake_clock(void *userdata)
{
    (void)userdata;
    return fake_now;
}

static const char *const owned[] = {"p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7"};

/* npeers peers (the first nreplicas of them patchwire replicas, the rest
 * plain) make nedits edits each; disjoint: each edits its own member of the
 * root only. */
static void run_seed(uint64_t seed, size_t npeers, size_t nreplicas, size_t nedits, bool disjoint)
{
    randdoc_seed(seed);
    pw_hub_options ho;
    pw_hub_options_init(&ho);
    ho.clock = fake_clock;
    fake_now = 0;
    hub = pw_hub_new(&ho);
    ip = pw_inproc_new(hub);
    cr_assert(hub && ip);
    pw_value init = jsonv_parse("{\"list\":[1,2,3,4,5,6],\"rows\":[{\"a\":1},{\"b\":[1,2]},{\"c\":{}}],"
                          "\"obj\":{\"x\":{\"y\":[true,false]},\"z\":\"s\"}}");
    if (!disjoint)
        randdoc_mutate(&init, 3);
    for (size_t i = 0; disjoint && i < npeers; i++)
        cr_assert_eq(pw_object_set_str(&init, owned[i], 2, jsonv_parse("{\"l\":[1,2,3],\"o\":{}}"), NULL),
                     PW_OK);
    cr_assert_eq(pw_hub_set_state(hub, KEY, 3, init), PW_OK);
    cpeer peers[8];
    cr_assert(npeers <= 8);
    for (size_t i = 0; i < npeers; i++) {
        cpeer *p = &peers[i];
        memset(p, 0, sizeof *p);
        p->codec = i % 2 ? &pw_codec_msgpack : &pw_codec_json;
        p->edits_left = nedits;
        p->own = disjoint ? owned[i] : NULL;
        if (i < nreplicas) {
            pw_replica_options o;
            pw_replica_options_init(&o);
            o.codec = p->codec;
            o.send = rep_send;
            o.send_userdata = p;
            p->rep = pw_replica_new(&o);
            cr_assert(p->rep);
        }
        p->conn = pw_inproc_connect(ip, NULL, p->codec);
        cr_assert(p->conn);
        pull(p);
        cr_assert(read_one(p), "no FullSync on join");
    }
    for (;;) {
        bool editing = false;
        for (size_t i = 0; i < npeers; i++)
            editing |= peers[i].edits_left > 0;
        if (!editing)
            break;
        fake_now += randdoc_below(50); /* FullSyncs asked for too often are held */
        pw_hub_service(hub);
        cpeer *p = &peers[randdoc_below(npeers)];
        switch (randdoc_below(4)) {
        case 0:
            if (p->edits_left)
                edit(p);
            break;
        case 1:
            deliver_one(p);
            break;
        default:
            for (size_t n = randdoc_below(3); n > 0 && read_one(p); n--) {
            }
        }
        for (size_t i = 0; i < npeers; i++)
            pull(&peers[i]);
    }
    /* edits stopped: everything in flight arrives, in random order */
    for (;;) {
        size_t busy = 0;
        for (size_t i = 0; i < npeers; i++)
            busy += peers[i].in.len + peers[i].out.len;
        if (!busy) { /* the interval ends: held FullSyncs go out */
            fake_now += 1000;
            if (pw_hub_service(hub) != -1)
                cr_assert_fail("seed %llu: a held FullSync is still due", (unsigned long long)seed);
            for (size_t i = 0; i < npeers; i++) {
                pull(&peers[i]);
                busy += peers[i].in.len + peers[i].out.len;
            }
            if (!busy)
                break;
        }
        cpeer *p = &peers[randdoc_below(npeers)];
        if (randdoc_below(2))
            deliver_one(p);
        else
            read_one(p);
        for (size_t i = 0; i < npeers; i++)
            pull(&peers[i]);
    }
    const pw_value *want = pw_hub_state(hub, KEY, 3, NULL);
    for (size_t i = 0; i < npeers; i++) {
        cpeer *p = &peers[i];
        cr_assert(!p->dirty, "seed %llu: peer %zu had a patch fail and no FullSync after",
                  (unsigned long long)seed, i);
        cr_assert(pw_value_equal(doc_of(p), want), "seed %llu: peer %zu differs from the hub",
                  (unsigned long long)seed, i);
        if (p->rep) {
            cr_assert(pw_replica_idle(p->rep, KEY, 3, NULL), "seed %llu: replica %zu not idle",
                      (unsigned long long)seed, i);
            pw_replica_stats st;
            pw_replica_stats_get(p->rep, &st);
            total.rep_sent += st.sent;
            total.rep_acked += st.acked;
            total.rep_errors += st.errors;
            total.rep_resyncs += st.resyncs;
            total.rep_dropped += st.dropped;
            pw_replica_free(p->rep);
        }
        pw_value_release(&p->doc);
        free(p->in.items);
        free(p->out.items);
    }
    pw_hub_metrics m;
    pw_hub_metrics_get(hub, &m);
    total.resyncs += m.resyncs;
    total.rejects += m.rejects;
    pw_inproc_free(ip);
    pw_hub_free(hub);
}

/* PW_CONVERGE_SEEDS overrides the number of seeds (for longer runs). */
static uint64_t seed_count(uint64_t dflt)
{
    const char *e = getenv("PW_CONVERGE_SEEDS");
    return e && atoi(e) > 0 ? (uint64_t)atoi(e) : dflt;
}

static void report(const char *what, uint64_t seeds)
{
    fprintf(stderr,
            "%s: %llu seeds, %llu edits sent, %llu resyncs, %llu rejects, %llu local "
            "failures (%llu unexplained); replicas: %llu sent, %llu acked, %llu errors, %llu "
            "resync requests, %llu dropped\n",
            what, (unsigned long long)seeds, (unsigned long long)total.edits,
            (unsigned long long)total.resyncs, (unsigned long long)total.rejects,
            (unsigned long long)total.local_fails, (unsigned long long)total.unexplained,
            (unsigned long long)total.rep_sent, (unsigned long long)total.rep_acked,
            (unsigned long long)total.rep_errors, (unsigned long long)total.rep_resyncs,
            (unsigned long long)total.rep_dropped);
}

Test(converge, plain_peers_end_equal_to_the_hub)
{
    memset(&total, 0, sizeof total);
    const uint64_t seeds = seed_count(200);
    for (uint64_t s = 1; s <= seeds; s++)
        run_seed(s, 4, 0, 30, false);
    report("plain peers", seeds);
    cr_assert_eq(total.unexplained, 0,
                 "%llu relayed patches failed on a peer the hub "
                 "thought was in line",
                 (unsigned long long)total.unexplained);
}

Test(converge, disjoint_edits_need_no_resync)
{
    memset(&total, 0, sizeof total);
    const uint64_t seeds = seed_count(50);
    for (uint64_t s = 1; s <= seeds; s++)
        run_seed(1000 + s, 4, 2, 30, true);
    report("2 plain peers and 2 replicas, disjoint members", seeds);
    cr_assert_gt(total.edits, 1000);
    cr_assert_eq(total.resyncs, 0);
    cr_assert_eq(total.local_fails, 0);
}

Test(converge, replicas_and_plain_peers_end_equal_to_the_hub)
{
    memset(&total, 0, sizeof total);
    const uint64_t seeds = seed_count(200);
    for (uint64_t s = 1; s <= seeds; s++)
        run_seed(5000 + s, 4, 2, 30, false);
    report("2 plain peers and 2 replicas", seeds);
    cr_assert_eq(total.unexplained, 0);
    cr_assert_gt(total.rep_acked, 0);
}

Test(converge, replicas_end_equal_to_the_hub)
{
    memset(&total, 0, sizeof total);
    const uint64_t seeds = seed_count(200);
    for (uint64_t s = 1; s <= seeds; s++)
        run_seed(9000 + s, 4, 4, 30, false);
    report("4 replicas", seeds);
    cr_assert_gt(total.rep_acked, 0);
}
