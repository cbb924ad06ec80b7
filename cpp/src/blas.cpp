#include "dln/blas.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <map>
#include <pthread.h>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "dln/linalg.hpp"
#include "dln/phase_pool.hpp"

#if DLN_WITH_OPENBLAS
#include <cblas.h>  // scipy-openblas32: symbols carry the scipy_ prefix
#endif

namespace dln {

namespace {

// Square products of a few common tiny sizes go through Eigen's fixed-size code, fully unrolled and
// vectorised: a library GEMM call costs more in dispatch than such a product costs to compute. The
// choice depends on the shapes only, so a run gives the same bits on any thread count. Any alpha and
// beta: the fused GD update (alpha = -lr, beta = 1) of square layers stays on this path too.
template <class T, int S, class XA, class XB>
void fixed_update(T alpha, const XA& a, const XB& b, T beta, Eigen::Map<Eigen::Matrix<T, S, S, Eigen::RowMajor>>& C) {
    // Up to 8: the coefficient-based product (lazyProduct), unrolled and vectorised along C's rows;
    // Eigen's default there is its blocked GEMM, whose packing costs more than the product (d = 8,
    // L = 3: 0.29 against 0.42 us a step). At 16 the blocked GEMM is the faster (1.2 against 3.0 us).
    auto ab = [&] {
        if constexpr (S <= 8) return a.lazyProduct(b);
        else return a * b;
    };
    if (alpha == T(1) && beta == T(0)) {
        C.noalias() = ab();
    } else if (beta == T(0)) {  // beta == 0 ignores C's contents (NaN included), as BLAS does
        C.noalias() = alpha * ab();
    } else {
        if (beta != T(1)) C *= beta;  // beta = 1: the fused GD update accumulates into the weights
        C.noalias() += alpha * ab();
    }
}
template <class T, int S>
void fixed_product(Op opA, Op opB, T alpha, const T* a, T beta, const T* b, T* c) {
    using F = Eigen::Matrix<T, S, S, Eigen::RowMajor>;
    const Eigen::Map<const F> A(a), B(b);
    Eigen::Map<F> C(c);
    if (opA == Op::N && opB == Op::N) fixed_update<T, S>(alpha, A, B, beta, C);
    else if (opA == Op::N) fixed_update<T, S>(alpha, A, B.transpose(), beta, C);
    else if (opB == Op::N) fixed_update<T, S>(alpha, A.transpose(), B, beta, C);
    else fixed_update<T, S>(alpha, A.transpose(), B.transpose(), beta, C);
}

// Products whose every dimension is at most kSmallProduct (blas.hpp) go through Eigen's own product
// on the row-major views instead of the library: no library call, whose dispatch costs about as much as
// such a product, and no heap allocation by construction -- Eigen's packing buffers for operands of at
// most 64 x 64 (32 KB) live on the stack (EIGEN_STACK_ALLOCATION_LIMIT is 128 KB), so whether a BLAS
// build allocates scratch for small shapes on some CPU cannot reach a step of small layers. The choice
// depends on the shapes only, so a run gives the same bits on any thread count.
// Vector-shaped results (one row or column) take the coefficient-based product: Eigen's matrix-vector
// path may copy an operand to the heap, the lazy product never does.
template <bool Lazy, class T, class XA, class XB, class Out>
void product(T alpha, const XA& a, const XB& b, T beta, Out& C) {
    // beta == 0 ignores C's contents (NaN included), as BLAS does.
    if constexpr (Lazy) {
        if (beta == T(0)) C.noalias() = alpha * a.lazyProduct(b);
        else C.noalias() = beta * C + alpha * a.lazyProduct(b);
    } else if (beta == T(0)) {
        C.noalias() = alpha * (a * b);
    } else {
        if (beta != T(1)) C *= beta;  // beta = 1: the fused GD update accumulates into the weights
        C.noalias() += alpha * (a * b);
    }
}
// The four transpose cases on Eigen's own product, into a matrix or a view.
template <bool Lazy = false, class T, class Out>
void eigen_gemm(Op opA, Op opB, T alpha, const ConstView<T>& A, const ConstView<T>& B, T beta, Out& C) {
    if (opA == Op::N && opB == Op::N) product<Lazy>(alpha, A, B, beta, C);
    else if (opA == Op::N) product<Lazy>(alpha, A, B.transpose(), beta, C);
    else if (opB == Op::N) product<Lazy>(alpha, A.transpose(), B, beta, C);
    else product<Lazy>(alpha, A.transpose(), B.transpose(), beta, C);
}

// The tiny fixed sizes first, then the small dynamic kernel; false when the product is for the library.
template <class T, class Out>
bool small_product(Op opA, Op opB, T alpha, const ConstView<T>& A, const ConstView<T>& B, T beta, Out& C) {
    const Index k = opA == Op::N ? A.cols() : A.rows();
    if (C.rows() > kSmallProduct || C.cols() > kSmallProduct || k > kSmallProduct) return false;
    const Index n = C.rows();
    if (C.cols() == n && k == n && A.rows() == n && B.rows() == n) {
        switch (n) {
            case 4: fixed_product<T, 4>(opA, opB, alpha, A.data(), beta, B.data(), C.data()); return true;
            case 8: fixed_product<T, 8>(opA, opB, alpha, A.data(), beta, B.data(), C.data()); return true;
            case 16: fixed_product<T, 16>(opA, opB, alpha, A.data(), beta, B.data(), C.data()); return true;
            default: break;
        }
    }
    if (C.rows() == 1 || C.cols() == 1) eigen_gemm<true>(opA, opB, alpha, A, B, beta, C);
    else eigen_gemm(opA, opB, alpha, A, B, beta, C);
    return true;
}

}  // namespace

// ---- dln's own kernel for large products --------------------------------------------------------------
// Eigen's blocked GEMM (Goto's algorithm: packed panels, register-blocked micro-kernel), driven by dln:
// its packing buffers are dln's (grow-only, one set per thread, so a step allocates nothing once the
// first step has sized them) and its threads are dln's (a PhasePool per thread count, started once).
// Where dln is compiled for AVX-512 it runs 512-bit micro-kernels, which a portable OpenBLAS build may
// not (its Haswell kernels on CPUs it does not know), and is then ~1.35x faster than the library.
//
// Bits do not depend on the thread count, by construction: every thread runs the sequential algorithm
// on a block of C's rows (or columns) with the same blocking sizes (computed from the whole product,
// never from the thread count, and rounded to multiples of the micro-kernel's sizes), and blocks start
// at multiples of the micro-kernel's sizes, so each entry of C is computed by the same micro-kernel,
// in the same order over k, on any number of threads.
namespace {

using Eigen::internal::general_matrix_matrix_product;
using Eigen::internal::level3_blocking;

// Eigen's blocking descriptor pointed at dln's buffers: with both set, the product allocates nothing.
template <class T>
struct Blocking : level3_blocking<T, T> {
    Blocking(T* a, T* b, Index mc, Index nc, Index kc) {
        this->m_blockA = a;
        this->m_blockB = b;
        this->m_mc = mc;
        this->m_nc = nc;
        this->m_kc = kc;
    }
};

// One thread's packing buffers (grow-only and aligned like Eigen's storage, as the micro-kernel's
// loads need).
template <class T>
struct PackBuffers {
    linalg::Buffer<T> lhs, rhs;
};
template <class T>
PackBuffers<T>& pack_buffers() {
    thread_local PackBuffers<T> buffers;
    return buffers;
}

// The product in Eigen's column-major terms: C^T (n x m) = op(B)^T (n x k) * op(A)^T (k x m), where
// the row-major C, A and B are column-major C^T, A^T and B^T in the same memory.
template <class T>
struct ColMajorProduct {
    Index rows, cols, depth;  // n, m, k
    const T* lhs;             // op(B)^T
    Index lhs_stride;
    bool lhs_row_major;       // opB == T
    const T* rhs;             // op(A)^T
    Index rhs_stride;
    bool rhs_row_major;       // opA == T
    T* res;                   // C^T, column stride res_stride
    Index res_stride;
    T alpha;
    Index kc, mc, nc;         // blocking, from the whole product
};

// Block [i0, i1) x [c0, c1) of C^T: rows of op(B)^T and columns of op(A)^T.
template <class T, int LhsOrder, int RhsOrder>
void run_block(const ColMajorProduct<T>& p, Index i0, Index i1, Index c0, Index c1, Blocking<T>& blocking) {
    constexpr bool lhs_col = LhsOrder == Eigen::ColMajor, rhs_col = RhsOrder == Eigen::ColMajor;
    const T* lhs = p.lhs + (lhs_col ? i0 : i0 * p.lhs_stride);
    const T* rhs = p.rhs + (rhs_col ? c0 * p.rhs_stride : c0);
    general_matrix_matrix_product<Index, T, LhsOrder, false, T, RhsOrder, false, Eigen::ColMajor, 1>::run(
        i1 - i0, c1 - c0, p.depth, lhs, p.lhs_stride, rhs, p.rhs_stride, p.res + i0 + c0 * p.res_stride, 1,
        p.res_stride, p.alpha, blocking, nullptr);
}

// One block of C^T on the calling thread, with its own buffers.
template <class T>
void product_block(const ColMajorProduct<T>& p, Index i0, Index i1, Index c0, Index c1) {
    if (c1 <= c0 || i1 <= i0) return;
    PackBuffers<T>& buf = pack_buffers<T>();
    Blocking<T> blocking(linalg::grow(buf.lhs, p.kc * std::min(p.mc, i1 - i0)),
                         linalg::grow(buf.rhs, p.kc * std::min(p.nc, c1 - c0)), p.mc, p.nc, p.kc);
    constexpr int R = Eigen::RowMajor, C = Eigen::ColMajor;
    if (p.lhs_row_major) {
        if (p.rhs_row_major) run_block<T, R, R>(p, i0, i1, c0, c1, blocking);
        else run_block<T, R, C>(p, i0, i1, c0, c1, blocking);
    } else if (p.rhs_row_major) {
        run_block<T, C, R>(p, i0, i1, c0, c1, blocking);
    } else {
        run_block<T, C, C>(p, i0, i1, c0, c1, blocking);
    }
}

// The products' thread count (set_gemm_threads), starting from the library's own default (its
// OPENBLAS_NUM_THREADS) where there is one, else every core.
std::atomic<int>& kernel_thread_count() {
#if DLN_WITH_OPENBLAS
    static std::atomic<int> n{std::max(1, scipy_openblas_get_num_threads())};
#else
    static std::atomic<int> n{std::max(1, static_cast<int>(std::thread::hardware_concurrency()))};
#endif
    return n;
}

// Workers spin this long after a product before sleeping: a tracked step issues dozens of products
// back to back, and a futex wake-up per product made the tracker's work 6% slower (d = 2000, L = 3).
constexpr int kKernelSpinUs = 100;

// One pool per thread count asked for, started on first use and kept: a run's lease changes the count
// without starting threads again.
struct KernelPools {
    std::mutex busy;
    std::mutex create;
    std::map<int, std::unique_ptr<PhasePool>> pools;
    PhasePool& get(int n) {
        std::lock_guard<std::mutex> lock(create);
        auto& pool = pools[n];
        if (!pool) pool = std::make_unique<PhasePool>(n, kKernelSpinUs);
        return *pool;
    }
};
// Never destroyed: a process ends with its threads asleep. A child of fork() has none of its parent's
// threads (and maybe a busy mutex a parent thread held), so it starts over with fresh pools and leaves
// the copies alone.
KernelPools*& kernel_pools_instance() {
    static KernelPools* pools = [] {
        pthread_atfork(nullptr, nullptr, [] { kernel_pools_instance() = new KernelPools; });
        return new KernelPools;
    }();
    return pools;
}

// work(t) for t = 0 .. threads - 1 on the pool of that size; false, with nothing run, for fewer than two
// threads or when the pools are busy (work issued from inside work, or from another thread meanwhile),
// so that the caller runs it on its own thread instead, with the same bits.
template <class Fn>
bool run_on_pool(int threads, Fn& work) {
    if (threads < 2) return false;
    KernelPools& pools = *kernel_pools_instance();
    std::unique_lock<std::mutex> busy(pools.busy, std::try_to_lock);
    if (!busy.owns_lock()) return false;
    pools.get(threads).run(work);
    return true;
}

// Below this many multiply-adds a product runs on one thread: waking a thread costs more than it saves.
constexpr double kThreadedProduct = 96.0 * 96.0 * 96.0;

template <class T, class Out>
void kernel_gemm(Op opA, Op opB, T alpha, const ConstView<T>& A, const ConstView<T>& B, T beta, Out& C) {
    using Traits = Eigen::internal::gebp_traits<T, T>;
    const Index m = C.rows(), n = C.cols(), k = opA == Op::N ? A.cols() : A.rows();
    ColMajorProduct<T> p{n, m, k, B.data(), B.cols(), opB == Op::T, A.data(), A.cols(), opA == Op::T,
                         C.data(), n, alpha, k, n, m};
    Eigen::internal::computeProductBlockingSizes<T, T, 1, Index>(p.kc, p.mc, p.nc, 1);
    const Index mr = Traits::mr, nr = Traits::nr;
    if (p.nc < m) p.nc = std::max<Index>(nr, p.nc - p.nc % nr);
    if (p.mc < n) p.mc = std::max<Index>(mr, p.mc - p.mc % mr);
    // Block [r0, r1) x [j0, j1) of C: beta applied to it first (beta = 0 ignores its contents, NaN
    // included), then the product, on the calling thread.
    auto block = [&](Index r0, Index r1, Index j0, Index j1) {
        if (r1 <= r0 || j1 <= j0) return;
        auto b = C.block(r0, j0, r1 - r0, j1 - j0);
        if (beta == T(0)) b.setZero();
        else if (beta != T(1)) b *= beta;
        product_block(p, j0, j1, r0, r1);
    };
    const int want = kernel_thread_count().load(std::memory_order_relaxed);
    // Split along C's rows (in steps of nr) or its columns (steps of mr), whichever has more steps:
    // the choice depends on the shape only.
    const bool split_columns = n / mr > m / nr;
    const Index unit = split_columns ? mr : nr, extent = split_columns ? n : m;
    const int threads = static_cast<int>(std::min<Index>(want, std::max<Index>(1, extent / (4 * unit))));
    // Blocks in multiples of the micro-kernel's width along the split, as even as that allows.
    const Index per = ((extent + threads - 1) / threads + unit - 1) / unit * unit;
    auto work = [&](int t) {
        const Index a = std::min(extent, t * per), b = std::min(extent, (t + 1) * per);
        if (split_columns) block(0, m, a, b);
        else block(a, b, 0, n);
    };
    if (double(m) * double(n) * double(k) < kThreadedProduct || !run_on_pool(threads, work)) block(0, m, 0, n);
}

}  // namespace

void run_parallel(Index n, ParallelCall call, void* fn) {
    const int threads = static_cast<int>(std::min<Index>(kernel_thread_count().load(std::memory_order_relaxed), n));
    std::atomic<Index> next{0};
    auto work = [&](int t) {
        for (Index i = next.fetch_add(1, std::memory_order_relaxed); i < n; i = next.fetch_add(1, std::memory_order_relaxed))
            call(fn, i, t);
    };
    if (!run_on_pool(threads, work))
        for (Index i = 0; i < n; ++i) call(fn, i, 0);
}

namespace {

enum class Kernel { Library, Eigen };

#if DLN_WITH_OPENBLAS && defined(EIGEN_VECTORIZE_AVX512)
// The library's kernels are 512 bits wide on these OpenBLAS cores; elsewhere (Haswell, Zen, ...) they
// are narrower than an AVX-512 build of dln's own. (Asked only by an AVX-512 build.)
bool library_is_avx512() {
    std::string core = scipy_openblas_get_corename();
    for (char& c : core) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (const char* wide : {"skylakex", "cooperlake", "sapphirerapids"})
        if (core.find(wide) != std::string::npos) return true;
    return false;
}
#endif

// DLN_GEMM (environment, read once): "openblas", "eigen" or "auto" (the default): dln's kernel where
// it is compiled for AVX-512 and the library's kernels are not, else the library.
Kernel choose_kernel() {
    const char* env = std::getenv("DLN_GEMM");
    const std::string choice = env ? env : "auto";
    if (choice != "auto" && choice != "openblas" && choice != "eigen" && !choice.empty())
        throw std::invalid_argument("DLN_GEMM must be 'auto', 'openblas' or 'eigen', got '" + choice + "'");
#if DLN_WITH_OPENBLAS
    if (choice == "openblas") return Kernel::Library;
    if (choice == "eigen") return Kernel::Eigen;
#ifdef EIGEN_VECTORIZE_AVX512
    return library_is_avx512() ? Kernel::Library : Kernel::Eigen;
#else
    return Kernel::Library;
#endif
#else
    if (choice == "openblas")
        throw std::invalid_argument("DLN_GEMM: 'openblas' asked for, but this build of dln has no OpenBLAS");
    return Kernel::Eigen;
#endif
}
Kernel kernel() {
    static const Kernel k = choose_kernel();
    return k;
}

template <class T>
bool empty_product(const ConstView<T>& A, Op opA, T beta, MutView<T>& C) {
    if (C.size() == 0) return true;
    if ((opA == Op::N ? A.cols() : A.rows()) == 0) {
        if (beta == T(0)) C.setZero();
        else C *= beta;
        return true;
    }
    return false;
}

}  // namespace

#if DLN_WITH_OPENBLAS

namespace {
CBLAS_TRANSPOSE op(Op o) { return o == Op::N ? CblasNoTrans : CblasTrans; }

// One row-major product through the library's dgemm / sgemm (C: m x n at c).
void blas_gemm(Op opA, Op opB, blasint m, blasint n, blasint k, double alpha, const double* a, blasint lda,
               const double* b, blasint ldb, double beta, double* c, blasint ldc) {
    scipy_cblas_dgemm(CblasRowMajor, op(opA), op(opB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
void blas_gemm(Op opA, Op opB, blasint m, blasint n, blasint k, float alpha, const float* a, blasint lda,
               const float* b, blasint ldb, float beta, float* c, blasint ldc) {
    scipy_cblas_sgemm(CblasRowMajor, op(opA), op(opB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
}  // namespace

template <class T, class Out>
void large_gemm(Op opA, Op opB, T alpha, const ConstView<T>& A, const ConstView<T>& B, T beta, Out& C) {
    if (kernel() == Kernel::Eigen) return kernel_gemm(opA, opB, alpha, A, B, beta, C);
    const auto K = static_cast<blasint>(opA == Op::N ? A.cols() : A.rows());
    blas_gemm(opA, opB, static_cast<blasint>(C.rows()), static_cast<blasint>(C.cols()), K, alpha, A.data(),
              static_cast<blasint>(A.cols()), B.data(), static_cast<blasint>(B.cols()), beta, C.data(),
              static_cast<blasint>(C.cols()));
}

int set_gemm_threads(int n) {
    // The library's count is process-wide for this copy of OpenBLAS (NumPy's own copy is not
    // affected); the wheel does not export the per-thread variant. dln's kernel keeps the same count.
    const int previous = kernel_thread_count().exchange(std::max(1, n));
    if (n != scipy_openblas_get_num_threads()) scipy_openblas_set_num_threads(n);
    return previous;
}
int gemm_threads() { return kernel_thread_count().load(); }

#else

template <class T, class Out>
void large_gemm(Op opA, Op opB, T alpha, const ConstView<T>& A, const ConstView<T>& B, T beta, Out& C) {
    kernel_gemm(opA, opB, alpha, A, B, beta, C);
}

int set_gemm_threads(int n) { return kernel_thread_count().exchange(std::max(1, n)); }
int gemm_threads() { return kernel_thread_count().load(); }

#endif

template <class T>
void gemm(Op opA, Op opB, T alpha, const ConstView<T>& A, const ConstView<T>& B, T beta, Mat<T>& C) {
    MutView<T> view(C.data(), C.rows(), C.cols());
    gemm(opA, opB, alpha, A, B, beta, view);
}
template void gemm<float>(Op, Op, float, const ConstView<float>&, const ConstView<float>&, float, Mat<float>&);
template void gemm<double>(Op, Op, double, const ConstView<double>&, const ConstView<double>&, double, Mat<double>&);

template <class T>
void gemm(Op opA, Op opB, T alpha, const ConstView<T>& A, const ConstView<T>& B, T beta, MutView<T> C) {
    if (empty_product(A, opA, beta, C) || small_product(opA, opB, alpha, A, B, beta, C)) return;
    large_gemm(opA, opB, alpha, A, B, beta, C);
}
template void gemm<float>(Op, Op, float, const ConstView<float>&, const ConstView<float>&, float, MutView<float>);
template void gemm<double>(Op, Op, double, const ConstView<double>&, const ConstView<double>&, double, MutView<double>);

const char* gemm_backend() { return kernel() == Kernel::Eigen ? "eigen" : "openblas"; }
std::string gemm_backend_config() {
    std::string own = "dln's threaded Eigen " + std::to_string(EIGEN_WORLD_VERSION) + "." +
                      std::to_string(EIGEN_MAJOR_VERSION) + "." + std::to_string(EIGEN_MINOR_VERSION) +
                      " kernel (" + Eigen::SimdInstructionSetsInUse() + ")";
#if DLN_WITH_OPENBLAS
    const std::string library = scipy_openblas_get_config();
    return kernel() == Kernel::Eigen ? own + "; library not used for products: " + library : library;
#else
    return own;
#endif
}

namespace {
std::mutex& lease_mutex() {
    static std::mutex m;
    return m;
}
thread_local int lease_depth = 0;
}  // namespace

GemmThreadLease::GemmThreadLease(int n) : owner_(lease_depth == 0) {
    if (owner_) lease_mutex().lock();
    ++lease_depth;
    previous_ = set_gemm_threads(n);
}

GemmThreadLease::~GemmThreadLease() {
    set_gemm_threads(previous_);
    --lease_depth;
    if (owner_) lease_mutex().unlock();
}

}  // namespace dln
