/* bench_ws.c - the WebSocket load generator: one libwebsockets context, one
 * thread, one writer and many readers connected to a hub at 127.0.0.1:PORT
 * (patchwire serve or the Node hub, started by bench/ws/run).
 *
 * The one idea: the writer's messages are numbered and every reader checks
 * that it receives them in order, so "delivered" counts only the expected
 * patches, a message is "in flight" until every reader has it, and the
 * writer never has more than --window of them in flight (throughput) or
 * sends at a fixed rate (latency: the number is the patch's value and the
 * send time is kept here, so receive - send uses one CLOCK_MONOTONIC).
 * Modes:
 *   throughput  delivered messages/s at saturation, server and own CPU
 *   latency     p50/p99/max end-to-end latency at --rate messages/s
 *   idle        server VmRSS with 1 and with --conns idle connections
 * One line of key=value results goes to stdout; progress to stderr.
 * lws runs its own poll() loop: at 1,000 readers about a fifth of the
 * generator's CPU goes to poll() itself (lws 4.1's libev and libuv loops
 * were tried: they left both processes half idle). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "ws_msg.h"

#define RING 65536u      /* messages in flight at most (a power of two) */
#define HEAD_MAX 512     /* bytes of a message kept to classify it */
#define HIST_US 1000000u /* latency histogram: 1 µs buckets up to 1 s, */
#define HIST_MS 120000u  /* then 1 ms buckets up to 2 minutes */
#define BURST 64         /* messages written per writeable callback */
#define TICK_US 2000     /* the main loop wakes at least this often */

typedef enum mode { MODE_THROUGHPUT, MODE_LATENCY, MODE_IDLE } mode;
typedef enum phase {
    PH_CONNECT,
    PH_IDLE_ONE,
    PH_IDLE_REST,
    PH_WARMUP,
    PH_MEASURE,
    PH_DRAIN,
    PH_DONE
} phase;

typedef struct opts {
    char host[64];
    int port;
    int pid;
    mode mode;
    bool msgpack;
    int readers;
    uint64_t items;
    uint64_t window;
    double rate;
    double warmup_s, duration_s, settle_s, timeout_s;
    int conns;
    int max_pending;
    bool base; /* the writer sends "base" and reads acks (a patchwire replica's way) */
    const char *label;
} opts;

struct bench;

typedef struct conn {
    struct bench *b;
    struct lws *wsi;
    bool writer, started, open, failed, synced, in_msg, binary;
    uint64_t next; /* number of the next message this reader expects */
    size_t head_len, msg_len;
    uint8_t head[HEAD_MAX];
} conn;

typedef struct bench {
    opts o;
    struct lws_context *ctx;
    conn *conns;
    int nconns, nreaders; /* readers are conns[0..nreaders-1], the writer conns[nreaders] */
    int next_connect, pending, opened, synced, failed, closed;
    char first_error[160];
    phase phase;
    int64_t t_phase, t_deadline, t_load, t_measure, t_end, t_settled;
    /* load */
    bool sending, writer_blocked;
    uint64_t sent, acked; /* acked: delivered to every reader */
    uint32_t *arrivals;   /* RING: readers that have message n */
    int64_t *sent_ns;     /* RING: send time of message n (latency) */
    lws_sorted_usec_list_t tick, pace;
    /* counts */
    uint64_t delivered, missed, bad, extra_fullsyncs, errors_in, others, undrained;
    uint64_t writer_in, writer_fullsyncs, writer_fullsync_bytes; /* what the writer was sent back */
    uint64_t acks, base; /* --base: acks, last acked version */
    char bad_sample[96];
    uint32_t *hist; /* HIST_US + HIST_MS buckets */
    uint64_t hist_n, lat_max_ns;
    /* snapshots over the measured interval */
    uint64_t m_delivered, m_sent;
    double m_server_cpu_s, m_gen_cpu_s;
    long rss1_kb, rssn_kb;
} bench;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double own_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* utime + stime of the server from /proc/PID/stat, in seconds; -1 if unknown. */
static double server_cpu_s(int pid)
{
    if (pid <= 0)
        return -1;
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p)
        return -1;
    unsigned long long utime = 0, stime = 0;
    /* after ')': state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
     */
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) !=
        2)
        return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* VmRSS of a process in kB; -1 if unknown. */
