/* mqtt.h - the MQTT transport (paho-mqtt-c): a hub's side and a device's
 * replica, through an ordinary broker.
 *
 * Topics (proto/SPEC.md, section "MQTT"), under a prefix P (default
 * "patchwire/"):
 *   P KEY/state    the key's FullSync with seq, retained: a late subscriber
 *                  gets it at once (republished at a bounded rate)
 *   P KEY/patches  every change the hub accepts, in order, with seq (a
 *                  FullSync when the state is replaced); never retained
 *   P KEY/edit     devices publish their patches, fullsync and resync here
 *   P KEY/error    the hub's answer to a refused edit, naming its id
 *
 * Server (the hub's side): one client connection to the broker that joins
 * the hub twice: as a reader whose frames are published on `state` and
 * `patches`, and as an ingress (pw_hub_ingress_join) fed by `edit`. It
 * reconnects with capped exponential backoff and jitter, and after every
 * (re)connect subscribes again and republishes every state. What waits for
 * the broker is bounded by the hub's max_queue_bytes: past it the hub drops
 * changes for a republish of the states once the broker catches up.
 *
 * Client (a device's side): subscribes to the topics of its keys and binds
 * a replica in stream mode (pw_replica_options.origin = its client id).
 *
 * Threading: paho calls back on its own threads; everything is handed to
 * the thread that calls _service, which owns the server (and its hub) or
 * the client. pw_mqtt_client_publish and the _wake calls may be made from
 * any thread. _fd gives a descriptor that is readable while something
 * waits for _service, for programs that poll several transports.
 */
#ifndef PATCHWIRE_MQTT_H
#define PATCHWIRE_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "patchwire/codec.h"
#include "patchwire/error.h"
#include "patchwire/hub.h"
#include "patchwire/replica.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pw_mqtt_log_level {
    PW_MQTT_LOG_ERROR = 0,
    PW_MQTT_LOG_INFO, /* broker connect, disconnect, reconnect; refused edits */
    PW_MQTT_LOG_DEBUG,
} pw_mqtt_log_level;

typedef void (*pw_mqtt_log_cb)(pw_mqtt_log_level level, const char *line, void *userdata);

/* How to reach the broker, for both sides. */
typedef struct pw_mqtt_link_options {
    const char *url;       /* mqtt://HOST[:PORT] (1883) or mqtts://HOST[:PORT] (8883) */
    const char *client_id; /* NULL: "patchwire-hub" (server), "pw-" + random (client) */
    const char *prefix;    /* topic prefix; default "patchwire/" */
    int qos;               /* 0, 1 or 2; default 1 */
    const char *username;  /* NULL: none */
    const char *password;
    const char *tls_ca;   /* PEM file of CAs that may sign the broker; NULL: the system's */
    const char *tls_cert; /* client certificate and key (PEM), both or neither */
    const char *tls_key;
    bool tls_insecure;  /* accept any broker certificate (tests) */
    int keepalive_s;    /* default 30 */
    int backoff_min_ms; /* first retry delay; default 100 */
    int backoff_max_ms; /* cap of the doubling delay; default 10,000; jitter +-25% */
    /* Messages from the broker waiting for _service, in bytes; past it they
     * are dropped and counted. Default 64 MiB. */
    size_t max_inbox_bytes;
    /* Called (on a paho thread) when something waits for _service, to wake
     * a loop that polls another transport; NULL: none. */
    void (*wake)(void *userdata);
    void *wake_userdata;
    pw_mqtt_log_cb log;
    void *log_userdata;
} pw_mqtt_link_options;

/* ---- server (the hub's side) ---- */

typedef struct pw_mqtt_server pw_mqtt_server;

typedef struct pw_mqtt_server_options {
    pw_mqtt_link_options link;
    const pw_codec *codec; /* what the hub publishes; default JSON */
    /* Shortest time between two republications of a changing key's
     * retained state; default 1,000 ms. */
    int state_interval_ms;
    /* The identity both of the hub's peers present to its access hook
     * (MQTT does not say who published an edit: the broker's ACL does).
     * NULL: "". */
    const char *identity;
} pw_mqtt_server_options;

void pw_mqtt_server_options_init(pw_mqtt_server_options *opts);

/* Starts connecting to the broker (the first attempt is made here; the
 * hub is joined once connected). NULL on a bad URL, unreadable TLS files
 * or out of memory, with the reason in err. The hub must outlive it. */
