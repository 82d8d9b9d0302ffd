/* broker.h - a real mosquitto broker for a test: its own config file in a
 * temporary folder, a free loopback port, started and stopped (or killed)
 * by the test. Errors come back as text for cr_assert. */
#ifndef PW_TEST_BROKER_H
#define PW_TEST_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct broker {
    pid_t pid;         /* 0 when not running */
    int port;          /* picked on the first start, kept across restarts */
    char dir[64];      /* its folder: config, log, anything the test puts there */
    char url[64];      /* mqtt://127.0.0.1:PORT */
    char extra[2048];  /* config lines after the listener's */
    bool tls;          /* the listener is TLS (the test writes the extra lines) */
} broker;

/* Makes the folder and picks a port; extra: config lines for the listener
 * (TLS, password_file, acl_file, persistence...), may be NULL. */
bool broker_init(broker *b, const char *extra, char *why, size_t why_len);
/* Starts mosquitto and waits up to timeout_ms until it accepts connections. */
bool broker_start(broker *b, int timeout_ms, char *why, size_t why_len);
/* SIGTERM (kill: SIGKILL) and waits. Safe when not running. */
void broker_stop(broker *b, bool kill);
/* Stops it and removes its folder. */
void broker_free(broker *b);
/* dir/name into a static buffer (four in turn). */
const char *broker_path(const broker *b, const char *name);
/* Whether mosquitto is installed. */
bool broker_available(void);

#endif
