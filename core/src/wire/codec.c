/* codec.c - what all codecs share: limits, choosing a codec, and messages.
 *
 * The one idea: a codec only turns value trees into bytes and back; a message
 * is a value tree read by pw_msg_from_value, so the message helpers here work
 * for any codec, including ones an application defines.
 */
#include "patchwire/codec.h"

#include <string.h>

#include "internal.h"

void pw_limits_init(pw_limits *lim)
{
    lim->max_input_bytes = PW_DEFAULT_MAX_INPUT_BYTES;
    lim->max_depth = PW_DEFAULT_MAX_DEPTH;
    lim->max_string_bytes = PW_DEFAULT_MAX_STRING_BYTES;
    lim->max_values = PW_DEFAULT_MAX_VALUES;
    lim->max_decoded_ratio = PW_DEFAULT_MAX_DECODED_RATIO;
}

void pw__budget_init(pw__budget *b, const pw_limits *lim, size_t n)
{
    size_t ratio =
        lim && lim->max_decoded_ratio ? lim->max_decoded_ratio : PW_DEFAULT_MAX_DECODED_RATIO;
    b->max_values = lim && lim->max_values ? lim->max_values : PW_DEFAULT_MAX_VALUES;
    b->max_bytes = n > (SIZE_MAX - PW_DECODE_SLACK_BYTES) / ratio
                       ? SIZE_MAX
                       : n * ratio + PW_DECODE_SLACK_BYTES;
    b->ratio = ratio;
    b->values = 1; /* the root */
    b->bytes = 0;
}

pw_err pw__budget_refuse(const pw__budget *b, pw_error *err, const char *codec, size_t offset,
                         size_t values, size_t bytes)
{
    (void)bytes;
    if (values > b->max_values - b->values)
        return pw__error_at(err, PW_ELIMIT, offset,
                            "%s: more than the limit of %zu values in one message at byte %zu",
                            codec, b->max_values, offset);
    return pw__error_at(err, PW_ELIMIT, offset,
                        "%s: decoding would take more than %zu bytes of memory at byte %zu "
                        "(limit: %zu bytes per input byte)",
                        codec, b->max_bytes, offset, b->ratio);
}

/* MessagePack messages are maps (0x80-0x8f, 0xde, 0xdf), none of which can
 * start a JSON text, so messages are told apart without ambiguity. */
const pw_codec *pw_codec_detect(const uint8_t *p, size_t n)
{
    if (n == 0)
        return NULL;
    static const char json_starts[] = " \t\n\r{[\"-0123456789tfn";
    return memchr(json_starts, p[0], sizeof json_starts - 1) ? &pw_codec_json : &pw_codec_msgpack;
}

const pw_codec *pw_codec_find(const char *name)
{
    static const pw_codec *const builtin[] = {&pw_codec_json, &pw_codec_msgpack};
    if (!name)
        return NULL;
    for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++)
        if (strcmp(builtin[i]->name, name) == 0)
            return builtin[i];
    return NULL;
}

pw_err pw_msg_decode(const pw_codec *c, const uint8_t *p, size_t n, const pw_limits *lim, pw_msg *m,
                     pw_error *err)
{
    pw_msg_init(m);
    pw_error_clear(err);
    pw_value v;
    pw_err rc = c->decode(p, n, lim, &v, err);
    if (rc)
        return rc;
    rc = pw_msg_from_value(&v, m, err);
    pw_value_release(&v);
    return rc;
}

pw_err pw_msg_encode(const pw_codec *c, const pw_msg *m, pw_buf *out, pw_error *err)
{
    pw_error_clear(err);
    pw_value v;
    pw_err rc = pw_msg_to_value(m, &v);
    if (rc)
        return pw_error_set(err, rc, "cannot encode %s message: %s", pw_msg_type_name(m->type),
                            rc == PW_EINVAL ? "no type, key or valid seq" : pw_strerror(rc));
    size_t start = out->len;
    rc = c->encode(&v, out, err);
    pw_value_release(&v);
    if (rc)
        out->len = start; /* no partial message left behind */
    return rc;
}
