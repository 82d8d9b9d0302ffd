/* test_ws.c - the WebSocket transport: a real libwebsockets server serving a
 * hub and real clients, both driven from the test thread in bounded loops:
 * FullSync per codec, relay, replicas, reconnect after a restart, TLS,
 * identity, static files, the message size limit, shutdown. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "jsonv.h"
#include "patchwire/codec.h"
#include "patchwire/hub.h"
#include "patchwire/msg.h"
#include "patchwire/replica.h"
#include "patchwire/ws.h"

#define DEADLINE_MS 5000
#define MAX_MSGS 64

/* ---- helpers ---- */

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* What one client heard. */
typedef struct rec {
    pw_ws_client *c;
    char *msgs[MAX_MSGS]; /* JSON text of each message (msgpack transcoded) */
    bool binary[MAX_MSGS];
    size_t n;
    int opens, closes;
    char close_reason[128];
    uint16_t close_code; /* pw_ws_client_close_code when on_close ran */
} rec;

static void rec_message(const uint8_t *p, size_t n, bool binary, void *ud)
{
    rec *r = ud;
    cr_assert(r->n < MAX_MSGS);
    pw_value v;
    pw_error err;
    const pw_codec *codec = binary ? &pw_codec_msgpack : &pw_codec_json;
    cr_assert_eq(codec->decode(p, n, NULL, &v, &err), PW_OK, "%s", err.msg);
    r->msgs[r->n] = jsonv_text(&v);
    r->binary[r->n++] = binary;
    pw_value_release(&v);
}

static void rec_open(void *ud)
{
    ((rec *)ud)->opens++;
}

static void rec_close(const char *reason, void *ud)
{
    rec *r = ud;
    r->closes++;
    r->close_code = pw_ws_client_close_code(r->c);
    snprintf(r->close_reason, sizeof r->close_reason, "%s", reason);
}

static void rec_free(rec *r)
{
    pw_ws_client_free(r->c);
    for (size_t i = 0; i < r->n; i++)
        free(r->msgs[i]);
    memset(r, 0, sizeof *r);
}

static char url_buf[256];

static const char *url_of(const char *scheme, int port, const char *rest)
{
    snprintf(url_buf, sizeof url_buf, "%s://127.0.0.1:%d%s", scheme, port, rest);
    return url_buf;
}

static void client_opts(pw_ws_client_options *o, rec *r, const char *url, const pw_codec *codec)
{
    pw_ws_client_options_init(o);
    o->url = url;
    o->codec = codec;
    o->backoff_min_ms = 20;
    o->backoff_max_ms = 200;
    o->cb.on_open = rec_open;
    o->cb.on_message = rec_message;
    o->cb.on_close = rec_close;
    o->userdata = r;
}

static void rec_connect(rec *r, const char *url, const pw_codec *codec)
{
    memset(r, 0, sizeof *r);
    pw_ws_client_options o;
    client_opts(&o, r, url, codec);
    pw_error err;
    r->c = pw_ws_client_new(&o, &err);
    cr_assert(r->c, "%s", err.msg);
}

/* Services the server and the clients until done() or the deadline. */
typedef bool (*cond_fn)(void *arg);

static bool pump(pw_ws_server *s, rec **recs, size_t n, cond_fn done, void *arg)
{
    long end = now_ms() + DEADLINE_MS;
    for (int i = 0; i < 100000 && now_ms() < end; i++) {
        if (s)
            pw_ws_server_service(s, n ? 1 : 10);
        for (size_t k = 0; k < n; k++)
            pw_ws_client_service(recs[k]->c, s ? 0 : 5);
        if (done(arg))
            return true;
    }
    return done(arg);
}

static bool has_msgs1(void *arg)
{
    return ((rec *)arg)->n >= 1;
}

typedef struct want {
    rec *r;
    size_t n;
} want;

static bool has_msgs(void *arg)
{
    want *w = arg;
    return w->r->n >= w->n;
}

static bool never(void *arg)
{
    (void)arg;
    return false;
}

