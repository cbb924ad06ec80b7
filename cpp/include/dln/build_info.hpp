// What a result was produced with: compiler, flags, SIMD level, Eigen version, GEMM backend, threads.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace dln {

std::vector<std::pair<std::string, std::string>> build_info();

}  // namespace dln
