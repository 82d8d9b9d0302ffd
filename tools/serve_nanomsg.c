/* serve_nanomsg.c - `patchwire serve --nanomsg URL`: the hub's states on
 * nanomsg PUB/PULL/REP sockets beside its other transports (one thread: the
 * others' service waits a few ms, then this turn runs without waiting). */
#include "serve_nanomsg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef PW_HAVE_NANOMSG
#include "patchwire/nanomsg.h"
#endif

int serve_nanomsg_option(cli *c, int argc, char **argv, int *i, serve_nn_opts *o, int *status)
{
    const char *v = NULL;
    int r;
    if ((r = cli_option_value(c, "--nanomsg", argc, argv, i, &v, status)) != 0) {
        if (r > 0)
            o->url = v;
    } else if ((r = cli_option_value(c, "--nanomsg-codec", argc, argv, i, &v, status)) != 0) {
        if (r > 0 && strcmp(v, "json") != 0 && strcmp(v, "msgpack") != 0) {
            *status = cli_usage_error(c, "--nanomsg-codec is json or msgpack, not '%s'", v);
            return -1;
        }
        if (r > 0)
            o->codec = v;
    }
    return r;
}

#ifdef PW_HAVE_NANOMSG

struct serve_nn {
    pw_nn_server *server;
    int verbosity;
    bool announced;
    char url[512];
};

static void log_line(pw_nn_log_level level, const char *line, void *userdata)
{
    const serve_nn *s = userdata;
    if ((level == PW_NN_LOG_INFO && s->verbosity < 1) ||
        (level == PW_NN_LOG_DEBUG && s->verbosity < 2))
        return;
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", gmtime_r(&now, &tm));
    fprintf(stderr, "%s patchwire serve: nanomsg: %s\n", when, line);
}

int serve_nanomsg_start(cli *c, pw_hub *hub, const serve_nn_opts *o, int verbosity, serve_nn **out)
{
    *out = NULL;
    if (!o->url) {
        if (o->codec)
            return cli_usage_error(c, "--nanomsg-codec needs --nanomsg");
        return CLI_OK;
    }
    serve_nn *s = calloc(1, sizeof *s);
    if (!s)
        return cli_fail(c, "out of memory");
    s->verbosity = verbosity;
    pw_nn_server_options so;
    pw_nn_server_options_init(&so);
    so.url = o->url;
    so.codec = o->codec ? pw_codec_find(o->codec) : &pw_codec_json;
    so.log = log_line;
    so.log_userdata = s;
    pw_error err;
    if (!(s->server = pw_nn_server_new(hub, &so, &err))) {
        free(s);
        return err.code == PW_EINVAL ? cli_usage_error(c, "--nanomsg: %s", err.msg)
                                     : cli_fail(c, "--nanomsg: %s", err.msg);
    }
    snprintf(s->url, sizeof s->url, "%s", o->url);
    *out = s;
    return CLI_OK;
}

void serve_nanomsg_service(serve_nn *s, int timeout_ms)
{
    if (!s)
        return;
    if (!s->announced) { /* the second line of stdout: the first is the WebSocket URL */
        s->announced = true;
        printf("patchwire serve: nanomsg %s\n", s->url);
        fflush(stdout);
    }
    pw_nn_server_service(s->server, timeout_ms);
}

void serve_nanomsg_stop(serve_nn *s)
{
    if (!s)
        return;
    pw_nn_server_free(s->server);
    free(s);
}

#else

int serve_nanomsg_start(cli *c, pw_hub *hub, const serve_nn_opts *o, int verbosity, serve_nn **out)
{
    (void)hub, (void)verbosity;
    *out = NULL;
    if (o->url || o->codec)
        return cli_usage_error(c, "this patchwire was built without nanomsg (-Dnanomsg)");
    return CLI_OK;
}

void serve_nanomsg_service(serve_nn *s, int timeout_ms)
{
    (void)s, (void)timeout_ms;
}

void serve_nanomsg_stop(serve_nn *s)
{
    (void)s;
}

#endif
