/* bench_json_quick.c - a quick check of JSON decode/encode speed against
 * jansson on the two inputs of issue 2: a ~1 MB todo-list FullSync and a
 * ~120-byte Patches message. Not part of the build or the tests; the full
 * benchmark suite lives in bench/. Build by hand from the worktree root:
 *
 *   cc -O2 -Icore/include -Ibuild/core/include/ bench/bench_json_quick.c \
 *      build/core/libpatchwire.a -ljansson -lm \
 *      -o /tmp/bench_json_quick && /tmp/bench_json_quick
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "patchwire/codec.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static char *make_state(size_t target, size_t *len)
{
    size_t cap = target + 256, n = 0;
    char *s = malloc(cap);
    n += (size_t)snprintf(s + n, cap - n, "{\"items\":[");
    for (int i = 1; n < target - 200; i++)
        n += (size_t)snprintf(
            s + n, cap - n, "%s{\"id\":%d,\"title\":\"buy milk %d\",\"done\":%s,\"tags\":[\"%s\"]}",
            i > 1 ? "," : "", i, i, i % 3 ? "false" : "true", i % 2 ? "home" : "work");
    n += (size_t)snprintf(s + n, cap - n, "]}");
    *len = n;
    return s;
}

static const char small_msg[] =
    "{\"type\":\"patches\",\"key\":\"appstate\",\"data\":[{\"op\":\"replace\",\"path\":"
    "[\"items\",42,\"done\"],\"value\":true}],\"seq\":1234}";

/* Runs f over the input for about `secs`, returns calls per second. */
#define RATE(secs, body)                                                                           \
    ({                                                                                             \
        size_t calls_ = 0;                                                                         \
        double t0_ = now(), t_;                                                                    \
        do {                                                                                       \
            for (int k_ = 0; k_ < 16; k_++) {                                                      \
                body;                                                                              \
            }                                                                                      \
            calls_ += 16;                                                                          \
        } while ((t_ = now()) - t0_ < (secs));                                                     \
        (double)calls_ / (t_ - t0_);                                                               \
    })

int main(void)
{
    size_t big_len;
    char *big = make_state(1 << 20, &big_len);
    size_t small_len = strlen(small_msg);
    json_error_t jerr;
    pw_error err;

    /* sanity: both accept both inputs */
    pw_value v;
    if (pw_codec_json.decode((const uint8_t *)big, big_len, NULL, &v, &err)) {
        fprintf(stderr, "decode failed: %s\n", err.msg);
        return 1;
    }
    pw_buf out = {0};
    pw_codec_json.encode(&v, &out, NULL);
    if (out.len != big_len || memcmp(out.data, big, big_len) != 0)
        fprintf(stderr, "warning: encode(decode(state)) differs from the input\n");
    pw_value_release(&v);

    /* best of 5 interleaved rounds: the machine is shared, the best round
     * is the least disturbed one */
    double mb = (double)big_len / 1e6;
    double j_big = 0, p_big = 0, j_small = 0, p_small = 0, pe_big = 0, je_big = 0;
    pw_codec_json.decode((const uint8_t *)big, big_len, NULL, &v, NULL);
    json_t *jv = json_loads(big, 0, &jerr);
    for (int round = 0; round < 5; round++) {
        double r;
        r = RATE(0.3, {
            json_t *j = json_loads(big, 0, &jerr);
            json_decref(j);
        });
        j_big = r > j_big ? r : j_big;
        r = RATE(0.3, {
            pw_value x;
            pw_codec_json.decode((const uint8_t *)big, big_len, NULL, &x, NULL);
            pw_value_release(&x);
        });
        p_big = r > p_big ? r : p_big;
        r = RATE(0.3, {
            json_t *j = json_loadb(small_msg, small_len, 0, &jerr);
            json_decref(j);
        });
        j_small = r > j_small ? r : j_small;
        r = RATE(0.3, {
            pw_value x;
            pw_codec_json.decode((const uint8_t *)small_msg, small_len, NULL, &x, NULL);
            pw_value_release(&x);
        });
        p_small = r > p_small ? r : p_small;
        r = RATE(0.3, {
            pw_buf_reset(&out);
            pw_codec_json.encode(&v, &out, NULL);
        });
        pe_big = r > pe_big ? r : pe_big;
        r = RATE(0.3, { free(json_dumps(jv, JSON_COMPACT | JSON_PRESERVE_ORDER)); });
        je_big = r > je_big ? r : je_big;
    }
    pw_value_release(&v);
    json_decref(jv);
    pw_buf_free(&out);

    printf("input: state %zu bytes, message %zu bytes (decode includes freeing the tree)\n",
           big_len, small_len);
    printf("%-28s %12s %12s %8s\n", "", "patchwire", "jansson", "ratio");
    printf("%-28s %12.1f %12.1f %7.1fx\n", "decode 1 MB state (MB/s)", p_big * mb, j_big * mb,
           p_big / j_big);
    printf("%-28s %12.0f %12.0f %7.1fx\n", "decode message (msg/s)", p_small, j_small,
           p_small / j_small);
    printf("%-28s %12.1f %12.1f %7.1fx\n", "encode 1 MB state (MB/s)", pe_big * mb, je_big * mb,
           pe_big / je_big);
    free(big);
    return 0;
}
