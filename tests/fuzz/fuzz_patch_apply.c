/* fuzz_patch_apply.c - libFuzzer target: apply a patch list to a document.
 *
 * Input: a JSON document, a newline, a JSON patch list (Immer or RFC 6902).
 * Apply is all or nothing: on success applying the inverse restores a value
 * equal to the original; on failure the document is exactly as before and
 * the inverse list is untouched. An odd-sized input also holds a snapshot
 * (a retained root) across the apply, which copy-on-write must leave alone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "patchwire/codec.h"
#include "patchwire/patch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_fail(const char *what, const pw_error *err)
{
    fprintf(stderr, "fuzz: %s%s%s\n", what, err ? ": " : "", err ? err->msg : "");
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    if (!nl)
        return 0;
    size_t doc_len = (size_t)(nl - data);
    pw_value doc, orig, list;
    pw_error err;
    if (pw_codec_json.decode(data, doc_len, NULL, &doc, &err))
        return 0;
    if (pw_codec_json.decode(nl + 1, size - doc_len - 1, NULL, &list, &err)) {
        pw_value_release(&doc);
        return 0;
    }
    pw_patches patches, inverse;
    pw_patches_init(&patches, PW_DIALECT_IMMER);
    if (pw_patches_from_value(&list, &patches, &err)) {
        if (patches.len != 0)
            fuzz_fail("failed pw_patches_from_value left patches behind", &err);
        pw_value_release(&doc);
        pw_value_release(&list);
        return 0;
    }
    pw_value_release(&list);

    /* an independent copy to compare with (a retained root would share nodes) */
    pw_buf b = {0};
    if (pw_codec_json.encode(&doc, &b, &err) ||
        pw_codec_json.decode(b.data, b.len, NULL, &orig, &err))
        fuzz_fail("document did not survive its own round trip", &err);
    pw_buf_free(&b);
    pw_value snapshot = (size & 1) ? pw_value_retain(doc) : pw_null();

    pw_patches_init(&inverse, patches.dialect);
    pw_err rc = pw_patches_apply(&doc, &patches, &inverse, &err);
    if (rc) {
        if (!pw_value_equal(&doc, &orig))
            fuzz_fail("failed apply changed the document", &err);
        if (inverse.len != 0)
            fuzz_fail("failed apply appended inverse patches", &err);
    } else {
        pw_err irc = pw_patches_apply(&doc, &inverse, NULL, &err);
        if (irc)
            fuzz_fail("applying the inverse failed", &err);
        if (!pw_value_equal(&doc, &orig))
            fuzz_fail("the inverse did not restore the document", NULL);
    }
    if ((size & 1) && !pw_value_equal(&snapshot, &orig))
        fuzz_fail("apply changed a snapshot of the document", NULL);

    pw_value_release(&snapshot);
    pw_patches_clear(&inverse);
    pw_patches_clear(&patches);
    pw_value_release(&doc);
    pw_value_release(&orig);
    return 0;
}
