/* peek.c - a message's "type", "key" and "id" read without decoding it.
 *
 * The one idea: skipping a value needs no memory at all (JSON: a bracket
 * depth and the string quotes; MessagePack: a count of items still to
 * skip), so the top-level members of even a 64 MiB message are walked in
 * one pass over its bytes, stopping as soon as the three are found. The
 * walk is lax (it does not validate what it skips): it only ever lets the
 * hub refuse earlier, and whatever passes is decoded strictly. */
#include "peek.h"

#include <string.h>

typedef struct cur {
    const uint8_t *p, *end, *start;
} cur;

static bool name_is(const char *s, size_t n, const char *want)
{
    return n == strlen(want) && memcmp(s, want, n) == 0;
}

static void found(pw__peek *out, const char *name, size_t nlen, const char *s, size_t n)
{
    if (name_is(name, nlen, "type") && !out->type)
        out->type = s, out->type_len = n;
    else if (name_is(name, nlen, "key") && !out->key)
        out->key = s, out->key_len = n;
    else if (name_is(name, nlen, "id") && !out->id && !out->has_id_int)
        out->id = s, out->id_len = n;
}

/* Type and key found, and the id too or the walk is past where an encoder
 * puts it (our own puts "id" before "data"). */
static bool complete(const pw__peek *out, size_t walked)
{
    return out->type && out->key && (out->id || out->has_id_int || walked > 4096);
}

/* The bulk of a message is its "data": with type and key known, the id
 * (if any) came before it. */
static bool past_header(const pw__peek *out, const char *name, size_t nlen)
{
    return out->type && out->key && name_is(name, nlen, "data");
}

/* ---- JSON ---- */

static void json_space(cur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t'))
        c->p++;
}

/* The string at c->p (its opening quote); plain: it holds no escape. */
static bool json_string(cur *c, const char **s, size_t *n, bool *plain)
{
    const uint8_t *start = ++c->p;
    *plain = true;
    for (;;) {
        while (c->p < c->end && *c->p != '"' && *c->p != '\\')
            c->p++;
        if (c->p >= c->end)
            return false;
        if (*c->p == '"')
            break;
        if (c->end - c->p < 2)
            return false;
        *plain = false;
        c->p += 2;
    }
    *s = (const char *)start;
    *n = (size_t)(c->p - start);
    c->p++;
    return true;
}

static bool json_delim(uint8_t ch)
{
    return ch == ',' || ch == ':' || ch == ']' || ch == '}' || ch == ' ' || ch == '\n' ||
           ch == '\r' || ch == '\t' || ch == '"' || ch == '[' || ch == '{';
}

static bool json_skip(cur *c)
{
    size_t depth = 0;
    do {
        json_space(c);
        if (c->p >= c->end)
            return false;
        uint8_t ch = *c->p;
        const char *s;
        size_t n;
        bool plain;
        if (ch == '"') {
            if (!json_string(c, &s, &n, &plain))
                return false;
        } else if (ch == '{' || ch == '[') {
            depth++;
            c->p++;
        } else if (ch == '}' || ch == ']') {
            if (depth == 0)
                return false;
            depth--;
            c->p++;
        } else if (ch == ',' || ch == ':') {
            if (depth == 0)
                return false;
            c->p++;
        } else {
            while (c->p < c->end && !json_delim(*c->p))
                c->p++;
        }
    } while (depth > 0);
    return true;
}

/* An integer id: digits with an optional minus, nothing else (no fraction). */
static void json_int(const uint8_t *p, const uint8_t *end, pw__peek *out)
{
    bool neg = p < end && *p == '-';
    p += neg;
    uint64_t v = 0;
    const uint8_t *digits = p;
    while (p < end && *p >= '0' && *p <= '9' && p - digits < 18)
        v = v * 10 + (uint64_t)(*p++ - '0');
    if (p == digits || (p < end && !json_delim(*p)))
        return;
    out->has_id_int = true;
    out->id_int = neg ? -(int64_t)v : (int64_t)v;
}

static bool peek_json(cur *c, pw__peek *out)
{
    json_space(c);
    if (c->p >= c->end || *c->p != '{')
        return false;
    c->p++;
    json_space(c);
    if (c->p < c->end && *c->p == '}')
        return true;
    for (;;) {
        const char *name, *s;
        size_t nlen, n;
        bool plain_name, plain;
        json_space(c);
        if (c->p >= c->end || *c->p != '"' || !json_string(c, &name, &nlen, &plain_name))
            return false;
        if (plain_name && past_header(out, name, nlen))
            return true;
        json_space(c);
        if (c->p >= c->end || *c->p != ':')
            return false;
        c->p++;
        json_space(c);
        if (c->p >= c->end)
            return false;
        if (*c->p == '"') {
            if (!json_string(c, &s, &n, &plain))
                return false;
            if (plain_name && plain)
                found(out, name, nlen, s, n);
        } else {
            if (plain_name && name_is(name, nlen, "id") && !out->id && !out->has_id_int)
                json_int(c->p, c->end, out);
            if (!json_skip(c))
                return false;
        }
        if (complete(out, (size_t)(c->p - c->start)))
            return true;
        json_space(c);
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            continue;
        }
        return c->p < c->end && *c->p == '}';
    }
}