static pw_hub *hub_with(const char *key, const char *json, const pw_hub_options *o)
{
    pw_hub *h = pw_hub_new(o);
    cr_assert(h);
    cr_assert_eq(pw_hub_set_state(h, key, strlen(key), jsonv_parse(json)), PW_OK);
    return h;
}

static pw_ws_server *serve(pw_hub *h, pw_ws_server_options *o)
{
    pw_ws_server_options d;
    if (!o) {
        pw_ws_server_options_init(&d);
        o = &d;
    }
    o->port = o->port ? o->port : 0;
    pw_error err;
    pw_ws_server *s = pw_ws_server_new(h, o, &err);
    cr_assert(s, "%s", err.msg);
    cr_assert_gt(pw_ws_server_port(s), 0);
    return s;
}

static pw_ws_server_options server_opts(void)
{
    pw_ws_server_options o;
    pw_ws_server_options_init(&o);
    o.port = 0;
    return o;
}

/* ---- FullSync and relay ---- */

Test(ws, fullsync_on_connect_json_text_msgpack_binary)
{
    pw_hub *h = hub_with("appstate", "{\"items\":[]}", NULL);
    pw_ws_server_options so = server_opts();
    pw_ws_server *s = serve(h, &so);
    int port = pw_ws_server_port(s);
    rec a, b;
    rec_connect(&a, url_of("ws", port, "/"), &pw_codec_json);
    rec_connect(&b, url_of("ws", port, "/any/path"), &pw_codec_msgpack);
    rec *all[] = {&a, &b};
    cr_assert(pump(s, all, 2, has_msgs1, &a));
    cr_assert(pump(s, all, 2, has_msgs1, &b));
    cr_assert_not(a.binary[0]);
    cr_assert_str_eq(
        a.msgs[0],
        "{\"type\":\"fullsync\",\"key\":\"appstate\",\"seq\":1,\"data\":{\"items\":[]}}");
    cr_assert(b.binary[0]);
    cr_assert_str_eq(b.msgs[0], a.msgs[0]);
    cr_assert_eq(pw_ws_server_connections(s), 2);
    cr_assert(pw_ws_client_connected(a.c));
    cr_assert_eq(pw_ws_client_connects(a.c), 1);
    rec_free(&a);
    rec_free(&b);
    pw_ws_server_free(s);
    pw_hub_free(h);
}

Test(ws, relay_json_to_msgpack_and_back_without_echo)
{
    pw_hub *h = hub_with("appstate", "{\"items\":[],\"n\":0}", NULL);
    pw_ws_server_options so = server_opts();
    pw_ws_server *s = serve(h, &so);
    int port = pw_ws_server_port(s);
    rec a, b;
    rec_connect(&a, url_of("ws", port, "/"), &pw_codec_json);
    rec_connect(&b, url_of("ws", port, "/"), &pw_codec_msgpack);
    rec *all[] = {&a, &b};
    cr_assert(pump(s, all, 2, has_msgs1, &a));
    cr_assert(pump(s, all, 2, has_msgs1, &b));

    const char *pa =
        "{\"type\":\"patches\",\"key\":\"appstate\",\"data\":[{\"op\":\"add\",\"path\":"
        "[\"items\",0],\"value\":\"milk\"}]}";
    cr_assert_eq(pw_ws_client_send(a.c, (const uint8_t *)pa, strlen(pa), false), PW_OK);
    want wb = {&b, 2};
    cr_assert(pump(s, all, 2, has_msgs, &wb));
    cr_assert(b.binary[1]);
    cr_assert_str_eq(b.msgs[1], "{\"type\":\"patches\",\"key\":\"appstate\",\"seq\":2,\"data\":[{"
                                "\"op\":\"add\",\"path\":[\"items\",0],\"value\":\"milk\"}]}");

    pw_value v =
        jsonv_parse("{\"type\":\"patches\",\"key\":\"appstate\",\"data\":[{\"op\":\"replace\","
                    "\"path\":[\"n\"],\"value\":7}]}");
    pw_buf mp;
    pw_buf_init(&mp);
    cr_assert_eq(pw_codec_msgpack.encode(&v, &mp, NULL), PW_OK);
    pw_value_release(&v);
    cr_assert_eq(pw_ws_client_send(b.c, mp.data, mp.len, true), PW_OK);
    pw_buf_free(&mp);
    want wa = {&a, 2};
    cr_assert(pump(s, all, 2, has_msgs, &wa));
    cr_assert_not(a.binary[1]);
    cr_assert_str_eq(a.msgs[1], "{\"type\":\"patches\",\"key\":\"appstate\",\"seq\":3,\"data\":[{"
                                "\"op\":\"replace\",\"path\":[\"n\"],\"value\":7}]}");
    /* edits on paths apart: no resync; give an echo every chance to arrive: none does */
    for (int i = 0; i < 20; i++) {
        pw_ws_server_service(s, 2);
        pw_ws_client_service(a.c, 0);
        pw_ws_client_service(b.c, 0);
    }
    cr_assert_eq(a.n, 2);
    cr_assert_eq(b.n, 2, "%s", b.msgs[b.n - 1]);
    uint64_t version;
    const pw_value *st = pw_hub_state(h, "appstate", 8, &version);
    char *js = jsonv_text(st);
    cr_assert_str_eq(js, "{\"items\":[\"milk\"],\"n\":7}");
    free(js);
    rec_free(&a);
    rec_free(&b);
    pw_ws_server_free(s);
    pw_hub_free(h);
}

