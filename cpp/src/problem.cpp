#include "dln/problem.hpp"

#include "dln/phase_pool.hpp"

#include <algorithm>
#include <cmath>

namespace dln {

RegressionForm parse_regression_form(const std::string& name) {
    return parse_named(kRegressionForms, name, "form");
}

const char* to_string(RegressionForm f) { return name_of(kRegressionForms, f); }

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
// residual R at the output, then backward B_{l-1} = W_l^T B_l and G_l = c B_l P_{l-1}^T.
// Factorisation/completion: (L-1) + (L-1) + (L-1) = 3L-3 products; covariance adds R = P_L S - C;
// data adds the first forward product and G_1 = B_1 X^T.
//
// Memory: the residual overwrites the output P_{L-1} (nothing reads the output after it), and
// B_{l-1}, written at layer l, goes into P_l, which layer l+1 was the last to read. The reduction
// factor c is applied by the gradient products (alpha), not by a pass over R.

namespace {
// Element-wise sweeps work on blocks of this many entries; the loss is the in-order sum of one partial
// per block, each summed in 8 interleaved lanes, so it does not depend on how blocks meet threads.
constexpr Index kBlock = 4096;
// Below this many entries a sweep stays on the calling thread (a wake-up costs more).
constexpr Index kParallelMin = Index{1} << 16;

Index block_count(Index n) { return (n + kBlock - 1) / kBlock; }

template <class Term>
double lane_sum(Index b, Index e, Term&& term) {
    double acc[8] = {};
    Index i = b;
    for (; i + 8 <= e; i += 8)
        for (Index j = 0; j < 8; ++j) acc[j] += term(i + j);
    for (Index j = 0; i < e; ++i, ++j) acc[j] += term(i);
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

double ordered_sum(const std::vector<double>& partial, Index n, Index stride = 1, Index offset = 0) {
    double s = 0.0;
    for (Index b = 0; b < n; ++b) s += partial[static_cast<std::size_t>(b * stride + offset)];
    return s;
}
}  // namespace

template <class T>
template <class Fn>
void Evaluator<T>::blocks(Index n, Fn&& fn) {
    const Index nb = block_count(n);
    if (!pool_ || n < kParallelMin) {
        fn(Index{0}, nb);
        return;
    }
    const Index nt = pool_->size();
    auto task = [&](int t) { fn(nb * t / nt, nb * (t + 1) / nt); };
    pool_->run(task);
}

template <class T>
Evaluator<T>::Evaluator(const Problem<T>& problem, const std::vector<Index>& widths, const Activation& activation,
                        int n_threads, bool descent)
    : problem_(problem), activation_(activation), widths_(widths) {
    problem.check_network(widths);
    problem.check_activation(activation);
    const std::size_t L = widths.size() - 1;
    P_.resize(L);
    B_.resize(L);
    if (n_threads > 1) pool_ = std::make_unique<PhasePool>(n_threads);
    auto sized = [](Mat<T>& m, Index rows, Index cols) {
        m.resize(rows, cols);
        prefer_huge_pages(m.data(), static_cast<std::size_t>(m.size()) * sizeof(T));
    };
    if (!activation.linear()) {
        // Every layer's output and backpropagated residual, on N columns (regression) or d_in (X = I).
        const bool regression = problem.kind() == ProblemKind::Regression;
        form_ = regression ? RegressionForm::Data : RegressionForm::Auto;
        data_ = regression;
        cols_ = data_ ? problem.samples() : problem.input_dim();
        for (std::size_t l = 0; l < L; ++l) {
            sized(P_[l], widths[l + 1], cols_);
            sized(B_[l], widths[l + 1], cols_);
        }
        return;
    }
    descent_ = descent;
    form_ = problem.form_for(widths);
    data_ = form_ == RegressionForm::Data;
    cols_ = data_ ? problem.samples() : problem.input_dim();
    for (std::size_t l = 0; l < L; ++l)
        if (l > 0 || data_) sized(P_[l], widths[l + 1], cols_);  // P_1 = W_1 with X = I
    const bool own_residual = form_ == RegressionForm::Covariance || (L == 1 && !data_);
    if (own_residual) sized(E_, widths[L], cols_);
    // delta(l) for l < L-1; with X = I, delta(0) only for descend() (evaluate() writes it into G_1).
    for (std::size_t l = 0; l + 1 < L; ++l) {
        if (l == 0 && !data_ && !descent_) continue;
        if (!reuses_prefix(static_cast<Index>(l))) sized(B_[l], widths[l + 1], cols_);
    }
    partial_.assign(static_cast<std::size_t>(2 * block_count(widths[L] * cols_)), 0.0);  // the residual's blocks
}

template <class T>
Evaluator<T>::~Evaluator() = default;

template <class T>
bool Evaluator<T>::reuses_prefix(Index l) const {
    const Index L = static_cast<Index>(widths_.size()) - 1;
    const auto& host = P_[static_cast<std::size_t>(l + 1)];
    const bool host_is_residual = l + 1 == L - 1 && E_.size() == 0;
    return l + 1 < L && !host_is_residual && host.size() >= widths_[static_cast<std::size_t>(l + 1)] * cols_;
}

template <class T>
MutView<T> Evaluator<T>::delta(Index l) {
    const Index L = static_cast<Index>(widths_.size()) - 1;
    const Index rows = widths_[static_cast<std::size_t>(l + 1)];
    if (l == L - 1) {
        Mat<T>& R = E_.size() ? E_ : P_[static_cast<std::size_t>(L - 1)];
        return MutView<T>(R.data(), rows, cols_);
    }
    T* at = reuses_prefix(l) ? P_[static_cast<std::size_t>(l + 1)].data() : B_[static_cast<std::size_t>(l)].data();
    return MutView<T>(at, rows, cols_);
}

template <class T>
ConstView<T> Evaluator<T>::layer_output(const std::vector<Mat<T>>& W, Index l) const {
    if (l < 0) return problem_.inputs();
    if (l == 0 && !data_) return view(W[0]);
    return view(P_[static_cast<std::size_t>(l)]);
}

// The residual at the output in one sweep with the loss: R = out - target (masked for completion)
// overwrites the output (or E_ when the output is W_1), or for the covariance form R = out S - C in
// E_ with ||W X - Y||^2 = <out S, out> - 2 <out, C> + ||Y||^2. R is written also when only the loss
// is wanted, so that a loss has the same bits whatever follows it.
template <class T>
double Evaluator<T>::residual_sweep(const std::vector<Mat<T>>& W) {
    const Index L = static_cast<Index>(W.size());
    const ConstView<T> out = layer_output(W, L - 1);
    const Index n = out.size();
    const Index nb = block_count(n);
    const T* o = out.data();
    if (form_ == RegressionForm::Covariance) {
        const ConstView<T> S(problem_.input_gram().data(), problem_.input_dim(), problem_.input_dim());
        gemm<T>(Op::N, Op::N, T(1), out, S, T(0), E_);
        T* e = E_.data();
        const T* c = problem_.cross().data();
        blocks(n, [&](Index first, Index last) {
            for (Index b = first; b < last; ++b) {
                const Index lo = b * kBlock, hi = std::min(n, lo + kBlock);
                partial_[static_cast<std::size_t>(2 * b)] =
                    lane_sum(lo, hi, [&](Index i) { return static_cast<double>(e[i]) * static_cast<double>(o[i]); });
                partial_[static_cast<std::size_t>(2 * b + 1)] =
                    lane_sum(lo, hi, [&](Index i) { return static_cast<double>(o[i]) * static_cast<double>(c[i]); });
                for (Index i = lo; i < hi; ++i) e[i] -= c[i];
            }
        });
        return ordered_sum(partial_, nb, 2, 0) - 2.0 * ordered_sum(partial_, nb, 2, 1) + problem_.target_sq_norm();
    }
    T* r = delta(L - 1).data();
    const T* y = problem_.target().data();
    const T* m = problem_.kind() == ProblemKind::Completion ? problem_.mask().data() : nullptr;
    blocks(n, [&](Index first, Index last) {
        for (Index b = first; b < last; ++b) {
            const Index lo = b * kBlock, hi = std::min(n, lo + kBlock);
            partial_[static_cast<std::size_t>(b)] =
                m ? lane_sum(lo, hi, [&](Index i) {
                        const T v = m[i] * (o[i] - y[i]);
                        r[i] = v;
                        return static_cast<double>(v) * static_cast<double>(v);
                    })
                  : lane_sum(lo, hi, [&](Index i) {
                        const T v = o[i] - y[i];
                        r[i] = v;
                        return static_cast<double>(v) * static_cast<double>(v);
                    });
        }
    });
    return ordered_sum(partial_, nb);
}

template <class T>
double Evaluator<T>::forward(const std::vector<Mat<T>>& W) {
    if (!activation_.linear()) return evaluate_nonlinear(W, nullptr);
    const Index L = static_cast<Index>(W.size());
    for (Index l = 0; l < L; ++l) {
        if (l == 0 && !data_) continue;
        gemm<T>(Op::N, Op::N, T(1), view(W[l]), layer_output(W, l - 1), T(0), P_[l]);
    }
    return 0.5 * problem_.scale() * residual_sweep(W);
}

template <class T>
void Evaluator<T>::backward(const std::vector<Mat<T>>& W, std::vector<Mat<T>>& G) {
    const Index L = static_cast<Index>(W.size());
    const T c = static_cast<T>(problem_.scale());
    for (Index l = L - 1; l >= (data_ || L == 1 ? 0 : 1); --l) {
        const ConstView<T> B = view(delta(l));
        if (l > 0) {
            gemm<T>(Op::N, Op::T, c, B, layer_output(W, l - 1), T(0), G[l]);
            if (l == 1 && !data_) gemm<T>(Op::T, Op::N, c, view(W[1]), B, T(0), G[0]);
            else gemm<T>(Op::T, Op::N, T(1), view(W[l]), B, T(0), delta(l - 1));
        } else if (data_) {
            gemm<T>(Op::N, Op::T, c, B, problem_.inputs(), T(0), G[0]);
        } else if (L == 1) {  // X = I: G_1 = c R (for L > 1 the product at l = 1 wrote it)
            T* g = G[0].data();
            const T* r = B.data();
            blocks(B.size(), [&](Index first, Index last) {
                for (Index i = first * kBlock, e = std::min(B.size(), last * kBlock); i < e; ++i) g[i] = c * r[i];
            });
        }
    }
}

template <class T>
void Evaluator<T>::descend(std::vector<Mat<T>>& W, const std::vector<double>& lr) {
    const Index L = static_cast<Index>(W.size());
    const double c = problem_.scale();
    for (Index l = L - 1; l >= 0; --l) {
        const T a = static_cast<T>(-lr[static_cast<std::size_t>(l)] * c);
        const ConstView<T> B = view(delta(l));
        if (l > 0) {
            // B_{l-1} from the old W_l first, then W_l += a B_l P_{l-1}^T; with X = I, P_0 is W_1
            // itself, read here before its own update at l = 0.
            gemm<T>(Op::T, Op::N, T(1), view(W[l]), B, T(0), delta(l - 1));
            gemm<T>(Op::N, Op::T, a, B, layer_output(W, l - 1), T(1), W[l]);
        } else if (data_) {
            gemm<T>(Op::N, Op::T, a, B, problem_.inputs(), T(1), W[0]);
        } else {  // X = I: grad_1 = c B_1, no product
            T* w = W[0].data();
            const T* b = B.data();
            const Index n = B.size();
            blocks(n, [&](Index first, Index last) {
                for (Index i = first * kBlock, e = std::min(n, last * kBlock); i < e; ++i) w[i] += a * b[i];
            });
        }
    }
}

template <class T>
double Evaluator<T>::evaluate(const std::vector<Mat<T>>& W, std::vector<Mat<T>>* grads) {
    if (!activation_.linear()) return evaluate_nonlinear(W, grads);
    const double loss = forward(W);
    if (grads) backward(W, *grads);
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
