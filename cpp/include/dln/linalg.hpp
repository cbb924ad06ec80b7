// Small dense linear-algebra kernels of the trackers, apart from the trackers that use them (each has
// its own test in cpp/tests/test_linalg.cpp).
//
// All of them work in place on caller-owned, column-major memory (Householder reflections act on
// columns) and never allocate: scratch comes in as pointers of documented length. That is what makes
// the trackers' steady-state updates allocation-free by construction rather than by whatever a
// decomposition class of a dependency happens to do. Sizes here are small (panels of at most a few
// hundred columns), so the kernels are unblocked.
#pragma once

#include "dln/types.hpp"

#include <Eigen/Householder>
#include <Eigen/QR>
#include <Eigen/SVD>

#include <algorithm>
#include <cmath>
#include <complex>
#include <limits>
#include <vector>

// Eigen's decompositions that dln uses on column-major dynamic matrices are compiled once, in the core
// (cpp/src/linalg_f32.cpp, linalg_f64.cpp), not in every file that uses them: JacobiSVD alone costs
// ~9 s of compile time per file and dtype. Their member templates and inline members are still
// instantiated where used; a program that includes this header links the core, which holds the rest.
#define DLN_EIGEN_DECOMPOSITIONS(EXTERN, T)                                                          \
    EXTERN template class Eigen::HouseholderQR<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>>;       \
    EXTERN template class Eigen::ColPivHouseholderQR<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>>; \
    EXTERN template class Eigen::JacobiSVD<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>,            \
                                           Eigen::ColPivHouseholderQRPreconditioner>;
DLN_EIGEN_DECOMPOSITIONS(extern, float)
DLN_EIGEN_DECOMPOSITIONS(extern, double)

