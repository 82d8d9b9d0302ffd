/* mqtt_cli.h - the --mqtt* options of `serve` and `connect`, read the same
 * way by both, and a clear refusal in a binary built without the adapter. */
#ifndef PW_MQTT_CLI_H
#define PW_MQTT_CLI_H

#include <stdbool.h>

#include "cli.h"

typedef struct mqtt_cli {
    const char *url; /* --mqtt URL (serve) or the mqtt:// URL (connect) */
    const char *prefix, *client_id, *user, *password_file, *ca, *cert, *key;
    const char *codec; /* json | msgpack (serve: what the hub publishes) */
    int qos;           /* when qos_set; else the default (1) */
    bool qos_set;
    int state_interval_ms;
    bool insecure;
    char password[256]; /* read from password_file */
} mqtt_cli;

/* Takes argv[*i] if it is an --mqtt* option (advancing *i past its value):
 * 1 taken, 0 not ours, -1 a usage error (*status set). */
int mqtt_cli_option(cli *c, mqtt_cli *m, int argc, char **argv, int *i, int *status);
/* Reads the password file; checks what goes together. CLI_OK or a status
 * (2 for usage, 1 for an unreadable file; exit 2 when the binary has no
 * MQTT adapter and an MQTT option was given). */
int mqtt_cli_finish(cli *c, mqtt_cli *m);
/* True when the binary was built with the MQTT adapter. */
bool mqtt_cli_built(void);

#endif
