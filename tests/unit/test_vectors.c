/* Golden vectors (proto/vectors/<group>.json, see proto/SPEC.md): every case through
 * both codecs. Each group file is one Test that runs all its cases and reports
 * every failing case by name (non-fatal expectations), then checks the count. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "patchwire/codec.h"
#include "patchwire/msg.h"

static const char *const groups[] = {"messages", "documents", "errors"};

static const struct {
    const char *name;
    pw_err code;
} error_names[] = {
    {"syntax", PW_ESYNTAX},
    {"depth", PW_EDEPTH},
    {"type", PW_ETYPE},
    {"msg", PW_EMSG},
    {"op", PW_EOP},
    {"limit", PW_ELIMIT},
    {"unsupported", PW_EUNSUPPORTED},
};

typedef struct {
    const char *file; /* group name, for messages */
    const char *name; /* case name */
    const pw_value *c;
    pw_limits lim;
    bool message;
} vcase;

/* ---------------------------------------------------------------- helpers */

static char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s (is PW_PROTO_DIR set?)", path);
    pw_buf b = {0};
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
        cr_assert_eq(pw_buf_append(&b, chunk, got), PW_OK);
    fclose(f);
    *n = b.len;
    return (char *)b.data;
}

static const pw_value *member(const pw_value *o, const char *k)
{
    return pw_object_get(o, k, strlen(k));
}

