/* durable.c - the hub's side of a store between two commits (durable.h).
 *
 * The one idea: a turn's changes are encoded as they are accepted (their
 * patch lists in JSON, into one buffer), so a commit is one call to the
 * store with borrowed bytes; until it returns, the hub keeps what it would
 * have sent, and the document of every key it touched as it was before. */
#include "durable.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "patchwire/buf.h"
#include "patchwire/codec.h"

/* Log bytes below which a key is not worth a snapshot, however small its
 * document: a snapshot costs a transaction of its own. */
#define SNAPSHOT_MIN_LOG ((size_t)64 << 10)

typedef struct held {
    void *peer;
    pw_frame *frame;
} held;

typedef struct touched {
    void *key;
    size_t index;
    pw_value doc;
    uint64_t version;
    bool created;
} touched;

typedef struct pending {
    size_t index;
    size_t key_off, key_len, patches_off, patches_len; /* in d->bytes */
    uint64_t version, origin;
    int64_t time_ms;
    void *peer;
    pw_value id;
} pending;

typedef struct key_log {
    uint64_t changes; /* logged since the snapshot */
    size_t bytes;     /* their patch lists */
    size_t doc_bytes; /* the snapshot's size */
    bool must;        /* changes were lost to a failed commit: the snapshot replaces them */
} key_log;

struct pw__durable {
    pw_persist *store;
    pw_persist_options opts;
    held *held;
    size_t nheld, capheld;
    touched *touched;
    size_t ntouched, captouched;
    pending *pending;
    size_t npending, cappending;
    pw_buf bytes;
    int64_t first_ms; /* when the oldest pending change came */
    key_log *logs;
    size_t nlogs;
    pw_buf scratch;
    pw_persist_change *batch;
    size_t capbatch;
    bool broken; /* a change of this turn could not be recorded: the commit fails */
};

static bool grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap * 2 : 16;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * size);
    if (!q)
        return false;
    *p = q;
    *cap = n;
    return true;
}

int64_t pw__durable_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

pw__durable *pw__durable_new(pw_persist *store, const pw_persist_options *opts)
{
    pw__durable *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->store = store;
    if (opts)
        d->opts = *opts;
    else
        pw_persist_options_init(&d->opts);
    if (!d->opts.interval_ms)
        d->opts.interval_ms = 50;
    if (!d->opts.snapshot_changes)
        d->opts.snapshot_changes = 10000;
    return d;
}

void pw__durable_log(const pw__durable *d, bool error, const char *fmt, ...)
{
    if (!d->opts.log)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    d->opts.log(error, line, d->opts.log_userdata);
}

pw_persist *pw__durable_store(const pw__durable *d)
{
    return d->store;
}

bool pw__durable_holding(const pw__durable *d)
{
    return d->opts.sync == PW_SYNC_ALWAYS && (d->npending > 0 || d->broken);
}

bool pw__durable_hold(pw__durable *d, void *peer, pw_frame *frame)
{
    if (!grow((void **)&d->held, &d->capheld, d->nheld + 1, sizeof *d->held)) {
        pw_frame_release(frame);
        return false;
    }
    d->held[d->nheld++] = (held){peer, frame};
    return true;
}

size_t pw__durable_held(const pw__durable *d)
{
    return d->nheld;
}

pw_frame *pw__durable_held_at(const pw__durable *d, size_t i, void **peer)
{
    *peer = d->held[i].peer;
    return d->held[i].frame;
}

pw_err pw__durable_touch(pw__durable *d, void *key, size_t index, const pw_value *doc,
                         uint64_t version, bool created)
{
    if (d->opts.sync != PW_SYNC_ALWAYS)
        return PW_OK;
    for (size_t i = 0; i < d->ntouched; i++)
        if (d->touched[i].key == key)
            return PW_OK;
    if (!grow((void **)&d->touched, &d->captouched, d->ntouched + 1, sizeof *d->touched)) {
        d->broken = true;
        return PW_ENOMEM;
    }
    /* a reference of its own: the change then edits a copy (copy-on-write) */
    d->touched[d->ntouched++] =
        (touched){key, index, created ? pw_null() : pw_value_retain(*doc), version, created};
    return PW_OK;
}

