/* cmd_diff.c - `patchwire diff`: the patch list that turns document A into B.
 *
 * The one idea: the output is exactly what `patchwire apply A -` takes, so
 * `patchwire diff A B | patchwire apply A -` prints B. */
#include <string.h>

#include "cli.h"
#include "cmds.h"
#include "patchwire/patch.h"

static const char usage[] =
    "usage: patchwire diff [--rfc6902|--immer] [options] A B\n"
    "\n"
    "Prints, as one line of JSON, the patch list that turns the document in A\n"
    "into the document in B: an Immer patch list (array paths) by default, or\n"
    "RFC 6902 JSON Patch with --rfc6902. A and B are files, or - for standard\n"
    "input (at most one of them), in JSON or MessagePack (detected from the\n"
    "first byte).\n"
    "\n"
    "options:\n"
    "  --immer          write an Immer patch list (the default)\n"
    "  --rfc6902        write RFC 6902 JSON Patch (JSON Pointer paths)\n"
    "  --max-depth N    refuse input nested deeper than N (default 512)\n"
    "  --max-bytes N    refuse an input file larger than N bytes (default 64 MiB)\n"
    "  -h, --help       show this help\n";

int cmd_diff(int argc, char **argv)
{
    cli c;
    cli_init(&c, "diff", usage);
    const char *pos[2];
    int npos = 0, status = CLI_OK;
    bool options_done = false;
    pw_dialect dialect = PW_DIALECT_IMMER;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (options_done || a[0] != '-' || a[1] == '\0') {
            if (npos == 2)
                return cli_usage_error(&c, "unexpected argument '%s'", a);
            pos[npos++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            options_done = true;
            continue;
        }
        if (strcmp(a, "--rfc6902") == 0) {
            dialect = PW_DIALECT_RFC6902;
            continue;
        }
        if (strcmp(a, "--immer") == 0) {
            dialect = PW_DIALECT_IMMER;
            continue;
        }
        int r = cli_common_option(&c, argc, argv, &i, &status);
        if (r < 0)
            return status;
        if (r == 0)
            return cli_usage_error(&c, "unknown option '%s'", a);
    }
    if (npos < 2)
        return cli_usage_error(&c, "needs A and B");
    if (strcmp(pos[0], "-") == 0 && strcmp(pos[1], "-") == 0)
        return cli_usage_error(&c, "A and B cannot both be standard input");

    pw_value a = pw_null(), b = pw_null(), out = pw_null();
    pw_patches list;
    pw_patches_init(&list, dialect);
    status = cli_read_value(&c, pos[0], cli_input_name(pos[0]), NULL, &a);
    if (status == CLI_OK)
        status = cli_read_value(&c, pos[1], cli_input_name(pos[1]), NULL, &b);
    if (status == CLI_OK) {
        pw_err rc = pw_diff(&a, &b, &list);
        if (rc == PW_OK)
            rc = pw_patches_to_value(&list, &out);
        if (rc != PW_OK)
            status = cli_fail(&c, "cannot diff: %s", pw_strerror(rc));
    }
    if (status == CLI_OK)
        status = cli_write_value(&c, &out, &pw_codec_json);
    pw_value_release(&out);
    pw_patches_clear(&list);
    pw_value_release(&a);
    pw_value_release(&b);
    return status;
}
