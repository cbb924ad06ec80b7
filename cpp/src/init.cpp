#include "dln/init.hpp"

#include "dln/blas.hpp"
#include "dln/linalg.hpp"
#include "dln/phase_pool.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>

namespace dln {

namespace {
std::uint64_t splitmix64(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
constexpr double kTwoPi = 6.283185307179586476925286766559;
}  // namespace

Rng::Rng(std::uint64_t seed) {
    for (auto& s : s_) s = splitmix64(seed);
}

std::uint64_t Rng::next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
}

double Rng::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

namespace {
// Box-Muller on two raw draws, the first for the radius: the one definition behind normal() and
// normals(), so that both give the same bits.
void box_muller(std::uint64_t a, std::uint64_t b, double& c, double& s) {
    const double u1 = 1.0 - static_cast<double>(a >> 11) * 0x1.0p-53;  // (0, 1]: log stays finite
    const double u2 = static_cast<double>(b >> 11) * 0x1.0p-53;
    const double r = std::sqrt(-2.0 * std::log(u1));
    c = r * std::cos(kTwoPi * u2);
    s = r * std::sin(kTwoPi * u2);
}
}  // namespace

double Rng::normal() {
    if (has_spare_) {
        has_spare_ = false;
        return spare_;
    }
    const std::uint64_t a = next();
    const std::uint64_t b = next();
    double c;
    box_muller(a, b, c, spare_);
    has_spare_ = true;
    return c;
}

void Rng::normals(double* out, Index count, int threads) {
    Index i = 0;
    if (count > 0 && has_spare_) {
        out[i++] = spare_;
        has_spare_ = false;
    }
    const Index pairs = (count - i) / 2;
    double* pair_out = out + i;
    // The generator is sequential but cheap; the logarithm and the sine and cosine are not. So the raw
    // draws go first, in stream order, into the output itself, and each pair is then transformed in
    // place, in contiguous chunks on `threads` threads: the same values in the same places.
    for (Index p = 0; p < 2 * pairs; ++p) {
        const std::uint64_t x = next();
        std::memcpy(pair_out + p, &x, sizeof x);
    }
    const auto transform = [pair_out](Index lo, Index hi) {
        for (Index p = lo; p < hi; ++p) {
            std::uint64_t a, b;
            std::memcpy(&a, pair_out + 2 * p, sizeof a);
            std::memcpy(&b, pair_out + 2 * p + 1, sizeof b);
            box_muller(a, b, pair_out[2 * p], pair_out[2 * p + 1]);
        }
    };
    constexpr Index kMinPairsPerThread = Index(1) << 14;  // ~0.3 ms of work: worth a thread start
    const Index nt = std::max<Index>(1, std::min<Index>(threads, pairs / kMinPairsPerThread));
    std::vector<std::thread> team;
    try {
        for (Index t = 1; t < nt; ++t) team.emplace_back(transform, pairs * t / nt, pairs * (t + 1) / nt);
    } catch (...) {
        for (auto& th : team) th.join();
        throw;
    }
    transform(0, pairs / nt);
    for (auto& th : team) th.join();
    if (i + 2 * pairs < count) out[count - 1] = normal();  // odd count: its sine stays the spare
}

InitKind parse_init(const std::string& name) { return parse_named(kInits, name, "init"); }

namespace {

// Columns per panel of the blocked QR: wide enough that applying a panel is a product of inner
// dimension kPanel (near the peak of a GEMM), narrow enough that factoring it and its triangular
// factor (O(m kPanel^2) each) stay a small part of the work.
constexpr Index kPanel = 64;
// Columns per task. Fixed, so that every column block meets every panel in the same products whatever
// the number of threads: the bits do not depend on it.
constexpr Index kChunk = 128;
static_assert(kChunk % kPanel == 0, "a task of forming Q takes whole panels");

// Panel p of the factorisation, rows and columns from `row` on: its reflectors V (m x b, unit lower
// trapezoidal), kept as the row-major b x m matrix Vt = V^T with the zeros and ones written out, and
// the triangular factor T of H_row H_row+1 ... = I - V T V^T (row-major b x b).
struct Panel {
    Index row = 0, m = 0, b = 0;
    Mat<double> Vt, T;
};

// Scratch of the orthogonal init, kept across its layers; the pool starts with the first layer large
// enough to share out.
struct HaarWork {
    explicit HaarWork(int threads) : available(std::max(1, threads)) {}
    int available, threads = 1;  // threads: for the current layer
    std::atomic<bool> abort{false};  // a worker failed: the others stop
    std::unique_ptr<PhasePool> pool;
    linalg::Buffer<double> scratch, panel;
    std::vector<Panel> panels;
    std::vector<double> tau, beta, work;
};

// Runs worker() on every thread of the pool (just on the calling thread if the layer has one), for
// workers that share the work out among themselves. The first exception (an allocation in a product)
// sets `abort`, which the workers check, and is rethrown on the calling thread once all have stopped.
template <class Worker>
void run_workers(HaarWork& w, const Worker& worker) {
    w.abort = false;
    if (w.threads == 1) {
        worker();
        return;
    }
    if (!w.pool) w.pool = std::make_unique<PhasePool>(w.available);
    std::exception_ptr error;
    std::mutex error_mutex;
    auto fn = [&](int) {
        try {
            worker();
        } catch (...) {
            const std::lock_guard<std::mutex> lock(error_mutex);
            if (!error) error = std::current_exception();
            w.abort = true;
        }
    };
    w.pool->run(fn);
    if (error) std::rethrow_exception(error);
}

// task(0) .. task(count - 1) on the threads, each task taken by the next free thread. Each task
// writes its own columns, so the result does not depend on which thread runs it.
template <class Task>
void run_tasks(HaarWork& w, Index count, const Task& task) {
    if (count == 1) return task(0);
    std::atomic<Index> next{0};
    run_workers(w, [&] {
        for (Index i = next++; i < count && !w.abort; i = next++) task(i);
    });
}

// T of the block reflector H_0 H_1 ... H_{b-1} = I - V T V^T (LAPACK's dlarft, forward, columnwise)
// from the Gram matrix S = V^T V of its reflectors and their coefficients:
// T(0:i, i) = -tau_i T(0:i, 0:i) S(0:i, i), T(i, i) = tau_i.
template <class Gram, class Out>
void triangular_factor(const Gram& S, const double* tau, Out& T) {
    const Index b = S.rows();
    T.setZero();
    for (Index i = 0; i < b; ++i) {
        for (Index r = 0; r < i; ++r) {
            double acc = 0.0;
            for (Index c = r; c < i; ++c) acc += T(r, c) * S(c, i);
            T(r, i) = -tau[i] * acc;
        }
        T(i, i) = tau[i];
    }
}

// Householder QR in place of the column-major m x b matrix at F (leading dimension ld): R on and
// above the diagonal, the reflectors below, their coefficients in tau. Recursive on the columns
// (Elmroth and Gustavson): the left half is factored, applied to the right half as one block
// reflector, and the right half's lower part factored in turn, so that most of the work is in
// products rather than in the matrix-vector steps of one column at a time.
void panel_qr(double* F, Index ld, Index m, Index b, double* tau, double* work) {
    using Block = Eigen::Map<Eigen::MatrixXd, 0, Eigen::OuterStride<>>;
    Block A(F, m, b, Eigen::OuterStride<>(ld));
    if (b <= 16) {
        for (Index j = 0; j < std::min(m, b); ++j) {
            double beta;
            A.col(j).tail(m - j).makeHouseholderInPlace(tau[j], beta);
            A(j, j) = beta;
            A.bottomRightCorner(m - j, b - j - 1).applyHouseholderOnTheLeft(A.col(j).tail(m - j - 1), tau[j], work);
        }
        return;
    }
    const Index b1 = b / 2, b2 = b - b1;
    panel_qr(F, ld, m, b1, tau, work);
    Eigen::MatrixXd V = A.leftCols(b1).triangularView<Eigen::UnitLower>();
    const Eigen::MatrixXd S = V.transpose() * V;
    Eigen::MatrixXd T(b1, b1);
    triangular_factor(S, tau, T);
    // A2 <- H^T A2 = A2 - V T^T V^T A2
    auto A2 = A.rightCols(b2);
    Eigen::MatrixXd W = V.transpose() * A2;
    W = T.transpose().triangularView<Eigen::Lower>() * W;
    A2.noalias() -= V * W;
    panel_qr(F + b1 * ld + b1, ld, m - b1, b2, tau + b1, work);
}

// Householder QR of the m x b panel (any block expression) into p: the reflectors, their triangular
// factor, and diag(R) into beta. R itself is not kept: Q only needs the signs of its diagonal.
template <class Block>
void factor_panel(const Block& A, Panel& p, HaarWork& w) {
    const Index m = p.m, b = p.b;
    linalg::CMap<double> F(linalg::grow(w.panel, m * b), m, b);
    F = A;
    double* tau = w.tau.data() + p.row;
    panel_qr(F.data(), m, m, b, tau, w.work.data());
    p.Vt.resize(b, m);
    for (Index j = 0; j < b; ++j) {
        w.beta[static_cast<std::size_t>(p.row + j)] = F(j, j);
        double* v = p.Vt.row(j).data();
        std::fill(v, v + j, 0.0);
        v[j] = 1.0;
        std::copy(F.col(j).data() + j + 1, F.col(j).data() + m, v + j + 1);
    }
    const Mat<double> S = p.Vt * p.Vt.transpose();
    p.T.resize(b, b);
    triangular_factor(S, tau, p.T);
}

// C <- H^T C (factorisation) or H C (forming Q), H = I - V T V^T, for the m x c block C of panel p's
// rows: C - V T^T V^T C or C - V T V^T C, i.e. C^T -= (C^T V T(^T)) V^T. When forming Q the first b
// rows of C are zero on entry (they are set here), so V^T C skips them.
template <class Block>
void apply_panel(Block C, const Panel& p, bool forming_q) {
    const Index b = p.b, m = p.m;
    // Column-major, so that Eigen packs C (the large operand) along its rows, not down its columns.
    Eigen::MatrixXd W(C.cols(), b), Y(C.cols(), b);
    if (forming_q) {
        C.topRows(b).setZero();
        W.noalias() = C.bottomRows(m - b).transpose() * p.Vt.rightCols(m - b).transpose();
        Y.noalias() = W * p.T.transpose();
    } else {
        W.noalias() = C.transpose() * p.Vt.transpose();
        Y.noalias() = W * p.T;
    }
    C.noalias() -= p.Vt.transpose() * Y.transpose();
}

// Q of the n x k matrix at A (k <= n; row-major, leading dimension k, or column-major, leading
// dimension n), in place, with diag(R) in w.beta.
//
// Blocked Householder QR, then Q formed block by block (LAPACK's dgeqrf + dorgqr: about
// 4 n k^2 - 4 k^3 / 3 flops, almost all in products of inner dimension kPanel or n), both by chunks of
// kChunk columns shared out among the threads. The products are Eigen's, on strided blocks, one
// thread each: dln::gemm would split them by the backend's global thread count and so give bits that
// depend on it (and, while concurrent runs lease other counts, on timing). Here every product has the
// same operands whichever thread computes it, so the bits depend on no thread count.
template <int Order>
void householder_q(double* A, Index n, Index k, HaarWork& w) {
    using Strided = Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Order>, 0, Eigen::OuterStride<>>;
    const Index ld = Order == Eigen::RowMajor ? k : n;
    const auto block = [&](Index row, Index col, Index cols) {
        const Index at = Order == Eigen::RowMajor ? row * k + col : row + col * n;
        return Strided(A + at, n - row, cols, Eigen::OuterStride<>(ld));
    };
    w.tau.resize(static_cast<std::size_t>(k)), w.beta.resize(static_cast<std::size_t>(k));
    w.work.resize(static_cast<std::size_t>(std::min(kPanel, k)));
    w.panels.resize(static_cast<std::size_t>((k + kPanel - 1) / kPanel));
    for (std::size_t q = 0; q < w.panels.size(); ++q) {
        Panel& p = w.panels[q];
        p.row = static_cast<Index>(q) * kPanel, p.m = n - p.row, p.b = std::min(kPanel, k - p.row);
    }
    // The factorisation, by chunks of kChunk columns (whole panels) that move through the panels on
    // their own: chunk c takes H_0, H_1, ... as each panel is factored, and once it has had all the
    // panels before its own, factors its own panels (applying the first to the second). Each
    // reflector block meets each column block in the same products whatever thread does it and
    // whenever, so the bits do not depend on the threads; with one thread this is the left-looking
    // order. Threads take the lowest chunk that can move: it holds the next panel, the critical path.
    constexpr Index per = kChunk / kPanel;  // panels per chunk
    const Index count = static_cast<Index>(w.panels.size()), chunks = (count + per - 1) / per;
    const auto at = [](Index c) { return static_cast<std::size_t>(c); };
    std::vector<std::atomic<bool>> busy(at(chunks));
    std::vector<std::atomic<Index>> applied(at(chunks));  // panels applied; written by the holder
    for (Index c = 0; c < chunks; ++c) busy[at(c)] = false, applied[at(c)] = 0;
    std::atomic<Index> factored{0}, finished{0};
    // One step of chunk c (held by the caller); false if it has to wait for a panel.
    const auto step = [&](Index c) {
        const Index lo = c * kChunk, hi = std::min(k, lo + kChunk), own = c * per;
        const Index q = applied[at(c)].load();
        if (q < own) {
            if (q >= factored.load()) return false;
            const Panel& p = w.panels[at(q)];
            apply_panel(block(p.row, lo, hi - lo), p, false);
            applied[at(c)] = q + 1;
            return true;
        }
        for (Index r = own; r < std::min(count, own + per); ++r) {
            Panel& p = w.panels[at(r)];
            factor_panel(block(p.row, p.row, p.b), p, w);
            factored = r + 1;
            const Index from = p.row + p.b;
            if (from < hi) apply_panel(block(p.row, from, hi - from), p, false);
        }
        applied[at(c)] = count;
        ++finished;
        return true;
    };
    run_workers(w, [&] {
        while (finished.load() < chunks && !w.abort) {
            bool moved = false;
            for (Index c = 0; c < chunks && !moved; ++c) {
                if (applied[at(c)].load() == count || busy[at(c)].exchange(true)) continue;
                moved = step(c);
                busy[at(c)] = false;
            }
            if (!moved) std::this_thread::yield();
        }
    });

    // Q = H_0 H_1 ... H_{k-1} [I; 0]. Column j of Q is H_0 ... H_p e_j, p its panel, so column chunks
    // are independent: each task takes kChunk columns (whole panels) through every panel that touches
    // them, last first, in one dispatch with no barrier between panels. A panel's own columns are
    // H [I; 0] = [I; 0] - V T V1^T (V1 the top b x b of V); the columns after it get H applied. The
    // last chunks meet the most panels, so they are started first.
    run_tasks(w, chunks, [&](Index task) {
        const Index c = chunks - 1 - task, lo = c * kChunk, hi = std::min(k, lo + kChunk);
        for (Index q = std::min(count, (c + 1) * per) - 1; q >= 0; --q) {
            const Panel& p = w.panels[static_cast<std::size_t>(q)];
            if (p.row >= lo) {
                auto P = block(p.row, p.row, p.b);
                const Mat<double> X = p.T * p.Vt.leftCols(p.b);
                P.noalias() = -(p.Vt.transpose() * X);
                P.diagonal().array() += 1.0;
            }
            const Index from = std::max(lo, p.row + p.b);
            if (from < hi) apply_panel(block(p.row, from, hi - from), p, true);
        }
    });
}

// scale * Q into out (n * k entries): Q the first k columns of a Haar n x n matrix, k <= n, from the
// next n k normals of rng (an n x k Gaussian G, filled row by row), row-major n x k, or row-major
// k x n (Q^T) if `transposed`. Fixing the signs of diag(R) makes Q Haar-distributed (plain QR is not).
void haar_into(Index n, Index k, Rng& rng, double scale, double* out, bool transposed, HaarWork& w) {
    // Below ~256^3 multiply-adds (~1 ms) a layer stays on one thread: waking others would cost more
    // than it saves, and far more on a loaded machine (the trainer's rule, trainer.cpp).
    const double work = static_cast<double>(n) * static_cast<double>(k) * static_cast<double>(k);
    w.threads = work < 256.0 * 256.0 * 256.0 ? 1 : w.available;
    const auto factor = [&](Index j) { return w.beta[static_cast<std::size_t>(j)] < 0 ? -scale : scale; };
    if (!transposed) {
        // G is out as the stream fills it; Q replaces it.
        rng.normals(out, n * k, w.threads);
        householder_q<Eigen::RowMajor>(out, n, k, w);
        std::vector<double> f(static_cast<std::size_t>(k));
        for (Index j = 0; j < k; ++j) f[static_cast<std::size_t>(j)] = factor(j);
        const Eigen::Map<const Eigen::RowVectorXd> fr(f.data(), k);
        Eigen::Map<Mat<double>> Q(out, n, k);
        run_tasks(w, (n + 255) / 256, [&](Index task) {
            auto rows = Q.middleRows(256 * task, std::min<Index>(256, n - 256 * task));
            rows.array().rowwise() *= fr.array();
        });
    } else {
        // Q^T row-major is Q column-major: G goes there through a transposing copy.
        double* G = linalg::grow(w.scratch, n * k);
        rng.normals(G, n * k, w.threads);
        Eigen::Map<Eigen::MatrixXd>(out, n, k) = Eigen::Map<const Mat<double>>(G, n, k);
        householder_q<Eigen::ColMajor>(out, n, k, w);
        for (Index j = 0; j < k; ++j) Eigen::Map<Eigen::VectorXd>(out + j * n, n) *= factor(j);
    }
}

}  // namespace

Mat<double> haar_orthogonal(Index n, Rng& rng) { return haar_columns(n, n, rng); }

Mat<double> haar_columns(Index n, Index k, Rng& rng) {
    Mat<double> Q(n, k);
    HaarWork w(gemm_threads());
    haar_into(n, k, rng, 1.0, Q.data(), false, w);
    return Q;
}

template <class T>
std::vector<Mat<T>> init_weights(const std::vector<Index>& widths, double scale, std::uint64_t seed,
                                 InitKind kind) {
    if (!(std::isfinite(scale) && scale >= 0.0)) invalid("scale", "must be finite and >= 0, got " + std::to_string(scale));
    Rng rng(seed);
    // The backend's thread count (OPENBLAS_NUM_THREADS, threadpoolctl, all cores by default) sets how
    // many threads share the work; the bits do not depend on it.
    const int threads = gemm_threads();
    HaarWork work(threads);
    std::vector<Mat<T>> weights;
    for (std::size_t l = 0; l + 1 < widths.size(); ++l) {
        const Index m = widths[l + 1], n = widths[l];
        const double mn = static_cast<double>(m) * static_cast<double>(n);
        const double k = static_cast<double>(std::min(m, n));
        Mat<double> W(m, n);
        switch (kind) {
            case InitKind::Orthogonal:
                // The first k columns of a Haar matrix of size N are the Q of a thin QR of an N x k
                // Gaussian: O(N k^2) work instead of O(N^3) for a thin layer. A wide layer is the
                // transpose of a tall one (the transpose of a Haar matrix is Haar).
                if (m >= n) haar_into(m, n, rng, scale, W.data(), false, work);
                else haar_into(n, m, rng, scale, W.data(), true, work);
                break;
            case InitKind::Gaussian:
                rng.normals(W.data(), W.size(), threads);
                W *= scale * std::sqrt(k / mn);
                break;
            case InitKind::Uniform: {
                const double f = scale * std::sqrt(3.0 * k / mn);
                for (Index i = 0; i < m; ++i)
                    for (Index j = 0; j < n; ++j) W(i, j) = f * (2.0 * rng.uniform() - 1.0);
                break;
            }
        }
        if constexpr (std::is_same_v<T, double>) weights.push_back(std::move(W));
        else weights.push_back(W.cast<T>());
    }
    return weights;
}

template std::vector<Mat<float>> init_weights<float>(const std::vector<Index>&, double, std::uint64_t, InitKind);
template std::vector<Mat<double>> init_weights<double>(const std::vector<Index>&, double, std::uint64_t, InitKind);

}  // namespace dln
