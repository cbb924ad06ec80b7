#include "bindings.hpp"

namespace dln::py_bind {

namespace {
template <class T>
void bind_dtype(py::module_& m, const std::string& suffix) {
    using BP = BoundProblem<T>;
    py::class_<BP>(m, ("Problem" + suffix).c_str())
        .def_static(
            "factorization",
            [](const CArray<T>& target, Reduction reduction) {
                auto p = std::make_unique<Factorization<T>>(view_of(target, "target"), reduction);
                return BP{std::move(p), {target}};
            },
            py::arg("target").noconvert(), py::arg("reduction"))
        .def_static(
            "completion",
            [](const CArray<T>& target, const CArray<T>& mask, Reduction reduction) {
                auto p = std::make_unique<Completion<T>>(view_of(target, "target"), view_of(mask, "mask"), reduction);
                return BP{std::move(p), {target, mask}};
            },
            py::arg("target").noconvert(), py::arg("mask").noconvert(), py::arg("reduction"))
        .def_static(
            "regression",
            [](const CArray<T>& X, const CArray<T>& Y, Reduction r, RegressionForm f) {
                const ConstView<T> x = view_of(X, "X"), y = view_of(Y, "Y");
                std::unique_ptr<Regression<T>> p;
                {
                    py::gil_scoped_release release;  // X X^T and Y X^T
                    p = std::make_unique<Regression<T>>(x, y, r, f);
                }
                return BP{std::move(p), {X, Y}};
            },
            py::arg("X").noconvert(), py::arg("Y").noconvert(), py::arg("reduction"), py::arg("form"))
        .def("loss",
             [](const BP& self, std::vector<Mat<T>> weights, const Activation& activation) {
                 Network<T> net(std::move(weights), activation);
                 self.problem->check_activation(net.activation());  // with the GIL, before any work
                 py::gil_scoped_release release;
                 return self.problem->loss(net);
             },
             py::arg("weights"), py::arg_v("activation", Activation{}, "Activation()"))
        .def("gradients",
             [](const BP& self, std::vector<Mat<T>> weights, const Activation& activation) {
                 Network<T> net(std::move(weights), activation);
                 self.problem->check_activation(net.activation());  // with the GIL, before any work
                 py::gil_scoped_release release;
                 return self.problem->gradients(net);
             },
             py::arg("weights"), py::arg_v("activation", Activation{}, "Activation()"))
        .def("form_for", [](const BP& self, const std::vector<Index>& w) { return self.problem->form_for(w); })
        .def("flops_per_step", [](const BP& self, const std::vector<Index>& w) { return self.problem->flops_per_step(w); })
        .def("products_per_step", [](const BP& self, const std::vector<Index>& w) { return self.problem->products_per_step(w); })
        .def("check_network", [](const BP& self, const std::vector<Index>& w) { self.problem->check_network(w); })
        .def("check_activation",
             [](const BP& self, const Activation& activation) { self.problem->check_activation(activation); },
             py::arg("activation"))
        .def_property_readonly("scale", [](const BP& self) { return self.problem->scale(); })
        .def_property_readonly("input_dim", [](const BP& self) { return self.problem->input_dim(); })
        .def_property_readonly("output_dim", [](const BP& self) { return self.problem->output_dim(); });
}
}  // namespace

void bind_problem(py::module_& m) {
    bind_dtype<double>(m, "64");
    bind_dtype<float>(m, "32");
}

}  // namespace dln::py_bind
