/* test_serve.c - `patchwire serve` and `patchwire connect`, run as a user runs them.
 *
 * The one idea: a real server process and real connect processes, with
 * files for stdin, stdout and stderr; each test checks what they print and
 * their exit status, and what a later peer finds in the state. */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "child.h"
#include "wsraw.h"

static served srv;
static char dir[] = "/tmp/pw-serve-XXXXXX";

typedef struct result {
    int status;
    char out[8192];
    char err[4096];
} result;

static void setup(void)
{
    strcpy(dir, "/tmp/pw-serve-XXXXXX");
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

TestSuite(serve, .init = setup, .fini = teardown, .timeout = 120);

static const char *path_in_dir(const char *name)
{
    static char paths[8][256];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 256, "%s/%s", dir, name);
    return p;
}

static const char *write_file(const char *name, const char *text)
{
    const char *p = path_in_dir(name);
    FILE *f = fopen(p, "w");
    cr_assert(f);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
    return p;
}

static void slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
    buf[n] = '\0';
    if (f)
        fclose(f);
}

/* Runs `PW_CLI args...` with stdin from the text given (NULL: /dev/null),
 * killing it after timeout_s. */
static void run(result *r, const char *stdin_text, int timeout_s, const char *const *args)
{
    const char *in = stdin_text ? write_file("stdin", stdin_text) : "/dev/null";
    char out_path[300], err_path[300];
    snprintf(out_path, sizeof out_path, "%s/stdout", dir);
    snprintf(err_path, sizeof err_path, "%s/stderr", dir);
    const char *argv[32];
    int argc = 0;
    argv[argc++] = getenv("PW_CLI");
    cr_assert(argv[0], "PW_CLI not set");
    for (int i = 0; args[i] && argc < 31; i++)
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
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
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
    slurp(out_path, r->out, sizeof r->out);
    slurp(err_path, r->err, sizeof r->err);
}

static const char *url(void)
{
    static char u[64];
    snprintf(u, sizeof u, "ws://127.0.0.1:%d/", srv.port);
    return u;
}

static void start(const char *const *extra)
{
    cr_assert_eq(served_start(&srv, extra, 20000), 0, "patchwire serve did not start");
}

/* The state of key as `patchwire connect` prints it with no input. */
static void state_of(const char *key, const char *token, char *out, size_t cap)
{
    result r;
    const char *args[] = {
        "connect", "--timeout", "10", "--key", key, url(), token ? "--token" : NULL, token, NULL};
    run(&r, NULL, 30, args);
    cr_assert_eq(r.status, 0, "connect failed: %s", r.err);
    size_t n = strlen(r.out);
    cr_assert_lt(n, cap);
    memcpy(out, r.out, n + 1);
}

Test(serve, connect_prints_the_state_then_sends_its_input)
{
    start((const char *const[]){"--quiet", NULL});
    char before[512];
    state_of("appstate", NULL, before, sizeof before);
    cr_assert_str_eq(before, "{\"type\":\"fullsync\",\"key\":\"appstate\",\"seq\":1,"
                             "\"data\":{\"items\":[]}}\n");

    result r;
    const char *args[] = {"connect", "--timeout", "10", url(), NULL};
    run(&r,
        "[{\"op\":\"add\",\"path\":[\"items\",0],\"value\":\"milk\"}]\n"
        "[{\"op\":\"add\",\"path\":\"/items/-\",\"value\":\"bread\"}]\n",
        30, args);
    cr_assert_eq(r.status, 0, "connect: %s", r.err);
    cr_assert(strstr(r.out, "\"origin\":\"local\",\"data\":[{\"op\":\"add\",\"path\":[\"items\",0],"
                            "\"value\":\"milk\"}]"),
              "%s", r.out);

    char after[512];
    state_of("appstate", NULL, after, sizeof after);
    cr_assert(strstr(after, "\"data\":{\"items\":[\"milk\",\"bread\"]}"), "%s", after);
}

