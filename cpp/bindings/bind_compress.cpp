// Compression: the C++ chain and lift (dln/compress.hpp), and the fast paths: the sparse completion
// problem and its training loop.
#include "bindings.hpp"

#include "dln/compress.hpp"
#include "dln/sparse.hpp"

namespace dln::py_bind {

namespace {

using IndexArray = py::array_t<std::int64_t, py::array::c_style>;

template <class T>
void bind_dtype(py::module_& m, const std::string& suffix) {
    using SC = SparseCompletion<T>;
    py::class_<SC>(m, ("SparseCompletion" + suffix).c_str())
        .def(py::init([](Index d_out, Index d_in, const IndexArray& rows, const IndexArray& cols,
                         const CArray<T>& values, Reduction reduction) {
                 if (rows.ndim() != 1 || cols.ndim() != 1 || values.ndim() != 1)
                     invalid("rows", "rows, cols and values must be 1-D");
                 if (rows.size() != values.size() || cols.size() != values.size())
                     invalid("values", "rows, cols and values must have the same length, got " +
                                           std::to_string(rows.size()) + ", " + std::to_string(cols.size()) + ", " +
                                           std::to_string(values.size()));
                 py::gil_scoped_release release;  // sorting 1e8 entries takes seconds
                 return std::make_unique<SC>(d_out, d_in, rows.data(), cols.data(), values.data(),
                                             static_cast<Index>(values.size()), reduction);
             }),
             py::arg("d_out"), py::arg("d_in"), py::arg("rows").noconvert(), py::arg("cols").noconvert(),
             py::arg("values").noconvert(), py::arg("reduction"))
        .def("loss",
             [](const SC& self, std::vector<Mat<T>> weights, int n_threads) {
                 Network<T> net(std::move(weights));
                 py::gil_scoped_release release;
                 return self.loss(net, n_threads);
             },
             py::arg("weights"), py::arg("n_threads") = 1)
        .def("gradients",
             [](const SC& self, std::vector<Mat<T>> weights, int n_threads) {
                 Network<T> net(std::move(weights));
                 py::gil_scoped_release release;
                 return self.gradients(net, n_threads);
             },
             py::arg("weights"), py::arg("n_threads") = 1)
        .def("check_network", [](const SC& self, const std::vector<Index>& w) { self.check_network(w); })
        .def("flops_per_step", [](const SC& self, const std::vector<Index>& w) { return self.flops_per_step(w); })
        .def_property_readonly("scale", &SC::scale)
        .def_property_readonly("observed", &SC::observed)
        .def_property_readonly("memory_bytes", &SC::memory_bytes)
        .def_property_readonly("input_dim", &SC::input_dim)
        .def_property_readonly("output_dim", &SC::output_dim);

    using C = Compressed<T>;
    py::class_<C>(m, ("Compressed" + suffix).c_str())
        .def_property_readonly("chain", [](const C& c) { return c.chain.weights(); })
        .def_readonly("rank", &C::rank)
        .def_readonly("basis", &C::basis)
        .def_readonly("outer_lr_scale", &C::outer_lr_scale)
        .def_readonly("scale", &C::scale)
        .def_readonly("exact", &C::exact)
        .def_property_readonly("lr_scale", &C::lr_scale)
        .def(
            "lift",
            [](const C& c, std::vector<Mat<T>> wide_init, std::vector<Mat<T>> trained, double rho) {
                Network<T> w0(std::move(wide_init)), tr(std::move(trained));
                py::gil_scoped_release release;
                return lift(c, w0, tr, rho).weights();
            },
            py::arg("wide_init"), py::arg("trained"), py::arg("rho"));
    m.def(
        "compress",  // overloaded by dtype: the weights' dtype picks it (see bind_network.cpp)
        [](std::vector<Mat<T>> weights, const BoundProblem<T>& problem, Index rank, double outer_lr_scale,
           const std::string& method) {
            Network<T> net(std::move(weights));
            const SubspaceMethod sm = parse_subspace_method(method);
            py::gil_scoped_release release;
            return compress(net, *problem.problem, rank, outer_lr_scale, sm);
        },
        py::arg("weights"), py::arg("problem"), py::arg("rank"), py::arg("outer_lr_scale") = 0.0,
        py::arg("method") = "auto");
    m.def(
        "invariant_subspace",
        [](std::vector<Mat<T>> weights, const BoundProblem<T>& problem, Index rank, const std::string& method) {
            Network<T> net(std::move(weights));
            const SubspaceMethod sm = parse_subspace_method(method);
            py::gil_scoped_release release;
            return invariant_subspace(net, *problem.problem, rank, sm);
        },
        py::arg("weights"), py::arg("problem"), py::arg("rank"), py::arg("method") = "auto");

    m.def(
        "train",  // an overload of bind_train.cpp's train: the problem's class picks it
        [](const SC& problem, std::vector<Mat<T>> weights, const OptimizerConfig& optimizer, TrainOptions options,
           py::object progress) {
            Network<T> net(std::move(weights));
            options.validate();
            optimizer.validate(net.depth());
            problem.check_network(net.widths());
            std::atomic<bool> stop{false};
            std::atomic<long long> done{0};
            options.stop = &stop;
            options.progress = &done;
            auto result = run_interruptible(stop, done, progress,
                                            [&] { return dln::train<T>(net, problem, optimizer, options); });
            return run_result(std::move(result));
        },
        py::arg("problem"), py::arg("weights"), py::arg("optimizer"), py::arg("options"),
        py::arg("progress") = py::none(),
        "Train a linear network of `weights` on a sparse completion problem (GIL released, Ctrl-C stops it);\n"
        "the problem's class (SparseCompletion64 or SparseCompletion32) picks the dtype.");
}

}  // namespace

void bind_compress(py::module_& m) {
    bind_dtype<double>(m, "64");
    bind_dtype<float>(m, "32");
}

}  // namespace dln::py_bind
