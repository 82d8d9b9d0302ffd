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
#include "mqtt_cli.h"
#include "patchwire/buf.h"
#include "patchwire/patch.h"
#include "patchwire/replica.h"
#include "patchwire/ws.h"
#ifdef PW_HAVE_MQTT
#include "patchwire/mqtt.h"
#endif

static const char usage[] =
    "usage: patchwire connect [options] URL\n"
    "\n"
    "Connects to a hub (ws:// or wss:// URL, e.g. one `patchwire serve` runs, or\n"
    "mqtt:// or mqtts:// for a broker a hub publishes through with --mqtt) as\n"
    "a replica of one state and prints, one JSON line each, its FullSync and\n"
    "every change after it:\n"
    "  {\"type\":\"fullsync\",\"key\":K,\"seq\":N,\"data\":STATE}\n"
    "  {\"type\":\"patches\",\"key\":K,\"seq\":N,\"origin\":\"remote\",\"data\":[...]}\n"
    "  {\"type\":\"patches\",\"key\":K,\"base\":N,\"origin\":\"local\",\"data\":[...]}\n"
    "(seq: the hub's version after the change; base: the version a local edit\n"
    "was made on, before the hub has accepted it).\n"
    "Each line read on standard input is a patch list (Immer or RFC 6902) applied\n"
    "to the state as a local edit and sent to the hub. At the end of standard\n"
    "input it exits once the hub has accepted everything sent (so with no input\n"
    "it prints the state and exits). Reconnects by itself if the connection\n"
    "drops, and resyncs. SIGINT or SIGTERM stops it.\n"
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
    "was refused or the timeout passed, 2 usage error.\n";

static volatile sig_atomic_t stop_signal;

enum { PARSED_HELP = -1 }; /* parse_args printed the help: exit 0 */

static void on_signal(int sig)
{
    stop_signal = sig;
}

/* ---- the client: WebSocket or MQTT ---- */

typedef struct hublink {
    pw_ws_client *ws;
#ifdef PW_HAVE_MQTT
    pw_mqtt_client *mqtt;
#endif
} hublink;

static void hublink_wake(hublink *h)
{
#ifdef PW_HAVE_MQTT
    if (h->mqtt)
        pw_mqtt_client_wake(h->mqtt);
#endif
    if (h->ws)
        pw_ws_client_wake(h->ws);
}

static void hublink_service(hublink *h, int timeout_ms)
{
#ifdef PW_HAVE_MQTT
    if (h->mqtt)
        pw_mqtt_client_service(h->mqtt, timeout_ms);
#endif
    if (h->ws)
        pw_ws_client_service(h->ws, timeout_ms);
}

/* Closes cleanly (bounded) and frees. */
static void hublink_free(hublink *h)
{
#ifdef PW_HAVE_MQTT
    pw_mqtt_client_free(h->mqtt);
#endif
    if (!h->ws)
        return;
    pw_ws_client_close(h->ws);
    for (int i = 0; i < 50 && pw_ws_client_connected(h->ws); i++)
        pw_ws_client_service(h->ws, 20);
    pw_ws_client_free(h->ws);
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
    pw_replica *replica;
    bool synced;
    bool closing; /* our own close: its log lines are not news */
    int status;
} session;

/* One JSON line per change of the key. */
static void print_change(const pw_change *ch, void *userdata)
{
    session *s = userdata;
    pw_value msg = pw_null(), v = pw_null();
    pw_err rc = pw_object_new(&msg, 5);
    const char *type = ch->origin == PW_ORIGIN_FULLSYNC ? "fullsync" : "patches";
    if (rc == PW_OK && (rc = pw_string_cstr(&v, type)) == PW_OK)
        rc = pw_object_set_str(&msg, "type", 4, v, NULL);
    if (rc == PW_OK && (rc = pw_string_new(&v, ch->key, ch->key_len)) == PW_OK)
        rc = pw_object_set_str(&msg, "key", 3, v, NULL);
    if (rc == PW_OK)
        rc = pw_object_set_str(&msg, ch->origin == PW_ORIGIN_LOCAL ? "base" : "seq",
                               ch->origin == PW_ORIGIN_LOCAL ? 4 : 3,
                               pw_int((int64_t)ch->version), NULL);
    if (rc == PW_OK && ch->origin != PW_ORIGIN_FULLSYNC) {
        if ((rc = pw_string_cstr(&v, ch->origin == PW_ORIGIN_LOCAL ? "local" : "remote")) == PW_OK)
            rc = pw_object_set_str(&msg, "origin", 6, v, NULL);
        if (rc == PW_OK && (rc = pw_patches_to_value(ch->patches, &v)) == PW_OK)
            rc = pw_object_set_str(&msg, "data", 4, v, NULL);
    } else if (rc == PW_OK) {
        rc = pw_object_set_str(&msg, "data", 4, pw_value_retain(*ch->doc), NULL);
    }
    pw_buf out;
    pw_buf_init(&out);
    if (rc == PW_OK)
        rc = pw_codec_json.encode(&msg, &out, NULL);
    if (rc == PW_OK) {
        fwrite(out.data, 1, out.len, stdout);
        fputc('\n', stdout);
        fflush(stdout);
    } else {
        s->status = cli_fail(s->c, "cannot print a change: %s", pw_strerror(rc));
    }
    pw_buf_free(&out);
    pw_value_release(&msg);
    if (ch->origin == PW_ORIGIN_FULLSYNC)
        s->synced = true;
}

