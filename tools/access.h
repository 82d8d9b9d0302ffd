/* access.h - the token file of `patchwire serve`: who may read or write which key.
 *
 * One rule per line: `TOKEN rw|r [KEY...]`; no key means every key; TOKEN `*`
 * matches every peer, with or without a token. Blank lines and lines starting
 * with `#` are ignored. A peer may do what the first rule naming its token
 * (or `*`) and the key allows; nothing else. */
#ifndef PW_ACCESS_H
#define PW_ACCESS_H

#include <stdbool.h>
#include <stddef.h>

#include "patchwire/hub.h"

typedef struct access_table access_table;

/* NULL on failure, with the reason (naming the line) in why. */
access_table *access_table_load(const char *path, char *why, size_t why_cap);
void access_table_free(access_table *t);
/* A pw_access_cb; userdata is the table. */
bool access_table_check(const char *identity, const char *key, size_t key_len, pw_access what,
                        void *userdata);
/* Whether some rule names identity (or `*`): the upgrade of a peer that may
 * do nothing is refused. userdata is the table. */
bool access_table_admits(const char *identity, void *userdata);

#endif
