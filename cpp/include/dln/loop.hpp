// The step loop shared by every evaluator (dense Evaluator, SparseEvaluator): anything with
// `double evaluate(const std::vector<Mat<T>>& W, std::vector<Mat<T>>* grads)`. Kept in one place so
// the stopping rules, divergence guard, history, resume and observers are the same on every path.
#pragma once

#include "dln/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>

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

// Evaluators with a fused gradient-descent step (Evaluator::forward / descend).
template <class E, class = void>
struct has_descent : std::false_type {};
template <class E>
struct has_descent<E, std::void_t<decltype(std::declval<E&>().can_descend())>> : std::true_type {};

// The fused GD path updates the weights in place, so it keeps no previous weights for the divergence
// guard: it copies the weights every this many steps instead (the start needs no copy) and, when a
// step diverges, replays from the last copy to the step before -- the same bits, since a run is
// deterministic. The copy costs 1/64 of a pass per step; a divergence costs at most 63 extra steps.
inline constexpr long long kSnapshotEvery = 64;

template <class T, class From>
void copy_into(const std::vector<From>& from, std::vector<Mat<T>>& to) {
    for (std::size_t l = 0; l < to.size(); ++l)
        std::copy(from[l].data(), from[l].data() + from[l].size(), to[l].data());
}

// `start`: the weights at step `resume->step` (or 0), copied once into the run's buffers (their
// finiteness checked in the same pass when `check_start`); read again only by a divergence replay,
// so they must outlive the call.
template <class T, class Eval>
TrainResult<T> run_loop(Eval& evaluator, const std::vector<ConstView<T>>& start, bool check_start,
                        const Activation& activation, const OptimizerConfig& opt, const TrainOptions& options,
                        const TrainState<T>* resume, const std::vector<Observer<T>*>& observers, RegressionForm form,
                        int threads) {
    const auto t0 = std::chrono::steady_clock::now();
    // All buffers of the run, sized once. The optimiser path keeps two weight sets (the update writes
    // the other one, so a diverging step can hand back the previous weights) and the gradients; the
    // fused GD path (no observers, or only ones that read the weights alone) only the weights, updated
    // in place.
    std::vector<Mat<T>> current = copy_weights(start, check_start);
    bool fused = false;
    if constexpr (has_descent<Eval>::value)
        fused = evaluator.can_descend() && opt.kind == OptimizerKind::GD && reads_weights_only(observers);
    const std::vector<Mat<T>> no_before;  // on_update's `before` on the fused path
    std::vector<Mat<T>> next, grads;
    if (!fused) {
        for (const auto& W : current) next.emplace_back(W.rows(), W.cols());  // written before it is read
        grads = current;  // an observer's last-step view of gradients it did not ask for: defined values
    }
    std::vector<double> rates;  // lr per layer (lr_scale applied), for the fused step
    for (std::size_t l = 0; l < current.size(); ++l)
        rates.push_back(opt.lr * (opt.lr_scale.empty() ? 1.0 : opt.lr_scale[l]));
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
    bool have_previous = false;  // the weights of step k - 1 can be had back
    // Fused path: the weights of step snapshot_k (the start until the first copy). Sized here, touched
    // at the first copy, so a short run pays nothing for it.
    std::vector<Mat<T>> snapshot;
    if (fused && options.steps - k0 > kSnapshotEvery)
        for (const auto& W : current) snapshot.emplace_back(W.rows(), W.cols());
    long long snapshot_k = k0;
    bool final_gradients = false;
    for (const auto* o : observers) final_gradients = final_gradients || o->wants_final_gradients();
    // The fused step's two halves (only reached when `fused`, which needs an Evaluator that has them).
    auto forward = [&]() -> double {
        if constexpr (has_descent<Eval>::value) return evaluator.forward(current);
        return 0.0;
    };
    auto descend = [&] {
        if constexpr (has_descent<Eval>::value) evaluator.descend(current, rates);
    };
    for (;; ++k) {
        // The last state needs its loss only: no update follows, so its gradients would be wasted
        // (2L-2 of the 3L-3 products) unless an observer reads them.
        const bool last = k == options.steps;
        loss = fused ? forward() : evaluator.evaluate(current, last && !final_gradients ? nullptr : &grads);
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
                if (fused) {  // back to the last finite state: from the last copy, replayed to step k - 1
                    if (snapshot_k == k0) copy_into(start, current);
                    else copy_into(snapshot, current);
                    for (long long j = snapshot_k; j < k - 1; ++j) {
                        forward();
                        descend();
                    }
                } else {
                    current.swap(next);  // back to the last finite state
                }
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
        if (fused) {
            if (k > k0 && (k - k0) % kSnapshotEvery == 0) {
                copy_into(current, snapshot);
                snapshot_k = k;
            }
            descend();
            optimizer.count_step();
            for (auto* o : observers) o->on_update(k, no_before, current);
        } else {
            optimizer.step(current, grads, next);
            for (auto* o : observers) o->on_update(k, current, next);
            current.swap(next);
        }
        have_previous = true;
        last_good = loss;
        if (options.progress) options.progress->fetch_add(1, std::memory_order_relaxed);
    }

    for (auto* o : observers) o->on_finish(status, k);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // Every layer of `current` entered a finite loss, and for a linear network that makes every entry
    // finite (a NaN or Inf anywhere reaches the end-to-end map); a non-linearity can hide one (ReLU
    // turns -Inf into 0), so those weights are checked again.
    Network<T> trained = activation.linear() ? Network<T>::adopt(std::move(current), activation)
                                             : Network<T>(std::move(current), activation);
    // After a divergence the optimiser state is one update ahead of the returned weights; a resume
    // from such a result is refused by the step check above rather than silently inexact.
    return TrainResult<T>{status, k, std::move(history), std::move(trained), loss, seconds,
                          message.str(), form, threads, initial, optimizer.state()};
}

// The same from a network (its weights are known finite).
template <class T, class Eval>
TrainResult<T> run_loop(Eval& evaluator, const Network<T>& net, const OptimizerConfig& opt, const TrainOptions& options,
                        const TrainState<T>* resume, const std::vector<Observer<T>*>& observers, RegressionForm form,
                        int threads) {
    return run_loop(evaluator, views_of(net.weights()), false, net.activation(), opt, options, resume, observers, form,
                    threads);
}

}  // namespace dln::detail
