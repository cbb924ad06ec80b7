// Masked completion from its observed entries alone: 1/2 c sum_{(i,j) observed} ((W_{L:1})_ij - Phi_ij)^2.
//
// The dense Completion problem forms W_{L:1} (d_out x d_in) every step. For a chain whose last hidden
// width k is small (the compressed network of SCIENCE.md section 3, k = 2r) nothing of size d_out x d_in
// is needed: the residual is a sampled product, r_e = W_L[i,:] . (W_{L-1:1})[:, j] at the observed
// (i, j), and the gradients come from sparse-times-dense products. Cost per step O(|observed| k) plus
// O(d k^2) per inner layer; memory O(|observed| + d k): each entry is stored once, row-sorted (CSR, 16
// bytes in float64, 8 in float32), and streamed once per step.
//
// c = 1 (sum) or 1 / (d_out d_in) (mean, all entries observed or not, as the dense Completion).
#pragma once

#include "dln/network.hpp"
#include "dln/optimizer.hpp"
#include "dln/phase_pool.hpp"
#include "dln/trainer.hpp"
#include "dln/types.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace dln {

// One observed entry in a row (or column) sorted array: the other index and the value side by side.
template <class T>
struct SparseEntry {
    std::int32_t index;
    T value;
};

template <class T>
class SparseCompletion {
public:
    // Observed entries Phi[rows[e], cols[e]] = values[e], in any order. Indices out of range, duplicate
    // positions and non-finite values throw std::invalid_argument naming `rows`, `cols` or `values`.
    // The entries are copied into row-sorted (CSR) order once.
    SparseCompletion(Index d_out, Index d_in, const std::int64_t* rows, const std::int64_t* cols, const T* values,
                     Index nnz, Reduction reduction = Reduction::Mean);

    Index output_dim() const { return out_; }
    Index input_dim() const { return in_; }
    Index observed() const { return static_cast<Index>(csr_.size()); }
    Reduction reduction() const { return reduction_; }
    double scale() const;
    std::size_t memory_bytes() const;  // the stored entries and row offsets

    // Throws std::invalid_argument naming `net` unless the dimensions match and depth >= 2.
    void check_network(const std::vector<Index>& widths) const;
    double loss(const Network<T>& net, int n_threads = 1) const;
    std::vector<Mat<T>> gradients(const Network<T>& net, int n_threads = 1) const;
    // Multiply-adds of one loss + gradient evaluation for this chain.
    double flops_per_step(const std::vector<Index>& widths) const;

    // CSR: the entries of row i are csr()[row_ptr[i] .. row_ptr[i+1]), each its column and Phi value side
    // by side (columns sorted within a row), so the one sweep per step streams one array.
    const std::vector<std::int64_t>& row_ptr() const { return row_ptr_; }
    const std::vector<SparseEntry<T>>& csr() const { return csr_; }

private:
    Index out_ = 0, in_ = 0;
    Reduction reduction_ = Reduction::Mean;
    std::vector<std::int64_t> row_ptr_;
    std::vector<SparseEntry<T>> csr_;
};

// Loss and every layer gradient for one sparse problem and one chain shape; buffers sized once,
// evaluate() / forward() / descend() allocate nothing.
//
// A step is up to four phases on a persistent pool (threads spin briefly between phases, so a phase
// costs about a microsecond to start rather than a futex wake-up):
//   forward  - rows j of P_l^T = (W_{l+1:1})^T, one fixed tile of d_in rows at a time, and a copy of
//              W_L with rows padded to whole SIMD vectors;
//   rows     - row tiles (CSR): residual at the observed entries of the row, its squared sum, the row
//              of G_L and, each entry's column share c r_e W_L[i,:] scattered into the partial B_{L-1}
//              of the tile's group (row tiles dealt in order into at most 8 groups, one unit of work
//              each), so every entry is visited once per step;
//   columns  - column tiles: column j of B_{L-1} = c W_L^T R as the groups' partials summed in group
//              order, then through the inner layers its columns of B_l, its share of G_l = B_l
//              P_{l-1}^T and its column of G_1;
//   descend  - W_l -= lr_l G_l, fixed chunks (fused GD path only).
// A chain whose every hidden width is the same k with a kernel of its own (the compressed network's
// 2r) keeps P's rows, the inner layers' rows and the column tiles' G_l shares padded to whole SIMD
// vectors, and runs forward and columns with k known at compile time too; the same operations in the
// same order, so the same bits. The group partials of B are zeroed by the column sweep that reads
// them (no separate pass), and the row sweep prefetches the rows of the entries a few pairs ahead.
// Tiles and groups are cut from the problem alone (never from the thread count) and claimed
// dynamically; every tile writes its own outputs; the loss is summed over rows in row order and the
// column tiles' shares of the inner G_l in tile order afterwards. So results are bitwise identical for
// any n_threads, and a thread that the machine delays only costs the tiles it holds.
template <class T>
class SparseEvaluator {
public:
    // `descent`: also size the gradient buffers of forward() / descend() (the fused GD path).
    SparseEvaluator(const SparseCompletion<T>& problem, const std::vector<Index>& widths, int n_threads,
                    bool descent = false);
    ~SparseEvaluator();
    double evaluate(const std::vector<Mat<T>>& W, std::vector<Mat<T>>* grads);
    int n_threads() const { return threads_; }
    bool can_descend() const { return descent_; }
    // Loss at W, computing the gradients that descend() applies (the same bits as evaluate()).
    double forward(const std::vector<Mat<T>>& W);
    // W_l <- W_l - lr[l] grad_l, for the W of the last forward().
    void descend(std::vector<Mat<T>>& W, const std::vector<double>& lr);

