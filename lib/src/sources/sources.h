/* sluice internal: constructors of the built-in sources. */
#ifndef SLUICE_SOURCES_H
#define SLUICE_SOURCES_H

#include "engine/plan.h"

int sl__source_range(sl__source *src, int64_t first, int64_t last);
int sl__source_generator(sl__source *src, int64_t n, sl_generate_fn fn, void *arg);
int sl__source_array(sl__source *src, const sl_record *records, size_t count);
int sl__source_callback(sl__source *src, sl_source_fn fn, void *arg);
int sl__source_text(sl__source *src, const char *const *paths, size_t count);

/* Records a source emits per pull call before it returns to the event loop. */
#define SL__PULL_RECORDS 4096

/* The i-th of n equal shares of [0, total): [*lo, *hi). */
static inline void sl__share(uint64_t total, int i, int n, uint64_t *lo, uint64_t *hi) {
  *lo = (uint64_t)((unsigned __int128)total * (unsigned)i / (unsigned)n);
  *hi = (uint64_t)((unsigned __int128)total * (unsigned)(i + 1) / (unsigned)n);
}

#endif
