/* JavaScript peers against `patchwire serve` over real WebSockets: Visly
 * State-like JSON clients and a MessagePack client (ws_clients.mjs, with npm's
 * ws, immer and @msgpack/msgpack) edit one state one at a time and then all
 * at once; when the edits stop every client and a late joiner must hold the
 * same state. The server is a child process, stopped after every test. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "child.h"

static child_serve server;

static void stop_server(void)
{
    child_serve_stop(&server, 5000);
}

TestSuite(js_ws, .fini = stop_server, .timeout = 240);

static const char *interop_dir(void)
{
    const char *dir = getenv("PW_INTEROP_DIR");
    cr_assert_not_null(dir, "PW_INTEROP_DIR not set (the folder of ws_clients.mjs)");
    const char *pkgs[] = {"ws", "immer", "@msgpack/msgpack"};
    for (size_t i = 0; i < sizeof pkgs / sizeof *pkgs; i++)
        cr_assert(child_has_node_module(dir, pkgs[i]),
                  "npm package %s is not installed in %s/node_modules: run scripts/npm-deps "
                  "(or npm ci --prefix %s)",
                  pkgs[i], dir, dir);
    return dir;
}

static void start_server(void)
{
    char why[512];
    cr_assert(child_serve_start(&server, NULL, 10000, why, sizeof why), "%s", why);
}

static void run_clients(const char *const *extra)
{
    const char *argv[16] = {"node", "ws_clients.mjs", server.ws_url};
    size_t n = 3;
    for (size_t i = 0; extra && extra[i] && n < 15; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    int status = child_run(interop_dir(), argv, 150000);
    /* Stopped first, so that a failure says whether the server was still up. */
    int serve_status = child_serve_stop(&server, 5000);
    cr_assert(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "node ws_clients.mjs %s failed (wait status %d; patchwire serve's wait status "
              "after SIGTERM: %d): see its output above",
              server.ws_url, status, serve_status);
    cr_assert(serve_status != -1 && WIFEXITED(serve_status) && WEXITSTATUS(serve_status) == 0,
              "patchwire serve did not exit 0 on SIGTERM (wait status %d)", serve_status);
}

Test(js_ws, visly_and_msgpack_clients_converge_after_concurrent_edits)
{
    interop_dir();
    start_server();
    run_clients((const char *[]){"--clients", "4", "--edits", "60", NULL});
}

Test(js_ws, many_visly_clients_converge_after_concurrent_edits)
{
    interop_dir();
    start_server();
    run_clients((const char *[]){"--clients", "12", "--edits", "25", NULL});
}
