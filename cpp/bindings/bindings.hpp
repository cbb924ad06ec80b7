// Shared by the binding files: the only code of dln that includes pybind11.
#pragma once

#include <pybind11/eigen.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "dln/dln.hpp"

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

void bind_network(py::module_& m);
void bind_problem(py::module_& m);
void bind_train(py::module_& m);

}  // namespace dln::py_bind
