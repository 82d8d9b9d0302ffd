/* test_mqtt.c - the MQTT transport against a real mosquitto: a hub with its
 * MQTT side in this process, devices that are raw MQTT clients (recorders
 * that publish what a test says) or replicas over the broker, a broker
 * killed and restarted mid-stream, bad payloads on `edit`, and TLS with user
 * names, passwords and an ACL. Every broker is the test's own (config file,
 * free loopback port) and is stopped by it. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "broker.h"
#include "child.h"
#include "jsonv.h"
#include "patchwire/codec.h"
#include "patchwire/hub.h"
#include "patchwire/inproc.h"
#include "patchwire/mqtt.h"
#include "patchwire/msg.h"
#include "patchwire/replica.h"

static broker B;
static pw_hub *hub;
static pw_inproc *ip;
static pw_mqtt_server *srv;

/* ---- a raw device: records what arrives, publishes what it is told ---- */

#define MAXREC 4096

typedef struct rec {
    pw_mqtt_topic topic;
    char key[64];
    pw_msg m;
} rec;

typedef struct device {
    pw_mqtt_client *c;
    rec *got;
    size_t n;
    bool open;
    pw_replica *r; /* when it is a replica */
} device;

static void dev_message(pw_mqtt_topic topic, const char *key, size_t klen, const uint8_t *p,
                        size_t n, void *userdata)
{
    device *d = userdata;
    if (d->r || d->n == MAXREC)
        return;
    rec *r = &d->got[d->n];
    pw_error err;
    const pw_codec *c = pw_codec_detect(p, n);
    cr_assert(c, "empty message on %s", key);
    cr_assert_eq(pw_msg_decode(c, p, n, NULL, &r->m, &err), PW_OK,
                 "the hub published an unreadable message: %s", err.msg);
    r->topic = topic;
    snprintf(r->key, sizeof r->key, "%.*s", (int)klen, key);
    d->n++;
}

static void dev_open(void *userdata)
{
    ((device *)userdata)->open = true;
}

static void device_new(device *d, const char *url, const char *key, bool replica,
                       const pw_mqtt_link_options *link)
{
    memset(d, 0, sizeof *d);
    d->got = calloc(MAXREC, sizeof *d->got);
    cr_assert(d->got);
    static const char *keys[1];
    keys[0] = key;
    pw_mqtt_client_options o;
    pw_mqtt_client_options_init(&o);
    if (link)
        o.link = *link;
    o.link.url = url;
    o.keys = key ? keys : NULL;
    o.nkeys = key ? 1 : 0;
    o.cb.on_message = dev_message;
    o.cb.on_open = dev_open;
    o.userdata = d;
    pw_error err;
    d->c = pw_mqtt_client_new(&o, &err);
    cr_assert(d->c, "client: %s", err.msg);
    if (replica) {
        pw_replica_options ro;
        pw_replica_options_init(&ro);
        pw_mqtt_replica_options(d->c, &ro);
        d->r = pw_replica_new(&ro);
        cr_assert(d->r);
        pw_mqtt_client_bind_replica(d->c, d->r);
    }
}

static void device_free(device *d)
{
    pw_mqtt_client_free(d->c);
    pw_replica_free(d->r);
    for (size_t i = 0; i < d->n; i++)
        pw_msg_clear(&d->got[i].m);
    free(d->got);
    memset(d, 0, sizeof *d);
}

static void device_publish(device *d, const char *key, const char *payload, size_t n)
{
    cr_assert_eq(pw_mqtt_client_publish(d->c, PW_MQTT_EDIT, key, strlen(key),
                                        (const uint8_t *)payload, n),
                 PW_OK);
}

/* ---- the hub ---- */

static void hub_start(const pw_mqtt_link_options *link, int state_interval_ms)
{
    hub = pw_hub_new(NULL);
    ip = pw_inproc_new(hub);
    cr_assert(hub && ip);
    cr_assert_eq(pw_hub_set_state(hub, "todo", 4, jsonv_parse("{\"items\":[],\"n\":0}")), PW_OK);
    pw_mqtt_server_options o;
    pw_mqtt_server_options_init(&o);
    if (link)
        o.link = *link;
    o.link.url = B.url;
    o.link.backoff_min_ms = 50;
    o.link.backoff_max_ms = 400;
    if (state_interval_ms)
        o.state_interval_ms = state_interval_ms;
    pw_error err;
    srv = pw_mqtt_server_new(hub, &o, &err);
    cr_assert(srv, "server: %s", err.msg);
}

static device *devs[8];
static size_t ndevs;

