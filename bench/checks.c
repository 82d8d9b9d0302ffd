/* checks.c - correctness notes printed under the tables.
 *
 * The one idea: a benchmark of a wrong result is worthless, so before timing
 * anything the program compares patchwire's decoders and encoders with the
 * generator's reference bytes, and diff with apply; each finding is one bullet
 * of the Checks section instead of an abort, so the figures still come out. */
#include "bench.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bullet lines for the Checks section, printed last. */
static char checks[32][320];
static size_t nchecks;

void bench_check(const char *fmt, ...)
{
    if (nchecks == sizeof checks / sizeof checks[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(checks[nchecks++], sizeof checks[0], fmt, ap);
    va_end(ap);
}

void bench_check_decode(const char *what, const pw_codec *c, const pw_buf *bytes,
                        const pw_value *want)
{
    pw_value v;
    pw_error err;
    pw_err rc = c->decode(bytes->data, bytes->len, NULL, &v, &err);
    if (rc) {
        bench_check("%s: %s decode failed: %s %s", what, c->name, pw_strerror(rc), err.msg);
        return;
    }
    bench_check("%s: %s decode equals the generated document: %s", what, c->name,
                pw_value_equal(&v, want) ? "yes" : "**NO**");
    pw_value_release(&v);
}

void bench_check_encode(const char *what, const pw_codec *c, const pw_value *v, const pw_buf *want)
{
    pw_buf out;
    pw_error err;
    pw_buf_init(&out);
    pw_err rc = c->encode(v, &out, &err);
    if (rc) {
        bench_check("%s: %s encode failed: %s %s", what, c->name, pw_strerror(rc), err.msg);
    } else if (out.len == want->len && memcmp(out.data, want->data, out.len) == 0) {
        bench_check("%s: %s encode is byte-identical to the reference writer (%zu bytes)", what,
                    c->name, out.len);
    } else {
        size_t at = 0;
        while (at < out.len && at < want->len && out.data[at] == want->data[at])
            at++;
        bench_check("%s: %s encode differs from the reference writer (%zu vs %zu bytes, first "
                    "difference at byte %zu)",
                    what, c->name, out.len, want->len, at);
    }
    pw_buf_free(&out);
}

void bench_check_jansson_dump(const char *what, json_t *j, const pw_buf *want)
{
    char *s = json_dumps(j, JSON_COMPACT);
    bool same = s && strlen(s) == want->len && memcmp(s, want->data, want->len) == 0;
    bench_check("%s: jansson json_dumps output is byte-identical to the input text: %s", what,
                same ? "yes" : "no");
    free(s);
}

void bench_check_diff(const char *what, const pw_value *a, const pw_value *b)
{
    pw_patches d;
    pw_patches_init(&d, PW_DIALECT_IMMER);
    pw_err rc = pw_diff(a, b, &d);
    if (rc) {
        bench_check("%s: pw_diff failed: %s", what, pw_strerror(rc));
        return;
    }
    pw_value x = pw_value_retain(*a);
    pw_error err;
    rc = pw_patches_apply(&x, &d, NULL, &err);
    bench_check("%s: diff has %zu patches; apply(a, diff(a, b)) == b: %s", what, d.len,
                rc                      ? err.msg
                : pw_value_equal(&x, b) ? "yes"
                                        : "**NO**");
    pw_value_release(&x);
    pw_patches_clear(&d);
}

/* Peak resident memory of this process in MiB (Linux), or -1. */
double bench_peak_rss_mib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kib = atof(line + 6);
    if (f)
        fclose(f);
    return kib < 0 ? -1 : kib / 1024;
}

void bench_checks_print(void)
{
    bench_checks_print_as("Checks");
}

void bench_checks_print_as(const char *title)
{
    printf("## %s\n\n", title);
    for (size_t i = 0; i < nchecks; i++)
        printf("- %s\n", checks[i]);
}
