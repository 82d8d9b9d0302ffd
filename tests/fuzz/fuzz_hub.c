/* fuzz_hub.c - libFuzzer target: several peers send a hub sequences of
 * messages over the in-process transport.
 *
 * Input: lines; a line's first byte picks a peer (three: JSON, MessagePack,
 * and a JSON peer that may not write) and what it does: send the rest of
 * the line as one message, read what it was sent, or let time pass (held
 * FullSyncs go out). Every peer applies what it reads as a Visly client
 * does; a relayed change that does not apply on a peer is a bug. At the
 * end each peer asks for a resync of every key and, once time has passed,
 * must hold exactly the hub's state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "patchwire/codec.h"
#include "patchwire/hub.h"
#include "patchwire/inproc.h"
#include "patchwire/msg.h"
#include "patchwire/patch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { NPEERS = 3 };

typedef struct fpeer {
    pw_inproc_conn *conn;
    const pw_codec *codec;
    pw_value state; /* key -> document */
} fpeer;

static uint64_t now;

static uint64_t fuzz_clock(void *userdata)
{
    (void)userdata;
    return now;
}

static bool fuzz_access(const char *identity, const char *key, size_t key_len, pw_access what,
                        void *userdata)
{
    (void)key, (void)key_len, (void)userdata;
    return what == PW_ACCESS_READ || strcmp(identity, "ro") != 0;
}

static void fuzz_fail(const char *what)
{
    fprintf(stderr, "fuzz: %s\n", what);
    abort();
}

static void peer_read(fpeer *p)
{
    pw_frame *f;
    while ((f = pw_inproc_recv(p->conn))) {
        pw_msg m;
        if (pw_msg_decode(f->binary ? &pw_codec_msgpack : &pw_codec_json, f->data, f->len, NULL, &m,
                          NULL)) {
            fprintf(stderr, "%.*s\n", (int)(f->len < 200 ? f->len : 200), (const char *)f->data);
            fuzz_fail("the hub sent an unreadable message");
        }
        size_t klen = 0;
        const char *key = pw_value_str(&m.key, &klen);
        if (m.type == PW_MSG_FULLSYNC) {
            if (pw_object_set_str(&p->state, key, klen, pw_value_retain(m.data), NULL))
                fuzz_fail("out of memory");
        } else if (m.type == PW_MSG_PATCHES) {
            pw_value *doc = pw_object_get_mut(&p->state, key, klen);
            if (!doc)
                fuzz_fail("patches before a fullsync");
            if (pw_patches_apply(doc, &m.patches, NULL, NULL))
                fuzz_fail("a relayed change does not apply on a peer");
        }
        pw_msg_clear(&m);
        pw_frame_release(f);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pw_hub_options o;
    pw_hub_options_init(&o);
    o.clock = fuzz_clock;
    o.access = fuzz_access;
    o.max_state_bytes = 1 << 20;
    o.max_queue_bytes = (size_t)1 << 30; /* no overflow: every peer reads in the end */
    now = 1000;
    pw_hub *hub = pw_hub_new(&o);
    pw_inproc *ip = pw_inproc_new(hub);
    pw_value doc;
    if (!hub || !ip ||
        pw_codec_json.decode((const uint8_t *)"{\"a\":[1,{\"b\":\"c\"}]}", 19, NULL, &doc, NULL) ||
        pw_hub_set_state(hub, "k", 1, doc))
        fuzz_fail("setup");
    static const char *const ids[NPEERS] = {"j", "m", "ro"};
    fpeer peers[NPEERS];
    for (int i = 0; i < NPEERS; i++) {
        peers[i].codec = i == 1 ? &pw_codec_msgpack : &pw_codec_json;
        peers[i].conn = pw_inproc_connect(ip, ids[i], peers[i].codec);
        if (!peers[i].conn || pw_object_new(&peers[i].state, 2))
            fuzz_fail("setup");
    }
    for (size_t at = 0; at < size;) {
        const uint8_t *nl = memchr(data + at, '\n', size - at);
        size_t end = nl ? (size_t)(nl - data) : size;
        if (end > at) {
            uint8_t op = data[at];
            fpeer *p = &peers[op % NPEERS];
            if (op / NPEERS % 4 == 0)
                peer_read(p);
            else if (op / NPEERS % 4 == 1)
                now += op, pw_hub_service(hub);
            else
                pw_inproc_send(p->conn, data + at + 1, end - at - 1, NULL);
        }
        at = end + 1;
    }
    /* every peer asks for every key; once the interval is over all agree */
    for (int i = 0; i < NPEERS; i++) {
        peer_read(&peers[i]);
        const pw_value *key;
        for (size_t j = 0; pw_object_at(&peers[i].state, j, &key, NULL); j++) {
            pw_value v, type;
            pw_buf b = {0};
            if (pw_object_new(&v, 2) || pw_string_cstr(&type, "resync") ||
                pw_object_set_str(&v, "type", 4, type, NULL) ||
                pw_object_set_str(&v, "key", 3, pw_value_retain(*key), NULL) ||
                peers[i].codec->encode(&v, &b, NULL))
                fuzz_fail("out of memory");
            pw_inproc_send(peers[i].conn, b.data, b.len, NULL);
            pw_buf_free(&b);
            pw_value_release(&v);
        }
    }
    now += 60000;
    if (pw_hub_service(hub) != -1)
        fuzz_fail("a held FullSync is still due");
    for (int i = 0; i < NPEERS; i++) {
        peer_read(&peers[i]);
        const pw_value *key, *mine;
        for (size_t j = 0; pw_object_at(&peers[i].state, j, &key, &mine); j++) {
            size_t klen;
            const char *k = pw_value_str(key, &klen);
            const pw_value *h = pw_hub_state(hub, k, klen, NULL);
            if (!h || !pw_value_equal(h, mine))
                fuzz_fail("a peer differs from the hub after a resync");
        }
        pw_value_release(&peers[i].state);
    }
    pw_inproc_free(ip);
    pw_hub_free(hub);
    return 0;
}
