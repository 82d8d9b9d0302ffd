/* jsonv.c - JSON text to a document and back, for tests (see jsonv.h). */
#include "jsonv.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "patchwire/buf.h"
#include "patchwire/codec.h"

pw_value jsonv_parse(const char *json)
{
    pw_value v;
    pw_error err;
    cr_assert_eq(pw_codec_json.decode((const uint8_t *)json, strlen(json), NULL, &v, &err), PW_OK,
                 "%s: %s", json, err.msg);
    return v;
}

char *jsonv_text(const pw_value *v)
{
    pw_buf b;
    pw_buf_init(&b);
    cr_assert_eq(pw_codec_json.encode(v, &b, NULL), PW_OK);
    char *s = malloc(b.len + 1);
    cr_assert(s);
    memcpy(s, b.data, b.len);
    s[b.len] = '\0';
    pw_buf_free(&b);
    return s;
}