    struct Tile {
        Index first, last;  // rows (or columns) [first, last)
    };

private:
    double run(const std::vector<Mat<T>>& W, std::vector<Mat<T>>* G);
    void forward_tile(const std::vector<Mat<T>>& W, const Tile& tile);
    void column_backward(const std::vector<Mat<T>>& W, Index j, T* b, T* spare, T* gpart,
                         std::vector<Mat<T>>& G) const;

    const SparseCompletion<T>& p_;
    std::vector<Index> widths_;
    int threads_ = 1;
    bool descent_ = false;
    Index k_ = 0, ld_ = 0;           // last hidden width; row stride of P and of the copy of W_L
    std::vector<Mat<T>> PT_;         // PT_[l] = (W_{l+1:1})^T, d_in x n_{l+1} (the last one d_in x ld_)
    std::vector<Mat<T>> WT_;         // transposed inner layers, so that forward rows are contiguous axpys
    std::vector<Mat<T>> WP_;         // uniform chains: the inner layers with rows padded to ld_
    bool uniform_ = false;           // every hidden width is k_, which has kernels: rows padded to ld_
    Mat<T> WL_;                      // W_L with rows padded to ld_ (the columns' gathered operand)
    std::vector<Mat<T>> G_;          // descent: the gradients of the last forward()
    std::vector<double> row_sq_;     // squared residual per output row, summed in row order
    // The row sweep goes through the input columns in blocks whose rows of P and of B fit in cache
    // together (one block unless d_in is large): a row's entries in a block are a contiguous part of
    // its CSR range (columns are sorted), cursor_[i] where the next block's part of row i starts, and
    // the row's running sums wait in row_sq_ and its row of G_L between blocks.
    std::vector<Tile> col_blocks_;
    std::vector<std::int64_t> cursor_;
    std::vector<T> gpart_;           // per column tile, its share of every inner G_l
    std::size_t gpart_size_ = 0;     // sum over inner layers of n_{l+1} n_l
    std::vector<std::size_t> group_first_;  // row tiles [group_first_[g], group_first_[g + 1]) form group g
    std::vector<T> bpart_;           // per group, its partial B_{L-1}^T (d_in x ld_): column contributions
    std::vector<T> scratch_;         // per thread, two vectors of the widest inner width
    Index scratch_stride_ = 0;
    std::vector<Tile> fwd_tiles_, row_tiles_, col_tiles_;
    std::unique_ptr<PhasePool> pool_;  // threads started once per run, reused every phase
    std::atomic<Index> next_{0};        // the next unclaimed tile of the current phase
    std::vector<Mat<T>>* grad_out_ = nullptr;  // evaluate()'s gradients during a call
    // A row tile's entries in columns [block.first, block.last); `first`: the first block of the step.
    using RowKernel = void (*)(SparseEvaluator&, const Tile&, T*, const Tile& block, bool first);
    using ColKernel = void (*)(SparseEvaluator&, const std::vector<Mat<T>>&, const Tile&, T*, T*,
                               std::vector<Mat<T>>&);
    using FwdKernel = void (*)(SparseEvaluator&, const std::vector<Mat<T>>&, const Tile&);
    RowKernel rows_loss_ = nullptr, rows_grad_ = nullptr;
    ColKernel cols_ = nullptr;
    FwdKernel fwd_ = nullptr;
    // The sweeps, specialised for last hidden widths K <= 32 (K = 0: any width, read at run time).
    template <int K, bool Grad>
    static void row_sweep(SparseEvaluator& e, const Tile& tile, T* B, const Tile& block, bool first);
    template <int K>
    static void col_sweep(SparseEvaluator& e, const std::vector<Mat<T>>& W, const Tile& tile, T* b,
                          T* spare, std::vector<Mat<T>>& G);
    template <int K>
    void pick_kernels();
    // Uniform chains (every hidden width K): P's rows, W's rows and the G_l shares held in vectors.
    template <int K>
    static void forward_uniform(SparseEvaluator& e, const std::vector<Mat<T>>& W, const Tile& tile);
    static void forward_any(SparseEvaluator& e, const std::vector<Mat<T>>& W, const Tile& tile);
    template <int K>
    void column_backward_uniform(Index j, T* b, T* gpart, std::vector<Mat<T>>& G) const;
};

// dln::train on a SparseCompletion: the trainer's loop (trainer.hpp semantics: loss[0] at the start,
// tol checked before each update, divergence guard, stop flag, progress counter, observers, resume),
// the same front door as a dense Problem, with the sparse evaluator behind it.
template <class T>
TrainResult<T> train(const Network<T>& net, const SparseCompletion<T>& problem, const OptimizerConfig& opt,
                     const TrainOptions& options, const TrainState<T>* resume = nullptr,
                     const std::vector<Observer<T>*>& observers = {});

// The former name of the same function, kept for existing code.
template <class T>
TrainResult<T> train_sparse(const Network<T>& net, const SparseCompletion<T>& problem, const OptimizerConfig& opt,
                            const TrainOptions& options, const TrainState<T>* resume = nullptr,
                            const std::vector<Observer<T>*>& observers = {}) {
    return train(net, problem, opt, options, resume, observers);
}

extern template class SparseCompletion<float>;
extern template class SparseCompletion<double>;
extern template class SparseEvaluator<float>;
extern template class SparseEvaluator<double>;
extern template TrainResult<float> train(const Network<float>&, const SparseCompletion<float>&, const OptimizerConfig&,
                                         const TrainOptions&, const TrainState<float>*,
                                         const std::vector<Observer<float>*>&);
extern template TrainResult<double> train(const Network<double>&, const SparseCompletion<double>&,
                                          const OptimizerConfig&, const TrainOptions&, const TrainState<double>*,
                                          const std::vector<Observer<double>*>&);

}  // namespace dln
