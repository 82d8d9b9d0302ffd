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

/* What one decode may cost. The last two bound what a small input can
 * make a decoder build (`[],[],...` is 3 bytes per array node): a value
 * count, and memory for value handles and container nodes of at most
 * max_decoded_ratio bytes per input byte (plus PW_DECODE_SLACK_BYTES);
 * strings are not counted, they hold no more than their own input bytes and
 * a header. 0 in either means its default. */
typedef struct pw_limits {
    size_t max_input_bytes;   /* default 64 MiB */
    uint32_t max_depth;       /* default 512 (PW_DEFAULT_MAX_DEPTH, patch.h) */
    size_t max_string_bytes;  /* default 16 MiB */
    size_t max_values;        /* default 16 Mi values (keys and containers count) */
    size_t max_decoded_ratio; /* default 48 bytes per input byte */
} pw_limits;

#define PW_DEFAULT_MAX_INPUT_BYTES ((size_t)64 << 20)
#define PW_DEFAULT_MAX_STRING_BYTES ((size_t)16 << 20)
/* Well above real documents: a 64 MiB JSON state of typical objects holds
 * about 8 Mi values, and dense small-number arrays decode to at most 24
 * bytes per input byte (JSON) and 32 (MessagePack pairs such as [1,2]). */
#define PW_DEFAULT_MAX_VALUES ((size_t)16 << 20)
#define PW_DEFAULT_MAX_DECODED_RATIO 48u
#define PW_DECODE_SLACK_BYTES ((size_t)64 << 10)

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
pw_err pw_msg_decode(const pw_codec *c, const uint8_t *p, size_t n, const pw_limits *lim, pw_msg *m,
                     pw_error *err);
pw_err pw_msg_encode(const pw_codec *c, const pw_msg *m, pw_buf *out, pw_error *err);

#ifdef __cplusplus
}
#endif
#endif
