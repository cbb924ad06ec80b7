#include "dln/sparse.hpp"

#include "dln/loop.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <numeric>

namespace dln {

namespace {

// Tiles are cut by cost, counted as the entries plus a fixed charge per row or column for its own
// work; constants of the code, so the cut (and with it every partial sum) never depends on the
// thread count. ~8k entries keep a tile a few microseconds long: enough of them to balance two
// threads that the machine may slow down, few enough that claiming them costs nothing.
constexpr std::int64_t kTileCost = 8192;
constexpr std::int64_t kLineCost = 16;
constexpr Index kForwardRows = 256;   // rows of P per forward tile
constexpr Index kColumnTile = 32;     // columns per column tile (small: a late thread holds little)
constexpr Index kDescendChunk = 16384;  // weights per descend chunk
// Row tiles are dealt, in order, into at most this many groups; each group scatters its entries'
// column contributions into a partial B of its own, and the partials are summed in group order. A
// constant of the code, so the bits never depend on the thread count.
constexpr std::size_t kScatterGroups = 8;
constexpr std::int64_t kPrefetch = 8;  // entries ahead whose rows the row sweep prefetches
constexpr int kChunk = 64;              // entries per two-pass chunk of a row (even)
// Bytes of P's and B's rows that one column block of the row sweep touches: a random entry then finds
// its two rows in the last-level cache rather than in memory (at d_in = 1e5, k = 10: 5 blocks).
constexpr double kSweepBlockBytes = 4.0 * (1 << 20);

template <class Tile>
std::vector<Tile> cost_tiles(const std::vector<std::int64_t>& ptr) {
    std::vector<Tile> tiles;
    const Index m = static_cast<Index>(ptr.size()) - 1;
    Index first = 0;
    std::int64_t cost = 0;
    for (Index i = 0; i < m; ++i) {
        cost += ptr[static_cast<std::size_t>(i) + 1] - ptr[static_cast<std::size_t>(i)] + kLineCost;
        if (cost >= kTileCost || i + 1 == m) {
            tiles.push_back({first, i + 1});
            first = i + 1;
            cost = 0;
        }
    }
    return tiles;
}

// The summation order of every sampled dot product: V running partial sums, entry a into sum a % V,
// then a fixed tree. V is a constant of the code (4 doubles or 8 floats, one 256-bit vector), not of
// the machine, so the compile-time widths and the run-time fallback give the same bits, and a
// compiler vectorises the fixed-width case without reassociating anything.
template <class T>
constexpr int kLanes = sizeof(T) == 8 ? 4 : 8;

template <class T>
inline T lane_tree(const T* acc) {  // acc: kLanes<T> values
    if constexpr (kLanes<T> == 4) return (acc[0] + acc[2]) + (acc[1] + acc[3]);
    else return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

// The run-time-width kernel's dot (any k).
template <class T>
inline T dot(const T* x, const T* y, Index k) {
    constexpr int V = kLanes<T>;
    T acc[V] = {};
    Index a = 0;
    for (; a + V <= k; a += V)
        for (int v = 0; v < V; ++v) acc[v] += x[a + v] * y[a + v];
    for (int v = 0; a < k; ++a, ++v) acc[v] += x[a] * y[a];
    return lane_tree(acc);
}

constexpr Index round_up(Index k, Index m) { return (k + m - 1) / m * m; }

// One 256-bit vector of kLanes<T> values (GCC/Clang vector extensions: element-wise arithmetic,
// lowered to two 128-bit halves where the target has no AVX). The compile-time kernels keep a row in
// ceil(K / kLanes) of these: P's rows and the copy of W_L are padded to that many lanes with zeros,
// so a row loads as whole vectors and the padding adds exact zeros.
typedef double VecD __attribute__((vector_size(32)));
typedef float VecF __attribute__((vector_size(32)));
template <class T>
using Vec = std::conditional_t<sizeof(T) == 8, VecD, VecF>;

template <class T>
inline Vec<T> load(const T* p) {
    Vec<T> v;
    std::memcpy(&v, p, sizeof v);  // an unaligned vector load
    return v;
}

template <class T>
inline void store(T* p, Vec<T> v) {  // by value: a reference would keep the caller's array in memory
    std::memcpy(p, &v, sizeof v);  // an unaligned vector store
}

template <class T>
inline T lane_tree(const Vec<T>& acc) {
    if constexpr (kLanes<T> == 4) return (acc[0] + acc[2]) + (acc[1] + acc[3]);
    else return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

// dot() of a row held in registers with a padded row in memory: the same order (entry a into lane
// a % V, lanes summed by the same tree) as the run-time kernel.
template <int KV, class T>
inline T vdot(const Vec<T>* x, const T* y) {
    constexpr int V = kLanes<T>;
    Vec<T> acc = x[0] * load(y);
    for (int v = 1; v < KV; ++v) acc += x[v] * load(y + v * V);
    return lane_tree<T>(acc);
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
    csr_.resize(static_cast<std::size_t>(nnz));
    for (Index i = 0; i < d_out; ++i) {
        auto b = order.begin() + row_ptr_[static_cast<std::size_t>(i)], e = order.begin() + row_ptr_[static_cast<std::size_t>(i) + 1];
        std::sort(b, e, [&](std::int64_t x, std::int64_t y) { return cols[x] < cols[y]; });
        for (auto it = b; it != e; ++it) {
            const auto p = static_cast<std::size_t>(it - order.begin());
            csr_[p] = {static_cast<std::int32_t>(cols[*it]), values[*it]};
            if (it != b && csr_[p].index == csr_[p - 1].index)
                invalid("rows", "position (" + std::to_string(i) + ", " + std::to_string(csr_[p].index) +
                                    ") is observed twice (with cols)");
        }
    }
}

template <class T>
double SparseCompletion<T>::scale() const {
    return reduction_ == Reduction::Sum ? 1.0 : 1.0 / (static_cast<double>(out_) * static_cast<double>(in_));
}

template <class T>
std::size_t SparseCompletion<T>::memory_bytes() const {
    return sizeof(std::int64_t) * row_ptr_.size() + sizeof(SparseEntry<T>) * csr_.size();
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
    // per entry: the sampled product, its G_L share and its scattered B_{L-1} share
    double f = 3.0 * static_cast<double>(observed()) * static_cast<double>(w[L - 1]);
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
SparseEvaluator<T>::SparseEvaluator(const SparseCompletion<T>& problem, const std::vector<Index>& widths, int n_threads,
                                    bool descent)
    : p_(problem), widths_(widths), descent_(descent) {
    problem.check_network(widths);
    const int n = n_threads > 0 ? n_threads : default_threads();
    const std::size_t L = widths.size() - 1;
    k_ = widths[L - 1];
    ld_ = round_up(k_, kLanes<T>);
    // Below ~1e5 multiply-adds a step, a second thread costs more than it saves.
    threads_ = problem.observed() * k_ < 100000 ? 1 : n;
    // pick_kernels() has a kernel for every width up to 8 and the even ones up to 32.
    uniform_ = k_ <= 8 || (k_ <= 32 && k_ % 2 == 0);
    for (std::size_t l = 1; l < L; ++l) uniform_ = uniform_ && widths[l] == k_;
    Index widest = 1;
    for (std::size_t l = 0; l + 1 < L; ++l) {
        // Uniform chains pad every P to ld_ columns; otherwise only the last (the sampled products').
        PT_.push_back(Mat<T>::Zero(problem.input_dim(), uniform_ || l + 2 == L ? ld_ : widths[l + 1]));
        widest = std::max(widest, widths[l + 1]);
    }
    for (std::size_t l = 1; l + 1 < L; ++l) {
        const Index cols = uniform_ ? ld_ : widths[l + 1];  // the padding columns stay zero
        WT_.push_back(Mat<T>::Zero(widths[l], cols));
        if (uniform_) WP_.push_back(Mat<T>::Zero(widths[l + 1], ld_));
        gpart_size_ += static_cast<std::size_t>(widths[l + 1] * (uniform_ ? ld_ : widths[l]));
    }
    WL_ = Mat<T>::Zero(problem.output_dim(), ld_);
    if (descent_)
        for (std::size_t l = 0; l < L; ++l) G_.emplace_back(widths[l + 1], widths[l]);
    row_sq_.resize(static_cast<std::size_t>(problem.output_dim()));
    const Index block = std::max<Index>(
        kColumnTile, static_cast<Index>(kSweepBlockBytes / (2.0 * static_cast<double>(ld_ * sizeof(T)))));
    col_blocks_.clear();
    for (Index j = 0; j < problem.input_dim(); j += block)
        col_blocks_.push_back({j, std::min(problem.input_dim(), j + block)});
    if (col_blocks_.size() > 1) cursor_.assign(static_cast<std::size_t>(problem.output_dim()), 0);
    fwd_tiles_.clear();
    for (Index j = 0; j < problem.input_dim(); j += kForwardRows)
        fwd_tiles_.push_back({j, std::min(problem.input_dim(), j + kForwardRows)});
    row_tiles_ = cost_tiles<Tile>(problem.row_ptr());
    // Column tiles do the same work per column (the groups' partial sums and the inner layers).
    col_tiles_.clear();
    for (Index j = 0; j < problem.input_dim(); j += kColumnTile)
        col_tiles_.push_back({j, std::min(problem.input_dim(), j + kColumnTile)});
    gpart_.assign(gpart_size_ * col_tiles_.size(), T(0));
    const std::size_t n_groups = std::min(kScatterGroups, row_tiles_.size());
    group_first_.clear();
    for (std::size_t g = 0; g <= n_groups; ++g) group_first_.push_back(g * row_tiles_.size() / n_groups);
    bpart_.assign(n_groups * static_cast<std::size_t>(problem.input_dim() * ld_), T(0));
    scratch_stride_ = round_up(2 * std::max(widest, ld_), 16);
    scratch_.assign(static_cast<std::size_t>(scratch_stride_ * threads_), T(0));
    pick_kernels<0>();
    // Spinning between phases: a phase here is a few hundred microseconds, a futex wake-up tens.
    pool_ = std::make_unique<PhasePool>(threads_, 200);
}

template <class T>
SparseEvaluator<T>::~SparseEvaluator() = default;

// The widths with a kernel of their own: every even width up to 32 (2r for r <= 16) and the small odd
// ones; any other width runs the K = 0 kernels (the same arithmetic, the width read at run time).
template <class T>
template <int K>
void SparseEvaluator<T>::pick_kernels() {
    if constexpr (K == 0) {
        rows_loss_ = &row_sweep<0, false>;
        rows_grad_ = &row_sweep<0, true>;
        cols_ = &col_sweep<0>;
        fwd_ = &forward_any;
        pick_kernels<1>();
    } else if constexpr (K <= 32) {
        if (k_ == K) {
            rows_loss_ = &row_sweep<K, false>;
            rows_grad_ = &row_sweep<K, true>;
            cols_ = &col_sweep<K>;
            if (uniform_) fwd_ = &forward_uniform<K>;
            return;
        }
        pick_kernels<(K < 8 ? K + 1 : K + 2)>();
    }
}

// Row tile: for each output row i, the residual at its observed entries (dot of W_L's row i with P's
// rows), its squared sum, and with Grad the row of G_L = c R P^T. With K known, W_L's row and the
// gradient row live in vector registers, and the entries go in pairs whose two contributions are
// added before they join the running sums: one dependent add per two entries, where one FMA chain
// per entry would bound the sweep at an entry per FMA latency.
template <class T>
template <int K, bool Grad>
void SparseEvaluator<T>::row_sweep(SparseEvaluator& e, const Tile& tile, T* B, const Tile& block, bool first) {
    // With K known the row stride is too (the padded width), so no multiply forms an address.
    const Index k = K > 0 ? K : e.k_, ld = K > 0 ? round_up(K, kLanes<T>) : e.ld_;
    const auto& rp = e.p_.row_ptr();
    const SparseEntry<T>* ent = e.p_.csr().data();
    const T* P = e.PT_.back().data();
    const T c = static_cast<T>(e.p_.scale());
    T* GL = Grad ? e.grad_out_->back().data() : nullptr;
    const std::int64_t last_entry = static_cast<std::int64_t>(e.p_.csr().size()) - 1;
    const bool whole = block.first == 0 && block.last >= e.p_.input_dim();  // one block: whole rows
    for (Index i = tile.first; i < tile.last; ++i) {
        const T* wi = e.WL_.data() + i * ld;
        const auto row = static_cast<std::size_t>(i);
        // This block's part of the row: [e0, e1), from the cursor to the first column past the block.
        const auto e0 = first ? rp[row] : e.cursor_[row];
        auto e1 = rp[row + 1];
        if (!whole) {
            auto end = e0;
            while (end < e1 && static_cast<Index>(ent[end].index) < block.last) ++end;
            e1 = end;
            e.cursor_[row] = end;
        }
        double& row_sq = e.row_sq_[row];
        if (first) row_sq = 0.0;  // the row of G_L starts at zero too: in registers (K > 0) or below
        if constexpr (K > 0) {
            constexpr int V = kLanes<T>, KV = (K + V - 1) / V;
            Vec<T> w[KV], g[KV];
            for (int v = 0; v < KV; ++v) w[v] = load(wi + v * V), g[v] = Vec<T>{};
            if constexpr (Grad) {
                if (!first) {  // the row's running sum from the blocks before (zero padded to whole vectors)
                    T in[KV * V] = {};
                    std::copy(GL + i * K, GL + (i + 1) * K, in);
                    for (int v = 0; v < KV; ++v) g[v] = load(in + v * V);
                }
            }
            double sq = row_sq;
            // The row goes in chunks of kChunk entries (even, so the pairs are the row's own), each in
            // two passes: the residuals and their squares, then with Grad the G_L row and the scatter
            // from the scaled residuals kept on the stack. One pass would hold w, g, two rows of P and
            // the residuals' arithmetic at once, more than the 16 vector registers, and g would go to
            // the stack, its update waiting on a store and a reload every pair. The chunk's rows of P
            // are still in L1 for the second pass.
            T cr[kChunk];
            for (auto c0q = e0; c0q < e1; c0q += kChunk) {
                const auto c1q = std::min<std::int64_t>(e1, c0q + kChunk);
                auto q = c0q;
                for (; q + 1 < c1q; q += 2) {
                    if constexpr (Grad) {
                        // P's and B's rows of the entries a few pairs ahead (both live in L2): their
                        // loads then leave the dependency chain of a sampled product.
                        const auto ahead = std::min<std::int64_t>(q + kPrefetch, last_entry);
                        __builtin_prefetch(P + static_cast<Index>(ent[ahead].index) * ld);
                        __builtin_prefetch(B + static_cast<Index>(ent[ahead].index) * ld, 1);
                    }
                    const SparseEntry<T> x0 = ent[q], x1 = ent[q + 1];
                    const T r0 = vdot<KV>(w, P + static_cast<Index>(x0.index) * ld) - x0.value;
                    const T r1 = vdot<KV>(w, P + static_cast<Index>(x1.index) * ld) - x1.value;
                    sq += static_cast<double>(r0) * static_cast<double>(r0) +
                          static_cast<double>(r1) * static_cast<double>(r1);
                    if constexpr (Grad) cr[q - c0q] = c * r0, cr[q - c0q + 1] = c * r1;
                }
                if (q < c1q) {  // the row's last entry, when its count is odd
                    const SparseEntry<T> x0 = ent[q];
                    const T r0 = vdot<KV>(w, P + static_cast<Index>(x0.index) * ld) - x0.value;
                    sq += static_cast<double>(r0) * static_cast<double>(r0);
                    if constexpr (Grad) cr[q - c0q] = c * r0;
                }
                if constexpr (Grad) {
                    q = c0q;
                    for (; q + 1 < c1q; q += 2) {
                        const Index j0 = ent[q].index, j1 = ent[q + 1].index;
                        const T c0 = cr[q - c0q], c1 = cr[q - c0q + 1];
                        const T* p0 = P + j0 * ld;
                        const T* p1 = P + j1 * ld;
                        for (int v = 0; v < KV; ++v) g[v] += c0 * load(p0 + v * V) + c1 * load(p1 + v * V);
                        // the two columns differ (one entry per position), so the two scatters never alias
                        T* b0 = B + j0 * ld;
                        T* b1 = B + j1 * ld;
                        for (int v = 0; v < KV; ++v) store(b0 + v * V, load(b0 + v * V) + c0 * w[v]);
                        for (int v = 0; v < KV; ++v) store(b1 + v * V, load(b1 + v * V) + c1 * w[v]);
                    }
                    if (q < c1q) {
                        const Index j0 = ent[q].index;
                        const T c0 = cr[q - c0q];
                        const T* p0 = P + j0 * ld;
                        for (int v = 0; v < KV; ++v) g[v] += c0 * load(p0 + v * V);
                        T* b0 = B + j0 * ld;
                        for (int v = 0; v < KV; ++v) store(b0 + v * V, load(b0 + v * V) + c0 * w[v]);
                    }
                }
            }
            row_sq = sq;
            if constexpr (Grad) {
                T out[KV * V];
                for (int v = 0; v < KV; ++v) store(out + v * V, g[v]);  // (a memcpy of g spills it)
                std::copy(out, out + K, GL + i * K);
            }
        } else {
            T* gi = Grad ? GL + i * k : nullptr;
            if constexpr (Grad)
                if (first)
                    for (Index a = 0; a < k; ++a) gi[a] = T(0);
            double sq = row_sq;
            for (auto q = e0; q < e1; ++q) {
                const SparseEntry<T> x = ent[q];
                const T* pj = P + static_cast<Index>(x.index) * ld;
                const T res = dot(wi, pj, k) - x.value;
                sq += static_cast<double>(res) * static_cast<double>(res);
                if constexpr (Grad) {
                    const T re = c * res;
                    for (Index a = 0; a < k; ++a) gi[a] += re * pj[a];
                    T* bj = B + static_cast<Index>(x.index) * ld;
                    for (Index a = 0; a < k; ++a) bj[a] += re * wi[a];
                }
            }
            row_sq = sq;
        }
    }
}

// Column tile: for each input column j, the residual at its observed entries again (the same dot of
// the same two rows as the row tile, so the same bits), the column of B_{L-1} = c W_L^T R (entries
// in pairs, as the rows), and column_backward() for the inner layers.
template <class T>
template <int K>
void SparseEvaluator<T>::col_sweep(SparseEvaluator& e, const std::vector<Mat<T>>& W, const Tile& tile, T* b,
                                   T* spare, std::vector<Mat<T>>& G) {
    const Index k = K > 0 ? K : e.k_, ld = e.ld_;
    const std::size_t n_groups = e.group_first_.size() - 1;
    const std::size_t stride = static_cast<std::size_t>(e.p_.input_dim() * ld);
    const std::size_t tile_index = static_cast<std::size_t>(&tile - e.col_tiles_.data());
    T* gpart = e.gpart_.data() + tile_index * e.gpart_size_;
    for (std::size_t x = 0; x < e.gpart_size_; ++x) gpart[x] = T(0);
    for (Index j = tile.first; j < tile.last; ++j) {
        // Column j of B_{L-1} = c W_L^T R: the groups' partial sums, in group order.
        // The partials are zeroed as they are read (while in cache), ready for the next step's scatter.
        T* part = e.bpart_.data() + static_cast<std::size_t>(j * ld);
        if constexpr (K > 0) {
            constexpr int V = kLanes<T>, KV = (K + V - 1) / V;
            Vec<T> bj[KV];
            for (int v = 0; v < KV; ++v) bj[v] = load(part + v * V);
            for (std::size_t g = 1; g < n_groups; ++g)
                for (int v = 0; v < KV; ++v) bj[v] += load(part + g * stride + v * V);
            for (std::size_t g = 0; g < n_groups; ++g)
                for (int v = 0; v < KV; ++v) store(part + g * stride + v * V, Vec<T>{});
            for (int v = 0; v < KV; ++v) store(b + v * V, bj[v]);  // b holds at least ld_ values
            if (e.uniform_) {
                e.template column_backward_uniform<K>(j, b, gpart, G);
                continue;
            }
        } else {
            for (Index a = 0; a < k; ++a) b[a] = part[a];
            for (std::size_t g = 1; g < n_groups; ++g)
                for (Index a = 0; a < k; ++a) b[a] += part[g * stride + static_cast<std::size_t>(a)];
            for (std::size_t g = 0; g < n_groups; ++g) std::fill(part + g * stride, part + g * stride + ld, T(0));
        }
        e.column_backward(W, j, b, spare, gpart, G);
    }
}

// Column j of every B_l, l = L-1 .. 1, from b = column j of B_{L-1}: its share b_l p_{l-1}^T of the
// inner G_l (into this tile's partial sums) and b_{l-1} = W_l^T b_l; the last one is column j of G_1.
// Each is a sequence of contiguous axpys in a fixed order.
template <class T>
void SparseEvaluator<T>::column_backward(const std::vector<Mat<T>>& W, Index j, T* b, T* spare, T* gpart,
                                         std::vector<Mat<T>>& G) const {
    const std::size_t L = W.size();
    std::size_t off = 0;
    for (std::size_t l = L - 2; l >= 1; --l) {
        const Index n_out = widths_[l + 1], n_in = widths_[l];
        const T* p = PT_[l - 1].data() + j * PT_[l - 1].cols();
        const T* w = W[l].data();
        T* g = gpart + off;
        for (Index a = 0; a < n_in; ++a) spare[a] = T(0);
        for (Index m = 0; m < n_out; ++m) {
            const T bm = b[m];
            T* gm = g + m * n_in;
            const T* wm = w + m * n_in;
            for (Index a = 0; a < n_in; ++a) gm[a] += bm * p[a];
            for (Index a = 0; a < n_in; ++a) spare[a] += bm * wm[a];
        }
        off += static_cast<std::size_t>(n_out * n_in);
        std::swap(b, spare);
    }
    T* g0 = G[0].data() + j;
    const Index n1 = widths_[1], d_in = widths_[0];
    for (Index a = 0; a < n1; ++a) g0[a * d_in] = b[a];
}

// column_backward() for a uniform chain of width K: b, W_l's rows, P's rows and the G_l shares'
// rows all padded to whole vectors (padding zeros throughout), the same operations in the same order.
template <class T>
template <int K>
void SparseEvaluator<T>::column_backward_uniform(Index j, T* b, T* gpart, std::vector<Mat<T>>& G) const {
    constexpr int V = kLanes<T>, KV = (K + V - 1) / V;
    const std::size_t L = widths_.size() - 1;
    const Index ld = ld_;
    std::size_t off = 0;
    for (std::size_t l = L - 2; l >= 1; --l) {
        Vec<T> p[KV], s[KV];
        const T* pj = PT_[l - 1].data() + j * ld;
        for (int v = 0; v < KV; ++v) p[v] = load(pj + v * V), s[v] = Vec<T>{};
        const T* w = WP_[l - 1].data();
        T* g = gpart + off;
        for (int m = 0; m < K; ++m) {
            const T bm = b[m];
            T* gm = g + m * ld;
            const T* wm = w + m * ld;
            for (int v = 0; v < KV; ++v) store(gm + v * V, load(gm + v * V) + bm * p[v]);
            for (int v = 0; v < KV; ++v) s[v] += bm * load(wm + v * V);
        }
        for (int v = 0; v < KV; ++v) store(b + v * V, s[v]);
        off += static_cast<std::size_t>(K * ld);
    }
    T* g0 = G[0].data() + j;
    const Index d_in = widths_[0];
    for (int a = 0; a < K; ++a) g0[a * d_in] = b[a];
}

template <class T>
void SparseEvaluator<T>::forward_any(SparseEvaluator& e, const std::vector<Mat<T>>& W, const Tile& tile) {
    e.forward_tile(W, tile);
}

// forward_tile() for a uniform chain of width K, rows held in vectors (padding zeros), the same order.
template <class T>
template <int K>
void SparseEvaluator<T>::forward_uniform(SparseEvaluator& e, const std::vector<Mat<T>>& W, const Tile& tile) {
    constexpr int V = kLanes<T>, KV = (K + V - 1) / V;
    const std::size_t L = W.size();
    const Index d_in = e.widths_[0], ld = e.ld_;
    for (Index j = tile.first; j < tile.last; ++j) {
        T* p0 = e.PT_[0].data() + j * ld;
        for (int a = 0; a < K; ++a) p0[a] = W[0].data()[a * d_in + j];
        for (std::size_t l = 1; l + 1 < L; ++l) {
            const T* prev = e.PT_[l - 1].data() + j * ld;
            const T* wt = e.WT_[l - 1].data();
            Vec<T> out[KV];
            for (int v = 0; v < KV; ++v) out[v] = Vec<T>{};
            for (int a = 0; a < K; ++a) {
                const T pa = prev[a];
                for (int v = 0; v < KV; ++v) out[v] += pa * load(wt + a * ld + v * V);
            }
            T* dst = e.PT_[l].data() + j * ld;
            for (int v = 0; v < KV; ++v) store(dst + v * V, out[v]);
        }
    }
}

// Row j of every P_l^T: p_0 = column j of W_1, p_l = W_{l+1} p_{l-1} as axpys over the rows of W_{l+1}^T.
template <class T>
void SparseEvaluator<T>::forward_tile(const std::vector<Mat<T>>& W, const Tile& tile) {
    const std::size_t L = W.size();
    const Index d_in = widths_[0], n1 = widths_[1];
    for (Index j = tile.first; j < tile.last; ++j) {
        T* p0 = PT_[0].data() + j * PT_[0].cols();
        for (Index a = 0; a < n1; ++a) p0[a] = W[0].data()[a * d_in + j];
        for (std::size_t l = 1; l + 1 < L; ++l) {
            const Index n_in = widths_[l], n_out = widths_[l + 1];
            const T* prev = PT_[l - 1].data() + j * PT_[l - 1].cols();
            T* out = PT_[l].data() + j * PT_[l].cols();
            const T* wt = WT_[l - 1].data();
            for (Index m = 0; m < n_out; ++m) out[m] = T(0);
            for (Index a = 0; a < n_in; ++a) {
                const T pa = prev[a];
                const T* row = wt + a * n_out;
                for (Index m = 0; m < n_out; ++m) out[m] += pa * row[m];
            }
        }
    }
}

template <class T>
double SparseEvaluator<T>::run(const std::vector<Mat<T>>& W, std::vector<Mat<T>>* G) {
    const std::size_t L = W.size();
    for (std::size_t l = 1; l + 1 < L; ++l) {  // no allocation; padding columns (uniform chains) stay zero
        WT_[l - 1].leftCols(W[l].rows()) = W[l].transpose();
        if (uniform_) WP_[l - 1].leftCols(k_) = W[l];
    }
    grad_out_ = G;
    // Phase 1: P's rows, and the padded copy of W_L (its rows are the column sweep's gathers).
    const Index d_out = p_.output_dim();
    const Index n_fwd = static_cast<Index>(fwd_tiles_.size());
    const Index n_wl = (d_out + kForwardRows - 1) / kForwardRows;
    next_.store(0, std::memory_order_relaxed);
    auto phase1 = [&](int) {
        for (Index t; (t = next_.fetch_add(1, std::memory_order_relaxed)) < n_fwd + n_wl;) {
            if (t < n_fwd) {
                fwd_(*this, W, fwd_tiles_[static_cast<std::size_t>(t)]);
            } else {
                const Index i0 = (t - n_fwd) * kForwardRows, i1 = std::min(d_out, i0 + kForwardRows);
                for (Index i = i0; i < i1; ++i)
                    std::copy(W[L - 1].data() + i * k_, W[L - 1].data() + (i + 1) * k_, WL_.data() + i * ld_);
            }
        }
    };
    pool_->run(phase1);
    // Phase 2: the row sweeps. With gradients, each claimed unit is a group of row tiles that also
    // scatters its column contributions into its own partial B (zeroed first).
    const Index n_row = static_cast<Index>(row_tiles_.size());
    const Index n_groups = static_cast<Index>(group_first_.size()) - 1;
    const std::size_t stride = static_cast<std::size_t>(p_.input_dim() * ld_);
    next_.store(0, std::memory_order_relaxed);
    auto phase2 = [&](int) {
        if (!G) {
            for (Index x; (x = next_.fetch_add(1, std::memory_order_relaxed)) < n_row;)
                for (std::size_t b = 0; b < col_blocks_.size(); ++b)
                    rows_loss_(*this, row_tiles_[static_cast<std::size_t>(x)], nullptr, col_blocks_[b], b == 0);
            return;
        }
        for (Index g; (g = next_.fetch_add(1, std::memory_order_relaxed)) < n_groups;) {
            T* B = bpart_.data() + static_cast<std::size_t>(g) * stride;  // zero: the column sweep cleared it
            for (std::size_t b = 0; b < col_blocks_.size(); ++b)
                for (std::size_t t = group_first_[static_cast<std::size_t>(g)];
                     t < group_first_[static_cast<std::size_t>(g) + 1]; ++t)
                    rows_grad_(*this, row_tiles_[t], B, col_blocks_[b], b == 0);
        }
    };
    pool_->run(phase2);
    if (G) {
        // Phase 3: column tiles, each column's B summed over the groups, then the inner layers.
        const Index n_col = static_cast<Index>(col_tiles_.size());
        next_.store(0, std::memory_order_relaxed);
        auto phase3 = [&](int t) {
            T* b = scratch_.data() + t * scratch_stride_;
            T* spare = b + scratch_stride_ / 2;
            for (Index x; (x = next_.fetch_add(1, std::memory_order_relaxed)) < n_col;)
                cols_(*this, W, col_tiles_[static_cast<std::size_t>(x)], b, spare, *G);
        };
        pool_->run(phase3);
    }
    // Summed in row order whatever the thread count.
    const double loss = 0.5 * p_.scale() * std::accumulate(row_sq_.begin(), row_sq_.end(), 0.0);
    if (!G) return loss;
    // The inner G_l: the column tiles' shares in tile order.
    std::size_t off = 0;
    for (std::size_t l = L - 2; l >= 1; --l) {
        const Index rows = (*G)[l].rows(), cols = (*G)[l].cols(), gs = uniform_ ? ld_ : cols;
        T* g = (*G)[l].data();
        const T* part = gpart_.data() + off;
        for (Index m = 0; m < rows; ++m)
            for (Index a = 0; a < cols; ++a) g[m * cols + a] = part[m * gs + a];
        for (std::size_t t = 1; t < col_tiles_.size(); ++t) {
            const T* pt = part + t * gpart_size_;
            for (Index m = 0; m < rows; ++m)
                for (Index a = 0; a < cols; ++a) g[m * cols + a] += pt[m * gs + a];
        }
        off += static_cast<std::size_t>(rows * gs);
    }
    return loss;
}

template <class T>
double SparseEvaluator<T>::evaluate(const std::vector<Mat<T>>& W, std::vector<Mat<T>>* grads) {
    return run(W, grads);
}

template <class T>
double SparseEvaluator<T>::forward(const std::vector<Mat<T>>& W) {
    return run(W, &G_);
}

template <class T>
void SparseEvaluator<T>::descend(std::vector<Mat<T>>& W, const std::vector<double>& lr) {
    // The same arithmetic as Optimizer's GD (W - lr g, lr rounded to T once), in fixed chunks.
    const std::size_t L = W.size();
    Index total = 0;
    for (const auto& w : W) total += (w.size() + kDescendChunk - 1) / kDescendChunk;
    next_.store(0, std::memory_order_relaxed);
    auto phase = [&](int) {
        for (Index x; (x = next_.fetch_add(1, std::memory_order_relaxed)) < total;) {
            Index c = x;
            std::size_t l = 0;
            for (; l < L; ++l) {
                const Index nc = (W[l].size() + kDescendChunk - 1) / kDescendChunk;
                if (c < nc) break;
                c -= nc;
            }
            const T a = static_cast<T>(lr[l]);
            T* w = W[l].data();
            const T* g = G_[l].data();
            for (Index i = c * kDescendChunk, e = std::min(W[l].size(), (c + 1) * kDescendChunk); i < e; ++i)
                w[i] = w[i] - a * g[i];
        }
    };
    pool_->run(phase);
}

// ---------------------------------------------------------------------------------------------------

template <class T>
TrainResult<T> train(const Network<T>& net, const SparseCompletion<T>& problem, const OptimizerConfig& opt,
                     const TrainOptions& options, const TrainState<T>* resume,
                     const std::vector<Observer<T>*>& observers) {
    options.validate();
    opt.validate(net.depth());
    problem.check_network(net.widths());
    detail::check_resume(resume, options);
    SparseEvaluator<T> evaluator(problem, net.widths(), options.n_threads, /*descent=*/true);
    return detail::run_loop(evaluator, net, opt, options, resume, observers, RegressionForm::Auto,
                            evaluator.n_threads());
}

template class SparseCompletion<float>;
template class SparseCompletion<double>;
template class SparseEvaluator<float>;
template class SparseEvaluator<double>;
template TrainResult<float> train(const Network<float>&, const SparseCompletion<float>&, const OptimizerConfig&,
                                  const TrainOptions&, const TrainState<float>*, const std::vector<Observer<float>*>&);
template TrainResult<double> train(const Network<double>&, const SparseCompletion<double>&, const OptimizerConfig&,
                                   const TrainOptions&, const TrainState<double>*,
                                   const std::vector<Observer<double>*>&);

}  // namespace dln
