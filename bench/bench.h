/* bench.h - the pieces shared by the benchmark program: a timing harness that
 * reports the median rate of several rounds, Markdown table rows, and the
 * deterministic input generator with its own JSON and MessagePack writers (so
 * the baselines never depend on patchwire's encoders). */
#ifndef PW_BENCH_H
#define PW_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <msgpack.h>

#include "patchwire.h"

/* ---- timing (harness.c) ---- */

/* One call of the measured work. Returns a non-negative number derived from
 * the result (folded into a sink so the work cannot be optimised away), or a
 * negative value after bench_fail() on error. */
typedef long (*bench_fn)(void *ctx);

typedef struct bench_opts {
    double warmup_s; /* also calibrates the calls per round */
    double round_s;  /* minimum duration of one round */
    int rounds;      /* the median of these is reported */
} bench_opts;

typedef struct bench_stat {
    bool ok;
    double calls_per_s; /* median over the rounds */
    double spread;      /* (fastest - slowest) / median, in [0, ...) */
    char err[256];      /* why, when !ok */
} bench_stat;

bench_stat bench_measure(bench_fn fn, void *ctx, const bench_opts *o);

/* Records why the current call failed; returns -1 for `return bench_fail(...)`. */
#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
long bench_fail(const char *fmt, ...);
long bench_fail_pw(const char *what, pw_err rc, const pw_error *err);

double bench_now(void);
/* Results are folded into this so that no measured call is dead code. */
extern volatile size_t bench_sink;

/* ---- report rows (harness.c) ---- */

typedef enum bench_unit {
    BENCH_MSGS,  /* messages/s (and MB/s in brackets) */
    BENCH_MBS,   /* MB/s, MB = 10^6 bytes */
    BENCH_OPS,   /* patch operations/s */
    BENCH_DIFFS, /* pw_diff calls/s */
} bench_unit;

typedef struct bench_row {
    char input[96];
    char impl[96];
    bench_unit unit;
    double bytes_per_call;
    double ops_per_call;
    bench_stat st;
    char ratio[64];
    char target[96];
} bench_row;

/* Work per second in the row's unit (messages, bytes, ops or calls). */
double bench_row_rate(const bench_row *r);
/* "8.3x jansson"-style ratio of a to b in their units; "" if either failed. */
void bench_ratio(char *out, size_t n, const bench_row *a, const bench_row *b, const char *name);
void bench_print_table(const char *title, const bench_row *rows, size_t n);
/* 3 significant digits with an SI prefix: "2.41 M", "812 k", "37.5". */
void bench_fmt_si(char *out, size_t n, double x);

/* ---- checks (checks.c): bullets of the Checks section ---- */

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
void bench_check(const char *fmt, ...);
void bench_checks_print(void);
/* The same under another heading (a second program appending to RESULTS.md). */
void bench_checks_print_as(const char *title);
/* Decoding bytes gives want; encoding v gives exactly want's bytes. */
void bench_check_decode(const char *what, const pw_codec *c, const pw_buf *bytes,
                        const pw_value *want);
void bench_check_encode(const char *what, const pw_codec *c, const pw_value *v, const pw_buf *want);
void bench_check_jansson_dump(const char *what, json_t *j, const pw_buf *want);
/* Notes the size of diff(a, b) and whether applying it to a gives b. */
void bench_check_diff(const char *what, const pw_value *a, const pw_value *b);
/* Peak resident memory of this process in MiB (Linux), or -1. */
double bench_peak_rss_mib(void);

/* ---- inputs (gen.c) ---- */

typedef struct bench_rng {
    uint64_t s;
} bench_rng;

uint64_t bench_rand(bench_rng *r);

/* A todo-list state {"items":[{"id","title","done","tags"}, ...]} whose JSON
 * text is at least target_bytes long (the same seed gives the same items, so a
 * smaller state is a prefix of a larger one). *json_bytes gets the exact
 * length of its compact JSON text, *items the number of items. */
pw_err bench_gen_state(uint64_t seed, size_t target_bytes, pw_value *state, size_t *json_bytes,
                       size_t *items);
/* {"type":"fullsync","key":"appstate","data":STATE}; takes ownership of state. */
pw_err bench_gen_fullsync(pw_value state, pw_value *msg);
/* A Patches message with one replace of an item title (~120 bytes of JSON). */
pw_err bench_gen_small_patches(pw_value *msg);
/* ["items", i, field] */
pw_err bench_gen_item_path(size_t i, const char *field, pw_value *path);
/* A fresh item like the generator's (for `add` patches). */
pw_err bench_gen_item(bench_rng *r, int64_t id, pw_value *item);

/* Compact JSON text of v (raw UTF-8, escapes as JSON.stringify writes them),
 * appended to out and followed by a NUL that is not counted in out->len. */
pw_err bench_write_json(const pw_value *v, pw_buf *out);
/* MessagePack bytes of v packed with msgpack-c's packer, appended to out. */
pw_err bench_write_msgpack(const pw_value *v, pw_buf *out);

#endif
