/* nnutil.h - what the nanomsg server and client share: the socket options
 * they set, a queue of messages waiting for a socket to take them, and log
 * lines. */
#ifndef PW_NNUTIL_H
#define PW_NNUTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "patchwire/nanomsg.h"

/* A message allocated with nn_allocmsg, owned by the queue until sent. */
typedef struct pw_nn__out {
    struct pw_nn__out *next;
    void *msg;
    size_t len;
    int tag; /* the sender's: whose bytes these are */
} pw_nn__out;

typedef struct pw_nn__outq {
    pw_nn__out *head, **tail;
    size_t bytes, count;
} pw_nn__outq;

void pw_nn__outq_init(pw_nn__outq *q);
/* Takes msg (an nn_allocmsg buffer); false when out of memory (msg freed). */
bool pw_nn__outq_push(pw_nn__outq *q, void *msg, size_t len, int tag);
/* Sends what the socket takes without waiting; for each message sent calls
 * sent(tag, len, userdata). Returns false on a socket error other than
 * EAGAIN (the queue is kept). */
bool pw_nn__outq_flush(pw_nn__outq *q, int sock, void (*sent)(int tag, size_t len, void *userdata),
                       void *userdata);
void pw_nn__outq_clear(pw_nn__outq *q);

/* A new message holding prefix (may be 0 bytes) then body. NULL when out of
 * memory. */
void *pw_nn__msg_join(const void *prefix, size_t plen, const void *body, size_t blen);

/* The socket's NN_RCVFD or NN_SNDFD, -1 if it has none. */
int pw_nn__fd(int sock, int option);
/* Sets an int option; false on failure. */
bool pw_nn__setint(int sock, int level, int option, int value);
/* A new socket of the protocol (NN_LINGER 0); -1 with err filled. */
int pw_nn__open(int protocol, pw_error *err);
/* Binds or connects s to the endpoint `which` of url; false with err filled. */
bool pw_nn__attach(int s, const char *url, pw_nn_socket which, bool bind, pw_error *err);

void pw_nn__log(pw_nn_log_cb log, void *userdata, pw_nn_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

#endif
