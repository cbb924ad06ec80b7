// Incremental SVD tracking (SCIENCE.md section 4).
//
// StructuredTracker keeps the exact representation of a square layer
//     Q^T W = rho I + V D V^T,     Q orthogonal (d x d), V orthonormal (d x s), D (s x s),
// so the spectrum is sigma(rho I_s + D) plus |rho| with multiplicity d - s, the right singular vectors
// are V times those of the core (plus any basis of V's complement) and the left ones are Q times the
// same. An update W' = alpha W + A B^T is a Brand update in the Q-frame: O(d^2 k) for Q^T A plus
// O(d s k + s^3). Dense updates (W' given, alpha unknown) are split into alpha W + low rank by a
// randomised range finder whose residual is reported.
//
// BrandTracker is the generic truncated thin-SVD tracker W ~ U diag(S) V^T (any shape) for runs where
// that structure does not hold; it reports the Frobenius norm it discards.
//
// TrackObserver plugs either into dln::train (one tracker per layer, records every k steps).
#pragma once

#include "dln/init.hpp"
#include "dln/trainer.hpp"
#include "dln/types.hpp"

#include <array>
#include <optional>
#include <string>
#include <vector>

namespace dln {

// Scratch slots of a StructuredTracker (named in cpp/src/tracker/detail.hpp).
inline constexpr int kWorkSlots = 44;

struct TrackerOptions {
    Index max_rank = 64;             // cap on s (structured: flagged, the owner restarts; generic: truncation)
    double direction_tol = 1e-13;    // new directions / deflated directions below this, relative, are dropped
    double ortho_ulp = 100;          // re-orthonormalise when max|V^T V - I| exceeds this many ulp
    void validate() const;           // throws std::invalid_argument naming the field
};

// What one update did. Norms are relative to the size of the update (projection residual) or of the
// matrix (discarded), so a user can see how exact the step was.
struct UpdateInfo {
    Index added = 0;                   // directions added to V by the update
    Index deflated = 0;                // directions removed because W acts as rho Q on them
    double projection_residual = 0.0;  // ||part of [Q^T A, B] not represented|| / ||[Q^T A, B]|| (balanced)
    double range_residual = 0.0;       // dense updates: tail of the range finder / ||Q^T W' X||
    double alpha = 1.0;                // the scalar of the update (found by the split for dense updates)
    double discarded = 0.0;            // Frobenius norm dropped (deflation, truncation), absolute
    bool reorthonormalised = false;
    bool over_cap = false;             // s > max_rank after the update (the representation is still exact)
    bool split_failed = false;         // dense update not of the form alpha W + rank <= k: nothing changed
    std::string reason;                // why split_failed
};

template <class T>
struct Triplets {
    Mat<T> U;               // d x p left singular vectors
    std::vector<double> S;  // p singular values, descending
    Mat<T> V;               // d x p right singular vectors
};

template <class T>
class StructuredTracker {
public:
    // Q^T W = rho I + V D V^T. Checks shapes, finiteness, orthonormality of V (to 1e3 ulp).
    StructuredTracker(Mat<T> Q, double rho, Mat<T> V, Mat<T> D, TrackerOptions options = {}, std::uint64_t seed = 0);
    // The representation of W with a known orthogonal Q (rho found as the repeated value of Q^T W,
    // unless given). Returns the relative tail the range finder left (0 when exact).
    static StructuredTracker from_matrix(const ConstView<T>& W, Mat<T> Q, std::optional<double> rho,
                                         TrackerOptions options = {}, std::uint64_t seed = 0,
                                         double* residual = nullptr);

    // W <- alpha W + A B^T (A, B: d x k). Throws std::invalid_argument naming A, B or alpha (non-finite,
    // wrong shape) before any change.
    UpdateInfo update(const ConstView<T>& A, const ConstView<T>& B, double alpha);
    // W <- W_after, assumed alpha W + (rank <= max_update_rank); alpha is found. On failure
    // (split_failed) the tracker is unchanged. `finite_checked`: the caller has already checked
    // W_after for NaN / Inf (the training observer does, once per step), which saves a pass over d^2.
    UpdateInfo update_dense(const ConstView<T>& W_after, Index max_update_rank, bool finite_checked = false);
    // Rebuild from the live W (same Q); returns the relative residual of the range finder, or a
    // negative value when W is not rho Q + rank <= max_rank (tracker unchanged).
    // rho is found from the probes unless given.
    double restart(const ConstView<T>& W, std::optional<double> rho = std::nullopt);

