#include "dln/tracker.hpp"

#include "dln/blas.hpp"

#include <Eigen/QR>
#include <Eigen/SVD>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <sstream>

namespace dln {

// Small and tall-skinny work (s x s cores, d x 2k residuals) is column-major where Householder
// reflections act on columns; everything of size d goes through dln::gemm. The structured tracker
// keeps all of it in scratch slots that grow to the largest shapes seen and are never shrunk, so
// the updates of a run at fixed s and k allocate nothing.
template <class T>
using CM = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
template <class T>
using CMap = Eigen::Map<CM<T>>;

void TrackerOptions::validate() const {
    if (max_rank < 1) invalid("max_rank", "must be >= 1, got " + std::to_string(max_rank));
    if (!(direction_tol > 0.0 && direction_tol < 1.0))
        invalid("direction_tol", "must be in (0, 1), got " + std::to_string(direction_tol));
    if (!(ortho_ulp >= 1.0)) invalid("ortho_ulp", "must be >= 1, got " + std::to_string(ortho_ulp));
}

void TrackSpec::validate() const {
    if (every < 1) invalid("every", "must be >= 1, got " + std::to_string(every));
    if (top_p < 0) invalid("top_p", "must be >= 0, got " + std::to_string(top_p));
    if (block_r < 0) invalid("block_r", "must be >= 0, got " + std::to_string(block_r));
    if (update_rank < 1) invalid("update_rank", "must be >= 1, got " + std::to_string(update_rank));
    if (mode != "auto" && mode != "structured" && mode != "generic")
        invalid("mode", "expected 'auto', 'structured' or 'generic', got '" + mode + "'");
    if (reference != "step1" && reference != "theory")
        invalid("reference", "expected 'step1' or 'theory', got '" + reference + "'");
    if (reference == "theory" && block_r < 1)
        invalid("block_r", "reference 'theory' needs the target rank r >= 1 (the moving subspace has 2r directions), got " +
                               std::to_string(block_r));
    if (!(certificate_tol > 0.0)) invalid("certificate_tol", "must be > 0, got " + std::to_string(certificate_tol));
    tracker.validate();
}

namespace {

// Scratch slots (StructuredTracker::work_). The range finder owns kQR .. kHw; its result stays in
// kBasis until the next call.
enum Slot : int {
    kQR, kTau1, kTau2, kSmall, kBasis, kHw,  // range finder
    kE, kR, kPv, kP2, kPR, kC, kDn, kG, kUk, kUkT, kUkB, kDU,  // Brand step in the Q-frame
    kZ, kT1, kT2, kEd, kYr, kZr, kUtY, kAp, kBd, kQA,  // dense split
    kZqr, kZtau, kYb, kYbtau, kYc, kZc, kLift,         // the split's small coordinates
    kCert, kCertV, kGram,  // certificate and orthogonality
    kSlots
};

template <class T>
using Buffer = std::vector<T, Eigen::aligned_allocator<T>>;  // see StructuredTracker::work_
template <class T>
using Work = std::array<Buffer<T>, 40>;

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
MutView<T> rmat(Buffer<T>& b, Index rows, Index cols) {
    return MutView<T>(grow(b, rows * cols), rows, cols);
}
// A column-major d x q matrix read as the row-major q x d matrix it is in memory (its transpose).
template <class T>
ConstView<T> transposed(const Buffer<T>& b, Index rows, Index cols) {
    return ConstView<T>(b.data(), cols, rows);
}

template <class T>
double eps() {
    return static_cast<double>(std::numeric_limits<T>::epsilon());
}

// A relative threshold is never below what the precision can resolve (float32 would otherwise
// keep rounding noise as new directions).
template <class T>
double rel_tol(const TrackerOptions& o) {
    return std::max(o.direction_tol, 32.0 * eps<T>());
}

template <class M>
void fill_normal(M& X, Rng& rng) {
    for (Index i = 0; i < X.size(); ++i) X.data()[i] = static_cast<typename M::Scalar>(rng.normal());
}

// Householder QR in place: R on and above the diagonal, the reflectors' essential parts below it,
// their coefficients in tau[0 .. min(m, n)). Unblocked (the panels here are at most ~100 columns
// wide) and allocation-free; `work` holds n entries.
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

// Orthonormal basis of range(R) (R: d x m) left column-major in w[kBasis] (d x q); returns q.
// R = Q1 R1 (Householder), R1 Pi = Q2 R2 (column-pivoted, small), basis = first q columns of
// Q1 Q2 with q the fewest leaving rows of R2 of root-mean-square norm <= tol (see leading_rank; capped
// at max_cols). The neglected norm ||R2[q:, :]||_F is exactly ||R - P P^T R||_F, returned in `tail`.
// No SVD: the basis only has to span the range.
template <class T>
Index range_basis(const ConstView<T>& R, double tol, Index max_cols, double& tail, Work<T>& w) {
    const Index d = R.rows(), m = R.cols(), r = std::min(d, m);
    tail = 0.0;
    if (r == 0) return 0;
    CMap<T> A = cmat(w[kQR], d, m);
    A = R;
    T* work = grow(w[kHw], m);
    T* tau1 = grow(w[kTau1], r);
    householder_qr(A, tau1, work);
    CMap<T> S = cmat(w[kSmall], r, m);
    S = A.topRows(r).template triangularView<Eigen::Upper>();
    T* tau2 = grow(w[kTau2], r);
    pivoted_qr(S, tau2, work);
    const Index q = leading_rank(S, r, tol, max_cols, tail);
    CMap<T> P = cmat(w[kBasis], d, q);
    P.setZero();
    P.topRows(r).setIdentity();
    apply_q(S, tau2, r, P.topRows(r), work);
    apply_q(A, tau1, r, P, work);
    return q;
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

// Tracked moving subspace span(M) vs the theory's span(Th), and the tracked bulk (complement of M)
// vs the theory's bulk (complement of Th), both by the sine formula in O(d s^2), never forming a
// d x d projector or complement basis. Complements of equal-width spaces have the same largest
// angle, ||(I - M M^T) Th||_2 = ||(I - Th Th^T) M||_2, so the bulk is computed from the other side
// (the part of the theory's moving subspace that lies in the tracked bulk); for unequal widths the
// complement identity gives the narrower-vs-wider expression again.
template <class T>
std::vector<double> theory_angles(const Mat<T>& M, const Mat<T>& Th) {
    const double moving = sine_between(M, Th);
    const double bulk = M.cols() == Th.cols() ? sine_angle(Th, M) : moving;
    return {moving, bulk};
}

// alpha given, the rank-revealing basis of E = Y - alpha Z (left in w[kBasis], q columns returned);
// alpha refined by least squares on the complement of that basis (the cluster median is only good
// to ~eps * conditioning).
template <class T>
Index split_basis(const ConstView<T>& Y, const ConstView<T>& Z, double& alpha, double tol, double& tail,
                  Index max_cols, Work<T>& w) {
    const Index d = Y.rows(), p = Y.cols();
    MutView<T> E = rmat(w[kEd], d, p);
    E = Y - static_cast<T>(alpha) * Z;
    Index q = range_basis<T>(view(E), tol, max_cols, tail, w);
    MutView<T> Yr = rmat(w[kYr], d, p), Zr = rmat(w[kZr], d, p);
    // A few alternating steps (basis, then alpha by least squares off the basis); each one shrinks
    // alpha's error by about (its effect on E) / (the smallest kept singular value of E).
    for (int it = 0; it < 3; ++it) {
        const ConstView<T> Ubt = transposed(w[kBasis], d, q);
        MutView<T> C = rmat(w[kUtY], q, p);
        Yr = Y;
        gemm<T>(Op::N, Op::N, T(1), Ubt, Y, T(0), C);
        gemm<T>(Op::T, Op::N, T(-1), Ubt, view(C), T(1), Yr);
        Zr = Z;
        gemm<T>(Op::N, Op::N, T(1), Ubt, Z, T(0), C);
        gemm<T>(Op::T, Op::N, T(-1), Ubt, view(C), T(1), Zr);
        const double zz = static_cast<double>(Zr.squaredNorm());
        if (!(zz > 0.0)) break;
        const double next = static_cast<double>((Yr.cwiseProduct(Zr)).sum()) / zz;
        const bool settled = std::abs(next - alpha) <= 4.0 * eps<T>() * std::abs(alpha);
        alpha = next;
        E = Y - static_cast<T>(alpha) * Z;
        q = range_basis<T>(view(E), tol, max_cols, tail, w);
        if (settled) break;
    }
    return q;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// StructuredTracker

template <class T>
StructuredTracker<T>::StructuredTracker(Mat<T> Q, double rho, Mat<T> V, Mat<T> D, TrackerOptions options,
                                        std::uint64_t seed)
    : Q_(std::move(Q)), rho_(rho), V_(std::move(V)), D_(std::move(D)), opt_(options), rng_(seed) {
    static_assert(kSlots <= std::tuple_size<decltype(work_)>::value, "StructuredTracker::work_ needs more slots");
    opt_.validate();
    const Index d = Q_.rows();
    if (d == 0 || Q_.cols() != d) invalid("Q", "expected a non-empty square matrix, got " + shape_str(Q_.rows(), Q_.cols()));
    if (!all_finite(Q_.data(), Q_.size())) invalid("Q", "contains NaN or Inf");
    if (!std::isfinite(rho)) invalid("rho", "must be finite, got " + std::to_string(rho));
    if (V_.rows() != d || V_.cols() > d) invalid("V", "expected shape (" + std::to_string(d) + ", s <= d), got " + shape_str(V_.rows(), V_.cols()));
    if (D_.rows() != V_.cols() || D_.cols() != V_.cols())
        invalid("D", "expected shape " + shape_str(V_.cols(), V_.cols()) + ", got " + shape_str(D_.rows(), D_.cols()));
    if (!all_finite(V_.data(), V_.size())) invalid("V", "contains NaN or Inf");
    if (!all_finite(D_.data(), D_.size())) invalid("D", "contains NaN or Inf");
    if (orthogonality() > 1e3 * eps<T>() * std::max<Index>(1, V_.cols()))
        invalid("V", "columns are not orthonormal (max |V^T V - I| = " + std::to_string(orthogonality()) + ")");
}

template <class T>
void StructuredTracker<T>::check_matrix(const ConstView<T>& W, const char* name, bool finite_checked) const {
    if (W.rows() != dim() || W.cols() != dim())
        invalid(name, "expected shape " + shape_str(dim(), dim()) + ", got " + shape_str(W.rows(), W.cols()));
    if (!finite_checked && !all_finite(W.data(), W.size())) invalid(name, "contains NaN or Inf");
}

template <class T>
StructuredTracker<T> StructuredTracker<T>::from_matrix(const ConstView<T>& W, Mat<T> Q, std::optional<double> rho,
                                                       TrackerOptions options, std::uint64_t seed, double* residual) {
    const Index d = Q.rows();
    StructuredTracker t(std::move(Q), rho.value_or(0.0), Mat<T>(d, 0), Mat<T>(0, 0), options, seed);
    t.check_matrix(W, "W");
    if (rho && !std::isfinite(*rho)) invalid("rho", "must be finite");
    const double r = t.restart(W, rho);
    if (r < 0.0)
        invalid("W", "is not rho Q + a matrix of rank <= max_rank = " + std::to_string(options.max_rank) +
                         " for the given Q");
    if (residual) *residual = r;
    return t;
}

template <class T>
double StructuredTracker<T>::orthogonality() const {
    const Index s = V_.cols();
    if (s == 0) return 0.0;
    // Cached while V is unchanged; otherwise one BLAS-3 product, O(d s^2), small next to an
    // update's O(d^2 k).
    if (ortho_ >= 0.0) return ortho_;
    MutView<T> G = rmat(work_[kGram], s, s);
    gemm<T>(Op::T, Op::N, T(1), view(V_), view(V_), T(0), G);
    G.diagonal().array() -= T(1);
    ortho_ = static_cast<double>(G.cwiseAbs().maxCoeff());
    return ortho_;
}

template <class T>
void StructuredTracker<T>::reorthonormalise_if_needed(UpdateInfo& info) {
    const Index d = dim(), s = V_.cols();
    if (s == 0 || orthogonality() <= opt_.ortho_ulp * eps<T>()) return;
    // V = Qv Rv exactly, so V D V^T = Qv (Rv D Rv^T) Qv^T: the represented matrix does not change.
    CMap<T> A = cmat(work_[kQR], d, s);
    A = V_;
    T* work = grow(work_[kHw], std::max(d, s));
    T* tau = grow(work_[kTau1], s);
    householder_qr(A, tau, work);
    CMap<T> Rv = cmat(work_[kSmall], s, s);
    Rv = A.topRows(s).template triangularView<Eigen::Upper>();
    CMap<T> RD = cmat(work_[kDU], s, s);
    RD.noalias() = Rv * D_;
    D_.noalias() = RD * Rv.transpose();
    CMap<T> Qv = cmat(work_[kBasis], d, s);
    Qv.setZero();
    Qv.topRows(s).setIdentity();
    apply_q(A, tau, s, Qv, work);
    V_ = Qv;
    ortho_ = -1.0;
    info.reorthonormalised = true;
    ++reorth_;
}

template <class T>
UpdateInfo StructuredTracker<T>::update(const ConstView<T>& A, const ConstView<T>& B, double alpha) {
    const Index d = dim();
    if (A.rows() != d || A.cols() < 1) invalid("A", "expected shape (" + std::to_string(d) + ", k >= 1), got " + shape_str(A.rows(), A.cols()));
    if (B.rows() != d || B.cols() != A.cols())
        invalid("B", "expected shape " + shape_str(d, A.cols()) + " (like A), got " + shape_str(B.rows(), B.cols()));
    if (!all_finite(A.data(), A.size())) invalid("A", "contains NaN or Inf");
    if (!all_finite(B.data(), B.size())) invalid("B", "contains NaN or Inf");
    if (!std::isfinite(alpha)) invalid("alpha", "must be finite, got " + std::to_string(alpha));
    MutView<T> Ap = rmat(work_[kAp], d, A.cols());
    gemm<T>(Op::T, Op::N, T(1), view(Q_), A, T(0), Ap);  // the O(d^2 k) part: rotate A into the Q-frame
    return update_qframe(view(Ap), B, alpha);
}

template <class T>
UpdateInfo StructuredTracker<T>::update_qframe(const ConstView<T>& Ap, const ConstView<T>& B, double alpha) {
    UpdateInfo info;
    info.alpha = alpha;
    const Index d = dim(), s = V_.cols(), k = Ap.cols(), m = 2 * k;
    const double na = static_cast<double>(Ap.norm()), nb = static_cast<double>(B.norm());
    rho_ *= alpha;
    D_ *= static_cast<T>(alpha);
    if (na == 0.0 || nb == 0.0) return info;
    // A B^T = (cA)(B/c)^T: balancing makes one relative threshold mean the same for both factors.
    const T c = static_cast<T>(std::sqrt(nb / na));
    MutView<T> E = rmat(work_[kE], d, m);
    E.leftCols(k) = Ap * c;
    E.rightCols(k) = B / c;
    const double scale = static_cast<double>(E.norm());
    // Classical Gram-Schmidt against V, twice ("twice is enough"): one pass leaves ~eps ||E|| / ||R||
    // of V in the residual when E lies mostly in span(V), which is the common case here.
    MutView<T> R = rmat(work_[kR], d, m);
    MutView<T> Pv = rmat(work_[kPv], s, m);
    R = E;
    if (s) {
        MutView<T> P2 = rmat(work_[kP2], s, m);
        gemm<T>(Op::T, Op::N, T(1), view(V_), view(E), T(0), Pv);
        gemm<T>(Op::N, Op::N, T(-1), view(V_), view(Pv), T(1), R);
        gemm<T>(Op::T, Op::N, T(1), view(V_), view(R), T(0), P2);
        gemm<T>(Op::N, Op::N, T(-1), view(V_), view(P2), T(1), R);
        Pv += P2;
    }
    const double tol = rel_tol<T>(opt_) * scale;
    double tail = static_cast<double>(R.norm());
    Index q = 0;
    // Once the run settles, the update lies in span(V) and R is rounding: every singular value of R
    // is below ||R||_F <= tol, so no direction is new and no factorisation is needed.
    if (tail > tol) q = range_basis<T>(view(R), tol, -1, tail, work_);
    info.added = q;
    info.projection_residual = tail / scale;
    const Index n = s + q;
    if (n == 0) return info;
    // Coordinates of E in [V, P] and the extended core alpha [D 0; 0 0] + Ea Eb^T.
    CMap<T> C = cmat(work_[kC], n, m);
    C.topRows(s) = Pv;
    const ConstView<T> Pt = transposed(work_[kBasis], d, q);
    if (q) {
        MutView<T> PR = rmat(work_[kPR], q, m);
        gemm<T>(Op::N, Op::N, T(1), Pt, view(R), T(0), PR);
        C.bottomRows(q) = PR;
    }
    CMap<T> Dn = cmat(work_[kDn], n, n);
    Dn.setZero();
    Dn.topLeftCorner(s, s) = D_;
    Dn.noalias() += C.leftCols(k) * C.rightCols(k).transpose();
    // Rounding in Dn scales with the terms summed, not with their (possibly cancelled) sum.
    const double terms = static_cast<double>(D_.norm() + C.leftCols(k).norm() * C.rightCols(k).norm());
    // Deflation: directions x of span([V, P]) with Dn x = Dn^T x = 0 are where W acts as rho Q; the
    // kept directions are a basis of range([Dn, Dn^T]), from a column-pivoted QR of it (O(n^3), no
    // SVD: the core need not be diagonal). What the basis leaves out is measured exactly.
    CMap<T> G = cmat(work_[kG], n, 2 * n);
    G.leftCols(n) = Dn;
    G.rightCols(n) = Dn.transpose();
    T* work = grow(work_[kHw], std::max(2 * n, m));
    T* tau = grow(work_[kTau1], n);
    pivoted_qr(G, tau, work);
    const double ref = std::max({std::abs(rho_), terms, static_cast<double>(std::abs(G(0, 0)))});
    double dropped = 0.0;
    const Index keep = leading_rank(G, n, rel_tol<T>(opt_) * ref, -1, dropped);
    info.discarded = 2.0 * dropped;  // ||Dn - P Dn P|| <= ||(I-P) Dn|| + ||Dn (I-P)||
    info.deflated = n - keep;
    if (keep == n) {
        // Nothing to deflate: V grows by P (or stays as it is), the core is Dn as it stands.
        if (q) {
            Vn_.resize(d, n);
            Vn_.leftCols(s) = V_;
            Vn_.rightCols(q) = CMap<T>(work_[kBasis].data(), d, q);
            V_.swap(Vn_);
            Dnext_.resize(n, n);
            Dnext_ = Dn;
            D_.swap(Dnext_);
            ortho_ = -1.0;
        } else {
            D_ = Dn;  // same shape: in place, so the spare D keeps the other size of a grow/shrink cycle
        }
    } else {
        // [V, P] Uk and Uk^T Dn Uk, Uk the first `keep` columns of the QR's orthogonal factor.
        CMap<T> Uk = cmat(work_[kUk], n, keep);
        Uk.setZero();
        Uk.topRows(keep).setIdentity();
        apply_q(G, tau, n, Uk, work);
        // When s comes back to where it was (the usual case: what an update added is deflated again),
        // V and D are rewritten in place from scratch slots that E and R no longer need; a new width
        // goes to the spare V and D, so a run alternating between two widths reuses both.
        const bool same = keep == s;
        if (!same) Vn_.resize(d, keep), Dnext_.resize(keep, keep);
        MutView<T> Vn = same ? rmat(work_[kE], d, keep) : MutView<T>(Vn_.data(), d, keep);
        MutView<T> Ut = rmat(work_[kUkT], s, keep);
        Ut = Uk.topRows(s);
        gemm<T>(Op::N, Op::N, T(1), view(V_), view(Ut), T(0), Vn);  // s = 0 is handled by gemm
        if (q) {
            MutView<T> Ub = rmat(work_[kUkB], q, keep);
            Ub = Uk.bottomRows(q);
            gemm<T>(Op::T, Op::N, T(1), Pt, view(Ub), T(1), Vn);
        }
        CMap<T> DU = cmat(work_[kDU], n, keep);
        DU.noalias() = Dn * Uk;
        CMap<T> Dk = cmat(work_[kR], keep, keep);
        Dk.noalias() = Uk.transpose() * DU;
        if (same) {
            V_ = Vn;
            D_ = Dk;
        } else {
            Dnext_ = Dk;
            D_.swap(Dnext_);
            V_.swap(Vn_);
        }
        ortho_ = -1.0;
    }
    reorthonormalise_if_needed(info);
    info.over_cap = V_.cols() > opt_.max_rank;
    return info;
}

template <class T>
bool StructuredTracker<T>::find_alpha(const ConstView<T>& Y, const ConstView<T>& Z, Index k, double& alpha,
                                      std::string& reason) {
    // The pencil split: alpha such that Y - alpha Z has rank <= k (Z of full column rank p > 2k).
    // Z^+ Y = alpha I + rank k, so alpha is its eigenvalue of multiplicity >= p - k (a majority).
    const Index d = Z.rows(), p = Z.cols();
    CMap<T> A = cmat(work_[kZqr], d, p);  // Z = H [R; 0] and H^T Y (kEd) stay for update_dense
    A = Z;
    T* work = grow(work_[kHw], std::max(d, p));
    T* tau = grow(work_[kZtau], p);
    householder_qr(A, tau, work);
    const auto diag = A.diagonal().head(p).cwiseAbs();
    if (!(static_cast<double>(diag.minCoeff()) > 1e3 * eps<T>() * static_cast<double>(diag.maxCoeff()))) {
        reason = "the tracked matrix is numerically singular on the probes";
        return false;
    }
    CMap<T> QtY = cmat(work_[kEd], d, p);
    QtY = Y;
    apply_qt(A, tau, p, QtY, work);
    CMap<T> M = cmat(work_[kSmall], p, p);
    M = QtY.topRows(p);
    A.topLeftCorner(p, p).template triangularView<Eigen::Upper>().solveInPlace(M);
    pencil_.compute(M, false);
    if (pencil_.info() != Eigen::Success) {
        reason = "eigenvalues of the probe pencil did not converge";
        return false;
    }
    const auto& ev = pencil_.eigenvalues();
    double big = 0.0;
    for (Index i = 0; i < p; ++i) big = std::max(big, static_cast<double>(std::abs(ev(i))));
    // Loose on purpose: it only picks the cluster; alpha is refined from the residual afterwards.
    const double tau_c = std::max(1e-7, 1e4 * eps<T>()) * std::max(big, std::numeric_limits<double>::min());
    Index best = -1, best_count = 0;
    for (Index i = 0; i < p; ++i) {
        Index c = 0;
        for (Index j = 0; j < p; ++j) c += std::abs(ev(i) - ev(j)) <= tau_c;
        if (c > best_count) best = i, best_count = c;
    }
    if (best_count < p - k) {
        std::ostringstream o;
        o << "no eigenvalue of multiplicity >= " << p - k << " in the probe pencil (largest cluster " << best_count
          << " of " << p << "): the update is not alpha W + rank <= " << k;
        reason = o.str();
        return false;
    }
    // The median of the cluster, not its mean: late in training a step's low-rank part is tiny, so
    // up to k eigenvalues alpha + lambda(C F) fall inside the loose cluster; the p - k > k exact
    // copies of alpha still hold the middle of it.
    cluster_.clear();
    cluster_.reserve(static_cast<std::size_t>(p));  // once per p: the cluster never holds more
    for (Index j = 0; j < p; ++j)
        if (std::abs(ev(best) - ev(j)) <= tau_c) cluster_.push_back(static_cast<double>(ev(j).real()));
    std::sort(cluster_.begin(), cluster_.end());
    const std::size_t n = cluster_.size();
    alpha = n % 2 ? cluster_[n / 2] : 0.5 * (cluster_[n / 2 - 1] + cluster_[n / 2]);
    return true;
}

template <class T>
UpdateInfo StructuredTracker<T>::update_dense(const ConstView<T>& W_after, Index max_update_rank, bool finite_checked) {
    check_matrix(W_after, "W_after", finite_checked);
    if (max_update_rank < 1) invalid("max_update_rank", "must be >= 1");
    const Index d = dim(), s = V_.cols(), p = std::min<Index>(d, 2 * max_update_rank + 2);
    UpdateInfo info;
    // A layer smaller than 2k + 2 gets d probes, which see everything; k shrinks so p - k stays a majority.
    const Index k = std::min<Index>(max_update_rank, (p - 1) / 2);
    if (X_.rows() != d || X_.cols() != p) X_.resize(d, p), WX_.resize(d, p), Y_.resize(d, p);
    fill_normal(X_, rng_);
    // Z = Q^T W X from the representation (O(d s p)); Y = Q^T W' X (two O(d^2 p) products).
    MutView<T> Z = rmat(work_[kZ], d, p);
    Z = static_cast<T>(rho_) * X_;
    if (s) {
        MutView<T> T1 = rmat(work_[kT1], s, p), T2 = rmat(work_[kT2], s, p);
        gemm<T>(Op::T, Op::N, T(1), view(V_), view(X_), T(0), T1);
        gemm<T>(Op::N, Op::N, T(1), view(D_), view(T1), T(0), T2);
        gemm<T>(Op::N, Op::N, T(1), view(V_), view(T2), T(1), Z);
    }
    gemm<T>(Op::N, Op::N, T(1), W_after, view(X_), T(0), WX_);
    gemm<T>(Op::T, Op::N, T(1), view(Q_), view(WX_), T(0), Y_);
    double alpha = 0.0;
    if (rho_ == 0.0 || !find_alpha(view(Y_), view(Z), k, alpha, info.reason)) {
        if (rho_ == 0.0) info.reason = "rho = 0: the split needs W to be invertible";
        info.split_failed = true;
        return info;
    }
    double tail = 0.0;
    const double ynorm = static_cast<double>(Y_.norm());
    // The split in small coordinates: find_alpha left Z = H [Rz; 0] (Householder) and H^T Y; one more
    // QR of the part of H^T Y below row p, H^T Y = [Yt; Hb [Rb; 0]], gives an orthonormal
    // U = H diag(I, Hb) (d x c, c <= 2p) with Y = U [Yt; Rb] and Z = U [Rz; 0]. Norms, ranks and the
    // tail are those of the c x p coordinates, so the rank decisions and the refinement of alpha
    // (split_basis) run on 2p x p matrices instead of d x p, and only the chosen basis is lifted.
    const Index m = d - p, cb = std::min(m, p), c = p + cb;
    T* work = grow(work_[kHw], std::max(d, 2 * p));
    CMap<T> Yb = cmat(work_[kYb], m, p);
    T* btau = grow(work_[kYbtau], std::max<Index>(cb, 1));
    {
        const CMap<T> HtY = cmat(work_[kEd], d, p), Zqr = cmat(work_[kZqr], d, p);
        if (m) {
            Yb = HtY.bottomRows(m);
            householder_qr(Yb, btau, work);
        }
        MutView<T> Yc = rmat(work_[kYc], c, p), Zc = rmat(work_[kZc], c, p);
        Yc.topRows(p) = HtY.topRows(p);
        if (cb) Yc.bottomRows(cb) = Yb.topRows(cb).template triangularView<Eigen::Upper>();
        Zc.setZero();
        Zc.topRows(p) = Zqr.topRows(p).template triangularView<Eigen::Upper>();
    }
    // At most k directions: beyond them E holds only rounding and the representation's own error
    // (~1e-13 relative after many steps, full rank), which the next step sees again - the split
    // re-anchors on the live W' every step, so that tail does not accumulate. A tail above
    // 1e3 x the direction tolerance means the step really is not alpha W + rank <= k.
    const Index q = split_basis<T>(ConstView<T>(work_[kYc].data(), c, p), ConstView<T>(work_[kZc].data(), c, p), alpha,
                                   rel_tol<T>(opt_) * ynorm, tail, k, work_);
    if (tail > 1e3 * rel_tol<T>(opt_) * ynorm) {
        std::ostringstream o;
        o << "the low-rank part has rank > update_rank " << k << " (relative tail " << tail / ynorm << ")";
        info.split_failed = true;
        info.reason = o.str();
        return info;
    }
    // A' = U Pc: the basis in coordinates (kBasis, c x q) lifted by the two reflector sequences.
    MutView<T> Ap = rmat(work_[kAp], d, q), B = rmat(work_[kBd], d, q);
    if (q) {
        CMap<T> Lf = cmat(work_[kLift], d, q);
        const CMap<T> Pc = cmat(work_[kBasis], c, q);
        Lf.setZero();
        Lf.topRows(p) = Pc.topRows(p);
        if (cb) {
            Lf.middleRows(p, cb) = Pc.bottomRows(cb);
            apply_q(Yb, btau, cb, Lf.bottomRows(m), work);
        }
        apply_q(cmat(work_[kZqr], d, p), work_[kZtau].data(), p, Lf, work);
        Ap = Lf;
    }
    // B = (W' - alpha W)^T Q A' = W'^T (Q A') - alpha (rho A' + V D^T V^T A').
    if (q) {
        MutView<T> QA = rmat(work_[kQA], d, q);
        gemm<T>(Op::N, Op::N, T(1), view(Q_), view(Ap), T(0), QA);
        gemm<T>(Op::T, Op::N, T(1), W_after, view(QA), T(0), B);
        B -= static_cast<T>(alpha * rho_) * Ap;
        if (s) {
            MutView<T> T1 = rmat(work_[kT1], s, q), T2 = rmat(work_[kT2], s, q);
            gemm<T>(Op::T, Op::N, T(1), view(V_), view(Ap), T(0), T1);
            gemm<T>(Op::T, Op::N, T(1), view(D_), view(T1), T(0), T2);
            gemm<T>(Op::N, Op::N, static_cast<T>(-alpha), view(V_), view(T2), T(1), B);
        }
    }
    UpdateInfo u = update_qframe(view(Ap), view(B), alpha);
    u.range_residual = ynorm > 0.0 ? tail / ynorm : 0.0;
    return u;
}

template <class T>
double StructuredTracker<T>::restart(const ConstView<T>& W, std::optional<double> known_rho) {
    check_matrix(W, "W");
    const Index d = dim(), cap = opt_.max_rank, p = std::min<Index>(d, 2 * cap + 2);
    Mat<T> X(d, p), WX(d, p), Y(d, p);
    fill_normal(X, rng_);
    gemm<T>(Op::N, Op::N, T(1), W, view(X), T(0), WX);
    gemm<T>(Op::T, Op::N, T(1), view(Q_), view(WX), T(0), Y);  // Q^T W X = rho X + L X
    double rho = known_rho.value_or(0.0);
    std::string reason;
    const Index k = std::min<Index>(cap, (p - 1) / 2);
    if (!known_rho && !find_alpha(view(Y), view(X), k, rho, reason)) return -1.0;
    double tail = 0.0;
    const double ynorm = static_cast<double>(Y.norm());
    Index qe = 0;
    if (known_rho) {
        const Mat<T> E = Y - static_cast<T>(rho) * X;
        qe = range_basis<T>(view(E), rel_tol<T>(opt_) * ynorm, -1, tail, work_);
    } else {
        qe = split_basis<T>(view(Y), view(X), rho, rel_tol<T>(opt_) * ynorm, tail, -1, work_);  // column space of L
    }
    const CM<T> Ec = CMap<T>(work_[kBasis].data(), d, qe);
    // Row space of L from L^T X = W^T Q X - rho X.
    Mat<T> QX(d, p), F(d, p);
    gemm<T>(Op::N, Op::N, T(1), view(Q_), view(X), T(0), QX);
    gemm<T>(Op::T, Op::N, T(1), W, view(QX), T(0), F);
    // Thresholds relative to ||W^T Q X|| (not ||F||): F is pure rounding noise when L = 0.
    const double fnorm = static_cast<double>(F.norm());
    F -= static_cast<T>(rho) * X;
    double tail_f = 0.0, tail2 = 0.0;
    const Index qf = range_basis<T>(view(F), rel_tol<T>(opt_) * fnorm, -1, tail_f, work_);
    Mat<T> both(d, qe + qf);
    both.leftCols(qe) = Ec;
    both.rightCols(qf) = CMap<T>(work_[kBasis].data(), d, qf);
    // Two orthonormal bases: a shared direction gives singular values sqrt(2) and ~0.
    const Index q = range_basis<T>(view(both), rel_tol<T>(opt_) * std::sqrt(2.0), -1, tail2, work_);
    if (q > k) return -1.0;
    Mat<T> V = CMap<T>(work_[kBasis].data(), d, q), WV(d, q), QtWV(d, q);
    if (q) {
        gemm<T>(Op::N, Op::N, T(1), W, view(V), T(0), WV);
        gemm<T>(Op::T, Op::N, T(1), view(Q_), view(WV), T(0), QtWV);
    }
    Mat<T> D = V.transpose() * QtWV;
    D.diagonal().array() -= static_cast<T>(rho);
    rho_ = rho;
    V_ = std::move(V);
    D_ = std::move(D);
    ortho_ = -1.0;
    return ynorm > 0.0 ? tail / ynorm : 0.0;
}

template <class T>
double StructuredTracker<T>::certificate(const ConstView<T>& W, bool finite_checked) const {
    check_matrix(W, "W", finite_checked);
    const Index d = dim(), s = V_.cols();
    // Row blocks of C = W - rho Q, each times (I - V V^T): two BLAS-3 products per block and no
    // d x d temporary (128 MB at d = 4000). W and Q are read once from memory, while a block is
    // formed (||W|| is summed there too); a block is small enough (<= 64 rows) that the products and
    // the norm find it in cache.
    const Index b = std::min<Index>(d, std::max<Index>(8, std::min<Index>(64, (Index(1) << 16) / std::max<Index>(d, 1))));
    double sum = 0.0, wsum = 0.0;
    for (Index i = 0; i < d; i += b) {
        const Index h = std::min(b, d - i);
        MutView<T> C = rmat(work_[kCert], h, d);
        C = W.middleRows(i, h) - static_cast<T>(rho_) * Q_.middleRows(i, h);
        wsum += static_cast<double>(W.middleRows(i, h).squaredNorm());
        if (s) {
            MutView<T> CV = rmat(work_[kCertV], h, s);
            gemm<T>(Op::N, Op::N, T(1), view(C), view(V_), T(0), CV);
            gemm<T>(Op::N, Op::T, T(-1), view(CV), view(V_), T(1), C);
        }
        sum += static_cast<double>(C.squaredNorm());
    }
    const double w = std::sqrt(wsum);
    return w > 0.0 ? std::sqrt(sum) / w : std::sqrt(sum);
}

template <class T>
double StructuredTracker<T>::representation_error(const ConstView<T>& W) const {
    check_matrix(W, "W");
    const double w = static_cast<double>(W.norm());
    const Mat<T> R = W - matrix();
    return w > 0.0 ? static_cast<double>(R.norm()) / w : static_cast<double>(R.norm());
}

template <class T>
Mat<T> StructuredTracker<T>::matrix() const {
    Mat<T> M = static_cast<T>(rho_) * Q_;
    if (V_.cols()) {
        Mat<T> QV(dim(), V_.cols());
        gemm<T>(Op::N, Op::N, T(1), view(Q_), view(V_), T(0), QV);
        M.noalias() += QV * (D_ * V_.transpose());
    }
    return M;
}

template <class T>
std::vector<double> StructuredTracker<T>::spectrum() const {
    std::vector<double> out;
    out.reserve(static_cast<std::size_t>(dim()));
    const Index s = V_.cols();
    if (s) {
        CM<T> C = D_;
        C.diagonal().array() += static_cast<T>(rho_);
        Eigen::JacobiSVD<CM<T>> svd(C);
        for (Index i = 0; i < s; ++i) out.push_back(static_cast<double>(svd.singularValues()(i)));
    }
    for (Index i = s; i < dim(); ++i) out.push_back(std::abs(rho_));
    std::sort(out.begin(), out.end(), std::greater<double>());
    return out;
}

template <class T>
Triplets<T> StructuredTracker<T>::triplets(Index first, Index count, bool q_frame) const {
    const Index d = dim(), s = V_.cols();
    if (first < 0 || count < 0 || first + count > d)
        invalid("p", "triplets " + std::to_string(first) + " .. " + std::to_string(first + count) + " outside [0, " + std::to_string(d) + "]");
    // Sorted order of core values and the bulk value |rho| (bulk entries are index -1).
    CM<T> C = D_;
    C.diagonal().array() += static_cast<T>(rho_);
    // Eigen's SVD and QR are not meant for empty matrices: s = 0 (all bulk) is handled without them.
    Eigen::JacobiSVD<CM<T>> svd;
    if (s) svd.compute(C, Eigen::ComputeFullU | Eigen::ComputeFullV);
    std::vector<std::pair<double, Index>> order;
    for (Index i = 0; i < s; ++i) order.emplace_back(static_cast<double>(svd.singularValues()(i)), i);
    for (Index i = s; i < d; ++i) order.emplace_back(std::abs(rho_), -1);
    std::stable_sort(order.begin(), order.end(), [](auto a, auto b) { return a.first > b.first; });
    Index bulk_needed = 0;
    for (Index j = first; j < first + count; ++j) bulk_needed += order[static_cast<std::size_t>(j)].second < 0;
    CM<T> N;
    if (bulk_needed) {
        // Orthonormal basis of V's complement: the trailing columns of the full Householder Q of V.
        CM<T> sel = CM<T>::Zero(d, bulk_needed);
        sel.bottomRows(d - s).topRows(bulk_needed).setIdentity();
        if (s) {
            Eigen::HouseholderQR<CM<T>> qr{CM<T>(V_)};
            N = qr.householderQ() * sel;
        } else {
            N = sel;
        }
    }
    Triplets<T> out;
    Mat<T> Vr(d, count), Vl(d, count);
    Index b = 0;
    const T sgn = rho_ < 0 ? T(-1) : T(1);
    for (Index j = 0; j < count; ++j) {
        const auto [sigma, i] = order[static_cast<std::size_t>(first + j)];
        out.S.push_back(sigma);
        if (i >= 0) {
            Vr.col(j) = V_ * svd.matrixV().col(i);
            Vl.col(j) = V_ * svd.matrixU().col(i);
        } else {
            Vr.col(j) = N.col(b);
            Vl.col(j) = sgn * N.col(b);
            ++b;
        }
    }
    out.V = std::move(Vr);
    if (q_frame) {
        out.U = std::move(Vl);
        return out;
    }
    out.U.resize(d, count);
    if (count) gemm<T>(Op::N, Op::N, T(1), view(Q_), view(Vl), T(0), out.U);  // left = Q times the Q-frame vectors
    return out;
}

// ---------------------------------------------------------------------------------------------------
// BrandTracker

namespace {
// The range finder with scratch of its own (the generic tracker is not the allocation-free path).
template <class T>
CM<T> basis_of(const CM<T>& R, double tol, double& tail) {
    Work<T> w;
    const Mat<T> Rr = R;
    const Index q = range_basis<T>(view(Rr), tol, -1, tail, w);
    return CMap<T>(w[kBasis].data(), R.rows(), q);
}
}  // namespace

template <class T>
BrandTracker<T>::BrandTracker(const ConstView<T>& W, TrackerOptions options, std::uint64_t seed)
    : m_(W.rows()), n_(W.cols()), opt_(options), rng_(seed) {
    opt_.validate();
    if (m_ == 0 || n_ == 0) invalid("W", "empty matrix");
    if (!all_finite(W.data(), W.size())) invalid("W", "contains NaN or Inf");
    const Index r = std::min({opt_.max_rank, m_, n_});
    const Index p = std::min({r + 10, m_, n_});
    Mat<T> X(n_, p), Y(m_, p), Z(n_, p);
    fill_normal(X, rng_);
    gemm<T>(Op::N, Op::N, T(1), W, view(X), T(0), Y);
    for (int it = 0; it < 2; ++it) {  // power iterations, re-orthonormalised so small values survive
        Mat<T> Yo = Eigen::HouseholderQR<CM<T>>(CM<T>(Y)).householderQ() * CM<T>::Identity(m_, p);
        gemm<T>(Op::T, Op::N, T(1), W, view(Yo), T(0), Z);
        Mat<T> Zo = Eigen::HouseholderQR<CM<T>>(CM<T>(Z)).householderQ() * CM<T>::Identity(n_, p);
        gemm<T>(Op::N, Op::N, T(1), W, view(Zo), T(0), Y);
    }
    Mat<T> Uo = Eigen::HouseholderQR<CM<T>>(CM<T>(Y)).householderQ() * CM<T>::Identity(m_, p);
    Mat<T> Bt(n_, p);  // W^T Uo
    gemm<T>(Op::T, Op::N, T(1), W, view(Uo), T(0), Bt);
    Eigen::BDCSVD<CM<T>> svd(CM<T>(Bt.transpose()), Eigen::ComputeThinU | Eigen::ComputeThinV);
    U_ = Uo * svd.matrixU().leftCols(r);
    V_ = svd.matrixV().leftCols(r);
    for (Index i = 0; i < r; ++i) S_.push_back(static_cast<double>(svd.singularValues()(i)));
    // Measured, not ||W||^2 - sum S^2: that difference cancels to ~sqrt(eps) ||W|| when little is dropped.
    discarded_ = certificate(W) * static_cast<double>(W.norm());
}

template <class T>
BrandTracker<T>::BrandTracker(Mat<T> U, std::vector<double> S, Mat<T> V, double discarded, TrackerOptions options,
                              std::uint64_t seed)
    : U_(std::move(U)), V_(std::move(V)), S_(std::move(S)), m_(U_.rows()), n_(V_.rows()), opt_(options), rng_(seed),
      discarded_(discarded) {
    opt_.validate();
    const auto r = static_cast<Index>(S_.size());
    if (m_ == 0 || n_ == 0) invalid("U", "empty tracker shape " + shape_str(m_, n_));
    if (U_.cols() != r || V_.cols() != r || r > std::min({m_, n_, opt_.max_rank}))
        invalid("S", std::to_string(r) + " values for U " + shape_str(U_.rows(), U_.cols()) + " and V " +
                         shape_str(V_.rows(), V_.cols()) + " (max_rank " + std::to_string(opt_.max_rank) + ")");
    if (!all_finite(U_.data(), U_.size())) invalid("U", "contains NaN or Inf");
    if (!all_finite(V_.data(), V_.size())) invalid("V", "contains NaN or Inf");
    for (double x : S_)
        if (!std::isfinite(x)) invalid("S", "contains NaN or Inf");
    if (!(std::isfinite(discarded_) && discarded_ >= 0.0)) invalid("discarded", "must be finite and >= 0");
    if (orthogonality() > 1e3 * eps<T>() * std::max<Index>(1, r)) invalid("U", "U or V columns are not orthonormal");
}

template <class T>
UpdateInfo BrandTracker<T>::update(const ConstView<T>& A, const ConstView<T>& B, double alpha) {
    if (A.rows() != m_ || A.cols() < 1) invalid("A", "expected shape (" + std::to_string(m_) + ", k >= 1), got " + shape_str(A.rows(), A.cols()));
    if (B.rows() != n_ || B.cols() != A.cols())
        invalid("B", "expected shape " + shape_str(n_, A.cols()) + ", got " + shape_str(B.rows(), B.cols()));
    if (!all_finite(A.data(), A.size())) invalid("A", "contains NaN or Inf");
    if (!all_finite(B.data(), B.size())) invalid("B", "contains NaN or Inf");
    if (!std::isfinite(alpha)) invalid("alpha", "must be finite, got " + std::to_string(alpha));
    UpdateInfo info;
    info.alpha = alpha;
    const Index s = rank(), k = A.cols();
    const double na = static_cast<double>(A.norm()), nb = static_cast<double>(B.norm());
    for (double& x : S_) x *= alpha;
    if (na == 0.0 || nb == 0.0) return info;
    const T c = static_cast<T>(std::sqrt(nb / na));
    CM<T> Ab = CM<T>(A) * c, Bb = CM<T>(B) / c;
    CM<T> Pa = U_.transpose() * Ab, Ra = Ab - U_ * Pa;
    CM<T> t = U_.transpose() * Ra;
    Ra -= U_ * t;
    Pa += t;
    CM<T> Pb = V_.transpose() * Bb, Rb = Bb - V_ * Pb;
    t = V_.transpose() * Rb;
    Rb -= V_ * t;
    Pb += t;
    double ta = 0.0, tb = 0.0;
    CM<T> Qa = basis_of<T>(Ra, rel_tol<T>(opt_) * static_cast<double>(Ab.norm()), ta);
    CM<T> Qb = basis_of<T>(Rb, rel_tol<T>(opt_) * static_cast<double>(Bb.norm()), tb);
    const Index qa = Qa.cols(), qb = Qb.cols();
    CM<T> Ca(s + qa, k), Cb(s + qb, k);
    Ca.topRows(s) = Pa;
    Ca.bottomRows(qa) = Qa.transpose() * Ra;
    Cb.topRows(s) = Pb;
    Cb.bottomRows(qb) = Qb.transpose() * Rb;
    CM<T> K = CM<T>::Zero(s + qa, s + qb);
    for (Index i = 0; i < s; ++i) K(i, i) = static_cast<T>(S_[static_cast<std::size_t>(i)]);
    K.noalias() += Ca * Cb.transpose();
    Eigen::JacobiSVD<CM<T>> svd(K, Eigen::ComputeThinU | Eigen::ComputeThinV);
    const auto& sv = svd.singularValues();
    Index keep = 0;
    const double ref = sv.size() ? static_cast<double>(sv(0)) : 0.0;
    while (keep < sv.size() && keep < opt_.max_rank && static_cast<double>(sv(keep)) > rel_tol<T>(opt_) * ref) ++keep;
    double dropped = 0.0;
    for (Index i = keep; i < sv.size(); ++i) dropped += static_cast<double>(sv(i)) * static_cast<double>(sv(i));
    // Part of A B^T outside the new bases (ta ||B||, tb ||A||) plus the truncated singular values.
    info.discarded = std::sqrt(dropped) + ta * static_cast<double>(Bb.norm()) + tb * static_cast<double>(Ab.norm());
    info.projection_residual = (ta + tb) / static_cast<double>(std::max(Ab.norm(), Bb.norm()));
    info.added = std::max<Index>(0, keep - s);
    discarded_ += info.discarded;
    Mat<T> Un(m_, keep), Vn(n_, keep);
    Un.noalias() = U_ * svd.matrixU().topLeftCorner(s, keep);
    Un.noalias() += Qa * svd.matrixU().bottomLeftCorner(qa, keep);
    Vn.noalias() = V_ * svd.matrixV().topLeftCorner(s, keep);
    Vn.noalias() += Qb * svd.matrixV().bottomLeftCorner(qb, keep);
    U_ = std::move(Un);
    V_ = std::move(Vn);
    S_.assign(keep, 0.0);
    for (Index i = 0; i < keep; ++i) S_[static_cast<std::size_t>(i)] = static_cast<double>(sv(i));
    if (orthogonality() > opt_.ortho_ulp * eps<T>()) {
        // Thin QR of both bases and an SVD of the small middle factor: same matrix, orthonormal bases.
        Eigen::HouseholderQR<CM<T>> qu{CM<T>(U_)}, qv{CM<T>(V_)};
        CM<T> Ru = qu.matrixQR().topRows(keep).template triangularView<Eigen::Upper>();
        CM<T> Rv = qv.matrixQR().topRows(keep).template triangularView<Eigen::Upper>();
        CM<T> Sm = CM<T>::Zero(keep, keep);
        for (Index i = 0; i < keep; ++i) Sm(i, i) = static_cast<T>(S_[static_cast<std::size_t>(i)]);
        Eigen::JacobiSVD<CM<T>> s2(Ru * Sm * Rv.transpose(), Eigen::ComputeThinU | Eigen::ComputeThinV);
        U_ = CM<T>(qu.householderQ() * CM<T>::Identity(m_, keep)) * s2.matrixU();
        V_ = CM<T>(qv.householderQ() * CM<T>::Identity(n_, keep)) * s2.matrixV();
        for (Index i = 0; i < keep; ++i) S_[static_cast<std::size_t>(i)] = static_cast<double>(s2.singularValues()(i));
        info.reorthonormalised = true;
    }
    return info;
}

template <class T>
UpdateInfo BrandTracker<T>::update_dense(const ConstView<T>& W_before, const ConstView<T>& W_after, Index k) {
    if (W_after.rows() != m_ || W_after.cols() != n_) invalid("W_after", "shape " + shape_str(W_after.rows(), W_after.cols()) + " vs " + shape_str(m_, n_));
    if (!all_finite(W_after.data(), W_after.size())) invalid("W_after", "contains NaN or Inf");
    const Index p = std::min({k, m_, n_});
    Mat<T> Delta = W_after - W_before;  // O(d^2) temporary
    Mat<T> X(n_, p), Y(m_, p), Zt(n_, p);
    fill_normal(X, rng_);
    gemm<T>(Op::N, Op::N, T(1), view(Delta), view(X), T(0), Y);
    Mat<T> Yo = Eigen::HouseholderQR<CM<T>>(CM<T>(Y)).householderQ() * CM<T>::Identity(m_, p);
    gemm<T>(Op::T, Op::N, T(1), view(Delta), view(Yo), T(0), Zt);  // one power iteration
    Mat<T> Zo = Eigen::HouseholderQR<CM<T>>(CM<T>(Zt)).householderQ() * CM<T>::Identity(n_, p);
    gemm<T>(Op::N, Op::N, T(1), view(Delta), view(Zo), T(0), Y);
    Mat<T> A = Eigen::HouseholderQR<CM<T>>(CM<T>(Y)).householderQ() * CM<T>::Identity(m_, p);
    Mat<T> B(n_, p);
    gemm<T>(Op::T, Op::N, T(1), view(Delta), view(A), T(0), B);  // Delta ~ A A^T Delta = A B^T
    const double dn = static_cast<double>(Delta.norm());
    // What the range finder leaves out, measured (O(d^2 k), like the products above) rather than
    // ||Delta||^2 - ||B||^2, which cancels to ~sqrt(eps) ||Delta||.
    Delta.noalias() -= A * B.transpose();
    const double left = static_cast<double>(Delta.norm());
    UpdateInfo info = update(view(A), view(B), 1.0);
    info.range_residual = dn > 0.0 ? left / dn : 0.0;
    info.discarded += left;
    discarded_ += left;
    return info;
}

template <class T>
double BrandTracker<T>::certificate(const ConstView<T>& W) const {
    if (W.rows() != m_ || W.cols() != n_) invalid("W", "shape " + shape_str(W.rows(), W.cols()) + " vs " + shape_str(m_, n_));
    Mat<T> R = W;
    CM<T> US = U_;
    for (Index i = 0; i < rank(); ++i) US.col(i) *= static_cast<T>(S_[static_cast<std::size_t>(i)]);
    R.noalias() -= US * V_.transpose();
    const double w = static_cast<double>(W.norm());
    return w > 0.0 ? static_cast<double>(R.norm()) / w : static_cast<double>(R.norm());
}

template <class T>
double BrandTracker<T>::orthogonality() const {
    if (rank() == 0) return 0.0;
    const CM<T> I = CM<T>::Identity(rank(), rank());
    return std::max(static_cast<double>((CM<T>(U_.transpose() * U_) - I).cwiseAbs().maxCoeff()),
                    static_cast<double>((CM<T>(V_.transpose() * V_) - I).cwiseAbs().maxCoeff()));
}

template <class T>
std::vector<double> BrandTracker<T>::spectrum() const {
    std::vector<double> out(S_);
    out.resize(static_cast<std::size_t>(std::min(m_, n_)), 0.0);
    return out;
}

template <class T>
Triplets<T> BrandTracker<T>::triplets(Index first, Index count) const {
    if (first < 0 || count < 0 || first + count > rank())
        invalid("p", "triplets " + std::to_string(first) + " .. " + std::to_string(first + count) +
                         " outside the tracked rank " + std::to_string(rank()));
    Triplets<T> t;
    t.U = U_.middleCols(first, count);
    t.V = V_.middleCols(first, count);
    t.S.assign(S_.begin() + first, S_.begin() + first + count);
    return t;
}

// ---------------------------------------------------------------------------------------------------
// TrackObserver

template <class T>
TrackObserver<T>::TrackObserver(TrackSpec spec) : spec_(std::move(spec)) {
    spec_.validate();
}

namespace {

// The probe seed of one (layer, step, purpose): the observer reseeds its trackers before every use,
// so the random stream never depends on what came before and a restored run draws the same probes.
std::uint64_t probe_seed(std::uint64_t seed, std::size_t layer, long long step, std::uint64_t purpose) {
    return seed + 0x9E3779B97F4A7C15ULL * static_cast<std::uint64_t>(step + 1) + 104729ULL * (layer + 1) +
           15485863ULL * purpose;
}

}  // namespace

template <class T>
void TrackObserver<T>::event(long long k, std::size_t l, const std::string& what) {
    rec_.events.push_back("step " + std::to_string(k) + ", layer " + std::to_string(l) + ": " + what);
}

template <class T>
void TrackObserver<T>::init(const std::vector<Mat<T>>& weights) {
    const std::size_t L = weights.size();
    structured_.assign(L, std::nullopt);
    generic_.assign(L, std::nullopt);
    range_since_.assign(L, 0.0);
    discarded_.assign(L, 0.0);
    ref_top_r_.assign(L, {}), ref_bot_r_.assign(L, {}), ref_top_l_.assign(L, {}), ref_bot_l_.assign(L, {});
    rec_.modes.assign(L, "");
    for (std::size_t l = 0; l < L; ++l) {
        const Mat<T>& W = weights[l];
        const Index d = W.rows();
        bool structured = false;
        if (spec_.mode != "generic" && W.cols() == d) {
            // Is W = rho Q with Q orthogonal? rho from the Frobenius norm, then a probe test of
            // W^T W = rho^2 I (O(d^2) per probe; a non-orthogonality of size delta shows as ~delta).
            const double rho = static_cast<double>(W.norm()) / std::sqrt(static_cast<double>(d));
            if (rho > 0.0) {
                Rng rng(spec_.seed + 7919 * (l + 1));
                const Index p = std::min<Index>(d, 8);
                Mat<T> X(d, p), WX(d, p), G(d, p);
                fill_normal(X, rng);
                gemm<T>(Op::N, Op::N, T(1), view(W), view(X), T(0), WX);
                gemm<T>(Op::T, Op::N, T(1), view(W), view(WX), T(0), G);
                G -= static_cast<T>(rho * rho) * X;
                const double rel = static_cast<double>(G.norm()) / (rho * rho * static_cast<double>(X.norm()));
                if (rel <= 1e3 * eps<T>() * std::sqrt(static_cast<double>(d))) {
                    Mat<T> Q = W / static_cast<T>(rho);
                    structured_[l].emplace(std::move(Q), rho, Mat<T>(d, 0), Mat<T>(0, 0), spec_.tracker,
                                           spec_.seed + 104729 * (l + 1));
                    structured = true;
                } else if (spec_.mode == "structured") {
                    event(0, l, "not a scaled orthogonal matrix at the start (probe residual " + std::to_string(rel) +
                                    "); tracked by the generic truncated tracker");
                }
            }
        }
        if (!structured) generic_[l].emplace(view(W), spec_.tracker, spec_.seed + 104729 * (l + 1));
        rec_.modes[l] = structured ? "structured" : "generic";
        if (!structured) discarded_[l] = generic_[l]->discarded();
    }
    if (spec_.end_to_end) {
        if (chains(weights)) {
            rec_.mode_e2e = "chained";
        } else {
            rec_.mode_e2e = "own";
            e2e_before_ = product(weights);
            e2e_.emplace(view(e2e_before_), spec_.tracker, spec_.seed + 32452843);
        }
    }
    initialised_ = true;
}

template <class T>
void TrackObserver<T>::set_theory(std::vector<Mat<T>> right, std::vector<Mat<T>> left, const std::vector<Index>& widths) {
    const std::size_t L = widths.size() - 1;
    if (widths.size() < 2 || right.size() != L || left.size() != L)
        invalid("theory", "expected one right and one left basis per layer (" + std::to_string(L) + "), got " +
                              std::to_string(right.size()) + " and " + std::to_string(left.size()));
    for (std::size_t l = 0; l < L; ++l) {
        const std::string at = " of layer " + std::to_string(l);
        const Mat<T>& R = right[l];
        const Mat<T>& U = left[l];
        if (R.rows() != widths[l] || U.rows() != widths[l + 1] || R.cols() != U.cols() || R.cols() < 1)
            invalid("theory", "bases" + at + " have shapes " + shape_str(R.rows(), R.cols()) + " and " +
                                  shape_str(U.rows(), U.cols()) + "; expected (" + std::to_string(widths[l]) + ", m) and (" +
                                  std::to_string(widths[l + 1]) + ", m), m >= 1");
        for (const Mat<T>* B : {&R, &U}) {
            if (!all_finite(B->data(), B->size())) invalid("theory", "basis" + at + " contains NaN or Inf");
            CM<T> G = B->transpose() * *B;
            G -= CM<T>::Identity(G.rows(), G.cols());
            if (static_cast<double>(G.cwiseAbs().maxCoeff()) > 1e3 * eps<T>() * static_cast<double>(B->cols()))
                invalid("theory", "basis" + at + " does not have orthonormal columns");
        }
    }
    theory_right_ = std::move(right);
    theory_left_ = std::move(left);
}

template <class T>
bool TrackObserver<T>::chains(const std::vector<Mat<T>>& weights) const {
    for (std::size_t l = 0; l < weights.size(); ++l)
        if (!structured_[l] || weights[l].rows() != weights[0].rows()) return false;
    return true;
}

template <class T>
Mat<T> TrackObserver<T>::product(const std::vector<Mat<T>>& weights) const {
    Mat<T> P = weights[0];
    for (std::size_t l = 1; l < weights.size(); ++l) {
        Mat<T> next(weights[l].rows(), P.cols());
        gemm<T>(Op::N, Op::N, T(1), view(weights[l]), view(P), T(0), next);
        P = std::move(next);
    }
    return P;
}

template <class T>
void TrackObserver<T>::on_step(long long k, double, const std::vector<Mat<T>>& weights, const std::vector<Mat<T>>&) {
    if (!initialised_) init(weights);
    if (k == skip_) {  // a restored run sees its last step again: recorded (and checked) already
        skip_ = -1;
        if (e2e_ && e2e_before_.size() == 0) e2e_before_ = product(weights);  // the same bits as before
        return;
    }
    seen_ = k;
    if (k % spec_.every == 0) record_step(k, weights);
}

template <class T>
void TrackObserver<T>::on_update(long long k, const std::vector<Mat<T>>& before, const std::vector<Mat<T>>& after) {
    for (std::size_t l = 0; l < after.size(); ++l) {
        // The one pass over the layer's weights for NaN / Inf this step (the tracker's own calls skip
        // theirs). A non-finite step ends the run at the next loss (the loop hands back the weights
        // before it), so the tracker stays where it was, which is what the run returns.
        if (!all_finite(after[l].data(), after[l].size())) {
            event(k + 1, l, "non-finite weights after the update; not tracked (the run stops at this step)");
            continue;
        }
        if (structured_[l]) {
            auto& t = *structured_[l];
            t.reseed(probe_seed(spec_.seed, l, k, 1));
            UpdateInfo info = t.update_dense(view(after[l]), spec_.update_rank, true);
            if (info.split_failed) {
                // Try to rebuild from the live weights; if they are not rho Q + low rank either, the
                // structure is gone and the generic tracker takes over.
                const double r = t.restart(view(after[l]));
                if (r >= 0.0) {
                    event(k + 1, l, "dense split failed (" + info.reason + "); restarted from the live weights");
                } else {
                    event(k + 1, l, "structure lost (" + info.reason + "); switched to the generic truncated tracker");
                    structured_[l].reset();
                    generic_[l].emplace(view(after[l]), spec_.tracker, spec_.seed + 15485863 * (l + 1) + static_cast<std::uint64_t>(k));
                    rec_.modes[l] = "generic";
                    discarded_[l] += generic_[l]->discarded();
                }
                continue;
            }
            range_since_[l] = std::max(range_since_[l], info.range_residual);
            discarded_[l] += info.discarded;
            if (info.reorthonormalised) ++rec_.reorthonormalisations;
            if (info.over_cap) {
                const double r = t.restart(view(after[l]));
                event(k + 1, l, "s exceeded max_rank = " + std::to_string(spec_.tracker.max_rank) +
                                    (r >= 0.0 ? "; restarted from the live weights, s = " + std::to_string(t.rank())
                                              : "; restart failed, kept the exact representation"));
            }
        } else {
            auto& g = *generic_[l];
            g.reseed(probe_seed(spec_.seed, l, k, 2));
            UpdateInfo info = g.update_dense(view(before[l]), view(after[l]), spec_.update_rank);
            range_since_[l] = std::max(range_since_[l], info.range_residual);
            discarded_[l] += info.discarded;
        }
    }
    if (spec_.end_to_end) {
        if (e2e_) {
            Mat<T> P = product(after);
            e2e_->reseed(probe_seed(spec_.seed, after.size(), k, 3));
            e2e_->update_dense(view(e2e_before_), view(P), spec_.update_rank);
            e2e_before_ = std::move(P);
        } else if (!chains(after)) {
            // A layer left the structure: the layer trackers no longer describe W_{L:1} exactly.
            e2e_before_ = product(after);
            e2e_.emplace(view(e2e_before_), spec_.tracker, spec_.seed + 32452843 + static_cast<std::uint64_t>(k));
            rec_.mode_e2e = "own";
            rec_.events.push_back("step " + std::to_string(k + 1) +
                                  ", end-to-end: a layer is tracked generically; W_{L:1} now has its own generic tracker");
        }
    }
}

template <class T>
void TrackObserver<T>::record_theory(const std::vector<Mat<T>>& weights) {
    const std::size_t L = weights.size();
    const double nan = std::nan("");
    std::vector<std::vector<double>> right(L, {nan, nan}), left(L, {nan, nan});
    for (std::size_t l = 0; l < L; ++l) {
        if (!structured_[l] || theory_right_.empty()) continue;
        const auto& t = *structured_[l];
        // Right moving subspace: span(V); left: Q span(V) (left singular vectors are Q times the
        // Q-frame ones, and the core's left and right vectors both lie in span(V)).
        right[l] = theory_angles(t.V(), theory_right_[l]);
        Mat<T> QV(t.dim(), t.rank());
        if (t.rank()) gemm<T>(Op::N, Op::N, T(1), view(t.Q()), view(t.V()), T(0), QV);
        left[l] = theory_angles(QV, theory_left_[l]);
    }
    rec_.theory_right.push_back(std::move(right));
    rec_.theory_left.push_back(std::move(left));
}

// W_{L:1} from the layer trackers. With Q^T_l W_l = M_l = rho_l I + V_l D_l V_l^T and P_l = Q_l ... Q_1,
//     W_{L:1} = P_L prod_{l=L..1} (P_{l-1}^T M_l P_{l-1}) = P_L prod_l (rho_l I + Vt_l D_l Vt_l^T),
// Vt_l = P_{l-1}^T V_l. On B, an orthonormal basis of the union of the span(Vt_l), every factor is
// rho_l I + B C_l B^T, so W_{L:1} = P_L (rho_e I + B (K - rho_e I_b) B^T) with K = prod (rho_l I_b + C_l)
// and rho_e = prod rho_l: singular values sigma(K) plus |rho_e| (d - b times). When the bases chain
// (law of parsimony: V_{l+1} = Q_l V_l, so all Vt_l span V_{1,1}) b = 2r; otherwise b grows up to
// sum s_l and the representation stays exact. Cost O(L^2 d^2 s + d b^2 + b^3) per record.
template <class T>
void TrackObserver<T>::record_end_to_end(const std::vector<Mat<T>>& weights) {
    const std::size_t L = weights.size();
    if (e2e_) {
        const Mat<T> P = product(weights);
        rec_.spectra_e2e.push_back(e2e_->spectrum());
        rec_.certificate_e2e.push_back(e2e_->certificate(view(P)));
        rec_.rank_e2e.push_back(e2e_->rank());
        return;
    }
    const Index d = weights[0].rows();
    std::vector<Mat<T>> Vt(L);
    Index total = 0;
    double rho_e = 1.0;
    for (std::size_t l = 0; l < L; ++l) {
        const auto& t = *structured_[l];
        rho_e *= t.rho();
        Mat<T> X = t.V();
        for (std::size_t j = l; j-- > 0;) {  // Q_1^T ... Q_{l-1}^T V_l: apply Q_{l-1}^T first
            Mat<T> Y(d, X.cols());
            if (X.cols()) gemm<T>(Op::T, Op::N, T(1), view(structured_[j]->Q()), view(X), T(0), Y);
            X = std::move(Y);
        }
        total += X.cols();
        Vt[l] = std::move(X);
    }
    CM<T> all(d, total);
    Index c = 0;
    for (const auto& X : Vt) {
        all.middleCols(c, X.cols()) = X;
        c += X.cols();
    }
    // Orthonormal columns: a direction shared by j of them has singular value sqrt(j), one held by
    // none only rounding, so the threshold is that of one basis.
    double tail = 0.0;
    const CM<T> B = basis_of<T>(all, rel_tol<T>(spec_.tracker), tail);
    const Index b = B.cols();
    CM<T> K = CM<T>::Identity(b, b);
    for (std::size_t l = 0; l < L; ++l) {
        const auto& t = *structured_[l];
        CM<T> F = CM<T>::Identity(b, b) * static_cast<T>(t.rho());
        if (Vt[l].cols()) {
            CM<T> BV = B.transpose() * Vt[l];
            F.noalias() += BV * t.D() * BV.transpose();
        }
        K = F * K;
    }
    std::vector<double> spectrum;
    spectrum.reserve(static_cast<std::size_t>(d));
    if (b) {
        Eigen::JacobiSVD<CM<T>> svd(K);
        for (Index i = 0; i < b; ++i) spectrum.push_back(static_cast<double>(svd.singularValues()(i)));
    }
    for (Index i = b; i < d; ++i) spectrum.push_back(std::abs(rho_e));
    std::sort(spectrum.begin(), spectrum.end(), std::greater<double>());
    // Check the representation on random probes X: ||W_{L:1} X - P_L (rho_e X + B (K - rho_e I) B^T X)||_F
    // relative to ||W_{L:1} X||_F (O(L d^2 p); an exact certificate would need the d x d product).
    Rng rng(probe_seed(spec_.seed, L, rec_.steps.back(), 5));
    const Index p = std::min<Index>(d, 8);
    Mat<T> X(d, p), Y(d, p), Z(d, p), tmp(d, p);
    fill_normal(X, rng);
    Y = X;
    for (std::size_t l = 0; l < L; ++l) {
        gemm<T>(Op::N, Op::N, T(1), view(weights[l]), view(Y), T(0), tmp);
        std::swap(Y, tmp);
    }
    Z = static_cast<T>(rho_e) * X;
    if (b) {
        CM<T> Km = K;
        Km.diagonal().array() -= static_cast<T>(rho_e);
        Z.noalias() += B * (Km * (B.transpose() * X));
    }
    for (std::size_t l = 0; l < L; ++l) {
        gemm<T>(Op::N, Op::N, T(1), view(structured_[l]->Q()), view(Z), T(0), tmp);
        std::swap(Z, tmp);
    }
    const double yn = static_cast<double>(Y.norm());
    const double r = static_cast<double>((Y - Z).norm());
    rec_.spectra_e2e.push_back(std::move(spectrum));
    rec_.certificate_e2e.push_back(yn > 0.0 ? r / yn : r);
    rec_.rank_e2e.push_back(b);
}

template <class T>
void TrackObserver<T>::record_step(long long k, const std::vector<Mat<T>>& weights) {
    const std::size_t L = weights.size();
    const Index r = spec_.block_r;
    rec_.steps.push_back(k);
    std::vector<std::vector<double>> spectra(L);
    std::vector<double> rho(L), cert(L), orth(L), rng(L), disc(L);
    std::vector<Index> rank(L);
    std::vector<std::vector<double>> ar(L, std::vector<double>(3, std::nan(""))), al = ar;
    std::vector<Triplets<T>> top(spec_.top_p > 0 ? L : 0);
    const bool set_reference = !have_reference_ && k >= 1 && r > 0 && spec_.reference == "step1";
    for (std::size_t l = 0; l < L; ++l) {
        const Mat<T>& W = weights[l];
        if (structured_[l]) {
            auto& t = *structured_[l];
            // Weights reach a record finite: initial and restored ones are checked when built, later
            // ones by on_update (a non-finite certificate here would say so rather than throw).
            cert[l] = t.certificate(view(W), true);
            if (cert[l] > spec_.certificate_tol) {
                t.reseed(probe_seed(spec_.seed, l, k, 4));
                const double before = cert[l];
                const double res = t.restart(view(W));
                cert[l] = t.certificate(view(W));
                std::ostringstream o;
                o << "certificate " << before << " > " << spec_.certificate_tol << "; restarted from the live weights"
                  << (res >= 0.0 ? "" : " failed") << ", certificate now " << cert[l];
                event(k, l, o.str());
            }
        }
        const bool st = structured_[l].has_value();
        if (st) {
            auto& t = *structured_[l];
            spectra[l] = t.spectrum();
            rho[l] = t.rho();
            orth[l] = t.orthogonality();
            rank[l] = t.rank();
        } else {
            auto& g = *generic_[l];
            spectra[l] = g.spectrum();
            cert[l] = g.certificate(view(W));
            rho[l] = std::nan("");
            orth[l] = g.orthogonality();
            rank[l] = g.rank();
        }
        rng[l] = range_since_[l];
        disc[l] = discarded_[l];
        range_since_[l] = 0.0;
        const Index n = static_cast<Index>(spectra[l].size());
        if (spec_.top_p > 0) {
            const Index p = std::min(spec_.top_p, st ? n : generic_[l]->rank());
            top[l] = st ? structured_[l]->triplets(0, p) : generic_[l]->triplets(0, p);
        }
        // Blocks are defined only where a gap separates them from the rest of the spectrum.
        if (r > 0 && 2 * r < n && st && k >= 1 && spec_.reference == "step1") {
            const auto& s = spectra[l];
            const double gap_tol = 1e-12 * std::max(s[0], std::numeric_limits<double>::min());
            const bool top_ok = s[r - 1] - s[r] > gap_tol, bot_ok = s[n - r - 1] - s[n - r] > gap_tol;
            auto& t = *structured_[l];
            // Left vectors stay in the Q-frame (no O(d^2 r) product by Q): Q is orthogonal and fixed
            // for the tracker's life, so the angles are those of the left subspaces themselves.
            Triplets<T> tt = t.triplets(0, r, true), bt = t.triplets(n - r, r, true);
            if (set_reference) {
                ref_top_r_[l] = tt.V, ref_top_l_[l] = tt.U, ref_bot_r_[l] = bt.V, ref_bot_l_[l] = bt.U;
            }
            if (ref_top_r_[l].size() && top_ok && bot_ok) {
                ar[l][0] = sine_angle(tt.V, ref_top_r_[l]);
                al[l][0] = sine_angle(tt.U, ref_top_l_[l]);
                ar[l][2] = sine_angle(bt.V, ref_bot_r_[l]);
                al[l][2] = sine_angle(bt.U, ref_bot_l_[l]);
                // The middle block is the complement of top + bottom, and complements have the
                // same largest principal angle, so O(d r^2) instead of O(d^3).
                Mat<T> cur(W.rows(), 2 * r), ref(W.rows(), 2 * r);
                cur << tt.V, bt.V;
                ref << ref_top_r_[l], ref_bot_r_[l];
                ar[l][1] = sine_angle(cur, ref);
                cur << tt.U, bt.U;
                ref << ref_top_l_[l], ref_bot_l_[l];
                al[l][1] = sine_angle(cur, ref);
            }
        }
    }
    if (set_reference) have_reference_ = true, rec_.reference_step = k;
    rec_.spectra.push_back(std::move(spectra));
    rec_.rho.push_back(std::move(rho));
    rec_.certificate.push_back(std::move(cert));
    rec_.orthogonality.push_back(std::move(orth));
    rec_.range_residual.push_back(std::move(rng));
    rec_.discarded.push_back(std::move(disc));
    rec_.rank.push_back(std::move(rank));
    rec_.angles_right.push_back(std::move(ar));
    rec_.angles_left.push_back(std::move(al));
    if (spec_.top_p > 0) rec_.top.push_back(std::move(top));
    if (spec_.reference == "theory") record_theory(weights);
    if (spec_.end_to_end) record_end_to_end(weights);
}

template <class T>
void TrackObserver<T>::on_finish(Status, long long) {}

template <class T>
TrackObserverState<T> TrackObserver<T>::state() const {
    TrackObserverState<T> s;
    if (!initialised_) return s;
    const std::size_t L = structured_.size();
    s.seen = seen_;
    s.modes = rec_.modes;
    s.rho.assign(L, 0.0), s.generic_discarded.assign(L, 0.0);
    s.A.resize(L), s.V.resize(L), s.D.resize(L), s.S.resize(L);
    for (std::size_t l = 0; l < L; ++l) {
        if (structured_[l]) {
            const auto& t = *structured_[l];
            s.rho[l] = t.rho(), s.A[l] = t.Q(), s.V[l] = t.V(), s.D[l] = t.D();
        } else {
            const auto& g = *generic_[l];
            s.A[l] = g.U(), s.V[l] = g.V(), s.S[l] = g.S(), s.generic_discarded[l] = g.discarded();
        }
    }
    s.range_since = range_since_, s.discarded = discarded_;
    s.have_reference = have_reference_, s.reference_step = rec_.reference_step;
    s.ref_top_r = ref_top_r_, s.ref_bot_r = ref_bot_r_, s.ref_top_l = ref_top_l_, s.ref_bot_l = ref_bot_l_;
    s.theory_right = theory_right_, s.theory_left = theory_left_;
    s.mode_e2e = rec_.mode_e2e;
    if (e2e_) s.e2e_U = e2e_->U(), s.e2e_V = e2e_->V(), s.e2e_S = e2e_->S(), s.e2e_discarded = e2e_->discarded();
    s.reorthonormalisations = rec_.reorthonormalisations;
    return s;
}

template <class T>
void TrackObserver<T>::restore(TrackObserverState<T> s, const std::vector<Index>& widths) {
    const std::size_t L = widths.size() - 1;
    auto bad = [](const std::string& why) { invalid("state", "track_svd: " + why); };
    auto sized = [&](std::size_t n, const char* what) {
        if (n != L) bad(std::string(what) + " has " + std::to_string(n) + " entries for " + std::to_string(L) + " layers");
    };
    if (widths.size() < 2) bad("no layers");
    sized(s.modes.size(), "modes"), sized(s.rho.size(), "rho"), sized(s.generic_discarded.size(), "generic_discarded");
    sized(s.range_since.size(), "range_since"), sized(s.discarded.size(), "discarded"), sized(s.A.size(), "A");
    sized(s.V.size(), "V"), sized(s.D.size(), "D"), sized(s.S.size(), "S");
    for (auto* refs : {&s.ref_top_r, &s.ref_bot_r, &s.ref_top_l, &s.ref_bot_l}) sized(refs->size(), "reference blocks");
    if (s.seen < 0) bad("seen step " + std::to_string(s.seen) + " < 0");
    structured_.assign(L, std::nullopt);
    generic_.assign(L, std::nullopt);
    try {
        for (std::size_t l = 0; l < L; ++l) {
            const std::uint64_t seed = spec_.seed + 104729 * (l + 1);
            if (s.modes[l] == "structured") {
                if (widths[l] != widths[l + 1] || s.A[l].rows() != widths[l])
                    bad("layer " + std::to_string(l) + ": structured tracker of the wrong shape");
                structured_[l].emplace(std::move(s.A[l]), s.rho[l], std::move(s.V[l]), std::move(s.D[l]), spec_.tracker, seed);
            } else if (s.modes[l] == "generic") {
                if (s.A[l].rows() != widths[l + 1] || s.V[l].rows() != widths[l])
                    bad("layer " + std::to_string(l) + ": generic tracker of the wrong shape");
                generic_[l].emplace(std::move(s.A[l]), std::move(s.S[l]), std::move(s.V[l]), s.generic_discarded[l],
                                    spec_.tracker, seed);
            } else {
                bad("layer " + std::to_string(l) + ": unknown mode '" + s.modes[l] + "'");
            }
        }
        if (s.mode_e2e == "own") {
            if (s.e2e_U.rows() != widths[L] || s.e2e_V.rows() != widths[0]) bad("end-to-end tracker of the wrong shape");
            e2e_.emplace(std::move(s.e2e_U), std::move(s.e2e_S), std::move(s.e2e_V), s.e2e_discarded, spec_.tracker,
                         spec_.seed + 32452843);
        } else if (s.mode_e2e != (spec_.end_to_end ? "chained" : "")) {
            bad("end-to-end mode '" + s.mode_e2e + "' does not fit the spec");
        }
        if (spec_.reference == "theory") set_theory(std::move(s.theory_right), std::move(s.theory_left), widths);
    } catch (const std::invalid_argument& e) {
        const std::string what = e.what();
        if (what.rfind("state", 0) == 0) throw;
        bad(what);
    }
    range_since_ = std::move(s.range_since), discarded_ = std::move(s.discarded);
    have_reference_ = s.have_reference;
    ref_top_r_ = std::move(s.ref_top_r), ref_bot_r_ = std::move(s.ref_bot_r);
    ref_top_l_ = std::move(s.ref_top_l), ref_bot_l_ = std::move(s.ref_bot_l);
    rec_ = TrackRecord<T>{};
    rec_.modes = std::move(s.modes);
    rec_.reference_step = s.reference_step;
    rec_.mode_e2e = s.mode_e2e;
    rec_.reorthonormalisations = s.reorthonormalisations;
    seen_ = skip_ = s.seen;
    initialised_ = true;
}

template class StructuredTracker<float>;
template class StructuredTracker<double>;
template class BrandTracker<float>;
template class BrandTracker<double>;
template class TrackObserver<float>;
template class TrackObserver<double>;

}  // namespace dln
