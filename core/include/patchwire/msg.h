/* msg.h - every message of the sync protocol, independent of the encoding.
 *
 *   {"type":"fullsync","key":K,"seq":V,"data":STATE}        both ways
 *   {"type":"patches","key":K,"seq":V,"base":B,"data":[...]} both ways
 *   {"type":"ack","key":K,"seq":V}                           hub -> peer
 *   {"type":"error","key":K,"seq":V,"data":{"message":TEXT}} hub -> peer
 *   {"type":"resync","key":K}                                peer -> hub
 *
 * plus optional fields (proto/SPEC.md, section 1): `seq` (the key's version),
 * `base` (the version a change was built on) and `id` (an edit's name, chosen
 * by its sender and echoed by the hub in the ack, the error and the relayed
 * change). A message is read from and written to a value tree; the codecs
 * turn that tree into bytes and back (pw_msg_decode / pw_msg_encode in
 * codec.h do both steps). */
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
    PW_MSG_ACK,    /* a change with `base` (or `id`) was accepted as version seq */
    PW_MSG_ERROR,  /* a message was refused: data is {"message":TEXT} */
    PW_MSG_RESYNC, /* asks for a FullSync of key */
} pw_msg_type;

/* Longest `id` string accepted, in bytes. */
#define PW_MSG_ID_MAX 256

/* Owns its values. type_name holds the type string as read (null for a
 * message built in memory: pw_msg_type_name names it); for PW_MSG_UNKNOWN,
 * data is whatever the data field held (null if absent). */
typedef struct pw_msg {
    pw_msg_type type;
    pw_value type_name;
    pw_value key;       /* a string; ERROR: null when the refused message named none */
    bool has_seq;
    uint64_t seq;
    bool has_base;      /* PATCHES from a peer: the version the list was built on */
    uint64_t base;
    pw_value id;        /* null, a string (at most PW_MSG_ID_MAX bytes) or an int >= 0 */
    pw_value data;      /* FULLSYNC: the state; ERROR: {"message":TEXT} */
    pw_patches patches; /* PATCHES: the list */
} pw_msg;

void pw_msg_init(pw_msg *m);
void pw_msg_clear(pw_msg *m);
const char *pw_msg_type_name(pw_msg_type t);

/* Interprets a decoded tree. The message must be an object with a string
 * "type"; every known type needs a non-empty string "key" (an error may
 * omit it), fullsync and patches a "data" (any value / a valid patch list),
 * ack a "seq"; "seq" and "base", where present, must be non-negative
 * integers, "id" a string or a non-negative integer. Unknown fields are
 * ignored. An unknown type is not an error: it yields PW_MSG_UNKNOWN. On
 * failure *m is left cleared. */
pw_err pw_msg_from_value(const pw_value *v, pw_msg *m, pw_error *err);
/* Builds the wire tree: type, key, [seq], [base], [id], data (as each type
 * has them). */
pw_err pw_msg_to_value(const pw_msg *m, pw_value *out);

/* An error's text (data.message; "" when it has none). Borrowed. */
const char *pw_msg_error_text(const pw_msg *m, size_t *len);
/* Sets data to {"message":text}: the reason of an error. */
pw_err pw_msg_set_error_text(pw_msg *m, const char *text);

#ifdef __cplusplus
}
#endif
#endif