static long rss_kb(int pid)
{
    char path[64], line[256];
    if (pid > 0)
        snprintf(path, sizeof path, "/proc/%d/status", pid);
    else
        snprintf(path, sizeof path, "/proc/self/status");
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static void note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench_ws: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static const char *mode_name(mode m)
{
    return m == MODE_THROUGHPUT ? "throughput" : m == MODE_LATENCY ? "latency" : "idle";
}

static void print_head(const bench *b, const char *status)
{
    printf("status=%s mode=%s label=%s codec=%s", status, mode_name(b->o.mode), b->o.label,
           b->o.msgpack ? "msgpack" : "json");
    if (b->o.mode != MODE_IDLE)
        printf(" readers=%d items=%" PRIu64, b->o.readers, b->o.items);
}

static void fail(bench *b, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    for (char *p = why; *p; p++)
        if (*p == ' ')
            *p = '_';
    print_head(b, "fail");
    printf(" reason=%s\n", why);
    fflush(stdout);
    note("failed: %s", why);
    exit(1);
}

/* ---- the flow of messages ---- */

static conn *writer_of(bench *b)
{
    return b->o.mode == MODE_IDLE ? NULL : &b->conns[b->nreaders];
}

static uint64_t due_by(const bench *b, int64_t now)
{
    if (now < b->t_load)
        return 0;
    return (uint64_t)((double)(now - b->t_load) * b->o.rate / 1e9) + 1;
}

static bool can_send(const bench *b, int64_t now)
{
    if (!b->sending)
        return false;
    if (b->o.mode == MODE_LATENCY)
        return b->sent - b->acked < RING - 1 && b->sent < due_by(b, now);
    return b->sent - b->acked < b->o.window;
}

/* Message m has reached one more reader. */
static void arrive(bench *b, uint64_t m)
{
    if (m < b->acked)
        return;
    uint32_t *slot = &b->arrivals[m & (RING - 1)];
    if (++*slot < (uint32_t)b->nreaders || m != b->acked)
        return;
    while (b->acked < b->sent && b->arrivals[b->acked & (RING - 1)] == (uint32_t)b->nreaders) {
        b->arrivals[b->acked & (RING - 1)] = 0;
        b->acked++;
    }
    conn *w = writer_of(b);
    if (b->writer_blocked && w && w->wsi && b->sending) {
        b->writer_blocked = false;
        lws_callback_on_writable(w->wsi);
    }
}

static void on_writeable(conn *c)
{
    bench *b = c->b;
    static uint8_t buf[LWS_PRE + 256];
    int64_t now = now_ns();
    for (int i = 0; i < BURST && can_send(b, now); i++) {
        if (i > 0 && lws_send_pipe_choked(c->wsi))
            break;
        uint64_t n = b->sent;
        int64_t value = b->o.mode == MODE_LATENCY ? (int64_t)n : -1;
        int64_t base = b->o.base ? (int64_t)b->base : -1;
        char *out = (char *)buf + LWS_PRE;
        size_t len = b->o.msgpack ? ws_msg_write_msgpack(out, 256, n % b->o.items, value, base)
                                  : ws_msg_write_json(out, 256, n % b->o.items, value, base);
        if (b->o.mode == MODE_LATENCY)
            b->sent_ns[n & (RING - 1)] = now_ns();
        if (lws_write(c->wsi, buf + LWS_PRE, len,
                      b->o.msgpack ? LWS_WRITE_BINARY : LWS_WRITE_TEXT) < 0)
            fail(b, "lws_write failed after %" PRIu64 " messages", n);
        b->sent++;
    }
    if (can_send(b, now))
        lws_callback_on_writable(c->wsi);
    else
        b->writer_blocked = true;
}

static void hist_add(bench *b, int64_t ns)
{
    if (ns < 0)
        ns = 0;
    uint64_t us = (uint64_t)ns / 1000, ms = us / 1000;
    if (us < HIST_US)
        b->hist[us]++;
    else
        b->hist[HIST_US + (ms < HIST_MS ? ms : HIST_MS - 1)]++;
    if ((uint64_t)ns > b->lat_max_ns)
        b->lat_max_ns = (uint64_t)ns;
    b->hist_n++;
}

static void on_patch(conn *c, const ws_patch *p)
{
    bench *b = c->b;
    uint64_t n;
    if (b->o.mode == MODE_LATENCY) {
        if (!p->value_is_num) {
            b->bad++;
            return;
        }
        n = p->value;
    } else {
        if (p->value_is_num || p->index >= b->o.items) {
            b->bad++;
            return;
        }
        /* the first number >= next whose item index is p->index */
        n = c->next + (p->index + b->o.items - c->next % b->o.items) % b->o.items;
    }
    if (n < c->next || n >= b->sent || n - c->next >= RING / 2) {
        b->bad++;
        return;
    }
    for (uint64_t m = c->next; m < n; m++) { /* lost on the way: counted, not delivered */
        b->missed++;
        arrive(b, m);
    }
    c->next = n + 1;
    b->delivered++;
    if (b->o.mode == MODE_LATENCY) {
        int64_t sent_at = b->sent_ns[n & (RING - 1)];
        if (b->t_measure && sent_at >= b->t_measure && (!b->t_end || sent_at < b->t_end))
            hist_add(b, now_ns() - sent_at);
    }
    arrive(b, n);
}

static void on_message(conn *c)
{
    bench *b = c->b;
    bool complete = c->msg_len == c->head_len;
    ws_patch p = {0};
    ws_kind kind;
    if (b->o.msgpack != c->binary)
        kind = WS_BAD; /* the codec asked for is not the one answered in */
    else if (b->o.msgpack)
        kind = ws_msg_read_msgpack(c->head, c->head_len, complete, &p);
    else
        kind = ws_msg_read_json(c->head, c->head_len, complete, &p);
    if (!c->synced && kind != WS_FULLSYNC) {
        char sample[64];
        size_t n = c->head_len < sizeof sample - 1 ? c->head_len : sizeof sample - 1;
        for (size_t i = 0; i < n; i++)
            sample[i] = c->head[i] > 32 && c->head[i] < 127 ? (char)c->head[i] : '.';
        sample[n] = 0;
        fail(b, "the first message was not a %s FullSync of appstate: %s",
             b->o.msgpack ? "MessagePack" : "JSON", sample);
    }
    if (c->writer && b->o.base && kind == WS_FULLSYNC && !c->synced) {
        if (!p.has_seq)
            fail(b, "--base 1: the FullSync has no seq");
        b->base = p.seq;
    }
    if (c->writer && kind == WS_ACK) {
        b->acks++; /* acks come in the order the messages were sent */
        if (p.seq > b->base)
            b->base = p.seq;
        return;
    }
    if (c->writer && !(kind == WS_FULLSYNC && !c->synced)) {
        b->writer_in++; /* a plain writer should hear nothing after its FullSync */
        if (kind == WS_ERROR)
            b->errors_in++;
        if (kind == WS_FULLSYNC) { /* a resync (proto/SPEC.md 1.2, plain peers) */
            b->writer_fullsyncs++;
            b->writer_fullsync_bytes += c->msg_len;
        }
        return;
    }
    switch (kind) {
    case WS_FULLSYNC:
        if (!c->synced) {
            c->synced = true;
            b->synced++;
        } else {
            b->extra_fullsyncs++;
        }
        break;
    case WS_PATCH:
        if (c->synced)
            on_patch(c, &p);
        else
            b->bad++;
        break;
    case WS_ERROR:
        b->errors_in++;
        break;
    case WS_ACK:
    case WS_OTHER:
        b->others++;
        break;
    case WS_BAD:
        if (!b->bad_sample[0]) {
            size_t n =
                c->head_len < sizeof b->bad_sample - 1 ? c->head_len : sizeof b->bad_sample - 1;
            for (size_t i = 0; i < n; i++)
                b->bad_sample[i] = c->head[i] > 32 && c->head[i] < 127 ? (char)c->head[i] : '.';
        }
        b->bad++;
        break;
    }
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    conn *c = user ? user : lws_get_opaque_user_data(wsi);
    if (!c)
        return 0;
    bench *b = c->b;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (!b->first_error[0])
            snprintf(b->first_error, sizeof b->first_error, "%s",
                     in ? (const char *)in : "connection error");
        if (c->started && !c->open && !c->failed) {
            c->failed = true;
            b->pending--;
            b->failed++;
        }
        c->wsi = NULL;
        break;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        c->open = true;
        b->pending--;
        b->opened++;
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE: {
        if (!c->in_msg) {
            c->in_msg = true;
            c->head_len = c->msg_len = 0;
            c->binary = lws_frame_is_binary(wsi) != 0;
        }
        size_t room = HEAD_MAX - c->head_len, k = len < room ? len : room;
        memcpy(c->head + c->head_len, in, k);
        c->head_len += k;
        c->msg_len += len;
        if (lws_is_final_fragment(wsi)) {
            c->in_msg = false;
            on_message(c);
        }
        break;
    }
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (c->writer)
            on_writeable(c);
        break;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (b->phase != PH_DONE)
            b->closed++;
        c->open = false;
        c->wsi = NULL;
        break;
    default:
        break;
    }
    return 0;
}

