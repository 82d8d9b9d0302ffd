/* nnutil.c - endpoints, socket options, the outgoing queue and log lines of
 * the nanomsg transport. The one idea of the queue: a message nanomsg would
 * not take now (EAGAIN) waits, in order, for the socket's NN_SNDFD. */
#include "nnutil.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nanomsg/nn.h>

static const char *const suffix[] = {
    [PW_NN_PUB] = ".pub", [PW_NN_PULL] = ".pull", [PW_NN_REP] = ".rep"};

pw_err pw_nn_endpoint(const char *url, pw_nn_socket which, char *out, size_t cap, pw_error *err)
{
    if (!url || (unsigned)which > PW_NN_REP)
        return pw_error_set(err, PW_EINVAL, "no nanomsg URL");
    int n = -1;
    if (strncmp(url, "tcp://", 6) == 0) {
        const char *colon = strrchr(url + 6, ':');
        char *end;
        errno = 0;
        long port = colon ? strtol(colon + 1, &end, 10) : -1;
        if (!colon || colon == url + 6 || errno || end == colon + 1 || *end || port < 1 ||
            port > 65535 - 2)
            return pw_error_set(err, PW_EINVAL,
                                "'%s': a tcp:// URL needs HOST:PORT with PORT 1..65533", url);
        n = snprintf(out, cap, "%.*s:%ld", (int)(colon - url), url, port + (long)which);
    } else if (strncmp(url, "ipc://", 6) == 0 || strncmp(url, "inproc://", 9) == 0) {
        if (!url[strncmp(url, "ipc://", 6) == 0 ? 6 : 9])
            return pw_error_set(err, PW_EINVAL, "'%s' names no path", url);
        n = snprintf(out, cap, "%s%s", url, suffix[which]);
    } else {
        return pw_error_set(err, PW_EINVAL,
                            "'%s': nanomsg URLs are tcp://HOST:PORT, ipc://PATH or inproc://NAME",
                            url);
    }
    if (n < 0 || (size_t)n >= cap)
        return pw_error_set(err, PW_EINVAL, "'%s' is too long", url);
    return PW_OK;
}

void pw_nn__outq_init(pw_nn__outq *q)
{
    q->head = NULL;
    q->tail = &q->head;
    q->bytes = q->count = 0;
}

bool pw_nn__outq_push(pw_nn__outq *q, void *msg, size_t len, int tag)
{
    pw_nn__out *o = malloc(sizeof *o);
    if (!o) {
        nn_freemsg(msg);
        return false;
    }
    *o = (pw_nn__out){.msg = msg, .len = len, .tag = tag};
    *q->tail = o;
    q->tail = &o->next;
    q->bytes += len;
    q->count++;
    return true;
}

bool pw_nn__outq_flush(pw_nn__outq *q, int sock, void (*sent)(int tag, size_t len, void *userdata),
                       void *userdata)
{
    while (q->head) {
        pw_nn__out *o = q->head;
        void *msg = o->msg;
        if (nn_send(sock, &msg, NN_MSG, NN_DONTWAIT) < 0) {
            if (nn_errno() == EAGAIN || nn_errno() == EINTR)
                return true;
            return false;
        }
        q->head = o->next;
        if (!q->head)
            q->tail = &q->head;
        q->bytes -= o->len;
        q->count--;
        if (sent)
            sent(o->tag, o->len, userdata);
        free(o);
    }
    return true;
}

void pw_nn__outq_clear(pw_nn__outq *q)
{
    for (pw_nn__out *o = q->head, *next; o; o = next) {
        next = o->next;
        nn_freemsg(o->msg);
        free(o);
    }
    pw_nn__outq_init(q);
}

void *pw_nn__msg_join(const void *prefix, size_t plen, const void *body, size_t blen)
{
    if (plen + blen < plen)
        return NULL;
    uint8_t *m = nn_allocmsg(plen + blen ? plen + blen : 1, 0);
    if (!m)
        return NULL;
    if (plen)
        memcpy(m, prefix, plen);
    if (blen)
        memcpy(m + plen, body, blen);
    return m;
}

int pw_nn__fd(int sock, int option)
{
    int fd = -1;
    size_t sz = sizeof fd;
    if (nn_getsockopt(sock, NN_SOL_SOCKET, option, &fd, &sz) < 0)
        return -1;
    return fd;
}

bool pw_nn__setint(int sock, int level, int option, int value)
{
    return nn_setsockopt(sock, level, option, &value, sizeof value) == 0;
}

int pw_nn__open(int protocol, pw_error *err)
{
    int s = nn_socket(AF_SP, protocol);
    if (s < 0) {
        pw_error_set(err, PW_EIO, "nanomsg socket: %s", nn_strerror(nn_errno()));
        return -1;
    }
    pw_nn__setint(s, NN_SOL_SOCKET, NN_LINGER, 0);
    return s;
}

bool pw_nn__attach(int s, const char *url, pw_nn_socket which, bool bind, pw_error *err)
{
    char addr[1024];
    if (pw_nn_endpoint(url, which, addr, sizeof addr, err) != PW_OK)
        return false;
    if ((bind ? nn_bind(s, addr) : nn_connect(s, addr)) < 0) {
        pw_error_set(err, PW_EIO, "%s %s: %s", bind ? "bind" : "connect", addr,
                     nn_strerror(nn_errno()));
        return false;
    }
    return true;
}

void pw_nn__log(pw_nn_log_cb log, void *userdata, pw_nn_log_level level, const char *fmt, ...)
{
    if (!log)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    log(level, line, userdata);
}
