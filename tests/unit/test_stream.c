/* test_stream.c - the hub behind a broadcast stream, in process: an ingress
 * for the devices' edits (what an MQTT `edit` topic is) and one reader whose
 * frames every device sees (what the `patches` topic is), with replicas in
 * stream mode (opts.origin) and plain devices that only follow the stream.
 * Checks the ingress rules (no FullSync, no fan-out, acks and errors with the
 * edit's id, errors without seq, keyed channels), the routing fields of the
 * frames, and that stream replicas editing concurrently with random delivery
 * delays end equal to the hub. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonv.h"
#include "patchwire/codec.h"
#include "patchwire/hub.h"
#include "patchwire/inproc.h"
#include "patchwire/msg.h"
#include "patchwire/replica.h"

static pw_hub *hub;
static pw_inproc *ip;
static pw_inproc_conn *stream; /* the publisher: everything accepted */
static pw_inproc_conn *ingress;

static void setup(void)
{
    hub = pw_hub_new(NULL);
    ip = pw_inproc_new(hub);
    cr_assert(hub && ip);
    cr_assert_eq(pw_hub_set_state(hub, "k", 1, jsonv_parse("{\"n\":0,\"list\":[]}")), PW_OK);
    stream = pw_inproc_connect(ip, NULL, &pw_codec_json);
    ingress = pw_inproc_connect_ingress(ip, NULL);
    cr_assert(stream && ingress);
}

static void teardown(void)
{
    pw_inproc_free(ip);
    pw_hub_free(hub);
}

TestSuite(ingress, .init = setup, .fini = teardown);
TestSuite(stream, .init = setup, .fini = teardown);

static pw_err edit(const char *key, const char *json)
{
    return pw_inproc_send_keyed(ingress, key, strlen(key), (const uint8_t *)json, strlen(json),
                                NULL);
}

/* The next frame of c decoded, with its routing fields checked against it. */
static bool next_msg(pw_inproc_conn *c, pw_msg *m, pw_frame_kind *kind)
{
    pw_frame *f = pw_inproc_recv(c);
    if (!f)
        return false;
    pw_error err;
    cr_assert_eq(pw_msg_decode(pw_codec_detect(f->data, f->len), f->data, f->len, NULL, m, &err),
                 PW_OK, "%s", err.msg);
    size_t klen = 0;
    const char *key = pw_value_str(&m->key, &klen);
    if (key) {
        cr_assert(f->key && f->key_len == klen && memcmp(f->key, key, klen) == 0,
                  "frame routed to another key");
        cr_assert_eq(f->key[klen], '\0');
    }
    cr_assert_eq(f->seq, m->has_seq ? m->seq : 0);
    *kind = f->kind;
    pw_frame_release(f);
    return true;
}

static bool id_is(const pw_msg *m, const char *id)
{
    return pw_value_str_eq(&m->id, id, strlen(id));
}

Test(ingress, gets_no_fullsync_and_no_one_elses_changes)
{
    cr_assert_eq(pw_inproc_pending(ingress), 0, "no FullSync on join");
    pw_msg m;
    pw_frame_kind kind;
    cr_assert(next_msg(stream, &m, &kind));
    cr_assert_eq(m.type, PW_MSG_FULLSYNC);
    cr_assert_eq(kind, PW_FRAME_FULLSYNC);
    pw_msg_clear(&m);
    cr_assert_eq(pw_hub_set_state(hub, "k", 1, jsonv_parse("{\"n\":5}")), PW_OK);
    cr_assert_eq(pw_inproc_pending(ingress), 0, "no fan-out to an ingress");
    cr_assert_eq(pw_inproc_pending(stream), 1);
}

Test(ingress, a_change_is_relayed_with_its_id_and_acked)
{
    pw_inproc_flush(ip);
    while (pw_inproc_pending(stream))
        pw_frame_release(pw_inproc_recv(stream));
    cr_assert_eq(edit("k", "{\"type\":\"patches\",\"key\":\"k\",\"id\":\"dev1:7\",\"data\":[{\"op\":"
                           "\"replace\",\"path\":[\"n\"],\"value\":3}]}"),
                 PW_OK);
    pw_msg m;
    pw_frame_kind kind;
    cr_assert(next_msg(stream, &m, &kind));
    cr_assert_eq(m.type, PW_MSG_PATCHES);
    cr_assert_eq(kind, PW_FRAME_PATCHES);
    cr_assert_eq(m.seq, 2);
    cr_assert(id_is(&m, "dev1:7"), "the relayed change names its edit");
    pw_msg_clear(&m);
    cr_assert(next_msg(ingress, &m, &kind));
    cr_assert_eq(m.type, PW_MSG_ACK);
    cr_assert_eq(kind, PW_FRAME_ACK);
    cr_assert_eq(m.seq, 2);
    cr_assert(id_is(&m, "dev1:7"));
    pw_msg_clear(&m);
    cr_assert_eq(pw_inproc_pending(ingress), 0, "no FullSync after a plain change");
}

