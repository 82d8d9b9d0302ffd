/* bench_nanomsg.c - the nanomsg transport under load: one writer's changes
 * through a hub and its PUB socket to 1, 10 and 100 subscribers, against
 * the raw ceiling (a bare PUB publishing the same bytes at full speed to
 * the same subscribers), over ipc and tcp, JSON and MessagePack.
 *
 * The one idea: the hub, its writer and its server run on the main thread as
 * in `patchwire serve`; the subscribers are plain SUB sockets on one reader
 * thread that follow the SPEC's recipe (a seq gap is a FullSync request to
 * REP), so what is measured is what a subscriber gets, with every drop
 * counted and recovered. Prints Markdown table rows on stdout. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nanomsg/nn.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>

#include "patchwire.h"
#include "patchwire/inproc.h"
#include "patchwire/nanomsg.h"

#define MAXSUB 100
#define MAXSEQ (1u << 24)
#define NFRAMES 4096

static double duration_s = 2.0, latency_s = 1.0;
static int latency_rate = 2000;

static _Atomic uint64_t *t_sent; /* by seq: when the writer sent it (ns) */

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static const uint8_t *find(const uint8_t *p, size_t n, const void *needle, size_t m)
{
    for (size_t i = 0; i + m <= n; i++)
        if (p[i] == *(const uint8_t *)needle && memcmp(p + i, needle, m) == 0)
            return p + i;
    return NULL;
}

/* The seq of an encoded message (JSON or MessagePack), 0 if none: what a
 * subscriber reads without decoding the whole message. */
static uint64_t seq_of(const uint8_t *p, size_t n)
{
    if (n && p[0] == '{') {
        const uint8_t *s = find(p, n, "\"seq\":", 6);
        return s ? strtoull((const char *)s + 6, NULL, 10) : 0;
    }
    static const uint8_t key[] = {0xa3, 's', 'e', 'q'};
    const uint8_t *s = find(p, n, key, sizeof key);
    if (!s || s + 5 > p + n)
        return 0;
    s += 4;
    size_t left = (size_t)(p + n - s);
    uint64_t v = 0;
    int bytes = s[0] < 0x80 ? 0 : s[0] == 0xcc ? 1 : s[0] == 0xcd ? 2 : s[0] == 0xce ? 4 : 8;
    if (s[0] < 0x80)
        return s[0];
    if ((size_t)bytes + 1 > left)
        return 0;
    for (int i = 1; i <= bytes; i++)
        v = v << 8 | s[i];
    return v;
}

/* ---- subscribers: one thread reading them all ---- */

typedef struct subs {
    int n;
    int sub[MAXSUB], req[MAXSUB];
    uint64_t expect[MAXSUB];
    bool asking[MAXSUB];
    bool raw;     /* counting only: the raw ceiling has no REP */
    bool measure; /* record latencies */
    atomic_bool stop;
    _Atomic uint64_t delivered;
    uint64_t gaps, resyncs;
    double *lat;
    size_t nlat, cap;
} subs;

static void on_message(subs *s, int i, const uint8_t *p, size_t n)
{
    atomic_fetch_add_explicit(&s->delivered, 1, memory_order_relaxed);
    if (s->raw)
        return;
    const uint8_t *nul = memchr(p, 0, n);
    if (!nul)
        return;
    uint64_t seq = seq_of(nul + 1, (size_t)(p + n - nul - 1));
    if (!seq)
        return;
    if (s->measure && seq < MAXSEQ && s->nlat < s->cap) {
        uint64_t t0 = atomic_load_explicit(&t_sent[seq], memory_order_relaxed);
        if (t0)
            s->lat[s->nlat++] = (double)(now_ns() - t0) / 1e6;
    }
    if (s->expect[i] && seq > s->expect[i]) {
        s->gaps++;
        if (!s->asking[i]) {
            static const char ask[] = "{\"type\":\"resync\",\"key\":\"k\"}";
            if (nn_send(s->req[i], ask, sizeof ask - 1, NN_DONTWAIT) >= 0)
                s->asking[i] = true;
        }
    }
    if (seq >= s->expect[i])
        s->expect[i] = seq + 1;
}

