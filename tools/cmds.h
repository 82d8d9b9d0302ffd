/* cmds.h - the patchwire subcommands: each takes argv with argv[0] its name
 * and returns the exit status (see cli.h). */
#ifndef PW_CMDS_H
#define PW_CMDS_H

int cmd_apply(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_connect(int argc, char **argv);
int cmd_dump(int argc, char **argv);

#endif