/* ---- MessagePack ---- */

static uint64_t big_endian(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* One item's header at c->p: moves past the item itself (header and
 * payload) but not its children, which it counts. str/int: what it is, if
 * a string or an integer. */
static bool mp_item(cur *c, uint64_t *children, const char **str, size_t *slen, bool *is_int,
                    int64_t *ival)
{
    size_t left = (size_t)(c->end - c->p);
    if (left < 1)
        return false;
    uint8_t b = *c->p;
    size_t head = 1;
    uint64_t body = 0, len = 0;
    int lenbytes = 0;
    bool string = false;
    *children = 0;
    *str = NULL;
    *is_int = false;
    if (b <= 0x7f || b >= 0xe0) {
        *is_int = true;
        *ival = b <= 0x7f ? b : (int64_t)(int8_t)b;
    } else if (b <= 0x8f) {
        *children = 2 * (uint64_t)(b & 0x0f);
    } else if (b <= 0x9f) {
        *children = b & 0x0f;
    } else if (b <= 0xbf) {
        body = b & 0x1f;
        string = true;
    } else {
        switch (b) {
        case 0xc0:
        case 0xc2:
        case 0xc3:
            break;
        case 0xc4:
        case 0xc5:
        case 0xc6:
            lenbytes = 1 << (b - 0xc4);
            break;
        case 0xc7:
        case 0xc8:
        case 0xc9:
            lenbytes = 1 << (b - 0xc7);
            body = 1;
            break;
        case 0xca:
            body = 4;
            break;
        case 0xcb:
            body = 8;
            break;
        case 0xcc:
        case 0xcd:
        case 0xce:
        case 0xcf:
            body = 1u << (b - 0xcc);
            break;
        case 0xd0:
        case 0xd1:
        case 0xd2:
        case 0xd3:
            body = 1u << (b - 0xd0);
            *is_int = true;
            break;
        case 0xd4:
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8:
            body = 1 + (1u << (b - 0xd4));
            break;
        case 0xd9:
        case 0xda:
        case 0xdb:
            lenbytes = 1 << (b - 0xd9);
            string = true;
            break;
        case 0xdc:
        case 0xdd:
            lenbytes = 2 << (b - 0xdc);
            break;
        case 0xde:
        case 0xdf:
            lenbytes = 2 << (b - 0xde);
            break;
        default:
            return false; /* 0xc1 */
        }
    }
    if (lenbytes) {
        if (left < 1 + (size_t)lenbytes)
            return false;
        len = big_endian(c->p + 1, lenbytes);
        head += (size_t)lenbytes;
        if (b >= 0xdc && b <= 0xdd)
            *children = len;
        else if (b >= 0xde)
            *children = 2 * len;
        else
            body += len;
    }
    if (body > left - head)
        return false;
    if (b >= 0xcc && b <= 0xd3) {
        uint64_t v = big_endian(c->p + 1, (int)body);
        if (b >= 0xd0) { /* signed: extend from its width */
            int shift = 64 - 8 * (int)body;
            *ival = (int64_t)(v << shift) >> shift;
        } else if (v <= INT64_MAX) {
            *is_int = true;
            *ival = (int64_t)v;
        }
    }
    if (string) {
        *str = (const char *)c->p + head;
        *slen = (size_t)body;
    }
    c->p += head + body;
    return true;
}

static bool mp_skip(cur *c)
{
    uint64_t pending = 1, children;
    const char *s;
    size_t n;
    bool is_int;
    int64_t v;
    while (pending > 0) {
        pending--;
        if (!mp_item(c, &children, &s, &n, &is_int, &v))
            return false;
        pending += children;
        if (pending > (uint64_t)(c->end - c->p)) /* every item takes a byte at least */
            return false;
    }
    return true;
}

static bool peek_msgpack(cur *c, pw__peek *out)
{
    uint64_t members;
    const char *s;
    size_t n;
    bool is_int;
    int64_t v;
    uint8_t b = c->p < c->end ? *c->p : 0;
    if (!((b >= 0x80 && b <= 0x8f) || b == 0xde || b == 0xdf) ||
        !mp_item(c, &members, &s, &n, &is_int, &v))
        return false;
    for (uint64_t i = 0; i < members / 2; i++) {
        uint64_t children;
        const char *name;
        size_t nlen;
        if (!mp_item(c, &children, &name, &nlen, &is_int, &v) || children)
            return false;
        if (name && past_header(out, name, nlen))
            return true;
        const uint8_t *at = c->p;
        if (!mp_item(c, &children, &s, &n, &is_int, &v))
            return false;
        if (name && s)
            found(out, name, nlen, s, n);
        else if (name && is_int && name_is(name, nlen, "id") && !out->id && !out->has_id_int)
            out->has_id_int = true, out->id_int = v;
        if (children) {
            c->p = at;
            if (!mp_skip(c))
                return false;
        }
        if (complete(out, (size_t)(c->p - c->start)))
            return true;
    }
    return true;
}

bool pw__peek_msg(const pw_codec *codec, const uint8_t *p, size_t n, pw__peek *out)
{
    memset(out, 0, sizeof *out);
    cur c = {p, p + n, p};
    return codec == &pw_codec_msgpack ? peek_msgpack(&c, out) : peek_json(&c, out);
}
