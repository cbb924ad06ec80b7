#include "bindings.hpp"

namespace dln::py_bind {

namespace {

// The settings that runs of a batch share: everything train takes but the weights (bound as BatchSpec64 /
// BatchSpec32). Python builds one per distinct (problem, network shape, keyword arguments) and hands
// train_batch the weights of its runs, so the per-run cost is the weights only.
template <class T>
struct BatchSpec {
    const BoundProblem<T>* problem = nullptr;  // kept alive by the spec (py::keep_alive)
    OptimizerConfig optimizer;
    TrainOptions options;  // steps, tol, record_every (the batch sets the threads)
    Activation activation;
    std::optional<TrackSpec> track;  // each run gets its own tracker from it
    Bases<T> theory_right, theory_left;
};

// The ends of the runs of one spec (bound as BatchRuns64 / BatchRuns32): one Python object per spec,
// its fields arrays over the runs, not one result object per run.
template <class T>
struct BatchRuns {
    std::vector<std::string> status;
    py::array_t<long long> steps;
    py::array_t<double> final_loss, seconds;
    py::array_t<int> n_threads;
    py::array_t<double> loss;
    py::array_t<long long> loss_offsets;
    std::vector<std::vector<py::array_t<T>>> weights;  // [run][layer], each owning its run's matrix
    std::vector<std::string> message, form;
    std::vector<std::optional<TrackRecord<T>>> svd;
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

    using R = BatchRuns<T>;
    py::class_<R>(m, ("BatchRuns" + suffix).c_str(),
                  "The ends of the runs of one spec of train_batch: entry j of every field is run j's.")
        .def_readonly("status", &R::status, "names: converged, max_steps, diverged or interrupted")
        .def_readonly("steps", &R::steps, "updates applied to reach each run's weights")
        .def_readonly("final_loss", &R::final_loss)
        .def_readonly("seconds", &R::seconds)
        .def_readonly("n_threads", &R::n_threads, "threads the products used")
        .def_readonly("loss", &R::loss, "the loss histories, one after another")
        .def_readonly("loss_offsets", &R::loss_offsets, "run j's history is loss[loss_offsets[j]:loss_offsets[j + 1]]")
        .def_readonly("weights", &R::weights, "per run, the trained weights (one array per layer)")
        .def_readonly("message", &R::message, "what happened, in words")
        .def_readonly("form", &R::form, "the regression form used (auto for other problems)")
        .def_readonly("svd", &R::svd, "per run, the SVD record of a tracked run, else None");

