/* store.c - named synced states: the key table, local and remote edits,
 * FullSync, and subscriptions.
 *
 * The one idea: every change of a key is one call of pw_patches_apply on its
 * document (atomic, in place, returning the inverses), and everything that
 * must be recorded about it is given room before that call; so a change that
 * fails leaves no trace, and a change that succeeds is recorded, reported to
 * subscribers, and (when local) handed to on_local as the Immer patches the
 * wire carries. A list in RFC 6902 form is applied as given, and its Immer
 * equivalent is computed with pw_diff between a snapshot taken before (O(1)
 * with structural sharing) and the result: exact, and paid only in that case.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "path_internal.h"
#include "patchwire/store.h"
#include "store_internal.h"

#define SMALL_TABLE 8 /* keys looked up by a scan up to this many */

void pw_store_options_init(pw_store_options *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->max_history = 100;
}

pw_store *pw_store_new(const pw_store_options *opts)
{
    pw_store *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (opts)
        s->opts = *opts;
    else
        pw_store_options_init(&s->opts);
    return s;
}

static void state_free(pw__state *st)
{
    pw__state_history_free(st);
    pw_value_release(&st->doc);
    free(st->key);
    free(st);
}

static void sub_release(pw__sub *sub)
{
    free(sub->key);
    pw_value_release(&sub->prefix);
}

void pw_store_free(pw_store *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->count; i++)
        state_free(s->states[i]);
    for (size_t i = 0; i < s->nsubs; i++)
        sub_release(&s->subs[i]);
    free(s->states);
    pw__strtab_free(&s->index);
    free(s->subs);
    free(s->dirty);
    free(s);
}

/* ---------------------------------------------------------------- key table */

static bool key_is(const pw__state *st, const char *key, size_t key_len)
{
    return st->key_len == key_len && memcmp(st->key, key, key_len) == 0;
}

pw__state *pw__store_find(const pw_store *s, const char *key, size_t key_len)
{
    if (!key)
        return NULL;
    if (!s->index.slots) {
        for (size_t i = 0; i < s->count; i++)
            if (key_is(s->states[i], key, key_len))
                return s->states[i];
        return NULL;
    }
    for (pw__strtab_probe p = pw__strtab_first(&s->index, key, key_len); p.pos;
         pw__strtab_next(&s->index, &p))
        if (key_is(s->states[p.pos - 1], key, key_len))
            return s->states[p.pos - 1];
    return NULL;
}

/* Room for one more key: the array, and the index once the table is large
 * (at most half full). */
static bool table_reserve(pw_store *s)
{
    size_t need = s->count + 1;
    if (need > UINT32_MAX - 1)
        return false;
    if (need > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        pw__state **states = realloc(s->states, cap * sizeof *states);
        if (!states)
            return false;
        s->states = states;
        s->cap = cap;
    }
    if (need <= SMALL_TABLE || pw__strtab_fits(&s->index, need))
        return true;
    if (!pw__strtab_reset(&s->index, 2 * need))
        return false;
    for (size_t i = 0; i < s->count; i++)
        pw__strtab_put(&s->index, s->states[i]->key, s->states[i]->key_len, (uint32_t)i);
    return true;
}

static pw_err refuse_busy(const pw_store *s, pw_error *err)
{
    if (!s)
        return pw_error_set(err, PW_EINVAL, "store: no store");
    if (s->busy)
        return pw_error_set(err, PW_EINVAL, "store: a callback may not change the store");
    return PW_OK;
}

