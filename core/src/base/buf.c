/* buf.c - growable byte buffer: doubling growth, never shrinks until freed. */
#include "patchwire/buf.h"

#include <stdlib.h>
#include <string.h>

void pw_buf_init(pw_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void pw_buf_free(pw_buf *b)
{
    free(b->data);
    pw_buf_init(b);
}

void pw_buf_reset(pw_buf *b) { b->len = 0; }

pw_err pw_buf_reserve(pw_buf *b, size_t n)
{
    if (n <= b->cap - b->len)
        return PW_OK;
    if (n > SIZE_MAX / 2 - b->len)
        return PW_ENOMEM;
    size_t want = b->len + n;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < want)
        cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p)
        return PW_ENOMEM;
    b->data = p;
    b->cap = cap;
    return PW_OK;
}

pw_err pw_buf_append(pw_buf *b, const void *p, size_t n)
{
    pw_err rc = pw_buf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return PW_OK;
}
