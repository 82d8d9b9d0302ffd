/* strtab.c - SipHash-1-3 under a random per-process key, and the storage
 * of the string tables (see strtab.h). SipHash is written from its
 * definition in Aumasson and Bernstein, "SipHash: a fast short-input PRF"
 * (2012); the tests check it on the paper's SipHash-2-4 vectors. */
#include "strtab.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

static inline uint64_t load64_le(const uint8_t *p)
{
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--)
        x = (x << 8) | p[i];
    return x;
}

#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = rotl(v1, 13);                                                                         \
        v1 ^= v0;                                                                                  \
        v0 = rotl(v0, 32);                                                                         \
        v2 += v3;                                                                                  \
        v3 = rotl(v3, 16);                                                                         \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = rotl(v3, 21);                                                                         \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = rotl(v1, 17);                                                                         \
        v1 ^= v2;                                                                                  \
        v2 = rotl(v2, 32);                                                                         \
    } while (0)

static inline uint64_t siphash(uint64_t k0, uint64_t k1, const uint8_t *m, size_t n, int c, int d)
{
    uint64_t v0 = k0 ^ 0x736f6d6570736575u, v1 = k1 ^ 0x646f72616e646f6du;
    uint64_t v2 = k0 ^ 0x6c7967656e657261u, v3 = k1 ^ 0x7465646279746573u;
    size_t whole = n & ~(size_t)7;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t w = load64_le(m + i);
        v3 ^= w;
        for (int r = 0; r < c; r++)
            SIPROUND;
        v0 ^= w;
    }
    /* the last word: the remaining bytes, and the length mod 256 on top */
    uint64_t w = (uint64_t)(n & 0xff) << 56;
    for (size_t i = whole; i < n; i++)
        w |= (uint64_t)m[i] << (8 * (i - whole));
    v3 ^= w;
    for (int r = 0; r < c; r++)
        SIPROUND;
    v0 ^= w;
    v2 ^= 0xff;
    for (int r = 0; r < d; r++)
        SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t pw__siphash(uint64_t k0, uint64_t k1, const void *s, size_t n, int c, int d)
{
    return siphash(k0, k1, s, n, c, d);
}

/* ---------------------------------------------------------------- the process's key */

static uint64_t seed[2];
static pthread_once_t seed_once = PTHREAD_ONCE_INIT;

static void seed_init(void)
{
    uint8_t b[16];
    size_t got = 0;
    for (int tries = 0; got < sizeof b && tries < 8; tries++) {
        ssize_t r = getrandom(b + got, sizeof b - got, 0);
        if (r > 0)
            got += (size_t)r;
    }
    if (got < sizeof b) { /* no getrandom (old kernel, seccomp): the device */
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        while (fd >= 0 && got < sizeof b) {
            ssize_t r = read(fd, b + got, sizeof b - got);
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        if (fd >= 0)
            close(fd);
    }
    if (got < sizeof b) { /* last resort: weak, but still differs per process */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t mix[3] = {(uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30), (uint64_t)getpid(),
                           (uint64_t)(uintptr_t)&got};
        uint64_t h = siphash(0, 0, (const uint8_t *)mix, sizeof mix, 2, 4);
        memcpy(b, &h, 8);
        h = siphash(h, 1, (const uint8_t *)mix, sizeof mix, 2, 4);
        memcpy(b + 8, &h, 8);
    }
    seed[0] = load64_le(b);
    seed[1] = load64_le(b + 8);
}

uint64_t pw__str_hash(const void *s, size_t n)
{
    pthread_once(&seed_once, seed_init);
    return siphash(seed[0], seed[1], s, n, 1, 3);
}

/* ---------------------------------------------------------------- storage */

bool pw__strtab_reset(pw__strtab *t, size_t want)
{
    size_t cap = 16;
    while (cap / 2 < want) {
        if (cap > SIZE_MAX / 2 / sizeof *t->slots)
            return false;
        cap *= 2;
    }
    uint32_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return false;
    free(t->slots);
    t->slots = slots;
    t->mask = cap - 1;
    return true;
}

void pw__strtab_free(pw__strtab *t)
{
    free(t->slots);
    t->slots = NULL;
    t->mask = 0;
}

size_t pw__strtab_probes(const pw__strtab *t, const void *s, size_t n, uint32_t pos)
{
    size_t visited = 1;
    for (pw__strtab_probe p = pw__strtab_first(t, s, n); p.pos && p.pos != pos + 1;
         pw__strtab_next(t, &p))
        visited++;
    return visited;
}