static void *reader(void *arg)
{
    subs *s = arg;
    struct pollfd fds[2 * MAXSUB];
    int who[2 * MAXSUB];
    int nf = 0;
    for (int i = 0; i < s->n; i++) {
        size_t sz = sizeof(int);
        int fd;
        nn_getsockopt(s->sub[i], NN_SOL_SOCKET, NN_RCVFD, &fd, &sz);
        fds[nf] = (struct pollfd){.fd = fd, .events = POLLIN};
        who[nf++] = i;
        if (s->req[i] >= 0) {
            nn_getsockopt(s->req[i], NN_SOL_SOCKET, NN_RCVFD, &fd, &sz);
            fds[nf] = (struct pollfd){.fd = fd, .events = POLLIN};
            who[nf++] = -1 - i;
        }
    }
    while (!atomic_load(&s->stop)) {
        if (poll(fds, (nfds_t)nf, 20) <= 0)
            continue;
        for (int f = 0; f < nf; f++) {
            if (!(fds[f].revents & POLLIN))
                continue;
            int i = who[f] >= 0 ? who[f] : -1 - who[f];
            int sock = who[f] >= 0 ? s->sub[i] : s->req[i];
            for (int k = 0; k < 256; k++) {
                void *buf = NULL;
                int r = nn_recv(sock, &buf, NN_MSG, NN_DONTWAIT);
                if (r < 0)
                    break;
                if (who[f] >= 0) {
                    on_message(s, i, buf, (size_t)r);
                } else { /* the FullSync: the stream goes on from its seq */
                    s->resyncs++;
                    s->asking[i] = false;
                    uint64_t seq = seq_of(buf, (size_t)r);
                    if (seq >= s->expect[i])
                        s->expect[i] = seq + 1;
                }
                nn_freemsg(buf);
            }
        }
    }
    return NULL;
}

static int connect_to(int protocol, const char *url, pw_nn_socket which)
{
    char addr[256];
    if (pw_nn_endpoint(url, which, addr, sizeof addr, NULL) != PW_OK)
        return -1;
    int s = nn_socket(AF_SP, protocol);
    int v = -1;
    nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVMAXSIZE, &v, sizeof v);
    v = 0;
    nn_setsockopt(s, NN_SOL_SOCKET, NN_LINGER, &v, sizeof v);
    if (protocol == NN_SUB)
        nn_setsockopt(s, NN_SUB, NN_SUB_SUBSCRIBE, "k", 2);
    nn_connect(s, addr);
    return s;
}

static void subs_open(subs *s, int n, const char *url, bool raw)
{
    memset(s, 0, sizeof *s);
    s->n = n;
    s->raw = raw;
    for (int i = 0; i < n; i++) {
        s->sub[i] = connect_to(NN_SUB, url, PW_NN_PUB);
        s->req[i] = raw ? -1 : connect_to(NN_REQ, url, PW_NN_REP);
    }
}

static void subs_close(subs *s)
{
    for (int i = 0; i < s->n; i++) {
        nn_close(s->sub[i]);
        if (s->req[i] >= 0)
            nn_close(s->req[i]);
    }
    free(s->lat);
}

/* Waits (servicing the hub's server, if any) until every SUB is connected. */
static void subs_wait(subs *s, pw_nn_server *srv)
{
    uint64_t end = now_ns() + 5000000000u;
    for (int i = 0; i < s->n && now_ns() < end;)
        if (nn_get_statistic(s->sub[i], NN_STAT_CURRENT_CONNECTIONS) >= 1)
            i++;
        else if (srv)
            pw_nn_server_service(srv, 1);
    uint64_t settle = now_ns() + 200000000u; /* the subscriptions reach PUB */
    while (now_ns() < settle)
        if (srv)
            pw_nn_server_service(srv, 1);
}

/* ---- the hub side ---- */