static const struct lws_protocols protocols[] = {
    {.name = "pw-bench", .callback = callback, .rx_buffer_size = 4096},
    {.name = NULL},
};

/* ---- the run ---- */

static void connect_one(bench *b, conn *c)
{
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof ci);
    ci.context = b->ctx;
    ci.address = b->o.host;
    ci.port = b->o.port;
    ci.path = "/";
    ci.host = b->o.host;
    ci.origin = b->o.host;
    ci.protocol = b->o.msgpack ? "patchwire.msgpack" : NULL;
    ci.local_protocol_name = "pw-bench";
    ci.ietf_version_or_minus_one = -1;
    ci.userdata = c;
    ci.opaque_user_data = c;
    ci.pwsi = &c->wsi;
    c->started = true;
    b->pending++;
    if (!lws_client_connect_via_info(&ci) && !c->failed) {
        c->failed = true;
        b->pending--;
        b->failed++;
        if (!b->first_error[0])
            snprintf(b->first_error, sizeof b->first_error, "lws_client_connect_via_info failed");
    }
}

/* Opens connections up to `upto` in all, at most max_pending handshaking. */
static void connect_more(bench *b, int upto)
{
    while (b->next_connect < upto && b->pending < b->o.max_pending)
        connect_one(b, &b->conns[b->next_connect++]);
}