size_t pw__durable_touched(const pw__durable *d)
{
    return d->ntouched;
}

void *pw__durable_touched_at(const pw__durable *d, size_t i, pw_value **doc, uint64_t *version,
                             bool *created)
{
    *doc = &d->touched[i].doc;
    *version = d->touched[i].version;
    *created = d->touched[i].created;
    return d->touched[i].key;
}

static key_log *key_log_at(pw__durable *d, size_t index)
{
    if (index >= d->nlogs) {
        size_t n = index + 1 > 2 * d->nlogs ? index + 1 : 2 * d->nlogs;
        key_log *l = realloc(d->logs, n * sizeof *l);
        if (!l)
            return NULL;
        memset(l + d->nlogs, 0, (n - d->nlogs) * sizeof *l);
        d->logs = l;
        d->nlogs = n;
    }
    return &d->logs[index];
}

/* The list as stored: Immer patches in JSON; a whole document is one
 * replace of the root. */
static pw_err encode_list(pw__durable *d, const pw_patches *patches, const pw_value *doc)
{
    pw_value list = pw_null();
    pw_err rc;
    if (patches) {
        rc = pw_patches_to_value(patches, &list);
    } else {
        pw_patches one;
        pw_patches_init(&one, PW_DIALECT_IMMER);
        pw_value root;
        rc = pw_array_new(&root, 0);
        if (!rc)
            rc = pw_patches_push(&one, PW_OP_REPLACE, root, pw_null(), pw_value_retain(*doc), true);
        if (!rc)
            rc = pw_patches_to_value(&one, &list);
        pw_patches_clear(&one);
    }
    if (!rc)
        rc = pw_codec_json.encode(&list, &d->bytes, NULL);
    pw_value_release(&list);
    return rc;
}

pw_err pw__durable_change(pw__durable *d, size_t index, const char *key, size_t key_len,
                          uint64_t version, uint64_t origin, const pw_patches *patches,
                          const pw_value *doc, void *peer, const pw_value *id)
{
    if (!grow((void **)&d->pending, &d->cappending, d->npending + 1, sizeof *d->pending) ||
        !key_log_at(d, index)) {
        d->broken = true;
        return PW_ENOMEM;
    }
    size_t key_off = d->bytes.len;
    pw_err rc = pw_buf_append(&d->bytes, key, key_len);
    size_t off = d->bytes.len;
    if (!rc)
        rc = encode_list(d, patches, doc);
    if (rc) {
        d->bytes.len = key_off;
        d->broken = true;
        return rc;
    }
    if (d->npending == 0)
        d->first_ms = pw__durable_now_ms();
    d->pending[d->npending++] = (pending){
        .index = index,
        .key_off = key_off,
        .key_len = key_len,
        .patches_off = off,
        .patches_len = d->bytes.len - off,
        .version = version,
        .origin = origin,
        .time_ms = wall_ms(),
        .peer = peer,
        .id = id ? pw_value_retain(*id) : pw_null(),
    };
    return PW_OK;
}

size_t pw__durable_changes(const pw__durable *d)
{
    return d->npending;
}

void *pw__durable_change_at(const pw__durable *d, size_t i, const char **key, size_t *key_len,
                            const pw_value **id)
{
    const pending *p = &d->pending[i];
    *key = (const char *)d->bytes.data + p->key_off;
    *key_len = p->key_len;
    *id = &p->id;
    return p->peer;
}

void pw__durable_forget_peer(pw__durable *d, const void *peer)
{
    for (size_t i = 0; i < d->nheld; i++)
        if (d->held[i].peer == peer)
            d->held[i].peer = NULL;
    for (size_t i = 0; i < d->npending; i++)
        if (d->pending[i].peer == peer)
            d->pending[i].peer = NULL;
}

void pw__durable_forget_key(pw__durable *d, size_t index)
{
    if (index < d->nlogs)
        d->logs[index] = (key_log){0};
}

bool pw__durable_due(const pw__durable *d, int64_t now_ms)
{
    if (d->npending == 0)
        return d->broken;
    return d->opts.sync != PW_SYNC_BATCH || now_ms - d->first_ms >= d->opts.interval_ms;
}

