#include "dln/sparse.hpp"

#include "dln/blas.hpp"
#include "dln/loop.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <sstream>
#include <thread>

namespace dln {

namespace {

// Splits [0, ptr.size()-1) into n ranges holding about the same number of entries.
std::vector<Index> balanced_split(const std::vector<std::int64_t>& ptr, int n) {
    const Index m = static_cast<Index>(ptr.size()) - 1;
    std::vector<Index> split(static_cast<std::size_t>(n) + 1, m);
    split[0] = 0;
    const double total = static_cast<double>(ptr.back());
    for (int t = 1; t < n; ++t) {
        const auto target = static_cast<std::int64_t>(total * t / n);
        split[static_cast<std::size_t>(t)] =
            static_cast<Index>(std::lower_bound(ptr.begin(), ptr.end(), target) - ptr.begin());
        split[static_cast<std::size_t>(t)] = std::min(split[static_cast<std::size_t>(t)], m);
    }
    for (int t = 1; t <= n; ++t)
        split[static_cast<std::size_t>(t)] = std::max(split[static_cast<std::size_t>(t)], split[static_cast<std::size_t>(t) - 1]);
    return split;
}

}  // namespace

template <class T>
SparseCompletion<T>::SparseCompletion(Index d_out, Index d_in, const std::int64_t* rows, const std::int64_t* cols,
                                      const T* values, Index nnz, Reduction reduction)
    : out_(d_out), in_(d_in), reduction_(reduction) {
    if (d_out < 1 || d_out > INT32_MAX) invalid("d_out", "must be in [1, 2^31), got " + std::to_string(d_out));
    if (d_in < 1 || d_in > INT32_MAX) invalid("d_in", "must be in [1, 2^31), got " + std::to_string(d_in));
    if (nnz < 1) invalid("values", "no observed entries");
    for (Index e = 0; e < nnz; ++e) {
        if (rows[e] < 0 || rows[e] >= d_out)
            invalid("rows", "entry " + std::to_string(e) + " = " + std::to_string(rows[e]) + " outside [0, " +
                                std::to_string(d_out) + ")");
        if (cols[e] < 0 || cols[e] >= d_in)
            invalid("cols", "entry " + std::to_string(e) + " = " + std::to_string(cols[e]) + " outside [0, " +
                                std::to_string(d_in) + ")");
        if (!std::isfinite(values[e])) invalid("values", "entry " + std::to_string(e) + " is NaN or Inf");
    }
    // Counting sort by row, then by column inside each row.
    row_ptr_.assign(static_cast<std::size_t>(d_out) + 1, 0);
    for (Index e = 0; e < nnz; ++e) ++row_ptr_[static_cast<std::size_t>(rows[e]) + 1];
    std::partial_sum(row_ptr_.begin(), row_ptr_.end(), row_ptr_.begin());
    std::vector<std::int64_t> order(static_cast<std::size_t>(nnz));
    {
        std::vector<std::int64_t> fill(row_ptr_.begin(), row_ptr_.end() - 1);
        for (Index e = 0; e < nnz; ++e) order[static_cast<std::size_t>(fill[static_cast<std::size_t>(rows[e])]++)] = e;
    }
    col_.resize(static_cast<std::size_t>(nnz));
    val_.resize(static_cast<std::size_t>(nnz));
    for (Index i = 0; i < d_out; ++i) {
        auto b = order.begin() + row_ptr_[static_cast<std::size_t>(i)], e = order.begin() + row_ptr_[static_cast<std::size_t>(i) + 1];
        std::sort(b, e, [&](std::int64_t x, std::int64_t y) { return cols[x] < cols[y]; });
        for (auto it = b; it != e; ++it) {
            const auto p = static_cast<std::size_t>(it - order.begin());
            col_[p] = static_cast<std::int32_t>(cols[*it]);
            val_[p] = values[*it];
            if (it != b && col_[p] == col_[p - 1])
                invalid("rows", "position (" + std::to_string(i) + ", " + std::to_string(col_[p]) +
                                    ") is observed twice (with cols)");
        }
    }
    order.clear();
    order.shrink_to_fit();
    // CSC: walking rows in order keeps the rows of each column sorted.
    col_ptr_.assign(static_cast<std::size_t>(d_in) + 1, 0);
    for (auto j : col_) ++col_ptr_[static_cast<std::size_t>(j) + 1];
    std::partial_sum(col_ptr_.begin(), col_ptr_.end(), col_ptr_.begin());
    csc_row_.resize(static_cast<std::size_t>(nnz));
    csc_pos_.resize(static_cast<std::size_t>(nnz));
    std::vector<std::int64_t> fill(col_ptr_.begin(), col_ptr_.end() - 1);
    for (Index i = 0; i < d_out; ++i)
        for (auto p = row_ptr_[static_cast<std::size_t>(i)]; p < row_ptr_[static_cast<std::size_t>(i) + 1]; ++p) {
            const auto q = static_cast<std::size_t>(fill[static_cast<std::size_t>(col_[static_cast<std::size_t>(p)])]++);
            csc_row_[q] = static_cast<std::int32_t>(i);
            csc_pos_[q] = p;
        }
}

template <class T>
double SparseCompletion<T>::scale() const {
    return reduction_ == Reduction::Sum ? 1.0 : 1.0 / (static_cast<double>(out_) * static_cast<double>(in_));
}

template <class T>
std::size_t SparseCompletion<T>::memory_bytes() const {
    return sizeof(std::int64_t) * (row_ptr_.size() + col_ptr_.size() + csc_pos_.size()) +
           sizeof(std::int32_t) * (col_.size() + csc_row_.size()) + sizeof(T) * val_.size();
}

template <class T>
void SparseCompletion<T>::check_network(const std::vector<Index>& widths) const {
    if (widths.size() < 3)
        invalid("net", "the sparse completion path needs at least two layers (the last hidden width is the "
                       "sampled products' inner dimension), got " + std::to_string(widths.size() - 1));
    if (widths.front() != in_)
        invalid("net", "input dimension " + std::to_string(widths.front()) + " does not match the problem's " +
                           std::to_string(in_));
    if (widths.back() != out_)
        invalid("net", "output dimension " + std::to_string(widths.back()) + " does not match the problem's " +
                           std::to_string(out_));
}

template <class T>
double SparseCompletion<T>::flops_per_step(const std::vector<Index>& w) const {
    const std::size_t L = w.size() - 1;
    double f = 3.0 * static_cast<double>(observed()) * static_cast<double>(w[L - 1]);  // sampled product, two gradients
    for (std::size_t l = 2; l < L; ++l)  // forward, backward and gradient of each inner layer, d_in rows each
        f += 3.0 * static_cast<double>(in_) * static_cast<double>(w[l]) * static_cast<double>(w[l - 1]);
    return f;
}

template <class T>
double SparseCompletion<T>::loss(const Network<T>& net, int n_threads) const {
    check_network(net.widths());
    SparseEvaluator<T> ev(*this, net.widths(), n_threads);
    return ev.evaluate(net.weights(), nullptr);
}

template <class T>
std::vector<Mat<T>> SparseCompletion<T>::gradients(const Network<T>& net, int n_threads) const {
    check_network(net.widths());
    SparseEvaluator<T> ev(*this, net.widths(), n_threads);
    std::vector<Mat<T>> G;
    for (const auto& W : net.weights()) G.emplace_back(W.rows(), W.cols());
    ev.evaluate(net.weights(), &G);
    return G;
}

// ---------------------------------------------------------------------------------------------------

template <class T>
SparseEvaluator<T>::SparseEvaluator(const SparseCompletion<T>& problem, const std::vector<Index>& widths, int n_threads)
    : p_(problem) {
    problem.check_network(widths);
    const int n = n_threads > 0 ? n_threads : default_threads();
    // Below ~1e5 multiply-adds a phase, thread start-up costs more than the work.
    threads_ = problem.observed() * widths[widths.size() - 2] < 100000 ? 1 : n;
    const std::size_t L = widths.size() - 1;
    for (std::size_t l = 0; l + 1 < L; ++l) {
        PT_.emplace_back(problem.input_dim(), widths[l + 1]);
        BT_.emplace_back(problem.input_dim(), widths[l + 1]);
    }
    r_.resize(static_cast<std::size_t>(problem.observed()));
    row_sq_.resize(static_cast<std::size_t>(problem.output_dim()));
    pool_ = std::make_unique<PhasePool>(threads_);
    row_split_ = balanced_split(problem.row_ptr(), threads_);
    col_split_ = balanced_split(problem.col_ptr(), threads_);
}

template <class T>
double SparseEvaluator<T>::evaluate(const std::vector<Mat<T>>& W, std::vector<Mat<T>>* grads) {
    const std::size_t L = W.size();
    // Forward prefixes, transposed so that column j of W_{L-1:1} is a contiguous row of PT.
    PT_[0] = W[0].transpose();
    for (std::size_t l = 1; l + 1 < L; ++l) gemm<T>(Op::N, Op::T, T(1), view(PT_[l - 1]), view(W[l]), T(0), PT_[l]);
    const Mat<T>& P = PT_[L - 2];
    const Mat<T>& WL = W[L - 1];
    const Index k = P.cols();
    const T c = static_cast<T>(p_.scale());
    const auto& rp = p_.row_ptr();
    const auto& col = p_.col();
    const auto& val = p_.values();
    Mat<T>* GL = grads ? &(*grads)[L - 1] : nullptr;

    // Rows: sampled residual, its squared norm and (with gradients) G_L = c R P^T, row by row. Plain
    // pointer loops: k is small (2r), and Eigen's dynamic-size row expressions cost more than the work.
    const T* Pd = P.data();
    auto rows = [&](int t) {
        for (Index i = row_split_[static_cast<std::size_t>(t)]; i < row_split_[static_cast<std::size_t>(t) + 1]; ++i) {
            const T* wi = WL.data() + i * k;
            double sq = 0.0;
            const auto e0 = rp[static_cast<std::size_t>(i)], e1 = rp[static_cast<std::size_t>(i) + 1];
            for (auto e = e0; e < e1; ++e) {
                const T* pj = Pd + static_cast<Index>(col[static_cast<std::size_t>(e)]) * k;
                T dot = T(0);
                for (Index a = 0; a < k; ++a) dot += wi[a] * pj[a];
                const T res = dot - val[static_cast<std::size_t>(e)];
                sq += static_cast<double>(res) * static_cast<double>(res);
                r_[static_cast<std::size_t>(e)] = c * res;
            }
            row_sq_[static_cast<std::size_t>(i)] = sq;
            if (GL) {
                T* gi = GL->data() + i * k;
                for (Index a = 0; a < k; ++a) gi[a] = T(0);
                for (auto e = e0; e < e1; ++e) {
                    const T* pj = Pd + static_cast<Index>(col[static_cast<std::size_t>(e)]) * k;
                    const T re = r_[static_cast<std::size_t>(e)];
                    for (Index a = 0; a < k; ++a) gi[a] += re * pj[a];
                }
            }
        }
    };
    pool_->run(rows);
    // Summed in row order whatever the thread count.
    const double loss = 0.5 * p_.scale() * std::accumulate(row_sq_.begin(), row_sq_.end(), 0.0);
    if (!grads) return loss;

    // Columns: B_{L-1}^T = (W_L^T R)^T = R^T W_L, column by column through the CSC index.
    Mat<T>& B = BT_[L - 2];
    const auto& cp = p_.col_ptr();
    const auto& crow = p_.csc_row();
    const auto& cpos = p_.csc_pos();
    auto cols = [&](int t) {
        for (Index j = col_split_[static_cast<std::size_t>(t)]; j < col_split_[static_cast<std::size_t>(t) + 1]; ++j) {
            T* bj = B.data() + j * k;
            for (Index a = 0; a < k; ++a) bj[a] = T(0);
            for (auto q = cp[static_cast<std::size_t>(j)]; q < cp[static_cast<std::size_t>(j) + 1]; ++q) {
                const T re = r_[static_cast<std::size_t>(cpos[static_cast<std::size_t>(q)])];
                const T* wi = WL.data() + static_cast<Index>(crow[static_cast<std::size_t>(q)]) * k;
                for (Index a = 0; a < k; ++a) bj[a] += re * wi[a];
            }
        }
    };
    pool_->run(cols);
    // Inner layers: G_l = B_l P_{l-1}^T and B_{l-1} = W_l^T B_l, all on d_in x k blocks.
    auto& G = *grads;
    for (std::size_t l = L - 2; l >= 1; --l) {
        gemm<T>(Op::T, Op::N, T(1), view(BT_[l]), view(PT_[l - 1]), T(0), G[l]);
        gemm<T>(Op::N, Op::N, T(1), view(BT_[l]), view(W[l]), T(0), BT_[l - 1]);
    }
    G[0] = BT_[0].transpose();
    return loss;
}

// ---------------------------------------------------------------------------------------------------

template <class T>
TrainResult<T> train_sparse(const Network<T>& net, const SparseCompletion<T>& problem, const OptimizerConfig& opt,
                            const TrainOptions& options, const TrainState<T>* resume,
                            const std::vector<Observer<T>*>& observers) {
    options.validate();
    opt.validate(net.depth());
    problem.check_network(net.widths());
    detail::check_resume(resume, options);
    GemmThreadLease lease(1);  // the dense products here are d x k x k: one thread
    SparseEvaluator<T> evaluator(problem, net.widths(), options.n_threads);
    return detail::run_loop(evaluator, net, opt, options, resume, observers, RegressionForm::Auto,
                            evaluator.n_threads());
}

template class SparseCompletion<float>;
template class SparseCompletion<double>;
template class SparseEvaluator<float>;
template class SparseEvaluator<double>;
template TrainResult<float> train_sparse(const Network<float>&, const SparseCompletion<float>&,
                                         const OptimizerConfig&, const TrainOptions&, const TrainState<float>*,
                                         const std::vector<Observer<float>*>&);
template TrainResult<double> train_sparse(const Network<double>&, const SparseCompletion<double>&,
                                          const OptimizerConfig&, const TrainOptions&, const TrainState<double>*,
                                          const std::vector<Observer<double>*>&);

}  // namespace dln
