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

template <class T>
py::dict to_dict(TrainResult<T>&& r);

// The optimiser settings as every binding receives them from the Python layer.
inline OptimizerConfig optimizer_config(const std::string& kind, double lr, double momentum, double beta1,
                                        double beta2, double eps, double decay, std::vector<double> lr_scale) {
    OptimizerConfig opt;
    opt.kind = parse_optimizer(kind);
    opt.lr = lr;
    opt.momentum = momentum;
    opt.beta1 = beta1;
    opt.beta2 = beta2;
    opt.eps = eps;
    opt.decay = decay;
    opt.lr_scale = std::move(lr_scale);
    return opt;
}

// SVD tracking during training (bind_tracker.cpp): the spec dict from dln.tracking, the record back.
TrackSpec track_spec_of(const py::dict& d);
template <class T>
py::dict track_record_dict(TrackRecord<T>&& r);

void bind_network(py::module_& m);
void bind_batch(py::module_& m);
void bind_problem(py::module_& m);
void bind_train(py::module_& m);
void bind_compress(py::module_& m);
void bind_tracker(py::module_& m);

}  // namespace dln::py_bind
