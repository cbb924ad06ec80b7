// C++ unit tests of the core's invariants, no Python involved. A minimal harness keeps the project
// free of test-framework dependencies.
#include "harness.hpp"

#include "dln/linalg.hpp"  // Eigen's QR and SVD; their instances are compiled in the core

#include <atomic>
#include <cmath>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

namespace {

using dln::Index;
using M = dln::Mat<double>;
using dln_test::random_matrix;

// Largest relative error of all gradients against central finite differences (step h) of the loss.
double fd_error(const dln::Problem<double>& problem, const dln::Network<double>& net, double h = 1e-6) {
    const auto G = problem.gradients(net);
    double worst = 0.0;
    for (Index l = 0; l < net.depth(); ++l) {
        const double gnorm = G[l].norm() + 1e-300;
        for (Index i = 0; i < G[l].size(); ++i) {
            auto plus = net.weights(), minus = net.weights();
            plus[l].data()[i] += h;
            minus[l].data()[i] -= h;
            const double fd = (problem.loss(dln::Network<double>(plus, net.activation())) -
                               problem.loss(dln::Network<double>(minus, net.activation()))) / (2 * h);
            worst = std::max(worst, std::abs(fd - G[l].data()[i]) / gnorm);
        }
    }
    return worst;
}

void test_gradients() {
    const std::vector<std::vector<Index>> shapes = {{3, 4}, {4, 1, 5}, {5, 3, 4, 2}, {2, 6, 6, 6, 3}};
    for (const auto& w : shapes) {
        auto net = dln::Network<double>::gaussian(w, 1.0, 7);
        const Index din = w.front(), dout = w.back();
        for (auto red : {dln::Reduction::Mean, dln::Reduction::Sum}) {
            dln::Factorization<double> f(random_matrix(dout, din, 1), red);
            CHECK(fd_error(f, net) < 1e-7);
            M mask = random_matrix(dout, din, 2).unaryExpr([](double x) { return x > 0 ? 1.0 : 0.0; });
            dln::Completion<double> c(random_matrix(dout, din, 1), mask, red);
            CHECK(fd_error(c, net) < 1e-7);
            for (auto form : {dln::RegressionForm::Data, dln::RegressionForm::Covariance}) {
                dln::Regression<double> r(random_matrix(din, 9, 3), random_matrix(dout, 9, 4), red, form);
                CHECK(r.form_for(w) == form);
                CHECK(fd_error(r, net) < 1e-6);
            }
        }
    }
}

// Smallest |pre-activation| of the hidden layers for inputs X (the distance to the ReLU kink) and
// a bound on how fast any pre-activation moves when one weight moves by h: |dZ| <= h * bound.
std::pair<double, double> kink_margin(const dln::Network<double>& net, const M& X) {
    double margin = INFINITY, bound = X.norm();
    M H = X;
    for (Index l = 0; l + 1 < net.depth(); ++l) {
        const M Z = net.weight(l) * H;
        // A sample whose features are all zero (every ReLU below it off, with a margin) has exactly
        // zero pre-activations that no small step can move: not a kink to stay away from.
        for (Index j = 0; j < Z.cols(); ++j)
            if ((H.col(j).array() != 0.0).any()) margin = std::min(margin, Z.col(j).cwiseAbs().minCoeff());
        H = Z;
        dln::apply_activation(net.activation(), H);
    }
    for (Index l = 0; l < net.depth(); ++l) bound *= net.weight(l).norm() + 1.0;
    return {margin, bound};
}

// Finite differences with a step that provably crosses no kink: with the activation pattern fixed,
// a ReLU-type loss is a quadratic in one weight, so the central difference is exact up to rounding.
double fd_error_nonlinear(const dln::Problem<double>& problem, const dln::Network<double>& net, const M& X) {
    double h = 1e-6;
    if (net.activation().kind != dln::ActivationKind::Tanh) {
        const auto [margin, bound] = kink_margin(net, X);
        CHECK(margin > 1e-9);  // the construction below needs a margin
        h = std::min(h, 0.25 * margin / bound);
    }
    return fd_error(problem, net, h);
}

void test_nonlinear_gradients() {
    using dln::Activation;
    const std::vector<Activation> acts = {Activation::parse("relu"), Activation::parse("leaky_relu", 0.1),
                                          Activation::parse("tanh")};
    const std::vector<std::vector<Index>> shapes = {{3, 4}, {4, 1, 5}, {5, 3, 4, 2}, {2, 6, 6, 6, 3}};
    for (const auto& act : acts) {
        for (const auto& w : shapes) {
            const auto net = dln::Network<double>::gaussian(w, 1.0, 11, act);
            const Index din = w.front(), dout = w.back();
            for (auto red : {dln::Reduction::Mean, dln::Reduction::Sum}) {
                const M I = M::Identity(din, din);
                dln::Factorization<double> f(random_matrix(dout, din, 1), red);
                CHECK(fd_error_nonlinear(f, net, I) < 1e-6);
                M mask = random_matrix(dout, din, 2).unaryExpr([](double x) { return x > 0 ? 1.0 : 0.0; });
                dln::Completion<double> c(random_matrix(dout, din, 1), mask, red);
                CHECK(fd_error_nonlinear(c, net, I) < 1e-6);
                const M X = random_matrix(din, 9, 3);
                dln::Regression<double> r(X, random_matrix(dout, 9, 4), red);  // auto: data for non-linear
                CHECK(fd_error_nonlinear(r, net, X) < 1e-6);
                // The loss is 1/2 c ||H_L - Y||^2 with H_L the network's output.
                const double c_ = red == dln::Reduction::Mean ? 1.0 / double(dout * 9) : 1.0;
                CHECK(std::abs(r.loss(net) - 0.5 * c_ * (net.forward(X) - random_matrix(dout, 9, 4)).squaredNorm()) <=
                      1e-12 * (1.0 + r.loss(net)));
            }
        }
    }
    // A linear activation is the linear network: same gradients, bit for bit, as before.
    const auto lin = dln::Network<double>::gaussian({4, 5, 3}, 1.0, 3);
    dln::Factorization<double> f(random_matrix(3, 4, 1));
    const auto a = f.gradients(lin);
    const auto b = f.gradients(dln::Network<double>(lin.weights(), dln::Activation::parse("linear")));
    for (std::size_t l = 0; l < a.size(); ++l) CHECK(a[l] == b[l]);
}

void test_products_per_step() {
    const std::vector<Index> w = {10, 10, 10, 10};  // L = 3
    dln::Factorization<double> f(random_matrix(10, 10, 1));
    CHECK(f.products_per_step(w) == 6);
    dln::Regression<double> cov(random_matrix(10, 50, 1), random_matrix(10, 50, 2));
    CHECK(cov.form_for(w) == dln::RegressionForm::Covariance);  // N > d_in: fewer flops
    CHECK(cov.products_per_step(w) == 7);
    dln::Regression<double> data(random_matrix(10, 5, 1), random_matrix(10, 5, 2));
    CHECK(data.form_for(w) == dln::RegressionForm::Data);
    CHECK(data.products_per_step(w) == 8);
}

void test_orthogonal_init() {
    for (auto w : std::vector<std::vector<Index>>{{7, 7}, {3, 9}, {9, 3}, {1, 5}, {5, 1}, {4, 6, 6, 2}}) {
        const double scale = 0.37;
        auto net = dln::Network<double>::orthogonal(w, scale, 42);
        for (const auto& W : net.weights()) {
            const M gram = W.rows() <= W.cols() ? M(W * W.transpose()) : M(W.transpose() * W);
            CHECK((gram - scale * scale * M::Identity(gram.rows(), gram.cols())).cwiseAbs().maxCoeff() < 1e-13);
        }
        auto again = dln::Network<double>::orthogonal(w, scale, 42);
        auto other = dln::Network<double>::orthogonal(w, scale, 43);
        for (Index l = 0; l < net.depth(); ++l) {
            CHECK(net.weight(l) == again.weight(l));
            CHECK(net.weight(l) != other.weight(l) || net.weight(l).size() == 1);
        }
        auto single = dln::Network<float>::orthogonal(w, scale, 42);
        for (Index l = 0; l < net.depth(); ++l) CHECK(single.weight(l) == net.weight(l).cast<float>());
    }
}

// The law of parsimony (SCIENCE.md section 2, theorem setting): 24 of 30 singular values of every
// layer stay at rho(t) after every step, the other 6 move.
void test_parsimony() {
    const Index d = 30, r = 3, L = 3;
    M G = random_matrix(d, d, 5);
    Eigen::JacobiSVD<Eigen::MatrixXd> svd(G, Eigen::ComputeFullU | Eigen::ComputeFullV);
    M phi = svd.matrixU().leftCols(r) * svd.singularValues().head(r).asDiagonal() * svd.matrixV().leftCols(r).transpose();
    dln::Factorization<double> problem(phi);
    auto net = dln::Network<double>::orthogonal({d, d, d, d}, 1.0, 11);
    dln::OptimizerConfig opt;
    opt.lr = 1.0;
    dln::TrainOptions options;
    options.steps = 1;
    options.n_threads = 1;
    double rho = 1.0, worst = 0.0, gap = 0.0;
    for (int t = 1; t <= 50; ++t) {
        net = dln::train(net, problem, opt, options).network;
        rho *= 1.0 - opt.lr / double(d * d) * std::pow(rho, 2 * (L - 1));
        gap = 1e300;
        for (const auto& W : net.weights()) {
            Eigen::VectorXd s = Eigen::JacobiSVD<Eigen::MatrixXd>(W).singularValues();
            std::vector<double> dev(static_cast<std::size_t>(d));
            for (Index i = 0; i < d; ++i) dev[i] = std::abs(s(i) - rho);
            std::sort(dev.begin(), dev.end());
            worst = std::max(worst, dev[static_cast<std::size_t>(d - 2 * r - 1)]);
            gap = std::min(gap, dev[static_cast<std::size_t>(d - 2 * r)]);
        }
    }
    CHECK(worst < 1e-12);
    CHECK(gap > 1e-6);
}

void test_training_semantics() {
    dln::Factorization<double> problem(random_matrix(6, 5, 1));
    auto net = dln::Network<double>::orthogonal({5, 8, 6}, 0.5, 3);
    dln::OptimizerConfig opt;
    opt.lr = 0.5;
    dln::TrainOptions options;
    options.steps = 20;
    options.record_every = 3;
    auto res = dln::train(net, problem, opt, options);
    CHECK(res.status == dln::Status::MaxSteps);
    CHECK(res.steps == 20);
    CHECK(res.loss.size() == 7);
    CHECK(res.loss.front() == problem.loss(net));
    CHECK(std::abs(res.final_loss - problem.loss(res.network)) <= 1e-15 * res.final_loss);

    options.tol = res.loss[3];  // reached after 9 updates
    auto conv = dln::train(net, problem, opt, options);
    CHECK(conv.status == dln::Status::Converged);
    CHECK(conv.final_loss <= *options.tol);
    CHECK(conv.steps <= 9);

    // Divergence: a huge step; the run stops and keeps finite weights.
    opt.lr = 1e6;
    options.tol.reset();
    auto div = dln::train(net, problem, opt, options);
    CHECK(div.status == dln::Status::Diverged);
    CHECK(std::isfinite(div.final_loss));
    for (const auto& W : div.network.weights()) CHECK(W.allFinite());

    // A stop request ends the run with status Interrupted.
    std::atomic<bool> stop{true};
    options.stop = &stop;
    opt.lr = 0.5;
    auto intr = dln::train(net, problem, opt, options);
    CHECK(intr.status == dln::Status::Interrupted);
    CHECK(intr.steps == 0);
}

void test_bitwise_reproducible() {
    dln::Regression<double> problem(random_matrix(40, 60, 1), random_matrix(30, 60, 2));
    auto net = dln::Network<double>::orthogonal({40, 50, 50, 30}, 0.8, 1);
    for (auto kind : {dln::OptimizerKind::GD, dln::OptimizerKind::Momentum, dln::OptimizerKind::Adam, dln::OptimizerKind::RMSprop}) {
        dln::OptimizerConfig opt;
        opt.kind = kind;
        opt.lr = 1e-3;
        dln::TrainOptions options;
        options.steps = 30;
        options.n_threads = 1;
        auto a = dln::train(net, problem, opt, options);
        auto b = dln::train(net, problem, opt, options);
        for (Index l = 0; l < net.depth(); ++l) CHECK(a.network.weight(l) == b.network.weight(l));
        CHECK(a.loss == b.loss);
    }
}

// A batch job may start from views of the caller's arrays instead of a Network: its result is bitwise
// the Network job's and train's on one thread; a view that does not chain is named with its job.
void test_batch_jobs_from_views() {
    dln::Factorization<double> problem(random_matrix(12, 10, 3));
    std::vector<dln::Network<double>> nets;
    for (std::uint64_t seed = 0; seed < 5; ++seed) nets.push_back(dln::Network<double>::orthogonal({10, 14, 12}, 1.0, seed));
    dln::OptimizerConfig opt;
    opt.lr = 0.05;
    std::vector<dln::Job<double>> by_net(nets.size()), by_view(nets.size());
    for (std::size_t i = 0; i < nets.size(); ++i) {
        for (auto* job : {&by_net[i], &by_view[i]}) {
            job->problem = &problem;
            job->optimizer = opt;
            job->options.steps = 20 + static_cast<long long>(i);
        }
        by_net[i].net = &nets[i];
        by_view[i].weights = dln::views_of(nets[i].weights());
    }
    dln::BatchOptions options;
    options.n_threads = 2;
    const auto a = dln::train_batch(by_net, options), b = dln::train_batch(by_view, options);
    for (std::size_t i = 0; i < nets.size(); ++i) {
        dln::TrainOptions one = by_net[i].options;
        one.n_threads = 1;
        const auto c = dln::train(nets[i], problem, opt, one);
        CHECK(a[i].steps == 20 + static_cast<long long>(i) && b[i].steps == a[i].steps && a[i].loss == b[i].loss);
        for (Index l = 0; l < 2; ++l)
            CHECK(a[i].network.weight(l) == b[i].network.weight(l) && b[i].network.weight(l) == c.network.weight(l));
    }
    const M wrong = random_matrix(12, 13, 4);  // 13 columns do not follow the first layer's 14 rows
    by_view[3].weights.pop_back();
    by_view[3].weights.emplace_back(wrong.data(), wrong.rows(), wrong.cols());
    CHECK_THROWS_NAMING(dln::train_batch(by_view, options), "jobs[3]: weights[1]");
    by_view[3].weights.clear();
    CHECK_THROWS_NAMING(dln::train_batch(by_view, options), "jobs[3]: net");
}

// A run split in two (through TrainResult::state()) ends bitwise where the uninterrupted run ends.
void test_resume_bitwise() {
    dln::Regression<double> problem(random_matrix(6, 30, 1), random_matrix(4, 30, 2));
    auto net = dln::Network<double>::orthogonal({6, 7, 7, 4}, 0.9, 3);
    for (auto kind : {dln::OptimizerKind::GD, dln::OptimizerKind::Momentum, dln::OptimizerKind::Adam, dln::OptimizerKind::RMSprop}) {
        dln::OptimizerConfig opt;
        opt.kind = kind;
        opt.lr = 1e-2;
        dln::TrainOptions options;
        options.steps = 40;
        options.record_every = 3;
        options.n_threads = 1;
        auto whole = dln::train(net, problem, opt, options);
        options.steps = 17;
        auto first = dln::train(net, problem, opt, options);
        options.steps = 40;
        auto state = first.state();
        auto second = dln::train(first.network, problem, opt, options, &state);
        CHECK(second.steps == whole.steps);
        CHECK(second.loss == whole.loss);
        for (Index l = 0; l < net.depth(); ++l) CHECK(second.network.weight(l) == whole.network.weight(l));
        state.optimizer.t += 1;
        CHECK_THROWS_NAMING(dln::train(first.network, problem, opt, options, &state), "state");
    }
}

// Observers see every accepted step and every update, in order, on the running thread.
void test_observer() {
    struct Counter : dln::Observer<double> {
        long long steps = 0, updates = 0, finished = -1;
        double last_loss = 0;
        void on_step(long long k, double loss, const std::vector<M>&, const std::vector<M>&) override {
            CHECK(k == steps);
            ++steps;
            last_loss = loss;
        }
        void on_update(long long k, const std::vector<M>& before, const std::vector<M>& after) override {
            CHECK(k == updates);
            CHECK(before[0] != after[0]);
            ++updates;
        }
        void on_finish(dln::Status, long long n) override { finished = n; }
    } counter;
    dln::Factorization<double> problem(random_matrix(5, 5, 1));
    auto net = dln::Network<double>::orthogonal({5, 5, 5}, 1.0, 3);
    dln::OptimizerConfig opt;
    opt.lr = 0.1;
    dln::TrainOptions options;
    options.steps = 12;
    auto res = dln::train<double>(net, problem, opt, options, nullptr, {&counter});
    CHECK(counter.steps == 13 && counter.updates == 12 && counter.finished == 12);
    CHECK(counter.last_loss == res.final_loss);
}

void test_no_allocation_per_step() {
#ifdef DLN_NO_MALLOC_COUNTER
    // Sanitizer builds own malloc; counting allocations there would measure ASan, not dln.
    std::cout << "skip no_allocation_per_step (sanitizer build: malloc counter disabled)\n";
    return;
#else
    dln::Completion<double> problem(random_matrix(12, 10, 1), M::Ones(12, 10));
    auto net = dln::Network<double>::orthogonal({10, 16, 16, 12}, 1.0, 2);
    // Heap allocations in 10 steps (evaluate + optimiser) after one warm-up evaluation. Every product of
    // these steps is within dln::kSmallProduct, so it runs on dln's own kernel: the count covers the
    // whole step and holds on any CPU and BLAS build (a library's scratch for small shapes cannot enter).
    static_assert(16 <= dln::kSmallProduct, "the layers below must stay on dln's own kernel");
    auto allocations_in_steps = [](const dln::Network<double>& net, const dln::Problem<double>& p,
                                   dln::OptimizerKind kind, dln::Activation act) {
        dln::OptimizerConfig opt;
        opt.kind = kind;
        opt.lr = 1e-2;
        std::vector<M> W = net.weights(), next = W, G = W;
        dln::Evaluator<double> ev(p, net.widths(), act);
        dln::Optimizer<double> optimizer(opt, W);
        const int previous = dln::set_gemm_threads(1);
        ev.evaluate(W, &G);
        const long before = dln_test::allocations.load();
        for (int k = 0; k < 10; ++k) {
            ev.evaluate(W, &G);
            optimizer.step(W, G, next);
            W.swap(next);
        }
        const long count = dln_test::allocations.load() - before;
        dln::set_gemm_threads(previous);
        return count;
    };
    for (auto kind : {dln::OptimizerKind::GD, dln::OptimizerKind::Adam})
        CHECK(allocations_in_steps(net, problem, kind, dln::Activation{}) == 0);
    // At the bound: layers of 64 (no fixed-size kernel) run on Eigen's blocked product, whose packing
    // buffers (at most 64 x 64) are on the stack.
    static_assert(64 <= dln::kSmallProduct, "the layers below must stay on dln's own kernel");
    const dln::Completion<double> at_bound(random_matrix(50, 40, 3), M::Ones(50, 40));
    const auto net64 = dln::Network<double>::orthogonal({40, 64, 64, 50}, 1.0, 4);
    for (auto kind : {dln::OptimizerKind::GD, dln::OptimizerKind::Adam})
        CHECK(allocations_in_steps(net64, at_bound, kind, dln::Activation{}) == 0);
    // The fused GD step (Evaluator::forward + descend: the trainer's path for GD without observers).
    auto allocations_in_descent = [&](const dln::Problem<double>& p, const M& X) {
        const auto first = dln::Network<double>::orthogonal({X.rows(), 16, 16, 12}, 1.0, 2);
        std::vector<M> W = first.weights();
        dln::Evaluator<double> ev(p, first.widths(), dln::Activation{}, 1, true);
        const std::vector<double> lr(W.size(), 1e-2);
        ev.forward(W);
        ev.descend(W, lr);
        const long before = dln_test::allocations.load();
        for (int k = 0; k < 10; ++k) {
            ev.forward(W);
            ev.descend(W, lr);
        }
        return dln_test::allocations.load() - before;
    };
    CHECK(allocations_in_descent(problem, M::Zero(10, 1)) == 0);
    const M Xc = random_matrix(10, 30, 5);  // N > d_in: the covariance form
    dln::Regression<double> covariance(Xc, random_matrix(12, 30, 6), dln::Reduction::Mean,
                                       dln::RegressionForm::Covariance);
    CHECK(allocations_in_descent(covariance, Xc) == 0);
    const M Xd = random_matrix(10, 7, 7);
    dln::Regression<double> data(Xd, random_matrix(12, 7, 8), dln::Reduction::Mean, dln::RegressionForm::Data);
    CHECK(allocations_in_descent(data, Xd) == 0);
    // The non-linear step (backpropagation through the activation) allocates nothing either.
    const M X = random_matrix(10, 7, 3);
    dln::Regression<double> regression(X, random_matrix(12, 7, 4));
    for (const char* name : {"relu", "leaky_relu", "tanh"})
        for (const dln::Problem<double>* p : {static_cast<const dln::Problem<double>*>(&problem),
                                              static_cast<const dln::Problem<double>*>(&regression)})
            CHECK(allocations_in_steps(net, *p, dln::OptimizerKind::GD, dln::Activation::parse(name)) == 0);
#endif
}

void test_validation() {
    CHECK_THROWS_NAMING(dln::Network<double>(std::vector<M>{}), "weights");
    CHECK_THROWS_NAMING(dln::Network<double>({M::Ones(3, 2), M::Ones(2, 2)}), "weights[1]");
    M bad = M::Ones(2, 2);
    bad(0, 1) = std::nan("");
    CHECK_THROWS_NAMING(dln::Network<double>({bad}), "weights[0]");
    CHECK_THROWS_NAMING(dln::Factorization<double>(bad), "target");
    CHECK_THROWS_NAMING(dln::Completion<double>(M::Ones(2, 2), M::Constant(2, 2, 0.5)), "mask");
    CHECK_THROWS_NAMING(dln::Completion<double>(M::Ones(2, 2), M::Ones(2, 3)), "mask");
    CHECK_THROWS_NAMING(dln::Regression<double>(M::Ones(2, 4), M::Ones(3, 5)), "Y");
    CHECK_THROWS_NAMING(dln::Network<double>::orthogonal({3}, 1.0, 0), "widths");
    CHECK_THROWS_NAMING(dln::Network<double>::orthogonal({3, 0}, 1.0, 0), "widths");
    dln::Factorization<double> f(M::Ones(3, 3));
    auto net = dln::Network<double>::orthogonal({3, 3}, 1.0, 0);
    dln::OptimizerConfig opt;
    dln::TrainOptions options;
    CHECK_THROWS_NAMING(dln::train(net, f, opt, options), "lr");
    opt.lr = 0.1;
    opt.lr_scale = {1.0, 2.0};
    CHECK_THROWS_NAMING(dln::train(net, f, opt, options), "lr_scale");
    opt.lr_scale.clear();
    options.record_every = 0;
    CHECK_THROWS_NAMING(dln::train(net, f, opt, options), "record_every");
    options.record_every = 1;
    auto wrong = dln::Network<double>::orthogonal({4, 3}, 1.0, 0);
    CHECK_THROWS_NAMING(dln::train(wrong, f, opt, options), "net");
    CHECK_THROWS_NAMING(dln::parse_optimizer("sgd"), "optimizer");
    CHECK_THROWS_NAMING(dln::Activation::parse("sigmoid"), "activation");
    CHECK_THROWS_NAMING(dln::Activation::parse("leaky_relu", -0.1), "negative_slope");
    CHECK_THROWS_NAMING(dln::Activation::parse("relu", std::nan("")), "negative_slope");
    dln::Activation bad_slope;
    bad_slope.negative_slope = INFINITY;
    CHECK_THROWS_NAMING(dln::Network<double>({M::Ones(2, 2)}, bad_slope), "negative_slope");
    // A non-linear network has no covariance form; asking for it is refused before any work.
    dln::Regression<double> cov(M::Ones(3, 8), M::Ones(3, 8), dln::Reduction::Mean, dln::RegressionForm::Covariance);
    auto relu = dln::Network<double>::orthogonal({3, 3, 3}, 1.0, 0, dln::Activation::parse("relu"));
    CHECK_THROWS_NAMING(dln::train(relu, cov, opt, options), "net");
    // The trained network keeps its activation.
    options.steps = 2;
    dln::Regression<double> data(M::Ones(3, 8), M::Ones(3, 8));
    CHECK(dln::train(relu, data, opt, options).network.activation().kind == dln::ActivationKind::Relu);
}

// Every name table (types.hpp's Named) read both ways, and its error message.
void test_named_enums() {
    for (auto r : {dln::Reduction::Mean, dln::Reduction::Sum}) CHECK(dln::parse_reduction(dln::to_string(r)) == r);
    for (auto k : {dln::OptimizerKind::GD, dln::OptimizerKind::Momentum, dln::OptimizerKind::Adam,
                   dln::OptimizerKind::RMSprop})
        CHECK(dln::parse_optimizer(dln::to_string(k)) == k);
    for (auto f : {dln::RegressionForm::Auto, dln::RegressionForm::Covariance, dln::RegressionForm::Data})
        CHECK(dln::parse_regression_form(dln::to_string(f)) == f);
    for (auto m : {dln::SubspaceMethod::Auto, dln::SubspaceMethod::Closed, dln::SubspaceMethod::Gradient})
        CHECK(dln::parse_subspace_method(dln::to_string(m)) == m);
    CHECK(std::string(dln::to_string(dln::Status::MaxSteps)) == "max_steps");
    CHECK(std::string(dln::to_string(static_cast<dln::Status>(17))) == "unknown");
    CHECK(dln::parse_init("uniform") == dln::InitKind::Uniform);
    CHECK_THROWS_NAMING(dln::parse_init("Orthogonal"), "init");
    try {
        dln::parse_optimizer("sgd");
        CHECK(false);
    } catch (const std::invalid_argument& e) {
        CHECK(std::string(e.what()) == "optimizer: expected 'gd', 'momentum', 'adam' or 'rmsprop', got 'sgd'");
    }
    try {
        dln::parse_reduction("");
        CHECK(false);
    } catch (const std::invalid_argument& e) {
        CHECK(std::string(e.what()) == "reduction: expected 'mean' or 'sum', got ''");
    }
}

}  // namespace

int main() {
    const std::vector<std::pair<const char*, std::function<void()>>> tests = {
        {"gradients", test_gradients},
        {"nonlinear_gradients", test_nonlinear_gradients},
        {"products_per_step", test_products_per_step},
        {"orthogonal_init", test_orthogonal_init},
        {"parsimony", test_parsimony},
        {"training_semantics", test_training_semantics},
        {"bitwise_reproducible", test_bitwise_reproducible},
        {"batch_jobs_from_views", test_batch_jobs_from_views},
        {"resume_bitwise", test_resume_bitwise},
        {"observer", test_observer},
        {"no_allocation_per_step", test_no_allocation_per_step},
        {"validation", test_validation},
        {"named_enums", test_named_enums},
    };
    return dln_test::run_tests(tests);
}