/* Services the hub's side and every device for ms milliseconds. */
static void pump(int ms)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        if (srv)
            pw_mqtt_server_service(srv, 2);
        for (size_t i = 0; i < ndevs; i++)
            pw_mqtt_client_service(devs[i]->c, 0);
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
}

/* Pumps until cond holds, at most timeout_ms (the caller asserts cond). */
#define WAIT_FOR(cond, timeout_ms)                                                                 \
    for (int w_ = 0; w_ < (timeout_ms) / 10 && !(cond); w_++)                                      \
    pump(10)

static device *add_device(const char *key, bool replica, const pw_mqtt_link_options *link)
{
    device *d = calloc(1, sizeof *d);
    cr_assert(d && ndevs < 8);
    device_new(d, B.url, key, replica, link);
    devs[ndevs++] = d;
    WAIT_FOR(d->open, 5000);
    cr_assert(d->open, "device did not connect");
    return d;
}

static void setup(void)
{
    char why[256];
    cr_assert(broker_available(), "mosquitto is not installed (scripts/install-deps)");
    cr_assert(broker_init(&B, NULL, why, sizeof why), "%s", why);
    cr_assert(broker_start(&B, 5000, why, sizeof why), "%s", why);
}

static void teardown(void)
{
    for (size_t i = 0; i < ndevs; i++) {
        device_free(devs[i]);
        free(devs[i]);
    }
    ndevs = 0;
    pw_mqtt_server_free(srv);
    srv = NULL;
    pw_inproc_free(ip);
    pw_hub_free(hub);
    ip = NULL;
    hub = NULL;
    broker_free(&B);
}

TestSuite(mqtt, .init = setup, .fini = teardown, .timeout = 120);

static size_t count(const device *d, pw_mqtt_topic t)
{
    size_t n = 0;
    for (size_t i = 0; i < d->n; i++)
        n += d->got[i].topic == t;
    return n;
}

/* Changes on `patches` (not the FullSyncs the hub also publishes there). */
static size_t changes(const device *d)
{
    size_t n = 0;
    for (size_t i = 0; i < d->n; i++)
        n += d->got[i].topic == PW_MQTT_PATCHES && d->got[i].m.type == PW_MSG_PATCHES;
    return n;
}

static const rec *last_change(const device *d)
{
    for (size_t i = d->n; i-- > 0;)
        if (d->got[i].topic == PW_MQTT_PATCHES && d->got[i].m.type == PW_MSG_PATCHES)
            return &d->got[i];
    return NULL;
}

static const rec *last(const device *d, pw_mqtt_topic t)
{
    for (size_t i = d->n; i-- > 0;)
        if (d->got[i].topic == t)
            return &d->got[i];
    return NULL;
}

static uint64_t hub_version(const char *key)
{
    uint64_t v = 0;
    pw_hub_state(hub, key, strlen(key), &v);
    return v;
}

static pw_inproc_conn *plain_writer(void)
{
    pw_inproc_conn *c = pw_inproc_connect(ip, NULL, &pw_codec_json);
    cr_assert(c);
    return c;
}

static void plain_send(pw_inproc_conn *c, const char *json)
{
    pw_error err;
    cr_assert_eq(pw_inproc_send(c, (const uint8_t *)json, strlen(json), &err), PW_OK, "%s",
                 err.msg);
    while (pw_inproc_pending(c))
        pw_frame_release(pw_inproc_recv(c));
}

