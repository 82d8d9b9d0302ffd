/* link.c - one paho asynchronous connection to a broker (see link.h).
 *
 * The one idea: paho's threads never touch anything but the inbox. A
 * tracked publish is an event allocated up front and kept on a list of
 * outstanding ones; its completion moves it to the inbox, so nothing is
 * allocated on paho's threads but received messages, and whatever paho
 * never completes is freed with the link. */
#include "link.h"

#include <MQTTAsync.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct mqlink {
    pw_mqtt_link_options o; /* strings below are the link's copies */
    char *url, *client_id, *prefix, *username, *password, *ca, *cert, *key;
    MQTTAsync client;
    MQTTAsync_SSLOptions ssl;
    int port; /* the broker's */
    int efd;
    pthread_mutex_t mu;
    mq_event *head, *tail; /* the inbox */
    size_t inbox_bytes;
    mq_event outstanding; /* sentinel of the tracked publishes in flight */
    _Atomic uint64_t inbox_dropped;
    /* the owner's */
    bool connected, attempting;
    int backoff_ms;
    int64_t next_at_ms;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void mq_log(const pw_mqtt_link_options *o, pw_mqtt_log_level level, const char *fmt, ...)
{
    if (!o->log)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    o->log(level, line, o->log_userdata);
}

/* ---- the inbox (any thread) ---- */

static void push(mqlink *l, mq_event *e)
{
    e->next = NULL;
    if (l->tail)
        l->tail->next = e;
    else
        l->head = e;
    l->tail = e;
}

static void notify(mqlink *l)
{
    uint64_t one = 1;
    ssize_t w = write(l->efd, &one, sizeof one);
    (void)w; /* EAGAIN: the counter is already non-zero, the owner wakes anyway */
    if (l->o.wake)
        l->o.wake(l->o.wake_userdata);
}

static void post(mqlink *l, mq_event_type type, const char *text)
{
    mq_event *e = calloc(1, sizeof *e);
    if (!e)
        return; /* out of memory: a lost connection shows again on the next publish */
    e->type = type;
    snprintf(e->text, sizeof e->text, "%s", text ? text : "");
    pthread_mutex_lock(&l->mu);
    push(l, e);
    pthread_mutex_unlock(&l->mu);
    notify(l);
}

mq_event *mqlink_take(mqlink *l)
{
    uint64_t n;
    ssize_t r = read(l->efd, &n, sizeof n);
    (void)r;
    pthread_mutex_lock(&l->mu);
    mq_event *all = l->head;
    l->head = l->tail = NULL;
    l->inbox_bytes = 0;
    pthread_mutex_unlock(&l->mu);
    return all;
}

void mqlink_event_free(mq_event *e)
{
    if (!e)
        return;
    free(e->topic);
    free(e->payload);
    free(e);
}

/* ---- paho's callbacks (paho's threads) ---- */

static void on_connect(void *ctx, MQTTAsync_successData *r)
{
    (void)r;
    post(ctx, MQ_CONNECTED, NULL);
}

static void on_connect_failure(void *ctx, MQTTAsync_failureData *r)
{
    char why[128];
    const char *text = r && r->message ? r->message : MQTTAsync_strerror(r ? r->code : -1);
    snprintf(why, sizeof why, "%s (%d)", text ? text : "connect failed", r ? r->code : 0);
    post(ctx, MQ_FAILED, why);
}

static void on_lost(void *ctx, char *cause)
{
    post(ctx, MQ_LOST, cause ? cause : "connection lost");
    if (cause)
        MQTTAsync_free(cause);
}

