/* codec_json.c - the JSON codec table and its decoder: strict RFC 8259.
 *
 * The idea: decoding is one loop over the bytes with an explicit heap stack,
 * never recursion, so nesting is bounded only by pw_limits.max_depth. Every
 * finished value is pushed on a single value stack; an open container only
 * remembers where its members start, and on its closing bracket the members
 * become one node of their final size in one allocation (pw_array_from,
 * pw_object_from, or build_object below for small objects). Strings without
 * escapes are copied straight from the input (8 bytes are scanned at a
 * time); UTF-8 is validated only where a byte >= 0x80 appears.
 *
 * Numbers: an integer without fraction or exponent becomes an int64 when it
 * fits (INT64_MIN included), otherwise a double. "-0" becomes the double
 * -0.0, as JSON.parse does; the encoder prints it "0", as JSON.stringify
 * does. A number beyond the double range (1e400) is an error: JSON.parse
 * would make it Infinity, which JSON.stringify sends on as null, so peers
 * would disagree. Conversion is exact for up to 19
 * significant digits and powers of ten up to 22, strtod (with the locale's
 * decimal point) otherwise.
 *
 * The encoder is in codec_json_encode.c.
 */
#include "patchwire/codec.h"

#include <locale.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_json.h"
#include "internal.h"
#include "value_internal.h"

#if defined(__GNUC__)
#define PW_LIKELY(x) __builtin_expect(!!(x), 1)
#define PW_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define PW_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define PW_LIKELY(x) (x)
#define PW_UNLIKELY(x) (x)
#define PW_PRINTF(a, b)
#endif

#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define PW_SWAR 1
#else
#define PW_SWAR 0
#endif

/* ================================================================ decode */

typedef struct frame {
    size_t start; /* index in the value stack of the first member */
    bool obj;
} frame;

typedef struct parser {
    const uint8_t *base, *end;
    size_t max_depth, max_string;
    pw__budget budget;
    bool over_budget; /* the last failed allocation was refused by the budget */
    pw_error *err;
    pw_err rc;
    pw_value *vals; /* the value stack */
    size_t nvals, capvals;
    frame *frames; /* open containers */
    size_t depth, capframes;
    uint8_t *scratch; /* a string being unescaped */
    size_t nscratch, capscratch;
    pw_value vals_inline[32];
    frame frames_inline[16];
    uint8_t scratch_inline[256];
} parser;

/* Records the error (message and offset) and returns NULL for the caller to pass up. */
PW_PRINTF(4, 5)
static const uint8_t *fail(parser *ps, pw_err code, const uint8_t *at, const char *fmt, ...)
{
    ps->rc = code;
    if (ps->err) {
        ps->err->code = code;
        ps->err->offset = (size_t)(at - ps->base);
        ps->err->index = -1;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ps->err->msg, sizeof ps->err->msg, fmt, ap);
        va_end(ap);
    }
    return NULL;
}

static const uint8_t *fail_nomem(parser *ps, const uint8_t *at)
{
    if (ps->over_budget) {
        ps->rc = pw__budget_refuse(&ps->budget, ps->err, "json", (size_t)(at - ps->base),
                                   ps->nvals + 1, 0);
        return NULL;
    }
    return fail(ps, PW_ENOMEM, at, "out of memory at byte %zu", (size_t)(at - ps->base));
}

/* "'x'" for a printable byte, "byte 0xNN" otherwise, for error messages. */
static const char *show_byte(uint8_t c, char buf[16])
{
    if (c >= 0x20 && c < 0x7f)
        snprintf(buf, 16, "'%c'", c);
    else
        snprintf(buf, 16, "byte 0x%02x", c);
    return buf;
}

static const uint8_t *fail_unexpected(parser *ps, const uint8_t *at, const char *wanted)
{
    size_t off = (size_t)(at - ps->base);
    if (at == ps->end)
        return fail(ps, PW_ESYNTAX, at, "unexpected end of input at byte %zu, expected %s", off,
                    wanted);
    char b[16];
    return fail(ps, PW_ESYNTAX, at, "unexpected %s at byte %zu, expected %s", show_byte(*at, b),
                off, wanted);
}