static void on_hub_error(const char *key, size_t key_len, const char *message, void *userdata)
{
    session *s = userdata;
    s->status = cli_fail(s->c, "hub refused %.*s: %s", key ? (int)key_len : 0, key ? key : "",
                         message);
}

/* Connection trouble on stderr, each distinct line once in a row (the
 * client retries with backoff: a refused port would repeat forever). */
static void log_line(pw_ws_log_level level, const char *line, void *userdata)
{
    static char last[512];
    session *s = userdata;
    if (level == PW_WS_LOG_DEBUG || s->closing || strstr(line, "connected to") == line ||
        strncmp(last, line, sizeof last - 1) == 0)
        return;
    snprintf(last, sizeof last, "%s", line);
    fprintf(stderr, "patchwire %s: %s\n", s->c->name, line);
}

/* Applies one input line as a local edit of the key. */
static void apply_line(session *s, const line *l)
{
    pw_value list;
    pw_error err;
    if (pw_codec_json.decode((const uint8_t *)l->text, l->len, &s->c->lim, &list, &err) != PW_OK) {
        s->status = cli_fail(s->c, "input: byte %zu: %s", err.offset, err.msg);
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

/* Services until stdin has ended and everything is accepted, a signal or
 * the deadline. */
static void run(session *s, hublink *client, input *in, double timeout)
{
    double deadline = timeout > 0 ? now_seconds() + timeout : 0;
    for (;;) {
        if (stop_signal)
            return;
        if (deadline && now_seconds() >= deadline) {
            s->status = cli_fail(s->c, "timed out");
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

static int parse_args(cli *c, int argc, char **argv, pw_ws_client_options *co, mqtt_cli *mq,
                      session *s, double *timeout)
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
    bool mqtt = strncmp(co->url, "mqtt://", 7) == 0 || strncmp(co->url, "mqtts://", 8) == 0;
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
    log_line(level == PW_MQTT_LOG_ERROR  ? PW_WS_LOG_ERROR
             : level == PW_MQTT_LOG_INFO ? PW_WS_LOG_INFO
                                         : PW_WS_LOG_DEBUG,
             line, userdata);
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
    pw_ws_client_options co;
    pw_ws_client_options_init(&co);
    mqtt_cli mq = {0};
    double timeout = 0;
    int status = parse_args(&c, argc, argv, &co, &mq, &s, &timeout);
    if (status == PARSED_HELP)
        return CLI_OK;
    if (status != CLI_OK)
        return status;
    s.key_len = strlen(s.key);
    co.max_message_bytes = c.lim.max_input_bytes;
    co.log = log_line;
    co.log_userdata = &s;

    pw_error err;
    pw_replica_options ro;
    pw_replica_options_init(&ro);
    hublink link = {0}, *client = &link;
#ifdef PW_HAVE_MQTT
    if (mq.url && !(link.mqtt = mqtt_client(&mq, &s, &ro, &err)))
        return cli_fail(&c, "%s: %s", co.url, err.msg);
#endif
    if (!mq.url) {
        if (!(link.ws = pw_ws_client_new(&co, &err)))
            return cli_fail(&c, "%s: %s", co.url, err.msg);
        ro.send = pw_ws_replica_send;
        ro.send_userdata = link.ws;
    }
    ro.codec = co.codec;
    ro.on_error = on_hub_error;
    ro.on_error_userdata = &s;
    ro.limits = c.lim;
    ro.store.max_history = 0;
    s.replica = pw_replica_new(&ro);
    if (!s.replica || !pw_store_subscribe(pw_replica_store(s.replica), s.key, s.key_len, NULL,
                                          print_change, &s)) {
        pw_replica_free(s.replica);
        hublink_free(client);
        return cli_fail(&c, "out of memory");
    }
    if (link.ws)
        pw_ws_client_bind_replica(link.ws, s.replica);
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
