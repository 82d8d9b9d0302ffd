/* serve_data.c - `patchwire serve --data FILE.db`: the hub's states kept in
 * a SQLite file across restarts (persist.h).
 *
 * The one idea: the hub does the work (group commit, holding relays until
 * the commit); the program opens the store, loads it before any --state
 * seeds a missing key, and calls pw_hub_flush after each turn of its loop. */
#include "serve_data.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int parse_ms(cli *c, const char *name, const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v == 0 || v > 3600000)
        return cli_usage_error(c, "%s needs milliseconds from 1 to 3600000, not '%s'", name, s);
    *out = v;
    return CLI_OK;
}

int serve_data_option(cli *c, int argc, char **argv, int *i, serve_data_opts *o, int *status)
{
    const char *v;
    int r;
    if ((r = cli_option_value(c, "--data", argc, argv, i, &v, status)) != 0) {
        if (r > 0)
            o->path = v;
        return r;
    }
    if ((r = cli_option_value(c, "--sync", argc, argv, i, &v, status)) != 0) {
        if (r < 0)
            return r;
        if (strcmp(v, "always") != 0 && strcmp(v, "batch") != 0 && strcmp(v, "off") != 0) {
            *status = cli_usage_error(c, "--sync wants always, batch or off, not '%s'", v);
            return -1;
        }
        o->sync = v;
        return 1;
    }
    if ((r = cli_option_value(c, "--sync-interval", argc, argv, i, &v, status)) != 0) {
        if (r > 0 && (*status = parse_ms(c, "--sync-interval", v, &o->interval_ms)) != CLI_OK)
            return -1;
        return r;
    }
    return 0;
}

int serve_data_finish(cli *c, const serve_data_opts *o)
{
    if (!o->path && (o->sync || o->interval_ms))
        return cli_usage_error(c, "--sync and --sync-interval go with --data");
    if (o->interval_ms && (!o->sync || strcmp(o->sync, "batch") != 0))
        return cli_usage_error(c, "--sync-interval goes with --sync batch");
    return CLI_OK;
}

typedef struct log_ctx {
    bool quiet;
    const char *path;
} log_ctx;

static void log_line(bool error, const char *line, void *userdata)
{
    const log_ctx *l = userdata;
    if (l->quiet && !error)
        return;
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", gmtime_r(&now, &tm));
    fprintf(stderr, "%s patchwire serve: %s: %s\n", when, l->path, line);
}

int serve_data_open(cli *c, pw_hub *hub, const serve_data_opts *o, bool quiet, pw_persist **out)
{
    static log_ctx ctx;
    *out = NULL;
    if (!o->path)
        return CLI_OK;
    /* a file size limit makes a write fail (EFBIG), not end the hub */
    signal(SIGXFSZ, SIG_IGN);
    pw_error err;
    pw_error_clear(&err);
    pw_persist *store = pw_persist_sqlite_open(o->path, 0, &err);
    if (!store)
        return cli_fail(c, "--data %s", err.msg);
    ctx = (log_ctx){quiet, o->path};
    pw_persist_options po;
    pw_persist_options_init(&po);
    if (o->sync && strcmp(o->sync, "batch") == 0)
        po.sync = PW_SYNC_BATCH;
    else if (o->sync && strcmp(o->sync, "off") == 0)
        po.sync = PW_SYNC_OFF;
    if (o->interval_ms)
        po.interval_ms = (unsigned)o->interval_ms;
    po.log = log_line;
    po.log_userdata = &ctx;
    if (pw_hub_persist(hub, store, &po, &err) != PW_OK) {
        pw_persist_close(store);
        return cli_fail(c, "--data %s: %s", o->path, err.msg);
    }
    *out = store;
    return CLI_OK;
}

int serve_data_seeded(cli *c, pw_hub *hub)
{
    if (pw_hub_flush(hub) != PW_OK)
        return cli_fail(c, "--data: the initial states could not be stored");
    return CLI_OK;
}

int serve_data_wait(const pw_hub *hub, int most)
{
    int next = pw_hub_flush_ms(hub);
    return next >= 0 && next < most ? next : most;
}
