#include "pipeline/allocator.hpp"

#ifdef AGENTMEM_JEMALLOC
#include <jemalloc/jemalloc.h>

// jemalloc reads this at its first allocation; MALLOC_CONF in the
// environment is applied after it, so operators can still override.
// background_thread: purging of pages freed ≈ 10 s ago (dirty_decay_ms)
// runs on jemalloc's own thread instead of inside the next malloc/free
// on a pipeline thread, and an idle node gives memory back at all
// (jemalloc's TUNING.md recommends it where threads are available).
extern "C" {
// NOLINTNEXTLINE: the name is jemalloc's interface.
const char* malloc_conf = "background_thread:true";
}

#define AGENTMEM_STR_(x) #x
#define AGENTMEM_STR(x) AGENTMEM_STR_(x)
#else
#include <malloc.h>
#endif

namespace agentmem::pipeline {

#ifdef AGENTMEM_JEMALLOC
namespace {

template <class T>
T read_ctl(const char* name, T fallback) {
  T v{};
  size_t sz = sizeof(v);
  return ::mallctl(name, &v, &sz, nullptr, 0) == 0 ? v : fallback;
}

} // namespace

std::string allocator_name() {
  std::string name = "jemalloc ";
  name += read_ctl<const char*>("version", "?");
  name += read_ctl<bool>("background_thread", false)
              ? " (background_thread on)"
              : " (background_thread off)";
  return name;
}

heap_stats allocator_stats() {
  uint64_t epoch = 1;
  size_t sz = sizeof(epoch);
  ::mallctl("epoch", &epoch, &sz, &epoch, sz); // refreshes the stats.*
  heap_stats s;
  s.allocated = read_ctl<size_t>("stats.allocated", 0);
  s.held = read_ctl<size_t>("stats.resident", 0);
  s.retained = read_ctl<size_t>("stats.retained", 0);
  return s;
}

void release_free_memory() {
  ::mallctl("arena." AGENTMEM_STR(MALLCTL_ARENAS_ALL) ".purge", nullptr,
            nullptr, nullptr, 0);
}

#else

std::string allocator_name() {
  return "glibc malloc";
}

heap_stats allocator_stats() {
  struct mallinfo2 mi = ::mallinfo2();
  heap_stats s;
  s.allocated = mi.uordblks + mi.hblkhd;
  s.held = mi.arena + mi.hblkhd;
  return s;
}

void release_free_memory() {
  ::malloc_trim(0);
}

#endif

} // namespace agentmem::pipeline
