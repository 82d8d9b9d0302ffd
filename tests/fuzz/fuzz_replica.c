/* fuzz_replica.c - libFuzzer target: a replica fed sequences of what a hub
 * (or anything posing as one) may send, between local edits.
 *
 * Input: lines; a line's first byte picks what happens: the rest of the
 * line is received as a message (JSON or MessagePack, as detected) or as a
 * republished snapshot, sent as a FullSync of key "k" with that data, or
 * applied as a local change (a JSON patch list) to "k"; or the connection
 * is replaced, or "k" is undone or redone. Invariants: nothing crashes or
 * leaks, everything the replica sends is a readable message, and after a
 * FullSync it takes the key's store value equals the FullSync's data. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "patchwire/buf.h"
#include "patchwire/codec.h"
#include "patchwire/msg.h"
#include "patchwire/patch.h"
#include "patchwire/replica.h"
#include "patchwire/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_fail(const char *what)
{
    fprintf(stderr, "fuzz: %s\n", what);
    abort();
}

static pw_err fuzz_send(const uint8_t *p, size_t n, bool binary, void *userdata)
{
    (void)userdata;
    pw_msg m;
    if (pw_msg_decode(binary ? &pw_codec_msgpack : &pw_codec_json, p, n, NULL, &m, NULL))
        fuzz_fail("the replica sent an unreadable message");
    pw_msg_clear(&m);
    return PW_OK;
}

/* Receives p as the hub's message; a FullSync the replica took must be
 * what its store now holds. */
static void receive(pw_replica *r, const uint8_t *p, size_t n, bool snapshot)
{
    pw_err rc =
        snapshot ? pw_replica_receive_snapshot(r, p, n, NULL) : pw_replica_receive(r, p, n, NULL);
    const pw_codec *c = pw_codec_detect(p, n);
    pw_msg m;
    if (snapshot || rc != PW_OK || !c || pw_msg_decode(c, p, n, NULL, &m, NULL) != PW_OK)
        return;
    size_t klen = 0;
    const char *key = m.type == PW_MSG_FULLSYNC ? pw_value_str(&m.key, &klen) : NULL;
    if (key) {
        const pw_value *v = pw_store_get(pw_replica_store(r), key, klen);
        if (!v || !pw_value_equal(v, &m.data))
            fuzz_fail("the store differs from the FullSync it took");
    }
    pw_msg_clear(&m);
}

static void edit(pw_replica *r, const uint8_t *p, size_t n)
{
    pw_value list;
    if (pw_codec_json.decode(p, n, NULL, &list, NULL))
        return;
    pw_patches ps;
    pw_patches_init(&ps, PW_DIALECT_IMMER);
    if (pw_patches_from_value(&list, &ps, NULL) == PW_OK)
        pw_store_apply(pw_replica_store(r), "k", 1, &ps, NULL);
    pw_patches_clear(&ps);
    pw_value_release(&list);
}

static void fullsync(pw_replica *r, uint8_t seq, const uint8_t *p, size_t n)
{
    pw_buf b;
    pw_buf_init(&b);
    char head[64];
    int h = snprintf(head, sizeof head,
                     "{\"type\":\"fullsync\",\"key\":\"k\",\"seq\":%u,\"data\":", (unsigned)seq);
    if (pw_buf_append(&b, head, (size_t)h) || pw_buf_append(&b, p, n) || pw_buf_append(&b, "}", 1))
        fuzz_fail("out of memory");
    receive(r, b.data, b.len, false);
    pw_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pw_replica_options o;
    pw_replica_options_init(&o);
    o.send = fuzz_send;
    o.codec = size && data[0] & 0x80 ? &pw_codec_msgpack : &pw_codec_json;
    pw_replica *r = pw_replica_new(&o);
    if (!r)
        fuzz_fail("setup");
    for (size_t at = 0; at < size;) {
        const uint8_t *nl = memchr(data + at, '\n', size - at);
        size_t end = nl ? (size_t)(nl - data) : size;
        if (end > at) {
            uint8_t op = data[at];
            const uint8_t *p = data + at + 1;
            size_t n = end - at - 1;
            switch (op % 6) {
            case 0:
                receive(r, p, n, false);
                break;
            case 1:
                receive(r, p, n, true);
                break;
            case 2:
                fullsync(r, op, p, n);
                break;
            case 3:
                edit(r, p, n);
                break;
            case 4:
                pw_replica_reconnect(r);
                break;
            default:
                if (op & 0x40)
                    pw_store_undo(pw_replica_store(r), "k", 1, NULL);
                else
                    pw_store_redo(pw_replica_store(r), "k", 1, NULL);
                break;
            }
        }
        at = end + 1;
    }
    pw_replica_free(r);
    return 0;
}