/* A string member's bytes, or NULL when absent. */
static const char *str_member(const pw_value *o, const char *k, size_t *n)
{
    const pw_value *v = member(o, k);
    return v ? pw_value_str(v, n) : NULL;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes a hex member into *out (malloc'ed, may be empty); false if absent. */
static bool hex_member(const vcase *vc, const char *k, uint8_t **out, size_t *n)
{
    size_t len;
    const char *h = str_member(vc->c, k, &len);
    if (!h)
        return false;
    cr_assert_eq(len % 2, 0, "%s/%s: odd hex in %s", vc->file, vc->name, k);
    *n = len / 2;
    *out = malloc(*n + 1);
    cr_assert_not_null(*out);
    for (size_t i = 0; i < *n; i++) {
        int hi = hexval(h[2 * i]), lo = hexval(h[2 * i + 1]);
        cr_assert(hi >= 0 && lo >= 0, "%s/%s: bad hex in %s", vc->file, vc->name, k);
        (*out)[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

static void to_hex(const uint8_t *p, size_t n, char *out, size_t cap)
{
    size_t i = 0;
    for (; i < n && 2 * i + 2 < cap; i++)
        snprintf(out + 2 * i, 3, "%02x", p[i]);
    out[2 * i] = '\0';
}

static pw_err error_code(const vcase *vc, const char *field)
{
    size_t n;
    const char *s = str_member(vc->c, field, &n);
    for (size_t i = 0; i < sizeof error_names / sizeof error_names[0]; i++)
        if (strlen(error_names[i].name) == n && memcmp(error_names[i].name, s, n) == 0)
            return error_names[i].code;
    cr_assert_fail("%s/%s: unknown error name %.*s", vc->file, vc->name, (int)n, s);
    return PW_OK;
}

/* Decodes bytes as a document or, for message cases, as a message written
 * back to its normalized tree. */
static pw_err decode(const vcase *vc, const pw_codec *c, const uint8_t *p, size_t n, pw_value *out,
                     pw_error *err)
{
    if (!vc->message)
        return c->decode(p, n, &vc->lim, out, err);
    pw_msg m;
    pw_err rc = pw_msg_decode(c, p, n, &vc->lim, &m, err);
    if (!rc)
        rc = pw_msg_to_value(&m, out);
    else
        *out = pw_null();
    pw_msg_clear(&m);
    return rc;
}

static pw_err encode(const vcase *vc, const pw_codec *c, const pw_value *v, pw_buf *out)
{
    pw_error err;
    if (!vc->message)
        return c->encode(v, out, &err);
    pw_msg m;
    pw_err rc = pw_msg_from_value(v, &m, &err);
    if (!rc)
        rc = pw_msg_encode(c, &m, out, &err);
    pw_msg_clear(&m);
    return rc;
}

/* ---------------------------------------------------------------- checks */

static void check_error(const vcase *vc, const pw_codec *c, const uint8_t *p, size_t n,
                        const char *field)
{
    pw_err want = error_code(vc, field);
    pw_value v;
    pw_error err;
    pw_err rc = decode(vc, c, p, n, &v, &err);
    cr_expect_eq(rc, want, "%s/%s (%s): got %d (%s: %s), want %d (%s)", vc->file, vc->name, c->name,
                 rc, pw_strerror(rc), rc ? err.msg : "", want, pw_strerror(want));
    cr_expect_eq(pw_value_kind(&v), PW_NULL, "%s/%s (%s): a failed decode yields null", vc->file,
                 vc->name, c->name);
    bool at_bytes = want != PW_EMSG && want != PW_EOP;
    if (rc == want && at_bytes)
        cr_expect(err.offset != PW_NO_OFFSET && err.offset <= n,
                  "%s/%s (%s): a codec error names a byte offset within the input (%zu)", vc->file,
                  vc->name, c->name, err.offset);
    pw_value_release(&v);
}

/* Decodes p with c into *v and compares with expect; false if decoding failed. */
static bool check_decode(const vcase *vc, const pw_codec *c, const uint8_t *p, size_t n,
                         const pw_value *expect, const char *what, pw_value *v)
{
    pw_error err;
    pw_err rc = decode(vc, c, p, n, v, &err);
    cr_expect_eq(rc, PW_OK, "%s/%s (%s %s): decode failed: %s", vc->file, vc->name, c->name, what,
                 err.msg);
    if (!rc)
        cr_expect(pw_value_equal(v, expect), "%s/%s (%s %s): decoded value differs from expect",
                  vc->file, vc->name, c->name, what);
    return rc == PW_OK;
}

static void check_encode(const vcase *vc, const pw_codec *c, const pw_value *v, const uint8_t *want,
                         size_t n)
{
    pw_buf out = {0};
    pw_err rc = encode(vc, c, v, &out);
    cr_expect_eq(rc, PW_OK, "%s/%s (%s): encode failed: %s", vc->file, vc->name, c->name,
                 pw_strerror(rc));
    if (!rc && (out.len != n || (n && memcmp(out.data, want, n) != 0))) {
        char got[512], exp[512];
        if (c == &pw_codec_msgpack) {
            to_hex(out.data, out.len, got, sizeof got);
            to_hex(want, n, exp, sizeof exp);
        } else {
            snprintf(got, sizeof got, "%.*s", (int)out.len, (const char *)out.data);
            snprintf(exp, sizeof exp, "%.*s", (int)n, (const char *)want);
        }
        cr_expect_fail("%s/%s (%s): encoded %s, want %s", vc->file, vc->name, c->name, got, exp);
    }
    pw_buf_free(&out);
}

static void set_limits(vcase *vc)
{
    pw_limits_init(&vc->lim);
    const pw_value *l = member(vc->c, "limits");
    if (!l)
        return;
    const pw_value *v;
    if ((v = member(l, "max_input_bytes")))
        vc->lim.max_input_bytes = (size_t)pw_value_int(v);
    if ((v = member(l, "max_depth")))
        vc->lim.max_depth = (uint32_t)pw_value_int(v);
    if ((v = member(l, "max_string_bytes")))
        vc->lim.max_string_bytes = (size_t)pw_value_int(v);
}

static void run_case(vcase *vc)
{
    size_t kn;
    const char *kind = str_member(vc->c, "kind", &kn);
    cr_assert_not_null(kind, "%s/%s: no kind", vc->file, vc->name);
    vc->message = kn == 7 && memcmp(kind, "message", 7) == 0;
    set_limits(vc);

    uint8_t *json = NULL, *mp = NULL;
    size_t jn = 0, mn = 0;
    const char *js = str_member(vc->c, "json", &jn);
    if (js) {
        json = malloc(jn + 1);
        cr_assert_not_null(json);
        memcpy(json, js, jn);
    } else if (!hex_member(vc, "json_hex", &json, &jn)) {
        json = NULL;
    }
    bool has_mp = hex_member(vc, "msgpack", &mp, &mn);
    cr_assert(json || has_mp, "%s/%s: no input", vc->file, vc->name);

    if (member(vc->c, "error") || member(vc->c, "msgpack_error")) {
        cr_assert_eq(!!json, !!member(vc->c, "error"), "%s/%s: json and error go together",
                     vc->file, vc->name);
        cr_assert_eq(has_mp, !!member(vc->c, "msgpack_error"),
                     "%s/%s: msgpack and msgpack_error go together", vc->file, vc->name);
        if (json)
            check_error(vc, &pw_codec_json, json, jn, "error");
        if (has_mp)
            check_error(vc, &pw_codec_msgpack, mp, mn, "msgpack_error");
        free(json);
        free(mp);
        return;
    }

    const pw_value *expect = member(vc->c, "expect");
    cr_assert_not_null(expect, "%s/%s: no expect", vc->file, vc->name);
    pw_value from_json = pw_null(), from_mp = pw_null(), back;
    bool ok_json = json && check_decode(vc, &pw_codec_json, json, jn, expect, "input", &from_json);
    bool ok_mp = has_mp && check_decode(vc, &pw_codec_msgpack, mp, mn, expect, "input", &from_mp);
    /* encode what was decoded: from JSON when there is JSON, else from msgpack */
    const pw_value *decoded = json ? &from_json : &from_mp;
    bool ok = json ? ok_json : ok_mp;

    size_t en;
    const char *je = str_member(vc->c, "json_encoded", &en);
    if (je) {
        if (ok)
            check_encode(vc, &pw_codec_json, decoded, (const uint8_t *)je, en);
        check_decode(vc, &pw_codec_json, (const uint8_t *)je, en, expect, "json_encoded", &back);
        pw_value_release(&back);
    }
    uint8_t *me;
    if (hex_member(vc, "msgpack_encoded", &me, &en)) {
        if (ok)
            check_encode(vc, &pw_codec_msgpack, decoded, me, en);
        check_decode(vc, &pw_codec_msgpack, me, en, expect, "msgpack_encoded", &back);
        pw_value_release(&back);
        free(me);
    }
    pw_value_release(&from_json);
    pw_value_release(&from_mp);
    free(json);
    free(mp);
}

static void run_group(const char *group)
{
    const char *dir = getenv("PW_PROTO_DIR");
    cr_assert_not_null(dir, "PW_PROTO_DIR is not set");
    char path[4096];
    snprintf(path, sizeof path, "%s/vectors/%s.json", dir, group);
    size_t n;
    char *text = read_all(path, &n);
    /* the file wraps each case in three levels: room for nested vectors */
    pw_limits lim;
    pw_limits_init(&lim);
    lim.max_depth = 4096;
    pw_value file;
    pw_error err;
    cr_assert_eq(pw_codec_json.decode((const uint8_t *)text, n, &lim, &file, &err), PW_OK, "%s: %s",
                 path, err.msg);
    free(text);
    const pw_value *cases = member(&file, "cases");
    cr_assert(cases && pw_value_kind(cases) == PW_ARRAY, "%s: no cases", path);
    size_t count = pw_value_len(cases);
    cr_assert_gt(count, 0, "%s: no cases", path);
    for (size_t i = 0; i < count; i++) {
        vcase vc = {.file = group, .c = pw_array_get(cases, i)};
        size_t nn;
        vc.name = str_member(vc.c, "name", &nn);
        cr_assert_not_null(vc.name, "%s: case %zu has no name", path, i);
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)nn, vc.name);
        vc.name = name;
        run_case(&vc);
    }
    pw_value_release(&file);
}

Test(vectors, messages)
{
    run_group("messages");
}
Test(vectors, documents)
{
    run_group("documents");
}
Test(vectors, errors)
{
    run_group("errors");
}

/* A new group file must be added above, or it would silently never run. */
Test(vectors, every_group_file_is_run)
{
    const char *dir = getenv("PW_PROTO_DIR");
    cr_assert_not_null(dir);
    char path[4096];
    snprintf(path, sizeof path, "%s/vectors", dir);
    DIR *d = opendir(path);
    cr_assert_not_null(d, "cannot open %s", path);
    size_t seen = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        bool known = false;
        for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
            known |= strlen(groups[i]) == len - 5 && memcmp(groups[i], e->d_name, len - 5) == 0;
        cr_expect(known, "vectors/%s is not run by test_vectors.c", e->d_name);
        seen++;
    }
    closedir(d);
    cr_assert_eq(seen, sizeof groups / sizeof groups[0]);
}
