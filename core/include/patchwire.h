/* patchwire.h - umbrella header: the whole public API of libpatchwire. */
#ifndef PATCHWIRE_H
#define PATCHWIRE_H

#include "patchwire/buf.h"
#include "patchwire/codec.h"
#include "patchwire/error.h"
#include "patchwire/hub.h"
#include "patchwire/inproc.h"
#include "patchwire/msg.h"
#include "patchwire/patch.h"
#include "patchwire/persist.h"
#include "patchwire/replica.h"
#include "patchwire/store.h"
#include "patchwire/transport.h"
#include "patchwire/value.h"
#include "patchwire/version.h"

#endif
