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

TrackSpec track_spec_of(const py::dict& d) {
    TrackSpec s;
    s.every = d["every"].cast<long long>();
    s.top_p = d["top_p"].cast<Index>();
    s.block_r = d["block_r"].cast<Index>();
    s.update_rank = d["update_rank"].cast<Index>();
    s.mode = d["mode"].cast<std::string>();
    s.reference = d["reference"].cast<std::string>();
    s.end_to_end = d["end_to_end"].cast<bool>();
    s.certificate_tol = d["certificate_tol"].cast<double>();
    s.tracker = options_of(d["max_rank"].cast<Index>(), d["direction_tol"].cast<double>(), d["ortho_ulp"].cast<double>());
    s.seed = d["seed"].cast<std::uint64_t>();
    s.validate();
    return s;
}

template <class T>
py::dict track_record_dict(TrackRecord<T>&& r) {
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
    for (auto& rec : r.top) {
        py::list layers;
        for (auto& t : rec) layers.append(triplets_tuple(std::move(t)));
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

template py::dict track_record_dict(TrackRecord<float>&&);
template py::dict track_record_dict(TrackRecord<double>&&);

void bind_tracker(py::module_& m) {
    bind_dtype<double>(m, "64");
    bind_dtype<float>(m, "32");
}

}  // namespace dln::py_bind
