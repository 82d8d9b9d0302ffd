/* codec_msgpack.c - the MessagePack codec: msgpack-c's packer out, a direct
 * parser in.
 *
 * The idea: every MessagePack container announces its member count, so the
 * decoder allocates each array or object at its final size when it reads the
 * header and writes the members straight into it, keeping only a heap stack
 * of open containers (no recursion, no tree of another library, no copy).
 * Before anything is allocated, a count is checked against the bytes that
 * remain, counting the members still due in the enclosing containers too (each
 * takes at least one byte): a forged 1 GB length fails at once, and what a
 * hostile input makes us allocate stays proportional to its real size.
 *
 * Mapping: nil, bool, int (every width), float32/64 (to double; NaN and
 * infinities are rejected, as JSON cannot carry them), str, array,
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

#include "internal.h"
#include "value_internal.h"

/* ---------------------------------------------------------------- errors */

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
        return pw__error_at(err, rc, PW_NO_OFFSET, "msgpack: encode failed: %s", pw_strerror(rc));
    }
    return PW_OK;
}

/* ---------------------------------------------------------------- decode */

/* A container being filled in place: it was allocated at its final size when
 * its header was read, and members are written straight into its slots (an
 * object's entries are key, value, key, value, ... as pw_object_from takes
 * them). */
typedef struct dec_frame {
    pw_value node;   /* the container's handle; its len is set when it closes */
    pw_value *slots; /* member slots */
    size_t filled;   /* slots written */
    size_t total;    /* n for an array, 2n for a map */
    size_t outer;    /* members not yet started in the enclosing containers */
    size_t offset;   /* of the header byte, for errors */
    bool map;
} dec_frame;

#define DEC_INLINE_FRAMES 32

typedef struct dec {
    const uint8_t *p;
    size_t n;
    dec_frame *frames; /* the root's slot, then open containers, innermost last */
    size_t nframes, capframes;
    size_t max_depth, max_string;
    pw__budget budget;
    pw_error *err;
    dec_frame *frames_inline;
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

static pw_err dec_truncated(dec *d, size_t at)
{
    return pw__error_at(d->err, PW_ESYNTAX, d->n,
                        "msgpack: input ends inside the value at byte %zu", at);
}

/* NaN and infinities have no JSON form; accepting them would let a
 * MessagePack peer and a JSON peer hold different states. */
static pw_err non_finite(dec *d, size_t at)
{
    return pw__error_at(d->err, PW_ETYPE, at, "msgpack: NaN or infinite float at byte %zu", at);
}

static pw_err dec_nomem(dec *d, size_t at)
{
    return pw__error_at(d->err, PW_ENOMEM, at, "msgpack: no memory at byte %zu", at);
}

static pw_err dec_bad_utf8(dec *d, size_t at, const uint8_t *s, size_t len)
{
    size_t off = (size_t)(s - d->p) + pw__utf8_check(s, len);
    return pw__error_at(d->err, PW_ESYNTAX, off,
                        "msgpack: invalid UTF-8 at byte %zu in the string at byte %zu", off, at);
}

#define HIGH_BITS 0x8080808080808080u

/* The per-item paths are inlined into the decode loop whatever the
 * compiler's size heuristics say: a call per item costs more than the work. */
#if defined(__GNUC__)
#define HOT static inline __attribute__((always_inline))
#else
#define HOT static inline
#endif

/* Writes the string s[0..len), found at byte offset `at`, into *slot. */
static pw_err dec_string_slow(dec *d, size_t at, const uint8_t *s, size_t len, pw_value *slot)
{
    if (len > d->max_string)
        return pw__error_at(d->err, PW_ELIMIT, at,
                            "msgpack: string at byte %zu is %zu bytes, over the limit of %zu", at,
                            len, d->max_string);
    if (pw__utf8_check(s, len) != len)
        return dec_bad_utf8(d, at, s, len);
    if (len > PW_SSO_MAX)
        return pw_string_new(slot, (const char *)s, len) ? dec_nomem(d, at) : PW_OK;
    pw_value v = {0};
    v.tag_ = PW__TAG_SSO;
    v.len_ = (uint8_t)len;
    memcpy((char *)&v + offsetof(pw_value, sso_), s, len);
    *slot = v;
    return PW_OK;
}

/* Same, with a fast path for the inline strings that most keys and many
 * values are. */
HOT pw_err dec_string(dec *d, size_t at, const uint8_t *s, size_t len, pw_value *slot)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* Two fixed-size loads and two stores: a variable memcpy into the handle
     * would stall store-to-load forwarding. The tail past len is zeroed, as
     * pw_string_new leaves it. */
    if (len <= PW_SSO_MAX && len <= d->max_string && (size_t)(d->p + d->n - s) >= PW_SSO_MAX) {
        uint64_t a, b;
        memcpy(&a, s, 8);
        memcpy(&b, s + 6, 8);
        if (len < 6) {
            a &= ((uint64_t)1 << (8 * len)) - 1;
            b = 0;
        } else if (len < PW_SSO_MAX) {
            b &= ((uint64_t)1 << (8 * (len - 6))) - 1;
        }
        a &= 0x0000ffffffffffffu; /* bytes 6 and 7 are b's */
        if (((a | b) & HIGH_BITS) && pw__utf8_check(s, len) != len)
            return dec_bad_utf8(d, at, s, len);
        uint64_t w0 = PW__TAG_SSO | (uint64_t)len << 8 | a << 16;
        memcpy(slot, &w0, 8);
        memcpy((char *)slot + 8, &b, 8);
        return PW_OK;
    }
#endif
    return dec_string_slow(d, at, s, len, slot);
}

