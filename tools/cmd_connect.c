/* cmd_connect.c - `patchwire connect`: a replica on the command line.
 *
 * The one idea: a replica bound to a client (WebSocket, or MQTT through a
 * broker) runs on the main thread; a second thread only reads standard
 * input and hands complete lines over (a mutex and a wakeup), so every
 * store and replica call stays on the thread that services the client. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cmds.h"
#include "connect_nanomsg.h"
#include "mqtt_cli.h"
#include "patchwire/buf.h"
#include "patchwire/patch.h"
#include "patchwire/replica.h"
#ifdef PW_HAVE_WS
#include "patchwire/ws.h"
#else
typedef struct pw_ws_client pw_ws_client; /* never made: its pointers stay NULL */
#endif
#ifdef PW_HAVE_MQTT
#include "patchwire/mqtt.h"
#endif

static const char usage[] =
    "usage: patchwire connect [options] URL\n"
    "\n"
    "Connects to a hub (a ws:// or wss:// URL, or the http:// or https:// one\n"
    "`patchwire serve` prints; mqtt:// or mqtts:// for a broker a hub publishes\n"
    "through with --mqtt; nanomsg+tcp://HOST:PORT or nanomsg+ipc://PATH for\n"
    "serve --nanomsg) as a replica of one state and prints one JSON line for\n"
    "its FullSync, for every change after it, and for each local edit sent and\n"
    "the hub's answer to it:\n"
    "  {\"type\":\"fullsync\",\"key\":K,\"seq\":N,\"data\":STATE}\n"
    "  {\"type\":\"patches\",\"key\":K,\"seq\":N,\"origin\":\"remote\",\"data\":[...]}\n"
    "  {\"type\":\"patches\",\"key\":K,\"base\":B,\"origin\":\"local\",\"data\":[...]}\n"
    "  {\"type\":\"accepted\",\"key\":K,\"base\":B,\"seq\":N}\n"
    "  {\"type\":\"refused\",\"key\":K,\"base\":B,\"reason\":TEXT}\n"
    "(seq: the hub's version after a change; base: the version a local edit was\n"
    "sent on, as sent). Each line read on standard input is a patch list (Immer\n"
    "or RFC 6902) applied to the state as a local edit and sent to the hub. At\n"
    "the end of standard input it exits once the hub has answered everything\n"
    "sent (so with no input it prints the state and exits). Reconnects by itself\n"
    "if the connection drops, and resyncs. SIGINT or SIGTERM stops it.\n"
    "\n"
    "It gives up (exit 1, one line on stderr) when the hub sends no state K\n"
    "within 5 seconds of connecting (no such key, or this peer may not read it),\n"
    "and when TLS fails (an untrusted certificate, a ws:// URL for a wss://\n"
    "server or the other way round).\n"
    "\n"
    "options:\n"
    "  --key K           the state to follow (default appstate)\n"
    "  --msgpack         speak MessagePack (default JSON)\n"
    "  --token T         sent as 'Authorization: Bearer T'\n"
    "  --ca FILE         PEM file of the CAs that may sign a wss:// server\n"
    "  --insecure        accept any wss:// server certificate\n"
    "  --timeout S       give up (exit 1) after S seconds (default: never)\n"
    "  --max-depth N     refuse documents nested deeper than N (default 512)\n"
    "  --max-bytes N     refuse messages and input lines larger than N bytes\n"
    "  --mqtt-prefix P   with mqtt://: the hub's topic prefix (default patchwire/)\n"
    "  --mqtt-client-id ID, --mqtt-qos N, --mqtt-user U, --mqtt-password-file F,\n"
    "  --mqtt-cert F, --mqtt-key F  with mqtt:// or mqtts://, as for serve\n"
    "  -h, --help        show this help\n"
    "\n"
    "Exit status: 0 when everything read was accepted, 1 when an edit failed,\n"
    "was refused, the state never came or the timeout passed, 2 usage error.\n";

/* How long the state may take to come once connected: the hub sends it on
 * join, or never (no such key, or this peer may not read it). */
