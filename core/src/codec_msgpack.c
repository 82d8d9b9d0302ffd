/* codec_msgpack.c - the MessagePack codec: msgpack-c's packer out, a direct
 * parser in.
 *
 * The idea: decoding reads the bytes straight into pw_value with two explicit
 * stacks (open containers and decoded members), so no recursion and no tree of
 * another library. Every container announces its member count, so it is built
 * once at its final size when its last member arrives. A length prefix is
 * checked against the bytes that remain before anything is allocated (a
 * member takes at least one byte), so a forged 1 GB length costs nothing.
 *
 * Mapping: nil, bool, int (every width), float32/64 (to double), str, array,
 * and map with string keys (to object; a repeated key keeps its last value at
 * its first position). A uint64 above INT64_MAX becomes a double, as a
 * JavaScript peer would read it. bin, ext and non-string keys are refused.
 * Depth counts open containers: a top-level array is depth 1, and max_depth
 * nested containers are allowed.
 */
#include "patchwire/codec.h"

#include <msgpack/pack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "value_internal.h"

/* ---------------------------------------------------------------- errors */

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static pw_err
fail(pw_error *err, pw_err code, size_t offset, const char *fmt, ...)
{
    if (!err)
        return code;
    err->code = code;
    err->offset = offset;
    err->index = -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

/* ---------------------------------------------------------------- encode */

static int buf_write(void *data, const char *bytes, size_t len)
{
    return pw_buf_append(data, bytes, len);
}

typedef struct enc_frame {
    const pw__node *node;
    size_t i, n;
} enc_frame;

#define ENC_INLINE_FRAMES 32

/* Writes one value; for a non-empty container also pushes a frame so its
 * members follow. */
static pw_err enc_value(msgpack_packer *pk, const pw_value *v, enc_frame **frames, size_t *depth,
                        size_t *cap, enc_frame *inline_frames)
{
    switch (v->tag_) {
    case PW__TAG_NULL:
        return msgpack_pack_nil(pk);
    case PW__TAG_BOOL:
        return v->u_.b ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    case PW__TAG_INT:
        return msgpack_pack_int64(pk, v->u_.i);
    case PW__TAG_DOUBLE:
        return msgpack_pack_double(pk, v->u_.d);
    case PW__TAG_SSO:
    case PW__TAG_STR: {
        size_t len;
        const char *s = pw_value_str(v, &len);
        return msgpack_pack_str_with_body(pk, s, len);
    }
    default:
        break;
    }
    size_t n;
    pw_err rc;
    if (v->tag_ == PW__TAG_ARR) {
        n = ((const pw__arr *)v->u_.node)->len;
        rc = msgpack_pack_array(pk, n);
    } else {
        n = ((const pw__obj *)v->u_.node)->len;
        rc = msgpack_pack_map(pk, n);
    }
    if (rc || n == 0)
        return rc;
    if (*depth == *cap) {
        if (*cap > SIZE_MAX / 2 / sizeof(enc_frame))
            return PW_ENOMEM;
        size_t ncap = *cap * 2;
        enc_frame *f = *frames == inline_frames ? malloc(ncap * sizeof *f)
                                                : realloc(*frames, ncap * sizeof *f);
        if (!f)
            return PW_ENOMEM;
        if (*frames == inline_frames)
            memcpy(f, inline_frames, *cap * sizeof *f);
        *frames = f;
        *cap = ncap;
    }
    (*frames)[(*depth)++] = (enc_frame){.node = v->u_.node, .i = 0, .n = n};
    return PW_OK;
}

static pw_err msgpack_encode(const pw_value *v, pw_buf *out, pw_error *err)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, buf_write);
    enc_frame inline_frames[ENC_INLINE_FRAMES];
    enc_frame *frames = inline_frames;
    size_t depth = 0, cap = ENC_INLINE_FRAMES;
    size_t start = out->len;

    pw_err rc = enc_value(&pk, v, &frames, &depth, &cap, inline_frames);
    while (!rc && depth) {
        enc_frame *f = &frames[depth - 1];
        if (f->i == f->n) {
            depth--;
            continue;
        }
        size_t i = f->i++;
        if (f->node->kind == PW__TAG_ARR) {
            rc = enc_value(&pk, &((const pw__arr *)f->node)->items[i], &frames, &depth, &cap,
                           inline_frames);
        } else {
            const pw__entry *e = &((const pw__obj *)f->node)->items[i];
            rc = enc_value(&pk, &e->key, &frames, &depth, &cap, inline_frames);
            if (!rc)
                rc = enc_value(&pk, &e->val, &frames, &depth, &cap, inline_frames);
        }
    }
    if (frames != inline_frames)
        free(frames);
    if (rc) {
        out->len = start; /* no half-written value */
        return fail(err, rc, PW_NO_OFFSET, "msgpack: encode failed: %s", pw_strerror(rc));
    }
    return PW_OK;
}