pw_mqtt_server *pw_mqtt_server_new(pw_hub *hub, const pw_mqtt_server_options *opts, pw_error *err);
/* Hands what paho received to the hub, republishes due states and
 * reconnects when due, waiting up to timeout_ms for something to do. */
pw_err pw_mqtt_server_service(pw_mqtt_server *s, int timeout_ms);
/* Milliseconds until the server next needs _service without being woken
 * (a reconnect or a state republication due); -1: none. */
int pw_mqtt_server_next_ms(const pw_mqtt_server *s);
int pw_mqtt_server_fd(const pw_mqtt_server *s);
void pw_mqtt_server_wake(pw_mqtt_server *s);
bool pw_mqtt_server_connected(const pw_mqtt_server *s);

typedef struct pw_mqtt_server_stats {
    uint64_t connects;       /* connections to the broker made */
    uint64_t edits;          /* messages received on `edit` topics */
    uint64_t published;      /* messages published */
    uint64_t states;         /* of them, retained states */
    uint64_t dropped;        /* not published (broker away, or an unusable key) */
    uint64_t inbox_dropped;  /* received but over max_inbox_bytes */
    uint64_t reserved[4];
} pw_mqtt_server_stats;

void pw_mqtt_server_stats_get(const pw_mqtt_server *s, pw_mqtt_server_stats *out);
/* Disconnects (the hub's peers leave) and frees. */
void pw_mqtt_server_free(pw_mqtt_server *s);

/* ---- client (a device's side) ---- */

typedef struct pw_mqtt_client pw_mqtt_client;

typedef enum pw_mqtt_topic {
    PW_MQTT_STATE = 0,
    PW_MQTT_PATCHES,
    PW_MQTT_EDIT,
    PW_MQTT_ERROR,
} pw_mqtt_topic;

typedef struct pw_mqtt_client_callbacks {
    void (*on_open)(void *userdata); /* connected (again) and subscribed */
    void (*on_message)(pw_mqtt_topic topic, const char *key, size_t key_len, const uint8_t *p,
                       size_t n, void *userdata);
    void (*on_close)(const char *reason, void *userdata); /* lost; a reconnect follows */
} pw_mqtt_client_callbacks;

typedef struct pw_mqtt_client_options {
    pw_mqtt_link_options link;
    /* The keys to follow; none: every key under the prefix. */
    const char *const *keys;
    size_t nkeys;
    pw_mqtt_client_callbacks cb;
    void *userdata;
} pw_mqtt_client_options;

void pw_mqtt_client_options_init(pw_mqtt_client_options *opts);

/* Starts connecting. NULL on a bad URL or options, with the reason in err. */
pw_mqtt_client *pw_mqtt_client_new(const pw_mqtt_client_options *opts, pw_error *err);
pw_err pw_mqtt_client_service(pw_mqtt_client *c, int timeout_ms);
int pw_mqtt_client_fd(const pw_mqtt_client *c);
void pw_mqtt_client_wake(pw_mqtt_client *c);
bool pw_mqtt_client_connected(const pw_mqtt_client *c);
uint64_t pw_mqtt_client_connects(const pw_mqtt_client *c);
/* The client id used (generated when none was given). */
const char *pw_mqtt_client_id(const pw_mqtt_client *c);
/* Publishes n bytes (copied) on PREFIX KEY/topic with the link's QoS. Any
 * thread. PW_EIO when not connected (nothing is kept: a replica resyncs). */
pw_err pw_mqtt_client_publish(pw_mqtt_client *c, pw_mqtt_topic topic, const char *key,
                              size_t key_len, const uint8_t *p, size_t n);
/* Disconnects and frees. */
void pw_mqtt_client_free(pw_mqtt_client *c);

/* A replica over the client: fills opts->send_keyed, send_userdata and
 * origin (the client id, which the client keeps); call before
 * pw_replica_new, then bind. Bound, `state` messages go to
 * pw_replica_receive_snapshot, `patches` and `error` to
 * pw_replica_receive, and every reconnect calls pw_replica_reconnect. The
 * client's own callbacks, if any, are called after the replica's. */
void pw_mqtt_replica_options(pw_mqtt_client *c, pw_replica_options *opts);
void pw_mqtt_client_bind_replica(pw_mqtt_client *c, pw_replica *r);

#ifdef __cplusplus
}
#endif
#endif
