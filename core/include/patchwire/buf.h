/* buf.h - a growable byte buffer, the sink every encoder writes to. */
#ifndef PATCHWIRE_BUF_H
#define PATCHWIRE_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "patchwire/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A zeroed pw_buf is a valid empty buffer. The buffer owns data. */
typedef struct pw_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} pw_buf;

void pw_buf_init(pw_buf *b);
void pw_buf_free(pw_buf *b);
/* Makes room for at least n more bytes. */
pw_err pw_buf_reserve(pw_buf *b, size_t n);
pw_err pw_buf_append(pw_buf *b, const void *p, size_t n);
/* Empties the buffer, keeping its memory. */
void pw_buf_reset(pw_buf *b);

#ifdef __cplusplus
}
#endif
#endif
