/* peek.h - a message's "type", "key" and "id" read without decoding it.
 *
 * Private to the core. The hub asks who may do what before it spends any
 * memory on a message: the top-level members are walked in place, every
 * value but those three skipped byte by byte, nothing allocated. Only plain
 * strings (no escapes) and, for "id", integers are read; anything else is
 * left unread and the caller decodes as usual. */
#ifndef PATCHWIRE_PEEK_H
#define PATCHWIRE_PEEK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "patchwire/codec.h"

typedef struct pw__peek {
    const char *type, *key, *id; /* in the message's bytes, or NULL */
    size_t type_len, key_len, id_len;
    bool has_id_int;
    int64_t id_int;
} pw__peek;

/* Fills out from the n bytes at p, encoded with codec (JSON or MessagePack).
 * False when the bytes are not an object at the top level as far as the
 * walk can tell (out then holds what was found before). */
bool pw__peek_msg(const pw_codec *codec, const uint8_t *p, size_t n, pw__peek *out);

#endif
