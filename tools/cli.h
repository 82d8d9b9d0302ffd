/* cli.h - what the patchwire subcommands share: options, reporting, I/O of values.
 *
 * Exit codes: 0 success, 1 failure (one line on stderr, nothing on stdout),
 * 2 usage error (one line and a hint to run --help, on stderr). */
#ifndef PW_CLI_H
#define PW_CLI_H

#include <stdbool.h>

#include <stddef.h>

#include "patchwire/codec.h"
#include "patchwire/error.h"
#include "patchwire/value.h"

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

typedef struct cli {
    const char *name;  /* the subcommand, for messages: "apply" */
    const char *usage;      /* its full --help text */
    const char *usage_more; /* printed after it, or NULL */
    pw_limits lim;
} cli;

void cli_init(cli *c, const char *name, const char *usage);

#if defined(__GNUC__)
#define CLI_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CLI_PRINTF(a, b)
#endif

/* "patchwire NAME: <message>" as one line on stderr (control characters
 * escaped, so input echoed in a message cannot break the line). Returns
 * CLI_FAIL. */
CLI_PRINTF(2, 3) int cli_fail(const cli *c, const char *fmt, ...);
/* The message, then "Try 'patchwire NAME --help'.", on stderr. Returns
 * CLI_USAGE. */
CLI_PRINTF(2, 3) int cli_usage_error(const cli *c, const char *fmt, ...);

/* Handles the options every subcommand takes: -h/--help and the decode limits
 * --max-depth N and --max-bytes N (also --opt=N). argv[*i] starts with '-'.
 * Returns 1 if it consumed the option (advancing *i past a separate value),
 * 0 if the option is not a common one, or -1 with *status set to the exit
 * code when the command must stop (help printed, or a usage error). */
int cli_common_option(cli *c, int argc, char **argv, int *i, int *status);

/* If argv[*i] is `--name VALUE` or `--name=VALUE`, sets *value and returns 1
 * (advancing *i past a separate value); 0 if it is another option; -1 (usage
 * error reported, *status set) if the value is missing. */
int cli_option_value(cli *c, const char *name, int argc, char **argv, int *i, const char **value,
                     int *status);

/* Reads a file ("-" for stdin) and decodes it with codec, or with the codec
 * pw_codec_detect picks when codec is NULL. label, if non-NULL, prefixes
 * decode errors ("a.json: byte 3: ..."). Returns CLI_OK with *out owned by
 * the caller, or CLI_FAIL after reporting. */
int cli_read_value(cli *c, const char *path, const char *label, const pw_codec *codec,
                   pw_value *out);

/* Encodes v with codec and writes it to stdout, JSON followed by a newline.
 * Returns CLI_OK or CLI_FAIL after reporting. */
int cli_write_value(cli *c, const pw_value *v, const pw_codec *codec);

/* The message of a decode error for "byte N: <text>": err's message (or
 * rc's text) in buf, without its own " at byte N" when N is the offset. */
const char *cli_error_text(const pw_error *err, pw_err rc, char *buf, size_t cap);

/* The name to show for a path: "stdin" for "-". */
const char *cli_input_name(const char *path);

#endif
