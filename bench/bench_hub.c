/* bench_hub.c - throughput of the hub (issue 3, "Benchmark"): in-process
 * fan-out of one writer's small changes to 1 / 100 / 10,000 readers, and the
 * hub's apply path on the 1 MB state.
 *
 * The one idea: the same harness as bench_core (one call is one unit of work,
 * the median of several rounds is reported), where a fan-out call is "the
 * writer sends one change (or a batch of changes) through the in-process
 * transport, then every reader drains its inbox", so a figure covers decode,
 * apply, one encode per codec, queueing a frame reference per reader and the
 * readers popping and releasing them. The hub's own metrics around each
 * measurement give the encodes per change, which must not grow with the
 * number of readers. Progress goes to stderr, tables to stdout (appended to
 * bench/RESULTS.md by bench/run). */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEED 0x70617463687769u /* "patchwi", as bench_core */
#define KEY "appstate"
#define NMSG 64  /* messages cycled: 32 items x 2 titles, each one a real change */
#define BATCH 64 /* changes sent between drains in the batched rows */
#define IMMER_REPLACES_PER_S 1100.0 /* issue 2: Immer applyPatches on the 1 MB state */
#define MAX_ROWS 16

static bench_opts opts = {.warmup_s = 0.2, .round_s = 0.5, .rounds = 5};

/* Same length, so every message of a set has the same size. */
static const char *const titles[2] = {"buy oat milk and bread", "buy rye milk and bread"};

static void die(const char *what, pw_err rc)
{
    fprintf(stderr, "bench_hub: %s: %s\n", what, pw_strerror(rc));
    exit(1);
}

/* ================================================================ inputs */

/* {"type":"patches","key":"appstate","data":[{"op":"replace",
 *  "path":["items",index,"title"],"value":title}]}: gen.c's small message
 * with another index and title. */
static pw_err replace_msg(size_t index, const char *title, pw_value *msg)
{
    pw_value patch, list, kv[6];
    pw_string_cstr(&kv[0], "op");
    pw_string_cstr(&kv[1], "replace");
    pw_string_cstr(&kv[2], "path");
    pw_err rc = bench_gen_item_path(index, "title", &kv[3]);
    if (rc)
        return rc;
    pw_string_cstr(&kv[4], "value");
    rc = pw_string_cstr(&kv[5], title);
    if (rc) {
        pw_value_release(&kv[3]);
        return rc;
    }
    if ((rc = pw_object_from(&patch, kv, 3)) != PW_OK)
        return rc;
    if ((rc = pw_array_from(&list, &patch, 1)) != PW_OK)
        return rc;
    pw_string_cstr(&kv[0], "type");
    pw_string_cstr(&kv[1], "patches");
    pw_string_cstr(&kv[2], "key");
    pw_string_cstr(&kv[3], KEY);
    pw_string_cstr(&kv[4], "data");
    kv[5] = list;
    return pw_object_from(msg, kv, 3);
}

/* NMSG encoded messages for one codec: message j replaces the title of item
 * index(j % 32) with titles[(j / 32) % 2], so the cycle changes the state at
 * every message. */
typedef struct msg_set {
    pw_buf bytes[NMSG];
    double mean_len;
} msg_set;

static void msg_set_make(msg_set *s, bool msgpack, size_t first, size_t step)
{
    double total = 0;
    for (size_t j = 0; j < NMSG; j++) {
        pw_value v;
        pw_buf_init(&s->bytes[j]);
        pw_err rc = replace_msg(first + (j % 32) * step, titles[(j / 32) % 2], &v);
        if (rc == PW_OK)
            rc = msgpack ? bench_write_msgpack(&v, &s->bytes[j]) : bench_write_json(&v, &s->bytes[j]);
        if (rc)
            die("writing the messages", rc);
        pw_value_release(&v);
        total += (double)s->bytes[j].len;
    }
    s->mean_len = total / NMSG;
}

static void msg_set_free(msg_set *s)
{
    for (size_t j = 0; j < NMSG; j++)
        pw_buf_free(&s->bytes[j]);
}

static pw_value make_state(size_t target, size_t *items, size_t *bytes)
{
    pw_value state;
    size_t b, n;
    pw_err rc = bench_gen_state(SEED, target, &state, bytes ? bytes : &b, items ? items : &n);
    if (rc)
        die("generating a state", rc);
    return state;
}

/* ================================================================ fan-out */

