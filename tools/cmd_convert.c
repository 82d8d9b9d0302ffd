/* cmd_convert.c - `patchwire convert`: a document or message from one encoding to another.
 *
 * The one idea: a message is a value tree like any document, so converting
 * the tree converts both, keeping every field, known or not, in order. */
#include <string.h>

#include "cli.h"
#include "cmds.h"

static const char usage[] =
    "usage: patchwire convert [--from json|msgpack|auto] [--to json|msgpack] [options] [FILE]\n"
    "\n"
    "Reads a document or message from FILE (standard input if FILE is - or\n"
    "absent) and writes it to stdout in the other encoding: JSON (compact,\n"
    "followed by a newline) or MessagePack (raw bytes).\n"
    "\n"
    "options:\n"
    "  --from FORMAT    json, msgpack, or auto (the default: detected from the\n"
    "                   first byte)\n"
    "  --to FORMAT      json (the default) or msgpack\n"
    "  --max-depth N    refuse input nested deeper than N (default 512)\n"
    "  --max-bytes N    refuse input larger than N bytes (default 64 MiB)\n"
    "  -h, --help       show this help\n"
    "\n"
    "Invalid input: nothing on stdout, \"byte N: reason\" on stderr, exit 1.\n";

int cmd_convert(int argc, char **argv)
{
    cli c;
    cli_init(&c, "convert", usage);
    const char *path = NULL;
    const pw_codec *from = NULL, *to = &pw_codec_json;
    int status = CLI_OK;
    bool options_done = false;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (options_done || a[0] != '-' || a[1] == '\0') {
            if (path)
                return cli_usage_error(&c, "unexpected argument '%s'", a);
            path = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            options_done = true;
            continue;
        }
        const char *val;
        int r = cli_option_value(&c, "--from", argc, argv, &i, &val, &status);
        if (r > 0) {
            if (strcmp(val, "auto") == 0)
                from = NULL;
            else if (!(from = pw_codec_find(val)))
                return cli_usage_error(&c, "--from wants json, msgpack or auto, not '%s'", val);
            continue;
        }
        if (r == 0)
            r = cli_option_value(&c, "--to", argc, argv, &i, &val, &status);
        if (r > 0) {
            if (!(to = pw_codec_find(val)))
                return cli_usage_error(&c, "--to wants json or msgpack, not '%s'", val);
            continue;
        }
        if (r == 0)
            r = cli_common_option(&c, argc, argv, &i, &status);
        if (r < 0)
            return status;
        if (r == 0)
            return cli_usage_error(&c, "unknown option '%s'", a);
    }

    pw_value v;
    status = cli_read_value(&c, path ? path : "-", NULL, from, &v);
    if (status == CLI_OK)
        status = cli_write_value(&c, &v, to);
    pw_value_release(&v);
    return status;
}
