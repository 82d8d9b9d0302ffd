/* test_cli.c - the patchwire program, run as a user runs it.
 *
 * The one idea: each test runs the built binary (PW_CLI) in a child process,
 * with stdin, stdout and stderr as files in a fresh temporary directory, and
 * checks all three outputs and the exit status. PW_CLI_WRAP (optional, words
 * separated by spaces) runs the binary under a tool, e.g. valgrind. */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_FILES 64
#define MAX_ARGS 32

static char dir[] = "/tmp/pw-cli-XXXXXX";
static char *files[MAX_FILES];
static size_t nfiles;

typedef struct result {
    int status; /* exit status, or 128 + signal */
    char *out;
    size_t out_len;
    char *err;
    size_t err_len;
} result;

static void setup(void)
{
    strcpy(dir, "/tmp/pw-cli-XXXXXX");
    cr_assert(mkdtemp(dir) != NULL);
    nfiles = 0;
}

static void teardown(void)
{
    for (size_t i = 0; i < nfiles; i++) {
        unlink(files[i]);
        free(files[i]);
    }
    rmdir(dir);
}

TestSuite(cli, .init = setup, .fini = teardown);

/* A path in the test's directory, removed at teardown. */
static const char *tmp_path(const char *name)
{
    cr_assert(nfiles < MAX_FILES);
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    cr_assert(p);
    sprintf(p, "%s/%s", dir, name);
    files[nfiles++] = p;
    return p;
}

static const char *write_file_n(const char *name, const void *data, size_t n)
{
    const char *p = tmp_path(name);
    FILE *f = fopen(p, "wb");
    cr_assert(f != NULL);
    cr_assert(fwrite(data, 1, n, f) == n);
    cr_assert(fclose(f) == 0);
    return p;
}

static const char *write_file(const char *name, const char *text)
{
    return write_file_n(name, text, strlen(text));
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f != NULL, "cannot open %s", path);
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap)
            buf = realloc(buf, (cap *= 2) + 1);
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static const char *cli_path(void)
{
    const char *p = getenv("PW_CLI");
    cr_assert(p && *p, "PW_CLI must name the patchwire binary");
    return p;
}

/* Runs the binary with args (NULL-terminated), stdin from the n bytes at in
 * (empty input if in is NULL), stdout to out_path (a file of the test if
 * NULL). */
static result run_full(const void *in, size_t in_n, const char *out_path, const char *const *args)
{
    static int seq;
    char name[32];
    snprintf(name, sizeof name, "stdin.%d", seq);
    const char *in_path = write_file_n(name, in ? in : "", in ? in_n : 0);
    snprintf(name, sizeof name, "stdout.%d", seq);
    const char *own_out = tmp_path(name);
    snprintf(name, sizeof name, "stderr.%d", seq++);
    const char *err_path = tmp_path(name);
    if (!out_path)
        out_path = own_out;

    char *argv[MAX_ARGS];
    size_t argc = 0;
    char *wrap = getenv("PW_CLI_WRAP") ? strdup(getenv("PW_CLI_WRAP")) : NULL;
    for (char *w = wrap ? strtok(wrap, " ") : NULL; w; w = strtok(NULL, " "))
        argv[argc++] = w;
    argv[argc++] = (char *)cli_path();
    for (size_t i = 0; args[i]; i++) {
        cr_assert(argc < MAX_ARGS - 1);
        argv[argc++] = (char *)args[i];
    }
    argv[argc] = NULL;

    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int fi = open(in_path, O_RDONLY);
        int fo = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fi < 0 || fo < 0 || fe < 0 || dup2(fi, 0) < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0)
            _exit(126);
        execvp(argv[0], argv);
        _exit(127);
    }
    free(wrap);
    int ws;
    cr_assert(waitpid(pid, &ws, 0) == pid);
    result r;
    r.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    if (strcmp(out_path, own_out) == 0) {
        r.out = read_file(own_out, &r.out_len);
    } else {
        r.out = strdup("");
        r.out_len = 0;
    }
    r.err = read_file(err_path, &r.err_len);
    return r;
}

static result run_in(const char *in, const char *const *args)
{
    return run_full(in, in ? strlen(in) : 0, NULL, args);
}

#define RUN(...) run_in(NULL, (const char *const[]){__VA_ARGS__, NULL})
#define RUN_IN(in, ...) run_in(in, (const char *const[]){__VA_ARGS__, NULL})

