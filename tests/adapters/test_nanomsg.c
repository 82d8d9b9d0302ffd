/* test_nanomsg.c - the nanomsg transport on real sockets (ipc and tcp on
 * loopback): a hub's PUB/PULL/REP server and replicas following it, all
 * serviced from the test thread in bounded loops (nanomsg moves the bytes on
 * its own threads). Late joiners, the key prefix, gaps after a subscriber
 * fell behind, hostile frames on PULL and REP, a hub that restarts, nanocat
 * as the plain client of the SPEC's recipe. */
#include <criterion/criterion.h>
#include <nanomsg/nn.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "jsonv.h"
#include "patchwire/codec.h"
#include "patchwire/hub.h"
#include "patchwire/inproc.h"
#include "patchwire/nanomsg.h"
#include "patchwire/replica.h"

#define DEADLINE_MS 8000
#define MAXDEV 4

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static pw_hub *hub;
static pw_nn_server *server;
static char url[256];
static char dir[64];
static int heartbeat_ms = 100;

typedef struct dev {
    pw_nn_client *c;
    pw_replica *r;
    size_t errors;
} dev;

static dev devs[MAXDEV];
static int ndev;

static void hub_start(const char *state)
{
    hub = pw_hub_new(NULL);
    cr_assert(hub);
    cr_assert_eq(pw_hub_set_state(hub, "k", 1, jsonv_parse(state)), PW_OK);
}

static void server_start(const pw_codec *codec)
{
    pw_nn_server_options o;
    pw_nn_server_options_init(&o);
    o.url = url;
    o.codec = codec;
    o.heartbeat_ms = heartbeat_ms;
    pw_error err;
    server = pw_nn_server_new(hub, &o, &err);
    cr_assert(server, "%s: %s", url, err.msg);
}

static void setup_ipc(void)
{
    snprintf(dir, sizeof dir, "/tmp/pwnn.XXXXXX");
    cr_assert(mkdtemp(dir));
    snprintf(url, sizeof url, "ipc://%s/hub", dir);
    hub_start("{\"n\":0,\"list\":[]}");
    server_start(NULL);
}

/* No heartbeats: the wire tests see exactly what is published. */
static void setup_quiet(void)
{
    heartbeat_ms = 0;
    setup_ipc();
    heartbeat_ms = 100;
}

/* A port whose next two are free too: tried until the server binds. */
static void setup_tcp(void)
{
    hub_start("{\"n\":0,\"list\":[]}");
    srand((unsigned)getpid() ^ (unsigned)now_ms());
    for (int i = 0; i < 50 && !server; i++) {
        snprintf(url, sizeof url, "tcp://127.0.0.1:%d", 20000 + rand() % 40000);
        pw_nn_server_options o;
        pw_nn_server_options_init(&o);
        o.url = url;
        server = pw_nn_server_new(hub, &o, NULL);
    }
    cr_assert(server, "no free tcp ports");
}

static void teardown(void)
{
    for (int i = 0; i < ndev; i++) {
        pw_nn_client_free(devs[i].c);
        pw_replica_free(devs[i].r);
    }
    ndev = 0;
    pw_nn_server_free(server);
    server = NULL;
    pw_hub_free(hub);
    hub = NULL;
    if (dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        cr_assert_eq(system(cmd), 0);
        dir[0] = '\0';
    }
}

static void dev_error(const char *key, size_t klen, const char *msg, void *userdata)
{
    (void)key, (void)klen, (void)msg;
    ((dev *)userdata)->errors++;
}

static dev *dev_open_with(const pw_nn_client_options *base, const pw_codec *codec)
{
    cr_assert(ndev < MAXDEV);
    dev *d = &devs[ndev++];
    memset(d, 0, sizeof *d);
    pw_nn_client_options o = *base;
    o.url = url;
    pw_error err;
    d->c = pw_nn_client_new(&o, &err);
    cr_assert(d->c, "%s", err.msg);
    pw_replica_options ro;
    pw_replica_options_init(&ro);
    ro.codec = codec;
    ro.send_keyed = pw_nn_replica_send;
    ro.send_userdata = d->c;
    ro.origin = pw_nn_client_origin(d->c);
    ro.on_error = dev_error;
    ro.on_error_userdata = d;
    d->r = pw_replica_new(&ro);
    cr_assert(d->r);
    pw_nn_client_bind_replica(d->c, d->r);
    cr_assert_eq(pw_nn_client_follow(d->c, "k", 1), PW_OK);
    return d;
}

