/* connect_nanomsg.c - the nanomsg side of `patchwire connect`: a replica in
 * stream mode (its origin the client's) on SUB/PUSH/REQ sockets. */
#include "connect_nanomsg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef PW_HAVE_NANOMSG
#include "patchwire/nanomsg.h"
#endif

static const char scheme[] = "nanomsg+";

bool connect_nanomsg_url(const char *url)
{
    return url && strncmp(url, scheme, sizeof scheme - 1) == 0;
}

#ifdef PW_HAVE_NANOMSG

struct connect_nn {
    pw_nn_client *client;
};

int connect_nanomsg_open(cli *c, const char *url, pw_replica_options *ro, connect_nn **out)
{
    *out = NULL;
    connect_nn *n = calloc(1, sizeof *n);
    if (!n)
        return cli_fail(c, "out of memory");
    pw_nn_client_options o;
    pw_nn_client_options_init(&o);
    o.url = url + sizeof scheme - 1;
    o.max_message_bytes = c->lim.max_input_bytes;
    pw_error err;
    if (!(n->client = pw_nn_client_new(&o, &err))) {
        free(n);
        return cli_usage_error(c, "%s: %s", url, err.msg);
    }
    ro->send = NULL;
    ro->send_keyed = pw_nn_replica_send;
    ro->send_userdata = n->client;
    ro->origin = pw_nn_client_origin(n->client);
    *out = n;
    return CLI_OK;
}

int connect_nanomsg_follow(cli *c, connect_nn *n, pw_replica *r, const char *key, size_t key_len)
{
    pw_nn_client_bind_replica(n->client, r);
    pw_err rc = pw_nn_client_follow(n->client, key, key_len);
    return rc == PW_OK ? CLI_OK : cli_fail(c, "cannot follow %s: %s", key, pw_strerror(rc));
}

void connect_nanomsg_service(connect_nn *n, int timeout_ms)
{
    pw_nn_client_service(n->client, timeout_ms);
}

void connect_nanomsg_close(connect_nn *n)
{
    if (!n)
        return;
    pw_nn_client_free(n->client);
    free(n);
}

#else

int connect_nanomsg_open(cli *c, const char *url, pw_replica_options *ro, connect_nn **out)
{
    (void)url, (void)ro;
    *out = NULL;
    return cli_usage_error(c, "this patchwire was built without nanomsg (-Dnanomsg)");
}

int connect_nanomsg_follow(cli *c, connect_nn *n, pw_replica *r, const char *key, size_t key_len)
{
    (void)c, (void)n, (void)r, (void)key, (void)key_len;
    return CLI_USAGE;
}

void connect_nanomsg_service(connect_nn *n, int timeout_ms)
{
    (void)n, (void)timeout_ms;
}

void connect_nanomsg_close(connect_nn *n)
{
    (void)n;
}

#endif
