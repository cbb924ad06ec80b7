// C++ tests of dln/init.hpp: the orthogonal init's blocked QR (cpp/src/init.cpp) and the batched normal draws:
// invariants of Q against the Gaussian it comes from (orthonormal columns, Q^T G upper triangular with
// a positive diagonal: that pins the Haar Q down uniquely), agreement with Eigen's HouseholderQR of the
// same Gaussian, the same bits on any thread count, and Rng::normals against Rng::normal.
#define DLN_NO_MALLOC_COUNTER 1  // no allocation counting here
#include "harness.hpp"

#include "dln/linalg.hpp"  // Eigen's QR and SVD; their instances are compiled in the core

#include <algorithm>
#include <cmath>
#include <vector>

namespace {

using dln::Index;
using M = dln::Mat<double>;

// The n x k Gaussian that haar_columns(n, k, Rng(seed)) factors: the stream row by row.
M gaussian(Index n, Index k, std::uint64_t seed) {
    dln::Rng rng(seed);
    M G(n, k);
    for (Index i = 0; i < n; ++i)
        for (Index j = 0; j < k; ++j) G(i, j) = rng.normal();
    return G;
}

// Shapes around the panel (64 columns) and task (128 columns) boundaries, thin, square and degenerate.
const std::vector<std::pair<Index, Index>> kShapes = {
    {1, 1}, {5, 1}, {7, 7}, {64, 64}, {65, 65}, {65, 64}, {127, 127}, {128, 128}, {129, 129},
    {200, 70}, {300, 129}, {257, 256}, {400, 400}, {1000, 3}};

void test_q_is_the_haar_factor_of_its_gaussian() {
    for (auto [n, k] : kShapes) {
        const M G = gaussian(n, k, 7 + n + k);
        dln::Rng rng(7 + n + k);
        const M Q = dln::haar_columns(n, k, rng);
        CHECK(Q.rows() == n && Q.cols() == k);
        // Orthonormal to 1e-14 (about 2e-15 is what Householder gives at these sizes).
        CHECK((Q.transpose() * Q - M::Identity(k, k)).cwiseAbs().maxCoeff() <= 1e-14);
        // R = Q^T G: upper triangular (to rounding) with a positive diagonal.
        const M R = Q.transpose() * G;
        const double scale = G.norm();
        double lower = 0.0, min_diag = R(0, 0);
        for (Index j = 0; j < k; ++j) {
            min_diag = std::min(min_diag, R(j, j));
            for (Index i = j + 1; i < k; ++i) lower = std::max(lower, std::abs(R(i, j)));
        }
        CHECK(lower <= 1e-15 * scale);
        CHECK(min_diag > 0.0);
        // The old route, Eigen's HouseholderQR with the same sign fix: the same matrix to rounding
        // (amplified by the conditioning of G; a few 1e-15 here).
        Eigen::HouseholderQR<Eigen::MatrixXd> qr{Eigen::MatrixXd(G)};
        Eigen::MatrixXd E = qr.householderQ() * Eigen::MatrixXd::Identity(n, k);
        for (Index j = 0; j < k; ++j)
            if (qr.matrixQR()(j, j) < 0) E.col(j) = -E.col(j);
        CHECK((Q - M(E)).cwiseAbs().maxCoeff() <= 1e-12);
    }
}

void test_init_layers_are_the_scaled_haar_columns() {
    const double scale = 0.37;
    for (auto [m, n] : std::vector<std::pair<Index, Index>>{{300, 129}, {129, 300}, {70, 70}, {1, 9}, {9, 1}}) {
        const auto W = dln::init_weights<double>({n, m}, scale, 11, dln::InitKind::Orthogonal)[0];
        dln::Rng rng(11);
        const M Q = dln::haar_columns(std::max(m, n), std::min(m, n), rng);
        const M expect = m >= n ? M(scale * Q) : M(scale * Q.transpose());  // a wide layer is Q^T
        CHECK(W.rows() == m && W.cols() == n);
        CHECK((W - expect).cwiseAbs().maxCoeff() <= 1e-12 * scale);
    }
}

void test_bits_do_not_depend_on_the_thread_count() {
    const int previous = dln::gemm_threads();
    for (auto widths : std::vector<std::vector<Index>>{{300, 300, 300}, {500, 260, 420}, {64, 700, 64}}) {
        std::vector<std::vector<M>> runs;
        for (int threads : {1, 2, 4}) {
            dln::set_gemm_threads(threads);
            runs.push_back(dln::init_weights<double>(widths, 1.0, 5, dln::InitKind::Orthogonal));
        }
        for (std::size_t l = 0; l + 1 < widths.size(); ++l) {
            CHECK(runs[0][l] == runs[1][l]);
            CHECK(runs[0][l] == runs[2][l]);
        }
    }
    dln::set_gemm_threads(previous);
}

void test_normals_are_normal_repeated() {
    for (Index count : {Index(0), Index(1), Index(2), Index(7), Index(100001)}) {
        for (bool spare : {false, true}) {
            for (int threads : {1, 3}) {
                dln::Rng a(count + 1), b(count + 1);
                if (spare) CHECK(a.normal() == b.normal());  // leaves a spare behind in both
                std::vector<double> x(static_cast<std::size_t>(count));
                a.normals(x.data(), count, threads);
                bool same = true;
                for (Index i = 0; i < count; ++i) same = same && x[static_cast<std::size_t>(i)] == b.normal();
                CHECK(same);
                CHECK(a.normal() == b.normal());  // the same state after
                CHECK(a.next() == b.next());
            }
        }
    }
}

void test_gaussian_init_is_the_stream_scaled() {
    const auto W = dln::init_weights<double>({40, 30}, 0.5, 3, dln::InitKind::Gaussian)[0];
    dln::Rng rng(3);
    const double f = 0.5 * std::sqrt(30.0 / (30.0 * 40.0));
    bool same = true;
    for (Index i = 0; i < W.rows(); ++i)
        for (Index j = 0; j < W.cols(); ++j) same = same && W(i, j) == f * rng.normal();
    CHECK(same);
}

}  // namespace

int main() {
    const std::vector<std::pair<const char*, std::function<void()>>> tests = {
        {"q_is_the_haar_factor_of_its_gaussian", test_q_is_the_haar_factor_of_its_gaussian},
        {"init_layers_are_the_scaled_haar_columns", test_init_layers_are_the_scaled_haar_columns},
        {"bits_do_not_depend_on_the_thread_count", test_bits_do_not_depend_on_the_thread_count},
        {"normals_are_normal_repeated", test_normals_are_normal_repeated},
        {"gaussian_init_is_the_stream_scaled", test_gaussian_init_is_the_stream_scaled},
    };
    return dln_test::run_tests(tests);
}