static void result_free(result *r)
{
    free(r->out);
    free(r->err);
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Success: the exact stdout, nothing on stderr. */
static void expect_ok(result *r, const char *out)
{
    cr_expect_eq(r->status, 0, "exit %d, stderr: %s", r->status, r->err);
    cr_expect_str_eq(r->out, out);
    cr_expect_str_eq(r->err, "");
}

/* Failure: exit 1, nothing on stdout, exactly one line on stderr that starts
 * with prefix. */
static void expect_fail(result *r, const char *prefix)
{
    cr_expect_eq(r->status, 1, "exit %d, stderr: %s", r->status, r->err);
    cr_expect_eq(r->out_len, 0, "stdout: %s", r->out);
    cr_expect_eq(count_lines(r->err), 1, "stderr: %s", r->err);
    cr_expect(r->err_len > 0 && r->err[r->err_len - 1] == '\n', "stderr: %s", r->err);
    cr_expect(starts_with(r->err, prefix), "stderr '%s' should start with '%s'", r->err, prefix);
}

/* Usage error: exit 2, nothing on stdout, on stderr one line that says what
 * is wrong and one that points at the help, not the whole help. */
static void expect_usage_error(result *r)
{
    cr_expect_eq(r->status, 2, "exit %d, stderr: %s", r->status, r->err);
    cr_expect_eq(r->out_len, 0, "stdout: %s", r->out);
    cr_expect_eq(count_lines(r->err), 2, "stderr: %s", r->err);
    const char *hint = strstr(r->err, "\nTry 'patchwire ");
    cr_expect(hint && strstr(hint, " --help'.\n") && !strstr(r->err, "usage:"), "stderr: %s",
              r->err);
}

/* ---------------------------------------------------------------- apply */

static const char todo_doc[] = "{\"items\":[]}";
static const char add_milk[] =
    "[{\"op\":\"add\",\"path\":[\"items\",0],\"value\":{\"title\":\"milk\",\"done\":false}}]";

Test(cli, apply_immer_list_prints_the_new_document)
{
    const char *doc = write_file("doc.json", todo_doc);
    const char *patches = write_file("patches.json", add_milk);
    result r = RUN("apply", doc, patches);
    expect_ok(&r, "{\"items\":[{\"title\":\"milk\",\"done\":false}]}\n");
    result_free(&r);
}

Test(cli, apply_immer_semantics_replace_length_and_append)
{
    const char *doc = write_file("doc.json", "{\"a\":[1,2,3],\"o\":{}}");
    const char *patches =
        write_file("patches.json", "[{\"op\":\"replace\",\"path\":[\"a\",\"length\"],\"value\":1},"
                                   "{\"op\":\"add\",\"path\":[\"a\",\"-\"],\"value\":9},"
                                   "{\"op\":\"replace\",\"path\":[\"o\",\"new\"],\"value\":\"x\"},"
                                   "{\"op\":\"remove\",\"path\":[\"a\",0]}]");
    result r = RUN("apply", "--immer", doc, patches);
    expect_ok(&r, "{\"a\":[9],\"o\":{\"new\":\"x\"}}\n");
    result_free(&r);
}

Test(cli, apply_rfc6902_list_with_move_test_and_escapes)
{
    const char *doc = write_file("doc.json", "{\"a\":{\"b\":1},\"c\":[1,2],\"x/y\":{\"~\":0}}");
    const char *patches =
        write_file("patches.json", "[{\"op\":\"move\",\"from\":\"/a/b\",\"path\":\"/d\"},"
                                   "{\"op\":\"test\",\"path\":\"/c/1\",\"value\":2},"
                                   "{\"op\":\"remove\",\"path\":\"/c/0\"},"
                                   "{\"op\":\"replace\",\"path\":\"/x~1y/~0\",\"value\":true},"
                                   "{\"op\":\"copy\",\"from\":\"/d\",\"path\":\"/c/-\"}]");
    result r = RUN("apply", "--rfc6902", doc, patches);
    expect_ok(&r, "{\"a\":{},\"c\":[2,1],\"x/y\":{\"~\":true},\"d\":1}\n");
    result_free(&r);
}

Test(cli, apply_failure_names_the_patch_and_prints_nothing)
{
    const char *doc = write_file("doc.json", todo_doc);
    const char *patches =
        write_file("patches.json", "[{\"op\":\"add\",\"path\":[\"items\",0],\"value\":1},"
                                   "{\"op\":\"add\",\"path\":[\"missing\",\"x\"],\"value\":2}]");
    result r = RUN("apply", doc, patches);
    expect_fail(&r, "patchwire apply: patch 1 (add ");
    cr_expect(strstr(r.err, "missing") != NULL, "stderr: %s", r.err);
    result_free(&r);
}

Test(cli, apply_rfc6902_index_out_of_range_names_index_and_path)
{
    const char *doc = write_file("doc.json", todo_doc);
    const char *patches = write_file("patches.json", "[{\"op\":\"add\",\"path\":\"/items/0\","
                                                     "\"value\":1},"
                                                     "{\"op\":\"test\",\"path\":\"/items/0\","
                                                     "\"value\":1},"
                                                     "{\"op\":\"remove\",\"path\":\"/items/9\"}]");
    result r = RUN("apply", doc, patches);
    expect_fail(&r, "patchwire apply: patch 2 (remove ");
    cr_expect(strstr(r.err, "/items/9") != NULL, "stderr: %s", r.err);
    cr_expect(strstr(r.err, "out of range") != NULL, "stderr: %s", r.err);
    result_free(&r);
}

Test(cli, apply_failed_rfc6902_test_op_fails)
{
    const char *doc = write_file("doc.json", "{\"n\":1}");
    const char *patches =
        write_file("patches.json", "[{\"op\":\"test\",\"path\":\"/n\",\"value\":2}]");
    result r = RUN("apply", doc, patches);
    expect_fail(&r, "patchwire apply: patch 0 (test ");
    result_free(&r);
}

Test(cli, apply_reads_patches_from_stdin)
{
    const char *doc = write_file("doc.json", todo_doc);
    result r = RUN_IN(add_milk, "apply", doc, "-");
    expect_ok(&r, "{\"items\":[{\"title\":\"milk\",\"done\":false}]}\n");
    result_free(&r);
}

Test(cli, apply_reads_the_document_from_stdin)
{
    const char *patches = write_file("patches.json", add_milk);
    result r = RUN_IN("  {\"items\":[]}\n", "apply", "-", patches);
    expect_ok(&r, "{\"items\":[{\"title\":\"milk\",\"done\":false}]}\n");
    result_free(&r);
}

Test(cli, apply_takes_a_whole_patches_message)
{
    const char *doc = write_file("doc.json", todo_doc);
    result r =
        RUN_IN("{\"seq\":7,\"data\":[{\"op\":\"add\",\"path\":[\"items\",0],\"value\":\"a\"}],"
               "\"key\":\"appstate\",\"type\":\"patches\",\"extra\":true}",
               "apply", doc, "-");
    expect_ok(&r, "{\"items\":[\"a\"]}\n");
    result_free(&r);
}

Test(cli, apply_refuses_a_fullsync_message)
{
    const char *doc = write_file("doc.json", todo_doc);
    result r =
        RUN_IN("{\"type\":\"fullsync\",\"key\":\"appstate\",\"data\":[]}", "apply", doc, "-");
    expect_fail(&r, "patchwire apply: stdin: ");
    cr_expect(strstr(r.err, "fullsync") != NULL, "stderr: %s", r.err);
    result_free(&r);
}

Test(cli, apply_refuses_patches_that_are_not_a_list)
{
    const char *doc = write_file("doc.json", todo_doc);
    result r = RUN_IN("42", "apply", doc, "-");
    expect_fail(&r, "patchwire apply: stdin: ");
    result_free(&r);
}

Test(cli, apply_invalid_patch_names_its_index)
{
    const char *doc = write_file("doc.json", todo_doc);
    result r = RUN_IN("[{\"op\":\"add\",\"path\":[\"items\",0],\"value\":1},"
                      "{\"op\":\"frobnicate\",\"path\":[\"items\"]}]",
                      "apply", doc, "-");
    expect_fail(&r, "patchwire apply: stdin: patch 1");
    result_free(&r);
}

Test(cli, apply_mixed_dialects_fail)
{
    const char *doc = write_file("doc.json", todo_doc);
    result r = RUN_IN("[{\"op\":\"add\",\"path\":[\"items\",0],\"value\":1},"
                      "{\"op\":\"add\",\"path\":\"/items/0\",\"value\":2}]",
                      "apply", doc, "-");
    expect_fail(&r, "patchwire apply: stdin: ");
    result_free(&r);
}

Test(cli, apply_forced_rfc6902_refuses_an_immer_list)
{
    const char *doc = write_file("doc.json", todo_doc);
    const char *patches = write_file("patches.json", add_milk);
    result r = RUN("apply", "--rfc6902", doc, patches);
    expect_fail(&r, "patchwire apply: ");
    cr_expect(strstr(r.err, "--rfc6902") != NULL, "stderr: %s", r.err);
    cr_expect(strstr(r.err, "Immer") != NULL, "stderr: %s", r.err);
    result_free(&r);
}

Test(cli, apply_forced_immer_refuses_an_rfc6902_list)
{
    const char *doc = write_file("doc.json", todo_doc);
    const char *patches =
        write_file("patches.json", "[{\"op\":\"add\",\"path\":\"/items/0\",\"value\":1}]");
    result r = RUN("apply", "--immer", doc, patches);
    expect_fail(&r, "patchwire apply: ");
    cr_expect(strstr(r.err, "--immer") != NULL, "stderr: %s", r.err);
    result_free(&r);
}

Test(cli, apply_forced_dialect_that_matches_applies)
{
    const char *doc = write_file("doc.json", todo_doc);
    const char *patches =
        write_file("patches.json", "[{\"op\":\"add\",\"path\":\"/items/0\",\"value\":1}]");
    result r = RUN("apply", "--rfc6902", doc, patches);
    expect_ok(&r, "{\"items\":[1]}\n");
    result_free(&r);
}

Test(cli, apply_reads_a_messagepack_document)
{
    static const unsigned char doc_mp[] = {0x81, 0xa1, 'a', 0x92, 0x01, 0xc3}; /* {"a":[1,true]} */
    const char *doc = write_file_n("doc.mp", doc_mp, sizeof doc_mp);
    result r =
        RUN_IN("[{\"op\":\"replace\",\"path\":[\"a\",1],\"value\":false}]", "apply", doc, "-");
    expect_ok(&r, "{\"a\":[1,false]}\n");
    result_free(&r);
}

Test(cli, apply_invalid_document_names_the_file_and_byte)
{
    const char *doc = write_file("doc.json", "{\"items\":[}");
    const char *patches = write_file("patches.json", add_milk);
    result r = RUN("apply", doc, patches);
    char prefix[256];
    snprintf(prefix, sizeof prefix, "patchwire apply: %s: byte 10: ", doc);
    expect_fail(&r, prefix);
    result_free(&r);
}

Test(cli, apply_missing_file_fails_with_a_message)
{
    const char *patches = write_file("patches.json", add_milk);
    const char *doc = tmp_path("no-such-file.json");
    result r = RUN("apply", doc, patches);
    char prefix[256];
    snprintf(prefix, sizeof prefix, "patchwire apply: %s: cannot open: ", doc);
    expect_fail(&r, prefix);
    result_free(&r);
}

Test(cli, apply_both_inputs_from_stdin_is_a_usage_error)
{
    result r = RUN_IN(add_milk, "apply", "-", "-");
    expect_usage_error(&r);
    result_free(&r);
}

Test(cli, apply_needs_two_files)
{
    result r = RUN("apply", "doc.json");
    expect_usage_error(&r);
    result_free(&r);
}

Test(cli, apply_both_dialect_options_is_a_usage_error)
{
    const char *doc = write_file("doc.json", todo_doc);
    const char *patches = write_file("patches.json", add_milk);
    result r = RUN("apply", "--rfc6902", "--immer", doc, patches);
    expect_usage_error(&r);
    result_free(&r);
}

Test(cli, apply_unknown_option_is_a_usage_error)
{
    const char *doc = write_file("doc.json", todo_doc);
    const char *patches = write_file("patches.json", add_milk);
    result r = RUN("apply", "--frobnicate", doc, patches);
    expect_usage_error(&r);
    cr_expect(starts_with(r.err, "patchwire apply: unknown option '--frobnicate'\n"), "%s", r.err);
    result_free(&r);
}

Test(cli, apply_demo_example_adds_milk)
{
    const char *ex = getenv("PW_EXAMPLES_DIR");
    cr_assert(ex && *ex, "PW_EXAMPLES_DIR must name examples/");
    char doc[1024], patches[1024];
    snprintf(doc, sizeof doc, "%s/demo/appstate.json", ex);
    snprintf(patches, sizeof patches, "%s/demo/add-milk.json", ex);
    result r = RUN("apply", doc, patches);
    expect_ok(&r, "{\"items\":[{\"title\":\"milk\",\"done\":false}]}\n");
    result_free(&r);
}

/* ---------------------------------------------------------------- diff */

Test(cli, diff_of_a_changed_member_is_one_replace)
{
    const char *a = write_file("a.json", "{\"a\":1,\"b\":2}");
    const char *b = write_file("b.json", "{\"a\":1,\"b\":3}");
    result r = RUN("diff", a, b);
    expect_ok(&r, "[{\"op\":\"replace\",\"path\":[\"b\"],\"value\":3}]\n");
    result_free(&r);
    r = RUN("diff", "--rfc6902", a, b);
    expect_ok(&r, "[{\"op\":\"replace\",\"path\":\"/b\",\"value\":3}]\n");
    result_free(&r);
}

Test(cli, diff_of_an_added_element_is_one_add)
{
    const char *a = write_file("a.json", todo_doc);
    result r = RUN_IN("{\"items\":[{\"title\":\"milk\",\"done\":false}]}", "diff", a, "-");
    expect_ok(&r, "[{\"op\":\"add\",\"path\":[\"items\",0],"
                  "\"value\":{\"title\":\"milk\",\"done\":false}}]\n");
    result_free(&r);
}

Test(cli, diff_of_equal_documents_is_empty)
{
    const char *a = write_file("a.json", "{\"x\":[1,{\"y\":null}]}");
    result r = RUN_IN("{ \"x\" : [ 1.0 , { \"y\" : null } ] }", "diff", a, "-");
    expect_ok(&r, "[]\n");
    result_free(&r);
}

/* diff A B, then apply A with that output, prints B. */
static void diff_then_apply(const char *a_text, const char *b_text, const char *dialect)
{
    const char *a = write_file("a.json", a_text);
    const char *b = write_file("b.json", b_text);
    result d = RUN("diff", dialect, a, b);
    cr_assert_eq(d.status, 0, "diff: exit %d, %s", d.status, d.err);
    cr_assert_str_eq(d.err, "");
    result r = RUN_IN(d.out, "apply", dialect, a, "-");
    char *want = malloc(strlen(b_text) + 2);
    sprintf(want, "%s\n", b_text);
    expect_ok(&r, want);
    free(want);
    result_free(&r);
    result_free(&d);
}

static const char diff_a[] =
    "{\"items\":[{\"title\":\"milk\",\"done\":false},{\"title\":\"eggs\",\"done\":false},"
    "{\"title\":\"tea\",\"done\":true}],\"owner\":\"ann\",\"tags\":[\"a\",\"b\",\"c\",\"d\"],"
    "\"gone\":{\"deep\":[1,2,3]}}";
static const char diff_b[] =
    "{\"items\":[{\"title\":\"milk\",\"done\":true},{\"title\":\"bread\",\"done\":false},"
    "{\"title\":\"eggs\",\"done\":false},{\"title\":\"tea\",\"done\":true}],\"owner\":\"bob\","
    "\"tags\":[\"a\",\"d\"],\"rev\":2}";

Test(cli, diff_output_applied_with_apply_reproduces_b)
{
    diff_then_apply(diff_a, diff_b, "--immer");
}

Test(cli, diff_rfc6902_output_applied_with_apply_reproduces_b)
{
    diff_then_apply(diff_a, diff_b, "--rfc6902");
}

Test(cli, diff_missing_file_fails)
{
    const char *a = write_file("a.json", "{}");
    const char *b = tmp_path("absent.json");
    result r = RUN("diff", a, b);
    char prefix[256];
    snprintf(prefix, sizeof prefix, "patchwire diff: %s: cannot open: ", b);
    expect_fail(&r, prefix);
    result_free(&r);
}

/* ---------------------------------------------------------------- convert */

Test(cli, convert_json_to_msgpack_writes_the_exact_bytes)
{
    static const unsigned char want[] = {0x81, 0xa1, 'a', 0x93, 0x01, 0xc3, 0xc0};
    result r = RUN_IN("{\"a\":[1,true,null]}", "convert", "--to", "msgpack");
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect_str_eq(r.err, "");
    cr_assert_eq(r.out_len, sizeof want);
    cr_expect(memcmp(r.out, want, sizeof want) == 0);
    result_free(&r);
}

Test(cli, convert_json_to_msgpack_to_json_is_the_identity)
{
    static const char doc[] =
        "{\"s\":\"h\xc3\xa9llo \xe2\x98\x83 \xf0\x9f\x98\x80\",\"n\":[0,-1,9223372036854775807,"
        "-9223372036854775808,1.5,-2.25e-10,0.1,1e+300,null,true,false],\"o\":{\"\":{}},"
        "\"e\":[],\"k\":{\"z\":1,\"a\":2}}";
    const char *in = write_file("doc.json", doc);
    const char *mp = tmp_path("doc.mp");
    result r1 = run_full(NULL, 0, mp, (const char *const[]){"convert", "--to=msgpack", in, NULL});
    cr_assert_eq(r1.status, 0, "%s", r1.err);
    result r2 = RUN("convert", "--from", "msgpack", "--to", "json", mp);
    char want[sizeof doc + 1];
    sprintf(want, "%s\n", doc);
    expect_ok(&r2, want);
    result_free(&r1);
    result_free(&r2);
}

Test(cli, convert_keeps_every_field_of_a_message)
{
    static const char msg[] = "{\"type\":\"patches\",\"key\":\"appstate\",\"seq\":3,"
                              "\"data\":[{\"op\":\"remove\",\"path\":[\"items\",0]}],\"x\":1}";
    const char *mp = tmp_path("msg.mp");
    result r1 =
        run_full(msg, strlen(msg), mp, (const char *const[]){"convert", "--to", "msgpack", NULL});
    cr_assert_eq(r1.status, 0, "%s", r1.err);
    result r2 = RUN("convert", mp);
    char want[sizeof msg + 1];
    sprintf(want, "%s\n", msg);
    expect_ok(&r2, want);
    result_free(&r1);
    result_free(&r2);
}

Test(cli, convert_json_to_json_is_compact)
{
    result r = RUN_IN(" {\n  \"a\" : [ 1 , \"\\u0041\" ]\n}\n", "convert", "-");
    expect_ok(&r, "{\"a\":[1,\"A\"]}\n");
    result_free(&r);
}

Test(cli, convert_invalid_json_reports_the_byte_offset)
{
    result r = RUN_IN("{\"a\":1,}", "convert");
    expect_fail(&r, "patchwire convert: byte 7: ");
    result_free(&r);
}

Test(cli, a_decode_error_names_the_byte_once)
{
    result r = RUN_IN("{\"items\":[}", "convert");
    expect_fail(&r, "patchwire convert: byte 10: unexpected '}', expected a value\n");
    result_free(&r);
    const char *doc = write_file("doc.json", "{\"items\":[1,}");
    r = RUN_IN("[]", "apply", doc, "-");
    expect_fail(&r, "");
    cr_expect(strstr(r.err, "byte 12") && !strstr(strstr(r.err, "byte 12") + 1, "byte 12"), "%s",
              r.err);
    result_free(&r);
}

Test(cli, errors_name_a_kind_with_its_article)
{
    const char *doc = write_file("doc.json", todo_doc);
    result r = RUN_IN("[1]", "apply", doc, "-");
    expect_fail(&r, "patchwire apply: stdin: patch 0");
    cr_expect(strstr(r.err, "a patch must be an object, not an integer\n"), "%s", r.err);
    result_free(&r);
    r = RUN_IN("[{\"op\":\"add\",\"path\":{},\"value\":1}]", "apply", doc, "-");
    cr_expect(strstr(r.err, "path is an object, not an array"), "%s", r.err);
    result_free(&r);
}

Test(cli, convert_invalid_utf8_reports_the_byte_offset)
{
    result r = RUN_IN("[\"ab\xff\"]", "convert");
    expect_fail(&r, "patchwire convert: byte 4: ");
    result_free(&r);
}

Test(cli, convert_truncated_msgpack_fails)
{
    static const unsigned char bad[] = {0x92, 0x01}; /* array of 2, one member */
    const char *p = write_file_n("bad.mp", bad, sizeof bad);
    result r = RUN("convert", p);
    expect_fail(&r, "patchwire convert: byte ");
    result_free(&r);
}

Test(cli, convert_forced_msgpack_on_json_fails)
{
    result r = RUN_IN("[]", "convert", "--from", "msgpack");
    expect_fail(&r, "patchwire convert: byte ");
    result_free(&r);
}

Test(cli, convert_empty_input_fails)
{
    result r = RUN_IN("", "convert");
    expect_fail(&r, "patchwire convert: byte 0: ");
    result_free(&r);
}

Test(cli, convert_max_bytes_refuses_a_larger_stdin)
{
    result r = RUN_IN("[1,2,3,4,5,6,7,8,9]", "convert", "--max-bytes", "10");
    expect_fail(&r, "patchwire convert: stdin: ");
    cr_expect(strstr(r.err, "limit") != NULL, "%s", r.err);
    result_free(&r);
    r = RUN_IN("[1,2,3,4]", "convert", "--max-bytes=10");
    expect_ok(&r, "[1,2,3,4]\n");
    result_free(&r);
}

Test(cli, convert_max_bytes_refuses_a_larger_file)
{
    const char *p = write_file("big.json", "[1,2,3,4,5,6,7,8,9]");
    result r = RUN("convert", "--max-bytes", "10", p);
    char prefix[256];
    snprintf(prefix, sizeof prefix, "patchwire convert: %s: ", p);
    expect_fail(&r, prefix);
    result_free(&r);
}

Test(cli, convert_max_depth_limits_nesting)
{
    result r = RUN_IN("[[[[[[1]]]]]]", "convert", "--max-depth", "2");
    expect_fail(&r, "patchwire convert: byte ");
    result_free(&r);
    r = RUN_IN("[[[[[[1]]]]]]", "convert", "--max-depth", "100");
    expect_ok(&r, "[[[[[[1]]]]]]\n");
    result_free(&r);
}

Test(cli, convert_bad_limit_value_is_a_usage_error)
{
    result r = RUN_IN("1", "convert", "--max-depth", "deep");
    expect_usage_error(&r);
    result_free(&r);
    r = RUN_IN("1", "convert", "--max-bytes");
    expect_usage_error(&r);
    result_free(&r);
}

Test(cli, convert_unknown_format_is_a_usage_error)
{
    result r = RUN_IN("1", "convert", "--to", "yaml");
    expect_usage_error(&r);
    result_free(&r);
}

Test(cli, convert_failed_write_exits_1)
{
    result r = run_full("{\"a\":1}", 7, "/dev/full", (const char *const[]){"convert", NULL});
    cr_expect_eq(r.status, 1, "exit %d", r.status);
    cr_expect_eq(count_lines(r.err), 1, "stderr: %s", r.err);
    cr_expect(starts_with(r.err, "patchwire convert: cannot write"), "stderr: %s", r.err);
    result_free(&r);
}

/* ---------------------------------------------------------------- help */

/* The adapters this program was built with, as meson lists them ("ws mqtt"). */
static const char *built_adapters(void)
{
    const char *a = getenv("PW_ADAPTERS");
    cr_assert(a, "PW_ADAPTERS must list the adapters built in (empty: none)");
    return a;
}

static bool adapter_built(const char *name)
{
    char list[64], want[32];
    snprintf(list, sizeof list, " %s ", built_adapters());
    snprintf(want, sizeof want, " %s ", name);
    return strstr(list, want) != NULL;
}

Test(cli, version_lists_the_adapters_and_codecs_built_in)
{
    const char *v = getenv("PW_VERSION");
    cr_assert(v && *v, "PW_VERSION must hold the project version");
    const char *a = built_adapters();
    char want[256];
    snprintf(want, sizeof want, "patchwire %s (adapters: %s; codecs: json msgpack)\n", v,
             *a ? a : "none");
    result r = RUN("--version");
    expect_ok(&r, want);
    result_free(&r);
    r = RUN("-V");
    expect_ok(&r, want);
    result_free(&r);
}

Test(cli, serve_and_connect_are_listed_only_with_a_transport)
{
    bool any = *built_adapters() != '\0';
    result r = RUN("--help");
    cr_expect_eq(strstr(r.out, "\n  serve ") != NULL, any, "%s", r.out);
    cr_expect_eq(strstr(r.out, "\n  connect ") != NULL, any, "%s", r.out);
    result_free(&r);
    if (any)
        return;
    static const char *const cmds[] = {"serve", "connect"};
    for (size_t i = 0; i < 2; i++) {
        r = RUN(cmds[i], "ws://127.0.0.1:1/");
        expect_usage_error(&r);
        cr_expect(strstr(r.err, "built without a transport adapter"), "%s", r.err);
        result_free(&r);
    }
}

/* A transport this program was built without: serve's option and connect's
 * URL are usage errors that say so, whatever else was built. */
Test(cli, a_transport_not_built_is_a_usage_error_naming_it)
{
    if (!*built_adapters())
        return; /* no serve or connect at all: the test above */
    static const struct {
        const char *adapter, *serve_opt, *serve_arg, *url;
    } ts[] = {
        {"ws", "--ws", "127.0.0.1:0", "ws://127.0.0.1:1/"},
        {"mqtt", "--mqtt", "mqtt://127.0.0.1:1", "mqtt://127.0.0.1:1"},
        {"nanomsg", "--nanomsg", "ipc:///nonexistent/hub", "nanomsg+ipc:///nonexistent/hub"},
    };
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        if (adapter_built(ts[i].adapter))
            continue;
        result r = RUN("serve", ts[i].serve_opt, ts[i].serve_arg);
        expect_usage_error(&r);
        cr_expect(strstr(r.err, "built without"), "serve %s: %s", ts[i].serve_opt, r.err);
        result_free(&r);
        r = RUN("connect", "--timeout", "1", ts[i].url);
        expect_usage_error(&r);
        cr_expect(strstr(r.err, "built without"), "connect %s: %s", ts[i].url, r.err);
        result_free(&r);
    }
    if (!adapter_built("ws")) { /* nothing to serve on by default */
        result r = RUN("serve");
        expect_usage_error(&r);
        cr_expect(strstr(r.err, "needs --mqtt URL or --nanomsg URL"), "%s", r.err);
        result_free(&r);
    }
}