/* ---- sends from other threads ---- */

#define SEND_THREADS 4
#define SENDS_PER_THREAD 200

typedef struct sender {
    pw_ws_client *c;
    int id;
    int failures;
} sender;

static void *send_from_thread(void *arg)
{
    sender *s = arg;
    for (int i = 0; i < SENDS_PER_THREAD; i++) {
        char msg[160];
        int n = snprintf(msg, sizeof msg,
                         "{\"type\":\"patches\",\"key\":\"appstate\",\"data\":[{\"op\":\"add\","
                         "\"path\":[\"t%d\",%d],\"value\":%d}]}",
                         s->id, i, i);
        if (pw_ws_client_send(s->c, (const uint8_t *)msg, (size_t)n, false) != PW_OK)
            s->failures++;
    }
    return NULL;
}

static bool hub_at_version(void *arg)
{
    uint64_t v = 0;
    pw_hub_state(arg, "appstate", 8, &v);
    return v == 1 + SEND_THREADS * SENDS_PER_THREAD;
}

Test(ws, sends_from_other_threads_arrive_whole_and_in_order)
{
    pw_hub *h = hub_with("appstate", "{\"t0\":[],\"t1\":[],\"t2\":[],\"t3\":[]}", NULL);
    pw_ws_server_options so = server_opts();
    pw_ws_server *s = serve(h, &so);
    rec a;
    rec_connect(&a, url_of("ws", pw_ws_server_port(s), "/"), &pw_codec_json);
    rec *all[] = {&a};
    cr_assert(pump(s, all, 1, has_msgs1, &a)); /* connected, FullSync read */

    pthread_t th[SEND_THREADS];
    sender snd[SEND_THREADS];
    for (int i = 0; i < SEND_THREADS; i++) {
        snd[i] = (sender){.c = a.c, .id = i};
        cr_assert_eq(pthread_create(&th[i], NULL, send_from_thread, &snd[i]), 0);
    }
    /* the owner thread services the client while the others send */
    bool done = pump(s, all, 1, hub_at_version, h);
    for (int i = 0; i < SEND_THREADS; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(snd[i].failures, 0, "thread %d: %d sends failed", i, snd[i].failures);
    }
    cr_assert(done || pump(s, all, 1, hub_at_version, h), "not every message reached the hub");
    const pw_value *st = pw_hub_state(h, "appstate", 8, NULL);
    for (int k = 0; k < SEND_THREADS; k++) {
        char key[4];
        snprintf(key, sizeof key, "t%d", k);
        const pw_value *list = pw_object_get(st, key, 2);
        cr_assert_eq(pw_value_len(list), SENDS_PER_THREAD);
        for (size_t i = 0; i < SENDS_PER_THREAD; i++)
            cr_assert_eq(pw_value_int(pw_array_get(list, i)), (int64_t)i,
                         "thread %d's message %zu out of order", k, i);
    }
    cr_assert_eq(a.n, 1, "the sender was sent something back: %s", a.msgs[a.n - 1]);
    rec_free(&a);
    pw_ws_server_free(s);
    pw_hub_free(h);
}