static pw_err create(pw_store *s, const char *key, size_t key_len, pw_value initial,
                     pw__state **out)
{
    pw_err rc = refuse_busy(s, NULL);
    if (!rc && (!key || !key_len || pw__store_find(s, key, key_len)))
        rc = PW_EINVAL;
    pw__state *st = NULL;
    if (!rc) {
        st = calloc(1, sizeof *st);
        if (st)
            st->key = malloc(key_len + 1);
        if (!st || !st->key || !table_reserve(s))
            rc = PW_ENOMEM;
    }
    if (rc) {
        if (st)
            free(st->key);
        free(st);
        pw_value_release(&initial);
        return rc;
    }
    memcpy(st->key, key, key_len);
    st->key[key_len] = '\0';
    st->key_len = key_len;
    st->doc = initial;
    pw_patches_init(&st->fwd, PW_DIALECT_IMMER);
    pw_patches_init(&st->inv_rev, PW_DIALECT_IMMER);
    if (s->index.slots)
        pw__strtab_put(&s->index, st->key, st->key_len, (uint32_t)s->count);
    s->states[s->count++] = st;
    *out = st;
    return PW_OK;
}

pw_err pw_store_create(pw_store *s, const char *key, size_t key_len, pw_value initial)
{
    pw__state *st;
    return create(s, key, key_len, initial, &st);
}

bool pw_store_has(const pw_store *s, const char *key, size_t key_len)
{
    return s && pw__store_find(s, key, key_len) != NULL;
}

const pw_value *pw_store_get(const pw_store *s, const char *key, size_t key_len)
{
    pw__state *st = s ? pw__store_find(s, key, key_len) : NULL;
    return st ? &st->doc : NULL;
}

uint64_t pw_store_version(const pw_store *s, const char *key, size_t key_len)
{
    pw__state *st = s ? pw__store_find(s, key, key_len) : NULL;
    return st ? st->version : 0;
}

size_t pw_store_count(const pw_store *s)
{
    return s ? s->count : 0;
}

const char *pw_store_key_at(const pw_store *s, size_t i, size_t *key_len)
{
    if (!s || i >= s->count)
        return NULL;
    if (key_len)
        *key_len = s->states[i]->key_len;
    return s->states[i]->key;
}

pw_err pw__store_key_error(pw_error *err, pw_err code, const pw__state *st)
{
    if (!err)
        return code;
    char msg[sizeof err->msg];
    memcpy(msg, err->msg, sizeof msg);
    msg[sizeof msg - 1] = '\0';
    int n = st->key_len > 40 ? 40 : (int)st->key_len;
    if (err->code != code || !msg[0])
        snprintf(msg, sizeof msg, "%s", pw_strerror(code));
    snprintf(err->msg, sizeof err->msg, "key \"%.*s\": %s", n, st->key, msg);
    err->code = code;
    return code;
}

pw_err pw__store_state(pw_store *s, const char *key, size_t key_len, pw__state **out, pw_error *err)
{
    pw_error_clear(err);
    pw_err rc = refuse_busy(s, err);
    if (rc)
        return rc;
    *out = pw__store_find(s, key, key_len);
    if (!*out)
        return pw_error_set(err, PW_EINVAL, "store: no key \"%.*s\"",
                            key ? (int)(key_len > 40 ? 40 : key_len) : 0, key ? key : "");
    return PW_OK;
}

/* ---------------------------------------------------------------- subscriptions */

static bool sub_matches(const pw__sub *sub, const pw__state *st, pw_origin origin,
                        const pw_patches *p)
{
    if (sub->key && !key_is(st, sub->key, sub->key_len))
        return false;
    if (!sub->has_prefix || origin == PW_ORIGIN_FULLSYNC)
        return true;
    for (size_t i = 0; i < p->len; i++)
        if (pw__paths_overlap(&p->items[i].path, &sub->prefix) ||
            pw__paths_overlap(&p->items[i].from, &sub->prefix))
            return true;
    return false;
}

static void sweep_subs(pw_store *s)
{
    size_t w = 0;
    for (size_t i = 0; i < s->nsubs; i++) {
        if (s->subs[i].id)
            s->subs[w++] = s->subs[i];
        else
            sub_release(&s->subs[i]);
    }
    s->nsubs = w;
    s->sweep_subs = false;
}