typedef enum mix { MIX_JSON, MIX_MSGPACK, MIX_HALF } mix;
static const char *const mix_names[] = {"all JSON", "all MessagePack", "half JSON, half MessagePack"};
static const char *const mix_short[] = {"JSON", "MessagePack", "half/half"};

typedef struct fan_ctx {
    pw_inproc_conn *writer;
    pw_inproc_conn **readers;
    size_t nreaders;
    const msg_set *msgs;
    size_t batch;
    size_t next;        /* message to send next */
    uint64_t sent;      /* changes sent (and accepted) */
    uint64_t delivered; /* frames popped by readers */
} fan_ctx;

static long fan_call(void *c)
{
    fan_ctx *f = c;
    for (size_t b = 0; b < f->batch; b++) {
        const pw_buf *m = &f->msgs->bytes[f->next++ % NMSG];
        pw_error err;
        pw_err rc = pw_inproc_send(f->writer, m->data, m->len, &err);
        if (rc)
            return bench_fail_pw("pw_inproc_send", rc, &err);
        f->sent++;
    }
    size_t got = 0, bytes = 0;
    for (size_t i = 0; i < f->nreaders; i++) {
        pw_frame *fr;
        while ((fr = pw_inproc_recv(f->readers[i])) != NULL) {
            bytes += fr->len;
            got++;
            pw_frame_release(fr);
        }
    }
    f->delivered += got;
    return (long)(bytes & 0xffff);
}

typedef struct fan_row {
    size_t readers;
    mix mix;
    size_t batch;
    double frame_len; /* bytes of a delivered frame, mean */
    double enc_json, enc_mp;
    bench_stat st;
    char target[96];
} fan_row;

static double fan_delivered_per_s(const fan_row *r)
{
    return r->st.calls_per_s * (double)r->batch * (double)r->readers;
}

static const pw_codec *reader_codec(mix m, size_t i)
{
    if (m == MIX_JSON)
        return &pw_codec_json;
    if (m == MIX_MSGPACK)
        return &pw_codec_msgpack;
    return i % 2 ? &pw_codec_msgpack : &pw_codec_json;
}

static size_t drain(pw_inproc_conn *c)
{
    size_t n = 0;
    pw_frame *f;
    while ((f = pw_inproc_recv(c)) != NULL) {
        pw_frame_release(f);
        n++;
    }
    return n;
}

/* Sends one more change and checks what reader r got: one Patches frame in
 * its codec whose seq is the hub's version and whose patch is the one sent. */
static bool reader_gets_change(pw_hub *hub, fan_ctx *f, size_t r, const pw_codec *codec)
{
    const pw_buf *m = &f->msgs->bytes[f->next % NMSG];
    pw_error err;
    if (pw_inproc_send(f->writer, m->data, m->len, &err))
        return false;
    f->next++;
    f->sent++;
    pw_frame *fr = pw_inproc_recv(f->readers[r]);
    if (!fr)
        return false;
    bool ok = pw_inproc_pending(f->readers[r]) == 0 && fr->binary == (codec != &pw_codec_json);
    pw_msg got, want;
    pw_msg_init(&got);
    pw_msg_init(&want);
    uint64_t version;
    pw_hub_state(hub, KEY, strlen(KEY), &version);
    const pw_codec *wc = pw_codec_detect(m->data, m->len);
    ok = ok && pw_msg_decode(codec, fr->data, fr->len, NULL, &got, NULL) == PW_OK &&
         pw_msg_decode(wc, m->data, m->len, NULL, &want, NULL) == PW_OK &&
         got.type == PW_MSG_PATCHES && got.has_seq && got.seq == version &&
         got.patches.len == 1 && got.patches.len == want.patches.len &&
         pw_value_equal(&got.patches.items[0].path, &want.patches.items[0].path) &&
         pw_value_equal(&got.patches.items[0].value, &want.patches.items[0].value);
    pw_msg_clear(&got);
    pw_msg_clear(&want);
    pw_frame_release(fr);
    for (size_t i = 0; i < f->nreaders; i++)
        drain(f->readers[i]);
    return ok;
}