static dev *dev_open(const pw_codec *codec)
{
    pw_nn_client_options o;
    pw_nn_client_options_init(&o);
    return dev_open_with(&o, codec);
}

/* Services everything once, each waiting at most 1 ms. */
static void pump(void)
{
    if (server)
        pw_nn_server_service(server, 1);
    for (int i = 0; i < ndev; i++)
        pw_nn_client_service(devs[i].c, ndev > 2 ? 0 : 1);
}

/* Every open device holds the hub's version and state of k. */
static bool converged(void)
{
    uint64_t v;
    const pw_value *h = pw_hub_state(hub, "k", 1, &v);
    for (int i = 0; i < ndev; i++) {
        uint64_t seq;
        if (!pw_replica_idle(devs[i].r, "k", 1, &seq) || seq != v ||
            !pw_value_equal(pw_store_get(pw_replica_store(devs[i].r), "k", 1), h))
            return false;
    }
    return true;
}

static void assert_converges(void)
{
    long end = now_ms() + DEADLINE_MS;
    while (!converged() && now_ms() < end)
        pump();
    for (int i = 0; i < ndev; i++) {
        uint64_t seq, v;
        pw_hub_state(hub, "k", 1, &v);
        cr_assert(pw_replica_idle(devs[i].r, "k", 1, &seq), "dev%d not idle", i);
        cr_assert_eq(seq, v, "dev%d at %llu, hub at %llu", i, (unsigned long long)seq,
                     (unsigned long long)v);
    }
    cr_assert(converged(), "a device differs from the hub");
}

static void set_n(dev *d, int n)
{
    pw_value p = jsonv_parse("[\"n\"]");
    cr_assert_eq(pw_store_set(pw_replica_store(d->r), "k", 1, &p, pw_int(n), NULL), PW_OK);
    pw_value_release(&p);
}

static int64_t hub_n(void)
{
    return pw_value_int(pw_object_get(pw_hub_state(hub, "k", 1, NULL), "n", 1));
}

/* ---- endpoints ---- */

Test(nanomsg_url, names_three_sockets_per_transport)
{
    char out[128];
    cr_assert_eq(pw_nn_endpoint("tcp://127.0.0.1:5000", PW_NN_REP, out, sizeof out, NULL), PW_OK);
    cr_assert_str_eq(out, "tcp://127.0.0.1:5002");
    cr_assert_eq(pw_nn_endpoint("tcp://[::1]:5000", PW_NN_PULL, out, sizeof out, NULL), PW_OK);
    cr_assert_str_eq(out, "tcp://[::1]:5001");
    cr_assert_eq(pw_nn_endpoint("ipc:///tmp/x", PW_NN_PULL, out, sizeof out, NULL), PW_OK);
    cr_assert_str_eq(out, "ipc:///tmp/x.pull");
    cr_assert_eq(pw_nn_endpoint("inproc://a", PW_NN_PUB, out, sizeof out, NULL), PW_OK);
    cr_assert_str_eq(out, "inproc://a.pub");
    pw_error err;
    const char *bad[] = {"tcp://host", "tcp://:5", "tcp://h:65534", "tcp://h:0", "ws://h:1",
                         "ipc://",     "",         "tcp://h:12x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(pw_nn_endpoint(bad[i], PW_NN_PUB, out, sizeof out, &err), PW_EINVAL, "%s",
                     bad[i]);
    cr_assert(strstr(err.msg, "tcp://h:12x"));
}

/* ---- replicas ---- */

