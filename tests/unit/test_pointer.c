/* RFC 6901 JSON Pointers: parsing, escapes, errors, formatting. */
#include <criterion/criterion.h>
#include <string.h>

#include "patchwire/patch.h"

static pw_value parse_ok(const char *s)
{
    pw_value v;
    pw_error e;
    cr_assert_eq(pw_pointer_parse(s, strlen(s), &v, &e), PW_OK, "%s: %s", s, e.msg);
    cr_assert_eq(pw_value_kind(&v), PW_ARRAY);
    return v;
}

static void seg_is(const pw_value *segs, size_t i, const char *s, size_t n)
{
    const pw_value *g = pw_array_get(segs, i);
    cr_assert_not_null(g);
    cr_assert(pw_value_str_eq(g, s, n), "segment %zu", i);
}

Test(pointer, empty_string_is_the_root)
{
    pw_value v = parse_ok("");
    cr_assert_eq(pw_value_len(&v), 0);
    pw_value_release(&v);
}

Test(pointer, splits_on_slash_and_keeps_empty_segments)
{
    pw_value v = parse_ok("/items/0//x/");
    cr_assert_eq(pw_value_len(&v), 5);
    seg_is(&v, 0, "items", 5);
    seg_is(&v, 1, "0", 1);
    seg_is(&v, 2, "", 0);
    seg_is(&v, 3, "x", 1);
    seg_is(&v, 4, "", 0);
    pw_value_release(&v);
    v = parse_ok("/");
    cr_assert_eq(pw_value_len(&v), 1);
    seg_is(&v, 0, "", 0);
    pw_value_release(&v);
}

Test(pointer, unescapes_tilde_zero_and_tilde_one_in_order)
{
    pw_value v = parse_ok("/a~1b/m~0n/~01/~10/a long key with ~1 beyond inline size");
    seg_is(&v, 0, "a/b", 3);
    seg_is(&v, 1, "m~n", 3);
    seg_is(&v, 2, "~1", 2); /* ~0 first gives "~", then a literal "1" */
    seg_is(&v, 3, "/0", 2);
    seg_is(&v, 4, "a long key with / beyond inline size", 36);
    pw_value_release(&v);
}

Test(pointer, rejects_missing_leading_slash)
{
    pw_value v = pw_int(7);
    pw_error e;
    cr_assert_eq(pw_pointer_parse("a/b", 3, &v, &e), PW_ESYNTAX);
    cr_assert_eq(e.offset, 0);
    cr_assert_eq(pw_value_int(&v), 7, "output untouched on error");
}

Test(pointer, rejects_bad_tilde_escapes_with_offset)
{
    const char *bad[] = {"/a~2", "/a~", "/~x/b", "/ok/~"};
    size_t at[] = {2, 2, 1, 4};
    for (size_t i = 0; i < 4; i++) {
        pw_value v = pw_null();
        pw_error e;
        cr_assert_eq(pw_pointer_parse(bad[i], strlen(bad[i]), &v, &e), PW_ESYNTAX, "%s", bad[i]);
        cr_assert_eq(e.offset, at[i], "%s: offset %zu", bad[i], e.offset);
        cr_assert(strstr(e.msg, "~") != NULL);
        cr_assert_eq(pw_value_kind(&v), PW_NULL);
    }
}

Test(pointer, keeps_nul_bytes_inside_segments)
{
    pw_value v;
    cr_assert_eq(pw_pointer_parse("/a\0b", 4, &v, NULL), PW_OK);
    seg_is(&v, 0, "a\0b", 3);
    pw_value_release(&v);
}

Test(pointer, format_escapes_and_writes_ints_in_decimal)
{
    pw_value items[4];
    cr_assert_eq(pw_string_cstr(&items[0], "a/b"), PW_OK);
    cr_assert_eq(pw_string_cstr(&items[1], "m~n"), PW_OK);
    items[2] = pw_int(12);
    cr_assert_eq(pw_string_cstr(&items[3], ""), PW_OK);
    pw_value segs, s;
    cr_assert_eq(pw_array_from(&segs, items, 4), PW_OK);
    cr_assert_eq(pw_pointer_format(&segs, &s), PW_OK);
    cr_assert(pw_value_str_eq(&s, "/a~1b/m~0n/12/", 14));
    pw_value_release(&s);
    pw_value_release(&segs);
}

Test(pointer, format_of_root_is_empty_string)
{
    pw_value segs, s;
    cr_assert_eq(pw_array_new(&segs, 0), PW_OK);
    cr_assert_eq(pw_pointer_format(&segs, &s), PW_OK);
    cr_assert(pw_value_str_eq(&s, "", 0));
    pw_value_release(&segs);
}

Test(pointer, format_rejects_bad_segments)
{
    pw_value items[1] = {pw_bool(true)}, segs, s = pw_null();
    cr_assert_eq(pw_array_from(&segs, items, 1), PW_OK);
    cr_assert_eq(pw_pointer_format(&segs, &s), PW_ETYPE);
    pw_value_release(&segs);
    items[0] = pw_int(-1);
    cr_assert_eq(pw_array_from(&segs, items, 1), PW_OK);
    cr_assert_eq(pw_pointer_format(&segs, &s), PW_ETYPE);
    pw_value_release(&segs);
    pw_value notarr = pw_int(3);
    cr_assert_eq(pw_pointer_format(&notarr, &s), PW_ETYPE);
}

Test(pointer, parse_then_format_round_trips)
{
    const char *cases[] = {"", "/", "/a~1b~0c/0/-", "/~0~1~1~0", "/x/y/z/0/10"};
    for (size_t i = 0; i < 5; i++) {
        pw_value segs = parse_ok(cases[i]), s;
        cr_assert_eq(pw_pointer_format(&segs, &s), PW_OK);
        cr_assert(pw_value_str_eq(&s, cases[i], strlen(cases[i])), "%s", cases[i]);
        pw_value_release(&s);
        pw_value_release(&segs);
    }
}