    // ||(W - rho Q)(I - V V^T)||_F / ||W||_F (the certificate of SCIENCE.md section 4), O(d^2 s).
    // With finite_checked (see update_dense) a non-finite W gives NaN instead of an exception.
    double certificate(const ConstView<T>& W, bool finite_checked = false) const;
    // ||W - Q (rho I + V D V^T)||_F / ||W||_F: the whole representation against W, O(d^2 s).
    double representation_error(const ConstView<T>& W) const;
    double orthogonality() const;  // max |V^T V - I|

    std::vector<double> spectrum() const;               // all d singular values, descending
    // Singular triplets first .. first+count-1 (descending order). With q_frame, U holds the left
    // vectors in the Q-frame (Q^T U): what subspace angles need, without the O(d^2 count) product by Q.
    Triplets<T> triplets(Index first, Index count, bool q_frame = false) const;
    Mat<T> matrix() const;                               // Q (rho I + V D V^T), for tests

    Index dim() const { return Q_.rows(); }
    Index rank() const { return V_.cols(); }
    double rho() const { return rho_; }
    const Mat<T>& Q() const { return Q_; }
    const Mat<T>& V() const { return V_; }
    const Mat<T>& D() const { return D_; }
    long long reorthonormalisations() const { return reorth_; }
    // Restart the probe stream: an owner that reseeds before every update makes the run's
    // randomness a function of (seed, step), so a tracker rebuilt from saved state continues it.
    void reseed(std::uint64_t seed) { rng_ = Rng(seed); }

private:
    // Ap = Q^T A and B must not live in the scratch slots update_qframe uses itself.
    UpdateInfo update_qframe(const ConstView<T>& Ap, const ConstView<T>& B, double alpha);
    bool find_alpha(const ConstView<T>& Y, const ConstView<T>& Z, Index k, double& alpha, std::string& reason);
    void check_matrix(const ConstView<T>& W, const char* name, bool finite_checked = false) const;
    void reorthonormalise_if_needed(UpdateInfo& info);
    void reserve_dense(Index p);  // see structured.ipp