/* Opens a container of `count` slots (2n for maps) whose header is at `at`
 * and whose members start at pos. Returns 1 when it is empty and already
 * written to *slot, 0 when it is open and its members come next. */
static pw_err dec_open(dec *d, size_t at, size_t pos, size_t count, bool map, pw_value *slot)
{
    const char *what = map ? "map" : "array";
    if (d->nframes > d->max_depth) /* frames[0] is the root's slot, not a level */
        return pw__error_at(d->err, PW_EDEPTH, at,
                            "msgpack: %s at byte %zu nests deeper than the limit of %zu", what, at,
                            d->max_depth);
    /* Every member not yet started, here and in the enclosing containers,
     * needs a byte of its own: checked before anything is allocated, this
     * keeps what a forged length can make us allocate below what the input
     * really holds. */
    size_t left = d->n - pos;
    if (count > left)
        return pw__error_at(d->err, PW_ESYNTAX, at,
                            "msgpack: %s at byte %zu claims %zu members but only %zu bytes follow",
                            what, at, map ? count / 2 : count, left);
    dec_frame *top = &d->frames[d->nframes - 1];
    size_t outer = top->outer + (top->total - top->filled - 1);
    if (count + outer > left)
        return pw__error_at(
            d->err, PW_ESYNTAX, at,
            "msgpack: %s at byte %zu claims %zu members; with the members still due "
            "around it, more than the %zu bytes that follow can hold",
            what, at, map ? count / 2 : count, left);
    size_t bytes = (map ? sizeof(pw__obj) : sizeof(pw__arr)) + count * sizeof(pw_value) +
                   (map && count / 2 >= 12 ? count * 2 * sizeof(uint32_t) : 0);
    if (!pw__budget_spend(&d->budget, count, bytes))
        return pw__budget_refuse(&d->budget, d->err, "msgpack", at, count, bytes);
    if (count == 0)
        return (map ? pw_object_new(slot, 0) : pw_array_new(slot, 0)) ? dec_nomem(d, at) : 1;
    if (d->nframes == d->capframes && !pw__grow((void **)&d->frames, d->frames_inline,
                                                &d->capframes, d->capframes + 1, sizeof(dec_frame)))
        return dec_nomem(d, at);
    dec_frame *f = &d->frames[d->nframes];
    if (map ? pw_object_new(&f->node, count / 2) : pw_array_new(&f->node, count))
        return dec_nomem(d, at);
    f->slots =
        map ? &((pw__obj *)f->node.u_.node)->items[0].key : ((pw__arr *)f->node.u_.node)->items;
    f->filled = 0;
    f->total = count;
    f->outer = outer;
    f->offset = at;
    f->map = map;
    d->nframes++;
    return 0;
}

/* Decoded keys are strings with zeroed tails, so two inline keys are equal
 * exactly when their handles are. */
static bool key_same(const pw_value *a, const pw_value *b)
{
    if (a->tag_ != b->tag_)
        return false; /* inline and heap strings never have the same length */
    if (a->tag_ == PW__TAG_SSO)
        return memcmp(a, b, sizeof *a) == 0;
    size_t la, lb;
    const char *x = pw_value_str(a, &la), *y = pw_value_str(b, &lb);
    return la == lb && memcmp(x, y, la) == 0;
}

