/* fuzz_roundtrip.h - the round trip both decoder targets check: any input a
 * codec accepts must encode, decode again to an equal value, and re-encode to
 * the same bytes. Anything else aborts, which libFuzzer reports. */
#ifndef PATCHWIRE_FUZZ_ROUNDTRIP_H
#define PATCHWIRE_FUZZ_ROUNDTRIP_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "patchwire/codec.h"

static void fuzz_fail(const char *what, const pw_error *err)
{
    fprintf(stderr, "fuzz: %s%s%s\n", what, err ? ": " : "", err ? err->msg : "");
    abort();
}

/* NaN is the one value not equal to itself; a tree holding one is compared by
 * its bytes only. Depth is bounded by the decoder's limit. */
static int fuzz_has_nan(const pw_value *v)
{
    switch (pw_value_kind(v)) {
    case PW_DOUBLE:
        return isnan(pw_value_number(v));
    case PW_ARRAY:
        for (size_t i = 0; i < pw_value_len(v); i++)
            if (fuzz_has_nan(pw_array_get(v, i)))
                return 1;
        return 0;
    case PW_OBJECT:
        for (size_t i = 0; i < pw_value_len(v); i++) {
            const pw_value *val;
            pw_object_at(v, i, NULL, &val);
            if (fuzz_has_nan(val))
                return 1;
        }
        return 0;
    default:
        return 0;
    }
}

static int fuzz_roundtrip(const pw_codec *c, const uint8_t *data, size_t size)
{
    pw_value v = pw_int(1), w = pw_int(1);
    pw_error err;
    pw_err rc = c->decode(data, size, NULL, &v, &err);
    if (rc) {
        if (pw_value_kind(&v) != PW_NULL)
            fuzz_fail("failed decode left a value", NULL);
        if (err.code != rc || err.offset > size || !memchr(err.msg, '\0', sizeof err.msg))
            fuzz_fail("failed decode left a bad error record", &err);
        return 0;
    }
    pw_buf once = {0}, twice = {0};
    if (c->encode(&v, &once, &err))
        fuzz_fail("encode of a decoded value failed", &err);
    if (c->decode(once.data, once.len, NULL, &w, &err))
        fuzz_fail("decode of our own encoding failed", &err);
    if (!fuzz_has_nan(&v) && !pw_value_equal(&v, &w))
        fuzz_fail("decode(encode(v)) differs from v", NULL);
    if (c->encode(&w, &twice, &err))
        fuzz_fail("second encode failed", &err);
    if (once.len != twice.len || memcmp(once.data, twice.data, once.len) != 0)
        fuzz_fail("encoding is not stable across a round trip", NULL);
    pw_buf_free(&once);
    pw_buf_free(&twice);
    pw_value_release(&v);
    pw_value_release(&w);
    return 0;
}

#endif
