/* cmd_serve.c - `patchwire serve`: a hub on a WebSocket port, an MQTT
 * broker and nanomsg sockets, whichever of them this program was built with.
 *
 * The one idea: the program is the hub and its transports on one thread,
 * serviced in a loop that a signal ends; everything else is turning options
 * into pw_hub_options and each transport's options. */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "cli.h"
#include "cmds.h"
#include "mqtt_cli.h"
#include "serve_data.h"
#include "serve_nanomsg.h"
#include "patchwire/hub.h"
#ifdef PW_HAVE_WS
#include "patchwire/ws.h"
#endif
#ifdef PW_HAVE_MQTT
#include "patchwire/mqtt.h"
#endif

static const char usage[] =
    "usage: patchwire serve [options]\n"
    "\n"
    "Runs a hub: keeps each state (key) authoritative, sends every WebSocket\n"
    "peer a FullSync of the keys it may read, applies the patches peers send and\n"
    "relays them to the others, in JSON (text frames) or MessagePack (binary\n"
    "frames). Visly State clients connect unchanged. Serves the files of a\n"
    "directory on the same port. Stops cleanly on SIGINT or SIGTERM.\n"
    "\n"
    "With no --state it serves the demo state appstate = {\"items\":[]} and,\n"
    "with no --static, the web example (installed in DATADIR/patchwire/web).\n"
    "Without --data the hub keeps its states in memory only: they start from\n"
    "--state each time.\n"
    "\n"
    "options:\n"
    "  --ws [HOST:]PORT        listen there (default 127.0.0.1:8080; port 0 picks one)\n"
    "  --static DIR            serve the files in DIR over HTTP\n"
    "  --no-static             serve no files\n"
    "  --state KEY=FILE        a state and its initial document (JSON or MessagePack\n"
    "                          file); repeatable; with --data, only if not stored\n"
    "  --data FILE.db          keep the states in FILE.db (SQLite) across restarts\n"
    "  --sync MODE             always (default): relay and ack a change once it is\n"
    "                          on disk; batch: relay at once, write every\n"
    "                          --sync-interval MS (default 50); off: no fsync\n"
    "  --token-file FILE       who may do what: lines 'TOKEN rw|r [KEY...]' (no key:\n"
    "                          every key; TOKEN * matches any peer); a peer gives its\n"
    "                          token as ?token=T in the URL or 'Authorization: Bearer T'.\n"
    "                          Without this option every peer may read and write.\n"
    "                          An upgrade whose token grants nothing is refused\n"
    "                          (HTTP 401 without a token, 403 with one).\n"
    "  --tls-cert FILE         PEM certificate: serve wss:// and https://\n"
    "  --tls-key FILE          PEM private key of the certificate\n"
    "  --max-message-bytes N   refuse messages larger than N bytes (default 64 MiB)\n"
    "  --max-queue-bytes N     bytes queued for a slow peer, 96 more per message,\n"
    "                          before it is resynced (default 8 MiB)\n"
    "  --max-bytes N           the same as --max-message-bytes\n"
    "  --max-depth N           refuse documents nested deeper than N (default 512)\n"
    "  --max-values N          refuse messages of more than N values (default 16777216)\n"
    "  --max-decoded-ratio N   refuse messages that would take more than N bytes of\n"
    "                          memory per byte received to decode (default 48)\n"
    "  --max-readonly-bytes N  with --token-file: a message for a key the peer may\n"
    "                          not write is refused before decoding when it is a\n"
    "                          change or larger than N (default 65536)\n"
    "  --resync-interval-ms N  one FullSync per peer and key in N ms for what it\n"
    "                          asks (resync, refused messages); more are held and\n"
    "                          sent once at the end (default 1000)\n"
    "  --max-state-bytes N     refuse a peer's change that would take a key's state\n"
    "                          past N bytes of JSON (default 64 MiB)\n"
    "  --max-connections N     sockets held at once, WebSocket, HTTP or half-open\n"
    "                          (default: the descriptor limit, raised to its hard\n"
    "                          limit at start, less 64); more are closed on accept\n"
    "  --max-connections-per-address N\n"
    "                          the same from one IPv4 address or IPv6 /64 (default 256)\n"
    "  --message-timeout S     close a peer whose message, once begun, is not\n"
    "                          complete within S seconds (default 30)\n"
    "  --read-timeout S        drop a peer that reads nothing for S seconds while\n"
    "                          frames wait for it (default 60)\n"
    "  --quiet                 log errors only\n"
    "  --verbose               log more (libwebsockets' own notices too)\n"
    "  -h, --help              show this help\n";