static int on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *m)
{
    mqlink *l = ctx;
    size_t tl = topic_len > 0 ? (size_t)topic_len : strlen(topic);
    size_t n = m->payloadlen > 0 ? (size_t)m->payloadlen : 0;
    mq_event *e = calloc(1, sizeof *e);
    char *t = malloc(tl + 1);
    uint8_t *p = malloc(n ? n : 1);
    bool kept = false;
    if (e && t && p) {
        memcpy(t, topic, tl);
        t[tl] = '\0';
        if (n)
            memcpy(p, m->payload, n);
        *e = (mq_event){.type = MQ_MESSAGE, .topic = t, .payload = p, .bytes = n};
        pthread_mutex_lock(&l->mu);
        if (l->inbox_bytes + n + tl <= l->o.max_inbox_bytes) {
            l->inbox_bytes += n + tl;
            push(l, e);
            kept = true;
        }
        pthread_mutex_unlock(&l->mu);
    }
    if (kept) {
        notify(l);
    } else {
        atomic_fetch_add(&l->inbox_dropped, 1);
        free(e);
        free(t);
        free(p);
    }
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

/* A tracked publish completed: its event moves to the inbox. */
static void finish(mq_event *e, bool ok)
{
    mqlink *l = e->link;
    e->ok = ok;
    pthread_mutex_lock(&l->mu);
    e->prev->next = e->next;
    e->next->prev = e->prev;
    push(l, e);
    pthread_mutex_unlock(&l->mu);
    notify(l);
}

static void on_publish(void *ctx, MQTTAsync_successData *r)
{
    (void)r;
    finish(ctx, true);
}

static void on_publish_failure(void *ctx, MQTTAsync_failureData *r)
{
    (void)r;
    finish(ctx, false);
}

/* ---- set-up ---- */

static char *dup_or_null(const char *s, bool *ok)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *ok = false;
    return d;
}

/* mqtt://HOST[:PORT] -> tcp://HOST:PORT, mqtts:// -> ssl://; *port set. */
static bool paho_uri(const char *url, char *out, size_t cap, bool *tls, int *port_out,
                     pw_error *err)
{
    const char *rest;
    if (strncmp(url, "mqtt://", 7) == 0)
        rest = url + 7, *tls = false;
    else if (strncmp(url, "mqtts://", 8) == 0)
        rest = url + 8, *tls = true;
    else {
        pw_error_set(err, PW_EINVAL, "%s: not an mqtt:// or mqtts:// URL", url);
        return false;
    }
    size_t hl = strcspn(rest, "/?#");
    if (hl == 0 || (rest[hl] != '\0' && strcmp(rest + hl, "/") != 0)) {
        pw_error_set(err, PW_EINVAL, "%s: expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT]", url);
        return false;
    }
    const char *colon = memchr(rest, ':', hl);
    if (rest[0] == '[') /* [v6]:port */
        colon = memchr(rest, ']', hl) ? strchr(memchr(rest, ']', hl), ':') : NULL;
    if (colon && colon < rest + hl) {
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (end != rest + hl || port <= 0 || port > 65535) {
            pw_error_set(err, PW_EINVAL, "%s: bad port", url);
            return false;
        }
        snprintf(out, cap, "%s://%.*s", *tls ? "ssl" : "tcp", (int)hl, rest);
        *port_out = (int)port;
    } else {
        *port_out = *tls ? 8883 : 1883;
        snprintf(out, cap, "%s://%.*s:%d", *tls ? "ssl" : "tcp", (int)hl, rest, *port_out);
    }
    return true;
}

static bool readable(const char *path, const char *what, pw_error *err)
{
    if (!path)
        return true;
    FILE *f = fopen(path, "r");
    if (!f) {
        pw_error_set(err, PW_EIO, "%s %s: %s", what, path, strerror(errno));
        return false;
    }
    fclose(f);
    return true;
}

