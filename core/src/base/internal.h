/* internal.h - small helpers shared by the core's codecs and containers:
 * strict UTF-8 checks, growth of storage that starts inline, and error
 * records that carry a byte offset. */
#ifndef PATCHWIRE_INTERNAL_H
#define PATCHWIRE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "patchwire/error.h"

#if defined(__GNUC__)
#define PW__PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define PW__PRINTF(a, b)
#endif

/* Length of the well-formed UTF-8 sequence at p (p[0] >= 0x80), or 0: rejects
 * overlong forms, UTF-16 surrogates, code points above U+10FFFF and
 * sequences cut by end. */
static inline size_t pw__utf8_seq(const uint8_t *p, const uint8_t *end)
{
    size_t avail = (size_t)(end - p);
    uint8_t c = p[0], lo = 0x80, hi = 0xBF;
    if (c < 0xC2)
        return 0;
    if (c < 0xE0)
        return avail >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c < 0xF0) {
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates */
        return avail >= 3 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (c < 0xF5) {
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
        return avail >= 4 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 &&
                       (p[3] & 0xC0) == 0x80
                   ? 4
                   : 0;
    }
    return 0;
}

/* Index of the first byte of an invalid UTF-8 sequence in s, or n if none;
 * ASCII runs are skipped eight bytes at a time. */
static inline size_t pw__utf8_check(const uint8_t *s, size_t n)
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
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = pw__utf8_seq(s + i, s + n);
        if (!k)
            return i;
        i += k;
    }
    return n;
}

/* Grows *items (which may still be the inline array inline_items, holding
 * *cap elements of `size` bytes) to room for at least `need` elements,
 * doubling. False when out of memory or the size would overflow. */
static inline bool pw__grow(void **items, void *inline_items, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return true;
    size_t ncap = *cap < 4 ? 4 : *cap;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2 / size)
            return false;
        ncap *= 2;
    }
    void *p;
    if (*items == inline_items) {
        p = malloc(ncap * size);
        if (p && *cap)
            memcpy(p, *items, *cap * size);
    } else {
        p = realloc(*items, ncap * size);
    }
    if (!p)
        return false;
    *items = p;
    *cap = ncap;
    return true;
}

/* What a decoder has built so far against what pw_limits allows it
 * (max_values, max_decoded_ratio): values, and bytes of value handles and
 * container nodes. */
typedef struct pw__budget {
    size_t values, max_values;
    size_t bytes, max_bytes, ratio;
} pw__budget;

struct pw_limits;
void pw__budget_init(pw__budget *b, const struct pw_limits *lim, size_t input_bytes);

/* Counts `values` more values and `bytes` more bytes; false (nothing
 * counted) when that would pass a limit. */
static inline bool pw__budget_spend(pw__budget *b, size_t values, size_t bytes)
{
    if (values > b->max_values - b->values || bytes > b->max_bytes - b->bytes)
        return false;
    b->values += values;
    b->bytes += bytes;
    return true;
}

/* The PW_ELIMIT error for a spend that failed, naming the limit. */
pw_err pw__budget_refuse(const pw__budget *b, pw_error *err, const char *codec, size_t offset,
                         size_t values, size_t bytes);

/* Fills err (if non-NULL) with code, the byte offset and a message, and
 * returns code. */
PW__PRINTF(4, 5)
pw_err pw__error_at(pw_error *err, pw_err code, size_t offset, const char *fmt, ...);

#endif
