/* test_cxx.cpp - the public headers from C++: they compile without warnings
 * and every function links (each header declares it extern "C"). */
#include <criterion/criterion.h>

#include <patchwire.h>

#include <cstring>

Test(cxx, the_version_links_from_cpp)
{
    cr_assert_str_eq(pw_version(), PW_VERSION_STRING);
}

Test(cxx, a_document_round_trips_from_cpp)
{
    const char text[] = "{\"items\":[1,\"milk\"]}";
    pw_value doc = pw_null();
    cr_assert_eq(pw_codec_json.decode(reinterpret_cast<const uint8_t *>(text), std::strlen(text),
                                      nullptr, &doc, nullptr),
                 PW_OK);
    pw_buf out;
    pw_buf_init(&out);
    cr_assert_eq(pw_codec_json.encode(&doc, &out, nullptr), PW_OK);
    cr_assert_eq(out.len, std::strlen(text));
    cr_assert_eq(std::memcmp(out.data, text, out.len), 0);
    pw_buf_free(&out);
    pw_value_release(&doc);
}