#define STATE_WAIT_SECONDS 5.0

static volatile sig_atomic_t stop_signal;

enum { PARSED_HELP = -1 }; /* parse_args printed the help: exit 0 */

static void on_signal(int sig)
{
    stop_signal = sig;
}

/* ---- the client: WebSocket, MQTT or nanomsg ---- */

typedef struct hublink {
    pw_ws_client *ws;
    connect_nn *nn; /* polled: it needs no wakeup */
#ifdef PW_HAVE_MQTT
    pw_mqtt_client *mqtt;
#endif
} hublink;

static void hublink_wake(hublink *h)
{
    (void)h; /* nanomsg alone: polled, nothing to wake */
#ifdef PW_HAVE_MQTT
    if (h->mqtt)
        pw_mqtt_client_wake(h->mqtt);
#endif
#ifdef PW_HAVE_WS
    if (h->ws)
        pw_ws_client_wake(h->ws);
#endif
}

static void hublink_service(hublink *h, int timeout_ms)
{
#ifdef PW_HAVE_MQTT
    if (h->mqtt)
        pw_mqtt_client_service(h->mqtt, timeout_ms);
#endif
#ifdef PW_HAVE_WS
    if (h->ws)
        pw_ws_client_service(h->ws, timeout_ms);
#endif
    if (h->nn) /* input lines wait at most 20 ms */
        connect_nanomsg_service(h->nn, timeout_ms < 20 ? timeout_ms : 20);
}

/* Closes cleanly (bounded) and frees. */
static void hublink_free(hublink *h)
{
#ifdef PW_HAVE_MQTT
    pw_mqtt_client_free(h->mqtt);
#endif
    connect_nanomsg_close(h->nn);
#ifdef PW_HAVE_WS
    if (!h->ws)
        return;
    pw_ws_client_close(h->ws);
    for (int i = 0; i < 50 && pw_ws_client_connected(h->ws); i++)
        pw_ws_client_service(h->ws, 20);
    pw_ws_client_free(h->ws);
#endif
}

/* ---- standard input, read on its own thread ---- */

typedef struct line {
    struct line *next;
    size_t len;
    char text[];
} line;

typedef struct input {
    pthread_mutex_t mu;
    line *head, **tail; /* complete lines not yet taken */
    bool eof;
    bool too_long;      /* a line over the limit was dropped */
    size_t max;
    struct hublink *client; /* woken when something arrives */
    int stop_fd;          /* readable: the reader thread returns */
    char *partial;      /* the reader's own buffer */
    size_t plen, pcap;
} input;

static void input_push(input *in, const char *p, size_t n)
{
    line *l = malloc(sizeof *l + n + 1);
    if (!l)
        return;
    l->next = NULL;
    l->len = n;
    memcpy(l->text, p, n);
    l->text[n] = '\0';
    pthread_mutex_lock(&in->mu);
    *in->tail = l;
    in->tail = &l->next;
    pthread_mutex_unlock(&in->mu);
}

/* Appends bytes to the partial line; false when it grows past the limit. */
static bool partial_add(input *in, const char *p, size_t n)
{
    if (in->plen + n > in->max)
        return false;
    if (in->plen + n > in->pcap) {
        size_t cap = in->pcap ? in->pcap : 4096;
        while (cap < in->plen + n)
            cap *= 2;
        char *grown = realloc(in->partial, cap);
        if (!grown)
            return false;
        in->partial = grown;
        in->pcap = cap;
    }
    memcpy(in->partial + in->plen, p, n);
    in->plen += n;
    return true;
}

