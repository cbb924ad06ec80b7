// C++ tests of dln/blas.hpp on dln's own kernel (the program asks for it with DLN_GEMM=eigen before
// its first product, whatever the automatic choice on this machine): every transpose case, alpha and
// beta (beta = 0 ignores NaN in C), empty and vector shapes against a plain triple loop; bits that do
// not depend on the thread count; no allocation once the first product of a shape has sized the
// buffers; parallel_for, which shares work out on the same threads. The library path is checked by
// every other test program, which runs on the default choice.
#include "harness.hpp"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <tuple>
#include <vector>

namespace {

using dln::Index;
using dln::Op;
template <class T>
using Mat = dln::Mat<T>;

template <class T>
Mat<T> random_of(Index r, Index c, std::uint64_t seed) {
    return dln_test::random_matrix(r, c, seed).template cast<T>();
}

// op(X) as a plain matrix.
template <class T>
Mat<T> apply(Op op, const Mat<T>& X) {
    return op == Op::N ? Mat<T>(X) : Mat<T>(X.transpose());
}

// The product with the same operands, one multiply-add at a time, in long double.
template <class T>
Mat<T> triple_loop(Op opA, Op opB, T alpha, const Mat<T>& A, const Mat<T>& B, T beta, const Mat<T>& C) {
    const Mat<T> a = apply(opA, A), b = apply(opB, B);
    Mat<T> out(a.rows(), b.cols());
    for (Index i = 0; i < a.rows(); ++i)
        for (Index j = 0; j < b.cols(); ++j) {
            long double s = 0;
            for (Index k = 0; k < a.cols(); ++k) s += static_cast<long double>(a(i, k)) * b(k, j);
            const long double c = beta == T(0) ? 0.0L : static_cast<long double>(beta) * C(i, j);
            out(i, j) = static_cast<T>(c + alpha * s);
        }
    return out;
}

// Entry-wise error against the loop, in units of the forward-error bound k * eps * (|alpha||A||B| + |beta||C|).
template <class T>
double scaled_error(Op opA, Op opB, T alpha, const Mat<T>& A, const Mat<T>& B, T beta, const Mat<T>& C0,
                    const Mat<T>& C) {
    const Mat<T> expected = triple_loop(opA, opB, alpha, A, B, beta, C0);
    const Mat<T> bound_ab = apply(opA, A).cwiseAbs() * apply(opB, B).cwiseAbs();
    const Index k = opA == Op::N ? A.cols() : A.rows();
    double worst = 0;
    for (Index i = 0; i < C.rows(); ++i)
        for (Index j = 0; j < C.cols(); ++j) {
            const double c0 = beta == T(0) ? 0.0 : std::abs(double(beta) * C0(i, j));
            const double bound = double(k + 2) * std::numeric_limits<T>::epsilon() *
                                 (std::abs(double(alpha)) * bound_ab(i, j) + c0);
            const double err = std::abs(double(C(i, j)) - double(expected(i, j)));
            if (!(err <= bound)) return std::numeric_limits<double>::infinity();
            worst = std::max(worst, bound > 0 ? err / bound : 0.0);
        }
    return worst;
}

using Shape = std::tuple<Index, Index, Index>;  // rows of C, columns of C, inner dimension

// Shapes on both sides of kSmallProduct, with ragged edges against the micro-kernel's widths, and
// vector-shaped results.
const std::vector<Shape> shapes = {{3, 5, 7},     {64, 64, 64},  {65, 70, 80},  {131, 97, 150},
                                   {257, 130, 301}, {1, 300, 200}, {300, 1, 200}, {200, 150, 1}};

template <class T>
void check_products() {
    const T nan = std::numeric_limits<T>::quiet_NaN();
    std::uint64_t seed = 11;
    for (const auto& [m, n, k] : shapes)
        for (Op opA : {Op::N, Op::T})
            for (Op opB : {Op::N, Op::T})
                for (T beta : {T(0), T(1), T(-0.3)}) {
                    const Mat<T> A = opA == Op::N ? random_of<T>(m, k, ++seed) : random_of<T>(k, m, ++seed);
                    const Mat<T> B = opB == Op::N ? random_of<T>(k, n, ++seed) : random_of<T>(n, k, ++seed);
                    Mat<T> C0 = random_of<T>(m, n, ++seed);
                    if (beta == T(0)) C0(0, 0) = nan;  // BLAS semantics: C is not read
                    Mat<T> C = C0;
                    const T alpha = T(0.75);
                    dln::gemm(opA, opB, alpha, dln::view(A), dln::view(B), beta, C);
                    const double err = scaled_error(opA, opB, alpha, A, B, beta, C0, C);
                    CHECK(err <= 1.0);
                    if (!(err <= 1.0))
                        std::cerr << "  shape " << m << "x" << n << "x" << k << " opA " << int(opA) << " opB "
                                  << int(opB) << " beta " << beta << ": scaled error " << err << "\n";
                }
}

void test_products() {
    check_products<double>();
    check_products<float>();
    // An empty inner dimension leaves beta * C.
    Mat<double> C = Mat<double>::Constant(4, 3, 2.0);
    const Mat<double> A(4, 0), B(0, 3);
    dln::gemm(Op::N, Op::N, 1.0, dln::view(A), dln::view(B), 0.5, C);
    CHECK((C.array() == 1.0).all());
}

// The same product on 1, 2 and 3 threads, bit for bit.
void test_bits_do_not_depend_on_threads() {
    const int previous = dln::gemm_threads();
    for (const auto& [m, n, k] : std::vector<Shape>{{257, 130, 301}, {130, 400, 97}, {40, 700, 300}, {500, 500, 500}})
        for (Op opA : {Op::N, Op::T}) {
            const Mat<double> A = opA == Op::N ? random_of<double>(m, k, 1) : random_of<double>(k, m, 1);
            const Mat<double> B = random_of<double>(k, n, 2);
            std::vector<Mat<double>> out;
            for (int threads : {1, 2, 3}) {
                dln::set_gemm_threads(threads);
                Mat<double> C = random_of<double>(m, n, 3);
                dln::gemm(opA, Op::N, 1.0, dln::view(A), dln::view(B), 1.0, C);
                out.push_back(C);
            }
            CHECK((out[0].array() == out[1].array()).all());
            CHECK((out[0].array() == out[2].array()).all());
        }
    dln::set_gemm_threads(previous);
}

void test_no_allocation_after_first_product() {
#ifdef DLN_NO_MALLOC_COUNTER
    std::cout << "skip no_allocation_after_first_product (sanitizer build: malloc counter disabled)\n";
#else
    const int previous = dln::gemm_threads();
    const Mat<double> A = random_of<double>(400, 300, 1), B = random_of<double>(300, 350, 2);
    Mat<double> C(400, 350);
    for (int threads : {1, 2}) {
        dln::set_gemm_threads(threads);
        const Mat<double> Bt = B.transpose();
        dln::gemm(Op::N, Op::T, 1.0, dln::view(A), dln::view(Bt), 0.0, C);  // sizes the buffers
        const long before = dln_test::allocations.load();
        for (int i = 0; i < 5; ++i) dln::gemm(Op::N, Op::T, 1.0, dln::view(A), dln::view(Bt), 0.5, C);
        CHECK(dln_test::allocations.load() - before == 0);
    }
    dln::set_gemm_threads(previous);
#endif
}

// parallel_for calls fn once for each index, with thread numbers below gemm_threads(); a call from
// inside fn runs on that thread alone.
void test_parallel_for() {
    const int previous = dln::gemm_threads();
    for (int threads : {1, 2, 3}) {
        dln::set_gemm_threads(threads);
        std::vector<int> seen(97, 0), nested(97, 0);
        std::vector<int> bad_thread(97, 0);
        dln::parallel_for(97, [&](Index i, int t) {
            ++seen[static_cast<std::size_t>(i)];
            if (t < 0 || t >= threads) bad_thread[static_cast<std::size_t>(i)] = 1;
            dln::parallel_for(2, [&](Index, int u) { nested[static_cast<std::size_t>(i)] += 1 + u; });
        });
        bool once = true, threads_ok = true, nested_serial = true;
        for (std::size_t i = 0; i < seen.size(); ++i) {
            once = once && seen[i] == 1;
            threads_ok = threads_ok && bad_thread[i] == 0;
            nested_serial = nested_serial && nested[i] == 2;  // both calls on thread 0
        }
        CHECK(once);
        CHECK(threads_ok);
        CHECK(nested_serial);
    }
    dln::set_gemm_threads(previous);
}

}  // namespace

int main() {
    setenv("DLN_GEMM", "eigen", 1);  // read at the first product: this program tests dln's kernel
    const std::vector<std::pair<const char*, std::function<void()>>> tests = {
        {"products", test_products},
        {"bits_do_not_depend_on_threads", test_bits_do_not_depend_on_threads},
        {"no_allocation_after_first_product", test_no_allocation_after_first_product},
        {"parallel_for", test_parallel_for},
    };
    const int status = dln_test::run_tests(tests);
    CHECK(std::string(dln::gemm_backend()) == "eigen");
    return dln_test::failures == 0 ? status : 1;
}
