/* bench_mqtt.c - the MQTT load generator: one process against one broker
 * (started by bench/mqtt/run) and, for the patchwire rows, the
 * `patchwire serve --ws ... --mqtt ...` that publishes through it.
 *
 * The one idea: one writer offers the same load, at a fixed rate, to the
 * raw broker and to patchwire; every message carries its number as the
 * patch's value and its send time stays here, so latency is receive - send
 * on one CLOCK_MONOTONIC and every subscriber checks that it gets each
 * number once, in order. Modes:
 *   raw  a paho publisher -> the broker -> N paho subscribers (no patchwire)
 *   d2w  a paho device publishes on PREFIX appstate/edit -> the hub -> N
 *        WebSocket readers of patchwire serve
 *   w2d  a WebSocket writer -> the hub -> N paho subscribers of
 *        PREFIX appstate/patches
 * Messages are bench/ws's (ws_msg.h): written by hand or with msgpack-c's
 * packer, so no patchwire codec is measured twice. Paho calls back on its
 * own receive thread (one for every client of the process); each WebSocket
 * client is serviced on a thread of its own. One line of key=value results
 * goes to stdout; progress to stderr. */
#include <MQTTAsync.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "patchwire/ws.h"
#include "ws_msg.h"

#define RING (1u << 18) /* send times kept, by message number */
#define MAX_SUBS 1000
#define MAX_SAMPLES (1u << 23) /* latencies kept */
#define PACE_NS 200000         /* the writer wakes this often */

typedef enum mode { MODE_RAW, MODE_D2W, MODE_W2D } mode;

typedef struct opts {
    mode mode;
    char broker[128]; /* tcp://HOST:PORT for paho */
    const char *ws_url;
    const char *prefix;
    const char *label;
    bool msgpack;
    bool with_base; /* raw: the payload carries "base", as big as the hub's "seq" */
    int qos;
    int subs;
    double rate;
    uint64_t items;
    double warmup_s, duration_s, drain_s, connect_s;
} opts;

typedef struct sub {
    int index;
    MQTTAsync mqtt;
    pw_ws_client *ws;
    pthread_t thread;
    atomic_bool connected, ready, failed;
    _Atomic uint64_t next; /* the number this subscriber expects next */
} sub;

static opts o = {
    .prefix = "patchwire/",
    .label = "",
    .qos = 1,
    .subs = 1,
    .rate = 1000,
    .items = 100,
    .warmup_s = 0.5,
    .duration_s = 2,
    .drain_s = 3,
    .connect_s = 20,
};
static _Atomic int64_t sent_ns[RING];
static _Atomic uint64_t measure_from = UINT64_MAX;
static atomic_uint_fast64_t delivered, extra_fullsyncs, errors, bad, disorder, rx_bytes;
static _Atomic int64_t last_delivery_ns;
static uint32_t *samples;
static atomic_size_t nsamples;
static atomic_bool stopping;
static sub subs[MAX_SUBS];

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void sleep_ns(int64_t ns)
{
    if (ns > 0)
        nanosleep(&(struct timespec){ns / 1000000000, ns % 1000000000}, NULL);
}

/* ---- what every subscriber does with a message ---- */

static void receive(sub *s, const uint8_t *p, size_t n)
{
    ws_patch patch;
    ws_kind k =
        o.msgpack ? ws_msg_read_msgpack(p, n, true, &patch) : ws_msg_read_json(p, n, true, &patch);
    if (k == WS_FULLSYNC) {
        if (atomic_exchange(&s->ready, true))
            atomic_fetch_add(&extra_fullsyncs, 1);
        return;
    }
    if (k == WS_ERROR) {
        atomic_fetch_add(&errors, 1);
        return;
    }
    if (k != WS_PATCH || !patch.value_is_num) {
        atomic_fetch_add(&bad, 1);
        return;
    }
    int64_t now = now_ns();
    uint64_t num = patch.value;
    uint64_t expect = atomic_exchange(&s->next, num + 1);
    if (expect && expect != num)
        atomic_fetch_add(&disorder, 1);
    if (num < atomic_load(&measure_from))
        return;
    atomic_fetch_add(&delivered, 1);
    atomic_fetch_add(&rx_bytes, n);
    atomic_store(&last_delivery_ns, now);
    size_t i = atomic_fetch_add(&nsamples, 1);
    if (i < MAX_SAMPLES) {
        int64_t us = (now - atomic_load(&sent_ns[num % RING])) / 1000;
        samples[i] = us < 0 ? 0 : us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    }
}

/* ---- paho ---- */

static void on_lost(void *ctx, char *cause)
{
    sub *s = ctx;
    if (s && !atomic_load(&stopping)) {
        fprintf(stderr, "bench_mqtt: subscriber %d lost the broker: %s\n", s->index,
                cause ? cause : "?");
        atomic_store(&s->failed, true);
    }
}