static void *read_input(void *arg)
{
    input *in = arg;
    char buf[16384];
    bool skipping = false; /* inside a line that went over the limit */
    for (;;) {
        struct pollfd fds[2] = {{.fd = STDIN_FILENO, .events = POLLIN},
                                {.fd = in->stop_fd, .events = POLLIN}};
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (fds[1].revents)
            return NULL; /* the program is stopping: no more input wanted */
        ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            break;
        for (char *p = buf, *end = buf + n; p < end;) {
            char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t len = (size_t)((nl ? nl : end) - p);
            if (!skipping && !partial_add(in, p, len)) {
                skipping = true;
                pthread_mutex_lock(&in->mu);
                in->too_long = true;
                pthread_mutex_unlock(&in->mu);
            }
            if (nl) {
                if (!skipping && in->plen)
                    input_push(in, in->partial, in->plen);
                in->plen = 0;
                skipping = false;
            }
            p += len + (nl != NULL);
        }
        hublink_wake(in->client);
    }
    if (!skipping && in->plen)
        input_push(in, in->partial, in->plen);
    pthread_mutex_lock(&in->mu);
    in->eof = true;
    pthread_mutex_unlock(&in->mu);
    hublink_wake(in->client);
    return NULL;
}

/* ---- the replica side, on the main thread ---- */

typedef struct session {
    cli *c;
    const char *key;
    size_t key_len;
    const char *url;
    pw_replica *replica;
    pw_ws_client *client;
    bool synced;
    bool closing; /* our own close: its log lines are not news */
    int status;
} session;

/* Encodes msg as one JSON line on stdout (msg released). */
static void print_line(session *s, pw_value *msg, pw_err rc)
{
    pw_buf out;
    pw_buf_init(&out);
    if (rc == PW_OK)
        rc = pw_codec_json.encode(msg, &out, NULL);
    if (rc == PW_OK) {
        fwrite(out.data, 1, out.len, stdout);
        fputc('\n', stdout);
        fflush(stdout);
    } else {
        s->status = cli_fail(s->c, "cannot print a line: %s", pw_strerror(rc));
    }
    pw_buf_free(&out);
    pw_value_release(msg);
}

static pw_err set_string(pw_value *obj, const char *name, const char *text, size_t len)
{
    pw_value v;
    pw_err rc = pw_string_new(&v, text, len);
    return rc ? rc : pw_object_set_str(obj, name, strlen(name), v, NULL);
}

/* A local edit as sent, and the hub's answer to it: one line each. */
static void print_event(const pw_replica_event *ev, void *userdata)
{
    session *s = userdata;
    static const char *const types[] = {[PW_REPLICA_SENT] = "patches",
                                        [PW_REPLICA_ACCEPTED] = "accepted",
                                        [PW_REPLICA_REFUSED] = "refused"};
    pw_value msg = pw_null(), v = pw_null();
    pw_err rc = pw_object_new(&msg, 5);
    if (rc == PW_OK)
        rc = set_string(&msg, "type", types[ev->type], strlen(types[ev->type]));
    if (rc == PW_OK)
        rc = set_string(&msg, "key", ev->key, ev->key_len);
    if (rc == PW_OK)
        rc = pw_object_set_str(&msg, "base", 4, pw_int((int64_t)ev->base), NULL);
    if (rc == PW_OK && ev->type == PW_REPLICA_SENT) {
        rc = set_string(&msg, "origin", "local", 5);
        if (rc == PW_OK && (rc = pw_patches_to_value(ev->patches, &v)) == PW_OK)
            rc = pw_object_set_str(&msg, "data", 4, v, NULL);
    } else if (rc == PW_OK && ev->type == PW_REPLICA_ACCEPTED) {
        rc = pw_object_set_str(&msg, "seq", 3, pw_int((int64_t)ev->seq), NULL);
    } else if (rc == PW_OK) {
        rc = set_string(&msg, "reason", ev->message, strlen(ev->message));
    }
    print_line(s, &msg, rc);
}

/* One JSON line per change of the key the hub made (local edits are printed
 * as they are sent, with the base they are sent on). */
