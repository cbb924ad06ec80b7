#include "dln/problem.hpp"

#include <cmath>

namespace dln {

RegressionForm parse_regression_form(const std::string& name) {
    if (name == "auto") return RegressionForm::Auto;
    if (name == "covariance") return RegressionForm::Covariance;
    if (name == "data") return RegressionForm::Data;
    invalid("form", "expected 'auto', 'covariance' or 'data', got '" + name + "'");
}

const char* to_string(RegressionForm f) {
    switch (f) {
        case RegressionForm::Auto: return "auto";
        case RegressionForm::Covariance: return "covariance";
        case RegressionForm::Data: return "data";
    }
    return "unknown";
}

namespace {
template <class T>
void check_data(const std::string& name, const ConstView<T>& a) {
    if (a.size() == 0) invalid(name, "empty array of shape " + shape_str(a.rows(), a.cols()));
    if (!all_finite(a.data(), a.size())) invalid(name, "contains NaN or Inf");
}
}  // namespace

template <class T>
const Mat<T>* Problem<T>::keep(Mat<T> m) {
    owned_.push_back(std::make_shared<const Mat<T>>(std::move(m)));
    return owned_.back().get();
}

template <class T>
void Problem<T>::set_factorization(ConstView<T> target, Reduction r) {
    check_data("target", target);
    kind_ = ProblemKind::Factorization;
    reduction_ = r;
    out_ = target.rows();
    in_ = n_ = target.cols();
    a_ = target.data();
}

template <class T>
void Problem<T>::set_completion(ConstView<T> target, ConstView<T> mask, Reduction r) {
    check_data("target", target);
    if (mask.rows() != target.rows() || mask.cols() != target.cols())
        invalid("mask", "shape " + shape_str(mask.rows(), mask.cols()) + " differs from the target's " +
                            shape_str(target.rows(), target.cols()));
    for (Index i = 0; i < mask.size(); ++i)
        if (!(mask.data()[i] == T(0) || mask.data()[i] == T(1)))
            invalid("mask", "entries must be 0 or 1, found " + std::to_string(double(mask.data()[i])));
    kind_ = ProblemKind::Completion;
    reduction_ = r;
    out_ = target.rows();
    in_ = n_ = target.cols();
    a_ = target.data();
    mask_ = mask.data();
}

template <class T>
void Problem<T>::set_regression(ConstView<T> X, ConstView<T> Y, Reduction r, RegressionForm form) {
    check_data("X", X);
    check_data("Y", Y);
    if (X.cols() != Y.cols())
        invalid("Y", "shape " + shape_str(Y.rows(), Y.cols()) + " has " + std::to_string(Y.cols()) +
                         " samples (columns) but X of shape " + shape_str(X.rows(), X.cols()) + " has " +
                         std::to_string(X.cols()));
    kind_ = ProblemKind::Regression;
    reduction_ = r;
    form_ = form;
    in_ = X.rows();
    out_ = Y.rows();
    n_ = X.cols();
    x_ = X.data();
    a_ = Y.data();
    target_sq_ = Y.template cast<double>().squaredNorm();
    // The covariance form can only pay off when there are more samples than inputs.
    if (form == RegressionForm::Covariance || (form == RegressionForm::Auto && n_ > in_)) {
        gram_.resize(in_, in_);
        cross_.resize(out_, in_);
        gemm<T>(Op::N, Op::T, T(1), X, X, T(0), gram_);
        gemm<T>(Op::N, Op::T, T(1), Y, X, T(0), cross_);
    }
}

template <class T>
double Problem<T>::scale() const {
    if (reduction_ == Reduction::Sum) return 1.0;
    return 1.0 / (static_cast<double>(out_) * static_cast<double>(kind_ == ProblemKind::Regression ? n_ : in_));
}

template <class T>
void Problem<T>::check_network(const std::vector<Index>& widths) const {
    if (widths.front() != in_)
        invalid("net", "input dimension " + std::to_string(widths.front()) + " does not match the problem's " +
                           std::to_string(in_));
    if (widths.back() != out_)
        invalid("net", "output dimension " + std::to_string(widths.back()) + " does not match the problem's " +
                           std::to_string(out_));
}

template <class T>
void Problem<T>::check_activation(const Activation& activation) const {
    activation.validate();
    if (!activation.linear() && kind_ == ProblemKind::Regression && form_ == RegressionForm::Covariance)
        invalid("net", std::string("activation '") + activation.name() +
                           "' needs the data form of regression (X X^T cannot carry a non-linearity), but the "
                           "problem was built with form 'covariance'; use 'data' or 'auto'");
}

namespace {
// sum over layers l >= first of n_l n_{l-1}
double chain_sum(const std::vector<Index>& w, std::size_t first) {
    double s = 0;
    for (std::size_t l = first; l < w.size(); ++l) s += static_cast<double>(w[l]) * static_cast<double>(w[l - 1]);
    return s;
}
}  // namespace

template <class T>
double Problem<T>::flops_per_step(const std::vector<Index>& w) const {
    const double S = chain_sum(w, 2);
    switch (form_for(w)) {
        case RegressionForm::Data: return 2.0 * static_cast<double>(n_) * (2.0 * chain_sum(w, 1) + S);
        case RegressionForm::Covariance:
            return 6.0 * S * static_cast<double>(in_) + 2.0 * static_cast<double>(out_) * static_cast<double>(in_) * static_cast<double>(in_);
        case RegressionForm::Auto: break;
    }
    return 6.0 * S * static_cast<double>(in_);
}

template <class T>
Index Problem<T>::products_per_step(const std::vector<Index>& w) const {
    const Index L = static_cast<Index>(w.size()) - 1;
    switch (form_for(w)) {
        case RegressionForm::Data: return 3 * L - 1;
        case RegressionForm::Covariance: return 3 * L - 2;
        case RegressionForm::Auto: break;
    }
    return 3 * L - 3;
}

template <class T>
RegressionForm Problem<T>::form_for(const std::vector<Index>& w) const {
    if (kind_ != ProblemKind::Regression) return RegressionForm::Auto;
    if (form_ != RegressionForm::Auto) return form_;
    if (gram_.size() == 0) return RegressionForm::Data;
    const double S = chain_sum(w, 2);
    const double data = 2.0 * static_cast<double>(n_) * (2.0 * chain_sum(w, 1) + S);
    const double cov = 6.0 * S * static_cast<double>(in_) +
                       2.0 * static_cast<double>(out_) * static_cast<double>(in_) * static_cast<double>(in_);
    return cov < data ? RegressionForm::Covariance : RegressionForm::Data;
}

template <class T>
double Problem<T>::loss(const Network<T>& net) const {
    Evaluator<T> ev(*this, net.widths(), net.activation());
    return ev.evaluate(net.weights(), nullptr);
}

template <class T>
std::vector<Mat<T>> Problem<T>::gradients(const Network<T>& net) const {
    Evaluator<T> ev(*this, net.widths(), net.activation());
    std::vector<Mat<T>> G;
    for (const auto& W : net.weights()) G.emplace_back(W.rows(), W.cols());
    ev.evaluate(net.weights(), &G);
    return G;
}

template <class T>
Factorization<T>::Factorization(ConstView<T> target, Reduction reduction) {
    this->set_factorization(target, reduction);
}
template <class T>
Factorization<T>::Factorization(Mat<T> target, Reduction reduction) {
    this->set_factorization(view(*this->keep(std::move(target))), reduction);
}

template <class T>
Completion<T>::Completion(ConstView<T> target, ConstView<T> mask, Reduction reduction) {
    this->set_completion(target, mask, reduction);
}
template <class T>
Completion<T>::Completion(Mat<T> target, Mat<T> mask, Reduction reduction) {
    const Mat<T>* t = this->keep(std::move(target));
    const Mat<T>* m = this->keep(std::move(mask));
    this->set_completion(view(*t), view(*m), reduction);
}

template <class T>
Regression<T>::Regression(ConstView<T> X, ConstView<T> Y, Reduction reduction, RegressionForm form) {
    this->set_regression(X, Y, reduction, form);
}
template <class T>
Regression<T>::Regression(Mat<T> X, Mat<T> Y, Reduction reduction, RegressionForm form) {
    const Mat<T>* x = this->keep(std::move(X));
    const Mat<T>* y = this->keep(std::move(Y));
    this->set_regression(view(*x), view(*y), reduction, form);
}

// ---------------------------------------------------------------------------------------------------
// Evaluator: forward prefixes P_l = W_l P_{l-1} (P_0 = X, or the identity, which costs nothing),
// residual R at the output, then backward B_{l-1} = W_l^T B_l and G_l = B_l P_{l-1}^T.
// Factorisation/completion: (L-1) + (L-1) + (L-1) = 3L-3 products; covariance adds R = P_L S - C;
// data adds the first forward product and G_1 = B_1 X^T.

template <class T>
Evaluator<T>::Evaluator(const Problem<T>& problem, const std::vector<Index>& widths, const Activation& activation)
    : problem_(problem), activation_(activation) {
    problem.check_network(widths);
    problem.check_activation(activation);
    const std::size_t L = widths.size() - 1;
    P_.resize(L);
    B_.resize(L);
    if (!activation.linear()) {
        // Every layer's output and backpropagated residual, on N columns (regression) or d_in (X = I).
        const bool regression = problem.kind() == ProblemKind::Regression;
        form_ = regression ? RegressionForm::Data : RegressionForm::Auto;
        data_ = regression;
        const Index cols = data_ ? problem.samples() : problem.input_dim();
        for (std::size_t l = 0; l < L; ++l) {
            P_[l].resize(widths[l + 1], cols);
            B_[l].resize(widths[l + 1], cols);
        }
        return;
    }
    form_ = problem.form_for(widths);
    data_ = form_ == RegressionForm::Data;
    const Index cols = data_ ? problem.samples() : problem.input_dim();
    for (std::size_t l = 0; l < L; ++l) {
        const bool first_is_free = (l == 0 && !data_);  // P_1 = W_1, B_1 goes straight into G_1
        if (!first_is_free) P_[l].resize(widths[l + 1], cols);
        if (!first_is_free || L == 1) B_[l].resize(widths[l + 1], cols);
    }
}

template <class T>
ConstView<T> Evaluator<T>::layer_output(const std::vector<Mat<T>>& W, Index l) const {
    if (l < 0) return problem_.inputs();
    if (l == 0 && !data_) return view(W[0]);
    return view(P_[static_cast<std::size_t>(l)]);
}

template <class T>
double Evaluator<T>::evaluate(const std::vector<Mat<T>>& W, std::vector<Mat<T>>* grads) {
    if (!activation_.linear()) return evaluate_nonlinear(W, grads);
    const Index L = static_cast<Index>(W.size());
    for (Index l = 0; l < L; ++l) {
        if (l == 0 && !data_) continue;
        gemm<T>(Op::N, Op::N, T(1), view(W[l]), layer_output(W, l - 1), T(0), P_[l]);
    }
    const ConstView<T> out = layer_output(W, L - 1);
    Mat<T>& R = B_[L - 1];
    const double c = problem_.scale();
    double sq = 0.0;  // ||residual||^2
    switch (problem_.kind()) {
        case ProblemKind::Factorization:
            R.noalias() = out - problem_.target();
            sq = R.template cast<double>().squaredNorm();
            break;
        case ProblemKind::Completion:
            R.noalias() = problem_.mask().cwiseProduct(out - problem_.target());
            sq = R.template cast<double>().squaredNorm();
            break;
        case ProblemKind::Regression:
            if (data_) {
                R.noalias() = out - problem_.target();
                sq = R.template cast<double>().squaredNorm();
            } else {
                const ConstView<T> S(problem_.input_gram().data(), problem_.input_dim(), problem_.input_dim());
                gemm<T>(Op::N, Op::N, T(1), out, S, T(0), R);
                // ||W X - Y||^2 = <W S, W> - 2 <W, C> + ||Y||^2
                sq = R.template cast<double>().cwiseProduct(out.template cast<double>()).sum() -
                     2.0 * out.template cast<double>().cwiseProduct(problem_.cross().template cast<double>()).sum() +
                     problem_.target_sq_norm();
                R -= problem_.cross();
            }
            break;
    }
    const double loss = 0.5 * c * sq;
    if (!grads) return loss;

    auto& G = *grads;
    R *= static_cast<T>(c);
    for (Index l = L - 1; l >= 0; --l) {
        if (l > 0) {
            gemm<T>(Op::N, Op::T, T(1), view(B_[l]), layer_output(W, l - 1), T(0), G[l]);
            Mat<T>& below = (l == 1 && !data_) ? G[0] : B_[l - 1];
            gemm<T>(Op::T, Op::N, T(1), view(W[l]), view(B_[l]), T(0), below);
        } else if (data_) {
            gemm<T>(Op::N, Op::T, T(1), view(B_[0]), problem_.inputs(), T(0), G[0]);
        } else if (L == 1) {
            G[0] = B_[0];
        }
    }
    return loss;
}

template <class T>
double Evaluator<T>::residual(ConstView<T> out, Mat<T>& R) const {
    switch (problem_.kind()) {
        case ProblemKind::Completion: R.noalias() = problem_.mask().cwiseProduct(out - problem_.target()); break;
        case ProblemKind::Factorization:
        case ProblemKind::Regression: R.noalias() = out - problem_.target(); break;
    }
    return R.template cast<double>().squaredNorm();
}

// Backpropagation through H_l = f(W_l H_{l-1}): L (or L-1 with X = I) forward products, L-1 backward,
// L (or L-1) gradient products. P_[l] holds H_{l+1} (the output layer: its linear output), B_[l] the
// residual backpropagated to the output of layer l+1, already multiplied by f' below the top.
template <class T>
double Evaluator<T>::evaluate_nonlinear(const std::vector<Mat<T>>& W, std::vector<Mat<T>>* grads) {
    const std::size_t L = W.size();
    for (std::size_t l = 0; l < L; ++l) {
        if (l == 0 && !data_) P_[0] = W[0];  // W_1 I; same shape, so no allocation
        else gemm<T>(Op::N, Op::N, T(1), view(W[l]), l == 0 ? problem_.inputs() : view(P_[l - 1]), T(0), P_[l]);
        if (l + 1 < L) apply_activation(activation_, P_[l]);
    }
    Mat<T>& R = B_[L - 1];
    const double c = problem_.scale();
    const double loss = 0.5 * c * residual(view(P_[L - 1]), R);
    if (!grads) return loss;

    auto& G = *grads;
    R *= static_cast<T>(c);
    for (std::size_t l = L; l-- > 0;) {
        if (l > 0) {
            gemm<T>(Op::N, Op::T, T(1), view(B_[l]), view(P_[l - 1]), T(0), G[l]);
            gemm<T>(Op::T, Op::N, T(1), view(W[l]), view(B_[l]), T(0), B_[l - 1]);
            multiply_derivative(activation_, P_[l - 1], B_[l - 1]);
        } else if (data_) {
            gemm<T>(Op::N, Op::T, T(1), view(B_[0]), problem_.inputs(), T(0), G[0]);
        } else {
            G[0] = B_[0];  // delta_1 I
        }
    }
    return loss;
}

template class Problem<float>;
template class Problem<double>;
template class Factorization<float>;
template class Factorization<double>;
template class Completion<float>;
template class Completion<double>;
template class Regression<float>;
template class Regression<double>;
template class Evaluator<float>;
template class Evaluator<double>;

}  // namespace dln
