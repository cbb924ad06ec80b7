#include "dln/network.hpp"

#include "dln/blas.hpp"

#include <algorithm>
#include <cmath>

namespace dln {

const char* Activation::name() const { return name_of(kActivations, kind); }

void Activation::validate() const {
    if (!(std::isfinite(negative_slope) && negative_slope >= 0.0))
        invalid("negative_slope", "must be finite and >= 0, got " + std::to_string(negative_slope));
}

Activation Activation::parse(const std::string& name, double negative_slope) {
    Activation a;
    a.negative_slope = negative_slope;
    a.kind = parse_named(kActivations, name, "activation");
    a.validate();
    return a;
}

template <class T>
void apply_activation(const Activation& act, Mat<T>& H) {
    auto h = H.array();
    const T slope = static_cast<T>(act.negative_slope);
    switch (act.kind) {
        case ActivationKind::Linear: return;
        // `z < 0` rather than max(z, 0): a NaN fails the test and passes through unchanged.
        case ActivationKind::Relu: h = (h < T(0)).select(T(0), h); return;
        case ActivationKind::LeakyRelu: h = (h < T(0)).select(slope * h, h); return;
        case ActivationKind::Tanh: h = h.tanh(); return;
    }
}

template <class T>
void multiply_derivative(const Activation& act, const Mat<T>& H, Mat<T>& B) {
    auto b = B.array();
    const auto h = H.array();
    const T slope = static_cast<T>(act.negative_slope);
    switch (act.kind) {
        case ActivationKind::Linear: return;
        // H > 0 exactly when Z > 0, so the kink z = 0 gets the flat side's derivative.
        case ActivationKind::Relu: b = (h > T(0)).select(b, T(0)); return;
        case ActivationKind::LeakyRelu: b = (h > T(0)).select(b, slope * b); return;
        case ActivationKind::Tanh: b *= T(1) - h.square(); return;
    }
}

template void apply_activation(const Activation&, Mat<float>&);
template void apply_activation(const Activation&, Mat<double>&);
template void multiply_derivative(const Activation&, const Mat<float>&, Mat<float>&);
template void multiply_derivative(const Activation&, const Mat<double>&, Mat<double>&);

void check_widths(const std::vector<Index>& widths) {
    if (widths.size() < 2)
        invalid("widths", "need at least two entries [d_in, ..., d_out], got " + std::to_string(widths.size()));
    for (std::size_t i = 0; i < widths.size(); ++i)
        if (widths[i] < 1)
            invalid("widths", "entry " + std::to_string(i) + " must be >= 1, got " + std::to_string(widths[i]));
}

namespace {
template <class T>
void check_layer_shape(const std::vector<ConstView<T>>& weights, std::size_t l) {
    const auto& W = weights[l];
    const std::string name = "weights[" + std::to_string(l) + "]";
    if (W.size() == 0) invalid(name, "empty layer of shape " + shape_str(W.rows(), W.cols()));
    if (l > 0 && W.cols() != weights[l - 1].rows())
        invalid(name, "shape " + shape_str(W.rows(), W.cols()) + " does not chain: expected " +
                          std::to_string(weights[l - 1].rows()) + " columns to follow weights[" +
                          std::to_string(l - 1) + "] of shape " +
                          shape_str(weights[l - 1].rows(), weights[l - 1].cols()));
}
}  // namespace

template <class T>
void check_shapes(const std::vector<ConstView<T>>& weights) {
    if (weights.empty()) invalid("weights", "a network needs at least one layer");
    for (std::size_t l = 0; l < weights.size(); ++l) check_layer_shape(weights, l);
}

template <class T>
std::vector<Index> widths_of(const std::vector<ConstView<T>>& weights) {
    std::vector<Index> w{weights.front().cols()};
    for (const auto& W : weights) w.push_back(W.rows());
    return w;
}

template <class T>
std::vector<ConstView<T>> views_of(const std::vector<Mat<T>>& weights) {
    std::vector<ConstView<T>> v;
    v.reserve(weights.size());
    for (const auto& W : weights) v.push_back(view(W));
    return v;
}

template <class T>
std::vector<Mat<T>> copy_weights(const std::vector<ConstView<T>>& weights, bool check_finite) {
    std::vector<Mat<T>> out;
    out.reserve(weights.size());
    for (std::size_t l = 0; l < weights.size(); ++l) {
        const auto& W = weights[l];
        Mat<T>& M = out.emplace_back(W.rows(), W.cols());
        prefer_huge_pages(M.data(), static_cast<std::size_t>(M.size()) * sizeof(T));
        // Block by block, so that the check reads what the copy just brought into cache.
        constexpr Index kBlock = 8192;
        const T* src = W.data();
        T* dst = M.data();
        for (Index b = 0; b < W.size(); b += kBlock) {
            const Index n = std::min(W.size() - b, kBlock);
            std::copy(src + b, src + b + n, dst + b);
            if (check_finite && !all_finite(dst + b, n))
                invalid("weights[" + std::to_string(l) + "]", "contains NaN or Inf");
        }
    }
    return out;
}

template <class T>
Network<T>::Network(std::vector<Mat<T>> weights, Activation activation)
    : weights_(std::move(weights)), activation_(activation) {
    activation_.validate();
    if (weights_.empty()) invalid("weights", "a network needs at least one layer");
    const auto views = views_of(weights_);
    for (std::size_t l = 0; l < weights_.size(); ++l) {
        check_layer_shape(views, l);
        if (!all_finite(weights_[l].data(), weights_[l].size()))
            invalid("weights[" + std::to_string(l) + "]", "contains NaN or Inf");
    }
}

template <class T>
Network<T> Network<T>::adopt(std::vector<Mat<T>> weights, Activation activation) {
    return Network(std::move(weights), activation, Adopted{});
}

template <class T>
Network<T> Network<T>::orthogonal(const std::vector<Index>& widths, double scale, std::uint64_t seed,
                           Activation activation) {
    check_widths(widths);
    activation.validate();  // before the (possibly long) init
    return Network(init_weights<T>(widths, scale, seed, InitKind::Orthogonal), activation);
}
template <class T>
Network<T> Network<T>::gaussian(const std::vector<Index>& widths, double scale, std::uint64_t seed,
                           Activation activation) {
    check_widths(widths);
    activation.validate();  // before the (possibly long) init
    return Network(init_weights<T>(widths, scale, seed, InitKind::Gaussian), activation);
}
template <class T>
Network<T> Network<T>::uniform(const std::vector<Index>& widths, double scale, std::uint64_t seed,
                           Activation activation) {
    check_widths(widths);
    activation.validate();  // before the (possibly long) init
    return Network(init_weights<T>(widths, scale, seed, InitKind::Uniform), activation);
}

template <class T>
std::vector<Index> Network<T>::widths() const {
    std::vector<Index> w{input_dim()};
    for (const auto& W : weights_) w.push_back(W.rows());
    return w;
}

template <class T>
Mat<T> Network<T>::end_to_end() const {
    Mat<T> P = weights_.front();
    for (std::size_t l = 1; l < weights_.size(); ++l) {
        Mat<T> next(weights_[l].rows(), P.cols());
        gemm<T>(Op::N, Op::N, T(1), view(weights_[l]), view(P), T(0), next);
        P.swap(next);
    }
    return P;
}

template <class T>
std::vector<Mat<T>> Network<T>::features(const Eigen::Ref<const Mat<T>>& X) const {
    if (X.rows() != input_dim())
        invalid("X", "expected " + std::to_string(input_dim()) + " rows (the network's input dimension), got shape " +
                         shape_str(X.rows(), X.cols()));
    std::vector<Mat<T>> H{Mat<T>(X)};
    for (std::size_t l = 0; l < weights_.size(); ++l) {
        Mat<T> next(weights_[l].rows(), X.cols());
        gemm<T>(Op::N, Op::N, T(1), view(weights_[l]), view(H.back()), T(0), next);
        if (l + 1 < weights_.size()) apply_activation(activation_, next);  // the output layer stays linear
        H.push_back(std::move(next));
    }
    return H;
}

template <class T>
Mat<T> Network<T>::forward(const Eigen::Ref<const Mat<T>>& X) const {
    return std::move(features(X).back());
}

template void check_shapes(const std::vector<ConstView<float>>&);
template void check_shapes(const std::vector<ConstView<double>>&);
template std::vector<Index> widths_of(const std::vector<ConstView<float>>&);
template std::vector<Index> widths_of(const std::vector<ConstView<double>>&);
template std::vector<ConstView<float>> views_of(const std::vector<Mat<float>>&);
template std::vector<ConstView<double>> views_of(const std::vector<Mat<double>>&);
template std::vector<Mat<float>> copy_weights(const std::vector<ConstView<float>>&, bool);
template std::vector<Mat<double>> copy_weights(const std::vector<ConstView<double>>&, bool);
template class Network<float>;
template class Network<double>;

}  // namespace dln
