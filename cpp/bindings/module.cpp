#include "bindings.hpp"

PYBIND11_MODULE(_core, m) {
    m.doc() = "dln's C++ engine (private: use the `dln` package)";
    // The GEMM kernel is chosen once (DLN_GEMM in the environment, blas.hpp): a bad value fails the
    // import, naming the variable, instead of the first large product of some run.
    dln::gemm_backend();
    // Settings and tracker classes first, so the signatures that name them read as Python types.
    dln::py_bind::bind_settings(m);
    dln::py_bind::bind_network(m);
    dln::py_bind::bind_problem(m);
    dln::py_bind::bind_tracker(m);
    dln::py_bind::bind_train(m);
    dln::py_bind::bind_batch(m);
    dln::py_bind::bind_compress(m);
    m.def("build_info", [] {
        pybind11::dict d;
        for (const auto& [k, v] : dln::build_info()) d[pybind11::str(k)] = v;
        return d;
    });
}
