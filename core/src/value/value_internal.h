/* value_internal.h - node layouts behind pw_value, for core files that need
 * raw speed (the decoders build nodes at their final size). */
#ifndef PATCHWIRE_VALUE_INTERNAL_H
#define PATCHWIRE_VALUE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "patchwire/value.h"
#include "strtab.h"

/* pw_value.tag_; tags from PW__TAG_STR on refer to a node. */
enum {
    PW__TAG_NULL = 0,
    PW__TAG_BOOL,
    PW__TAG_INT,
    PW__TAG_DOUBLE,
    PW__TAG_SSO, /* string stored in the handle, len_ bytes */
    PW__TAG_STR,
    PW__TAG_ARR,
    PW__TAG_OBJ,
};

typedef struct pw__node {
    union {
        size_t refs;           /* while alive */
        struct pw__node *next; /* once dead: link of the list being freed */
    };
    uint8_t kind;
    uint8_t size_class; /* allocation size / 16, or 0: not from the node cache */
} pw__node;

typedef struct pw__str {
    pw__node h;
    size_t len;
    char data[]; /* len bytes and a NUL */
} pw__str;

typedef struct pw__arr {
    pw__node h;
    size_t len, cap;
    pw_value *items; /* inline_items until it outgrows them */
    pw_value inline_items[];
} pw__arr;

typedef struct pw__entry {
    pw_value key; /* always a string */
    pw_value val;
} pw__entry;

typedef struct pw__obj {
    pw__node h;
    size_t len, cap;
    pw__entry *items;
    pw__strtab index; /* built for objects of 12+ members, on first lookup */
    pw__entry inline_items[];
} pw__obj;

/* Slots visited by lookups of every key of obj through its hash index, or 0
 * when it has none (a test hook: about 1.5 per key when hashing spreads). */
size_t pw__object_index_probes(const pw_value *obj);

/* Allocates a node of `size` bytes (header included) with one reference,
 * from the per-thread node cache when it has one of that size class. Every
 * node must come from here: pw_value_release returns them to the cache. */
void *pw__node_alloc(size_t size, uint8_t kind);

/* Inserts a key that is absent at position pos (<= len) of insertion order,
 * taking ownership of key and v (on failure too). PW_EINVAL if the key is
 * present or pos is past the end. Undoing a removal with it restores the
 * object exactly, key order included. */
pw_err pw__object_insert_at(pw_value *obj, size_t pos, pw_value key, pw_value v);

/* True if v nests containers more than `limit` levels deep (a scalar is 0
 * deep, [] is 1, [[]] is 2). Iterative; also true when out of memory. */
bool pw__value_deeper_than(const pw_value *v, size_t limit);

#endif
