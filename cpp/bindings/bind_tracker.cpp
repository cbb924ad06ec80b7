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

// A TrackObserver's state as plain lists, arrays and scalars: the form dln.io writes into a checkpoint.
template <class T>
py::dict state_dict(const TrackObserverState<T>& s) {
    py::dict d;
    d["seen"] = s.seen;
    d["modes"] = py::cast(s.modes);
    d["rho"] = py::cast(s.rho);
    d["generic_discarded"] = py::cast(s.generic_discarded);
    d["range_since"] = py::cast(s.range_since);
    d["discarded"] = py::cast(s.discarded);
    d["A"] = py::cast(s.A);
    d["V"] = py::cast(s.V);
    d["D"] = py::cast(s.D);
    d["S"] = py::cast(s.S);
    d["have_reference"] = s.have_reference;
    d["reference_step"] = s.reference_step;
    d["ref_top_r"] = py::cast(s.ref_top_r);
    d["ref_bot_r"] = py::cast(s.ref_bot_r);
    d["ref_top_l"] = py::cast(s.ref_top_l);
    d["ref_bot_l"] = py::cast(s.ref_bot_l);
    d["theory_right"] = py::cast(s.theory_right);
    d["theory_left"] = py::cast(s.theory_left);
    d["mode_e2e"] = s.mode_e2e;
    d["e2e_U"] = py::cast(s.e2e_U);
    d["e2e_V"] = py::cast(s.e2e_V);
    d["e2e_S"] = py::cast(s.e2e_S);
    d["e2e_discarded"] = s.e2e_discarded;
    d["reorthonormalisations"] = s.reorthonormalisations;
    return d;
}

// The inverse, for a state read back from a checkpoint (ValueError naming `state` if malformed).
template <class T>
TrackObserverState<T> state_of(const py::dict& d) {
    TrackObserverState<T> s;
    try {
        s.seen = d["seen"].cast<long long>();
        s.modes = d["modes"].cast<std::vector<std::string>>();
        s.rho = d["rho"].cast<std::vector<double>>();
        s.generic_discarded = d["generic_discarded"].cast<std::vector<double>>();
        s.range_since = d["range_since"].cast<std::vector<double>>();
        s.discarded = d["discarded"].cast<std::vector<double>>();
        s.A = py::cast<std::vector<Mat<T>>>(d["A"]);
        s.V = py::cast<std::vector<Mat<T>>>(d["V"]);
        s.D = py::cast<std::vector<Mat<T>>>(d["D"]);
        s.S = d["S"].cast<std::vector<std::vector<double>>>();
        s.have_reference = d["have_reference"].cast<bool>();
        s.reference_step = d["reference_step"].cast<long long>();
        s.ref_top_r = py::cast<std::vector<Mat<T>>>(d["ref_top_r"]);
        s.ref_bot_r = py::cast<std::vector<Mat<T>>>(d["ref_bot_r"]);
        s.ref_top_l = py::cast<std::vector<Mat<T>>>(d["ref_top_l"]);
        s.ref_bot_l = py::cast<std::vector<Mat<T>>>(d["ref_bot_l"]);
        s.theory_right = py::cast<std::vector<Mat<T>>>(d["theory_right"]);
        s.theory_left = py::cast<std::vector<Mat<T>>>(d["theory_left"]);
        s.mode_e2e = d["mode_e2e"].cast<std::string>();
        s.e2e_U = py::cast<Mat<T>>(d["e2e_U"]);
        s.e2e_V = py::cast<Mat<T>>(d["e2e_V"]);
        s.e2e_S = d["e2e_S"].cast<std::vector<double>>();
        s.e2e_discarded = d["e2e_discarded"].cast<double>();
        s.reorthonormalisations = d["reorthonormalisations"].cast<long long>();
    } catch (const py::error_already_set& e) {
        invalid("state", std::string("track_svd: malformed tracker state (") + e.what() + ")");
    } catch (const py::cast_error& e) {
        invalid("state", std::string("track_svd: malformed tracker state (") + e.what() + ")");
    }
    return s;
}

