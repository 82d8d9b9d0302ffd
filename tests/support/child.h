/* child.h - run the patchwire program or node as a child process in a test:
 * start `patchwire serve` and read the URL it prints, run a node script to
 * its end, stop what was started. Errors come back as text for cr_assert. */
#ifndef PW_TEST_CHILD_H
#define PW_TEST_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct child_serve {
    pid_t pid;        /* 0 when not running */
    char url[256];    /* what it printed: http://HOST:PORT/ */
    char ws_url[256]; /* the same as ws://HOST:PORT/ */
    int out_fd;       /* the read end of its stdout; -1 when closed */
} child_serve;

/* Starts `$PW_CLI serve --ws 127.0.0.1:0 --quiet` plus extra (NULL-ended,
 * may be NULL) and waits up to timeout_ms for its "patchwire serve: URL"
 * line. On failure returns false with the reason in why (the child, if
 * started, is stopped). */
bool child_serve_start(child_serve *s, const char *const *extra, int timeout_ms, char *why,
                       size_t why_len);
/* The same without --quiet, its stderr into the file stderr_path (NULL:
 * inherited), and run under $PW_SERVE_WRAP when set (words separated by
 * spaces, e.g. "valgrind --leak-check=full"). */
bool child_serve_start_with(child_serve *s, const char *const *extra, const char *stderr_path,
                            int timeout_ms, char *why, size_t why_len);

/* Sends SIGTERM, waits up to timeout_ms, then SIGKILL and waits. Returns the
 * wait status (-1 when nothing was running). Safe to call twice. */
int child_serve_stop(child_serve *s, int timeout_ms);

/* Runs argv (argv[0] looked up in PATH) in dir with stdin from /dev/null and
 * stdout/stderr inherited; kills it after timeout_ms. Returns the wait
 * status, or -1 when it could not be started or was killed. */
int child_run(const char *dir, const char *const *argv, int timeout_ms);

/* Whether dir/node_modules/name exists (an npm package is installed). */
bool child_has_node_module(const char *dir, const char *name);

#endif
