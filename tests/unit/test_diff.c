/* diff: the patches that turn a into b, checked as wire text and by applying. */
#include <criterion/criterion.h>
#include <string.h>

#include "patchwire/codec.h"
#include "patchwire/patch.h"

static pw_value json(const char *s)
{
    pw_value v;
    pw_error err;
    cr_assert_eq(pw_codec_json.decode((const uint8_t *)s, strlen(s), NULL, &v, &err), PW_OK,
                 "%s: %s", s, err.msg);
    return v;
}

/* diff(a, b) must print as `want`, and apply to a giving b. */
static void check(pw_dialect dialect, const char *a_text, const char *b_text, const char *want)
{
    pw_value a = json(a_text), b = json(b_text), wire;
    pw_patches d;
    pw_patches_init(&d, dialect);
    cr_assert_eq(pw_diff(&a, &b, &d), PW_OK);
    cr_assert_eq(pw_patches_to_value(&d, &wire), PW_OK);
    pw_buf text = {0};
    cr_assert_eq(pw_codec_json.encode(&wire, &text, NULL), PW_OK);
    cr_assert(text.len == strlen(want) && memcmp(text.data, want, text.len) == 0,
              "diff %s -> %s\n  got:  %.*s\n  want: %s", a_text, b_text, (int)text.len,
              text.data, want);
    pw_error err;
    cr_assert_eq(pw_patches_apply(&a, &d, NULL, &err), PW_OK, "%s", err.msg);
    cr_assert(pw_value_equal(&a, &b), "applying the diff of %s -> %s", a_text, b_text);
    pw_buf_free(&text);
    pw_value_release(&wire);
    pw_patches_clear(&d);
    pw_value_release(&a);
    pw_value_release(&b);
}

static void immer(const char *a, const char *b, const char *want)
{
    check(PW_DIALECT_IMMER, a, b, want);
}

Test(diff, equal_documents_give_no_patches)
{
    immer("{\"a\":[1,2,{\"b\":null}]}", "{\"a\":[1,2,{\"b\":null}]}", "[]");
    immer("1", "1.0", "[]");
    immer("{\"x\":1,\"y\":2}", "{\"y\":2,\"x\":1}", "[]");
}

Test(diff, scalar_and_kind_changes_replace)
{
    immer("1", "2", "[{\"op\":\"replace\",\"path\":[],\"value\":2}]");
    immer("{\"a\":1}", "[1]", "[{\"op\":\"replace\",\"path\":[],\"value\":[1]}]");
    immer("{\"a\":{\"b\":\"x\"}}", "{\"a\":{\"b\":\"y\"}}",
          "[{\"op\":\"replace\",\"path\":[\"a\",\"b\"],\"value\":\"y\"}]");
    immer("{\"a\":[1]}", "{\"a\":{\"0\":1}}",
          "[{\"op\":\"replace\",\"path\":[\"a\"],\"value\":{\"0\":1}}]");
}

Test(diff, object_keys_removed_then_added_in_b_order)
{
    immer("{\"a\":1,\"b\":2}", "{\"b\":2,\"c\":3,\"d\":4}",
          "[{\"op\":\"remove\",\"path\":[\"a\"]},"
          "{\"op\":\"add\",\"path\":[\"c\"],\"value\":3},"
          "{\"op\":\"add\",\"path\":[\"d\"],\"value\":4}]");
}

Test(diff, array_append_and_insert_use_prefix_and_suffix)
{
    immer("[1,2]", "[1,2,3]", "[{\"op\":\"add\",\"path\":[2],\"value\":3}]");
    immer("[1,2,3]", "[1,9,2,3]", "[{\"op\":\"add\",\"path\":[1],\"value\":9}]");
    immer("[1,2,3]", "[0,1,2,3]", "[{\"op\":\"add\",\"path\":[0],\"value\":0}]");
}

Test(diff, array_shrink_removes_in_descending_order)
{
    immer("[1,2,3,4,5]", "[1,5]",
          "[{\"op\":\"remove\",\"path\":[3]},{\"op\":\"remove\",\"path\":[2]},"
          "{\"op\":\"remove\",\"path\":[1]}]");
    immer("[1,2,3,4]", "[1,7,4]",
          "[{\"op\":\"replace\",\"path\":[1],\"value\":7},{\"op\":\"remove\",\"path\":[2]}]");
}

Test(diff, nested_array_elements_are_diffed_in_place)
{
    immer("{\"items\":[{\"t\":\"a\",\"done\":false},{\"t\":\"b\",\"done\":false}]}",
          "{\"items\":[{\"t\":\"a\",\"done\":false},{\"t\":\"b\",\"done\":true}]}",
          "[{\"op\":\"replace\",\"path\":[\"items\",1,\"done\"],\"value\":true}]");
}

Test(diff, rfc6902_paths_are_pointers)
{
    check(PW_DIALECT_RFC6902, "{\"a/b\":[1,2],\"~\":0}", "{\"a/b\":[1],\"~\":1}",
          "[{\"op\":\"remove\",\"path\":\"/a~1b/1\"},"
          "{\"op\":\"replace\",\"path\":\"/~0\",\"value\":1}]");
}

Test(diff, edit_of_a_snapshot_of_a_large_state_yields_one_patch)
{
    pw_value items, a;
    cr_assert_eq(pw_array_new(&items, 10000), PW_OK);
    for (int i = 0; i < 10000; i++) {
        pw_value item;
        cr_assert_eq(pw_object_new(&item, 3), PW_OK);
        cr_assert_eq(pw_object_set_str(&item, "id", 2, pw_int(i), NULL), PW_OK);
        cr_assert_eq(pw_object_set_str(&item, "done", 4, pw_bool(false), NULL), PW_OK);
        cr_assert_eq(pw_array_push(&items, item), PW_OK);
    }
    cr_assert_eq(pw_object_new(&a, 1), PW_OK);
    cr_assert_eq(pw_object_set_str(&a, "items", 5, items, NULL), PW_OK);
    pw_value b = pw_value_retain(a);
    pw_value *it = pw_array_get_mut(pw_object_get_mut(&b, "items", 5), 5000);
    cr_assert_eq(pw_object_set_str(it, "done", 4, pw_bool(true), NULL), PW_OK);

    pw_patches d;
    pw_patches_init(&d, PW_DIALECT_IMMER);
    cr_assert_eq(pw_diff(&a, &b, &d), PW_OK);
    cr_assert_eq(d.len, 1);
    cr_assert_eq(d.items[0].op, PW_OP_REPLACE);
    cr_assert_eq(pw_value_int(pw_array_get(&d.items[0].path, 1)), 5000);
    pw_patches_clear(&d);
    pw_value_release(&a);
    pw_value_release(&b);
}

Test(diff, appends_to_a_list_already_holding_patches)
{
    pw_value a = json("[1]"), b = json("[2]");
    pw_patches d;
    pw_patches_init(&d, PW_DIALECT_IMMER);
    cr_assert_eq(pw_diff(&a, &b, &d), PW_OK);
    cr_assert_eq(pw_diff(&b, &a, &d), PW_OK);
    cr_assert_eq(d.len, 2);
    cr_assert_eq(pw_patches_apply(&a, &d, NULL, NULL), PW_OK);
    cr_assert_eq(pw_value_int(pw_array_get(&a, 0)), 1);
    pw_patches_clear(&d);
    pw_value_release(&a);
    pw_value_release(&b);
}
