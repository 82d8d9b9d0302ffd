/* patchwire.c - the patchwire command-line program: dispatch to the subcommands.
 *
 * The one idea: one table of subcommands drives dispatch, `help` and the
 * top-level usage, so a new subcommand is one line here and one cmd_*.c. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_io.h"
#include "cmds.h"
#include "patchwire/codec.h"
#include "patchwire/version.h"

#ifndef PW_ADAPTERS
#define PW_ADAPTERS ""
#endif

static const struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"apply", cmd_apply, "apply a patch list to a document, all or nothing"},
    {"diff", cmd_diff, "print the patch list that turns document A into document B"},
    {"convert", cmd_convert, "convert a document or message between JSON and MessagePack"},
    {"dump", cmd_dump, "print the states (and history) a hub stored with serve --data"},
#ifdef PW_HAVE_SERVE
    {"serve", cmd_serve, "run a hub on a WebSocket port, an MQTT broker or nanomsg sockets"},
    {"connect", cmd_connect, "follow a hub's state as JSON lines; send edits read on stdin"},
#endif
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const char hint[] = "Try 'patchwire --help'.\n";

/* The commands that need a transport, named by a program built without any. */
static const char *const transport_commands[] = {"serve", "connect"};

static void print_usage(FILE *f)
{
    fputs("usage: patchwire <command> [options] [args]\n"
          "\n"
          "Keeps a JSON-like state identical across peers: documents, Immer and\n"
          "RFC 6902 patch lists, FullSync/Patches messages, JSON and MessagePack.\n"
          "\n"
          "commands:\n",
          f);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-9s%s\n", commands[i].name, commands[i].summary);
    fputs("  help     show this help, or a command's help: patchwire help apply\n"
          "\n"
          "options:\n"
          "  -h, --help     show this help\n"
          "  -V, --version  print the version\n"
          "\n"
          "Run 'patchwire <command> --help' for the options of a command.\n"
          "Exit status: 0 success, 1 failure, 2 usage error.\n",
          f);
}

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

/* Checks that everything printed through stdio reached stdout (a failed
 * command has reported its own error already). */
static int finish(int status)
{
    if (status == 0 && cli_write_all(stdout, NULL, 0) != 0) {
        perror("patchwire: cannot write the output");
        return 1;
    }
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return 2;
    }
    const char *a = argv[1];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0 || (strcmp(a, "help") == 0 && argc == 2)) {
        print_usage(stdout);
        return finish(0);
    }
    if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
        printf("patchwire %s (adapters: %s; codecs: %s %s)\n", pw_version(),
               PW_ADAPTERS[0] ? PW_ADAPTERS : "none", pw_codec_json.name, pw_codec_msgpack.name);
        return finish(0);
    }
    if (strcmp(a, "help") == 0) {
        const struct command *cmd = find_command(argv[2]);
        if (!cmd || argc > 3) {
            if (cmd)
                fprintf(stderr, "patchwire help: unexpected argument '%s'\n", argv[3]);
            else
                fprintf(stderr, "patchwire help: unknown command '%s'\n", argv[2]);
            fputs(hint, stderr);
            return 2;
        }
        static char help_option[] = "--help";
        char *help_argv[] = {argv[2], help_option, NULL};
        return finish(cmd->run(2, help_argv));
    }
    const struct command *cmd = find_command(a);
    for (size_t i = 0; !cmd && i < sizeof transport_commands / sizeof *transport_commands; i++)
        if (strcmp(a, transport_commands[i]) == 0) {
            fprintf(stderr,
                    "patchwire %s: this patchwire was built without a transport adapter "
                    "(rebuild with libwebsockets-dev, libpaho-mqtt-dev or libnanomsg-dev "
                    "installed)\n",
                    a);
            fputs(hint, stderr);
            return 2;
        }
    if (!cmd) {
        if (a[0] == '-')
            fprintf(stderr, "patchwire: unknown option '%s'\n", a);
        else
            fprintf(stderr, "patchwire: unknown command '%s'\n", a);
        fputs(hint, stderr);
        return 2;
    }
    return finish(cmd->run(argc - 1, argv + 1));
}