static void late_joiner(void)
{
    dev *a = dev_open(NULL);
    assert_converges();
    for (int i = 1; i <= 20; i++) {
        set_n(a, i);
        assert_converges();
    }
    dev *b = dev_open(&pw_codec_msgpack);
    assert_converges();
    cr_assert_eq(hub_n(), 20);
    cr_assert_eq(pw_value_int(pw_object_get(pw_store_get(pw_replica_store(b->r), "k", 1), "n", 1)),
                 20);
    pw_nn_client_stats st;
    pw_nn_client_stats_get(b->c, &st);
    cr_assert_geq(st.snapshots, 1, "the state came from REP");
}

Test(nanomsg_ipc, a_late_joiner_gets_the_state_through_rep, .init = setup_ipc, .fini = teardown)
{
    late_joiner();
}

Test(nanomsg_tcp, a_late_joiner_gets_the_state_through_rep, .init = setup_tcp, .fini = teardown)
{
    late_joiner();
}

static void concurrent(void)
{
    dev *a = dev_open(NULL), *b = dev_open(&pw_codec_msgpack), *c = dev_open(NULL);
    assert_converges();
    srand(7);
    for (int step = 0; step < 300; step++) {
        dev *d = (dev *[]){a, b, c}[rand() % 3];
        if (!pw_replica_waiting(d->r, "k", 1)) {
            if (rand() % 2) {
                set_n(d, step);
            } else {
                pw_value p = jsonv_parse("[\"list\",0]");
                pw_store_insert(pw_replica_store(d->r), "k", 1, &p, pw_int(step), NULL);
                pw_value_release(&p);
            }
        }
        if (rand() % 3 == 0)
            pump();
    }
    assert_converges();
}

Test(nanomsg_ipc, concurrent_edits_of_replicas_converge, .init = setup_ipc, .fini = teardown)
{
    concurrent();
}

Test(nanomsg_tcp, concurrent_edits_of_replicas_converge, .init = setup_tcp, .fini = teardown)
{
    concurrent();
}

/* A plain peer of the same hub (in process) makes `count` changes. */
static void changes_from_elsewhere(int count)
{
    pw_inproc *ip = pw_inproc_new(hub);
    pw_inproc_conn *c = pw_inproc_connect(ip, NULL, NULL);
    cr_assert(c);
    for (int i = 0; i < count; i++) {
        char msg[256];
        snprintf(msg, sizeof msg,
                 "{\"type\":\"patches\",\"key\":\"k\",\"data\":[{\"op\":\"replace\",\"path\":"
                 "[\"n\"],\"value\":%d},{\"op\":\"add\",\"path\":[\"pad\"],\"value\":"
                 "\"%080d\"}]}",
                 i, i);
        cr_assert_eq(pw_inproc_send(c, (const uint8_t *)msg, strlen(msg), NULL), PW_OK);
        while (pw_inproc_pending(c))
            pw_frame_release(pw_inproc_recv(c));
        if (i % 64 == 0)
            pw_nn_server_service(server, 0);
    }
    pw_inproc_free(ip);
    pw_nn_server_service(server, 0);
}

static void falls_behind(void)
{
    pw_nn_client_options o;
    pw_nn_client_options_init(&o);
    o.rcvbuf = 1024; /* the smallest nanomsg allows */
    dev *slow = dev_open_with(&o, NULL);
    assert_converges();
    /* the reader sleeps while 20,000 changes are published */
    changes_from_elsewhere(20000);
    sleep_ms(200);
    assert_converges();
    pw_nn_client_stats st;
    pw_nn_client_stats_get(slow->c, &st);
    pw_replica_stats rs;
    pw_replica_stats_get(slow->r, &rs);
    cr_assert_lt(st.received, 20000, "nothing was dropped: the test proves nothing");
    cr_assert_geq(rs.resyncs + st.heartbeat_gaps, 1, "the loss was seen");
    cr_assert_geq(st.requests, 2, "and a FullSync asked for");
    cr_assert_eq(hub_n(), 19999);
}

Test(nanomsg_ipc, a_subscriber_that_falls_behind_sees_the_gap_and_converges, .init = setup_ipc,
     .fini = teardown)
{
    falls_behind();
}

