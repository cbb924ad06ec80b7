#include "bindings.hpp"

namespace dln::py_bind {

namespace {

// One job as the Python layer sends it: (problem, weights, optimizer, lr, steps, tol, record_every,
// momentum, beta1, beta2, eps, decay, lr_scale, activation, negative_slope, track), track being the
// TrackSpec dict or None.
template <class T>
using JobTuple = std::tuple<const BoundProblem<T>*, std::vector<Mat<T>>, std::string, double, long long,
                            std::optional<double>, long long, double, double, double, double, double,
                            std::vector<double>, std::string, double, py::object>;

template <class T>
void bind_dtype(py::module_& m, const std::string& suffix) {
    m.def(
        ("train_batch_" + suffix).c_str(),
        [](std::vector<JobTuple<T>> tuples, int n_threads, py::object progress) {
            // Networks are built (and checked) here with the GIL held; problems are shared, not copied.
            std::vector<Network<T>> nets;
            nets.reserve(tuples.size());
            std::vector<Job<T>> jobs(tuples.size());
            // One tracker per job, built here with the GIL held; each is used by its job's thread only.
            std::vector<std::unique_ptr<TrackObserver<T>>> trackers(tuples.size());
            for (std::size_t i = 0; i < tuples.size(); ++i) {
                auto& [problem, weights, optimizer, lr, steps, tol, record_every, momentum, b1, b2, eps, decay,
                       lr_scale, activation, negative_slope, track] = tuples[i];
                try {
                    nets.emplace_back(std::move(weights), Activation::parse(activation, negative_slope));
                    jobs[i].optimizer =
                        optimizer_config(optimizer, lr, momentum, b1, b2, eps, decay, std::move(lr_scale));
                    if (!track.is_none()) {
                        const py::dict td = py::cast<py::dict>(track);
                        trackers[i] = std::make_unique<TrackObserver<T>>(track_spec_of(td));
                        if (td.contains("theory_right"))
                            trackers[i]->set_theory(py::cast<std::vector<Mat<T>>>(td["theory_right"]),
                                                    py::cast<std::vector<Mat<T>>>(td["theory_left"]), nets.back().widths());
                        jobs[i].observers.push_back(trackers[i].get());
                    }
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
            for (std::size_t i = 0; i < results.size(); ++i) {
                py::dict d = to_dict(std::move(results[i]));
                if (trackers[i]) d["svd"] = track_record_dict(std::move(trackers[i]->record()));
                out.append(d);
            }
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