/* The second half of --help (one string literal may hold 4,095 bytes). */
static const char usage_transports[] =
    "\n"
    "other transports, beside or instead of the WebSocket port:\n"
    "  --mqtt URL              also publish the states through an MQTT broker\n"
    "                          (mqtt://HOST:PORT or mqtts://HOST:PORT): topics\n"
    "                          PREFIX KEY/state (retained), /patches, /edit, /error;\n"
    "                          with --mqtt and no --ws, no WebSocket port is opened\n"
    "  --mqtt-prefix P         topic prefix (default patchwire/)\n"
    "  --mqtt-client-id ID     the hub's MQTT client id (default patchwire-hub)\n"
    "  --mqtt-qos N            0, 1 or 2 (default 1)\n"
    "  --mqtt-codec C          json or msgpack: what the hub publishes (default json)\n"
    "  --mqtt-user U           broker user name\n"
    "  --mqtt-password-file F  the broker password, first line of F\n"
    "  --mqtt-ca FILE          PEM file of the CAs that may sign an mqtts:// broker\n"
    "  --mqtt-cert F --mqtt-key F  client certificate and key (PEM)\n"
    "  --mqtt-insecure         accept any mqtts:// broker certificate\n"
    "  --mqtt-state-interval MS  republish a changing state at most every MS\n"
    "                          milliseconds (default 1000)\n"
    "  --nanomsg URL           also serve the states on nanomsg sockets: tcp://HOST:PORT\n"
    "                          binds PUB on PORT, PULL on PORT+1, REP on PORT+2;\n"
    "                          ipc://PATH binds PATH.pub, PATH.pull, PATH.rep;\n"
    "                          with --nanomsg and no --ws, no WebSocket port is opened\n"
    "  --nanomsg-codec C       json or msgpack: what PUB carries (default json)\n"
    "\n"
    "Prints 'patchwire serve: URL' on stdout once listening; logs one line per\n"
    "connect, disconnect and rejected message on stderr.\n";

#ifndef PW_WEB_DIR
#define PW_WEB_DIR ""
#endif
#ifndef PW_BUILD_EXE
#define PW_BUILD_EXE ""
#endif
#ifndef PW_WEB_FROM_BINDIR
#define PW_WEB_FROM_BINDIR "../share/patchwire/web"
#endif
#ifndef PW_WEB_INSTALLED
#define PW_WEB_INSTALLED ""
#endif

static volatile sig_atomic_t stop_signal;

enum { PARSED_HELP = -1 }; /* parse_args printed the help: exit 0 */

static void on_signal(int sig)
{
    stop_signal = sig;
}

typedef struct serve_opts {
    const char *host_port, *static_dir, *token_file, *tls_cert, *tls_key;
    bool no_static;
    int verbosity; /* 0 quiet, 1 normal, 2 verbose */
    size_t max_message_bytes, max_queue_bytes, max_values, max_decoded_ratio;
    size_t max_connections, max_per_address;
    size_t message_timeout_s, read_timeout_s;
    size_t max_readonly_bytes, resync_interval_ms, max_state_bytes;
    uint32_t max_depth;
    const char *states[64];
    int nstates;
    mqtt_cli mq;
    serve_nn_opts nn;
    serve_data_opts data;
    char host[256], bind_host[256]; /* --ws: as given, and resolved to bind */
    int port;
    char ws_url[300]; /* what serve prints once the WebSocket port listens */
} serve_opts;

enum { LOG_ERROR, LOG_INFO, LOG_DEBUG }; /* what each transport's levels map to */

static void log_line(int level, const char *line, void *userdata)
{
    const serve_opts *o = userdata;
    if ((level == LOG_INFO && o->verbosity < 1) || (level == LOG_DEBUG && o->verbosity < 2))
        return;
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", gmtime_r(&now, &tm));
    fprintf(stderr, "%s patchwire serve: %s\n", when, line);
}

static int parse_size(cli *c, const char *name, const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v == 0 || v > SIZE_MAX / 2)
        return cli_usage_error(c, "%s needs a positive number, not '%s'", name, s);
    *out = (size_t)v;
    return CLI_OK;
}

