#include "bindings.hpp"

#include <chrono>
#include <future>

namespace dln::py_bind {

namespace {

// A run's TrainState as Python sends it (dln.io checkpoints): (step, initial_loss, loss history,
// optimiser t, m, v). The core checks it against the run before any work (std::invalid_argument).
template <class T>
using ResumeTuple = std::tuple<long long, double, std::vector<double>, long long, std::vector<Mat<T>>,
                               std::vector<Mat<T>>>;

// A TrackObserver's state for checkpoints (dln.io), as plain lists, arrays and scalars.
template <class T>
py::dict track_state_dict(TrackObserverState<T>&& s) {
    py::dict d;
    d["seen"] = s.seen;
    d["modes"] = py::cast(s.modes);
    d["rho"] = py::cast(s.rho);
    d["generic_discarded"] = py::cast(s.generic_discarded);
    d["range_since"] = py::cast(s.range_since);
    d["discarded"] = py::cast(s.discarded);
    d["A"] = py::cast(s.A);
    d["V"] = py::cast(s.V);
    d["D"] = py::cast(s.D);
    d["S"] = py::cast(s.S);
    d["have_reference"] = s.have_reference;
    d["reference_step"] = s.reference_step;
    d["ref_top_r"] = py::cast(s.ref_top_r);
    d["ref_bot_r"] = py::cast(s.ref_bot_r);
    d["ref_top_l"] = py::cast(s.ref_top_l);
    d["ref_bot_l"] = py::cast(s.ref_bot_l);
    d["theory_right"] = py::cast(s.theory_right);
    d["theory_left"] = py::cast(s.theory_left);
    d["mode_e2e"] = s.mode_e2e;
    d["e2e_U"] = py::cast(s.e2e_U);
    d["e2e_V"] = py::cast(s.e2e_V);
    d["e2e_S"] = py::cast(s.e2e_S);
    d["e2e_discarded"] = s.e2e_discarded;
    d["reorthonormalisations"] = s.reorthonormalisations;
    return d;
}

template <class T>
TrackObserverState<T> track_state_of(const py::dict& d) {
    TrackObserverState<T> s;
    try {
        s.seen = d["seen"].cast<long long>();
        s.modes = d["modes"].cast<std::vector<std::string>>();
        s.rho = d["rho"].cast<std::vector<double>>();
        s.generic_discarded = d["generic_discarded"].cast<std::vector<double>>();
        s.range_since = d["range_since"].cast<std::vector<double>>();
        s.discarded = d["discarded"].cast<std::vector<double>>();
        s.A = py::cast<std::vector<Mat<T>>>(d["A"]);
        s.V = py::cast<std::vector<Mat<T>>>(d["V"]);
        s.D = py::cast<std::vector<Mat<T>>>(d["D"]);
        s.S = d["S"].cast<std::vector<std::vector<double>>>();
        s.have_reference = d["have_reference"].cast<bool>();
        s.reference_step = d["reference_step"].cast<long long>();
        s.ref_top_r = py::cast<std::vector<Mat<T>>>(d["ref_top_r"]);
        s.ref_bot_r = py::cast<std::vector<Mat<T>>>(d["ref_bot_r"]);
        s.ref_top_l = py::cast<std::vector<Mat<T>>>(d["ref_top_l"]);
        s.ref_bot_l = py::cast<std::vector<Mat<T>>>(d["ref_bot_l"]);
        s.theory_right = py::cast<std::vector<Mat<T>>>(d["theory_right"]);
        s.theory_left = py::cast<std::vector<Mat<T>>>(d["theory_left"]);
        s.mode_e2e = d["mode_e2e"].cast<std::string>();
        s.e2e_U = py::cast<Mat<T>>(d["e2e_U"]);
        s.e2e_V = py::cast<Mat<T>>(d["e2e_V"]);
        s.e2e_S = d["e2e_S"].cast<std::vector<double>>();
        s.e2e_discarded = d["e2e_discarded"].cast<double>();
        s.reorthonormalisations = d["reorthonormalisations"].cast<long long>();
    } catch (const py::error_already_set& e) {
        invalid("state", std::string("track_svd: malformed tracker state (") + e.what() + ")");
    } catch (const py::cast_error& e) {
        invalid("state", std::string("track_svd: malformed tracker state (") + e.what() + ")");
    }
    return s;
}

}  // namespace

template <class T>
py::dict to_dict(TrainResult<T>&& r) {
    py::dict d;
    d["status"] = to_string(r.status);
    d["steps"] = r.steps;
    d["loss"] = py::array_t<double>(static_cast<py::ssize_t>(r.loss.size()), r.loss.data());
    d["weights"] = py::cast(std::move(r.network).release_weights());  // handed to NumPy, not copied
    d["final_loss"] = r.final_loss;
    d["seconds"] = r.seconds;
    d["message"] = r.message;
    d["form"] = to_string(r.form);
    d["n_threads"] = r.n_threads;
    return d;
}

template py::dict to_dict(TrainResult<float>&&);
template py::dict to_dict(TrainResult<double>&&);

namespace {

template <class T>
void bind_dtype(py::module_& m, const std::string& suffix) {
    m.def(
        ("train_" + suffix).c_str(),
        [](const BoundProblem<T>& problem, const std::vector<CArray<T>>& weights, const std::string& optimizer,
           double lr, long long steps, std::optional<double> tol, long long record_every, double momentum,
           double beta1, double beta2, double eps, double decay, std::vector<double> lr_scale, int n_threads,
           py::object progress, std::optional<ResumeTuple<T>> resume, py::object track, const std::string& activation,
           double negative_slope) {
            // The arrays (a Network's, C-contiguous, of this dtype) are read in place: the run copies them
            // once into its own buffers, checking finiteness in the same pass.
            std::vector<ConstView<T>> views;
            for (const auto& w : weights) views.push_back(view_of(w, "weights"));
            const Activation act = Activation::parse(activation, negative_slope);
            check_shapes(views);
            const std::vector<Index> widths = widths_of(views);
            const OptimizerConfig opt =
                optimizer_config(optimizer, lr, momentum, beta1, beta2, eps, decay, std::move(lr_scale));
            TrainOptions options;
            options.steps = steps;
            options.tol = tol;
            options.record_every = record_every;
            options.n_threads = n_threads;
            // Check everything here, with the GIL held, so bad input raises before any thread starts.
            options.validate();
            opt.validate(static_cast<Index>(views.size()));
            problem.problem->check_network(widths);
            problem.problem->check_activation(act);
            if (!track.is_none() && !act.linear())
                invalid("track_svd", std::string("the network's activation is '") + act.name() +
                                         "'; SVD tracking relies on the law of parsimony, which holds for linear "
                                         "networks only");
            // SVD tracking (dln.tracking.TrackSpec): an observer inside the loop, no Python there.
            std::optional<TrackObserver<T>> tracker;
            std::vector<Observer<T>*> observers;
            if (!track.is_none()) {
                const py::dict td = track.cast<py::dict>();
                observers.push_back(&tracker.emplace(track_spec_of(td)));
                if (td.contains("theory_right"))
                    tracker->set_theory(py::cast<std::vector<Mat<T>>>(td["theory_right"]),
                                        py::cast<std::vector<Mat<T>>>(td["theory_left"]), widths);
                if (td.contains("state")) tracker->restore(track_state_of<T>(td["state"].cast<py::dict>()), widths);
            }
            const bool save_state = tracker && track.cast<py::dict>().contains("save_state");
            std::atomic<bool> stop{false};
            std::atomic<long long> done{0};
            options.stop = &stop;
            options.progress = &done;
            const Problem<T>& p = *problem.problem;
            std::optional<TrainState<T>> state;
            if (resume) {
                auto& [step, initial_loss, loss, t, m, v] = *resume;
                state = TrainState<T>{step, initial_loss, std::move(loss), OptimizerState<T>{t, std::move(m), std::move(v)}};
            }
            const TrainState<T>* start = state ? &*state : nullptr;
            auto result = run_interruptible(stop, done, progress,
                                            [&] { return train<T>(views, act, p, opt, options, start, observers); });
            py::dict d = to_dict(std::move(result));
            // What a checkpoint needs to continue the run bit for bit (to_dict left these in place).
            d["initial_loss"] = result.initial_loss;
            d["optimizer_t"] = result.optimizer_state.t;
            d["optimizer_m"] = py::cast(result.optimizer_state.m);
            d["optimizer_v"] = py::cast(result.optimizer_state.v);
            if (tracker) {
                if (save_state) d["svd_state"] = track_state_dict(tracker->state());
                d["svd"] = track_record_dict(std::move(tracker->record()));
            }
            return d;
        },
        py::arg("problem"), py::arg("weights"), py::arg("optimizer"), py::arg("lr"), py::arg("steps"),
        py::arg("tol"), py::arg("record_every"), py::arg("momentum"), py::arg("beta1"), py::arg("beta2"),
        py::arg("eps"), py::arg("decay"), py::arg("lr_scale"), py::arg("n_threads"), py::arg("progress") = py::none(),
        py::arg("resume") = py::none(), py::arg("track") = py::none(), py::arg("activation") = "linear",
        py::arg("negative_slope") = 0.01);
}

}  // namespace

void bind_train(py::module_& m) {
    // The core's own checks of one run's settings, so a batch can refuse a bad job before any runs.
    m.def(
        "check_run",
        [](const std::string& optimizer, double lr, long long steps, std::optional<double> tol, long long record_every,
           double momentum, double beta1, double beta2, double eps, double decay, std::vector<double> lr_scale,
           Index depth) {
            const OptimizerConfig opt =
                optimizer_config(optimizer, lr, momentum, beta1, beta2, eps, decay, std::move(lr_scale));
            opt.validate(depth);
            TrainOptions options;
            options.steps = steps;
            options.tol = tol;
            options.record_every = record_every;
            options.validate();
        });
    bind_dtype<double>(m, "f64");
    bind_dtype<float>(m, "f32");
    m.def("default_threads", &default_threads);
}

}  // namespace dln::py_bind
