// The instruction set the core was compiled for, checked when a consumer links.
//
// Eigen is header-only: every translation unit that includes it instantiates the same inline
// templates (product kernels, packet math) as the core, and the linker keeps one copy of each. Code
// compiled for another instruction set than the core's can therefore swap its copies into the core
// and change its results in the last digits, silently. The interface exports no machine flags; this
// header turns a mismatch into a link error instead:
//
//   undefined reference to `dln_core_not_built_for_avx2_fma'
//
// says that the consumer was compiled for AVX2 with FMA and the core for something else. The fix is
// to compile the consumer with the core's flags, exported by find_package(dln) as ${dln_ARCH_FLAGS}
// (empty for a core built with DLN_NATIVE=OFF), or to build the core for the consumer's target.
#pragma once

#include <Eigen/Core>

// The vector unit Eigen uses, the widest first, and whether the compiler may fuse multiply-adds.
#if defined(EIGEN_DONT_VECTORIZE)
#define DLN_ISA_SIMD scalar
#elif defined(EIGEN_VECTORIZE_AVX512)
#define DLN_ISA_SIMD avx512
#elif defined(EIGEN_VECTORIZE_AVX2)
#define DLN_ISA_SIMD avx2
#elif defined(EIGEN_VECTORIZE_AVX)
#define DLN_ISA_SIMD avx
#elif defined(EIGEN_VECTORIZE_SSE4_2)
#define DLN_ISA_SIMD sse4_2
#elif defined(EIGEN_VECTORIZE_SSE4_1)
#define DLN_ISA_SIMD sse4_1
#elif defined(EIGEN_VECTORIZE_SSE2)
#define DLN_ISA_SIMD sse2
#elif defined(EIGEN_VECTORIZE_NEON)
#define DLN_ISA_SIMD neon
#elif defined(EIGEN_VECTORIZE)
#define DLN_ISA_SIMD simd
#else
#define DLN_ISA_SIMD scalar
#endif
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
#define DLN_ISA_FMA _fma
#else
#define DLN_ISA_FMA _nofma
#endif
#define DLN_ISA_PASTE(a, b, c) a##b##c
#define DLN_ISA_NAME(a, b, c) DLN_ISA_PASTE(a, b, c)
// dln_core_not_built_for_<simd>_<fma>: defined only in the core (build_info.cpp), for its own flags.
#define DLN_ISA_SYMBOL DLN_ISA_NAME(dln_core_not_built_for_, DLN_ISA_SIMD, DLN_ISA_FMA)

extern "C" const char DLN_ISA_SYMBOL;

#if defined(__GNUC__)
namespace dln::detail {
// Kept by the compiler in every translation unit that includes a dln header, so each one asks the
// linker for the symbol of its own instruction set.
[[gnu::used]] static const char* const isa_check = &DLN_ISA_SYMBOL;
}  // namespace dln::detail
#endif
