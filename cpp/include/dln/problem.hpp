// The three losses of the published experiments and their gradients from prefix/suffix products.
//
//   factorisation  1/2 c ||W_{L:1} - Phi||^2
//   completion     1/2 c ||M * (W_{L:1} - Phi)||^2      (M a 0/1 mask)
//   regression     1/2 c ||W_{L:1} X - Y||^2
//
// with c = 1 (sum) or 1 / (number of residual entries) (mean). With a non-linear network (an
// activation f between layers) W_{L:1} X reads as the network's output H_L for the inputs X, and
// factorisation and completion take X = I; the gradients then come from backpropagation:
//   delta_L = c R,  grad_l = delta_l H_{l-1}^T,  delta_{l-1} = f'(Z_{l-1}) * (W_l^T delta_l)
// with Z the pre-activations (Evaluator below). Problems are views: the arrays they
// were built from must outlive them unless they were handed over as owned matrices.
#pragma once

#include "dln/blas.hpp"
#include "dln/network.hpp"
#include "dln/types.hpp"

#include <memory>
#include <vector>

namespace dln {

class PhasePool;

enum class ProblemKind { Factorization, Completion, Regression };

// How regression gradients are computed. Covariance: precompute S = X X^T and C = Y X^T once, then
// 3L-2 products per step on d_in columns; its loss carries cancellation error ~ eps ||Y||^2.
// Data: run through the N samples, 3L-1 products per step on N columns, loss exact.
// Auto picks whichever needs fewer flops for the network at hand.
enum class RegressionForm { Auto, Covariance, Data };
inline constexpr Named<RegressionForm> kRegressionForms[] = {
    {RegressionForm::Auto, "auto"}, {RegressionForm::Covariance, "covariance"}, {RegressionForm::Data, "data"}};
RegressionForm parse_regression_form(const std::string& name);
const char* to_string(RegressionForm f);

template <class T>
class Problem {
public:
    ProblemKind kind() const { return kind_; }
    Reduction reduction() const { return reduction_; }
    Index input_dim() const { return in_; }
    Index output_dim() const { return out_; }
    Index samples() const { return n_; }  // N for regression, d_in otherwise
    double scale() const;                 // the reduction factor c

    // Throws std::invalid_argument naming `net` when the network does not fit the problem.
    void check_network(const std::vector<Index>& widths) const;
    // Throws std::invalid_argument (naming `negative_slope`, or `net` and the activation) when a
    // network with this activation cannot be trained on this problem: a non-linear network has no
    // covariance form, so a regression built with form = Covariance refuses it.
    void check_activation(const Activation& activation) const;
    // The regression form asked for at construction (Auto unless given).
    RegressionForm requested_form() const { return form_; }
    // The form used for a network of these widths (Data/Covariance for regression, Auto otherwise).
    RegressionForm form_for(const std::vector<Index>& widths) const;
    // Matrix products and flops of one loss + gradient evaluation.
    Index products_per_step(const std::vector<Index>& widths) const;
    double flops_per_step(const std::vector<Index>& widths) const;

    double loss(const Network<T>& net) const;
    std::vector<Mat<T>> gradients(const Network<T>& net) const;

    // Data views (for the evaluator and for bindings that need to show them back).
    ConstView<T> target() const { return ConstView<T>(a_, out_, kind_ == ProblemKind::Regression ? n_ : in_); }
    ConstView<T> mask() const { return ConstView<T>(mask_, out_, in_); }
    ConstView<T> inputs() const { return ConstView<T>(x_, in_, n_); }
    const Mat<T>& input_gram() const { return gram_; }   // X X^T (covariance form)
    const Mat<T>& cross() const { return cross_; }       // Y X^T (covariance form)
    double target_sq_norm() const { return target_sq_; }  // ||Y||^2

protected:
    Problem() = default;
    void set_factorization(ConstView<T> target, Reduction r);
    void set_completion(ConstView<T> target, ConstView<T> mask, Reduction r);
    void set_regression(ConstView<T> X, ConstView<T> Y, Reduction r, RegressionForm form);
    const Mat<T>* keep(Mat<T> m);  // take ownership of a matrix and return a stable pointer

