// The settings of a run as Python classes: the core's enums and its OptimizerConfig, TrainOptions and
// TrackSpec, field for field. The Python layer checks types (dln.training.prepared); the values are
// checked here, by the core's own validate methods, once.
#include "bindings.hpp"

namespace dln::py_bind {

namespace {
// An enum bound from the core's own name table, so `kind.name` is the core's to_string spelling (what a
// checkpoint stores) and no name is written twice.
template <class E, std::size_t N>
void bind_enum(py::module_& m, const char* name, const char* doc, const Named<E> (&table)[N]) {
    py::enum_<E> e(m, name, doc);
    for (const auto& entry : table) e.value(entry.name, entry.value);
}
}  // namespace

void bind_settings(py::module_& m) {
    bind_enum(m, "OptimizerKind", "First-order optimiser (SCIENCE.md section 1).", kOptimizers);
    bind_enum(m, "Status", "Why a training run ended.", kStatuses);
    bind_enum(m, "Reduction", "How the squared residual is reduced: mean over entries, or sum.", kReductions);
    bind_enum(m, "RegressionForm", "How a regression loss is evaluated: from covariances, from the data, or chosen.",
              kRegressionForms);
    bind_enum(m, "InitKind", "How a network's weights are drawn (dln/init.hpp).", kInits);
    bind_enum(m, "ActivationKind", "The elementwise activation between layers (dln/network.hpp).", kActivations);
    // Immutable, and checked when built: every Activation that reaches the core is a valid one.
    py::class_<Activation>(m, "Activation", "An activation and its leaky_relu slope (dln/network.hpp).")
        .def(py::init([](ActivationKind kind, double negative_slope) {
                 Activation a;
                 a.kind = kind;
                 a.negative_slope = negative_slope;
                 a.validate();
                 return a;
             }),
             py::arg("kind") = ActivationKind::Linear, py::arg("negative_slope") = 0.01)
        .def_static("parse", &Activation::parse, py::arg("activation"), py::arg("negative_slope") = 0.01,
                    "The activation of this name ('linear', 'relu', 'leaky_relu', 'tanh'); ValueError naming "
                    "`activation` or `negative_slope` otherwise.")
        .def_readonly("kind", &Activation::kind)
        .def_readonly("negative_slope", &Activation::negative_slope, "slope of leaky_relu for negative inputs")
        .def_property_readonly("name", &Activation::name)
        .def_property_readonly("linear", &Activation::linear)
        .def("__eq__",
             [](const Activation& a, const py::object& other) -> py::object {
                 if (!py::isinstance<Activation>(other)) return py::reinterpret_borrow<py::object>(Py_NotImplemented);
                 const Activation& b = other.cast<const Activation&>();
                 return py::bool_(a.kind == b.kind && a.negative_slope == b.negative_slope);
             })
        .def("__hash__", [](const Activation& a) {
            return py::hash(py::make_tuple(static_cast<int>(a.kind), a.negative_slope));
        })
        .def("__repr__", [](const Activation& a) {
            return "Activation('" + std::string(a.name()) + "', negative_slope=" +
                   py::repr(py::float_(a.negative_slope)).cast<std::string>() + ")";
        })
        .def(py::pickle([](const Activation& a) { return py::make_tuple(a.kind, a.negative_slope); },
                        [](const py::tuple& t) {
                            Activation a;
                            a.kind = t[0].cast<ActivationKind>();
                            a.negative_slope = t[1].cast<double>();
                            a.validate();
                            return a;
                        }));

    py::class_<OptimizerConfig>(m, "OptimizerConfig", "An optimiser and its hyper-parameters (dln/optimizer.hpp).")
        .def(py::init([](OptimizerKind kind, double lr, double momentum, double beta1, double beta2, double eps,
                         double decay, std::vector<double> lr_scale) {
                 OptimizerConfig c;
                 c.kind = kind;
                 c.lr = lr;
                 c.momentum = momentum;
                 c.beta1 = beta1;
                 c.beta2 = beta2;
                 c.eps = eps;
                 c.decay = decay;
                 c.lr_scale = std::move(lr_scale);
                 return c;
             }),
             py::arg("kind") = OptimizerKind::GD, py::arg("lr") = 0.0, py::arg("momentum") = 0.9,
             py::arg("beta1") = 0.9, py::arg("beta2") = 0.999, py::arg("eps") = 1e-8, py::arg("decay") = 0.9,
             py::arg("lr_scale") = std::vector<double>{})
        .def_readwrite("kind", &OptimizerConfig::kind)
        .def_readwrite("lr", &OptimizerConfig::lr, "step size (the loss's units: sum or mean reduction)")
        .def_readwrite("momentum", &OptimizerConfig::momentum, "heavy-ball coefficient (momentum)")
        .def_readwrite("beta1", &OptimizerConfig::beta1, "first-moment decay (adam)")
        .def_readwrite("beta2", &OptimizerConfig::beta2, "second-moment decay (adam)")
        .def_readwrite("eps", &OptimizerConfig::eps, "added outside the square root (adam, rmsprop)")
        .def_readwrite("decay", &OptimizerConfig::decay, "second-moment decay (rmsprop)")
        .def_readwrite("lr_scale", &OptimizerConfig::lr_scale, "one step-size factor per layer, or empty for ones")
        .def("validate", &OptimizerConfig::validate, py::arg("depth"),
             "Raise ValueError naming the first bad field, for a network of `depth` layers.");

    py::class_<TrainOptions>(m, "TrainOptions", "How long a run goes and what it records (dln/trainer.hpp).")
        .def(py::init([](long long steps, std::optional<double> tol, long long record_every, int n_threads,
                         double divergence_factor) {
                 TrainOptions o;
                 o.steps = steps;
                 o.tol = tol;
                 o.record_every = record_every;
                 o.n_threads = n_threads;
                 o.divergence_factor = divergence_factor;
                 return o;
             }),
             py::arg("steps") = 0, py::arg("tol") = py::none(), py::arg("record_every") = 1, py::arg("n_threads") = 0,
             py::arg("divergence_factor") = 1e8)
        .def_readwrite("steps", &TrainOptions::steps, "maximum number of updates, counted from step 0")
        .def_readwrite("tol", &TrainOptions::tol, "stop when the loss is <= tol (None: never)")
        .def_readwrite("record_every", &TrainOptions::record_every, "loss history stride")
        .def_readwrite("n_threads", &TrainOptions::n_threads, "threads for the products; 0 = all cores")
        .def_readwrite("divergence_factor", &TrainOptions::divergence_factor,
                       "diverged when the loss exceeds this times the initial loss")
        .def("validate", &TrainOptions::validate, "Raise ValueError naming the first bad field.");

    // The tracker options are flattened into the spec: the names are those of dln.TrackSpec.
    py::class_<TrackSpec>(m, "TrackSpec", "What SVD tracking records inside the loop (dln/tracker.hpp).")
        .def(py::init([](long long every, Index top_p, Index block_r, Index update_rank, Index max_rank,
                         const std::string& mode, double certificate_tol, double direction_tol, double ortho_ulp,
                         std::uint64_t seed, const std::string& reference, bool end_to_end) {
                 TrackSpec s;
                 s.every = every;
                 s.top_p = top_p;
                 s.block_r = block_r;
                 s.update_rank = update_rank;
                 s.tracker.max_rank = max_rank;
                 s.mode = mode;
                 s.certificate_tol = certificate_tol;
                 s.tracker.direction_tol = direction_tol;
                 s.tracker.ortho_ulp = ortho_ulp;
                 s.seed = seed;
                 s.reference = reference;
                 s.end_to_end = end_to_end;
                 return s;
             }),
             py::arg("every") = 1, py::arg("top_p") = 0, py::arg("block_r") = 0, py::arg("update_rank") = 16,
             py::arg("max_rank") = 64, py::arg("mode") = "auto", py::arg("certificate_tol") = 1e-10,
             py::arg("direction_tol") = 1e-13, py::arg("ortho_ulp") = 100.0, py::arg("seed") = 0,
             py::arg("reference") = "step1", py::arg("end_to_end") = false)
        .def_readwrite("every", &TrackSpec::every)
        .def_readwrite("top_p", &TrackSpec::top_p)
        .def_readwrite("block_r", &TrackSpec::block_r)
        .def_readwrite("update_rank", &TrackSpec::update_rank)
        .def_property(
            "max_rank", [](const TrackSpec& s) { return s.tracker.max_rank; },
            [](TrackSpec& s, Index v) { s.tracker.max_rank = v; })
        .def_readwrite("mode", &TrackSpec::mode)
        .def_readwrite("certificate_tol", &TrackSpec::certificate_tol)
        .def_property(
            "direction_tol", [](const TrackSpec& s) { return s.tracker.direction_tol; },
            [](TrackSpec& s, double v) { s.tracker.direction_tol = v; })
        .def_property(
            "ortho_ulp", [](const TrackSpec& s) { return s.tracker.ortho_ulp; },
            [](TrackSpec& s, double v) { s.tracker.ortho_ulp = v; })
        .def_readwrite("seed", &TrackSpec::seed)
        .def_readwrite("reference", &TrackSpec::reference)
        .def_readwrite("end_to_end", &TrackSpec::end_to_end)
        .def(
            "validate",
            [](const TrackSpec& s) {
                s.tracker.validate();  // the tracker's options first, as the trackers' constructors do
                s.validate();
            },
            "Raise ValueError naming the first bad field.");
}

}  // namespace dln::py_bind
