#include "bindings.hpp"

namespace dln::py_bind {

namespace {

// One job of a batch as the Python layer builds it (bound as BatchJob64 / BatchJob32).
template <class T>
struct BatchJob {
    const BoundProblem<T>* problem = nullptr;  // kept alive by the job (py::keep_alive)
    std::vector<CArray<T>> weights;
    OptimizerConfig optimizer;
    TrainOptions options;  // steps, tol, record_every (the batch sets the threads)
    std::string activation = "linear";
    double negative_slope = 0.01;
    std::optional<TrackSpec> track;
    Bases<T> theory_right, theory_left;
};

template <class T>
void bind_dtype(py::module_& m, const std::string& suffix) {
    using BJ = BatchJob<T>;
    py::class_<BJ>(m, ("BatchJob" + suffix).c_str(), "One run of train_batch: the arguments of train.")
        .def(py::init([](const BoundProblem<T>& problem, std::vector<CArray<T>> weights, OptimizerConfig optimizer,
                         TrainOptions options, std::string activation, double negative_slope,
                         std::optional<TrackSpec> track, Bases<T> theory_right, Bases<T> theory_left) {
                 return BJ{&problem,          std::move(weights), std::move(optimizer),    options,
                           std::move(activation), negative_slope, std::move(track), std::move(theory_right),
                           std::move(theory_left)};
             }),
             py::keep_alive<1, 2>(), py::arg("problem"), py::arg("weights"), py::arg("optimizer"), py::arg("options"),
             py::arg("activation") = "linear", py::arg("negative_slope") = 0.01, py::arg("track") = py::none(),
             py::arg("theory_right") = py::none(), py::arg("theory_left") = py::none());

    m.def(
        "train_batch",
        [](const std::vector<const BJ*>& batch, int n_threads, py::object progress) {
            // Networks are built (and checked) here with the GIL held; problems are shared, not copied.
            std::vector<Network<T>> nets;
            nets.reserve(batch.size());
            std::vector<Job<T>> jobs(batch.size());
            // One tracker per job, built here with the GIL held; each is used by its job's thread only.
            std::vector<std::unique_ptr<TrackObserver<T>>> trackers(batch.size());
            for (std::size_t i = 0; i < batch.size(); ++i) {
                if (batch[i] == nullptr) invalid("jobs[" + std::to_string(i) + "]", "None is not a job");
                const BJ& b = *batch[i];
                try {
                    std::vector<Mat<T>> weights;
                    for (const auto& w : b.weights) weights.emplace_back(view_of(w, "weights"));
                    nets.emplace_back(std::move(weights), Activation::parse(b.activation, b.negative_slope));
                    jobs[i].optimizer = b.optimizer;
                    if (b.track) {
                        trackers[i] = make_tracker<T>(*b.track, b.theory_right, b.theory_left, nets.back().widths());
                        jobs[i].observers.push_back(trackers[i].get());
                    }
                } catch (const std::invalid_argument& e) {
                    throw std::invalid_argument("jobs[" + std::to_string(i) + "]: " + e.what());
                }
                jobs[i].problem = b.problem->problem.get();
                jobs[i].options.steps = b.options.steps;
                jobs[i].options.tol = b.options.tol;
                jobs[i].options.record_every = b.options.record_every;
            }
            for (std::size_t i = 0; i < jobs.size(); ++i) jobs[i].net = &nets[i];
            std::atomic<bool> stop{false};
            std::atomic<long long> done{0};
            BatchOptions options;
            options.n_threads = n_threads;
            options.stop = &stop;
            options.progress = &done;
            auto results = run_interruptible(stop, done, progress, [&] { return dln::train_batch<T>(jobs, options); });
            std::vector<RunResult<T>> out;
            out.reserve(results.size());
            for (std::size_t i = 0; i < results.size(); ++i) {
                out.push_back(run_result(std::move(results[i])));
                if (trackers[i]) out.back().svd = std::move(trackers[i]->record());
            }
            return out;
        },
        py::arg("jobs"), py::arg("n_threads"), py::arg("progress") = py::none(),
        "Run independent jobs (all of this dtype) on a pool of `n_threads` threads (0: all cores), each with\n"
        "single-threaded products, with the GIL released; results in job order. A bad job raises ValueError\n"
        "starting with 'jobs[i]:' before any runs.");
}

}  // namespace

void bind_batch(py::module_& m) {
    bind_dtype<double>(m, "64");
    bind_dtype<float>(m, "32");
}

}  // namespace dln::py_bind