Test(nanomsg_tcp, a_subscriber_that_falls_behind_sees_the_gap_and_converges, .init = setup_tcp,
     .fini = teardown)
{
    falls_behind();
}

/* ---- plain sockets: what the SPEC's recipe does ---- */

static int raw_socket(int protocol, pw_nn_socket which)
{
    char addr[300];
    cr_assert_eq(pw_nn_endpoint(url, which, addr, sizeof addr, NULL), PW_OK);
    int s = nn_socket(AF_SP, protocol);
    cr_assert_geq(s, 0);
    int ms = 200;
    nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &ms, sizeof ms);
    int linger = 0;
    nn_setsockopt(s, NN_SOL_SOCKET, NN_LINGER, &linger, sizeof linger);
    cr_assert_geq(nn_connect(s, addr), 0);
    return s;
}

/* The next message of s (the server serviced meanwhile), malloc'd and
 * NUL-terminated, or NULL after the deadline. */
static char *raw_recv(int s, int *len, int deadline_ms)
{
    long end = now_ms() + deadline_ms;
    while (now_ms() < end) {
        pw_nn_server_service(server, 1);
        void *buf = NULL;
        int n = nn_recv(s, &buf, NN_MSG, NN_DONTWAIT);
        if (n < 0)
            continue;
        char *copy = malloc((size_t)n + 1);
        memcpy(copy, buf, (size_t)n);
        copy[n] = '\0';
        nn_freemsg(buf);
        if (len)
            *len = n;
        return copy;
    }
    return NULL;
}

/* Sends a request to REP and returns the answer. */
static char *raw_request(const void *p, size_t n, int *len)
{
    int req = raw_socket(NN_REQ, PW_NN_REP);
    cr_assert_eq(nn_send(req, p, n, 0), (int)n);
    char *answer = raw_recv(req, len, DEADLINE_MS);
    nn_close(req);
    cr_assert(answer, "REP did not answer");
    return answer;
}

static void wait_connected(int sub)
{
    long end = now_ms() + DEADLINE_MS;
    while (nn_get_statistic(sub, NN_STAT_CURRENT_CONNECTIONS) < 1 && now_ms() < end)
        pw_nn_server_service(server, 1);
    sleep_ms(50); /* the subscription reaches the publisher's side */
}

Test(nanomsg_wire, a_subscriber_of_key_nul_sees_only_that_key, .init = setup_quiet,
     .fini = teardown)
{
    cr_assert_eq(pw_hub_set_state(hub, "kk", 2, jsonv_parse("{}")), PW_OK);
    int sub = raw_socket(NN_SUB, PW_NN_PUB);
    cr_assert_geq(nn_setsockopt(sub, NN_SUB, NN_SUB_SUBSCRIBE, "k", 2), 0); /* "k\0" */
    wait_connected(sub);
    cr_assert_eq(pw_hub_set_state(hub, "kk", 2, jsonv_parse("{\"x\":1}")), PW_OK);
    cr_assert_eq(pw_hub_set_state(hub, "k", 1, jsonv_parse("{\"n\":5}")), PW_OK);
    int n;
    char *m = raw_recv(sub, &n, DEADLINE_MS);
    cr_assert(m);
    cr_assert_eq(m[0], 'k');
    cr_assert_eq(m[1], '\0');
    cr_assert_str_eq(m + 2, "{\"type\":\"fullsync\",\"key\":\"k\",\"seq\":2,\"data\":{\"n\":5}}");
    free(m);
    cr_assert_null(raw_recv(sub, NULL, 200), "kk is not k");
    nn_close(sub);

    m = raw_request("{\"type\":\"resync\",\"key\":\"k\"}", 27, &n);
    cr_assert_str_eq(m, "{\"type\":\"fullsync\",\"key\":\"k\",\"seq\":2,\"data\":{\"n\":5}}");
    free(m);
}

