// Shared vocabulary of the dln core: matrix types, enums and the errors thrown at the boundary.
#pragma once

#include "dln/isa.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstddef>
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

// An enum's names in one table, read in both directions, so that each name is written once:
//   constexpr Named<Reduction> kReductions[] = {{Reduction::Mean, "mean"}, {Reduction::Sum, "sum"}};
template <class E>
struct Named {
    E value;
    const char* name;
};

// The value called `name`; otherwise throws (via invalid) naming `param` and listing the names
// ("expected 'a', 'b' or 'c', got 'x'").
template <class E, std::size_t N>
E parse_named(const Named<E> (&table)[N], const std::string& name, const std::string& param) {
    for (const auto& entry : table)
        if (name == entry.name) return entry.value;
    std::string names;
    for (std::size_t i = 0; i < N; ++i)
        names += std::string(i == 0 ? "'" : i + 1 == N ? " or '" : ", '") + table[i].name + "'";
    invalid(param, "expected " + names + ", got '" + name + "'");
}

// The name of `value` ("unknown" for a value outside the table, e.g. a cast integer).
template <class E, std::size_t N>
const char* name_of(const Named<E> (&table)[N], E value) {
    for (const auto& entry : table)
        if (entry.value == value) return entry.name;
    return "unknown";
}

// The names of the enums above: read by parse_* and to_string, and bound to Python as they are.
inline constexpr Named<Reduction> kReductions[] = {{Reduction::Mean, "mean"}, {Reduction::Sum, "sum"}};
inline constexpr Named<Status> kStatuses[] = {{Status::Converged, "converged"},
                                              {Status::MaxSteps, "max_steps"},
                                              {Status::Diverged, "diverged"},
                                              {Status::Interrupted, "interrupted"}};

// Shape as "(rows, cols)" for error messages.
std::string shape_str(Index rows, Index cols);

// Branch-free in blocks, so it runs at memory speed: x * 0 is 0 for every finite x and NaN for Inf
// and NaN, and a sum of such terms is NaN exactly when one of them is (no -ffast-math in dln).
template <class T>
bool all_finite(const T* data, Index n) {
    constexpr Index kLanes = 16, kBlock = 4096;
    for (Index b = 0; b < n; b += kBlock) {
        const Index e = std::min(n, b + kBlock);
        T acc[kLanes] = {};
        Index i = b;
        for (; i + kLanes <= e; i += kLanes)
            for (Index j = 0; j < kLanes; ++j) acc[j] += data[i + j] * T(0);
        for (; i < e; ++i) acc[0] += data[i] * T(0);
        T sum = T(0);
        for (Index j = 0; j < kLanes; ++j) sum += acc[j];
        if (sum != T(0)) return false;
    }
    return true;
}

// Asks the kernel to back [p, p + bytes) with transparent huge pages where the system leaves that
// to the program (Linux, THP mode "madvise"), before the memory is first touched: a fresh d x d
// buffer of a large run then costs a few page faults instead of one per 4 KiB. Only advice; a no-op
// elsewhere and for buffers under 2 MiB.
void prefer_huge_pages(const void* p, std::size_t bytes);

}  // namespace dln
