/* value.h - the document model: a JSON-like value tree with structural sharing.
 *
 * A pw_value is a 16-byte handle held by value. Scalars (null, bool, int64,
 * double) and strings of up to PW_SSO_MAX bytes live inside the handle; longer
 * strings, arrays and objects are refcounted heap nodes. A handle that refers to
 * a node owns one reference: copy it with pw_value_retain(), drop it with
 * pw_value_release(). Plain struct assignment moves ownership.
 *
 * Copy-on-write: every mutating call first makes the node it edits unshared
 * (cloning it shallowly when its refcount is above one, which retains the
 * children), so a snapshot (pw_value_retain of the root) costs O(1), an edit of
 * a shared document costs O(depth) node clones, and an edit of an unshared
 * document happens in place. To edit deep inside a tree, walk down with the
 * `_mut` accessors: each one unshares the level it passes through.
 *
 * Refcounts are not atomic: one thread owns a document.
 */
#ifndef PATCHWIRE_VALUE_H
#define PATCHWIRE_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "patchwire/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pw_kind {
    PW_NULL = 0,
    PW_BOOL,
    PW_INT,
    PW_DOUBLE,
    PW_STRING,
    PW_ARRAY,
    PW_OBJECT,
} pw_kind;

#define PW_SSO_MAX 14

struct pw__node;

/* Fields are private: use the functions below. A zeroed pw_value is null. */
typedef struct pw_value {
    uint8_t tag_;
    uint8_t len_;
    char sso_[6];
    union {
        bool b;
        int64_t i;
        double d;
        struct pw__node *node;
        char sso_tail[8];
    } u_;
} pw_value;

/* ---- scalars: never allocate, never fail ---- */
static inline pw_value pw_null(void) { pw_value v = {0, 0, {0}, {0}}; return v; }
pw_value pw_bool(bool b);
pw_value pw_int(int64_t i);
/* NaN and infinities have no JSON form; pw_double stores them as given, the
 * encoders write JSON null for them (as JSON.stringify does). */
pw_value pw_double(double d);

/* ---- strings: UTF-8 (not checked here), length-counted, may hold NUL ---- */
pw_err pw_string_new(pw_value *out, const char *s, size_t len);
/* Same, from a NUL-terminated C string. */
pw_err pw_string_cstr(pw_value *out, const char *s);
/* True if the n bytes at s are well-formed UTF-8 (no overlong forms, no
 * surrogates, nothing above U+10FFFF), as the decoders require. */
bool pw_utf8_valid(const void *s, size_t n);

/* ---- containers ---- */
/* New empty array / object with room for `cap` members (0 is fine). */
pw_err pw_array_new(pw_value *out, size_t cap);
pw_err pw_object_new(pw_value *out, size_t cap);
/* Builds an array from n values in one allocation, taking ownership of them
 * (the caller's items[] is left to be discarded without release). On failure
 * the items are released. */
pw_err pw_array_from(pw_value *out, pw_value *items, size_t n);
/* Builds an object from n key/value pairs laid out as kv[2*i] (a string key)
 * and kv[2*i+1] (its value), taking ownership as pw_array_from does. A
 * repeated key keeps the last value at the position of its first occurrence,
 * as JSON.parse does. Returns PW_ETYPE if a key is not a string. */
pw_err pw_object_from(pw_value *out, pw_value *kv, size_t n);

/* ---- ownership ---- */
pw_value pw_value_retain(pw_value v);
/* Drops the reference `*v` holds and sets *v to null. NULL is ignored. */
void pw_value_release(pw_value *v);
/* True if *v refers to a heap node that another handle also refers to. */
bool pw_value_is_shared(const pw_value *v);

/* ---- reading ---- */
pw_kind pw_value_kind(const pw_value *v);
const char *pw_kind_name(pw_kind k);
/* The name with its article, for messages: "an object", "a string", "null". */
const char *pw_kind_phrase(pw_kind k);
/* Typed reads; each returns the zero value for a value of another kind. */
bool pw_value_bool(const pw_value *v);
int64_t pw_value_int(const pw_value *v);
/* For PW_INT and PW_DOUBLE alike. */
double pw_value_number(const pw_value *v);
/* The bytes of a string (not NUL-terminated in general) and their count;
 * NULL for other kinds. The pointer lives as long as *v is unchanged. */
const char *pw_value_str(const pw_value *v, size_t *len);
/* True if *v is a string equal to the n bytes at s. */
bool pw_value_str_eq(const pw_value *v, const char *s, size_t n);

/* Members of an array or object (0 for other kinds). */
size_t pw_value_len(const pw_value *v);
/* Element i of an array, NULL if out of range or not an array. */
const pw_value *pw_array_get(const pw_value *arr, size_t i);
/* Member i of an object in insertion order. Returns false when out of range. */
bool pw_object_at(const pw_value *obj, size_t i, const pw_value **key, const pw_value **val);
/* Value of a key, NULL if absent or not an object. O(1) on large objects
 * (an index is built on first lookup), a short scan on small ones. */
const pw_value *pw_object_get(const pw_value *obj, const char *key, size_t len);
/* Position of a key in insertion order, or -1. */
long pw_object_find(const pw_value *obj, const char *key, size_t len);

/* Deep equality; object key order does not matter. Two ints compare exactly;
 * an int and a double compare as JavaScript numbers (the int converted to
 * double), so int 1 equals double 1.0. */
bool pw_value_equal(const pw_value *a, const pw_value *b);

/* ---- editing (copy-on-write, see the top of this file) ----
 * Calls that take a `pw_value v` argument take ownership of it, on failure
 * too. Calls with a `pw_value *old` out-parameter hand the displaced value to
 * the caller when old is non-NULL and release it otherwise. */

/* Mutable access to element i / the value of a key, unsharing the container
 * first. NULL when out of range / absent / wrong kind or out of memory. */
pw_value *pw_array_get_mut(pw_value *arr, size_t i);
pw_value *pw_object_get_mut(pw_value *obj, const char *key, size_t len);

pw_err pw_array_push(pw_value *arr, pw_value v);
/* Inserts before index i (i == len appends). */
pw_err pw_array_insert(pw_value *arr, size_t i, pw_value v);
pw_err pw_array_set(pw_value *arr, size_t i, pw_value v, pw_value *old);
pw_err pw_array_remove(pw_value *arr, size_t i, pw_value *old);
/* Truncates to n elements, or extends with nulls. */
pw_err pw_array_resize(pw_value *arr, size_t n);

/* Sets a key, appending it when new. *old is null when the key was absent. */
pw_err pw_object_set(pw_value *obj, pw_value key, pw_value v, pw_value *old);
/* Same with the key given as bytes. */
pw_err pw_object_set_str(pw_value *obj, const char *key, size_t len, pw_value v, pw_value *old);
/* Removes a key, keeping the order of the others. PW_ENOPATH if absent. */
pw_err pw_object_remove(pw_value *obj, const char *key, size_t len, pw_value *old);

/* Makes *v unshared (clones its node if another handle refers to it). */
pw_err pw_value_unshare(pw_value *v);

#ifdef __cplusplus
}
#endif
#endif
