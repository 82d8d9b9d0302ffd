/* test_replica.c - a replica and a hub through the in-process transport:
 * the first FullSync, local edits sent with their base and acked, remote
 * edits, edits buffered behind the one in flight, a conflicting edit
 * rejected and the replica back in line, a gap answered by a resync. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "jsonv.h"
#include "patchwire/codec.h"
#include "patchwire/hub.h"
#include "patchwire/inproc.h"
#include "patchwire/msg.h"
#include "patchwire/replica.h"

/* A replica on an inproc connection; what it sends waits in `out` when
 * `hold` is set, else goes to the hub at once. */
typedef struct trep {
    pw_replica *r;
    pw_inproc_conn *conn;
    pw_buf out[16];
    size_t nout;
    bool hold;
    pw_buf last; /* the last message it sent */
    size_t sent;
    char error[512];
    size_t errors;
} trep;

static pw_hub *hub;
static pw_inproc *ip;

static pw_value path(const char *json)
{
    return jsonv_parse(json);
}

static pw_err rep_send(const uint8_t *p, size_t n, bool binary, void *userdata)
{
    trep *t = userdata;
    (void)binary;
    t->sent++;
    pw_buf_reset(&t->last);
    cr_assert_eq(pw_buf_append(&t->last, p, n), PW_OK);
    if (t->hold) {
        cr_assert(t->nout < 16);
        pw_buf_init(&t->out[t->nout]);
        cr_assert_eq(pw_buf_append(&t->out[t->nout++], p, n), PW_OK);
        return PW_OK;
    }
    pw_err rc = pw_inproc_send(t->conn, p, n, NULL);
    return rc == PW_EIO ? rc : PW_OK;
}

static void rep_error(const char *key, size_t key_len, const char *message, void *userdata)
{
    (void)key;
    (void)key_len;
    trep *t = userdata;
    snprintf(t->error, sizeof t->error, "%s", message);
    t->errors++;
}

static void rep_open(trep *t, const pw_codec *codec)
{
    memset(t, 0, sizeof *t);
    pw_replica_options o;
    pw_replica_options_init(&o);
    o.codec = codec;
    o.send = rep_send;
    o.send_userdata = t;
    o.on_error = rep_error;
    o.on_error_userdata = t;
    t->r = pw_replica_new(&o);
    cr_assert(t->r);
    t->conn = pw_inproc_connect(ip, NULL, codec);
    cr_assert(t->conn);
}

static void rep_close(trep *t)
{
    pw_inproc_disconnect(t->conn);
    pw_replica_free(t->r);
    pw_buf_free(&t->last);
    for (size_t i = 0; i < t->nout; i++)
        pw_buf_free(&t->out[i]);
}

/* Delivers what the replica held back, in order. */
static void rep_flush(trep *t)
{
    for (size_t i = 0; i < t->nout; i++) {
        pw_inproc_send(t->conn, t->out[i].data, t->out[i].len, NULL);
        pw_buf_free(&t->out[i]);
    }
    t->nout = 0;
}

/* Hands the replica everything the hub sent it. */
static size_t rep_pump(trep *t)
{
    size_t n = 0;
    pw_frame *f;
    while ((f = pw_inproc_recv(t->conn))) {
        pw_error err;
        cr_assert_eq(pw_replica_receive(t->r, f->data, f->len, &err), PW_OK, "%s", err.msg);
        pw_frame_release(f);
        n++;
    }
    return n;
}

static const pw_value *rep_doc(trep *t, const char *key)
{
    return pw_store_get(pw_replica_store(t->r), key, strlen(key));
}

static void assert_equal_to_hub(trep *t, const char *key)
{
    uint64_t v, seq;
    const pw_value *want = pw_hub_state(hub, key, strlen(key), &v);
    cr_assert(want);
    cr_assert(pw_value_equal(rep_doc(t, key), want), "replica differs from the hub");
    cr_assert(pw_replica_idle(t->r, key, strlen(key), &seq), "replica not idle");
    cr_assert_eq(seq, v);
}

