// C++ tests of the kernels in dln/linalg.hpp, on their own: QR residuals and orthogonality, the rank
// decision of the pivoted QR, range bases against Eigen's JacobiSVD, eigenvalues against Eigen's
// EigenSolver (matched as multisets; invariants only), sine of principal angles, no allocation.
#include "harness.hpp"

#include "dln/linalg.hpp"

#include <Eigen/Eigenvalues>
#include <Eigen/QR>
#include <Eigen/SVD>

#include <algorithm>
#include <cmath>
#include <complex>
#include <vector>

namespace {

using dln::Index;
using CM = Eigen::MatrixXd;
using dln::linalg::Buffer;
using dln::linalg::CMap;
using dln_test::random_matrix;

CM rnd(Index r, Index c, std::uint64_t seed) { return CM(random_matrix(r, c, seed)); }

// Q (m x h, from the reflectors of A) formed by applying it to the first h columns of the identity.
CM form_q(const CMap<double>& A, const double* tau, Index h) {
    CM Q = CM::Identity(A.rows(), h);
    std::vector<double> work(static_cast<std::size_t>(h));
    dln::linalg::apply_q(A, tau, h, Q, work.data());
    return Q;
}

void test_householder_qr() {
    for (auto [m, n] : {std::pair<Index, Index>{7, 7}, {40, 9}, {9, 40}, {1, 5}, {64, 64}}) {
        const CM A0 = rnd(m, n, 100 + m + n);
        Buffer<double> a, tau(static_cast<std::size_t>(std::min(m, n))), work(static_cast<std::size_t>(n));
        CMap<double> A = dln::linalg::cmat(a, m, n);
        A = A0;
        dln::linalg::householder_qr(A, tau.data(), work.data());
        const Index h = std::min(m, n);
        const CM Q = form_q(A, tau.data(), h);
        const CM R = A.topRows(h).triangularView<Eigen::Upper>();
        const double scale = A0.norm();
        CHECK((Q * R - A0).norm() <= 1e-14 * scale * std::sqrt(double(n)));
        CHECK((Q.transpose() * Q - CM::Identity(h, h)).cwiseAbs().maxCoeff() <= 1e-14 * std::sqrt(double(m)));
        // apply_qt undoes apply_q.
        CM X = rnd(m, 3, 7), Y = X;
        std::vector<double> w3(3);
        dln::linalg::apply_q(A, tau.data(), h, Y, w3.data());
        dln::linalg::apply_qt(A, tau.data(), h, Y, w3.data());
        CHECK((Y - X).norm() <= 1e-14 * X.norm() * std::sqrt(double(m)));
    }
}

void test_pivoted_qr_reveals_rank() {
    // A 30 x 20 matrix of rank 6 plus noise of 1e-13: the rank decision keeps 6 rows and the tail it
    // reports is the noise it drops (to within its own size).
    const Index m = 30, n = 20, r = 6;
    const CM L = rnd(m, r, 1) * rnd(r, n, 2), N = 1e-13 * rnd(m, n, 3);
    Buffer<double> a, tau(static_cast<std::size_t>(n)), work(static_cast<std::size_t>(n));
    CMap<double> A = dln::linalg::cmat(a, m, n);
    A = L + N;
    dln::linalg::pivoted_qr(A, tau.data(), work.data());
    double tail = -1.0;
    const Index q = dln::linalg::leading_rank(A, n, 1e-10, -1, tail);
    CHECK(q == r);
    CHECK(tail >= 0.0 && tail <= 10.0 * N.norm());
    // A cap keeps the leading rows and counts the rest in the tail.
    double capped = 0.0;
    CHECK(dln::linalg::leading_rank(A, n, 1e-10, 4, capped) == 4);
    CHECK(capped > tail);
}

void test_range_basis_vs_svd() {
    for (Index rank : {0, 1, 5, 12}) {
        const Index d = 50, m = 12;
        const CM R0 = rank ? CM(rnd(d, rank, 10 + rank) * rnd(rank, m, 20 + rank)) : CM::Zero(d, m);
        const dln::Mat<double> R = R0;
        Buffer<double> qr, t1, t2, sm, basis, hw;
        double tail = -1.0;
        const Index q = dln::linalg::range_basis<double>(dln::ConstView<double>(R.data(), d, m), 1e-10 * std::max(1.0, R0.norm()),
                                                         -1, tail, {qr, t1, t2, sm, basis, hw});
        CHECK(q == rank);
        const CM P = CMap<double>(basis.data(), d, q);
        if (q) {
            CHECK((P.transpose() * P - CM::Identity(q, q)).cwiseAbs().maxCoeff() <= 1e-14 * std::sqrt(double(d)));
            CHECK((R0 - P * (P.transpose() * R0)).norm() <= 1e-13 * R0.norm());  // the basis spans R's range
        }
        CHECK(tail <= 1e-13 * std::max(1.0, R0.norm()));
    }
}

// Each eigenvalue of `ref` has a distinct partner in `got` within tol (greedy matching, closest first).
bool same_multiset(std::vector<std::complex<double>> got, const Eigen::VectorXcd& ref, double tol) {
    if (static_cast<Index>(got.size()) != ref.size()) return false;
    for (Index i = 0; i < ref.size(); ++i) {
        auto best = std::min_element(got.begin(), got.end(), [&](auto a, auto b) {
            return std::abs(a - ref(i)) < std::abs(b - ref(i));
        });
        if (std::abs(*best - ref(i)) > tol) return false;
        got.erase(best);
    }
    return true;
}

std::vector<std::complex<double>> eig(const CM& M0, bool& ok) {
    const Index n = M0.rows();
    Buffer<double> a, wr(static_cast<std::size_t>(n)), wi(static_cast<std::size_t>(n)), work(static_cast<std::size_t>(n));
    CMap<double> A = dln::linalg::cmat(a, n, n);
    A = M0;
    ok = dln::linalg::eigenvalues(A, wr.data(), wi.data(), work.data());
    std::vector<std::complex<double>> out;
    for (Index i = 0; i < n; ++i) out.emplace_back(wr[static_cast<std::size_t>(i)], wi[static_cast<std::size_t>(i)]);
    return out;
}

void test_eigenvalues_vs_eigen() {
    for (Index n : {1, 2, 3, 5, 10, 34, 80}) {
        for (std::uint64_t seed : {1u, 2u, 3u}) {
            const CM M0 = rnd(n, n, 1000 * n + seed);  // general: complex pairs included
            bool ok = false;
            const auto got = eig(M0, ok);
            CHECK(ok);
            Eigen::EigenSolver<CM> es(M0, false);
            CHECK(same_multiset(got, es.eigenvalues(), 1e-10 * M0.norm()));
            // Invariants: the sum is the trace, and complex values come in conjugate pairs.
            std::complex<double> sum = 0;
            for (auto z : got) sum += z;
            CHECK(std::abs(sum - M0.trace()) <= 1e-11 * M0.norm() * double(n));
            CHECK(std::abs(sum.imag()) <= 1e-11 * M0.norm() * double(n));
        }
    }
    // The trackers' case: alpha I + rank k (k < p / 2) in a random basis, so alpha has multiplicity
    // p - k; the cluster is found to rounding.
    for (Index k : {1, 4, 16}) {
        const Index p = 2 * k + 2;
        const double alpha = 0.93;
        const CM B = rnd(p, p, 77 + k);
        const CM M0 = B * (alpha * CM::Identity(p, p) + 1e-3 * rnd(p, k, 5) * rnd(k, p, 6)) * B.inverse();
        bool ok = false;
        const auto got = eig(M0, ok);
        CHECK(ok);
        const auto at_alpha = std::count_if(got.begin(), got.end(), [&](auto z) { return std::abs(z - alpha) <= 1e-8; });
        CHECK(at_alpha >= p - k);
    }
    // Late-training pencils: alpha I plus a tiny nilpotent part, a Jordan block of size m = k + 1,
    // in a random orthogonal basis. Francis converges only linearly there (a cap of 30 iterations per
    // eigenvalue failed on 1.1% of 50,000 random ones, and once in CI); the perturbed block's eigenvalues are within
    // sc^((m-1)/m) (n eps ||M||)^(1/m) of alpha.
    int defective = 0;
    for (Index p : {5, 9, 16, 24})
        for (Index k : {1, 2, 3, 4})
            for (double sc : {1e-2, 1e-5, 1e-8, 1e-11}) {
                CM J = CM::Identity(p, p);
                for (Index i = 0; i < k; ++i) J(i, i + 1) = sc;
                const CM Q = Eigen::HouseholderQR<CM>(rnd(p, p, 31 * p + k)).householderQ();
                const CM M0 = Q.transpose() * J * Q;
                bool ok = false;
                const auto got = eig(M0, ok);
                CHECK(ok);
                const double m = double(k + 1), delta = double(p) * 2.3e-16 * M0.norm();
                const double tol = 10.0 * std::pow(sc, (m - 1.0) / m) * std::pow(delta, 1.0 / m);
                defective += std::all_of(got.begin(), got.end(), [&](auto z) { return std::abs(z - 1.0) <= tol; });
            }
    CHECK(defective == 4 * 4 * 4);
    // Already triangular, diagonal with repeats, and zero: nothing to iterate.
    CM T = rnd(6, 6, 9).triangularView<Eigen::Upper>();
    bool ok = false;
    auto got = eig(T, ok);
    CHECK(ok);
    CHECK(same_multiset(got, T.diagonal().cast<std::complex<double>>(), 1e-14 * T.norm()));
    got = eig(CM::Zero(4, 4), ok);
    CHECK(ok && std::all_of(got.begin(), got.end(), [](auto z) { return z == std::complex<double>(0); }));
    // A rotation by 90 degrees: +-i exactly.
    CM Rot(2, 2);
    Rot << 0, -1, 1, 0;
    got = eig(Rot, ok);
    CHECK(ok && same_multiset(got, Eigen::EigenSolver<CM>(Rot, false).eigenvalues(), 1e-15));
}

void test_sine_angle() {
    // Two orthonormal bases of R^20 at a known largest principal angle theta: sin theta exactly.
    const Index d = 20, w = 3;
    const double theta = 1e-9;
    CM A = CM::Zero(d, w), B = CM::Zero(d, w);
    for (Index i = 0; i < w; ++i) A(i, i) = 1.0, B(i, i) = 1.0;
    B(0, 0) = std::cos(theta), B(w, 0) = std::sin(theta);
    const dln::Mat<double> Ar = A, Br = B;
    CHECK(std::abs(dln::linalg::sine_angle(Ar, Br) - std::sin(theta)) <= 1e-15);
    CHECK(dln::linalg::sine_angle(Ar, Ar) <= 1e-15);
    // A narrower span inside a wider one has angle 0, whichever order they come in.
    const dln::Mat<double> A2 = A.leftCols(2);
    CHECK(dln::linalg::sine_between(A2, Ar) <= 1e-15 && dln::linalg::sine_between(Ar, A2) <= 1e-15);
}

void test_no_allocation() {
#ifdef DLN_NO_MALLOC_COUNTER
    std::cout << "skip no_allocation (sanitizer build: malloc counter disabled)\n";
#else
    // Every kernel on memory sized beforehand: nothing is allocated inside.
    const Index n = 40;
    const CM M0 = rnd(n, n, 3);
    Buffer<double> a(n * n), tau(n), work(n), wr(n), wi(n);
    Buffer<double> qr(n * n), t1(n), t2(n), sm(n * n), basis(n * n), hw(n);
    const dln::Mat<double> R = M0;
    const long before = dln_test::allocations.load();
    CMap<double> A(a.data(), n, n);
    A = M0;
    dln::linalg::householder_qr(A, tau.data(), work.data());
    A = M0;
    dln::linalg::pivoted_qr(A, tau.data(), work.data());
    double tail = 0.0;
    (void)dln::linalg::leading_rank(A, n, 1e-10, -1, tail);
    (void)dln::linalg::range_basis<double>(dln::ConstView<double>(R.data(), n, n), 1e-10, -1, tail, {qr, t1, t2, sm, basis, hw});
    A = M0;
    (void)dln::linalg::eigenvalues(A, wr.data(), wi.data(), work.data());
    CHECK(dln_test::allocations.load() - before == 0);
#endif
}

}  // namespace

int main() {
    const std::vector<std::pair<const char*, std::function<void()>>> tests = {
        {"householder_qr", test_householder_qr},
        {"pivoted_qr_reveals_rank", test_pivoted_qr_reveals_rank},
        {"range_basis_vs_svd", test_range_basis_vs_svd},
        {"eigenvalues_vs_eigen", test_eigenvalues_vs_eigen},
        {"sine_angle", test_sine_angle},
        {"no_allocation", test_no_allocation},
    };
    return dln_test::run_tests(tests);
}