static void expect_top_help(result *r)
{
    cr_expect_eq(r->status, 0);
    cr_expect_str_eq(r->err, "");
    cr_expect(starts_with(r->out, "usage: patchwire <command>"), "%s", r->out);
    cr_expect(strstr(r->out, "\n  apply ") != NULL, "%s", r->out);
    cr_expect(strstr(r->out, "\n  diff ") != NULL, "%s", r->out);
    cr_expect(strstr(r->out, "\n  convert ") != NULL, "%s", r->out);
}

Test(cli, help_lists_the_subcommands)
{
    result r = RUN("--help");
    expect_top_help(&r);
    result_free(&r);
    r = RUN("help");
    expect_top_help(&r);
    result_free(&r);
}

Test(cli, each_subcommand_has_help_on_stdout)
{
    static const char *const cmds[] = {"apply", "diff", "convert"};
    for (size_t i = 0; i < 3; i++) {
        char want[64];
        snprintf(want, sizeof want, "usage: patchwire %s ", cmds[i]);
        result r = RUN(cmds[i], "--help");
        cr_expect_eq(r.status, 0, "%s --help", cmds[i]);
        cr_expect_str_eq(r.err, "");
        cr_expect(starts_with(r.out, want), "%s", r.out);
        cr_expect(strstr(r.out, "--max-depth") != NULL, "%s", r.out);
        result h = RUN("help", cmds[i]);
        expect_ok(&h, r.out);
        result_free(&h);
        result_free(&r);
    }
}