/* True if a small object's keys are all different. A 64-bit filter of the
 * keys leaves only likely pairs to compare. */
static bool keys_unique(const pw__entry *e, size_t n)
{
    uint64_t seen = 0;
    uint8_t bit[16];
    for (size_t i = 0; i < n; i++) {
        uint64_t w[2];
        if (e[i].key.tag_ == PW__TAG_SSO) { /* the handle is the content */
            memcpy(w, &e[i].key, sizeof w);
        } else { /* a heap string of more than 14 bytes: its ends and length */
            size_t len;
            const char *s = pw_value_str(&e[i].key, &len);
            memcpy(&w[0], s, 8);
            memcpy(&w[1], s + len - 8, 8);
            w[0] ^= len;
        }
        uint64_t h = (w[0] ^ (w[1] * 0x9e3779b97f4a7c15u)) * 0xff51afd7ed558ccdu;
        bit[i] = (uint8_t)(h >> 58);
        if (seen & (uint64_t)1 << bit[i])
            for (size_t j = 0; j < i; j++)
                if (bit[j] == bit[i] && key_same(&e[i].key, &e[j].key))
                    return false;
        seen |= (uint64_t)1 << bit[i];
    }
    return true;
}

/* Makes the innermost frame's container whole and pops it into *out. On
 * failure the container and everything in it are released. */
static pw_err dec_close(dec *d, pw_value *out)
{
    dec_frame *f = &d->frames[--d->nframes];
    if (!f->map) {
        ((pw__arr *)f->node.u_.node)->len = f->total;
        *out = f->node;
        return PW_OK;
    }
    pw__obj *o = (pw__obj *)f->node.u_.node;
    size_t n = f->total / 2;
    if (n < 12 && keys_unique(o->items, n)) { /* small enough to need no index */
        o->len = n;
        *out = f->node;
        return PW_OK;
    }
    /* a repeated key, or an object big enough for a hash index */
    pw_err rc = pw_object_from(out, f->slots, n);
    pw_value_release(&f->node); /* len 0: only the shell goes */
    if (rc)
        return pw__error_at(d->err, rc, f->offset, "msgpack: cannot build the map at byte %zu: %s",
                            f->offset, pw_strerror(rc));
    return PW_OK;
}

/* Releases the open containers and what they hold after a failure. */
static void dec_unwind(dec *d)
{
    while (d->nframes > 1) {
        dec_frame *f = &d->frames[--d->nframes];
        if (f->map) {
            if (f->filled & 1) /* a key without its value */
                pw_value_release(&f->slots[f->filled - 1]);
            ((pw__obj *)f->node.u_.node)->len = f->filled / 2;
        } else {
            ((pw__arr *)f->node.u_.node)->len = f->filled;
        }
        pw_value_release(&f->node);
    }
}

static bool is_ext_or_bin(uint8_t b)
{
    return (b >= 0xc4 && b <= 0xc9) || (b >= 0xd4 && b <= 0xd8);
}

/* Decodes the item at *pos into *slot (a scalar or string: returns 1) or
 * opens a container (returns 0, or 1 when it is empty and written). */
