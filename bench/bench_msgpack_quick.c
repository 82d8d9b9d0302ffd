/* bench_msgpack_quick.c - our MessagePack decode against msgpack-c's msgpack_unpack.
 *
 * A quick check, not wired into the build (bench/ gets the full suite):
 *   meson setup build-rel --buildtype=release && ninja -C build-rel
 *   cc -O2 -Icore/include -Ibuild-rel/core/include bench/bench_msgpack_quick.c \
 *      build-rel/core/libpatchwire.a -lmsgpackc -lm -o /tmp/bmq && /tmp/bmq [seconds]
 * Inputs: a ~1 MB todo-list state and a ~120-byte Patches message, both
 * encoded by our encoder. Ours is timed decode + release (a usable document,
 * then freed) and decode alone; msgpack-c is timed msgpack_unpack into a
 * zone + zone clear. Rounds are interleaved and the best of each is kept. */
#include <msgpack.h>
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

static void check(pw_err rc, const char *what)
{
    if (rc) {
        fprintf(stderr, "%s: %s\n", what, pw_strerror(rc));
        exit(1);
    }
}

static pw_value str(const char *s)
{
    pw_value v;
    check(pw_string_cstr(&v, s), "string");
    return v;
}

static pw_value todo_state(size_t target_bytes)
{
    pw_value items;
    check(pw_array_new(&items, 0), "array");
    static const char *const words[] = {"buy",  "milk",  "call",   "the", "plumber", "about",
                                        "sink", "write", "report", "for", "monday",  "review"};
    size_t approx = 0;
    for (int64_t i = 0; approx < target_bytes; i++) {
        char title[96];
        int len =
            snprintf(title, sizeof title, "%s %s %s %s #%lld", words[i % 12], words[(i * 7) % 12],
                     words[(i * 5 + 3) % 12], words[(i * 3) % 12], (long long)i);
        pw_value item, tags;
        check(pw_object_new(&item, 6), "object");
        check(pw_object_set_str(&item, "id", 2, pw_int(i + 1), NULL), "set");
        check(pw_object_set_str(&item, "title", 5, str(title), NULL), "set");
        check(pw_object_set_str(&item, "done", 4, pw_bool(i % 3 == 0), NULL), "set");
        check(pw_object_set_str(&item, "created", 7, pw_int(1690000000 + i * 37), NULL), "set");
        check(pw_object_set_str(&item, "priority", 8, pw_double(0.5 * (double)(i % 7)), NULL),
              "set");
        check(pw_array_new(&tags, 2), "array");
        check(pw_array_push(&tags, str(i % 2 ? "home" : "work")), "push");
        if (i % 4 == 0)
            check(pw_array_push(&tags, str("urgent")), "push");
        check(pw_object_set_str(&item, "tags", 4, tags, NULL), "set");
        check(pw_array_push(&items, item), "push");
        approx += 70 + (size_t)len;
    }
    pw_value state;
    check(pw_object_new(&state, 2), "object");
    check(pw_object_set_str(&state, "items", 5, items, NULL), "set");
    check(pw_object_set_str(&state, "filter", 6, str("all"), NULL), "set");
    return state;
}

static pw_value patches_msg(void)
{
    pw_value path, patch, data, msg, value;
    check(pw_array_new(&path, 3), "array");
    check(pw_array_push(&path, str("items")), "push");
    check(pw_array_push(&path, pw_int(1234)), "push");
    check(pw_array_push(&path, str("title")), "push");
    check(pw_object_new(&patch, 3), "object");
    check(pw_object_set_str(&patch, "op", 2, str("replace"), NULL), "set");
    check(pw_object_set_str(&patch, "path", 4, path, NULL), "set");
    value = str("call the plumber about the kitchen sink");
    check(pw_object_set_str(&patch, "value", 5, value, NULL), "set");
    check(pw_array_new(&data, 1), "array");
    check(pw_array_push(&data, patch), "push");
    check(pw_object_new(&msg, 4), "object");
    check(pw_object_set_str(&msg, "type", 4, str("patches"), NULL), "set");
    check(pw_object_set_str(&msg, "key", 3, str("appstate"), NULL), "set");
    check(pw_object_set_str(&msg, "seq", 3, pw_int(1042), NULL), "set");
    check(pw_object_set_str(&msg, "data", 4, data, NULL), "set");
    return msg;
}

/* Seconds per call of one decoder over about `secs`: 0 = ours (decode +
 * release), 1 = ours, decode alone, 2 = msgpack_unpack into a zone + clear. */
static double run(int which, const pw_buf *b, double secs, msgpack_zone *zone)
{
    long iters = 0;
    double t0 = now(), t, in_release = 0;
    do {
        for (int k = 0; k < 8; k++) {
            if (which == 2) {
                size_t off = 0;
                msgpack_object obj;
                if (msgpack_unpack((const char *)b->data, b->len, &off, zone, &obj) !=
                    MSGPACK_UNPACK_SUCCESS) {
                    fprintf(stderr, "msgpack_unpack failed\n");
                    exit(1);
                }
                msgpack_zone_clear(zone);
                continue;
            }
            pw_value v;
            check(pw_codec_msgpack.decode(b->data, b->len, NULL, &v, NULL), "decode");
            if (which == 1) {
                double r = now();
                pw_value_release(&v);
                in_release += now() - r;
            } else {
                pw_value_release(&v);
            }
        }
        iters += 8;
    } while ((t = now() - t0) < secs);
    return (t - in_release) / (double)iters;
}

/* Interleaves short rounds of each decoder and keeps each one's best round,
 * so that load from other processes hurts both alike. */
static void race(const char *name, const pw_buf *b, double secs)
{
    msgpack_zone zone;
    msgpack_zone_init(&zone, MSGPACK_ZONE_CHUNK_SIZE);
    double best[3] = {1e9, 1e9, 1e9};
    int rounds = 10;
    for (int r = 0; r < rounds; r++)
        for (int w = 0; w < 3; w++) {
            double t = run(w, b, secs / rounds / 3, &zone);
            if (t < best[w])
                best[w] = t;
        }
    msgpack_zone_destroy(&zone);
    double mb = (double)b->len / 1e6;
    printf("%-20s %7zu bytes | patchwire decode+release %7.1f MB/s %9.0f/s | decode alone "
           "%7.1f MB/s %9.0f/s | msgpack_unpack %7.1f MB/s %9.0f/s\n",
           name, b->len, mb / best[0], 1 / best[0], mb / best[1], 1 / best[1], mb / best[2],
           1 / best[2]);
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 2.0;
    pw_value state = todo_state(1000000), msg = patches_msg();
    pw_buf big = {0}, small = {0};
    check(pw_codec_msgpack.encode(&state, &big, NULL), "encode");
    check(pw_codec_msgpack.encode(&msg, &small, NULL), "encode");
    race("todo state (~1 MB)", &big, secs);
    race("patches message", &small, secs);
    pw_buf_free(&big);
    pw_buf_free(&small);
    pw_value_release(&state);
    pw_value_release(&msg);
    return 0;
}