/* ---------------------------------------------------------------- decode */

typedef struct dec_frame {
    size_t base;   /* index in vals of the first member */
    size_t count;  /* members: n for an array, 2n (keys and values) for a map */
    size_t left;   /* members still to come */
    size_t offset; /* of the header byte, for errors */
    bool map;
} dec_frame;

#define DEC_INLINE_VALS 64
#define DEC_INLINE_FRAMES 16

typedef struct dec {
    const uint8_t *p;
    size_t n;
    pw_value *vals;
    size_t nvals, capvals;
    dec_frame *frames;
    size_t nframes, capframes;
    size_t max_depth, max_string;
    size_t at; /* offset of the item being decoded */
    pw_error *err;
    pw_value vals_inline[DEC_INLINE_VALS];
    dec_frame frames_inline[DEC_INLINE_FRAMES];
} dec;

static inline uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}
static inline uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t be64(const uint8_t *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/* Doubles the storage of a stack that may still live in its inline array. */
static bool grow_stack(void **items, void *inline_items, size_t *cap, size_t size)
{
    if (*cap > SIZE_MAX / 2 / size)
        return false;
    size_t ncap = *cap * 2;
    void *p = *items == inline_items ? malloc(ncap * size) : realloc(*items, ncap * size);
    if (!p)
        return false;
    if (*items == inline_items)
        memcpy(p, inline_items, *cap * size);
    *items = p;
    *cap = ncap;
    return true;
}

/* Index of the first byte of an invalid UTF-8 sequence in s, or n if none.
 * Strict: no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_check(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (n - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!(w & 0x8080808080808080u)) {
                i += 8;
                continue;
            }
        }
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint8_t lo = 0x80, hi = 0xbf; /* range of the second byte */
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            if (c == 0xe0)
                lo = 0xa0; /* overlong */
            else if (c == 0xed)
                hi = 0x9f; /* surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            if (c == 0xf0)
                lo = 0x90; /* overlong */
            else if (c == 0xf4)
                hi = 0x8f; /* above U+10FFFF */
        } else {
            return i;
        }
        if (n - i <= need || s[i + 1] < lo || s[i + 1] > hi)
            return i;
        for (size_t k = 2; k <= need; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return i;
        i += need + 1;
    }
    return n;
}

static const char *type_name(uint8_t b)
{
    if (b <= 0x7f || b >= 0xe0 || (b >= 0xcc && b <= 0xd3))
        return "an integer";
    if (b <= 0x8f || b == 0xde || b == 0xdf)
        return "a map";
    if (b <= 0x9f || b == 0xdc || b == 0xdd)
        return "an array";
    if (b <= 0xbf || (b >= 0xd9 && b <= 0xdb))
        return "a string";
    switch (b) {
    case 0xc0:
        return "nil";
    case 0xc2:
    case 0xc3:
        return "a boolean";
    case 0xca:
    case 0xcb:
        return "a float";
    case 0xc4:
    case 0xc5:
    case 0xc6:
        return "bin";
    default:
        return "ext";
    }
}

static pw_err dec_push(dec *d, pw_value v)
{
    if (d->nvals == d->capvals &&
        !grow_stack((void **)&d->vals, d->vals_inline, &d->capvals, sizeof(pw_value))) {
        pw_value_release(&v);
        return fail(d->err, PW_ENOMEM, d->at, "msgpack: no memory at byte %zu", d->at);
    }
    d->vals[d->nvals++] = v;
    return PW_OK;
}