Test(serve, connect_speaks_msgpack_too)
{
    start((const char *const[]){"--quiet", NULL});
    result r;
    const char *args[] = {"connect", "--msgpack", "--timeout", "10", url(), NULL};
    run(&r, "[{\"op\":\"replace\",\"path\":[\"title\"],\"value\":\"from msgpack\"}]\n", 30, args);
    cr_assert_eq(r.status, 0, "connect: %s", r.err);
    char after[512];
    state_of("appstate", NULL, after, sizeof after);
    cr_assert(strstr(after, "\"data\":{\"items\":[],\"title\":\"from msgpack\"}"), "%s", after);
}

Test(serve, a_bad_input_line_fails_the_edit_and_changes_nothing)
{
    start((const char *const[]){"--quiet", NULL});
    result r;
    const char *args[] = {"connect", "--timeout", "10", url(), NULL};
    run(&r, "[{\"op\":\"replace\",\"path\":[\"nope\",\"deeper\"],\"value\":1}]\n", 30, args);
    cr_assert_eq(r.status, 1);
    cr_assert(
        strstr(r.err, "patchwire connect: input: key \"appstate\": patch 0 (replace /nope/deeper)"),
        "%s", r.err);
    char after[512];
    state_of("appstate", NULL, after, sizeof after);
    cr_assert(strstr(after, "\"seq\":1,\"data\":{\"items\":[]}"), "%s", after);
}

Test(serve, states_from_files)
{
    const char *todo = write_file("todo.json", "{\"items\":[{\"title\":\"a\",\"done\":true}]}");
    char spec[400];
    snprintf(spec, sizeof spec, "todo=%s", todo);
    start((const char *const[]){"--quiet", "--state", spec, NULL});
    char s[512];
    state_of("todo", NULL, s, sizeof s);
    cr_assert(
        strstr(s,
               "\"key\":\"todo\",\"seq\":1,\"data\":{\"items\":[{\"title\":\"a\",\"done\":true}]}"),
        "%s", s);
}

Test(serve, the_token_file_decides_who_reads_and_writes)
{
    const char *tokens = write_file("tokens", "# who may do what\n"
                                              "editor rw\n"
                                              "viewer r appstate\n");
    start((const char *const[]){"--quiet", "--token-file", tokens, NULL});

    result r;
    const char *viewer[] = {"connect", "--token", "viewer", "--timeout", "10", url(), NULL};
    run(&r, "[{\"op\":\"replace\",\"path\":[\"x\"],\"value\":1}]\n", 30, viewer);
    cr_assert_eq(r.status, 1, "a read-only token could write: %s", r.err);
    cr_assert(strstr(r.err, "refused"), "%s", r.err);

    const char *editor[] = {"connect", "--token", "editor", "--timeout", "10", url(), NULL};
    run(&r, "[{\"op\":\"replace\",\"path\":[\"x\"],\"value\":2}]\n", 30, editor);
    cr_assert_eq(r.status, 0, "%s", r.err);

    char s[512];
    state_of("appstate", "viewer", s, sizeof s);
    cr_assert(strstr(s, "\"data\":{\"items\":[],\"x\":2}"), "%s", s);

    /* no token, or one that grants nothing: refused at the upgrade, and told so
     * without a --timeout */
    const char *anonymous[] = {"connect", url(), NULL};
    run(&r, NULL, 30, anonymous);
    cr_assert_eq(r.status, 1);
    cr_assert_str_eq(r.out, "");
    char want[256];
    snprintf(want, sizeof want,
             "patchwire connect: cannot connect to %s: the hub refused the WebSocket upgrade "
             "(HTTP 401): a missing or wrong token?\n",
             url());
    cr_assert_str_eq(r.err, want);
    const char *stranger[] = {"connect", "--token", "nobody", url(), NULL};
    run(&r, NULL, 30, stranger);
    cr_assert_eq(r.status, 1);
    snprintf(want, sizeof want,
             "patchwire connect: cannot connect to %s: the hub refused the WebSocket upgrade "
             "(HTTP 403): a missing or wrong token?\n",
             url());
    cr_assert_str_eq(r.err, want);
}

