// Masked completion from its observed entries alone: 1/2 c sum_{(i,j) observed} ((W_{L:1})_ij - Phi_ij)^2.
//
// The dense Completion problem forms W_{L:1} (d_out x d_in) every step. For a chain whose last hidden
// width k is small (the compressed network of SCIENCE.md section 3, k = 2r) nothing of size d_out x d_in
// is needed: the residual is a sampled product, r_e = W_L[i,:] . (W_{L-1:1})[:, j] at the observed
// (i, j), and the gradients come from sparse-times-dense products. Cost per step O(|observed| k) plus
// O(d k^2) per inner layer; memory O(|observed| + d k).
//
// c = 1 (sum) or 1 / (d_out d_in) (mean, all entries observed or not, as the dense Completion).
#pragma once

#include "dln/network.hpp"
#include "dln/optimizer.hpp"
#include "dln/phase_pool.hpp"
#include "dln/trainer.hpp"
#include "dln/types.hpp"

#include <cstdint>
#include <memory>
#include <vector>

namespace dln {

template <class T>
class SparseCompletion {
public:
    // Observed entries Phi[rows[e], cols[e]] = values[e], in any order. Indices out of range, duplicate
    // positions and non-finite values throw std::invalid_argument naming `rows`, `cols` or `values`.
    // The entries are copied into row-sorted (CSR) and column-sorted (CSC) order once.
    SparseCompletion(Index d_out, Index d_in, const std::int64_t* rows, const std::int64_t* cols, const T* values,
                     Index nnz, Reduction reduction = Reduction::Mean);

    Index output_dim() const { return out_; }
    Index input_dim() const { return in_; }
    Index observed() const { return static_cast<Index>(val_.size()); }
    Reduction reduction() const { return reduction_; }
    double scale() const;
    std::size_t memory_bytes() const;  // the stored entries and index arrays

    // Throws std::invalid_argument naming `net` unless the dimensions match and depth >= 2.
    void check_network(const std::vector<Index>& widths) const;
    double loss(const Network<T>& net, int n_threads = 1) const;
    std::vector<Mat<T>> gradients(const Network<T>& net, int n_threads = 1) const;
    // Multiply-adds of one loss + gradient evaluation for this chain.
    double flops_per_step(const std::vector<Index>& widths) const;

    // CSR: entries of row i are [row_ptr[i], row_ptr[i+1]), columns col_[e], values val_[e].
    const std::vector<std::int64_t>& row_ptr() const { return row_ptr_; }
    const std::vector<std::int32_t>& col() const { return col_; }
    const std::vector<T>& values() const { return val_; }
    // CSC of the same entries: column j holds [col_ptr[j], col_ptr[j+1]) with row csc_row_[p] and CSR
    // position csc_pos_[p] (so the residual is stored once, in CSR order).
    const std::vector<std::int64_t>& col_ptr() const { return col_ptr_; }
    const std::vector<std::int32_t>& csc_row() const { return csc_row_; }
    const std::vector<std::int64_t>& csc_pos() const { return csc_pos_; }

private:
    Index out_ = 0, in_ = 0;
    Reduction reduction_ = Reduction::Mean;
    std::vector<std::int64_t> row_ptr_, col_ptr_, csc_pos_;
    std::vector<std::int32_t> col_, csc_row_;
    std::vector<T> val_;
};

// Loss and every layer gradient for one sparse problem and one chain shape; buffers sized once,
// evaluate() allocates nothing. Each output row is computed by one thread in a fixed order, so
// results are bitwise identical for any n_threads.
template <class T>
class SparseEvaluator {
public:
    SparseEvaluator(const SparseCompletion<T>& problem, const std::vector<Index>& widths, int n_threads);
    double evaluate(const std::vector<Mat<T>>& W, std::vector<Mat<T>>* grads);
    int n_threads() const { return threads_; }

private:
    const SparseCompletion<T>& p_;
    int threads_;
    std::vector<Mat<T>> PT_;  // PT_[l] = (W_{l+1:1})^T, d_in x n_{l+1}, l = 0 .. L-2
    std::vector<Mat<T>> BT_;  // BT_[l] = (backpropagated residual at the output of layer l+1)^T
    std::vector<T> r_;        // c * residual at the observed entries, CSR order
    std::vector<double> row_sq_;
    std::vector<Index> row_split_, col_split_;  // nnz-balanced ranges of rows / columns per thread
    std::unique_ptr<PhasePool> pool_;           // threads started once per run, reused every phase
};

// The trainer's loop (trainer.hpp semantics: loss[0] at the start, tol checked before each update,
// divergence guard, stop flag, progress counter, observers, resume) on a SparseCompletion.
template <class T>
TrainResult<T> train_sparse(const Network<T>& net, const SparseCompletion<T>& problem, const OptimizerConfig& opt,
                            const TrainOptions& options, const TrainState<T>* resume = nullptr,
                            const std::vector<Observer<T>*>& observers = {});

extern template class SparseCompletion<float>;
extern template class SparseCompletion<double>;
extern template class SparseEvaluator<float>;
extern template class SparseEvaluator<double>;
extern template TrainResult<float> train_sparse(const Network<float>&, const SparseCompletion<float>&,
                                                const OptimizerConfig&, const TrainOptions&,
                                                const TrainState<float>*, const std::vector<Observer<float>*>&);
extern template TrainResult<double> train_sparse(const Network<double>&, const SparseCompletion<double>&,
                                                 const OptimizerConfig&, const TrainOptions&,
                                                 const TrainState<double>*, const std::vector<Observer<double>*>&);

}  // namespace dln