Test(nanomsg_wire, the_stream_is_in_the_codec_chosen, .init = setup_quiet, .fini = teardown)
{
    pw_nn_server_free(server);
    server = NULL;
    server_start(&pw_codec_msgpack);
    int sub = raw_socket(NN_SUB, PW_NN_PUB);
    cr_assert_geq(nn_setsockopt(sub, NN_SUB, NN_SUB_SUBSCRIBE, "k", 2), 0);
    wait_connected(sub);
    cr_assert_eq(pw_hub_set_state(hub, "k", 1, jsonv_parse("{\"n\":5}")), PW_OK);
    int n;
    char *m = raw_recv(sub, &n, DEADLINE_MS);
    cr_assert(m && n > 2);
    cr_assert_eq(pw_codec_detect((uint8_t *)m + 2, (size_t)n - 2), &pw_codec_msgpack);
    free(m);
    nn_close(sub);
}

Test(nanomsg_wire, a_quiet_key_publishes_its_version_with_growing_intervals, .init = setup_ipc,
     .fini = teardown)
{
    int sub = raw_socket(NN_SUB, PW_NN_PUB);
    cr_assert_geq(nn_setsockopt(sub, NN_SUB, NN_SUB_SUBSCRIBE, "k", 2), 0);
    wait_connected(sub);
    cr_assert_eq(pw_hub_set_state(hub, "k", 1, jsonv_parse("{\"n\":5}")), PW_OK);
    char *m = raw_recv(sub, NULL, DEADLINE_MS);
    cr_assert(m && strstr(m + 2, "\"fullsync\""));
    free(m);
    long t0 = now_ms(), at[3];
    for (int i = 0; i < 3; i++) {
        m = raw_recv(sub, NULL, DEADLINE_MS);
        cr_assert(m);
        at[i] = now_ms() - t0;
        cr_assert_str_eq(m + 2, "{\"type\":\"ack\",\"key\":\"k\",\"seq\":2}");
        free(m);
    }
    cr_assert(at[0] >= 90 && at[1] >= 290 && at[2] >= 690, "%ld %ld %ld", at[0], at[1], at[2]);
    nn_close(sub);
}

/* Hostile input on PULL: an error on PUB, nothing applied or relayed, the
 * replica beside it unaffected. */