int pw__durable_next_ms(const pw__durable *d, int64_t now_ms)
{
    if (d->npending == 0)
        return -1;
    if (d->opts.sync != PW_SYNC_BATCH)
        return 0;
    int64_t left = d->first_ms + d->opts.interval_ms - now_ms;
    return left > 0 ? (int)left : 0;
}

pw_err pw__durable_commit(pw__durable *d, pw_error *err)
{
    if (d->broken)
        return pw_error_set(err, PW_ENOMEM, "out of memory recording a change");
    if (!grow((void **)&d->batch, &d->capbatch, d->npending, sizeof *d->batch))
        return pw_error_set(err, PW_ENOMEM, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < d->npending; i++) {
        const pending *p = &d->pending[i];
        if (d->logs[p->index].must) /* its next snapshot holds it */
            continue;
        d->batch[n++] = (pw_persist_change){
            .key = (const char *)d->bytes.data + p->key_off,
            .key_len = p->key_len,
            .version = p->version,
            .origin = p->origin,
            .time_ms = p->time_ms,
            .patches = d->bytes.data + p->patches_off,
            .patches_len = p->patches_len,
        };
    }
    if (n == 0)
        return PW_OK;
    return d->store->ops->append(d->store, d->batch, n, d->opts.sync != PW_SYNC_OFF, err);
}

void pw__durable_end_turn(pw__durable *d, bool failed)
{
    for (size_t i = 0; i < d->nheld; i++)
        pw_frame_release(d->held[i].frame);
    d->nheld = 0;
    for (size_t i = 0; i < d->ntouched; i++)
        pw_value_release(&d->touched[i].doc);
    d->ntouched = 0;
    for (size_t i = 0; i < d->npending; i++) {
        pending *p = &d->pending[i];
        key_log *l = &d->logs[p->index];
        if (failed && d->opts.sync != PW_SYNC_ALWAYS) {
            l->must = true; /* in memory still: the next snapshot stores it */
        } else if (!failed) {
            l->changes++;
            l->bytes += p->patches_len;
        }
        pw_value_release(&p->id);
    }
    d->npending = 0;
    d->broken = false;
    pw_buf_reset(&d->bytes);
    if (d->bytes.cap > ((size_t)4 << 20)) { /* a burst's buffer is not kept */
        pw_buf_free(&d->bytes);
        pw_buf_init(&d->bytes);
    }
}

bool pw__durable_next_snapshot(const pw__durable *d, size_t *pos)
{
    for (size_t i = *pos; i < d->nlogs; i++) {
        const key_log *l = &d->logs[i];
        size_t floor = l->doc_bytes > SNAPSHOT_MIN_LOG ? l->doc_bytes : SNAPSHOT_MIN_LOG;
        if (l->must || l->changes >= d->opts.snapshot_changes || (l->changes && l->bytes > floor)) {
            *pos = i;
            return true;
        }
    }
    return false;
}

pw_err pw__durable_snapshot(pw__durable *d, size_t index, const char *key, size_t key_len,
                            const pw_value *doc, uint64_t version, pw_error *err)
{
    key_log *l = key_log_at(d, index);
    if (!l)
        return pw_error_set(err, PW_ENOMEM, "out of memory");
    pw_buf_reset(&d->scratch);
    pw_err rc = pw_codec_json.encode(doc, &d->scratch, err);
    if (!rc)
        rc = d->store->ops->snapshot(d->store, key, key_len, d->scratch.data, d->scratch.len,
                                     version, d->opts.sync != PW_SYNC_OFF, err);
    if (!rc)
        *l = (key_log){.doc_bytes = d->scratch.len};
    if (d->scratch.cap > ((size_t)4 << 20)) {
        pw_buf_free(&d->scratch);
        pw_buf_init(&d->scratch);
    }
    return rc;
}

void pw__durable_free(pw__durable *d)
{
    if (!d)
        return;
    pw__durable_end_turn(d, false);
    free(d->held);
    free(d->touched);
    free(d->pending);
    free(d->logs);
    free(d->batch);
    pw_buf_free(&d->bytes);
    pw_buf_free(&d->scratch);
    free(d);
}

void pw_persist_options_init(pw_persist_options *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->sync = PW_SYNC_ALWAYS;
    opts->interval_ms = 50;
    opts->snapshot_changes = 10000;
}
