#pragma once

#include <cstddef>

namespace agentmem::storage {

/// Instruction sets of the vector index's inner-product kernels. hnswlib
/// 0.6.2 picks its kernels at compile time (`#ifdef __AVX__`), so a
/// portable build (no -march) gets only SSE. These kernels are compiled per
/// function for their target (`__attribute__((target))`) and chosen at run
/// time from what the CPU reports (`__builtin_cpu_supports`): one binary
/// runs on every x86-64 CPU and uses AVX2+FMA (x86-64-v3) or AVX-512F where
/// the CPU has them; other CPUs (and other architectures) keep hnswlib's
/// SSE (or scalar) kernel.
enum class simd_level { sse, avx2_fma, avx512 };

/// "sse", "avx2+fma" or "avx512".
const char* to_string(simd_level l);

/// The best level this CPU supports, lowered by the environment variable
/// AGENTMEM_SIMD=sse|avx2 when set (to compare kernels, or to see what an
/// older CPU gets). Computed once.
simd_level detected_simd_level();

/// hnswlib's distance function type: (vector a, vector b, pointer to a
/// size_t holding the dimension count) -> distance.
using distance_fn = float (*)(const void*, const void*, const void*);

/// Inner-product distance 1 - <a, b> over float vectors at `level`, or
/// nullptr when `level` is sse or `dims` is not a positive multiple of 16
/// (the caller then uses hnswlib's own kernel).
distance_fn ip_distance(size_t dims, simd_level level);

} // namespace agentmem::storage
