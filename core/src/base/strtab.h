/* strtab.h - the one index of the core's string-keyed tables (object
 * members, the store's keys): open addressing over positions in an array
 * the caller owns, so the caller keeps its own order and layout.
 *
 * The one idea: keys come from peers, so they are hashed with SipHash-1-3
 * under a key drawn at random once per process; nobody who cannot read this
 * process's memory can choose keys that share a slot, and linear probing
 * stays short however the keys were picked. */
#ifndef PATCHWIRE_STRTAB_H
#define PATCHWIRE_STRTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pw__strtab {
    uint32_t *slots; /* position + 1, 0 for empty; NULL when not built */
    size_t mask;     /* slots - 1 (a power of two) */
} pw__strtab;

/* SipHash-c-d of s under the 128-bit key (k0, k1), as the paper defines it. */
uint64_t pw__siphash(uint64_t k0, uint64_t k1, const void *s, size_t n, int c, int d);
/* SipHash-1-3 of s under this process's random key. */
uint64_t pw__str_hash(const void *s, size_t n);

/* Empties t and gives it room for `want` keys, at most half full; false
 * (t unchanged) when out of memory. */
bool pw__strtab_reset(pw__strtab *t, size_t want);
void pw__strtab_free(pw__strtab *t);

/* True when t is built and has room for n keys at most half full. */
static inline bool pw__strtab_fits(const pw__strtab *t, size_t n)
{
    return t->slots && n <= (t->mask + 1) / 2;
}

/* Records that the key (s, n) is at pos; the key must not be in t yet. */
static inline void pw__strtab_put(pw__strtab *t, const void *s, size_t n, uint32_t pos)
{
    size_t at = (size_t)pw__str_hash(s, n) & t->mask;
    while (t->slots[at])
        at = (at + 1) & t->mask;
    t->slots[at] = pos + 1;
}

/* Walks the positions that may hold (s, n), in probe order:
 *     for (pw__strtab_probe p = pw__strtab_first(t, s, n); p.pos; pw__strtab_next(t, &p))
 *         if (key at p.pos - 1 equals s) ...  */
typedef struct pw__strtab_probe {
    size_t at;
    uint32_t pos; /* position + 1 of a candidate, 0 at the end */
} pw__strtab_probe;

static inline pw__strtab_probe pw__strtab_first(const pw__strtab *t, const void *s, size_t n)
{
    size_t at = (size_t)pw__str_hash(s, n) & t->mask;
    return (pw__strtab_probe){at, t->slots[at]};
}

static inline void pw__strtab_next(const pw__strtab *t, pw__strtab_probe *p)
{
    p->at = (p->at + 1) & t->mask;
    p->pos = t->slots[p->at];
}

/* Slots a lookup of (s, n) visits to reach position pos (a test hook: the
 * sum over all keys says whether probing stayed short). */
size_t pw__strtab_probes(const pw__strtab *t, const void *s, size_t n, uint32_t pos);

#endif