static int on_arrived(void *ctx, char *topic, int topic_len, MQTTAsync_message *m)
{
    (void)topic_len;
    if (ctx)
        receive(ctx, m->payload, (size_t)m->payloadlen);
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

static void on_connected(void *ctx, MQTTAsync_successData *d)
{
    (void)d;
    atomic_store(&((sub *)ctx)->connected, true);
}

static void on_failed(void *ctx, MQTTAsync_failureData *d)
{
    sub *s = ctx;
    fprintf(stderr, "bench_mqtt: client %d: %s\n", s->index,
            d && d->message ? d->message : "failed");
    atomic_store(&s->failed, true);
}

static void on_subscribed(void *ctx, MQTTAsync_successData *d)
{
    (void)d;
    atomic_store(&((sub *)ctx)->ready, true);
}

/* Connects s; what it receives goes to receive(). */
static bool mqtt_start(sub *s, const char *id)
{
    if (MQTTAsync_create(&s->mqtt, o.broker, id, MQTTCLIENT_PERSISTENCE_NONE, NULL) !=
        MQTTASYNC_SUCCESS)
        return false;
    MQTTAsync_setCallbacks(s->mqtt, s, on_lost, on_arrived, NULL);
    MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
    co.keepAliveInterval = 30;
    co.cleansession = 1;
    co.onSuccess = on_connected;
    co.onFailure = on_failed;
    co.context = s;
    return MQTTAsync_connect(s->mqtt, &co) == MQTTASYNC_SUCCESS;
}

static bool mqtt_subscribe(sub *s, const char *topic)
{
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.onSuccess = on_subscribed;
    ro.onFailure = on_failed;
    ro.context = s;
    return MQTTAsync_subscribe(s->mqtt, topic, o.qos, &ro) == MQTTASYNC_SUCCESS;
}

static void mqtt_stop(sub *s)
{
    if (!s->mqtt)
        return;
    if (MQTTAsync_isConnected(s->mqtt)) {
        MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
        d.timeout = 100;
        MQTTAsync_disconnect(s->mqtt, &d);
        for (int i = 0; i < 20 && MQTTAsync_isConnected(s->mqtt); i++)
            sleep_ns(5000000);
    }
    MQTTAsync_destroy(&s->mqtt);
}

/* ---- WebSocket clients (patchwire's), one thread each ---- */

static void ws_on_open(void *ud)
{
    atomic_store(&((sub *)ud)->connected, true);
}

static void ws_on_message(const uint8_t *p, size_t n, bool binary, void *ud)
{
    (void)binary;
    receive(ud, p, n);
}

static void ws_on_close(const char *reason, void *ud)
{
    sub *s = ud;
    if (!atomic_load(&stopping)) {
        fprintf(stderr, "bench_mqtt: WebSocket client %d closed: %s\n", s->index, reason);
        atomic_store(&s->failed, true);
    }
}

static void *ws_thread(void *arg)
{
    sub *s = arg;
    while (!atomic_load(&stopping))
        pw_ws_client_service(s->ws, 50);
    ws_msg_reader_free();
    return NULL;
}

static bool ws_start(sub *s)
{
    pw_ws_client_options wo;
    pw_ws_client_options_init(&wo);
    wo.url = o.ws_url;
    wo.codec = o.msgpack ? &pw_codec_msgpack : &pw_codec_json;
    wo.cb = (pw_ws_client_callbacks){
        .on_open = ws_on_open, .on_message = ws_on_message, .on_close = ws_on_close};
    wo.userdata = s;
    pw_error err;
    if (!(s->ws = pw_ws_client_new(&wo, &err))) {
        fprintf(stderr, "bench_mqtt: %s: %s\n", o.ws_url, err.msg);
        return false;
    }
    return pthread_create(&s->thread, NULL, ws_thread, s) == 0;
}

static void ws_stop(sub *s)
{
    if (!s->ws)
        return;
    pthread_join(s->thread, NULL);
    pw_ws_client_close(s->ws);
    for (int i = 0; i < 20 && pw_ws_client_connected(s->ws); i++)
        pw_ws_client_service(s->ws, 10);
    pw_ws_client_free(s->ws);
    s->ws = NULL;
}

/* ---- the run ---- */

/* Waits until every one of n subscribers (and the writer w) is ready. */
static bool wait_ready(sub *list, int n, sub *w)
{
    int64_t end = now_ns() + (int64_t)(o.connect_s * 1e9);
    for (;;) {
        bool all = !w || atomic_load(&w->ready);
        for (int i = 0; i < n && all; i++)
            all = atomic_load(&list[i].ready);
        bool failed = w && atomic_load(&w->failed);
        for (int i = 0; i < n && !failed; i++)
            failed = atomic_load(&list[i].failed);
        if (all)
            return true;
        if (failed || now_ns() > end)
            return false;
        sleep_ns(10000000);
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static uint32_t percentile(const uint32_t *v, size_t n, double p)
{
    if (!n)
        return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

static size_t write_msg(char *buf, size_t cap, uint64_t num)
{
    int64_t base = o.with_base ? (int64_t)num : -1;
    return o.msgpack ? ws_msg_write_msgpack(buf, cap, num % o.items, (int64_t)num, base)
                     : ws_msg_write_json(buf, cap, num % o.items, (int64_t)num, base);
}

static const char *mode_name(void)
{
    return o.mode == MODE_RAW ? "raw" : o.mode == MODE_D2W ? "d2w" : "w2d";
}

static int usage(void)
{
    fprintf(stderr,
            "usage: bench_mqtt --mode raw|d2w|w2d --broker HOST:PORT [--ws ws://HOST:PORT/]\n"
            "       [--codec json|msgpack] [--qos N] [--subs N] [--rate R] [--items N]\n"
            "       [--warmup S] [--duration S] [--drain S] [--prefix P] [--with-base] "
            "[--label L]\n");
    return 2;
}

static int parse(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--with-base") == 0) {
            o.with_base = true;
            continue;
        }
        if (!v)
            return usage();
        i++;
        if (strcmp(a, "--mode") == 0) {
            if (strcmp(v, "raw") == 0)
                o.mode = MODE_RAW;
            else if (strcmp(v, "d2w") == 0)
                o.mode = MODE_D2W;
            else if (strcmp(v, "w2d") == 0)
                o.mode = MODE_W2D;
            else
                return usage();
        } else if (strcmp(a, "--broker") == 0) {
            snprintf(o.broker, sizeof o.broker, "tcp://%s", v);
        } else if (strcmp(a, "--ws") == 0) {
            o.ws_url = v;
        } else if (strcmp(a, "--codec") == 0) {
            o.msgpack = strcmp(v, "msgpack") == 0;
        } else if (strcmp(a, "--qos") == 0) {
            o.qos = atoi(v);
        } else if (strcmp(a, "--subs") == 0) {
            o.subs = atoi(v);
        } else if (strcmp(a, "--rate") == 0) {
            o.rate = atof(v);
        } else if (strcmp(a, "--items") == 0) {
            o.items = strtoull(v, NULL, 10);
        } else if (strcmp(a, "--warmup") == 0) {
            o.warmup_s = atof(v);
        } else if (strcmp(a, "--duration") == 0) {
            o.duration_s = atof(v);
        } else if (strcmp(a, "--drain") == 0) {
            o.drain_s = atof(v);
        } else if (strcmp(a, "--prefix") == 0) {
            o.prefix = v;
        } else if (strcmp(a, "--label") == 0) {
            o.label = v;
        } else {
            return usage();
        }
    }
    if (!o.broker[0] || (o.mode != MODE_RAW && !o.ws_url) || o.subs < 1 || o.subs > MAX_SUBS ||
        o.qos < 0 || o.qos > 2 || !(o.rate > 0) || o.items < 1)
        return usage();
    return 0;
}

static void fail_line(const char *reason)
{
    printf("status=fail label=%s mode=%s codec=%s qos=%d subs=%d reason=%s\n", o.label, mode_name(),
           o.msgpack ? "msgpack" : "json", o.qos, o.subs, reason);
}

int main(int argc, char **argv)
{
    int rc = parse(argc, argv);
    if (rc)
        return rc;
    samples = malloc(MAX_SAMPLES * sizeof *samples);
    if (!samples)
        return 1;
    char topic[256];
    snprintf(topic, sizeof topic, "%sappstate/%s", o.prefix,
             o.mode == MODE_D2W ? "edit" : "patches");
    if (o.mode == MODE_RAW)
        snprintf(topic, sizeof topic, "bench/raw/%d", (int)getpid());

    /* The subscribers, then the writer. */
    sub writer = {.index = -1};
    bool ok = true;
    char id[64];
    for (int i = 0; i < o.subs && ok; i++) {
        subs[i].index = i;
        if (o.mode == MODE_D2W) {
            ok = ws_start(&subs[i]);
        } else {
            snprintf(id, sizeof id, "bench-sub-%d-%d", (int)getpid(), i);
            ok = mqtt_start(&subs[i], id);
        }
    }
    if (ok && o.mode == MODE_W2D) {
        ok = ws_start(&writer);
    } else if (ok) {
        snprintf(id, sizeof id, "bench-pub-%d", (int)getpid());
        ok = mqtt_start(&writer, id);
    }
    /* MQTT subscribers subscribe once connected and are ready when
     * subscribed; WebSocket clients with their FullSync; an MQTT writer
     * once connected. */
    int64_t end = now_ns() + (int64_t)(o.connect_s * 1e9);
    for (int i = 0; ok && o.mode != MODE_D2W && i < o.subs; i++) {
        while (!atomic_load(&subs[i].connected) && !atomic_load(&subs[i].failed) && now_ns() < end)
            sleep_ns(5000000);
        ok = atomic_load(&subs[i].connected) && mqtt_subscribe(&subs[i], topic);
    }
    if (ok && o.mode != MODE_W2D) {
        while (!atomic_load(&writer.connected) && !atomic_load(&writer.failed) && now_ns() < end)
            sleep_ns(5000000);
        atomic_store(&writer.ready, atomic_load(&writer.connected));
    }
    ok = ok && wait_ready(subs, o.subs, &writer);
    if (!ok) {
        fail_line("not_all_connected");
        atomic_store(&stopping, true);
    }

    /* The load: rate messages/s, numbered from 1; measured after warmup. */
    uint64_t num = 0, send_fail = 0, measured = 0;
    size_t payload = 0;
    int64_t t0 = now_ns(), t_measure = 0;
    int64_t warm = (int64_t)(o.warmup_s * 1e9), stop = warm + (int64_t)(o.duration_s * 1e9);
    while (ok) {
        int64_t el = now_ns() - t0;
        if (el >= stop)
            break;
        if (!t_measure && el >= warm) {
            t_measure = now_ns();
            atomic_store(&measure_from, num + 1);
        }
        uint64_t due = (uint64_t)((double)el / 1e9 * o.rate) + 1;
        while (num < due) {
            char buf[512];
            num++;
            size_t n = write_msg(buf, sizeof buf, num);
            payload = n;
            atomic_store(&sent_ns[num % RING], now_ns());
            bool sent;
            if (o.mode == MODE_W2D) {
                sent = pw_ws_client_send(writer.ws, (const uint8_t *)buf, n, o.msgpack) == PW_OK;
            } else {
                MQTTAsync_message m = MQTTAsync_message_initializer;
                m.payload = buf;
                m.payloadlen = (int)n;
                m.qos = o.qos;
                MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
                sent = MQTTAsync_sendMessage(writer.mqtt, topic, &m, &ro) == MQTTASYNC_SUCCESS;
            }
            send_fail += !sent;
            measured += t_measure != 0;
        }
        sleep_ns(PACE_NS);
    }

    /* What was sent in the measured interval, to every subscriber. */
    uint64_t expected = measured * (uint64_t)o.subs;
    int64_t drain_end = now_ns() + (int64_t)(o.drain_s * 1e9);
    while (ok && atomic_load(&delivered) < expected && now_ns() < drain_end)
        sleep_ns(5000000);
    atomic_store(&stopping, true);

    if (ok) {
        uint64_t got = atomic_load(&delivered);
        size_t ns = atomic_load(&nsamples);
        ns = ns < MAX_SAMPLES ? ns : MAX_SAMPLES;
        qsort(samples, ns, sizeof *samples, cmp_u32);
        double span = o.duration_s,
               last = (double)(atomic_load(&last_delivery_ns) - t_measure) / 1e9;
        span = last > span ? last : span;
        double per_s = (double)got / span;
        bool saturated = got < expected || per_s < 0.9 * o.rate * o.subs;
        printf("status=ok label=%s mode=%s codec=%s qos=%d subs=%d rate=%.0f payload=%zu "
               "rx_bytes=%.0f sent=%" PRIu64 " expected=%" PRIu64 " delivered=%" PRIu64
               " delivered_per_s=%.0f p50_us=%u p99_us=%u max_us=%u missing=%" PRIu64
               " extra_fullsyncs=%" PRIuFAST64 " errors=%" PRIuFAST64 " bad=%" PRIuFAST64
               " disorder=%" PRIuFAST64 " send_fail=%" PRIu64 " saturated=%d\n",
               o.label, mode_name(), o.msgpack ? "msgpack" : "json", o.qos, o.subs, o.rate, payload,
               got ? (double)atomic_load(&rx_bytes) / (double)got : 0.0, num, expected, got, per_s,
               percentile(samples, ns, 0.5), percentile(samples, ns, 0.99),
               ns ? samples[ns - 1] : 0, expected > got ? expected - got : 0,
               atomic_load(&extra_fullsyncs), atomic_load(&errors), atomic_load(&bad),
               atomic_load(&disorder), send_fail, saturated);
    }
    fflush(stdout);
    for (int i = 0; i < o.subs; i++) {
        ws_stop(&subs[i]);
        mqtt_stop(&subs[i]);
    }
    ws_stop(&writer);
    mqtt_stop(&writer);
    ws_msg_reader_free();
    free(samples);
    return ok ? 0 : 1;
}