Test(serve, connect_prints_a_refused_edit_and_why)
{
    const char *tokens = write_file("tokens", "viewer r appstate\n");
    start((const char *const[]){"--quiet", "--token-file", tokens, NULL});
    result r;
    const char *viewer[] = {"connect", "--token", "viewer", "--timeout", "10", url(), NULL};
    run(&r, "[{\"op\":\"replace\",\"path\":[\"x\"],\"value\":1}]\n", 30, viewer);
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert(strstr(r.out, "{\"type\":\"patches\",\"key\":\"appstate\",\"base\":1,\"origin\":\"local\","
                            "\"data\":[{\"op\":\"replace\",\"path\":[\"x\"],\"value\":1}]}\n"
                            "{\"type\":\"refused\",\"key\":\"appstate\",\"base\":1,\"reason\":"
                            "\"patches for \\\"appstate\\\": write denied\"}\n"),
              "%s", r.out);
    cr_assert_str_eq(r.err, "patchwire connect: the hub refused: patches for \"appstate\": write "
                            "denied\n");
}

Test(serve, connect_names_a_key_the_hub_does_not_have)
{
    start((const char *const[]){"--quiet", NULL});
    result r;
    run(&r, NULL, 30, (const char *const[]){"connect", "--key", "nosuch", url(), NULL});
    cr_assert_eq(r.status, 1);
    cr_assert_str_eq(r.out, "");
    cr_assert_str_eq(r.err, "patchwire connect: the hub has no state \"nosuch\" this peer may read "
                            "(it sent: appstate); check --key and --token\n");
}

Test(serve, connect_takes_the_url_serve_prints)
{
    start((const char *const[]){"--quiet", NULL});
    char http[64];
    snprintf(http, sizeof http, "http://127.0.0.1:%d/", srv.port);
    result r;
    run(&r, NULL, 30, (const char *const[]){"connect", "--timeout", "10", http, NULL});
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "{\"type\":\"fullsync\",\"key\":\"appstate\",\"seq\":1,"
                            "\"data\":{\"items\":[]}}\n");
    run(&r, NULL, 30, (const char *const[]){"connect", "ftp://127.0.0.1/", NULL});
    cr_assert_eq(r.status, 2);
    cr_assert_str_eq(r.err, "patchwire connect: the URL must start with ws://, wss://, http://, "
                            "https://, mqtt://, mqtts://, nanomsg+tcp:// or nanomsg+ipc://, not "
                            "'ftp://127.0.0.1/'\n"
                            "Try 'patchwire connect --help'.\n");
}

/* Waits up to 10 s for stdout (a file) to hold n lines; returns its text. */
static const char *wait_lines(const char *path, int n)
{
    static char out[8192];
    for (int i = 0; i < 1000; i++) {
        slurp(path, out, sizeof out);
        int k = 0;
        for (const char *p = out; (p = strchr(p, '\n')); p++)
            k++;
        if (k >= n)
            break;
        nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
    }
    return out;
}