/* Room for one more value on the stack, whose memory counts against the
 * budget while the decode runs, as its values do until their container
 * closes. */
static bool grow_vals(parser *ps)
{
    size_t want = ps->capvals * 2;
    if (ps->nvals + 1 > ps->budget.max_values - ps->budget.values ||
        !pw__budget_spend(&ps->budget, 0, (want - ps->capvals) * sizeof(pw_value))) {
        ps->over_budget = true;
        return false;
    }
    return pw__grow((void **)&ps->vals, ps->vals_inline, &ps->capvals, want, sizeof(pw_value));
}

static inline bool push_val(parser *ps, pw_value v)
{
    if (PW_UNLIKELY(ps->nvals == ps->capvals) && !grow_vals(ps)) {
        pw_value_release(&v);
        return false;
    }
    ps->vals[ps->nvals++] = v;
    return true;
}

/* Pushes a scalar: its tag and its 8 payload bytes (a bool as 0 or 1). Built
 * as two words so that no narrow store is followed by a wide load. */
static inline bool push_scalar(parser *ps, uint8_t tag, uint64_t bits)
{
    if (PW_UNLIKELY(ps->nvals == ps->capvals) && !grow_vals(ps))
        return false;
    pw_value *slot = &ps->vals[ps->nvals++];
#if PW_SWAR
    uint64_t lo = tag;
    memcpy(slot, &lo, 8);
    memcpy((char *)slot + 8, &bits, 8);
#else
    *slot = pw_null();
    slot->tag_ = tag;
    if (tag == PW__TAG_BOOL)
        slot->u_.b = bits != 0;
    else
        memcpy(&slot->u_, &bits, 8);
#endif
    return true;
}

static inline bool scratch_put(parser *ps, const void *s, size_t n)
{
    while (PW_UNLIKELY(ps->capscratch - ps->nscratch < n))
        if (!pw__grow((void **)&ps->scratch, ps->scratch_inline, &ps->capscratch,
                      ps->capscratch + 1, 1))
            return false;
    memcpy(ps->scratch + ps->nscratch, s, n);
    ps->nscratch += n;
    return true;
}