static void print_change(const pw_change *ch, void *userdata)
{
    session *s = userdata;
    if (ch->origin == PW_ORIGIN_LOCAL)
        return;
    pw_value msg = pw_null(), v = pw_null();
    pw_err rc = pw_object_new(&msg, 5);
    const char *type = ch->origin == PW_ORIGIN_FULLSYNC ? "fullsync" : "patches";
    if (rc == PW_OK && (rc = pw_string_cstr(&v, type)) == PW_OK)
        rc = pw_object_set_str(&msg, "type", 4, v, NULL);
    if (rc == PW_OK && (rc = pw_string_new(&v, ch->key, ch->key_len)) == PW_OK)
        rc = pw_object_set_str(&msg, "key", 3, v, NULL);
    if (rc == PW_OK)
        rc = pw_object_set_str(&msg, "seq", 3, pw_int((int64_t)ch->version), NULL);
    if (rc == PW_OK && ch->origin != PW_ORIGIN_FULLSYNC) {
        if ((rc = pw_string_cstr(&v, "remote")) == PW_OK)
            rc = pw_object_set_str(&msg, "origin", 6, v, NULL);
        if (rc == PW_OK && (rc = pw_patches_to_value(ch->patches, &v)) == PW_OK)
            rc = pw_object_set_str(&msg, "data", 4, v, NULL);
    } else if (rc == PW_OK) {
        rc = pw_object_set_str(&msg, "data", 4, pw_value_retain(*ch->doc), NULL);
    }
    print_line(s, &msg, rc);
    if (ch->origin == PW_ORIGIN_FULLSYNC)
        s->synced = true;
}

static void on_hub_error(const char *key, size_t key_len, const char *message, void *userdata)
{
    session *s = userdata;
    (void)key;
    (void)key_len;
    s->status = cli_fail(s->c, "the hub refused: %s", message);
}

#if defined(PW_HAVE_WS) || defined(PW_HAVE_MQTT)
/* Connection trouble on stderr, each distinct line once in a row (the
 * client retries with backoff: a refused port would repeat forever). */
static void log_line(bool debug, const char *line, void *userdata)
{
    static char last[512];
    session *s = userdata;
    if (debug || s->closing || strstr(line, "connected to") == line ||
        strncmp(last, line, sizeof last - 1) == 0)
        return;
#ifdef PW_HAVE_WS
    if (s->client && pw_ws_client_failure(s->client)) /* reported once, by run */
        return;
#endif
    snprintf(last, sizeof last, "%s", line);
    fprintf(stderr, "patchwire %s: %s\n", s->c->name, line);
}
#endif

#ifdef PW_HAVE_WS
static void ws_log(pw_ws_log_level level, const char *line, void *userdata)
{
    log_line(level == PW_WS_LOG_DEBUG, line, userdata);
}
#endif

/* Applies one input line as a local edit of the key. */
static void apply_line(session *s, const line *l)
{
    pw_value list;
    pw_error err;
    pw_err rc = pw_codec_json.decode((const uint8_t *)l->text, l->len, &s->c->lim, &list, &err);
    if (rc != PW_OK) {
        char text[sizeof err.msg];
        s->status = cli_fail(s->c, "input: byte %zu: %s", err.offset,
                             cli_error_text(&err, rc, text, sizeof text));
        return;
    }
    pw_patches p;
    pw_patches_init(&p, PW_DIALECT_IMMER);
    if (pw_patches_from_value(&list, &p, &err) != PW_OK ||
        pw_store_apply(pw_replica_store(s->replica), s->key, s->key_len, &p, &err) != PW_OK)
        s->status = cli_fail(s->c, "input: %s", err.msg);
    pw_patches_clear(&p);
    pw_value_release(&list);
}

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Why the state of the key has not come: what the hub sent instead. */
static int fail_no_state(session *s, double waited)
{
    pw_store *st = pw_replica_store(s->replica);
    if (pw_store_count(st) == 0)
        return cli_fail(s->c,
                        "connected, but the hub sent no state in %.0f s: this peer may read "
                        "nothing (a missing or wrong --token?)",
                        waited);
    char others[256] = "";
    size_t n = 0, len;
    for (size_t i = 0; i < pw_store_count(st) && n < sizeof others - 1; i++) {
        const char *k = pw_store_key_at(st, i, &len);
        int w = snprintf(others + n, sizeof others - n, "%s%.*s", i ? ", " : "", (int)len, k);
        n = w < 0 ? n : n + (size_t)w;
    }
    return cli_fail(s->c,
                    "the hub has no state \"%s\" this peer may read (it sent: %s); check --key "
                    "and --token",
                    s->key, others);
}

