/* test_durable.c - `patchwire serve --data`: state that survives restarts,
 * crashes and a full disk.
 *
 * The one idea: a real server process with a state file, raw WebSocket
 * writers that count what the hub acked or relayed, and the state a new
 * peer finds after the server was stopped, killed or starved of disk. */
#include <criterion/criterion.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jsonv.h"
#include "wsraw.h"

#define WAIT_MS 5000

static served srv;
static char dir[] = "/tmp/pw-durable-XXXXXX";
static char db[128];

static void setup(void)
{
    strcpy(dir, "/tmp/pw-durable-XXXXXX");
    cr_assert(mkdtemp(dir));
    snprintf(db, sizeof db, "%s/state.db", dir);
    memset(&srv, 0, sizeof srv);
}

static void teardown(void)
{
    if (srv.c.pid > 0)
        served_stop(&srv, 5000);
    unlink(srv.log_path);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
}

TestSuite(durable, .init = setup, .fini = teardown, .timeout = 60);

static void start(const char *sync)
{
    const char *extra[] = {"--data", db, "--sync", sync, NULL};
    cr_assert_eq(served_start(&srv, extra, WAIT_MS), 0, "serve --data did not start");
}

static void send_text(int fd, const char *s)
{
    cr_assert_eq(ws_send_frame(fd, true, WS_TEXT, s, strlen(s)), 0);
}

/* The next message holding want (malloc'd), or NULL on timeout or EOF. */
static char *recv_until(int fd, const char *want, int timeout_ms)
{
    for (;;) {
        uint8_t *p;
        size_t n;
        int op = ws_recv(fd, timeout_ms, &p, &n);
        if (op < 0)
            return NULL;
        if (op == WS_CLOSE) {
            free(p);
            return NULL;
        }
        if (strstr((char *)p, want))
            return (char *)p;
        free(p);
    }
}

static long long field_int(const char *msg, const char *name)
{
    char pat[32];
    snprintf(pat, sizeof pat, "\"%s\":", name);
    const char *at = strstr(msg, pat);
    return at ? atoll(at + strlen(pat)) : -1;
}

/* The FullSync of appstate a new peer gets: its document and seq. */
static pw_value fullsync(long long *seq)
{
    int fd = ws_open(srv.port, NULL, NULL, WAIT_MS);
    cr_assert_geq(fd, 0);
    char *m = recv_until(fd, "\"key\":\"appstate\"", WAIT_MS);
    cr_assert(m, "no FullSync of appstate");
    *seq = field_int(m, "seq");
    pw_value v = jsonv_parse(m);
    free(m);
    ws_close(fd);
    pw_value data = pw_value_retain(*pw_object_get(&v, "data", 4));
    pw_value_release(&v);
    return data;
}

/* Runs `patchwire serve --data path` expecting it to fail: its exit status,
 * its stderr in err. */
static int serve_fails(const char *path, char *err, size_t cap)
{
    char cmd[512], out[160];
    snprintf(out, sizeof out, "%s/err.txt", dir);
    snprintf(cmd, sizeof cmd,
             "timeout 10 '%s' serve --ws 127.0.0.1:0 --data '%s' 2>'%s' >/dev/null",
             getenv("PW_CLI"), path, out);
    int st = system(cmd);
    FILE *f = fopen(out, "r");
    size_t n = f ? fread(err, 1, cap - 1, f) : 0;
    err[n] = '\0';
    if (f)
        fclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(durable, state_and_versions_come_back_after_a_restart)
{
    start("always");
    int fd = ws_open(srv.port, NULL, NULL, WAIT_MS);
    cr_assert_geq(fd, 0);
    free(recv_until(fd, "fullsync", WAIT_MS));
    for (int i = 0; i < 20; i++) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "{\"type\":\"patches\",\"key\":\"appstate\",\"id\":%d,\"data\":[{\"op\":\"add\","
                 "\"path\":[\"items\",%d],\"value\":%d}]}",
                 i, i, i);
        send_text(fd, msg);
    }
    char *ack = NULL;
    for (int i = 0; i < 20; i++) {
        free(ack);
        cr_assert((ack = recv_until(fd, "\"ack\"", WAIT_MS)));
    }
    long long last = field_int(ack, "seq");
    free(ack);
    ws_close(fd);
    long long seq;
    pw_value before = fullsync(&seq);
    cr_assert_eq(seq, last);
    cr_assert_eq(served_stop(&srv, WAIT_MS), 0);

    start("always");
    long long seq2;
    pw_value after = fullsync(&seq2);
    cr_assert_eq(seq2, seq, "seq %lld after the restart, %lld before", seq2, seq);
    cr_assert(pw_value_equal(&before, &after));
    /* versions continue */
    fd = ws_open(srv.port, NULL, NULL, WAIT_MS);
    free(recv_until(fd, "fullsync", WAIT_MS));
    send_text(fd, "{\"type\":\"patches\",\"key\":\"appstate\",\"id\":\"x\",\"data\":[{\"op\":"
                  "\"add\",\"path\":[\"more\"],\"value\":1}]}");
    ack = recv_until(fd, "\"ack\"", WAIT_MS);
    cr_assert(ack);
    cr_assert_eq(field_int(ack, "seq"), seq + 1);
    free(ack);
    ws_close(fd);
    pw_value_release(&before);
    pw_value_release(&after);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The first cap FullSyncs a new peer gets, sorted. */