static int parse_seconds(cli *c, const char *name, const char *s, size_t *out)
{
    int status = parse_size(c, name, s, out);
    if (status == CLI_OK && *out > 86400)
        return cli_usage_error(c, "%s: at most 86400 seconds, not '%s'", name, s);
    return status;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return path && path[0] && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

#ifdef PW_HAVE_WS
/* "[HOST:]PORT" into host (static storage) and port. */
static int parse_listen(cli *c, const char *s, char *host, size_t host_cap, int *port)
{
    const char *colon = strrchr(s, ':');
    const char *p = colon ? colon + 1 : s;
    char *end;
    errno = 0;
    long v = strtol(p, &end, 10);
    if (errno || end == p || *end || v < 0 || v > 65535)
        return cli_usage_error(c, "--ws needs [HOST:]PORT, not '%s'", s);
    *port = (int)v;
    if (colon) {
        size_t n = (size_t)(colon - s);
        if (n >= 2 && s[0] == '[' && s[n - 1] == ']') { /* [::1]:8080 */
            s++;
            n -= 2;
        }
        if (n == 0 || n >= host_cap)
            return cli_usage_error(c, "--ws: bad host in '%s'", s);
        memcpy(host, s, n);
        host[n] = '\0';
    } else {
        snprintf(host, host_cap, "127.0.0.1");
    }
    return CLI_OK;
}

static void ws_log(pw_ws_log_level level, const char *line, void *userdata)
{
    log_line(level == PW_WS_LOG_ERROR  ? LOG_ERROR
             : level == PW_WS_LOG_INFO ? LOG_INFO
                                       : LOG_DEBUG,
             line, userdata);
}

/* The address to bind for host, numeric (a name is resolved here, so the
 * server binds what it was told or fails with the reason). */
static int resolve_host(cli *c, const char *host, char *out, size_t cap)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE},
                    *res = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0)
        return cli_fail(c, "--ws: cannot resolve %s: %s", host,
                        rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
    rc = getnameinfo(res->ai_addr, res->ai_addrlen, out, (socklen_t)cap, NULL, 0, NI_NUMERICHOST);
    freeaddrinfo(res);
    if (rc != 0)
        return cli_fail(c, "--ws: cannot resolve %s: %s", host, gai_strerror(rc));
    return CLI_OK;
}

/* The web example to serve with no --static: the source tree's for the
 * program in its build tree; else the installed copy, beside the program
 * (BINDIR/../share/patchwire/web, wherever the prefix was moved) or at the
 * configured prefix. NULL when there is none. */
static const char *default_web_dir(char *buf, size_t cap)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    if (n > 0 && strcmp(exe, PW_BUILD_EXE) == 0)
        return is_dir(PW_WEB_DIR) ? PW_WEB_DIR : NULL;
    char *slash = strrchr(exe, '/');
    if (slash) {
        *slash = '\0';
        snprintf(buf, cap, "%s/%s", exe, PW_WEB_FROM_BINDIR);
        if (is_dir(buf))
            return buf;
    }
    return is_dir(PW_WEB_INSTALLED) ? PW_WEB_INSTALLED : NULL;
}
#endif

