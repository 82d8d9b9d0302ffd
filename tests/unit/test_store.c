/* store: keys, local edits and their wire output, transactions, undo/redo,
 * changes from the hub, subscriptions, and a random undo/redo property. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "patchwire.h"
#include "randdoc.h"

#define K "app", 3

static pw_value json(const char *s)
{
    pw_value v;
    pw_error err;
    cr_assert_eq(pw_codec_json.decode((const uint8_t *)s, strlen(s), NULL, &v, &err), PW_OK,
                 "%s: %s", s, err.msg);
    return v;
}

/* The JSON text of a value, malloc'd. */
static char *text_of(const pw_value *v)
{
    pw_buf b = {0};
    cr_assert_eq(pw_codec_json.encode(v, &b, NULL), PW_OK);
    char *s = malloc(b.len + 1);
    memcpy(s, b.data, b.len);
    s[b.len] = '\0';
    pw_buf_free(&b);
    return s;
}

/* The wire text of a patch list, malloc'd. */
static char *wire(const pw_patches *p)
{
    pw_value w;
    cr_assert_eq(pw_patches_to_value(p, &w), PW_OK);
    char *s = text_of(&w);
    pw_value_release(&w);
    return s;
}

static pw_patches patches(const char *s)
{
    pw_value v = json(s);
    pw_patches p;
    pw_error err;
    pw_patches_init(&p, PW_DIALECT_IMMER);
    cr_assert_eq(pw_patches_from_value(&v, &p, &err), PW_OK, "%s: %s", s, err.msg);
    pw_value_release(&v);
    return p;
}

static void assert_doc(pw_store *s, const char *key, const char *want)
{
    const pw_value *doc = pw_store_get(s, key, strlen(key));
    cr_assert(doc, "no key %s", key);
    char *got = text_of(doc);
    cr_assert_str_eq(got, want, "key %s", key);
    free(got);
}

/* ---- a recorder of callback calls ---- */

#define MAX_CALLS 64
typedef struct call {
    char key[16];
    pw_origin origin;
    uint64_t version;
    char *patches;
    char *doc;
} call;

typedef struct rec {
    int n;
    call calls[MAX_CALLS];
    pw_store *store; /* for callbacks that try to change the store */
    uint64_t unsub;  /* id to unsubscribe from inside the callback */
    pw_err tried;
} rec;

static void record(const pw_change *ch, void *userdata)
{
    rec *r = userdata;
    cr_assert_lt(r->n, MAX_CALLS);
    call *c = &r->calls[r->n++];
    cr_assert_lt(ch->key_len, sizeof c->key);
    memcpy(c->key, ch->key, ch->key_len);
    c->key[ch->key_len] = '\0';
    c->origin = ch->origin;
    c->version = ch->version;
    c->patches = wire(ch->patches);
    c->doc = text_of(ch->doc);
    if (r->unsub) {
        pw_store_unsubscribe(r->store, r->unsub);
        r->unsub = 0;
    }
    if (r->store)
        r->tried = pw_store_set(r->store, K, &(pw_value){0}, pw_int(1), NULL);
}

static void rec_free(rec *r)
{
    for (int i = 0; i < r->n; i++) {
        free(r->calls[i].patches);
        free(r->calls[i].doc);
    }
    r->n = 0;
}

static rec sent; /* on_local of the store made by setup() */

static pw_store *setup_with(const char *doc, size_t max_history)
{
    memset(&sent, 0, sizeof sent);
    pw_store_options o;
    pw_store_options_init(&o);
    cr_assert_eq(o.max_history, 100);
    o.max_history = max_history;
    o.on_local = record;
    o.on_local_userdata = &sent;
    pw_store *s = pw_store_new(&o);
    cr_assert(s);
    cr_assert_eq(pw_store_create(s, K, json(doc)), PW_OK);
    return s;
}

static pw_store *setup(const char *doc)
{
    return setup_with(doc, 100);
}

static void teardown(pw_store *s)
{
    pw_store_free(s);
    rec_free(&sent);
}

static void sent_is(int i, const char *want)
{
    cr_assert_gt(sent.n, i, "only %d lists sent", sent.n);
    cr_assert_str_eq(sent.calls[i].patches, want, "list %d: %s", i, sent.calls[i].patches);
}

static pw_err set(pw_store *s, const char *path, pw_value v)
{
    pw_value p = json(path);
    pw_error err;
    pw_err rc = pw_store_set(s, K, &p, v, &err);
    pw_value_release(&p);
    return rc;
}

static pw_err insert(pw_store *s, const char *path, pw_value v)
{
    pw_value p = json(path);
    pw_err rc = pw_store_insert(s, K, &p, v, NULL);
    pw_value_release(&p);
    return rc;
}

static pw_err del(pw_store *s, const char *path)
{
    pw_value p = json(path);
    pw_err rc = pw_store_remove(s, K, &p, NULL);
    pw_value_release(&p);
    return rc;
}

/* ================================================================ keys */

Test(store_keys, create_get_has_count_key_at)
{
    pw_store *s = pw_store_new(NULL);
    cr_assert_eq(pw_store_count(s), 0);
    cr_assert_eq(pw_store_create(s, "b", 1, json("{\"x\":1}")), PW_OK);
    cr_assert_eq(pw_store_create(s, "a", 1, json("[]")), PW_OK);
    cr_assert(pw_store_has(s, "a", 1));
    cr_assert_not(pw_store_has(s, "c", 1));
    cr_assert_eq(pw_store_count(s), 2);
    size_t n = 0;
    const char *k0 = pw_store_key_at(s, 0, &n);
    cr_assert(n == 1 && k0[0] == 'b');
    const char *k1 = pw_store_key_at(s, 1, &n);
    cr_assert(n == 1 && k1[0] == 'a');
    cr_assert_null(pw_store_key_at(s, 2, &n));
    assert_doc(s, "b", "{\"x\":1}");
    cr_assert_null(pw_store_get(s, "c", 1));
    cr_assert_eq(pw_store_version(s, "b", 1), 0);
    pw_store_free(s);
}