mqlink *mqlink_new(const pw_mqtt_link_options *o, const char *default_client_id, pw_error *err)
{
    if (!o->url)
        return pw_error_set(err, PW_EINVAL, "no broker URL"), NULL;
    if (o->qos < 0 || o->qos > 2)
        return pw_error_set(err, PW_EINVAL, "QoS %d: must be 0, 1 or 2", o->qos), NULL;
    if (!o->tls_cert != !o->tls_key)
        return pw_error_set(err, PW_EINVAL, "a client certificate needs its key, and a key its "
                                            "certificate"),
               NULL;
    if (!o->username && o->password)
        return pw_error_set(err, PW_EINVAL, "a password needs a user name"), NULL;
    char uri[512];
    bool tls;
    int port;
    if (!paho_uri(o->url, uri, sizeof uri, &tls, &port, err))
        return NULL;
    if (!tls && (o->tls_ca || o->tls_cert))
        return pw_error_set(err, PW_EINVAL, "%s: TLS files given for a plain mqtt:// URL "
                                            "(use mqtts://)",
                            o->url),
               NULL;
    if (!readable(o->tls_ca, "CA file", err) || !readable(o->tls_cert, "certificate", err) ||
        !readable(o->tls_key, "key", err))
        return NULL;
    const char *prefix = o->prefix ? o->prefix : "patchwire/";
    if (strpbrk(prefix, "+#"))
        return pw_error_set(err, PW_EINVAL, "topic prefix \"%s\": no '+' or '#' allowed", prefix),
               NULL;

    mqlink *l = calloc(1, sizeof *l);
    if (!l)
        return pw_error_set(err, PW_ENOMEM, "out of memory"), NULL;
    l->o = *o;
    l->efd = -1;
    l->port = port;
    bool ok = true;
    char gen[32];
    if (!o->client_id && !default_client_id) {
        uint8_t r[6] = {0};
        if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
            uint64_t t = (uint64_t)now_ms() ^ (uint64_t)getpid() << 20;
            memcpy(r, &t, sizeof r);
        }
        snprintf(gen, sizeof gen, "pw-%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4],
                 r[5]);
    }
    l->url = dup_or_null(o->url, &ok);
    l->client_id = dup_or_null(o->client_id ? o->client_id : default_client_id ? default_client_id
                                                                                : gen,
                               &ok);
    l->prefix = dup_or_null(prefix, &ok);
    l->username = dup_or_null(o->username, &ok);
    l->password = dup_or_null(o->password, &ok);
    l->ca = dup_or_null(o->tls_ca, &ok);
    l->cert = dup_or_null(o->tls_cert, &ok);
    l->key = dup_or_null(o->tls_key, &ok);
    l->o.url = l->url, l->o.client_id = l->client_id, l->o.prefix = l->prefix;
    l->o.username = l->username, l->o.password = l->password;
    l->o.tls_ca = l->ca, l->o.tls_cert = l->cert, l->o.tls_key = l->key;
    if (l->o.keepalive_s <= 0)
        l->o.keepalive_s = 30;
    if (l->o.backoff_min_ms <= 0)
        l->o.backoff_min_ms = 100;
    if (l->o.backoff_max_ms < l->o.backoff_min_ms)
        l->o.backoff_max_ms = l->o.backoff_min_ms > 10000 ? l->o.backoff_min_ms : 10000;
    if (!l->o.max_inbox_bytes)
        l->o.max_inbox_bytes = (size_t)64 << 20;
    l->backoff_ms = l->o.backoff_min_ms;
    l->outstanding.next = l->outstanding.prev = &l->outstanding;
    pthread_mutex_init(&l->mu, NULL);
    if (!ok) {
        mqlink_free(l);
        return pw_error_set(err, PW_ENOMEM, "out of memory"), NULL;
    }
    l->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->efd < 0) {
        pw_error_set(err, PW_EIO, "eventfd: %s", strerror(errno));
        mqlink_free(l);
        return NULL;
    }
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
    co.sendWhileDisconnected = 0; /* nothing waits for a broker that is away */
    int rc = MQTTAsync_createWithOptions(&l->client, uri, l->client_id, MQTTCLIENT_PERSISTENCE_NONE,
                                         NULL, &co);
    if (rc != MQTTASYNC_SUCCESS) {
        pw_error_set(err, PW_EINVAL, "%s: %s", o->url, MQTTAsync_strerror(rc));
        l->client = NULL;
        mqlink_free(l);
        return NULL;
    }
    MQTTAsync_setCallbacks(l->client, l, on_lost, on_message, NULL);
    if (tls) {
        MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
        ssl.trustStore = l->ca;
        ssl.keyStore = l->cert;
        ssl.privateKey = l->key;
        ssl.enableServerCertAuth = !o->tls_insecure;
        ssl.verify = !o->tls_insecure;
        l->ssl = ssl;
    }
    return l;
}

