/* link.h - one paho asynchronous connection to a broker, owned by one thread.
 *
 * paho calls back on its own threads; every callback only appends an event
 * to the link's inbox (under a mutex) and wakes the owner, which takes the
 * events with mqlink_take on its thread. Reconnecting is the owner's:
 * mqlink_tick connects when the jittered backoff delay is over. */
#ifndef PW_MQTT_LINK_H
#define PW_MQTT_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "patchwire/error.h"
#include "patchwire/mqtt.h"

typedef enum mq_event_type {
    MQ_CONNECTED,
    MQ_FAILED, /* a connect attempt failed (text: why) */
    MQ_LOST,   /* the connection was lost (text: why) */
    MQ_MESSAGE,
    MQ_DONE, /* a publish completed (ok) or failed */
} mq_event_type;

typedef struct mq_event {
    struct mq_event *next, *prev;
    mq_event_type type;
    bool ok;
    uint64_t tag; /* MQ_DONE: what the publisher said */
    size_t bytes; /* MQ_DONE: what the publisher said; MQ_MESSAGE: len */
    char *topic;  /* MQ_MESSAGE */
    uint8_t *payload;
    char text[160]; /* MQ_FAILED, MQ_LOST */
    struct mqlink *link; /* MQ_DONE in flight: the link it completes on */
} mq_event;

typedef struct mqlink mqlink;

/* Checks the options and creates the paho client; the first connect is
 * made by the first mqlink_tick. NULL with the reason in err. */
mqlink *mqlink_new(const pw_mqtt_link_options *o, const char *default_client_id, pw_error *err);
void mqlink_free(mqlink *l);

/* Connects when due; returns milliseconds until it next needs a tick
 * (-1: nothing scheduled). */
int mqlink_tick(mqlink *l);
/* The same without connecting. */
int mqlink_next(const mqlink *l);
/* Waits up to timeout_ms for an event (or a wakeup). */
void mqlink_wait(mqlink *l, int timeout_ms);
int mqlink_fd(const mqlink *l);
void mqlink_wake(mqlink *l);
/* Every event waiting, oldest first (free each with mqlink_event_free). */
mq_event *mqlink_take(mqlink *l);
void mqlink_event_free(mq_event *e);
/* Bookkeeping of the owner on MQ_CONNECTED / MQ_FAILED / MQ_LOST: the
 * backoff restarts or grows and the next attempt is scheduled. */
void mqlink_connected(mqlink *l);
void mqlink_disconnected(mqlink *l);

bool mqlink_is_connected(const mqlink *l);
const pw_mqtt_link_options *mqlink_options(const mqlink *l);
const char *mqlink_client_id(const mqlink *l);
uint64_t mqlink_inbox_dropped(const mqlink *l);

/* Publishes (payload copied by paho). With track, an MQ_DONE with tag and
 * bytes follows once it completes or fails. PW_EIO when not connected or
 * paho refuses it (no MQ_DONE then). */
pw_err mqlink_publish(mqlink *l, const char *topic, const uint8_t *p, size_t n, bool retained,
                      bool track, uint64_t tag, size_t bytes);
pw_err mqlink_subscribe(mqlink *l, char *const *topics, size_t n);

/* "PREFIX KEY/what" into buf; false when the key cannot be a topic level
 * (empty, or holds '/', '+', '#' or NUL) or buf is too small. */
bool mq_topic(char *buf, size_t cap, const char *prefix, const char *key, size_t key_len,
              const char *what);
/* Splits "PREFIX KEY/what": the key and what, or false. */
bool mq_topic_split(const char *topic, const char *prefix, const char **key, size_t *key_len,
                    const char **what);

void mq_log(const pw_mqtt_link_options *o, pw_mqtt_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
