/* jsonv.h - JSON text to a document and back, for tests: a decode failure
 * fails the test with the text and the reason. */
#ifndef PW_TEST_JSONV_H
#define PW_TEST_JSONV_H

#include "patchwire/value.h"

/* The document the JSON text holds (owned by the caller). */
pw_value jsonv_parse(const char *json);
/* v as compact JSON, malloc'd and NUL-terminated (the caller frees). */
char *jsonv_text(const pw_value *v);

#endif
