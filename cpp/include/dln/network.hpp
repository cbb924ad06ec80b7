// A deep network: L >= 1 weight matrices W_1 ... W_L with shapes (out, in) chained, and an optional
// elementwise activation f between layers:
//
//   H_0 = X,   H_l = f(W_l H_{l-1})  (l = 1 .. L-1),   output H_L = W_L H_{L-1}.
//
// With the default activation (Linear) it is the deep linear network of the law of parsimony.
#pragma once

#include "dln/init.hpp"
#include "dln/types.hpp"

#include <string>
#include <vector>

namespace dln {

enum class ActivationKind { Linear, Relu, LeakyRelu, Tanh };
inline constexpr Named<ActivationKind> kActivations[] = {{ActivationKind::Linear, "linear"},
                                                         {ActivationKind::Relu, "relu"},
                                                         {ActivationKind::LeakyRelu, "leaky_relu"},
                                                         {ActivationKind::Tanh, "tanh"}};

// The elementwise activation between layers. Derivative conventions at the kink z = 0 (where none
// exists): ReLU'(0) = 0 and LeakyReLU'(0) = negative_slope, i.e. the kink belongs to the flat side,
// as in PyTorch. negative_slope only matters for LeakyRelu but is kept (and checked) for every kind.
struct Activation {
    ActivationKind kind = ActivationKind::Linear;
    double negative_slope = 0.01;  // LeakyRelu: f(z) = z for z > 0, negative_slope * z otherwise

    bool linear() const { return kind == ActivationKind::Linear; }
    const char* name() const;      // "linear", "relu", "leaky_relu", "tanh"
    // Throws std::invalid_argument naming `negative_slope` unless it is finite and >= 0 (a negative
    // slope would make f non-monotone and break the sign test the backward pass relies on).
    void validate() const;
    // Throws std::invalid_argument naming `activation` for an unknown name.
    static Activation parse(const std::string& name, double negative_slope = 0.01);
};

// H <- f(H) in place (no allocation). NaN stays NaN so that a diverging run is still seen as one.
template <class T>
void apply_activation(const Activation& act, Mat<T>& H);
// B <- f'(Z) * B in place, elementwise, with f' evaluated from the activation's output H = f(Z)
// rather than from Z: for these four activations (negative_slope >= 0) the output determines the
// derivative (H > 0 iff Z > 0; tanh' = 1 - H^2), so the forward pass keeps one buffer per layer.
template <class T>
void multiply_derivative(const Activation& act, const Mat<T>& H, Mat<T>& B);

template <class T>
class Network {
public:
    // Takes ownership of the weights; checks that there is at least one layer, that no layer is
    // empty, that the shapes chain (W_{l+1}.cols() == W_l.rows()) and that every entry is finite.
    // The activation is checked too (Activation::validate).
    explicit Network(std::vector<Mat<T>> weights, Activation activation = {});

    static Network orthogonal(const std::vector<Index>& widths, double scale, std::uint64_t seed,
                              Activation activation = {});
    static Network gaussian(const std::vector<Index>& widths, double scale, std::uint64_t seed,
                            Activation activation = {});
    static Network uniform(const std::vector<Index>& widths, double scale, std::uint64_t seed,
                           Activation activation = {});

    Index depth() const { return static_cast<Index>(weights_.size()); }
    Index input_dim() const { return weights_.front().cols(); }
    Index output_dim() const { return weights_.back().rows(); }
    std::vector<Index> widths() const;  // [d_in, n_1, ..., d_out]

    const std::vector<Mat<T>>& weights() const { return weights_; }
    const Mat<T>& weight(Index l) const { return weights_[static_cast<std::size_t>(l)]; }
    const Activation& activation() const { return activation_; }

    // W_L ... W_1, shape (d_out, d_in): the network's map only when the activation is linear.
    Mat<T> end_to_end() const;
    // Features of every layer for data X (d_in x N), after the activation: [H_0 = X, H_1, ..., H_L],
    // H_l of shape (n_l, N); for a linear network [X, W_1 X, W_2 W_1 X, ..., W_{L:1} X].
    std::vector<Mat<T>> features(const Eigen::Ref<const Mat<T>>& X) const;
    // The older name of features(), kept so existing callers keep working.
    std::vector<Mat<T>> layer_outputs(const Eigen::Ref<const Mat<T>>& X) const { return features(X); }
    Mat<T> forward(const Eigen::Ref<const Mat<T>>& X) const;  // H_L

    // Moves the weights out (the network is left empty), e.g. to rebuild it with another activation.
    std::vector<Mat<T>> release_weights() && { return std::move(weights_); }

    // Takes weights that are known to be valid (shapes chain, entries finite) without checking them
    // again: the trainer's result, whose every layer entered a finite loss (a non-finite entry of any
    // layer makes the end-to-end map, and so the loss, non-finite).
    static Network adopt(std::vector<Mat<T>> weights, Activation activation = {});

private:
    struct Adopted {};
    Network(std::vector<Mat<T>> weights, Activation activation, Adopted)
        : weights_(std::move(weights)), activation_(activation) {}

    std::vector<Mat<T>> weights_;
    Activation activation_;
};

// Checks a widths list for the init constructors: at least two entries, all positive.
void check_widths(const std::vector<Index>& widths);

// Weights given as views (e.g. NumPy arrays): the Network constructor's shape checks (at least one
// layer, none empty, shapes chain), std::invalid_argument naming `weights` or `weights[l]`; finiteness
// is left to copy_weights, which checks it in the same pass as the copy.
template <class T>
void check_shapes(const std::vector<ConstView<T>>& weights);
template <class T>
std::vector<Index> widths_of(const std::vector<ConstView<T>>& weights);  // [d_in, n_1, ..., d_out]
template <class T>
std::vector<ConstView<T>> views_of(const std::vector<Mat<T>>& weights);
// One copy of every layer into fresh matrices (huge pages preferred); with `check_finite` a layer
// with NaN or Inf throws std::invalid_argument naming `weights[l]`, found in the same pass.
template <class T>
std::vector<Mat<T>> copy_weights(const std::vector<ConstView<T>>& weights, bool check_finite);

extern template void apply_activation(const Activation&, Mat<float>&);
extern template void apply_activation(const Activation&, Mat<double>&);
extern template void multiply_derivative(const Activation&, const Mat<float>&, Mat<float>&);
extern template void multiply_derivative(const Activation&, const Mat<double>&, Mat<double>&);
extern template void check_shapes(const std::vector<ConstView<float>>&);
extern template void check_shapes(const std::vector<ConstView<double>>&);
extern template std::vector<Index> widths_of(const std::vector<ConstView<float>>&);
extern template std::vector<Index> widths_of(const std::vector<ConstView<double>>&);
extern template std::vector<ConstView<float>> views_of(const std::vector<Mat<float>>&);
extern template std::vector<ConstView<double>> views_of(const std::vector<Mat<double>>&);
extern template std::vector<Mat<float>> copy_weights(const std::vector<ConstView<float>>&, bool);
extern template std::vector<Mat<double>> copy_weights(const std::vector<ConstView<double>>&, bool);
extern template class Network<float>;
extern template class Network<double>;

}  // namespace dln