static void tick_cb(lws_sorted_usec_list_t *sul)
{
    bench *b = lws_container_of(sul, bench, tick);
    lws_sul_schedule(b->ctx, 0, &b->tick, tick_cb, TICK_US);
}

static void pace_cb(lws_sorted_usec_list_t *sul)
{
    bench *b = lws_container_of(sul, bench, pace);
    if (!b->sending)
        return;
    conn *w = writer_of(b);
    if (w->wsi)
        lws_callback_on_writable(w->wsi);
    int64_t due = b->t_load + (int64_t)((double)b->sent * 1e9 / b->o.rate);
    int64_t wait_us = (due - now_ns()) / 1000;
    lws_sul_schedule(b->ctx, 0, &b->pace, pace_cb, wait_us > 50 ? wait_us : 50);
}

static void start_load(bench *b, int64_t now)
{
    b->phase = PH_WARMUP;
    b->t_phase = now;
    b->t_load = now;
    b->sending = true;
    note("%d connections open, load on", b->nconns);
    lws_callback_on_writable(writer_of(b)->wsi);
    if (b->o.mode == MODE_LATENCY)
        lws_sul_schedule(b->ctx, 0, &b->pace, pace_cb, 50);
}

static void step(bench *b)
{
    int64_t now = now_ns();
    if (now > b->t_deadline)
        fail(b,
             "timed out (phase %d, %d of %d connections synced, %" PRIu64 " sent, %" PRIu64
             " acked)",
             (int)b->phase, b->synced, b->nconns, b->sent, b->acked);
    if (b->failed)
        fail(b, "%d connections failed: %s", b->failed, b->first_error);
    if (b->closed)
        fail(b, "%d connections closed by the server", b->closed);
    switch (b->phase) {
    case PH_CONNECT:
        connect_more(b, b->nconns);
        if (b->synced == b->nconns)
            start_load(b, now);
        break;
    case PH_IDLE_ONE:
        connect_more(b, 1);
        if (b->synced < 1)
            break;
        if (!b->t_settled)
            b->t_settled = now;
        if (now - b->t_settled >= (int64_t)(b->o.settle_s * 1e9)) {
            b->rss1_kb = rss_kb(b->o.pid);
            note("1 idle connection: server VmRSS %ld kB", b->rss1_kb);
            b->phase = PH_IDLE_REST;
            b->t_settled = 0;
        }
        break;
    case PH_IDLE_REST:
        connect_more(b, b->nconns);
        if (b->synced < b->nconns)
            break;
        if (!b->t_settled) {
            b->t_settled = now;
            note("%d idle connections open", b->nconns);
        }
        if (now - b->t_settled >= (int64_t)(b->o.settle_s * 1e9)) {
            b->rssn_kb = rss_kb(b->o.pid);
            b->phase = PH_DONE;
        }
        break;
    case PH_WARMUP:
        if (now - b->t_phase >= (int64_t)(b->o.warmup_s * 1e9)) {
            b->phase = PH_MEASURE;
            b->t_phase = b->t_measure = now;
            b->m_delivered = b->delivered;
            b->m_sent = b->sent;
            b->m_server_cpu_s = server_cpu_s(b->o.pid);
            b->m_gen_cpu_s = own_cpu_s();
        }
        break;
    case PH_MEASURE:
        if (now - b->t_phase >= (int64_t)(b->o.duration_s * 1e9)) {
            b->t_end = now;
            b->m_delivered = b->delivered - b->m_delivered;
            b->m_sent = b->sent - b->m_sent;
            double s = server_cpu_s(b->o.pid);
            b->m_server_cpu_s = s >= 0 && b->m_server_cpu_s >= 0 ? s - b->m_server_cpu_s : -1;
            b->m_gen_cpu_s = own_cpu_s() - b->m_gen_cpu_s;
            b->sending = false;
            b->phase = PH_DRAIN;
            b->t_phase = now;
        }
        break;
    case PH_DRAIN:
        if (b->acked == b->sent || now - b->t_phase > 10000000000) {
            b->undrained = b->sent - b->acked;
            b->phase = PH_DONE;
        }
        break;
    case PH_DONE:
        break;
    }
}

