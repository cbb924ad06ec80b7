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
};

template <class T>
TrainResult<T> train(const Network<T>& net, const Problem<T>& problem, const OptimizerConfig& opt,
                     const TrainOptions& options);

// Number of hardware threads (at least 1).
int default_threads();

// Threads a run will use for its products: `requested` (0 = all cores), except that runs whose
// products average under ~256^3 multiply-adds stay on one thread.
template <class T>
int effective_threads(const Problem<T>& problem, const std::vector<Index>& widths, int requested);

extern template int effective_threads(const Problem<float>&, const std::vector<Index>&, int);
extern template int effective_threads(const Problem<double>&, const std::vector<Index>&, int);
extern template TrainResult<float> train(const Network<float>&, const Problem<float>&,
                                         const OptimizerConfig&, const TrainOptions&);
extern template TrainResult<double> train(const Network<double>&, const Problem<double>&,
                                          const OptimizerConfig&, const TrainOptions&);

}  // namespace dln