Test(cli, unknown_subcommand_is_a_usage_error)
{
    result r = RUN("frobnicate");
    expect_usage_error(&r);
    cr_expect(starts_with(r.err, "patchwire: unknown command 'frobnicate'\n"), "%s", r.err);
    result_free(&r);
}

Test(cli, unknown_top_level_option_is_a_usage_error)
{
    result r = RUN("--frobnicate");
    expect_usage_error(&r);
    result_free(&r);
}

Test(cli, no_arguments_prints_the_usage)
{
    result r = run_in(NULL, (const char *const[]){NULL});
    cr_expect_eq(r.status, 2);
    cr_expect_eq(r.out_len, 0);
    cr_expect(starts_with(r.err, "usage: patchwire <command>"), "%s", r.err);
    result_free(&r);
}

Test(cli, a_usage_error_names_the_command_in_its_hint)
{
    result r = RUN("apply", "--frobnicate", "a", "b");
    expect_usage_error(&r);
    cr_expect_str_eq(r.err, "patchwire apply: unknown option '--frobnicate'\n"
                            "Try 'patchwire apply --help'.\n");
    result_free(&r);
}

/* ---------------------------------------------------------------- help and scripts */

/* Every "--option" string literal in a source file, as "|--a|--b|". */
static void options_in_source(const char *path, char *out, size_t cap)
{
    size_t len;
    char *src = read_file(path, &len);
    size_t n = 0;
    out[n++] = '|';
    out[n] = '\0';
    for (char *p = strstr(src, "\"--"); p; p = strstr(p + 1, "\"--")) {
        size_t k = strspn(p + 1, "-abcdefghijklmnopqrstuvwxyz");
        /* not options: a prefix of some (strncmp), or one refused (!= 0) */
        bool prefix = p - src >= 11 && strncmp(p - 11, "strncmp(a, ", 11) == 0;
        bool refused = strncmp(p + 2 + k, ") != 0", 6) == 0;
        if (p[1 + k] != '"' || k < 3 || prefix || refused)
            continue;
        char opt[64];
        snprintf(opt, sizeof opt, "|%.*s|", (int)k, p + 1);
        if (!strstr(out, opt) && n + k + 2 < cap) {
            memcpy(out + n, opt + 1, k + 1);
            n += k + 1;
            out[n] = '\0';
        }
    }
    free(src);
}