static pw_err dec_truncated(dec *d, size_t at)
{
    return fail(d->err, PW_ESYNTAX, d->n, "msgpack: input ends inside the value at byte %zu", at);
}

/* Builds a string value from s[0..len) found at byte offset `at`. */
static pw_err dec_string(dec *d, size_t at, const uint8_t *s, size_t len, pw_value *out)
{
    if (len > d->max_string)
        return fail(d->err, PW_ELIMIT, at,
                    "msgpack: string at byte %zu is %zu bytes, over the limit of %zu", at, len,
                    d->max_string);
    size_t bad = utf8_check(s, len);
    if (bad != len) {
        size_t off = (size_t)(s - d->p) + bad;
        return fail(d->err, PW_ESYNTAX, off,
                    "msgpack: invalid UTF-8 at byte %zu in the string at byte %zu", off, at);
    }
    if (len <= PW_SSO_MAX) {
        pw_value v = {0};
        v.tag_ = PW__TAG_SSO;
        v.len_ = (uint8_t)len;
        memcpy((char *)&v + offsetof(pw_value, sso_), s, len);
        *out = v;
        return PW_OK;
    }
    pw_err rc = pw_string_new(out, (const char *)s, len);
    if (rc)
        return fail(d->err, rc, at, "msgpack: no memory for the string at byte %zu", at);
    return PW_OK;
}

/* Opens a container of `count` members (2n for maps) whose header is at `at`
 * and whose members start at pos. */
static pw_err dec_open(dec *d, size_t at, size_t pos, size_t count, bool map)
{
    if (d->nframes >= d->max_depth)
        return fail(d->err, PW_EDEPTH, at,
                    "msgpack: %s at byte %zu nests deeper than the limit of %zu",
                    map ? "map" : "array", at, d->max_depth);
    if (count > d->n - pos)
        return fail(d->err, PW_ESYNTAX, at,
                    "msgpack: %s at byte %zu claims %zu members but only %zu bytes follow",
                    map ? "map" : "array", at, map ? count / 2 : count, d->n - pos);
    if (count == 0) {
        pw_value v;
        pw_err rc = map ? pw_object_new(&v, 0) : pw_array_new(&v, 0);
        if (rc)
            return fail(d->err, rc, at, "msgpack: no memory at byte %zu", at);
        return dec_push(d, v);
    }
    if (d->nframes == d->capframes &&
        !grow_stack((void **)&d->frames, d->frames_inline, &d->capframes, sizeof(dec_frame)))
        return fail(d->err, PW_ENOMEM, at, "msgpack: no memory at byte %zu", at);
    d->frames[d->nframes++] =
        (dec_frame){.base = d->nvals, .count = count, .left = count, .offset = at, .map = map};
    return PW_OK;
}

/* Turns the members of the innermost frame into its container. */
static pw_err dec_close(dec *d)
{
    dec_frame *f = &d->frames[--d->nframes];
    pw_value v;
    pw_err rc = f->map ? pw_object_from(&v, &d->vals[f->base], f->count / 2)
                       : pw_array_from(&v, &d->vals[f->base], f->count);
    d->nvals = f->base; /* the members now belong to v, or were released */
    if (rc)
        return fail(d->err, rc, f->offset, "msgpack: cannot build the %s at byte %zu: %s",
                    f->map ? "map" : "array", f->offset, pw_strerror(rc));
    d->vals[d->nvals++] = v; /* room: the container had at least one member */
    return PW_OK;
}

/* Decodes the value at *pos: a scalar or string is pushed, a container is
 * opened. */
