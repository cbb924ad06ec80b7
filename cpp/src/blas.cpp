#include "dln/blas.hpp"

#include <mutex>
#include <thread>

#if DLN_WITH_OPENBLAS
#include <cblas.h>  // scipy-openblas32: symbols carry the scipy_ prefix
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

namespace dln {

namespace {

// Square products of a few common tiny sizes go through Eigen's fixed-size code, fully unrolled and
// vectorised: a library GEMM call costs more in dispatch than such a product costs to compute. The
// choice depends on the shapes only, so a run gives the same bits on any thread count.
template <class T, int S>
void fixed_product(Op opA, Op opB, const T* a, const T* b, T* c) {
    using F = Eigen::Matrix<T, S, S, Eigen::RowMajor>;
    const Eigen::Map<const F> A(a), B(b);
    Eigen::Map<F> C(c);
    if (opA == Op::N && opB == Op::N) C.noalias() = A * B;
    else if (opA == Op::N) C.noalias() = A * B.transpose();
    else if (opB == Op::N) C.noalias() = A.transpose() * B;
    else C.noalias() = A.transpose() * B.transpose();
}

// Products whose every dimension is at most kSmallProduct (blas.hpp) go through Eigen's own product
// on the row-major views instead of the library: no library call, whose dispatch costs about as much as
// such a product, and no heap allocation by construction -- Eigen's packing buffers for operands of at
// most 16 x 16 (2 KB) live on the stack (EIGEN_STACK_ALLOCATION_LIMIT is 128 KB), so whether a BLAS
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
    if (alpha == T(1) && beta == T(0) && C.cols() == n && k == n && A.rows() == n && B.rows() == n) {
        switch (n) {
            case 4: fixed_product<T, 4>(opA, opB, A.data(), B.data(), C.data()); return true;
            case 8: fixed_product<T, 8>(opA, opB, A.data(), B.data(), C.data()); return true;
            case 16: fixed_product<T, 16>(opA, opB, A.data(), B.data(), C.data()); return true;
            default: break;
        }
    }
    if (C.rows() == 1 || C.cols() == 1) eigen_gemm<true>(opA, opB, alpha, A, B, beta, C);
    else eigen_gemm(opA, opB, alpha, A, B, beta, C);
    return true;
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

template <class T, class Out>
void library_gemm(Op opA, Op opB, T alpha, const ConstView<T>& A, const ConstView<T>& B, T beta, Out& C) {
    const auto K = static_cast<blasint>(opA == Op::N ? A.cols() : A.rows());
    blas_gemm(opA, opB, static_cast<blasint>(C.rows()), static_cast<blasint>(C.cols()), K, alpha, A.data(),
              static_cast<blasint>(A.cols()), B.data(), static_cast<blasint>(B.cols()), beta, C.data(),
              static_cast<blasint>(C.cols()));
}

// BLAS rejects leading dimensions of 0, so empty operands (a tracker with s = 0, say) are handled here.
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

template <class T>
void gemm(Op opA, Op opB, T alpha, const ConstView<T>& A, const ConstView<T>& B, T beta, Mat<T>& C) {
    if (small_product(opA, opB, alpha, A, B, beta, C)) return;
    library_gemm(opA, opB, alpha, A, B, beta, C);
}
template void gemm<float>(Op, Op, float, const ConstView<float>&, const ConstView<float>&, float, Mat<float>&);
template void gemm<double>(Op, Op, double, const ConstView<double>&, const ConstView<double>&, double, Mat<double>&);

template <class T>
void gemm(Op opA, Op opB, T alpha, const ConstView<T>& A, const ConstView<T>& B, T beta, MutView<T> C) {
    if (empty_product(A, opA, beta, C) || small_product(opA, opB, alpha, A, B, beta, C)) return;
    library_gemm(opA, opB, alpha, A, B, beta, C);
}
template void gemm<float>(Op, Op, float, const ConstView<float>&, const ConstView<float>&, float, MutView<float>);
template void gemm<double>(Op, Op, double, const ConstView<double>&, const ConstView<double>&, double, MutView<double>);

int set_gemm_threads(int n) {
    // Process-wide for this copy of OpenBLAS (NumPy's own copy is not affected); the wheel does
    // not export the per-thread variant.
    const int previous = scipy_openblas_get_num_threads();
    if (n != previous) scipy_openblas_set_num_threads(n);
    return previous;
}
int gemm_threads() { return scipy_openblas_get_num_threads(); }
const char* gemm_backend() { return "openblas"; }
std::string gemm_backend_config() { return scipy_openblas_get_config(); }

#else

template <class T>
void gemm(Op opA, Op opB, T alpha, const ConstView<T>& A, const ConstView<T>& B, T beta, Mat<T>& C) {
    if (small_product(opA, opB, alpha, A, B, beta, C)) return;
    eigen_gemm(opA, opB, alpha, A, B, beta, C);
}
template void gemm<float>(Op, Op, float, const ConstView<float>&, const ConstView<float>&, float, Mat<float>&);
template void gemm<double>(Op, Op, double, const ConstView<double>&, const ConstView<double>&, double, Mat<double>&);

template <class T>
void gemm(Op opA, Op opB, T alpha, const ConstView<T>& A, const ConstView<T>& B, T beta, MutView<T> C) {
    if (small_product(opA, opB, alpha, A, B, beta, C)) return;
    eigen_gemm(opA, opB, alpha, A, B, beta, C);
}
template void gemm<float>(Op, Op, float, const ConstView<float>&, const ConstView<float>&, float, MutView<float>);
template void gemm<double>(Op, Op, double, const ConstView<double>&, const ConstView<double>&, double, MutView<double>);

int set_gemm_threads(int n) {
    const int previous = Eigen::nbThreads();
    Eigen::setNbThreads(n);
    return previous;
}
int gemm_threads() { return Eigen::nbThreads(); }
const char* gemm_backend() { return "eigen"; }
std::string gemm_backend_config() {
#ifdef _OPENMP
    return "Eigen GEMM with OpenMP";
#else
    return "Eigen GEMM, single-threaded (no OpenMP)";
#endif
}

#endif

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
