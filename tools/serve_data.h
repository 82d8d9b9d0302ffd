/* serve_data.h - what `patchwire serve` adds for --data: its options, the
 * store opened and loaded into the hub, and the commit after each turn of
 * the service loop. */
#ifndef PW_SERVE_DATA_H
#define PW_SERVE_DATA_H

#include <stdbool.h>

#include "cli.h"
#include "patchwire/hub.h"
#include "patchwire/persist.h"

typedef struct serve_data_opts {
    const char *path;   /* --data; NULL: the states live in memory only */
    const char *sync;   /* --sync: always (default), batch or off */
    size_t interval_ms; /* --sync-interval */
} serve_data_opts;

/* As cli_option_value: 1 when argv[*i] was one of ours, 0 if another
 * option, -1 with *status set on a usage error. */
int serve_data_option(cli *c, int argc, char **argv, int *i, serve_data_opts *o, int *status);
/* Checks the options together (CLI_OK or the usage status). */
int serve_data_finish(cli *c, const serve_data_opts *o);
/* With --data: opens the store and loads it into hub (a line on stderr says
 * what was loaded); *out is NULL without --data. CLI_OK or the exit status
 * after reporting. */
int serve_data_open(cli *c, pw_hub *hub, const serve_data_opts *o, bool quiet, pw_persist **out);
/* Commits what the start seeded; CLI_OK or CLI_FAIL after reporting. */
int serve_data_seeded(cli *c, pw_hub *hub);
/* The longest the loop may wait before the next commit is due. */
int serve_data_wait(const pw_hub *hub, int most);

#endif
