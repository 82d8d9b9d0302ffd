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

pw_frame *pw_frame_new_routed(const uint8_t *p, size_t n, bool binary, pw_frame_kind kind,
                              const char *key, size_t key_len, uint64_t seq)
{
    size_t keep = key ? key_len + 1 : 0;
    if (n > SIZE_MAX - sizeof(frame_box) - keep)
        return NULL;
    frame_box *b = malloc(sizeof *b + n + keep);
    if (!b)
        return NULL;
    uint8_t *data = (uint8_t *)(b + 1);
    if (n)
        memcpy(data, p, n);
    atomic_init(&b->refs, 1);
    b->frame = (pw_frame){.len = n, .binary = binary, .data = data, .kind = kind, .seq = seq};
    if (key) {
        char *k = (char *)data + n;
        memcpy(k, key, key_len);
        k[key_len] = '\0';
        b->frame.key = k;
        b->frame.key_len = key_len;
    }
    return &b->frame;
}

pw_frame *pw_frame_new(const uint8_t *p, size_t n, bool binary)
{
    return pw_frame_new_routed(p, n, binary, PW_FRAME_OTHER, NULL, 0, 0);
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
