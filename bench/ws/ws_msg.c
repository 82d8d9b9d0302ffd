/* ws_msg.c - bench_ws's own writers and readers of the one patches message
 * it sends (see ws_msg.h). The JSON reader is a small cursor over the
 * message that accepts the fields in any order and skips the ones it does
 * not know (patchwire adds "seq"); the MessagePack reader unpacks with
 * msgpack-c into a reused zone and walks the object. */
#include "ws_msg.h"

#include <stdio.h>
#include <string.h>

#include <msgpack.h>

/* ---- writers ---- */

size_t ws_msg_write_json(char *out, size_t cap, uint64_t index, int64_t value_num, int64_t base)
{
    char value[32], based[40] = "";
    if (value_num < 0)
        snprintf(value, sizeof value, "true");
    else
        snprintf(value, sizeof value, "%lld", (long long)value_num);
    if (base >= 0)
        snprintf(based, sizeof based, "\"base\":%lld,", (long long)base);
    int n = snprintf(out, cap,
                     "{\"type\":\"patches\",\"key\":\"appstate\",%s\"data\":[{\"op\":\"replace\","
                     "\"path\":[\"items\",%llu,\"done\"],\"value\":%s}]}",
                     based, (unsigned long long)index, value);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static void pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

size_t ws_msg_write_msgpack(char *out, size_t cap, uint64_t index, int64_t value_num, int64_t base)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, base >= 0 ? 4 : 3);
    pack_str(&pk, "type");
    pack_str(&pk, "patches");
    pack_str(&pk, "key");
    pack_str(&pk, "appstate");
    if (base >= 0) {
        pack_str(&pk, "base");
        msgpack_pack_uint64(&pk, (uint64_t)base);
    }
    pack_str(&pk, "data");
    msgpack_pack_array(&pk, 1);
    msgpack_pack_map(&pk, 3);
    pack_str(&pk, "op");
    pack_str(&pk, "replace");
    pack_str(&pk, "path");
    msgpack_pack_array(&pk, 3);
    pack_str(&pk, "items");
    msgpack_pack_uint64(&pk, index);
    pack_str(&pk, "done");
    pack_str(&pk, "value");
    if (value_num < 0)
        msgpack_pack_true(&pk);
    else
        msgpack_pack_uint64(&pk, (uint64_t)value_num);
    size_t n = sb.size <= cap ? sb.size : 0;
    if (n)
        memcpy(out, sb.data, n);
    msgpack_sbuffer_destroy(&sb);
    return n;
}

/* ---- JSON reader ---- */

typedef struct cur {
    const uint8_t *p, *end;
} cur;

