// Many independent trainings on a thread pool.
//
// Each job runs entirely on one worker thread with single-threaded products, so its result is bitwise
// identical to train(...) with n_threads = 1, whatever the pool size and whatever other jobs share the
// batch. Problems are shared read-only between jobs (pass the same object to share its data).
#pragma once

#include "dln/trainer.hpp"

#include <atomic>
#include <vector>

namespace dln {

template <class T>
struct Job {
    // The starting point: a network, or (when `net` is null) `weights`, views of the layers (checked,
    // finiteness included, as they are copied into the run), with `activation`: a caller holding the
    // weights in its own arrays (NumPy's, say) starts each job from them without a copy per job.
    const Network<T>* net = nullptr;
    std::vector<ConstView<T>> weights;
    Activation activation;
    const Problem<T>* problem = nullptr;
    OptimizerConfig optimizer;
    TrainOptions options;  // n_threads, stop and progress are set by the batch
    // This job's observers (e.g. a TrackObserver), called only from the thread that runs the job, so
    // they need no locking; each job must have its own.
    std::vector<Observer<T>*> observers;
};

struct BatchOptions {
    int n_threads = 0;                          // pool size; 0 = all cores
    const std::atomic<bool>* stop = nullptr;    // stops every job (status Interrupted)
    std::atomic<long long>* progress = nullptr; // total updates done over all jobs
};

// Validates every job first (std::invalid_argument "jobs[i]: ..."), then runs them. Results are in job
// order. Jobs are started in order of decreasing estimated cost to balance the pool.
template <class T>
std::vector<TrainResult<T>> train_batch(const std::vector<Job<T>>& jobs, const BatchOptions& options);

extern template std::vector<TrainResult<float>> train_batch(const std::vector<Job<float>>&, const BatchOptions&);
extern template std::vector<TrainResult<double>> train_batch(const std::vector<Job<double>>&, const BatchOptions&);

}  // namespace dln
