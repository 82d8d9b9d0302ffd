/* codec_json.h - private: the JSON encoder, defined apart from the decoder. */
#ifndef PATCHWIRE_CODEC_JSON_H
#define PATCHWIRE_CODEC_JSON_H

#include "patchwire/codec.h"

pw_err pw__json_encode(const pw_value *root, pw_buf *out, pw_error *err);

#endif
