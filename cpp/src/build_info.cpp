#include "dln/build_info.hpp"

#include "dln/blas.hpp"
#include "dln/trainer.hpp"

#include <Eigen/Core>

#include <sstream>

#ifndef DLN_CXX_FLAGS
#define DLN_CXX_FLAGS "unknown"
#endif
#ifndef DLN_BUILD_TYPE
#define DLN_BUILD_TYPE "unknown"
#endif
#ifndef DLN_VERSION
#define DLN_VERSION "unknown"
#endif

#define DLN_ISA_STRING_(x) #x
#define DLN_ISA_STRING(x) DLN_ISA_STRING_(x)

// The one definition of the instruction-set symbol (dln/isa.hpp): the core's own flags choose it.
extern "C" const char DLN_ISA_SYMBOL = 1;

namespace dln {

namespace {
// The widest instruction sets the compiler was allowed to use (Eigen's own report stops at "AVX").
std::string simd_level() {
    std::string s;
#if defined(__AVX512F__)
    s += "AVX512F ";
#endif
#if defined(__AVX2__)
    s += "AVX2 ";
#endif
#if defined(__FMA__)
    s += "FMA ";
#endif
#if defined(__AVX__) && !defined(__AVX2__)
    s += "AVX ";
#endif
#if defined(__SSE4_2__)
    s += "SSE4.2 ";
#endif
#if defined(__SSE2__)
    s += "SSE2";
#endif
#if defined(__ARM_NEON)
    s += "NEON";
#endif
    return s.empty() ? "none" : s;
}
}  // namespace

std::vector<std::pair<std::string, std::string>> build_info() {
    std::ostringstream eigen;
    eigen << EIGEN_WORLD_VERSION << "." << EIGEN_MAJOR_VERSION << "." << EIGEN_MINOR_VERSION;
#if defined(__clang__)
    const std::string compiler = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
    const std::string compiler = std::string("gcc ") + __VERSION__;
#else
    const std::string compiler = "unknown";
#endif
#if DLN_NATIVE
    const std::string arch = "native";
#else
    const std::string arch = "portable";
#endif
#ifdef _OPENMP
    const std::string openmp = std::to_string(_OPENMP);
#else
    const std::string openmp = "off";
#endif
    return {
        {"version", DLN_VERSION},
        {"compiler", compiler},
        {"build_type", DLN_BUILD_TYPE},
        {"cxx_flags", DLN_CXX_FLAGS},
        {"arch", arch},
        {"simd", simd_level()},
        {"eigen_simd", Eigen::SimdInstructionSetsInUse()},
        {"isa_symbol", DLN_ISA_STRING(DLN_ISA_SYMBOL)},
        {"eigen", eigen.str()},
        {"gemm_backend", gemm_backend()},
        {"gemm_backend_config", gemm_backend_config()},
        {"openmp", openmp},
        {"hardware_threads", std::to_string(default_threads())},
        {"default_n_threads", std::to_string(default_threads())},
    };
}

}  // namespace dln
