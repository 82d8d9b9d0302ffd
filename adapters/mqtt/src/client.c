/* client.c - a device's side of MQTT: the topics of some keys, and a replica.
 *
 * The one idea: the client only moves messages between topics and the
 * thread that owns it; every protocol decision is the replica's (stream
 * mode: its own change coming back on `patches` is its ack, a retained
 * `state` is taken only while it waits for one). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "link.h"
#include "patchwire/mqtt.h"

struct pw_mqtt_client {
    pw_mqtt_client_options o;
    char **keys;
    mqlink *link;
    uint64_t connects;
    pw_replica *replica;
};

static const char *const topic_names[] = {
    [PW_MQTT_STATE] = "state",
    [PW_MQTT_PATCHES] = "patches",
    [PW_MQTT_EDIT] = "edit",
    [PW_MQTT_ERROR] = "error",
};

void pw_mqtt_client_options_init(pw_mqtt_client_options *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->link.qos = 1;
}

static void free_keys(pw_mqtt_client *c)
{
    for (size_t i = 0; c->keys && i < c->o.nkeys; i++)
        free(c->keys[i]);
    free(c->keys);
}

pw_mqtt_client *pw_mqtt_client_new(const pw_mqtt_client_options *opts, pw_error *err)
{
    if (!opts)
        return pw_error_set(err, PW_EINVAL, "no options"), NULL;
    if (opts->nkeys > 20)
        return pw_error_set(err, PW_EINVAL, "%zu keys: follow at most 20, or every key (none)",
                            opts->nkeys),
               NULL;
    char probe[1024];
    for (size_t i = 0; i < opts->nkeys; i++)
        if (!mq_topic(probe, sizeof probe, "", opts->keys[i], strlen(opts->keys[i]), "state"))
            return pw_error_set(err, PW_EINVAL,
                                "key \"%s\" cannot be a topic level (empty, or holds '/', '+' "
                                "or '#')",
                                opts->keys[i]),
                   NULL;
    pw_mqtt_client *c = calloc(1, sizeof *c);
    if (!c)
        return pw_error_set(err, PW_ENOMEM, "out of memory"), NULL;
    c->o = *opts;
    if (opts->nkeys && !(c->keys = calloc(opts->nkeys, sizeof *c->keys))) {
        free(c);
        return pw_error_set(err, PW_ENOMEM, "out of memory"), NULL;
    }
    for (size_t i = 0; i < opts->nkeys; i++)
        if (!(c->keys[i] = strdup(opts->keys[i]))) {
            free_keys(c);
            free(c);
            return pw_error_set(err, PW_ENOMEM, "out of memory"), NULL;
        }
    c->o.keys = (const char *const *)c->keys;
    c->link = mqlink_new(&opts->link, NULL, err);
    if (!c->link) {
        free_keys(c);
        free(c);
        return NULL;
    }
    mqlink_tick(c->link);
    return c;
}

static void subscribe(pw_mqtt_client *c)
{
    const char *prefix = mqlink_options(c->link)->prefix;
    static const pw_mqtt_topic follow[] = {PW_MQTT_STATE, PW_MQTT_PATCHES, PW_MQTT_ERROR};
    size_t nkeys = c->o.nkeys ? c->o.nkeys : 1, n = 0;
    char buf[60][1024];
    char *topics[60];
    for (size_t i = 0; i < nkeys; i++)
        for (size_t t = 0; t < 3; t++) {
            if (c->o.nkeys)
                mq_topic(buf[n], sizeof buf[n], prefix, c->keys[i], strlen(c->keys[i]),
                         topic_names[follow[t]]);
            else
                snprintf(buf[n], sizeof buf[n], "%s+/%s", prefix, topic_names[follow[t]]);
            topics[n] = buf[n];
            n++;
        }
    mqlink_subscribe(c->link, topics, n);
}

static void on_message(pw_mqtt_client *c, const mq_event *e)
{
    const char *key, *what;
    size_t klen;
    if (!mq_topic_split(e->topic, mqlink_options(c->link)->prefix, &key, &klen, &what))
        return;
    pw_mqtt_topic t;
    for (t = PW_MQTT_STATE; t <= PW_MQTT_ERROR; t++)
        if (strcmp(what, topic_names[t]) == 0)
            break;
    if (t > PW_MQTT_ERROR || t == PW_MQTT_EDIT || e->bytes == 0)
        return; /* an empty retained message deletes a state: nothing to apply */
    if (c->replica) {
        pw_error err;
        pw_err rc = t == PW_MQTT_STATE
                        ? pw_replica_receive_snapshot(c->replica, e->payload, e->bytes, &err)
                        : pw_replica_receive(c->replica, e->payload, e->bytes, &err);
        if (rc)
            mq_log(mqlink_options(c->link), PW_MQTT_LOG_INFO, "%s: %s", e->topic, err.msg);
    }
    if (c->o.cb.on_message)
        c->o.cb.on_message(t, key, klen, e->payload, e->bytes, c->o.userdata);
}