// The record as plain lists and scalars (triplets as (U, S, V) tuples): what dln.tracking.SvdTrace
// reads and dln.io writes into a checkpoint.
template <class T>
py::dict record_dict(const TrackRecord<T>& r) {
    py::dict d;
    d["steps"] = py::cast(r.steps);
    d["spectra"] = py::cast(r.spectra);
    d["rho"] = py::cast(r.rho);
    d["certificate"] = py::cast(r.certificate);
    d["orthogonality"] = py::cast(r.orthogonality);
    d["range_residual"] = py::cast(r.range_residual);
    d["discarded"] = py::cast(r.discarded);
    d["rank"] = py::cast(r.rank);
    d["angles_right"] = py::cast(r.angles_right);
    d["angles_left"] = py::cast(r.angles_left);
    d["reference_step"] = r.reference_step;
    py::list top;
    for (const auto& rec : r.top) {
        py::list layers;
        for (const auto& t : rec) layers.append(triplets_tuple(Triplets<T>(t)));
        top.append(layers);
    }
    d["top"] = top;
    d["theory_right"] = py::cast(r.theory_right);
    d["theory_left"] = py::cast(r.theory_left);
    d["spectra_e2e"] = py::cast(r.spectra_e2e);
    d["certificate_e2e"] = py::cast(r.certificate_e2e);
    d["rank_e2e"] = py::cast(r.rank_e2e);
    d["mode_e2e"] = r.mode_e2e;
    d["events"] = py::cast(r.events);
    d["modes"] = py::cast(r.modes);
    d["reorthonormalisations"] = r.reorthonormalisations;
    return d;
}

template <class T>
void bind_track_results(py::module_& m, const std::string& suffix) {
    using S = TrackObserverState<T>;
    py::class_<S>(m, ("TrackState" + suffix).c_str(),
                  "The trackers' state after a segment of a tracked run: enough to continue it bit for bit.")
        .def(py::init<>())
        .def_readwrite("seen", &S::seen, "last step observed")
        .def_readwrite("modes", &S::modes, "per layer: structured or generic")
        .def_readwrite("rho", &S::rho)
        .def_readwrite("generic_discarded", &S::generic_discarded)
        .def_readwrite("range_since", &S::range_since)
        .def_readwrite("discarded", &S::discarded)
        .def_readwrite("A", &S::A, "per layer: Q (structured) or U (generic)")
        .def_readwrite("V", &S::V)
        .def_readwrite("D", &S::D)
        .def_readwrite("S", &S::S, "generic layers: singular values")
        .def_readwrite("have_reference", &S::have_reference)
        .def_readwrite("reference_step", &S::reference_step)
        .def_readwrite("ref_top_r", &S::ref_top_r)
        .def_readwrite("ref_bot_r", &S::ref_bot_r)
        .def_readwrite("ref_top_l", &S::ref_top_l)
        .def_readwrite("ref_bot_l", &S::ref_bot_l)
        .def_readwrite("theory_right", &S::theory_right)
        .def_readwrite("theory_left", &S::theory_left)
        .def_readwrite("mode_e2e", &S::mode_e2e)
        .def_readwrite("e2e_U", &S::e2e_U)
        .def_readwrite("e2e_V", &S::e2e_V)
        .def_readwrite("e2e_S", &S::e2e_S)
        .def_readwrite("e2e_discarded", &S::e2e_discarded)
        .def_readwrite("reorthonormalisations", &S::reorthonormalisations)
        .def("to_dict", &state_dict<T>, "The state as plain data, the form a checkpoint stores (dln.io).")
        .def_static("from_dict", &state_of<T>, py::arg("d"),
                    "The state from its checkpoint form; ValueError naming `state` if malformed.");

    using R = TrackRecord<T>;
    py::class_<R>(m, ("TrackRecord" + suffix).c_str(),
                  "What a tracked run recorded ([record][layer] lists; dln.tracking.SvdTrace gives them shape).")
        .def_readonly("steps", &R::steps)
        .def_readonly("spectra", &R::spectra)
        .def_readonly("rho", &R::rho)
        .def_readonly("certificate", &R::certificate)
        .def_readonly("orthogonality", &R::orthogonality)
        .def_readonly("range_residual", &R::range_residual)
        .def_readonly("discarded", &R::discarded)
        .def_readonly("rank", &R::rank)
        .def_readonly("angles_right", &R::angles_right)
        .def_readonly("angles_left", &R::angles_left)
        .def_readonly("reference_step", &R::reference_step)
        .def_readonly("theory_right", &R::theory_right)
        .def_readonly("theory_left", &R::theory_left)
        .def_readonly("spectra_e2e", &R::spectra_e2e)
        .def_readonly("certificate_e2e", &R::certificate_e2e)
        .def_readonly("rank_e2e", &R::rank_e2e)
        .def_readonly("mode_e2e", &R::mode_e2e)
        .def_readonly("events", &R::events)
        .def_readonly("modes", &R::modes)
        .def_readonly("reorthonormalisations", &R::reorthonormalisations)
        .def("to_dict", &record_dict<T>,
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