static int parse_args(cli *c, int argc, char **argv, serve_opts *o)
{
    int status = CLI_OK;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        int r;
        if (a[0] != '-')
            return cli_usage_error(c, "unexpected argument '%s'", a);
        if (strcmp(a, "--quiet") == 0) {
            o->verbosity = 0;
        } else if (strcmp(a, "--verbose") == 0) {
            o->verbosity = 2;
        } else if (strcmp(a, "--no-static") == 0) {
            o->no_static = true;
        } else if ((r = cli_option_value(c, "--ws", argc, argv, &i, &v, &status)) != 0) {
            if (r < 0)
                return status;
            o->host_port = v;
        } else if ((r = cli_option_value(c, "--static", argc, argv, &i, &v, &status)) != 0) {
            if (r < 0)
                return status;
            o->static_dir = v;
        } else if ((r = cli_option_value(c, "--state", argc, argv, &i, &v, &status)) != 0) {
            if (r < 0)
                return status;
            const char *eq = strchr(v, '=');
            if (!eq || eq == v || !eq[1])
                return cli_usage_error(c, "--state needs KEY=FILE, not '%s'", v);
            if (o->nstates == (int)(sizeof o->states / sizeof o->states[0]))
                return cli_usage_error(c, "too many --state options");
            o->states[o->nstates++] = v;
        } else if ((r = cli_option_value(c, "--token-file", argc, argv, &i, &v, &status)) != 0) {
            if (r < 0)
                return status;
            o->token_file = v;
        } else if ((r = cli_option_value(c, "--tls-cert", argc, argv, &i, &v, &status)) != 0) {
            if (r < 0)
                return status;
            o->tls_cert = v;
        } else if ((r = cli_option_value(c, "--tls-key", argc, argv, &i, &v, &status)) != 0) {
            if (r < 0)
                return status;
            o->tls_key = v;
        } else if ((r = cli_option_value(c, "--max-message-bytes", argc, argv, &i, &v, &status)) !=
                   0) {
            if (r < 0 ||
                (status = parse_size(c, "--max-message-bytes", v, &o->max_message_bytes)) != CLI_OK)
                return status;
        } else if ((r = cli_option_value(c, "--max-queue-bytes", argc, argv, &i, &v, &status)) !=
                   0) {
            if (r < 0 ||
                (status = parse_size(c, "--max-queue-bytes", v, &o->max_queue_bytes)) != CLI_OK)
                return status;
        } else if ((r = cli_option_value(c, "--max-values", argc, argv, &i, &v, &status)) != 0) {
            if (r < 0 || (status = parse_size(c, "--max-values", v, &o->max_values)) != CLI_OK)
                return status;
        } else if ((r = cli_option_value(c, "--max-decoded-ratio", argc, argv, &i, &v, &status)) !=
                   0) {
            if (r < 0 ||
                (status = parse_size(c, "--max-decoded-ratio", v, &o->max_decoded_ratio)) != CLI_OK)
                return status;
        } else if ((r = cli_option_value(c, "--max-readonly-bytes", argc, argv, &i, &v, &status)) !=
                   0) {
            if (r < 0 || (status = parse_size(c, "--max-readonly-bytes", v,
                                              &o->max_readonly_bytes)) != CLI_OK)
                return status;
        } else if ((r = cli_option_value(c, "--resync-interval-ms", argc, argv, &i, &v, &status)) !=
                   0) {
            if (r < 0 || (status = parse_size(c, "--resync-interval-ms", v,
                                              &o->resync_interval_ms)) != CLI_OK)
                return status;
            if (o->resync_interval_ms > 3600000)
                return cli_usage_error(c, "--resync-interval-ms: at most 3600000, not '%s'", v);
        } else if ((r = cli_option_value(c, "--max-state-bytes", argc, argv, &i, &v, &status)) !=
                   0) {
            if (r < 0 ||
                (status = parse_size(c, "--max-state-bytes", v, &o->max_state_bytes)) != CLI_OK)
                return status;
        } else if ((r = cli_option_value(c, "--max-connections", argc, argv, &i, &v, &status)) !=
                   0) {
            if (r < 0 ||
                (status = parse_size(c, "--max-connections", v, &o->max_connections)) != CLI_OK)
                return status;
        } else if ((r = cli_option_value(c, "--max-connections-per-address", argc, argv, &i, &v,
                                         &status)) != 0) {
            if (r < 0 || (status = parse_size(c, "--max-connections-per-address", v,
                                              &o->max_per_address)) != CLI_OK)
                return status;
        } else if ((r = cli_option_value(c, "--message-timeout", argc, argv, &i, &v, &status)) !=
                   0) {
            if (r < 0 || (status = parse_seconds(c, "--message-timeout", v,
                                                 &o->message_timeout_s)) != CLI_OK)
                return status;
        } else if ((r = cli_option_value(c, "--read-timeout", argc, argv, &i, &v, &status)) != 0) {
            if (r < 0 ||
                (status = parse_seconds(c, "--read-timeout", v, &o->read_timeout_s)) != CLI_OK)
                return status;
        } else if ((r = mqtt_cli_option(c, &o->mq, argc, argv, &i, &status)) != 0) {
            if (r < 0)
                return status;
        } else if ((r = serve_nanomsg_option(c, argc, argv, &i, &o->nn, &status)) != 0) {
            if (r < 0)
                return status;
        } else if ((r = serve_data_option(c, argc, argv, &i, &o->data, &status)) != 0) {
            if (r < 0)
                return status;
        } else if ((r = cli_common_option(c, argc, argv, &i, &status)) != 0) {
            if (r < 0)
                return status == CLI_OK ? PARSED_HELP : status;
        } else {
            return cli_usage_error(c, "unknown option '%s'", a);
        }
    }
    if ((status = mqtt_cli_finish(c, &o->mq)) != CLI_OK ||
        (status = serve_data_finish(c, &o->data)) != CLI_OK)
        return status;