static fan_row fan_measure(size_t nreaders, mix mx, size_t batch, const msg_set *json_msgs,
                           const msg_set *mp_msgs)
{
    fan_row row;
    memset(&row, 0, sizeof row);
    row.readers = nreaders;
    row.mix = mx;
    row.batch = batch;
    fprintf(stderr, "  %6zu readers, %-28s %-9s ", nreaders, mix_names[mx],
            batch > 1 ? "batched" : "each msg");
    fflush(stderr);

    size_t items;
    pw_value state = make_state(10000, &items, NULL);
    if (items < 42)
        die("the 10 KB state has too few items", PW_EINVAL);
    pw_hub *hub = pw_hub_new(NULL);
    pw_inproc *ip = hub ? pw_inproc_new(hub) : NULL;
    fan_ctx f = {.nreaders = nreaders, .batch = batch,
                 .msgs = mx == MIX_MSGPACK ? mp_msgs : json_msgs};
    f.readers = calloc(nreaders, sizeof *f.readers);
    if (!ip || !f.readers)
        die("setting up the hub", PW_ENOMEM);
    pw_err rc = pw_hub_set_state(hub, KEY, strlen(KEY), state);
    if (rc)
        die("pw_hub_set_state", rc);
    f.writer = pw_inproc_connect(ip, "writer", mx == MIX_MSGPACK ? &pw_codec_msgpack : &pw_codec_json);
    for (size_t i = 0; i < nreaders && f.writer; i++) {
        char id[32];
        snprintf(id, sizeof id, "reader %zu", i);
        if (!(f.readers[i] = pw_inproc_connect(ip, id, reader_codec(mx, i))))
            die("connecting readers", PW_ENOMEM);
    }
    if (!f.writer)
        die("connecting the writer", PW_ENOMEM);
    drain(f.writer); /* the FullSyncs of the join */
    for (size_t i = 0; i < nreaders; i++)
        drain(f.readers[i]);

    pw_hub_metrics m0, m1;
    pw_hub_metrics_get(hub, &m0);
    row.st = bench_measure(fan_call, &f, &opts);
    pw_hub_metrics_get(hub, &m1);
    if (row.st.ok)
        fprintf(stderr, "%12.0f delivered/s  (spread %.0f%%)\n", fan_delivered_per_s(&row),
                row.st.spread * 100);
    else
        fprintf(stderr, "FAILED: %s\n", row.st.err);

    double changes = (double)f.sent;
    uint64_t out = (m1.json.msgs_out - m0.json.msgs_out) + (m1.msgpack.msgs_out - m0.msgpack.msgs_out);
    uint64_t out_bytes =
        (m1.json.bytes_out - m0.json.bytes_out) + (m1.msgpack.bytes_out - m0.msgpack.bytes_out);
    row.enc_json = changes > 0 ? (double)(m1.json.encodes - m0.json.encodes) / changes : 0;
    row.enc_mp = changes > 0 ? (double)(m1.msgpack.encodes - m0.msgpack.encodes) / changes : 0;
    row.frame_len = out ? (double)out_bytes / (double)out : 0;
    double want_json = mx == MIX_MSGPACK ? 0 : 1, want_mp = mx == MIX_JSON ? 0 : 1;
    bool enc_ok = row.enc_json == want_json && row.enc_mp == want_mp;
    bool all = f.delivered == f.sent * nreaders && out == f.delivered;
    uint64_t rejects = m1.rejects - m0.rejects, overflows = m1.overflows - m0.overflows;
    uint64_t sent = f.sent;
    bool first_ok = reader_gets_change(hub, &f, 0, reader_codec(mx, 0));
    bool last_ok = reader_gets_change(hub, &f, nreaders - 1, reader_codec(mx, nreaders - 1));
    bench_check("fan-out, %zu readers, %s, %s: encodes per change %.2f JSON + %.2f MessagePack "
                "(want %.0f + %.0f: %s), %llu changes, %llu deliveries (all: %s), rejects %llu, "
                "overflows %llu; first and last reader decode the change with the hub's seq: %s",
                nreaders, mix_short[mx], batch > 1 ? "batched" : "each message", row.enc_json,
                row.enc_mp, want_json, want_mp, enc_ok ? "yes" : "**NO**", (unsigned long long)sent, (unsigned long long)f.delivered, all ? "yes" : "**NO**",
                (unsigned long long)rejects, (unsigned long long)overflows,
                first_ok && last_ok ? "yes" : "**NO**");

    if (nreaders >= 10000) {
        bool met = row.st.ok && fan_delivered_per_s(&row) >= 5e6;
        snprintf(row.target, sizeof row.target, "≥ 5 M delivered/s: %s",
                 !row.st.ok ? "not measured" : met ? "**met**" : "**missed**");
    } else {
        snprintf(row.target, sizeof row.target, "information");
    }
    pw_inproc_free(ip);
    pw_hub_free(hub);
    free(f.readers);
    return row;
}