void mqlink_free(mqlink *l)
{
    if (!l)
        return;
    if (l->client) {
        if (MQTTAsync_isConnected(l->client)) {
            MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
            d.timeout = 200;
            if (MQTTAsync_disconnect(l->client, &d) == MQTTASYNC_SUCCESS)
                for (int i = 0; i < 50 && MQTTAsync_isConnected(l->client); i++)
                    usleep(10000);
        }
        MQTTAsync_destroy(&l->client);
    }
    for (mq_event *e = mqlink_take(l), *next; e; e = next) {
        next = e->next;
        mqlink_event_free(e);
    }
    while (l->outstanding.next != &l->outstanding) {
        mq_event *e = l->outstanding.next;
        e->prev->next = e->next;
        e->next->prev = e->prev;
        mqlink_event_free(e);
    }
    if (l->efd >= 0)
        close(l->efd);
    pthread_mutex_destroy(&l->mu);
    free(l->url);
    free(l->client_id);
    free(l->prefix);
    free(l->username);
    free(l->password);
    free(l->ca);
    free(l->cert);
    free(l->key);
    free(l);
}

/* ---- the owner's side ---- */

static void start_connect(mqlink *l)
{
    MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
    co.keepAliveInterval = l->o.keepalive_s;
    co.cleansession = 1;
    co.connectTimeout = 10;
    co.automaticReconnect = 0; /* ours, with jitter */
    co.onSuccess = on_connect;
    co.onFailure = on_connect_failure;
    co.context = l;
    co.username = l->username;
    co.password = l->password;
    if (l->ssl.struct_id[0])
        co.ssl = &l->ssl;
    int rc = MQTTAsync_connect(l->client, &co);
    if (rc == MQTTASYNC_SUCCESS) {
        l->attempting = true;
        return;
    }
    mq_log(&l->o, PW_MQTT_LOG_ERROR, "broker %s: %s", l->url, MQTTAsync_strerror(rc));
    mqlink_disconnected(l);
}

int mqlink_tick(mqlink *l)
{
    if (l->connected || l->attempting)
        return -1;
    int64_t now = now_ms();
    if (now >= l->next_at_ms) {
        start_connect(l);
        return l->attempting ? -1 : (int)(l->next_at_ms - now);
    }
    return (int)(l->next_at_ms - now);
}

int mqlink_next(const mqlink *l)
{
    if (l->connected || l->attempting)
        return -1;
    int64_t d = l->next_at_ms - now_ms();
    return d < 0 ? 0 : (int)d;
}

/* ms +- 25%. */
static int jittered(int ms)
{
    uint32_t r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
        r = (uint32_t)now_ms() * 2654435761u;
    int spread = ms / 2;
    return ms - ms / 4 + (spread > 0 ? (int)(r % (uint32_t)(spread + 1)) : 0);
}

/* paho writes a PUBACK and then the next PUBLISH as two small segments;
 * with Nagle's algorithm the second waits for the broker's delayed ACK of
 * the first (40 ms on Linux), so every QoS 1 hop took 40 ms to 1 s. paho
 * has no option for TCP_NODELAY and does not expose its socket: set it on
 * this process's TCP sockets whose peer is the broker's port (all of them
 * MQTT connections to that broker). */
static void nodelay(int port)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));) {
        int fd = atoi(e->d_name);
        struct sockaddr_storage peer;
        socklen_t len = sizeof peer;
        int type = 0;
        socklen_t tl = sizeof type;
        if (fd <= 2 || fd == dirfd(d) || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 ||
            type != SOCK_STREAM || getpeername(fd, (struct sockaddr *)&peer, &len) != 0)
            continue;
        int pport = peer.ss_family == AF_INET    ? ntohs(((struct sockaddr_in *)&peer)->sin_port)
                    : peer.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&peer)->sin6_port)
                                                 : -1;
        int one = 1;
        if (pport == port)
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    closedir(d);
}

void mqlink_connected(mqlink *l)
{
    nodelay(l->port);
    l->connected = true;
    l->attempting = false;
    l->backoff_ms = l->o.backoff_min_ms;
}

