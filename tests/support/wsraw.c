/* wsraw.c - a raw WebSocket client and a `patchwire serve` child (wsraw.h).
 *
 * The one idea: the framing (RFC 6455) is written out by hand, so a test
 * decides every byte that goes to the server. */
#include "wsraw.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* ---- the server child ---- */

int served_start(served *s, const char *const *extra, int timeout_ms)
{
    snprintf(s->log_path, sizeof s->log_path, "/tmp/pw-serve-XXXXXX");
    int log_fd = mkstemp(s->log_path);
    if (log_fd < 0)
        return -1;
    close(log_fd);
    const char *args[32] = {"--no-static"};
    size_t n = 1;
    for (size_t i = 0; extra && extra[i] && n < 31; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    char why[256];
    s->port = 0;
    if (!child_serve_start_with(&s->c, args, s->log_path, timeout_ms, why, sizeof why)) {
        fprintf(stderr, "served_start: %s\n", why);
        return -1;
    }
    const char *colon = strstr(s->c.url, "127.0.0.1:");
    s->port = colon ? atoi(colon + strlen("127.0.0.1:")) : 0;
    if (s->port <= 0) {
        served_stop(s, 1000);
        return -1;
    }
    return 0;
}

int served_stop(served *s, int timeout_ms)
{
    if (s->c.pid <= 0)
        return -1;
    int status = child_serve_stop(&s->c, timeout_ms);
    if (status == -1)
        return 128 + SIGKILL;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool served_alive(const served *s)
{
    return s->c.pid > 0 && kill(s->c.pid, 0) == 0 && waitpid(s->c.pid, NULL, WNOHANG) == 0;
}

bool served_is_native(const served *s)
{
    char path[64], exe[4096];
    snprintf(path, sizeof path, "/proc/%d/exe", (int)s->c.pid);
    ssize_t n = readlink(path, exe, sizeof exe - 1);
    if (n <= 0)
        return false;
    exe[n] = '\0';
    const char *base = strrchr(exe, '/');
    return strncmp(base ? base + 1 : exe, "patchwire", 9) == 0;
}

long served_rss_kib(const served *s)
{
    return served_status_kib(s, "VmRSS:");
}

long served_cpu_ms(const served *s)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)s->c.pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long ut, st;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (long)((ut + st) * 1000 / (unsigned long)sysconf(_SC_CLK_TCK));
}

long served_status_kib(const served *s, const char *field)
{
    char path[64], line[256];
    size_t flen = strlen(field);
    snprintf(path, sizeof path, "/proc/%d/status", (int)s->c.pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, flen) == 0)
            kib = strtol(line + flen, NULL, 10);
    fclose(f);
    return kib;
}

/* ---- the raw client ---- */

static int wait_fd(int fd, short events, long long deadline)
{
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0)
            return -1;
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, (int)left);
        if (r > 0)
            return 0;
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

