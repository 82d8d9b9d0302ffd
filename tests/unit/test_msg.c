/* Messages: FullSync / Patches / unknown types read from and written to value
 * trees (suite msg), and the codec-level helpers: detection, lookup, limits,
 * message decode and encode (suite msg_codec). */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "patchwire/codec.h"
#include "patchwire/msg.h"

static pw_value S(const char *s)
{
    pw_value v;
    cr_assert_eq(pw_string_cstr(&v, s), PW_OK);
    return v;
}

/* obj(n, "k1", v1, "k2", v2, ...): an object of n members, taking the values. */
static pw_value obj(int n, ...)
{
    pw_value o;
    cr_assert_eq(pw_object_new(&o, 0), PW_OK);
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        const char *k = va_arg(ap, const char *);
        pw_value v = va_arg(ap, pw_value);
        cr_assert_eq(pw_object_set_str(&o, k, strlen(k), v, NULL), PW_OK);
    }
    va_end(ap);
    return o;
}

static pw_value arr(int n, ...)
{
    pw_value a;
    cr_assert_eq(pw_array_new(&a, 0), PW_OK);
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        cr_assert_eq(pw_array_push(&a, va_arg(ap, pw_value)), PW_OK);
    va_end(ap);
    return a;
}

/* [{"op":"add","path":["items",0],"value":{"title":"milk"}}] */
static pw_value visly_patches(void)
{
    return arr(1, obj(3, "op", S("add"), "path", arr(2, S("items"), pw_int(0)), "value",
                      obj(1, "title", S("milk"))));
}

static pw_value fullsync(pw_value key, pw_value data)
{
    return obj(3, "type", S("fullsync"), "key", key, "data", data);
}

/* Reads v (released afterwards), expecting failure with code want. */
static void expect_error(pw_value v, pw_err want, const char *mentions)
{
    pw_msg m;
    pw_error err;
    pw_err rc = pw_msg_from_value(&v, &m, &err);
    cr_assert_eq(rc, want, "rc %d (%s), want %d", rc, err.msg, want);
    cr_assert_eq(err.code, want);
    if (mentions)
        cr_assert(strstr(err.msg, mentions), "message \"%s\" should mention %s", err.msg, mentions);
    cr_assert_eq(m.type, PW_MSG_UNKNOWN);
    cr_assert_eq(pw_value_kind(&m.key), PW_NULL);
    cr_assert_eq(pw_value_kind(&m.data), PW_NULL);
    cr_assert_eq(m.patches.len, 0);
    cr_assert_not(m.has_seq);
    pw_msg_clear(&m);
    pw_value_release(&v);
}

/* ------------------------------------------------------------------ reading */

