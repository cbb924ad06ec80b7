#include "dln/optimizer.hpp"

#include <cmath>

namespace dln {

OptimizerKind parse_optimizer(const std::string& name) { return parse_named(kOptimizers, name, "optimizer"); }

const char* to_string(OptimizerKind k) { return name_of(kOptimizers, k); }

namespace {
void check_unit(const char* name, double v) {
    if (!(v >= 0.0 && v < 1.0)) invalid(name, "must lie in [0, 1), got " + std::to_string(v));
}
}  // namespace

void OptimizerConfig::validate(Index depth) const {
    if (!(std::isfinite(lr) && lr > 0.0)) invalid("lr", "must be finite and > 0, got " + std::to_string(lr));
    check_unit("momentum", momentum);
    check_unit("betas[0]", beta1);
    check_unit("betas[1]", beta2);
    check_unit("decay", decay);
    if (!(std::isfinite(eps) && eps > 0.0)) invalid("eps", "must be finite and > 0, got " + std::to_string(eps));
    if (!lr_scale.empty()) {
        if (static_cast<Index>(lr_scale.size()) != depth)
            invalid("lr_scale", "needs one factor per layer: " + std::to_string(depth) + ", got " +
                                    std::to_string(lr_scale.size()));
        for (std::size_t l = 0; l < lr_scale.size(); ++l)
            if (!(std::isfinite(lr_scale[l]) && lr_scale[l] >= 0.0))
                invalid("lr_scale", "entry " + std::to_string(l) + " must be finite and >= 0, got " +
                                        std::to_string(lr_scale[l]));
    }
}

template <class T>
Optimizer<T>::Optimizer(const OptimizerConfig& config, const std::vector<Mat<T>>& shapes,
                        const OptimizerState<T>* initial)
    : cfg_(config) {
    const bool first = cfg_.kind != OptimizerKind::GD && cfg_.kind != OptimizerKind::RMSprop;
    const bool second = cfg_.kind == OptimizerKind::Adam || cfg_.kind == OptimizerKind::RMSprop;
    for (const auto& W : shapes) {
        if (first) state_.m.push_back(Mat<T>::Zero(W.rows(), W.cols()));
        if (second) state_.v.push_back(Mat<T>::Zero(W.rows(), W.cols()));
    }
    if (cfg_.lr_scale.empty()) cfg_.lr_scale.assign(shapes.size(), 1.0);
    if (initial) {
        if (initial->t < 0) invalid("state", "negative step count " + std::to_string(initial->t));
        auto same_shapes = [](const std::vector<Mat<T>>& a, const std::vector<Mat<T>>& b) {
            if (a.size() != b.size()) return false;
            for (std::size_t l = 0; l < a.size(); ++l)
                if (a[l].rows() != b[l].rows() || a[l].cols() != b[l].cols()) return false;
            return true;
        };
        if (!same_shapes(initial->m, state_.m) || !same_shapes(initial->v, state_.v))
            invalid("state", std::string("buffers do not match a '") + to_string(cfg_.kind) +
                                 "' optimiser for these layer shapes");
        for (const auto* buffers : {&initial->m, &initial->v})
            for (const auto& b : *buffers)
                if (!b.allFinite()) invalid("state", "contains NaN or Inf");
        state_ = *initial;
    }
}

template <class T>
void Optimizer<T>::step(const std::vector<Mat<T>>& W, const std::vector<Mat<T>>& G, std::vector<Mat<T>>& W_out) {
    auto& m_ = state_.m;
    auto& v_ = state_.v;
    const long long t_ = ++state_.t;
    // 1 - beta is formed in double and rounded once: in float32, 1 - float(0.999) is off by 1e-5
    // relative, a bias that would accumulate over every step.
    const T b1 = static_cast<T>(cfg_.beta1), b2 = static_cast<T>(cfg_.beta2);
    const T one_b1 = static_cast<T>(1.0 - cfg_.beta1), one_b2 = static_cast<T>(1.0 - cfg_.beta2);
    const T one_decay = static_cast<T>(1.0 - cfg_.decay);
    const T eps = static_cast<T>(cfg_.eps), decay = static_cast<T>(cfg_.decay), mu = static_cast<T>(cfg_.momentum);
    // Bias corrections in double, then rounded once.
    const T bc1 = static_cast<T>(1.0 - std::pow(cfg_.beta1, static_cast<double>(t_)));
    const T bc2 = static_cast<T>(1.0 - std::pow(cfg_.beta2, static_cast<double>(t_)));
    for (std::size_t l = 0; l < W.size(); ++l) {
        const T lr = static_cast<T>(cfg_.lr * cfg_.lr_scale[l]);
        const auto g = G[l].array();
        auto out = W_out[l].array();
        switch (cfg_.kind) {
            case OptimizerKind::GD:
                out = W[l].array() - lr * g;
                break;
            case OptimizerKind::Momentum:
                m_[l].array() = mu * m_[l].array() + g;
                out = W[l].array() - lr * m_[l].array();
                break;
            case OptimizerKind::Adam:
                m_[l].array() = b1 * m_[l].array() + one_b1 * g;
                v_[l].array() = b2 * v_[l].array() + one_b2 * g.square();
                out = W[l].array() - lr * ((m_[l].array() / bc1) / ((v_[l].array() / bc2).sqrt() + eps));
                break;
            case OptimizerKind::RMSprop:
                v_[l].array() = decay * v_[l].array() + one_decay * g.square();
                out = W[l].array() - lr * (g / (v_[l].array().sqrt() + eps));
                break;
        }
    }
}

template class Optimizer<float>;
template class Optimizer<double>;

}  // namespace dln
