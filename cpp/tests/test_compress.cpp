// C++ tests of dln/compress.hpp: the subspace's invariants, the chain, and the law of parsimony
// itself - the lifted compressed run equals the wide run - for factorisation and whitened regression;
// bad input named before any work. And the sparse completion path (dln/sparse.hpp): loss and
// gradients against the dense masked formula, bits independent of the thread count, no allocation
// per step.
#include "harness.hpp"

#include "dln/compress.hpp"
#include "dln/linalg.hpp"
#include "dln/sparse.hpp"


#include <cmath>
#include <cstdint>
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

// A random sparse problem (about `p` of the d_out x d_in entries, each position once) with the mask
// and target as dense arrays for the reference.
template <class T>
struct SparseCase {
    std::vector<std::int64_t> rows, cols;
    std::vector<T> values;
    M mask, target;
};

template <class T>
SparseCase<T> sparse_case(Index d_out, Index d_in, double p, std::uint64_t seed) {
    SparseCase<T> c;
    dln::Rng rng(seed);
    c.mask = M::Zero(d_out, d_in);
    c.target = M::Zero(d_out, d_in);
    // Column-major draw order, so the entries reach the constructor unsorted by row.
    for (Index j = 0; j < d_in; ++j)
        for (Index i = 0; i < d_out; ++i)
            if (rng.uniform() < p) {
                const T v = static_cast<T>(rng.normal());
                c.rows.push_back(i);
                c.cols.push_back(j);
                c.values.push_back(v);
                c.mask(i, j) = 1.0;
                c.target(i, j) = static_cast<double>(v);
            }
    return c;
}

template <class T>
std::vector<dln::Mat<T>> chain(const std::vector<Index>& widths, std::uint64_t seed) {
    std::vector<dln::Mat<T>> W;
    for (std::size_t l = 0; l + 1 < widths.size(); ++l)
        W.push_back((random_matrix(widths[l + 1], widths[l], seed + l) / std::sqrt(double(widths[l]))).cast<T>());
    return W;
}

// Loss and gradients of the sampled completion, three ways: the dense masked formula (double), and
// the sparse evaluator at 1, 2 and 3 threads (the same bits required). Widths 10 and 16 take the
// compile-time kernels, 37 the run-time one; chains of one width throughout (10, 7) also take the
// uniform forward and column kernels, 9 (no kernel of its own) the run-time ones for every phase.
template <class T>
void sparse_case_check(const std::vector<Index>& widths, double tol) {
    const Index d_in = widths.front(), d_out = widths.back();
    const auto c = sparse_case<T>(d_out, d_in, 0.4, 31);
    dln::SparseCompletion<T> problem(d_out, d_in, c.rows.data(), c.cols.data(), c.values.data(),
                                     static_cast<Index>(c.values.size()), dln::Reduction::Mean);
    CHECK(problem.observed() * widths[widths.size() - 2] >= 100000);  // big enough to be threaded
    const auto W = chain<T>(widths, 41);
    // Reference: R = mask .* (W_L...W_1 - Phi) / (d_out d_in), G_l = suffix^T R prefix^T.
    const std::size_t L = W.size();
    std::vector<M> Wd, pre{M::Identity(d_in, d_in)};
    for (const auto& w : W) Wd.push_back(w.template cast<double>());
    for (const auto& w : Wd) pre.push_back(w * pre.back());
    const double scale = 1.0 / (double(d_out) * double(d_in));
    const M R = c.mask.cwiseProduct(pre.back() - c.target) * scale;
    const double loss_ref = 0.5 * R.squaredNorm() / scale;
    std::vector<std::vector<dln::Mat<T>>> grads;
    std::vector<double> losses;
    for (int threads : {1, 2, 3}) {
        dln::SparseEvaluator<T> ev(problem, widths, threads);
        CHECK(ev.n_threads() == threads);
        std::vector<dln::Mat<T>> G;
        for (const auto& w : W) G.emplace_back(w.rows(), w.cols());
        losses.push_back(ev.evaluate(W, &G));
        grads.push_back(G);
        CHECK(ev.evaluate(W, nullptr) == losses.back());  // the loss alone: the same bits
    }
    CHECK(std::abs(losses[0] - loss_ref) <= tol * loss_ref);
    for (std::size_t l = 0; l < L; ++l) {
        M suf = M::Identity(d_out, d_out);
        for (std::size_t m = L - 1; m > l; --m) suf = suf * Wd[m];
        const M ref = suf.transpose() * R * pre[l].transpose();
        CHECK((grads[0][l].template cast<double>() - ref).norm() <= tol * ref.norm());
    }
    for (std::size_t t = 1; t < grads.size(); ++t) {
        CHECK(losses[t] == losses[0]);
        for (std::size_t l = 0; l < L; ++l) CHECK(grads[t][l] == grads[0][l]);
    }
}