Test(nanomsg_wire, bad_edits_on_pull_are_refused_and_nothing_is_relayed, .init = setup_quiet,
     .fini = teardown)
{
    dev *a = dev_open(NULL);
    assert_converges();
    int sub = raw_socket(NN_SUB, PW_NN_PUB);
    cr_assert_geq(nn_setsockopt(sub, NN_SUB, NN_SUB_SUBSCRIBE, "", 0), 0);
    int push = raw_socket(NN_PUSH, PW_NN_PULL);
    wait_connected(sub);

    char deep[4096];
    size_t dn = (size_t)snprintf(deep, sizeof deep,
                                 "{\"type\":\"patches\",\"key\":\"k\",\"data\":[{\"op\":\"add\","
                                 "\"path\":[\"d\"],\"value\":");
    for (int i = 0; i < 1000; i++)
        deep[dn++] = '[';
    for (int i = 0; i < 1000; i++)
        deep[dn++] = ']';
    dn += (size_t)snprintf(deep + dn, sizeof deep - dn, "}]}");
    /* a MessagePack map announcing 2^32-1 entries, a str32 of 4 GiB */
    static const uint8_t huge_map[] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0xa4, 't', 'y', 'p', 'e'};
    static const uint8_t huge_str[] = {0x81, 0xa4, 't',  'y',  'p',  'e',
                                       0xdb, 0xff, 0xff, 0xff, 0xf0, 'p'};
    struct {
        const void *p;
        size_t n;
    } bad[] = {
        {"garbage{", 8},
        {"{\"type\":\"patches\",\"key\":\"nokey\",\"data\":[{\"op\":\"replace\",\"path\":[\"n\"],"
         "\"value\":1}]}",
         0},
        {"{\"type\":\"patches\",\"key\":\"k\",\"data\":[{\"op\":\"replace\",\"path\":[\"__proto__"
         "\","
         "\"x\"],\"value\":1}]}",
         0},
        {deep, dn},
        {huge_map, sizeof huge_map},
        {huge_str, sizeof huge_str},
        {"", 0},
    };
    uint64_t v0;
    pw_hub_state(hub, "k", 1, &v0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = bad[i].n || i == 6 ? bad[i].n : strlen(bad[i].p);
        cr_assert_eq(nn_send(push, bad[i].p, n, 0), (int)n);
        int len;
        char *m = raw_recv(sub, &len, DEADLINE_MS);
        cr_assert(m, "no error for bad edit %zu", i);
        const char *nul = memchr(m, '\0', (size_t)len);
        cr_assert(nul);
        pw_msg msg;
        const uint8_t *body = (const uint8_t *)nul + 1;
        size_t blen = (size_t)(m + len - nul - 1);
        cr_assert_eq(pw_msg_decode(pw_codec_detect(body, blen), body, blen, NULL, &msg, NULL),
                     PW_OK);
        cr_assert_eq(msg.type, PW_MSG_ERROR, "edit %zu: %s", i, nul + 1);
        cr_assert(!msg.has_seq);
        pw_msg_clear(&msg);
        free(m);
    }
    uint64_t v1;
    pw_hub_state(hub, "k", 1, &v1);
    cr_assert_eq(v1, v0, "nothing applied");
    cr_assert_null(pw_hub_state(hub, "nokey", 5, NULL));
    cr_assert_null(raw_recv(sub, NULL, 100), "nothing relayed");
    pw_nn_server_stats st;
    pw_nn_server_stats_get(server, &st);
    cr_assert_eq(st.rejects, 7);
    /* the replica beside it still edits */
    set_n(a, 77);
    assert_converges();
    cr_assert_eq(hub_n(), 77);
    cr_assert_eq(a->errors, 0, "others' errors are not its own");
    nn_close(sub);
    nn_close(push);
}

Test(nanomsg_wire, bad_requests_on_rep_get_an_error_and_rep_goes_on, .init = setup_quiet,
     .fini = teardown)
{
    static const uint8_t huge_map[] = {0xdf, 0xff, 0xff, 0xff, 0xff};
    const char *texts[] = {"garbage", "{\"type\":\"resync\",\"key\":\"nope\"}",
                           "{\"type\":\"patches\",\"key\":\"k\",\"data\":[]}", "[[[[[[[[[[[["};
    for (size_t i = 0; i < 5; i++) {
        int len;
        char *m = i < 4 ? raw_request(texts[i], strlen(texts[i]), &len)
                        : raw_request(huge_map, sizeof huge_map, &len);
        pw_msg msg;
        cr_assert_eq(pw_msg_decode(pw_codec_detect((uint8_t *)m, (size_t)len), (uint8_t *)m,
                                   (size_t)len, NULL, &msg, NULL),
                     PW_OK);
        cr_assert_eq(msg.type, PW_MSG_ERROR, "request %zu: %s", i, m);
        pw_msg_clear(&msg);
        free(m);
    }
    int len;
    char *m = raw_request("{\"type\":\"resync\",\"key\":\"k\"}", 27, &len);
    cr_assert(strstr(m, "\"fullsync\""));
    free(m);
    uint64_t v;
    pw_hub_state(hub, "k", 1, &v);
    cr_assert_eq(v, 1);
}

Test(nanomsg_wire, a_message_over_the_hub_limit_never_reaches_it, .init = setup_ipc,
     .fini = teardown)
{
    pw_nn_server_free(server);
    pw_hub_free(hub);
    pw_hub_options ho;
    pw_hub_options_init(&ho);
    ho.limits.max_input_bytes = 1024;
    hub = pw_hub_new(&ho);
    cr_assert_eq(pw_hub_set_state(hub, "k", 1, jsonv_parse("{\"n\":0}")), PW_OK);
    server = NULL;
    server_start(NULL);
    int push = raw_socket(NN_PUSH, PW_NN_PULL);
    char big[4096];
    int n = snprintf(big, sizeof big,
                     "{\"type\":\"patches\",\"key\":\"k\",\"data\":[{\"op\":\"replace\",\"path\":"
                     "[\"n\"],\"value\":\"%03000d\"}]}",
                     1);
    cr_assert_eq(nn_send(push, big, (size_t)n, 0), n);
    for (int i = 0; i < 100; i++)
        pw_nn_server_service(server, 1);
    uint64_t v;
    pw_hub_state(hub, "k", 1, &v);
    cr_assert_eq(v, 1);
    nn_close(push);
}