/* ---- replicas ---- */

typedef struct trep {
    rec rc;
    pw_replica *r;
} trep;

static void trep_open(trep *t, const char *url, const pw_codec *codec)
{
    memset(t, 0, sizeof *t);
    pw_ws_client_options o;
    client_opts(&o, &t->rc, url, codec);
    o.cb.on_message = NULL;
    pw_error err;
    t->rc.c = pw_ws_client_new(&o, &err);
    cr_assert(t->rc.c, "%s", err.msg);
    pw_replica_options ro;
    pw_replica_options_init(&ro);
    ro.codec = codec;
    ro.send = pw_ws_replica_send;
    ro.send_userdata = t->rc.c;
    t->r = pw_replica_new(&ro);
    cr_assert(t->r);
    pw_ws_client_bind_replica(t->rc.c, t->r);
}

static void trep_close(trep *t)
{
    rec_free(&t->rc);
    pw_replica_free(t->r);
}

typedef struct state_is {
    trep *t;
    const char *json;
} state_is;

static bool replica_state_is(void *arg)
{
    state_is *w = arg;
    pw_store *st = pw_replica_store(w->t->r);
    const pw_value *v = pw_store_get(st, "appstate", 8);
    if (!v)
        return false;
    char *js = jsonv_text(v);
    bool eq = strcmp(js, w->json) == 0;
    free(js);
    return eq && pw_replica_idle(w->t->r, "appstate", 8, NULL);
}

Test(ws, replica_edit_reaches_another_replica)
{
    pw_hub *h = hub_with("appstate", "{\"items\":[]}", NULL);
    pw_ws_server_options so = server_opts();
    pw_ws_server *s = serve(h, &so);
    int port = pw_ws_server_port(s);
    trep x, y;
    trep_open(&x, url_of("ws", port, "/"), &pw_codec_json);
    trep_open(&y, url_of("ws", port, "/"), &pw_codec_msgpack);
    rec *all[] = {&x.rc, &y.rc};
    state_is sx = {&x, "{\"items\":[]}"}, sy = {&y, "{\"items\":[]}"};
    cr_assert(pump(s, all, 2, replica_state_is, &sx));
    cr_assert(pump(s, all, 2, replica_state_is, &sy));

    pw_value path = jsonv_parse("[\"items\",0]");
    pw_error err;
    cr_assert_eq(pw_store_insert(pw_replica_store(x.r), "appstate", 8, &path,
                                 jsonv_parse("{\"title\":\"milk\"}"), &err),
                 PW_OK, "%s", err.msg);
    pw_value_release(&path);
    sy.json = "{\"items\":[{\"title\":\"milk\"}]}";
    cr_assert(pump(s, all, 2, replica_state_is, &sy));
    sx.json = sy.json;
    cr_assert(pump(s, all, 2, replica_state_is, &sx));
    trep_close(&x);
    trep_close(&y);
    pw_ws_server_free(s);
    pw_hub_free(h);
}

static bool connects_is_2(void *arg)
{
    return pw_ws_client_connects(((trep *)arg)->rc.c) >= 2;
}