void test_sparse_against_dense_and_threads() {
    sparse_case_check<double>({250, 10, 10, 10, 300}, 1e-12);
    sparse_case_check<double>({250, 16, 300}, 1e-12);
    sparse_case_check<double>({250, 12, 37, 300}, 1e-12);
    sparse_case_check<double>({250, 7, 7, 7, 300}, 1e-12);
    sparse_case_check<double>({250, 9, 9, 9, 300}, 1e-12);
    sparse_case_check<float>({250, 7, 7, 300}, 2e-5);
    sparse_case_check<float>({250, 10, 10, 10, 300}, 2e-5);
    sparse_case_check<float>({250, 12, 37, 300}, 2e-5);
}

// Training on the sparse path (fused GD, and momentum through the optimiser): the whole history and
// the final weights are the same bits at 1 and 2 threads.
template <class T>
void sparse_training_threads() {
    const Index d = 200;
    const auto c = sparse_case<T>(d, d, 0.3, 7);
    dln::SparseCompletion<T> problem(d, d, c.rows.data(), c.cols.data(), c.values.data(),
                                     static_cast<Index>(c.values.size()), dln::Reduction::Sum);
    const dln::Network<T> net(chain<T>({d, 10, 10, 10, 10, d}, 3));
    for (auto kind : {dln::OptimizerKind::GD, dln::OptimizerKind::Momentum}) {
        dln::OptimizerConfig opt;
        opt.kind = kind;
        opt.lr = 1e-3;
        opt.lr_scale = {0.01, 1.0, 1.0, 1.0, 0.01};
        std::vector<dln::TrainResult<T>> runs;
        for (int threads : {1, 2}) {
            dln::TrainOptions options;
            options.steps = 100;
            options.n_threads = threads;
            runs.push_back(dln::train(net, problem, opt, options));  // the sparse overload
            CHECK(runs.back().n_threads == threads);
        }
        CHECK(runs[0].loss == runs[1].loss);
        CHECK(runs[0].status == dln::Status::MaxSteps && runs[0].loss.back() < runs[0].loss.front());
        for (std::size_t l = 0; l < net.weights().size(); ++l)
            CHECK(runs[0].network.weights()[l] == runs[1].network.weights()[l]);
    }
}

void test_sparse_training_threads() {
    sparse_training_threads<double>();
    sparse_training_threads<float>();
}

void test_sparse_no_allocation_per_step() {
#ifdef DLN_NO_MALLOC_COUNTER
    std::cout << "skip sparse_no_allocation_per_step (sanitizer build: malloc counter disabled)\n";
#else
    const Index d = 300;
    const auto c = sparse_case<double>(d, d, 0.3, 9);
    dln::SparseCompletion<double> problem(d, d, c.rows.data(), c.cols.data(), c.values.data(),
                                          static_cast<Index>(c.values.size()), dln::Reduction::Mean);
    for (Index k : {10, 37}) {
        const std::vector<Index> widths{d, k, k, d};
        auto W = chain<double>(widths, 5);
        std::vector<M> G = W;
        dln::SparseEvaluator<double> ev(problem, widths, 2, true);
        const std::vector<double> lr(W.size(), 1e-3);
        ev.forward(W);
        ev.descend(W, lr);
        ev.evaluate(W, &G);
        const long before = dln_test::allocations.load();
        for (int s = 0; s < 10; ++s) {
            ev.forward(W);
            ev.descend(W, lr);
            ev.evaluate(W, &G);
            ev.evaluate(W, nullptr);
        }
        CHECK(dln_test::allocations.load() - before == 0);
    }
#endif
}

}  // namespace

int main() {
    const std::vector<std::pair<const char*, std::function<void()>>> tests = {
        {"subspace_invariants", test_subspace_invariants},
        {"lift_equals_wide_run", test_lift_equals_wide_run},
        {"rho_gd", test_rho_gd},
        {"bad_input_named", test_bad_input_named},
        {"sparse_against_dense_and_threads", test_sparse_against_dense_and_threads},
        {"sparse_training_threads", test_sparse_training_threads},
        {"sparse_no_allocation_per_step", test_sparse_no_allocation_per_step},
    };
    return dln_test::run_tests(tests);
}
