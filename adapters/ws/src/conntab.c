/* conntab.c - socket counts in all and per address (see conntab.h).
 *
 * Linear probing with deletion by backward shift, so the table never fills
 * with tombstones however often peers come and go. */
#include "conntab.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

/* The key of sa's address and its family bit (1 IPv4, 2 IPv6); 0 when it
 * has none. An IPv4-mapped IPv6 address is its IPv4 address. */
static uint32_t addr_key(const struct sockaddr *sa, uint64_t *key)
{
    const uint8_t *b;
    if (sa->sa_family == AF_INET) {
        b = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
    } else if (sa->sa_family == AF_INET6) {
        b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(b, mapped, 12) != 0) {
            uint64_t k = 0;
            for (int i = 0; i < 8; i++)
                k = k << 8 | b[i];
            *key = k;
            return 2;
        }
        b += 12;
    } else {
        return 0;
    }
    *key = (uint64_t)b[0] << 24 | (uint64_t)b[1] << 16 | (uint64_t)b[2] << 8 | b[3];
    return 1;
}

static size_t home(const pw__ws_conntab *t, uint64_t key, uint32_t family)
{
    return (size_t)(((key ^ family) * t->mult) >> 32) & t->mask;
}

static pw__ws_addr *find(const pw__ws_conntab *t, uint64_t key, uint32_t family)
{
    if (!t->slots)
        return NULL;
    for (size_t at = home(t, key, family);; at = (at + 1) & t->mask) {
        pw__ws_addr *a = &t->slots[at];
        if (!a->used)
            return NULL;
        if (a->used == family && a->key == key)
            return a;
    }
}

void pw__ws_conntab_init(pw__ws_conntab *t, uint64_t mult)
{
    memset(t, 0, sizeof *t);
    t->mult = mult | 1;
}

void pw__ws_conntab_free(pw__ws_conntab *t)
{
    free(t->slots);
    memset(t, 0, sizeof *t);
}

uint32_t pw__ws_conntab_count(const pw__ws_conntab *t, const struct sockaddr *sa)
{
    uint64_t key;
    uint32_t family = addr_key(sa, &key);
    const pw__ws_addr *a = family ? find(t, key, family) : NULL;
    return a ? a->count : 0;
}

static bool grow(pw__ws_conntab *t)
{
    size_t cap = t->slots ? 2 * (t->mask + 1) : 64;
    pw__ws_addr *slots = calloc(cap, sizeof *slots), *old = t->slots;
    if (!slots)
        return false;
    size_t oldcap = old ? t->mask + 1 : 0;
    t->slots = slots;
    t->mask = cap - 1;
    for (size_t i = 0; i < oldcap; i++) {
        if (!old[i].used)
            continue;
        size_t at = home(t, old[i].key, old[i].used);
        while (slots[at].used)
            at = (at + 1) & t->mask;
        slots[at] = old[i];
    }
    free(old);
    return true;
}

bool pw__ws_conntab_add(pw__ws_conntab *t, const struct sockaddr *sa)
{
    uint64_t key;
    uint32_t family = addr_key(sa, &key);
    if (family) {
        pw__ws_addr *a = find(t, key, family);
        if (!a) {
            if ((t->nused + 1) * 2 > (t->slots ? t->mask + 1 : 0) && !grow(t))
                return false;
            size_t at = home(t, key, family);
            while (t->slots[at].used)
                at = (at + 1) & t->mask;
            a = &t->slots[at];
            *a = (pw__ws_addr){.key = key, .used = family};
            t->nused++;
        }
        a->count++;
    }
    t->total++;
    return true;
}

/* Empties slot i and moves back the entries after it that probing would
 * no longer reach. */
static void erase(pw__ws_conntab *t, size_t i)
{
    size_t j = i;
    for (;;) {
        t->slots[i].used = 0;
        for (;;) {
            j = (j + 1) & t->mask;
            if (!t->slots[j].used)
                return;
            size_t k = home(t, t->slots[j].key, t->slots[j].used);
            /* j may move to i when its home is not in (i, j] cyclically */
            if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
                continue;
            break;
        }
        t->slots[i] = t->slots[j];
        i = j;
    }
}

void pw__ws_conntab_remove(pw__ws_conntab *t, const struct sockaddr *sa)
{
    uint64_t key;
    uint32_t family = addr_key(sa, &key);
    pw__ws_addr *a = family ? find(t, key, family) : NULL;
    if (a && --a->count == 0) {
        erase(t, (size_t)(a - t->slots));
        t->nused--;
    }
    if (t->total)
        t->total--;
}
