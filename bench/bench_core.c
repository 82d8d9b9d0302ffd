/* bench_core.c - throughput of patchwire's core next to jansson, msgpack-c and
 * memcpy, on the same bytes in the same run (issue 2, item 8).
 *
 * The one idea: every row is a function that does one unit of work (decode a
 * message, apply a patch list, ...) and a context prepared outside the timed
 * loop; the harness reports the median rate of several rounds, and each
 * section ends with a Markdown table that puts patchwire beside its baseline
 * and the target. Progress goes to stderr, the tables to stdout. */
#include "bench.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEED 0x70617463687769u /* "patchwi" */
#define MB 1000000.0
#define MAX_ROWS 16

static bench_opts opts = {.warmup_s = 0.2, .round_s = 0.5, .rounds = 5};

static void die(const char *what, pw_err rc)
{
    fprintf(stderr, "bench_core: %s: %s\n", what, pw_strerror(rc));
    exit(1);
}

/* ================================================================ decode */

typedef struct decode_ctx {
    const pw_codec *codec;
    const uint8_t *p;
    size_t n;
} decode_ctx;

static long pw_decode_call(void *c)
{
    decode_ctx *d = c;
    pw_value v;
    pw_error err;
    pw_err rc = d->codec->decode(d->p, d->n, NULL, &v, &err);
    if (rc)
        return bench_fail_pw(d->codec == &pw_codec_json ? "pw_codec_json.decode"
                                                        : "pw_codec_msgpack.decode",
                             rc, &err);
    long r = (long)pw_value_len(&v);
    pw_value_release(&v);
    return r;
}

static long pw_msg_decode_call(void *c)
{
    decode_ctx *d = c;
    pw_msg m;
    pw_error err;
    pw_msg_init(&m);
    pw_err rc = pw_msg_decode(d->codec, d->p, d->n, NULL, &m, &err);
    if (rc)
        return bench_fail_pw("pw_msg_decode", rc, &err);
    long r = (long)m.type + (long)m.patches.len;
    pw_msg_clear(&m);
    return r;
}

static long jansson_loads_call(void *c)
{
    const char *text = c;
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (!j)
        return bench_fail("json_loads: %s at byte %d", je.text, je.position);
    long r = (long)json_object_size(j);
    json_decref(j);
    return r;
}

typedef struct unpack_ctx {
    msgpack_zone zone;
    const uint8_t *p;
    size_t n;
} unpack_ctx;

static long msgpack_unpack_call(void *c)
{
    unpack_ctx *u = c;
    msgpack_object obj;
    size_t off = 0;
    msgpack_zone_clear(&u->zone); /* drops the previous result, keeps a chunk */
    msgpack_unpack_return rc = msgpack_unpack((const char *)u->p, u->n, &off, &u->zone, &obj);
    if (rc != MSGPACK_UNPACK_SUCCESS)
        return bench_fail("msgpack_unpack returned %d", (int)rc);
    return (long)obj.via.map.size;
}

typedef struct copy_ctx {
    const uint8_t *src;
    uint8_t *dst;
    size_t n;
} copy_ctx;

static long memcpy_call(void *c)
{
    copy_ctx *m = c;
    memcpy(m->dst, m->src, m->n);
    __asm__ volatile("" : : "r"(m->dst) : "memory");
    return m->dst[m->n / 2];
}

/* ================================================================ encode */

typedef struct encode_ctx {
    const pw_codec *codec;
    const pw_value *v;
    pw_buf out;
} encode_ctx;

static long pw_encode_call(void *c)
{
    encode_ctx *e = c;
    pw_error err;
    pw_buf_reset(&e->out);
    pw_err rc = e->codec->encode(e->v, &e->out, &err);
    if (rc)
        return bench_fail_pw(e->codec == &pw_codec_json ? "pw_codec_json.encode"
                                                        : "pw_codec_msgpack.encode",
                             rc, &err);
    return (long)e->out.len;
}

