/* frameq.h - a queue of frame references and the chunked writing of its head.
 *
 * Private to the WebSocket adapter. A queue is a ring of pw_frame
 * references; the head frame is written in chunks of at most
 * PW__WS_CHUNK bytes (one lws_write per writable callback), copied into a
 * scratch buffer that has the LWS_PRE bytes of headroom lws_write needs, so
 * a connection holds no buffer of its own. */
#ifndef PW_WS_FRAMEQ_H
#define PW_WS_FRAMEQ_H

#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "patchwire/transport.h"

/* Largest fragment written at once (the protocols' tx_packet_size). */
#define PW__WS_CHUNK 16384

typedef struct pw__ws_frameq {
    pw_frame **ring;
    uint32_t head, count, cap;
    size_t bytes; /* queued and not yet written (whole frames) */
    size_t sent;  /* bytes of the head frame written so far */
} pw__ws_frameq;

/* Appends frame, taking its reference (released on failure too). */
pw_err pw__ws_frameq_push(pw__ws_frameq *q, pw_frame *frame);
/* The head frame (borrowed) or NULL. */
pw_frame *pw__ws_frameq_head(const pw__ws_frameq *q);
/* Removes the head frame and returns its reference to the caller. */
pw_frame *pw__ws_frameq_pop(pw__ws_frameq *q);
/* Releases every frame and the ring. */
void pw__ws_frameq_clear(pw__ws_frameq *q);

/* Writes the next chunk of f from *sent on wsi through scratch
 * (LWS_PRE + PW__WS_CHUNK bytes). 1: f is written completely; 0: more of it
 * remains; -1: the write failed (close the connection). */
int pw__ws_write_chunk(struct lws *wsi, const pw_frame *f, size_t *sent, uint8_t *scratch);

#endif
