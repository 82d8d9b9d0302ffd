/* ws_msg.h - the messages bench_ws sends and recognises, written and read
 * without patchwire's codecs (JSON by hand, MessagePack with msgpack-c), so
 * that the load generator measures any hub the same way.
 *
 * The writer sends
 *   {"type":"patches","key":"appstate","data":[{"op":"replace","path":["items",I,"done"],"value":V}]}
 * with V = true (throughput) or V = the message's number (latency). A reader
 * counts a message only once it has read its type, key, op, path and value. */
#ifndef PW_BENCH_WS_MSG_H
#define PW_BENCH_WS_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum ws_kind {
    WS_BAD = 0,  /* not a message we know, or a patches message of another shape */
    WS_PATCH,    /* our replace of items[I].done */
    WS_FULLSYNC, /* {"type":"fullsync","key":"appstate",...} */
    WS_ERROR,    /* {"type":"error",...} (patchwire's rejection) */
    WS_ACK,      /* {"type":"ack","key":...,"seq":V}, the answer to a message with base */
    WS_OTHER,    /* another type (an unknown message) */
} ws_kind;

typedef struct ws_patch {
    uint64_t index;    /* I */
    bool value_is_num; /* false: value was true */
    uint64_t value;
    bool has_seq; /* the message's "seq" (any type), when read */
    uint64_t seq;
} ws_patch;

/* Writes the message into out (at most cap bytes); returns its length, 0 if
 * it does not fit. value_num < 0 writes "value":true; base >= 0 adds
 * "base":base (proto/SPEC.md 1.2: the hub then answers with an ack). */
size_t ws_msg_write_json(char *out, size_t cap, uint64_t index, int64_t value_num, int64_t base);
size_t ws_msg_write_msgpack(char *out, size_t cap, uint64_t index, int64_t value_num, int64_t base);

/* Classifies one whole message (complete = true) or the first bytes of a
 * longer one (complete = false: only WS_FULLSYNC, WS_ERROR or WS_BAD can
 * come back). On WS_PATCH fills *patch's index and value; sets its seq
 * when the message has one (JSON: also in the first bytes of a FullSync). */
ws_kind ws_msg_read_json(const uint8_t *p, size_t n, bool complete, ws_patch *patch);
ws_kind ws_msg_read_msgpack(const uint8_t *p, size_t n, bool complete, ws_patch *patch);
/* Frees the MessagePack reader's zone. */
void ws_msg_reader_free(void);

#endif
