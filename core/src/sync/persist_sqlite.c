/* persist_sqlite.c - the hub's store in one SQLite file (WAL mode).
 *
 * The one idea: two tables a user can read with the sqlite3 program while
 * the hub runs (proto/SPEC.md, "Durable state"): `snapshots` holds per key
 * a JSON document and its version, `changes` the JSON patch lists accepted
 * since, one row per version. Loading a key is its snapshot plus its changes
 * replayed in version order; a gap or a list that does not apply is a
 * corrupt file, never a silently shorter state. The file is flock'ed by the
 * hub that writes it; SQLite's own locks stay free for readers. */
#define _DEFAULT_SOURCE /* flock */
#include "patchwire/persist.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "patchwire/codec.h"
#include "patchwire/patch.h"

#define APP_ID 0x70776462 /* "pwdb" */
#define SCHEMA 1

typedef struct sq_store {
    pw_persist base;
    sqlite3 *db;
    int lock_fd;     /* flock'ed while open for writing; -1 read-only */
    int synchronous; /* the PRAGMA synchronous in force: 2 FULL, 0 OFF, -1 unknown */
    sqlite3_stmt *ins_change, *ins_snap, *del_changes;
} sq_store;

static pw_err db_error(sq_store *s, pw_error *err, const char *what)
{
    int code = sqlite3_errcode(s->db);
    pw_err rc = code == SQLITE_NOMEM ? PW_ENOMEM : PW_EIO;
    return pw_error_set(err, rc, "%s: %s", what, sqlite3_errmsg(s->db));
}

static int exec(sq_store *s, const char *sql)
{
    return sqlite3_exec(s->db, sql, NULL, NULL, NULL);
}

static int pragma_int(sq_store *s, const char *sql, int64_t *out)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

/* Ends a failed transaction, if SQLite has not already. */
static void rollback(sq_store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        exec(s, "ROLLBACK");
}

static pw_err set_sync(sq_store *s, bool durable, pw_error *err)
{
    int want = durable ? 2 : 0;
    if (s->synchronous == want)
        return PW_OK;
    if (exec(s, durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=OFF") != SQLITE_OK)
        return db_error(s, err, "setting synchronous");
    s->synchronous = want;
    return PW_OK;
}

static pw_err begin(sq_store *s, bool durable, pw_error *err)
{
    pw_err rc = set_sync(s, durable, err);
    if (rc)
        return rc;
    if (exec(s, "BEGIN IMMEDIATE") != SQLITE_OK)
        return db_error(s, err, "begin");
    return PW_OK;
}

static pw_err commit(sq_store *s, pw_error *err)
{
    if (exec(s, "COMMIT") != SQLITE_OK) {
        pw_err rc = db_error(s, err, "commit");
        rollback(s);
        return rc;
    }
    return PW_OK;
}

static pw_err sq_append(pw_persist *p, const pw_persist_change *c, size_t n, bool durable,
                        pw_error *err)
{
    sq_store *s = (sq_store *)p;
    pw_err rc = begin(s, durable, err);
    for (size_t i = 0; i < n && !rc; i++) {
        sqlite3_stmt *st = s->ins_change;
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, c[i].key, (int)c[i].key_len, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)c[i].version);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)c[i].origin);
        sqlite3_bind_int64(st, 4, c[i].time_ms);
        sqlite3_bind_text(st, 5, (const char *)c[i].patches, (int)c[i].patches_len, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = db_error(s, err, "storing a change");
        sqlite3_reset(st);
    }
    if (rc) {
        rollback(s);
        return rc;
    }
    return commit(s, err);
}