Test(ws, client_reconnects_and_resyncs_after_server_restart)
{
    pw_hub *h = hub_with("appstate", "{\"items\":[\"old\"]}", NULL);
    pw_ws_server_options so = server_opts();
    pw_ws_server *s = serve(h, &so);
    int port = pw_ws_server_port(s);
    trep x;
    trep_open(&x, url_of("ws", port, "/"), &pw_codec_json);
    rec *all[] = {&x.rc};
    state_is sx = {&x, "{\"items\":[\"old\"]}"};
    cr_assert(pump(s, all, 1, replica_state_is, &sx));

    pw_ws_server_free(s);
    pw_hub_free(h);
    /* the client notices, and keeps trying while nothing listens */
    bool closed = false;
    for (int i = 0; i < 2000 && !closed; i++) {
        pw_ws_client_service(x.rc.c, 5);
        closed = x.rc.closes == 1;
    }
    cr_assert(closed);
    cr_assert_not(pw_ws_client_connected(x.rc.c));
    cr_assert_eq(pw_ws_client_send(x.rc.c, (const uint8_t *)"{}", 2, false), PW_EIO);
    for (int i = 0; i < 10; i++)
        pw_ws_client_service(x.rc.c, 5);

    h = hub_with("appstate", "{\"items\":[\"new\"]}", NULL);
    so.port = port;
    s = serve(h, &so);
    cr_assert(pump(s, all, 1, connects_is_2, &x));
    sx.json = "{\"items\":[\"new\"]}";
    cr_assert(pump(s, all, 1, replica_state_is, &sx));
    cr_assert_eq(x.rc.opens, 2);
    trep_close(&x);
    pw_ws_server_free(s);
    pw_hub_free(h);
}

/* ---- TLS ---- */

Test(ws, wss_client_connects_and_syncs)
{
    char dir[] = "/tmp/pw-ws-tls-XXXXXX";
    cr_assert(mkdtemp(dir));
    char cert[300], key[300], cmd[1024];
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-subj /CN=127.0.0.1 -days 1 -keyout %s -out %s 2>/dev/null",
             key, cert);
    cr_assert_eq(system(cmd), 0, "openssl failed: %s", cmd);

    pw_hub *h = hub_with("appstate", "{\"items\":[]}", NULL);
    pw_ws_server_options so = server_opts();
    so.tls_cert = cert;
    so.tls_key = key;
    pw_ws_server *s = serve(h, &so);
    rec a;
    memset(&a, 0, sizeof a);
    pw_ws_client_options o;
    client_opts(&o, &a, url_of("wss", pw_ws_server_port(s), "/"), &pw_codec_json);
    o.tls_insecure = true;
    pw_error err;
    a.c = pw_ws_client_new(&o, &err);
    cr_assert(a.c, "%s", err.msg);
    rec *all[] = {&a};
    cr_assert(pump(s, all, 1, has_msgs1, &a));
    cr_assert_str_eq(
        a.msgs[0],
        "{\"type\":\"fullsync\",\"key\":\"appstate\",\"seq\":1,\"data\":{\"items\":[]}}");
    rec_free(&a);
    pw_ws_server_free(s);
    pw_hub_free(h);

    /* a missing key file is an error, not a server */
    so = server_opts();
    so.tls_cert = cert;
    so.tls_key = "/nonexistent/key.pem";
    h = pw_hub_new(NULL);
    cr_assert_null(pw_ws_server_new(h, &so, &err));
    cr_assert(strstr(err.msg, "/nonexistent/key.pem"), "%s", err.msg);
    pw_hub_free(h);
    unlink(cert);
    unlink(key);
    rmdir(dir);
}

/* ---- identity ---- */

typedef struct seen {
    char ids[8][64];
    int n;
} seen;

static bool access_hook(const char *identity, const char *key, size_t key_len, pw_access what,
                        void *ud)
{
    seen *s = ud;
    if (s->n < 8)
        snprintf(s->ids[s->n++], 64, "%s", identity);
    (void)what;
    bool secret = key_len == 6 && !memcmp(key, "secret", 6);
    return !secret || strcmp(identity, "boss") == 0;
}

static bool saw(seen *s, const char *id)
{
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->ids[i], id))
            return true;
    return false;
}

