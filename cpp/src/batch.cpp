#include "dln/batch.hpp"

#include <algorithm>
#include <exception>
#include <numeric>
#include <optional>
#include <thread>

namespace dln {

template <class T>
std::vector<TrainResult<T>> train_batch(const std::vector<Job<T>>& jobs, const BatchOptions& options) {
    if (options.n_threads < 0)
        invalid("n_threads", "must be >= 1 (or 0 for all cores), got " + std::to_string(options.n_threads));
    std::vector<double> cost(jobs.size());
    for (std::size_t i = 0; i < jobs.size(); ++i) {
        const auto& job = jobs[i];
        try {
            if (!job.net && job.weights.empty()) invalid("net", "missing (no network and no weights)");
            if (!job.problem) invalid("problem", "missing");
            if (!job.net) {
                check_shapes(job.weights);
                job.activation.validate();
            }
            const std::vector<Index> widths = job.net ? job.net->widths() : widths_of(job.weights);
            job.options.validate();
            job.optimizer.validate(static_cast<Index>(widths.size()) - 1);
            job.problem->check_network(widths);
            job.problem->check_activation(job.net ? job.net->activation() : job.activation);
            cost[i] = job.problem->flops_per_step(widths) * static_cast<double>(job.options.steps + 1);
        } catch (const std::invalid_argument& e) {
            throw std::invalid_argument("jobs[" + std::to_string(i) + "]: " + e.what());
        }
    }
    std::vector<std::size_t> order(jobs.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return cost[a] > cost[b]; });

    const int pool = std::max(1, std::min<int>(options.n_threads > 0 ? options.n_threads : default_threads(),
                                               static_cast<int>(jobs.size())));
    // One job per thread, products single-threaded: set once here, not per job (the setting is global).
    std::optional<GemmThreadLease> lease(std::in_place, 1);
    std::vector<std::optional<TrainResult<T>>> results(jobs.size());
    std::vector<std::exception_ptr> errors(jobs.size());
    std::atomic<std::size_t> next{0};
    auto worker = [&] {
        for (;;) {
            const std::size_t slot = next.fetch_add(1);
            if (slot >= order.size()) return;
            const std::size_t i = order[slot];
            TrainOptions o = jobs[i].options;
            o.n_threads = 1;
            o.manage_threads = false;
            o.stop = options.stop;
            o.progress = options.progress;
            const Job<T>& job = jobs[i];
            try {
                if (job.net)
                    results[i].emplace(train(*job.net, *job.problem, job.optimizer, o,
                                             static_cast<const TrainState<T>*>(nullptr), job.observers));
                else
                    results[i].emplace(train(job.weights, job.activation, *job.problem, job.optimizer, o,
                                             static_cast<const TrainState<T>*>(nullptr), job.observers));
            } catch (...) {
                errors[i] = std::current_exception();
            }
        }
    };
    std::vector<std::thread> threads;
    for (int t = 1; t < pool; ++t) threads.emplace_back(worker);
    worker();
    for (auto& t : threads) t.join();
    lease.reset();

    for (std::size_t i = 0; i < jobs.size(); ++i) {
        if (!errors[i]) continue;
        try {
            std::rethrow_exception(errors[i]);
        } catch (const std::invalid_argument& e) {
            throw std::invalid_argument("jobs[" + std::to_string(i) + "]: " + e.what());
        }
    }
    std::vector<TrainResult<T>> out;
    out.reserve(jobs.size());
    for (auto& r : results) out.push_back(std::move(*r));
    return out;
}

template std::vector<TrainResult<float>> train_batch(const std::vector<Job<float>>&, const BatchOptions&);
template std::vector<TrainResult<double>> train_batch(const std::vector<Job<double>>&, const BatchOptions&);

}  // namespace dln