static inline const uint8_t *skip_ws(const uint8_t *p, const uint8_t *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

/* 1 for the bytes that end a plain run inside a string. */
static const uint8_t str_special[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

/* First byte at or after p that is '"', '\\', a control character or >= 0x80. */
static inline const uint8_t *scan_plain(const uint8_t *p, const uint8_t *end)
{
#if PW_SWAR
    const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
        /* the lowest flagged byte is exact: borrows only run upward from a hit */
        uint64_t hit =
            (((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w) | w) & high;
        if (hit)
            return p + (__builtin_ctzll(hit) >> 3);
        p += 8;
    }
#endif
    while (p < end && !str_special[*p])
        p++;
    return p;
}

static int hex4(const uint8_t *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t c = p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v << 4 | d;
    }
    return v;
}

static size_t utf8_put(uint8_t *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xC0 | cp >> 6);
        o[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | cp >> 12);
        o[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | cp >> 18);
    o[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes the escape at q (q[0] == '\\') into the scratch buffer; returns the
 * byte after it. */
static const uint8_t *unescape(parser *ps, const uint8_t *q)
{
    size_t off = (size_t)(q - ps->base);
    if (ps->end - q < 2)
        return fail(ps, PW_ESYNTAX, ps->end, "unterminated string at byte %zu",
                    (size_t)(ps->end - ps->base));
    uint8_t c = q[1], one;
    switch (c) {
    case '"':
    case '\\':
    case '/':
        one = c;
        break;
    case 'b':
        one = '\b';
        break;
    case 'f':
        one = '\f';
        break;
    case 'n':
        one = '\n';
        break;
    case 'r':
        one = '\r';
        break;
    case 't':
        one = '\t';
        break;
    case 'u': {
        int u = ps->end - q >= 6 ? hex4(q + 2) : -1;
        if (u < 0)
            return fail(ps, PW_ESYNTAX, q, "invalid \\u escape at byte %zu", off);
        uint32_t cp = (uint32_t)u;
        const uint8_t *next = q + 6;
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return fail(ps, PW_ESYNTAX, q, "lone low surrogate \\u%04X at byte %zu", (unsigned)cp,
                        off);
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            int lo = ps->end - next >= 6 && next[0] == '\\' && next[1] == 'u' ? hex4(next + 2) : -1;
            if (lo < 0xDC00 || lo > 0xDFFF)
                return fail(ps, PW_ESYNTAX, q,
                            "lone high surrogate \\u%04X at byte %zu (not followed by a low "
                            "surrogate escape)",
                            (unsigned)cp, off);
            cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
            next += 6;
        }
        uint8_t buf[4];
        if (!scratch_put(ps, buf, utf8_put(buf, cp)))
            return fail_nomem(ps, q);
        return next;
    }
    default: {
        char b[16];
        return fail(ps, PW_ESYNTAX, q, "invalid escape '\\' followed by %s at byte %zu",
                    show_byte(c, b), off);
    }
    }
    if (!scratch_put(ps, &one, 1))
        return fail_nomem(ps, q);
    return q + 2;
}

static inline pw_err make_string(pw_value *out, const uint8_t *s, size_t len)
{
    if (len <= PW_SSO_MAX) { /* the same handle pw_string_new builds, without the call */
        pw_value v;
        memset(&v, 0, sizeof v); /* every byte: same_key compares whole handles */
        v.tag_ = PW__TAG_SSO;
        v.len_ = (uint8_t)len;
        memcpy((char *)&v + offsetof(pw_value, sso_), s, len);
        *out = v;
        return PW_OK;
    }
    return pw_string_new(out, (const char *)s, len);
}

/* Pushes a string known to be valid UTF-8. */
static inline bool push_string(parser *ps, const uint8_t *s, size_t len)
{
    if (PW_UNLIKELY(ps->nvals == ps->capvals) && !grow_vals(ps))
        return false;
    pw_value *slot = &ps->vals[ps->nvals];
#if PW_SWAR
    if (len <= PW_SSO_MAX && ps->end - s >= 14) {
        /* the inline-string handle built in two words: tag, length, then the
         * bytes with everything past them zeroed, as pw_string_new leaves it */
        uint64_t lo, hi;
        memcpy(&lo, s, 8);
        memcpy(&hi, s + 6, 8);
        lo = lo << 16 | (uint64_t)len << 8 | PW__TAG_SSO;
        if (len < 6)
            lo &= ((uint64_t)1 << (8 * (len + 2))) - 1;
        hi = len <= 6 ? 0 : len == 14 ? hi : hi & (((uint64_t)1 << (8 * (len - 6))) - 1);
        memcpy(slot, &lo, 8);
        memcpy((char *)slot + 8, &hi, 8);
        ps->nvals++;
        return true;
    }
#endif
    if (make_string(slot, s, len))
        return false;
    ps->nvals++;
    return true;
}

/* The string opened at p, from q (the first byte that is not plain ASCII)
 * on: escapes are decoded into the scratch buffer, UTF-8 is validated. */
static const uint8_t *parse_string_slow(parser *ps, const uint8_t *p, const uint8_t *q)
{
    const uint8_t *end = ps->end, *seg = p + 1;
    bool escaped = false;
    for (;;) {
        q = scan_plain(q, end);
        if (q == end)
            return fail(ps, PW_ESYNTAX, q, "unterminated string at byte %zu (opened at byte %zu)",
                        (size_t)(q - ps->base), (size_t)(p - ps->base));
        uint8_t c = *q;
        if (c == '"')
            break;
        if (c >= 0x80) {
            size_t k = pw__utf8_seq(q, end);
            if (!k)
                return fail(ps, PW_ESYNTAX, q, "invalid UTF-8 (byte 0x%02x) at byte %zu", c,
                            (size_t)(q - ps->base));
            q += k;
            continue;
        }
        if (c < 0x20)
            return fail(ps, PW_ESYNTAX, q,
                        "unescaped control character 0x%02x in string at byte %zu", c,
                        (size_t)(q - ps->base));
        if (!escaped) {
            escaped = true;
            ps->nscratch = 0;
        }
        if (!scratch_put(ps, seg, (size_t)(q - seg)))
            return fail_nomem(ps, q);
        q = unescape(ps, q);
        if (!q)
            return NULL;
        seg = q;
        if (ps->nscratch > ps->max_string)
            break; /* reported below */
    }
    const uint8_t *s = p + 1;
    size_t len = (size_t)(q - s);
    if (escaped) {
        if (ps->nscratch <= ps->max_string && !scratch_put(ps, seg, (size_t)(q - seg)))
            return fail_nomem(ps, q);
        s = ps->scratch;
        len = ps->nscratch;
    }
    if (len > ps->max_string)
        return fail(ps, PW_ELIMIT, p, "string at byte %zu is longer than the limit of %zu bytes",
                    (size_t)(p - ps->base), ps->max_string);
    pw_value v;
    if (make_string(&v, s, len) || !push_val(ps, v))
        return fail_nomem(ps, p);
    return q + 1;
}

/* Parses the string whose opening quote is at p and pushes it. */
static inline const uint8_t *parse_string(parser *ps, const uint8_t *p)
{
    const uint8_t *s = p + 1, *q = scan_plain(s, ps->end);
    if (PW_UNLIKELY(q == ps->end || *q != '"'))
        return parse_string_slow(ps, p, q);
    size_t len = (size_t)(q - s);
    if (PW_UNLIKELY(len > ps->max_string))
        return parse_string_slow(ps, p, q); /* reports the limit */
    if (PW_UNLIKELY(!push_string(ps, s, len)))
        return fail_nomem(ps, p);
    return q + 1;
}

static inline bool is_digit(uint8_t c)
{
    return (unsigned)(c - '0') < 10;
}

static const double pow10_exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Correctly rounded conversion of validated JSON number text, by strtod on a
 * copy whose '.' is replaced by the locale's decimal point. */
static bool slow_double(const uint8_t *s, size_t len, double *out)
{
    const char *dp = localeconv()->decimal_point;
    size_t dplen = dp && *dp ? strlen(dp) : 1;
    char small[128], *buf = small;
    if (len + dplen + 1 > sizeof small) {
        buf = malloc(len + dplen + 1);
        if (!buf)
            return false;
    }
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.' && dp && *dp) {
            memcpy(buf + o, dp, dplen);
            o += dplen;
        } else {
            buf[o++] = (char)s[i];
        }
    }
    buf[o] = '\0';
    *out = strtod(buf, NULL);
    if (buf != small)
        free(buf);
    return true;
}

