/* mqtt_cli.c - the --mqtt* options (see mqtt_cli.h). */
#include "mqtt_cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool mqtt_cli_built(void)
{
#ifdef PW_HAVE_MQTT
    return true;
#else
    return false;
#endif
}

static int parse_int(cli *c, const char *name, const char *v, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < lo || n > hi)
        return cli_usage_error(c, "%s needs a number from %d to %d, not '%s'", name, lo, hi, v);
    *out = (int)n;
    return CLI_OK;
}

int mqtt_cli_option(cli *c, mqtt_cli *m, int argc, char **argv, int *i, int *status)
{
    static const struct {
        const char *name;
        size_t off;
    } strs[] = {
        {"--mqtt", offsetof(mqtt_cli, url)},
        {"--mqtt-prefix", offsetof(mqtt_cli, prefix)},
        {"--mqtt-client-id", offsetof(mqtt_cli, client_id)},
        {"--mqtt-user", offsetof(mqtt_cli, user)},
        {"--mqtt-password-file", offsetof(mqtt_cli, password_file)},
        {"--mqtt-ca", offsetof(mqtt_cli, ca)},
        {"--mqtt-cert", offsetof(mqtt_cli, cert)},
        {"--mqtt-key", offsetof(mqtt_cli, key)},
        {"--mqtt-codec", offsetof(mqtt_cli, codec)},
    };
    const char *a = argv[*i], *v = NULL;
    if (strcmp(a, "--mqtt-insecure") == 0) {
        m->insecure = true;
        return 1;
    }
    for (size_t k = 0; k < sizeof strs / sizeof strs[0]; k++) {
        int r = cli_option_value(c, strs[k].name, argc, argv, i, &v, status);
        if (r < 0)
            return -1;
        if (r > 0) {
            *(const char **)(void *)((char *)m + strs[k].off) = v;
            return 1;
        }
    }
    int r = cli_option_value(c, "--mqtt-qos", argc, argv, i, &v, status);
    if (r > 0 && (*status = parse_int(c, "--mqtt-qos", v, 0, 2, &m->qos)) != CLI_OK)
        return -1;
    m->qos_set |= r > 0;
    if (r != 0)
        return r;
    r = cli_option_value(c, "--mqtt-state-interval", argc, argv, i, &v, status);
    if (r > 0 && (*status = parse_int(c, "--mqtt-state-interval", v, 1, 3600000,
                                      &m->state_interval_ms)) != CLI_OK)
        return -1;
    return r;
}

int mqtt_cli_finish(cli *c, mqtt_cli *m)
{
    bool any = m->url || m->prefix || m->client_id || m->user || m->password_file || m->ca ||
               m->cert || m->key || m->codec || m->qos_set || m->state_interval_ms ||
               m->insecure;
    if (!any)
        return CLI_OK;
    if (!mqtt_cli_built())
        return cli_usage_error(c, "this patchwire was built without the MQTT adapter "
                                  "(rebuild with libpaho-mqtt-dev installed, -Dmqtt=enabled)");
    if (!m->url)
        return cli_usage_error(c, "MQTT options need a broker: --mqtt mqtt://HOST:PORT");
    if (m->codec && strcmp(m->codec, "json") != 0 && strcmp(m->codec, "msgpack") != 0)
        return cli_usage_error(c, "--mqtt-codec is json or msgpack, not '%s'", m->codec);
    if (!m->cert != !m->key)
        return cli_usage_error(c, "--mqtt-cert and --mqtt-key go together");
    if (m->password_file && !m->user)
        return cli_usage_error(c, "--mqtt-password-file needs --mqtt-user");
    if (m->password_file) {
        FILE *f = fopen(m->password_file, "r");
        if (!f)
            return cli_fail(c, "%s: %s", m->password_file, strerror(errno));
        bool ok = fgets(m->password, sizeof m->password, f) != NULL;
        fclose(f);
        if (!ok)
            return cli_fail(c, "%s: empty password file", m->password_file);
        m->password[strcspn(m->password, "\r\n")] = '\0';
    }
    return CLI_OK;
}
