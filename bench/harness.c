/* harness.c - timing and reporting for the benchmarks.
 *
 * The one idea: calibrate the number of calls per round during the warm-up, so
 * that the clock is read only around whole rounds, then report the median
 * rate of several rounds (robust against a neighbour stealing the CPU). */
#include "bench.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

volatile size_t bench_sink;

static char bench_last_err[256];

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

long bench_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(bench_last_err, sizeof bench_last_err, fmt, ap);
    va_end(ap);
    return -1;
}

long bench_fail_pw(const char *what, pw_err rc, const pw_error *err)
{
    const char *detail = err && err->msg[0] ? err->msg : "";
    return bench_fail("%s: %s%s%s", what, pw_strerror(rc), detail[0] ? ": " : "", detail);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Runs fn n times; false (with st->err set) if a call failed. */
static bool run_calls(bench_fn fn, void *ctx, size_t n, bench_stat *st)
{
    size_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        long r = fn(ctx);
        if (r < 0) {
            st->ok = false;
            snprintf(st->err, sizeof st->err, "%s", bench_last_err);
            return false;
        }
        acc += (size_t)r;
    }
    bench_sink += acc;
    return true;
}

bench_stat bench_measure(bench_fn fn, void *ctx, const bench_opts *o)
{
    bench_stat st = {.ok = true};
    bench_last_err[0] = '\0';

    /* Warm-up, doubling the batch until the warm-up time is spent. */
    size_t calls = 0, batch = 1;
    double t0 = bench_now(), spent = 0;
    while (spent < o->warmup_s || calls == 0) {
        if (!run_calls(fn, ctx, batch, &st))
            return st;
        calls += batch;
        batch *= 2;
        spent = bench_now() - t0;
    }
    double per_call = spent / (double)calls;
    size_t per_round = (size_t)(o->round_s / per_call) + 1;

    double rates[64];
    int rounds = o->rounds < 1 ? 1 : o->rounds > 64 ? 64 : o->rounds;
    for (int k = 0; k < rounds; k++) {
        double start = bench_now();
        if (!run_calls(fn, ctx, per_round, &st))
            return st;
        double t = bench_now() - start;
        /* A round that ran short (the warm-up overestimated the cost) is
         * extended until it has lasted the minimum time. */
        size_t done = per_round;
        while (t < o->round_s) {
            size_t more = per_round / 4 + 1;
            if (!run_calls(fn, ctx, more, &st))
                return st;
            done += more;
            t = bench_now() - start;
        }
        rates[k] = (double)done / t;
    }
    qsort(rates, (size_t)rounds, sizeof rates[0], cmp_double);
    st.calls_per_s = rates[rounds / 2];
    st.spread = (rates[rounds - 1] - rates[0]) / st.calls_per_s;
    return st;
}

/* ---------------------------------------------------------------- report */

double bench_row_rate(const bench_row *r)
{
    switch (r->unit) {
    case BENCH_MSGS:
        return r->st.calls_per_s;
    case BENCH_MBS:
        return r->st.calls_per_s * r->bytes_per_call;
    case BENCH_OPS:
        return r->st.calls_per_s * r->ops_per_call;
    case BENCH_DIFFS:
        break;
    }
    return r->st.calls_per_s;
}

/* 3 significant digits with an SI prefix: "2.41 M", "812 k", "37.5". */
void bench_fmt_si(char *out, size_t n, double x)
{
    const char *prefix = "";
    if (x >= 1e9) {
        x /= 1e9;
        prefix = " G";
    } else if (x >= 1e6) {
        x /= 1e6;
        prefix = " M";
    } else if (x >= 1e4) {
        x /= 1e3;
        prefix = " k";
    }
    int decimals = x >= 100 ? 0 : x >= 10 ? 1 : 2;
    snprintf(out, n, "%.*f%s", decimals, x, prefix);
}

static void fmt_duration(char *out, size_t n, double s)
{
    if (s >= 1)
        snprintf(out, n, "%.2f s", s);
    else if (s >= 1e-3)
        snprintf(out, n, "%.3g ms", s * 1e3);
    else if (s >= 1e-6)
        snprintf(out, n, "%.3g µs", s * 1e6);
    else
        snprintf(out, n, "%.3g ns", s * 1e9);
}

static void fmt_rate(char *out, size_t n, const bench_row *r)
{
    char a[32], b[32];
    double rate = bench_row_rate(r);
    switch (r->unit) {
    case BENCH_MSGS:
        bench_fmt_si(a, sizeof a, rate);
        bench_fmt_si(b, sizeof b, rate * r->bytes_per_call / 1e6);
        snprintf(out, n, "%s msgs/s (%s MB/s)", a, b);
        return;
    case BENCH_MBS:
        bench_fmt_si(a, sizeof a, rate / 1e6);
        snprintf(out, n, "%s MB/s", a);
        return;
    case BENCH_OPS:
        bench_fmt_si(a, sizeof a, rate);
        snprintf(out, n, "%s ops/s", a);
        return;
    case BENCH_DIFFS:
        break;
    }
    bench_fmt_si(a, sizeof a, rate);
    snprintf(out, n, "%s diffs/s", a);
}

void bench_ratio(char *out, size_t n, const bench_row *a, const bench_row *b, const char *name)
{
    if (!a->st.ok || !b->st.ok || bench_row_rate(b) <= 0) {
        snprintf(out, n, "%s", "");
        return;
    }
    double x = bench_row_rate(a) / bench_row_rate(b);
    int decimals = x >= 100 ? 0 : x >= 1 ? 1 : 2;
    snprintf(out, n, "%.*fx %s", decimals, x, name);
}

void bench_print_table(const char *title, const bench_row *rows, size_t n)
{
    printf("## %s\n\n", title);
    printf("| Input | Implementation | Rate | Time per call | Spread | vs baseline | Target |\n");
    printf("|---|---|--:|--:|--:|---|---|\n");
    for (size_t i = 0; i < n; i++) {
        const bench_row *r = &rows[i];
        char rate[128], per_call[32], spread[16];
        if (r->st.ok) {
            fmt_rate(rate, sizeof rate, r);
            fmt_duration(per_call, sizeof per_call, 1 / r->st.calls_per_s);
            snprintf(spread, sizeof spread, "%.0f%%", r->st.spread * 100);
        } else {
            snprintf(rate, sizeof rate, "failed: %.100s", r->st.err);
            for (char *p = rate; *p; p++)
                if (*p == '|')
                    *p = '/'; /* would end the table cell */
            per_call[0] = spread[0] = '\0';
        }
        printf("| %s | %s | %s | %s | %s | %s | %s |\n", r->input, r->impl, rate, per_call, spread,
               r->ratio, r->target);
    }
    printf("\n");
    fflush(stdout);
}