    Mat<T> Q_;
    double rho_;
    Mat<T> V_, D_;
    TrackerOptions opt_;
    Rng rng_;
    long long reorth_ = 0;
    // Probe buffers of the dense split (d x p; p only changes with max_update_rank).
    Mat<T> X_, WX_, Y_;
    // max |V^T V - I|, kept while V does not change (most steady-state updates leave V as it is).
    mutable double ortho_ = -1.0;
    // Scratch memory, grown to the largest shapes seen and never shrunk, so that the updates of a
    // run at fixed s and k allocate nothing; the slots are named in tracker.cpp. Mutable because
    // const queries (certificate, orthogonality) use it too: a tracker is not shared across threads.
    // Aligned like Eigen's own storage: vectorised reductions over a map start their packets at the
    // first aligned element, so a buffer whose address alignment varied from run to run would sum in
    // a different order and break bitwise reproducibility.
    mutable std::array<std::vector<T, Eigen::aligned_allocator<T>>, kWorkSlots> work_;
    mutable std::vector<Index> perm_;
    mutable std::vector<double> cert_sums_;  // the certificate's per-block sums, added in block order
    std::vector<double> cluster_;
    // The next V and D, swapped in: a run whose s goes up and down between two values reuses both.
    Mat<T> Vn_, Dnext_;
};

template <class T>
class BrandTracker {
public:
    // Truncated SVD of W of rank <= options.max_rank (randomised, two power iterations); the part of
    // W it cannot hold is counted in discarded().
    BrandTracker(const ConstView<T>& W, TrackerOptions options = {}, std::uint64_t seed = 0);
    // From saved state W ~ U diag(S) V^T (U: m x r, V: n x r orthonormal, S descending) and the
    // running discarded norm. Checks shapes and finiteness (std::invalid_argument naming the field).
    BrandTracker(Mat<T> U, std::vector<double> S, Mat<T> V, double discarded, TrackerOptions options = {},
                 std::uint64_t seed = 0);
    UpdateInfo update(const ConstView<T>& A, const ConstView<T>& B, double alpha);
    // W_after - W_before approximated by a rank-<= k range finder (one power iteration); the exact
    // norm of what the approximation leaves out is added to discarded().
    UpdateInfo update_dense(const ConstView<T>& W_before, const ConstView<T>& W_after, Index k);
    double certificate(const ConstView<T>& W) const;  // ||W - U S V^T||_F / ||W||_F
    double orthogonality() const;
    std::vector<double> spectrum() const;  // min(m, n) values: the tracked ones, then zeros
    Triplets<T> triplets(Index first, Index count) const;  // only within the tracked rank
    double discarded() const { return discarded_; }        // running sum of dropped Frobenius norms (bound)
    Index rank() const { return static_cast<Index>(S_.size()); }
    const Mat<T>& U() const { return U_; }
    const Mat<T>& V() const { return V_; }
    const std::vector<double>& S() const { return S_; }
    void reseed(std::uint64_t seed) { rng_ = Rng(seed); }  // as StructuredTracker::reseed

private:
    Mat<T> U_, V_;
    std::vector<double> S_;
    Index m_, n_;
    TrackerOptions opt_;
    Rng rng_;
    double discarded_ = 0.0;
};

// What dln::train(..., observers) records with TrackSpec.
struct TrackSpec {
    long long every = 1;            // record every k steps (steps 0, k, 2k, ... and the last)
    Index top_p = 0;                // singular vectors recorded per layer (left and right)
    Index block_r = 0;              // r of the top-r / middle / bottom-r subspace angles (0: none)
    Index update_rank = 16;         // bound on the rank of a step's low-rank part (dense split)
    std::string mode = "auto";      // auto (structured where the layer is rho Q at the start), structured, generic
    // Angles against "step1" (block_r blocks vs the first recorded step >= 1) or "theory" (the moving
    // subspace and the bulk vs the theory's V_{l,1} / U_{l,1}, given by TrackObserver::set_theory).
    std::string reference = "step1";
    bool end_to_end = false;        // also record the spectrum of W_{L:1}
    double certificate_tol = 1e-10; // restart from the live weights above it
    TrackerOptions tracker;
    std::uint64_t seed = 0;
    void validate() const;
};

template <class T>
struct TrackRecord {
    std::vector<long long> steps;                   // recorded steps
    std::vector<std::vector<std::vector<double>>> spectra;  // [record][layer] -> all singular values
    std::vector<std::vector<double>> rho, certificate, orthogonality, range_residual, discarded;  // [record][layer]
    std::vector<std::vector<Index>> rank;           // s per layer
    // Largest principal angle (sine) of the top-r, middle, bottom-r blocks vs the reference step,
    // right and left singular vectors: [record][layer][3]; NaN where a block is not defined.
    std::vector<std::vector<std::vector<double>>> angles_right, angles_left;
    long long reference_step = -1;
    std::vector<std::vector<Triplets<T>>> top;      // [record][layer] when top_p > 0
    // reference = "theory": sine of the largest principal angle of the tracked moving subspace vs
    // V_{l,1} (U_{l,1} for left) and of the tracked bulk vs V_{l,2}: [record][layer][2]; NaN for
    // generically tracked layers.
    std::vector<std::vector<std::vector<double>>> theory_right, theory_left;
    // end_to_end: all singular values of W_{L:1} per record, the relative residual of its
    // representation on random probes, and the dimension b of its moving part.
    std::vector<std::vector<double>> spectra_e2e;
    std::vector<double> certificate_e2e;
    std::vector<Index> rank_e2e;
    std::string mode_e2e;                           // "chained" (from the layer trackers) or "own"
    std::vector<std::string> events;                // restarts, fallbacks, re-orthonormalisations, in words
    std::vector<std::string> modes;                 // per layer: structured / generic
    long long reorthonormalisations = 0;
};

// Everything a TrackObserver needs to continue a run exactly (checkpoints): per layer the tracker
// (structured: Q, rho, V, D; generic: U, S, V, discarded), the running counters, the step-1 reference
// blocks, the theory's bases and the end-to-end tracker. Records made so far are not part of it (the
// owner keeps them). `seen` is the last step whose on_step ran: a resumed run's first on_step (the
// same step again) is skipped.
template <class T>
struct TrackObserverState {
    long long seen = -1;
    std::vector<std::string> modes;                     // per layer: structured / generic
    std::vector<double> rho, generic_discarded, range_since, discarded;
    std::vector<Mat<T>> A, V, D;                        // structured: Q, V, D; generic: U, V, (unused 0 x 0)
    std::vector<std::vector<double>> S;                 // generic: singular values (structured: empty)
    bool have_reference = false;
    long long reference_step = -1;
    std::vector<Mat<T>> ref_top_r, ref_bot_r, ref_top_l, ref_bot_l;  // empty where unset; left ones in the Q-frame
    std::vector<Mat<T>> theory_right, theory_left;      // empty unless reference = "theory"
    std::string mode_e2e;                               // "", "chained" or "own"
    Mat<T> e2e_U, e2e_V;                                // own end-to-end tracker
    std::vector<double> e2e_S;
    double e2e_discarded = 0.0;
    long long reorthonormalisations = 0;
};

template <class T>
class TrackObserver final : public Observer<T> {
public:
    explicit TrackObserver(TrackSpec spec);
    // The theory's bases for reference = "theory": per layer V_{l,1} (right, n_l x m) and U_{l,1}
    // (left, n_{l+1} x m), orthonormal columns. Checked (shapes, finiteness, orthonormality to 1e3 ulp)
    // against the layer shapes; throws std::invalid_argument naming "theory".
    void set_theory(std::vector<Mat<T>> right, std::vector<Mat<T>> left, const std::vector<Index>& widths);
    void on_step(long long k, double loss, const std::vector<Mat<T>>& weights,
                 const std::vector<Mat<T>>& grads) override;
    void on_update(long long k, const std::vector<Mat<T>>& before, const std::vector<Mat<T>>& after) override;
    void on_finish(Status status, long long steps) override;
    bool wants_final_gradients() const override { return false; }  // the tracker reads weights only
    bool reads_weights_only() const override { return true; }  // generic layers keep their own `before`
    TrackRecord<T>& record() { return rec_; }
    // Save / restore the state (see TrackObserverState). restore() checks it against the layer
    // widths and the spec (std::invalid_argument naming "state") and must come before the run.
    TrackObserverState<T> state() const;
    void restore(TrackObserverState<T> s, const std::vector<Index>& widths);

private:
    void init(const std::vector<Mat<T>>& weights);
    void record_step(long long k, const std::vector<Mat<T>>& weights);
    void event(long long k, std::size_t l, const std::string& what);
    void record_theory(const std::vector<Mat<T>>& weights);
    void record_end_to_end(const std::vector<Mat<T>>& weights);
    bool chains(const std::vector<Mat<T>>& weights) const;
    Mat<T> product(const std::vector<Mat<T>>& weights) const;

