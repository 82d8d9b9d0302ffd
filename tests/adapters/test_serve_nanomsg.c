/* test_serve_nanomsg.c - `patchwire serve --nanomsg` with `patchwire connect
 * nanomsg+...`, WebSocket peers of the same hub and nanocat, as processes.
 *
 * The one idea: one serve, both transports, and what each side prints: an
 * edit made over nanomsg reaches WebSocket peers and back, concurrent edits
 * from both sides all land, and nanocat does what the SPEC's recipe says. */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "wsraw.h"

static served srv;
static char dir[] = "/tmp/pw-snn-XXXXXX";
static char nn_url[200];   /* as serve takes it */
static char conn_url[300]; /* as connect takes it */

typedef struct result {
    int status;
    char out[16384];
    char err[4096];
} result;

static void setup(void)
{
    strcpy(dir, "/tmp/pw-snn-XXXXXX");
    cr_assert(mkdtemp(dir));
    memset(&srv, 0, sizeof srv);
}

static void teardown(void)
{
    if (srv.c.pid > 0)
        cr_expect_eq(served_stop(&srv, 20000), 0, "serve did not stop cleanly (log %s)",
                     srv.log_path);
    unlink(srv.log_path);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
}

TestSuite(serve_nanomsg, .init = setup, .fini = teardown, .timeout = 120);

static void slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
    buf[n] = '\0';
    if (f)
        fclose(f);
}

/* Starts argv (argv[0] the program: PW_CLI when NULL) with stdin from the
 * text given (NULL: /dev/null), stdout and stderr into files named by tag. */
static pid_t spawn(const char *tag, const char *stdin_text, const char *const *args)
{
    char in[300], out_path[300], err_path[300];
    snprintf(in, sizeof in, "%s/%s.in", dir, tag);
    snprintf(out_path, sizeof out_path, "%s/%s.out", dir, tag);
    snprintf(err_path, sizeof err_path, "%s/%s.err", dir, tag);
    FILE *f = fopen(in, "w");
    cr_assert(f);
    fputs(stdin_text ? stdin_text : "", f);
    fclose(f);
    const char *argv[32];
    int argc = 0;
    argv[argc++] = args[0] ? args[0] : getenv("PW_CLI");
    cr_assert(argv[0], "PW_CLI not set");
    for (int i = 1; args[i] && argc < 31; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int i = open(in, O_RDONLY), o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600),
            e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(i, 0);
        dup2(o, 1);
        dup2(e, 2);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* Waits up to timeout_s (then SIGKILL) and collects what it printed. */
static void reap(result *r, const char *tag, pid_t pid, int timeout_s)
{
    int status = 0;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            break;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec > timeout_s) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
    }
    r->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    char path[300];
    snprintf(path, sizeof path, "%s/%s.out", dir, tag);
    slurp(path, r->out, sizeof r->out);
    snprintf(path, sizeof path, "%s/%s.err", dir, tag);
    slurp(path, r->err, sizeof r->err);
}

static void run(result *r, const char *stdin_text, const char *const *args)
{
    reap(r, "run", spawn("run", stdin_text, args), 30);
}

static const char *ws_url(void)
{
    static char u[64];
    snprintf(u, sizeof u, "ws://127.0.0.1:%d/", srv.port);
    return u;
}

static void start_ipc(const char *codec)
{
    snprintf(nn_url, sizeof nn_url, "ipc://%s/hub", dir);
    snprintf(conn_url, sizeof conn_url, "nanomsg+%s", nn_url);
    cr_assert_eq(served_start(&srv,
                              (const char *const[]){"--quiet", "--nanomsg", nn_url,
                                                    "--nanomsg-codec", codec, NULL},
                              20000),
                 0, "patchwire serve did not start");
}

static void start_tcp(void)
{
    srand((unsigned)getpid());
    for (int i = 0; i < 20; i++) {
        snprintf(nn_url, sizeof nn_url, "tcp://127.0.0.1:%d", 20000 + rand() % 40000);
        snprintf(conn_url, sizeof conn_url, "nanomsg+%s", nn_url);
        if (served_start(&srv, (const char *const[]){"--quiet", "--nanomsg", nn_url, NULL},
                         20000) == 0)
            return;
    }
    cr_assert_fail("no free tcp ports");
}

/* The state of appstate as `patchwire connect URL` prints it. */
static void state_of(const char *url, char *out, size_t cap)
{
    result r;
    run(&r, NULL, (const char *const[]){NULL, "connect", "--timeout", "10", url, NULL});
    cr_assert_eq(r.status, 0, "connect %s failed: %s", url, r.err);
    cr_assert_lt(strlen(r.out), cap);
    strcpy(out, r.out);
}

static void edits_cross_both_ways(void)
{
    char s[4096];
    state_of(conn_url, s, sizeof s);
    cr_assert_str_eq(s, "{\"type\":\"fullsync\",\"key\":\"appstate\",\"seq\":1,"
                        "\"data\":{\"items\":[]}}\n");
    result r;
    run(&r, "[{\"op\":\"add\",\"path\":[\"items\",0],\"value\":\"milk\"}]\n",
        (const char *const[]){NULL, "connect", "--timeout", "10", conn_url, NULL});
    cr_assert_eq(r.status, 0, "%s", r.err);
    state_of(ws_url(), s, sizeof s);
    cr_assert(strstr(s, "\"seq\":2,\"data\":{\"items\":[\"milk\"]}"), "%s", s);
    run(&r, "[{\"op\":\"add\",\"path\":\"/items/-\",\"value\":\"bread\"}]\n",
        (const char *const[]){NULL, "connect", "--timeout", "10", ws_url(), NULL});
    cr_assert_eq(r.status, 0, "%s", r.err);
    state_of(conn_url, s, sizeof s);
    cr_assert(strstr(s, "\"seq\":3,\"data\":{\"items\":[\"milk\",\"bread\"]}"), "%s", s);
}