void mqlink_disconnected(mqlink *l)
{
    l->connected = false;
    l->attempting = false;
    l->next_at_ms = now_ms() + jittered(l->backoff_ms);
    l->backoff_ms = l->backoff_ms > l->o.backoff_max_ms / 2 ? l->o.backoff_max_ms : l->backoff_ms * 2;
}

void mqlink_wait(mqlink *l, int timeout_ms)
{
    if (timeout_ms <= 0)
        return;
    struct pollfd p = {.fd = l->efd, .events = POLLIN};
    poll(&p, 1, timeout_ms);
}

int mqlink_fd(const mqlink *l)
{
    return l->efd;
}

void mqlink_wake(mqlink *l)
{
    uint64_t one = 1;
    ssize_t w = write(l->efd, &one, sizeof one);
    (void)w;
}

bool mqlink_is_connected(const mqlink *l)
{
    return l->connected;
}

const pw_mqtt_link_options *mqlink_options(const mqlink *l)
{
    return &l->o;
}

const char *mqlink_client_id(const mqlink *l)
{
    return l->client_id;
}

uint64_t mqlink_inbox_dropped(const mqlink *l)
{
    return atomic_load(&((mqlink *)l)->inbox_dropped);
}

pw_err mqlink_publish(mqlink *l, const char *topic, const uint8_t *p, size_t n, bool retained,
                      bool track, uint64_t tag, size_t bytes)
{
    if (n > INT32_MAX)
        return PW_ELIMIT;
    MQTTAsync_message m = MQTTAsync_message_initializer;
    m.payload = (void *)p;
    m.payloadlen = (int)n;
    m.qos = l->o.qos;
    m.retained = retained;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    mq_event *e = NULL;
    if (track) {
        if (!(e = calloc(1, sizeof *e)))
            return PW_ENOMEM;
        e->type = MQ_DONE;
        e->tag = tag;
        e->bytes = bytes;
        e->link = l;
        ro.onSuccess = on_publish;
        ro.onFailure = on_publish_failure;
        ro.context = e;
        pthread_mutex_lock(&l->mu);
        e->next = l->outstanding.next;
        e->prev = &l->outstanding;
        l->outstanding.next->prev = e;
        l->outstanding.next = e;
        pthread_mutex_unlock(&l->mu);
    }
    int rc = MQTTAsync_sendMessage(l->client, topic, &m, &ro);
    if (rc == MQTTASYNC_SUCCESS)
        return PW_OK;
    if (e) {
        pthread_mutex_lock(&l->mu);
        e->prev->next = e->next;
        e->next->prev = e->prev;
        pthread_mutex_unlock(&l->mu);
        free(e);
    }
    return PW_EIO;
}

pw_err mqlink_subscribe(mqlink *l, char *const *topics, size_t n)
{
    int qos[64];
    if (n == 0 || n > 64)
        return PW_EINVAL;
    for (size_t i = 0; i < n; i++)
        qos[i] = l->o.qos;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    int rc = MQTTAsync_subscribeMany(l->client, (int)n, topics, qos, &ro);
    if (rc != MQTTASYNC_SUCCESS) {
        mq_log(&l->o, PW_MQTT_LOG_ERROR, "subscribe: %s", MQTTAsync_strerror(rc));
        return PW_EIO;
    }
    return PW_OK;
}

/* ---- topics ---- */

bool mq_topic(char *buf, size_t cap, const char *prefix, const char *key, size_t key_len,
              const char *what)
{
    if (key_len == 0)
        return false;
    for (size_t i = 0; i < key_len; i++)
        if (key[i] == '/' || key[i] == '+' || key[i] == '#' || key[i] == '\0')
            return false;
    int n = snprintf(buf, cap, "%s%.*s/%s", prefix, (int)key_len, key, what);
    return n > 0 && (size_t)n < cap;
}

bool mq_topic_split(const char *topic, const char *prefix, const char **key, size_t *key_len,
                    const char **what)
{
    size_t pl = strlen(prefix);
    if (strncmp(topic, prefix, pl) != 0)
        return false;
    const char *k = topic + pl, *slash = strchr(k, '/');
    if (!slash || slash == k || strchr(slash + 1, '/'))
        return false;
    *key = k;
    *key_len = (size_t)(slash - k);
    *what = slash + 1;
    return true;
}