Test(store_keys, duplicate_or_empty_key_is_refused)
{
    pw_store *s = pw_store_new(NULL);
    cr_assert_eq(pw_store_create(s, "k", 1, json("1")), PW_OK);
    cr_assert_eq(pw_store_create(s, "k", 1, json("[2]")), PW_EINVAL);
    cr_assert_eq(pw_store_create(s, "", 0, json("[3]")), PW_EINVAL);
    cr_assert_eq(pw_store_count(s), 1);
    assert_doc(s, "k", "1");
    pw_store_free(s);
}

Test(store_keys, thousands_of_keys_are_found)
{
    pw_store *s = pw_store_new(NULL);
    char key[32];
    for (int i = 0; i < 3000; i++) {
        int n = snprintf(key, sizeof key, "key-%d", i);
        cr_assert_eq(pw_store_create(s, key, (size_t)n, pw_int(i)), PW_OK);
    }
    for (int i = 0; i < 3000; i++) {
        int n = snprintf(key, sizeof key, "key-%d", i);
        const pw_value *v = pw_store_get(s, key, (size_t)n);
        cr_assert(v && pw_value_int(v) == i, "%s", key);
        size_t len;
        const char *at = pw_store_key_at(s, (size_t)i, &len);
        cr_assert(len == (size_t)n && memcmp(at, key, len) == 0);
    }
    cr_assert_not(pw_store_has(s, "key-3000", 8));
    pw_store_free(s);
}

Test(store_keys, unknown_key_is_an_error_naming_it)
{
    pw_store *s = pw_store_new(NULL);
    pw_value p = json("[\"a\"]");
    pw_error err;
    cr_assert_eq(pw_store_set(s, "nope", 4, &p, pw_int(1), &err), PW_EINVAL);
    cr_assert(strstr(err.msg, "nope"), "%s", err.msg);
    cr_assert_eq(pw_store_remove(s, "nope", 4, &p, NULL), PW_EINVAL);
    cr_assert_eq(pw_store_undo(s, "nope", 4, NULL), PW_EINVAL);
    pw_patches l = patches("[]");
    cr_assert_eq(pw_store_apply_remote(s, "nope", 4, &l, 3, NULL), PW_EINVAL);
    cr_assert_eq(pw_store_version(s, "nope", 4), 0);
    cr_assert_not(pw_store_can_undo(s, "nope", 4));
    pw_patches_clear(&l);
    pw_value_release(&p);
    pw_store_free(s);
}

/* ================================================================ edits */

Test(store_edit, set_object_member_sends_a_replace)
{
    pw_store *s = setup("{\"a\":{\"b\":1}}");
    cr_assert_eq(set(s, "[\"a\",\"b\"]", pw_int(2)), PW_OK);
    assert_doc(s, "app", "{\"a\":{\"b\":2}}");
    cr_assert_eq(sent.n, 1);
    sent_is(0, "[{\"op\":\"replace\",\"path\":[\"a\",\"b\"],\"value\":2}]");
    cr_assert_str_eq(sent.calls[0].key, "app");
    cr_assert_eq(sent.calls[0].origin, PW_ORIGIN_LOCAL);
    cr_assert_str_eq(sent.calls[0].doc, "{\"a\":{\"b\":2}}");
    teardown(s);
}

Test(store_edit, set_missing_member_creates_it)
{
    pw_store *s = setup("{\"a\":1}");
    cr_assert_eq(set(s, "[\"z\"]", pw_bool(true)), PW_OK);
    assert_doc(s, "app", "{\"a\":1,\"z\":true}");
    sent_is(0, "[{\"op\":\"replace\",\"path\":[\"z\"],\"value\":true}]");
    teardown(s);
}

Test(store_edit, set_array_element_and_string_index_becomes_int)
{
    pw_store *s = setup("{\"l\":[1,2,3]}");
    cr_assert_eq(set(s, "[\"l\",\"1\"]", pw_int(9)), PW_OK);
    assert_doc(s, "app", "{\"l\":[1,9,3]}");
    sent_is(0, "[{\"op\":\"replace\",\"path\":[\"l\",1],\"value\":9}]");
    teardown(s);
}

Test(store_edit, set_past_the_array_end_is_an_error)
{
    pw_store *s = setup("{\"l\":[1]}");
    pw_value p = json("[\"l\",1]");
    pw_error err;
    cr_assert_eq(pw_store_set(s, K, &p, pw_int(2), &err), PW_ERANGE);
    cr_assert(strstr(err.msg, "app") && strstr(err.msg, "/l/1"), "%s", err.msg);
    assert_doc(s, "app", "{\"l\":[1]}");
    cr_assert_eq(sent.n, 0);
    pw_value_release(&p);
    teardown(s);
}

Test(store_edit, set_empty_path_replaces_the_document)
{
    pw_store *s = setup("{\"a\":1}");
    cr_assert_eq(set(s, "[]", json("[1]")), PW_OK);
    assert_doc(s, "app", "[1]");
    sent_is(0, "[{\"op\":\"replace\",\"path\":[],\"value\":[1]}]");
    teardown(s);
}

Test(store_edit, insert_into_array_middle_and_end)
{
    pw_store *s = setup("{\"l\":[1,3]}");
    cr_assert_eq(insert(s, "[\"l\",1]", pw_int(2)), PW_OK);
    cr_assert_eq(insert(s, "[\"l\",3]", pw_int(4)), PW_OK);
    cr_assert_eq(insert(s, "[\"l\",5]", pw_int(5)), PW_ERANGE);
    assert_doc(s, "app", "{\"l\":[1,2,3,4]}");
    cr_assert_eq(sent.n, 2);
    sent_is(0, "[{\"op\":\"add\",\"path\":[\"l\",1],\"value\":2}]");
    sent_is(1, "[{\"op\":\"add\",\"path\":[\"l\",3],\"value\":4}]");
    teardown(s);
}