Test(mqtt, a_late_subscriber_gets_the_retained_state_then_every_change_in_order)
{
    hub_start(NULL, 0);
    WAIT_FOR(pw_mqtt_server_connected(srv), 5000);
    cr_assert(pw_mqtt_server_connected(srv), "the hub did not connect");
    pump(100);
    pw_inproc_conn *w = plain_writer();
    for (int i = 0; i < 5; i++)
        plain_send(w, "{\"type\":\"patches\",\"key\":\"todo\",\"data\":[{\"op\":\"add\",\"path\":"
                      "[\"items\",0],\"value\":\"x\"}]}");
    pump(50);
    device *d = add_device("todo", false, NULL);
    WAIT_FOR(count(d, PW_MQTT_STATE) >= 1, 3000);
    cr_assert(count(d, PW_MQTT_STATE) >= 1, "no retained state");
    const rec *st = last(d, PW_MQTT_STATE);
    cr_assert_eq(st->m.type, PW_MSG_FULLSYNC);
    uint64_t from = st->m.seq;
    cr_assert_geq(from, 2, "retained state at seq %llu", (unsigned long long)from);
    for (int i = 0; i < 40; i++)
        plain_send(w, "{\"type\":\"patches\",\"key\":\"todo\",\"data\":[{\"op\":\"replace\","
                      "\"path\":[\"n\"],\"value\":1}]}");
    uint64_t v = hub_version("todo");
    WAIT_FOR(last(d, PW_MQTT_PATCHES) && last(d, PW_MQTT_PATCHES)->m.seq == v, 5000);
    cr_assert(last(d, PW_MQTT_PATCHES) && last(d, PW_MQTT_PATCHES)->m.seq == v,
              "the changes did not all arrive");
    /* consecutive from the first one after the subscription */
    uint64_t prev = 0;
    for (size_t i = 0; i < d->n; i++) {
        if (d->got[i].topic != PW_MQTT_PATCHES || d->got[i].m.type != PW_MSG_PATCHES)
            continue;
        if (prev)
            cr_assert_eq(d->got[i].m.seq, prev + 1, "seq %llu after %llu",
                         (unsigned long long)d->got[i].m.seq, (unsigned long long)prev);
        prev = d->got[i].m.seq;
    }
    /* the retained state catches up within the interval */
    WAIT_FOR(last(d, PW_MQTT_STATE)->m.seq == v, 3000);
    cr_assert(last(d, PW_MQTT_STATE)->m.seq == v, "state not republished");
    device *late = add_device("todo", false, NULL);
    WAIT_FOR(count(late, PW_MQTT_STATE) >= 1, 3000);
    cr_assert(count(late, PW_MQTT_STATE) >= 1);
    cr_assert_eq(last(late, PW_MQTT_STATE)->m.seq, v);
    const pw_value *h = pw_hub_state(hub, "todo", 4, NULL);
    cr_assert(pw_value_equal(&last(late, PW_MQTT_STATE)->m.data, h));
}

Test(mqtt, an_edit_comes_back_on_patches_with_its_id_and_a_refusal_on_error)
{
    hub_start(NULL, 0);
    device *d = add_device("todo", false, NULL);
    WAIT_FOR(count(d, PW_MQTT_STATE) >= 1, 5000);
    cr_assert(count(d, PW_MQTT_STATE) >= 1);
    const char *ok = "{\"type\":\"patches\",\"key\":\"todo\",\"id\":\"d:1\",\"data\":[{\"op\":"
                     "\"add\",\"path\":[\"items\",0],\"value\":{\"title\":\"milk\"}}]}";
    device_publish(d, "todo", ok, strlen(ok));
    WAIT_FOR(changes(d) >= 1, 3000);
    cr_assert(changes(d) >= 1);
    const rec *p = last_change(d);
    cr_assert(pw_value_str_eq(&p->m.id, "d:1", 3), "the change names its edit");
    cr_assert_eq(p->m.seq, 2);
    cr_assert_eq(hub_version("todo"), 2);
    const char *bad = "{\"type\":\"patches\",\"key\":\"todo\",\"id\":77,\"data\":[{\"op\":"
                      "\"remove\",\"path\":[\"nothing\",\"here\"]}]}";
    device_publish(d, "todo", bad, strlen(bad));
    WAIT_FOR(count(d, PW_MQTT_ERROR) >= 1, 3000);
    cr_assert(count(d, PW_MQTT_ERROR) >= 1, "no error published");
    const rec *e = last(d, PW_MQTT_ERROR);
    cr_assert_eq(e->m.type, PW_MSG_ERROR);
    cr_assert_eq(pw_value_int(&e->m.id), 77);
    cr_assert(!e->m.has_seq);
    cr_assert_eq(hub_version("todo"), 2, "nothing applied");
    cr_assert_eq(changes(d), 1, "nothing relayed");
}

