/* value.c - the value tree: small tagged handles over refcounted nodes.
 *
 * The idea: scalars and short strings never touch the heap; every container
 * is one node whose members are stored in the same allocation when it is built
 * at its final size (the decoders do that), and copy-on-write at each level
 * makes a retained root an O(1) snapshot. Nodes are freed without recursion:
 * a dead node's refcount field becomes the link of a pending list.
 */
#include "patchwire/value.h"

#include <assert.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "value_internal.h"

_Static_assert(sizeof(pw_value) == 16, "pw_value is 16 bytes");
_Static_assert(offsetof(pw_value, u_) == 8, "inline string spans sso_ and u_");

/* ---------------------------------------------------------------- nodes */

/* Freed nodes of up to CACHE_CLASSES * 16 bytes are kept per thread in
 * free lists by 16-byte size class, up to CACHE_MAX_BYTES per thread, and
 * reused before malloc is asked: decoding a message and dropping it again is
 * the hot path of every peer, and a state of thousands of small nodes would
 * otherwise spend half its decode time in malloc and free. */
#define CACHE_CLASSES 32
#define CACHE_MAX_BYTES ((size_t)16 << 20)

typedef struct node_cache {
    pw__node *head[CACHE_CLASSES + 1];
    size_t bytes;
    bool registered;
    bool closed; /* the thread is exiting: free nodes at once */
} node_cache;

static _Thread_local node_cache cache;
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void cache_drain(void *unused)
{
    (void)unused;
    for (size_t c = 1; c <= CACHE_CLASSES; c++)
        while (cache.head[c]) {
            pw__node *n = cache.head[c];
            cache.head[c] = n->next;
            free(n);
        }
    cache.bytes = 0;
    cache.closed = true; /* nodes freed by later destructors are not cached */
}

static void cache_key_create(void)
{
    if (pthread_key_create(&cache_key, cache_drain) != 0)
        cache_key = (pthread_key_t)-1;
}

void *pw__node_alloc(size_t size, uint8_t kind)
{
    size_t c = (size + 15) >> 4;
    pw__node *n = NULL;
    if (c <= CACHE_CLASSES && cache.head[c]) {
        n = cache.head[c];
        cache.head[c] = n->next;
        cache.bytes -= c << 4;
    } else {
        n = malloc(c <= CACHE_CLASSES ? c << 4 : size);
        if (!n)
            return NULL;
    }
    n->refs = 1;
    n->kind = kind;
    n->size_class = c <= CACHE_CLASSES ? (uint8_t)c : 0;
    return n;
}

static void node_dealloc(pw__node *n)
{
    size_t c = n->size_class;
    if (c == 0 || cache.closed || cache.bytes + (c << 4) > CACHE_MAX_BYTES) {
        free(n);
        return;
    }
    if (!cache.registered) { /* drain this thread's cache when it exits */
        pthread_once(&cache_once, cache_key_create);
        if (cache_key == (pthread_key_t)-1 || pthread_setspecific(cache_key, &cache) != 0) {
            free(n);
            return;
        }
        cache.registered = true;
    }
    n->next = cache.head[c];
    cache.head[c] = n;
    cache.bytes += c << 4;
}

static pw__str *str_node(const pw_value *v)
{
    return (pw__str *)v->u_.node;
}
static pw__arr *arr_node(const pw_value *v)
{
    return (pw__arr *)v->u_.node;
}
static pw__obj *obj_node(const pw_value *v)
{
    return (pw__obj *)v->u_.node;
}

static bool has_node(const pw_value *v)
{
    return v->tag_ >= PW__TAG_STR;
}

static pw__arr *arr_alloc(size_t cap)
{
    if (cap > (SIZE_MAX - sizeof(pw__arr)) / sizeof(pw_value))
        return NULL;
    pw__arr *a = pw__node_alloc(sizeof(pw__arr) + cap * sizeof(pw_value), PW__TAG_ARR);
    if (!a)
        return NULL;
    a->len = 0;
    a->cap = cap;
    a->items = a->inline_items;
    return a;
}