    m.def(
        "train_batch",
        [](const std::vector<const BS*>& specs, const std::vector<std::vector<std::vector<CArray<T>>>>& weights,
           int n_threads, py::object progress) {
            if (weights.size() != specs.size())
                invalid("weights", "needs one list of runs per spec: " + std::to_string(specs.size()) + ", got " +
                                       std::to_string(weights.size()));
            // Run k of the batch is run j of spec s, in spec order. Its arrays are read in place: the job
            // copies them once into its run, checking finiteness.
            std::vector<std::size_t> first(specs.size() + 1, 0);
            for (std::size_t s = 0; s < specs.size(); ++s) {
                if (specs[s] == nullptr) invalid("specs[" + std::to_string(s) + "]", "None is not a spec");
                first[s + 1] = first[s] + weights[s].size();
            }
            const std::size_t total = first.back();
            std::vector<Job<T>> jobs(total);
            std::vector<R> out(specs.size());
            // One tracker per run, built here with the GIL held; each is used by its run's thread only.
            std::vector<std::unique_ptr<TrackObserver<T>>> trackers(total);
            for (std::size_t s = 0; s < specs.size(); ++s) {
                const BS& b = *specs[s];
                for (std::size_t k = first[s]; k < first[s + 1]; ++k) {
                    Job<T>& job = jobs[k];
                    try {
                        for (const auto& w : weights[s][k - first[s]]) job.weights.push_back(view_of(w, "weights"));
                    } catch (const std::invalid_argument& e) {
                        throw std::invalid_argument("jobs[" + std::to_string(k) + "]: " + e.what());
                    }
                    job.activation = b.activation;
                    job.problem = b.problem->problem.get();
                    job.optimizer = b.optimizer;
                    job.options.steps = b.options.steps;
                    job.options.tol = b.options.tol;
                    job.options.record_every = b.options.record_every;
                    if (b.track) {
                        try {
                            check_shapes(job.weights);
                            trackers[k] = make_tracker<T>(*b.track, b.theory_right, b.theory_left, widths_of(job.weights));
                        } catch (const std::invalid_argument& e) {
                            throw std::invalid_argument("jobs[" + std::to_string(k) + "]: " + e.what());
                        }
                        job.observers.push_back(trackers[k].get());
                    }
                }
            }
            std::atomic<bool> stop{false};
            std::atomic<long long> done{0};
            BatchOptions options;
            options.n_threads = n_threads;
            options.stop = &stop;
            options.progress = &done;
            auto results = run_interruptible(stop, done, progress, [&] { return dln::train_batch<T>(jobs, options); });
            for (std::size_t s = 0; s < specs.size(); ++s) {
                R& o = out[s];
                const std::size_t runs = first[s + 1] - first[s];
                std::size_t history = 0;
                for (std::size_t k = first[s]; k < first[s + 1]; ++k) history += results[k].loss.size();
                o.steps = py::array_t<long long>(static_cast<py::ssize_t>(runs));
                o.final_loss = py::array_t<double>(static_cast<py::ssize_t>(runs));
                o.seconds = py::array_t<double>(static_cast<py::ssize_t>(runs));
                o.n_threads = py::array_t<int>(static_cast<py::ssize_t>(runs));
                o.loss = py::array_t<double>(static_cast<py::ssize_t>(history));
                o.loss_offsets = py::array_t<long long>(static_cast<py::ssize_t>(runs + 1));
                long long* offsets = o.loss_offsets.mutable_data();
                double* loss = o.loss.mutable_data();
                offsets[0] = 0;
                for (std::size_t j = 0; j < runs; ++j) {
                    TrainResult<T>& r = results[first[s] + j];
                    o.status.emplace_back(to_string(r.status));
                    o.steps.mutable_data()[j] = r.steps;
                    o.final_loss.mutable_data()[j] = r.final_loss;
                    o.seconds.mutable_data()[j] = r.seconds;
                    o.n_threads.mutable_data()[j] = r.n_threads;
                    std::copy(r.loss.begin(), r.loss.end(), loss + offsets[j]);
                    offsets[j + 1] = offsets[j] + static_cast<long long>(r.loss.size());
                    o.message.push_back(std::move(r.message));
                    o.form.emplace_back(to_string(r.form));
                    o.weights.push_back(numpy_weights(std::move(r.network), true));
                    auto& tracker = trackers[first[s] + j];
                    if (tracker) o.svd.emplace_back(std::move(tracker->record()));
                    else o.svd.emplace_back(std::nullopt);
                }
            }
            return out;
        },
        py::arg("specs"), py::arg("weights"), py::arg("n_threads"), py::arg("progress") = py::none(),
        "Run independent jobs (all of this dtype) on a pool of `n_threads` threads (0: all cores), each with\n"
        "single-threaded products, with the GIL released. Spec s runs once from each network in weights[s]\n"
        "(a list of runs, each a list of layer arrays); one BatchRuns per spec holds their results. A bad\n"
        "run raises ValueError starting with 'jobs[k]:' (k counting the runs of all specs in order) before\n"
        "any runs.");
}

}  // namespace

void bind_batch(py::module_& m) {
    bind_dtype<double>(m, "64");
    bind_dtype<float>(m, "32");
}

}  // namespace dln::py_bind
