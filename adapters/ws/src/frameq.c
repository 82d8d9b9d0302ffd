/* frameq.c - a ring of frame references; a frame goes out in LWS_PRE-prefixed
 * chunks, fragments of one WebSocket message when it is larger than a chunk.
 *
 * The one idea: frames are shared by every peer they go to, so the queue
 * holds references and copies at most PW__WS_CHUNK bytes at a time into the
 * caller's scratch buffer. An emptied ring that grew is freed, so an idle
 * connection keeps at most a small ring. */
#include "frameq.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define RING_KEEP 8 /* slots an empty ring may keep */

pw_err pw__ws_frameq_push(pw__ws_frameq *q, pw_frame *frame)
{
    if (q->count == q->cap) {
        uint32_t cap = q->cap ? q->cap * 2 : 4;
        pw_frame **ring = cap > q->cap ? malloc(cap * sizeof *ring) : NULL;
        if (!ring) {
            pw_frame_release(frame);
            return PW_ENOMEM;
        }
        for (uint32_t i = 0; i < q->count; i++)
            ring[i] = q->ring[(q->head + i) % q->cap];
        free(q->ring);
        q->ring = ring;
        q->head = 0;
        q->cap = cap;
    }
    q->ring[(q->head + q->count++) % q->cap] = frame;
    q->bytes += frame->len;
    return PW_OK;
}

pw_frame *pw__ws_frameq_head(const pw__ws_frameq *q)
{
    return q->count ? q->ring[q->head] : NULL;
}

pw_frame *pw__ws_frameq_pop(pw__ws_frameq *q)
{
    if (!q->count)
        return NULL;
    pw_frame *f = q->ring[q->head];
    q->head = (q->head + 1) % q->cap;
    q->count--;
    q->bytes -= f->len;
    q->sent = 0;
    if (!q->count && q->cap > RING_KEEP) {
        free(q->ring);
        q->ring = NULL;
        q->head = q->cap = 0;
    }
    return f;
}

void pw__ws_frameq_clear(pw__ws_frameq *q)
{
    while (q->count)
        pw_frame_release(pw__ws_frameq_pop(q));
    free(q->ring);
    memset(q, 0, sizeof *q);
}

int pw__ws_write_chunk(struct lws *wsi, const pw_frame *f, size_t *sent, uint8_t *scratch)
{
    size_t off = *sent;
    size_t n = f->len - off;
    if (n > PW__WS_CHUNK)
        n = PW__WS_CHUNK;
    bool last = off + n == f->len;
    int flags;
    if (off == 0)
        flags = f->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT;
    else
        flags = LWS_WRITE_CONTINUATION;
    if (!last)
        flags |= LWS_WRITE_NO_FIN;
    if (n)
        memcpy(scratch + LWS_PRE, f->data + off, n);
    if (lws_write(wsi, scratch + LWS_PRE, n, (enum lws_write_protocol)flags) < (int)n)
        return -1;
    *sent = off + n;
    return last ? 1 : 0;
}
