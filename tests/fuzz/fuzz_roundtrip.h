/* fuzz_roundtrip.h - the round trip both decoder targets check: any input a
 * codec accepts must encode, decode again to an equal value, and re-encode to
 * the same bytes, and survive the other codec unchanged. Anything else aborts, which libFuzzer reports. */
#ifndef PATCHWIRE_FUZZ_ROUNDTRIP_H
#define PATCHWIRE_FUZZ_ROUNDTRIP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "patchwire/codec.h"

static void fuzz_fail(const char *what, const pw_error *err)
{
    fprintf(stderr, "fuzz: %s%s%s\n", what, err ? ": " : "", err ? err->msg : "");
    abort();
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
    if (!pw_value_equal(&v, &w))
        fuzz_fail("decode(encode(v)) differs from v", NULL);
    /* the other codec carries the same value too */
    const pw_codec *other = c == &pw_codec_json ? &pw_codec_msgpack : &pw_codec_json;
    pw_buf cross = {0};
    pw_value x;
    if (other->encode(&v, &cross, &err) || other->decode(cross.data, cross.len, NULL, &x, &err))
        fuzz_fail("the other codec could not carry the value", &err);
    if (!pw_value_equal(&v, &x))
        fuzz_fail("the other codec changed the value", NULL);
    pw_value_release(&x);
    pw_buf_free(&cross);
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