Test(cli, each_help_lists_every_option_its_command_accepts)
{
    const char *src = getenv("PW_SOURCE_DIR");
    cr_assert(src && *src, "PW_SOURCE_DIR must name the source tree");
    static const char *const cmds[] = {"apply", "diff", "convert", "serve", "connect"};
    char common[512], own[2048], path[1024];
    snprintf(path, sizeof path, "%s/tools/cli.c", src);
    options_in_source(path, common, sizeof common);
    cr_assert(strstr(common, "|--max-bytes|"), "%s", common);
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        result r = RUN(cmds[i], "--help");
        if (r.status != 0 && i >= 3) { /* built without the WebSocket adapter */
            result_free(&r);
            continue;
        }
        cr_assert_eq(r.status, 0, "%s --help: %s", cmds[i], r.err);
        snprintf(path, sizeof path, "%s/tools/cmd_%s.c", src, cmds[i]);
        options_in_source(path, own, sizeof own);
        const char *lists[] = {common, own};
        for (int l = 0; l < 2; l++)
            for (const char *o = lists[l] + 1, *bar; (bar = strchr(o, '|')); o = bar + 1) {
                char opt[80];
                snprintf(opt, sizeof opt, " %.*s", (int)(bar - o), o);
                const char *at = strstr(r.out, opt);
                char after = at ? at[strlen(opt)] : '\0';
                cr_expect(at && (after == ' ' || after == '\n' || after == ',' || after == '='),
                          "'%s --help' does not list %s", cmds[i], opt + 1);
            }
        result_free(&r);
    }
}

