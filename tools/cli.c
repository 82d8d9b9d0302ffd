/* cli.c - what the patchwire subcommands share: options, reporting, I/O of values.
 *
 * The one idea: every subcommand fails the same way, with one line on stderr
 * and nothing on stdout, so output is only written once all work is done. */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_io.h"
#include "patchwire/buf.h"

void cli_init(cli *c, const char *name, const char *usage)
{
    c->name = name;
    c->usage = usage;
    c->usage_more = NULL;
    pw_limits_init(&c->lim);
}

/* Writes s with control characters as \xNN, so a message stays on one line. */
static void put_escaped(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch < 0x20 || ch == 0x7f)
            fprintf(f, "\\x%02x", ch);
        else
            fputc(ch, f);
    }
}

static void report(const cli *c, const char *fmt, va_list ap)
{
    char line[1024];
    vsnprintf(line, sizeof line, fmt, ap);
    fprintf(stderr, "patchwire %s: ", c->name);
    put_escaped(stderr, line);
    fputc('\n', stderr);
}

int cli_fail(const cli *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(c, fmt, ap);
    va_end(ap);
    return CLI_FAIL;
}

int cli_usage_error(const cli *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(c, fmt, ap);
    va_end(ap);
    fprintf(stderr, "Try 'patchwire %s --help'.\n", c->name);
    return CLI_USAGE;
}

int cli_option_value(cli *c, const char *name, int argc, char **argv, int *i, const char **value,
                     int *status)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *value = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        *status = cli_usage_error(c, "option %s needs a value", name);
        return -1;
    }
    *value = argv[++*i];
    return 1;
}

/* A positive decimal integer no larger than max. */
static bool parse_count(const char *s, uintmax_t max, uintmax_t *out)
{
    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    char *end;
    uintmax_t v = strtoumax(s, &end, 10);
    if (errno || *end || v == 0 || v > max)
        return false;
    *out = v;
    return true;
}

int cli_common_option(cli *c, int argc, char **argv, int *i, int *status)
{
    const char *a = argv[*i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
        fputs(c->usage, stdout);
        if (c->usage_more)
            fputs(c->usage_more, stdout);
        *status = CLI_OK;
        return -1;
    }
    const char *val;
    uintmax_t n;
    int r = cli_option_value(c, "--max-depth", argc, argv, i, &val, status);
    if (r < 0)
        return -1;
    if (r > 0) {
        if (!parse_count(val, UINT32_MAX, &n)) {
            *status = cli_usage_error(c, "--max-depth wants a positive integer, not '%s'", val);
            return -1;
        }
        c->lim.max_depth = (uint32_t)n;
        return 1;
    }
    r = cli_option_value(c, "--max-bytes", argc, argv, i, &val, status);
    if (r < 0)
        return -1;
    if (r > 0) {
        if (!parse_count(val, SIZE_MAX - 1, &n)) {
            *status = cli_usage_error(c, "--max-bytes wants a positive integer, not '%s'", val);
            return -1;
        }
        c->lim.max_input_bytes = (size_t)n;
        return 1;
    }
    return 0;
}

const char *cli_input_name(const char *path)
{
    return strcmp(path, "-") == 0 ? "stdin" : path;
}

const char *cli_error_text(const pw_error *err, pw_err rc, char *buf, size_t cap)
{
    const char *msg = err->msg[0] ? err->msg : pw_strerror(rc);
    snprintf(buf, cap, "%s", msg);
    if (err->offset == PW_NO_OFFSET)
        return buf;
    char at[40];
    int n = snprintf(at, sizeof at, " at byte %zu", err->offset);
    for (char *p = strstr(buf, at); p; p = strstr(p + 1, at))
        if (p[n] < '0' || p[n] > '9') {
            memmove(p, p + n, strlen(p + n) + 1);
            break;
        }
    return buf;
}

int cli_read_value(cli *c, const char *path, const char *label, const pw_codec *codec,
                   pw_value *out)
{
    *out = pw_null();
    const char *sep = label ? ": " : "";
    if (!label)
        label = "";
    uint8_t *data;
    size_t len;
    char why[256];
    if (cli_read_all(path, c->lim.max_input_bytes, &data, &len, why, sizeof why) != 0)
        return cli_fail(c, "%s: %s", cli_input_name(path), why);
    if (!codec && !(codec = pw_codec_detect(data, len))) {
        free(data);
        return cli_fail(c, "%s%sbyte 0: empty input", label, sep);
    }
    pw_error err;
    pw_error_clear(&err);
    pw_err rc = codec->decode(data, len, &c->lim, out, &err);
    free(data);
    if (rc == PW_OK)
        return CLI_OK;
    char text[sizeof err.msg];
    const char *msg = cli_error_text(&err, rc, text, sizeof text);
    if (err.offset != PW_NO_OFFSET)
        return cli_fail(c, "%s%sbyte %zu: %s", label, sep, err.offset, msg);
    return cli_fail(c, "%s%s%s", label, sep, msg);
}

int cli_write_value(cli *c, const pw_value *v, const pw_codec *codec)
{
    pw_buf out;
    pw_buf_init(&out);
    pw_error err;
    pw_error_clear(&err);
    pw_err rc = codec->encode(v, &out, &err);
    if (rc == PW_OK && codec == &pw_codec_json)
        rc = pw_buf_append(&out, "\n", 1);
    if (rc != PW_OK) {
        pw_buf_free(&out);
        return cli_fail(c, "cannot encode as %s: %s", codec->name,
                        err.msg[0] ? err.msg : pw_strerror(rc));
    }
    int wr = cli_write_all(stdout, out.data, out.len);
    int saved = errno;
    pw_buf_free(&out);
    if (wr != 0)
        return cli_fail(c, "cannot write the output: %s", strerror(saved));
    return CLI_OK;
}
