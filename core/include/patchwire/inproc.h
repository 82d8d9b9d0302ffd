/* inproc.h - the in-process transport: peers of a hub in the same program.
 *
 * Used by the tests and by programs that embed a hub and its peers in one
 * process. A connection joins the hub on pw_inproc_connect; what the hub
 * sends it waits in its inbox until pw_inproc_recv pops it (which reports
 * the bytes written to the hub, so back pressure works as over a socket).
 * A connection the hub closes stays readable (its inbox keeps what was
 * queued before the close) until pw_inproc_disconnect; the inproc reports
 * the leave to the hub at its next call (or pw_inproc_flush), never from
 * inside the hub's close.
 *
 * Single-threaded: every call on the hub's thread. Free the inproc before
 * the hub.
 */
#ifndef PATCHWIRE_INPROC_H
#define PATCHWIRE_INPROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "patchwire/codec.h"
#include "patchwire/error.h"
#include "patchwire/hub.h"
#include "patchwire/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pw_inproc pw_inproc;
typedef struct pw_inproc_conn pw_inproc_conn;

/* NULL when out of memory. */
pw_inproc *pw_inproc_new(pw_hub *hub);
/* Disconnects every connection still open (reporting each leave) and frees
 * them all. */
void pw_inproc_free(pw_inproc *ip);

/* A new connection joined to the hub (which sends it its FullSyncs at once).
 * identity as for pw_hub_peer_join; codec: what the peer speaks, NULL to let
 * the hub detect it from the first message. NULL when out of memory. */
pw_inproc_conn *pw_inproc_connect(pw_inproc *ip, const char *identity, const pw_codec *codec);
/* An ingress connection (pw_hub_ingress_join): what a broker transport's
 * edit channel is, in process. NULL when out of memory. */
pw_inproc_conn *pw_inproc_connect_ingress(pw_inproc *ip, const char *identity);
/* Delivers one message as if from a channel of `key`
 * (pw_hub_peer_receive_keyed). */
pw_err pw_inproc_send_keyed(pw_inproc_conn *c, const char *key, size_t key_len, const uint8_t *p,
                            size_t n, pw_error *err);
/* Delivers one message from the connection to the hub; returns what
 * pw_hub_peer_receive returned, PW_EIO on a closed connection. */
pw_err pw_inproc_send(pw_inproc_conn *c, const uint8_t *p, size_t n, pw_error *err);
/* The next frame the hub sent, or NULL when the inbox is empty. The caller
 * owns the returned reference (pw_frame_release). */
pw_frame *pw_inproc_recv(pw_inproc_conn *c);
/* Frames / bytes waiting in the inbox. */
size_t pw_inproc_pending(const pw_inproc_conn *c);
size_t pw_inproc_pending_bytes(const pw_inproc_conn *c);
/* True once the hub closed the connection. */
bool pw_inproc_closed(const pw_inproc_conn *c);
/* Reports to the hub the leave of every connection it closed. */
void pw_inproc_flush(pw_inproc *ip);
/* Closes the connection (leave reported now), drops its inbox, frees it. */
void pw_inproc_disconnect(pw_inproc_conn *c);

#ifdef __cplusplus
}
#endif
#endif