static long jansson_dumps_call(void *c)
{
    char *s = json_dumps(c, JSON_COMPACT);
    if (!s)
        return bench_fail("json_dumps failed");
    long r = (unsigned char)s[0];
    free(s);
    return r;
}

typedef struct pack_ctx {
    msgpack_object obj;
    msgpack_sbuffer sb;
    msgpack_packer pk;
} pack_ctx;

static long msgpack_pack_call(void *c)
{
    pack_ctx *p = c;
    msgpack_sbuffer_clear(&p->sb);
    if (msgpack_pack_object(&p->pk, p->obj) != 0)
        return bench_fail("msgpack_pack_object failed");
    return (long)p->sb.size;
}

/* ================================================================ apply, diff */

typedef struct apply_ctx {
    pw_value *doc;
    pw_patches *lists;
    size_t n; /* a power of two */
    size_t next;
} apply_ctx;

static long apply_call(void *c)
{
    apply_ctx *a = c;
    const pw_patches *p = &a->lists[a->next++ & (a->n - 1)];
    pw_error err;
    pw_err rc = pw_patches_apply(a->doc, p, NULL, &err);
    if (rc)
        return bench_fail_pw("pw_patches_apply", rc, &err);
    return (long)p->len;
}

typedef struct diff_ctx {
    const pw_value *a, *b;
} diff_ctx;

static long diff_call(void *c)
{
    diff_ctx *d = c;
    pw_patches out;
    pw_patches_init(&out, PW_DIALECT_IMMER);
    pw_err rc = pw_diff(d->a, d->b, &out);
    if (rc)
        return bench_fail_pw("pw_diff", rc, NULL);
    long r = (long)out.len;
    pw_patches_clear(&out);
    return r;
}

/* ================================================================ inputs */

typedef struct input {
    pw_value value;
    pw_buf json, mp;
} input;

static void input_encode(input *in)
{
    pw_buf_init(&in->json);
    pw_buf_init(&in->mp);
    pw_err rc = bench_write_json(&in->value, &in->json);
    if (rc == PW_OK)
        rc = bench_write_msgpack(&in->value, &in->mp);
    if (rc)
        die("writing inputs", rc);
}

static void input_free(input *in)
{
    pw_value_release(&in->value);
    pw_buf_free(&in->json);
    pw_buf_free(&in->mp);
}

/* A single replace of item i's title, as a one-patch list. */
static pw_patches replace_title(size_t i, const char *title)
{
    pw_patches p;
    pw_value path, v;
    pw_patches_init(&p, PW_DIALECT_IMMER);
    pw_err rc = bench_gen_item_path(i, "title", &path);
    if (rc == PW_OK && (rc = pw_string_cstr(&v, title)) != PW_OK)
        pw_value_release(&path);
    if (rc == PW_OK)
        rc = pw_patches_push(&p, PW_OP_REPLACE, path, pw_null(), v, true);
    if (rc)
        die("building patches", rc);
    return p;
}

/* 100 ops on items, net length unchanged so the list applies again and again:
 * per 5 ops, replace a title, replace `done`, add a `note` key to an item,
 * append a new item, remove an item from a random position. */
static pw_patches batch_of_100(size_t items, bench_rng *r)
{
    pw_patches p;
    pw_patches_init(&p, PW_DIALECT_IMMER);
    size_t len = items;
    for (int k = 0; k < 100; k++) {
        size_t i = (size_t)(bench_rand(r) % len);
        pw_value path, v = pw_null();
        pw_op op = PW_OP_REPLACE;
        pw_err rc = PW_OK;
        switch (k % 5) {
        case 0:
            rc = bench_gen_item_path(i, "title", &path);
            if (rc == PW_OK)
                pw_string_cstr(&v, "walk the dog"); /* inline, cannot fail */
            break;
        case 1:
            rc = bench_gen_item_path(i, "done", &path);
            v = pw_bool(k % 2);
            break;
        case 2:
            op = PW_OP_ADD;
            rc = bench_gen_item_path(i, "note", &path);
            if (rc == PW_OK)
                pw_string_cstr(&v, "ask Anna first");
            break;
        case 3:
            op = PW_OP_ADD;
            rc = bench_gen_item(r, (int64_t)(1000000 + k), &v);
            if (rc == PW_OK && (rc = bench_gen_item_path(len, NULL, &path)) != PW_OK)
                pw_value_release(&v);
            len++;
            break;
        default:
            op = PW_OP_REMOVE;
            rc = bench_gen_item_path(i, NULL, &path);
            len--;
            break;
        }
        if (rc == PW_OK)
            rc = pw_patches_push(&p, op, path, pw_null(), v, op != PW_OP_REMOVE);
        if (rc)
            die("building patches", rc);
    }
    return p;
}