Test(mqtt, bad_payloads_on_edit_are_refused_and_change_nothing)
{
    hub_start(NULL, 0);
    device *bad = add_device("todo", false, NULL);
    device *other = add_device("todo", false, NULL);
    WAIT_FOR(count(other, PW_MQTT_STATE) >= 1, 5000);
    cr_assert(count(other, PW_MQTT_STATE) >= 1);
    const pw_value *before = pw_hub_state(hub, "todo", 4, NULL);
    pw_value keep = pw_value_retain(*before);

    static const char garbage[] = "{\"type\":\"patches\",\"key\":";
    static const char not_utf8[] = "{\"type\":\"patches\",\"key\":\"todo\",\"data\":[{\"op\":\"add\","
                                   "\"path\":[\"x\"],\"value\":\"\xff\xfe\"}]}";
    static const char wrong_key[] = "{\"type\":\"patches\",\"key\":\"other\",\"data\":[]}";
    static const char proto[] = "{\"type\":\"patches\",\"key\":\"todo\",\"data\":[{\"op\":\"add\","
                                "\"path\":[\"__proto__\",\"x\"],\"value\":1}]}";
    static const char wrong_type[] = "{\"type\":\"patches\",\"key\":\"todo\",\"data\":{}}";
    static const uint8_t huge_len[] = {0x83, 0xa4, 't', 'y', 'p', 'e', 0xdb, 0xff, 0xff, 0xff, 0xf0};
    const size_t depth = 100000;
    char *deep = malloc(depth * 2 + 64);
    cr_assert(deep);
    size_t n = (size_t)sprintf(deep, "{\"type\":\"fullsync\",\"key\":\"todo\",\"data\":");
    memset(deep + n, '[', depth);
    memset(deep + n + depth, ']', depth);
    n += 2 * depth;
    deep[n++] = '}';
    device_publish(bad, "todo", garbage, sizeof garbage - 1);
    device_publish(bad, "todo", not_utf8, sizeof not_utf8 - 1);
    device_publish(bad, "todo", wrong_key, sizeof wrong_key - 1);
    device_publish(bad, "todo", proto, sizeof proto - 1);
    device_publish(bad, "todo", wrong_type, sizeof wrong_type - 1);
    device_publish(bad, "todo", deep, n);
    cr_assert_eq(pw_mqtt_client_publish(bad->c, PW_MQTT_EDIT, "todo", 4, huge_len, sizeof huge_len),
                 PW_OK);
    free(deep);
    WAIT_FOR(count(other, PW_MQTT_ERROR) >= 7, 5000);
    cr_assert(count(other, PW_MQTT_ERROR) >= 7, "%zu errors of 7",
              count(other, PW_MQTT_ERROR));
    for (size_t i = 0; i < other->n; i++)
        if (other->got[i].topic == PW_MQTT_ERROR)
            cr_assert(strcmp(other->got[i].key, "todo") == 0, "error on %s", other->got[i].key);
    cr_assert_eq(changes(other), 0, "something was relayed");
    cr_assert_eq(hub_version("todo"), 1);
    cr_assert(pw_value_equal(pw_hub_state(hub, "todo", 4, NULL), &keep), "the state changed");
    pw_value_release(&keep);
    /* an honest edit still goes through */
    const char *ok = "{\"type\":\"patches\",\"key\":\"todo\",\"data\":[{\"op\":\"replace\","
                     "\"path\":[\"n\"],\"value\":5}]}";
    device_publish(bad, "todo", ok, strlen(ok));
    WAIT_FOR(changes(other) == 1, 3000);
    cr_assert(changes(other) == 1);
    cr_assert_eq(hub_version("todo"), 2);
}

/* ---- replicas ---- */

static bool replicas_equal_hub(size_t from, size_t to)
{
    uint64_t v;
    const pw_value *h = pw_hub_state(hub, "todo", 4, &v);
    for (size_t i = from; i < to; i++) {
        uint64_t seq;
        if (!pw_replica_idle(devs[i]->r, "todo", 4, &seq) || seq != v ||
            !pw_value_equal(pw_store_get(pw_replica_store(devs[i]->r), "todo", 4), h))
            return false;
    }
    return true;
}

/* Mostly the device's own member (no conflict), sometimes what all share. */
static void random_edit(device *d, int step)
{
    if (pw_replica_waiting(d->r, "todo", 4))
        return;
    pw_store *s = pw_replica_store(d->r);
    pw_value p;
    switch (rand() % 6 < 4 ? 2 : rand() % 2) {
    case 0:
        p = jsonv_parse("[\"n\"]");
        pw_store_set(s, "todo", 4, &p, pw_int(step), NULL);
        break;
    case 1:
        p = jsonv_parse("[\"items\",0]");
        pw_store_insert(s, "todo", 4, &p, pw_int(step), NULL);
        break;
    default: {
        char path[32];
        snprintf(path, sizeof path, "[\"k%p\"]", (void *)d);
        p = jsonv_parse(path);
        pw_store_set(s, "todo", 4, &p, pw_int(step), NULL);
    }
    }
    pw_value_release(&p);
}