/* Parses the number starting at p and pushes it. */
static inline const uint8_t *parse_number(parser *ps, const uint8_t *p)
{
    const uint8_t *s = p, *end = ps->end;
    bool neg = false, is_int = true, inexact = false;
    uint64_t m = 0; /* up to 19 significant digits */
    int sig = 0;
    int64_t exp10 = 0;
    if (*p == '-') {
        neg = true;
        p++;
    }
    if (p == end || !is_digit(*p))
        return fail_unexpected(ps, p, "a digit");
    if (*p == '0') {
        p++;
        if (p < end && is_digit(*p))
            return fail(ps, PW_ESYNTAX, s, "leading zero in number at byte %zu",
                        (size_t)(s - ps->base));
    } else {
        do {
            if (sig < 19) {
                m = m * 10 + (uint64_t)(*p - '0');
                sig++;
            } else {
                exp10++;
                inexact = true;
            }
            p++;
        } while (p < end && is_digit(*p));
    }
    if (p < end && *p == '.') {
        is_int = false;
        p++;
        if (p == end || !is_digit(*p))
            return fail_unexpected(ps, p, "a digit after '.'");
        do {
            if (sig < 19) {
                m = m * 10 + (uint64_t)(*p - '0');
                sig += m != 0; /* leading zeros are not significant */
                exp10--;
            } else {
                inexact = true;
            }
            p++;
        } while (p < end && is_digit(*p));
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        is_int = false;
        p++;
        bool eneg = false;
        if (p < end && (*p == '+' || *p == '-'))
            eneg = *p++ == '-';
        if (p == end || !is_digit(*p))
            return fail_unexpected(ps, p, "a digit in the exponent");
        int64_t e = 0;
        do {
            if (e < 1000000000)
                e = e * 10 + (*p - '0');
            p++;
        } while (p < end && is_digit(*p));
        exp10 += eneg ? -e : e;
    }
    uint64_t bits;
    uint8_t tag;
    if (is_int && !inexact && !(neg && m == 0) &&
        m <= (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX)) {
        tag = PW__TAG_INT;
        bits = neg ? 0 - m : m; /* the int64's two's complement bits, INT64_MIN included */
    } else {
        double d;
        if (!inexact && m <= (1ull << 53) && exp10 >= -22 && exp10 <= 22) {
            /* both operands exact, so one correctly rounded operation */
            d = (double)m;
            d = exp10 < 0 ? d / pow10_exact[-exp10] : d * pow10_exact[exp10];
            d = neg ? -d : d;
        } else if (!inexact && m == 0) {
            d = neg ? -0.0 : 0.0;
        } else if (!slow_double(s, (size_t)(p - s), &d)) {
            return fail_nomem(ps, s);
        }
        if (d - d != 0) /* infinite: no JSON text could carry it back out */
            return fail(ps, PW_ESYNTAX, s, "number out of range at byte %zu",
                        (size_t)(s - ps->base));
        tag = PW__TAG_DOUBLE;
        memcpy(&bits, &d, sizeof bits);
    }
    if (!push_scalar(ps, tag, bits))
        return fail_nomem(ps, s);
    return p;
}