static void make_state(size_t target, pw_value *state, size_t *bytes, size_t *items)
{
    pw_err rc = bench_gen_state(SEED, target, state, bytes, items);
    if (rc)
        die("generating a state", rc);
}

/* ================================================================ rows */

static bench_row measure(const char *input, const char *impl, bench_unit unit, double bytes,
                         double ops, bench_fn fn, void *ctx)
{
    bench_row r;
    memset(&r, 0, sizeof r);
    snprintf(r.input, sizeof r.input, "%s", input);
    snprintf(r.impl, sizeof r.impl, "%s", impl);
    r.unit = unit;
    r.bytes_per_call = bytes;
    r.ops_per_call = ops;
    fprintf(stderr, "  %-34s %-40s ", input, impl);
    fflush(stderr);
    r.st = bench_measure(fn, ctx, &opts);
    if (r.st.ok)
        fprintf(stderr, "%12.0f calls/s  (spread %.0f%%)\n", r.st.calls_per_s, r.st.spread * 100);
    else
        fprintf(stderr, "FAILED: %s\n", r.st.err);
    return r;
}

static void target(bench_row *r, const char *goal, bool met)
{
    snprintf(r->target, sizeof r->target, "%s: %s", goal,
             !r->st.ok ? "not measured"
             : met     ? "**met**"
                       : "**missed**");
}

static double ratio_of(const bench_row *a, const bench_row *b)
{
    double rb = bench_row_rate(b);
    return rb > 0 ? bench_row_rate(a) / rb : 0;
}

/* ================================================================ sections */

typedef struct corpus {
    input small, big;
    size_t big_items;
    json_t *small_j, *big_j;
} corpus;

