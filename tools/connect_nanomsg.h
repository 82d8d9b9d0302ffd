/* connect_nanomsg.h - what `patchwire connect nanomsg+tcp://HOST:PORT` (or
 * nanomsg+ipc://PATH) adds: the replica follows the key over a nanomsg
 * client instead of a WebSocket one. Without the adapter such a URL is
 * refused (exit 2). */
#ifndef PW_CONNECT_NANOMSG_H
#define PW_CONNECT_NANOMSG_H

#include <stdbool.h>
#include <stddef.h>

#include "cli.h"
#include "patchwire/replica.h"

typedef struct connect_nn connect_nn;

/* Whether the URL is one of ours (nanomsg+...). */
bool connect_nanomsg_url(const char *url);
/* Opens the client (nanomsg connects in the background) and sets the
 * replica options it needs (send_keyed, origin). Returns CLI_OK or the exit
 * status after reporting. */
int connect_nanomsg_open(cli *c, const char *url, pw_replica_options *ro, connect_nn **out);
/* Binds the replica and follows the key. */
int connect_nanomsg_follow(cli *c, connect_nn *n, pw_replica *r, const char *key, size_t key_len);
/* Services for up to timeout_ms. */
void connect_nanomsg_service(connect_nn *n, int timeout_ms);
void connect_nanomsg_close(connect_nn *n);

#endif