/* Services until stdin has ended and everything is answered, a signal, a
 * failure to connect or get the state, or the deadline. */
static void run(session *s, hublink *client, input *in, double timeout)
{
    double deadline = timeout > 0 ? now_seconds() + timeout : 0, connected_at = 0;
    for (;;) {
        if (stop_signal)
            return;
        const char *failure = NULL;
        bool connected = !client->ws; /* the others say nothing about connecting */
#ifdef PW_HAVE_WS
        if (client->ws) {
            failure = pw_ws_client_failure(client->ws);
            connected = pw_ws_client_connects(client->ws) > 0;
        }
#endif
        if (failure) {
            bool cert = strstr(failure, "certificate") != NULL;
            s->status = cli_fail(s->c, "cannot connect to %s: %s%s", s->url, failure,
                                 cert ? "; give its CA with --ca FILE, or --insecure" : "");
            return;
        }
        double now = now_seconds();
        if (!connected_at && client->ws && connected)
            connected_at = now;
        if (!s->synced && connected_at && now - connected_at >= STATE_WAIT_SECONDS) {
            s->status = fail_no_state(s, now - connected_at);
            return;
        }
        if (deadline && now >= deadline) {
            if (!s->synced && connected_at)
                s->status = fail_no_state(s, now - connected_at);
            else
                s->status = cli_fail(s->c, "timed out after %g s%s", timeout,
                                     connected_at || !client->ws ? "" : " (never connected)");
            return;
        }
        hublink_service(client, 100);
        if (!s->synced)
            continue; /* lines wait for the state they edit */
        pthread_mutex_lock(&in->mu);
        line *batch = in->head;
        in->head = NULL;
        in->tail = &in->head;
        bool eof = in->eof, too_long = in->too_long;
        in->too_long = false;
        pthread_mutex_unlock(&in->mu);
        if (too_long)
            s->status = cli_fail(s->c, "input: a line is longer than %zu bytes", in->max);
        for (line *l = batch, *next; l; l = next) {
            next = l->next;
            apply_line(s, l);
            free(l);
        }
        if (eof && !batch && pw_replica_idle(s->replica, s->key, s->key_len, NULL))
            return;
    }
}

/* What the command line says about the hub, whatever the transport. */
typedef struct conn_opts {
    const char *url, *token, *tls_ca;
    const pw_codec *codec;
    bool tls_insecure;
} conn_opts;