static void sent_has(trep *t, const char *text)
{
    pw_value v;
    const pw_codec *c = pw_codec_detect(t->last.data, t->last.len);
    cr_assert_eq(c->decode(t->last.data, t->last.len, NULL, &v, NULL), PW_OK);
    pw_buf b = {0};
    cr_assert_eq(pw_codec_json.encode(&v, &b, NULL), PW_OK);
    cr_assert_eq(pw_buf_append(&b, "", 1), PW_OK);
    cr_assert(strstr((const char *)b.data, text), "%s not in %s", text, (const char *)b.data);
    pw_buf_free(&b);
    pw_value_release(&v);
}

static bool has_bytes(const pw_frame *f, const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i + n <= f->len; i++)
        if (memcmp(f->data + i, s, n) == 0)
            return true;
    return false;
}

/* A plain peer sending one JSON message. */
static void plain_send(pw_inproc_conn *c, const char *json)
{
    pw_error err;
    cr_assert_eq(pw_inproc_send(c, (const uint8_t *)json, strlen(json), &err), PW_OK, "%s",
                 err.msg);
}

static void setup(void)
{
    /* the replica's side is tested here: every FullSync asked for at once
     * (the hub's resync_interval_ms is tested in test_hub and test_converge) */
    pw_hub_options o;
    pw_hub_options_init(&o);
    o.resync_interval_ms = 0;
    hub = pw_hub_new(&o);
    ip = pw_inproc_new(hub);
    cr_assert(hub && ip);
    cr_assert_eq(pw_hub_set_state(hub, "k", 1, jsonv_parse("{\"a\":1,\"b\":[1,2,3],\"c\":{}}")), PW_OK);
}

static void teardown(void)
{
    pw_inproc_free(ip);
    pw_hub_free(hub);
}

TestSuite(replica, .init = setup, .fini = teardown);

Test(replica, first_fullsync_fills_the_store)
{
    trep t;
    rep_open(&t, &pw_codec_json);
    cr_assert(!pw_replica_idle(t.r, "k", 1, NULL));
    cr_assert_eq(rep_pump(&t), 1);
    assert_equal_to_hub(&t, "k");
    cr_assert_eq(t.sent, 0);
    rep_close(&t);
}

Test(replica, local_edit_goes_out_with_its_base_and_is_acked)
{
    trep t;
    rep_open(&t, &pw_codec_msgpack);
    pw_inproc_conn *plain = pw_inproc_connect(ip, NULL, &pw_codec_json);
    rep_pump(&t);
    pw_value p = path("[\"a\"]");
    cr_assert_eq(pw_store_set(pw_replica_store(t.r), "k", 1, &p, pw_int(7), NULL), PW_OK);
    pw_value_release(&p);
    cr_assert_eq(t.sent, 1);
    sent_has(&t, "\"base\":1");
    sent_has(&t, "\"type\":\"patches\"");
    cr_assert(!pw_replica_idle(t.r, "k", 1, NULL), "idle before the ack");
    cr_assert_eq(rep_pump(&t), 1); /* the ack */
    assert_equal_to_hub(&t, "k");
    cr_assert_eq(pw_value_int(pw_object_get(rep_doc(&t, "k"), "a", 1)), 7);
    /* the plain peer got the relay, without base */
    pw_frame *f;
    size_t n = 0;
    while ((f = pw_inproc_recv(plain))) {
        if (n == 1) {
            cr_assert(has_bytes(f, "\"seq\":2"));
            cr_assert(!has_bytes(f, "base"));
        }
        pw_frame_release(f);
        n++;
    }
    cr_assert_eq(n, 2);
    pw_replica_stats st;
    pw_replica_stats_get(t.r, &st);
    cr_assert_eq(st.sent, 1);
    cr_assert_eq(st.acked, 1);
    rep_close(&t);
}

