// Shared by the binding files: the only code of dln that includes pybind11.
#pragma once

#include <pybind11/eigen.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "dln/dln.hpp"

#include <atomic>
#include <chrono>
#include <future>

namespace dln::py_bind {

namespace py = pybind11;

// C-contiguous arrays of exactly this dtype: the Python layer converts, the bindings never copy.
template <class T>
using CArray = py::array_t<T, py::array::c_style>;

template <class T>
ConstView<T> view_of(const CArray<T>& a, const char* name) {
    if (a.ndim() != 2) invalid(name, "expected a 2-D array, got ndim=" + std::to_string(a.ndim()));
    return ConstView<T>(a.data(), a.shape(0), a.shape(1));
}

// A trained network's weights handed to NumPy, not copied: each array owns its moved matrix. With
// `read_only` the arrays are flagged as a dln.Network's are (cheaper here than in Python, per array).
template <class T>
std::vector<py::array_t<T>> numpy_weights(Network<T>&& net, bool read_only) {
    std::vector<py::array_t<T>> out;
    for (auto& w : std::move(net).release_weights()) {
        out.push_back(py::reinterpret_steal<py::array_t<T>>(
            py::detail::make_caster<Mat<T>>::cast(std::move(w), py::return_value_policy::move, nullptr)));
        if (read_only) py::detail::array_proxy(out.back().ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
    }
    return out;
}

// A core problem plus the NumPy arrays it views, so they live as long as it does.
template <class T>
struct BoundProblem {
    std::unique_ptr<Problem<T>> problem;
    std::vector<py::object> keep_alive;
};

// Runs `work` on a worker thread with the GIL released while this (calling) thread polls every 50 ms:
// Python runs signal handlers only on the main thread between bytecodes, so a loop that kept the
// calling thread inside C++ could not see Ctrl-C. On KeyboardInterrupt the run is asked to stop and
// returns its last state with status `interrupted`. `progress`, when not None, is called here, on
// the calling thread, with the number of updates done so far - never from a worker.
template <class Work>
auto run_interruptible(std::atomic<bool>& stop, const std::atomic<long long>& done, const py::object& progress,
                       Work&& work) {
    py::gil_scoped_release release;
    auto future = std::async(std::launch::async, std::forward<Work>(work));
    long long reported = -1;
    auto poll = [&] {
        py::gil_scoped_acquire acquire;
        if (PyErr_CheckSignals() != 0) {
            PyErr_Clear();  // KeyboardInterrupt becomes a stop request
            stop.store(true);
        }
        const long long now = done.load();
        if (!progress.is_none() && now != reported) {
            reported = now;
            try {
                progress(now);
            } catch (py::error_already_set&) {
                stop.store(true);  // a failing progress callback must not leave the run going
            }
        }
    };
    while (future.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) poll();
    poll();
    return future.get();
}

// What a run hands back to Python (bound as TrainResult64 / TrainResult32): the core's TrainResult
// with its weights already NumPy arrays (moved, not copied), its resume state, and the SVD record
// and tracker state of a tracked run.
template <class T>
struct RunResult {
    Status status = Status::MaxSteps;
    long long steps = 0;
    py::array_t<double> loss;
    std::vector<py::array_t<T>> weights;
    double final_loss = 0.0;
    double seconds = 0.0;
    std::string message;
    RegressionForm form = RegressionForm::Auto;
    int n_threads = 0;
    TrainState<T> state;
    std::optional<TrackRecord<T>> svd;
    std::optional<TrackObserverState<T>> svd_state;
};

template <class T>
RunResult<T> run_result(TrainResult<T>&& r);

// The theory's bases of a run tracked with reference "theory" (dln.tracking.theory_bases), per layer.
template <class T>
using Bases = std::optional<std::vector<Mat<T>>>;

// A TrackObserver for one run, built with the GIL held: the spec, the theory's bases when given
// (both or neither) and the state of an earlier segment to continue from.
template <class T>
std::unique_ptr<TrackObserver<T>> make_tracker(const TrackSpec& spec, Bases<T> right, Bases<T> left,
                                               const std::vector<Index>& widths);

void bind_settings(py::module_& m);
void bind_network(py::module_& m);
void bind_batch(py::module_& m);
void bind_problem(py::module_& m);
void bind_train(py::module_& m);
void bind_compress(py::module_& m);
void bind_tracker(py::module_& m);

}  // namespace dln::py_bind