static inline const uint8_t *parse_literal(parser *ps, const uint8_t *p)
{
    size_t avail = (size_t)(ps->end - p);
    uint8_t tag = PW__TAG_BOOL;
    uint64_t bits = 0;
    size_t len = 4;
    if (avail >= 4 && memcmp(p, "null", 4) == 0)
        tag = PW__TAG_NULL;
    else if (avail >= 4 && memcmp(p, "true", 4) == 0)
        bits = 1;
    else if (avail >= 5 && memcmp(p, "false", 5) == 0)
        len = 5;
    else
        return fail(ps, PW_ESYNTAX, p, "invalid literal at byte %zu (expected true, false or null)",
                    (size_t)(p - ps->base));
    if (!push_scalar(ps, tag, bits))
        return fail_nomem(ps, p);
    return p + len;
}

static const uint8_t *open_container(parser *ps, const uint8_t *p, bool obj)
{
    if (ps->depth >= ps->max_depth)
        return fail(ps, PW_EDEPTH, p, "nesting deeper than the limit of %zu at byte %zu",
                    ps->max_depth, (size_t)(p - ps->base));
    if (ps->depth == ps->capframes && !pw__grow((void **)&ps->frames, ps->frames_inline,
                                                &ps->capframes, ps->capframes + 1, sizeof(frame)))
        return fail_nomem(ps, p);
    ps->frames[ps->depth].start = ps->nvals;
    ps->frames[ps->depth].obj = obj;
    ps->depth++;
    return p + 1;
}

/* Below pw_object_from's hash-index threshold an object is cheaper to build
 * here, where every key handle is known to be canonical (a string of up to
 * PW_SSO_MAX bytes is inline with zeroed padding, a longer one is a node), so
 * two inline keys are equal exactly when their 16 bytes are. */