HOT pw_err dec_item(dec *d, size_t *pos, pw_value *slot)
{
    const uint8_t *p = d->p;
    size_t at = *pos, rest = d->n - at;
    uint8_t b = p[at];
    size_t len, hdr;

    if (b <= 0x7f) {
        *slot = (pw_value){.tag_ = PW__TAG_INT, .u_.i = b};
        *pos = at + 1;
        return 1;
    }
    if (b >= 0xe0) {
        *slot = (pw_value){.tag_ = PW__TAG_INT, .u_.i = (int8_t)b};
        *pos = at + 1;
        return 1;
    }
    if (b >= 0xa0 && b <= 0xbf) {
        len = b & 0x1f;
        hdr = 1;
        goto string;
    }
    if (b <= 0x8f) {
        *pos = at + 1;
        return dec_open(d, at, at + 1, (size_t)(b & 0x0f) * 2, true, slot);
    }
    if (b <= 0x9f) {
        *pos = at + 1;
        return dec_open(d, at, at + 1, b & 0x0f, false, slot);
    }

    /* 0xc0..0xdf: bytes that follow the type byte before any payload */
    static const uint8_t extra[32] = {
        [0x0a] = 4, [0x0b] = 8, [0x0c] = 1, [0x0d] = 2, [0x0e] = 4, [0x0f] = 8,
        [0x10] = 1, [0x11] = 2, [0x12] = 4, [0x13] = 8, [0x19] = 1, [0x1a] = 2,
        [0x1b] = 4, [0x1c] = 2, [0x1d] = 4, [0x1e] = 2, [0x1f] = 4,
    };
    if (b == 0xc1)
        return pw__error_at(d->err, PW_ESYNTAX, at, "msgpack: byte 0xc1 at byte %zu is never used",
                            at);
    if (is_ext_or_bin(b))
        return pw__error_at(d->err, PW_EUNSUPPORTED, at,
                            "msgpack: %s (0x%02x) at byte %zu is not supported", type_name(b), b,
                            at);
    size_t need = extra[b - 0xc0];
    if (rest < 1 + need)
        return dec_truncated(d, at);
    const uint8_t *q = p + at + 1;
    *pos = at + 1 + need;
    switch (b) {
    case 0xc0:
        *slot = pw_null();
        return 1;
    case 0xc2:
    case 0xc3:
        *slot = (pw_value){.tag_ = PW__TAG_BOOL, .u_.b = b == 0xc3};
        return 1;
    case 0xca: {
        uint32_t u = be32(q);
        float f;
        memcpy(&f, &u, sizeof f);
        if (f - f != 0)
            return non_finite(d, at);
        *slot = (pw_value){.tag_ = PW__TAG_DOUBLE, .u_.d = f};
        return 1;
    }
    case 0xcb: {
        uint64_t u = be64(q);
        double x;
        memcpy(&x, &u, sizeof x);
        if (x - x != 0)
            return non_finite(d, at);
        *slot = (pw_value){.tag_ = PW__TAG_DOUBLE, .u_.d = x};
        return 1;
    }
    case 0xcc:
        *slot = (pw_value){.tag_ = PW__TAG_INT, .u_.i = q[0]};
        return 1;
    case 0xcd:
        *slot = (pw_value){.tag_ = PW__TAG_INT, .u_.i = be16(q)};
        return 1;
    case 0xce:
        *slot = (pw_value){.tag_ = PW__TAG_INT, .u_.i = be32(q)};
        return 1;
    case 0xcf: {
        uint64_t u = be64(q);
        if (u > (uint64_t)INT64_MAX) /* what a JavaScript peer reads too */
            *slot = (pw_value){.tag_ = PW__TAG_DOUBLE, .u_.d = (double)u};
        else
            *slot = (pw_value){.tag_ = PW__TAG_INT, .u_.i = (int64_t)u};
        return 1;
    }
    case 0xd0:
        *slot = (pw_value){.tag_ = PW__TAG_INT, .u_.i = (int8_t)q[0]};
        return 1;
    case 0xd1:
        *slot = (pw_value){.tag_ = PW__TAG_INT, .u_.i = (int16_t)be16(q)};
        return 1;
    case 0xd2:
        *slot = (pw_value){.tag_ = PW__TAG_INT, .u_.i = (int32_t)be32(q)};
        return 1;
    case 0xd3:
        *slot = (pw_value){.tag_ = PW__TAG_INT, .u_.i = (int64_t)be64(q)};
        return 1;
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
        return dec_open(d, at, *pos, be16(q), false, slot);
    case 0xdd:
        return dec_open(d, at, *pos, be32(q), false, slot);
    case 0xde:
        return dec_open(d, at, *pos, (size_t)be16(q) * 2, true, slot);
    default: /* 0xdf */
        return dec_open(d, at, *pos, (size_t)be32(q) * 2, true, slot);
    }

string: /* rest >= hdr here: the header bytes were checked above */
    if (len > rest - hdr)
        return pw__error_at(d->err, PW_ESYNTAX, at,
                            "msgpack: string at byte %zu claims %zu bytes but only %zu follow", at,
                            len, rest - hdr);
    pw_err rc = dec_string(d, at, p + at + hdr, len, slot);
    if (rc)
        return rc;
    *pos = at + hdr + len;
    return 1;
}

static bool is_str_byte(uint8_t b)
{
    return (b >= 0xa0 && b <= 0xbf) || (b >= 0xd9 && b <= 0xdb);
}