void pw__store_notify(pw_store *s, pw__state *st, pw_origin origin, const pw_patches *p,
                      unsigned who)
{
    pw_change ch = {.key = st->key,
                    .key_len = st->key_len,
                    .origin = origin,
                    .patches = p,
                    .doc = &st->doc,
                    .version = st->version};
    s->busy++;
    /* Sent first, then the subscribers: the peers hear of it soonest. */
    if ((who & PW__TELL_LOCAL) && s->opts.on_local)
        s->opts.on_local(&ch, s->opts.on_local_userdata);
    /* By index: a callback may subscribe (which may move the array); the
     * subscriptions it adds hear from the next change on. */
    size_t n = who & PW__TELL_SUBS ? s->nsubs : 0;
    for (size_t i = 0; i < n; i++) {
        const pw__sub *sub = &s->subs[i];
        if (sub->id && sub_matches(sub, st, origin, p))
            sub->cb(&ch, sub->userdata);
    }
    s->busy--;
    if (!s->busy && s->sweep_subs)
        sweep_subs(s);
}

static bool valid_path(const pw_value *path)
{
    if (pw_value_kind(path) != PW_ARRAY)
        return false;
    for (size_t d = 0; d < pw_value_len(path); d++) {
        pw__seg g;
        if (!pw__seg_read(pw_array_get(path, d), &g))
            return false;
    }
    return true;
}

uint64_t pw_store_subscribe(pw_store *s, const char *key, size_t key_len, const pw_value *prefix,
                            pw_change_cb cb, void *userdata)
{
    if (!s || !cb || (prefix && !valid_path(prefix)))
        return 0;
    if (s->nsubs == s->cap_subs) {
        size_t cap = s->cap_subs ? s->cap_subs * 2 : 4;
        pw__sub *subs = realloc(s->subs, cap * sizeof *subs);
        if (!subs)
            return 0;
        s->subs = subs;
        s->cap_subs = cap;
    }
    pw__sub sub = {.id = ++s->next_id, .cb = cb, .userdata = userdata};
    if (key) {
        sub.key = malloc(key_len + 1);
        if (!sub.key)
            return 0;
        memcpy(sub.key, key, key_len);
        sub.key[key_len] = '\0';
        sub.key_len = key_len;
    }
    if (prefix) {
        sub.prefix = pw_value_retain(*prefix); /* copy-on-write makes it a copy */
        sub.has_prefix = true;
    }
    s->subs[s->nsubs++] = sub;
    return sub.id;
}

void pw_store_unsubscribe(pw_store *s, uint64_t id)
{
    if (!s || !id)
        return;
    for (size_t i = 0; i < s->nsubs; i++) {
        if (s->subs[i].id != id)
            continue;
        s->subs[i].id = 0;
        if (s->busy)
            s->sweep_subs = true; /* the dispatch loop is walking the array */
        else
            sweep_subs(s);
        return;
    }
}

/* ---------------------------------------------------------------- local edits */

static pw_err copy_patches(const pw_patches *p, pw_patches *out)
{
    if (!pw__patches_reserve(out, p->len))
        return PW_ENOMEM;
    for (size_t i = 0; i < p->len; i++) {
        const pw_patch *pt = &p->items[i];
        pw_patches_push(out, pt->op, pw_value_retain(pt->path), pw_value_retain(pt->from),
                        pt->has_value ? pw_value_retain(pt->value) : pw_null(),
                        pt->has_value); /* room reserved: cannot fail */
    }
    return PW_OK;
}

/* Moves every patch of src to the end of dst, which has room for them. */
static void move_patches(pw_patches *dst, pw_patches *src)
{
    if (src->len)
        memcpy(dst->items + dst->len, src->items, src->len * sizeof *src->items);
    dst->len += src->len;
    src->len = 0;
}

/* The Immer patches a change of *doc from *before made, and (when inv is
 * non-NULL) the ones that undo it. On failure *doc is put back. */
static pw_err immer_equivalent(pw_value *doc, pw_value *before, pw_patches *fwd, pw_patches *inv)
{
    pw_err rc = pw_diff(before, doc, fwd);
    if (!rc && inv)
        rc = pw_diff(doc, before, inv);
    if (rc) {
        pw_value_release(doc);
        *doc = *before;
    } else {
        pw_value_release(before);
    }
    return rc;
}