static void print_fan_table(const fan_row *rows, size_t n)
{
    printf("## Hub fan-out (in-process transport, one writer)\n\n");
    printf("| Readers | Reader codecs | Readers drain | Delivered | Time per delivered msg | "
           "Changes | Encodes per change (JSON + MessagePack) | Spread | Target |\n");
    printf("|--:|---|---|--:|--:|--:|---|--:|---|\n");
    for (size_t i = 0; i < n; i++) {
        const fan_row *r = &rows[i];
        char drain_how[48], rate[128], per[32], changes[64], enc[48], spread[16];
        if (r->batch > 1)
            snprintf(drain_how, sizeof drain_how, "every %zu messages", r->batch);
        else
            snprintf(drain_how, sizeof drain_how, "after each message");
        if (r->st.ok) {
            char a[32], b[32];
            double d = fan_delivered_per_s(r);
            bench_fmt_si(a, sizeof a, d);
            bench_fmt_si(b, sizeof b, d * r->frame_len / 1e6);
            snprintf(rate, sizeof rate, "%s msgs/s (%s MB/s)", a, b);
            snprintf(per, sizeof per, "%.1f ns", 1e9 / d);
            bench_fmt_si(a, sizeof a, r->st.calls_per_s * (double)r->batch);
            snprintf(changes, sizeof changes, "%s /s", a);
            snprintf(enc, sizeof enc, "%.2f + %.2f", r->enc_json, r->enc_mp);
            snprintf(spread, sizeof spread, "%.0f%%", r->st.spread * 100);
        } else {
            snprintf(rate, sizeof rate, "failed: %.100s", r->st.err);
            for (char *p = rate; *p; p++)
                if (*p == '|')
                    *p = '/';
            per[0] = changes[0] = enc[0] = spread[0] = '\0';
        }
        printf("| %zu | %s | %s | %s | %s | %s | %s | %s | %s |\n", r->readers, mix_names[r->mix],
               drain_how, rate, per, changes, enc, spread, r->target);
    }
    printf("\n");
    fflush(stdout);
}

static void section_fan_out(void)
{
    msg_set json_msgs, mp_msgs;
    msg_set_make(&json_msgs, false, 10, 1); /* items 10..41: two-digit indices */
    msg_set_make(&mp_msgs, true, 10, 1);
    printf("Fan-out: a hub holding a 10 KB todo list, one writer sending Patches messages of "
           "%.0f bytes as JSON (%.0f as MessagePack; the MessagePack writer in the all-MessagePack "
           "rows), each a single replace of an item title cycling over 32 items and 2 titles so "
           "every message changes the state; the hub adds `seq` to what it relays. A call sends "
           "one message (or %d) through `pw_inproc_send`, then every reader pops and releases its "
           "frames (`pw_inproc_recv` + `pw_frame_release`). *Delivered* counts one per reader per "
           "change (MB/s of the frames delivered); encodes per change come from "
           "`pw_hub_metrics` around the measurement.\n\n",
           json_msgs.mean_len, mp_msgs.mean_len, BATCH);
    fflush(stdout);
    fprintf(stderr, "fan-out\n");

    fan_row rows[MAX_ROWS];
    size_t n = 0;
    static const size_t counts[] = {1, 100, 10000};
    for (size_t c = 0; c < 3; c++)
        for (int mx = MIX_JSON; mx <= MIX_HALF; mx++)
            if (!(counts[c] == 1 && mx == MIX_HALF)) /* one reader has one codec */
                rows[n++] = fan_measure(counts[c], (mix)mx, 1, &json_msgs, &mp_msgs);
    for (int mx = MIX_JSON; mx <= MIX_HALF; mx++)
        rows[n++] = fan_measure(10000, (mix)mx, BATCH, &json_msgs, &mp_msgs);
    print_fan_table(rows, n);
    msg_set_free(&json_msgs);
    msg_set_free(&mp_msgs);
}

/* ================================================================ hub apply */

typedef struct send_ctx {
    pw_inproc_conn *writer;
    const msg_set *msgs;
    size_t next;
    uint64_t sent;
} send_ctx;

