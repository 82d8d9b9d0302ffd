/* conntab.h - how many sockets the server holds, in all and per address.
 *
 * Private to the WebSocket adapter. An address is an IPv4 address or the
 * /64 prefix of an IPv6 one (what one host or one subscriber usually has).
 * Counts live in an open-addressing table hashed by multiply-shift with a
 * random odd multiplier, so a connect costs the same with ten peers or ten
 * thousand, and no one can pick addresses that collide. */
#ifndef PW_WS_CONNTAB_H
#define PW_WS_CONNTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct pw__ws_addr {
    uint64_t key;  /* IPv4 address, or the IPv6 /64 prefix */
    uint32_t used; /* 0: a free slot; else 1 + the family bit */
    uint32_t count;
} pw__ws_addr;

typedef struct pw__ws_conntab {
    pw__ws_addr *slots;
    size_t mask, nused;
    size_t total;
    uint64_t mult;
} pw__ws_conntab;

/* mult: a random value (made odd here). */
void pw__ws_conntab_init(pw__ws_conntab *t, uint64_t mult);
void pw__ws_conntab_free(pw__ws_conntab *t);
/* The sockets now held from the address of sa (0 for an address of
 * another family: unix sockets are not counted per address). */
uint32_t pw__ws_conntab_count(const pw__ws_conntab *t, const struct sockaddr *sa);
/* Counts one more socket from sa; false when out of memory. */
bool pw__ws_conntab_add(pw__ws_conntab *t, const struct sockaddr *sa);
/* Counts one socket from sa less. */
void pw__ws_conntab_remove(pw__ws_conntab *t, const struct sockaddr *sa);

#endif