Test(ws, identity_from_query_token_and_authorization_header)
{
    seen sn = {0};
    pw_hub_options ho;
    pw_hub_options_init(&ho);
    ho.access = access_hook;
    ho.access_userdata = &sn;
    pw_hub *h = hub_with("public", "{\"a\":1}", &ho);
    cr_assert_eq(pw_hub_set_state(h, "secret", 6, jsonv_parse("{\"pin\":1234}")), PW_OK);
    pw_ws_server_options so = server_opts();
    pw_ws_server *s = serve(h, &so);
    int port = pw_ws_server_port(s);

    rec a, b;
    rec_connect(&a, url_of("ws", port, "/?token=abc"), &pw_codec_json);
    memset(&b, 0, sizeof b);
    pw_ws_client_options o;
    client_opts(&o, &b, url_of("ws", port, "/"), &pw_codec_json);
    o.token = "boss";
    pw_error err;
    b.c = pw_ws_client_new(&o, &err);
    cr_assert(b.c);
    rec *all[] = {&a, &b};
    want wb = {&b, 2};
    cr_assert(pump(s, all, 2, has_msgs1, &a));
    cr_assert(pump(s, all, 2, has_msgs, &wb));
    for (int i = 0; i < 20; i++) {
        pw_ws_server_service(s, 2);
        pw_ws_client_service(a.c, 0);
        pw_ws_client_service(b.c, 0);
    }
    cr_assert(saw(&sn, "abc"));
    cr_assert(saw(&sn, "boss"));
    cr_assert_eq(a.n, 1);
    cr_assert(strstr(a.msgs[0], "\"public\""));
    for (size_t i = 0; i < a.n; i++)
        cr_assert_null(strstr(a.msgs[i], "secret"), "%s", a.msgs[i]);
    cr_assert(strstr(b.msgs[0], "secret") || strstr(b.msgs[1], "secret"));
    rec_free(&a);
    rec_free(&b);
    pw_ws_server_free(s);
    pw_hub_free(h);
}

/* ---- static files ---- */

/* A plain HTTP GET over a raw socket while the server is serviced; returns
 * the whole response (malloc'd). */
static char *http_get(pw_ws_server *s, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)pw_ws_server_port(s))};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    char req[256];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
    cr_assert_eq(send(fd, req, (size_t)n, 0), n);
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    long end = now_ms() + DEADLINE_MS;
    while (now_ms() < end && len + 1 < cap) {
        pw_ws_server_service(s, 5);
        ssize_t r = recv(fd, buf + len, cap - len - 1, MSG_DONTWAIT);
        if (r == 0)
            break;
        if (r > 0)
            len += (size_t)r;
    }
    buf[len] = 0;
    close(fd);
    return buf;
}

Test(ws, static_files_served_and_missing_file_is_404)
{
    char dir[] = "/tmp/pw-ws-static-XXXXXX";
    cr_assert(mkdtemp(dir));
    char file[300];
    snprintf(file, sizeof file, "%s/hello.txt", dir);
    FILE *f = fopen(file, "w");
    fputs("hello, patchwire\n", f);
    fclose(f);

    pw_hub *h = hub_with("appstate", "{\"items\":[]}", NULL);
    pw_ws_server_options so = server_opts();
    so.static_dir = dir;
    pw_ws_server *s = serve(h, &so);
    char *ok = http_get(s, "/hello.txt");
    cr_assert(strncmp(ok, "HTTP/1.1 200", 12) == 0, "%s", ok);
    cr_assert(strstr(ok, "\r\n\r\nhello, patchwire\n"), "%s", ok);
    free(ok);
    char *missing = http_get(s, "/missing.txt");
    cr_assert(strncmp(missing, "HTTP/1.1 404", 12) == 0, "%s", missing);
    free(missing);
    /* WebSocket still works on any path */
    rec a;
    rec_connect(&a, url_of("ws", pw_ws_server_port(s), "/hello.txt"), &pw_codec_json);
    rec *all[] = {&a};
    cr_assert(pump(s, all, 1, has_msgs1, &a));
    rec_free(&a);
    pw_ws_server_free(s);

    so = server_opts();
    s = serve(h, &so);
    char *none = http_get(s, "/hello.txt");
    cr_assert(strncmp(none, "HTTP/1.1 404", 12) == 0, "%s", none);
    free(none);
    pw_ws_server_free(s);
    pw_hub_free(h);
    unlink(file);
    rmdir(dir);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

Test(ws, static_files_that_resolve_outside_the_directory_are_refused)
{
    char dir[] = "/tmp/pw-ws-static-XXXXXX", out[] = "/tmp/pw-ws-secret-XXXXXX";
    cr_assert(mkdtemp(dir));
    cr_assert(mkdtemp(out));
    char p[8][320];
    snprintf(p[0], sizeof p[0], "%s/hello.txt", dir);
    snprintf(p[1], sizeof p[1], "%s/secret.txt", out);
    snprintf(p[2], sizeof p[2], "%s/leak.txt", dir);  /* -> the file outside */
    snprintf(p[3], sizeof p[3], "%s/alias.txt", dir); /* -> hello.txt, inside */
    snprintf(p[4], sizeof p[4], "%s/outdir", dir);    /* -> the directory outside */
    write_text(p[0], "hello, patchwire\n");
    write_text(p[1], "the secret\n");
    cr_assert_eq(symlink(p[1], p[2]), 0);
    cr_assert_eq(symlink("hello.txt", p[3]), 0);
    cr_assert_eq(symlink(out, p[4]), 0);

    pw_hub *h = hub_with("appstate", "{\"items\":[]}", NULL);
    pw_ws_server_options so = server_opts();
    so.static_dir = dir;
    pw_ws_server *s = serve(h, &so);
    char dotdot[80];
    snprintf(dotdot, sizeof dotdot, "/../%s/secret.txt", out + strlen("/tmp/"));
    const char *const refused[] = {"/leak.txt", "/outdir/secret.txt", dotdot};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        char *r = http_get(s, refused[i]);
        cr_expect(strstr(r, "the secret") == NULL, "%s served the file outside: %s", refused[i], r);
        cr_expect(strncmp(r, "HTTP/1.1 200", 12) != 0, "%s: %s", refused[i], r);
        free(r);
    }
    char *r = http_get(s, "/leak.txt");
    cr_expect(strncmp(r, "HTTP/1.1 403", 12) == 0, "%s", r);
    free(r);
    r = http_get(s, "/alias.txt"); /* a link that stays inside is fine */
    cr_expect(strncmp(r, "HTTP/1.1 200", 12) == 0 && strstr(r, "hello, patchwire"), "%s", r);
    free(r);
    r = http_get(s, "/hello.txt");
    cr_expect(strncmp(r, "HTTP/1.1 200", 12) == 0, "%s", r);
    free(r);
    pw_ws_server_free(s);
    pw_hub_free(h);
    for (int i = 4; i >= 0; i--)
        unlink(p[i]);
    rmdir(dir);
    rmdir(out);
}

