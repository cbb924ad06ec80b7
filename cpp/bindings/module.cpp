#include "bindings.hpp"

PYBIND11_MODULE(_core, m) {
    m.doc() = "dln's C++ engine (private: use the `dln` package)";
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