Test(serve_nanomsg, edits_cross_from_nanomsg_to_websocket_and_back_over_ipc)
{
    start_ipc("json");
    edits_cross_both_ways();
}

Test(serve_nanomsg, edits_cross_from_nanomsg_to_websocket_and_back_over_tcp)
{
    start_tcp();
    edits_cross_both_ways();
}

Test(serve_nanomsg, concurrent_edits_from_both_transports_all_land)
{
    start_ipc("msgpack");
    char nn_in[4096] = "", ws_in[4096] = "";
    for (int i = 0; i < 30; i++) {
        char line[128];
        snprintf(line, sizeof line, "[{\"op\":\"add\",\"path\":[\"nn%d\"],\"value\":%d}]\n", i, i);
        strcat(nn_in, line);
        snprintf(line, sizeof line, "[{\"op\":\"add\",\"path\":[\"ws%d\"],\"value\":%d}]\n", i, i);
        strcat(ws_in, line);
    }
    pid_t a = spawn(
        "nn", nn_in,
        (const char *const[]){NULL, "connect", "--timeout", "20", "--msgpack", conn_url, NULL});
    pid_t b = spawn("ws", ws_in,
                    (const char *const[]){NULL, "connect", "--timeout", "20", ws_url(), NULL});
    result ra, rb;
    reap(&ra, "nn", a, 40);
    reap(&rb, "ws", b, 40);
    cr_assert_eq(ra.status, 0, "nanomsg connect: %s", ra.err);
    cr_assert_eq(rb.status, 0, "ws connect: %s", rb.err);
    char s[8192], t[8192];
    state_of(ws_url(), s, sizeof s);
    state_of(conn_url, t, sizeof t);
    cr_assert_str_eq(s, t, "both transports see one state");
    cr_assert(strstr(s, "\"nn29\":29") && strstr(s, "\"ws29\":29"), "%s", s);
}

Test(serve_nanomsg, nanocat_follows_a_key_and_pushes_an_edit)
{
    start_ipc("json");
    char pub[320], pull[320], rep[320];
    snprintf(pub, sizeof pub, "%s.pub", nn_url);
    snprintf(pull, sizeof pull, "%s.pull", nn_url);
    snprintf(rep, sizeof rep, "%s.rep", nn_url);
    /* follow: the state from REP, then the stream */
    result r;
    run(&r, NULL,
        (const char *const[]){"nanocat", "--req", "--connect", rep, "--recv-timeout", "5", "-D",
                              "{\"type\":\"resync\",\"key\":\"appstate\"}", "--ascii", NULL});
    cr_assert_str_eq(r.out,
                     "{\"type\":\"fullsync\",\"key\":\"appstate\",\"seq\":1,"
                     "\"data\":{\"items\":[]}}\n",
                     "%s", r.err);
    pid_t sub = spawn("sub", NULL,
                      (const char *const[]){"nanocat", "--sub", "--connect", pub, "--subscribe",
                                            "appstate", "--ascii", "--recv-timeout", "3", NULL});
    nanosleep(&(struct timespec){.tv_nsec = 300000000}, NULL);
    /* push: sent every second until stopped (nanomsg drops what a closing
     * PUSH socket has not handed over), so the edit is idempotent */
    pid_t push =
        spawn("push", NULL,
              (const char *const[]){"nanocat", "--push", "--connect", pull, "--interval", "1", "-D",
                                    "{\"type\":\"patches\",\"key\":\"appstate\",\"data\":"
                                    "[{\"op\":\"replace\",\"path\":[\"items\"],"
                                    "\"value\":[\"tea\"]}]}",
                                    NULL});
    nanosleep(&(struct timespec){.tv_nsec = 500000000}, NULL);
    kill(push, SIGTERM);
    result rp, rs;
    reap(&rp, "push", push, 5);
    reap(&rs, "sub", sub, 10);
    cr_assert(strstr(rs.out, "appstate.{\"type\":\"patches\",\"key\":\"appstate\",\"seq\":2,"
                             "\"data\":[{\"op\":\"replace\",\"path\":[\"items\"],\"value\":"
                             "[\"tea\"]}]}"),
              "%s", rs.out);
    cr_assert(strstr(rs.out, "appstate.{\"type\":\"ack\",\"key\":\"appstate\",\"seq\":2}"),
              "the heartbeat: %s", rs.out);
    char s[4096];
    state_of(ws_url(), s, sizeof s);
    cr_assert(strstr(s, "\"data\":{\"items\":[\"tea\"]}"), "%s", s);
}

Test(serve_nanomsg, bad_nanomsg_options_are_usage_errors)
{
    result r;
    run(&r, NULL,
        (const char *const[]){NULL, "serve", "--ws", "127.0.0.1:0", "--nanomsg", "udp://x:1",
                              NULL});
    cr_assert_eq(r.status, 2, "%s", r.err);
    cr_assert(strstr(r.err, "tcp://HOST:PORT, ipc://PATH"), "%s", r.err);
    run(&r, NULL,
        (const char *const[]){NULL, "serve", "--ws", "127.0.0.1:0", "--nanomsg", "ipc:///tmp/x",
                              "--nanomsg-codec", "xml", NULL});
    cr_assert_eq(r.status, 2, "%s", r.err);
    run(&r, NULL, (const char *const[]){NULL, "connect", "nanomsg+tcp://127.0.0.1", NULL});
    cr_assert_eq(r.status, 2, "%s", r.err);
    cr_assert_eq(r.out[0], '\0');
}