static void ws(cur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static bool eat(cur *c, char ch)
{
    ws(c);
    if (c->p < c->end && *c->p == (uint8_t)ch) {
        c->p++;
        return true;
    }
    return false;
}

/* A string without escapes that matter here: the span between the quotes. */
static bool str(cur *c, const uint8_t **s, size_t *n)
{
    if (!eat(c, '"'))
        return false;
    const uint8_t *b = c->p;
    while (c->p < c->end && *c->p != '"') {
        if (*c->p == '\\' && c->p + 1 < c->end)
            c->p++;
        c->p++;
    }
    if (c->p >= c->end)
        return false;
    *s = b;
    *n = (size_t)(c->p - b);
    c->p++;
    return true;
}

static bool str_is(const uint8_t *s, size_t n, const char *lit)
{
    return n == strlen(lit) && memcmp(s, lit, n) == 0;
}

static bool uint(cur *c, uint64_t *v)
{
    ws(c);
    const uint8_t *b = c->p;
    uint64_t x = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9' && c->p - b < 19)
        x = x * 10 + (uint64_t)(*c->p++ - '0');
    if (c->p == b || (c->p < c->end && (*c->p == '.' || *c->p == 'e' || *c->p == 'E')))
        return false;
    *v = x;
    return true;
}

/* Skips one value of any kind (nesting bounded by the message itself). */
static bool skip(cur *c)
{
    ws(c);
    if (c->p >= c->end)
        return false;
    if (*c->p == '"') {
        const uint8_t *s;
        size_t n;
        return str(c, &s, &n);
    }
    if (*c->p == '{' || *c->p == '[') {
        int depth = 0;
        while (c->p < c->end) {
            uint8_t ch = *c->p;
            if (ch == '"') {
                const uint8_t *s;
                size_t n;
                if (!str(c, &s, &n))
                    return false;
                continue;
            }
            c->p++;
            if (ch == '{' || ch == '[')
                depth++;
            else if ((ch == '}' || ch == ']') && --depth == 0)
                return true;
        }
        return false;
    }
    while (c->p < c->end && *c->p != ',' && *c->p != '}' && *c->p != ']')
        c->p++;
    return true;
}

/* The one patch object: op, path, value in any order. */
static bool read_patch(cur *c, ws_patch *patch)
{
    bool op = false, path = false, value = false;
    if (!eat(c, '{'))
        return false;
    if (eat(c, '}'))
        return false;
    do {
        const uint8_t *k;
        size_t kn;
        if (!str(c, &k, &kn) || !eat(c, ':'))
            return false;
        if (str_is(k, kn, "op")) {
            const uint8_t *s;
            size_t n;
            if (!str(c, &s, &n) || !str_is(s, n, "replace"))
                return false;
            op = true;
        } else if (str_is(k, kn, "path")) {
            const uint8_t *s;
            size_t n;
            if (!eat(c, '[') || !str(c, &s, &n) || !str_is(s, n, "items") || !eat(c, ',') ||
                !uint(c, &patch->index) || !eat(c, ',') || !str(c, &s, &n) ||
                !str_is(s, n, "done") || !eat(c, ']'))
                return false;
            path = true;
        } else if (str_is(k, kn, "value")) {
            ws(c);
            if (c->end - c->p >= 4 && memcmp(c->p, "true", 4) == 0) {
                c->p += 4;
                patch->value_is_num = false;
            } else if (uint(c, &patch->value)) {
                patch->value_is_num = true;
            } else {
                return false;
            }
            value = true;
        } else if (!skip(c)) {
            return false;
        }
    } while (eat(c, ','));
    return eat(c, '}') && op && path && value;
}

ws_kind ws_msg_read_json(const uint8_t *p, size_t n, bool complete, ws_patch *patch)
{
    cur c = {p, p + n};
    patch->has_seq = false;
    const uint8_t *type = NULL, *key = NULL;
    size_t type_n = 0, key_n = 0;
    bool data = false;
    if (!eat(&c, '{'))
        return WS_BAD;
    do {
        const uint8_t *k;
        size_t kn;
        if (!str(&c, &k, &kn) || !eat(&c, ':'))
            break;
        if (str_is(k, kn, "type")) {
            if (!str(&c, &type, &type_n))
                return WS_BAD;
        } else if (str_is(k, kn, "key")) {
            if (!str(&c, &key, &key_n))
                return WS_BAD;
        } else if (str_is(k, kn, "seq")) {
            if (!uint(&c, &patch->seq))
                return WS_BAD;
            patch->has_seq = true;
        } else if (str_is(k, kn, "data") && type && str_is(type, type_n, "patches")) {
            if (!eat(&c, '[') || !read_patch(&c, patch) || !eat(&c, ']'))
                return WS_BAD;
            data = true;
        } else if (!complete && str_is(k, kn, "data")) {
            break; /* the head of a long message: its type was enough */
        } else if (!skip(&c)) {
            break;
        }
    } while (eat(&c, ','));
    if (!type)
        return WS_BAD;
    bool our_key = key && str_is(key, key_n, "appstate");
    if (str_is(type, type_n, "fullsync"))
        return complete && !our_key ? WS_BAD : WS_FULLSYNC;
    if (str_is(type, type_n, "error"))
        return WS_ERROR;
    if (!complete)
        return WS_BAD;
    if (str_is(type, type_n, "patches"))
        return data && our_key && eat(&c, '}') ? WS_PATCH : WS_BAD;
    if (str_is(type, type_n, "ack"))
        return our_key && patch->has_seq ? WS_ACK : WS_BAD;
    return WS_OTHER;
}

/* ---- MessagePack reader ---- */

static bool mp_is(const msgpack_object *o, const char *lit)
{
    return o->type == MSGPACK_OBJECT_STR &&
           str_is((const uint8_t *)o->via.str.ptr, o->via.str.size, lit);
}

static const msgpack_object *mp_get(const msgpack_object *map, const char *key)
{
    if (map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    for (uint32_t i = 0; i < map->via.map.size; i++)
        if (mp_is(&map->via.map.ptr[i].key, key))
            return &map->via.map.ptr[i].val;
    return NULL;
}

static bool mp_patch(const msgpack_object *data, ws_patch *patch)
{
    if (data->type != MSGPACK_OBJECT_ARRAY || data->via.array.size != 1)
        return false;
    const msgpack_object *p = &data->via.array.ptr[0];
    const msgpack_object *op = mp_get(p, "op"), *path = mp_get(p, "path"),
                         *value = mp_get(p, "value");
    if (!op || !mp_is(op, "replace") || !path || path->type != MSGPACK_OBJECT_ARRAY ||
        path->via.array.size != 3 || !mp_is(&path->via.array.ptr[0], "items") ||
        path->via.array.ptr[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        !mp_is(&path->via.array.ptr[2], "done") || !value)
        return false;
    patch->index = path->via.array.ptr[1].via.u64;
    if (value->type == MSGPACK_OBJECT_BOOLEAN && value->via.boolean) {
        patch->value_is_num = false;
    } else if (value->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        patch->value_is_num = true;
        patch->value = value->via.u64;
    } else {
        return false;
    }
    return true;
}

/* The head of a long message: a map whose first entry is "type": T. */
/* A fixstr / str8 at p[*i], skipped; its bytes in *s, *len. */
static bool mp_str(const uint8_t *p, size_t n, size_t *i, const uint8_t **s, size_t *len)
{
    size_t at = *i, hdr;
    if (at >= n)
        return false;
    if ((p[at] & 0xe0) == 0xa0) {
        *len = p[at] & 0x1f;
        hdr = 1;
    } else if (p[at] == 0xd9 && at + 1 < n) {
        *len = p[at + 1];
        hdr = 2;
    } else {
        return false;
    }
    if (at + hdr + *len > n)
        return false;
    *s = p + at + hdr;
    *i = at + hdr + *len;
    return true;
}

/* A non-negative integer at p[*i], skipped. */
static bool mp_uint(const uint8_t *p, size_t n, size_t *i, uint64_t *v)
{
    size_t at = *i, len;
    if (at >= n)
        return false;
    if (p[at] < 0x80) {
        *v = p[at];
        *i = at + 1;
        return true;
    }
    if (p[at] < 0xcc || p[at] > 0xcf)
        return false;
    len = (size_t)1 << (p[at] - 0xcc);
    if (at + 1 + len > n)
        return false;
    *v = 0;
    for (size_t k = 0; k < len; k++)
        *v = *v << 8 | p[at + 1 + k];
    *i = at + 1 + len;
    return true;
}

/* The head of a long message: a map whose first entry is "type": T, then
 * (as patchwire writes them) string or integer fields up to "data". */
static ws_kind mp_head(const uint8_t *p, size_t n, ws_patch *patch)
{
    size_t i = 0, entries;
    if (n < 1)
        return WS_BAD;
    if ((p[0] & 0xf0) == 0x80) {
        entries = p[0] & 0x0f;
        i = 1;
    } else if (p[0] == 0xde && n >= 3) {
        entries = (size_t)p[1] << 8 | p[2];
        i = 3;
    } else {
        return WS_BAD;
    }
    const uint8_t *k, *type = NULL;
    size_t kn, type_n = 0;
    if (entries == 0 || !mp_str(p, n, &i, &k, &kn) || !str_is(k, kn, "type") ||
        !mp_str(p, n, &i, &type, &type_n))
        return WS_BAD;
    for (size_t e = 1; e < entries && mp_str(p, n, &i, &k, &kn) && !str_is(k, kn, "data"); e++) {
        const uint8_t *s;
        size_t sn;
        uint64_t v;
        if (str_is(k, kn, "seq") && mp_uint(p, n, &i, &v)) {
            patch->has_seq = true;
            patch->seq = v;
        } else if (!mp_str(p, n, &i, &s, &sn) && !mp_uint(p, n, &i, &v)) {
            break;
        }
    }
    if (str_is(type, type_n, "fullsync"))
        return WS_FULLSYNC;
    if (str_is(type, type_n, "error"))
        return WS_ERROR;
    return WS_BAD;
}

static _Thread_local msgpack_zone *zone; /* one per thread: bench_mqtt reads on several */

void ws_msg_reader_free(void)
{
    if (zone)
        msgpack_zone_free(zone);
    zone = NULL;
}

ws_kind ws_msg_read_msgpack(const uint8_t *p, size_t n, bool complete, ws_patch *patch)
{
    patch->has_seq = false;
    if (!complete)
        return mp_head(p, n, patch);
    if (!zone && !(zone = msgpack_zone_new(4096)))
        return WS_BAD;
    msgpack_object o;
    size_t off = 0;
    msgpack_unpack_return rc = msgpack_unpack((const char *)p, n, &off, zone, &o);
    ws_kind kind = WS_BAD;
    if (rc == MSGPACK_UNPACK_SUCCESS && off == n && o.type == MSGPACK_OBJECT_MAP) {
        const msgpack_object *type = mp_get(&o, "type"), *key = mp_get(&o, "key"),
                             *data = mp_get(&o, "data");
        const msgpack_object *seq = mp_get(&o, "seq");
        bool our_key = key && mp_is(key, "appstate");
        if (seq && seq->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
            patch->has_seq = true;
            patch->seq = seq->via.u64;
        }
        if (!type || type->type != MSGPACK_OBJECT_STR)
            kind = WS_BAD;
        else if (mp_is(type, "patches"))
            kind = our_key && data && mp_patch(data, patch) ? WS_PATCH : WS_BAD;
        else if (mp_is(type, "fullsync"))
            kind = our_key ? WS_FULLSYNC : WS_BAD;
        else if (mp_is(type, "error"))
            kind = WS_ERROR;
        else if (mp_is(type, "ack"))
            kind = our_key && patch->has_seq ? WS_ACK : WS_BAD;
        else
            kind = WS_OTHER;
    }
    msgpack_zone_clear(zone);
    return kind;
}