static size_t all_fullsyncs(char **out, size_t cap)
{
    int fd = ws_open(srv.port, NULL, NULL, WAIT_MS);
    cr_assert_geq(fd, 0);
    size_t n = 0;
    char *m;
    while (n < cap && (m = recv_until(fd, "fullsync", WAIT_MS)))
        out[n++] = m;
    ws_close(fd);
    qsort(out, n, sizeof *out, cmp_str);
    return n;
}

Test(durable, a_thousand_keys_and_a_large_state_come_back)
{
    start("batch");
    int fd = ws_open(srv.port, NULL, NULL, WAIT_MS);
    cr_assert_geq(fd, 0);
    free(recv_until(fd, "fullsync", WAIT_MS));
    for (int i = 0; i < 1000; i++) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "{\"type\":\"fullsync\",\"key\":\"k%d\",\"data\":{\"n\":%d,\"s\":\"v%d\"}}", i, i,
                 i);
        send_text(fd, msg);
        if (i % 10 == 0) {
            snprintf(msg, sizeof msg,
                     "{\"type\":\"patches\",\"key\":\"k%d\",\"data\":[{\"op\":\"replace\","
                     "\"path\":[\"n\"],\"value\":-1}]}",
                     i);
            send_text(fd, msg);
        }
    }
    /* about 12 MB of state in one key */
    size_t cap = 13u << 20, len = 0;
    char *big = malloc(cap);
    len += (size_t)snprintf(big, cap, "{\"type\":\"fullsync\",\"key\":\"big\",\"id\":1,\"data\":[");
    for (int i = 0; i < 120000; i++)
        len += (size_t)snprintf(big + len, cap - len,
                                "%s{\"i\":%d,\"name\":\"item number %d\",\"tags\":[\"a\",\"b\"]}",
                                i ? "," : "", i, i);
    len += (size_t)snprintf(big + len, cap - len, "]}");
    cr_assert_eq(ws_send_frame(fd, true, WS_TEXT, big, len), 0);
    free(big);
    char *ack = recv_until(fd, "\"ack\"", 20000);
    cr_assert(ack, "the large state was not acked");
    free(ack);
    ws_close(fd);

    static char *before[1100], *after[1100];
    size_t nb = all_fullsyncs(before, 1002);
    cr_assert_eq(nb, 1002, "%zu FullSyncs before the restart", nb);
    cr_assert_eq(served_stop(&srv, 10000), 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    start("batch");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    size_t na = all_fullsyncs(after, 1002);
    cr_assert_eq(na, nb);
    for (size_t i = 0; i < na; i++) {
        cr_assert_str_eq(after[i], before[i]);
        free(before[i]);
        free(after[i]);
    }
    cr_log_info("restart with 1,001 keys and ~12 MB: %.0f ms to listening",
                (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
}

/* Writer w's change i adds member "w<w>_<i>"; acked or relayed ones are
 * counted in seen[w] (the highest i, -1 for none). */
static void note(const char *m, long long *seen, long long *max_seq)
{
    if (!strstr(m, "\"type\":\"ack\"") && !strstr(m, "\"type\":\"patches\""))
        return; /* an error echoes the id of what it refused */
    for (int w = 0; w < 2; w++) {
        char pat[16];
        snprintf(pat, sizeof pat, "\"w%d_", w);
        for (const char *at = strstr(m, pat); at; at = strstr(at + 1, pat)) {
            long long i = atoll(at + strlen(pat));
            if (i > seen[w])
                seen[w] = i;
        }
    }
    long long seq = field_int(m, "seq");
    if (seq > *max_seq && (strstr(m, "\"ack\"") || strstr(m, "\"patches\"")))
        *max_seq = seq;
}

Test(durable, nothing_acked_or_relayed_is_lost_when_the_hub_is_killed)
{
    srand((unsigned)time(NULL));
    long long next[2] = {0, 0};
    for (int round = 0; round < 5; round++) {
        start("always");
        int fd[2];
        long long base = 0;
        for (int w = 0; w < 2; w++) {
            fd[w] = ws_open(srv.port, NULL, NULL, WAIT_MS);
            cr_assert_geq(fd[w], 0);
            char *m = recv_until(fd[w], "fullsync", WAIT_MS);
            cr_assert(m);
            base = field_int(m, "seq");
            free(m);
        }
        long long seen[2] = {-1, -1}, max_seq = 0;
        struct timespec t0, t;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int run_ms = 50 + rand() % 400;
        bool killed = false;
        for (int step = 0; step < 100000; step++) {
            clock_gettime(CLOCK_MONOTONIC, &t);
            if (!killed &&
                (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 >= run_ms) {
                kill(srv.c.pid, SIGKILL);
                killed = true;
            }
            bool open = false;
            for (int w = 0; w < 2; w++) {
                if (fd[w] < 0)
                    continue;
                if (!killed) {
                    char msg[200], with_base[40];
                    long long i = next[w]++;
                    snprintf(with_base, sizeof with_base, "\"base\":%lld,", base);
                    /* writer 1 is a replica: it says its base */
                    snprintf(msg, sizeof msg,
                             "{\"type\":\"patches\",\"key\":\"appstate\",\"id\":\"w%d_%lld\",%s"
                             "\"data\":[{\"op\":\"add\",\"path\":[\"w%d_%lld\"],\"value\":%lld}]}",
                             w, i, w ? with_base : "", w, i, i);
                    if (ws_send_frame(fd[w], true, WS_TEXT, msg, strlen(msg)) != 0)
                        next[w]--;
                }
                uint8_t *p;
                size_t n;
                int op;
                while ((op = ws_recv(fd[w], killed ? 2000 : 0, &p, &n)) >= 0) {
                    if (op != WS_CLOSE)
                        note((char *)p, seen, &max_seq);
                    free(p);
                    if (op == WS_CLOSE)
                        break;
                }
                if (op == WS_EOF || op == WS_CLOSE || (killed && op == WS_TIMEOUT)) {
                    ws_close(fd[w]);
                    fd[w] = -1;
                }
                open |= fd[w] >= 0;
            }
            if (killed && !open)
                break;
        }
        cr_assert(killed);
        served_stop(&srv, 1000);

        start("always");
        long long seq;
        pw_value doc = fullsync(&seq);
        cr_assert_geq(seq, max_seq, "round %d: seq %lld after the restart, %lld acked", round, seq,
                      max_seq);
        for (int w = 0; w < 2; w++) {
            /* a prefix of what writer w sent, holding all it was told of */
            long long have = 0;
            for (long long i = 0; i < next[w]; i++) {
                char name[32];
                int len = snprintf(name, sizeof name, "w%d_%lld", w, i);
                if (pw_object_get(&doc, name, (size_t)len))
                    have = i + 1;
                else
                    break;
            }
            for (long long i = have; i < next[w]; i++) {
                char name[32];
                int len = snprintf(name, sizeof name, "w%d_%lld", w, i);
                cr_assert(!pw_object_get(&doc, name, (size_t)len),
                          "round %d: writer %d: change %lld stored after a gap at %lld", round, w,
                          i, have);
            }
            cr_assert_gt(have, seen[w], "round %d: writer %d: %lld acked or relayed, %lld stored",
                         round, w, seen[w] + 1, have);
            next[w] = have; /* what was lost was never confirmed: send it again */
        }
        pw_value_release(&doc);
        cr_assert_eq(served_stop(&srv, WAIT_MS), 0);
    }
}

Test(durable, a_foreign_corrupt_newer_or_held_file_is_refused)
{
    char path[160], err[1024];
    snprintf(path, sizeof path, "%s/garbage.db", dir);
    FILE *f = fopen(path, "w");
    for (int i = 0; i < 500; i++)
        fputs("not a database ", f);
    fclose(f);
    cr_assert_eq(serve_fails(path, err, sizeof err), 1);
    cr_assert(strstr(err, "not a patchwire state file"), "%s", err);

    char cmd[400];
    snprintf(path, sizeof path, "%s/other.db", dir);
    snprintf(cmd, sizeof cmd, "sqlite3 '%s' 'CREATE TABLE t(x)'", path);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(serve_fails(path, err, sizeof err), 1);
    cr_assert(strstr(err, "not a patchwire state file"), "%s", err);

    start("always");
    cr_assert_eq(serve_fails(db, err, sizeof err), 1);
    cr_assert(strstr(err, "in use by another hub"), "%s", err);
    cr_assert_eq(served_stop(&srv, WAIT_MS), 0);

    snprintf(cmd, sizeof cmd, "sqlite3 '%s' 'PRAGMA user_version=2'", db);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(serve_fails(db, err, sizeof err), 1);
    cr_assert(strstr(err, "newer patchwire"), "%s", err);

    /* a page of the snapshots table overwritten */
    snprintf(cmd, sizeof cmd, "sqlite3 '%s' 'PRAGMA user_version=1'", db);
    cr_assert_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd,
             "dd if=/dev/urandom of='%s' bs=4096 seek=1 count=2 conv=notrunc status=none", db);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(serve_fails(db, err, sizeof err), 1);
    cr_assert(strstr(err, "--data"), "%s", err);
}

Test(durable, a_full_disk_refuses_changes_and_recovers)
{
    setenv("PW_SERVE_WRAP", "prlimit --fsize=300000:unlimited", 1);
    start("always");
    unsetenv("PW_SERVE_WRAP");
    int fd = ws_open(srv.port, NULL, NULL, WAIT_MS);
    cr_assert_geq(fd, 0);
    free(recv_until(fd, "fullsync", WAIT_MS));
    char *pad = malloc(20001);
    memset(pad, 'x', 20000);
    pad[20000] = '\0';
    char *msg = malloc(20200);
    int acked = 0, refused = -1;
    for (int i = 0; i < 60 && refused < 0; i++) {
        snprintf(msg, 20200,
                 "{\"type\":\"patches\",\"key\":\"appstate\",\"id\":%d,\"data\":[{\"op\":\"add\","
                 "\"path\":[\"p%d\"],\"value\":\"%s\"}]}",
                 i, i, pad);
        send_text(fd, msg);
        char *m = recv_until(fd, "\"id\"", WAIT_MS);
        cr_assert(m, "no answer to change %d", i);
        if (strstr(m, "\"ack\""))
            acked = i + 1;
        else if (strstr(m, "\"error\"") && strstr(m, "not stored"))
            refused = i;
        free(m);
    }
    cr_assert_geq(refused, 0, "nothing refused with a 300 kB file size limit");
    char *m = recv_until(fd, "fullsync", WAIT_MS);
    cr_assert(m, "no FullSync after the refusal");
    char refused_name[32];
    snprintf(refused_name, sizeof refused_name, "\"p%d\"", refused);
    cr_assert(!strstr(m, refused_name), "the refused change is in the FullSync");
    free(m);
    cr_assert(served_alive(&srv));

    char cmd[200];
    snprintf(cmd, sizeof cmd, "prlimit --pid %d --fsize=unlimited:unlimited", (int)srv.c.pid);
    cr_assert_eq(system(cmd), 0);
    snprintf(msg, 20200,
             "{\"type\":\"patches\",\"key\":\"appstate\",\"id\":\"again\",\"data\":[{\"op\":"
             "\"add\",\"path\":[\"again\"],\"value\":1}]}");
    send_text(fd, msg);
    m = recv_until(fd, "\"again\"", WAIT_MS);
    cr_assert(m && strstr(m, "\"ack\""), "no ack once the disk has room: %s", m ? m : "nothing");
    free(m);
    ws_close(fd);
    free(pad);
    free(msg);
    cr_assert_eq(served_stop(&srv, WAIT_MS), 0);

    start("always");
    long long seq;
    pw_value doc = fullsync(&seq);
    for (int i = 0; i < acked; i++) {
        char name[16];
        int len = snprintf(name, sizeof name, "p%d", i);
        cr_assert(pw_object_get(&doc, name, (size_t)len), "acked change %d lost", i);
    }
    char name[16];
    int len = snprintf(name, sizeof name, "p%d", refused);
    cr_assert(!pw_object_get(&doc, name, (size_t)len), "refused change %d stored", refused);
    cr_assert(pw_object_get(&doc, "again", 5));
    pw_value_release(&doc);
}
