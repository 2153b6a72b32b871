#pragma once
// The process's malloc. agentmem's executables link jemalloc (CMake option
// AGENTMEM_JEMALLOC, on by default): the pipeline allocates a batch's
// records, memories and messages on one CAF worker and frees them on
// another, and glibc's malloc spent ≈ 12 % of a backlog's process CPU on
// that (docs/performance.md, fifteenth round). These helpers report and
// release the heap whichever allocator was linked.

#include <cstddef>
#include <string>

namespace agentmem::pipeline {

/// The allocator serving malloc in this process, e.g. "jemalloc 5.3.0-0-g…
/// (background_thread on)" or "glibc malloc".
std::string allocator_name();

/// Heap figures in bytes (jemalloc's `stats.*`, refreshed by an `epoch`
/// write; glibc's mallinfo2, summed over its arenas). `allocated`: bytes in
/// live allocations; `held`: what the allocator holds for the heap, an
/// upper bound of its resident memory — jemalloc: `stats.resident` (live
/// data, metadata and freed pages not yet returned; pages it handed out
/// but nobody touched count too); glibc: its arenas and mmapped chunks,
/// virtual; both count e.g. a graph's reserved capacity; `retained`: freed
/// address space kept mapped but already returned to the OS (jemalloc
/// only, else 0). Never throws.
struct heap_stats {
  size_t allocated = 0;
  size_t held = 0;
  size_t retained = 0;
};
heap_stats allocator_stats();

/// Returns freed heap memory to the OS now: jemalloc purges every arena's
/// dirty and muzzy pages (`arena.<all>.purge`), glibc runs malloc_trim(0).
/// For measurements (RSS of what is live) and after large frees; the
/// running node needs no call (jemalloc's background threads return pages
/// unused for ≈ 10 s, its `dirty_decay_ms`). Never throws.
void release_free_memory();

} // namespace agentmem::pipeline