#ifndef PW_HAVE_WS
    if (o->host_port || o->static_dir || o->tls_cert || o->tls_key)
        return cli_usage_error(c,
                               "%s: this patchwire was built without the WebSocket adapter "
                               "(rebuild with libwebsockets-dev installed, -Dws=enabled)",
                               o->host_port    ? "--ws"
                               : o->static_dir ? "--static"
                                               : "--tls-cert");
    if (!o->mq.url && !o->nn.url)
        return cli_usage_error(c, "needs --mqtt URL or --nanomsg URL (this patchwire was built "
                                  "without the WebSocket adapter)");
#endif
    if (!o->tls_cert != !o->tls_key)
        return cli_usage_error(c, "--tls-cert and --tls-key go together");
    if (o->static_dir && o->no_static)
        return cli_usage_error(c, "--static and --no-static exclude each other");
    if (o->static_dir && !is_dir(o->static_dir))
        return cli_fail(c, "--static %s: not a directory", o->static_dir);
    return CLI_OK;
}

static int load_states(cli *c, const serve_opts *o, pw_hub *hub)
{
    pw_hub_metrics m;
    pw_hub_metrics_get(hub, &m);
    if (o->nstates == 0 && m.keys == 0) { /* the demo, unless a store has states */
        pw_value doc, items;
        if (pw_object_new(&doc, 1) != PW_OK || pw_array_new(&items, 0) != PW_OK ||
            pw_object_set_str(&doc, "items", 5, items, NULL) != PW_OK ||
            pw_hub_set_state(hub, "appstate", 8, doc) != PW_OK)
            return cli_fail(c, "out of memory");
        return CLI_OK;
    }
    for (int i = 0; i < o->nstates; i++) {
        const char *spec = o->states[i], *eq = strchr(spec, '=');
        if (o->data.path && pw_hub_state(hub, spec, (size_t)(eq - spec), NULL))
            continue; /* stored: the store has the last word */
        pw_value doc;
        int status = cli_read_value(c, eq + 1, eq + 1, NULL, &doc);
        if (status != CLI_OK)
            return status;
        pw_err rc = pw_hub_set_state(hub, spec, (size_t)(eq - spec), doc);
        if (rc != PW_OK)
            return cli_fail(c, "state %.*s: %s", (int)(eq - spec), spec, pw_strerror(rc));
    }
    return CLI_OK;
}

#ifdef PW_HAVE_MQTT
static void mqtt_log(pw_mqtt_log_level level, const char *line, void *userdata)
{
    log_line(level == PW_MQTT_LOG_ERROR  ? LOG_ERROR
             : level == PW_MQTT_LOG_INFO ? LOG_INFO
                                         : LOG_DEBUG,
             line, userdata);
}

#ifdef PW_HAVE_WS
static void wake_ws(void *ws)
{
    pw_ws_server_wake(ws);
}
#endif

/* The hub's MQTT side, or NULL when --mqtt was not given (or it failed:
 * *status says). */