static long send_call(void *c)
{
    send_ctx *s = c;
    const pw_buf *m = &s->msgs->bytes[s->next++ % NMSG];
    pw_error err;
    pw_err rc = pw_inproc_send(s->writer, m->data, m->len, &err);
    if (rc)
        return bench_fail_pw("pw_inproc_send", rc, &err);
    s->sent++;
    return 1;
}

typedef struct apply_ctx {
    pw_value *doc;
    pw_msg *msgs; /* NMSG decoded messages */
    size_t next;
} apply_ctx;

static long apply_call(void *c)
{
    apply_ctx *a = c;
    const pw_patches *p = &a->msgs[a->next++ % NMSG].patches;
    pw_error err;
    pw_err rc = pw_patches_apply(a->doc, p, NULL, &err);
    if (rc)
        return bench_fail_pw("pw_patches_apply", rc, &err);
    return (long)p->len;
}

static bench_row measure_row(const char *input, const char *impl, bench_fn fn, void *ctx)
{
    bench_row r;
    memset(&r, 0, sizeof r);
    snprintf(r.input, sizeof r.input, "%s", input);
    snprintf(r.impl, sizeof r.impl, "%s", impl);
    r.unit = BENCH_OPS;
    r.ops_per_call = 1;
    fprintf(stderr, "  %-34s %-48s ", input, impl);
    fflush(stderr);
    r.st = bench_measure(fn, ctx, &opts);
    if (r.st.ok)
        fprintf(stderr, "%12.0f calls/s  (spread %.0f%%)\n", r.st.calls_per_s, r.st.spread * 100);
    else
        fprintf(stderr, "FAILED: %s\n", r.st.err);
    return r;
}

/* One row: a hub holding the 1 MB state, a writer speaking `codec`, no readers. */
static bench_row hub_apply_row(const char *label, const msg_set *msgs, const pw_codec *codec,
                               size_t items)
{
    pw_hub *hub = pw_hub_new(NULL);
    pw_inproc *ip = hub ? pw_inproc_new(hub) : NULL;
    if (!ip)
        die("setting up the hub", PW_ENOMEM);
    pw_err rc = pw_hub_set_state(hub, KEY, strlen(KEY), make_state(1000000, NULL, NULL));
    if (rc)
        die("pw_hub_set_state", rc);
    send_ctx s = {.writer = pw_inproc_connect(ip, "writer", codec), .msgs = msgs};
    if (!s.writer)
        die("connecting the writer", PW_ENOMEM);
    drain(s.writer);
    uint64_t v0, v1;
    pw_hub_metrics m0, m1;
    pw_hub_state(hub, KEY, strlen(KEY), &v0);
    pw_hub_metrics_get(hub, &m0);
    char impl[96];
    snprintf(impl, sizeof impl, "hub: %s writer, 0 readers (`pw_inproc_send`)", codec->name);
    bench_row r = measure_row(label, impl, send_call, &s);
    pw_hub_state(hub, KEY, strlen(KEY), &v1);
    pw_hub_metrics_get(hub, &m1);

    /* the last message sent must be in the hub's document */
    const pw_buf *last = &msgs->bytes[(s.next - 1) % NMSG];
    pw_msg m;
    pw_msg_init(&m);
    bool in_doc = false;
    if (s.next && pw_msg_decode(codec, last->data, last->len, NULL, &m, NULL) == PW_OK) {
        const pw_value *items_v = pw_object_get(pw_hub_state(hub, KEY, strlen(KEY), NULL), "items", 5);
        const pw_value *idx = pw_array_get(&m.patches.items[0].path, 1);
        int64_t i = idx ? pw_value_int(idx) : -1;
        const pw_value *item = items_v && i >= 0 ? pw_array_get(items_v, (size_t)i) : NULL;
        const pw_value *t = item ? pw_object_get(item, "title", 5) : NULL;
        in_doc = t && pw_value_equal(t, &m.patches.items[0].value);
    }
    pw_msg_clear(&m);
    uint64_t enc = (m1.json.encodes - m0.json.encodes) + (m1.msgpack.encodes - m0.msgpack.encodes);
    bench_check("hub apply, %s writer on the 1 MB state (%zu items): %llu changes, version went "
                "up by %llu (%s), rejects %llu, encodes %llu, the last change is in the hub's "
                "document: %s",
                codec->name, items, (unsigned long long)s.sent, (unsigned long long)(v1 - v0),
                v1 - v0 == s.sent ? "one per change" : "**NOT one per change**",
                (unsigned long long)(m1.rejects - m0.rejects), (unsigned long long)enc,
                in_doc ? "yes" : "**NO**");
    pw_inproc_free(ip);
    pw_hub_free(hub);
    return r;
}

