#include "bindings.hpp"

namespace dln::py_bind {

namespace {

py::dict info_dict(const UpdateInfo& i) {
    py::dict d;
    d["added"] = i.added;
    d["deflated"] = i.deflated;
    d["projection_residual"] = i.projection_residual;
    d["range_residual"] = i.range_residual;
    d["alpha"] = i.alpha;
    d["discarded"] = i.discarded;
    d["reorthonormalised"] = i.reorthonormalised;
    d["over_cap"] = i.over_cap;
    d["split_failed"] = i.split_failed;
    d["reason"] = i.reason;
    return d;
}

TrackerOptions options_of(Index max_rank, double direction_tol, double ortho_ulp) {
    TrackerOptions o;
    o.max_rank = max_rank;
    o.direction_tol = direction_tol;
    o.ortho_ulp = ortho_ulp;
    o.validate();
    return o;
}

template <class T>
py::tuple triplets_tuple(Triplets<T>&& t) {
    return py::make_tuple(std::move(t.U), py::array_t<double>(static_cast<py::ssize_t>(t.S.size()), t.S.data()),
                          std::move(t.V));
}

// What both trackers offer, bound once: the low-rank update, the certificate, spectrum and triplets.
template <class T, class Tracker>
void bind_shared(py::class_<Tracker>& c) {
    c.def("update",
          [](Tracker& self, const CArray<T>& A, const CArray<T>& B, double alpha) {
              const ConstView<T> a = view_of(A, "A"), b = view_of(B, "B");
              UpdateInfo i;
              {
                  py::gil_scoped_release release;
                  i = self.update(a, b, alpha);
              }
              return info_dict(i);
          },
          py::arg("A").noconvert(), py::arg("B").noconvert(), py::arg("alpha"))
        .def("certificate",
             [](const Tracker& self, const CArray<T>& W) {
                 const ConstView<T> w = view_of(W, "W");
                 py::gil_scoped_release release;
                 return self.certificate(w);
             },
             py::arg("W").noconvert())
        .def("spectrum", [](const Tracker& self) { auto s = self.spectrum(); return py::array_t<double>(static_cast<py::ssize_t>(s.size()), s.data()); })
        .def("triplets", [](const Tracker& self, Index first, Index count) { return triplets_tuple(self.triplets(first, count)); },
             py::arg("first"), py::arg("count"))
        .def("orthogonality", &Tracker::orthogonality)
        .def_property_readonly("rank", &Tracker::rank);
}

template <class T>
void bind_dtype(py::module_& m, const std::string& suffix) {
    using ST = StructuredTracker<T>;
    using BT = BrandTracker<T>;
    // Products of O(d^2 k) and more release the GIL; the small accessors do not need to.
    py::class_<ST> st(m, ("StructuredTracker" + suffix).c_str());
    st.def(py::init([](const CArray<T>& Q, double rho, const CArray<T>& V, const CArray<T>& D, Index max_rank,
                       double direction_tol, double ortho_ulp, std::uint64_t seed) {
               return ST(Mat<T>(view_of(Q, "Q")), rho, Mat<T>(view_of(V, "V")), Mat<T>(view_of(D, "D")),
                         options_of(max_rank, direction_tol, ortho_ulp), seed);
           }),
           py::arg("Q").noconvert(), py::arg("rho"), py::arg("V").noconvert(), py::arg("D").noconvert(),
           py::arg("max_rank"), py::arg("direction_tol"), py::arg("ortho_ulp"), py::arg("seed"))
        .def_static(
            "from_matrix",
            [](const CArray<T>& W, const CArray<T>& Q, std::optional<double> rho, Index max_rank, double direction_tol,
               double ortho_ulp, std::uint64_t seed) {
                const ConstView<T> w = view_of(W, "W");
                Mat<T> q(view_of(Q, "Q"));
                const TrackerOptions o = options_of(max_rank, direction_tol, ortho_ulp);
                double residual = 0.0;
                std::optional<ST> t;
                {
                    py::gil_scoped_release release;
                    t.emplace(ST::from_matrix(w, std::move(q), rho, o, seed, &residual));
                }
                return py::make_tuple(std::move(*t), residual);
            },
            py::arg("W").noconvert(), py::arg("Q").noconvert(), py::arg("rho"), py::arg("max_rank"),
            py::arg("direction_tol"), py::arg("ortho_ulp"), py::arg("seed"))
        .def("update_dense",
             [](ST& self, const CArray<T>& W, Index k) {
                 const ConstView<T> w = view_of(W, "W_after");
                 UpdateInfo i;
                 {
                     py::gil_scoped_release release;
                     i = self.update_dense(w, k);
                 }
                 return info_dict(i);
             },
             py::arg("W_after").noconvert(), py::arg("max_update_rank"))
        .def("restart",
             [](ST& self, const CArray<T>& W) {
                 const ConstView<T> w = view_of(W, "W");
                 py::gil_scoped_release release;
                 return self.restart(w);
             },
             py::arg("W").noconvert())
        .def("representation_error",
             [](const ST& self, const CArray<T>& W) {
                 const ConstView<T> w = view_of(W, "W");
                 py::gil_scoped_release release;
                 return self.representation_error(w);
             },
             py::arg("W").noconvert())
        .def("matrix", &ST::matrix)
        .def_property_readonly("rho", &ST::rho)
        .def_property_readonly("dim", &ST::dim)
        .def_property_readonly("V", &ST::V)
        .def_property_readonly("D", &ST::D)
        .def_property_readonly("reorthonormalisations", &ST::reorthonormalisations);
    bind_shared<T>(st);

    py::class_<BT> bt(m, ("BrandTracker" + suffix).c_str());
    bt.def(py::init([](const CArray<T>& W, Index max_rank, double direction_tol, double ortho_ulp, std::uint64_t seed) {
               const ConstView<T> w = view_of(W, "W");
               const TrackerOptions o = options_of(max_rank, direction_tol, ortho_ulp);
               py::gil_scoped_release release;
               return BT(w, o, seed);
           }),
           py::arg("W").noconvert(), py::arg("max_rank"), py::arg("direction_tol"), py::arg("ortho_ulp"), py::arg("seed"))
        .def_property_readonly("discarded", &BT::discarded);
    bind_shared<T>(bt);
}

}  // namespace

namespace {

// Every field of a TrackObserverState, once: its name (the checkpoint's key and the Python attribute),
// its member and its doc. `f(name, member, doc)` is called for each, in the checkpoint's order; the
// class binding, to_dict and from_dict below all walk this table, so a new field is one line here.
template <class T, class F>
void state_fields(F&& f) {
    using S = TrackObserverState<T>;
    f("seen", &S::seen, "last step observed");
    f("modes", &S::modes, "per layer: structured or generic");
    f("rho", &S::rho, "per layer: the structured tracker's rho (NaN for generic layers)");
    f("generic_discarded", &S::generic_discarded, "per layer: what the generic tracker discarded");
    f("range_since", &S::range_since, "per layer: largest range residual since the last record");
    f("discarded", &S::discarded, "per layer: total discarded since the start");
    f("A", &S::A, "per layer: Q (structured) or U (generic)");
    f("V", &S::V, "per layer: the right basis of the low-rank part");
    f("D", &S::D, "per layer: the core of the low-rank part (structured)");
    f("S", &S::S, "generic layers: singular values");
    f("have_reference", &S::have_reference, "whether the reference step's blocks are set");
    f("reference_step", &S::reference_step, "the step the angles are measured against");
    f("ref_top_r", &S::ref_top_r, "per layer: top-r right vectors at the reference step");
    f("ref_bot_r", &S::ref_bot_r, "per layer: bottom-r right vectors at the reference step");
    f("ref_top_l", &S::ref_top_l, "per layer: top-r left vectors at the reference step (Q-frame)");
    f("ref_bot_l", &S::ref_bot_l, "per layer: bottom-r left vectors at the reference step (Q-frame)");
    f("theory_right", &S::theory_right, "per layer: the theory's right bases, if given");
    f("theory_left", &S::theory_left, "per layer: the theory's left bases, if given");
    f("mode_e2e", &S::mode_e2e, "how the end-to-end product is tracked");
    f("e2e_U", &S::e2e_U, "end-to-end tracker: left vectors");
    f("e2e_V", &S::e2e_V, "end-to-end tracker: right vectors");
    f("e2e_S", &S::e2e_S, "end-to-end tracker: singular values");
    f("e2e_discarded", &S::e2e_discarded, "end-to-end tracker: total discarded");
    f("reorthonormalisations", &S::reorthonormalisations, "reorthonormalisations so far");
}

// Every field of a TrackRecord, once, in the order of its plain form ([record][layer] lists). `top`
// (triplets) is in the table too; its plain form is a list of (U, S, V) tuples, and it is not an
// attribute of the class.
template <class T, class F>
void record_fields(F&& f) {
    using R = TrackRecord<T>;
    f("steps", &R::steps, "the recorded steps");
    f("spectra", &R::spectra, "[record][layer]: singular values");
    f("rho", &R::rho, "[record][layer]: the structured trackers' rho (NaN for generic layers)");
    f("certificate", &R::certificate, "[record][layer]: ||(W - rho Q)(I - V V^T)|| / ||W||");
    f("orthogonality", &R::orthogonality, "[record][layer]: loss of orthogonality of the bases");
    f("range_residual", &R::range_residual, "[record][layer]: largest range residual since the last record");
    f("discarded", &R::discarded, "[record][layer]: discarded so far");
    f("rank", &R::rank, "[record][layer]: s, the rank of the low-rank part");
    f("angles_right", &R::angles_right, "[record][layer][block]: sines of the right blocks vs the reference");
    f("angles_left", &R::angles_left, "[record][layer][block]: sines of the left blocks vs the reference");
    f("reference_step", &R::reference_step, "the step the angles are measured against");
    f("top", &R::top, "");
    f("theory_right", &R::theory_right, "[record][layer][2]: sines of the moving subspace and the bulk vs the theory's right bases");
    f("theory_left", &R::theory_left, "[record][layer][2]: the same vs the theory's left bases");
    f("spectra_e2e", &R::spectra_e2e, "[record]: singular values of the end-to-end product");
    f("certificate_e2e", &R::certificate_e2e, "[record]: relative residual of the end-to-end representation on random probes");
    f("rank_e2e", &R::rank_e2e, "[record]: dimension of the end-to-end moving part");
    f("mode_e2e", &R::mode_e2e, "chained (from the layer trackers) or own");
    f("events", &R::events, "what happened (restarts, switches), as sentences");
    f("modes", &R::modes, "per layer: structured or generic");
    f("reorthonormalisations", &R::reorthonormalisations, "reorthonormalisations during the run");
}

template <class M, class C>
constexpr bool is_top = std::is_same_v<M, decltype(&C::top)>;

// The state as plain lists, arrays and scalars: the form dln.io writes into a checkpoint.
template <class T>
py::dict state_dict(const TrackObserverState<T>& s) {
    py::dict d;
    state_fields<T>([&](const char* name, auto member, const char*) { d[name] = py::cast(s.*member); });
    return d;
}

[[noreturn]] inline void malformed_state(const std::exception& e) {
    invalid("state", std::string("track_svd: malformed tracker state (") + e.what() + ")");
}

// The inverse, for a state read back from a checkpoint (ValueError naming `state` if malformed).
template <class T>
TrackObserverState<T> state_of(const py::dict& d) {
    TrackObserverState<T> s;
    try {
        state_fields<T>([&](const char* name, auto member, const char*) {
            using V = std::decay_t<decltype(s.*member)>;
            s.*member = py::cast<V>(d[name]);
        });
    } catch (const py::error_already_set& e) {
        malformed_state(e);
    } catch (const py::cast_error& e) {
        malformed_state(e);
    }
    return s;
}

// The record as plain lists and scalars (triplets as (U, S, V) tuples): what dln.tracking.SvdTrace
// reads and dln.io writes into a checkpoint.
template <class T>
py::dict record_dict(const TrackRecord<T>& r) {
    using R = TrackRecord<T>;
    py::dict d;
    record_fields<T>([&](const char* name, auto member, const char*) {
        if constexpr (is_top<decltype(member), R>) {
            py::list top;
            for (const auto& rec : r.*member) {
                py::list layers;
                for (const auto& t : rec) layers.append(triplets_tuple(Triplets<T>(t)));
                top.append(layers);
            }
            d[name] = top;
        } else {
            d[name] = py::cast(r.*member);
        }
    });
    return d;
}

template <class T>
void bind_track_results(py::module_& m, const std::string& suffix) {
    using S = TrackObserverState<T>;
    py::class_<S> state(m, ("TrackState" + suffix).c_str(),
                        "The trackers' state after a segment of a tracked run: enough to continue it bit for bit.");
    state.def(py::init<>());
    state_fields<T>([&](const char* name, auto member, const char* doc) { state.def_readwrite(name, member, doc); });
    state.def("to_dict", &state_dict<T>, "The state as plain data, the form a checkpoint stores (dln.io).")
        .def_static("from_dict", &state_of<T>, py::arg("d"),
                    "The state from its checkpoint form; ValueError naming `state` if malformed.");

    using R = TrackRecord<T>;
    py::class_<R> record(m, ("TrackRecord" + suffix).c_str(),
                         "What a tracked run recorded ([record][layer] lists; dln.tracking.SvdTrace gives them shape).");
    record_fields<T>([&](const char* name, auto member, const char* doc) {
        if constexpr (!is_top<decltype(member), R>) record.def_readonly(name, member, doc);
    });
    record.def("to_dict", &record_dict<T>,
               "The record as plain data (triplets as (U, S, V) tuples under 'top'): what SvdTrace reads and a "
               "checkpoint stores.");
}

}  // namespace

template <class T>
std::unique_ptr<TrackObserver<T>> make_tracker(const TrackSpec& spec, Bases<T> right, Bases<T> left,
                                               const std::vector<Index>& widths) {
    spec.tracker.validate();
    spec.validate();
    auto tracker = std::make_unique<TrackObserver<T>>(spec);
    if (right.has_value() != left.has_value()) invalid("theory_left", "give the theory's bases both or neither");
    if (right) tracker->set_theory(std::move(*right), std::move(*left), widths);
    return tracker;
}

template std::unique_ptr<TrackObserver<float>> make_tracker(const TrackSpec&, Bases<float>, Bases<float>,
                                                            const std::vector<Index>&);
template std::unique_ptr<TrackObserver<double>> make_tracker(const TrackSpec&, Bases<double>, Bases<double>,
                                                             const std::vector<Index>&);

void bind_tracker(py::module_& m) {
    bind_dtype<double>(m, "64");
    bind_dtype<float>(m, "32");
    bind_track_results<double>(m, "64");
    bind_track_results<float>(m, "32");
}

}  // namespace dln::py_bind