Test(replica, remote_edits_apply_in_order)
{
    trep t;
    rep_open(&t, &pw_codec_json);
    pw_inproc_conn *plain = pw_inproc_connect(ip, NULL, &pw_codec_json);
    rep_pump(&t);
    plain_send(plain, "{\"type\":\"patches\",\"key\":\"k\",\"data\":[{\"op\":\"add\",\"path\":"
                      "[\"b\",0],\"value\":0}]}");
    plain_send(plain, "{\"type\":\"patches\",\"key\":\"k\",\"data\":[{\"op\":\"replace\",\"path\":"
                      "[\"c\",\"x\"],\"value\":\"y\"}]}");
    cr_assert_eq(rep_pump(&t), 2);
    assert_equal_to_hub(&t, "k");
    cr_assert_eq(pw_value_len(pw_object_get(rep_doc(&t, "k"), "b", 1)), 4);
    uint64_t seq;
    pw_replica_idle(t.r, "k", 1, &seq);
    cr_assert_eq(seq, 3);
    rep_close(&t);
}

Test(replica, edits_made_while_one_is_in_flight_go_out_after_its_ack)
{
    trep t;
    rep_open(&t, &pw_codec_json);
    rep_pump(&t);
    pw_store *s = pw_replica_store(t.r);
    pw_value p = path("[\"b\",3]");
    cr_assert_eq(pw_store_insert(s, "k", 1, &p, pw_int(4), NULL), PW_OK);
    pw_value_release(&p);
    p = path("[\"c\",\"n\"]");
    cr_assert_eq(pw_store_set(s, "k", 1, &p, pw_int(1), NULL), PW_OK);
    cr_assert_eq(pw_store_set(s, "k", 1, &p, pw_int(2), NULL), PW_OK);
    pw_value_release(&p);
    cr_assert_eq(t.sent, 1, "only one change in flight");
    /* the ack of the first sends the buffer, built on version 1 like it */
    cr_assert_eq(rep_pump(&t), 2);
    cr_assert_eq(t.sent, 2);
    sent_has(&t, "\"base\":1");
    sent_has(&t, "\"value\":1");
    sent_has(&t, "\"value\":2");
    assert_equal_to_hub(&t, "k");
    uint64_t seq;
    pw_replica_idle(t.r, "k", 1, &seq);
    cr_assert_eq(seq, 3);
    cr_assert_eq(pw_value_len(pw_object_get(rep_doc(&t, "k"), "b", 1)), 4);
    rep_close(&t);
}

Test(replica, a_conflicting_edit_is_rejected_and_the_replica_converges)
{
    trep t;
    rep_open(&t, &pw_codec_json);
    pw_inproc_conn *plain = pw_inproc_connect(ip, NULL, &pw_codec_json);
    rep_pump(&t);
    t.hold = true;
    pw_value p = path("[\"c\",\"x\"]");
    cr_assert_eq(pw_store_set(pw_replica_store(t.r), "k", 1, &p, pw_int(1), NULL), PW_OK);
    pw_value_release(&p);
    /* someone else changes the same object first */
    plain_send(plain, "{\"type\":\"patches\",\"key\":\"k\",\"data\":[{\"op\":\"replace\",\"path\":"
                      "[\"c\"],\"value\":{\"x\":2}}]}");
    rep_flush(&t);
    t.hold = false;
    rep_pump(&t);
    cr_assert_eq(t.errors, 1);
    cr_assert(strstr(t.error, "built on version 1"), "%s", t.error);
    assert_equal_to_hub(&t, "k");
    const pw_value *x = pw_object_get(pw_object_get(rep_doc(&t, "k"), "c", 1), "x", 1);
    cr_assert_eq(pw_value_int(x), 2);
    pw_hub_metrics m;
    pw_hub_metrics_get(hub, &m);
    cr_assert_eq(m.rejects, 1);
    rep_close(&t);
}

