#include "bindings.hpp"

namespace dln::py_bind {

namespace {
template <class T>
void bind_dtype(py::module_& m, const std::string& suffix) {
    m.def(("init_weights_" + suffix).c_str(),
          [](const std::vector<Index>& widths, double scale, std::uint64_t seed, const std::string& kind) {
              check_widths(widths);
              const InitKind k = parse_init(kind);
              py::gil_scoped_release release;  // Haar QR of large layers takes a while
              return init_weights<T>(widths, scale, seed, k);
          },
          py::arg("widths"), py::arg("scale"), py::arg("seed"), py::arg("kind"));
    m.def(("end_to_end_" + suffix).c_str(),
          [](std::vector<Mat<T>> weights) {
              Network<T> net(std::move(weights));
              py::gil_scoped_release release;
              return net.end_to_end();
          },
          py::arg("weights"));
    m.def(("features_" + suffix).c_str(),
          [](std::vector<Mat<T>> weights, const CArray<T>& X, const std::string& activation, double negative_slope) {
              Network<T> net(std::move(weights), Activation::parse(activation, negative_slope));
              const ConstView<T> x = view_of(X, "X");
              py::gil_scoped_release release;
              return net.features(x);
          },
          py::arg("weights"), py::arg("X").noconvert(), py::arg("activation") = "linear",
          py::arg("negative_slope") = 0.01);
}
}  // namespace

void bind_network(py::module_& m) {
    // The core's own check of an activation's name and slope, for the Python layer's constructors.
    m.def("check_activation", [](const std::string& activation, double negative_slope) {
        Activation::parse(activation, negative_slope);
    });
    bind_dtype<double>(m, "f64");
    bind_dtype<float>(m, "f32");
}

}  // namespace dln::py_bind
