// The one place where matrix products happen. Large products run on the library (OpenBLAS from
// scipy-openblas32, NumPy's GEMM) when the build found it, or on dln's own threaded kernel (Eigen's
// blocked GEMM with dln's buffers and threads): by default dln's kernel where dln is compiled for
// AVX-512 and the library's kernels are narrower, else the library; DLN_GEMM=openblas|eigen|auto in
// the environment (read at the first product) overrides. gemm_backend() names the one in use.
#pragma once

#include "dln/types.hpp"

#include <type_traits>

namespace dln {

enum class Op { N, T };

// Products whose dimensions (rows and columns of C, inner dimension) are all at most this run on dln's
// own kernel: no library call and no heap allocation, by construction, on any CPU and BLAS build
// (Eigen's blocked product keeps its packing buffers, at most 64 x 64 here, on the stack). At 64 rather
// than 16, batches of d = 30 nets run 25% faster per step than through OpenBLAS calls (bench_batch).
inline constexpr Index kSmallProduct = 64;

// C = alpha * op(A) * op(B) + beta * C on row-major matrices; C must already have the right shape.
// dln allocates nothing; above kSmallProduct dln's kernel packs into per-thread buffers that only
// grow (sized by the first product of each shape), while OpenBLAS may use scratch of its own.
template <class T>
void gemm(Op opA, Op opB, T alpha, const ConstView<T>& A, const ConstView<T>& B, T beta, Mat<T>& C);

// A writable row-major view, e.g. of a workspace that outlives the call, so that callers with
// varying shapes can reuse one buffer instead of resizing a matrix.
template <class T>
using MutView = Eigen::Map<Mat<T>>;

// The same product into a view (C's shape must match op(A) op(B)). The same allocation rules.
template <class T>
void gemm(Op opA, Op opB, T alpha, const ConstView<T>& A, const ConstView<T>& B, T beta, MutView<T> C);

// Threads used by large products (process-wide: the library's setting and dln's kernel's). With dln's
// kernel the bits do not depend on it; with OpenBLAS they may.
// Returns the previous setting so callers can restore it.
int set_gemm_threads(int n);
int gemm_threads();

// Holds the process-wide GEMM thread count at n for one run and restores it at the end. The backend's
// count is global, so two runs on different threads that each set it would change each other's
// products (and bits): leases taken on different threads wait for each other, so concurrent runs give
// the bits of sequential ones. A lease taken on a thread that already holds one only sets the count.
class GemmThreadLease {
public:
    explicit GemmThreadLease(int n);
    ~GemmThreadLease();
    GemmThreadLease(const GemmThreadLease&) = delete;
    GemmThreadLease& operator=(const GemmThreadLease&) = delete;

private:
    int previous_;
    bool owner_;
};

// fn(i, t) for every i in [0, n), on up to gemm_threads() threads of the products' pools, each i
// claimed by whichever thread is free; t < gemm_threads() numbers the thread, for its own scratch.
// Results must not depend on t or on the order of the calls (write per i, combine afterwards in
// order). Runs on the calling thread alone when the pools are busy (a call from inside fn, or from
// another thread meanwhile); products issued from fn run on the thread that issues them.
// fn is called through a plain function pointer (no std::function, whose capture may go to the heap):
// parallel_for allocates nothing.
using ParallelCall = void (*)(void* fn, Index i, int t);
void run_parallel(Index n, ParallelCall call, void* fn);
template <class Fn>
void parallel_for(Index n, Fn&& fn) {
    using F = std::remove_reference_t<Fn>;
    run_parallel(n, [](void* f, Index i, int t) { (*static_cast<F*>(f))(i, t); }, const_cast<void*>(static_cast<const void*>(&fn)));
}

// Name of the backend ("openblas" or "eigen") and its own configuration string.
const char* gemm_backend();
std::string gemm_backend_config();

template <class T>
ConstView<T> view(const Mat<T>& m) {
    return ConstView<T>(m.data(), m.rows(), m.cols());
}
template <class T>
ConstView<T> view(const MutView<T>& m) {
    return ConstView<T>(m.data(), m.rows(), m.cols());
}

}  // namespace dln
