// Train a deep matrix factorisation with the dln C++ core and print its numbers; the same calls from
// Python print the same digits (tests/test_cpp.py compares them).
#include <dln/dln.hpp>

#include <Eigen/SVD>

#include <cmath>
#include <cstdio>

int main() {
    using M = dln::Mat<double>;
    const dln::Index d = 40, r = 3;

    // Target: a rank-3 product of small integer factors (exact in any language), divided by d.
    M a(d, r), b(r, d);
    for (dln::Index i = 0; i < d; ++i)
        for (dln::Index k = 0; k < r; ++k) {
            a(i, k) = static_cast<double>((7 * i + 3 * k) % 11 - 5);
            b(k, i) = static_cast<double>((5 * i + 2 * k) % 13 - 6);
        }
    M target = (a * b) / static_cast<double>(d);

    dln::Factorization<double> problem(target);  // owns its copy; mean reduction
    auto net = dln::Network<double>::orthogonal({d, d, d, d}, 0.05, 1);  // L = 3, eps = 0.05

    dln::OptimizerConfig gd;
    gd.lr = 20.0;
    dln::TrainOptions options;
    options.steps = 2000;
    options.tol = 1e-9;
    options.record_every = 50;
    options.n_threads = 1;
    const auto result = dln::train(net, problem, gd, options);

    std::printf("status %s\n", dln::to_string(result.status));
    std::printf("steps %lld\n", result.steps);
    std::printf("final_loss %.17g\n", result.final_loss);
    for (std::size_t k = 0; k < result.loss.size(); ++k) std::printf("loss[%zu] %.17g\n", k, result.loss[k]);
    // Law of parsimony: d - 2r singular values of W_1 stay equal (at rho(t)); 2r move, up or down.
    const Eigen::VectorXd s = Eigen::JacobiSVD<Eigen::MatrixXd>(result.network.weight(0)).singularValues();
    const double rho = s(d / 2);  // the median lies in the bulk since d - 2r > d / 2
    int bulk = 0;
    for (dln::Index i = 0; i < d; ++i) bulk += std::abs(s(i) - rho) <= 1e-12;
    std::printf("W_1: %d of %lld singular values equal rho = %.12f, %lld moved\n", bulk, static_cast<long long>(d),
                rho, static_cast<long long>(d - bulk));
    return result.status == dln::Status::Converged ? 0 : 1;
}