Test(mqtt, replicas_over_the_broker_and_a_plain_peer_edit_at_once_and_converge)
{
    hub_start(NULL, 200);
    srand(7);
    for (int i = 0; i < 3; i++)
        add_device("todo", true, NULL);
    pw_inproc_conn *w = plain_writer();
    for (int step = 0; step < 300; step++) {
        random_edit(devs[rand() % 3], step);
        if (step % 10 == 0) {
            char msg[160];
            snprintf(msg, sizeof msg,
                     "{\"type\":\"patches\",\"key\":\"todo\",\"data\":[{\"op\":\"replace\","
                     "\"path\":[\"n\"],\"value\":%d}]}",
                     step);
            plain_send(w, msg);
        }
        pump(2);
    }
    WAIT_FOR(replicas_equal_hub(0, 3), 10000);
    cr_assert(replicas_equal_hub(0, 3), "the replicas did not converge");
    pw_replica_stats st;
    uint64_t acked = 0;
    for (int i = 0; i < 3; i++) {
        pw_replica_stats_get(devs[i]->r, &st);
        acked += st.acked;
    }
    cr_assert_gt(acked, 30, "hardly any edit went through (%llu)", (unsigned long long)acked);
}

Test(mqtt, a_broker_killed_and_restarted_loses_nothing_the_hub_accepted)
{
    char why[256];
    hub_start(NULL, 100);
    srand(11);
    for (int i = 0; i < 2; i++)
        add_device("todo", true, NULL);
    for (int round = 0; round < 2; round++) {
        for (int step = 0; step < 60; step++) {
            random_edit(devs[rand() % 2], step);
            pump(2);
        }
        uint64_t before = hub_version("todo");
        broker_stop(&B, true); /* SIGKILL, no persistence: retained states are gone */
        for (int step = 0; step < 20; step++) {
            random_edit(devs[rand() % 2], step); /* edits while it is away */
            pump(5);
        }
        cr_assert(!pw_mqtt_server_connected(srv));
        cr_assert(broker_start(&B, 5000, why, sizeof why), "%s", why);
        WAIT_FOR(pw_mqtt_server_connected(srv), 8000);
        cr_assert(pw_mqtt_server_connected(srv), "the hub did not reconnect");
        cr_assert_geq(hub_version("todo"), before, "the hub lost changes");
        for (int step = 0; step < 40; step++) {
            random_edit(devs[rand() % 2], step);
            pump(3);
        }
        WAIT_FOR(replicas_equal_hub(0, 2), 15000);
        cr_assert(replicas_equal_hub(0, 2),
                  "the replicas did not converge after restart %d", round);
    }
    /* a new subscriber gets the current state from the republished retained message */
    device *late = add_device("todo", false, NULL);
    WAIT_FOR(count(late, PW_MQTT_STATE) >= 1, 5000);
    cr_assert(count(late, PW_MQTT_STATE) >= 1);
    cr_assert_eq(last(late, PW_MQTT_STATE)->m.seq, hub_version("todo"));
    pw_mqtt_server_stats st;
    pw_mqtt_server_stats_get(srv, &st);
    cr_assert_geq(st.connects, 3);
}

/* ---- TLS, passwords and the ACL ---- */

static void sh(const char *cmd)
{
    int rc = system(cmd);
    cr_assert(rc == 0, "%s: exit %d", cmd, rc);
}

