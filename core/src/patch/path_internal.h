/* path_internal.h - reading path segments, shared by the patch files.
 *
 * A segment is a string (object key, or array index written in decimal) or a
 * non-negative int (array index, or object key spelt in decimal, as in JS).
 * pw__seg gives both readings without allocating. */
#ifndef PATCHWIRE_PATH_INTERNAL_H
#define PATCHWIRE_PATH_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "patchwire/patch.h"
#include "patchwire/value.h"

typedef struct pw__seg {
    const pw_value *v;
    const char *s; /* key text; for an int segment set by pw__seg_key */
    size_t n;
    bool is_int;
    uint64_t i;
    char buf[24];
} pw__seg;

/* False when the segment is neither a string nor a non-negative int. The
 * pw__seg must not be copied (s may point into buf). */
static inline bool pw__seg_read(const pw_value *v, pw__seg *g)
{
    g->v = v;
    g->is_int = false;
    g->s = NULL;
    g->n = 0;
    if (pw_value_kind(v) == PW_INT) {
        int64_t i = pw_value_int(v);
        if (i < 0)
            return false;
        g->is_int = true;
        g->i = (uint64_t)i;
        return true;
    }
    g->s = pw_value_str(v, &g->n);
    return g->s != NULL;
}

/* Makes g->s / g->n the key text of the segment (decimal for an int). */
static inline void pw__seg_key(pw__seg *g)
{
    if (!g->is_int || g->s)
        return;
    char tmp[24];
    size_t n = 0;
    uint64_t x = g->i;
    do {
        tmp[n++] = (char)('0' + x % 10);
        x /= 10;
    } while (x);
    for (size_t k = 0; k < n; k++)
        g->buf[k] = tmp[n - 1 - k];
    g->buf[n] = '\0';
    g->s = g->buf;
    g->n = n;
}

enum { PW__IDX_OK, PW__IDX_DASH, PW__IDX_BAD };

/* Reads the segment as an array index: an int, or a canonical decimal string
 * (no sign, no leading zero). Indices too large for size_t read as SIZE_MAX,
 * which is out of range of any array. "-" is PW__IDX_DASH. */
static inline int pw__seg_index(const pw__seg *g, size_t *out)
{
    if (g->is_int) {
        *out = g->i > SIZE_MAX ? SIZE_MAX : (size_t)g->i;
        return PW__IDX_OK;
    }
    if (g->n == 1 && g->s[0] == '-')
        return PW__IDX_DASH;
    if (g->n == 0 || (g->n > 1 && g->s[0] == '0'))
        return PW__IDX_BAD;
    size_t i = 0;
    for (size_t k = 0; k < g->n; k++) {
        char c = g->s[k];
        if (c < '0' || c > '9')
            return PW__IDX_BAD;
        unsigned d = (unsigned)(c - '0');
        i = i > (SIZE_MAX - d) / 10 ? SIZE_MAX : i * 10 + d;
    }
    *out = i;
    return PW__IDX_OK;
}

/* Segments that would let a patch reach JavaScript prototypes on JS peers. */
static inline bool pw__seg_forbidden(const pw__seg *g)
{
    if (g->is_int)
        return false;
    switch (g->n) {
    case 9:
        return memcmp(g->s, "__proto__", 9) == 0 || memcmp(g->s, "prototype", 9) == 0;
    case 11:
        return memcmp(g->s, "constructor", 11) == 0;
    default:
        return false;
    }
}

/* Writes a path (array of segments) as pointer-like text for messages,
 * shortened with "..." when it does not fit; "" for the root. */
void pw__path_text(const pw_value *path, char *buf, size_t size);

/* Segments name the same place: int 3 and string "3" alike (patch.c). */
bool pw__seg_equal(const pw_value *a, const pw_value *b);
/* Both are paths (arrays of segments) and one is a prefix of the other:
 * what one changes may change what the other names. Segments compare as in
 * paths (int 3 equals "3"). patch.c. */
bool pw__paths_overlap(const pw_value *a, const pw_value *b);

/* Room for `more` patches past p->len (patch.c); false when out of memory. */
bool pw__patches_reserve(pw_patches *p, size_t more);

#endif