typedef struct result {
    double sent_per_s, delivered_per_s, drop_pct, p50, p99;
    uint64_t gaps, resyncs;
} result;

static pw_value state(void)
{
    pw_value doc, items;
    pw_object_new(&doc, 2);
    pw_array_new(&items, 100);
    for (int i = 0; i < 100; i++) {
        pw_value it, t;
        pw_object_new(&it, 2);
        char title[32];
        snprintf(title, sizeof title, "item %d", i);
        pw_string_cstr(&t, title);
        pw_object_set_str(&it, "title", 5, t, NULL);
        pw_object_set_str(&it, "done", 4, pw_bool(false), NULL);
        pw_array_push(&items, it);
    }
    pw_object_set_str(&doc, "items", 5, items, NULL);
    pw_object_set_str(&doc, "n", 1, pw_int(0), NULL);
    return doc;
}

static size_t change(char *buf, size_t cap, uint64_t i)
{
    return (size_t)snprintf(buf, cap,
                            "{\"type\":\"patches\",\"key\":\"k\",\"data\":[{\"op\":\"replace\","
                            "\"path\":[\"items\",%llu,\"done\"],\"value\":%s}]}",
                            (unsigned long long)(i % 100), i % 2 ? "true" : "false");
}

static double pct(double *v, size_t n, double q)
{
    if (!n)
        return 0;
    size_t k = (size_t)(q * (double)(n - 1));
    /* nth element by partial selection sort would do; n is small */
    for (size_t i = 0; i <= k; i++)
        for (size_t j = i + 1; j < n; j++)
            if (v[j] < v[i]) {
                double t = v[i];
                v[i] = v[j];
                v[j] = t;
            }
    return v[k];
}

/* The hub with its server and a writer: saturated for duration_s, then at
 * latency_rate changes/s for latency_s. */
static int run_hub(const char *url, const pw_codec *codec, int nsubs, result *r)
{
    pw_hub *hub = pw_hub_new(NULL);
    pw_hub_set_state(hub, "k", 1, state());
    pw_nn_server_options o;
    pw_nn_server_options_init(&o);
    o.url = url;
    o.codec = codec;
    pw_error err;
    pw_nn_server *srv = pw_nn_server_new(hub, &o, &err);
    if (!srv) {
        fprintf(stderr, "bench_nanomsg: %s: %s\n", url, err.msg);
        pw_hub_free(hub);
        return -1;
    }
    pw_inproc *ip = pw_inproc_new(hub);
    pw_inproc_conn *w = pw_inproc_connect(ip, NULL, &pw_codec_json);
    while (pw_inproc_pending(w))
        pw_frame_release(pw_inproc_recv(w));
    subs s;
    subs_open(&s, nsubs, url, false);
    subs_wait(&s, srv);
    pthread_t th;
    pthread_create(&th, NULL, reader, &s);

    char msg[256];
    uint64_t i = 0, t0 = now_ns(), end = t0 + (uint64_t)(duration_s * 1e9);
    while (now_ns() < end) {
        for (int b = 0; b < 64; b++, i++) {
            size_t n = change(msg, sizeof msg, i);
            pw_inproc_send(w, (const uint8_t *)msg, n, NULL);
        }
        pw_nn_server_service(srv, 0);
    }
    double elapsed = (double)(now_ns() - t0) / 1e9;
    uint64_t drain = now_ns() + 300000000u;
    while (now_ns() < drain)
        pw_nn_server_service(srv, 1);
    uint64_t delivered = atomic_load(&s.delivered);
    r->sent_per_s = (double)i / elapsed;
    r->delivered_per_s = (double)delivered / elapsed;
    r->drop_pct = 100.0 * (1.0 - (double)delivered / ((double)i * nsubs));
    if (r->drop_pct < 0)
        r->drop_pct = 0;

    /* latency at a rate every subscriber keeps up with */
    s.cap = (size_t)(latency_rate * latency_s * nsubs) + 1024;
    s.lat = malloc(s.cap * sizeof *s.lat);
    uint64_t v0;
    pw_hub_state(hub, "k", 1, &v0);
    s.measure = true;
    uint64_t start = now_ns(), step = (uint64_t)(1e9 / latency_rate);
    uint64_t total = (uint64_t)(latency_rate * latency_s);
    for (uint64_t k = 0; k < total; k++) {
        uint64_t due = start + k * step;
        while (now_ns() < due)
            pw_nn_server_service(srv, 0);
        if (v0 + k + 1 < MAXSEQ)
            atomic_store_explicit(&t_sent[v0 + k + 1], now_ns(), memory_order_relaxed);
        size_t n = change(msg, sizeof msg, i++);
        pw_inproc_send(w, (const uint8_t *)msg, n, NULL);
        pw_nn_server_service(srv, 0);
    }
    drain = now_ns() + 300000000u;
    while (now_ns() < drain)
        pw_nn_server_service(srv, 1);
    atomic_store(&s.stop, true);
    pthread_join(th, NULL);
    r->gaps = s.gaps;
    r->resyncs = s.resyncs;
    r->p50 = pct(s.lat, s.nlat, 0.50);
    r->p99 = pct(s.lat, s.nlat, 0.99);
    subs_close(&s);
    pw_inproc_free(ip);
    pw_nn_server_free(srv);
    pw_hub_free(hub);
    return 0;
}

