/* cmd_dump.c - `patchwire dump FILE.db`: what a hub stored, as JSON.
 *
 * The one idea: the store's own load and history calls, on a read-only
 * connection that takes no lock, so a running hub's file can be read. */
#include <string.h>

#include "cli.h"
#include "cmds.h"
#include "patchwire/persist.h"

static const char usage[] =
    "usage: patchwire dump FILE.db [--key KEY] [--history]\n"
    "\n"
    "Prints the states a hub stored with `patchwire serve --data FILE.db` as one\n"
    "JSON object: {\"KEY\":{\"version\":V,\"state\":DOC},...}. The file may be in\n"
    "use by a running hub: it is only read.\n"
    "\n"
    "options:\n"
    "  --key KEY     that key only\n"
    "  --history     with each key, \"history\": the changes logged since its last\n"
    "                snapshot, [{\"version\":V,\"origin\":PEER,\"time\":UNIX_MS,\n"
    "                \"patches\":[...]},...]\n"
    "  -h, --help    show this help\n";

typedef struct dump {
    pw_persist *store;
    const char *key;
    bool history;
    pw_value out;
    pw_error *err;
} dump;

static pw_err add_change(const pw_persist_change *c, void *userdata)
{
    pw_value *list = userdata;
    pw_value entry, patches;
    pw_err rc = pw_codec_json.decode(c->patches, c->patches_len, NULL, &patches, NULL);
    if (rc)
        return rc;
    if ((rc = pw_object_new(&entry, 4)) != PW_OK) {
        pw_value_release(&patches);
        return rc;
    }
    if (!(rc = pw_object_set_str(&entry, "version", 7, pw_int((int64_t)c->version), NULL)) &&
        !(rc = pw_object_set_str(&entry, "origin", 6, pw_int((int64_t)c->origin), NULL)) &&
        !(rc = pw_object_set_str(&entry, "time", 4, pw_int(c->time_ms), NULL)))
        rc = pw_object_set_str(&entry, "patches", 7, patches, NULL);
    else
        pw_value_release(&patches);
    if (!rc)
        return pw_array_push(list, entry);
    pw_value_release(&entry);
    return rc;
}

static pw_err add_key(const char *key, size_t key_len, pw_value doc, uint64_t version,
                      void *userdata)
{
    dump *d = userdata;
    if (d->key && (strlen(d->key) != key_len || memcmp(d->key, key, key_len) != 0)) {
        pw_value_release(&doc);
        return PW_OK;
    }
    pw_value entry, history = pw_null();
    pw_err rc = pw_object_new(&entry, 3);
    if (rc) {
        pw_value_release(&doc);
        return rc;
    }
    if (!(rc = pw_object_set_str(&entry, "version", 7, pw_int((int64_t)version), NULL)))
        rc = pw_object_set_str(&entry, "state", 5, doc, NULL);
    else
        pw_value_release(&doc);
    if (!rc && d->history && !(rc = pw_array_new(&history, 0))) {
        rc = d->store->ops->history(d->store, key, key_len, add_change, &history, d->err);
        if (!rc)
            rc = pw_object_set_str(&entry, "history", 7, history, NULL);
        else
            pw_value_release(&history);
    }
    if (!rc)
        return pw_object_set_str(&d->out, key, key_len, entry, NULL);
    pw_value_release(&entry);
    return rc;
}

int cmd_dump(int argc, char **argv)
{
    cli c;
    cli_init(&c, "dump", usage);
    dump d = {0};
    const char *path = NULL;
    int status = CLI_OK;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int r;
        if (a[0] != '-') {
            if (path)
                return cli_usage_error(&c, "unexpected argument '%s'", a);
            path = a;
        } else if (strcmp(a, "--history") == 0) {
            d.history = true;
        } else if ((r = cli_option_value(&c, "--key", argc, argv, &i, &v, &status)) != 0) {
            if (r < 0)
                return status;
            d.key = v;
        } else if ((r = cli_common_option(&c, argc, argv, &i, &status)) != 0) {
            if (r < 0)
                return status;
        } else {
            return cli_usage_error(&c, "unknown option '%s'", a);
        }
    }
    if (!path)
        return cli_usage_error(&c, "which FILE.db?");
    pw_error err;
    pw_error_clear(&err);
    d.err = &err;
    d.store = pw_persist_sqlite_open(path, PW_PERSIST_READ_ONLY, &err);
    if (!d.store)
        return cli_fail(&c, "%s", err.msg);
    if (pw_object_new(&d.out, 0) != PW_OK) {
        pw_persist_close(d.store);
        return cli_fail(&c, "out of memory");
    }
    pw_err rc = d.store->ops->load(d.store, add_key, &d, &err);
    if (rc)
        status = cli_fail(&c, "%s: %s", path, err.msg[0] ? err.msg : pw_strerror(rc));
    else if (d.key && pw_value_len(&d.out) == 0)
        status = cli_fail(&c, "%s: no key \"%s\"", path, d.key);
    else
        status = cli_write_value(&c, &d.out, &pw_codec_json);
    pw_value_release(&d.out);
    pw_persist_close(d.store);
    return status;
}