Test(store_edit, insert_object_member_is_an_add)
{
    pw_store *s = setup("{}");
    cr_assert_eq(insert(s, "[\"k\"]", json("{\"t\":\"milk\"}")), PW_OK);
    assert_doc(s, "app", "{\"k\":{\"t\":\"milk\"}}");
    sent_is(0, "[{\"op\":\"add\",\"path\":[\"k\"],\"value\":{\"t\":\"milk\"}}]");
    teardown(s);
}

Test(store_edit, remove_array_element_and_object_member)
{
    pw_store *s = setup("{\"l\":[1,2],\"m\":0}");
    cr_assert_eq(del(s, "[\"l\",0]"), PW_OK);
    cr_assert_eq(del(s, "[\"m\"]"), PW_OK);
    assert_doc(s, "app", "{\"l\":[2]}");
    sent_is(0, "[{\"op\":\"remove\",\"path\":[\"l\",0]}]");
    sent_is(1, "[{\"op\":\"remove\",\"path\":[\"m\"]}]");
    cr_assert_eq(del(s, "[\"m\"]"), PW_ENOPATH);
    cr_assert_eq(del(s, "[\"l\",1]"), PW_ERANGE);
    cr_assert_eq(del(s, "[]"), PW_EINVAL);
    cr_assert_eq(sent.n, 2);
    teardown(s);
}

Test(store_edit, bad_paths_are_errors)
{
    pw_store *s = setup("{\"a\":5,\"l\":[]}");
    pw_value p = json("\"a\"");
    pw_error err;
    cr_assert_eq(pw_store_set(s, K, &p, pw_int(1), &err), PW_ETYPE);
    cr_assert(strstr(err.msg, "app"), "%s", err.msg);
    pw_value_release(&p);
    cr_assert_eq(set(s, "[\"a\",\"b\"]", pw_int(1)), PW_ENOPATH); /* into a scalar */
    cr_assert_eq(set(s, "[\"x\",\"b\"]", pw_int(1)), PW_ENOPATH); /* missing parent */
    cr_assert_eq(set(s, "[\"l\",\"x\"]", pw_int(1)), PW_ENOPATH); /* not an index */
    cr_assert_eq(set(s, "[\"l\",-1]", pw_int(1)), PW_ETYPE);      /* negative */
    cr_assert_eq(set(s, "[true]", pw_int(1)), PW_ETYPE);          /* not a segment */
    cr_assert_eq(set(s, "[\"__proto__\"]", pw_int(1)), PW_EOP);   /* refused by apply */
    cr_assert_eq(insert(s, "[]", pw_int(1)), PW_EINVAL);
    cr_assert_eq(pw_store_set(s, K, NULL, pw_int(1), NULL), PW_EINVAL);
    assert_doc(s, "app", "{\"a\":5,\"l\":[]}");
    cr_assert_eq(sent.n, 0);
    cr_assert_not(pw_store_can_undo(s, K));
    teardown(s);
}

Test(store_edit, apply_immer_list_sends_it)
{
    pw_store *s = setup("{\"items\":[]}");
    pw_patches p =
        patches("[{\"op\":\"add\",\"path\":[\"items\",0],\"value\":{\"title\":\"milk\"}},"
                "{\"op\":\"replace\",\"path\":[\"n\"],\"value\":1}]");
    cr_assert_eq(pw_store_apply(s, K, &p, NULL), PW_OK);
    assert_doc(s, "app", "{\"items\":[{\"title\":\"milk\"}],\"n\":1}");
    sent_is(0, "[{\"op\":\"add\",\"path\":[\"items\",0],\"value\":{\"title\":\"milk\"}},"
               "{\"op\":\"replace\",\"path\":[\"n\"],\"value\":1}]");
    pw_patches_clear(&p);
    teardown(s);
}

Test(store_edit, apply_rfc_list_sends_immer_patches)
{
    pw_store *s = setup("{\"items\":[\"a\",\"b\"],\"x\":{\"y\":1}}");
    pw_patches p = patches("[{\"op\":\"test\",\"path\":\"/x/y\",\"value\":1},"
                           "{\"op\":\"move\",\"from\":\"/x/y\",\"path\":\"/items/1\"}]");
    cr_assert_eq(p.dialect, PW_DIALECT_RFC6902);
    cr_assert_eq(pw_store_apply(s, K, &p, NULL), PW_OK);
    assert_doc(s, "app", "{\"items\":[\"a\",1,\"b\"],\"x\":{}}");
    cr_assert_eq(sent.n, 1);
    /* the Immer equivalent of the result (a diff), not op by op */
    sent_is(0, "[{\"op\":\"add\",\"path\":[\"items\",1],\"value\":1},"
               "{\"op\":\"remove\",\"path\":[\"x\",\"y\"]}]");
    /* and its undo step is Immer too */
    cr_assert_eq(pw_store_undo(s, K, NULL), PW_OK);
    assert_doc(s, "app", "{\"items\":[\"a\",\"b\"],\"x\":{\"y\":1}}");
    cr_assert_eq(sent.n, 2);
    cr_assert(strchr(sent.calls[1].patches, '/') == NULL, "%s", sent.calls[1].patches);
    pw_patches_clear(&p);
    teardown(s);
}

Test(store_edit, failed_edit_changes_nothing_and_calls_nothing)
{
    pw_store *s = setup("{\"a\":1,\"l\":[1]}");
    rec subs = {0};
    cr_assert_gt(pw_store_subscribe(s, NULL, 0, NULL, record, &subs), 0);
    pw_patches p = patches("[{\"op\":\"replace\",\"path\":[\"a\"],\"value\":2},"
                           "{\"op\":\"remove\",\"path\":[\"l\",0]},"
                           "{\"op\":\"add\",\"path\":[\"nope\",\"x\"],\"value\":3}]");
    pw_error err;
    cr_assert_eq(pw_store_apply(s, K, &p, &err), PW_ENOPATH);
    cr_assert_eq(err.index, 2);
    cr_assert(strstr(err.msg, "app") && strstr(err.msg, "patch 2"), "%s", err.msg);
    assert_doc(s, "app", "{\"a\":1,\"l\":[1]}");
    cr_assert_eq(sent.n, 0);
    cr_assert_eq(subs.n, 0);
    cr_assert_not(pw_store_can_undo(s, K));
    pw_patches_clear(&p);
    rec_free(&subs);
    teardown(s);
}