static pw_err bad_key(dec *d, size_t at)
{
    uint8_t b = d->p[at];
    if (b == 0xc1)
        return pw__error_at(d->err, PW_ESYNTAX, at, "msgpack: byte 0xc1 at byte %zu is never used",
                            at);
    if (is_ext_or_bin(b))
        return pw__error_at(d->err, PW_EUNSUPPORTED, at,
                            "msgpack: %s (0x%02x) at byte %zu is not supported", type_name(b), b,
                            at);
    return pw__error_at(d->err, PW_ETYPE, at,
                        "msgpack: map key at byte %zu is %s; keys must be strings", at,
                        type_name(b));
}

static pw_err msgpack_decode(const uint8_t *p, size_t n, const pw_limits *lim, pw_value *out,
                             pw_error *err)
{
    *out = pw_null();
    size_t max_input = lim ? lim->max_input_bytes : PW_DEFAULT_MAX_INPUT_BYTES;
    if (n > max_input)
        return pw__error_at(err, PW_ELIMIT, max_input,
                            "msgpack: input of %zu bytes is over the limit of %zu", n, max_input);
    if (n == 0)
        return pw__error_at(err, PW_ESYNTAX, 0, "msgpack: empty input");

    dec_frame frames_inline[DEC_INLINE_FRAMES];
    dec d;
    d.p = p;
    d.n = n;
    d.frames = d.frames_inline = frames_inline;
    d.nframes = 1;
    d.capframes = DEC_INLINE_FRAMES;
    d.max_depth = lim ? lim->max_depth : PW_DEFAULT_MAX_DEPTH;
    d.max_string = lim ? lim->max_string_bytes : PW_DEFAULT_MAX_STRING_BYTES;
    pw__budget_init(&d.budget, lim, n);
    d.err = err;

    /* frames[0] holds the one slot of the whole input, so that every value,
     * the outermost too, lands in the innermost frame's next slot */
    pw_value root = pw_null();
    d.frames[0] = (dec_frame){.slots = &root, .total = 1};
    dec_frame *top = &d.frames[0];
    size_t pos = 0;
    pw_err rc;
    for (;;) {
        if (pos >= n) {
            rc = dec_truncated(&d, top->offset);
            break;
        }
        pw_value *slot = &top->slots[top->filled];
        if (top->map && (top->filled & 1) == 0) { /* a key, then its value */
            uint8_t b = p[pos];
            if ((b & 0xe0) == 0xa0) { /* fixstr: nearly every key */
                size_t len = b & 0x1f;
                if (len > n - pos - 1) {
                    rc = pw__error_at(
                        err, PW_ESYNTAX, pos,
                        "msgpack: string at byte %zu claims %zu bytes but only %zu follow", pos,
                        len, n - pos - 1);
                    break;
                }
                if ((rc = dec_string(&d, pos, p + pos + 1, len, slot)) != PW_OK)
                    break;
                pos += 1 + len;
            } else if (is_str_byte(b)) {
                if ((rc = dec_item(&d, &pos, slot)) < 0)
                    break;
            } else {
                rc = bad_key(&d, pos);
                break;
            }
            top->filled++;
            slot++;
            if (pos >= n) {
                rc = dec_truncated(&d, top->offset);
                break;
            }
        }
        rc = dec_item(&d, &pos, slot);
        if (rc == 0) { /* a container opened: its members come next */
            top = &d.frames[d.nframes - 1];
            continue;
        }
        if (rc < 0)
            break;
        rc = PW_OK;
        /* a value completed: close every container it completes */
        while (++top->filled == top->total && top != d.frames) {
            pw_value v;
            rc = dec_close(&d, &v);
            top = &d.frames[d.nframes - 1];
            if (rc)
                break;
            top->slots[top->filled] = v;
        }
        if (rc || top == d.frames)
            break;
    }
    if (!rc && pos != n)
        rc = pw__error_at(err, PW_ESYNTAX, pos,
                          "msgpack: %zu trailing bytes after the value, at byte %zu", n - pos, pos);
    if (rc) {
        dec_unwind(&d);
        pw_value_release(&root);
    } else {
        *out = root;
    }
    if (d.frames != d.frames_inline)
        free(d.frames);
    return rc;
}

const pw_codec pw_codec_msgpack = {
    .name = "msgpack",
    .encode = msgpack_encode,
    .decode = msgpack_decode,
};