/* Applies p (borrowed, either dialect) to st as one local change. */
static pw_err local_change(pw_store *s, pw__state *st, const pw_patches *p, pw_error *err)
{
    bool rfc = p->dialect == PW_DIALECT_RFC6902, txn = s->depth > 0, hist = s->opts.max_history > 0;
    pw_patches fwd, inv;
    pw_patches_init(&fwd, PW_DIALECT_IMMER);
    pw_patches_init(&inv, PW_DIALECT_IMMER);
    size_t inv_at = st->inv_rev.len;
    pw_err rc = PW_OK;
    if (txn)
        rc = pw__txn_touch(s, st, rfc ? 0 : p->len);
    else if (hist && !pw__steps_reserve(&st->undo, 1))
        rc = PW_ENOMEM;
    if (!rc && txn && !rfc)
        rc = copy_patches(p, &fwd);
    if (rc) {
        pw_patches_clear(&fwd);
        pw_error_set(err, rc, "out of memory");
        return pw__store_key_error(err, rc, st);
    }

    pw_value before = rfc ? pw_value_retain(st->doc) : pw_null();
    pw_patches *inv_out = rfc ? NULL : txn ? &st->inv_rev : hist ? &inv : NULL;
    rc = pw_patches_apply(&st->doc, p, inv_out, err);
    if (rc) {
        pw_value_release(&before);
        pw_patches_clear(&fwd);
        return pw__store_key_error(err, rc, st);
    }
    if (rfc) {
        rc = immer_equivalent(&st->doc, &before, &fwd, txn || hist ? &inv : NULL);
        if (!rc && txn &&
            (!pw__patches_reserve(&st->fwd, fwd.len) ||
             !pw__patches_reserve(&st->inv_rev, inv.len)))
            rc = PW_ENOMEM;
        if (rc) {
            pw_patches_clear(&fwd);
            pw_patches_clear(&inv);
            pw_error_set(err, rc, "out of memory");
            return pw__store_key_error(err, rc, st);
        }
        if (txn)
            move_patches(&st->inv_rev, &inv);
    }
    const pw_patches *applied = rfc ? &fwd : p;
    if (txn) {
        pw__reverse_tail(&st->inv_rev, inv_at);
    } else if (hist && applied->len) {
        pw__steps_push(&st->undo, &inv, s->opts.max_history);
        pw__steps_clear(&st->redo);
    }
    if (applied->len)
        pw__store_notify(s, st, PW_ORIGIN_LOCAL, applied,
                         PW__TELL_SUBS | (txn ? 0 : PW__TELL_LOCAL));
    if (txn)
        move_patches(&st->fwd, &fwd); /* room reserved by pw__txn_touch or above */
    pw_patches_clear(&fwd);
    pw_patches_clear(&inv);
    return PW_OK;
}

pw_err pw_store_apply(pw_store *s, const char *key, size_t key_len, const pw_patches *p,
                      pw_error *err)
{
    pw__state *st;
    pw_err rc = pw__store_state(s, key, key_len, &st, err);
    if (rc)
        return rc;
    if (!p)
        return pw_error_set(err, PW_EINVAL, "store: no patch list");
    return local_change(s, st, p, err);
}

typedef enum edit_kind { EDIT_SET, EDIT_INSERT, EDIT_REMOVE } edit_kind;

static const char *edit_name(edit_kind kind)
{
    return kind == EDIT_SET ? "set" : kind == EDIT_INSERT ? "insert" : "remove";
}

