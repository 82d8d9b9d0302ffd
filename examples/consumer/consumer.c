/* consumer.c - a hub serving one state on nanomsg sockets, built outside
 * the patchwire tree: prints the library's version and the state it serves.
 * usage: consumer ipc://PATH */
#include <patchwire.h>
#include <patchwire/nanomsg.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    const char text[] = "{\"items\":[\"milk\"]}";
    pw_value doc;
    pw_error err;
    if (pw_codec_json.decode((const uint8_t *)text, strlen(text), NULL, &doc, &err) != PW_OK)
        return 1;
    pw_hub_options ho;
    pw_hub_options_init(&ho);
    pw_hub *hub = pw_hub_new(&ho);
    if (!hub || pw_hub_set_state(hub, "appstate", 8, doc) != PW_OK)
        return 1;
    pw_nn_server_options no;
    pw_nn_server_options_init(&no);
    no.url = argv[1];
    pw_nn_server *server = pw_nn_server_new(hub, &no, &err);
    if (!server) {
        fprintf(stderr, "consumer: %s\n", err.msg);
        return 1;
    }
    pw_nn_server_service(server, 10);
    pw_buf out;
    pw_buf_init(&out);
    pw_codec_json.encode(pw_hub_state(hub, "appstate", 8, NULL), &out, NULL);
    printf("patchwire %s serves %.*s on %s\n", pw_version(), (int)out.len, (const char *)out.data,
           argv[1]);
    pw_buf_free(&out);
    pw_nn_server_free(server);
    pw_hub_free(hub);
    return 0;
}