Test(ingress, a_refused_change_gets_an_error_with_its_id_and_no_seq)
{
    cr_assert_eq(edit("k", "{\"type\":\"patches\",\"key\":\"k\",\"id\":42,\"data\":[{\"op\":"
                           "\"remove\",\"path\":[\"nope\",\"x\"]}]}"),
                 PW_ENOPATH);
    pw_msg m;
    pw_frame_kind kind;
    cr_assert(next_msg(ingress, &m, &kind));
    cr_assert_eq(m.type, PW_MSG_ERROR);
    cr_assert_eq(kind, PW_FRAME_ERROR);
    cr_assert(!m.has_seq, "seq would promise a FullSync");
    cr_assert_eq(pw_value_int(&m.id), 42);
    cr_assert(pw_value_str_eq(&m.key, "k", 1));
    pw_msg_clear(&m);
    cr_assert_eq(pw_inproc_pending(ingress), 0);
    uint64_t v;
    pw_hub_state(hub, "k", 1, &v);
    cr_assert_eq(v, 1);
}

Test(ingress, a_message_for_another_key_than_its_channel_is_refused)
{
    cr_assert_eq(pw_hub_set_state(hub, "other", 5, jsonv_parse("{\"n\":0}")), PW_OK);
    cr_assert_eq(edit("k", "{\"type\":\"patches\",\"key\":\"other\",\"data\":[{\"op\":"
                           "\"replace\",\"path\":[\"n\"],\"value\":1}]}"),
                 PW_EMSG);
    uint64_t v;
    pw_hub_state(hub, "other", 5, &v);
    cr_assert_eq(v, 1, "nothing applied");
    pw_msg m;
    pw_frame_kind kind;
    cr_assert(next_msg(ingress, &m, &kind));
    cr_assert_eq(m.type, PW_MSG_ERROR);
    cr_assert(pw_value_str_eq(&m.key, "k", 1), "the error goes to the channel's key");
    pw_msg_clear(&m);
    /* garbage names no key: the error names the channel's */
    cr_assert_neq(edit("k", "{\"type\":"), PW_OK);
    cr_assert(next_msg(ingress, &m, &kind));
    cr_assert_eq(m.type, PW_MSG_ERROR);
    cr_assert(pw_value_str_eq(&m.key, "k", 1));
    pw_msg_clear(&m);
}

Test(ingress, answers_in_the_codec_of_each_message)
{
    pw_value v = jsonv_parse("{\"type\":\"resync\",\"key\":\"k\"}");
    pw_buf b = {0};
    cr_assert_eq(pw_codec_msgpack.encode(&v, &b, NULL), PW_OK);
    cr_assert_eq(pw_inproc_send_keyed(ingress, "k", 1, b.data, b.len, NULL), PW_OK);
    pw_frame *f = pw_inproc_recv(ingress);
    cr_assert(f && f->binary && f->kind == PW_FRAME_FULLSYNC);
    pw_frame_release(f);
    cr_assert_eq(edit("k", "{\"type\":\"resync\",\"key\":\"k\"}"), PW_OK);
    f = pw_inproc_recv(ingress);
    cr_assert(f && !f->binary && f->kind == PW_FRAME_FULLSYNC);
    pw_frame_release(f);
    pw_buf_free(&b);
    pw_value_release(&v);
}

