/* changelog.h - what recent changes of a key touched, to tell concurrent
 * edits that overlap from those that commute (hub.c; proto/SPEC.md,
 * "Versions and convergence"). Internal. */
#ifndef PATCHWIRE_CHANGELOG_H
#define PATCHWIRE_CHANGELOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "patchwire/patch.h"
#include "patchwire/value.h"

typedef struct pw__change {
    uint64_t version; /* the key's version after the change */
    uint64_t origin;  /* the peer that made it, 0 for the application */
    pw_value paths;   /* array of touched paths */
} pw__change;

/* A ring of the changes with versions first .. first + count - 1. */
typedef struct pw__changelog {
    pw__change *ring;
    size_t cap, head, count;
    uint64_t first; /* version of the oldest change held (or the next one) */
} pw__changelog;

/* An empty log of up to cap changes for a key now at `version`. */
void pw__changelog_init(pw__changelog *l, size_t cap, uint64_t version);
void pw__changelog_free(pw__changelog *l);
/* Records the change that made `version` (one more than the last one
 * recorded); paths is taken. Out of memory forgets the whole log, which
 * then overlaps everything older. */
void pw__changelog_add(pw__changelog *l, uint64_t version, uint64_t origin, pw_value paths);
/* True when a change with version in (after, now] not made by skip_origin
 * (0: none skipped) touched a path overlapping one of `paths` (NULL: any
 * path), or when part of that range is no longer held. */
bool pw__changelog_overlaps(const pw__changelog *l, uint64_t after, uint64_t now,
                            uint64_t skip_origin, const pw_value *paths);

/* The paths the list touches when applied to doc (before applying it): a
 * patch's path, or its parent array's path for ops that shift indices. */
pw_err pw__touched(const pw_value *doc, const pw_patches *p, pw_value *out);
/* [[]]: a change of the whole document. */
pw_err pw__touched_root(pw_value *out);

#endif