#define SMALL_OBJECT_MAX 11

static bool same_key(const pw_value *a, const pw_value *b)
{
    if (a->tag_ != b->tag_)
        return false;
    if (a->tag_ == PW__TAG_SSO)
        return memcmp(a, b, sizeof *a) == 0;
    const pw__str *x = (const pw__str *)a->u_.node, *y = (const pw__str *)b->u_.node;
    return x->len == y->len && memcmp(x->data, y->data, x->len) == 0;
}

/* Same contract as pw_object_from (takes ownership of kv, last duplicate wins
 * at the first position). */
static pw_err build_object(pw_value *out, pw_value *kv, size_t n)
{
    if (n > SMALL_OBJECT_MAX)
        return pw_object_from(out, kv, n);
    pw__obj *o = pw__node_alloc(sizeof(pw__obj) + n * sizeof(pw__entry), PW__TAG_OBJ);
    if (!o) {
        for (size_t i = 0; i < 2 * n; i++)
            pw_value_release(&kv[i]);
        return PW_ENOMEM;
    }
    o->cap = n;
    o->items = o->inline_items;
    o->index = (pw__strtab){0};
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        pw_value *k = &kv[2 * i];
        size_t at = 0;
        while (at < len && !same_key(&o->items[at].key, k))
            at++;
        if (at < len) {
            pw_value_release(k);
            pw_value_release(&o->items[at].val);
            o->items[at].val = kv[2 * i + 1];
            continue;
        }
        o->items[len].key = *k;
        o->items[len].val = kv[2 * i + 1];
        len++;
    }
    o->len = len;
    *out = pw_null();
    out->tag_ = PW__TAG_OBJ;
    out->u_.node = &o->h;
    return PW_OK;
}

/* Builds the innermost open container from its members on the stack. */
static const uint8_t *close_container(parser *ps, const uint8_t *p)
{
    frame f = ps->frames[--ps->depth];
    size_t n = ps->nvals - f.start;
    /* the node: header, members, and a hash index for a large object */
    size_t bytes = (f.obj ? sizeof(pw__obj) : sizeof(pw__arr)) + n * sizeof(pw_value) +
                   (f.obj && n / 2 > SMALL_OBJECT_MAX ? n * 2 * sizeof(uint32_t) : 0);
    if (!pw__budget_spend(&ps->budget, n, bytes)) {
        ps->rc = pw__budget_refuse(&ps->budget, ps->err, "json", (size_t)(p - ps->base), n, bytes);
        return NULL;
    }
    pw_value v;
    pw_err rc = f.obj ? build_object(&v, ps->vals + f.start, n / 2)
                      : pw_array_from(&v, ps->vals + f.start, n);
    ps->nvals = f.start; /* the members now belong to v (or were released) */
    if (rc || !push_val(ps, v))
        return fail_nomem(ps, p);
    return p + 1;
}

static void parser_free(parser *ps)
{
    for (size_t i = 0; i < ps->nvals; i++)
        pw_value_release(&ps->vals[i]);
    if (ps->vals != ps->vals_inline)
        free(ps->vals);
    if (ps->frames != ps->frames_inline)
        free(ps->frames);
    if (ps->scratch != ps->scratch_inline)
        free(ps->scratch);
}