Test(mqtt, tls_passwords_and_the_acl_example)
{
    broker_free(&B); /* this test's broker has its own listener */
    char why[256];
    cr_assert(broker_init(&B, NULL, why, sizeof why), "%s", why);
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "cd %s && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=pw-test-ca "
             "-keyout ca.key -out ca.pem 2>/dev/null && "
             "openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key "
             "-out server.csr 2>/dev/null && "
             "printf 'subjectAltName=IP:127.0.0.1' > san.ext && "
             "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
             "-extfile san.ext -out server.pem 2>/dev/null && "
             "mosquitto_passwd -c -b passwd hub hubsecret && "
             "mosquitto_passwd -b passwd device devsecret",
             B.dir);
    sh(cmd);
    /* the README's ACL: devices publish edits only; the hub's id publishes the rest */
    snprintf(cmd, sizeof cmd,
             "cd %s && printf 'user hub\\ntopic readwrite patchwire/#\\n\\n"
             "user device\\ntopic read patchwire/+/state\\ntopic read patchwire/+/patches\\n"
             "topic read patchwire/+/error\\ntopic write patchwire/+/edit\\n' > acl",
             B.dir);
    sh(cmd);
    snprintf(B.extra, sizeof B.extra,
             "per_listener_settings false\nallow_anonymous false\npassword_file %s/passwd\n"
             "acl_file %s/acl\ncafile %s/ca.pem\ncertfile %s/server.pem\nkeyfile %s/server.key\n",
             B.dir, B.dir, B.dir, B.dir, B.dir);
    cr_assert(broker_start(&B, 5000, why, sizeof why), "%s", why);
    snprintf(B.url, sizeof B.url, "mqtts://127.0.0.1:%d", B.port);

    char ca[192];
    snprintf(ca, sizeof ca, "%s/ca.pem", B.dir);
    pw_mqtt_link_options hl = {.username = "hub", .password = "hubsecret", .tls_ca = ca, .qos = 1};
    hub_start(&hl, 0);
    WAIT_FOR(pw_mqtt_server_connected(srv), 8000);
    cr_assert(pw_mqtt_server_connected(srv), "the hub did not connect over TLS");
    pw_mqtt_link_options dl = {
        .username = "device", .password = "devsecret", .tls_ca = ca, .qos = 1};
    device *d = add_device("todo", false, &dl);
    device *r = add_device("todo", true, &dl);
    WAIT_FOR(count(d, PW_MQTT_STATE) >= 1, 5000);
    cr_assert(count(d, PW_MQTT_STATE) >= 1, "no state over TLS");
    WAIT_FOR(!pw_replica_waiting(r->r, "todo", 4), 5000);
    cr_assert(!pw_replica_waiting(r->r, "todo", 4), "the replica has no state");
    /* a device may not forge the hub's stream */
    const char *forged = "{\"type\":\"patches\",\"key\":\"todo\",\"seq\":99,\"data\":[]}";
    cr_assert_eq(pw_mqtt_client_publish(d->c, PW_MQTT_PATCHES, "todo", 4, (const uint8_t *)forged,
                                        strlen(forged)),
                 PW_OK);
    /* but it may edit */
    pw_value p = jsonv_parse("[\"n\"]");
    cr_assert_eq(pw_store_set(pw_replica_store(r->r), "todo", 4, &p, pw_int(42), NULL), PW_OK);
    pw_value_release(&p);
    WAIT_FOR(replicas_equal_hub(1, 2) && hub_version("todo") == 2, 5000);
    cr_assert(replicas_equal_hub(1, 2) && hub_version("todo") == 2);
    pump(200);
    for (size_t i = 0; i < d->n; i++)
        cr_assert(!(d->got[i].topic == PW_MQTT_PATCHES && d->got[i].m.seq == 99),
                  "the broker let a device publish on patches");
    cr_assert_eq(changes(d), 1);
    /* a wrong password is refused: the client never opens */
    pw_mqtt_link_options wl = {.username = "device", .password = "wrong", .tls_ca = ca};
    device w;
    device_new(&w, B.url, "todo", false, &wl);
    for (int i = 0; i < 50; i++) {
        pump(10);
        pw_mqtt_client_service(w.c, 0);
    }
    cr_assert(!w.open, "a wrong password was let in");
    device_free(&w);
}

/* ---- patchwire serve with --ws and --mqtt, mosquitto_sub and mosquitto_pub ---- */

static char *slurp(const char *path)
{
    static char buf[16384];
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    buf[n] = '\0';
    if (f)
        fclose(f);
    return buf;
}