Test(replica, a_concurrent_edit_elsewhere_is_accepted)
{
    trep t;
    rep_open(&t, &pw_codec_msgpack);
    pw_inproc_conn *plain = pw_inproc_connect(ip, NULL, &pw_codec_json);
    rep_pump(&t);
    t.hold = true;
    pw_value p = path("[\"c\",\"x\"]");
    cr_assert_eq(pw_store_set(pw_replica_store(t.r), "k", 1, &p, pw_int(1), NULL), PW_OK);
    pw_value_release(&p);
    plain_send(plain, "{\"type\":\"patches\",\"key\":\"k\",\"data\":[{\"op\":\"remove\",\"path\":"
                      "[\"b\",0]}]}");
    rep_flush(&t);
    t.hold = false;
    rep_pump(&t);
    cr_assert_eq(t.errors, 0);
    assert_equal_to_hub(&t, "k");
    uint64_t seq;
    pw_replica_idle(t.r, "k", 1, &seq);
    cr_assert_eq(seq, 3);
    rep_close(&t);
}

Test(replica, a_gap_in_seq_asks_for_a_resync)
{
    trep t;
    rep_open(&t, &pw_codec_json);
    rep_pump(&t);
    const char *skip =
        "{\"type\":\"patches\",\"key\":\"k\",\"seq\":3,\"data\":[{\"op\":\"replace\","
        "\"path\":[\"a\"],\"value\":99}]}";
    cr_assert_eq(pw_replica_receive(t.r, (const uint8_t *)skip, strlen(skip), NULL), PW_OK);
    sent_has(&t, "{\"type\":\"resync\",\"key\":\"k\"}");
    /* patches are ignored until the FullSync */
    cr_assert_eq(pw_value_int(pw_object_get(rep_doc(&t, "k"), "a", 1)), 1);
    cr_assert_eq(rep_pump(&t), 1);
    assert_equal_to_hub(&t, "k");
    pw_replica_stats st;
    pw_replica_stats_get(t.r, &st);
    cr_assert_eq(st.resyncs, 1);
    cr_assert_eq(st.fullsyncs, 2);
    rep_close(&t);
}

Test(replica, reconnect_waits_for_the_new_fullsync)
{
    trep t;
    rep_open(&t, &pw_codec_json);
    rep_pump(&t);
    t.hold = true;
    pw_value p = path("[\"a\"]");
    cr_assert_eq(pw_store_set(pw_replica_store(t.r), "k", 1, &p, pw_int(5), NULL), PW_OK);
    pw_value_release(&p);
    /* the connection drops with the edit unsent */
    pw_inproc_disconnect(t.conn);
    for (size_t i = 0; i < t.nout; i++)
        pw_buf_free(&t.out[i]);
    t.nout = 0;
    t.hold = false;
    pw_replica_reconnect(t.r);
    t.conn = pw_inproc_connect(ip, NULL, &pw_codec_json);
    cr_assert_eq(rep_pump(&t), 1);
    assert_equal_to_hub(&t, "k");
    cr_assert_eq(pw_value_int(pw_object_get(rep_doc(&t, "k"), "a", 1)), 1);
    rep_close(&t);
}

/* ---- the hub's side of base, ack and resync, seen by a raw peer ---- */

static size_t recv_types(pw_inproc_conn *c, char *out, size_t size)
{
    size_t n = 0;
    out[0] = '\0';
    pw_frame *f;
    while ((f = pw_inproc_recv(c))) {
        pw_msg m;
        cr_assert_eq(pw_msg_decode(&pw_codec_json, f->data, f->len, NULL, &m, NULL), PW_OK);
        size_t tl;
        const char *t =
            m.type == PW_MSG_UNKNOWN ? pw_value_str(&m.type_name, &tl) : pw_msg_type_name(m.type);
        if (m.type != PW_MSG_UNKNOWN)
            tl = strlen(t);
        size_t len = strlen(out);
        snprintf(out + len, size - len, "%s%.*s", len ? "," : "", (int)tl, t);
        pw_msg_clear(&m);
        pw_frame_release(f);
        n++;
    }
    return n;
}

