/* JSON byte compatibility with JavaScript: for random documents, the text our
 * encoder writes is exactly what JSON.stringify writes for the value that
 * JSON.parse reads from it (numbers, escapes, key order), checked with a real
 * node process. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "patchwire/codec.h"
#include "randdoc.h"

#define DOCS 3000

Test(js_json, encoder_output_equals_json_stringify)
{
    const char *script = getenv("PW_JS_ROUNDTRIP");
    cr_assert_not_null(script, "PW_JS_ROUNDTRIP not set");
    char in_path[] = "/tmp/pw-js-in-XXXXXX", out_path[] = "/tmp/pw-js-out-XXXXXX";
    int in_fd = mkstemp(in_path), out_fd = mkstemp(out_path);
    cr_assert(in_fd >= 0 && out_fd >= 0);
    close(out_fd);
    FILE *in = fdopen(in_fd, "w");

    randdoc_opts opts = {.js_safe = true};
    randdoc_seed(2026);
    pw_buf *lines = calloc(DOCS, sizeof *lines);
    for (int i = 0; i < DOCS; i++) {
        pw_value doc = randdoc_value(4, &opts);
        cr_assert_eq(pw_codec_json.encode(&doc, &lines[i], NULL), PW_OK);
        cr_assert_null(memchr(lines[i].data, '\n', lines[i].len));
        fwrite(lines[i].data, 1, lines[i].len, in);
        fputc('\n', in);
        pw_value_release(&doc);
    }
    fclose(in);

    char cmd[512];
    snprintf(cmd, sizeof cmd, "node '%s' < '%s' > '%s'", script, in_path, out_path);
    cr_assert_eq(system(cmd), 0, "node failed: %s", cmd);

    FILE *out = fopen(out_path, "r");
    cr_assert_not_null(out);
    char *line = NULL;
    size_t cap = 0;
    for (int i = 0; i < DOCS; i++) {
        ssize_t n = getline(&line, &cap, out);
        cr_assert(n > 0, "node printed %d lines, expected %d", i, DOCS);
        line[--n] = '\0';
        cr_assert(lines[i].len == (size_t)n && memcmp(lines[i].data, line, (size_t)n) == 0,
                  "doc %d differs:\n  ours: %.*s\n  node: %s", i, (int)lines[i].len,
                  lines[i].data, line);
        pw_buf_free(&lines[i]);
    }
    free(line);
    free(lines);
    fclose(out);
    unlink(in_path);
    unlink(out_path);
}