static void decode_rows(const char *label, const pw_buf *json, const pw_buf *mp, bench_unit unit,
                        double json_goal, bench_row *rows, size_t *n)
{
    char in[96];
    decode_ctx pj = {&pw_codec_json, json->data, json->len};
    decode_ctx pm = {&pw_codec_msgpack, mp->data, mp->len};
    unpack_ctx up = {.p = mp->data, .n = mp->len};
    copy_ctx cj = {json->data, malloc(json->len), json->len};
    copy_ctx cm = {mp->data, malloc(mp->len), mp->len};
    if (!cj.dst || !cm.dst || !msgpack_zone_init(&up.zone, MSGPACK_ZONE_CHUNK_SIZE))
        die("allocating", PW_ENOMEM);
    bool small = unit == BENCH_MSGS;
    char goal[48];

    snprintf(in, sizeof in, "%s, JSON %zu B", label, json->len);
    size_t j0 = *n;
    rows[(*n)++] = measure(in, "patchwire pw_codec_json.decode", unit, (double)json->len, 1,
                           pw_decode_call, &pj);
    if (small)
        rows[(*n)++] = measure(in, "patchwire pw_msg_decode (JSON)", unit, (double)json->len, 1,
                               pw_msg_decode_call, &pj);
    size_t jb = *n;
    rows[(*n)++] = measure(in, "jansson json_loads + json_decref", unit, (double)json->len, 1,
                           jansson_loads_call, (void *)json->data);
    rows[(*n)++] = measure(in, "memcpy (ceiling)", unit, (double)json->len, 1, memcpy_call, &cj);
    for (size_t i = j0; i < jb; i++)
        bench_ratio(rows[i].ratio, sizeof rows[i].ratio, &rows[i], &rows[jb], "jansson");
    snprintf(rows[jb].ratio, sizeof rows[jb].ratio, "baseline");
    snprintf(goal, sizeof goal, "≥ %.0fx jansson", json_goal);
    target(&rows[j0], goal, ratio_of(&rows[j0], &rows[jb]) >= json_goal);

    snprintf(in, sizeof in, "%s, MessagePack %zu B", label, mp->len);
    size_t m0 = *n;
    rows[(*n)++] = measure(in, "patchwire pw_codec_msgpack.decode", unit, (double)mp->len, 1,
                           pw_decode_call, &pm);
    if (small)
        rows[(*n)++] = measure(in, "patchwire pw_msg_decode (MessagePack)", unit, (double)mp->len,
                               1, pw_msg_decode_call, &pm);
    size_t mb = *n;
    rows[(*n)++] = measure(in, "msgpack-c msgpack_unpack into its zone", unit, (double)mp->len, 1,
                           msgpack_unpack_call, &up);
    rows[(*n)++] = measure(in, "memcpy (ceiling)", unit, (double)mp->len, 1, memcpy_call, &cm);
    for (size_t i = m0; i < mb; i++)
        bench_ratio(rows[i].ratio, sizeof rows[i].ratio, &rows[i], &rows[mb], "msgpack_unpack");
    snprintf(rows[mb].ratio, sizeof rows[mb].ratio, "baseline");
    target(&rows[m0], "≥ 1x msgpack_unpack", ratio_of(&rows[m0], &rows[mb]) >= 1);

    msgpack_zone_destroy(&up.zone);
    free(cj.dst);
    free(cm.dst);
}

static void section_decode(corpus *c)
{
    bench_row rows[MAX_ROWS];
    size_t n = 0;
    fprintf(stderr, "decode\n");
    decode_rows("Patches message", &c->small.json, &c->small.mp, BENCH_MSGS, 5, rows, &n);
    decode_rows("FullSync 1 MB", &c->big.json, &c->big.mp, BENCH_MBS, 8, rows, &n);
    bench_print_table("Decode", rows, n);
}

static void encode_rows(const char *label, const input *in, json_t *j, bench_unit unit,
                        bench_row *rows, size_t *n)
{
    char name[96];
    encode_ctx ej = {&pw_codec_json, &in->value, {0}};
    encode_ctx em = {&pw_codec_msgpack, &in->value, {0}};
    pack_ctx pk;
    size_t off = 0;
    msgpack_zone zone;
    if (!msgpack_zone_init(&zone, MSGPACK_ZONE_CHUNK_SIZE) ||
        msgpack_unpack((const char *)in->mp.data, in->mp.len, &off, &zone, &pk.obj) !=
            MSGPACK_UNPACK_SUCCESS)
        die("unpacking the MessagePack input", PW_ESYNTAX);
    msgpack_sbuffer_init(&pk.sb);
    msgpack_packer_init(&pk.pk, &pk.sb, msgpack_sbuffer_write);

    snprintf(name, sizeof name, "%s, to JSON %zu B", label, in->json.len);
    size_t a = *n;
    rows[(*n)++] = measure(name, "patchwire pw_codec_json.encode", unit, (double)in->json.len, 1,
                           pw_encode_call, &ej);
    rows[(*n)++] = measure(name, "jansson json_dumps(JSON_COMPACT) + free", unit,
                           (double)in->json.len, 1, jansson_dumps_call, j);
    bench_ratio(rows[a].ratio, sizeof rows[a].ratio, &rows[a], &rows[a + 1], "jansson");
    snprintf(rows[a + 1].ratio, sizeof rows[a + 1].ratio, "baseline");

    snprintf(name, sizeof name, "%s, to MessagePack %zu B", label, in->mp.len);
    size_t b = *n;
    rows[(*n)++] = measure(name, "patchwire pw_codec_msgpack.encode", unit, (double)in->mp.len, 1,
                           pw_encode_call, &em);
    rows[(*n)++] = measure(name, "msgpack-c msgpack_pack_object", unit, (double)in->mp.len, 1,
                           msgpack_pack_call, &pk);
    bench_ratio(rows[b].ratio, sizeof rows[b].ratio, &rows[b], &rows[b + 1], "msgpack-c");
    snprintf(rows[b + 1].ratio, sizeof rows[b + 1].ratio, "baseline");

    pw_buf_free(&ej.out);
    pw_buf_free(&em.out);
    msgpack_sbuffer_destroy(&pk.sb);
    msgpack_zone_destroy(&zone);
}

