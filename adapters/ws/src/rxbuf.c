/* rxbuf.c - a message from its fragments, bounded by a maximum size.
 *
 * The one idea: lws hands a message over in pieces (its rx buffer, and the
 * sender's own fragmentation); a message is complete when the piece is the
 * final fragment and nothing of its frame remains. The limit is checked
 * against what has arrived plus what the current frame still announces, so
 * an oversized message is refused before it is buffered; but the buffer
 * grows only with the bytes that really arrived, so a peer that announces
 * a large frame and sends little of it holds little. */
#include "rxbuf.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int pw__ws_rxbuf_feed(struct lws *wsi, pw__ws_rxbuf *b, const void *in, size_t len, size_t max,
                      const uint8_t **msg, size_t *n)
{
    size_t remaining = lws_remaining_packet_payload(wsi);
    bool complete = lws_is_final_fragment(wsi) && remaining == 0;
    if (b->n + len > max || b->n + len + remaining > max)
        return PW_ELIMIT;
    if (complete && b->n == 0) {
        *msg = in;
        *n = len;
        return 1;
    }
    size_t need = b->n + len;
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < need)
            cap *= 2;
        if (cap > max)
            cap = max;
        uint8_t *p = realloc(b->p, cap);
        if (!p)
            return PW_ENOMEM;
        b->p = p;
        b->cap = cap;
    }
    if (len)
        memcpy(b->p + b->n, in, len);
    b->n += len;
    if (!complete)
        return 0;
    *msg = b->p;
    *n = b->n;
    return 1;
}

void pw__ws_rxbuf_reset(pw__ws_rxbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}