/* The bytes the hub publishes for NFRAMES changes (KEY\0 then the message). */
static int capture(const pw_codec *codec, void **frames, size_t *lens)
{
    pw_hub *hub = pw_hub_new(NULL);
    pw_hub_set_state(hub, "k", 1, state());
    pw_inproc *ip = pw_inproc_new(hub);
    pw_inproc_conn *pub = pw_inproc_connect(ip, NULL, codec);
    pw_inproc_conn *w = pw_inproc_connect(ip, NULL, &pw_codec_json);
    pw_frame *f;
    while ((f = pw_inproc_recv(pub)))
        pw_frame_release(f);
    char msg[256];
    for (int i = 0; i < NFRAMES; i++) {
        size_t n = change(msg, sizeof msg, (uint64_t)i);
        pw_inproc_send(w, (const uint8_t *)msg, n, NULL);
        f = pw_inproc_recv(pub);
        if (!f)
            return -1;
        lens[i] = f->len + 2;
        frames[i] = malloc(lens[i]);
        memcpy(frames[i], "k", 2);
        memcpy((char *)frames[i] + 2, f->data, f->len);
        pw_frame_release(f);
    }
    pw_inproc_free(ip);
    pw_hub_free(hub);
    return 0;
}

/* A bare PUB publishing the captured bytes at full speed. */
static int run_raw(const char *url, const pw_codec *codec, int nsubs, result *r)
{
    static void *frames[NFRAMES];
    static size_t lens[NFRAMES];
    if (capture(codec, frames, lens))
        return -1;
    char addr[256];
    pw_nn_endpoint(url, PW_NN_PUB, addr, sizeof addr, NULL);
    int pub = nn_socket(AF_SP, NN_PUB);
    int v = 0;
    nn_setsockopt(pub, NN_SOL_SOCKET, NN_LINGER, &v, sizeof v);
    if (nn_bind(pub, addr) < 0) {
        fprintf(stderr, "bench_nanomsg: bind %s: %s\n", addr, nn_strerror(nn_errno()));
        return -1;
    }
    subs s;
    subs_open(&s, nsubs, url, true);
    subs_wait(&s, NULL);
    pthread_t th;
    pthread_create(&th, NULL, reader, &s);
    uint64_t i = 0, t0 = now_ns(), end = t0 + (uint64_t)(duration_s * 1e9);
    while (now_ns() < end)
        for (int b = 0; b < 64; b++, i++)
            nn_send(pub, frames[i % NFRAMES], lens[i % NFRAMES], 0);
    double elapsed = (double)(now_ns() - t0) / 1e9;
    struct timespec d = {.tv_nsec = 300000000};
    nanosleep(&d, NULL);
    atomic_store(&s.stop, true);
    pthread_join(th, NULL);
    uint64_t delivered = atomic_load(&s.delivered);
    r->sent_per_s = (double)i / elapsed;
    r->delivered_per_s = (double)delivered / elapsed;
    r->drop_pct = 100.0 * (1.0 - (double)delivered / ((double)i * nsubs));
    if (r->drop_pct < 0)
        r->drop_pct = 0;
    subs_close(&s);
    nn_close(pub);
    for (int k = 0; k < NFRAMES; k++)
        free(frames[k]);
    return 0;
}

