/* pointer.c - RFC 6901 JSON Pointers <-> arrays of path segments.
 *
 * A pointer is held parsed, as an array of string segments, so that the apply
 * code sees one path form for both dialects; it is written back only on the
 * way out (wire form, messages). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "path_internal.h"
#include "patchwire/patch.h"

pw_err pw_pointer_parse(const char *s, size_t len, pw_value *segments, pw_error *err)
{
    if (!segments || (!s && len))
        return pw_error_set(err, PW_EINVAL, "JSON Pointer: no input");
    if (len == 0)
        return pw_array_new(segments, 0);
    if (s[0] != '/') {
        pw_error_set(err, PW_ESYNTAX, "JSON Pointer must be empty or start with '/' (byte 0)");
        if (err)
            err->offset = 0;
        return PW_ESYNTAX;
    }
    size_t count = 0;
    for (size_t i = 0; i < len; i++)
        count += s[i] == '/';
    pw_value *items = malloc(count * sizeof *items);
    char *tmp = malloc(len);
    pw_err rc = items && tmp ? PW_OK : PW_ENOMEM;
    size_t built = 0, at = 1;
    while (!rc && built < count) {
        size_t n = 0;
        for (; at < len && s[at] != '/'; at++) {
            if (s[at] != '~') {
                tmp[n++] = s[at];
                continue;
            }
            if (at + 1 < len && (s[at + 1] == '0' || s[at + 1] == '1')) {
                tmp[n++] = s[at + 1] == '0' ? '~' : '/';
                at++;
                continue;
            }
            rc = pw_error_set(err, PW_ESYNTAX,
                              "JSON Pointer: '~' at byte %zu is not followed by '0' or '1'", at);
            if (err)
                err->offset = at;
            break;
        }
        if (rc)
            break;
        rc = pw_string_new(&items[built], tmp, n);
        if (rc)
            break;
        built++;
        at++; /* the '/' */
    }
    free(tmp);
    if (rc) {
        for (size_t i = 0; i < built; i++)
            pw_value_release(&items[i]);
        free(items);
        return rc == PW_ENOMEM ? pw_error_set(err, rc, "JSON Pointer: out of memory") : rc;
    }
    rc = pw_array_from(segments, items, count);
    free(items);
    return rc;
}

/* Appends the escaped segment to buf (NULL: only counts); returns its size. */
static size_t put_escaped(char *buf, const char *s, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '~' || s[i] == '/') {
            if (buf) {
                buf[w] = '~';
                buf[w + 1] = s[i] == '~' ? '0' : '1';
            }
            w += 2;
        } else {
            if (buf)
                buf[w] = s[i];
            w++;
        }
    }
    return w;
}

pw_err pw_pointer_format(const pw_value *segments, pw_value *out_string)
{
    if (!segments || !out_string || pw_value_kind(segments) != PW_ARRAY)
        return PW_ETYPE;
    size_t count = pw_value_len(segments), size = 0;
    for (size_t i = 0; i < count; i++) {
        pw__seg g;
        if (!pw__seg_read(pw_array_get(segments, i), &g))
            return PW_ETYPE;
        pw__seg_key(&g);
        size += 1 + put_escaped(NULL, g.s, g.n);
    }
    char *buf = malloc(size ? size : 1);
    if (!buf)
        return PW_ENOMEM;
    size_t w = 0;
    for (size_t i = 0; i < count; i++) {
        pw__seg g;
        pw__seg_read(pw_array_get(segments, i), &g);
        pw__seg_key(&g);
        buf[w++] = '/';
        w += put_escaped(buf + w, g.s, g.n);
    }
    pw_err rc = pw_string_new(out_string, buf, w);
    free(buf);
    return rc;
}

void pw__path_text(const pw_value *path, char *buf, size_t size)
{
    if (size)
        buf[0] = '\0';
    if (size < 4)
        return;
    if (pw_value_kind(path) != PW_ARRAY) {
        snprintf(buf, size, "(path is %s)", pw_kind_phrase(pw_value_kind(path)));
        return;
    }
    size_t w = 0, count = pw_value_len(path);
    for (size_t i = 0; i < count; i++) {
        pw__seg g;
        const char *s = "?";
        size_t n = 1;
        if (pw__seg_read(pw_array_get(path, i), &g)) {
            pw__seg_key(&g);
            s = g.s;
            n = g.n;
        }
        size_t need = 1 + put_escaped(NULL, s, n);
        if (w + need + 4 > size) { /* room for "..." and the NUL */
            memcpy(buf + w, "...", 4);
            return;
        }
        buf[w++] = '/';
        w += put_escaped(buf + w, s, n);
    }
    buf[w] = '\0';
}