static void section_hub_apply(void)
{
    fprintf(stderr, "hub apply\n");
    size_t items, bytes;
    pw_value doc = make_state(1000000, &items, &bytes);
    /* 32 items spread over the list, 2 titles: every message is a change */
    msg_set json_msgs, mp_msgs;
    size_t step = items / 32;
    msg_set_make(&json_msgs, false, step / 2, step);
    msg_set_make(&mp_msgs, true, step / 2, step);

    char label[96];
    snprintf(label, sizeof label, "state 1 MB (%zu items), replace %.0f B JSON / %.0f B MessagePack",
             items, json_msgs.mean_len, mp_msgs.mean_len);
    bench_row rows[4];
    size_t n = 0;

    /* the apply alone, on pre-decoded patches, as the floor of the hub's cost */
    apply_ctx a = {.doc = &doc, .msgs = calloc(NMSG, sizeof(pw_msg))};
    if (!a.msgs)
        die("allocating", PW_ENOMEM);
    for (size_t j = 0; j < NMSG; j++) {
        pw_msg_init(&a.msgs[j]);
        pw_err rc = pw_msg_decode(&pw_codec_json, json_msgs.bytes[j].data, json_msgs.bytes[j].len,
                                  NULL, &a.msgs[j], NULL);
        if (rc)
            die("decoding a message", rc);
    }
    rows[n++] = measure_row(label, "`pw_patches_apply` alone (pre-decoded)", apply_call, &a);
    for (size_t j = 0; j < NMSG; j++)
        pw_msg_clear(&a.msgs[j]);
    free(a.msgs);
    pw_value_release(&doc);

    rows[n++] = hub_apply_row(label, &json_msgs, &pw_codec_json, items);
    rows[n++] = hub_apply_row(label, &mp_msgs, &pw_codec_msgpack, items);
    for (size_t i = 0; i < n; i++) {
        if (rows[i].st.ok) {
            double x = bench_row_rate(&rows[i]) / IMMER_REPLACES_PER_S;
            snprintf(rows[i].ratio, sizeof rows[i].ratio, "%.0fx Immer (~1,100/s)", x);
        }
        snprintf(rows[i].target, sizeof rows[i].target, "information");
    }
    printf("Hub apply: a hub holding the 1 MB state (`pw_hub_set_state` with the generated "
           "state, %zu bytes as JSON), one writer and no readers; each call sends one Patches "
           "message with a single title replace (32 items spread over the list, 2 titles), so "
           "a figure covers decode, validation, access, apply, the version bump and building "
           "the relayed message (no encode: nobody reads). *vs baseline* compares with Immer's "
           "applyPatches, about 1,100 single replaces/s on the same state (issue 2).\n\n",
           bytes);
    bench_print_table("Hub apply (patches/s, one replace per message)", rows, n);
    msg_set_free(&json_msgs);
    msg_set_free(&mp_msgs);
}

/* ================================================================ main */

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_hub [--quick] [--round-ms N] [--rounds N] [--warmup-ms N]\n"
               "Prints Markdown tables on stdout and progress on stderr; see bench/README.md.\n");
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--quick") == 0) {
            opts = (bench_opts){.warmup_s = 0.05, .round_s = 0.1, .rounds = 3};
        } else if (strcmp(a, "--round-ms") == 0 && val) {
            opts.round_s = atof(argv[++i]) / 1000;
        } else if (strcmp(a, "--warmup-ms") == 0 && val) {
            opts.warmup_s = atof(argv[++i]) / 1000;
        } else if (strcmp(a, "--rounds") == 0 && val) {
            opts.rounds = atoi(argv[++i]);
        } else if (strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    double t0 = bench_now();
    section_fan_out();
    section_hub_apply();
    bench_check("peak resident memory of bench_hub: %.0f MiB; run time %.0f s",
                bench_peak_rss_mib(), bench_now() - t0);
    bench_checks_print_as("Checks (hub)");
    fprintf(stderr, "done (sink %zu)\n", (size_t)bench_sink);
    return 0;
}