    ProblemKind kind_ = ProblemKind::Factorization;
    Reduction reduction_ = Reduction::Mean;
    RegressionForm form_ = RegressionForm::Auto;
    Index in_ = 0, out_ = 0, n_ = 0;
    const T* a_ = nullptr;     // target Phi (out x in) or Y (out x N)
    const T* mask_ = nullptr;  // completion mask (out x in)
    const T* x_ = nullptr;     // regression inputs X (in x N)
    Mat<T> gram_, cross_;
    double target_sq_ = 0.0;
    std::vector<std::shared_ptr<const Mat<T>>> owned_;
};

template <class T>
class Factorization : public Problem<T> {
public:
    // View: `target` must outlive the problem.
    explicit Factorization(ConstView<T> target, Reduction reduction = Reduction::Mean);
    // Owning.
    explicit Factorization(Mat<T> target, Reduction reduction = Reduction::Mean);
};

template <class T>
class Completion : public Problem<T> {
public:
    // mask: same shape as target, entries 0 or 1.
    Completion(ConstView<T> target, ConstView<T> mask, Reduction reduction = Reduction::Mean);
    Completion(Mat<T> target, Mat<T> mask, Reduction reduction = Reduction::Mean);
};

template <class T>
class Regression : public Problem<T> {
public:
    // X: (d_in, N) inputs as columns, Y: (d_out, N) targets.
    Regression(ConstView<T> X, ConstView<T> Y, Reduction reduction = Reduction::Mean,
               RegressionForm form = RegressionForm::Auto);
    Regression(Mat<T> X, Mat<T> Y, Reduction reduction = Reduction::Mean,
               RegressionForm form = RegressionForm::Auto);
};

// Loss and all layer gradients for one problem and one network shape and activation. Buffers are
// sized once in the constructor; evaluate() allocates nothing. A linear activation takes the
// prefix/suffix scheme (3L-3 products, covariance form available); a non-linear one backpropagates
// through the data (regression: data form; factorisation and completion: X = I), 3L-1 products.
//
// The element-wise passes (residual and loss in one sweep, the update of a layer without a product
// of its own) run on `n_threads` threads; the loss is summed in fixed blocks, so its bits do not
// depend on n_threads. The products use the GEMM backend's thread setting.
template <class T>
class Evaluator {
public:
    // `descent`: also size the buffers of descend() (gradient descent with the update fused into the
    // gradient products).
    Evaluator(const Problem<T>& problem, const std::vector<Index>& widths, const Activation& activation = {},
              int n_threads = 1, bool descent = false);
    ~Evaluator();
    Evaluator(const Evaluator&) = delete;
    Evaluator& operator=(const Evaluator&) = delete;

    // Loss at W; when grads is given, also every gradient (includes the reduction factor).
    double evaluate(const std::vector<Mat<T>>& W, std::vector<Mat<T>>* grads);

    // Whether descend() is available: a linear network and an Evaluator built with `descent`.
    bool can_descend() const { return descent_; }
    // Loss at W, the same bits as evaluate(W, ...), keeping what descend() needs.
    double forward(const std::vector<Mat<T>>& W);
    // One GD update in place, W_l <- W_l - lr[l] grad_l(W), for the W of the last forward() (each
    // gradient product accumulates into its layer, GEMM with beta = 1, so no gradient is stored).
    // Allocates nothing.
    void descend(std::vector<Mat<T>>& W, const std::vector<double>& lr);

    RegressionForm form() const { return form_; }

private:
    ConstView<T> layer_output(const std::vector<Mat<T>>& W, Index l) const;
    MutView<T> delta(Index l);  // the backpropagated residual at the output of layer l (linear path)
    bool reuses_prefix(Index l) const;  // delta(l) lives in P_[l + 1], dead by the time it is written
    double residual_sweep(const std::vector<Mat<T>>& W);
    void backward(const std::vector<Mat<T>>& W, std::vector<Mat<T>>& G);
    double evaluate_nonlinear(const std::vector<Mat<T>>& W, std::vector<Mat<T>>* grads);
    double residual(ConstView<T> out, Mat<T>& R) const;  // R from the output (data inputs); ||R||^2
    template <class Fn>
    void blocks(Index n, Fn&& fn);  // fn(first block, end block) over [0, n) in kBlock pieces, on the pool

    const Problem<T>& problem_;
    Activation activation_;
    RegressionForm form_;
    bool data_;  // true when layer inputs are the data X, false when they are the identity
    bool descent_ = false;
    Index cols_ = 0;  // columns of the layer outputs: N (data) or d_in
    std::vector<Index> widths_;
    std::vector<Mat<T>> P_;  // P_[l]: output of layer l for the inputs (W_{l:1} X or W_{l:1}; H_{l+1} if non-linear)
    std::vector<Mat<T>> B_;  // non-linear: backpropagated residuals; linear: delta(l) where P_ cannot hold it
    Mat<T> E_;  // linear: the residual when the output cannot hold it (covariance form; L = 1 with X = I)
    std::vector<double> partial_;  // per-block sums of the loss
    std::unique_ptr<PhasePool> pool_;
};

extern template class Problem<float>;
extern template class Problem<double>;
extern template class Factorization<float>;
extern template class Factorization<double>;
extern template class Completion<float>;
extern template class Completion<double>;
extern template class Regression<float>;
extern template class Regression<double>;
extern template class Evaluator<float>;
extern template class Evaluator<double>;

}  // namespace dln
