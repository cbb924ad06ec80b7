#include "dln/trainer.hpp"

#include "dln/loop.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <thread>

namespace dln {

int default_threads() {
    const unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : static_cast<int>(n);
}

void TrainOptions::validate() const {
    if (steps < 0) invalid("steps", "must be >= 0, got " + std::to_string(steps));
    if (record_every < 1) invalid("record_every", "must be >= 1, got " + std::to_string(record_every));
    if (tol && !(std::isfinite(*tol) && *tol >= 0.0))
        invalid("tol", "must be finite and >= 0, got " + std::to_string(*tol));
    if (n_threads < 0) invalid("n_threads", "must be >= 1 (or 0 for all cores), got " + std::to_string(n_threads));
    if (!(divergence_factor > 1.0)) invalid("divergence_factor", "must be > 1, got " + std::to_string(divergence_factor));
}

template <class T>
int effective_threads(const Problem<T>& problem, const std::vector<Index>& widths, int requested) {
    const int n = requested > 0 ? requested : default_threads();
    const Index products = problem.products_per_step(widths);
    // Splitting a product smaller than ~256^3 across threads costs more in wake-ups than it saves,
    // and far more on a loaded machine, so such runs stay on one thread.
    const double per_product = products > 0 ? problem.flops_per_step(widths) / static_cast<double>(products) : 0.0;
    return per_product < 2.0 * 256.0 * 256.0 * 256.0 ? 1 : n;
}

namespace {
template <class T>
TrainResult<T> run(const std::vector<ConstView<T>>& weights, bool check_finite, const Activation& activation,
                   const Problem<T>& problem, const OptimizerConfig& opt, const TrainOptions& options,
                   const TrainState<T>* resume, const std::vector<Observer<T>*>& observers) {
    // Everything is checked before any work starts (finiteness during the copy of the weights).
    activation.validate();
    check_shapes(weights);
    const std::vector<Index> widths = widths_of(weights);
    options.validate();
    opt.validate(static_cast<Index>(weights.size()));
    problem.check_network(widths);
    problem.check_activation(activation);
    detail::check_resume(resume, options);

    const int threads = options.manage_threads ? effective_threads(problem, widths, options.n_threads)
                                               : std::max(1, options.n_threads);
    // Restores the GEMM thread count when the run ends, however it ends; runs on other threads wait.
    std::optional<GemmThreadLease> lease;
    if (options.manage_threads) lease.emplace(threads);

    // Plain GD takes the fused step (Evaluator::descend), which needs its buffers, unless an observer
    // reads more than the weights.
    const bool descent = opt.kind == OptimizerKind::GD && reads_weights_only(observers);
    Evaluator<T> evaluator(problem, widths, activation, threads, descent);
    return detail::run_loop(evaluator, weights, check_finite, activation, opt, options, resume, observers,
                            evaluator.form(), threads);
}
}  // namespace

template <class T>
TrainResult<T> train(const Network<T>& net, const Problem<T>& problem, const OptimizerConfig& opt,
                     const TrainOptions& options, const TrainState<T>* resume,
                     const std::vector<Observer<T>*>& observers) {
    return run(views_of(net.weights()), false, net.activation(), problem, opt, options, resume, observers);
}

template <class T>
TrainResult<T> train(const std::vector<ConstView<T>>& weights, const Activation& activation, const Problem<T>& problem,
                     const OptimizerConfig& opt, const TrainOptions& options, const TrainState<T>* resume,
                     const std::vector<Observer<T>*>& observers) {
    return run(weights, true, activation, problem, opt, options, resume, observers);
}

template int effective_threads(const Problem<float>&, const std::vector<Index>&, int);
template int effective_threads(const Problem<double>&, const std::vector<Index>&, int);
template TrainResult<float> train(const Network<float>&, const Problem<float>&, const OptimizerConfig&,
                                  const TrainOptions&, const TrainState<float>*, const std::vector<Observer<float>*>&);
template TrainResult<double> train(const Network<double>&, const Problem<double>&, const OptimizerConfig&,
                                   const TrainOptions&, const TrainState<double>*,
                                   const std::vector<Observer<double>*>&);
template TrainResult<float> train(const std::vector<ConstView<float>>&, const Activation&, const Problem<float>&,
                                  const OptimizerConfig&, const TrainOptions&, const TrainState<float>*,
                                  const std::vector<Observer<float>*>&);
template TrainResult<double> train(const std::vector<ConstView<double>>&, const Activation&, const Problem<double>&,
                                   const OptimizerConfig&, const TrainOptions&, const TrainState<double>*,
                                   const std::vector<Observer<double>*>&);

}  // namespace dln
