// First-order optimisers with the conventions of the published code (optax), SCIENCE.md section 1:
//   gd        W <- W - lr s g
//   momentum  buf <- beta buf + g;  W <- W - lr s buf                          (heavy ball)
//   adam      m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2;
//             W <- W - lr s (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)      (eps outside the root)
//   rmsprop   v <- decay v + (1-decay) g^2;  W <- W - lr s g / (sqrt(v) + eps)
// with s the per-layer learning-rate factor (lr_scale, default 1) and t counted from 1.
#pragma once

#include "dln/types.hpp"

#include <string>
#include <vector>

namespace dln {

enum class OptimizerKind { GD, Momentum, Adam, RMSprop };
inline constexpr Named<OptimizerKind> kOptimizers[] = {{OptimizerKind::GD, "gd"},
                                                       {OptimizerKind::Momentum, "momentum"},
                                                       {OptimizerKind::Adam, "adam"},
                                                       {OptimizerKind::RMSprop, "rmsprop"}};
OptimizerKind parse_optimizer(const std::string& name);  // "gd", "momentum", "adam", "rmsprop"
const char* to_string(OptimizerKind k);

struct OptimizerConfig {
    OptimizerKind kind = OptimizerKind::GD;
    double lr = 0.0;
    double momentum = 0.9;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double decay = 0.9;
    std::vector<double> lr_scale;  // one per layer, or empty for all ones

    // Throws std::invalid_argument naming the offending field.
    void validate(Index depth) const;
};

// Everything an optimiser carries between steps: enough to resume a run bit for bit.
template <class T>
struct OptimizerState {
    long long t = 0;          // updates taken
    std::vector<Mat<T>> m;    // momentum buffer (momentum) or first moment (adam); empty otherwise
    std::vector<Mat<T>> v;    // second moment (adam, rmsprop); empty otherwise
};

template <class T>
class Optimizer {
public:
    // State buffers are sized here, once; `initial` resumes from a saved state (checked against the
    // optimiser kind and the shapes, std::invalid_argument naming `state` otherwise).
    Optimizer(const OptimizerConfig& config, const std::vector<Mat<T>>& shapes,
              const OptimizerState<T>* initial = nullptr);
    // W_out <- update of W with gradients G. W_out may not alias W (the trainer double-buffers so a
    // diverging step can return the previous weights). Allocates nothing.
    void step(const std::vector<Mat<T>>& W, const std::vector<Mat<T>>& G, std::vector<Mat<T>>& W_out);
    // Counts an update applied elsewhere (the trainer's fused GD step, Evaluator::descend).
    void count_step() { ++state_.t; }
    long long t() const { return state_.t; }
    const OptimizerState<T>& state() const { return state_; }

private:
    OptimizerConfig cfg_;
    OptimizerState<T> state_;
};

extern template class Optimizer<float>;
extern template class Optimizer<double>;

}  // namespace dln