Test(ingress, the_shared_fullsync_frame_follows_the_version)
{
    pw_frame *a = pw_hub_fullsync_frame(hub, "k", 1, NULL);
    pw_frame *b = pw_hub_fullsync_frame(hub, "k", 1, &pw_codec_json);
    cr_assert(a && a == b, "one encoding per version and codec");
    cr_assert_eq(a->seq, 1);
    cr_assert_eq(edit("k", "{\"type\":\"patches\",\"key\":\"k\",\"data\":[{\"op\":\"replace\","
                           "\"path\":[\"n\"],\"value\":1}]}"),
                 PW_OK);
    pw_frame *c = pw_hub_fullsync_frame(hub, "k", 1, &pw_codec_msgpack);
    cr_assert(c && c->binary && c->seq == 2 && c->kind == PW_FRAME_FULLSYNC);
    cr_assert_null(pw_hub_fullsync_frame(hub, "nope", 4, NULL));
    pw_frame_release(a);
    pw_frame_release(b);
    pw_frame_release(c);
}

/* ---- replicas over the stream ---- */

#define NDEV 3
#define INBOX 4096

typedef struct dev {
    pw_replica *r;
    struct {
        pw_frame *f;
        bool snapshot;
    } inbox[INBOX];
    size_t head, n;
    size_t errors;
} dev;

static dev devs[NDEV];

static pw_err dev_send(const char *key, size_t klen, const uint8_t *p, size_t n, bool binary,
                       void *userdata)
{
    (void)binary;
    (void)userdata;
    pw_inproc_send_keyed(ingress, key, klen, p, n, NULL);
    return PW_OK;
}

static void dev_error(const char *key, size_t klen, const char *msg, void *userdata)
{
    (void)key, (void)klen, (void)msg;
    ((dev *)userdata)->errors++;
}

static void push(dev *d, pw_frame *f, bool snapshot)
{
    cr_assert(d->n < INBOX, "inbox overflow");
    size_t i = (d->head + d->n++) % INBOX;
    d->inbox[i].f = pw_frame_retain(f);
    d->inbox[i].snapshot = snapshot;
}

/* What the broker does: the stream goes to every device; an ingress's
 * errors and FullSyncs too (a FullSync as a republished state); acks are
 * not published. */
static void broker(void)
{
    pw_frame *f;
    while ((f = pw_inproc_recv(stream))) {
        for (int i = 0; i < NDEV; i++)
            push(&devs[i], f, false);
        pw_frame_release(f);
    }
    while ((f = pw_inproc_recv(ingress))) {
        if (f->kind != PW_FRAME_ACK)
            for (int i = 0; i < NDEV; i++)
                push(&devs[i], f, f->kind == PW_FRAME_FULLSYNC);
        pw_frame_release(f);
    }
}

static size_t deliver(dev *d, size_t max)
{
    size_t done = 0;
    while (d->n && done < max) {
        pw_frame *f = d->inbox[d->head].f;
        bool snap = d->inbox[d->head].snapshot;
        d->head = (d->head + 1) % INBOX;
        d->n--;
        if (snap)
            pw_replica_receive_snapshot(d->r, f->data, f->len, NULL);
        else
            pw_replica_receive(d->r, f->data, f->len, NULL);
        pw_frame_release(f);
        done++;
        broker();
    }
    return done;
}

static void devs_open(void)
{
    for (int i = 0; i < NDEV; i++) {
        pw_replica_options o;
        pw_replica_options_init(&o);
        static const char *const origins[NDEV] = {"dev0", "dev1", "dev2"};
        o.origin = origins[i]; /* kept, not copied: static */
        o.send_keyed = dev_send;
        o.on_error = dev_error;
        o.on_error_userdata = &devs[i];
        o.codec = i == 1 ? &pw_codec_msgpack : &pw_codec_json;
        memset(&devs[i], 0, sizeof devs[i]);
        devs[i].r = pw_replica_new(&o);
        cr_assert(devs[i].r);
        /* a late subscriber gets the retained state */
        pw_frame *f = pw_hub_fullsync_frame(hub, "k", 1, NULL);
        push(&devs[i], f, true);
        pw_frame_release(f);
    }
    while (pw_inproc_pending(stream))
        pw_frame_release(pw_inproc_recv(stream));
}

static void devs_close(void)
{
    for (int i = 0; i < NDEV; i++) {
        while (devs[i].n) {
            pw_frame_release(devs[i].inbox[devs[i].head].f);
            devs[i].head = (devs[i].head + 1) % INBOX;
            devs[i].n--;
        }
        pw_replica_free(devs[i].r);
    }
}