Test(mqtt, serve_bridges_websocket_clients_and_mqtt_devices)
{
    const char *cli = getenv("PW_CLI");
    cr_assert(cli, "PW_CLI not set");
    child_serve s;
    char why[512];
    const char *extra[] = {"--mqtt", B.url, "--mqtt-state-interval", "100", NULL};
    cr_assert(child_serve_start(&s, extra, 10000, why, sizeof why), "%s", why);
    char cmd[2048];
    /* the retained state, for a subscriber that comes after the hub */
    snprintf(cmd, sizeof cmd,
             "timeout 10 mosquitto_sub -p %d -t patchwire/appstate/state -C 1 -W 8 > %s", B.port,
             broker_path(&B, "state.txt"));
    int rc = system(cmd);
    cr_assert_eq(rc, 0, "no retained state (exit %d)", rc);
    cr_assert(strstr(slurp(broker_path(&B, "state.txt")),
                     "{\"type\":\"fullsync\",\"key\":\"appstate\",\"seq\":1,\"data\":{\"items\":[]}}"),
              "%s", slurp(broker_path(&B, "state.txt")));
    /* a subscriber to the changes, in the background */
    snprintf(cmd, sizeof cmd,
             "timeout 15 mosquitto_sub -p %d -t patchwire/appstate/patches -C 2 -W 12 > %s & "
             "echo $! > %s",
             B.port, broker_path(&B, "changes.txt"), broker_path(&B, "sub.pid"));
    cr_assert_eq(system(cmd), 0);
    nanosleep(&(struct timespec){.tv_nsec = 300000000}, NULL);
    /* a device edits */
    snprintf(cmd, sizeof cmd,
             "mosquitto_pub -p %d -t patchwire/appstate/edit -m "
             "'{\"type\":\"patches\",\"key\":\"appstate\",\"id\":\"dev:1\",\"data\":[{\"op\":\"add\","
             "\"path\":[\"items\",0],\"value\":{\"id\":\"d1\",\"title\":\"from mqtt\"}}]}'",
             B.port);
    cr_assert_eq(system(cmd), 0);
    /* a WebSocket client sees it and edits too */
    snprintf(cmd, sizeof cmd,
             "echo '[{\"op\":\"add\",\"path\":[\"items\",1],\"value\":{\"id\":\"w1\",\"title\":"
             "\"from web\"}}]' | timeout 15 %s connect --timeout 10 %s > %s 2>&1",
             cli, s.ws_url, broker_path(&B, "connect.txt"));
    for (int i = 0; i < 50; i++) { /* the device's edit first: the web edit is built on it */
        char *st = NULL;
        snprintf(why, sizeof why, "timeout 5 mosquitto_sub -p %d -t patchwire/appstate/state -C 1 "
                                  "-W 4 > %s",
                 B.port, broker_path(&B, "state.txt"));
        if (system(why) == 0 && (st = slurp(broker_path(&B, "state.txt"))) && strstr(st, "from mqtt"))
            break;
        nanosleep(&(struct timespec){.tv_nsec = 100000000}, NULL);
    }
    rc = system(cmd);
    char *out = slurp(broker_path(&B, "connect.txt"));
    cr_assert_eq(rc, 0, "connect failed: %s", out);
    cr_assert(strstr(out, "from mqtt"), "the web client did not see the device's edit: %s", out);
    /* the device side saw both changes, in order */
    char pidbuf[32];
    snprintf(pidbuf, sizeof pidbuf, "%s", slurp(broker_path(&B, "sub.pid")));
    pid_t sub = (pid_t)atoi(pidbuf);
    for (int i = 0; i < 150 && kill(sub, 0) == 0; i++)
        nanosleep(&(struct timespec){.tv_nsec = 100000000}, NULL);
    if (kill(sub, 0) == 0)
        kill(sub, SIGKILL);
    char *changes = slurp(broker_path(&B, "changes.txt"));
    char *a = strstr(changes, "\"seq\":2,\"id\":\"dev:1\""), *b = strstr(changes, "from web");
    cr_assert(a && b && a < b, "the MQTT subscriber missed a change: %s", changes);
    cr_assert_eq(child_serve_stop(&s, 5000) & 0xff7f, 0, "serve did not stop cleanly");
}

Test(mqtt, serve_without_a_reachable_broker_keeps_serving_websocket_and_says_so)
{
    broker_stop(&B, false);
    child_serve s;
    char why[512];
    char log[192];
    snprintf(log, sizeof log, "%s", broker_path(&B, "serve.log"));
    const char *extra[] = {"--mqtt", B.url, NULL};
    cr_assert(child_serve_start_with(&s, extra, log, 10000, why, sizeof why), "%s", why);
    const char *cli = getenv("PW_CLI");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "timeout 10 %s connect --timeout 5 %s < /dev/null > /dev/null", cli,
             s.ws_url);
    cr_assert_eq(system(cmd), 0, "WebSocket clients are not served while the broker is away");
    for (int i = 0; i < 150 && !strstr(slurp(log), "cannot connect"); i++)
        nanosleep(&(struct timespec){.tv_nsec = 100000000}, NULL);
    char why2[256];
    cr_assert(broker_start(&B, 5000, why2, sizeof why2), "%s", why2);
    bool connected = false;
    for (int i = 0; i < 100 && !connected; i++) {
        nanosleep(&(struct timespec){.tv_nsec = 100000000}, NULL);
        connected = strstr(slurp(log), "connected as patchwire-hub") != NULL;
    }
    char *text = slurp(log);
    cr_assert(strstr(text, "cannot connect"), "no line says the broker is away: %s", text);
    cr_assert(connected, "the hub did not connect once the broker came: %s", text);
    child_serve_stop(&s, 5000);
}

Test(mqtt, serve_refuses_bad_mqtt_options_with_a_usage_error)
{
    const char *cli = getenv("PW_CLI");
    char cmd[1024];
    const char *bad[] = {"--mqtt http://127.0.0.1:1", "--mqtt-qos 1", "--mqtt mqtt://h:1 --mqtt-qos 3",
                         "--mqtt mqtt://h:1 --mqtt-codec xml",
                         "--mqtt mqtt://h:1 --mqtt-password-file /nonexistent"};
    const int want[] = {1, 2, 2, 2, 2};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(cmd, sizeof cmd, "timeout 10 %s serve --no-static --ws 127.0.0.1:0 %s >/dev/null 2>&1",
                 cli, bad[i]);
        int rc = system(cmd);
        cr_assert(WIFEXITED(rc) && WEXITSTATUS(rc) == want[i], "serve %s: exit %d, want %d", bad[i],
                  WEXITSTATUS(rc), want[i]);
    }
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

