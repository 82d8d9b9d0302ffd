/* test_ws_msg.c - bench_ws's own message writers and readers
 * (bench/ws/ws_msg.c): what the load generator counts as a delivered patch
 * must be exactly the writer's patch, in either codec and in the field order
 * and with the extra fields either server writes. */
#include <string.h>

#include <criterion/criterion.h>

#include "ws_msg.h"

static ws_kind json(const char *s, ws_patch *p)
{
    return ws_msg_read_json((const uint8_t *)s, strlen(s), true, p);
}

Test(bench_ws_msg, json_writer_output_reads_back_as_the_same_patch)
{
    char buf[256];
    ws_patch p = {0};
    size_t n = ws_msg_write_json(buf, sizeof buf, 42, -1, -1);
    cr_assert_gt(n, 0);
    cr_assert_eq(ws_msg_read_json((const uint8_t *)buf, n, true, &p), WS_PATCH);
    cr_assert_eq(p.index, 42);
    cr_assert(!p.value_is_num);
    n = ws_msg_write_json(buf, sizeof buf, 7, 123456789, 12);
    cr_assert(strstr(buf, "\"key\":\"appstate\",\"base\":12,\"data\""));
    cr_assert_eq(ws_msg_read_json((const uint8_t *)buf, n, true, &p), WS_PATCH);
    cr_assert_eq(p.index, 7);
    cr_assert(p.value_is_num);
    cr_assert_eq(p.value, 123456789);
}

Test(bench_ws_msg, json_reader_takes_seq_other_orders_and_spaces)
{
    ws_patch p = {0};
    cr_assert_eq(
        json("{\"type\":\"patches\",\"key\":\"appstate\",\"seq\":17,\"data\":[{\"op\":\"replace\","
             "\"path\":[\"items\",3,\"done\"],\"value\":true}]}",
             &p),
        WS_PATCH);
    cr_assert_eq(p.index, 3);
    cr_assert_eq(
        json(" { \"data\" : [ { \"value\" : 9 , \"path\" : [ \"items\" , 5 , \"done\" ] , \"op\" : "
             "\"replace\" } ] , \"key\" : \"appstate\" , \"type\" : \"patches\" } ",
             &p),
        WS_BAD); /* data before type is not how any server writes it: refused, not guessed */
    cr_assert_eq(
        json("{ \"type\" : \"patches\" , \"key\" : \"appstate\" , \"data\" : [ { \"value\" : 9 , "
             "\"path\" : [ \"items\" , 5 , \"done\" ] , \"op\" : \"replace\" } ] }",
             &p),
        WS_PATCH);
    cr_assert_eq(p.index, 5);
    cr_assert_eq(p.value, 9);
}

