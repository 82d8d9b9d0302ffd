/* error.h - error codes and the detail record that fallible calls fill.
 *
 * Codes are negative ints generated with their text from one list (PW_ERRORS),
 * so the enum and pw_strerror() never drift apart. */
#ifndef PATCHWIRE_ERROR_H
#define PATCHWIRE_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int pw_err;

#define PW_ERRORS(X)                                              \
    X(NOMEM, -1, "out of memory")                                 \
    X(INVAL, -2, "invalid argument")                              \
    X(SYNTAX, -3, "malformed input")                              \
    X(TYPE, -4, "wrong type")                                     \
    X(LIMIT, -5, "limit exceeded")                                \
    X(DEPTH, -6, "nesting too deep")                              \
    X(NOPATH, -7, "path does not resolve")                        \
    X(RANGE, -8, "index out of range")                            \
    X(TEST, -9, "test failed")                                    \
    X(OP, -10, "invalid patch operation")                         \
    X(MSG, -11, "malformed message")                              \
    X(UNSUPPORTED, -12, "unsupported")                            \
    X(IO, -13, "input/output error")                              \
    X(DENIED, -14, "access denied")                               \
    X(CONFLICT, -15, "concurrent change conflict")

enum {
    PW_OK = 0,
#define PW__ERR_ENUM(name, value, text) PW_E##name = value,
    PW_ERRORS(PW__ERR_ENUM)
#undef PW__ERR_ENUM
};

/* Text of a code; never NULL, "unknown error" for codes outside the list. */
const char *pw_strerror(pw_err code);

/* Detail of a failure. Any function taking a `pw_error *` accepts NULL.
 * offset: byte offset in the input (codecs), PW_NO_OFFSET where it does not
 * apply. index: patch index in a list (apply), -1 where it does not apply.
 * msg: one line naming the offending input, always NUL-terminated. */
#define PW_NO_OFFSET ((size_t)-1)
typedef struct pw_error {
    pw_err code;
    size_t offset;
    long index;
    char msg[256];
} pw_error;

void pw_error_clear(pw_error *err);

/* Fills err (if non-NULL) with code and a printf-style message; returns code
 * so callers can write `return pw_error_set(err, PW_ESYNTAX, ...)`. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
pw_err pw_error_set(pw_error *err, pw_err code, const char *fmt, ...);

#ifdef __cplusplus
}
#endif
#endif