    TrackSpec spec_;
    std::vector<std::optional<StructuredTracker<T>>> structured_;
    std::vector<std::optional<BrandTracker<T>>> generic_;
    std::vector<Mat<T>> before_;  // generic layers: the weights of the last on_step (their update's `before`)
    std::vector<double> range_since_, discarded_;
    // Reference blocks (top, bottom) at the reference step, right and left, per layer; the left ones
    // in the layer's Q-frame (Q^T U), where the angles are taken: sin(QA, QB) = sin(A, B).
    std::vector<Mat<T>> ref_top_r_, ref_bot_r_, ref_top_l_, ref_bot_l_;
    bool have_reference_ = false, initialised_ = false;
    long long seen_ = -1, skip_ = -1;  // last step whose on_step ran; a restored run skips that step once
    std::vector<Mat<T>> theory_right_, theory_left_;
    // End-to-end map: from the layer trackers while all are structured and square of one size,
    // else its own generic tracker fed with the product (O(L d^3) per step; only then).
    std::optional<BrandTracker<T>> e2e_;
    Mat<T> e2e_before_;
    TrackRecord<T> rec_;
};

extern template class StructuredTracker<float>;
extern template class StructuredTracker<double>;
extern template class BrandTracker<float>;
extern template class BrandTracker<double>;
extern template class TrackObserver<float>;
extern template class TrackObserver<double>;

}  // namespace dln
