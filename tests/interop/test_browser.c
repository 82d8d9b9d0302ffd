/* The web example in headless Chromium (browser.mjs, playwright-core driving
 * Debian's chromium) against `patchwire serve --static examples/web`: two
 * pages and a peer outside the browser see each other's edits, items the
 * page did not make (a bare string, no id) show and can be removed; a screenshot
 * is kept in PW_ARTIFACT_DIR. The server is a child process, stopped after
 * the test. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "child.h"

static child_serve server;

static void stop_server(void)
{
    child_serve_stop(&server, 5000);
}

TestSuite(browser, .fini = stop_server, .timeout = 240);

Test(browser, two_pages_and_a_node_peer_see_each_others_edits)
{
    const char *dir = getenv("PW_INTEROP_DIR");
    const char *web = getenv("PW_WEB_DIR");
    const char *chromium = getenv("PW_CHROMIUM") ? getenv("PW_CHROMIUM") : "/usr/bin/chromium";
    cr_assert(dir && web, "PW_INTEROP_DIR and PW_WEB_DIR must be set");
    const char *pkgs[] = {"playwright-core", "ws", "immer"};
    for (size_t i = 0; i < sizeof pkgs / sizeof *pkgs; i++)
        cr_assert(child_has_node_module(dir, pkgs[i]),
                  "npm package %s is not installed in %s/node_modules: run scripts/npm-deps",
                  pkgs[i], dir);
    cr_assert(child_has_node_module(web, "immer"),
              "npm package immer is not installed in %s/node_modules: run scripts/npm-deps", web);
    struct stat st;
    cr_assert(stat(chromium, &st) == 0, "%s not found: install Debian's chromium package",
              chromium);

    char why[512];
    cr_assert(
        child_serve_start(&server, (const char *[]){"--static", web, NULL}, 10000, why, sizeof why),
        "%s", why);
    const char *argv[] = {"node", "browser.mjs", server.url, NULL};
    int status = child_run(dir, argv, 150000);
    /* Stopped first, so that a failure says whether the server was still up. */
    int serve_status = child_serve_stop(&server, 5000);
    cr_assert(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "node browser.mjs %s failed (wait status %d; patchwire serve's wait status after "
              "SIGTERM: %d): see the output above",
              server.url, status, serve_status);
    cr_assert(serve_status != -1 && WIFEXITED(serve_status) && WEXITSTATUS(serve_status) == 0,
              "patchwire serve did not exit 0 on SIGTERM (wait status %d)", serve_status);
}
