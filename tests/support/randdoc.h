/* randdoc.h - seeded random documents for property and interop tests. */
#ifndef PW_TEST_RANDDOC_H
#define PW_TEST_RANDDOC_H

#include <stdbool.h>
#include <stdint.h>

#include "patchwire/value.h"

typedef struct randdoc_opts {
    bool js_safe; /* only values JavaScript reads back exactly (|ints| <= 2^53) */
} randdoc_opts;

void randdoc_seed(uint64_t seed);
uint64_t randdoc_next(void);
size_t randdoc_below(size_t n);
/* A random document nested up to `depth` levels. */
pw_value randdoc_value(int depth, const randdoc_opts *opts);
/* Edits a random place of *v in place (copy-on-write keeps other holders). */
void randdoc_mutate(pw_value *v, int depth);

#endif