Test(serve, connect_prints_the_base_it_sent_and_each_answer)
{
    start((const char *const[]){"--quiet", NULL});
    char out_path[300];
    snprintf(out_path, sizeof out_path, "%s/stdout", dir);
    int in[2];
    cr_assert_eq(pipe(in), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(in[0], 0);
        dup2(o, 1);
        close(in[1]);
        execl(getenv("PW_CLI"), getenv("PW_CLI"), "connect", "--timeout", "20", url(),
              (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    wait_lines(out_path, 1);
    /* each edit once the one before is accepted: the second is sent on version 2 */
    static const char edit[] = "[{\"op\":\"replace\",\"path\":[\"n\"],\"value\":1}]\n";
    cr_assert_eq(write(in[1], edit, sizeof edit - 1), (ssize_t)(sizeof edit - 1));
    wait_lines(out_path, 3);
    cr_assert_eq(write(in[1], edit, sizeof edit - 1), (ssize_t)(sizeof edit - 1));
    close(in[1]);
    int status = 0;
    for (int i = 0; i < 2000 && waitpid(pid, &status, WNOHANG) != pid; i++)
        nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
    if (kill(pid, 0) == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        cr_assert_fail("connect did not end with its input");
    }
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "connect ended with %d", status);
    const char *out = wait_lines(out_path, 5);
    cr_assert_str_eq(out,
                     "{\"type\":\"fullsync\",\"key\":\"appstate\",\"seq\":1,\"data\":{\"items\":[]}}\n"
                     "{\"type\":\"patches\",\"key\":\"appstate\",\"base\":1,\"origin\":\"local\","
                     "\"data\":[{\"op\":\"replace\",\"path\":[\"n\"],\"value\":1}]}\n"
                     "{\"type\":\"accepted\",\"key\":\"appstate\",\"base\":1,\"seq\":2}\n"
                     "{\"type\":\"patches\",\"key\":\"appstate\",\"base\":2,\"origin\":\"local\","
                     "\"data\":[{\"op\":\"replace\",\"path\":[\"n\"],\"value\":1}]}\n"
                     "{\"type\":\"accepted\",\"key\":\"appstate\",\"base\":2,\"seq\":3}\n");
}

Test(serve, an_upgrade_whose_token_grants_nothing_is_refused_at_the_handshake)
{
    const char *tokens = write_file("tokens", "editor rw\nviewer r appstate\n");
    start((const char *const[]){"--quiet", "--token-file", tokens, NULL});
    cr_expect_eq(ws_upgrade_status(srv.port, NULL, 5000), 401, "no token");
    cr_expect_eq(ws_upgrade_status(srv.port, "token=guess", 5000), 403, "a token of no rule");
    cr_expect_eq(ws_upgrade_status(srv.port, "token=viewer", 5000), 101, "a read-only token");
    cr_expect_eq(ws_upgrade_status(srv.port, "token=editor", 5000), 101);
    cr_expect_eq(served_stop(&srv, 20000), 0);
    unlink(srv.log_path);

    /* a `*` rule grants every peer something: nobody is refused up front */
    tokens = write_file("tokens-open", "editor rw\n* r appstate\n");
    start((const char *const[]){"--quiet", "--token-file", tokens, NULL});
    cr_expect_eq(ws_upgrade_status(srv.port, NULL, 5000), 101);
    cr_expect_eq(ws_upgrade_status(srv.port, "token=guess", 5000), 101);
}

Test(serve, usage_and_startup_errors)
{
    result r;
    run(&r, NULL, 10, (const char *const[]){"serve", "--ws", "127.0.0.1:99999", NULL});
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "--ws needs [HOST:]PORT"), "%s", r.err);
    run(&r, NULL, 10, (const char *const[]){"serve", "--tls-cert", "x.pem", NULL});
    cr_assert_eq(r.status, 2);
    run(&r, NULL, 10, (const char *const[]){"serve", "--token-file", "/nonexistent/tokens", NULL});
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "/nonexistent/tokens: cannot open"), "%s", r.err);
    const char *bad_tokens = write_file("bad-tokens", "editor rw\nviewer maybe appstate\n");
    run(&r, NULL, 10, (const char *const[]){"serve", "--token-file", bad_tokens, NULL});
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "line 2: expected 'TOKEN rw|r [KEY...]'"), "%s", r.err);
    char bad_state[400];
    snprintf(bad_state, sizeof bad_state, "todo=%s", write_file("bad.json", "{\"items\":[1,}"));
    run(&r, NULL, 10, (const char *const[]){"serve", "--state", bad_state, NULL});
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "bad.json: byte"), "%s", r.err);
    cr_assert_str_eq(r.out, "");
    run(&r, NULL, 10, (const char *const[]){"serve", "--state", "=x.json", NULL});
    cr_assert_eq(r.status, 2);

    start((const char *const[]){"--quiet", NULL});
    char busy[32];
    snprintf(busy, sizeof busy, "127.0.0.1:%d", srv.port);
    run(&r, NULL, 10, (const char *const[]){"serve", "--ws", busy, "--no-static", NULL});
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "cannot listen on"), "%s", r.err);
    cr_assert(strstr(r.err, ": address in use\n"), "%s", r.err);
    cr_assert_str_eq(r.out, "");
    run(&r, NULL, 10, (const char *const[]){"connect", "--timeout", "x", url(), NULL});
    cr_assert_eq(r.status, 2);
}