/* ---- limits and shutdown ---- */

static bool closed_once(void *arg)
{
    return ((rec *)arg)->closes >= 1;
}

Test(ws, message_over_limit_closes_only_that_client_with_1009)
{
    pw_hub *h = hub_with("appstate", "{\"items\":[]}", NULL);
    pw_ws_server_options so = server_opts();
    so.max_message_bytes = 1000;
    pw_ws_server *s = serve(h, &so);
    int port = pw_ws_server_port(s);
    rec big, a, b;
    memset(&big, 0, sizeof big);
    pw_ws_client_options o;
    client_opts(&o, &big, url_of("ws", port, "/"), &pw_codec_json);
    o.backoff_min_ms = o.backoff_max_ms = 60000; /* no reconnect during the test */
    pw_error err;
    big.c = pw_ws_client_new(&o, &err);
    cr_assert(big.c);
    rec_connect(&a, url_of("ws", port, "/"), &pw_codec_json);
    rec_connect(&b, url_of("ws", port, "/"), &pw_codec_json);
    rec *all[] = {&big, &a, &b};
    cr_assert(pump(s, all, 3, has_msgs1, &big));
    cr_assert(pump(s, all, 3, has_msgs1, &a));
    cr_assert(pump(s, all, 3, has_msgs1, &b));

    size_t n = 2000;
    char *huge = malloc(n);
    memset(huge, ' ', n);
    memcpy(huge, "{\"type\":\"patches\"", 17);
    huge[n - 1] = '}';
    cr_assert_eq(pw_ws_client_send(big.c, (const uint8_t *)huge, n, false), PW_OK);
    free(huge);
    cr_assert(pump(s, all, 3, closed_once, &big));
    cr_assert_eq(big.close_code, 1009, "%u (%s)", big.close_code, big.close_reason);

    const char *pa =
        "{\"type\":\"patches\",\"key\":\"appstate\",\"data\":[{\"op\":\"add\",\"path\":"
        "[\"items\",0],\"value\":1}]}";
    cr_assert_eq(pw_ws_client_send(a.c, (const uint8_t *)pa, strlen(pa), false), PW_OK);
    want wb = {&b, 2};
    cr_assert(pump(s, all, 3, has_msgs, &wb));
    cr_assert_eq(pw_ws_server_connections(s), 2);
    cr_assert_eq(a.closes, 0);
    rec_free(&big);
    rec_free(&a);
    rec_free(&b);
    pw_ws_server_free(s);
    pw_hub_free(h);
}

