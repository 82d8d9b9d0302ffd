/* JavaScript devices over a real broker: a mosquitto of the test's own,
 * `patchwire serve --ws ... --mqtt URL`, and mqtt_clients.mjs (MQTT.js
 * devices following the SPEC's recipe, Visly-like WebSocket clients and the
 * C replica `patchwire connect mqtt://...`) editing one state at once; when
 * the edits stop every peer, a late MQTT subscriber and a late WebSocket
 * joiner must hold the same state. In JSON and in MessagePack (--mqtt-codec).
 * The broker and the server are stopped after every test. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "broker.h"
#include "child.h"

static child_serve server;
static broker mosquitto;

static void stop_all(void)
{
    child_serve_stop(&server, 5000);
    broker_free(&mosquitto);
}

TestSuite(js_mqtt, .fini = stop_all, .timeout = 240);

static const char *interop_dir(void)
{
    const char *dir = getenv("PW_INTEROP_DIR");
    cr_assert_not_null(dir, "PW_INTEROP_DIR not set (the folder of mqtt_clients.mjs)");
    const char *pkgs[] = {"mqtt", "ws", "immer", "@msgpack/msgpack"};
    for (size_t i = 0; i < sizeof pkgs / sizeof *pkgs; i++)
        cr_assert(child_has_node_module(dir, pkgs[i]),
                  "npm package %s is not installed in %s/node_modules: run scripts/npm-deps "
                  "(or npm ci --prefix %s)",
                  pkgs[i], dir, dir);
    return dir;
}

/* A broker, then serve on it with the extra options (NULL-ended). */
static void start_hub(const char *const *extra)
{
    char why[512];
    cr_assert(broker_available(), "mosquitto is not installed: run scripts/install-deps");
    cr_assert(broker_init(&mosquitto, NULL, why, sizeof why), "%s", why);
    cr_assert(broker_start(&mosquitto, 10000, why, sizeof why), "%s", why);
    const char *args[16] = {"--mqtt", mosquitto.url};
    size_t n = 2;
    for (size_t i = 0; extra && extra[i] && n < 15; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    cr_assert(child_serve_start(&server, args, 10000, why, sizeof why), "%s", why);
}

static void run_clients(const char *const *extra)
{
    const char *argv[24] = {"node", "mqtt_clients.mjs", server.ws_url, mosquitto.url};
    size_t n = 4;
    for (size_t i = 0; extra && extra[i] && n < 23; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    int status = child_run(interop_dir(), argv, 180000);
    /* Stopped first, so that a failure says whether the server was still up. */
    int serve_status = child_serve_stop(&server, 5000);
    cr_assert(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "node mqtt_clients.mjs %s %s failed (wait status %d; patchwire serve's wait status "
              "after SIGTERM: %d): see its output above",
              server.ws_url, mosquitto.url, status, serve_status);
    cr_assert(serve_status != -1 && WIFEXITED(serve_status) && WEXITSTATUS(serve_status) == 0,
              "patchwire serve did not exit 0 on SIGTERM (wait status %d)", serve_status);
}

Test(js_mqtt, json_devices_web_clients_and_a_replica_converge_after_concurrent_edits)
{
    interop_dir();
    start_hub(NULL);
    run_clients((const char *[]){"--devices", "4", "--clients", "2", "--edits", "40", NULL});
}

Test(js_mqtt, msgpack_devices_web_clients_and_a_replica_converge_after_concurrent_edits)
{
    interop_dir();
    start_hub((const char *[]){"--mqtt-codec", "msgpack", NULL});
    run_clients((const char *[]){"--devices", "4", "--clients", "2", "--edits", "40", "--codec",
                                 "msgpack", NULL});
}

Test(js_mqtt, qos0_and_a_short_state_interval_converge_too)
{
    interop_dir();
    start_hub((const char *[]){"--mqtt-qos", "0", "--mqtt-state-interval", "100", NULL});
    run_clients((const char *[]){"--devices", "3", "--clients", "2", "--edits", "30",
                                 "--state-interval", "100", NULL});
}