Test(replica, hub_checks_base_and_answers_resync)
{
    pw_inproc_conn *c = pw_inproc_connect(ip, NULL, &pw_codec_json);
    char types[256];
    recv_types(c, types, sizeof types);
    const char *bad = "{\"type\":\"patches\",\"key\":\"k\",\"base\":-1,\"data\":[]}";
    cr_assert_eq(pw_inproc_send(c, (const uint8_t *)bad, strlen(bad), NULL), PW_EMSG);
    bad = "{\"type\":\"patches\",\"key\":\"k\",\"base\":\"1\",\"data\":[]}";
    cr_assert_eq(pw_inproc_send(c, (const uint8_t *)bad, strlen(bad), NULL), PW_EMSG);
    bad = "{\"type\":\"patches\",\"key\":\"k\",\"base\":9,\"data\":[]}";
    cr_assert_eq(pw_inproc_send(c, (const uint8_t *)bad, strlen(bad), NULL), PW_EMSG);
    recv_types(c, types, sizeof types);
    cr_assert_str_eq(types, "error,fullsync,error,fullsync,error,fullsync");
    const char *ok = "{\"type\":\"patches\",\"key\":\"k\",\"base\":1,\"data\":[{\"op\":\"replace\","
                     "\"path\":[\"a\"],\"value\":2}]}";
    cr_assert_eq(pw_inproc_send(c, (const uint8_t *)ok, strlen(ok), NULL), PW_OK);
    recv_types(c, types, sizeof types);
    cr_assert_str_eq(types, "ack");
    /* its own change since base 1 does not count against it */
    ok = "{\"type\":\"patches\",\"key\":\"k\",\"base\":1,\"data\":[{\"op\":\"replace\","
         "\"path\":[\"a\"],\"value\":3}]}";
    cr_assert_eq(pw_inproc_send(c, (const uint8_t *)ok, strlen(ok), NULL), PW_OK);
    recv_types(c, types, sizeof types);
    cr_assert_str_eq(types, "ack");
    const char *rs = "{\"type\":\"resync\",\"key\":\"k\"}";
    cr_assert_eq(pw_inproc_send(c, (const uint8_t *)rs, strlen(rs), NULL), PW_OK);
    rs = "{\"type\":\"resync\",\"key\":\"nope\"}";
    cr_assert_eq(pw_inproc_send(c, (const uint8_t *)rs, strlen(rs), NULL), PW_OK);
    recv_types(c, types, sizeof types);
    cr_assert_str_eq(types, "fullsync");
}

Test(replica, plain_patch_crossing_an_unseen_change_is_followed_by_a_fullsync)
{
    pw_inproc_conn *a = pw_inproc_connect(ip, NULL, &pw_codec_json);
    pw_inproc_conn *b = pw_inproc_connect(ip, NULL, &pw_codec_json);
    char types[256];
    recv_types(a, types, sizeof types);
    recv_types(b, types, sizeof types);
    /* a and b edit different members: both relayed, no resync */
    plain_send(a, "{\"type\":\"patches\",\"key\":\"k\",\"data\":[{\"op\":\"replace\",\"path\":"
                  "[\"c\",\"x\"],\"value\":1}]}");
    plain_send(b, "{\"type\":\"patches\",\"key\":\"k\",\"data\":[{\"op\":\"replace\",\"path\":"
                  "[\"c\",\"y\"],\"value\":1}]}");
    recv_types(a, types, sizeof types);
    cr_assert_str_eq(types, "patches");
    recv_types(b, types, sizeof types);
    cr_assert_str_eq(types, "patches");
    /* b inserts into the array a is changing, without having read a's change */
    plain_send(a, "{\"type\":\"patches\",\"key\":\"k\",\"data\":[{\"op\":\"replace\",\"path\":"
                  "[\"b\",2],\"value\":9}]}");
    plain_send(b, "{\"type\":\"patches\",\"key\":\"k\",\"data\":[{\"op\":\"add\",\"path\":"
                  "[\"b\",0],\"value\":0}]}");
    recv_types(b, types, sizeof types);
    cr_assert_str_eq(types, "patches,fullsync");
    recv_types(a, types, sizeof types);
    cr_assert_str_eq(types, "patches");
    pw_hub_metrics m;
    pw_hub_metrics_get(hub, &m);
    cr_assert_eq(m.resyncs, 1);
    cr_assert_eq(m.rejects, 0);
}

/* B changes the state first (a plain peer); then A sends a list built on
 * version 1: accepted (ack) when the two touch no overlapping path. */
