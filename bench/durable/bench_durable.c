/* bench_durable.c - the hub with a store (issue 13, "Benchmark"): incoming
 * patches per second applied and relayed to 10 readers with no store, and
 * with the SQLite store under each sync mode, beside a plain log file
 * appended and fsync'ed once per turn (what an append-only file does); then
 * the time to load a store back.
 *
 * The one idea: one process, one hub, a transport that drops what it is
 * sent (so the figure is the hub and the disk, not a socket); a turn is
 * TURN messages from the writer then pw_hub_flush, as serve's loop does.
 * Prints a Markdown table on stdout (bench/durable/RESULTS.md). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "patchwire.h"

#define READERS 10
#define TURN 16

static pw_err drop_send(void *t, void *c, pw_frame *f)
{
    (void)t, (void)c;
    pw_frame_release(f);
    return PW_OK;
}

static void no_close(void *t, void *c, const char *r)
{
    (void)t, (void)c, (void)r;
}

static const pw_transport_ops drop_ops = {.name = "drop", .send = drop_send, .close = no_close};

static void log_line(bool error, const char *line, void *userdata)
{
    (void)error, (void)userdata;
    fprintf(stderr, "bench_durable: %s\n", line);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

typedef enum { NONE, SQLITE, PLAIN } store_kind;

/* Patches per second over `seconds`, the store of kind (sync for SQLite). */
static double run(store_kind kind, pw_sync sync, const char *path, double seconds)
{
    unlink(path);
    char wal[300];
    snprintf(wal, sizeof wal, "%s-wal", path);
    unlink(wal);
    pw_hub *hub = pw_hub_new(NULL);
    pw_persist *store = NULL;
    int fd = -1;
    pw_error err;
    if (kind == SQLITE) {
        store = pw_persist_sqlite_open(path, 0, &err);
        pw_persist_options po;
        pw_persist_options_init(&po);
        po.sync = sync;
        if (!store || pw_hub_persist(hub, store, &po, &err)) {
            fprintf(stderr, "bench_durable: %s\n", err.msg);
            exit(1);
        }
    } else if (kind == PLAIN) {
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    }
    pw_value doc;
    pw_object_new(&doc, 0);
    pw_hub_set_state(hub, "appstate", 8, doc);
    pw_hub_flush(hub);
    for (int i = 0; i < READERS; i++)
        pw_hub_peer_join(hub, &drop_ops, NULL, NULL, "", NULL);
    pw_peer *w = pw_hub_peer_join(hub, &drop_ops, NULL, NULL, "", NULL);
    char msg[256], turn[TURN * 256];
    uint64_t n = 0;
    double t0 = now_s(), t;
    do {
        size_t len = 0;
        for (int i = 0; i < TURN; i++, n++) {
            int m = snprintf(
                msg, sizeof msg,
                "{\"type\":\"patches\",\"key\":\"appstate\",\"data\":[{\"op\":\"add\","
                "\"path\":[\"k%llu\"],\"value\":{\"title\":\"buy oat milk\",\"n\":%llu}}]}",
                (unsigned long long)(n % 1000), (unsigned long long)n);
            pw_hub_peer_receive(hub, w, (const uint8_t *)msg, (size_t)m, NULL);
            memcpy(turn + len, msg, (size_t)m);
            len += (size_t)m;
            turn[len++] = '\n';
        }
        if (fd >= 0 && (write(fd, turn, len) != (ssize_t)len || fdatasync(fd) != 0)) {
            perror("bench_durable: plain log");
            exit(1);
        }
        pw_hub_flush(hub);
        t = now_s();
    } while (t - t0 < seconds);
    pw_hub_free(hub);
    pw_persist_close(store);
    if (fd >= 0)
        close(fd);
    return (double)n / (t - t0);
}

/* Load time of a store holding `keys` keys of about `bytes` each, plus
 * `changes` logged changes. */
static void restart(const char *path, int keys, size_t bytes, int changes)
{
    unlink(path);
    pw_error err;
    pw_persist *store = pw_persist_sqlite_open(path, 0, &err);
    pw_hub *hub = pw_hub_new(NULL);
    pw_persist_options po;
    pw_persist_options_init(&po);
    po.sync = PW_SYNC_OFF;
    po.log = log_line; /* says how long a large snapshot took */
    pw_hub_persist(hub, store, &po, &err);
    size_t total = 0;
    for (int k = 0; k < keys; k++) {
        pw_value arr;
        pw_array_new(&arr, 0);
        for (size_t b = 0; b < bytes; b += 40) {
            pw_value s;
            pw_string_cstr(&s, "an item of about forty bytes, no more");
            pw_array_push(&arr, s);
        }
        char key[32];
        snprintf(key, sizeof key, "key%d", k);
        pw_hub_set_state(hub, key, strlen(key), arr);
        pw_hub_flush(hub);
        total += bytes;
    }
    pw_peer *w = pw_hub_peer_join(hub, &drop_ops, NULL, NULL, "", NULL);
    for (int i = 0; i < changes; i++) {
        char msg[200];
        int m = snprintf(msg, sizeof msg,
                         "{\"type\":\"patches\",\"key\":\"key0\",\"data\":[{\"op\":\"replace\","
                         "\"path\":[%d],\"value\":\"changed %d\"}]}",
                         i % 100, i);
        pw_hub_peer_receive(hub, w, (const uint8_t *)msg, (size_t)m, NULL);
        if (i % 64 == 63)
            pw_hub_flush(hub);
    }
    pw_hub_free(hub);
    pw_persist_close(store);
    double t0 = now_s();
    store = pw_persist_sqlite_open(path, 0, &err);
    hub = pw_hub_new(NULL);
    pw_persist_options_init(&po);
    if (pw_hub_persist(hub, store, &po, &err)) {
        fprintf(stderr, "bench_durable: %s\n", err.msg);
        exit(1);
    }
    double s = now_s() - t0;
    printf("| %d key%s, %.0f MB of state, %d changes logged | %.0f ms | %.0f MB/s |\n", keys,
           keys == 1 ? "" : "s", total / 1e6, changes, s * 1e3, total / 1e6 / s);
    pw_hub_free(hub);
    pw_persist_close(store);
    unlink(path);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    double seconds = argc > 2 ? atof(argv[2]) : 2.0;
    char path[256];
    snprintf(path, sizeof path, "%s/bench_durable.db", dir);
    double mem = run(NONE, PW_SYNC_OFF, path, seconds);
    printf("| store | patches/s to %d readers | vs in memory |\n|---|---|---|\n", READERS);
    printf("| none (in memory) | %.0f | 1.00x |\n", mem);
    static const struct {
        const char *name;
        store_kind kind;
        pw_sync sync;
    } rows[] = {
        {"SQLite, --sync off", SQLITE, PW_SYNC_OFF},
        {"SQLite, --sync batch (50 ms)", SQLITE, PW_SYNC_BATCH},
        {"SQLite, --sync always (group commit)", SQLITE, PW_SYNC_ALWAYS},
        {"plain log, append + fdatasync per turn", PLAIN, PW_SYNC_ALWAYS},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        double r = run(rows[i].kind, rows[i].sync, path, seconds);
        printf("| %s | %.0f | %.2fx |\n", rows[i].name, r, r / mem);
        fflush(stdout);
    }
    unlink(path);
    printf("\n| restart (load) | time | rate |\n|---|---|---|\n");
    restart(path, 1, (size_t)1 << 20, 0);
    restart(path, 1, (size_t)50 << 20, 0);
    restart(path, 1000, (size_t)10 << 10, 0);
    restart(path, 1, (size_t)1 << 20, 100000);
    return 0;
}