Test(cli, install_deps_help_installs_nothing)
{
    const char *src = getenv("PW_SOURCE_DIR");
    cr_assert(src && *src, "PW_SOURCE_DIR must name the source tree");
    /* stand-ins for every installer the script could run: each leaves a mark */
    const char *mark = tmp_path("ran");
    static const char *const tools[] = {"apt-get", "sudo", "npm", "node"};
    for (size_t i = 0; i < 4; i++) {
        char text[512];
        snprintf(text, sizeof text, "#!/bin/sh\necho \"$0 $*\" >> '%s'\nexit 1\n", mark);
        const char *p = write_file(tools[i], text);
        cr_assert_eq(chmod(p, 0700), 0);
    }
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "PATH='%s':\"$PATH\" '%s/scripts/install-deps' --help >'%s/out' 2>&1",
             dir, src, dir);
    tmp_path("out");
    int status = system(cmd);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status %d", status);
    cr_expect_eq(access(mark, F_OK), -1, "--help ran an installer");
    size_t len;
    char out_path[300];
    snprintf(out_path, sizeof out_path, "%s/out", dir);
    char *out = read_file(out_path, &len);
    cr_expect(starts_with(out, "usage: scripts/install-deps"), "%s", out);
    free(out);
}

/* ---------------------------------------------------------------- README */

