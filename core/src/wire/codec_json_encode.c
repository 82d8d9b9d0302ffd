/* codec_json_encode.c - the JSON encoder: compact, raw UTF-8, JavaScript's
 * number formatting.
 *
 * The idea: a tree is written iteratively with a heap stack of open
 * containers (no depth limit but memory). Doubles are written as the shortest
 * text that reads back to the same bits (found with "%.*e" and strtod, a
 * binary search over the precision), laid out as Number.prototype.toString
 * does: integral values without ".0", exponent form from 1e21 and below 1e-6,
 * -0 as "0", NaN and infinities as null (as JSON.stringify). Strings are
 * written as their bytes with only '"', '\\' and control characters escaped
 * (the document model does not check UTF-8; decoded strings are valid).
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_json.h"
#include "value_internal.h"

#if defined(__GNUC__)
#define PW_LIKELY(x) __builtin_expect(!!(x), 1)
#else
#define PW_LIKELY(x) (x)
#endif

/* Bytes that must be escaped inside a JSON string. */
static const uint8_t needs_escape[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
};

static inline bool reserve(pw_buf *b, size_t n)
{
    return PW_LIKELY(b->cap - b->len >= n) || pw_buf_reserve(b, n) == PW_OK;
}

static bool put_string(pw_buf *b, const char *str, size_t len)
{
    const uint8_t *s = (const uint8_t *)str, *end = s + len;
    if (!reserve(b, len + 2))
        return false;
    b->data[b->len++] = '"';
    while (s < end) {
        const uint8_t *run = s;
        while (s < end && !needs_escape[*s])
            s++;
        if (s > run) {
            if (!reserve(b, (size_t)(s - run) + 1))
                return false;
            memcpy(b->data + b->len, run, (size_t)(s - run));
            b->len += (size_t)(s - run);
        }
        if (s == end)
            break;
        if (!reserve(b, 7))
            return false;
        uint8_t c = *s++;
        char *o = (char *)b->data + b->len;
        char short_form = c == '"'    ? '"'
                          : c == '\\' ? '\\'
                          : c == '\b' ? 'b'
                          : c == '\f' ? 'f'
                          : c == '\n' ? 'n'
                          : c == '\r' ? 'r'
                          : c == '\t' ? 't'
                                      : 0;
        if (short_form) {
            o[0] = '\\';
            o[1] = short_form;
            b->len += 2;
        } else {
            static const char hex[] = "0123456789abcdef";
            memcpy(o, "\\u00", 4);
            o[4] = hex[c >> 4];
            o[5] = hex[c & 15];
            b->len += 6;
        }
    }
    if (!reserve(b, 1))
        return false;
    b->data[b->len++] = '"';
    return true;
}

static size_t fmt_uint(char *o, uint64_t u)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    for (size_t i = 0; i < n; i++)
        o[i] = tmp[n - 1 - i];
    return n;
}

static size_t fmt_int(char *o, int64_t i)
{
    if (i < 0) {
        o[0] = '-';
        return 1 + fmt_uint(o + 1, 0 - (uint64_t)i);
    }
    return fmt_uint(o, (uint64_t)i);
}

/* Shortest round-trip digits of a finite nonzero d: digits into dig (no
 * trailing zeros), returns their count k and sets *point so that
 * |d| = 0.DIGITS * 10^point (ECMAScript's n). */
static int shortest_digits(double d, char dig[20], int *point)
{
    char tmp[40];
    int lo = 0, hi = 16; /* "%.16e" (17 digits) always reads back */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        snprintf(tmp, sizeof tmp, "%.*e", mid, d);
        if (strtod(tmp, NULL) == d)
            hi = mid;
        else
            lo = mid + 1;
    }
    snprintf(tmp, sizeof tmp, "%.*e", hi, d);
    /* tmp is "[-]D[<locale point>DDD]e<sign>XX" */
    const char *s = tmp;
    int k = 0;
    if (*s == '-')
        s++;
    while (*s && *s != 'e') {
        if ((*s >= '0' && *s <= '9'))
            dig[k++] = *s;
        s++;
    }
    while (k > 1 && dig[k - 1] == '0')
        k--;
    *point = (int)strtol(s + 1, NULL, 10) + 1;
    return k;
}