static pw_err json_decode(const uint8_t *in, size_t n, const pw_limits *lim, pw_value *out,
                          pw_error *err)
{
    *out = pw_null();
    pw_error_clear(err);
    size_t max_input = lim ? lim->max_input_bytes : PW_DEFAULT_MAX_INPUT_BYTES;
    if (n > max_input)
        return pw__error_at(
            err, PW_ELIMIT, max_input,
            "input longer than the limit of %zu bytes at byte %zu (%zu bytes given)", max_input,
            max_input, n);
    if (n == 0)
        return pw__error_at(err, PW_ESYNTAX, 0, "empty input at byte 0, expected a value");

    parser ps;
    ps.base = in;
    ps.end = in + n;
    ps.max_depth = lim ? lim->max_depth : PW_DEFAULT_MAX_DEPTH;
    ps.max_string = lim ? lim->max_string_bytes : PW_DEFAULT_MAX_STRING_BYTES;
    pw__budget_init(&ps.budget, lim, n);
    ps.over_budget = false;
    ps.err = err;
    ps.rc = PW_OK;
    ps.vals = ps.vals_inline;
    ps.nvals = 0;
    ps.capvals = sizeof ps.vals_inline / sizeof ps.vals_inline[0];
    ps.frames = ps.frames_inline;
    ps.depth = 0;
    ps.capframes = sizeof ps.frames_inline / sizeof ps.frames_inline[0];
    ps.scratch = ps.scratch_inline;
    ps.nscratch = 0;
    ps.capscratch = sizeof ps.scratch_inline;

    const uint8_t *p = in, *end = ps.end;

value:
    p = skip_ws(p, end);
    if (PW_UNLIKELY(p == end)) {
        fail_unexpected(&ps, p, "a value");
        goto failed;
    }
    switch (*p) {
    case '"':
        p = parse_string(&ps, p);
        break;
    case '{':
        p = open_container(&ps, p, true);
        if (!p)
            goto failed;
        p = skip_ws(p, end);
        if (p < end && *p == '}') {
            p = close_container(&ps, p);
            break;
        }
        goto key;
    case '[':
        p = open_container(&ps, p, false);
        if (!p)
            goto failed;
        p = skip_ws(p, end);
        if (p < end && *p == ']') {
            p = close_container(&ps, p);
            break;
        }
        goto value;
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        p = parse_number(&ps, p);
        break;
    case 't':
    case 'f':
    case 'n':
        p = parse_literal(&ps, p);
        break;
    default:
        fail_unexpected(&ps, p, "a value");
        goto failed;
    }
    if (!p)
        goto failed;

after_value:
    if (ps.depth == 0)
        goto done;
    if (p == end || *p <= ' ') { /* compact JSON has no whitespace here */
        p = skip_ws(p, end);
        if (p == end) {
            fail_unexpected(&ps, p, ps.frames[ps.depth - 1].obj ? "',' or '}'" : "',' or ']'");
            goto failed;
        }
    }
    if (ps.frames[ps.depth - 1].obj) {
        if (*p == ',') {
            p = skip_ws(p + 1, end);
            goto key;
        }
        if (*p != '}') {
            fail_unexpected(&ps, p, "',' or '}'");
            goto failed;
        }
    } else {
        if (*p == ',') {
            p++;
            goto value;
        }
        if (*p != ']') {
            fail_unexpected(&ps, p, "',' or ']'");
            goto failed;
        }
    }
    p = close_container(&ps, p);
    if (!p)
        goto failed;
    goto after_value;

key:
    if (p == end || *p != '"') {
        fail_unexpected(&ps, p, "a string key");
        goto failed;
    }
    p = parse_string(&ps, p);
    if (!p)
        goto failed;
    if (!(p < end && *p == ':')) {
        p = skip_ws(p, end);
        if (p == end || *p != ':') {
            fail_unexpected(&ps, p, "':'");
            goto failed;
        }
    }
    p++;
    goto value;

done:
    p = skip_ws(p, end);
    if (p != end) {
        char b[16];
        fail(&ps, PW_ESYNTAX, p, "trailing %s after the value at byte %zu", show_byte(*p, b),
             (size_t)(p - in));
        goto failed;
    }
    *out = ps.vals[0];
    ps.nvals = 0;
    parser_free(&ps);
    return PW_OK;

failed:
    parser_free(&ps);
    return ps.rc;
}

const pw_codec pw_codec_json = {
    .name = "json",
    .encode = pw__json_encode,
    .decode = json_decode,
};
