/* msg.h - sync payloads: FullSync and Patches, independent of the encoding.
 *
 *   {"type":"fullsync","key":K,"data":STATE}
 *   {"type":"patches","key":K,"data":[patch, ...]}
 *
 * plus optional fields (`seq`). A message is read from and written to a value
 * tree; the codecs turn that tree into bytes and back. */
#ifndef PATCHWIRE_MSG_H
#define PATCHWIRE_MSG_H

#include <stdbool.h>
#include <stdint.h>

#include "patchwire/error.h"
#include "patchwire/patch.h"
#include "patchwire/value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pw_msg_type {
    PW_MSG_UNKNOWN = 0, /* a well-formed message with a type we do not know */
    PW_MSG_FULLSYNC,
    PW_MSG_PATCHES,
} pw_msg_type;

/* Owns its values. For PW_MSG_UNKNOWN, type_name holds the type string and
 * data whatever the data field held (null if absent). */
typedef struct pw_msg {
    pw_msg_type type;
    pw_value type_name;
    pw_value key;
    bool has_seq;
    uint64_t seq;
    pw_value data;       /* FULLSYNC: the state */
    pw_patches patches;  /* PATCHES: the list */
} pw_msg;

void pw_msg_init(pw_msg *m);
void pw_msg_clear(pw_msg *m);
const char *pw_msg_type_name(pw_msg_type t);

/* Interprets a decoded tree. The message must be an object with a string
 * "type"; fullsync and patches need a non-empty string "key" and a "data"
 * (any value / a valid patch list); "seq", if present, must be a
 * non-negative integer. Unknown fields are ignored. An unknown type is not an
 * error: it yields PW_MSG_UNKNOWN. On failure *m is left cleared. */
pw_err pw_msg_from_value(const pw_value *v, pw_msg *m, pw_error *err);
/* Builds the wire tree: type, key, [seq], data. */
pw_err pw_msg_to_value(const pw_msg *m, pw_value *out);

#ifdef __cplusplus
}
#endif
#endif
