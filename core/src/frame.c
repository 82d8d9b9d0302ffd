/* frame.c - immutable encoded messages shared by many peer queues.
 *
 * The one idea: one allocation holds a private refcount, the public pw_frame
 * and the bytes after them, so a frame fanned out to 10,000 peers costs one
 * malloc and one atomic increment per peer. */
#include "patchwire/transport.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef struct frame_box {
    _Atomic size_t refs;
    pw_frame frame;
} frame_box;

static frame_box *box_of(pw_frame *f)
{
    return (frame_box *)(void *)((char *)f - offsetof(frame_box, frame));
}

pw_frame *pw_frame_new(const uint8_t *p, size_t n, bool binary)
{
    if (n > SIZE_MAX - sizeof(frame_box))
        return NULL;
    frame_box *b = malloc(sizeof *b + n);
    if (!b)
        return NULL;
    uint8_t *data = (uint8_t *)(b + 1);
    if (n)
        memcpy(data, p, n);
    atomic_init(&b->refs, 1);
    b->frame.len = n;
    b->frame.binary = binary;
    b->frame.data = data;
    return &b->frame;
}

pw_frame *pw_frame_retain(pw_frame *f)
{
    if (f)
        atomic_fetch_add_explicit(&box_of(f)->refs, 1, memory_order_relaxed);
    return f;
}

void pw_frame_release(pw_frame *f)
{
    if (!f)
        return;
    frame_box *b = box_of(f);
    if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
        free(b);
}
