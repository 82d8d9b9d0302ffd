/* serve_nanomsg.h - what `patchwire serve` adds for --nanomsg: its options,
 * a server beside the other transports on the same hub, and its turn in the
 * service loop. Without the adapter the options are refused (exit 2). */
#ifndef PW_SERVE_NANOMSG_H
#define PW_SERVE_NANOMSG_H

#include "cli.h"
#include "patchwire/hub.h"

typedef struct serve_nn_opts {
    const char *url;   /* --nanomsg; NULL: none */
    const char *codec; /* --nanomsg-codec; NULL: json */
} serve_nn_opts;

typedef struct serve_nn serve_nn;

/* As cli_option_value: 1 when argv[*i] was --nanomsg or --nanomsg-codec, 0
 * if another option, -1 with *status set on a usage error. */
int serve_nanomsg_option(cli *c, int argc, char **argv, int *i, serve_nn_opts *o, int *status);
/* Binds the sockets when --nanomsg was given (*out NULL otherwise).
 * Returns CLI_OK or the exit status
 * after reporting. */
int serve_nanomsg_start(cli *c, pw_hub *hub, const serve_nn_opts *o, int verbosity, serve_nn **out);
/* One turn: reads and publishes what is ready, waiting up to timeout_ms
 * (NULL: nothing). The first prints "patchwire serve: nanomsg URL". */
void serve_nanomsg_service(serve_nn *s, int timeout_ms);
void serve_nanomsg_stop(serve_nn *s);

#endif