/* serve prints its URL only once it listens, and otherwise says why not. */
static void expect_no_listen(const char *ws, const char *why)
{
    result r;
    run(&r, NULL, 10, (const char *const[]){"serve", "--ws", ws, "--no-static", NULL});
    cr_expect_eq(r.status, 1, "--ws %s: exit %d, %s", ws, r.status, r.err);
    cr_expect_str_eq(r.out, "", "--ws %s", ws);
    cr_expect(strstr(r.err, why), "--ws %s: '%s' does not say '%s'", ws, r.err, why);
}

Test(serve, names_the_real_reason_it_cannot_listen)
{
    expect_no_listen("nosuchhost.invalid:9001", "patchwire serve: --ws: cannot resolve nosuchhost.invalid");
    /* a documentation address (RFC 5737): bound to nothing here, nothing is sent */
    expect_no_listen("192.0.2.1:9009",
                     "patchwire serve: cannot listen on 192.0.2.1:9009: address not available");
    result r;
    run(&r, NULL, 10, (const char *const[]){"serve", "--static", "/nonexistent", NULL});
    cr_expect_eq(r.status, 1);
    cr_expect_str_eq(r.err, "patchwire serve: --static /nonexistent: not a directory\n");
}

Test(serve, a_privileged_port_is_refused_with_the_reason)
{
    if (getuid() != 0) {
        expect_no_listen("127.0.0.1:1", "cannot listen on 127.0.0.1:1: permission denied");
        return;
    }
    /* as root: the same as an unprivileged user (nobody), in a child */
    char err_path[300];
    snprintf(err_path, sizeof err_path, "%s/stderr", dir);
    cr_assert_eq(chmod(dir, 0777), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        int o = open("/dev/null", O_WRONLY);
        if (e < 0 || o < 0 || dup2(e, 2) < 0 || dup2(o, 1) < 0)
            _exit(126);
        /* setpriv drops to nobody (under scripts/test's valgrind pass it runs
         * untraced: a traced process that changes user cannot write its log) */
        execlp("setpriv", "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--",
               getenv("PW_CLI"), "serve", "--ws", "127.0.0.1:1", "--no-static", (char *)NULL);
        _exit(127);
    }
    int status = 0;
    for (int i = 0; i < 1000 && waitpid(pid, &status, WNOHANG) != pid; i++)
        nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
    if (kill(pid, 0) == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        cr_assert_fail("serve kept running on a port it may not bind");
    }
    char err[1024];
    slurp(err_path, err, sizeof err);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status %d: %s", status, err);
    cr_expect(strstr(err, "cannot listen on 127.0.0.1:1: permission denied"), "%s", err);
}

Test(serve, a_host_name_is_resolved_and_its_real_port_printed)
{
    result r;
    /* killed after 2 s: it runs until then */
    run(&r, NULL, 2, (const char *const[]){"serve", "--ws", "localhost:0", "--no-static", NULL});
    int port = 0;
    cr_expect_eq(sscanf(r.out, "patchwire serve: http://localhost:%d/", &port), 1, "%s", r.out);
    cr_expect_gt(port, 0, "%s", r.out);
}