static void section_encode(corpus *c)
{
    bench_row rows[MAX_ROWS];
    size_t n = 0;
    fprintf(stderr, "encode\n");
    encode_rows("Patches message", &c->small, c->small_j, BENCH_MSGS, rows, &n);
    encode_rows("FullSync 1 MB", &c->big, c->big_j, BENCH_MBS, rows, &n);
    bench_print_table("Encode", rows, n);
}

/* Single replaces of item titles: k lists spread over the items (k small: the
 * cost of the operation; k large, random items: with cache misses). */
static bench_row replace_row(const char *label, pw_value *doc, size_t items, size_t k, bool spread,
                             uint64_t seed)
{
    pw_patches *lists = malloc(k * sizeof *lists);
    if (!lists)
        die("allocating", PW_ENOMEM);
    bench_rng r = {seed};
    for (size_t i = 0; i < k; i++) {
        size_t at = spread ? (i * items / k + items / (2 * k)) : (size_t)(bench_rand(&r) % items);
        lists[i] = replace_title(at, "buy oat milk");
    }
    apply_ctx ac = {doc, lists, k, 0};
    char impl[96];
    snprintf(impl, sizeof impl, "pw_patches_apply, 1 replace (%zu %s items)", k,
             spread ? "spread" : "random");
    bench_row row = measure(label, impl, BENCH_OPS, 0, 1, apply_call, &ac);
    if (row.st.ok) {
        const pw_value *items_v = pw_object_get(doc, "items", 5);
        const pw_value *path0 = &lists[0].items[0].path;
        const pw_value *item = pw_array_get(items_v, (size_t)pw_value_int(pw_array_get(path0, 1)));
        const pw_value *t = pw_object_get(item, "title", 5);
        bench_check("apply, %s, %zu lists: the replaced title is in the document: %s", label, k,
                    t && pw_value_str_eq(t, "buy oat milk", 12) ? "yes" : "**NO**");
    }
    for (size_t i = 0; i < k; i++)
        pw_patches_clear(&lists[i]);
    free(lists);
    return row;
}

