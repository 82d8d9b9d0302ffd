/* gen.c - deterministic benchmark inputs and their reference encodings.
 *
 * The one idea: every input is built once as a value tree through the value
 * API (from a fixed-seed generator), then written to JSON and MessagePack by
 * the small walkers below, which use only the read API and msgpack-c's packer.
 * The baselines therefore read exactly the bytes patchwire reads, and none of
 * them depends on patchwire's own codecs. */
#include "bench.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

uint64_t bench_rand(bench_rng *r)
{
    /* splitmix64 */
    uint64_t z = (r->s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static const char *const words[] = {
    "buy",      "oat",      "milk",    "bread",   "call",     "mom",     "fix",       "the",
    "bike",     "tire",     "book",    "dentist", "pay",      "rent",    "water",     "plants",
    "email",    "Anna",     "about",   "Friday",  "pick",     "up",      "parcel",    "renew",
    "passport", "clean",    "garage",  "write",   "report",   "draft",   "slides",    "for",
    "Monday",   "meeting",  "order",   "new",     "lamp",     "return",  "library",   "books",
    "check",    "oil",      "level",   "plan",    "trip",     "to",      "Lisbon",    "and",
    "before",   "noon",     "café",    "crème",   "brûlée",   "naïve",   "Grüße",     "日本茶",
    "piñata",   "\"asap\"", "½ price", "C:\\tmp", "tomorrow", "weekend", "groceries",
};
static const char *const tags[] = {
    "home", "work", "errands", "urgent", "later", "family", "health", "garden",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static pw_err gen_title(bench_rng *r, pw_value *out)
{
    char text[256];
    size_t len = 0;
    size_t n = 2 + (size_t)(bench_rand(r) % 10);
    for (size_t i = 0; i < n; i++) {
        const char *w = words[bench_rand(r) % COUNT(words)];
        size_t wl = strlen(w);
        if (len + wl + 1 >= sizeof text)
            break;
        if (i)
            text[len++] = ' ';
        memcpy(text + len, w, wl);
        len += wl;
    }
    return pw_string_new(out, text, len);
}

pw_err bench_gen_item(bench_rng *r, int64_t id, pw_value *item)
{
    pw_value tag_vals[3];
    size_t ntags = (size_t)(bench_rand(r) % 4);
    for (size_t i = 0; i < ntags; i++)
        pw_string_cstr(&tag_vals[i], tags[bench_rand(r) % COUNT(tags)]); /* inline */

    pw_value kv[8];
    pw_string_cstr(&kv[0], "id");
    kv[1] = pw_int(id);
    pw_string_cstr(&kv[2], "title");
    pw_err rc = gen_title(r, &kv[3]);
    pw_string_cstr(&kv[4], "done");
    kv[5] = pw_bool(bench_rand(r) % 3 == 0);
    pw_string_cstr(&kv[6], "tags");
    if (rc == PW_OK)
        rc = pw_array_from(&kv[7], tag_vals, ntags);
    if (rc) {
        pw_value_release(&kv[3]);
        return rc;
    }
    return pw_object_from(item, kv, 4);
}

pw_err bench_gen_state(uint64_t seed, size_t target_bytes, pw_value *state, size_t *json_bytes,
                       size_t *items)
{
    bench_rng r = {seed};
    pw_value arr = pw_null();
    pw_buf scratch;
    pw_buf_init(&scratch);
    pw_err rc = pw_array_new(&arr, 0);
    /* {"items":[ ... ]} */
    size_t total = strlen("{\"items\":[]}");
    size_t n = 0;
    while (rc == PW_OK && total < target_bytes) {
        pw_value item;
        rc = bench_gen_item(&r, (int64_t)n + 1, &item);
        if (rc)
            break;
        pw_buf_reset(&scratch);
        rc = bench_write_json(&item, &scratch);
        total += scratch.len + (n ? 1 : 0);
        if (rc == PW_OK)
            rc = pw_array_push(&arr, item);
        else
            pw_value_release(&item);
        n++;
    }
    pw_buf_free(&scratch);
    pw_value kv[2];
    pw_string_cstr(&kv[0], "items");
    kv[1] = arr;
    if (rc) {
        pw_value_release(&arr);
        return rc;
    }
    *json_bytes = total;
    *items = n;
    return pw_object_from(state, kv, 1);
}

pw_err bench_gen_fullsync(pw_value state, pw_value *msg)
{
    pw_value kv[6];
    pw_string_cstr(&kv[0], "type");
    pw_string_cstr(&kv[1], "fullsync");
    pw_string_cstr(&kv[2], "key");
    pw_string_cstr(&kv[3], "appstate");
    pw_string_cstr(&kv[4], "data");
    kv[5] = state;
    return pw_object_from(msg, kv, 3);
}

pw_err bench_gen_item_path(size_t i, const char *field, pw_value *path)
{
    pw_value seg[3];
    size_t n = 0;
    pw_string_cstr(&seg[n++], "items");
    seg[n++] = pw_int((int64_t)i);
    if (field) {
        pw_err rc = pw_string_cstr(&seg[n++], field);
        if (rc)
            return rc;
    }
    return pw_array_from(path, seg, n);
}

pw_err bench_gen_small_patches(pw_value *msg)
{
    pw_value patch, list, kv[6];
    pw_string_cstr(&kv[0], "op");
    pw_string_cstr(&kv[1], "replace");
    pw_string_cstr(&kv[2], "path");
    pw_err rc = bench_gen_item_path(42, "title", &kv[3]);
    if (rc)
        return rc;
    pw_string_cstr(&kv[4], "value");
    rc = pw_string_cstr(&kv[5], "buy oat milk and bread");
    if (rc) {
        pw_value_release(&kv[3]);
        return rc;
    }
    rc = pw_object_from(&patch, kv, 3);
    if (rc)
        return rc;
    rc = pw_array_from(&list, &patch, 1);
    if (rc)
        return rc;
    pw_string_cstr(&kv[0], "type");
    pw_string_cstr(&kv[1], "patches");
    pw_string_cstr(&kv[2], "key");
    pw_string_cstr(&kv[3], "appstate");
    pw_string_cstr(&kv[4], "data");
    kv[5] = list;
    return pw_object_from(msg, kv, 3);
}

/* ---------------------------------------------------------------- JSON */

static pw_err write_json_string(const char *s, size_t n, pw_buf *out)
{
    static const char hex[] = "0123456789abcdef";
    pw_err rc = pw_buf_reserve(out, n + 2);
    if (rc)
        return rc;
    out->data[out->len++] = '"';
    size_t run = 0; /* bytes of s not yet copied */
    for (size_t i = 0; i <= n && rc == PW_OK; i++) {
        unsigned char c = i < n ? (unsigned char)s[i] : 0;
        if (i < n && c >= 0x20 && c != '"' && c != '\\')
            continue;
        rc = pw_buf_append(out, s + run, i - run);
        run = i + 1;
        if (i == n || rc)
            break;
        char esc[6] = {'\\', 0};
        size_t elen = 2;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
        }
        rc = pw_buf_append(out, esc, elen);
    }
    if (rc == PW_OK)
        rc = pw_buf_append(out, "\"", 1);
    return rc;
}

static pw_err write_json_value(const pw_value *v, pw_buf *out)
{
    char num[40];
    size_t len;
    const char *s;
    pw_err rc = PW_OK;
    switch (pw_value_kind(v)) {
    case PW_NULL:
        return pw_buf_append(out, "null", 4);
    case PW_BOOL:
        return pw_value_bool(v) ? pw_buf_append(out, "true", 4) : pw_buf_append(out, "false", 5);
    case PW_INT:
        len = (size_t)snprintf(num, sizeof num, "%" PRId64, pw_value_int(v));
        return pw_buf_append(out, num, len);
    case PW_DOUBLE: /* the generator makes none; good enough for a check */
        len = (size_t)snprintf(num, sizeof num, "%.17g", pw_value_number(v));
        return pw_buf_append(out, num, len);
    case PW_STRING:
        s = pw_value_str(v, &len);
        return write_json_string(s, len, out);
    case PW_ARRAY:
        rc = pw_buf_append(out, "[", 1);
        for (size_t i = 0; rc == PW_OK && i < pw_value_len(v); i++) {
            if (i)
                rc = pw_buf_append(out, ",", 1);
            if (rc == PW_OK)
                rc = write_json_value(pw_array_get(v, i), out);
        }
        return rc ? rc : pw_buf_append(out, "]", 1);
    case PW_OBJECT:
        rc = pw_buf_append(out, "{", 1);
        for (size_t i = 0; rc == PW_OK && i < pw_value_len(v); i++) {
            const pw_value *key, *val;
            pw_object_at(v, i, &key, &val);
            if (i)
                rc = pw_buf_append(out, ",", 1);
            s = pw_value_str(key, &len);
            if (rc == PW_OK)
                rc = write_json_string(s, len, out);
            if (rc == PW_OK)
                rc = pw_buf_append(out, ":", 1);
            if (rc == PW_OK)
                rc = write_json_value(val, out);
        }
        return rc ? rc : pw_buf_append(out, "}", 1);
    }
    return PW_EINVAL;
}

pw_err bench_write_json(const pw_value *v, pw_buf *out)
{
    pw_err rc = write_json_value(v, out);
    if (rc == PW_OK)
        rc = pw_buf_append(out, "", 1);
    if (rc == PW_OK)
        out->len--; /* the NUL is there for json_loads, not part of the text */
    return rc;
}

/* ---------------------------------------------------------------- MessagePack */

static int buf_write(void *data, const char *p, size_t n)
{
    return pw_buf_append(data, p, n) == PW_OK ? 0 : -1;
}

static int pack_value(msgpack_packer *pk, const pw_value *v)
{
    size_t len;
    const char *s;
    int rc = 0;
    switch (pw_value_kind(v)) {
    case PW_NULL:
        return msgpack_pack_nil(pk);
    case PW_BOOL:
        return pw_value_bool(v) ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    case PW_INT:
        return msgpack_pack_int64(pk, pw_value_int(v));
    case PW_DOUBLE:
        return msgpack_pack_double(pk, pw_value_number(v));
    case PW_STRING:
        s = pw_value_str(v, &len);
        rc = msgpack_pack_str(pk, len);
        return rc ? rc : msgpack_pack_str_body(pk, s, len);
    case PW_ARRAY:
        rc = msgpack_pack_array(pk, pw_value_len(v));
        for (size_t i = 0; rc == 0 && i < pw_value_len(v); i++)
            rc = pack_value(pk, pw_array_get(v, i));
        return rc;
    case PW_OBJECT:
        rc = msgpack_pack_map(pk, pw_value_len(v));
        for (size_t i = 0; rc == 0 && i < pw_value_len(v); i++) {
            const pw_value *key, *val;
            pw_object_at(v, i, &key, &val);
            rc = pack_value(pk, key);
            if (rc == 0)
                rc = pack_value(pk, val);
        }
        return rc;
    }
    return -1;
}

pw_err bench_write_msgpack(const pw_value *v, pw_buf *out)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, buf_write);
    return pack_value(&pk, v) == 0 ? PW_OK : PW_ENOMEM;
}
