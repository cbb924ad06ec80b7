// The step loop shared by every evaluator (dense Evaluator, SparseEvaluator): anything with
// `double evaluate(const std::vector<Mat<T>>& W, std::vector<Mat<T>>* grads)`. Kept in one place so
// the stopping rules, divergence guard, history, resume and observers are the same on every path.
#pragma once

#include "dln/trainer.hpp"

#include <chrono>
#include <cmath>
#include <sstream>
#include <string>

namespace dln::detail {

// Throws std::invalid_argument naming `state` when a resume state does not fit the options.
template <class T>
void check_resume(const TrainState<T>* resume, const TrainOptions& options) {
    if (!resume) return;
    if (resume->step < 0 || resume->step > options.steps)
        invalid("state", "step " + std::to_string(resume->step) + " outside [0, steps = " +
                             std::to_string(options.steps) + "]");
    if (resume->optimizer.t != resume->step)
        invalid("state", "optimiser has taken " + std::to_string(resume->optimizer.t) + " steps, the run " +
                             std::to_string(resume->step));
    const auto expected = static_cast<std::size_t>(resume->step / options.record_every + 1);
    if (resume->step > 0 && resume->loss.size() != expected)
        invalid("state", "loss history has " + std::to_string(resume->loss.size()) + " entries, expected " +
                             std::to_string(expected) + " for step " + std::to_string(resume->step) +
                             " and record_every " + std::to_string(options.record_every));
}

template <class T, class Eval>
TrainResult<T> run_loop(Eval& evaluator, const Network<T>& net, const OptimizerConfig& opt,
                        const TrainOptions& options, const TrainState<T>* resume,
                        const std::vector<Observer<T>*>& observers, RegressionForm form, int threads) {
    const auto t0 = std::chrono::steady_clock::now();
    // All buffers of the run, sized once: two weight sets (the update writes the other one, so a
    // diverging step can hand back the previous weights), gradients, optimiser state, products.
    std::vector<Mat<T>> current = net.weights();
    std::vector<Mat<T>> next = current;
    std::vector<Mat<T>> grads = current;
    const bool resuming = resume && resume->step > 0;
    Optimizer<T> optimizer(opt, current, resuming ? &resume->optimizer : nullptr);
    std::vector<double> history;
    history.reserve(static_cast<std::size_t>(options.steps / options.record_every + 1));
    if (resuming) history = resume->loss;  // within the reserved capacity

    Status status = Status::MaxSteps;
    std::ostringstream message;
    long long k = resuming ? resume->step : 0;
    const long long k0 = k;
    double loss = 0.0, initial = resuming ? resume->initial_loss : 0.0, last_good = 0.0;
    bool have_previous = false;  // `next` holds the weights of step k - 1
    bool final_gradients = false;
    for (const auto* o : observers) final_gradients = final_gradients || o->wants_final_gradients();
    for (;; ++k) {
        // The last state needs its loss only: no update follows, so its gradients would be wasted
        // (2L-2 of the 3L-3 products) unless an observer reads them.
        const bool last = k == options.steps;
        loss = evaluator.evaluate(current, last && !final_gradients ? nullptr : &grads);
        if (k == 0) initial = loss;
        const bool finite = std::isfinite(loss);
        const bool exploded = finite && k > 0 && initial > 0.0 && loss > options.divergence_factor * initial;
        if (!finite || exploded) {
            status = Status::Diverged;
            message << "loss " << (finite ? "exceeded " : "became non-finite (")
                    << (finite ? "" : std::to_string(loss) + ")");
            if (exploded) message << options.divergence_factor << " x its initial value (" << loss << ")";
            message << " at step " << k;
            if (have_previous) {
                current.swap(next);  // back to the last finite state
                --k;
                loss = last_good;
                message << "; returned the weights of step " << k << " (loss " << loss << ")";
            } else {
                message << "; the initial weights are returned";
            }
            break;
        }
        if (k % options.record_every == 0 && !(resuming && k == k0)) history.push_back(loss);
        for (auto* o : observers) o->on_step(k, loss, current, grads);
        if (options.tol && loss <= *options.tol) {
            status = Status::Converged;
            message << "loss " << loss << " <= tol " << *options.tol << " after " << k << " steps";
            break;
        }
        if (k == options.steps) {
            message << "reached steps = " << k << " (loss " << loss << ")";
            break;
        }
        if (options.stop && options.stop->load(std::memory_order_relaxed)) {
            status = Status::Interrupted;
            message << "interrupted after " << k << " steps (loss " << loss << ")";
            break;
        }
        optimizer.step(current, grads, next);
        for (auto* o : observers) o->on_update(k, current, next);
        current.swap(next);
        have_previous = true;
        last_good = loss;
        if (options.progress) options.progress->fetch_add(1, std::memory_order_relaxed);
    }

    for (auto* o : observers) o->on_finish(status, k);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // After a divergence the optimiser state is one update ahead of the returned weights; a resume
    // from such a result is refused by the step check above rather than silently inexact.
    return TrainResult<T>{status, k, std::move(history), Network<T>(std::move(current)), loss, seconds,
                          message.str(), form, threads, initial, optimizer.state()};
}

}  // namespace dln::detail