static uint64_t percentile_us(const bench *b, double q)
{
    uint64_t want = (uint64_t)((double)b->hist_n * q + 0.999999), seen = 0;
    if (want == 0)
        want = 1;
    for (uint32_t i = 0; i < HIST_US + HIST_MS; i++) {
        seen += b->hist[i];
        if (seen >= want)
            return i < HIST_US ? i : (uint64_t)(i - HIST_US) * 1000;
    }
    return b->lat_max_ns / 1000;
}

static void report(const bench *b)
{
    print_head(b, "ok");
    if (b->o.mode == MODE_IDLE) {
        double per =
            b->nconns > 1 ? (double)(b->rssn_kb - b->rss1_kb) * 1024.0 / (b->nconns - 1) : 0;
        printf(" conns=%d rss1_kb=%ld rssn_kb=%ld bytes_per_conn=%.0f gen_rss_kb=%ld bad=%" PRIu64
               " extra_fullsyncs=%" PRIu64 "\n",
               b->nconns, b->rss1_kb, b->rssn_kb, per, rss_kb(0), b->bad, b->extra_fullsyncs);
        return;
    }
    double secs = (double)(b->t_end - b->t_measure) / 1e9;
    printf(" base=%d acks=%" PRIu64, b->o.base ? 1 : 0, b->acks);
    printf(" window=%" PRIu64 " duration_s=%.2f sent_per_s=%.1f delivered_per_s=%.1f", b->o.window,
           secs, (double)b->m_sent / secs, (double)b->m_delivered / secs);
    if (b->m_server_cpu_s >= 0)
        printf(" server_cpu_pct=%.1f", 100.0 * b->m_server_cpu_s / secs);
    else
        printf(" server_cpu_pct=na");
    printf(" gen_cpu_pct=%.1f", 100.0 * b->m_gen_cpu_s / secs);
    if (b->o.mode == MODE_LATENCY)
        printf(" rate=%.0f samples=%" PRIu64 " p50_us=%" PRIu64 " p99_us=%" PRIu64
               " max_us=%" PRIu64,
               b->o.rate, b->hist_n, percentile_us(b, 0.50), percentile_us(b, 0.99),
               b->lat_max_ns / 1000);
    printf(" missed=%" PRIu64 " bad=%" PRIu64 " extra_fullsyncs=%" PRIu64 " errors=%" PRIu64
           " writer_in=%" PRIu64 " writer_fullsyncs=%" PRIu64 " writer_fullsync_bytes=%" PRIu64
           " undrained=%" PRIu64 "\n",
           b->missed, b->bad, b->extra_fullsyncs, b->errors_in, b->writer_in, b->writer_fullsyncs,
           b->writer_fullsync_bytes, b->undrained);
}