Test(store_edit, empty_change_sends_nothing)
{
    pw_store *s = setup("{\"a\":1}");
    pw_patches p = patches("[{\"op\":\"test\",\"path\":\"/a\",\"value\":1}]");
    cr_assert_eq(pw_store_apply(s, K, &p, NULL), PW_OK);
    cr_assert_eq(sent.n, 0);
    cr_assert_not(pw_store_can_undo(s, K));
    pw_patches_clear(&p);
    teardown(s);
}

Test(store_edit, local_edits_keep_the_version)
{
    pw_store *s = setup("{}");
    cr_assert_eq(pw_store_fullsync(s, K, json("{}"), 7), PW_OK);
    cr_assert_eq(set(s, "[\"a\"]", pw_int(1)), PW_OK);
    cr_assert_eq(pw_store_version(s, K), 7);
    cr_assert_eq(sent.calls[0].version, 7);
    teardown(s);
}

/* ================================================================ transactions */

Test(store_txn, commit_sends_one_list_per_key_with_all_patches)
{
    pw_store *s = setup("{\"n\":0,\"l\":[]}");
    cr_assert_eq(pw_store_create(s, "b", 1, json("{}")), PW_OK);
    cr_assert_eq(pw_store_begin(s), PW_OK);
    cr_assert_eq(set(s, "[\"n\"]", pw_int(1)), PW_OK);
    cr_assert_eq(pw_store_begin(s), PW_OK);
    cr_assert_eq(pw_store_transaction_depth(s), 2);
    cr_assert_eq(insert(s, "[\"l\",0]", pw_int(5)), PW_OK);
    pw_value p = json("[\"x\"]");
    cr_assert_eq(pw_store_set(s, "b", 1, &p, pw_int(9), NULL), PW_OK);
    pw_value_release(&p);
    cr_assert_eq(pw_store_commit(s), PW_OK);
    cr_assert_eq(set(s, "[\"n\"]", pw_int(2)), PW_OK);
    cr_assert_eq(sent.n, 0, "nothing is sent before the outermost commit");
    cr_assert_eq(pw_store_commit(s), PW_OK);
    cr_assert_eq(pw_store_transaction_depth(s), 0);
    cr_assert_eq(sent.n, 2);
    cr_assert_str_eq(sent.calls[0].key, "app");
    sent_is(0, "[{\"op\":\"replace\",\"path\":[\"n\"],\"value\":1},"
               "{\"op\":\"add\",\"path\":[\"l\",0],\"value\":5},"
               "{\"op\":\"replace\",\"path\":[\"n\"],\"value\":2}]");
    cr_assert_str_eq(sent.calls[1].key, "b");
    sent_is(1, "[{\"op\":\"replace\",\"path\":[\"x\"],\"value\":9}]");
    assert_doc(s, "app", "{\"n\":2,\"l\":[5]}");
    assert_doc(s, "b", "{\"x\":9}");
    teardown(s);
}

Test(store_txn, subscribers_are_told_at_once_inside_a_transaction)
{
    pw_store *s = setup("{\"n\":0}");
    rec subs = {0};
    pw_store_subscribe(s, K, NULL, record, &subs);
    pw_store_begin(s);
    cr_assert_eq(set(s, "[\"n\"]", pw_int(1)), PW_OK);
    cr_assert_eq(subs.n, 1);
    cr_assert_eq(subs.calls[0].origin, PW_ORIGIN_LOCAL);
    pw_store_commit(s);
    cr_assert_eq(subs.n, 1, "commit does not tell subscribers again");
    rec_free(&subs);
    teardown(s);
}

Test(store_txn, abort_restores_exactly_and_sends_nothing)
{
    pw_store *s = setup("{\"a\":1,\"b\":2,\"c\":[1,2]}");
    rec subs = {0};
    pw_store_subscribe(s, K, NULL, record, &subs);
    pw_store_begin(s);
    cr_assert_eq(del(s, "[\"a\"]"), PW_OK);
    cr_assert_eq(insert(s, "[\"c\",0]", pw_int(0)), PW_OK);
    cr_assert_eq(set(s, "[\"d\"]", pw_int(4)), PW_OK);
    cr_assert_eq(pw_store_abort(s), PW_OK);
    cr_assert_eq(pw_store_transaction_depth(s), 0);
    assert_doc(s, "app", "{\"a\":1,\"b\":2,\"c\":[1,2]}"); /* key order too */
    cr_assert_eq(sent.n, 0);
    cr_assert_eq(subs.n, 4);
    cr_assert_eq(subs.calls[3].origin, PW_ORIGIN_LOCAL);
    cr_assert_str_eq(subs.calls[3].patches, "[{\"op\":\"remove\",\"path\":[\"d\"]},"
                                            "{\"op\":\"remove\",\"path\":[\"c\",0]},"
                                            "{\"op\":\"add\",\"path\":[\"a\"],\"value\":1}]");
    cr_assert_str_eq(subs.calls[3].doc, "{\"a\":1,\"b\":2,\"c\":[1,2]}");
    cr_assert_not(pw_store_can_undo(s, K));
    rec_free(&subs);
    teardown(s);
}

