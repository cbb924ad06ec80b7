// C++ tests of the SVD trackers (tracker.hpp) against Eigen's JacobiSVD of the dense matrix they
// represent: singular values, triplet residuals, orthogonality, exactness after many updates, NaN
// refused with the tracker unchanged, and no heap allocation in a steady-state update.
// Invariants only (values, residuals, orthogonality), never sign-ambiguous vectors.
#include "harness.hpp"

#include "dln/linalg.hpp"  // Eigen's QR and SVD; their instances are compiled in the core

#include <algorithm>
#include <atomic>
#include <cmath>
#include <functional>
#include <iostream>
#include <limits>
#include <string>
#include <vector>

namespace {

using dln::Index;
using M = dln::Mat<double>;
using dln_test::random_matrix;
using Tracker = dln::StructuredTracker<double>;

// The bounds (tests/test_tracker.py uses the same): values 1e-12 sigma_1, residuals 1e-12,
// orthogonality 1e-13.
constexpr double kSv = 1e-12, kRes = 1e-12, kOrth = 1e-13;

M orthogonal(Index d, std::uint64_t seed) {
    Eigen::HouseholderQR<Eigen::MatrixXd> qr(random_matrix(d, d, seed));
    return M(Eigen::MatrixXd(qr.householderQ()));
}

M orthonormal_columns(Index d, Index s, std::uint64_t seed) {
    Eigen::HouseholderQR<Eigen::MatrixXd> qr(random_matrix(d, s, seed));
    return M(Eigen::MatrixXd(qr.householderQ() * Eigen::MatrixXd::Identity(d, s)));
}

dln::ConstView<double> cv(const M& m) { return dln::ConstView<double>(m.data(), m.rows(), m.cols()); }

double max_orth_error(const M& X) {
    if (X.cols() == 0) return 0.0;  // maxCoeff of an empty matrix is undefined
    return (X.transpose() * X - M::Identity(X.cols(), X.cols())).cwiseAbs().maxCoeff();
}

// Everything a tracker claims about W, against Eigen's JacobiSVD of W. `grow` widens the value
// bound as the issue allows for long runs (1 + steps / 1e4).
void check_against_dense(const Tracker& t, const M& W, double grow = 1.0) {
    Eigen::JacobiSVD<Eigen::MatrixXd> svd(W);
    const auto& s = svd.singularValues();
    const std::vector<double> got = t.spectrum();
    CHECK(static_cast<Index>(got.size()) == W.rows());
    double err = 0.0;
    for (Index i = 0; i < s.size(); ++i) err = std::max(err, std::abs(got[static_cast<std::size_t>(i)] - s(i)));
    CHECK(err <= kSv * s(0) * grow);
    if (!(err <= kSv * s(0) * grow)) std::cerr << "  singular values off by " << err / s(0) << " sigma_1\n";
    // Every triplet, bulk ones included: W v = sigma u, orthonormal u and v.
    const dln::Triplets<double> tr = t.triplets(0, W.rows());
    double res = 0.0;
    for (Index j = 0; j < W.rows(); ++j)
        res = std::max(res, (W * tr.V.col(j) - tr.S[static_cast<std::size_t>(j)] * tr.U.col(j)).norm());
    CHECK(res <= kRes * s(0));
    if (!(res <= kRes * s(0))) std::cerr << "  triplet residual " << res / s(0) << "\n";
    CHECK(max_orth_error(tr.U) <= kOrth && max_orth_error(tr.V) <= kOrth);
    CHECK(t.orthogonality() <= kOrth);
    CHECK(max_orth_error(t.V()) <= kOrth);
    CHECK(t.representation_error(cv(W)) <= kRes * grow);
}

void test_values_and_triplets_vs_jacobi() {
    // Random rank-1..3 updates from rho Q, on a few small sizes (d = 1 and 2 included).
    for (Index d : {1, 2, 5, 17, 40}) {
        const M Q = orthogonal(d, 10 + d);
        M W = 0.7 * Q;
        Tracker t(Q, 0.7, M(d, 0), M(0, 0));
        for (int u = 0; u < 6; ++u) {
            const Index k = 1 + u % 3;
            const M A = 0.3 * random_matrix(d, k, 100 * d + u), B = random_matrix(d, k, 200 * d + u);
            const double alpha = 1.0 - 0.01 * u;
            const dln::UpdateInfo info = t.update(cv(A), cv(B), alpha);
            W = alpha * W + A * B.transpose();
            CHECK(info.projection_residual <= 1e-13);
        }
        CHECK(t.rank() <= d);
        check_against_dense(t, W);
    }
}

void test_repeated_values_and_deflation() {
    const Index d = 30;
    const M Q = orthogonal(d, 3);
    Tracker t(Q, 1.0, M(d, 0), M(0, 0));
    const M V0 = orthonormal_columns(d, 3, 4);
    t.update(cv(M(Q * V0 * 2.0)), cv(V0), 1.0);  // Q^T W = I + 2 V0 V0^T: sigma = 3 three times
    M W = Q + 2.0 * Q * V0 * V0.transpose();
    CHECK(t.rank() == 3);
    check_against_dense(t, W);
    const std::vector<double> s = t.spectrum();
    CHECK(std::abs(s[0] - 3.0) <= 1e-14 && std::abs(s[2] - 3.0) <= 1e-14 && std::abs(s[3] - 1.0) <= 1e-14);
    // Undo it: W returns to rho Q and every tracked direction is deflated.
    const dln::UpdateInfo info = t.update(cv(M(-Q * V0 * 2.0)), cv(V0), 1.0);
    W = Q;
    CHECK(t.rank() == 0 && info.deflated == 3);
    check_against_dense(t, W);
}

// Many updates that keep the structure (a fixed 6-dimensional moving subspace, rank-2 steps,
// alpha != 1): structured and dense stay the same matrix, V stays orthonormal (re-orthonormalised
// when needed), the certificate stays at rounding level.
void test_structured_vs_dense_long_run() {
    const Index d = 48, s = 6, steps = 3000;
    const M Q = orthogonal(d, 5);
    const M U0 = orthonormal_columns(d, s, 6);
    M W = 0.9 * Q;
    Tracker t(Q, 0.9, M(d, 0), M(0, 0));
    dln::Rng rng(7);
    for (int u = 0; u < steps; ++u) {
        M a(s, 2), b(s, 2);
        for (Index i = 0; i < a.size(); ++i) a.data()[i] = 1e-2 * rng.normal(), b.data()[i] = rng.normal();
        const M A = Q * (U0 * a), B = U0 * b;
        const double alpha = 1.0 + 1e-4 * rng.normal();
        t.update(cv(A), cv(B), alpha);
        W = alpha * W + A * B.transpose();
    }
    CHECK(t.rank() == s);
    check_against_dense(t, W, 1.0 + steps / 1e4);
    CHECK(t.certificate(cv(W)) <= kRes);
    // The same with dense updates: alpha and the low-rank part found from W' alone.
    for (int u = 0; u < 50; ++u) {
        M a(s, 2), b(s, 2);
        for (Index i = 0; i < a.size(); ++i) a.data()[i] = 1e-2 * rng.normal(), b.data()[i] = rng.normal();
        const double alpha = 0.995;
        W = alpha * W + Q * (U0 * a) * (U0 * b).transpose();
        const dln::UpdateInfo info = t.update_dense(cv(W), 4);
        CHECK(!info.split_failed);
        CHECK(std::abs(info.alpha - alpha) <= 1e-13);
        CHECK(info.range_residual <= 1e-13);
    }
    CHECK(t.rank() == s);
    check_against_dense(t, W, 1.0 + (steps + 50) / 1e4);
    CHECK(t.certificate(cv(W)) <= kRes);
}

void test_orthogonality_guarantee() {
    // Re-orthonormalisation keeps max |V^T V - I| within ortho_ulp ulp after every update, and a
    // tighter setting re-orthonormalises more often without changing the represented matrix.
    const Index d = 64;
    const M Q = orthogonal(d, 8);
    dln::TrackerOptions tight;
    tight.ortho_ulp = 1.0;
    Tracker t(Q, 1.0, M(d, 0), M(0, 0), tight);
    M W = Q;
    dln::Rng rng(9);
    for (int u = 0; u < 20; ++u) {
        const M A = 0.1 * random_matrix(d, 1, 300 + u), B = random_matrix(d, 1, 400 + u);
        const dln::UpdateInfo info = t.update(cv(A), cv(B), 1.0);
        W += A * B.transpose();
        // Past the threshold only right after a re-orthonormalisation (which leaves a few ulp).
        CHECK(t.orthogonality() <= std::numeric_limits<double>::epsilon() || info.reorthonormalised);
        CHECK(max_orth_error(t.V()) <= kOrth);
    }
    CHECK(t.reorthonormalisations() > 0);
    CHECK(t.representation_error(cv(W)) <= kRes);
}

void test_nan_refused_tracker_unchanged() {
    const Index d = 20;
    const M Q = orthogonal(d, 11);
    Tracker t(Q, 1.0, M(d, 0), M(0, 0));
    t.update(cv(random_matrix(d, 2, 12)), cv(random_matrix(d, 2, 13)), 0.9);
    const M V = t.V(), D = t.D();
    const double rho = t.rho();
    const std::vector<double> s = t.spectrum();
    M A = random_matrix(d, 2, 14), B = random_matrix(d, 2, 15);
    A(3, 1) = std::nan("");
    CHECK_THROWS_NAMING(t.update(cv(A), cv(B), 1.0), "A");
    A(3, 1) = 0.0;
    B(0, 0) = INFINITY;
    CHECK_THROWS_NAMING(t.update(cv(A), cv(B), 1.0), "B");
    B(0, 0) = 0.0;
    CHECK_THROWS_NAMING(t.update(cv(A), cv(B), std::nan("")), "alpha");
    CHECK_THROWS_NAMING(t.update(cv(A), cv(M(d, 3)), 1.0), "B");
    M Wbad = Q;
    Wbad(5, 5) = std::nan("");
    CHECK_THROWS_NAMING(t.update_dense(cv(Wbad), 4), "W_after");
    CHECK_THROWS_NAMING(t.certificate(cv(Wbad)), "W");
    // Bitwise unchanged.
    CHECK(t.V() == V && t.D() == D && t.rho() == rho && t.spectrum() == s);
}

void test_dense_split_refuses_other_updates() {
    const Index d = 40;
    const M Q = orthogonal(d, 16);
    Tracker t(Q, 1.0, M(d, 0), M(0, 0));
    const M noisy = Q + 1e-3 * random_matrix(d, d, 17);  // not alpha W + low rank
    const dln::UpdateInfo info = t.update_dense(cv(noisy), 4);
    CHECK(info.split_failed && info.reason.find("not alpha W + rank") != std::string::npos);
    CHECK(t.rank() == 0 && t.rho() == 1.0);
}

void test_no_allocation_per_update() {
#ifdef DLN_NO_MALLOC_COUNTER
    std::cout << "skip no_allocation_per_update (sanitizer build: malloc counter disabled)\n";
    return;
#else
    // Steady state of a tracked run: s fixed, the update inside the tracked subspace (update) or a
    // dense W' = alpha W + rank 2 there (update_dense); also updates that add two directions and
    // deflate them again, so s alternates. After one round to size the workspace, no allocation.
    const Index d = 96, s = 8;
    const M Q = orthogonal(d, 18);
    const M U0 = orthonormal_columns(d, s, 19);
    M W = 0.8 * Q + 0.5 * Q * U0 * U0.transpose();
    Tracker t = Tracker::from_matrix(cv(W), Q, 0.8);
    CHECK(t.rank() == s);
    const M a = 1e-3 * random_matrix(s, 2, 20), b = random_matrix(s, 2, 21);
    const M A = Q * (U0 * a), B = U0 * b;
    const M x = random_matrix(d, 1, 22), y = random_matrix(d, 1, 23), mx = -x;
    const int previous = dln::set_gemm_threads(1);
    long allocations = 0;
    long by_kind[5] = {0, 0, 0, 0, 0};
    // Only the tracker calls are counted; the dense bookkeeping of the test allocates in between.
    long backend = 0;
    auto counted = [&](int kind, const std::function<void()>& call) {
        const long before = dln_test::allocations.load(), backend_before = dln_test::backend_allocations.load();
        call();
        backend += dln_test::backend_allocations.load() - backend_before;
        allocations += dln_test::allocations.load() - before;
        by_kind[kind] += dln_test::allocations.load() - before;
    };
    std::function<void()> in_span = [&] { t.update(cv(A), cv(B), 0.999); };
    std::function<void()> grow = [&] { t.update(cv(x), cv(y), 1.0); };    // s + 2
    std::function<void()> shrink = [&] { t.update(cv(mx), cv(y), 1.0); };  // back to s
    std::function<void()> dense = [&] {
        const dln::UpdateInfo info = t.update_dense(cv(W), 4);
        CHECK(!info.split_failed);
    };
    std::function<void()> certificate = [&] { CHECK(t.certificate(cv(W)) < 1e-6); };  // a record's check
    for (int r = 0; r < 6; ++r) {
        if (r == 1) allocations = backend = 0, std::fill(by_kind, by_kind + 5, 0L);  // round 0 sizes the workspace
        counted(0, in_span);
        W = 0.999 * W + A * B.transpose();
        counted(1, grow);
        counted(2, shrink);
        W = 0.998 * W + A * B.transpose();
        counted(3, dense);
        counted(4, certificate);
    }
    dln::set_gemm_threads(previous);
    // Neither update() (in span, growing, deflating) nor update_dense allocates: the first dense
    // update sizes every slot of the dense path (reserve_dense), and the pencil's eigenvalues come
    // from dln's own kernel on that memory. (dln's allocations: OpenBLAS's own scratch, which its
    // AVX-512 dgemm takes from malloc per call, is outside dln's control and counted apart.)
    CHECK(by_kind[0] + by_kind[1] + by_kind[2] == 0);
    CHECK(by_kind[3] == 0);
    CHECK(by_kind[4] == 0);  // nor the certificate (its row blocks shared out by parallel_for)
    std::cout << "  no_allocation_per_update: dln " << allocations << ", OpenBLAS's own scratch " << backend
              << " in 20 updates and 5 certificates\n";
    if (allocations != 0) {
        std::cerr << "  " << allocations << " allocations in 20 updates and 5 certificates (in span, grow, shrink, dense, "
                  << "certificate: " << by_kind[0] << ", " << by_kind[1] << ", " << by_kind[2] << ", " << by_kind[3]
                  << ", " << by_kind[4] << "); their stacks:\n";
        dln_test::trace_allocations = true;  // one more round, each allocation printed where it happens
        t.update(cv(x), cv(y), 1.0);
        t.update(cv(mx), cv(y), 1.0);
        dln_test::trace_allocations = false;
        W = 0.997 * W + A * B.transpose();
        dln_test::trace_allocations = true;
        (void)t.update_dense(cv(W), 4);
        dln_test::trace_allocations = false;
    }
    CHECK(t.rank() == s);
    CHECK(t.representation_error(cv(W)) <= kRes);
#endif
}

void test_float32() {
    const Index d = 32;
    using MF = dln::Mat<float>;
    const MF Q = orthogonal(d, 24).cast<float>();
    dln::StructuredTracker<float> t(Q, 1.0, MF(d, 0), MF(0, 0));
    const MF A = random_matrix(d, 2, 25).cast<float>(), B = random_matrix(d, 2, 26).cast<float>();
    t.update(dln::ConstView<float>(A.data(), d, 2), dln::ConstView<float>(B.data(), d, 2), 1.0);
    const M W = Q.cast<double>() + A.cast<double>() * B.cast<double>().transpose();
    Eigen::JacobiSVD<Eigen::MatrixXd> svd(W);
    const std::vector<double> got = t.spectrum();
    double err = 0.0;
    for (Index i = 0; i < d; ++i) err = std::max(err, std::abs(got[static_cast<std::size_t>(i)] - svd.singularValues()(i)));
    CHECK(err <= 1e-5 * svd.singularValues()(0));
    CHECK(t.rank() == 4);
}

}  // namespace

int main() {
    const std::vector<std::pair<const char*, std::function<void()>>> tests = {
        {"values_and_triplets_vs_jacobi", test_values_and_triplets_vs_jacobi},
        {"repeated_values_and_deflation", test_repeated_values_and_deflation},
        {"structured_vs_dense_long_run", test_structured_vs_dense_long_run},
        {"orthogonality_guarantee", test_orthogonality_guarantee},
        {"nan_refused_tracker_unchanged", test_nan_refused_tracker_unchanged},
        {"dense_split_refuses_other_updates", test_dense_split_refuses_other_updates},
        {"no_allocation_per_update", test_no_allocation_per_update},
        {"float32", test_float32},
    };
    return dln_test::run_tests(tests);
}
