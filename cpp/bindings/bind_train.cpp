// dln.train's way into the core: the resume state and the result as classes, and `train`, one
// overload per dtype (pybind11 picks it by the problem's class: Problem64 or Problem32).
#include "bindings.hpp"

namespace dln::py_bind {

template <class T>
RunResult<T> run_result(TrainResult<T>&& r) {
    RunResult<T> out;
    out.status = r.status;
    out.steps = r.steps;
    out.loss = py::array_t<double>(static_cast<py::ssize_t>(r.loss.size()), r.loss.data());
    out.final_loss = r.final_loss;
    out.seconds = r.seconds;
    out.message = std::move(r.message);
    out.form = r.form;
    out.n_threads = r.n_threads;
    // What a checkpoint needs to continue the run bit for bit.
    out.state = TrainState<T>{r.steps, r.initial_loss, std::move(r.loss), std::move(r.optimizer_state)};
    out.weights = numpy_weights(std::move(r.network), false);
    return out;
}

template RunResult<float> run_result(TrainResult<float>&&);
template RunResult<double> run_result(TrainResult<double>&&);

namespace {

// An argument that may be None, passed by reference (a state holds the optimiser's buffers: no copy).
template <class C>
using Optional = std::optional<std::reference_wrapper<const C>>;

template <class T>
void bind_dtype(py::module_& m, const std::string& suffix) {
    using S = TrainState<T>;
    py::class_<S>(m, ("TrainState" + suffix).c_str(),
                  "Where a resumed run starts: the step, the initial loss (the divergence test compares with it), "
                  "the loss history so far and the optimiser's state (dln/trainer.hpp).")
        .def(py::init([](long long step, double initial_loss, std::vector<double> loss, long long optimizer_t,
                         std::vector<Mat<T>> optimizer_m, std::vector<Mat<T>> optimizer_v) {
                 return S{step, initial_loss, std::move(loss),
                          OptimizerState<T>{optimizer_t, std::move(optimizer_m), std::move(optimizer_v)}};
             }),
             py::arg("step"), py::arg("initial_loss"), py::arg("loss"), py::arg("optimizer_t"),
             py::arg("optimizer_m"), py::arg("optimizer_v"))
        .def_readwrite("step", &S::step)
        .def_readwrite("initial_loss", &S::initial_loss)
        .def_readwrite("loss", &S::loss)
        .def_property(
            "optimizer_t", [](const S& s) { return s.optimizer.t; }, [](S& s, long long t) { s.optimizer.t = t; },
            "updates the optimiser has taken")
        // Read as NumPy views of the state (no copy), for a checkpoint to write.
        .def_property(
            "optimizer_m", [](const S& s) -> const std::vector<Mat<T>>& { return s.optimizer.m; },
            [](S& s, std::vector<Mat<T>> m) { s.optimizer.m = std::move(m); }, py::return_value_policy::reference_internal,
            "momentum buffer (momentum) or first moment (adam), per layer; empty otherwise")
        .def_property(
            "optimizer_v", [](const S& s) -> const std::vector<Mat<T>>& { return s.optimizer.v; },
            [](S& s, std::vector<Mat<T>> v) { s.optimizer.v = std::move(v); }, py::return_value_policy::reference_internal,
            "second moment (adam, rmsprop), per layer; empty otherwise");

    using R = RunResult<T>;
    py::class_<R>(m, ("TrainResult" + suffix).c_str(), "The end of a run (dln/trainer.hpp TrainResult).")
        .def_readonly("status", &R::status)
        .def_readonly("steps", &R::steps, "updates applied to reach `weights`")
        .def_readonly("loss", &R::loss, "loss history: loss[k] after k * record_every updates")
        .def_readonly("weights", &R::weights)
        .def_readonly("final_loss", &R::final_loss, "loss of `weights`")
        .def_readonly("seconds", &R::seconds)
        .def_readonly("message", &R::message, "what happened, in words")
        .def_readonly("form", &R::form, "the regression form used (auto for other problems)")
        .def_readonly("n_threads", &R::n_threads, "threads the products used")
        .def_readonly("state", &R::state, "the state after `steps` updates: resume from it")
        .def_readonly("svd", &R::svd, "the SVD record of a tracked run, else None")
        .def_readonly("svd_state", &R::svd_state, "the trackers' state (tracked runs asked to save it), else None");

    m.def(
        "train",
        [](const BoundProblem<T>& problem, const std::vector<CArray<T>>& weights, const OptimizerConfig& optimizer,
           TrainOptions options, const Activation& act, py::object progress,
           Optional<S> resume, const std::optional<TrackSpec>& track, Bases<T> theory_right, Bases<T> theory_left,
           Optional<TrackObserverState<T>> track_state, bool save_track_state) {
            // The arrays (a Network's, C-contiguous, of this dtype) are read in place: the run copies them
            // once into its own buffers, checking finiteness in the same pass.
            std::vector<ConstView<T>> views;
            for (const auto& w : weights) views.push_back(view_of(w, "weights"));
            check_shapes(views);
            const std::vector<Index> widths = widths_of(views);
            // The core checks the settings again before any work; the network and the tracker are checked
            // here, with the GIL held, because the tracker is built here.
            problem.problem->check_network(widths);
            problem.problem->check_activation(act);
            if (track && !act.linear())
                invalid("track_svd", std::string("the network's activation is '") + act.name() +
                                         "'; SVD tracking relies on the law of parsimony, which holds for linear "
                                         "networks only");
            // SVD tracking (dln.tracking.TrackSpec): an observer inside the loop, no Python there.
            std::unique_ptr<TrackObserver<T>> tracker;
            std::vector<Observer<T>*> observers;
            if (track) {
                tracker = make_tracker<T>(*track, std::move(theory_right), std::move(theory_left), widths);
                if (track_state) tracker->restore(track_state->get(), widths);
                observers.push_back(tracker.get());
            }
            std::atomic<bool> stop{false};
            std::atomic<long long> done{0};
            options.stop = &stop;
            options.progress = &done;
            const Problem<T>& p = *problem.problem;
            auto result = run_interruptible(stop, done, progress, [&] {
                return dln::train<T>(views, act, p, optimizer, options, resume ? &resume->get() : nullptr, observers);
            });
            R out = run_result(std::move(result));
            if (tracker) {
                if (save_track_state) out.svd_state = tracker->state();
                out.svd = std::move(tracker->record());
            }
            return out;
        },
        py::arg("problem"), py::arg("weights"), py::arg("optimizer"), py::arg("options"),
        py::arg_v("activation", Activation{}, "Activation()"), py::arg("progress") = py::none(),
        py::arg("resume") = py::none(), py::arg("track") = py::none(), py::arg("theory_right") = py::none(),
        py::arg("theory_left") = py::none(), py::arg("track_state") = py::none(),
        py::arg("save_track_state") = false,
        "Train a network of `weights` (C-contiguous arrays of the problem's dtype, read in place) on `problem`,\n"
        "with the GIL released (Ctrl-C stops the run: status interrupted). `progress(done)` is called on this\n"
        "thread; `resume` continues a run from its state; `track` records its SVDs (theory_right/left: the\n"
        "theory's bases of reference 'theory'; track_state: continue the trackers of an earlier segment;\n"
        "save_track_state: return theirs as `svd_state`). Raises ValueError naming the bad argument.");
}

}  // namespace

void bind_train(py::module_& m) {
    bind_dtype<double>(m, "64");
    bind_dtype<float>(m, "32");
    m.def("default_threads", &default_threads, "Hardware threads (at least 1).");
}

}  // namespace dln::py_bind