static void raise_nofile(int want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= (rlim_t)want)
        return;
    rl.rlim_cur = (rlim_t)want;
    if (rl.rlim_max < (rlim_t)want)
        rl.rlim_max = (rlim_t)want; /* allowed as root */
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        note("could not raise RLIMIT_NOFILE to %d (run as root or raise ulimit -n)", want);
}

static void usage(FILE *f)
{
    fputs("usage: bench_ws --server 127.0.0.1:PORT [--pid SERVER_PID] [--mode "
          "throughput|latency|idle]\n"
          "  [--codec json|msgpack] [--readers N] [--items N] [--window N] [--rate MSGS_PER_S]\n"
          "  [--warmup S] [--duration S] [--conns N] [--settle S] [--max-pending N] [--timeout S]\n"
          "  [--base 0|1] [--label TEXT]\n"
          "Prints one line of key=value results on stdout. --items is the length of the\n"
          "server's appstate.items (the writer replaces items[n % items].done).\n"
          "--base 1: the writer adds \"base\" (the last version acked) to each message,\n"
          "as a patchwire replica does; the hub answers each with an ack.\n",
          f);
}

static double num_arg(const char *name, const char *v, double lo, double hi)
{
    char *end;
    double x = strtod(v, &end);
    if (*end || !(x >= lo && x <= hi)) {
        fprintf(stderr, "bench_ws: %s %s: want a number in [%g, %g]\n", name, v, lo, hi);
        exit(2);
    }
    return x;
}

static void parse_args(opts *o, int argc, char **argv)
{
    *o = (opts){.mode = MODE_THROUGHPUT,
                .readers = 10,
                .items = 100,
                .window = 256,
                .rate = 200,
                .warmup_s = 1,
                .duration_s = 5,
                .settle_s = 2,
                .timeout_s = 120,
                .conns = 5000,
                .max_pending = 64,
                .label = "server"};
    const char *server = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        }
        if (i + 1 >= argc) {
            usage(stderr);
            exit(2);
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--server"))
            server = v;
        else if (!strcmp(a, "--pid"))
            o->pid = (int)num_arg(a, v, 0, 1 << 30);
        else if (!strcmp(a, "--mode") && !strcmp(v, "throughput"))
            o->mode = MODE_THROUGHPUT;
        else if (!strcmp(a, "--mode") && !strcmp(v, "latency"))
            o->mode = MODE_LATENCY;
        else if (!strcmp(a, "--mode") && !strcmp(v, "idle"))
            o->mode = MODE_IDLE;
        else if (!strcmp(a, "--codec") && (!strcmp(v, "json") || !strcmp(v, "msgpack")))
            o->msgpack = !strcmp(v, "msgpack");
        else if (!strcmp(a, "--readers"))
            o->readers = (int)num_arg(a, v, 1, 100000);
        else if (!strcmp(a, "--items"))
            o->items = (uint64_t)num_arg(a, v, 1, 1e9);
        else if (!strcmp(a, "--window"))
            o->window = (uint64_t)num_arg(a, v, 1, RING / 2);
        else if (!strcmp(a, "--rate"))
            o->rate = num_arg(a, v, 1, 1e6);
        else if (!strcmp(a, "--warmup"))
            o->warmup_s = num_arg(a, v, 0, 3600);
        else if (!strcmp(a, "--duration"))
            o->duration_s = num_arg(a, v, 0.1, 3600);
        else if (!strcmp(a, "--settle"))
            o->settle_s = num_arg(a, v, 0, 3600);
        else if (!strcmp(a, "--timeout"))
            o->timeout_s = num_arg(a, v, 1, 86400);
        else if (!strcmp(a, "--conns"))
            o->conns = (int)num_arg(a, v, 1, 100000);
        else if (!strcmp(a, "--max-pending"))
            o->max_pending = (int)num_arg(a, v, 1, 10000);
        else if (!strcmp(a, "--base"))
            o->base = num_arg(a, v, 0, 1) != 0;
        else if (!strcmp(a, "--label"))
            o->label = v;
        else {
            fprintf(stderr, "bench_ws: unknown option or value: %s %s\n", a, v);
            usage(stderr);
            exit(2);
        }
    }
    const char *colon = server ? strrchr(server, ':') : NULL;
    if (!colon || (size_t)(colon - server) >= sizeof o->host) {
        usage(stderr);
        exit(2);
    }
    memcpy(o->host, server, (size_t)(colon - server));
    o->host[colon - server] = 0;
    o->port = (int)num_arg("port", colon + 1, 1, 65535);
    if (strcmp(o->host, "127.0.0.1") != 0) {
        fprintf(stderr, "bench_ws: only 127.0.0.1 is measured, not %s\n", o->host);
        exit(2);
    }
}