Test(serve, logs_connects_and_stops_on_sigterm)
{
    start(NULL);
    char s[512];
    state_of("appstate", NULL, s, sizeof s);
    cr_assert_eq(served_stop(&srv, 20000), 0);
    char log[4096];
    slurp(srv.log_path, log, sizeof log);
    cr_assert(strstr(log, "connect #1"), "%s", log);
    cr_assert(strstr(log, "disconnect #1"), "%s", log);
    cr_assert(strstr(log, "stopped"), "%s", log);
}

/* The listening socket of a port, from /proc/net/tcp and tcp6: its local
 * address as the kernel prints it ("0100007F" for 127.0.0.1), "" if none. */
static void listening_address(int port, char *out, size_t cap)
{
    out[0] = '\0';
    const char *files[] = {"/proc/net/tcp", "/proc/net/tcp6"};
    for (int f = 0; f < 2; f++) {
        FILE *fp = fopen(files[f], "r");
        char line[512], addr[64];
        unsigned p, state;
        while (fp && fgets(line, sizeof line, fp))
            if (sscanf(line, " %*d: %63[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x", addr, &p, &state) ==
                    3 &&
                (int)p == port && state == 0x0A)
                snprintf(out, cap, "%s", addr);
        if (fp)
            fclose(fp);
    }
}

Test(serve, listens_on_loopback_only_when_told_so)
{
    start((const char *const[]){"--quiet", NULL}); /* --ws 127.0.0.1:0 */
    char addr[64];
    listening_address(srv.port, addr, sizeof addr);
    cr_assert_str_eq(addr, "0100007F", "listening on %s, not 127.0.0.1 alone", addr);
}

Test(serve, connect_stops_cleanly_on_sigterm_while_reading_input)
{
    start((const char *const[]){"--quiet", NULL});
    char out_path[300];
    snprintf(out_path, sizeof out_path, "%s/stdout", dir);
    int in[2];
    cr_assert_eq(pipe(in), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(in[0], 0);
        dup2(o, 1);
        close(in[1]);
        execl(getenv("PW_CLI"), getenv("PW_CLI"), "connect", url(), (char *)NULL);
        _exit(127);
    }
    close(in[0]); /* in[1] stays open: connect waits for input */
    char out[4096] = "";
    for (int i = 0; i < 1000 && !strchr(out, '\n'); i++) {
        nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
        slurp(out_path, out, sizeof out);
    }
    cr_assert(strstr(out, "\"type\":\"fullsync\""), "no state printed: '%s'", out);
    kill(pid, SIGTERM);
    int status = 0;
    for (int i = 0; i < 1000 && waitpid(pid, &status, WNOHANG) != pid; i++)
        nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
    if (kill(pid, 0) == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        cr_assert_fail("connect did not stop on SIGTERM");
    }
    close(in[1]);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "connect ended with %d", status);
}

