#include "bindings.hpp"

namespace dln::py_bind {

namespace {

// One job as the Python layer sends it: (problem, weights, optimizer, lr, steps, tol, record_every,
// momentum, beta1, beta2, eps, decay, lr_scale, activation, negative_slope).
template <class T>
using JobTuple = std::tuple<const BoundProblem<T>*, std::vector<Mat<T>>, std::string, double, long long,
                            std::optional<double>, long long, double, double, double, double, double,
                            std::vector<double>, std::string, double>;

template <class T>
void bind_dtype(py::module_& m, const std::string& suffix) {
    m.def(
        ("train_batch_" + suffix).c_str(),
        [](std::vector<JobTuple<T>> tuples, int n_threads, py::object progress) {
            // Networks are built (and checked) here with the GIL held; problems are shared, not copied.
            std::vector<Network<T>> nets;
            nets.reserve(tuples.size());
            std::vector<Job<T>> jobs(tuples.size());
            for (std::size_t i = 0; i < tuples.size(); ++i) {
                auto& [problem, weights, optimizer, lr, steps, tol, record_every, momentum, b1, b2, eps, decay,
                       lr_scale, activation, negative_slope] = tuples[i];
                try {
                    nets.emplace_back(std::move(weights), Activation::parse(activation, negative_slope));
                    jobs[i].optimizer =
                        optimizer_config(optimizer, lr, momentum, b1, b2, eps, decay, std::move(lr_scale));
                } catch (const std::invalid_argument& e) {
                    throw std::invalid_argument("jobs[" + std::to_string(i) + "]: " + e.what());
                }
                jobs[i].problem = problem->problem.get();
                jobs[i].options.steps = steps;
                jobs[i].options.tol = tol;
                jobs[i].options.record_every = record_every;
            }
            for (std::size_t i = 0; i < jobs.size(); ++i) jobs[i].net = &nets[i];
            std::atomic<bool> stop{false};
            std::atomic<long long> done{0};
            BatchOptions options;
            options.n_threads = n_threads;
            options.stop = &stop;
            options.progress = &done;
            auto results = run_interruptible(stop, done, progress, [&] { return train_batch<T>(jobs, options); });
            py::list out;
            for (auto& r : results) out.append(to_dict(std::move(r)));
            return out;
        },
        py::arg("jobs"), py::arg("n_threads"), py::arg("progress") = py::none());
}

}  // namespace

void bind_batch(py::module_& m) {
    bind_dtype<double>(m, "f64");
    bind_dtype<float>(m, "f32");
}

}  // namespace dln::py_bind