static pw_err sq_snapshot(pw_persist *p, const char *key, size_t key_len, const uint8_t *doc,
                          size_t doc_len, uint64_t version, bool durable, pw_error *err)
{
    sq_store *s = (sq_store *)p;
    pw_err rc = begin(s, durable, err);
    if (rc)
        return rc;
    sqlite3_stmt *st = s->ins_snap;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, key, (int)key_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)version);
    sqlite3_bind_text64(st, 3, (const char *)doc, doc_len, SQLITE_STATIC, SQLITE_UTF8);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_error(s, err, "storing a snapshot");
    sqlite3_reset(st);
    st = s->del_changes;
    if (!rc) {
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, key, (int)key_len, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)version);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = db_error(s, err, "compacting the change log");
        sqlite3_reset(st);
    }
    if (rc) {
        rollback(s);
        return rc;
    }
    return commit(s, err);
}

/* Stored documents were checked when they came in: only memory bounds them. */
static void stored_limits(pw_limits *lim)
{
    pw_limits_init(lim);
    lim->max_input_bytes = SIZE_MAX / 4;
    lim->max_string_bytes = SIZE_MAX / 4;
    lim->max_values = SIZE_MAX / 4;
}

/* The document of one key at *version: its snapshot with its changes. */
static pw_err load_key(sq_store *s, sqlite3_stmt *snap, sqlite3_stmt *chg, const char *key,
                       int key_len, pw_value *doc, uint64_t *version, pw_error *err)
{
    pw_limits lim;
    stored_limits(&lim);
    *doc = pw_null();
    *version = 0;
    sqlite3_reset(snap);
    sqlite3_bind_text(snap, 1, key, key_len, SQLITE_TRANSIENT);
    int r = sqlite3_step(snap);
    if (r == SQLITE_ROW) {
        *version = (uint64_t)sqlite3_column_int64(snap, 0);
        const uint8_t *p = sqlite3_column_blob(snap, 1);
        size_t n = (size_t)sqlite3_column_bytes(snap, 1);
        if (pw_codec_json.decode(p, n, &lim, doc, err))
            return pw_error_set(err, PW_EIO, "snapshot of \"%.*s\": %s", key_len, key, err->msg);
    } else if (r != SQLITE_DONE) {
        return db_error(s, err, "reading a snapshot");
    }
    sqlite3_reset(snap);
    sqlite3_reset(chg);
    sqlite3_bind_text(chg, 1, key, key_len, SQLITE_TRANSIENT);
    sqlite3_bind_int64(chg, 2, (sqlite3_int64)*version);
    pw_err rc = PW_OK;
    while (!rc && (r = sqlite3_step(chg)) == SQLITE_ROW) {
        uint64_t v = (uint64_t)sqlite3_column_int64(chg, 0);
        const uint8_t *p = sqlite3_column_blob(chg, 1);
        size_t n = (size_t)sqlite3_column_bytes(chg, 1);
        if (v != *version + 1) {
            rc = pw_error_set(err, PW_EIO, "\"%.*s\": change %llu follows version %llu", key_len,
                              key, (unsigned long long)v, (unsigned long long)*version);
            break;
        }
        pw_value list;
        pw_patches ps;
        pw_patches_init(&ps, PW_DIALECT_IMMER);
        rc = pw_codec_json.decode(p, n, &lim, &list, err);
        if (!rc)
            rc = pw_patches_from_value(&list, &ps, err);
        if (!rc)
            rc = pw_patches_apply(doc, &ps, NULL, err);
        pw_value_release(&list);
        pw_patches_clear(&ps);
        if (rc)
            rc = pw_error_set(err, PW_EIO, "\"%.*s\": change %llu: %s", key_len, key,
                              (unsigned long long)v, err->msg);
        *version = v;
    }
    if (!rc && r != SQLITE_DONE)
        rc = db_error(s, err, "reading changes");
    sqlite3_reset(chg);
    if (rc)
        pw_value_release(doc);
    return rc;
}