Test(serve, tls_with_a_certificate_and_key)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout '%s/key.pem' -out '%s/cert.pem' -subj /CN=127.0.0.1 -days 1 "
             "-addext subjectAltName=IP:127.0.0.1 "
             ">/dev/null 2>&1",
             dir, dir);
    cr_assert_eq(system(cmd), 0, "openssl failed");
    char cert[300], key[300];
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    start((const char *const[]){"--quiet", "--tls-cert", cert, "--tls-key", key, NULL});
    char wss[64];
    snprintf(wss, sizeof wss, "wss://127.0.0.1:%d/", srv.port);

    result r;
    run(&r, NULL, 30, (const char *const[]){"connect", "--insecure", "--timeout", "10", wss, NULL});
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "{\"type\":\"fullsync\",\"key\":\"appstate\",\"seq\":1,"
                            "\"data\":{\"items\":[]}}\n");
    /* every TLS failure: one line, exit 1, without waiting for a --timeout */
    char want[512];
    run(&r, NULL, 30, (const char *const[]){"connect", wss, NULL});
    cr_assert_eq(r.status, 1);
    cr_assert_str_eq(r.out, "");
    snprintf(want, sizeof want,
             "patchwire connect: cannot connect to %s: the server's certificate is not trusted "
             "(self-signed certificate); give its CA with --ca FILE, or --insecure\n",
             wss);
    cr_assert_str_eq(r.err, want);
    run(&r, NULL, 30, (const char *const[]){"connect", "--ca", "/nonexistent.pem", wss, NULL});
    cr_assert_eq(r.status, 1);
    cr_assert_str_eq(r.err, "patchwire connect: cannot read the CA file /nonexistent.pem: No such "
                            "file or directory\n");
    char ws[64];
    snprintf(ws, sizeof ws, "ws://127.0.0.1:%d/", srv.port);
    run(&r, NULL, 30, (const char *const[]){"connect", ws, NULL});
    cr_assert_eq(r.status, 1);
    snprintf(want, sizeof want,
             "patchwire connect: cannot connect to %s: the server closed the connection during "
             "the WebSocket handshake (is it a wss:// server, with TLS?)\n",
             ws);
    cr_assert_str_eq(r.err, want);
    run(&r, NULL, 30,
        (const char *const[]){"connect", "--ca", cert, "--timeout", "10", wss, NULL});
    cr_assert_eq(r.status, 0, "with its certificate as the CA: %s", r.err);
}

Test(serve, connect_with_wss_to_a_plain_server_says_so)
{
    start((const char *const[]){"--quiet", NULL});
    char wss[64], want[256];
    snprintf(wss, sizeof wss, "wss://127.0.0.1:%d/", srv.port);
    result r;
    run(&r, NULL, 30, (const char *const[]){"connect", wss, NULL});
    cr_assert_eq(r.status, 1);
    snprintf(want, sizeof want,
             "patchwire connect: cannot connect to %s: TLS handshake failed (is it a ws:// server, "
             "without TLS?)\n",
             wss);
    cr_assert_str_eq(r.err, want);
}

/* GET path over HTTP/1.0 on 127.0.0.1:port; the whole answer in out. */
static void http_get(int port, const char *path, char *out, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    cr_assert_eq(write(fd, req, (size_t)n), n);
    size_t len = 0;
    ssize_t r;
    while (len < cap - 1 && (r = read(fd, out + len, cap - 1 - len)) > 0)
        len += (size_t)r;
    out[len] = '\0';
    close(fd);
}

Test(serve, an_installed_serve_serves_the_installed_web_example)
{
    /* an installed layout: PREFIX/bin/patchwire, PREFIX/share/patchwire/web */
    char cmd[2048], exe[300];
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s/prefix/bin' '%s/prefix/share/patchwire/web' && cp '%s' '%s/prefix/bin/' && "
             "echo '<p>the installed page</p>' > '%s/prefix/share/patchwire/web/index.html'",
             dir, dir, getenv("PW_CLI"), dir, dir);
    cr_assert_eq(system(cmd), 0);
    snprintf(exe, sizeof exe, "%s/prefix/bin/patchwire", dir);
    char *cli = strdup(getenv("PW_CLI"));
    setenv("PW_CLI", exe, 1);
    child_serve cs;
    char why[256];
    bool started = child_serve_start(&cs, NULL, 20000, why, sizeof why);
    setenv("PW_CLI", cli, 1);
    free(cli);
    cr_assert(started, "%s", why);
    int port = atoi(strrchr(cs.url, ':') + 1);
    char page[4096];
    http_get(port, "/", page, sizeof page);
    int status = child_serve_stop(&cs, 20000);
    cr_assert(strstr(page, "<p>the installed page</p>"), "%s", page);
    cr_assert_eq(status, 0);
}