static void section_apply(void)
{
    bench_row rows[MAX_ROWS];
    size_t n = 0;
    char label[96];
    pw_value doc;
    size_t bytes, items;
    fprintf(stderr, "apply\n");

    make_state(10000, &doc, &bytes, &items);
    snprintf(label, sizeof label, "state 10 KB (%zu items)", items);
    size_t r10k = n;
    rows[n++] = replace_row(label, &doc, items, 16, true, SEED);
    pw_value_release(&doc);

    pw_value doc1m;
    size_t items1m;
    make_state(1000000, &doc1m, &bytes, &items1m);
    snprintf(label, sizeof label, "state 1 MB (%zu items)", items1m);
    size_t r1m = n;
    rows[n++] = replace_row(label, &doc1m, items1m, 16, true, SEED);

    fprintf(stderr, "  (building the 100 MB state with the value API...)\n");
    double t0 = bench_now();
    make_state(100000000, &doc, &bytes, &items);
    double built = bench_now() - t0;
    bench_check("100 MB state: %zu items, %zu bytes as JSON, built with the value API in %.1f s",
                items, bytes, built);
    snprintf(label, sizeof label, "state 100 MB (%zu items)", items);
    size_t r100m = n;
    rows[n++] = replace_row(label, &doc, items, 16, true, SEED);
    rows[n++] = replace_row(label, &doc, items, 4096, false, SEED);
    t0 = bench_now();
    pw_value_release(&doc);
    bench_check("100 MB state: released in %.2f s", bench_now() - t0);

    snprintf(rows[r10k].ratio, sizeof rows[r10k].ratio, "baseline");
    for (size_t i = r10k + 1; i < n; i++)
        bench_ratio(rows[i].ratio, sizeof rows[i].ratio, &rows[i], &rows[r10k], "10 KB");
    size_t sized[] = {r10k, r1m, r100m};
    for (size_t i = 0; i < 3; i++) {
        bench_row *r = &rows[sized[i]];
        bool flat = i == 0 || ratio_of(r, &rows[r10k]) >= 0.5;
        target(r, i == 0 ? "≥ 2 M ops/s" : "≥ 2 M ops/s, flat (≥ 0.5x 10 KB)",
               bench_row_rate(r) >= 2e6 && flat);
    }
    snprintf(rows[n - 1].target, sizeof rows[n - 1].target, "information");

    bench_rng r = {SEED ^ 0xba7c4};
    pw_patches batch = batch_of_100(items1m, &r);
    apply_ctx ac = {&doc1m, &batch, 1, 0};
    snprintf(label, sizeof label, "state 1 MB (%zu items)", items1m);
    rows[n] = measure(label, "pw_patches_apply, 100 ops (replace/add/remove)", BENCH_OPS, 0, 100,
                      apply_call, &ac);
    snprintf(rows[n].target, sizeof rows[n].target, "information");
    n++;
    if (rows[n - 1].st.ok)
        bench_check("apply, batch of 100: the item count is unchanged after every batch: %s",
                    pw_value_len(pw_object_get(&doc1m, "items", 5)) == items1m ? "yes" : "**NO**");
    pw_patches_clear(&batch);
    pw_value_release(&doc1m);

    bench_print_table("Apply (Immer patches, no inverse)", rows, n);
}

/* Sets the titles of 10 items spread over the list. */
static void edit_ten(pw_value *doc, size_t items)
{
    for (size_t k = 0; k < 10; k++) {
        char title[32];
        snprintf(title, sizeof title, "changed title %zu", k);
        pw_value *arr = pw_object_get_mut(doc, "items", 5);
        pw_value *item = arr ? pw_array_get_mut(arr, (2 * k + 1) * items / 20) : NULL;
        pw_value t;
        pw_err rc = item ? pw_string_cstr(&t, title) : PW_ENOMEM;
        if (rc == PW_OK)
            rc = pw_object_set_str(item, "title", 5, t, NULL);
        if (rc)
            die("editing a state", rc);
    }
}

static void section_diff(void)
{
    bench_row rows[MAX_ROWS];
    size_t n = 0;
    pw_value a, b_cow, b_parsed = pw_null();
    size_t bytes, items;
    pw_buf text;
    pw_error err;
    fprintf(stderr, "diff\n");
    make_state(1000000, &a, &bytes, &items);
    b_cow = pw_value_retain(a);
    edit_ten(&b_cow, items);

    diff_ctx cow = {&a, &b_cow};
    rows[n++] = measure("1 MB state vs a copy-on-write edit of it (10 titles)", "pw_diff",
                        BENCH_DIFFS, 0, 0, diff_call, &cow);
    bench_check_diff("diff of copy-on-write copy", &a, &b_cow);

    pw_buf_init(&text);
    pw_err rc = bench_write_json(&a, &text);
    if (rc)
        die("writing the state", rc);
    rc = pw_codec_json.decode(text.data, text.len, NULL, &b_parsed, &err);
    if (rc == PW_OK) {
        edit_ten(&b_parsed, items);
        diff_ctx parsed = {&a, &b_parsed};
        rows[n++] = measure("1 MB state vs a parsed copy with the same 10 edits", "pw_diff",
                            BENCH_DIFFS, 0, 0, diff_call, &parsed);
        bench_check_diff("diff of parsed copy", &a, &b_parsed);
    } else {
        rows[n] = (bench_row){.input = "1 MB state vs a parsed copy with the same 10 edits",
                              .impl = "pw_diff"};
        snprintf(rows[n++].st.err, sizeof rows[0].st.err, "parsing the copy: %s %.200s",
                 pw_strerror(rc), err.msg);
    }
    for (size_t i = 0; i < n; i++)
        snprintf(rows[i].target, sizeof rows[i].target, "information");
    pw_buf_free(&text);
    pw_value_release(&a);
    pw_value_release(&b_cow);
    pw_value_release(&b_parsed);
    bench_print_table("Diff", rows, n);
}

