// The training loop: everything of a run happens here, with no Python and no allocation per step.
//
// Semantics (fixed by the design): loss[0] is the loss at the start and loss[k] the loss after
// k * record_every updates; `tol` is checked before each update, so a converged result satisfies it;
// a run diverges when its loss is non-finite or exceeds divergence_factor times its initial loss, and
// then returns the last weights whose loss was finite and acceptable.
#pragma once

#include "dln/network.hpp"
#include "dln/optimizer.hpp"
#include "dln/problem.hpp"

#include <atomic>
#include <optional>
#include <string>
#include <vector>

namespace dln {

struct TrainOptions {
    long long steps = 0;            // maximum number of updates
    std::optional<double> tol;      // stop when loss <= tol
    long long record_every = 1;     // loss history stride
    int n_threads = 0;              // threads for the products inside a step; 0 = all cores (an upper bound, see effective_threads)
    double divergence_factor = 1e8;
    // Polled once per step: set it from another thread to stop the run (status Interrupted).
    const std::atomic<bool>* stop = nullptr;
    // Incremented once per update, for progress displays (shared by all jobs of a batch).
    std::atomic<long long>* progress = nullptr;
    // When false the run leaves the GEMM thread setting alone and reports n_threads as given (the
    // batch sets one thread once for all its jobs).
    bool manage_threads = true;

    void validate() const;  // throws std::invalid_argument naming the field
};

// Watches a run from inside the loop (on the thread that runs it; no Python). Default methods do
// nothing, so an observer overrides what it needs. Observers must not throw.
template <class T>
class Observer {
public:
    virtual ~Observer() = default;
    // Step k accepted (finite loss, not exploded): its weights, loss and gradients, before the update
    // (at the last step the gradients are computed only if wants_final_gradients(); else stale).
    virtual void on_step(long long k, double loss, const std::vector<Mat<T>>& weights,
                         const std::vector<Mat<T>>& grads) {
        (void)k, (void)loss, (void)weights, (void)grads;
    }
    // The update from step k to k + 1 was applied.
    virtual void on_update(long long k, const std::vector<Mat<T>>& before, const std::vector<Mat<T>>& after) {
        (void)k, (void)before, (void)after;
    }
    // The run ended at `steps` updates with `status` (after a divergence the weights are those of `steps`).
    virtual void on_finish(Status status, long long steps) { (void)status, (void)steps; }
    // Whether on_step reads `grads` at the last step. The loop skips that step's gradients (2L - 2
    // products, a whole backward pass) when no observer does.
    virtual bool wants_final_gradients() const { return true; }
    // Whether the observer reads the weights alone: on_step never reads `grads`, and on_update never
    // reads `before` (the weights of the on_step just before it, which it may keep itself). The loop
    // may then take the fused gradient-descent step, which updates the weights in place: on_step gets
    // no gradients and on_update an empty `before`, and the run has the same bits as one without
    // observers.
    virtual bool reads_weights_only() const { return false; }
};

// True when every observer reads the weights alone (none at all included): the fused step is allowed.
template <class T>
bool reads_weights_only(const std::vector<Observer<T>*>& observers) {
    for (const auto* o : observers)
        if (!o->reads_weights_only()) return false;
    return true;
}

// Where a resumed run starts: the step count, the initial loss (the divergence test compares with
// it), the loss history so far and the optimiser state. A run resumed from the state a run ended
// in continues exactly as if it had not stopped.
template <class T>
struct TrainState {
    long long step = 0;
    double initial_loss = 0.0;
    std::vector<double> loss;
    OptimizerState<T> optimizer;
};

template <class T>
struct TrainResult {
    Status status;
    long long steps;            // updates applied to reach `network`
    std::vector<double> loss;   // history, see above
    Network<T> network;
    double final_loss;          // loss of `network`
    double seconds;
    std::string message;        // what happened, in words
    RegressionForm form;        // the regression form used (Auto for other problems)
    int n_threads;              // threads the products used
    double initial_loss;        // loss at step 0
    OptimizerState<T> optimizer_state;  // state after `steps` updates (resume from it)

    TrainState<T> state() const { return TrainState<T>{steps, initial_loss, loss, optimizer_state}; }
};

// Trains `net`; `options.steps` counts from step 0, also when resuming (`resume` gives the state the
// weights of `net` are at).
template <class T>
TrainResult<T> train(const Network<T>& net, const Problem<T>& problem, const OptimizerConfig& opt,
                     const TrainOptions& options, const TrainState<T>* resume = nullptr,
                     const std::vector<Observer<T>*>& observers = {});

// The same from weights given as views (NumPy arrays, say): checked like a Network's (shapes, and
// finiteness in the same pass as the one copy into the run's buffers), std::invalid_argument naming
// `weights[l]`. The views must outlive the call.
template <class T>
TrainResult<T> train(const std::vector<ConstView<T>>& weights, const Activation& activation, const Problem<T>& problem,
                     const OptimizerConfig& opt, const TrainOptions& options, const TrainState<T>* resume = nullptr,
                     const std::vector<Observer<T>*>& observers = {});

// Number of hardware threads (at least 1).
int default_threads();

// Threads a run will use for its products: `requested` (0 = all cores), except that runs whose
// products average under ~256^3 multiply-adds stay on one thread.
template <class T>
int effective_threads(const Problem<T>& problem, const std::vector<Index>& widths, int requested);

extern template int effective_threads(const Problem<float>&, const std::vector<Index>&, int);
extern template int effective_threads(const Problem<double>&, const std::vector<Index>&, int);
extern template TrainResult<float> train(const Network<float>&, const Problem<float>&, const OptimizerConfig&,
                                         const TrainOptions&, const TrainState<float>*,
                                         const std::vector<Observer<float>*>&);
extern template TrainResult<double> train(const Network<double>&, const Problem<double>&, const OptimizerConfig&,
                                          const TrainOptions&, const TrainState<double>*,
                                          const std::vector<Observer<double>*>&);
extern template TrainResult<float> train(const std::vector<ConstView<float>>&, const Activation&, const Problem<float>&,
                                         const OptimizerConfig&, const TrainOptions&, const TrainState<float>*,
                                         const std::vector<Observer<float>*>&);
extern template TrainResult<double> train(const std::vector<ConstView<double>>&, const Activation&,
                                          const Problem<double>&, const OptimizerConfig&, const TrainOptions&,
                                          const TrainState<double>*, const std::vector<Observer<double>*>&);

}  // namespace dln