static const char *after(const char *b_list, const char *a_list)
{
    static char types[256];
    pw_inproc_conn *a = pw_inproc_connect(ip, NULL, &pw_codec_json);
    pw_inproc_conn *b = pw_inproc_connect(ip, NULL, &pw_codec_json);
    recv_types(a, types, sizeof types);
    char msg[512];
    snprintf(msg, sizeof msg, "{\"type\":\"patches\",\"key\":\"k\",\"data\":%s}", b_list);
    plain_send(b, msg);
    recv_types(a, types, sizeof types);
    snprintf(msg, sizeof msg, "{\"type\":\"patches\",\"key\":\"k\",\"base\":1,\"data\":%s}",
             a_list);
    pw_inproc_send(a, (const uint8_t *)msg, strlen(msg), NULL);
    recv_types(a, types, sizeof types);
    return types;
}

#define REP(path, v) "[{\"op\":\"replace\",\"path\":" path ",\"value\":" v "}]"
#define ADD(path, v) "[{\"op\":\"add\",\"path\":" path ",\"value\":" v "}]"
#define REM(path) "[{\"op\":\"remove\",\"path\":" path "}]"

Test(replica, different_members_do_not_overlap)
{
    cr_assert_str_eq(after(REP("[\"c\",\"x\"]", "1"), REP("[\"c\",\"y\"]", "2")), "ack");
}

Test(replica, a_member_and_its_parent_overlap)
{
    cr_assert_str_eq(after(REP("[\"c\"]", "{}"), REP("[\"c\",\"y\"]", "2")), "error,fullsync");
}

Test(replica, replaces_of_different_elements_do_not_overlap)
{
    cr_assert_str_eq(after(REP("[\"b\",0]", "5"), REP("[\"b\",2]", "6")), "ack");
}

Test(replica, an_insert_overlaps_every_element_of_its_array)
{
    cr_assert_str_eq(after(ADD("[\"b\",3]", "5"), REP("[\"b\",0]", "6")), "error,fullsync");
}

Test(replica, a_removal_overlaps_every_element_of_its_array)
{
    cr_assert_str_eq(after(REP("[\"b\",0]", "6"), REM("[\"b\",2]")), "error,fullsync");
}

Test(replica, a_length_replace_overlaps_the_array)
{
    cr_assert_str_eq(after(REP("[\"b\",\"length\"]", "1"), REP("[\"b\",1]", "6")),
                     "error,fullsync");
}

Test(replica, a_replace_past_the_end_overlaps_the_array)
{
    cr_assert_str_eq(after(REP("[\"b\",5]", "1"), REP("[\"b\",0]", "6")), "error,fullsync");
}

Test(replica, an_int_segment_equals_its_decimal_string)
{
    cr_assert_str_eq(after(REP("[\"b\",1]", "5"), REP("[\"b\",\"1\"]", "6")), "error,fullsync");
}

Test(replica, a_key_in_an_object_is_not_an_array_shift)
{
    cr_assert_str_eq(after(ADD("[\"c\",\"x\"]", "5"), ADD("[\"c\",\"y\"]", "6")), "ack");
}

Test(replica, a_base_older_than_the_log_is_a_conflict)
{
    pw_inproc_free(ip);
    pw_hub_free(hub);
    pw_hub_options o;
    pw_hub_options_init(&o);
    o.max_changelog = 2;
    hub = pw_hub_new(&o);
    ip = pw_inproc_new(hub);
    cr_assert_eq(pw_hub_set_state(hub, "k", 1, jsonv_parse("{\"a\":1,\"b\":[1,2,3],\"c\":{}}")), PW_OK);
    pw_inproc_conn *b = pw_inproc_connect(ip, NULL, &pw_codec_json);
    for (int i = 0; i < 3; i++)
        plain_send(b, "{\"type\":\"patches\",\"key\":\"k\",\"data\":" REP("[\"a\"]", "2") "}");
    /* versions 2..4 were changes of "a"; 2 is no longer held */
    cr_assert_str_eq(after("[]", REP("[\"c\",\"z\"]", "1")), "error,fullsync");
}