static pw__obj *obj_alloc(size_t cap)
{
    if (cap > (SIZE_MAX - sizeof(pw__obj)) / sizeof(pw__entry))
        return NULL;
    pw__obj *o = pw__node_alloc(sizeof(pw__obj) + cap * sizeof(pw__entry), PW__TAG_OBJ);
    if (!o)
        return NULL;
    o->len = 0;
    o->cap = cap;
    o->items = o->inline_items;
    o->index = (pw__strtab){0};
    return o;
}

/* Frees a dead node and everything only it kept alive, iteratively. */
static void node_free_all(pw__node *first)
{
    pw__node *pending = first;
    first->next = NULL;
    while (pending) {
        pw__node *n = pending;
        pending = n->next;
        pw_value *vals = NULL;
        size_t count = 0;
        if (n->kind == PW__TAG_ARR) {
            pw__arr *a = (pw__arr *)n;
            vals = a->items;
            count = a->len;
        } else if (n->kind == PW__TAG_OBJ) {
            pw__obj *o = (pw__obj *)n;
            vals = &o->items[0].key;
            count = o->len * 2; /* key, value, key, value, ... */
            pw__strtab_free(&o->index);
        }
        for (size_t i = 0; i < count; i++) {
            pw_value *c = &vals[i];
            if (has_node(c) && --c->u_.node->refs == 0) {
                c->u_.node->next = pending;
                pending = c->u_.node;
            }
        }
        if (n->kind == PW__TAG_ARR && ((pw__arr *)n)->items != ((pw__arr *)n)->inline_items)
            free(((pw__arr *)n)->items);
        if (n->kind == PW__TAG_OBJ && ((pw__obj *)n)->items != ((pw__obj *)n)->inline_items)
            free(((pw__obj *)n)->items);
        node_dealloc(n);
    }
}

/* ---------------------------------------------------------------- scalars */

pw_value pw_bool(bool b)
{
    pw_value v = {0};
    v.tag_ = PW__TAG_BOOL;
    v.u_.b = b;
    return v;
}

pw_value pw_int(int64_t i)
{
    pw_value v = {0};
    v.tag_ = PW__TAG_INT;
    v.u_.i = i;
    return v;
}

pw_value pw_double(double d)
{
    pw_value v = {0};
    v.tag_ = PW__TAG_DOUBLE;
    v.u_.d = d;
    return v;
}

/* ---------------------------------------------------------------- strings */

pw_err pw_string_new(pw_value *out, const char *s, size_t len)
{
    pw_value v = {0};
    if (len <= PW_SSO_MAX) {
        v.tag_ = PW__TAG_SSO;
        v.len_ = (uint8_t)len;
        if (len)
            memcpy((char *)&v + offsetof(pw_value, sso_), s, len);
        *out = v;
        return PW_OK;
    }
    if (len > SIZE_MAX - sizeof(pw__str) - 1) {
        *out = v;
        return PW_ENOMEM;
    }
    pw__str *n = pw__node_alloc(sizeof(pw__str) + len + 1, PW__TAG_STR);
    if (!n) {
        *out = v;
        return PW_ENOMEM;
    }
    n->len = len;
    memcpy(n->data, s, len);
    n->data[len] = '\0';
    v.tag_ = PW__TAG_STR;
    v.u_.node = &n->h;
    *out = v;
    return PW_OK;
}

bool pw_utf8_valid(const void *s, size_t n)
{
    return pw__utf8_check(s, n) == n;
}

pw_err pw_string_cstr(pw_value *out, const char *s)
{
    return pw_string_new(out, s, strlen(s));
}

const char *pw_value_str(const pw_value *v, size_t *len)
{
    if (v->tag_ == PW__TAG_SSO) {
        if (len)
            *len = v->len_;
        return (const char *)v + offsetof(pw_value, sso_);
    }
    if (v->tag_ == PW__TAG_STR) {
        if (len)
            *len = str_node(v)->len;
        return str_node(v)->data;
    }
    if (len)
        *len = 0;
    return NULL;
}

