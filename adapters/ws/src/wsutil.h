/* wsutil.h - what the server and the client share: log lines, lws's own
 * logging, and a service call that honours a timeout.
 *
 * Private to the WebSocket adapter. */
#ifndef PW_WS_UTIL_H
#define PW_WS_UTIL_H

#include <libwebsockets.h>

#include "patchwire/ws.h"

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
void pw__ws_log(pw_ws_log_cb cb, void *userdata, pw_ws_log_level level, const char *fmt, ...);

/* Silences lws's own logging (PW_WS_LWS_LOG=<lws level bits> turns it on,
 * on stderr, for debugging). Before creating a context. */
void pw__ws_quiet_lws(void);

/* One lws_service round, waiting at most timeout_ms (lws itself ignores the
 * timeout and sleeps until its next event): a timer in sul ends the wait. */
int pw__ws_service(struct lws_context *ctx, lws_sorted_usec_list_t *sul, int timeout_ms);

#endif