static bool server_empty(void *arg)
{
    return pw_ws_server_connections(arg) == 0;
}

Test(ws, shutdown_sends_close_frames_and_connections_reach_zero)
{
    pw_hub *h = hub_with("appstate", "{\"items\":[]}", NULL);
    pw_ws_server_options so = server_opts();
    pw_ws_server *s = serve(h, &so);
    int port = pw_ws_server_port(s);
    rec a, b;
    rec_connect(&a, url_of("ws", port, "/"), &pw_codec_json);
    rec_connect(&b, url_of("ws", port, "/"), &pw_codec_msgpack);
    rec *all[] = {&a, &b};
    cr_assert(pump(s, all, 2, has_msgs1, &a));
    cr_assert(pump(s, all, 2, has_msgs1, &b));
    cr_assert_eq(pw_ws_server_connections(s), 2);
    pw_ws_server_shutdown(s);
    cr_assert(pump(s, all, 2, server_empty, s));
    cr_assert(pump(s, all, 2, closed_once, &a));
    cr_assert(pump(s, all, 2, closed_once, &b));
    cr_assert_eq(a.close_code, 1001, "%s", a.close_reason);
    cr_assert_eq(b.close_code, 1001, "%s", b.close_reason);
    pw_hub_metrics m;
    pw_hub_metrics_get(h, &m);
    cr_assert_eq(m.peers, 0);
    rec_free(&a);
    rec_free(&b);
    pw_ws_server_free(s);
    pw_hub_free(h);
}

Test(ws, free_with_open_connections_leaves_the_hub)
{
    pw_hub *h = hub_with("appstate", "{\"items\":[]}", NULL);
    pw_ws_server_options so = server_opts();
    pw_ws_server *s = serve(h, &so);
    rec a;
    rec_connect(&a, url_of("ws", pw_ws_server_port(s), "/"), &pw_codec_json);
    rec *all[] = {&a};
    cr_assert(pump(s, all, 1, has_msgs1, &a));
    pw_ws_server_free(s);
    pw_hub_metrics m;
    pw_hub_metrics_get(h, &m);
    cr_assert_eq(m.peers, 0);
    pump(NULL, all, 1, closed_once, &a);
    cr_assert_eq(a.closes, 1);
    rec_free(&a);
    pw_hub_free(h);
    (void)never;
}

Test(ws, bad_urls_and_busy_port_are_errors)
{
    pw_ws_client_options o;
    pw_ws_client_options_init(&o);
    pw_error err;
    const char *bad[] = {"ftp://127.0.0.1:1/", "127.0.0.1:80", "ws://", "ws://h:99999/"};
    for (size_t i = 0; i < 4; i++) {
        o.url = bad[i];
        cr_assert_null(pw_ws_client_new(&o, &err), "%s", bad[i]);
        cr_assert_eq(err.code, PW_EINVAL, "%s", bad[i]);
    }
    pw_hub *h = pw_hub_new(NULL);
    pw_ws_server_options so = server_opts();
    pw_ws_server *s = serve(h, &so);
    so.port = pw_ws_server_port(s);
    cr_assert_null(pw_ws_server_new(h, &so, &err));
    cr_assert_eq(err.code, PW_EIO);
    cr_assert(strstr(err.msg, ": address in use"), "%s", err.msg);
    o.url = "http://127.0.0.1:1/"; /* the URL a server prints means its ws:// */
    pw_ws_client *c = pw_ws_client_new(&o, &err);
    cr_assert_not_null(c, "%s", err.msg);
    pw_ws_client_free(c);
    pw_ws_server_free(s);
    pw_hub_free(h);
}