static pw_mqtt_server *start_mqtt(cli *c, serve_opts *o, pw_hub *hub, void *ws, int *status)
{
    if (!o->mq.url)
        return NULL;
    pw_mqtt_server_options mo;
    pw_mqtt_server_options_init(&mo);
    mo.link.url = o->mq.url;
    mo.link.prefix = o->mq.prefix;
    mo.link.client_id = o->mq.client_id;
    if (o->mq.qos_set)
        mo.link.qos = o->mq.qos;
    mo.link.username = o->mq.user;
    mo.link.password = o->mq.password_file ? o->mq.password : NULL;
    mo.link.tls_ca = o->mq.ca;
    mo.link.tls_cert = o->mq.cert;
    mo.link.tls_key = o->mq.key;
    mo.link.tls_insecure = o->mq.insecure;
    mo.link.log = mqtt_log;
    mo.link.log_userdata = o;
#ifdef PW_HAVE_WS
    if (ws) {
        mo.link.wake = wake_ws;
        mo.link.wake_userdata = ws;
    }
#else
    (void)ws;
#endif
    if (o->mq.codec && strcmp(o->mq.codec, "msgpack") == 0)
        mo.codec = &pw_codec_msgpack;
    if (o->mq.state_interval_ms)
        mo.state_interval_ms = o->mq.state_interval_ms;
    pw_error err;
    pw_mqtt_server *m = pw_mqtt_server_new(hub, &mo, &err);
    if (!m)
        *status = cli_fail(c, "--mqtt %s: %s", o->mq.url, err.msg);
    return m;
}
#endif

#ifdef PW_HAVE_WS
/* A server holds a descriptor per peer: the soft limit (often 1024) goes
 * up to the hard one, which the default connection limit then follows. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* --ws [HOST:]PORT (default 127.0.0.1:8080), the host resolved: before
 * anything starts, so that a bad address changes nothing. */
static int ws_address(cli *c, serve_opts *o)
{
    int status;
    o->port = 8080;
    snprintf(o->host, sizeof o->host, "127.0.0.1");
    if (o->host_port &&
        (status = parse_listen(c, o->host_port, o->host, sizeof o->host, &o->port)) != CLI_OK)
        return status;
    return resolve_host(c, o->host, o->bind_host, sizeof o->bind_host);
}

/* The WebSocket server on the address of ws_address (NULL with *status set
 * when it cannot listen there). */
static pw_ws_server *start_ws(cli *c, serve_opts *o, pw_hub *hub, const pw_hub_options *ho,
                              access_table *acl, int *status)
{
    pw_ws_server_options so;
    pw_ws_server_options_init(&so);
    so.host = o->bind_host;
    so.port = o->port;
    so.static_dir = o->static_dir;
    char web[4200];
    if (!o->static_dir && !o->no_static)
        so.static_dir = default_web_dir(web, sizeof web);
    so.tls_cert = o->tls_cert;
    so.tls_key = o->tls_key;
    so.max_message_bytes = ho->limits.max_input_bytes;
    if (acl) {
        so.admit = access_table_admits;
        so.admit_userdata = acl;
    }
    so.max_connections = o->max_connections;
    so.max_connections_per_address = o->max_per_address;
    so.message_timeout_s = (unsigned)o->message_timeout_s;
    so.read_timeout_s = (unsigned)o->read_timeout_s;
    raise_fd_limit();
    so.log = ws_log;
    so.log_userdata = o;
    if (o->verbosity >= 2)
        setenv("PW_WS_LWS_LOG", "7", 0); /* libwebsockets' errors, warnings, notices */
    pw_error err;
    pw_ws_server *server = pw_ws_server_new(hub, &so, &err);
    if (!server) {
        *status = cli_fail(c, "%s", err.msg);
        return NULL;
    }
    bool v6 = strchr(o->host, ':') != NULL;
    snprintf(o->ws_url, sizeof o->ws_url, "%s://%s%s%s:%d/", o->tls_cert ? "https" : "http",
             v6 ? "[" : "", o->host, v6 ? "]" : "", pw_ws_server_port(server));
    return server;
}

/* Closes every WebSocket connection cleanly (bounded) and frees the server. */
static void stop_ws(pw_ws_server *s)
{
    if (!s)
        return;
    pw_ws_server_shutdown(s);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int n = 0; n < 200 && pw_ws_server_connections(s) > 0; n++) {
        pw_ws_server_service(s, 10);
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec >= 2)
            break;
    }
    pw_ws_server_free(s);
}
#endif

/* One turn of the WebSocket server, waiting up to timeout_ms (none: nothing). */
static void service_ws(void *ws, int timeout_ms)
{
#ifdef PW_HAVE_WS
    if (ws)
        pw_ws_server_service(ws, timeout_ms);
#else
    (void)ws, (void)timeout_ms;
#endif
}

/* Services the transports until a signal (the one that can wait waits,
 * woken by the other; nanomsg, polled between turns, keeps waits short). */