static pw_err dec_item(dec *d, size_t *pos)
{
    const uint8_t *p = d->p;
    size_t at = *pos, rest = d->n - at;
    uint8_t b = p[at];
    pw_value v = {0};
    size_t len, hdr;

    if (b <= 0x7f) {
        v.tag_ = PW__TAG_INT;
        v.u_.i = b;
        *pos = at + 1;
        return dec_push(d, v);
    }
    if (b >= 0xe0) {
        v.tag_ = PW__TAG_INT;
        v.u_.i = (int8_t)b;
        *pos = at + 1;
        return dec_push(d, v);
    }
    if (b >= 0xa0 && b <= 0xbf) {
        len = b & 0x1f;
        hdr = 1;
        goto string;
    }
    if (b <= 0x8f) {
        *pos = at + 1;
        return dec_open(d, at, at + 1, (size_t)(b & 0x0f) * 2, true);
    }
    if (b <= 0x9f) {
        *pos = at + 1;
        return dec_open(d, at, at + 1, b & 0x0f, false);
    }

    static const uint8_t extra[32] = {
        [0x00] = 0, [0x02] = 0, [0x03] = 0, [0x0a] = 4, [0x0b] = 8, [0x0c] = 1, [0x0d] = 2,
        [0x0e] = 4, [0x0f] = 8, [0x10] = 1, [0x11] = 2, [0x12] = 4, [0x13] = 8, [0x19] = 1,
        [0x1a] = 2, [0x1b] = 4, [0x1c] = 2, [0x1d] = 4, [0x1e] = 2, [0x1f] = 4,
    };
    if (b == 0xc1)
        return fail(d->err, PW_ESYNTAX, at, "msgpack: byte 0xc1 at byte %zu is never used", at);
    if ((b >= 0xc4 && b <= 0xc9) || (b >= 0xd4 && b <= 0xd8))
        return fail(d->err, PW_EUNSUPPORTED, at,
                    "msgpack: %s (0x%02x) at byte %zu is not supported", type_name(b), b, at);
    size_t need = extra[b - 0xc0];
    if (rest < 1 + need)
        return dec_truncated(d, at);
    const uint8_t *q = p + at + 1;
    *pos = at + 1 + need;
    switch (b) {
    case 0xc0:
        return dec_push(d, v);
    case 0xc2:
    case 0xc3:
        v.tag_ = PW__TAG_BOOL;
        v.u_.b = b == 0xc3;
        return dec_push(d, v);
    case 0xca: {
        uint32_t u = be32(q);
        float f;
        memcpy(&f, &u, sizeof f);
        v.tag_ = PW__TAG_DOUBLE;
        v.u_.d = f;
        return dec_push(d, v);
    }
    case 0xcb: {
        uint64_t u = be64(q);
        v.tag_ = PW__TAG_DOUBLE;
        memcpy(&v.u_.d, &u, sizeof u);
        return dec_push(d, v);
    }
    case 0xcc:
        v.tag_ = PW__TAG_INT;
        v.u_.i = q[0];
        return dec_push(d, v);
    case 0xcd:
        v.tag_ = PW__TAG_INT;
        v.u_.i = be16(q);
        return dec_push(d, v);
    case 0xce:
        v.tag_ = PW__TAG_INT;
        v.u_.i = be32(q);
        return dec_push(d, v);
    case 0xcf: {
        uint64_t u = be64(q);
        if (u > (uint64_t)INT64_MAX) { /* what a JavaScript peer reads too */
            v.tag_ = PW__TAG_DOUBLE;
            v.u_.d = (double)u;
        } else {
            v.tag_ = PW__TAG_INT;
            v.u_.i = (int64_t)u;
        }
        return dec_push(d, v);
    }
    case 0xd0:
        v.tag_ = PW__TAG_INT;
        v.u_.i = (int8_t)q[0];
        return dec_push(d, v);
    case 0xd1:
        v.tag_ = PW__TAG_INT;
        v.u_.i = (int16_t)be16(q);
        return dec_push(d, v);
    case 0xd2:
        v.tag_ = PW__TAG_INT;
        v.u_.i = (int32_t)be32(q);
        return dec_push(d, v);
    case 0xd3:
        v.tag_ = PW__TAG_INT;
        v.u_.i = (int64_t)be64(q);
        return dec_push(d, v);
    case 0xd9:
        len = q[0];
        hdr = 2;
        goto string;
    case 0xda:
        len = be16(q);
        hdr = 3;
        goto string;
    case 0xdb:
        len = be32(q);
        hdr = 5;
        goto string;
    case 0xdc:
        return dec_open(d, at, *pos, be16(q), false);
    case 0xdd:
        return dec_open(d, at, *pos, be32(q), false);
    case 0xde:
        return dec_open(d, at, *pos, (size_t)be16(q) * 2, true);
    default: /* 0xdf */
        return dec_open(d, at, *pos, (size_t)be32(q) * 2, true);
    }

string: /* rest >= hdr here: the header bytes were checked above */
    if (len > rest - hdr)
        return fail(d->err, PW_ESYNTAX, at,
                    "msgpack: string at byte %zu claims %zu bytes but only %zu follow", at, len,
                    rest - hdr);
    pw_err rc = dec_string(d, at, p + at + hdr, len, &v);
    if (rc)
        return rc;
    *pos = at + hdr + len;
    return dec_push(d, v);
}

