#include "dln/network.hpp"

#include "dln/blas.hpp"

#include <cmath>

namespace dln {

const char* Activation::name() const {
    switch (kind) {
        case ActivationKind::Linear: return "linear";
        case ActivationKind::Relu: return "relu";
        case ActivationKind::LeakyRelu: return "leaky_relu";
        case ActivationKind::Tanh: return "tanh";
    }
    return "unknown";
}

void Activation::validate() const {
    if (!(std::isfinite(negative_slope) && negative_slope >= 0.0))
        invalid("negative_slope", "must be finite and >= 0, got " + std::to_string(negative_slope));
}

Activation Activation::parse(const std::string& name, double negative_slope) {
    Activation a;
    a.negative_slope = negative_slope;
    if (name == "linear") a.kind = ActivationKind::Linear;
    else if (name == "relu") a.kind = ActivationKind::Relu;
    else if (name == "leaky_relu") a.kind = ActivationKind::LeakyRelu;
    else if (name == "tanh") a.kind = ActivationKind::Tanh;
    else invalid("activation", "expected 'linear', 'relu', 'leaky_relu' or 'tanh', got '" + name + "'");
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

template <class T>
Network<T>::Network(std::vector<Mat<T>> weights, Activation activation)
    : weights_(std::move(weights)), activation_(activation) {
    activation_.validate();
    if (weights_.empty()) invalid("weights", "a network needs at least one layer");
    for (std::size_t l = 0; l < weights_.size(); ++l) {
        const auto& W = weights_[l];
        const std::string name = "weights[" + std::to_string(l) + "]";
        if (W.size() == 0) invalid(name, "empty layer of shape " + shape_str(W.rows(), W.cols()));
        if (l > 0 && W.cols() != weights_[l - 1].rows())
            invalid(name, "shape " + shape_str(W.rows(), W.cols()) + " does not chain: expected " +
                              std::to_string(weights_[l - 1].rows()) + " columns to follow weights[" +
                              std::to_string(l - 1) + "] of shape " +
                              shape_str(weights_[l - 1].rows(), weights_[l - 1].cols()));
        if (!all_finite(W.data(), W.size())) invalid(name, "contains NaN or Inf");
    }
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

template class Network<float>;
template class Network<double>;

}  // namespace dln