static int parse_args(cli *c, int argc, char **argv, conn_opts *co, mqtt_cli *mq, session *s,
                      double *timeout)
{
    int status = CLI_OK;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        int r;
        if (a[0] != '-') {
            if (co->url)
                return cli_usage_error(c, "unexpected argument '%s'", a);
            co->url = a;
        } else if (strcmp(a, "--msgpack") == 0) {
            co->codec = &pw_codec_msgpack;
        } else if (strcmp(a, "--insecure") == 0) {
            co->tls_insecure = true;
        } else if ((r = cli_option_value(c, "--key", argc, argv, &i, &v, &status)) != 0) {
            if (r < 0)
                return status;
            if (!v[0])
                return cli_usage_error(c, "--key cannot be empty");
            s->key = v;
        } else if ((r = cli_option_value(c, "--token", argc, argv, &i, &v, &status)) != 0) {
            if (r < 0)
                return status;
            co->token = v;
        } else if ((r = cli_option_value(c, "--ca", argc, argv, &i, &v, &status)) != 0) {
            if (r < 0)
                return status;
            co->tls_ca = v;
        } else if ((r = cli_option_value(c, "--timeout", argc, argv, &i, &v, &status)) != 0) {
            char *end;
            if (r < 0)
                return status;
            *timeout = strtod(v, &end);
            if (end == v || *end || !(*timeout > 0))
                return cli_usage_error(c, "--timeout needs a positive number of seconds");
        } else if (strncmp(a, "--mqtt", 6) == 0 && strcmp(a, "--mqtt") != 0 &&
                   strncmp(a, "--mqtt=", 7) != 0 &&
                   (r = mqtt_cli_option(c, mq, argc, argv, &i, &status)) != 0) {
            if (r < 0)
                return status;
        } else if ((r = cli_common_option(c, argc, argv, &i, &status)) != 0) {
            if (r < 0)
                return status == CLI_OK ? PARSED_HELP : status;
        } else {
            return cli_usage_error(c, "unknown option '%s'", a);
        }
    }
    if (!co->url)
        return cli_usage_error(c, "needs the hub's URL");
    static const char *const schemes[] = {"ws://",   "wss://",   "http://",       "https://",
                                          "mqtt://", "mqtts://", "nanomsg+tcp://", "nanomsg+ipc://"};
    bool known = false;
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
        known = known || strncmp(co->url, schemes[i], strlen(schemes[i])) == 0;
    if (!known)
        return cli_usage_error(c,
                               "the URL must start with ws://, wss://, http://, https://, mqtt://, "
                               "mqtts://, nanomsg+tcp:// or nanomsg+ipc://, not '%s'",
                               co->url);
    bool mqtt = strncmp(co->url, "mqtt://", 7) == 0 || strncmp(co->url, "mqtts://", 8) == 0;
#ifndef PW_HAVE_WS
    if (!mqtt && !connect_nanomsg_url(co->url))
        return cli_usage_error(c,
                               "%.*s: this patchwire was built without the WebSocket adapter "
                               "(rebuild with libwebsockets-dev installed, -Dws=enabled)",
                               (int)strcspn(co->url, ":") + 3, co->url);
#endif
    if (mqtt) {
        mq->url = co->url;
        mq->ca = co->tls_ca;
        mq->insecure = co->tls_insecure;
    } else if (mq->prefix || mq->client_id || mq->user || mq->password_file || mq->cert ||
               mq->qos_set) {
        return cli_usage_error(c, "--mqtt-* options go with an mqtt:// or mqtts:// URL");
    }
    return mqtt_cli_finish(c, mq);
}

#ifdef PW_HAVE_MQTT
static void mqtt_log(pw_mqtt_log_level level, const char *line, void *userdata)
{
    log_line(level == PW_MQTT_LOG_DEBUG, line, userdata);
}

/* The MQTT client following the key, with the replica's send set up. */
static pw_mqtt_client *mqtt_client(const mqtt_cli *mq, const session *s, pw_replica_options *ro,
                                   pw_error *err)
{
    static const char *keys[1];
    keys[0] = s->key;
    pw_mqtt_client_options mo;
    pw_mqtt_client_options_init(&mo);
    mo.link.url = mq->url;
    mo.link.prefix = mq->prefix;
    mo.link.client_id = mq->client_id;
    if (mq->qos_set)
        mo.link.qos = mq->qos;
    mo.link.username = mq->user;
    mo.link.password = mq->password_file ? mq->password : NULL;
    mo.link.tls_ca = mq->ca;
    mo.link.tls_cert = mq->cert;
    mo.link.tls_key = mq->key;
    mo.link.tls_insecure = mq->insecure;
    mo.link.log = mqtt_log;
    mo.link.log_userdata = (void *)s;
    mo.keys = keys;
    mo.nkeys = 1;
    pw_mqtt_client *m = pw_mqtt_client_new(&mo, err);
    if (m)
        pw_mqtt_replica_options(m, ro);
    return m;
}
#endif

