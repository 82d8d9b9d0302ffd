/* error.c - pw_strerror and the pw_error detail record. */
#include "patchwire/error.h"

#include "internal.h"

#include <stdarg.h>
#include <stdio.h>

const char *pw_strerror(pw_err code)
{
    switch (code) {
    case PW_OK:
        return "ok";
#define PW__ERR_CASE(name, value, text) \
    case PW_E##name:                   \
        return text;
        PW_ERRORS(PW__ERR_CASE)
#undef PW__ERR_CASE
    }
    return "unknown error";
}

void pw_error_clear(pw_error *err)
{
    if (!err)
        return;
    err->code = PW_OK;
    err->offset = PW_NO_OFFSET;
    err->index = -1;
    err->msg[0] = '\0';
}

pw_err pw_error_set(pw_error *err, pw_err code, const char *fmt, ...)
{
    if (!err)
        return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

pw_err pw__error_at(pw_error *err, pw_err code, size_t offset, const char *fmt, ...)
{
    if (!err)
        return code;
    err->code = code;
    err->offset = offset;
    err->index = -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}