Test(store_txn, nested_abort_inside_a_committed_outer_keeps_the_outer_edits)
{
    pw_store *s = setup("{\"n\":0,\"m\":0}");
    cr_assert_eq(pw_store_create(s, "b", 1, json("[]")), PW_OK);
    pw_value at0 = json("[0]");
    pw_store_begin(s);
    cr_assert_eq(set(s, "[\"n\"]", pw_int(1)), PW_OK);
    pw_store_begin(s);
    cr_assert_eq(set(s, "[\"n\"]", pw_int(2)), PW_OK);
    cr_assert_eq(set(s, "[\"m\"]", pw_int(2)), PW_OK);
    cr_assert_eq(pw_store_insert(s, "b", 1, &at0, pw_int(1), NULL), PW_OK);
    cr_assert_eq(pw_store_abort(s), PW_OK);
    assert_doc(s, "app", "{\"n\":1,\"m\":0}");
    assert_doc(s, "b", "[]");
    cr_assert_eq(set(s, "[\"m\"]", pw_int(3)), PW_OK);
    cr_assert_eq(pw_store_commit(s), PW_OK);
    assert_doc(s, "app", "{\"n\":1,\"m\":3}");
    cr_assert_eq(sent.n, 1, "key b had no committed change");
    sent_is(0, "[{\"op\":\"replace\",\"path\":[\"n\"],\"value\":1},"
               "{\"op\":\"replace\",\"path\":[\"m\"],\"value\":3}]");
    cr_assert_not(pw_store_can_undo(s, "b", 1));
    cr_assert_eq(pw_store_undo(s, K, NULL), PW_OK);
    assert_doc(s, "app", "{\"n\":0,\"m\":0}");
    pw_value_release(&at0);
    teardown(s);
}

Test(store_txn, inner_commit_then_outer_abort_restores_everything)
{
    pw_store *s = setup("{\"n\":0}");
    pw_store_begin(s);
    pw_store_begin(s);
    cr_assert_eq(set(s, "[\"n\"]", pw_int(1)), PW_OK);
    pw_store_commit(s);
    cr_assert_eq(set(s, "[\"o\"]", pw_int(1)), PW_OK);
    pw_store_abort(s);
    assert_doc(s, "app", "{\"n\":0}");
    cr_assert_eq(sent.n, 0);
    teardown(s);
}

Test(store_txn, misuse_is_refused)
{
    pw_store *s = setup("{}");
    cr_assert_eq(pw_store_commit(s), PW_EINVAL);
    cr_assert_eq(pw_store_abort(s), PW_EINVAL);
    pw_store_begin(s);
    pw_patches p = patches("[]");
    cr_assert_eq(pw_store_apply_remote(s, K, &p, 1, NULL), PW_EINVAL);
    cr_assert_eq(pw_store_fullsync(s, K, json("[]"), 1), PW_EINVAL);
    cr_assert_eq(pw_store_undo(s, K, NULL), PW_EINVAL);
    cr_assert_eq(pw_store_redo(s, K, NULL), PW_EINVAL);
    pw_store_commit(s);
    assert_doc(s, "app", "{}");
    pw_patches_clear(&p);
    teardown(s);
}

Test(store_txn, a_failed_edit_inside_keeps_the_transaction)
{
    pw_store *s = setup("{\"l\":[]}");
    pw_store_begin(s);
    cr_assert_eq(set(s, "[\"n\"]", pw_int(1)), PW_OK);
    pw_patches p = patches("[{\"op\":\"replace\",\"path\":[\"n\"],\"value\":7},"
                           "{\"op\":\"remove\",\"path\":[\"x\",\"y\"]}]");
    cr_assert_eq(pw_store_apply(s, K, &p, NULL), PW_ENOPATH);
    pw_store_commit(s);
    sent_is(0, "[{\"op\":\"replace\",\"path\":[\"n\"],\"value\":1}]");
    assert_doc(s, "app", "{\"l\":[],\"n\":1}");
    pw_patches_clear(&p);
    teardown(s);
}

/* ================================================================ history */

Test(store_history, each_edit_is_one_undo_step)
{
    pw_store *s = setup("{\"n\":0}");
    set(s, "[\"n\"]", pw_int(1));
    set(s, "[\"n\"]", pw_int(2));
    cr_assert(pw_store_can_undo(s, K));
    cr_assert_not(pw_store_can_redo(s, K));
    cr_assert_eq(pw_store_undo(s, K, NULL), PW_OK);
    assert_doc(s, "app", "{\"n\":1}");
    cr_assert_eq(pw_store_undo(s, K, NULL), PW_OK);
    assert_doc(s, "app", "{\"n\":0}");
    pw_error err;
    cr_assert_eq(pw_store_undo(s, K, &err), PW_ERANGE);
    cr_assert(strstr(err.msg, "app"), "%s", err.msg);
    cr_assert_eq(pw_store_redo(s, K, NULL), PW_OK);
    cr_assert_eq(pw_store_redo(s, K, NULL), PW_OK);
    assert_doc(s, "app", "{\"n\":2}");
    cr_assert_eq(pw_store_redo(s, K, NULL), PW_ERANGE);
    teardown(s);
}

Test(store_history, undo_and_redo_send_their_patches)
{
    pw_store *s = setup("{\"l\":[1]}");
    rec subs = {0};
    pw_store_subscribe(s, K, NULL, record, &subs);
    insert(s, "[\"l\",0]", pw_int(0));
    cr_assert_eq(pw_store_undo(s, K, NULL), PW_OK);
    cr_assert_eq(pw_store_redo(s, K, NULL), PW_OK);
    cr_assert_eq(sent.n, 3);
    sent_is(1, "[{\"op\":\"remove\",\"path\":[\"l\",0]}]");
    sent_is(2, "[{\"op\":\"add\",\"path\":[\"l\",0],\"value\":0}]");
    cr_assert_eq(sent.calls[1].origin, PW_ORIGIN_LOCAL);
    cr_assert_eq(subs.n, 3);
    cr_assert_str_eq(subs.calls[1].patches, sent.calls[1].patches);
    assert_doc(s, "app", "{\"l\":[0,1]}");
    rec_free(&subs);
    teardown(s);
}

Test(store_history, a_new_edit_clears_redo)
{
    pw_store *s = setup("{\"n\":0}");
    set(s, "[\"n\"]", pw_int(1));
    pw_store_undo(s, K, NULL);
    cr_assert(pw_store_can_redo(s, K));
    set(s, "[\"m\"]", pw_int(1));
    cr_assert_not(pw_store_can_redo(s, K));
    cr_assert_eq(pw_store_redo(s, K, NULL), PW_ERANGE);
    teardown(s);
}