static const char *rate(double v, char *buf, size_t cap)
{
    if (v >= 1e6)
        snprintf(buf, cap, "%.2f M/s", v / 1e6);
    else if (v >= 1e3)
        snprintf(buf, cap, "%.0f k/s", v / 1e3);
    else
        snprintf(buf, cap, "%.0f/s", v);
    return buf;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            duration_s = 0.5;
            latency_s = 0.3;
        } else if (strcmp(argv[i], "--duration") == 0 && i + 1 < argc) {
            duration_s = atof(argv[++i]);
        } else {
            fprintf(stderr, "usage: bench_nanomsg [--quick] [--duration S]\n");
            return 2;
        }
    }
    t_sent = calloc(MAXSEQ, sizeof *t_sent);
    char dir[] = "/tmp/pwbench-nn-XXXXXX";
    if (!t_sent || !mkdtemp(dir))
        return 1;
    srand((unsigned)now_ns());
    int base = 20000 + rand() % 30000;
    const char *transports[] = {"ipc", "tcp"};
    const pw_codec *codecs[] = {&pw_codec_json, &pw_codec_msgpack};
    const int counts[] = {1, 10, 100};
    printf("| Transport | Codec | Subscribers | patchwire: changes/s | patchwire: delivered | "
           "raw PUB: delivered | patchwire / raw | drops (patchwire / raw) | gaps seen, "
           "FullSyncs from REP | latency p50 / p99 at %d/s (ms) |\n",
           latency_rate);
    printf("|---|---|--:|--:|--:|--:|--:|---|---|---|\n");
    int run = 0;
    for (int t = 0; t < 2; t++)
        for (int c = 0; c < 2; c++)
            for (int k = 0; k < 3; k++, run++) {
                char url[128], raw_url[128];
                if (t == 0) {
                    snprintf(url, sizeof url, "ipc://%s/hub%d", dir, run);
                    snprintf(raw_url, sizeof raw_url, "ipc://%s/raw%d", dir, run);
                } else {
                    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", base + 6 * run);
                    snprintf(raw_url, sizeof raw_url, "tcp://127.0.0.1:%d", base + 6 * run + 3);
                }
                fprintf(stderr, "bench_nanomsg: %s %s %d subscribers\n", transports[t],
                        codecs[c]->name, counts[k]);
                result pw = {0}, raw = {0};
                if (run_hub(url, codecs[c], counts[k], &pw) ||
                    run_raw(raw_url, codecs[c], counts[k], &raw))
                    return 1;
                char a[32], b[32], d[32];
                printf("| %s | %s | %d | %s | %s | %s | %.0f%% | %.1f%% / %.1f%% | %llu, %llu | "
                       "%.3f / %.3f |\n",
                       transports[t], c ? "MessagePack" : "JSON", counts[k],
                       rate(pw.sent_per_s, a, sizeof a), rate(pw.delivered_per_s, b, sizeof b),
                       rate(raw.delivered_per_s, d, sizeof d),
                       raw.delivered_per_s > 0 ? 100.0 * pw.delivered_per_s / raw.delivered_per_s
                                               : 0.0,
                       pw.drop_pct, raw.drop_pct, (unsigned long long)pw.gaps,
                       (unsigned long long)pw.resyncs, pw.p50, pw.p99);
                fflush(stdout);
            }
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    free(t_sent);
    return 0;
}
