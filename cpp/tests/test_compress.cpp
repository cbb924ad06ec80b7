// C++ tests of dln/compress.hpp: the subspace's invariants, the chain, and the law of parsimony
// itself - the lifted compressed run equals the wide run - for factorisation and whitened regression;
// bad input named before any work.
#include "harness.hpp"

#include "dln/compress.hpp"
#include "dln/linalg.hpp"

#include <Eigen/SVD>

#include <cmath>
#include <vector>

namespace {

using dln::Index;
using M = dln::Mat<double>;
using dln_test::random_matrix;

// Rank r, singular values of order 1 (so that the step sizes below are stable).
M low_rank(Index m, Index n, Index r, std::uint64_t seed) {
    return random_matrix(m, r, seed) * random_matrix(r, n, seed + 1) / std::sqrt(double(m * n));
}

double orthonormality(const M& V) {
    return (V.transpose() * V - M::Identity(V.cols(), V.cols())).cwiseAbs().maxCoeff();
}

// sin of the largest angle by which span(A) leaves span(B) (B orthonormal): ||A - B B^T A||_2 for
// orthonormal A.
double leaves(const M& A, const M& B) {
    const M R = A - B * (B.transpose() * A);
    return Eigen::JacobiSVD<M>(R).singularValues()(0);
}

// Wide and compressed runs of `steps` GD steps; returns max_l ||lift_l - wide_l|| / ||wide_l||.
template <class T>
double lift_error(const dln::Problem<T>& problem, const dln::Network<T>& wide, Index rank, double lr, long long steps) {
    const auto c = dln::compress(wide, problem, rank);
    dln::OptimizerConfig opt;
    opt.lr = lr;
    dln::TrainOptions options;
    options.steps = steps;
    options.n_threads = 1;
    const auto wide_run = dln::train(wide, problem, opt, options);
    opt.lr_scale = c.lr_scale();
    const auto chain_run = dln::train(c.chain, problem, opt, options);
    CHECK(wide_run.steps == steps && chain_run.steps == steps);
    const double rho = dln::rho_gd(c.scale, lr, wide.depth(), steps, problem.scale()).back();
    const auto lifted = dln::lift(c, wide, chain_run.network, rho);
    double worst = 0.0;
    for (Index l = 0; l < wide.depth(); ++l) {
        const M a = lifted.weight(l).template cast<double>(), b = wide_run.network.weight(l).template cast<double>();
        worst = std::max(worst, (a - b).norm() / b.norm());
    }
    return worst;
}

void test_subspace_invariants() {
    const Index d = 24, r = 2;
    const M phi = low_rank(d, d, r, 3);
    dln::Factorization<double> problem(phi);
    const auto net = dln::Network<double>::orthogonal({d, d, d, d}, 0.3, 7);
    for (auto method : {dln::SubspaceMethod::Closed, dln::SubspaceMethod::Gradient}) {
        const M V = dln::invariant_subspace(net, problem, r, method);
        CHECK(V.rows() == d && V.cols() == 2 * r);
        CHECK(orthonormality(V) <= 1e-14);
        // The target's top right singular vectors lie inside (closed form by construction; the gradient
        // at t = 0 is -c W_{L:2}^T (Phi - W_{L:1}) with the same right factor, SCIENCE.md 3).
        Eigen::JacobiSVD<M> svd(phi, Eigen::ComputeThinU | Eigen::ComputeThinV);
        CHECK(leaves(M(svd.matrixV().leftCols(r)), V) <= 1e-12);
    }
    const auto c = dln::compress(net, problem, r);
    CHECK(c.exact && c.rank == r && std::abs(c.scale - 0.3) <= 1e-15);
    CHECK((c.chain.widths() == std::vector<Index>{d, 2 * r, 2 * r, 2 * r, 2 * r, d}));
    CHECK(c.basis.size() == 4);
    for (const auto& B : c.basis) CHECK(orthonormality(B) <= 1e-13);
    CHECK((c.lr_scale() == std::vector<double>{0.0, 1.0, 1.0, 1.0, 0.0}));
}

void test_lift_equals_wide_run() {
    const Index d = 20, r = 2;
    dln::Factorization<double> fact(low_rank(d, d, r, 11));
    const auto net = dln::Network<double>::orthogonal({d, d, d, d}, 0.5, 5);
    CHECK(lift_error(fact, net, r, 0.2 * double(d * d), 60) <= 1e-10);
    CHECK(lift_error(fact, net, r + 2, 0.2 * double(d * d), 60) <= 1e-10);  // r_hat > rank(Phi): still exact
    // float32: the same maths rounded to float.
    dln::Factorization<float> fact32(low_rank(d, d, r, 11).cast<float>());
    const auto net32 = dln::Network<float>::orthogonal({d, d, d, d}, 0.5, 5);
    CHECK(lift_error(fact32, net32, r, 0.2 * double(d * d), 60) <= 1e-4);
    // Whitened regression (X X^T = I): the target is Y X^T, so the lift is exact as well.
    const Index n = 3 * d;
    Eigen::JacobiSVD<M> svd(random_matrix(d, n, 21), Eigen::ComputeThinU | Eigen::ComputeThinV);
    const M X = svd.matrixU() * svd.matrixV().transpose();  // rows orthonormal: X X^T = I
    dln::Regression<double> reg(X, M(low_rank(d, d, r, 31) * X));
    CHECK(dln::known_target(reg).size() == d * d);
    CHECK(lift_error(reg, net, r, 0.2 * double(d * n), 60) <= 1e-10);
}

void test_rho_gd() {
    const auto rho = dln::rho_gd(0.5, 2.0, 3, 4, 0.25);
    double x = 0.5;
    CHECK(rho.size() == 5 && rho[0] == 0.5);
    for (std::size_t t = 1; t < rho.size(); ++t) {
        x = x * (1.0 - 2.0 * 0.25 * std::pow(x, 4.0));
        CHECK(rho[t] == x);
    }
}

void test_bad_input_named() {
    const Index d = 12;
    dln::Factorization<double> problem(low_rank(d, d, 2, 1));
    const auto net = dln::Network<double>::orthogonal({d, d, d}, 0.5, 1);
    CHECK_THROWS_NAMING(dln::compress(net, problem, 0), "rank");
    CHECK_THROWS_NAMING(dln::compress(net, problem, d / 2 + 1), "rank");
    CHECK_THROWS_NAMING(dln::compress(net, problem, 2, -1.0), "outer_lr_scale");
    CHECK_THROWS_NAMING(dln::compress(net, problem, 2, std::nan("")), "outer_lr_scale");
    CHECK_THROWS_NAMING(dln::parse_subspace_method("svd"), "method");
    M mask = M::Ones(d, d);
    mask(0, 0) = 0.0;
    dln::Completion<double> completion(low_rank(d, d, 2, 1), mask);
    CHECK_THROWS_NAMING(dln::invariant_subspace(net, completion, 2, dln::SubspaceMethod::Closed), "method");
    CHECK(dln::invariant_subspace(net, completion, 2).cols() == 4);  // auto: from the gradient
    const dln::Network<double> relu(net.weights(), dln::Activation::parse("relu"));
    CHECK_THROWS_NAMING(dln::compress(relu, problem, 2), "net");
    const auto wrong = dln::Network<double>::orthogonal({d, d + 1, d}, 0.5, 1);
    CHECK_THROWS_NAMING(dln::compress(wrong, dln::Factorization<double>(low_rank(d, d + 1, 2, 1)), 2), "net");
    // Not orthogonal: a Gaussian init is no isometry on the subspace.
    const dln::Network<double> gauss({random_matrix(d, d, 4), random_matrix(d, d, 5)});
    CHECK_THROWS_NAMING(dln::compress(gauss, problem, 2), "net");
    const auto c = dln::compress(net, problem, 2);
    CHECK_THROWS_NAMING(dln::lift(c, net, net, 1.0), "trained");
}

}  // namespace

int main() {
    const std::vector<std::pair<const char*, std::function<void()>>> tests = {
        {"subspace_invariants", test_subspace_invariants},
        {"lift_equals_wide_run", test_lift_equals_wide_run},
        {"rho_gd", test_rho_gd},
        {"bad_input_named", test_bad_input_named},
    };
    return dln_test::run_tests(tests);
}
