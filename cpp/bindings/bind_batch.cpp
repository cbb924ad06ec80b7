#include "bindings.hpp"

namespace dln::py_bind {

namespace {

// The settings that runs of a batch share: everything train takes but the weights (bound as BatchSpec64 /
// BatchSpec32). Python builds one per distinct (problem, network shape, keyword arguments) and hands
// train_batch the weights of every run with the index of its spec, so the per-run cost is the weights only.
template <class T>
struct BatchSpec {
    const BoundProblem<T>* problem = nullptr;  // kept alive by the spec (py::keep_alive)
    OptimizerConfig optimizer;
    TrainOptions options;  // steps, tol, record_every (the batch sets the threads)
    Activation activation;
    std::optional<TrackSpec> track;  // each run gets its own tracker from it
    Bases<T> theory_right, theory_left;
};

template <class T>
void bind_dtype(py::module_& m, const std::string& suffix) {
    using BS = BatchSpec<T>;
    py::class_<BS>(m, ("BatchSpec" + suffix).c_str(),
                   "The settings shared by runs of train_batch: the arguments of train but the weights.")
        .def(py::init([](const BoundProblem<T>& problem, OptimizerConfig optimizer, TrainOptions options,
                         const Activation& activation, std::optional<TrackSpec> track,
                         Bases<T> theory_right, Bases<T> theory_left) {
                 return BS{&problem,       std::move(optimizer), options,
                           activation,           std::move(track),
                           std::move(theory_right), std::move(theory_left)};
             }),
             py::keep_alive<1, 2>(), py::arg("problem"), py::arg("optimizer"), py::arg("options"),
             py::arg_v("activation", Activation{}, "Activation()"), py::arg("track") = py::none(),
             py::arg("theory_right") = py::none(), py::arg("theory_left") = py::none());

    m.def(
        "train_batch",
        [](const std::vector<const BS*>& specs, const std::vector<std::vector<CArray<T>>>& weights,
           const std::vector<std::size_t>& spec_of, int n_threads, py::object progress) {
            if (spec_of.size() != weights.size())
                invalid("spec_of", "needs one spec index per run: " + std::to_string(weights.size()) + ", got " +
                                       std::to_string(spec_of.size()));
            for (std::size_t s = 0; s < specs.size(); ++s)
                if (specs[s] == nullptr) invalid("specs[" + std::to_string(s) + "]", "None is not a spec");
            // Networks are built (and checked) here with the GIL held; problems are shared, not copied.
            std::vector<Network<T>> nets;
            nets.reserve(weights.size());
            std::vector<Job<T>> jobs(weights.size());
            // One tracker per run, built here with the GIL held; each is used by its run's thread only.
            std::vector<std::unique_ptr<TrackObserver<T>>> trackers(weights.size());
            for (std::size_t i = 0; i < weights.size(); ++i) {
                const std::string name = "jobs[" + std::to_string(i) + "]";
                if (spec_of[i] >= specs.size())
                    invalid(name, "spec index " + std::to_string(spec_of[i]) + " outside the " +
                                      std::to_string(specs.size()) + " specs");
                const BS& b = *specs[spec_of[i]];
                try {
                    std::vector<Mat<T>> layers;
                    layers.reserve(weights[i].size());
                    for (const auto& w : weights[i]) layers.emplace_back(view_of(w, "weights"));
                    nets.emplace_back(std::move(layers), b.activation);
                    jobs[i].optimizer = b.optimizer;
                    if (b.track) {
                        trackers[i] = make_tracker<T>(*b.track, b.theory_right, b.theory_left, nets.back().widths());
                        jobs[i].observers.push_back(trackers[i].get());
                    }
                } catch (const std::invalid_argument& e) {
                    throw std::invalid_argument(name + ": " + e.what());
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
        py::arg("specs"), py::arg("weights"), py::arg("spec_of"), py::arg("n_threads"), py::arg("progress") = py::none(),
        "Run independent jobs (all of this dtype) on a pool of `n_threads` threads (0: all cores), each with\n"
        "single-threaded products, with the GIL released; results in job order. Run i starts from\n"
        "weights[i] with the settings specs[spec_of[i]]. A bad job raises ValueError starting with\n"
        "'jobs[i]:' before any runs.");
}

}  // namespace

void bind_batch(py::module_& m) {
    bind_dtype<double>(m, "64");
    bind_dtype<float>(m, "32");
}

}  // namespace dln::py_bind