static pw_err sq_load(pw_persist *p, pw_persist_key_cb cb, void *userdata, pw_error *err)
{
    sq_store *s = (sq_store *)p;
    sqlite3_stmt *keys = NULL, *snap = NULL, *chg = NULL;
    pw_err rc = PW_OK;
    if (exec(s, "BEGIN") != SQLITE_OK ||
        sqlite3_prepare_v2(s->db,
                           "SELECT key FROM snapshots UNION SELECT key FROM changes ORDER BY 1", -1,
                           &keys, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "SELECT version, doc FROM snapshots WHERE key = ?1", -1, &snap,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db,
                           "SELECT version, patches FROM changes WHERE key = ?1 AND version > ?2 "
                           "ORDER BY version",
                           -1, &chg, NULL) != SQLITE_OK) {
        rc = db_error(s, err, "loading");
        goto done;
    }
    int r;
    while (!rc && (r = sqlite3_step(keys)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(keys, 0);
        int key_len = sqlite3_column_bytes(keys, 0);
        pw_value doc;
        uint64_t version;
        rc = load_key(s, snap, chg, key, key_len, &doc, &version, err);
        if (!rc && version == 0)
            rc = pw_error_set(err, PW_EIO, "\"%.*s\": no snapshot and no change", key_len, key);
        if (!rc)
            rc = cb(key, (size_t)key_len, doc, version, userdata);
        else
            pw_value_release(&doc);
    }
    if (!rc && r != SQLITE_DONE)
        rc = db_error(s, err, "loading keys");
done:
    sqlite3_finalize(keys);
    sqlite3_finalize(snap);
    sqlite3_finalize(chg);
    rollback(s);
    return rc;
}

static const pw_persist_ops sqlite_ops;

static void sq_close(pw_persist *p)
{
    sq_store *s = (sq_store *)p;
    sqlite3_finalize(s->ins_change);
    sqlite3_finalize(s->ins_snap);
    sqlite3_finalize(s->del_changes);
    sqlite3_close(s->db);
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* after SQLite let go: closing drops the flock */
    free(s);
}

static const char schema_sql[] =
    "CREATE TABLE snapshots(key TEXT PRIMARY KEY, version INTEGER NOT NULL, doc TEXT NOT NULL);"
    "CREATE TABLE changes(key TEXT NOT NULL, version INTEGER NOT NULL, origin INTEGER NOT NULL,"
    " time INTEGER NOT NULL, patches TEXT NOT NULL, PRIMARY KEY (key, version)) WITHOUT ROWID;"
    "PRAGMA application_id = 1886872674;" /* APP_ID */
    "PRAGMA user_version = 1;";

/* Checks that the file is ours (creating the schema in an empty one). */
static pw_err check_schema(sq_store *s, const char *path, bool read_only, pw_error *err)
{
    int64_t app = 0, version = 0, tables = 0;
    if (pragma_int(s, "PRAGMA application_id", &app) != SQLITE_OK ||
        pragma_int(s, "PRAGMA user_version", &version) != SQLITE_OK ||
        pragma_int(s, "SELECT count(*) FROM sqlite_schema", &tables) != SQLITE_OK)
        return pw_error_set(err, PW_EIO, "%s: not a patchwire state file (%s)", path,
                            sqlite3_errmsg(s->db));
    if (app == 0 && tables == 0 && !read_only) {
        if (exec(s, "PRAGMA journal_mode=WAL") != SQLITE_OK ||
            exec(s, "BEGIN IMMEDIATE") != SQLITE_OK || exec(s, schema_sql) != SQLITE_OK ||
            exec(s, "COMMIT") != SQLITE_OK) {
            pw_err rc = pw_error_set(err, PW_EIO, "%s: creating the store: %s", path,
                                     sqlite3_errmsg(s->db));
            rollback(s);
            return rc;
        }
        return PW_OK;
    }
    if (app != APP_ID)
        return pw_error_set(err, PW_EIO, "%s: not a patchwire state file", path);
    if (version > SCHEMA)
        return pw_error_set(err, PW_EUNSUPPORTED,
                            "%s: written by a newer patchwire (schema %lld, this one reads %d)",
                            path, (long long)version, SCHEMA);
    if (version < 1)
        return pw_error_set(err, PW_EIO, "%s: not a patchwire state file (schema %lld)", path,
                            (long long)version);
    if (!read_only && exec(s, "PRAGMA journal_mode=WAL") != SQLITE_OK)
        return pw_error_set(err, PW_EIO, "%s: %s", path, sqlite3_errmsg(s->db));
    return PW_OK;
}

pw_persist *pw_persist_sqlite_open(const char *path, unsigned flags, pw_error *err)
{
    bool read_only = flags & PW_PERSIST_READ_ONLY;
    sq_store *s = calloc(1, sizeof *s);
    if (!s) {
        pw_error_set(err, PW_ENOMEM, "out of memory");
        return NULL;
    }
    s->base.ops = &sqlite_ops;
    s->lock_fd = -1;
    s->synchronous = -1;
    pw_err rc = PW_OK;
    if (!read_only) {
        s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (s->lock_fd < 0) {
            rc = pw_error_set(err, PW_EIO, "%s: %s", path, strerror(errno));
            goto fail;
        }
        if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
            rc = pw_error_set(err, PW_EIO, "%s: %s", path,
                              errno == EWOULDBLOCK ? "in use by another hub" : strerror(errno));
            goto fail;
        }
    }
    int mode = read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    if (sqlite3_open_v2(path, &s->db, mode, NULL) != SQLITE_OK) {
        rc = pw_error_set(err, PW_EIO, "%s: %s", path,
                          s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto fail;
    }
    sqlite3_extended_result_codes(s->db, 0);
    sqlite3_busy_timeout(s->db, read_only ? 2000 : 0);
    if ((rc = check_schema(s, path, read_only, err)))
        goto fail;
    if (!read_only &&
        (sqlite3_prepare_v2(s->db,
                            "INSERT INTO changes(key, version, origin, time, patches) "
                            "VALUES (?1, ?2, ?3, ?4, ?5)",
                            -1, &s->ins_change, NULL) != SQLITE_OK ||
         sqlite3_prepare_v2(s->db,
                            "INSERT OR REPLACE INTO snapshots(key, version, doc) "
                            "VALUES (?1, ?2, ?3)",
                            -1, &s->ins_snap, NULL) != SQLITE_OK ||
         sqlite3_prepare_v2(s->db, "DELETE FROM changes WHERE key = ?1 AND version <= ?2", -1,
                            &s->del_changes, NULL) != SQLITE_OK)) {
        rc = pw_error_set(err, PW_EIO, "%s: %s", path, sqlite3_errmsg(s->db));
        goto fail;
    }
    return &s->base;
fail:
    (void)rc;
    sq_close(&s->base);
    return NULL;
}

static pw_err sq_history(pw_persist *p, const char *key, size_t key_len, pw_persist_change_cb cb,
                         void *userdata, pw_error *err)
{
    sq_store *s = (sq_store *)p;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT version, origin, time, patches FROM changes WHERE key = ?1 "
                           "ORDER BY version",
                           -1, &st, NULL) != SQLITE_OK)
        return db_error(s, err, "reading history");
    sqlite3_bind_text(st, 1, key, (int)key_len, SQLITE_STATIC);
    pw_err rc = PW_OK;
    int r;
    while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW) {
        pw_persist_change c = {
            .key = key,
            .key_len = key_len,
            .version = (uint64_t)sqlite3_column_int64(st, 0),
            .origin = (uint64_t)sqlite3_column_int64(st, 1),
            .time_ms = sqlite3_column_int64(st, 2),
            .patches = sqlite3_column_blob(st, 3),
            .patches_len = (size_t)sqlite3_column_bytes(st, 3),
        };
        rc = cb(&c, userdata);
    }
    if (!rc && r != SQLITE_DONE)
        rc = db_error(s, err, "reading history");
    sqlite3_finalize(st);
    return rc;
}

static const pw_persist_ops sqlite_ops = {
    .name = "sqlite",
    .load = sq_load,
    .append = sq_append,
    .snapshot = sq_snapshot,
    .history = sq_history,
    .close = sq_close,
};
