// TrackObserver: the template definitions, instantiated once per dtype by observer_f32.cpp and observer_f64.cpp
// (one translation unit each, so the two dtypes compile in parallel and neither is rebuilt for the
// other's change).
#pragma once

#include "detail.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <sstream>

namespace dln {

using namespace detail;

template <class T>
TrackObserver<T>::TrackObserver(TrackSpec spec) : spec_(std::move(spec)) {
    spec_.validate();
}

template <class T>
void TrackObserver<T>::event(long long k, std::size_t l, const std::string& what) {
    rec_.events.push_back("step " + std::to_string(k) + ", layer " + std::to_string(l) + ": " + what);
}

template <class T>
void TrackObserver<T>::init(const std::vector<Mat<T>>& weights) {
    const std::size_t L = weights.size();
    structured_.assign(L, std::nullopt);
    generic_.assign(L, std::nullopt);
    range_since_.assign(L, 0.0);
    discarded_.assign(L, 0.0);
    ref_top_r_.assign(L, {}), ref_bot_r_.assign(L, {}), ref_top_l_.assign(L, {}), ref_bot_l_.assign(L, {});
    rec_.modes.assign(L, "");
    for (std::size_t l = 0; l < L; ++l) {
        const Mat<T>& W = weights[l];
        const Index d = W.rows();
        bool structured = false;
        if (spec_.mode != "generic" && W.cols() == d) {
            // Is W = rho Q with Q orthogonal? rho from the Frobenius norm, then a probe test of
            // W^T W = rho^2 I (O(d^2) per probe; a non-orthogonality of size delta shows as ~delta).
            const double rho = static_cast<double>(W.norm()) / std::sqrt(static_cast<double>(d));
            if (rho > 0.0) {
                Rng rng(spec_.seed + 7919 * (l + 1));
                const Index p = std::min<Index>(d, 8);
                Mat<T> X(d, p), WX(d, p), G(d, p);
                fill_normal(X, rng);
                gemm<T>(Op::N, Op::N, T(1), view(W), view(X), T(0), WX);
                gemm<T>(Op::T, Op::N, T(1), view(W), view(WX), T(0), G);
                G -= static_cast<T>(rho * rho) * X;
                const double rel = static_cast<double>(G.norm()) / (rho * rho * static_cast<double>(X.norm()));
                if (rel <= 1e3 * eps<T>() * std::sqrt(static_cast<double>(d))) {
                    Mat<T> Q = W / static_cast<T>(rho);
                    structured_[l].emplace(std::move(Q), rho, Mat<T>(d, 0), Mat<T>(0, 0), spec_.tracker,
                                           spec_.seed + 104729 * (l + 1));
                    structured = true;
                } else if (spec_.mode == "structured") {
                    event(0, l, "not a scaled orthogonal matrix at the start (probe residual " + std::to_string(rel) +
                                    "); tracked by the generic truncated tracker");
                }
            }
        }
        if (!structured) generic_[l].emplace(view(W), spec_.tracker, spec_.seed + 104729 * (l + 1));
        rec_.modes[l] = structured ? "structured" : "generic";
        if (!structured) discarded_[l] = generic_[l]->discarded();
    }
    if (spec_.end_to_end) {
        if (chains(weights)) {
            rec_.mode_e2e = "chained";
        } else {
            rec_.mode_e2e = "own";
            e2e_before_ = product(weights);
            e2e_.emplace(view(e2e_before_), spec_.tracker, spec_.seed + 32452843);
        }
    }
    initialised_ = true;
}

template <class T>
void TrackObserver<T>::set_theory(std::vector<Mat<T>> right, std::vector<Mat<T>> left, const std::vector<Index>& widths) {
    const std::size_t L = widths.size() - 1;
    if (widths.size() < 2 || right.size() != L || left.size() != L)
        invalid("theory", "expected one right and one left basis per layer (" + std::to_string(L) + "), got " +
                              std::to_string(right.size()) + " and " + std::to_string(left.size()));
    for (std::size_t l = 0; l < L; ++l) {
        const std::string at = " of layer " + std::to_string(l);
        const Mat<T>& R = right[l];
        const Mat<T>& U = left[l];
        if (R.rows() != widths[l] || U.rows() != widths[l + 1] || R.cols() != U.cols() || R.cols() < 1)
            invalid("theory", "bases" + at + " have shapes " + shape_str(R.rows(), R.cols()) + " and " +
                                  shape_str(U.rows(), U.cols()) + "; expected (" + std::to_string(widths[l]) + ", m) and (" +
                                  std::to_string(widths[l + 1]) + ", m), m >= 1");
        for (const Mat<T>* B : {&R, &U}) {
            if (!all_finite(B->data(), B->size())) invalid("theory", "basis" + at + " contains NaN or Inf");
            CM<T> G = B->transpose() * *B;
            G -= CM<T>::Identity(G.rows(), G.cols());
            if (static_cast<double>(G.cwiseAbs().maxCoeff()) > 1e3 * eps<T>() * static_cast<double>(B->cols()))
                invalid("theory", "basis" + at + " does not have orthonormal columns");
        }
    }
    theory_right_ = std::move(right);
    theory_left_ = std::move(left);
}

template <class T>
bool TrackObserver<T>::chains(const std::vector<Mat<T>>& weights) const {
    for (std::size_t l = 0; l < weights.size(); ++l)
        if (!structured_[l] || weights[l].rows() != weights[0].rows()) return false;
    return true;
}

template <class T>
Mat<T> TrackObserver<T>::product(const std::vector<Mat<T>>& weights) const {
    Mat<T> P = weights[0];
    for (std::size_t l = 1; l < weights.size(); ++l) {
        Mat<T> next(weights[l].rows(), P.cols());
        gemm<T>(Op::N, Op::N, T(1), view(weights[l]), view(P), T(0), next);
        P = std::move(next);
    }
    return P;
}

template <class T>
void TrackObserver<T>::on_step(long long k, double, const std::vector<Mat<T>>& weights, const std::vector<Mat<T>>&) {
    if (!initialised_) init(weights);
    // A generic layer's update reads the weights before it: they are these (the loop's fused step
    // updates in place and hands on_update no `before`). Copied into a buffer sized at the first step.
    before_.resize(weights.size());
    for (std::size_t l = 0; l < weights.size(); ++l)
        if (generic_[l]) before_[l] = weights[l];
    if (k == skip_) {  // a restored run sees its last step again: recorded (and checked) already
        skip_ = -1;
        if (e2e_ && e2e_before_.size() == 0) e2e_before_ = product(weights);  // the same bits as before
        return;
    }
    seen_ = k;
    if (k % spec_.every == 0) record_step(k, weights);
}

template <class T>
void TrackObserver<T>::on_update(long long k, const std::vector<Mat<T>>&, const std::vector<Mat<T>>& after) {
    for (std::size_t l = 0; l < after.size(); ++l) {
        // The one pass over the layer's weights for NaN / Inf this step (the tracker's own calls skip
        // theirs). A non-finite step ends the run at the next loss (the loop hands back the weights
        // before it), so the tracker stays where it was, which is what the run returns.
        if (!all_finite(after[l].data(), after[l].size())) {
            event(k + 1, l, "non-finite weights after the update; not tracked (the run stops at this step)");
            continue;
        }
        if (structured_[l]) {
            auto& t = *structured_[l];
            t.reseed(probe_seed(spec_.seed, l, k, 1));
            UpdateInfo info = t.update_dense(view(after[l]), spec_.update_rank, true);
            if (info.split_failed) {
                // Try to rebuild from the live weights; if they are not rho Q + low rank either, the
                // structure is gone and the generic tracker takes over.
                const double r = t.restart(view(after[l]));
                if (r >= 0.0) {
                    event(k + 1, l, "dense split failed (" + info.reason + "); restarted from the live weights");
                } else {
                    event(k + 1, l, "structure lost (" + info.reason + "); switched to the generic truncated tracker");
                    structured_[l].reset();
                    generic_[l].emplace(view(after[l]), spec_.tracker, spec_.seed + 15485863 * (l + 1) + static_cast<std::uint64_t>(k));
                    rec_.modes[l] = "generic";
                    discarded_[l] += generic_[l]->discarded();
                }
                continue;
            }
            range_since_[l] = std::max(range_since_[l], info.range_residual);
            discarded_[l] += info.discarded;
            if (info.reorthonormalised) ++rec_.reorthonormalisations;
            if (info.over_cap) {
                const double r = t.restart(view(after[l]));
                event(k + 1, l, "s exceeded max_rank = " + std::to_string(spec_.tracker.max_rank) +
                                    (r >= 0.0 ? "; restarted from the live weights, s = " + std::to_string(t.rank())
                                              : "; restart failed, kept the exact representation"));
            }
        } else {
            auto& g = *generic_[l];
            g.reseed(probe_seed(spec_.seed, l, k, 2));
            UpdateInfo info = g.update_dense(view(before_[l]), view(after[l]), spec_.update_rank);
            range_since_[l] = std::max(range_since_[l], info.range_residual);
            discarded_[l] += info.discarded;
        }
    }
    if (spec_.end_to_end) {
        if (e2e_) {
            Mat<T> P = product(after);
            e2e_->reseed(probe_seed(spec_.seed, after.size(), k, 3));
            e2e_->update_dense(view(e2e_before_), view(P), spec_.update_rank);
            e2e_before_ = std::move(P);
        } else if (!chains(after)) {
            // A layer left the structure: the layer trackers no longer describe W_{L:1} exactly.
            e2e_before_ = product(after);
            e2e_.emplace(view(e2e_before_), spec_.tracker, spec_.seed + 32452843 + static_cast<std::uint64_t>(k));
            rec_.mode_e2e = "own";
            rec_.events.push_back("step " + std::to_string(k + 1) +
                                  ", end-to-end: a layer is tracked generically; W_{L:1} now has its own generic tracker");
        }
    }
}

template <class T>
void TrackObserver<T>::record_theory(const std::vector<Mat<T>>& weights) {
    const std::size_t L = weights.size();
    const double nan = std::nan("");
    std::vector<std::vector<double>> right(L, {nan, nan}), left(L, {nan, nan});
    for (std::size_t l = 0; l < L; ++l) {
        if (!structured_[l] || theory_right_.empty()) continue;
        const auto& t = *structured_[l];
        // Right moving subspace: span(V); left: Q span(V) (left singular vectors are Q times the
        // Q-frame ones, and the core's left and right vectors both lie in span(V)).
        right[l] = theory_angles(t.V(), theory_right_[l]);
        Mat<T> QV(t.dim(), t.rank());
        if (t.rank()) gemm<T>(Op::N, Op::N, T(1), view(t.Q()), view(t.V()), T(0), QV);
        left[l] = theory_angles(QV, theory_left_[l]);
    }
    rec_.theory_right.push_back(std::move(right));
    rec_.theory_left.push_back(std::move(left));
}

// W_{L:1} from the layer trackers. With Q^T_l W_l = M_l = rho_l I + V_l D_l V_l^T and P_l = Q_l ... Q_1,
//     W_{L:1} = P_L prod_{l=L..1} (P_{l-1}^T M_l P_{l-1}) = P_L prod_l (rho_l I + Vt_l D_l Vt_l^T),
// Vt_l = P_{l-1}^T V_l. On B, an orthonormal basis of the union of the span(Vt_l), every factor is
// rho_l I + B C_l B^T, so W_{L:1} = P_L (rho_e I + B (K - rho_e I_b) B^T) with K = prod (rho_l I_b + C_l)
// and rho_e = prod rho_l: singular values sigma(K) plus |rho_e| (d - b times). When the bases chain
// (law of parsimony: V_{l+1} = Q_l V_l, so all Vt_l span V_{1,1}) b = 2r; otherwise b grows up to
// sum s_l and the representation stays exact. Cost O(L^2 d^2 s + d b^2 + b^3) per record.
template <class T>
void TrackObserver<T>::record_end_to_end(const std::vector<Mat<T>>& weights) {
    const std::size_t L = weights.size();
    if (e2e_) {
        const Mat<T> P = product(weights);
        rec_.spectra_e2e.push_back(e2e_->spectrum());
        rec_.certificate_e2e.push_back(e2e_->certificate(view(P)));
        rec_.rank_e2e.push_back(e2e_->rank());
        return;
    }
    const Index d = weights[0].rows();
    std::vector<Mat<T>> Vt(L);
    Index total = 0;
    double rho_e = 1.0;
    for (std::size_t l = 0; l < L; ++l) {
        const auto& t = *structured_[l];
        rho_e *= t.rho();
        Mat<T> X = t.V();
        for (std::size_t j = l; j-- > 0;) {  // Q_1^T ... Q_{l-1}^T V_l: apply Q_{l-1}^T first
            Mat<T> Y(d, X.cols());
            if (X.cols()) gemm<T>(Op::T, Op::N, T(1), view(structured_[j]->Q()), view(X), T(0), Y);
            X = std::move(Y);
        }
        total += X.cols();
        Vt[l] = std::move(X);
    }
    CM<T> all(d, total);
    Index c = 0;
    for (const auto& X : Vt) {
        all.middleCols(c, X.cols()) = X;
        c += X.cols();
    }
    // Orthonormal columns: a direction shared by j of them has singular value sqrt(j), one held by
    // none only rounding, so the threshold is that of one basis.
    double tail = 0.0;
    const CM<T> B = basis_of<T>(all, rel_tol<T>(spec_.tracker), tail);
    const Index b = B.cols();
    CM<T> K = CM<T>::Identity(b, b);
    for (std::size_t l = 0; l < L; ++l) {
        const auto& t = *structured_[l];
        CM<T> F = CM<T>::Identity(b, b) * static_cast<T>(t.rho());
        if (Vt[l].cols()) {
            CM<T> BV = B.transpose() * Vt[l];
            F.noalias() += BV * t.D() * BV.transpose();
        }
        K = F * K;
    }
    std::vector<double> spectrum;
    spectrum.reserve(static_cast<std::size_t>(d));
    if (b) {
        Eigen::JacobiSVD<CM<T>> svd(K);
        for (Index i = 0; i < b; ++i) spectrum.push_back(static_cast<double>(svd.singularValues()(i)));
    }
    for (Index i = b; i < d; ++i) spectrum.push_back(std::abs(rho_e));
    std::sort(spectrum.begin(), spectrum.end(), std::greater<double>());
    // Check the representation on random probes X: ||W_{L:1} X - P_L (rho_e X + B (K - rho_e I) B^T X)||_F
    // relative to ||W_{L:1} X||_F (O(L d^2 p); an exact certificate would need the d x d product).
    Rng rng(probe_seed(spec_.seed, L, rec_.steps.back(), 5));
    const Index p = std::min<Index>(d, 8);
    Mat<T> X(d, p), Y(d, p), Z(d, p), tmp(d, p);
    fill_normal(X, rng);
    Y = X;
    for (std::size_t l = 0; l < L; ++l) {
        gemm<T>(Op::N, Op::N, T(1), view(weights[l]), view(Y), T(0), tmp);
        std::swap(Y, tmp);
    }
    Z = static_cast<T>(rho_e) * X;
    if (b) {
        CM<T> Km = K;
        Km.diagonal().array() -= static_cast<T>(rho_e);
        Z.noalias() += B * (Km * (B.transpose() * X));
    }
    for (std::size_t l = 0; l < L; ++l) {
        gemm<T>(Op::N, Op::N, T(1), view(structured_[l]->Q()), view(Z), T(0), tmp);
        std::swap(Z, tmp);
    }
    const double yn = static_cast<double>(Y.norm());
    const double r = static_cast<double>((Y - Z).norm());
    rec_.spectra_e2e.push_back(std::move(spectrum));
    rec_.certificate_e2e.push_back(yn > 0.0 ? r / yn : r);
    rec_.rank_e2e.push_back(b);
}

template <class T>
void TrackObserver<T>::record_step(long long k, const std::vector<Mat<T>>& weights) {
    const std::size_t L = weights.size();
    const Index r = spec_.block_r;
    rec_.steps.push_back(k);
    std::vector<std::vector<double>> spectra(L);
    std::vector<double> rho(L), cert(L), orth(L), rng(L), disc(L);
    std::vector<Index> rank(L);
    std::vector<std::vector<double>> ar(L, std::vector<double>(3, std::nan(""))), al = ar;
    std::vector<Triplets<T>> top(spec_.top_p > 0 ? L : 0);
    const bool set_reference = !have_reference_ && k >= 1 && r > 0 && spec_.reference == "step1";
    for (std::size_t l = 0; l < L; ++l) {
        const Mat<T>& W = weights[l];
        if (structured_[l]) {
            auto& t = *structured_[l];
            // Weights reach a record finite: initial and restored ones are checked when built, later
            // ones by on_update (a non-finite certificate here would say so rather than throw).
            cert[l] = t.certificate(view(W), true);
            if (cert[l] > spec_.certificate_tol) {
                t.reseed(probe_seed(spec_.seed, l, k, 4));
                const double before = cert[l];
                const double res = t.restart(view(W));
                cert[l] = t.certificate(view(W));
                std::ostringstream o;
                o << "certificate " << before << " > " << spec_.certificate_tol << "; restarted from the live weights"
                  << (res >= 0.0 ? "" : " failed") << ", certificate now " << cert[l];
                event(k, l, o.str());
            }
        }
        const bool st = structured_[l].has_value();
        if (st) {
            auto& t = *structured_[l];
            spectra[l] = t.spectrum();
            rho[l] = t.rho();
            orth[l] = t.orthogonality();
            rank[l] = t.rank();
        } else {
            auto& g = *generic_[l];
            spectra[l] = g.spectrum();
            cert[l] = g.certificate(view(W));
            rho[l] = std::nan("");
            orth[l] = g.orthogonality();
            rank[l] = g.rank();
        }
        rng[l] = range_since_[l];
        disc[l] = discarded_[l];
        range_since_[l] = 0.0;
        const Index n = static_cast<Index>(spectra[l].size());
        if (spec_.top_p > 0) {
            const Index p = std::min(spec_.top_p, st ? n : generic_[l]->rank());
            top[l] = st ? structured_[l]->triplets(0, p) : generic_[l]->triplets(0, p);
        }
        // Blocks are defined only where a gap separates them from the rest of the spectrum.
        if (r > 0 && 2 * r < n && st && k >= 1 && spec_.reference == "step1") {
            const auto& s = spectra[l];
            const double gap_tol = 1e-12 * std::max(s[0], std::numeric_limits<double>::min());
            const bool top_ok = s[r - 1] - s[r] > gap_tol, bot_ok = s[n - r - 1] - s[n - r] > gap_tol;
            auto& t = *structured_[l];
            // Left vectors stay in the Q-frame (no O(d^2 r) product by Q): Q is orthogonal and fixed
            // for the tracker's life, so the angles are those of the left subspaces themselves.
            Triplets<T> tt = t.triplets(0, r, true), bt = t.triplets(n - r, r, true);
            if (set_reference) {
                ref_top_r_[l] = tt.V, ref_top_l_[l] = tt.U, ref_bot_r_[l] = bt.V, ref_bot_l_[l] = bt.U;
            }
            if (ref_top_r_[l].size() && top_ok && bot_ok) {
                ar[l][0] = sine_angle(tt.V, ref_top_r_[l]);
                al[l][0] = sine_angle(tt.U, ref_top_l_[l]);
                ar[l][2] = sine_angle(bt.V, ref_bot_r_[l]);
                al[l][2] = sine_angle(bt.U, ref_bot_l_[l]);
                // The middle block is the complement of top + bottom, and complements have the
                // same largest principal angle, so O(d r^2) instead of O(d^3).
                Mat<T> cur(W.rows(), 2 * r), ref(W.rows(), 2 * r);
                cur << tt.V, bt.V;
                ref << ref_top_r_[l], ref_bot_r_[l];
                ar[l][1] = sine_angle(cur, ref);
                cur << tt.U, bt.U;
                ref << ref_top_l_[l], ref_bot_l_[l];
                al[l][1] = sine_angle(cur, ref);
            }
        }
    }
    if (set_reference) have_reference_ = true, rec_.reference_step = k;
    rec_.spectra.push_back(std::move(spectra));
    rec_.rho.push_back(std::move(rho));
    rec_.certificate.push_back(std::move(cert));
    rec_.orthogonality.push_back(std::move(orth));
    rec_.range_residual.push_back(std::move(rng));
    rec_.discarded.push_back(std::move(disc));
    rec_.rank.push_back(std::move(rank));
    rec_.angles_right.push_back(std::move(ar));
    rec_.angles_left.push_back(std::move(al));
    if (spec_.top_p > 0) rec_.top.push_back(std::move(top));
    if (spec_.reference == "theory") record_theory(weights);
    if (spec_.end_to_end) record_end_to_end(weights);
}

template <class T>
void TrackObserver<T>::on_finish(Status, long long) {}

template <class T>
TrackObserverState<T> TrackObserver<T>::state() const {
    TrackObserverState<T> s;
    if (!initialised_) return s;
    const std::size_t L = structured_.size();
    s.seen = seen_;
    s.modes = rec_.modes;
    s.rho.assign(L, 0.0), s.generic_discarded.assign(L, 0.0);
    s.A.resize(L), s.V.resize(L), s.D.resize(L), s.S.resize(L);
    for (std::size_t l = 0; l < L; ++l) {
        if (structured_[l]) {
            const auto& t = *structured_[l];
            s.rho[l] = t.rho(), s.A[l] = t.Q(), s.V[l] = t.V(), s.D[l] = t.D();
        } else {
            const auto& g = *generic_[l];
            s.A[l] = g.U(), s.V[l] = g.V(), s.S[l] = g.S(), s.generic_discarded[l] = g.discarded();
        }
    }
    s.range_since = range_since_, s.discarded = discarded_;
    s.have_reference = have_reference_, s.reference_step = rec_.reference_step;
    s.ref_top_r = ref_top_r_, s.ref_bot_r = ref_bot_r_, s.ref_top_l = ref_top_l_, s.ref_bot_l = ref_bot_l_;
    s.theory_right = theory_right_, s.theory_left = theory_left_;
    s.mode_e2e = rec_.mode_e2e;
    if (e2e_) s.e2e_U = e2e_->U(), s.e2e_V = e2e_->V(), s.e2e_S = e2e_->S(), s.e2e_discarded = e2e_->discarded();
    s.reorthonormalisations = rec_.reorthonormalisations;
    return s;
}

template <class T>
void TrackObserver<T>::restore(TrackObserverState<T> s, const std::vector<Index>& widths) {
    const std::size_t L = widths.size() - 1;
    auto bad = [](const std::string& why) { invalid("state", "track_svd: " + why); };
    auto sized = [&](std::size_t n, const char* what) {
        if (n != L) bad(std::string(what) + " has " + std::to_string(n) + " entries for " + std::to_string(L) + " layers");
    };
    if (widths.size() < 2) bad("no layers");
    sized(s.modes.size(), "modes"), sized(s.rho.size(), "rho"), sized(s.generic_discarded.size(), "generic_discarded");
    sized(s.range_since.size(), "range_since"), sized(s.discarded.size(), "discarded"), sized(s.A.size(), "A");
    sized(s.V.size(), "V"), sized(s.D.size(), "D"), sized(s.S.size(), "S");
    for (auto* refs : {&s.ref_top_r, &s.ref_bot_r, &s.ref_top_l, &s.ref_bot_l}) sized(refs->size(), "reference blocks");
    if (s.seen < 0) bad("seen step " + std::to_string(s.seen) + " < 0");
    structured_.assign(L, std::nullopt);
    generic_.assign(L, std::nullopt);
    try {
        for (std::size_t l = 0; l < L; ++l) {
            const std::uint64_t seed = spec_.seed + 104729 * (l + 1);
            if (s.modes[l] == "structured") {
                if (widths[l] != widths[l + 1] || s.A[l].rows() != widths[l])
                    bad("layer " + std::to_string(l) + ": structured tracker of the wrong shape");
                structured_[l].emplace(std::move(s.A[l]), s.rho[l], std::move(s.V[l]), std::move(s.D[l]), spec_.tracker, seed);
            } else if (s.modes[l] == "generic") {
                if (s.A[l].rows() != widths[l + 1] || s.V[l].rows() != widths[l])
                    bad("layer " + std::to_string(l) + ": generic tracker of the wrong shape");
                generic_[l].emplace(std::move(s.A[l]), std::move(s.S[l]), std::move(s.V[l]), s.generic_discarded[l],
                                    spec_.tracker, seed);
            } else {
                bad("layer " + std::to_string(l) + ": unknown mode '" + s.modes[l] + "'");
            }
        }
        if (s.mode_e2e == "own") {
            if (s.e2e_U.rows() != widths[L] || s.e2e_V.rows() != widths[0]) bad("end-to-end tracker of the wrong shape");
            e2e_.emplace(std::move(s.e2e_U), std::move(s.e2e_S), std::move(s.e2e_V), s.e2e_discarded, spec_.tracker,
                         spec_.seed + 32452843);
        } else if (s.mode_e2e != (spec_.end_to_end ? "chained" : "")) {
            bad("end-to-end mode '" + s.mode_e2e + "' does not fit the spec");
        }
        if (spec_.reference == "theory") set_theory(std::move(s.theory_right), std::move(s.theory_left), widths);
    } catch (const std::invalid_argument& e) {
        const std::string what = e.what();
        if (what.rfind("state", 0) == 0) throw;
        bad(what);
    }
    range_since_ = std::move(s.range_since), discarded_ = std::move(s.discarded);
    have_reference_ = s.have_reference;
    ref_top_r_ = std::move(s.ref_top_r), ref_bot_r_ = std::move(s.ref_bot_r);
    ref_top_l_ = std::move(s.ref_top_l), ref_bot_l_ = std::move(s.ref_bot_l);
    rec_ = TrackRecord<T>{};
    rec_.modes = std::move(s.modes);
    rec_.reference_step = s.reference_step;
    rec_.mode_e2e = s.mode_e2e;
    rec_.reorthonormalisations = s.reorthonormalisations;
    seen_ = skip_ = s.seen;
    initialised_ = true;
}

}  // namespace dln
