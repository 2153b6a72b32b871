#include "storage/simd_kernels.hpp"

#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define AGENTMEM_X86_KERNELS 1
#endif

namespace agentmem::storage {

namespace {

#ifdef AGENTMEM_X86_KERNELS

__attribute__((target("avx2,fma"))) float
ip_distance_avx2(const void* a, const void* b, const void* dims_ptr) {
  auto* x = static_cast<const float*>(a);
  auto* y = static_cast<const float*>(b);
  size_t n = *static_cast<const size_t*>(dims_ptr);
  __m256 s0 = _mm256_setzero_ps();
  __m256 s1 = _mm256_setzero_ps();
  for (size_t i = 0; i < n; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8),
                         s1);
  }
  __m256 s = _mm256_add_ps(s0, s1);
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_movehdup_ps(h));
  return 1.0f - _mm_cvtss_f32(h);
}

__attribute__((target("avx512f"))) float
ip_distance_avx512(const void* a, const void* b, const void* dims_ptr) {
  auto* x = static_cast<const float*>(a);
  auto* y = static_cast<const float*>(b);
  size_t n = *static_cast<const size_t*>(dims_ptr);
  __m512 s0 = _mm512_setzero_ps();
  size_t i = 0;
  if (n % 32 == 0) {
    __m512 s1 = _mm512_setzero_ps();
    for (; i < n; i += 32) {
      s0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), s0);
      s1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16),
                           _mm512_loadu_ps(y + i + 16), s1);
    }
    s0 = _mm512_add_ps(s0, s1);
  } else {
    for (; i < n; i += 16)
      s0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), s0);
  }
  return 1.0f - _mm512_reduce_add_ps(s0);
}

#endif

simd_level cpu_level() {
#ifdef AGENTMEM_X86_KERNELS
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f"))
    return simd_level::avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return simd_level::avx2_fma;
#endif
  return simd_level::sse;
}

} // namespace

const char* to_string(simd_level l) {
  switch (l) {
    case simd_level::avx512: return "avx512";
    case simd_level::avx2_fma: return "avx2+fma";
    default: return "sse";
  }
}

simd_level detected_simd_level() {
  static const simd_level level = [] {
    auto l = cpu_level();
    if (const char* env = std::getenv("AGENTMEM_SIMD")) {
      if (std::strcmp(env, "sse") == 0)
        l = simd_level::sse;
      else if (std::strcmp(env, "avx2") == 0 && l == simd_level::avx512)
        l = simd_level::avx2_fma;
    }
    return l;
  }();
  return level;
}

distance_fn ip_distance(size_t dims, simd_level level) {
#ifdef AGENTMEM_X86_KERNELS
  if (dims % 16 == 0 && dims > 0) {
    if (level == simd_level::avx512)
      return ip_distance_avx512;
    if (level == simd_level::avx2_fma)
      return ip_distance_avx2;
  }
#endif
  (void) dims;
  (void) level;
  return nullptr;
}

} // namespace agentmem::storage
