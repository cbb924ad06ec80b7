// StructuredTracker: the template definitions, instantiated once per dtype by structured_f32.cpp and structured_f64.cpp
// (one translation unit each, so the two dtypes compile in parallel and neither is rebuilt for the
// other's change).
#pragma once

#include "detail.hpp"

#include <algorithm>
#include <cmath>
#include <complex>
#include <limits>
#include <numeric>
#include <sstream>

namespace dln {

using namespace detail;

template <class T>
StructuredTracker<T>::StructuredTracker(Mat<T> Q, double rho, Mat<T> V, Mat<T> D, TrackerOptions options,
                                        std::uint64_t seed)
    : Q_(std::move(Q)), rho_(rho), V_(std::move(V)), D_(std::move(D)), opt_(options), rng_(seed) {
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
    if (tail > tol) q = range_basis<T>(view(R), tol, -1, tail, range_scratch(work_));
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
    T* wr = grow(work_[kWr], p);
    T* wi = grow(work_[kWi], p);
    if (!linalg::eigenvalues(M, wr, wi, work)) {
        reason = "eigenvalues of the probe pencil did not converge";
        return false;
    }
    const auto ev = [wr, wi](Index i) { return std::complex<double>(static_cast<double>(wr[i]), static_cast<double>(wi[i])); };
    double big = 0.0;
    for (Index i = 0; i < p; ++i) big = std::max(big, std::abs(ev(i)));
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
    cluster_.reserve(static_cast<std::size_t>(p));  // a no-op after reserve_dense: the cluster never holds more
    for (Index j = 0; j < p; ++j)
        if (std::abs(ev(best) - ev(j)) <= tau_c) cluster_.push_back(ev(j).real());
    std::sort(cluster_.begin(), cluster_.end());
    const std::size_t n = cluster_.size();
    alpha = n % 2 ? cluster_[n / 2] : 0.5 * (cluster_[n / 2 - 1] + cluster_[n / 2]);
    return true;
}

// Sizes every scratch slot that update_dense and the Brand step behind it touch, for p probes and
// any s <= max(max_rank, s now): the largest shape each slot takes in those code paths (k <= p / 2
// directions per step, so the Brand step's m = 2k <= p and its extended core n = s + q <= s + p).
// Called when p changes, so from the first dense update on, every later one with s within that bound
// runs on memory that exists already - no allocation by construction, whatever s and q do from step
// to step. Beyond the bound the slots still grow (the representation is still exact; the observer
// restarts at s > max_rank).
template <class T>
void StructuredTracker<T>::reserve_dense(Index p) {
    const Index d = dim(), S = std::min(d, std::max(opt_.max_rank, V_.cols())), n = S + p, c = std::min(d, 2 * p);
    const Index wide = d * std::max(p, S);  // d x m, d x q or d x s panels
    const auto at_least = [this](int slot, Index size) { grow(work_[slot], size); };
    for (int slot : {kQR, kBasis, kE}) at_least(slot, wide);
    for (int slot : {kZ, kEd, kAp, kBd, kQA, kZqr, kYb, kLift}) at_least(slot, d * p);
    at_least(kR, std::max(d * p, n * n));
    at_least(kTau1, n);
    at_least(kTau2, p);
    at_least(kSmall, std::max(p, S) * std::max(p, S));
    at_least(kHw, std::max(d, 2 * n));
    for (int slot : {kPv, kP2, kT1, kT2}) at_least(slot, S * p);
    for (int slot : {kPR, kUtY}) at_least(slot, p * p);
    at_least(kC, n * p);
    for (int slot : {kDn, kUk, kDU}) at_least(slot, n * n);
    at_least(kG, 2 * n * n);
    at_least(kUkT, S * n);
    at_least(kUkB, p * n);
    for (int slot : {kYr, kZr, kYc, kZc}) at_least(slot, c * p);
    for (int slot : {kZtau, kYbtau, kWr, kWi}) at_least(slot, p);
    at_least(kGram, S * S);
    cluster_.reserve(static_cast<std::size_t>(p));
}

template <class T>
UpdateInfo StructuredTracker<T>::update_dense(const ConstView<T>& W_after, Index max_update_rank, bool finite_checked) {
    check_matrix(W_after, "W_after", finite_checked);
    if (max_update_rank < 1) invalid("max_update_rank", "must be >= 1");
    const Index d = dim(), s = V_.cols(), p = std::min<Index>(d, 2 * max_update_rank + 2);
    UpdateInfo info;
    // A layer smaller than 2k + 2 gets d probes, which see everything; k shrinks so p - k stays a majority.
    const Index k = std::min<Index>(max_update_rank, (p - 1) / 2);
    if (X_.rows() != d || X_.cols() != p) {
        X_.resize(d, p), WX_.resize(d, p), Y_.resize(d, p);
        reserve_dense(p);
    }
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
        qe = range_basis<T>(view(E), rel_tol<T>(opt_) * ynorm, -1, tail, range_scratch(work_));
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
    const Index qf = range_basis<T>(view(F), rel_tol<T>(opt_) * fnorm, -1, tail_f, range_scratch(work_));
    Mat<T> both(d, qe + qf);
    both.leftCols(qe) = Ec;
    both.rightCols(qf) = CMap<T>(work_[kBasis].data(), d, qf);
    // Two orthonormal bases: a shared direction gives singular values sqrt(2) and ~0.
    const Index q = range_basis<T>(view(both), rel_tol<T>(opt_) * std::sqrt(2.0), -1, tail2, range_scratch(work_));
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
    // The blocks are shared out among the products' threads, each with its own scratch, and their
    // sums are added in block order afterwards: the same bits on any thread count. Each thread's
    // scratch starts at the same alignment (a whole number of 64-byte lines), so a block's norm sums
    // in the same order whichever thread forms it.
    const Index blocks = (d + b - 1) / b, threads = std::max(1, gemm_threads());
    const Index line = 64 / static_cast<Index>(sizeof(T));
    const Index cstride = (b * d + line - 1) / line * line, vstride = (b * s + line - 1) / line * line;
    T* cbuf = grow(work_[kCert], threads * cstride);
    T* vbuf = grow(work_[kCertV], std::max<Index>(1, threads * vstride));
    if (static_cast<Index>(cert_sums_.size()) < 2 * blocks) cert_sums_.resize(static_cast<std::size_t>(2 * blocks));
    double* sums = cert_sums_.data();
    parallel_for(blocks, [&](Index blk, int t) {
        const Index i = blk * b, h = std::min(b, d - i);
        MutView<T> C(cbuf + t * cstride, h, d);
        C = W.middleRows(i, h) - static_cast<T>(rho_) * Q_.middleRows(i, h);
        sums[2 * blk + 1] = static_cast<double>(W.middleRows(i, h).squaredNorm());
        if (s) {
            MutView<T> CV(vbuf + t * vstride, h, s);
            gemm<T>(Op::N, Op::N, T(1), view(C), view(V_), T(0), CV);
            gemm<T>(Op::N, Op::T, T(-1), view(CV), view(V_), T(1), C);
        }
        sums[2 * blk] = static_cast<double>(C.squaredNorm());
    });
    double sum = 0.0, wsum = 0.0;
    for (Index blk = 0; blk < blocks; ++blk) sum += sums[2 * blk], wsum += sums[2 * blk + 1];
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

}  // namespace dln