/* Runs cmd with sh in dir, patchwire found in PATH; stdout and stderr. */
static char *shell_output(const char *dir_, const char *cmd)
{
    char bin[1024];
    snprintf(bin, sizeof bin, "%s", cli_path());
    *strrchr(bin, '/') = '\0';
    size_t n = strlen(cmd) + strlen(dir_) + strlen(bin) + 64;
    char *full = malloc(n);
    cr_assert(full);
    snprintf(full, n, "cd '%s' && PATH='%s':\"$PATH\" && { %s\n} 2>&1", dir_, bin, cmd);
    FILE *p = popen(full, "r");
    cr_assert(p, "cannot run %s", cmd);
    size_t cap = 4096, len = 0, r;
    char *out = malloc(cap);
    while ((r = fread(out + len, 1, cap - len - 1, p)) > 0)
        if ((len += r) + 1 == cap)
            out = realloc(out, cap *= 2);
    out[len] = '\0';
    pclose(p);
    free(full);
    return out;
}

/* Every block of README.md after a line "<!-- runnable -->": indented lines
 * "$ command" are run in order (in a fresh directory where examples/ is the
 * repository's), and the lines after each must be exactly its output. */
Test(cli, the_readme_examples_print_what_the_readme_shows)
{
    const char *src = getenv("PW_SOURCE_DIR");
    cr_assert(src && *src, "PW_SOURCE_DIR must name the source tree");
    char path[1024], cmd[2048];
    snprintf(path, sizeof path, "%s/README.md", src);
    size_t len;
    char *readme = read_file(path, &len);
    snprintf(cmd, sizeof cmd, "ln -s '%s/examples' '%s/examples'", src, dir);
    cr_assert_eq(system(cmd), 0);
    tmp_path("examples");
    tmp_path("b.json"); /* the diff example writes it */
    int blocks = 0, commands = 0;
    for (char *at = strstr(readme, "<!-- runnable -->\n"); at;
         at = strstr(at + 1, "<!-- runnable -->\n")) {
        char *line = strchr(at, '\n') + 1;
        while (*line == '\n')
            line++;
        char command[2048] = "", want[8192] = "";
        blocks++;
        for (;;) {
            char *end = strchr(line, '\n');
            bool indented = end && strncmp(line, "    ", 4) == 0;
            if (!indented || strncmp(line, "    $ ", 6) == 0) {
                if (command[0]) {
                    char *got = shell_output(dir, command);
                    cr_expect_str_eq(got, want, "README: $ %s", command);
                    free(got);
                    commands++;
                }
                if (!indented)
                    break;
                snprintf(command, sizeof command, "%.*s", (int)(end - line - 6), line + 6);
                want[0] = '\0';
            } else {
                size_t w = strlen(want);
                snprintf(want + w, sizeof want - w, "%.*s\n", (int)(end - line - 4), line + 4);
            }
            line = end + 1;
        }
    }
    cr_expect_geq(blocks, 3, "README.md has %d runnable blocks", blocks);
    cr_expect_geq(commands, 8, "README.md has %d runnable commands", commands);
    free(readme);
}