Test(store_history, a_transaction_is_one_step)
{
    pw_store *s = setup("{\"l\":[]}");
    pw_store_begin(s);
    insert(s, "[\"l\",0]", pw_int(1));
    insert(s, "[\"l\",1]", pw_int(2));
    set(s, "[\"t\"]", pw_int(3));
    pw_store_commit(s);
    cr_assert_eq(pw_store_undo(s, K, NULL), PW_OK);
    assert_doc(s, "app", "{\"l\":[]}");
    sent_is(1, "[{\"op\":\"remove\",\"path\":[\"t\"]},"
               "{\"op\":\"remove\",\"path\":[\"l\",1]},"
               "{\"op\":\"remove\",\"path\":[\"l\",0]}]");
    cr_assert_not(pw_store_can_undo(s, K));
    cr_assert_eq(pw_store_redo(s, K, NULL), PW_OK);
    assert_doc(s, "app", "{\"l\":[1,2],\"t\":3}");
    teardown(s);
}

Test(store_history, max_history_drops_the_oldest)
{
    pw_store *s = setup_with("{\"n\":0}", 3);
    for (int i = 1; i <= 5; i++)
        set(s, "[\"n\"]", pw_int(i));
    for (int i = 0; i < 3; i++)
        cr_assert_eq(pw_store_undo(s, K, NULL), PW_OK);
    cr_assert_eq(pw_store_undo(s, K, NULL), PW_ERANGE);
    assert_doc(s, "app", "{\"n\":2}");
    teardown(s);
}

Test(store_history, zero_max_history_keeps_none)
{
    pw_store *s = setup_with("{\"n\":0}", 0);
    set(s, "[\"n\"]", pw_int(1));
    pw_store_begin(s);
    set(s, "[\"n\"]", pw_int(2));
    pw_store_commit(s);
    cr_assert_not(pw_store_can_undo(s, K));
    cr_assert_eq(pw_store_undo(s, K, NULL), PW_ERANGE);
    cr_assert_eq(sent.n, 2);
    teardown(s);
}

Test(store_history, a_step_that_no_longer_applies_is_dropped)
{
    pw_store *s = setup("{\"a\":{\"b\":1}}");
    set(s, "[\"a\",\"b\"]", pw_int(2));
    set(s, "[\"c\"]", pw_int(1));
    pw_patches p = patches("[{\"op\":\"remove\",\"path\":[\"a\"]}]");
    cr_assert_eq(pw_store_apply_remote(s, K, &p, 5, NULL), PW_OK);
    cr_assert_eq(pw_store_undo(s, K, NULL), PW_OK); /* removes c */
    pw_error err;
    cr_assert_eq(pw_store_undo(s, K, &err), PW_ENOPATH);
    cr_assert(strstr(err.msg, "dropped") && strstr(err.msg, "app"), "%s", err.msg);
    cr_assert_not(pw_store_can_undo(s, K));
    assert_doc(s, "app", "{}");
    cr_assert_eq(sent.n, 3);
    pw_patches_clear(&p);
    teardown(s);
}

/* ================================================================ from the hub */

Test(store_remote, fullsync_replaces_sets_version_and_clears_history)
{
    pw_store *s = setup("{\"n\":0}");
    rec subs = {0};
    pw_value at = json("[\"n\"]");
    pw_store_subscribe(s, K, &at, record, &subs);
    set(s, "[\"n\"]", pw_int(1));
    set(s, "[\"n\"]", pw_int(2));
    pw_store_undo(s, K, NULL);
    cr_assert_eq(pw_store_fullsync(s, K, json("{\"z\":1}"), 12), PW_OK);
    assert_doc(s, "app", "{\"z\":1}");
    cr_assert_eq(pw_store_version(s, K), 12);
    cr_assert_not(pw_store_can_undo(s, K));
    cr_assert_not(pw_store_can_redo(s, K));
    cr_assert_eq(sent.n, 3, "a fullsync is not sent back");
    cr_assert_eq(subs.n, 4, "a fullsync reaches every subscriber of the key");
    cr_assert_eq(subs.calls[3].origin, PW_ORIGIN_FULLSYNC);
    cr_assert_eq(subs.calls[3].version, 12);
    cr_assert_str_eq(subs.calls[3].patches,
                     "[{\"op\":\"replace\",\"path\":[],\"value\":{\"z\":1}}]");
    pw_value_release(&at);
    rec_free(&subs);
    teardown(s);
}

Test(store_remote, fullsync_creates_an_unknown_key)
{
    pw_store *s = pw_store_new(NULL);
    cr_assert_eq(pw_store_fullsync(s, "new", 3, json("[1]"), 4), PW_OK);
    cr_assert_eq(pw_store_count(s), 1);
    assert_doc(s, "new", "[1]");
    cr_assert_eq(pw_store_version(s, "new", 3), 4);
    cr_assert_eq(pw_store_fullsync(s, "", 0, json("[1]"), 4), PW_EINVAL);
    pw_store_free(s);
}

Test(store_remote, apply_remote_sets_version_without_history_or_sending)
{
    pw_store *s = setup("{\"l\":[]}");
    rec subs = {0};
    pw_store_subscribe(s, K, NULL, record, &subs);
    pw_patches p = patches("[{\"op\":\"add\",\"path\":[\"l\",0],\"value\":1}]");
    cr_assert_eq(pw_store_apply_remote(s, K, &p, 3, NULL), PW_OK);
    assert_doc(s, "app", "{\"l\":[1]}");
    cr_assert_eq(pw_store_version(s, K), 3);
    cr_assert_eq(sent.n, 0);
    cr_assert_not(pw_store_can_undo(s, K));
    cr_assert_eq(subs.n, 1);
    cr_assert_eq(subs.calls[0].origin, PW_ORIGIN_REMOTE);
    cr_assert_eq(subs.calls[0].version, 3);
    cr_assert_str_eq(subs.calls[0].patches, "[{\"op\":\"add\",\"path\":[\"l\",0],\"value\":1}]");
    pw_patches_clear(&p);
    rec_free(&subs);
    teardown(s);
}