static bool public_only(const char *identity, const char *key, size_t key_len, pw_access what,
                        void *userdata)
{
    (void)identity, (void)what, (void)userdata;
    return !(key_len == 6 && memcmp(key, "secret", 6) == 0);
}

Test(nanomsg_wire, rep_serves_only_the_keys_pub_carries, .init = setup_quiet, .fini = teardown)
{
    pw_nn_server_free(server);
    pw_hub_free(hub);
    server = NULL;
    pw_hub_options ho;
    pw_hub_options_init(&ho);
    ho.access = public_only;
    hub = pw_hub_new(&ho);
    cr_assert_eq(pw_hub_set_state(hub, "k", 1, jsonv_parse("{}")), PW_OK);
    cr_assert_eq(pw_hub_set_state(hub, "secret", 6, jsonv_parse("{\"pin\":1}")), PW_OK);
    heartbeat_ms = 0;
    server_start(NULL);
    heartbeat_ms = 100;
    int len;
    char *m = raw_request("{\"type\":\"resync\",\"key\":\"secret\"}", 32, &len);
    cr_assert(strstr(m, "\"error\"") && !strstr(m, "pin"), "%s", m);
    free(m);
    m = raw_request("{\"type\":\"resync\",\"key\":\"k\"}", 27, &len);
    cr_assert(strstr(m, "\"fullsync\""), "%s", m);
    free(m);
}

/* ---- the hub restarts ---- */

Test(nanomsg_ipc, subscribers_resync_after_the_hub_restarts, .init = setup_ipc, .fini = teardown)
{
    dev *a = dev_open(NULL), *b = dev_open(&pw_codec_msgpack);
    assert_converges();
    for (int i = 1; i <= 5; i++) {
        set_n(a, i);
        assert_converges();
    }
    pw_nn_server_free(server);
    pw_hub_free(hub);
    server = NULL;
    for (int i = 0; i < 20; i++)
        pump();
    /* another hub, with its versions from 1 again */
    hub_start("{\"n\":100,\"list\":[\"fresh\"]}");
    server_start(NULL);
    assert_converges();
    pw_nn_client_stats st;
    pw_nn_client_stats_get(b->c, &st);
    cr_assert_geq(st.restarts, 1);
    set_n(b, 101);
    assert_converges();
    cr_assert_eq(hub_n(), 101);
}

/* ---- nanocat ---- */

Test(nanomsg_wire, nanocat_follows_a_key_and_pushes_an_edit, .init = setup_ipc, .fini = teardown)
{
    char out[4096], cmd[1024], addr[300];
    /* the state: a REQ to REP */
    pw_nn_endpoint(url, PW_NN_REP, addr, sizeof addr, NULL);
    snprintf(cmd, sizeof cmd,
             "timeout 5 nanocat --req --connect %s --recv-timeout 3 -D "
             "'{\"type\":\"resync\",\"key\":\"k\"}' -A 2>&1",
             addr);
    /* nanocat blocks in its own process: service the server meanwhile */
    FILE *f = popen(cmd, "r");
    cr_assert(f);
    long end = now_ms() + DEADLINE_MS;
    while (now_ms() < end) {
        pw_nn_server_service(server, 5);
        pw_nn_server_stats st;
        pw_nn_server_stats_get(server, &st);
        if (st.requests)
            break;
    }
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = '\0';
    pclose(f);
    cr_assert(strstr(out, "{\"type\":\"fullsync\",\"key\":\"k\",\"seq\":1,"), "%s", out);
}