#if defined(__GNUC__)
__attribute__((format(printf, 5, 6)))
#endif
static pw_err
edit_fail(pw_error *err, pw_err code, edit_kind kind, const pw_value *path, const char *fmt, ...)
{
    if (!err)
        return code;
    char reason[128], where[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    pw__path_text(path, where, sizeof where);
    return pw_error_set(err, code, "%s at \"%s\": %s", edit_name(kind), where, reason);
}

/* Reads path against the document and writes the one-patch Immer list of an
 * edit, with each segment in the form the wire wants (an int index in an
 * array, a string key in an object). Takes v (owned, may be null). */
static pw_err build_edit(const pw_value *doc, edit_kind kind, const pw_value *path, pw_value v,
                         pw_patches *out, pw_error *err)
{
    pw_value norm = pw_null();
    pw_err rc;
    if (pw_value_kind(path) != PW_ARRAY) {
        rc = edit_fail(err, PW_ETYPE, kind, path, "the path is not an array of segments");
        goto fail;
    }
    size_t n = pw_value_len(path);
    if (n == 0 && kind != EDIT_SET) {
        rc = edit_fail(err, PW_EINVAL, kind, path, "the whole document can only be set");
        goto fail;
    }
    if ((rc = pw_array_new(&norm, n))) {
        rc = edit_fail(err, rc, kind, path, "out of memory");
        goto fail;
    }
    const pw_value *cur = doc;
    for (size_t d = 0; d < n; d++) {
        bool last = d + 1 == n;
        pw__seg g;
        if (!pw__seg_read(pw_array_get(path, d), &g)) {
            rc = edit_fail(err, PW_ETYPE, kind, path,
                           "segment %zu is not a string or a non-negative integer", d);
            goto fail;
        }
        pw_value seg = pw_null();
        pw_kind k = pw_value_kind(cur);
        if (k == PW_ARRAY) {
            size_t i, len = pw_value_len(cur);
            if (pw__seg_index(&g, &i) != PW__IDX_OK) {
                rc = edit_fail(err, PW_ENOPATH, kind, path, "segment %zu is not an array index", d);
                goto fail;
            }
            bool fits = last && kind == EDIT_INSERT ? i <= len : i < len;
            if (!fits) {
                rc = edit_fail(err, last ? PW_ERANGE : PW_ENOPATH, kind, path,
                               "segment %zu: index %zu out of range (length %zu)", d, i, len);
                goto fail;
            }
            seg = pw_int((int64_t)i);
            cur = last ? NULL : pw_array_get(cur, i);
        } else if (k == PW_OBJECT) {
            pw__seg_key(&g);
            const pw_value *child = pw_object_get(cur, g.s, g.n);
            if (!child && (!last || kind == EDIT_REMOVE)) {
                rc = edit_fail(err, PW_ENOPATH, kind, path, "segment %zu: no member \"%.*s\"", d,
                               (int)(g.n > 40 ? 40 : g.n), g.s);
                goto fail;
            }
            if (g.is_int && pw_string_new(&seg, g.s, g.n)) {
                rc = edit_fail(err, PW_ENOMEM, kind, path, "out of memory");
                goto fail;
            }
            if (!g.is_int)
                seg = pw_value_retain(*g.v);
            cur = child;
        } else {
            rc = edit_fail(err, PW_ENOPATH, kind, path, "segment %zu goes into %s", d,
                           pw_kind_phrase(k));
            goto fail;
        }
        if ((rc = pw_array_push(&norm, seg))) {
            rc = edit_fail(err, rc, kind, path, "out of memory");
            goto fail;
        }
    }
    pw_op op = kind == EDIT_SET ? PW_OP_REPLACE : kind == EDIT_INSERT ? PW_OP_ADD : PW_OP_REMOVE;
    rc = pw_patches_push(out, op, norm, pw_null(), v, kind != EDIT_REMOVE);
    return rc ? edit_fail(err, rc, kind, path, "out of memory") : PW_OK;
fail:
    pw_value_release(&norm);
    pw_value_release(&v);
    return rc;
}

static pw_err edit(pw_store *s, const char *key, size_t key_len, edit_kind kind,
                   const pw_value *path, pw_value v, pw_error *err)
{
    pw__state *st;
    pw_err rc = pw__store_state(s, key, key_len, &st, err);
    if (rc) {
        pw_value_release(&v);
        return rc;
    }
    if (!path) {
        pw_value_release(&v);
        pw_error_set(err, PW_EINVAL, "%s: no path", edit_name(kind));
        return pw__store_key_error(err, PW_EINVAL, st);
    }
    pw_patches p;
    pw_patches_init(&p, PW_DIALECT_IMMER);
    rc = build_edit(&st->doc, kind, path, v, &p, err);
    if (!rc)
        rc = local_change(s, st, &p, err);
    else
        pw__store_key_error(err, rc, st);
    pw_patches_clear(&p);
    return rc;
}

pw_err pw_store_set(pw_store *s, const char *key, size_t key_len, const pw_value *path, pw_value v,
                    pw_error *err)
{
    return edit(s, key, key_len, EDIT_SET, path, v, err);
}

pw_err pw_store_insert(pw_store *s, const char *key, size_t key_len, const pw_value *path,
                       pw_value v, pw_error *err)
{
    return edit(s, key, key_len, EDIT_INSERT, path, v, err);
}

pw_err pw_store_remove(pw_store *s, const char *key, size_t key_len, const pw_value *path,
                       pw_error *err)
{
    return edit(s, key, key_len, EDIT_REMOVE, path, pw_null(), err);
}

/* ---------------------------------------------------------------- changes from the hub */

static pw_err refuse_in_transaction(const pw_store *s, const char *what, pw_error *err)
{
    return s->depth ? pw_error_set(err, PW_EINVAL, "store: %s inside a transaction", what) : PW_OK;
}

pw_err pw_store_apply_remote(pw_store *s, const char *key, size_t key_len, const pw_patches *p,
                             uint64_t version, pw_error *err)
{
    pw__state *st;
    pw_err rc = pw__store_state(s, key, key_len, &st, err);
    if (!rc)
        rc = refuse_in_transaction(s, "remote patches", err);
    if (!rc && !p)
        rc = pw_error_set(err, PW_EINVAL, "store: no patch list");
    if (rc)
        return rc;
    bool rfc = p->dialect == PW_DIALECT_RFC6902;
    pw_value before = rfc ? pw_value_retain(st->doc) : pw_null();
    pw_patches fwd;
    pw_patches_init(&fwd, PW_DIALECT_IMMER);
    rc = pw_patches_apply(&st->doc, p, NULL, err);
    if (rc) {
        pw_value_release(&before);
        return pw__store_key_error(err, rc, st);
    }
    if (rfc && (rc = immer_equivalent(&st->doc, &before, &fwd, NULL))) {
        pw_patches_clear(&fwd);
        pw_error_set(err, rc, "out of memory");
        return pw__store_key_error(err, rc, st);
    }
    st->version = version;
    const pw_patches *applied = rfc ? &fwd : p;
    if (applied->len)
        pw__store_notify(s, st, PW_ORIGIN_REMOTE, applied, PW__TELL_SUBS);
    pw_patches_clear(&fwd);
    return PW_OK;
}

pw_err pw_store_fullsync(pw_store *s, const char *key, size_t key_len, pw_value doc,
                         uint64_t version)
{
    pw_err rc = refuse_busy(s, NULL);
    if (!rc)
        rc = refuse_in_transaction(s, "fullsync", NULL);
    if (!rc && (!key || !key_len))
        rc = PW_EINVAL;
    pw_patches p;
    pw_patches_init(&p, PW_DIALECT_IMMER);
    pw_value root = pw_null();
    if (!rc && !(rc = pw_array_new(&root, 0)))
        rc = pw_patches_push(&p, PW_OP_REPLACE, root, pw_null(), pw_value_retain(doc), true);
    pw__state *st = rc ? NULL : pw__store_find(s, key, key_len);
    if (!rc && !st)
        rc = create(s, key, key_len, pw_null(), &st);
    if (rc) {
        pw_patches_clear(&p);
        pw_value_release(&doc);
        return rc;
    }
    pw_value_release(&st->doc);
    st->doc = doc;
    st->version = version;
    pw__steps_clear(&st->undo);
    pw__steps_clear(&st->redo);
    pw__store_notify(s, st, PW_ORIGIN_FULLSYNC, &p, PW__TELL_SUBS);
    pw_patches_clear(&p);
    return PW_OK;
}