int cmd_connect(int argc, char **argv)
{
    cli c;
    cli_init(&c, "connect", usage);
    session s = {.c = &c, .key = "appstate", .status = CLI_OK};
    conn_opts co = {.codec = &pw_codec_json};
    mqtt_cli mq = {0};
    double timeout = 0;
    int status = parse_args(&c, argc, argv, &co, &mq, &s, &timeout);
    if (status == PARSED_HELP)
        return CLI_OK;
    if (status != CLI_OK)
        return status;
    s.key_len = strlen(s.key);

    pw_error err;
    (void)err; /* nanomsg alone reports through its own helpers */
    pw_replica_options ro;
    pw_replica_options_init(&ro);
    hublink link = {0}, *client = &link;
#ifdef PW_HAVE_MQTT
    if (mq.url && !(link.mqtt = mqtt_client(&mq, &s, &ro, &err)))
        return cli_fail(&c, "%s: %s", co.url, err.msg);
#endif
    if (connect_nanomsg_url(co.url)) {
        if ((status = connect_nanomsg_open(&c, co.url, &ro, &link.nn)) != CLI_OK)
            return status;
    } else if (!mq.url) {
#ifdef PW_HAVE_WS
        pw_ws_client_options wo;
        pw_ws_client_options_init(&wo);
        wo.url = co.url;
        wo.codec = co.codec;
        wo.token = co.token;
        wo.tls_ca = co.tls_ca;
        wo.tls_insecure = co.tls_insecure;
        wo.max_message_bytes = c.lim.max_input_bytes;
        wo.log = ws_log;
        wo.log_userdata = &s;
        if (!(link.ws = pw_ws_client_new(&wo, &err)))
            return cli_fail(&c, "%s", err.msg);
        s.client = link.ws;
        s.url = co.url;
        ro.send = pw_ws_replica_send;
        ro.send_userdata = link.ws;
#endif
    }
    ro.codec = co.codec;
    ro.on_error = on_hub_error;
    ro.on_error_userdata = &s;
    ro.on_event = print_event;
    ro.on_event_userdata = &s;
    ro.limits = c.lim;
    ro.store.max_history = 0;
    s.replica = pw_replica_new(&ro);
    if (!s.replica || !pw_store_subscribe(pw_replica_store(s.replica), s.key, s.key_len, NULL,
                                          print_change, &s)) {
        pw_replica_free(s.replica);
        hublink_free(client);
        return cli_fail(&c, "out of memory");
    }
#ifdef PW_HAVE_WS
    if (link.ws)
        pw_ws_client_bind_replica(link.ws, s.replica);
#endif
    if (link.nn && (status = connect_nanomsg_follow(&c, link.nn, s.replica, s.key, s.key_len))) {
        hublink_free(client);
        pw_replica_free(s.replica);
        return status;
    }
#ifdef PW_HAVE_MQTT
    if (link.mqtt)
        pw_mqtt_client_bind_replica(link.mqtt, s.replica);
#endif

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int stop_pipe[2];
    if (pipe(stop_pipe) != 0) {
        pw_replica_free(s.replica);
        hublink_free(client);
        return cli_fail(&c, "cannot make a pipe: %s", strerror(errno));
    }
    input in = {.max = c.lim.max_input_bytes, .client = client, .stop_fd = stop_pipe[0]};
    in.tail = &in.head;
    pthread_mutex_init(&in.mu, NULL);
    pthread_t reader;
    bool reading = pthread_create(&reader, NULL, read_input, &in) == 0;
    if (!reading)
        s.status = cli_fail(&c, "cannot start the input thread");
    else
        run(&s, client, &in, timeout);

    s.closing = true;
    if (reading) {
        ssize_t w;
        do
            w = write(stop_pipe[1], "", 1);
        while (w < 0 && errno == EINTR);
        pthread_join(reader, NULL);
    }
    close(stop_pipe[0]);
    close(stop_pipe[1]);
    for (line *l = in.head, *next; l; l = next) {
        next = l->next;
        free(l);
    }
    free(in.partial);
    pthread_mutex_destroy(&in.mu);
    pw_replica_stats st;
    pw_replica_stats_get(s.replica, &st);
    if (st.dropped && s.status == CLI_OK)
        s.status = cli_fail(&c, "%llu local change(s) were not accepted by the hub",
                            (unsigned long long)st.dropped);
    hublink_free(client);
    pw_replica_free(s.replica);
    return s.status;
}
