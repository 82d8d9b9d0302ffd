/* patch.h - patch lists (Immer and RFC 6902), atomic apply with inverses, diff.
 *
 * A path is held as an array value of segments, each a string (object key) or
 * an int (array index), whichever dialect it came from: an RFC 6901 pointer
 * "/items/0" becomes ["items","0"] and is interpreted against the parent's kind
 * when applied. The dialect of a list decides the apply rules (lenient Immer
 * `applyPatches` or strict RFC 6902) and how paths are written back out.
 */
#ifndef PATCHWIRE_PATCH_H
#define PATCHWIRE_PATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "patchwire/error.h"
#include "patchwire/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* pw_patches_apply refuses a path (or from) longer than this. It also refuses
 * to make a document deeper than PW_DEFAULT_MAX_DEPTH - 1 levels (so that a
 * FullSync of it decodes on every peer) and to add or cut more than 2^18
 * array elements per list through Immer "length" and past-the-end replaces;
 * see proto/SPEC.md, section 8. */
#define PW_MAX_PATH_SEGMENTS 1024

/* The default pw_limits.max_depth of the codecs (codec.h). Defined here, the
 * lowest layer that needs it, since apply bounds documents by it. */
#define PW_DEFAULT_MAX_DEPTH 512u

typedef enum pw_op {
    PW_OP_ADD = 0,
    PW_OP_REMOVE,
    PW_OP_REPLACE,
    PW_OP_MOVE, /* RFC 6902 only */
    PW_OP_COPY, /* RFC 6902 only */
    PW_OP_TEST, /* RFC 6902 only */
} pw_op;

typedef enum pw_dialect {
    PW_DIALECT_IMMER = 0, /* paths are arrays of keys and indices */
    PW_DIALECT_RFC6902,   /* paths are JSON Pointer strings */
} pw_dialect;

typedef struct pw_patch {
    pw_op op;
    pw_value path;  /* array of segments */
    pw_value from;  /* array of segments (move, copy), else null */
    pw_value value; /* add, replace, test; null when has_value is false */
    bool has_value;
} pw_patch;

/* A zeroed pw_patches is a valid empty Immer list. The list owns its patches. */
typedef struct pw_patches {
    pw_dialect dialect;
    size_t len;
    size_t cap;
    pw_patch *items;
} pw_patches;

const char *pw_op_name(pw_op op);

void pw_patches_init(pw_patches *p, pw_dialect dialect);
/* Releases every patch and the storage; the list is empty afterwards. */
void pw_patches_clear(pw_patches *p);
/* Appends a patch, taking ownership of path, from and value (on failure too).
 * Pass pw_null() for from when unused; has_value says whether value is set. */
pw_err pw_patches_push(pw_patches *p, pw_op op, pw_value path, pw_value from, pw_value value,
                       bool has_value);

/* Reads a decoded patch list (an array of patch objects) into *out, which must
 * be initialised and is appended to. The dialect is detected from the type of
 * the paths (all arrays: Immer; all strings: RFC 6902); mixing is PW_EOP. Every
 * patch is validated (op known for its dialect, path segments strings or
 * non-negative ints, no "__proto__", "constructor" or "prototype" segment,
 * value present where the op needs it). On failure *out is unchanged and err
 * names the patch index. */
pw_err pw_patches_from_value(const pw_value *list, pw_patches *out, pw_error *err);
/* Writes a list in its dialect's wire form (an array of patch objects). */
pw_err pw_patches_to_value(const pw_patches *p, pw_value *out);

/* Applies the list to *doc, all or nothing. On success, if inverse is non-NULL,
 * the patches that undo the change are appended to it (initialised by the
 * caller; same dialect as p), ready to apply in order. On failure *doc is
 * exactly as before, inverse is unchanged, and err names the patch index, its
 * path and the reason. */
pw_err pw_patches_apply(pw_value *doc, const pw_patches *p, pw_patches *inverse, pw_error *err);

/* Appends to *out (initialised, with the dialect wanted) patches that turn a
 * into b: objects by key, arrays by common prefix and suffix with positional
 * replaces, adds and removes in between. */
pw_err pw_diff(const pw_value *a, const pw_value *b, pw_patches *out);

/* RFC 6901 JSON Pointer <-> array of string segments. */
pw_err pw_pointer_parse(const char *s, size_t len, pw_value *segments, pw_error *err);
pw_err pw_pointer_format(const pw_value *segments, pw_value *out_string);

#ifdef __cplusplus
}
#endif
#endif