/* 0, WS_TIMEOUT or WS_EOF. */
static int read_full(int fd, void *buf, size_t n, long long deadline)
{
    uint8_t *p = buf;
    while (n) {
        if (wait_fd(fd, POLLIN, deadline) != 0)
            return WS_TIMEOUT;
        ssize_t r = read(fd, p, n);
        if (r <= 0) {
            if (r < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            return WS_EOF;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

int ws_send_raw(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    long long deadline = now_ms() + 5000;
    while (n) {
        if (wait_fd(fd, POLLOUT, deadline) != 0)
            return -1;
        ssize_t r = send(fd, b, n, MSG_NOSIGNAL);
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return -1;
        }
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Connects and sends an upgrade request; reads the response headers into
 * resp. The socket, or -1. */
/* A TCP connection to 127.0.0.1:port from src (NULL: any); fd or -1. */
static int connect_from(const char *src, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in from = {.sin_family = AF_INET};
    if ((src && (inet_pton(AF_INET, src, &from.sin_addr) != 1 ||
                 bind(fd, (struct sockaddr *)&from, sizeof from) != 0)) ||
        connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int tcp_open(int port)
{
    return connect_from(NULL, port);
}

static int handshake(const char *src, int port, const char *query, const char *proto,
                     int timeout_ms, char *resp, size_t cap)
{
    long long deadline = now_ms() + timeout_ms;
    int fd = connect_from(src, port);
    if (fd < 0)
        return -1;
    char req[1024];
    int n =
        snprintf(req, sizeof req,
                 "GET /%s%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 "Sec-WebSocket-Version: 13\r\n%s%s%s\r\n",
                 query ? "?" : "", query ? query : "", port,
                 proto ? "Sec-WebSocket-Protocol: " : "", proto ? proto : "", proto ? "\r\n" : "");
    if (ws_send_raw(fd, req, (size_t)n) != 0) {
        close(fd);
        return -1;
    }
    /* The response headers, a byte at a time: nothing after them is read. */
    size_t len = 0;
    while (len < cap - 1) {
        if (read_full(fd, resp + len, 1, deadline) != 0)
            break;
        len++;
        if (len >= 4 && memcmp(resp + len - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    resp[len] = '\0';
    return fd;
}

int ws_open(int port, const char *query, const char *proto, int timeout_ms)
{
    return ws_open_from(NULL, port, query, proto, timeout_ms);
}

int ws_open_from(const char *src, int port, const char *query, const char *proto, int timeout_ms)
{
    char resp[2048];
    int fd = handshake(src, port, query, proto, timeout_ms, resp, sizeof resp);
    size_t len = strlen(resp);
    if (fd >= 0 && (strncmp(resp, "HTTP/1.1 101", 12) != 0 || len < 4 ||
                    memcmp(resp + len - 4, "\r\n\r\n", 4) != 0)) {
        close(fd);
        return -1;
    }
    return fd;
}

int ws_upgrade_status(int port, const char *query, int timeout_ms)
{
    char resp[2048];
    int fd = handshake(NULL, port, query, NULL, timeout_ms, resp, sizeof resp);
    if (fd < 0)
        return -1;
    close(fd);
    int status;
    return sscanf(resp, "HTTP/1.%*d %d", &status) == 1 ? status : -1;
}

int ws_send_frame(int fd, bool fin, int opcode, const void *p, size_t n)
{
    uint8_t head[14];
    size_t h = 0;
    head[h++] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
    if (n < 126) {
        head[h++] = (uint8_t)(0x80 | n);
    } else if (n <= 0xffff) {
        head[h++] = 0x80 | 126;
        head[h++] = (uint8_t)(n >> 8);
        head[h++] = (uint8_t)n;
    } else {
        head[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            head[h++] = (uint8_t)((uint64_t)n >> (8 * i));
    }
    const uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
    memcpy(head + h, mask, 4);
    h += 4;
    uint8_t *buf = malloc(h + n);
    if (!buf)
        return -1;
    memcpy(buf, head, h);
    for (size_t i = 0; i < n; i++)
        buf[h + i] = ((const uint8_t *)p)[i] ^ mask[i & 3];
    int r = ws_send_raw(fd, buf, h + n);
    free(buf);
    return r;
}

int ws_recv(int fd, int timeout_ms, uint8_t **out, size_t *out_len)
{
    long long deadline = now_ms() + timeout_ms;
    uint8_t *msg = NULL;
    size_t len = 0;
    int opcode = WS_EOF, r;
    for (;;) {
        uint8_t h[2];
        if ((r = read_full(fd, h, 2, deadline)) != 0)
            goto fail;
        uint64_t n = h[1] & 0x7f;
        if (n == 126 || n == 127) {
            uint8_t ext[8];
            size_t k = n == 126 ? 2 : 8;
            if ((r = read_full(fd, ext, k, deadline)) != 0)
                goto fail;
            n = 0;
            for (size_t i = 0; i < k; i++)
                n = n << 8 | ext[i];
        }
        r = WS_EOF;
        if (h[1] & 0x80 || n > ((uint64_t)256 << 20))
            goto fail; /* servers do not mask; and a bound for the test */
        int op = h[0] & 0x0f;
        uint8_t *grown = realloc(msg, len + n + 1);
        if (!grown)
            goto fail;
        msg = grown;
        if ((r = read_full(fd, msg + len, n, deadline)) != 0)
            goto fail;
        if (op == WS_PING) {
            ws_send_frame(fd, true, WS_PONG, msg + len, n);
            continue;
        }
        if (op == WS_PONG)
            continue;
        if (op == WS_CLOSE) {
            memmove(msg, msg + len, n);
            len = n;
            opcode = WS_CLOSE;
            break;
        }
        if (op != WS_CONT)
            opcode = op;
        len += n;
        if (h[0] & 0x80)
            break;
    }
    msg[len] = '\0';
    *out = msg;
    *out_len = len;
    return opcode;
fail:
    free(msg);
    return r;
}

void ws_close(int fd)
{
    if (fd >= 0)
        close(fd);
}