static void assert_converged(void)
{
    for (int round = 0; round < 1000; round++) {
        size_t moved = 0;
        for (int i = 0; i < NDEV; i++)
            moved += deliver(&devs[i], SIZE_MAX);
        if (!moved)
            break;
    }
    uint64_t v;
    const pw_value *h = pw_hub_state(hub, "k", 1, &v);
    for (int i = 0; i < NDEV; i++) {
        uint64_t seq;
        cr_assert(pw_replica_idle(devs[i].r, "k", 1, &seq), "dev%d not idle", i);
        cr_assert_eq(seq, v, "dev%d at %llu, hub at %llu", i, (unsigned long long)seq,
                     (unsigned long long)v);
        if (!pw_value_equal(pw_store_get(pw_replica_store(devs[i].r), "k", 1), h)) {
            pw_buf b1 = {0}, b2 = {0};
            pw_codec_json.encode(pw_store_get(pw_replica_store(devs[i].r), "k", 1), &b1, NULL);
            pw_codec_json.encode(h, &b2, NULL);
            fprintf(stderr, "dev%d %.*s\nhub  %.*s\n", i, (int)b1.len, b1.data, (int)b2.len, b2.data);
        }
        cr_assert(pw_value_equal(pw_store_get(pw_replica_store(devs[i].r), "k", 1), h),
                  "dev%d differs from the hub", i);
    }
}

Test(stream, a_replica_takes_its_own_change_coming_back_as_the_ack)
{
    devs_open();
    deliver(&devs[0], SIZE_MAX);
    pw_value p = jsonv_parse("[\"n\"]");
    cr_assert_eq(pw_store_set(pw_replica_store(devs[0].r), "k", 1, &p, pw_int(9), NULL), PW_OK);
    pw_value_release(&p);
    broker();
    cr_assert(!pw_replica_idle(devs[0].r, "k", 1, NULL));
    deliver(&devs[0], SIZE_MAX);
    uint64_t seq;
    cr_assert(pw_replica_idle(devs[0].r, "k", 1, &seq));
    cr_assert_eq(seq, 2);
    pw_replica_stats st;
    pw_replica_stats_get(devs[0].r, &st);
    cr_assert_eq(st.acked, 1);
    cr_assert_eq(pw_value_int(pw_object_get(pw_store_get(pw_replica_store(devs[0].r), "k", 1),
                                            "n", 1)),
                 9, "applied once");
    assert_converged();
    devs_close();
}

Test(stream, a_conflict_is_answered_by_an_error_and_a_resync_only_to_its_author)
{
    devs_open();
    for (int i = 0; i < NDEV; i++)
        deliver(&devs[i], SIZE_MAX);
    pw_value p = jsonv_parse("[\"n\"]");
    /* both edit n on version 1: the second is a conflict */
    cr_assert_eq(pw_store_set(pw_replica_store(devs[0].r), "k", 1, &p, pw_int(1), NULL), PW_OK);
    cr_assert_eq(pw_store_set(pw_replica_store(devs[1].r), "k", 1, &p, pw_int(2), NULL), PW_OK);
    pw_value_release(&p);
    broker();
    assert_converged();
    cr_assert_eq(devs[1].errors, 1, "the author hears of its refused change");
    cr_assert_eq(devs[0].errors + devs[2].errors, 0, "others' errors are not theirs");
    devs_close();
}

Test(stream, replicas_editing_at_random_with_random_delays_converge)
{
    for (unsigned seed = 1; seed <= 40; seed++) {
        srand(seed);
        devs_open();
        for (int step = 0; step < 200; step++) {
            dev *d = &devs[rand() % NDEV];
            if (rand() % 3 == 0) {
                deliver(d, (size_t)(rand() % 4));
                continue;
            }
            if (pw_replica_waiting(d->r, "k", 1))
                continue;
            pw_store *s = pw_replica_store(d->r);
            pw_value p;
            int what = rand() % 3;
            if (what == 0) {
                p = jsonv_parse("[\"n\"]");
                pw_store_set(s, "k", 1, &p, pw_int(rand() % 100), NULL);
            } else if (what == 1) {
                p = jsonv_parse("[\"list\",0]");
                pw_store_insert(s, "k", 1, &p, pw_int(step), NULL);
            } else {
                char path[32];
                snprintf(path, sizeof path, "[\"m%d\"]", rand() % 4);
                p = jsonv_parse(path);
                pw_store_set(s, "k", 1, &p, pw_int(step), NULL);
            }
            pw_value_release(&p);
            broker();
        }
        broker();
        assert_converged();
        devs_close();
        /* the next seed starts from the state this one left */
    }
}
