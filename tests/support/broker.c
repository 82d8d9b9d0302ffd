/* broker.c - a real mosquitto for a test (see broker.h).
 *
 * The one idea: the port is picked once (bind to port 0, read it back) and
 * kept, so a broker killed mid-test comes back where its clients reconnect;
 * readiness is a TCP connect that succeeds, polled with a deadline. */
#include "broker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static bool accepts(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

bool broker_available(void)
{
    return access("/usr/sbin/mosquitto", X_OK) == 0 || system("command -v mosquitto >/dev/null") == 0;
}

const char *broker_path(const broker *b, const char *name)
{
    static char paths[4][192];
    static int next;
    char *p = paths[next++ % 4];
    snprintf(p, sizeof paths[0], "%s/%s", b->dir, name);
    return p;
}

bool broker_init(broker *b, const char *extra, char *why, size_t why_len)
{
    memset(b, 0, sizeof *b);
    snprintf(b->dir, sizeof b->dir, "/tmp/pw-broker-XXXXXX");
    if (!mkdtemp(b->dir)) {
        snprintf(why, why_len, "mkdtemp: %s", strerror(errno));
        return false;
    }
    b->port = free_port();
    if (b->port <= 0) {
        snprintf(why, why_len, "no free port");
        return false;
    }
    snprintf(b->url, sizeof b->url, "mqtt://127.0.0.1:%d", b->port);
    snprintf(b->extra, sizeof b->extra, "%s", extra ? extra : "");
    return true;
}

bool broker_start(broker *b, int timeout_ms, char *why, size_t why_len)
{
    const char *conf = broker_path(b, "mosquitto.conf");
    FILE *f = fopen(conf, "w");
    if (!f) {
        snprintf(why, why_len, "%s: %s", conf, strerror(errno));
        return false;
    }
    /* as root, mosquitto would drop to the mosquitto user: stay, so the
     * test's files stay readable */
    fprintf(f,
            "user root\nlistener %d 127.0.0.1\nallow_anonymous true\n"
            "max_queued_messages 100000\nset_tcp_nodelay true\n%s\n",
            b->port, b->extra);
    fclose(f);
    char log[192];
    snprintf(log, sizeof log, "%s", broker_path(b, "mosquitto.log"));
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, why_len, "fork: %s", strerror(errno));
        return false;
    }
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        execlp("mosquitto", "mosquitto", "-c", conf, (char *)NULL);
        _exit(127);
    }
    b->pid = pid;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            b->pid = 0;
            snprintf(why, why_len, "mosquitto exited (status %d): see %s", status, log);
            return false;
        }
        if (accepts(b->port))
            return true;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > timeout_ms) {
            broker_stop(b, true);
            snprintf(why, why_len, "mosquitto did not listen on %d within %d ms: see %s", b->port,
                     timeout_ms, log);
            return false;
        }
        nanosleep(&(struct timespec){.tv_nsec = 20000000}, NULL);
    }
}

void broker_stop(broker *b, bool kill_it)
{
    if (b->pid <= 0)
        return;
    kill(b->pid, kill_it ? SIGKILL : SIGTERM);
    for (int i = 0; i < 300; i++) {
        if (waitpid(b->pid, NULL, WNOHANG) == b->pid) {
            b->pid = 0;
            return;
        }
        nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
    }
    kill(b->pid, SIGKILL);
    waitpid(b->pid, NULL, 0);
    b->pid = 0;
}

void broker_free(broker *b)
{
    broker_stop(b, false);
    if (b->dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", b->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "broker_free: could not remove %s\n", b->dir);
    }
    b->dir[0] = '\0';
}
