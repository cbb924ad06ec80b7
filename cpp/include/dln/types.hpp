// Shared vocabulary of the dln core: matrix types, enums and the errors thrown at the boundary.
#pragma once

#include <Eigen/Core>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace dln {

using Index = Eigen::Index;

// Row-major storage everywhere: a C-ordered NumPy array of shape (rows, cols) maps onto it without a
// copy, and weights keep the (out, in) convention of nn.Linear.
template <class T>
using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using ConstView = Eigen::Map<const Mat<T>>;

// How the squared residual is reduced. `Mean` divides by the number of residual entries
// (d_out * N for regression, d_out * d_in for factorisation and completion, observed or not).
enum class Reduction { Mean, Sum };

// Why a training run ended.
enum class Status { Converged, MaxSteps, Diverged, Interrupted };

const char* to_string(Reduction r);
const char* to_string(Status s);
Reduction parse_reduction(const std::string& name);  // throws std::invalid_argument naming `reduction`

// Throws std::invalid_argument("<param>: <message>") -- the message always starts with the parameter.
[[noreturn]] void invalid(const std::string& param, const std::string& message);

// Shape as "(rows, cols)" for error messages.
std::string shape_str(Index rows, Index cols);

template <class T>
bool all_finite(const T* data, Index n) {
    for (Index i = 0; i < n; ++i)
        if (!std::isfinite(data[i])) return false;
    return true;
}

}  // namespace dln