static bool is_str_byte(uint8_t b)
{
    return (b >= 0xa0 && b <= 0xbf) || (b >= 0xd9 && b <= 0xdb);
}

static pw_err msgpack_decode(const uint8_t *p, size_t n, const pw_limits *lim, pw_value *out,
                             pw_error *err)
{
    *out = pw_null();
    size_t max_input = lim ? lim->max_input_bytes : PW_DEFAULT_MAX_INPUT_BYTES;
    if (n > max_input)
        return fail(err, PW_ELIMIT, max_input,
                    "msgpack: input of %zu bytes is over the limit of %zu", n, max_input);
    if (n == 0)
        return fail(err, PW_ESYNTAX, 0, "msgpack: empty input");

    dec d = {
        .p = p,
        .n = n,
        .capvals = DEC_INLINE_VALS,
        .capframes = DEC_INLINE_FRAMES,
        .max_depth = lim ? lim->max_depth : PW_DEFAULT_MAX_DEPTH,
        .max_string = lim ? lim->max_string_bytes : PW_DEFAULT_MAX_STRING_BYTES,
        .err = err,
    };
    d.vals = d.vals_inline;
    d.frames = d.frames_inline;

    size_t pos = 0;
    pw_err rc = PW_OK;
    for (;;) {
        if (pos >= n) {
            rc = dec_truncated(&d, d.nframes ? d.frames[d.nframes - 1].offset : 0);
            break;
        }
        if (d.nframes) {
            dec_frame *f = &d.frames[d.nframes - 1];
            uint8_t b = p[pos];
            if (f->map && (f->left & 1) == 0 && !is_str_byte(b)) {
                if ((b >= 0xc4 && b <= 0xc9) || (b >= 0xd4 && b <= 0xd8))
                    rc = fail(err, PW_EUNSUPPORTED, pos,
                              "msgpack: %s (0x%02x) at byte %zu is not supported", type_name(b), b,
                              pos);
                else
                    rc = fail(err, PW_ETYPE, pos,
                              "msgpack: map key at byte %zu is %s; keys must be strings", pos,
                              type_name(b));
                break;
            }
        }
        size_t before = d.nframes;
        d.at = pos;
        if ((rc = dec_item(&d, &pos)) != PW_OK)
            break;
        if (d.nframes > before)
            continue; /* a container opened: its members come next */
        /* a value completed: close every container it completes */
        while (d.nframes && --d.frames[d.nframes - 1].left == 0)
            if ((rc = dec_close(&d)) != PW_OK)
                break;
        if (rc || d.nframes == 0)
            break;
    }
    if (!rc && pos != n)
        rc = fail(err, PW_ESYNTAX, pos, "msgpack: %zu trailing bytes after the value, at byte %zu",
                  n - pos, pos);
    if (rc) {
        for (size_t i = 0; i < d.nvals; i++)
            pw_value_release(&d.vals[i]);
    } else {
        *out = d.vals[0];
    }
    if (d.vals != d.vals_inline)
        free(d.vals);
    if (d.frames != d.frames_inline)
        free(d.frames);
    return rc;
}

const pw_codec pw_codec_msgpack = {
    .name = "msgpack",
    .encode = msgpack_encode,
    .decode = msgpack_decode,
};