int main(int argc, char **argv)
{
    static bench b; /* large and zeroed; one per process */
    parse_args(&b.o, argc, argv);
    if (b.o.mode == MODE_IDLE) {
        b.nreaders = b.nconns = b.o.conns;
        b.phase = PH_IDLE_ONE;
    } else {
        b.nreaders = b.o.readers;
        b.nconns = b.nreaders + 1;
        b.phase = PH_CONNECT;
    }
    raise_nofile(b.nconns + 256);
    b.conns = calloc((size_t)b.nconns, sizeof *b.conns);
    b.arrivals = calloc(RING, sizeof *b.arrivals);
    b.sent_ns = calloc(RING, sizeof *b.sent_ns);
    b.hist = calloc(HIST_US + HIST_MS, sizeof *b.hist);
    if (!b.conns || !b.arrivals || !b.sent_ns || !b.hist)
        fail(&b, "out of memory");
    for (int i = 0; i < b.nconns; i++)
        b.conns[i].b = &b;
    if (b.o.mode != MODE_IDLE)
        b.conns[b.nreaders].writer = true;

    lws_set_log_level(LLL_ERR, NULL);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.gid = (gid_t)-1;
    info.uid = (uid_t)-1;
    /* no fd_limit_per_thread: with it lws looks connections up by a linear
     * search; without it, in a table sized by RLIMIT_NOFILE, raised above */
    info.pt_serv_buf_size = 16384;
    b.ctx = lws_create_context(&info);
    if (!b.ctx)
        fail(&b, "lws_create_context failed");
    b.t_deadline = now_ns() + (int64_t)(b.o.timeout_s * 1e9);
    note("%s %s %s:%d, %d connection(s)", mode_name(b.o.mode), b.o.msgpack ? "msgpack" : "json",
         b.o.host, b.o.port, b.nconns);
    lws_sul_schedule(b.ctx, 0, &b.tick, tick_cb, TICK_US);
    while (b.phase != PH_DONE) { /* step() ends the run by --timeout at the latest */
        lws_service(b.ctx, 0);
        step(&b);
    }
    report(&b);
    fflush(stdout);
    lws_sul_schedule(b.ctx, 0, &b.tick, tick_cb, LWS_SET_TIMER_USEC_CANCEL);
    lws_sul_schedule(b.ctx, 0, &b.pace, pace_cb, LWS_SET_TIMER_USEC_CANCEL);
    lws_context_destroy(b.ctx);
    ws_msg_reader_free();
    free(b.conns);
    free(b.arrivals);
    free(b.sent_ns);
    free(b.hist);
    return 0;
}