Test(mqtt, a_stalled_broker_holds_only_the_queue_budget_then_catches_up)
{
    hub_start(NULL, 100);
    device *d = add_device("todo", false, NULL);
    WAIT_FOR(count(d, PW_MQTT_STATE) >= 1, 5000);
    cr_assert(count(d, PW_MQTT_STATE) >= 1);
    pw_inproc_conn *w = plain_writer();
    kill(B.pid, SIGSTOP); /* the broker reads nothing: TCP buffers fill, then paho's queue */
    long before = rss_kib();
    char *big = malloc(70000);
    cr_assert(big);
    /* 3,000 changes of 64 KB each: 190 MB that must not pile up */
    for (int i = 0; i < 3000; i++) {
        int n = snprintf(big, 70000, "{\"type\":\"patches\",\"key\":\"todo\",\"data\":[{\"op\":"
                                     "\"replace\",\"path\":[\"blob\"],\"value\":\"%d",
                         i);
        memset(big + n, 'x', 65536);
        n += 65536;
        n += snprintf(big + n, 70000 - (size_t)n, "\"}]}");
        pw_error err;
        cr_assert_eq(pw_inproc_send(w, (const uint8_t *)big, (size_t)n, &err), PW_OK, "%s", err.msg);
        while (pw_inproc_pending(w))
            pw_frame_release(pw_inproc_recv(w));
        if (i % 50 == 0)
            pw_mqtt_server_service(srv, 0);
    }
    free(big);
    long grown = rss_kib() - before;
    pw_hub_metrics hm;
    pw_hub_metrics_get(hub, &hm);
    kill(B.pid, SIGCONT);
    cr_assert_gt(hm.overflows, 0, "the reader never went over its budget");
    /* under a sanitizer the memory is mostly the sanitizer's: its leak checker judges */
    const char *san = getenv("PW_SANITIZED");
    if (!san || strcmp(san, "1") != 0)
        cr_assert_lt(grown, 64 * 1024, "RSS grew by %ld KiB while the broker was stalled", grown);
    /* once the broker reads again, subscribers get the state the hub has */
    uint64_t v = hub_version("todo");
    WAIT_FOR(last(d, PW_MQTT_STATE) && last(d, PW_MQTT_STATE)->m.seq == v, 15000);
    cr_assert(last(d, PW_MQTT_STATE) && last(d, PW_MQTT_STATE)->m.seq == v,
              "the retained state did not catch up (seq %llu, hub %llu)",
              (unsigned long long)(last(d, PW_MQTT_STATE) ? last(d, PW_MQTT_STATE)->m.seq : 0),
              (unsigned long long)v);
}

Test(mqtt, connect_over_mqtt_prints_the_state_and_sends_its_edits)
{
    hub_start(NULL, 100);
    WAIT_FOR(pw_mqtt_server_connected(srv), 5000);
    cr_assert(pw_mqtt_server_connected(srv));
    const char *cli = getenv("PW_CLI");
    cr_assert(cli, "PW_CLI not set");
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "echo '[{\"op\":\"add\",\"path\":[\"items\",0],\"value\":\"milk\"}]' | timeout 20 %s "
             "connect --key todo --timeout 15 %s > %s 2> %s; echo $? > %s",
             cli, B.url, broker_path(&B, "out.txt"), broker_path(&B, "err.txt"),
             broker_path(&B, "rc.txt"));
    /* connect runs as a child while this process services the hub */
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) { /* exec at once: nothing of this process is left to leak-check */
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    for (int i = 0; i < 2500 && waitpid(pid, &status, WNOHANG) == 0; i++)
        pump(10);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char out[4096];
    snprintf(out, sizeof out, "%s", slurp(broker_path(&B, "out.txt")));
    cr_assert_eq(atoi(slurp(broker_path(&B, "rc.txt"))), 0, "connect failed: %s %s", out,
                 slurp(broker_path(&B, "err.txt")));
    cr_assert(strstr(out, "{\"type\":\"fullsync\",\"key\":\"todo\",\"seq\":1,"), "%s", out);
    cr_assert(strstr(out, "\"base\":1,\"origin\":\"local\""), "%s", out);
    const pw_value *h = pw_hub_state(hub, "todo", 4, NULL);
    const pw_value *items = pw_object_get(h, "items", 5);
    cr_assert(items && pw_value_len(items) == 1, "the hub does not have the edit");
    cr_assert_eq(hub_version("todo"), 2);
}
