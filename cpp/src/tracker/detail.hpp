// Private to the tracker's translation units (cpp/src/tracker/*.cpp): the scratch slots of
// StructuredTracker, tolerances, and the steps built on the kernels of dln/linalg.hpp.
#pragma once

#include "dln/blas.hpp"
#include "dln/linalg.hpp"
#include "dln/tracker.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace dln::detail {

using linalg::Buffer;
using linalg::CM;
using linalg::CMap;
using linalg::RangeScratch;
using linalg::apply_q;
using linalg::apply_qt;
using linalg::cmat;
using linalg::grow;
using linalg::householder_qr;
using linalg::leading_rank;
using linalg::pivoted_qr;
using linalg::range_basis;
using linalg::rmat;
using linalg::sine_angle;
using linalg::sine_between;
using linalg::transposed;

// Scratch slots (StructuredTracker::work_). The range finder owns kQR .. kHw; its result stays in
// kBasis until the next call.
enum Slot : int {
    kQR, kTau1, kTau2, kSmall, kBasis, kHw,  // range finder
    kE, kR, kPv, kP2, kPR, kC, kDn, kG, kUk, kUkT, kUkB, kDU,  // Brand step in the Q-frame
    kZ, kT1, kT2, kEd, kYr, kZr, kUtY, kAp, kBd, kQA,  // dense split
    kZqr, kZtau, kYb, kYbtau, kYc, kZc, kLift,         // the split's small coordinates
    kWr, kWi,               // eigenvalues of the probe pencil (real, imaginary parts)
    kCert, kCertV, kGram,  // certificate and orthogonality
    kSlots
};

template <class T>
using Work = std::array<Buffer<T>, kWorkSlots>;
static_assert(kSlots <= kWorkSlots, "StructuredTracker::work_ needs more slots");

template <class T>
RangeScratch<T> range_scratch(Work<T>& w) {
    return {w[kQR], w[kTau1], w[kTau2], w[kSmall], w[kBasis], w[kHw]};
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
    Index q = range_basis<T>(view(E), tol, max_cols, tail, range_scratch(w));
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
        q = range_basis<T>(view(E), tol, max_cols, tail, range_scratch(w));
        if (settled) break;
    }
    return q;
}

// The range finder with scratch of its own (the generic tracker is not the allocation-free path).
template <class T>
CM<T> basis_of(const CM<T>& R, double tol, double& tail) {
    Work<T> w;
    const Mat<T> Rr = R;
    const Index q = range_basis<T>(view(Rr), tol, -1, tail, range_scratch(w));
    return CMap<T>(w[kBasis].data(), R.rows(), q);
}

// The probe seed of one (layer, step, purpose): the observer reseeds its trackers before every use,
// so the random stream never depends on what came before and a restored run draws the same probes.
inline std::uint64_t probe_seed(std::uint64_t seed, std::size_t layer, long long step, std::uint64_t purpose) {
    return seed + 0x9E3779B97F4A7C15ULL * static_cast<std::uint64_t>(step + 1) + 104729ULL * (layer + 1) +
           15485863ULL * purpose;
}

}  // namespace dln::detail
