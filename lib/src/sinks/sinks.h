/* SPDX-License-Identifier: BSD-3-Clause */
/* sluice internal: what the built-in sinks share (sinks/). */
#ifndef SLUICE_SINKS_H
#define SLUICE_SINKS_H

#include "core/core.h"

struct sl_text {
  sl__bytes b;
};

#endif