bool pw_value_str_eq(const pw_value *v, const char *s, size_t n)
{
    size_t len;
    const char *p = pw_value_str(v, &len);
    return p && len == n && (n == 0 || memcmp(p, s, n) == 0);
}

/* ---------------------------------------------------------------- ownership */

pw_value pw_value_retain(pw_value v)
{
    if (has_node(&v))
        v.u_.node->refs++;
    return v;
}

void pw_value_release(pw_value *v)
{
    if (!v)
        return;
    if (has_node(v) && --v->u_.node->refs == 0)
        node_free_all(v->u_.node);
    *v = pw_null();
}

bool pw_value_is_shared(const pw_value *v)
{
    return has_node(v) && v->u_.node->refs > 1;
}

/* ---------------------------------------------------------------- reading */

pw_kind pw_value_kind(const pw_value *v)
{
    static const pw_kind kinds[] = {
        [PW__TAG_NULL] = PW_NULL,     [PW__TAG_BOOL] = PW_BOOL,  [PW__TAG_INT] = PW_INT,
        [PW__TAG_DOUBLE] = PW_DOUBLE, [PW__TAG_SSO] = PW_STRING, [PW__TAG_STR] = PW_STRING,
        [PW__TAG_ARR] = PW_ARRAY,     [PW__TAG_OBJ] = PW_OBJECT,
    };
    return kinds[v->tag_];
}

