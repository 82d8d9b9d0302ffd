/* cmd_apply.c - `patchwire apply`: apply a patch list to a document, all or nothing.
 *
 * The one idea: the patches file may hold a bare patch list or a whole
 * Patches message, and either way the library's atomic apply decides; the
 * document is printed only when every patch applied. */
#include <string.h>

#include "cli.h"
#include "cmds.h"
#include "patchwire/msg.h"
#include "patchwire/patch.h"

static const char usage[] =
    "usage: patchwire apply [--rfc6902|--immer] [options] DOC PATCHES\n"
    "\n"
    "Applies the patch list in PATCHES to the document in DOC, all or nothing,\n"
    "and prints the resulting document as compact JSON. DOC and PATCHES are\n"
    "files, or - for standard input (at most one of them), in JSON or\n"
    "MessagePack (detected from the first byte). PATCHES holds a patch list\n"
    "(an array of patches; Immer or RFC 6902, detected from the paths) or a\n"
    "whole Patches message {\"type\":\"patches\",\"key\":...,\"data\":[...]}.\n"
    "\n"
    "options:\n"
    "  --immer          require an Immer patch list (array paths)\n"
    "  --rfc6902        require an RFC 6902 patch list (JSON Pointer paths)\n"
    "  --max-depth N    refuse input nested deeper than N (default 512)\n"
    "  --max-bytes N    refuse an input file larger than N bytes (default 64 MiB)\n"
    "  -h, --help       show this help\n"
    "\n"
    "On failure nothing is printed on stdout, one line on stderr names the\n"
    "patch index, its path and the reason, and the exit status is 1.\n";

static const char *dialect_text(pw_dialect d)
{
    return d == PW_DIALECT_RFC6902 ? "RFC 6902 (JSON Pointer paths)" : "Immer (array paths)";
}

/* Reads the patch list out of a decoded PATCHES value (a list or a message). */
static int load_patches(cli *c, const char *label, const pw_value *v, pw_patches *out)
{
    pw_error err;
    pw_error_clear(&err);
    pw_kind k = pw_value_kind(v);
    if (k == PW_ARRAY) {
        if (pw_patches_from_value(v, out, &err) != PW_OK)
            return cli_fail(c, "%s: %s", label, err.msg);
        return CLI_OK;
    }
    if (k != PW_OBJECT)
        return cli_fail(c, "%s: expected a patch list (array) or a patches message, not %s",
                        label, pw_kind_phrase(k));
    pw_msg m;
    pw_msg_init(&m);
    if (pw_msg_from_value(v, &m, &err) != PW_OK)
        return cli_fail(c, "%s: %s", label, err.msg);
    if (m.type != PW_MSG_PATCHES) {
        size_t n = 0;
        const char *t = pw_value_str(&m.type_name, &n);
        if (m.type != PW_MSG_UNKNOWN || !t) {
            t = pw_msg_type_name(m.type);
            n = strlen(t);
        }
        int rc = cli_fail(c, "%s: a \"%.*s\" message, expected a patch list or a patches message",
                          label, (int)(n > 64 ? 64 : n), t);
        pw_msg_clear(&m);
        return rc;
    }
    pw_patches_clear(out);
    *out = m.patches; /* move the list out of the message */
    pw_patches_init(&m.patches, out->dialect);
    pw_msg_clear(&m);
    return CLI_OK;
}

int cmd_apply(int argc, char **argv)
{
    cli c;
    cli_init(&c, "apply", usage);
    const char *pos[2];
    int npos = 0, status = CLI_OK;
    bool forced = false, options_done = false;
    pw_dialect want = PW_DIALECT_IMMER;

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
        if (strcmp(a, "--rfc6902") == 0 || strcmp(a, "--immer") == 0) {
            pw_dialect d = a[2] == 'r' ? PW_DIALECT_RFC6902 : PW_DIALECT_IMMER;
            if (forced && d != want)
                return cli_usage_error(&c, "--rfc6902 and --immer exclude each other");
            forced = true;
            want = d;
            continue;
        }
        int r = cli_common_option(&c, argc, argv, &i, &status);
        if (r < 0)
            return status;
        if (r == 0)
            return cli_usage_error(&c, "unknown option '%s'", a);
    }
    if (npos < 2)
        return cli_usage_error(&c, "needs DOC and PATCHES");
    if (strcmp(pos[0], "-") == 0 && strcmp(pos[1], "-") == 0)
        return cli_usage_error(&c, "DOC and PATCHES cannot both be standard input");

    const char *plabel = cli_input_name(pos[1]);
    pw_value doc = pw_null(), pv = pw_null();
    pw_patches list;
    pw_patches_init(&list, PW_DIALECT_IMMER); /* the real dialect comes from the paths */
    pw_error err;
    pw_error_clear(&err);

    status = cli_read_value(&c, pos[0], cli_input_name(pos[0]), NULL, &doc);
    if (status == CLI_OK)
        status = cli_read_value(&c, pos[1], plabel, NULL, &pv);
    if (status == CLI_OK)
        status = load_patches(&c, plabel, &pv, &list);
    pw_value_release(&pv);
    if (status == CLI_OK && forced && list.len > 0 && list.dialect != want)
        status = cli_fail(&c, "%s: the patch list is %s, but %s was given", plabel,
                          dialect_text(list.dialect),
                          want == PW_DIALECT_RFC6902 ? "--rfc6902" : "--immer");
    if (status == CLI_OK) {
        pw_err rc = pw_patches_apply(&doc, &list, NULL, &err);
        if (rc != PW_OK)
            status = cli_fail(&c, "%s", err.msg[0] ? err.msg : pw_strerror(rc));
    }
    if (status == CLI_OK)
        status = cli_write_value(&c, &doc, &pw_codec_json);
    pw_patches_clear(&list);
    pw_value_release(&doc);
    return status;
}
