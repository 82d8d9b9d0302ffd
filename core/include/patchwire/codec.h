/* codec.h - encodings of value trees and messages: JSON and MessagePack.
 *
 * A codec is a small table of functions; the two built-in ones are
 * pw_codec_json and pw_codec_msgpack, and an application can define a third
 * without touching the core. Decoders go straight from bytes into the
 * document model and enforce pw_limits. */
#ifndef PATCHWIRE_CODEC_H
#define PATCHWIRE_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "patchwire/buf.h"
#include "patchwire/error.h"
#include "patchwire/msg.h"
#include "patchwire/value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pw_limits {
    size_t max_input_bytes;  /* default 64 MiB */
    uint32_t max_depth;      /* default 512 */
    size_t max_string_bytes; /* default 16 MiB */
} pw_limits;

#define PW_DEFAULT_MAX_INPUT_BYTES ((size_t)64 << 20)
#define PW_DEFAULT_MAX_DEPTH 512u
#define PW_DEFAULT_MAX_STRING_BYTES ((size_t)16 << 20)

void pw_limits_init(pw_limits *lim);

typedef struct pw_codec {
    const char *name; /* "json", "msgpack" */
    /* Appends the encoding of *v to out. Never fails on a valid tree except
     * for PW_ENOMEM; any depth is encoded (no recursion), so a tree deeper
     * than a receiver's max_depth encodes but will not decode there. On
     * failure out is back at its previous length. */
    pw_err (*encode)(const pw_value *v, pw_buf *out, pw_error *err);
    /* Decodes exactly one value filling all n bytes (JSON allows surrounding
     * whitespace). lim may be NULL for the defaults. On failure *out is null,
     * nothing leaks, and err->offset is the byte offset of the problem. */
    pw_err (*decode)(const uint8_t *p, size_t n, const pw_limits *lim, pw_value *out,
                     pw_error *err);
} pw_codec;

extern const pw_codec pw_codec_json;
extern const pw_codec pw_codec_msgpack;

/* The codec for bytes that start as p does: JSON if the first byte can start
 * a JSON text (whitespace, '{', '[', '"', a digit, '-', 't', 'f', 'n'),
 * MessagePack otherwise. NULL for empty input. */
const pw_codec *pw_codec_detect(const uint8_t *p, size_t n);
/* A built-in codec by name, or NULL. */
const pw_codec *pw_codec_find(const char *name);

/* Message-level helpers: decode + pw_msg_from_value, pw_msg_to_value + encode. */
pw_err pw_msg_decode(const pw_codec *c, const uint8_t *p, size_t n, const pw_limits *lim,
                     pw_msg *m, pw_error *err);
pw_err pw_msg_encode(const pw_codec *c, const pw_msg *m, pw_buf *out, pw_error *err);

#ifdef __cplusplus
}
#endif
#endif
