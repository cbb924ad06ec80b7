#include "bindings.hpp"

namespace dln::py_bind {

namespace {
// end_to_end and features: one name, an overload per dtype (double first). pybind11 tries every
// overload without conversions first, and then an Eigen or NumPy argument matches only its own dtype,
// so float32 weights reach the float32 overload and nothing is cast.
template <class T>
void bind_dtype(py::module_& m) {
    m.def(
        "end_to_end",
        [](std::vector<Mat<T>> weights) {
            Network<T> net(std::move(weights));
            py::gil_scoped_release release;
            return net.end_to_end();
        },
        py::arg("weights"));
    m.def(
        "features",
        [](std::vector<Mat<T>> weights, const CArray<T>& X, const Activation& activation) {
            Network<T> net(std::move(weights), activation);
            const ConstView<T> x = view_of(X, "X");
            py::gil_scoped_release release;
            return net.features(x);
        },
        py::arg("weights"), py::arg("X").noconvert(), py::arg_v("activation", Activation{}, "Activation()"));
}

template <class T>
py::object init_weights_of(const std::vector<Index>& widths, double scale, std::uint64_t seed, InitKind kind) {
    std::vector<Mat<T>> weights;
    {
        py::gil_scoped_release release;  // Haar QR of large layers takes a while
        weights = init_weights<T>(widths, scale, seed, kind);
    }
    return py::cast(std::move(weights));
}
}  // namespace

void bind_network(py::module_& m) {
    m.def(
        "init_weights",
        [](const std::vector<Index>& widths, double scale, std::uint64_t seed, InitKind kind,
           const std::string& dtype) {
            check_widths(widths);
            if (dtype == "float64") return init_weights_of<double>(widths, scale, seed, kind);
            if (dtype == "float32") return init_weights_of<float>(widths, scale, seed, kind);
            invalid("dtype", "expected 'float64' or 'float32', got '" + dtype + "'");
        },
        py::arg("widths"), py::arg("scale"), py::arg("seed"), py::arg("kind"), py::arg("dtype") = "float64",
        "The weights of a network of these widths, drawn by `kind` from `seed`, as arrays of `dtype`.");
    bind_dtype<double>(m);
    bind_dtype<float>(m);
}

}  // namespace dln::py_bind