const char *pw_kind_name(pw_kind k)
{
    static const char *const names[] = {"null",   "boolean", "integer", "number",
                                        "string", "array",   "object"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "invalid";
}

const char *pw_kind_phrase(pw_kind k)
{
    static const char *const phrases[] = {"null",     "a boolean", "an integer", "a number",
                                          "a string", "an array",  "an object"};
    return (unsigned)k < sizeof phrases / sizeof phrases[0] ? phrases[k] : "invalid";
}

bool pw_value_bool(const pw_value *v)
{
    return v->tag_ == PW__TAG_BOOL && v->u_.b;
}
int64_t pw_value_int(const pw_value *v)
{
    return v->tag_ == PW__TAG_INT ? v->u_.i : 0;
}

double pw_value_number(const pw_value *v)
{
    if (v->tag_ == PW__TAG_INT)
        return (double)v->u_.i;
    return v->tag_ == PW__TAG_DOUBLE ? v->u_.d : 0.0;
}

size_t pw_value_len(const pw_value *v)
{
    if (v->tag_ == PW__TAG_ARR)
        return arr_node(v)->len;
    if (v->tag_ == PW__TAG_OBJ)
        return obj_node(v)->len;
    return 0;
}

const pw_value *pw_array_get(const pw_value *arr, size_t i)
{
    if (arr->tag_ != PW__TAG_ARR || i >= arr_node(arr)->len)
        return NULL;
    return &arr_node(arr)->items[i];
}

bool pw_object_at(const pw_value *obj, size_t i, const pw_value **key, const pw_value **val)
{
    if (obj->tag_ != PW__TAG_OBJ || i >= obj_node(obj)->len)
        return false;
    pw__entry *e = &obj_node(obj)->items[i];
    if (key)
        *key = &e->key;
    if (val)
        *val = &e->val;
    return true;
}

/* ---------------------------------------------------------------- object index */

#define INDEX_MIN_LEN 12 /* below this a scan beats hashing */

static bool key_eq(const pw_value *k, const char *s, size_t n)
{
    size_t len;
    const char *p = pw_value_str(k, &len);
    return len == n && memcmp(p, s, n) == 0;
}

static void index_insert(pw__obj *o, size_t pos)
{
    size_t klen;
    const char *k = pw_value_str(&o->items[pos].key, &klen);
    pw__strtab_put(&o->index, k, klen, (uint32_t)pos);
}

/* (Re)builds the hash index for room of `want` keys; false on no memory. */
static bool index_build(pw__obj *o, size_t want)
{
    if (!pw__strtab_reset(&o->index, want))
        return false;
    for (size_t i = 0; i < o->len; i++)
        index_insert(o, i);
    return true;
}

static void index_drop(pw__obj *o)
{
    pw__strtab_free(&o->index);
}

static long obj_find(pw__obj *o, const char *key, size_t len)
{
    if (o->len >= INDEX_MIN_LEN && o->len < UINT32_MAX &&
        (o->index.slots || index_build(o, o->len))) {
        for (pw__strtab_probe p = pw__strtab_first(&o->index, key, len); p.pos;
             pw__strtab_next(&o->index, &p))
            if (key_eq(&o->items[p.pos - 1].key, key, len))
                return (long)(p.pos - 1);
        return -1;
    }
    for (size_t i = 0; i < o->len; i++)
        if (key_eq(&o->items[i].key, key, len))
            return (long)i;
    return -1;
}

size_t pw__object_index_probes(const pw_value *obj)
{
    if (obj->tag_ != PW__TAG_OBJ)
        return 0;
    const pw__obj *o = obj_node(obj);
    if (!o->index.slots)
        return 0;
    size_t total = 0;
    for (size_t i = 0; i < o->len; i++) {
        size_t klen;
        const char *k = pw_value_str(&o->items[i].key, &klen);
        total += pw__strtab_probes(&o->index, k, klen, (uint32_t)i);
    }
    return total;
}

long pw_object_find(const pw_value *obj, const char *key, size_t len)
{
    if (obj->tag_ != PW__TAG_OBJ)
        return -1;
    return obj_find(obj_node(obj), key, len);
}

const pw_value *pw_object_get(const pw_value *obj, const char *key, size_t len)
{
    long i = pw_object_find(obj, key, len);
    return i < 0 ? NULL : &obj_node(obj)->items[i].val;
}

/* ---------------------------------------------------------------- equality */

bool pw_value_equal(const pw_value *a, const pw_value *b)
{
    pw_kind ka = pw_value_kind(a), kb = pw_value_kind(b);
    if (ka == PW_INT && kb == PW_INT)
        return a->u_.i == b->u_.i;
    if ((ka == PW_INT || ka == PW_DOUBLE) && (kb == PW_INT || kb == PW_DOUBLE)) {
        /* A double is a JavaScript number: it equals an int that converts to
         * it. That is also what a JSON text of a large integral double, such
         * as 92233720368547700, means to every peer. */
        double x = ka == PW_INT ? (double)a->u_.i : a->u_.d;
        double y = kb == PW_INT ? (double)b->u_.i : b->u_.d;
        return x == y;
    }
    if (ka != kb)
        return false;
    switch (ka) {
    case PW_NULL:
        return true;
    case PW_BOOL:
        return a->u_.b == b->u_.b;
    case PW_STRING: {
        size_t n;
        const char *s = pw_value_str(a, &n);
        return pw_value_str_eq(b, s, n);
    }
    case PW_ARRAY: {
        if (a->u_.node == b->u_.node)
            return true;
        pw__arr *x = arr_node(a), *y = arr_node(b);
        if (x->len != y->len)
            return false;
        for (size_t i = 0; i < x->len; i++)
            if (!pw_value_equal(&x->items[i], &y->items[i]))
                return false;
        return true;
    }
    case PW_OBJECT: {
        if (a->u_.node == b->u_.node)
            return true;
        pw__obj *x = obj_node(a), *y = obj_node(b);
        if (x->len != y->len)
            return false;
        for (size_t i = 0; i < x->len; i++) {
            size_t n;
            const char *k = pw_value_str(&x->items[i].key, &n);
            /* same position first: the common case of equal key order */
            const pw_value *other =
                key_eq(&y->items[i].key, k, n) ? &y->items[i].val : pw_object_get(b, k, n);
            if (!other || !pw_value_equal(&x->items[i].val, other))
                return false;
        }
        return true;
    }
    default:
        return false;
    }
}

/* ---------------------------------------------------------------- construction */

pw_err pw_array_new(pw_value *out, size_t cap)
{
    *out = pw_null();
    pw__arr *a = arr_alloc(cap);
    if (!a)
        return PW_ENOMEM;
    out->tag_ = PW__TAG_ARR;
    out->u_.node = &a->h;
    return PW_OK;
}

pw_err pw_object_new(pw_value *out, size_t cap)
{
    *out = pw_null();
    pw__obj *o = obj_alloc(cap);
    if (!o)
        return PW_ENOMEM;
    out->tag_ = PW__TAG_OBJ;
    out->u_.node = &o->h;
    return PW_OK;
}

pw_err pw_array_from(pw_value *out, pw_value *items, size_t n)
{
    pw_err rc = pw_array_new(out, n);
    if (rc) {
        for (size_t i = 0; i < n; i++)
            pw_value_release(&items[i]);
        return rc;
    }
    if (n)
        memcpy(arr_node(out)->items, items, n * sizeof *items);
    arr_node(out)->len = n;
    return PW_OK;
}

pw_err pw_object_from(pw_value *out, pw_value *kv, size_t n)
{
    pw_err rc = PW_OK;
    for (size_t i = 0; i < n && !rc; i++)
        if (pw_value_kind(&kv[2 * i]) != PW_STRING)
            rc = PW_ETYPE;
    if (!rc)
        rc = pw_object_new(out, n);
    if (!rc && n >= INDEX_MIN_LEN && !index_build(obj_node(out), n)) {
        pw_value_release(out);
        rc = PW_ENOMEM;
    }
    if (rc) {
        for (size_t i = 0; i < 2 * n; i++)
            pw_value_release(&kv[i]);
        return rc;
    }
    pw__obj *o = obj_node(out);
    for (size_t i = 0; i < n; i++) {
        size_t klen;
        const char *k = pw_value_str(&kv[2 * i], &klen);
        long at = obj_find(o, k, klen);
        if (at >= 0) { /* repeated key: last value, first position */
            pw_value_release(&kv[2 * i]);
            pw_value_release(&o->items[at].val);
            o->items[at].val = kv[2 * i + 1];
            continue;
        }
        o->items[o->len].key = kv[2 * i];
        o->items[o->len].val = kv[2 * i + 1];
        if (o->index.slots)
            index_insert(o, o->len);
        o->len++;
    }
    return PW_OK;
}

/* ---------------------------------------------------------------- copy-on-write */

pw_err pw_value_unshare(pw_value *v)
{
    if (!has_node(v) || v->u_.node->refs == 1 || v->tag_ == PW__TAG_STR)
        return PW_OK; /* strings are immutable: sharing them is always fine */
    if (v->tag_ == PW__TAG_ARR) {
        pw__arr *old = arr_node(v), *a = arr_alloc(old->len);
        if (!a)
            return PW_ENOMEM;
        for (size_t i = 0; i < old->len; i++)
            a->items[i] = pw_value_retain(old->items[i]);
        a->len = old->len;
        old->h.refs--;
        v->u_.node = &a->h;
    } else {
        pw__obj *old = obj_node(v), *o = obj_alloc(old->len);
        if (!o)
            return PW_ENOMEM;
        for (size_t i = 0; i < old->len; i++) {
            o->items[i].key = pw_value_retain(old->items[i].key);
            o->items[i].val = pw_value_retain(old->items[i].val);
        }
        o->len = old->len;
        old->h.refs--;
        v->u_.node = &o->h;
    }
    return PW_OK;
}

static pw__arr *arr_mut(pw_value *arr)
{
    if (arr->tag_ != PW__TAG_ARR || pw_value_unshare(arr))
        return NULL;
    return arr_node(arr);
}

static pw__obj *obj_mut(pw_value *obj)
{
    if (obj->tag_ != PW__TAG_OBJ || pw_value_unshare(obj))
        return NULL;
    return obj_node(obj);
}

static void give_old(pw_value *slot, pw_value *old)
{
    if (old)
        *old = *slot;
    else
        pw_value_release(slot);
}

pw_value *pw_array_get_mut(pw_value *arr, size_t i)
{
    if (arr->tag_ != PW__TAG_ARR || i >= arr_node(arr)->len)
        return NULL;
    pw__arr *a = arr_mut(arr);
    return a ? &a->items[i] : NULL;
}

pw_value *pw_object_get_mut(pw_value *obj, const char *key, size_t len)
{
    if (obj->tag_ != PW__TAG_OBJ)
        return NULL;
    long i = obj_find(obj_node(obj), key, len);
    if (i < 0)
        return NULL;
    pw__obj *o = obj_mut(obj);
    return o ? &o->items[i].val : NULL;
}

pw_err pw_array_insert(pw_value *arr, size_t i, pw_value v)
{
    pw_err rc = arr->tag_ != PW__TAG_ARR ? PW_ETYPE : i > arr_node(arr)->len ? PW_ERANGE : PW_OK;
    pw__arr *a = rc ? NULL : arr_mut(arr);
    if (!rc && (!a || !pw__grow((void **)&a->items, a->inline_items, &a->cap, a->len + 1,
                                sizeof(pw_value))))
        rc = PW_ENOMEM;
    if (rc) {
        pw_value_release(&v);
        return rc;
    }
    memmove(&a->items[i + 1], &a->items[i], (a->len - i) * sizeof(pw_value));
    a->items[i] = v;
    a->len++;
    return PW_OK;
}

pw_err pw_array_push(pw_value *arr, pw_value v)
{
    if (arr->tag_ != PW__TAG_ARR) {
        pw_value_release(&v);
        return PW_ETYPE;
    }
    return pw_array_insert(arr, arr_node(arr)->len, v);
}

pw_err pw_array_set(pw_value *arr, size_t i, pw_value v, pw_value *old)
{
    pw_value *slot = pw_array_get_mut(arr, i);
    if (!slot) {
        pw_value_release(&v);
        return arr->tag_ != PW__TAG_ARR  ? PW_ETYPE
               : i >= arr_node(arr)->len ? PW_ERANGE
                                         : PW_ENOMEM;
    }
    give_old(slot, old);
    *slot = v;
    return PW_OK;
}

pw_err pw_array_remove(pw_value *arr, size_t i, pw_value *old)
{
    if (arr->tag_ != PW__TAG_ARR)
        return PW_ETYPE;
    if (i >= arr_node(arr)->len)
        return PW_ERANGE;
    pw__arr *a = arr_mut(arr);
    if (!a)
        return PW_ENOMEM;
    give_old(&a->items[i], old);
    memmove(&a->items[i], &a->items[i + 1], (a->len - i - 1) * sizeof(pw_value));
    a->len--;
    return PW_OK;
}

pw_err pw_array_resize(pw_value *arr, size_t n)
{
    if (arr->tag_ != PW__TAG_ARR)
        return PW_ETYPE;
    pw__arr *a = arr_mut(arr);
    if (!a || !pw__grow((void **)&a->items, a->inline_items, &a->cap, n, sizeof(pw_value)))
        return PW_ENOMEM;
    while (a->len > n)
        pw_value_release(&a->items[--a->len]);
    while (a->len < n)
        a->items[a->len++] = pw_null();
    return PW_OK;
}

pw_err pw_object_set(pw_value *obj, pw_value key, pw_value v, pw_value *old)
{
    pw_err rc = obj->tag_ != PW__TAG_OBJ           ? PW_ETYPE
                : pw_value_kind(&key) != PW_STRING ? PW_ETYPE
                                                   : PW_OK;
    pw__obj *o = rc ? NULL : obj_mut(obj);
    if (!rc && !o)
        rc = PW_ENOMEM;
    long at = -1;
    if (!rc) {
        size_t klen;
        const char *k = pw_value_str(&key, &klen);
        at = obj_find(o, k, klen);
        if (at < 0 &&
            !pw__grow((void **)&o->items, o->inline_items, &o->cap, o->len + 1, sizeof(pw__entry)))
            rc = PW_ENOMEM;
    }
    if (rc) {
        pw_value_release(&key);
        pw_value_release(&v);
        return rc;
    }
    if (at >= 0) {
        pw_value_release(&key);
        give_old(&o->items[at].val, old);
        o->items[at].val = v;
        return PW_OK;
    }
    if (old)
        *old = pw_null();
    o->items[o->len].key = key;
    o->items[o->len].val = v;
    o->len++;
    if (o->index.slots) {
        if (pw__strtab_fits(&o->index, o->len))
            index_insert(o, o->len - 1);
        else if (!index_build(o, o->len))
            index_drop(o); /* no memory for a bigger index: rebuilt on next lookup */
    }
    return PW_OK;
}

pw_err pw_object_set_str(pw_value *obj, const char *key, size_t len, pw_value v, pw_value *old)
{
    pw_value k;
    pw_err rc = pw_string_new(&k, key, len);
    if (rc) {
        pw_value_release(&v);
        return rc;
    }
    return pw_object_set(obj, k, v, old);
}

pw_err pw_object_remove(pw_value *obj, const char *key, size_t len, pw_value *old)
{
    if (obj->tag_ != PW__TAG_OBJ)
        return PW_ETYPE;
    long at = obj_find(obj_node(obj), key, len);
    if (at < 0)
        return PW_ENOPATH;
    pw__obj *o = obj_mut(obj);
    if (!o)
        return PW_ENOMEM;
    pw_value_release(&o->items[at].key);
    give_old(&o->items[at].val, old);
    memmove(&o->items[at], &o->items[at + 1], (o->len - (size_t)at - 1) * sizeof(pw__entry));
    o->len--;
    index_drop(o);
    return PW_OK;
}

/* added by patch task */
pw_err pw__object_insert_at(pw_value *obj, size_t pos, pw_value key, pw_value v)
{
    pw_err rc = obj->tag_ != PW__TAG_OBJ || pw_value_kind(&key) != PW_STRING ? PW_ETYPE : PW_OK;
    size_t klen = 0;
    const char *k = rc ? NULL : pw_value_str(&key, &klen);
    if (!rc && (pos > obj_node(obj)->len || obj_find(obj_node(obj), k, klen) >= 0))
        rc = PW_EINVAL;
    pw__obj *o = rc ? NULL : obj_mut(obj);
    if (!rc && (!o || !pw__grow((void **)&o->items, o->inline_items, &o->cap, o->len + 1,
                                sizeof(pw__entry))))
        rc = PW_ENOMEM;
    if (rc) {
        pw_value_release(&key);
        pw_value_release(&v);
        return rc;
    }
    memmove(&o->items[pos + 1], &o->items[pos], (o->len - pos) * sizeof(pw__entry));
    o->items[pos].key = key;
    o->items[pos].val = v;
    o->len++;
    index_drop(o); /* positions moved: rebuilt on the next lookup */
    return PW_OK;
}

bool pw__value_deeper_than(const pw_value *v, size_t limit)
{
    if (v->tag_ != PW__TAG_ARR && v->tag_ != PW__TAG_OBJ)
        return false;
    if (limit == 0)
        return true;
    /* depth-first, one frame per open container, never more than limit;
     * shallow values (the common case) need no allocation */
    struct frame {
        const pw_value *c;
        size_t i;
    } inline_stack[32], *stack = inline_stack;
    if (limit > 32 && !(stack = malloc(limit * sizeof *stack)))
        stack = inline_stack; /* fall back: checked against 32 levels below */
    size_t cap = stack == inline_stack ? 32 : limit, n = 0;
    bool deeper = false;
    stack[n++] = (struct frame){v, 0};
    while (n && !deeper) {
        struct frame *f = &stack[n - 1];
        if (f->i == pw_value_len(f->c)) {
            n--;
            continue;
        }
        const pw_value *child = f->c->tag_ == PW__TAG_ARR ? &arr_node(f->c)->items[f->i]
                                                          : &obj_node(f->c)->items[f->i].val;
        f->i++;
        if (child->tag_ != PW__TAG_ARR && child->tag_ != PW__TAG_OBJ)
            continue;
        if (n == limit || n == cap)
            deeper = true; /* n == cap < limit only when out of memory: refuse */
        else
            stack[n++] = (struct frame){child, 0};
    }
    if (stack != inline_stack)
        free(stack);
    return deeper;
}
