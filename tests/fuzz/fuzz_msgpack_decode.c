/* fuzz_msgpack_decode.c - libFuzzer target: MessagePack decode, then the
 * encode/decode round trip (see fuzz_roundtrip.h). */
#include "fuzz_roundtrip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_roundtrip(&pw_codec_msgpack, data, size);
}