Test(msg, fullsync_reads_key_and_state)
{
    pw_value v = fullsync(S("appstate"), obj(1, "items", arr(0)));
    pw_msg m;
    pw_error err;
    cr_assert_eq(pw_msg_from_value(&v, &m, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(m.type, PW_MSG_FULLSYNC);
    cr_assert(pw_value_str_eq(&m.key, "appstate", 8));
    cr_assert_not(m.has_seq);
    pw_value want = obj(1, "items", arr(0));
    cr_assert(pw_value_equal(&m.data, &want));
    cr_assert_eq(m.patches.len, 0);
    pw_value_release(&want);
    pw_value_release(&v);
    /* the message holds its own references: the tree is gone, data is not */
    cr_assert_eq(pw_value_kind(&m.data), PW_OBJECT);
    pw_msg_clear(&m);
}

Test(msg, fullsync_accepts_any_data_including_null)
{
    pw_value v = fullsync(S("k"), pw_null());
    pw_msg m;
    cr_assert_eq(pw_msg_from_value(&v, &m, NULL), PW_OK);
    cr_assert_eq(m.type, PW_MSG_FULLSYNC);
    cr_assert_eq(pw_value_kind(&m.data), PW_NULL);
    pw_msg_clear(&m);
    pw_value_release(&v);
}

Test(msg, patches_reads_an_immer_list)
{
    pw_value v = obj(3, "type", S("patches"), "key", S("appstate"), "data", visly_patches());
    pw_msg m;
    pw_error err;
    cr_assert_eq(pw_msg_from_value(&v, &m, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(m.type, PW_MSG_PATCHES);
    cr_assert(pw_value_str_eq(&m.key, "appstate", 8));
    cr_assert_eq(m.patches.dialect, PW_DIALECT_IMMER);
    cr_assert_eq(m.patches.len, 1);
    cr_assert_eq(m.patches.items[0].op, PW_OP_ADD);
    cr_assert(m.patches.items[0].has_value);
    cr_assert_eq(pw_value_len(&m.patches.items[0].path), 2);
    cr_assert_eq(pw_value_kind(&m.data), PW_NULL);
    pw_msg_clear(&m);
    pw_value_release(&v);
}

Test(msg, patches_reads_an_rfc6902_list)
{
    pw_value list = arr(2, obj(3, "op", S("test"), "path", S("/a~1b"), "value", pw_int(1)),
                        obj(3, "op", S("move"), "from", S("/x"), "path", S("/y")));
    pw_value v = obj(3, "type", S("patches"), "key", S("k"), "data", list);
    pw_msg m;
    pw_error err;
    cr_assert_eq(pw_msg_from_value(&v, &m, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(m.patches.dialect, PW_DIALECT_RFC6902);
    cr_assert_eq(m.patches.len, 2);
    cr_assert_eq(m.patches.items[1].op, PW_OP_MOVE);
    pw_msg_clear(&m);
    pw_value_release(&v);
}

Test(msg, patches_with_empty_list_is_valid)
{
    pw_value v = obj(3, "type", S("patches"), "key", S("k"), "data", arr(0));
    pw_msg m;
    cr_assert_eq(pw_msg_from_value(&v, &m, NULL), PW_OK);
    cr_assert_eq(m.type, PW_MSG_PATCHES);
    cr_assert_eq(m.patches.len, 0);
    pw_msg_clear(&m);
    pw_value_release(&v);
}

Test(msg, unknown_type_is_not_an_error)
{
    pw_value v = obj(4, "type", S("presence"), "key", S("room"), "data", obj(1, "who", S("ann")),
                     "seq", pw_int(-3));
    pw_msg m;
    pw_error err;
    cr_assert_eq(pw_msg_from_value(&v, &m, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(m.type, PW_MSG_UNKNOWN);
    cr_assert(pw_value_str_eq(&m.type_name, "presence", 8));
    cr_assert(pw_value_str_eq(&m.key, "room", 4));
    cr_assert_eq(pw_value_kind(&m.data), PW_OBJECT);
    cr_assert_not(m.has_seq, "an invalid seq of an unknown type is ignored, not kept");
    pw_msg_clear(&m);
    pw_value_release(&v);
}

Test(msg, unknown_type_needs_neither_key_nor_data)
{
    pw_value v = obj(2, "type", S(""), "key", pw_int(5));
    pw_msg m;
    cr_assert_eq(pw_msg_from_value(&v, &m, NULL), PW_OK);
    cr_assert_eq(m.type, PW_MSG_UNKNOWN);
    cr_assert(pw_value_str_eq(&m.type_name, "", 0));
    cr_assert_eq(pw_value_kind(&m.key), PW_NULL);
    cr_assert_eq(pw_value_kind(&m.data), PW_NULL);
    pw_msg_clear(&m);
    pw_value_release(&v);
}

Test(msg, type_is_case_sensitive)
{
    pw_value v = fullsync(S("k"), pw_int(1));
    cr_assert_eq(pw_object_set_str(&v, "type", 4, S("FullSync"), NULL), PW_OK);
    pw_msg m;
    cr_assert_eq(pw_msg_from_value(&v, &m, NULL), PW_OK);
    cr_assert_eq(m.type, PW_MSG_UNKNOWN);
    pw_msg_clear(&m);
    pw_value_release(&v);
}

Test(msg, key_missing_empty_or_not_a_string_is_rejected)
{
    expect_error(obj(2, "type", S("fullsync"), "data", pw_null()), PW_EMSG, "key");
    expect_error(fullsync(S(""), pw_null()), PW_EMSG, "key");
    expect_error(fullsync(pw_int(1), pw_null()), PW_EMSG, "key");
    expect_error(fullsync(pw_null(), pw_null()), PW_EMSG, "key");
    expect_error(obj(3, "type", S("patches"), "key", S(""), "data", arr(0)), PW_EMSG, "key");
    expect_error(obj(2, "type", S("patches"), "data", arr(0)), PW_EMSG, "key");
}

Test(msg, type_missing_or_not_a_string_is_rejected)
{
    expect_error(obj(2, "key", S("k"), "data", pw_null()), PW_EMSG, "type");
    expect_error(obj(3, "type", pw_int(1), "key", S("k"), "data", pw_null()), PW_EMSG, "type");
    expect_error(obj(3, "type", pw_null(), "key", S("k"), "data", pw_null()), PW_EMSG, "type");
}

Test(msg, message_that_is_not_an_object_is_rejected)
{
    expect_error(arr(1, S("fullsync")), PW_EMSG, "array");
    expect_error(S("fullsync"), PW_EMSG, "string");
    expect_error(pw_null(), PW_EMSG, "null");
}

Test(msg, data_missing_or_patches_not_an_array_is_rejected)
{
    expect_error(obj(2, "type", S("fullsync"), "key", S("k")), PW_EMSG, "data");
    expect_error(obj(2, "type", S("patches"), "key", S("k")), PW_EMSG, "data");
    expect_error(obj(3, "type", S("patches"), "key", S("k"), "data", obj(0)), PW_EMSG, "data");
}

Test(msg, bad_patch_fails_the_message_and_leaves_it_cleared)
{
    pw_value list = arr(2, obj(3, "op", S("add"), "path", arr(1, S("a")), "value", pw_int(1)),
                        obj(3, "op", S("frobnicate"), "path", arr(1, S("a")), "value", pw_int(1)));
    expect_error(obj(3, "type", S("patches"), "key", S("k"), "data", list), PW_EOP, "frobnicate");
    pw_value polluting =
        arr(1, obj(3, "op", S("add"), "path", arr(2, S("__proto__"), S("x")), "value", pw_int(1)));
    expect_error(obj(3, "type", S("patches"), "key", S("k"), "data", polluting), PW_EOP, NULL);
}

Test(msg, seq_accepts_non_negative_integers)
{
    int64_t ok[] = {0, 1, 4294967296, INT64_MAX};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        pw_value v =
            obj(4, "type", S("fullsync"), "key", S("k"), "seq", pw_int(ok[i]), "data", pw_null());
        pw_msg m;
        pw_error err;
        cr_assert_eq(pw_msg_from_value(&v, &m, &err), PW_OK, "seq %lld: %s", (long long)ok[i],
                     err.msg);
        cr_assert(m.has_seq);
        cr_assert_eq(m.seq, (uint64_t)ok[i]);
        pw_msg_clear(&m);
        pw_value_release(&v);
    }
}

Test(msg, seq_negative_double_or_string_is_rejected)
{
    pw_value bad[] = {pw_int(-1), pw_int(INT64_MIN), pw_double(1.0), pw_double(1.5),
                      S("7"),     pw_null(),         pw_bool(true)};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_error(obj(4, "type", S("patches"), "key", S("k"), "seq", bad[i], "data", arr(0)),
                     PW_EMSG, "seq");
}

Test(msg, unknown_fields_are_ignored_and_field_order_is_free)
{
    pw_value v = obj(6, "data", visly_patches(), "v", pw_int(2), "seq", pw_int(9), "key",
                     S("appstate"), "meta", obj(1, "x", arr(0)), "type", S("patches"));
    pw_msg m;
    pw_error err;
    cr_assert_eq(pw_msg_from_value(&v, &m, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(m.type, PW_MSG_PATCHES);
    cr_assert(m.has_seq);
    cr_assert_eq(m.seq, 9);
    cr_assert_eq(m.patches.len, 1);
    pw_msg_clear(&m);
    pw_value_release(&v);
}

/* ------------------------------------------------------------------ writing */

static void expect_keys(const pw_value *o, size_t n, const char *const *keys)
{
    cr_assert_eq(pw_value_len(o), n);
    for (size_t i = 0; i < n; i++) {
        const pw_value *k;
        cr_assert(pw_object_at(o, i, &k, NULL));
        cr_assert(pw_value_str_eq(k, keys[i], strlen(keys[i])), "field %zu should be %s", i,
                  keys[i]);
    }
}

Test(msg, to_value_writes_type_key_seq_data_in_that_order)
{
    pw_value v = obj(4, "data", visly_patches(), "seq", pw_int(3), "key", S("appstate"), "type",
                     S("patches"));
    pw_msg m;
    cr_assert_eq(pw_msg_from_value(&v, &m, NULL), PW_OK);
    pw_value out;
    cr_assert_eq(pw_msg_to_value(&m, &out), PW_OK);
    expect_keys(&out, 4, (const char *const[]){"type", "key", "seq", "data"});
    cr_assert(pw_value_equal(&out, &v));
    pw_value_release(&out);

    m.has_seq = false;
    cr_assert_eq(pw_msg_to_value(&m, &out), PW_OK);
    expect_keys(&out, 3, (const char *const[]){"type", "key", "data"});
    pw_value_release(&out);
    pw_msg_clear(&m);
    pw_value_release(&v);
}

Test(msg, fullsync_round_trips_through_a_tree)
{
    pw_value v = obj(4, "type", S("fullsync"), "key", S("a key longer than inline"), "seq",
                     pw_int(INT64_MAX), "data", obj(2, "n", pw_double(0.5), "s", arr(0)));
    pw_msg m, back;
    cr_assert_eq(pw_msg_from_value(&v, &m, NULL), PW_OK);
    pw_value out;
    cr_assert_eq(pw_msg_to_value(&m, &out), PW_OK);
    cr_assert(pw_value_equal(&out, &v));
    cr_assert_eq(pw_msg_from_value(&out, &back, NULL), PW_OK);
    cr_assert_eq(back.seq, (uint64_t)INT64_MAX);
    pw_msg_clear(&back);
    pw_msg_clear(&m);
    pw_value_release(&out);
    pw_value_release(&v);
}

Test(msg, unknown_type_round_trips_with_its_name)
{
    pw_value v = obj(3, "type", S("presence"), "key", S("room"), "data", pw_int(1));
    pw_msg m;
    cr_assert_eq(pw_msg_from_value(&v, &m, NULL), PW_OK);
    pw_value out;
    cr_assert_eq(pw_msg_to_value(&m, &out), PW_OK);
    cr_assert(pw_value_equal(&out, &v));
    pw_value_release(&out);
    pw_msg_clear(&m);
    pw_value_release(&v);
}

Test(msg, to_value_refuses_a_message_it_could_not_read_back)
{
    pw_msg m;
    pw_msg_init(&m);
    pw_value out;
    cr_assert_eq(pw_msg_to_value(&m, &out), PW_EINVAL, "unknown type without a name");
    m.type = PW_MSG_FULLSYNC;
    cr_assert_eq(pw_msg_to_value(&m, &out), PW_EINVAL, "fullsync without a key");
    m.key = S("");
    cr_assert_eq(pw_msg_to_value(&m, &out), PW_EINVAL, "fullsync with an empty key");
    pw_value_release(&m.key);
    m.key = S("k");
    m.has_seq = true;
    m.seq = (uint64_t)INT64_MAX + 1;
    cr_assert_eq(pw_msg_to_value(&m, &out), PW_EINVAL, "seq beyond int64");
    cr_assert_eq(pw_value_kind(&out), PW_NULL);
    pw_msg_clear(&m);
}

Test(msg, type_names)
{
    cr_assert_str_eq(pw_msg_type_name(PW_MSG_FULLSYNC), "fullsync");
    cr_assert_str_eq(pw_msg_type_name(PW_MSG_PATCHES), "patches");
    cr_assert_str_eq(pw_msg_type_name(PW_MSG_UNKNOWN), "unknown");
    cr_assert_str_eq(pw_msg_type_name((pw_msg_type)42), "invalid");
}

/* ------------------------------------------------------------------ codecs */

static const char visly_json[] =
    "{\"type\":\"patches\",\"key\":\"appstate\",\"data\":[{\"op\":\"add\",\"path\":[\"items\",0],"
    "\"value\":{\"title\":\"milk\"}}]}";

Test(msg_codec, limits_default_to_the_documented_values)
{
    pw_limits lim;
    memset(&lim, 0xff, sizeof lim);
    pw_limits_init(&lim);
    cr_assert_eq(lim.max_input_bytes, (size_t)64 << 20);
    cr_assert_eq(lim.max_depth, 512);
    cr_assert_eq(lim.max_string_bytes, (size_t)16 << 20);
}

Test(msg_codec, find_by_name)
{
    cr_assert_eq(pw_codec_find("json"), &pw_codec_json);
    cr_assert_eq(pw_codec_find("msgpack"), &pw_codec_msgpack);
    cr_assert_null(pw_codec_find("JSON"));
    cr_assert_null(pw_codec_find("cbor"));
    cr_assert_null(pw_codec_find(NULL));
    cr_assert_str_eq(pw_codec_json.name, "json");
    cr_assert_str_eq(pw_codec_msgpack.name, "msgpack");
}

Test(msg_codec, detect_tells_json_from_msgpack_by_first_byte)
{
    const char *json_starts = " \t\n\r{[\"-0123456789tfn";
    for (const char *c = json_starts; *c; c++)
        cr_assert_eq(pw_codec_detect((const uint8_t *)c, 1), &pw_codec_json, "byte 0x%02x",
                     (unsigned)(uint8_t)*c);
    const uint8_t msgpack_starts[] = {0x80, 0x83, 0x8f, 0xde, 0xdf, 0x90, 0xc0, 0xff, 0x00, 'x'};
    for (size_t i = 0; i < sizeof msgpack_starts; i++)
        cr_assert_eq(pw_codec_detect(&msgpack_starts[i], 1), &pw_codec_msgpack, "byte 0x%02x",
                     msgpack_starts[i]);
    cr_assert_null(pw_codec_detect((const uint8_t *)"{", 0));
}

Test(msg_codec, visly_message_decodes_and_encodes_byte_for_byte)
{
    const pw_codec *c = pw_codec_detect((const uint8_t *)visly_json, strlen(visly_json));
    cr_assert_eq(c, &pw_codec_json);
    pw_msg m;
    pw_error err;
    cr_assert_eq(pw_msg_decode(c, (const uint8_t *)visly_json, strlen(visly_json), NULL, &m, &err),
                 PW_OK, "%s", err.msg);
    cr_assert_eq(m.type, PW_MSG_PATCHES);
    pw_buf out = {0};
    cr_assert_eq(pw_msg_encode(&pw_codec_json, &m, &out, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(out.len, strlen(visly_json));
    cr_assert_eq(memcmp(out.data, visly_json, out.len), 0, "%.*s", (int)out.len, out.data);
    pw_buf_free(&out);
    pw_msg_clear(&m);
}

Test(msg_codec, msgpack_round_trip_keeps_the_message)
{
    pw_msg m, back;
    cr_assert_eq(pw_msg_decode(&pw_codec_json, (const uint8_t *)visly_json, strlen(visly_json),
                               NULL, &m, NULL),
                 PW_OK);
    m.has_seq = true;
    m.seq = 77;
    pw_buf out = {0};
    cr_assert_eq(pw_msg_encode(&pw_codec_msgpack, &m, &out, NULL), PW_OK);
    cr_assert_eq(out.data[0], 0x84, "a fixmap of four fields");
    cr_assert_eq(pw_codec_detect(out.data, out.len), &pw_codec_msgpack);
    pw_error err;
    cr_assert_eq(pw_msg_decode(&pw_codec_msgpack, out.data, out.len, NULL, &back, &err), PW_OK,
                 "%s", err.msg);
    cr_assert_eq(back.type, PW_MSG_PATCHES);
    cr_assert_eq(back.seq, 77);
    pw_value a, b;
    cr_assert_eq(pw_msg_to_value(&m, &a), PW_OK);
    cr_assert_eq(pw_msg_to_value(&back, &b), PW_OK);
    cr_assert(pw_value_equal(&a, &b));
    pw_value_release(&a);
    pw_value_release(&b);
    pw_buf_free(&out);
    pw_msg_clear(&back);
    pw_msg_clear(&m);
}

Test(msg_codec, decode_reports_syntax_errors_with_an_offset)
{
    const char bad[] = "{\"type\":\"fullsync\",\"key\":\"k\",\"data\":[1,]}";
    pw_msg m;
    pw_error err;
    cr_assert_eq(pw_msg_decode(&pw_codec_json, (const uint8_t *)bad, strlen(bad), NULL, &m, &err),
                 PW_ESYNTAX);
    cr_assert_neq(err.offset, PW_NO_OFFSET);
    cr_assert_eq(m.type, PW_MSG_UNKNOWN);
    cr_assert_eq(pw_value_kind(&m.data), PW_NULL);
    pw_msg_clear(&m);
}

Test(msg_codec, decode_applies_the_limits)
{
    const char deep[] = "{\"type\":\"fullsync\",\"key\":\"k\",\"data\":[[[[1]]]]}";
    pw_limits lim;
    pw_limits_init(&lim);
    lim.max_depth = 3;
    pw_msg m;
    cr_assert_eq(pw_msg_decode(&pw_codec_json, (const uint8_t *)deep, strlen(deep), &lim, &m, NULL),
                 PW_EDEPTH);
    pw_msg_clear(&m);
    lim.max_depth = 5;
    cr_assert_eq(pw_msg_decode(&pw_codec_json, (const uint8_t *)deep, strlen(deep), &lim, &m, NULL),
                 PW_OK);
    pw_msg_clear(&m);
}

Test(msg_codec, decode_of_a_bad_message_is_a_msg_error)
{
    const char nokey[] = "{\"type\":\"fullsync\",\"data\":1}";
    pw_msg m;
    pw_error err;
    cr_assert_eq(
        pw_msg_decode(&pw_codec_json, (const uint8_t *)nokey, strlen(nokey), NULL, &m, &err),
        PW_EMSG);
    cr_assert(strstr(err.msg, "key"));
    pw_msg_clear(&m);
}

Test(msg_codec, encode_failure_appends_nothing)
{
    pw_buf out = {0};
    cr_assert_eq(pw_buf_append(&out, "xy", 2), PW_OK);
    pw_msg m;
    pw_msg_init(&m);
    m.type = PW_MSG_FULLSYNC; /* no key */
    pw_error err;
    cr_assert_eq(pw_msg_encode(&pw_codec_json, &m, &out, &err), PW_EINVAL);
    cr_assert_eq(err.code, PW_EINVAL);
    cr_assert_eq(out.len, 2);
    pw_buf_free(&out);
    pw_msg_clear(&m);
}

Test(msg, unknown_type_without_data_is_written_without_data)
{
    pw_value v = obj(1, "type", S("ping"));
    pw_msg m;
    cr_assert_eq(pw_msg_from_value(&v, &m, NULL), PW_OK);
    pw_value out;
    cr_assert_eq(pw_msg_to_value(&m, &out), PW_OK);
    expect_keys(&out, 1, (const char *const[]){"type"});
    pw_value_release(&out);
    pw_msg_clear(&m);
    pw_value_release(&v);
}

/* ---- every message of SPEC 1.1/1.2/1.3: ack, error, resync, base, id ---- */

static void json_roundtrip(const char *json, pw_msg *m)
{
    pw_error err;
    cr_assert_eq(pw_msg_decode(&pw_codec_json, (const uint8_t *)json, strlen(json), NULL, m, &err),
                 PW_OK, "%s: %s", json, err.msg);
    pw_buf out = {0};
    cr_assert_eq(pw_msg_encode(&pw_codec_json, m, &out, &err), PW_OK, "%s", err.msg);
    cr_assert(out.len == strlen(json) && memcmp(out.data, json, out.len) == 0,
              "%s came back as %.*s", json, (int)out.len, (const char *)out.data);
    pw_buf_free(&out);
}

static void json_refused(const char *json, const char *why)
{
    pw_msg m;
    pw_error err;
    cr_assert_eq(pw_msg_decode(&pw_codec_json, (const uint8_t *)json, strlen(json), NULL, &m, &err),
                 PW_EMSG, "%s was accepted", json);
    cr_assert(strstr(err.msg, why), "%s: \"%s\" does not name %s", json, err.msg, why);
    cr_assert_eq(m.type, PW_MSG_UNKNOWN, "left cleared");
}

Test(msg, ack_has_key_seq_and_an_optional_id)
{
    pw_msg m;
    json_roundtrip("{\"type\":\"ack\",\"key\":\"k\",\"seq\":7}", &m);
    cr_assert_eq(m.type, PW_MSG_ACK);
    cr_assert_eq(m.seq, 7);
    pw_msg_clear(&m);
    json_roundtrip("{\"type\":\"ack\",\"key\":\"k\",\"seq\":7,\"id\":\"dev:3\"}", &m);
    cr_assert(pw_value_str_eq(&m.id, "dev:3", 5));
    pw_msg_clear(&m);
    json_refused("{\"type\":\"ack\",\"key\":\"k\"}", "seq");
    json_refused("{\"type\":\"ack\",\"seq\":1}", "key");
}

Test(msg, error_has_its_text_and_may_name_no_key)
{
    pw_msg m;
    json_roundtrip("{\"type\":\"error\",\"key\":\"k\",\"seq\":3,\"id\":9,\"data\":{\"message\":"
                   "\"no\"}}",
                   &m);
    cr_assert_eq(m.type, PW_MSG_ERROR);
    size_t n;
    cr_assert_str_eq(pw_msg_error_text(&m, &n), "no");
    cr_assert_eq(pw_value_int(&m.id), 9);
    pw_msg_clear(&m);
    json_roundtrip("{\"type\":\"error\",\"data\":{\"message\":\"bad bytes\"}}", &m);
    cr_assert_eq(pw_value_kind(&m.key), PW_NULL);
    pw_msg_clear(&m);
    /* built in memory */
    pw_msg_init(&m);
    m.type = PW_MSG_ERROR;
    cr_assert_eq(pw_msg_set_error_text(&m, "refused"), PW_OK);
    pw_buf out = {0};
    cr_assert_eq(pw_msg_encode(&pw_codec_json, &m, &out, NULL), PW_OK);
    cr_assert_eq(out.len, strlen("{\"type\":\"error\",\"data\":{\"message\":\"refused\"}}"));
    pw_buf_free(&out);
    pw_msg_clear(&m);
}

Test(msg, resync_needs_a_key)
{
    pw_msg m;
    json_roundtrip("{\"type\":\"resync\",\"key\":\"k\"}", &m);
    cr_assert_eq(m.type, PW_MSG_RESYNC);
    pw_msg_clear(&m);
    json_refused("{\"type\":\"resync\"}", "key");
}

Test(msg, base_and_id_of_patches)
{
    pw_msg m;
    json_roundtrip("{\"type\":\"patches\",\"key\":\"k\",\"base\":4,\"id\":\"a:1\",\"data\":[]}", &m);
    cr_assert(m.has_base);
    cr_assert_eq(m.base, 4);
    pw_msg_clear(&m);
    json_refused("{\"type\":\"patches\",\"key\":\"k\",\"base\":-1,\"data\":[]}", "base");
    json_refused("{\"type\":\"patches\",\"key\":\"k\",\"base\":\"1\",\"data\":[]}", "base");
    json_refused("{\"type\":\"patches\",\"key\":\"k\",\"id\":[1],\"data\":[]}", "id");
    json_refused("{\"type\":\"patches\",\"key\":\"k\",\"id\":-2,\"data\":[]}", "id");
    char big[400];
    snprintf(big, sizeof big, "{\"type\":\"patches\",\"key\":\"k\",\"id\":\"%0300d\",\"data\":[]}", 0);
    json_refused(big, "id");
}

Test(msg, new_types_round_trip_through_msgpack)
{
    const char *all[] = {
        "{\"type\":\"ack\",\"key\":\"k\",\"seq\":7,\"id\":\"x:1\"}",
        "{\"type\":\"error\",\"key\":\"k\",\"data\":{\"message\":\"m\"}}",
        "{\"type\":\"resync\",\"key\":\"k\"}",
        "{\"type\":\"patches\",\"key\":\"k\",\"base\":2,\"id\":5,\"data\":[]}",
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        pw_msg m, back;
        pw_error err;
        cr_assert_eq(pw_msg_decode(&pw_codec_json, (const uint8_t *)all[i], strlen(all[i]), NULL,
                                   &m, &err),
                     PW_OK, "%s", err.msg);
        pw_buf mp = {0}, js = {0};
        cr_assert_eq(pw_msg_encode(&pw_codec_msgpack, &m, &mp, NULL), PW_OK);
        cr_assert_eq(pw_msg_decode(&pw_codec_msgpack, mp.data, mp.len, NULL, &back, &err), PW_OK,
                     "%s", err.msg);
        cr_assert_eq(back.type, m.type);
        cr_assert_eq(pw_msg_encode(&pw_codec_json, &back, &js, NULL), PW_OK);
        cr_assert(js.len == strlen(all[i]) && memcmp(js.data, all[i], js.len) == 0);
        pw_buf_free(&mp);
        pw_buf_free(&js);
        pw_msg_clear(&m);
        pw_msg_clear(&back);
    }
}