/* ================================================================ hash flooding */

#define FLOOD_KEYS 100000
#define FLOOD_SLOTS 262144u /* the hash index of a FLOOD_KEYS-member object */

size_t pw__object_index_probes(const pw_value *obj); /* core test hook (value.c) */

/* The unkeyed FNV-1a the object index used before SipHash, to craft keys. */
static uint64_t old_hash(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325u ^ n;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 0x100000001b3u;
    return h ^ (h >> 29);
}

/* {"k..":0, ...} with FLOOD_KEYS keys: crafted ones whose old-hash home slot
 * is among the first 1024 of the index (one cluster: quadratic probing under
 * the old hash), or as many random keys of the same shape. */
static void flood_object(bool crafted, pw_buf *out)
{
    bench_rng r = {SEED ^ 0xf100d};
    char key[32];
    unsigned long c = 0;
    pw_buf_append(out, "{", 1);
    for (size_t i = 0; i < FLOOD_KEYS; i++) {
        int len;
        if (crafted) {
            do
                len = snprintf(key, sizeof key, "k%lu", c++);
            while (old_hash(key, (size_t)len) % FLOOD_SLOTS >= 1024);
        } else {
            len =
                snprintf(key, sizeof key, "k%lu", (unsigned long)(i * 256 + bench_rand(&r) % 256));
        }
        char member[48];
        int m = snprintf(member, sizeof member, "%s\"%s\":0", i ? "," : "", key);
        if (pw_buf_append(out, member, (size_t)m))
            die("building the flood object", PW_ENOMEM);
    }
    pw_buf_append(out, "}", 1);
}

static double probes_per_key(const pw_buf *json)
{
    pw_value v;
    if (pw_codec_json.decode(json->data, json->len, NULL, &v, NULL))
        return -1;
    double per = (double)pw__object_index_probes(&v) / (double)pw_value_len(&v);
    pw_value_release(&v);
    return per;
}

static void section_flood(void)
{
    bench_row rows[2];
    pw_buf crafted, random;
    pw_buf_init(&crafted);
    pw_buf_init(&random);
    fprintf(stderr, "hash flooding\n");
    flood_object(true, &crafted);
    flood_object(false, &random);
    decode_ctx dc = {&pw_codec_json, crafted.data, crafted.len};
    decode_ctx dr = {&pw_codec_json, random.data, random.len};
    char in[96];
    snprintf(in, sizeof in, "object, %d crafted keys, JSON %zu B", FLOOD_KEYS, crafted.len);
    rows[0] = measure(in, "patchwire pw_codec_json.decode", BENCH_MBS, (double)crafted.len, 1,
                      pw_decode_call, &dc);
    snprintf(in, sizeof in, "object, %d random keys, JSON %zu B", FLOOD_KEYS, random.len);
    rows[1] = measure(in, "patchwire pw_codec_json.decode", BENCH_MBS, (double)random.len, 1,
                      pw_decode_call, &dr);
    bench_ratio(rows[0].ratio, sizeof rows[0].ratio, &rows[0], &rows[1], "random keys");
    snprintf(rows[1].ratio, sizeof rows[1].ratio, "baseline");
    target(&rows[0], "≥ 0.5x random keys", ratio_of(&rows[0], &rows[1]) >= 0.5);
    bench_print_table("Hash flooding (object keys crafted against the old unkeyed hash)", rows, 2);
    bench_check("hash flooding: slots visited per key lookup, crafted keys %.2f, random keys %.2f "
                "(the old hash: about %d for the crafted ones)",
                probes_per_key(&crafted), probes_per_key(&random), FLOOD_KEYS / 2);
    pw_buf_free(&crafted);
    pw_buf_free(&random);
}