/* JSON text of a double as JSON.stringify writes it; o has room for 32. */
static size_t fmt_double(char *o, double d)
{
    if (!isfinite(d)) {
        memcpy(o, "null", 4);
        return 4;
    }
    if (d == 0) {
        o[0] = '0'; /* -0 too, as JSON.stringify does */
        return 1;
    }
    if (fabs(d) < 9007199254740992.0 && d == (double)(int64_t)d)
        return fmt_int(o, (int64_t)d);
    char dig[20];
    int n, k = shortest_digits(d, dig, &n);
    size_t len = 0;
    if (d < 0)
        o[len++] = '-';
    if (k <= n && n <= 21) { /* integer: digits then zeros */
        memcpy(o + len, dig, (size_t)k);
        len += (size_t)k;
        for (int i = k; i < n; i++)
            o[len++] = '0';
    } else if (0 < n && n <= 21) { /* point inside the digits */
        memcpy(o + len, dig, (size_t)n);
        len += (size_t)n;
        o[len++] = '.';
        memcpy(o + len, dig + n, (size_t)(k - n));
        len += (size_t)(k - n);
    } else if (-6 < n && n <= 0) { /* 0.000ddd */
        o[len++] = '0';
        o[len++] = '.';
        for (int i = 0; i < -n; i++)
            o[len++] = '0';
        memcpy(o + len, dig, (size_t)k);
        len += (size_t)k;
    } else { /* d[.ddd]e+-x */
        o[len++] = dig[0];
        if (k > 1) {
            o[len++] = '.';
            memcpy(o + len, dig + 1, (size_t)(k - 1));
            len += (size_t)(k - 1);
        }
        o[len++] = 'e';
        int e = n - 1;
        o[len++] = e < 0 ? '-' : '+';
        len += fmt_uint(o + len, (uint64_t)(e < 0 ? -e : e));
    }
    return len;
}

/* Writes a scalar or a string; false on no memory. */
static bool put_leaf(pw_buf *b, const pw_value *v)
{
    if (v->tag_ == PW__TAG_SSO || v->tag_ == PW__TAG_STR) {
        size_t len;
        const char *s = pw_value_str(v, &len);
        return put_string(b, s, len);
    }
    if (!reserve(b, 32))
        return false;
    char *o = (char *)b->data + b->len;
    switch (v->tag_) {
    case PW__TAG_BOOL:
        b->len += v->u_.b ? (memcpy(o, "true", 4), 4) : (memcpy(o, "false", 5), 5);
        break;
    case PW__TAG_INT:
        b->len += fmt_int(o, v->u_.i);
        break;
    case PW__TAG_DOUBLE:
        b->len += fmt_double(o, v->u_.d);
        break;
    default:
        memcpy(o, "null", 4);
        b->len += 4;
        break;
    }
    return true;
}

typedef struct eframe {
    const pw_value *container;
    size_t i, n;
} eframe;

/* Doubles a frame stack that starts in inline storage. */
static bool grow_frames(eframe **stack, eframe *inline_stack, size_t *cap)
{
    if (*cap > SIZE_MAX / 2 / sizeof(eframe))
        return false;
    eframe *p = *stack == inline_stack ? malloc(*cap * 2 * sizeof(eframe))
                                       : realloc(*stack, *cap * 2 * sizeof(eframe));
    if (!p)
        return false;
    if (*stack == inline_stack)
        memcpy(p, inline_stack, *cap * sizeof(eframe));
    *stack = p;
    *cap *= 2;
    return true;
}

pw_err pw__json_encode(const pw_value *root, pw_buf *out, pw_error *err)
{
    size_t start_len = out->len;
    eframe inline_stack[32], *stack = inline_stack;
    size_t depth = 0, cap = sizeof inline_stack / sizeof inline_stack[0];
    const pw_value *v = root;
    bool ok = true;
    for (;;) {
        /* write v: a leaf completely, a container's opening */
        if (v->tag_ == PW__TAG_ARR || v->tag_ == PW__TAG_OBJ) {
            bool obj = v->tag_ == PW__TAG_OBJ;
            size_t n = pw_value_len(v);
            if (!(ok = reserve(out, 2)))
                break;
            out->data[out->len++] = obj ? '{' : '[';
            if (n == 0) {
                out->data[out->len++] = obj ? '}' : ']';
            } else {
                if (depth == cap && !(ok = grow_frames(&stack, inline_stack, &cap)))
                    break;
                stack[depth++] = (eframe){v, 0, n};
            }
        } else if (!(ok = put_leaf(out, v))) {
            break;
        }
        /* find the next value to write, closing finished containers */
        v = NULL;
        while (depth > 0 && !v) {
            eframe *f = &stack[depth - 1];
            bool obj = f->container->tag_ == PW__TAG_OBJ;
            if (f->i == f->n) {
                if (!(ok = reserve(out, 1)))
                    break;
                out->data[out->len++] = obj ? '}' : ']';
                depth--;
                continue;
            }
            if (f->i > 0) {
                if (!(ok = reserve(out, 1)))
                    break;
                out->data[out->len++] = ',';
            }
            if (obj) {
                pw__entry *e = &((pw__obj *)f->container->u_.node)->items[f->i];
                size_t klen;
                const char *k = pw_value_str(&e->key, &klen);
                if (!(ok = put_string(out, k, klen) && reserve(out, 1)))
                    break;
                out->data[out->len++] = ':';
                v = &e->val;
            } else {
                v = &((pw__arr *)f->container->u_.node)->items[f->i];
            }
            f->i++;
        }
        if (!ok || !v)
            break;
    }
    if (stack != inline_stack)
        free(stack);
    if (!ok) {
        out->len = start_len;
        if (err) {
            pw_error_set(err, PW_ENOMEM, "out of memory while encoding JSON");
            err->offset = PW_NO_OFFSET;
            err->index = -1;
        }
        return PW_ENOMEM;
    }
    return PW_OK;
}