Test(store_remote, apply_remote_rfc_tells_immer_and_a_failure_changes_nothing)
{
    pw_store *s = setup("{\"l\":[1]}");
    rec subs = {0};
    pw_store_subscribe(s, K, NULL, record, &subs);
    pw_patches p = patches("[{\"op\":\"add\",\"path\":\"/l/-\",\"value\":2}]");
    cr_assert_eq(pw_store_apply_remote(s, K, &p, 1, NULL), PW_OK);
    cr_assert_str_eq(subs.calls[0].patches, "[{\"op\":\"add\",\"path\":[\"l\",1],\"value\":2}]");
    pw_patches_clear(&p);
    p = patches("[{\"op\":\"add\",\"path\":\"/l/-\",\"value\":3},"
                "{\"op\":\"test\",\"path\":\"/l/0\",\"value\":9}]");
    pw_error err;
    cr_assert_eq(pw_store_apply_remote(s, K, &p, 2, &err), PW_ETEST);
    cr_assert(strstr(err.msg, "app"), "%s", err.msg);
    assert_doc(s, "app", "{\"l\":[1,2]}");
    cr_assert_eq(pw_store_version(s, K), 1);
    cr_assert_eq(subs.n, 1);
    pw_patches_clear(&p);
    rec_free(&subs);
    teardown(s);
}

/* ================================================================ subscriptions */

Test(store_subs, fire_once_per_change_with_all_its_patches)
{
    pw_store *s = setup("{\"a\":0,\"b\":0}");
    rec subs = {0};
    cr_assert_gt(pw_store_subscribe(s, K, NULL, record, &subs), 0);
    pw_patches p = patches("[{\"op\":\"replace\",\"path\":[\"a\"],\"value\":1},"
                           "{\"op\":\"replace\",\"path\":[\"b\"],\"value\":1}]");
    cr_assert_eq(pw_store_apply(s, K, &p, NULL), PW_OK);
    cr_assert_eq(subs.n, 1);
    cr_assert_str_eq(subs.calls[0].patches, sent.calls[0].patches);
    cr_assert_str_eq(subs.calls[0].doc, "{\"a\":1,\"b\":1}");
    pw_patches_clear(&p);
    rec_free(&subs);
    teardown(s);
}

Test(store_subs, prefix_matches_parents_and_children_not_siblings)
{
    pw_store *s = setup("{\"todos\":[{\"t\":\"a\",\"done\":false}],\"user\":{\"name\":\"x\"}}");
    rec mine = {0};
    pw_value prefix = json("[\"todos\",\"0\"]"); /* string "0" matches index 0 */
    pw_store_subscribe(s, K, &prefix, record, &mine);
    pw_value_release(&prefix); /* copied by subscribe */
    set(s, "[\"user\",\"name\"]", json("\"y\""));
    cr_assert_eq(mine.n, 0, "a sibling path is not notified");
    set(s, "[\"todos\",0,\"done\"]", pw_bool(true));
    cr_assert_eq(mine.n, 1, "a child path is notified");
    set(s, "[\"todos\"]", json("[]"));
    cr_assert_eq(mine.n, 2, "a parent path is notified");
    insert(s, "[\"todos\",0]", json("{}"));
    cr_assert_eq(mine.n, 3, "the same path is notified");
    set(s, "[]", json("{}"));
    cr_assert_eq(mine.n, 4, "the root is everyone's parent");
    rec_free(&mine);
    teardown(s);
}

Test(store_subs, key_filter_and_any_key)
{
    pw_store *s = setup("{}");
    pw_store_create(s, "b", 1, json("{}"));
    rec only_b = {0}, any = {0};
    pw_store_subscribe(s, "b", 1, NULL, record, &only_b);
    pw_store_subscribe(s, NULL, 0, NULL, record, &any);
    pw_value p = json("[\"x\"]");
    set(s, "[\"x\"]", pw_int(1));
    pw_store_set(s, "b", 1, &p, pw_int(2), NULL);
    cr_assert_eq(only_b.n, 1);
    cr_assert_str_eq(only_b.calls[0].key, "b");
    cr_assert_eq(any.n, 2);
    cr_assert_str_eq(any.calls[0].key, "app");
    pw_value_release(&p);
    rec_free(&only_b);
    rec_free(&any);
    teardown(s);
}

Test(store_subs, unsubscribe_inside_a_callback_is_safe)
{
    pw_store *s = setup("{}");
    rec a = {0}, b = {0};
    a.store = s;
    uint64_t ida = pw_store_subscribe(s, K, NULL, record, &a);
    uint64_t idb = pw_store_subscribe(s, K, NULL, record, &b);
    cr_assert_neq(ida, idb);
    a.unsub = ida; /* a removes itself */
    set(s, "[\"x\"]", pw_int(1));
    cr_assert_eq(a.n, 1);
    cr_assert_eq(b.n, 1, "the others still hear of the change");
    cr_assert_eq(a.tried, PW_EINVAL, "a callback may not change the store");
    set(s, "[\"x\"]", pw_int(2));
    cr_assert_eq(a.n, 1);
    cr_assert_eq(b.n, 2);
    pw_store_unsubscribe(s, idb);
    set(s, "[\"x\"]", pw_int(3));
    cr_assert_eq(b.n, 2);
    assert_doc(s, "app", "{\"x\":3}");
    rec_free(&a);
    rec_free(&b);
    teardown(s);
}

Test(store_subs, bad_subscriptions_are_refused)
{
    pw_store *s = setup("{}");
    rec r = {0};
    pw_value bad = json("\"x\"");
    cr_assert_eq(pw_store_subscribe(s, K, &bad, record, &r), 0);
    cr_assert_eq(pw_store_subscribe(s, K, NULL, NULL, &r), 0);
    pw_value_release(&bad);
    teardown(s);
}

/* ================================================================ property */

