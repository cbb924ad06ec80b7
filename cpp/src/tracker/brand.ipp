// BrandTracker: the template definitions, instantiated once per dtype by brand_f32.cpp and brand_f64.cpp
// (one translation unit each, so the two dtypes compile in parallel and neither is rebuilt for the
// other's change).
#pragma once

#include "detail.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <sstream>

namespace dln {

using namespace detail;

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
    // SVD of the wide p x n matrix Bt^T from its small factor: Bt = Qb Rb (Householder, n x p tall), so
    // Bt^T = Rb^T Qb^T and the p x p SVD Rb^T = Us S Vs^T gives U = Uo Us, V = Qb Vs. One-sided Jacobi
    // on p x p is accurate and cheap here (p <= max_rank + 10).
    Eigen::HouseholderQR<CM<T>> qb{CM<T>(Bt)};
    const CM<T> Rt = qb.matrixQR().topRows(p).template triangularView<Eigen::Upper>().transpose();
    Eigen::JacobiSVD<CM<T>> svd(Rt, Eigen::ComputeFullU | Eigen::ComputeFullV);
    U_ = Uo * svd.matrixU().leftCols(r);
    V_ = CM<T>(qb.householderQ() * CM<T>::Identity(n_, p)) * svd.matrixV().leftCols(r);
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

}  // namespace dln