Test(bench_ws_msg, json_reader_refuses_other_patches)
{
    ws_patch p = {0};
    const char *bad[] = {
        "{\"type\":\"patches\",\"key\":\"other\",\"data\":[{\"op\":\"replace\",\"path\":[\"items\","
        "3,\"done\"],"
        "\"value\":true}]}",
        "{\"type\":\"patches\",\"key\":\"appstate\",\"data\":[{\"op\":\"add\",\"path\":[\"items\","
        "3,\"done\"],"
        "\"value\":true}]}",
        "{\"type\":\"patches\",\"key\":\"appstate\",\"data\":[{\"op\":\"replace\",\"path\":["
        "\"items\",3,"
        "\"title\"],\"value\":true}]}",
        "{\"type\":\"patches\",\"key\":\"appstate\",\"data\":[{\"op\":\"replace\",\"path\":["
        "\"items\",3,\"done\"],"
        "\"value\":false}]}",
        "{\"type\":\"patches\",\"key\":\"appstate\",\"data\":[{\"op\":\"replace\",\"path\":["
        "\"items\",3,\"done\"],"
        "\"value\":1.5}]}",
        "{\"type\":\"patches\",\"key\":\"appstate\",\"data\":[{\"op\":\"replace\",\"path\":["
        "\"items\",3,\"done\"]}]}",
        "{\"type\":\"patches\",\"key\":\"appstate\",\"data\":[{\"op\":\"replace\",\"path\":["
        "\"items\",3,\"done\"],"
        "\"value\":true}]",
        "{\"type\":\"patches\",\"key\":\"appstate\"}",
        "[1,2]",
        "",
        "garbage",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(json(bad[i], &p), WS_BAD, "accepted: %s", bad[i]);
}

Test(bench_ws_msg, json_reader_classifies_fullsync_error_and_unknown)
{
    ws_patch p = {0};
    cr_assert_eq(
        json("{\"type\":\"fullsync\",\"key\":\"appstate\",\"seq\":1,\"data\":{\"items\":[]}}", &p),
        WS_FULLSYNC);
    cr_assert_eq(
        json("{\"type\":\"error\",\"key\":\"appstate\",\"data\":{\"message\":\"no\"}}", &p),
        WS_ERROR);
    cr_assert_eq(json("{\"type\":\"ack\",\"key\":\"appstate\",\"seq\":3}", &p), WS_ACK);
    cr_assert(p.has_seq);
    cr_assert_eq(p.seq, 3);
    cr_assert_eq(json("{\"type\":\"ack\",\"key\":\"appstate\"}", &p), WS_BAD);
    cr_assert_eq(json("{\"type\":\"hello\",\"key\":\"appstate\"}", &p), WS_OTHER);
    const char *head =
        "{\"type\":\"fullsync\",\"key\":\"appstate\",\"data\":{\"items\":[{\"id\":0,";
    cr_assert_eq(ws_msg_read_json((const uint8_t *)head, strlen(head), false, &p), WS_FULLSYNC);
    head = "{\"type\":\"patches\",\"key\":\"appstate\",\"data\":[{\"op\":\"rep";
    cr_assert_eq(ws_msg_read_json((const uint8_t *)head, strlen(head), false, &p), WS_BAD);
}

Test(bench_ws_msg, msgpack_writer_output_reads_back_as_the_same_patch)
{
    char buf[256];
    ws_patch p = {0};
    size_t n = ws_msg_write_msgpack(buf, sizeof buf, 99999, -1, -1);
    cr_assert_gt(n, 0);
    cr_assert_eq(ws_msg_read_msgpack((const uint8_t *)buf, n, true, &p), WS_PATCH);
    cr_assert_eq(p.index, 99999);
    cr_assert(!p.value_is_num);
    n = ws_msg_write_msgpack(buf, sizeof buf, 1, 5000000000LL, 3);
    cr_assert_eq(ws_msg_read_msgpack((const uint8_t *)buf, n, true, &p), WS_PATCH);
    cr_assert_eq(p.value, 5000000000ULL);
    /* every truncation is refused */
    for (size_t k = 0; k < n; k++)
        cr_assert_eq(ws_msg_read_msgpack((const uint8_t *)buf, k, true, &p), WS_BAD, "length %zu",
                     k);
    ws_msg_reader_free();
}

Test(bench_ws_msg, msgpack_head_of_a_long_fullsync_is_recognised)
{
    /* {"type":"fullsync","key":"appstate","seq":300,"data":...} as a 4-entry map */
    const uint8_t head[] = {0x84, 0xa4, 't',  'y', 'p',  'e', 0xa8, 'f', 'u',  'l', 'l',
                            's',  'y',  'n',  'c', 0xa3, 'k', 'e',  'y', 0xa8, 'a', 'p',
                            'p',  's',  't',  'a', 't',  'e', 0xa3, 's', 'e',  'q', 0xcd,
                            0x01, 0x2c, 0xa4, 'd', 'a',  't', 'a',  0x81};
    ws_patch p = {0};
    cr_assert_eq(ws_msg_read_msgpack(head, sizeof head, false, &p), WS_FULLSYNC);
    cr_assert(p.has_seq);
    cr_assert_eq(p.seq, 300);
    cr_assert_eq(ws_msg_read_msgpack(head, 4, false, &p), WS_BAD);
    ws_msg_reader_free();
}
