/* patch.c - patch lists and their wire form (Immer and RFC 6902).
 *
 * The one idea: whatever dialect a list arrives in, it is validated once on
 * the way in (ops, segment types, prototype-polluting keys, required values)
 * and held with paths as arrays of segments, so apply.c sees a single form
 * and only the dialect flag changes its rules. Reading is all or nothing. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "path_internal.h"
#include "patchwire/patch.h"

static const char *const op_names[] = {
    [PW_OP_ADD] = "add",   [PW_OP_REMOVE] = "remove", [PW_OP_REPLACE] = "replace",
    [PW_OP_MOVE] = "move", [PW_OP_COPY] = "copy",     [PW_OP_TEST] = "test",
};

const char *pw_op_name(pw_op op)
{
    return (unsigned)op < sizeof op_names / sizeof op_names[0] ? op_names[op] : "invalid";
}

/* ---------------------------------------------------------------- lists */

void pw_patches_init(pw_patches *p, pw_dialect dialect)
{
    p->dialect = dialect;
    p->len = 0;
    p->cap = 0;
    p->items = NULL;
}

static void patch_release(pw_patch *pt)
{
    pw_value_release(&pt->path);
    pw_value_release(&pt->from);
    pw_value_release(&pt->value);
}

void pw_patches_clear(pw_patches *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->len; i++)
        patch_release(&p->items[i]);
    free(p->items);
    p->items = NULL;
    p->len = 0;
    p->cap = 0;
}

/* Room for `more` patches past len; false when out of memory. */
bool pw__seg_equal(const pw_value *a, const pw_value *b)
{
    pw__seg x, y;
    if (!pw__seg_read(a, &x) || !pw__seg_read(b, &y))
        return false;
    if (x.is_int && y.is_int)
        return x.i == y.i;
    pw__seg_key(&x);
    pw__seg_key(&y);
    return x.n == y.n && memcmp(x.s, y.s, x.n) == 0;
}

bool pw__paths_overlap(const pw_value *a, const pw_value *b)
{
    if (pw_value_kind(a) != PW_ARRAY || pw_value_kind(b) != PW_ARRAY)
        return false;
    size_t n = pw_value_len(a), m = pw_value_len(b);
    for (size_t i = 0; i < n && i < m; i++)
        if (!pw__seg_equal(pw_array_get(a, i), pw_array_get(b, i)))
            return false;
    return true;
}

bool pw__patches_reserve(pw_patches *p, size_t more)
{
    if (more > SIZE_MAX / sizeof(pw_patch) - p->len)
        return false;
    return pw__grow((void **)&p->items, NULL, &p->cap, p->len + more, sizeof(pw_patch));
}

pw_err pw_patches_push(pw_patches *p, pw_op op, pw_value path, pw_value from, pw_value value,
                       bool has_value)
{
    if (!pw__patches_reserve(p, 1)) {
        pw_value_release(&path);
        pw_value_release(&from);
        pw_value_release(&value);
        return PW_ENOMEM;
    }
    pw_patch *pt = &p->items[p->len++];
    pt->op = op;
    pt->path = path;
    pt->from = from;
    pt->value = has_value ? value : pw_null();
    pt->has_value = has_value;
    if (!has_value)
        pw_value_release(&value);
    return PW_OK;
}

/* Moves every patch of src to the end of dst (same dialect), all or nothing. */
static bool patches_move_all(pw_patches *dst, pw_patches *src)
{
    if (!pw__patches_reserve(dst, src->len))
        return false;
    if (src->len)
        memcpy(&dst->items[dst->len], src->items, src->len * sizeof *src->items);
    dst->len += src->len;
    src->len = 0;
    return true;
}

/* ---------------------------------------------------------------- reading */