namespace dln::linalg {

template <class T>
using CM = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;  // column-major
template <class T>
using CMap = Eigen::Map<CM<T>>;

// Scratch that grows to the largest size asked for and never shrinks. Aligned like Eigen's own
// storage: vectorised reductions over a map start their packets at the first aligned element, so a
// buffer whose address alignment varied from run to run would sum in a different order and break
// bitwise reproducibility.
template <class T>
using Buffer = std::vector<T, Eigen::aligned_allocator<T>>;

template <class T>
T* grow(Buffer<T>& b, Index n) {
    if (b.size() < static_cast<std::size_t>(n)) b.resize(static_cast<std::size_t>(n));
    return b.data();
}
template <class T>
CMap<T> cmat(Buffer<T>& b, Index rows, Index cols) {
    return CMap<T>(grow(b, rows * cols), rows, cols);
}
template <class T>
Eigen::Map<Mat<T>> rmat(Buffer<T>& b, Index rows, Index cols) {
    return Eigen::Map<Mat<T>>(grow(b, rows * cols), rows, cols);
}
// A column-major rows x cols matrix read as the row-major cols x rows matrix it is in memory.
template <class T>
ConstView<T> transposed(const Buffer<T>& b, Index rows, Index cols) {
    return ConstView<T>(b.data(), cols, rows);
}

// Householder QR in place: R on and above the diagonal, the reflectors' essential parts below it,
// their coefficients in tau[0 .. min(m, n)). `work` holds n entries.
template <class T>
void householder_qr(CMap<T> A, T* tau, T* work) {
    const Index m = A.rows(), n = A.cols();
    for (Index j = 0; j < std::min(m, n); ++j) {
        T beta;
        A.col(j).tail(m - j).makeHouseholderInPlace(tau[j], beta);
        A(j, j) = beta;
        A.bottomRightCorner(m - j, n - j - 1).applyHouseholderOnTheLeft(A.col(j).tail(m - j - 1), tau[j], work);
    }
}

// The same with column pivoting (largest remaining column first), which reveals rank: the rows of R
// below the numerical rank are small. Column norms are recomputed at each step rather than
// downdated - exact, and cheap at the sizes it serves (n <= a few hundred, m <= n).
template <class T>
void pivoted_qr(CMap<T> A, T* tau, T* work) {
    const Index m = A.rows(), n = A.cols();
    for (Index j = 0; j < std::min(m, n); ++j) {
        Index best = j;
        T big = T(-1);
        for (Index c = j; c < n; ++c) {
            const T v = A.col(c).tail(m - j).squaredNorm();
            if (v > big) big = v, best = c;
        }
        if (best != j) A.col(j).swap(A.col(best));
        T beta;
        A.col(j).tail(m - j).makeHouseholderInPlace(tau[j], beta);
        A(j, j) = beta;
        A.bottomRightCorner(m - j, n - j - 1).applyHouseholderOnTheLeft(A.col(j).tail(m - j - 1), tau[j], work);
    }
}

// out <- H_0 H_1 ... H_{h-1} out: the orthogonal factor of a factorisation above times out.
// `work` holds out.cols() entries.
template <class T, class Out>
void apply_q(const CMap<T>& A, const T* tau, Index h, Out&& out, T* work) {
    const Index m = A.rows();
    for (Index j = h - 1; j >= 0; --j)
        out.bottomRows(m - j).applyHouseholderOnTheLeft(A.col(j).tail(m - j - 1), tau[j], work);
}
// out <- H_{h-1} ... H_0 out: its transpose times out.
template <class T, class Out>
void apply_qt(const CMap<T>& A, const T* tau, Index h, Out&& out, T* work) {
    const Index m = A.rows();
    for (Index j = 0; j < h; ++j)
        out.bottomRows(m - j).applyHouseholderOnTheLeft(A.col(j).tail(m - j - 1), tau[j], work);
}

// The fewest leading rows q of an upper-trapezoidal R (r rows, e.g. from pivoted_qr) such that the
// rows left out are at most tol per row in root mean square: the rank decision of "drop singular
// values <= tol", made from the R factor (a trailing block of j rows with all singular values <= tol
// has Frobenius norm <= tol sqrt(j)). Capped at max_cols (< 0: no cap); `tail` is the Frobenius
// norm of the rows left out, which is exactly what the truncation drops.
template <class T>
Index leading_rank(const CMap<T>& R, Index r, double tol, Index max_cols, double& tail) {
    const Index n = R.cols();
    double acc = 0.0;
    Index q = 0;
    for (Index i = r - 1; i >= 0; --i) {
        const double row = static_cast<double>(R.row(i).tail(n - i).squaredNorm());
        if (acc + row > tol * tol * static_cast<double>(r - i)) {
            q = i + 1;
            break;
        }
        acc += row;
    }
    if (max_cols >= 0 && q > max_cols) {
        for (Index i = max_cols; i < q; ++i) acc += static_cast<double>(R.row(i).tail(n - i).squaredNorm());
        q = max_cols;
    }
    tail = std::sqrt(acc);
    return q;
}

// Scratch of range_basis; `basis` keeps the result (d x q, column-major) until the next call.
template <class T>
struct RangeScratch {
    Buffer<T>& qr;     // d x m
    Buffer<T>& tau1;   // min(d, m)
    Buffer<T>& tau2;   // min(d, m)
    Buffer<T>& small;  // min(d, m) x m
    Buffer<T>& basis;  // d x q
    Buffer<T>& work;   // m
};

// Orthonormal basis of range(R) (R: d x m) left column-major in w.basis (d x q); returns q.
// R = Q1 R1 (Householder), R1 Pi = Q2 R2 (column-pivoted, small), basis = first q columns of
// Q1 Q2 with q the fewest leaving rows of R2 of root-mean-square norm <= tol (see leading_rank; capped
// at max_cols). The neglected norm ||R2[q:, :]||_F is exactly ||R - P P^T R||_F, returned in `tail`.
// No SVD: the basis only has to span the range.
template <class T>
Index range_basis(const ConstView<T>& R, double tol, Index max_cols, double& tail, RangeScratch<T> w) {
    const Index d = R.rows(), m = R.cols(), r = std::min(d, m);
    tail = 0.0;
    if (r == 0) return 0;
    CMap<T> A = cmat(w.qr, d, m);
    A = R;
    T* work = grow(w.work, m);
    T* tau1 = grow(w.tau1, r);
    householder_qr(A, tau1, work);
    CMap<T> S = cmat(w.small, r, m);
    S = A.topRows(r).template triangularView<Eigen::Upper>();
    T* tau2 = grow(w.tau2, r);
    pivoted_qr(S, tau2, work);
    const Index q = leading_rank(S, r, tol, max_cols, tail);
    CMap<T> P = cmat(w.basis, d, q);
    P.setZero();
    P.topRows(r).setIdentity();
    apply_q(S, tau2, r, P.topRows(r), work);
    apply_q(A, tau1, r, P, work);
    return q;
}

// Eigenvalues of a general real n x n matrix A (column-major, overwritten), real parts in wr[0 .. n),
// imaginary parts in wi[0 .. n) (complex pairs adjacent, positive imaginary part first); `work` holds
// n entries. Householder reduction to Hessenberg form, then the implicit double-shift (Francis) QR
// iteration on the active window only, since no vectors are wanted. A defective or tightly clustered
// eigenvalue (alpha I plus a small nilpotent part, as late-training pencils are) converges only
// linearly, so no per-eigenvalue cap: an exceptional shift every 10 iterations without a split, in two
// kinds taken in turn, and a budget of 30 max(10, n) iterations for the whole matrix (LAPACK's).
// Returns false if that budget runs out (wr, wi then hold what was found; the rest is unspecified).
template <class T>
bool eigenvalues(CMap<T> A, T* wr, T* wi, T* work) {
    const Index n = A.rows();
    using std::abs;
    using std::sqrt;
    // Hessenberg: reflector j zeroes column j below the subdiagonal, applied on both sides.
    for (Index j = 0; j + 2 < n; ++j) {
        T tau, beta;
        auto x = A.col(j).tail(n - j - 1);
        x.makeHouseholderInPlace(tau, beta);
        const auto ess = A.col(j).tail(n - j - 2);
        A.bottomRightCorner(n - j - 1, n - j - 1).applyHouseholderOnTheLeft(ess, tau, work);
        A.rightCols(n - j - 1).applyHouseholderOnTheRight(ess, tau, work);
        A(j + 1, j) = beta;
        A.col(j).tail(n - j - 2).setZero();
    }
    T norm = T(0);  // of the Hessenberg matrix, entry-wise 1-norm: the scale of "negligible"
    for (Index j = 0; j < n; ++j)
        for (Index i = 0; i <= std::min(j + 1, n - 1); ++i) norm += abs(A(i, j));
    const T ulp = std::numeric_limits<T>::epsilon();
    T shift = T(0);  // accumulated exceptional shifts
    Index hi = n - 1, its = 0, budget = 30 * std::max<Index>(10, n);
    while (hi >= 0) {
        // Start of the unreduced block ending at hi: the last negligible subdiagonal entry.
        Index lo = hi;
        for (; lo > 0; --lo) {
            T s = abs(A(lo - 1, lo - 1)) + abs(A(lo, lo));
            if (s == T(0)) s = norm;
            if (abs(A(lo, lo - 1)) <= ulp * s) {
                A(lo, lo - 1) = T(0);
                break;
            }
        }
        T x = A(hi, hi);
        if (lo == hi) {  // one real eigenvalue split off
            wr[hi] = x + shift, wi[hi] = T(0);
            --hi, its = 0;
            continue;
        }
        T y = A(hi - 1, hi - 1);
        T w = A(hi, hi - 1) * A(hi - 1, hi);
        if (lo == hi - 1) {  // a 2 x 2 block: a real pair or a complex-conjugate pair
            const T p = T(0.5) * (y - x), q = p * p + w, z = sqrt(abs(q));
            x += shift;
            if (q >= T(0)) {
                const T zz = p + (p >= T(0) ? z : -z);
                wr[hi - 1] = wr[hi] = x + zz;
                if (zz != T(0)) wr[hi] = x - w / zz;
                wi[hi - 1] = wi[hi] = T(0);
            } else {
                wr[hi - 1] = wr[hi] = x + p;
                wi[hi - 1] = z, wi[hi] = -z;
            }
            hi -= 2, its = 0;
            continue;
        }
        if (budget-- == 0) return false;
        if (its > 0 && its % 10 == 0) {  // exceptional shift: breaks cycles of the standard one
            // A complex pair around a diagonal entry plus 3/4 of two subdiagonal entries, at the
            // bottom of the window and at its top in turn (both ends feed the bulge).
            const bool top = its % 20 == 10;
            const T sigma = top ? A(lo, lo) : x;
            const T s = top ? abs(A(lo + 1, lo)) + abs(A(lo + 2, lo + 1)) : abs(A(hi, hi - 1)) + abs(A(hi - 1, hi - 2));
            shift += sigma;
            for (Index i = 0; i <= hi; ++i) A(i, i) -= sigma;  // all of it: eigenvalues above lo get the shift back too
            x = y = T(0.75) * s;
            w = T(-0.4375) * s * s;
        }
        ++its;
        // The first column of (A - s1)(A - s2) (s1, s2 the eigenvalues of the trailing 2 x 2) is
        // (p, q, r, 0, ...) from row m on; start the bulge at the lowest m where two consecutive
        // small subdiagonal entries make rows above m irrelevant.
        Index m = hi - 2;
        T p = 0, q = 0, r = 0;
        for (;; --m) {
            const T z = A(m, m), rr = x - z, ss = y - z;
            p = (rr * ss - w) / A(m + 1, m) + A(m, m + 1);
            q = A(m + 1, m + 1) - z - rr - ss;
            r = A(m + 2, m + 1);
            const T s = abs(p) + abs(q) + abs(r);
            p /= s, q /= s, r /= s;
            if (m == lo) break;
            const T u = abs(A(m, m - 1)) * (abs(q) + abs(r));
            const T v = abs(p) * (abs(A(m - 1, m - 1)) + abs(z) + abs(A(m + 1, m + 1)));
            if (u <= ulp * v) break;
        }
        for (Index i = m + 2; i <= hi; ++i) {
            A(i, i - 2) = T(0);
            if (i != m + 2) A(i, i - 3) = T(0);
        }
        // Chase the bulge down with 3 x 3 (last: 2 x 2) reflectors I - v v^T / v1, v = (1, y, z) scaled.
        for (Index k = m; k < hi; ++k) {
            const bool last = k == hi - 1;
            T scale = T(1);
            if (k != m) {
                p = A(k, k - 1), q = A(k + 1, k - 1), r = last ? T(0) : A(k + 2, k - 1);
                scale = abs(p) + abs(q) + abs(r);
                if (scale == T(0)) continue;
                p /= scale, q /= scale, r /= scale;
            }
            T s = sqrt(p * p + q * q + r * r);
            if (p < T(0)) s = -s;
            if (k == m) {
                if (lo != m) A(k, k - 1) = -A(k, k - 1);
            } else {
                A(k, k - 1) = -s * scale;
            }
            p += s;
            const T vx = p / s, vy = q / s, vz = r / s;
            q /= p, r /= p;
            for (Index j = k; j <= hi; ++j) {  // rows k .. k+2 of the active window
                T t = A(k, j) + q * A(k + 1, j);
                if (!last) t += r * A(k + 2, j), A(k + 2, j) -= t * vz;
                A(k + 1, j) -= t * vy;
                A(k, j) -= t * vx;
            }
            const Index top = std::min(hi, k + 3);
            for (Index i = lo; i <= top; ++i) {  // columns k .. k+2
                T t = vx * A(i, k) + vy * A(i, k + 1);
                if (!last) t += vz * A(i, k + 2), A(i, k + 2) -= t * r;
                A(i, k + 1) -= t * q;
                A(i, k) -= t;
            }
        }
    }
    (void)work;
    return true;
}

// Largest principal angle (sine) between span(A) and span(B), orthonormal and of equal width:
// ||A - B (B^T A)||_2, never arccos of cosines (which loses everything below ~1e-8).
template <class T>
double sine_angle(const Mat<T>& A, const Mat<T>& B) {
    if (A.cols() == 0) return 0.0;
    CM<T> R = A - B * (B.transpose() * A);
    Eigen::JacobiSVD<CM<T>> svd(R);
    return static_cast<double>(svd.singularValues()(0));
}

// The same for orthonormal bases of any widths: the narrower span against the wider one (the
// largest angle that rotating the narrower into the wider needs); 0 when the narrower is empty.
template <class T>
double sine_between(const Mat<T>& A, const Mat<T>& B) {
    return A.cols() <= B.cols() ? sine_angle(A, B) : sine_angle(B, A);
}

}  // namespace dln::linalg
