/* wsutil.c - log lines, lws's logging and a bounded service wait.
 *
 * The one idea: libwebsockets since 3.2 ignores lws_service's timeout and
 * sleeps until its next scheduled event, so a wait is bounded by scheduling
 * an empty timer at the deadline; a timeout of 0 polls without sleeping. */
#include "wsutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void pw__ws_log(pw_ws_log_cb cb, void *userdata, pw_ws_log_level level, const char *fmt, ...)
{
    if (!cb)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    cb(level, line, userdata);
}

void pw__ws_quiet_lws(void)
{
    const char *env = getenv("PW_WS_LWS_LOG");
    lws_set_log_level(env ? atoi(env) : 0, NULL);
}

static void wait_over(lws_sorted_usec_list_t *sul)
{
    (void)sul;
}

int pw__ws_service(struct lws_context *ctx, lws_sorted_usec_list_t *sul, int timeout_ms)
{
    if (timeout_ms <= 0)
        return lws_service(ctx, -1);
    lws_sul_schedule(ctx, 0, sul, wait_over, (lws_usec_t)timeout_ms * LWS_US_PER_MS);
    int r = lws_service(ctx, 0);
    lws_sul_cancel(sul);
    return r;
}
