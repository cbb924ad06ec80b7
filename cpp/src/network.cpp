#include "dln/network.hpp"

#include "dln/blas.hpp"

namespace dln {

void check_widths(const std::vector<Index>& widths) {
    if (widths.size() < 2)
        invalid("widths", "need at least two entries [d_in, ..., d_out], got " + std::to_string(widths.size()));
    for (std::size_t i = 0; i < widths.size(); ++i)
        if (widths[i] < 1)
            invalid("widths", "entry " + std::to_string(i) + " must be >= 1, got " + std::to_string(widths[i]));
}

template <class T>
Network<T>::Network(std::vector<Mat<T>> weights) : weights_(std::move(weights)) {
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
Network<T> Network<T>::orthogonal(const std::vector<Index>& widths, double scale, std::uint64_t seed) {
    check_widths(widths);
    return Network(init_weights<T>(widths, scale, seed, InitKind::Orthogonal));
}
template <class T>
Network<T> Network<T>::gaussian(const std::vector<Index>& widths, double scale, std::uint64_t seed) {
    check_widths(widths);
    return Network(init_weights<T>(widths, scale, seed, InitKind::Gaussian));
}
template <class T>
Network<T> Network<T>::uniform(const std::vector<Index>& widths, double scale, std::uint64_t seed) {
    check_widths(widths);
    return Network(init_weights<T>(widths, scale, seed, InitKind::Uniform));
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
std::vector<Mat<T>> Network<T>::layer_outputs(const Eigen::Ref<const Mat<T>>& X) const {
    if (X.rows() != input_dim())
        invalid("X", "expected " + std::to_string(input_dim()) + " rows (the network's input dimension), got shape " +
                         shape_str(X.rows(), X.cols()));
    std::vector<Mat<T>> H{Mat<T>(X)};
    for (const auto& W : weights_) {
        Mat<T> next(W.rows(), X.cols());
        gemm<T>(Op::N, Op::N, T(1), view(W), view(H.back()), T(0), next);
        H.push_back(std::move(next));
    }
    return H;
}

template <class T>
Mat<T> Network<T>::forward(const Eigen::Ref<const Mat<T>>& X) const {
    return std::move(layer_outputs(X).back());
}

template class Network<float>;
template class Network<double>;

}  // namespace dln