pw_err pw_mqtt_client_service(pw_mqtt_client *c, int timeout_ms)
{
    int next = mqlink_tick(c->link);
    mqlink_wait(c->link, next >= 0 && next < timeout_ms ? next : timeout_ms);
    const pw_mqtt_link_options *o = mqlink_options(c->link);
    for (mq_event *e = mqlink_take(c->link), *n; e; e = n) {
        n = e->next;
        switch (e->type) {
        case MQ_CONNECTED:
            mqlink_connected(c->link);
            c->connects++;
            mq_log(o, PW_MQTT_LOG_INFO, "broker %s: connected%s as %s", o->url,
                   c->connects > 1 ? " again" : "", mqlink_client_id(c->link));
            subscribe(c);
            if (c->replica)
                pw_replica_reconnect(c->replica);
            if (c->o.cb.on_open)
                c->o.cb.on_open(c->o.userdata);
            break;
        case MQ_FAILED:
        case MQ_LOST: {
            bool was = mqlink_is_connected(c->link);
            mqlink_disconnected(c->link);
            mq_log(o, was ? PW_MQTT_LOG_INFO : PW_MQTT_LOG_ERROR, "broker %s: %s%s; reconnecting",
                   o->url, was ? "disconnected: " : "cannot connect: ", e->text);
            if (was && c->o.cb.on_close)
                c->o.cb.on_close(e->text, c->o.userdata);
            break;
        }
        case MQ_MESSAGE:
            on_message(c, e);
            break;
        case MQ_DONE:
            break;
        }
        mqlink_event_free(e);
    }
    mqlink_tick(c->link);
    return PW_OK;
}

pw_err pw_mqtt_client_publish(pw_mqtt_client *c, pw_mqtt_topic topic, const char *key,
                              size_t key_len, const uint8_t *p, size_t n)
{
    char t[1024];
    if ((unsigned)topic > PW_MQTT_ERROR ||
        !mq_topic(t, sizeof t, mqlink_options(c->link)->prefix, key, key_len, topic_names[topic]))
        return PW_EINVAL;
    return mqlink_publish(c->link, t, p, n, false, false, 0, 0);
}

static pw_err replica_send(const char *key, size_t key_len, const uint8_t *p, size_t n,
                           bool binary, void *userdata)
{
    (void)binary;
    return pw_mqtt_client_publish(userdata, PW_MQTT_EDIT, key, key_len, p, n);
}

void pw_mqtt_replica_options(pw_mqtt_client *c, pw_replica_options *opts)
{
    opts->send = NULL;
    opts->send_keyed = replica_send;
    opts->send_userdata = c;
    opts->origin = mqlink_client_id(c->link);
}

void pw_mqtt_client_bind_replica(pw_mqtt_client *c, pw_replica *r)
{
    c->replica = r;
}

int pw_mqtt_client_fd(const pw_mqtt_client *c)
{
    return mqlink_fd(c->link);
}

void pw_mqtt_client_wake(pw_mqtt_client *c)
{
    mqlink_wake(c->link);
}

bool pw_mqtt_client_connected(const pw_mqtt_client *c)
{
    return mqlink_is_connected(c->link);
}

uint64_t pw_mqtt_client_connects(const pw_mqtt_client *c)
{
    return c->connects;
}

const char *pw_mqtt_client_id(const pw_mqtt_client *c)
{
    return mqlink_client_id(c->link);
}

void pw_mqtt_client_free(pw_mqtt_client *c)
{
    if (!c)
        return;
    mqlink_free(c->link);
    free_keys(c);
    free(c);
}
