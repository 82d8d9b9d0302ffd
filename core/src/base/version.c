/* version.c - the version of the linked library. */
#include "patchwire/version.h"

const char *pw_version(void) { return PW_VERSION_STRING; }