static bool op_parse(const pw_value *v, pw_op *op)
{
    for (unsigned i = 0; i < sizeof op_names / sizeof op_names[0]; i++)
        if (pw_value_str_eq(v, op_names[i], strlen(op_names[i]))) {
            *op = (pw_op)i;
            return true;
        }
    return false;
}

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static pw_err
bad(pw_error *err, size_t index, const char *op, const char *fmt, ...)
{
    char reason[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    pw_error_set(err, PW_EOP, "patch %zu (%s): %s", index, op, reason);
    if (err)
        err->index = (long)index;
    return PW_EOP;
}

/* Checks the segments of a path or from; an int-valued double becomes an int
 * (a JS number such as 3 may arrive as 3.0), so *path may be replaced. */
static pw_err check_segments(pw_value *path, size_t index, const char *op, const char *what,
                             pw_error *err)
{
    size_t n = pw_value_len(path);
    for (size_t i = 0; i < n; i++) {
        const pw_value *sv = pw_array_get(path, i);
        if (pw_value_kind(sv) == PW_DOUBLE) {
            double d = pw_value_number(sv);
            if (!(d >= 0 && d < 9007199254740992.0 && (double)(int64_t)d == d))
                return bad(err, index, op, "%s segment %zu is not a non-negative integer", what, i);
            pw_value *slot = pw_array_get_mut(path, i);
            if (!slot)
                return pw_error_set(err, PW_ENOMEM, "patch %zu: out of memory", index);
            *slot = pw_int((int64_t)d);
            sv = slot;
        }
        pw__seg g;
        if (!pw__seg_read(sv, &g))
            return bad(err, index, op,
                       "%s segment %zu is %s, not a string or a non-negative "
                       "integer",
                       what, i, pw_kind_phrase(pw_value_kind(sv)));
        if (pw__seg_forbidden(&g))
            return bad(err, index, op,
                       "%s segment %zu is \"%.*s\": refused (prototype pollution on JavaScript "
                       "peers)",
                       what, i, (int)g.n, g.s);
    }
    return PW_OK;
}

/* Reads a path or from field in the list's dialect into *out (owned). */
static pw_err read_path(const pw_value *v, pw_dialect d, size_t index, const char *op,
                        const char *what, pw_value *out, pw_error *err)
{
    if (d == PW_DIALECT_IMMER) {
        if (pw_value_kind(v) != PW_ARRAY)
            return bad(err, index, op, "%s is %s, not an array", what,
                       pw_kind_phrase(pw_value_kind(v)));
        *out = pw_value_retain(*v);
    } else {
        size_t len;
        const char *s = pw_value_str(v, &len);
        if (!s)
            return bad(err, index, op, "%s is %s, not a JSON Pointer string", what,
                       pw_kind_phrase(pw_value_kind(v)));
        pw_error perr;
        pw_error_clear(&perr);
        pw_err rc = pw_pointer_parse(s, len, out, &perr);
        if (rc == PW_ENOMEM)
            return pw_error_set(err, rc, "patch %zu: out of memory", index);
        if (rc)
            return bad(err, index, op, "%s: %s", what, perr.msg);
    }
    pw_err rc = check_segments(out, index, op, what, err);
    if (rc)
        pw_value_release(out);
    return rc;
}

static const pw_value *field(const pw_value *obj, const char *name)
{
    return pw_object_get(obj, name, strlen(name));
}

/* Reads patch i of the list into tmp; *known says whether tmp's dialect is
 * fixed yet (by an earlier patch or by what out already holds). */
static pw_err read_patch(const pw_value *item, size_t i, pw_patches *tmp, bool *known,
                         pw_error *err)
{
    if (pw_value_kind(item) != PW_OBJECT)
        return bad(err, i, "?", "a patch must be an object, not %s",
                   pw_kind_phrase(pw_value_kind(item)));
    const pw_value *opv = field(item, "op");
    pw_op op;
    if (!opv)
        return bad(err, i, "?", "missing \"op\"");
    if (!op_parse(opv, &op)) {
        size_t n = 0;
        const char *s = pw_value_str(opv, &n);
        if (!s)
            return bad(err, i, "?", "\"op\" is %s, not a string",
                       pw_kind_phrase(pw_value_kind(opv)));
        return bad(err, i, "?", "unknown op \"%.*s\"", n > 40 ? 40 : (int)n, s);
    }
    const char *name = pw_op_name(op);
    const pw_value *pathv = field(item, "path");
    if (!pathv)
        return bad(err, i, name, "missing \"path\"");
    pw_kind pk = pw_value_kind(pathv);
    if (pk != PW_ARRAY && pk != PW_STRING)
        return bad(err, i, name, "path is %s, not an array (Immer) or a string (RFC 6902)",
                   pw_kind_phrase(pk));
    pw_dialect d = pk == PW_ARRAY ? PW_DIALECT_IMMER : PW_DIALECT_RFC6902;
    if (!*known) {
        tmp->dialect = d;
        *known = true;
    } else if (d != tmp->dialect) {
        return bad(err, i, name,
                   "%s path in a list of %s paths: a list must not mix Immer and RFC 6902",
                   d == PW_DIALECT_IMMER ? "an array (Immer)" : "a string (RFC 6902)",
                   d == PW_DIALECT_IMMER ? "string (RFC 6902)" : "array (Immer)");
    }
    if (d == PW_DIALECT_IMMER && op > PW_OP_REPLACE)
        return bad(err, i, name, "not an Immer op (move, copy and test are RFC 6902 only)");

    pw_value path = pw_null(), from = pw_null(), value = pw_null();
    pw_err rc = read_path(pathv, d, i, name, "path", &path, err);
    if (rc)
        return rc;
    if (op == PW_OP_MOVE || op == PW_OP_COPY) {
        const pw_value *fromv = field(item, "from");
        rc = fromv ? read_path(fromv, d, i, name, "from", &from, err)
                   : bad(err, i, name, "missing \"from\"");
        if (rc) {
            pw_value_release(&path);
            return rc;
        }
    }
    const pw_value *valuev = field(item, "value");
    bool wants = op == PW_OP_ADD || op == PW_OP_REPLACE || op == PW_OP_TEST;
    /* Immer add/replace without a value: the sender's JSON.stringify dropped
     * an undefined value. Kept as has_value = false; apply treats it as null
     * in an array and as deleting the member of an object. */
    if (wants && !valuev && d == PW_DIALECT_RFC6902) {
        pw_value_release(&path);
        pw_value_release(&from);
        return bad(err, i, name, "missing \"value\"");
    }
    bool has = wants && valuev;
    if (has)
        value = pw_value_retain(*valuev);
    rc = pw_patches_push(tmp, op, path, from, value, has);
    if (rc)
        return pw_error_set(err, rc, "patch %zu: out of memory", i);
    return PW_OK;
}

pw_err pw_patches_from_value(const pw_value *list, pw_patches *out, pw_error *err)
{
    pw_error_clear(err);
    if (!list || !out)
        return pw_error_set(err, PW_EINVAL, "no patch list");
    if (pw_value_kind(list) != PW_ARRAY)
        return pw_error_set(err, PW_EOP, "a patch list must be an array, not %s",
                            pw_kind_phrase(pw_value_kind(list)));
    pw_patches tmp;
    pw_patches_init(&tmp, out->dialect);
    bool known = out->len > 0;
    pw_err rc = PW_OK;
    size_t n = pw_value_len(list);
    for (size_t i = 0; i < n && !rc; i++)
        rc = read_patch(pw_array_get(list, i), i, &tmp, &known, err);
    if (!rc && !patches_move_all(out, &tmp))
        rc = pw_error_set(err, PW_ENOMEM, "patch list: out of memory");
    if (!rc && tmp.dialect != out->dialect)
        out->dialect = tmp.dialect; /* only possible while out was empty */
    pw_patches_clear(&tmp);
    return rc;
}

/* ---------------------------------------------------------------- writing */

static pw_err write_path(const pw_value *path, pw_dialect d, pw_value *out)
{
    if (d == PW_DIALECT_IMMER) {
        if (pw_value_kind(path) != PW_ARRAY)
            return PW_ETYPE;
        *out = pw_value_retain(*path);
        return PW_OK;
    }
    return pw_pointer_format(path, out);
}

/* A short literal: fits in the handle, so it never allocates. */
static pw_value lit(const char *s)
{
    pw_value v;
    pw_string_cstr(&v, s);
    return v;
}

/* Field order as Immer emits it: op, path, (from), value. */
static pw_err patch_to_value(const pw_patch *pt, pw_dialect d, pw_value *out)
{
    pw_value kv[8];
    size_t n = 0;
    kv[n++] = lit("op");
    kv[n++] = lit(pw_op_name(pt->op));
    kv[n++] = lit("path");
    pw_err rc = write_path(&pt->path, d, &kv[n]);
    if (!rc)
        n++;
    if (!rc && (pt->op == PW_OP_MOVE || pt->op == PW_OP_COPY)) {
        kv[n++] = lit("from");
        rc = write_path(&pt->from, d, &kv[n]);
        if (!rc)
            n++;
    }
    if (rc) {
        for (size_t k = 0; k < n; k++)
            pw_value_release(&kv[k]);
        return rc;
    }
    if (pt->has_value) {
        kv[n++] = lit("value");
        kv[n++] = pw_value_retain(pt->value);
    }
    return pw_object_from(out, kv, n / 2);
}

pw_err pw_patches_to_value(const pw_patches *p, pw_value *out)
{
    if (!p || !out)
        return PW_EINVAL;
    pw_value arr;
    pw_err rc = pw_array_new(&arr, p->len);
    for (size_t i = 0; i < p->len && !rc; i++) {
        pw_value v;
        rc = patch_to_value(&p->items[i], p->dialect, &v);
        if (!rc)
            rc = pw_array_push(&arr, v);
    }
    if (rc) {
        pw_value_release(&arr);
        return rc;
    }
    *out = arr;
    return PW_OK;
}
