// The C++ tests' minimal harness (the project has no test-framework dependency): counted checks,
// a check that an exception names a parameter, random matrices, and a main loop over named tests.
// Each test program is its own executable, so the counters live here as inline variables.
#pragma once

#include "dln/dln.hpp"

#include <atomic>
#include <functional>
#include <iostream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#ifndef DLN_NO_MALLOC_COUNTER
namespace dln_test {
extern std::atomic<long> allocations;          // malloc_counter.cpp: dln's heap allocations (all but OpenBLAS's)
extern std::atomic<long> backend_allocations;  // the OpenBLAS library's own scratch, counted apart
extern std::atomic<bool> trace_allocations;    // when set, each counted allocation prints its stack to stderr
}
#endif

namespace dln_test {

inline int failures = 0;
inline int checks = 0;

// The matrix of independent standard normals of one seed (dln's own generator: the same everywhere).
inline dln::Mat<double> random_matrix(dln::Index r, dln::Index c, std::uint64_t seed) {
    dln::Rng rng(seed);
    dln::Mat<double> m(r, c);
    for (dln::Index i = 0; i < m.size(); ++i) m.data()[i] = rng.normal();
    return m;
}

// Runs each test, prints ok / FAIL per test and the totals; the process exit status.
inline int run_tests(const std::vector<std::pair<const char*, std::function<void()>>>& tests) {
    for (const auto& [name, fn] : tests) {
        const int before = failures;
        fn();
        std::cout << (failures == before ? "ok   " : "FAIL ") << name << "\n";
    }
    std::cout << checks << " checks, " << failures << " failures (gemm backend: " << dln::gemm_backend() << ")\n";
    return failures == 0 ? 0 : 1;
}

}  // namespace dln_test

#define CHECK(cond)                                                                                   \
    do {                                                                                              \
        ++dln_test::checks;                                                                           \
        if (!(cond)) {                                                                                \
            ++dln_test::failures;                                                                     \
            std::cerr << __FILE__ << ":" << __LINE__ << ": CHECK failed: " #cond << std::endl;         \
        }                                                                                             \
    } while (0)

// Passes when `expr` throws std::invalid_argument whose message starts with `name`.
#define CHECK_THROWS_NAMING(expr, name)                                                               \
    do {                                                                                              \
        ++dln_test::checks;                                                                           \
        bool thrown = false;                                                                          \
        try {                                                                                         \
            (void)(expr);                                                                             \
        } catch (const std::invalid_argument& e) {                                                   \
            thrown = std::string(e.what()).rfind(name, 0) == 0;                                       \
            if (!thrown) std::cerr << "message does not start with " << name << ": " << e.what() << "\n"; \
        }                                                                                             \
        if (!thrown) {                                                                                \
            ++dln_test::failures;                                                                     \
            std::cerr << __FILE__ << ":" << __LINE__ << ": expected invalid_argument naming " << name << "\n"; \
        }                                                                                             \
    } while (0)