/* ================================================================ main */

static void corpus_make(corpus *c)
{
    size_t bytes;
    pw_value state;
    pw_err rc = bench_gen_small_patches(&c->small.value);
    if (rc)
        die("building the small message", rc);
    input_encode(&c->small);
    make_state(1000000, &state, &bytes, &c->big_items);
    rc = bench_gen_fullsync(state, &c->big.value);
    if (rc)
        die("building the FullSync message", rc);
    input_encode(&c->big);

    json_error_t je;
    c->small_j = json_loads((const char *)c->small.json.data, 0, &je);
    c->big_j = json_loads((const char *)c->big.json.data, 0, &je);
    if (!c->small_j || !c->big_j) {
        fprintf(stderr, "bench_core: jansson rejects the input: %s\n", je.text);
        exit(1);
    }
}

static void corpus_checks(corpus *c)
{
    bench_check_decode("Patches message", &pw_codec_json, &c->small.json, &c->small.value);
    bench_check_decode("Patches message", &pw_codec_msgpack, &c->small.mp, &c->small.value);
    bench_check_decode("FullSync 1 MB", &pw_codec_json, &c->big.json, &c->big.value);
    bench_check_decode("FullSync 1 MB", &pw_codec_msgpack, &c->big.mp, &c->big.value);
    bench_check_encode("Patches message", &pw_codec_json, &c->small.value, &c->small.json);
    bench_check_encode("Patches message", &pw_codec_msgpack, &c->small.value, &c->small.mp);
    bench_check_encode("FullSync 1 MB", &pw_codec_json, &c->big.value, &c->big.json);
    bench_check_encode("FullSync 1 MB", &pw_codec_msgpack, &c->big.value, &c->big.mp);
    bench_check_jansson_dump("FullSync 1 MB", c->big_j, &c->big.json);
}

static const char *compiler(void)
{
#if defined(__clang__)
    return "clang " __clang_version__;
#elif defined(__GNUC__)
    return "gcc " __VERSION__;
#else
    return "unknown C compiler";
#endif
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_core [--quick] [--round-ms N] [--rounds N] [--warmup-ms N] "
               "[--compiler]\n"
               "Prints Markdown tables on stdout and progress on stderr; see bench/README.md.\n");
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--compiler") == 0) {
            printf("%s\n", compiler());
            return 0;
        } else if (strcmp(a, "--quick") == 0) {
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

    corpus c;
    memset(&c, 0, sizeof c);
    corpus_make(&c);
    printf("Inputs (generated, seed 0x%llx): a Patches message of %zu bytes as JSON and %zu as "
           "MessagePack:\n\n    %s\n\nand a FullSync of a todo list with %zu items, %zu bytes as "
           "JSON and %zu as MessagePack (MessagePack packed by msgpack-c directly). "
           "Each figure is the median of %d rounds of at least %.0f ms after %.0f ms of warm-up; "
           "MB = 10^6 bytes.\n\n",
           (unsigned long long)SEED, c.small.json.len, c.small.mp.len,
           (const char *)c.small.json.data, c.big_items, c.big.json.len, c.big.mp.len, opts.rounds,
           opts.round_s * 1e3, opts.warmup_s * 1e3);
    fflush(stdout);

    corpus_checks(&c);
    section_decode(&c);
    section_encode(&c);
    json_decref(c.small_j);
    json_decref(c.big_j);
    input_free(&c.small);
    input_free(&c.big);
    section_apply();
    section_diff();
    section_flood();

    bench_check("peak resident memory of the benchmark: %.0f MiB", bench_peak_rss_mib());
    bench_checks_print();
    fprintf(stderr, "done (sink %zu)\n", (size_t)bench_sink);
    return 0;
}