static void run(pw_hub *hub, void *ws, void *mqtt, serve_nn *nn)
{
    while (!stop_signal) {
        if (!ws)
            pw_hub_service(hub); /* the WebSocket server's service does it otherwise */
        pw_hub_flush(hub);       /* the last turn's changes: stored, then sent */
        int most = serve_data_wait(hub, nn ? 2 : 250);
#ifdef PW_HAVE_MQTT
        if (mqtt) {
            int next = pw_mqtt_server_next_ms(mqtt);
            int wait = next >= 0 && next < most ? next : most;
            service_ws(ws, wait);
            pw_mqtt_server_service(mqtt, ws ? 0 : wait);
            serve_nanomsg_service(nn, 0);
            continue;
        }
#else
        (void)mqtt;
#endif
        service_ws(ws, most);
        serve_nanomsg_service(nn, ws ? 0 : 250);
    }
}

int cmd_serve(int argc, char **argv)
{
    cli c;
    cli_init(&c, "serve", usage);
    c.usage_more = usage_transports;
    serve_opts o = {.verbosity = 1};
    int status = parse_args(&c, argc, argv, &o);
    if (status == PARSED_HELP)
        return CLI_OK;
    if (status != CLI_OK)
        return status;
#ifdef PW_HAVE_WS
    if ((status = ws_address(&c, &o)) != CLI_OK)
        return status;
#endif

    pw_hub_options ho;
    pw_hub_options_init(&ho);
    ho.limits = c.lim;
    if (o.max_message_bytes)
        ho.limits.max_input_bytes = o.max_message_bytes;
    if (o.max_queue_bytes)
        ho.max_queue_bytes = o.max_queue_bytes;
    if (o.max_values)
        ho.limits.max_values = o.max_values;
    if (o.max_decoded_ratio)
        ho.limits.max_decoded_ratio = o.max_decoded_ratio;
    if (o.max_readonly_bytes)
        ho.max_readonly_bytes = o.max_readonly_bytes;
    if (o.resync_interval_ms)
        ho.resync_interval_ms = (uint32_t)o.resync_interval_ms;
    if (o.max_state_bytes)
        ho.max_state_bytes = o.max_state_bytes;

    access_table *acl = NULL;
    if (o.token_file) {
        char why[256];
        acl = access_table_load(o.token_file, why, sizeof why);
        if (!acl)
            return cli_fail(&c, "%s: %s", o.token_file, why);
        ho.access = access_table_check;
        ho.access_userdata = acl;
    }

    pw_hub *hub = pw_hub_new(&ho);
    if (!hub) {
        access_table_free(acl);
        return cli_fail(&c, "out of memory");
    }
    pw_persist *store = NULL;
    status = serve_data_open(&c, hub, &o.data, o.verbosity < 1, &store);
    if (status == CLI_OK)
        status = load_states(&c, &o, hub);
    if (status == CLI_OK && store)
        status = serve_data_seeded(&c, hub);

    void *ws = NULL;
#ifdef PW_HAVE_WS
    if (status == CLI_OK && (o.host_port || (!o.mq.url && !o.nn.url)))
        ws = start_ws(&c, &o, hub, &ho, acl, &status);
#endif
    void *mqtt = NULL;
#ifdef PW_HAVE_MQTT
    if (status == CLI_OK)
        mqtt = start_mqtt(&c, &o, hub, ws, &status);
#endif
    serve_nn *nn = NULL;
    if (status == CLI_OK)
        status = serve_nanomsg_start(&c, hub, &o.nn, o.verbosity, &nn);
    if (status == CLI_OK) {
        struct sigaction sa = {.sa_handler = on_signal};
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);

        if (ws)
            printf("patchwire serve: %s\n", o.ws_url);
        if (mqtt)
            printf("patchwire serve: %s topics %sKEY/state|patches|edit|error\n", o.mq.url,
                   o.mq.prefix ? o.mq.prefix : "patchwire/");
        fflush(stdout);
        run(hub, ws, mqtt, nn);
        log_line(LOG_INFO, stop_signal == SIGINT ? "interrupted, stopped" : "stopped", &o);
    }
#ifdef PW_HAVE_MQTT
    pw_mqtt_server_free(mqtt);
#endif
    serve_nanomsg_stop(nn);
#ifdef PW_HAVE_WS
    stop_ws(ws);
#endif
    pw_hub_free(hub);
    pw_persist_close(store);
    access_table_free(acl);
    return status;
}