/* A random existing path of doc (as segments), possibly the root. */
static pw_value random_path(const pw_value *doc, bool *parent_is_array)
{
    pw_value path;
    cr_assert_eq(pw_array_new(&path, 4), PW_OK);
    const pw_value *cur = doc;
    *parent_is_array = false;
    for (;;) {
        size_t n = pw_value_len(cur);
        pw_kind k = pw_value_kind(cur);
        if ((k != PW_ARRAY && k != PW_OBJECT) || !n || randdoc_below(3) == 0)
            return path;
        size_t i = randdoc_below(n);
        if (k == PW_ARRAY) {
            pw_array_push(&path, pw_int((int64_t)i));
            cur = pw_array_get(cur, i);
        } else {
            const pw_value *key, *val;
            pw_object_at(cur, i, &key, &val);
            pw_array_push(&path, pw_value_retain(*key));
            cur = val;
        }
        *parent_is_array = k == PW_ARRAY;
    }
}

static void random_edit(pw_store *s)
{
    bool in_array;
    pw_value path = random_path(pw_store_get(s, K), &in_array);
    size_t n = pw_value_len(&path);
    pw_err rc;
    switch (randdoc_below(3)) {
    case 0:
        rc = pw_store_set(s, K, &path, randdoc_value(2, NULL), NULL);
        break;
    case 1:
        if (!n) {
            rc = pw_store_set(s, K, &path, randdoc_value(3, NULL), NULL);
            break;
        }
        rc = pw_store_insert(s, K, &path, randdoc_value(2, NULL), NULL);
        break;
    default:
        rc = n ? pw_store_remove(s, K, &path, NULL) : PW_OK;
        break;
    }
    cr_assert_eq(rc, PW_OK);
    pw_value_release(&path);
}

/* Applies each change's patches to a copy, as a peer would. */
static void mirror(const pw_change *ch, void *userdata)
{
    pw_error err;
    cr_assert_eq(pw_patches_apply(userdata, ch->patches, NULL, &err), PW_OK, "%s", err.msg);
}

Test(store_property, undo_all_gives_the_start_redo_all_gives_the_end)
{
    randdoc_seed(0x5eed5eedu);
    for (int round = 0; round < 200; round++) {
        pw_value start = randdoc_value(3, NULL);
        /* what a hub would hold (on_local) and what a view would show */
        pw_value sent_copy = pw_value_retain(start), told_copy = pw_value_retain(start);
        pw_store_options o;
        pw_store_options_init(&o);
        o.max_history = 1000;
        o.on_local = mirror;
        o.on_local_userdata = &sent_copy;
        pw_store *s = pw_store_new(&o);
        cr_assert_eq(pw_store_create(s, K, pw_value_retain(start)), PW_OK);
        pw_store_subscribe(s, K, NULL, mirror, &told_copy);
        size_t ops = 1 + randdoc_below(30);
        for (size_t i = 0; i < ops; i++) {
            size_t what = randdoc_below(10);
            if (what < 2)
                pw_store_undo(s, K, NULL); /* PW_ERANGE is fine */
            else if (what < 3)
                pw_store_redo(s, K, NULL);
            else if (what < 4) {
                pw_value before = pw_value_retain(*pw_store_get(s, K));
                pw_store_begin(s);
                size_t m = randdoc_below(4);
                for (size_t j = 0; j < m; j++)
                    random_edit(s);
                if (randdoc_below(4) == 0) {
                    pw_store_abort(s);
                    cr_assert(pw_value_equal(pw_store_get(s, K), &before), "round %d: abort",
                              round);
                } else {
                    pw_store_commit(s);
                }
                pw_value_release(&before);
            } else
                random_edit(s);
            cr_assert(pw_value_equal(pw_store_get(s, K), &sent_copy), "round %d: sent", round);
            cr_assert(pw_value_equal(pw_store_get(s, K), &told_copy), "round %d: told", round);
        }
        pw_value end = pw_value_retain(*pw_store_get(s, K));
        size_t undone = 0;
        pw_err rc;
        while ((rc = pw_store_undo(s, K, NULL)) == PW_OK)
            undone++;
        cr_assert_eq(rc, PW_ERANGE, "round %d", round);
        cr_assert(pw_value_equal(pw_store_get(s, K), &start), "round %d: undo all", round);
        for (size_t i = 0; i < undone; i++)
            cr_assert_eq(pw_store_redo(s, K, NULL), PW_OK, "round %d", round);
        cr_assert(pw_value_equal(pw_store_get(s, K), &end), "round %d: redo all", round);
        cr_assert(pw_value_equal(&sent_copy, &end), "round %d: sent after redo", round);
        pw_value_release(&start);
        pw_value_release(&end);
        pw_value_release(&sent_copy);
        pw_value_release(&told_copy);
        pw_store_free(s);
    }
}

Test(store_property, rfc_lists_are_sent_as_equivalent_immer_lists)
{
    randdoc_seed(0xabcdef12u);
    for (int round = 0; round < 300; round++) {
        pw_value a = randdoc_value(3, NULL), b = pw_value_retain(a);
        randdoc_mutate(&b, 3);
        pw_patches d;
        pw_patches_init(&d, PW_DIALECT_RFC6902);
        cr_assert_eq(pw_diff(&a, &b, &d), PW_OK);
        pw_value sent_copy = pw_value_retain(a);
        pw_store_options o;
        pw_store_options_init(&o);
        o.on_local = mirror;
        o.on_local_userdata = &sent_copy;
        pw_store *s = pw_store_new(&o);
        cr_assert_eq(pw_store_create(s, K, pw_value_retain(a)), PW_OK);
        cr_assert_eq(pw_store_apply(s, K, &d, NULL), PW_OK);
        cr_assert(pw_value_equal(pw_store_get(s, K), &b), "round %d", round);
        cr_assert(pw_value_equal(&sent_copy, &b), "round %d: sent", round);
        if (pw_store_can_undo(s, K)) {
            cr_assert_eq(pw_store_undo(s, K, NULL), PW_OK);
            cr_assert(pw_value_equal(pw_store_get(s, K), &a), "round %d: undo", round);
            cr_assert(pw_value_equal(&sent_copy, &a), "round %d: undo sent", round);
        }
        pw_patches_clear(&d);
        pw_value_release(&a);
        pw_value_release(&b);
        pw_value_release(&sent_copy);
        pw_store_free(s);
    }
}
