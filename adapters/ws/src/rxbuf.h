/* rxbuf.h - reassembly of an incoming WebSocket message from its fragments.
 *
 * Private to the WebSocket adapter. A message that arrives in one piece is
 * handed over in place; only a fragmented one is copied, into a buffer that
 * is freed again once the message is delivered, so an idle connection holds
 * nothing here. */
#ifndef PW_WS_RXBUF_H
#define PW_WS_RXBUF_H

#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "patchwire/error.h"

typedef struct pw__ws_rxbuf {
    uint8_t *p;
    size_t n, cap;
} pw__ws_rxbuf;

/* Feeds one receive callback's bytes. 1: a complete message is at
 * *msg / *n (valid until pw__ws_rxbuf_reset); 0: more is to come;
 * PW_ELIMIT: the message is over max bytes; PW_ENOMEM. */
int pw__ws_rxbuf_feed(struct lws *wsi, pw__ws_rxbuf *b, const void *in, size_t len, size_t max,
                      const uint8_t **msg, size_t *n);
/* Drops what is buffered and frees the buffer. */
void pw__ws_rxbuf_reset(pw__ws_rxbuf *b);

#endif
