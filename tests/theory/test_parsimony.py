"""The law of parsimony end to end (SCIENCE.md section 2, the "theorem" setting, and 7.1, 7.5, 7.8).

Deep matrix factorisation of a rank-3 30 x 30 target, L = 3 square layers, orthogonal init at
eps = 1, plain GD on the mean loss with lr = 1 (eta = lr / d^2 in sum units), 50 steps. After every
step the 24 = d - 2r bulk singular values of every layer equal rho(t), with

    rho(t+1) = rho(t) (1 - (lr / d^2) rho(t)^(2(L-1))),   rho(0) = eps,

and the other 6 move away from it. Checked twice: through ``dln.experiments.theorem`` and by calling
``dln.train`` directly on a target and an init built here (SciPy SVDs, independent Haar init).
Singular values are O(1) here, so the 1e-12 bound is absolute (~4500 ulp at 1; measured ~1e-15).
"""

import numpy as np
import pytest
import scipy.linalg
from scipy import stats

import dln
from dln.experiments import theorem

D, R, L, EPS, LR, STEPS = 30, 3, 3, 1.0, 1.0, 50
M = D - 2 * R  # 24 bulk singular values per layer
BULK_TOL = 1e-12
MOVED = 1e-6


def rho_gd(steps=STEPS, eps=EPS, lr=LR, d=D, depth=L):
    """The bulk recursion, written out here rather than taken from ``dln.experiments``."""
    rho = [eps]
    for _ in range(steps):
        rho.append(rho[-1] * (1.0 - (lr / d**2) * rho[-1] ** (2 * (depth - 1))))
    return np.array(rho)


def rho_momentum(steps=STEPS, eps=EPS, lr=LR, beta=0.9, d=D, depth=L):
    """Heavy ball on the bulk: ``buf <- beta buf + rho^(2L-1) / d^2; rho <- rho - lr buf`` (SCIENCE 7.8)."""
    rho, buf = [eps], 0.0
    for _ in range(steps):
        buf = beta * buf + rho[-1] ** (2 * depth - 1) / d**2
        rho.append(rho[-1] - lr * buf)
    return np.array(rho)


def svals(w):
    return scipy.linalg.svd(np.asarray(w, dtype=np.float64), compute_uv=False)


def rank_r_target(seed, d=D, r=R):
    g = np.random.default_rng(seed).standard_normal((d, d))
    u, s, vt = np.linalg.svd(g)
    return (u[:, :r] * s[:r]) @ vt[:r]


def check_step(t, layers_svals, rho_t, final):
    """Exactly M singular values of every layer at rho(t) to 1e-12; at the end the rest > 1e-6 away."""
    for l, s in enumerate(layers_svals):
        dev = np.abs(s - rho_t)
        at_rho = np.sum(dev <= BULK_TOL)
        assert at_rho == M, (
            f"step {t}, layer {l}: {at_rho} singular values within {BULK_TOL:g} of rho = {rho_t!r}, expected {M}; "
            f"sorted deviations {np.sort(dev)[:M + 1]}")
        if final:
            others = np.sort(dev)[M:]
            assert others.min() > MOVED, f"step {t}, layer {l}: moving singular values {others} too close to rho"


def test_rho_recursion_matches_experiments():
    assert np.array_equal(dln.experiments.rho_recursion(EPS, LR, L, STEPS, scale=1.0 / D**2), rho_gd())


def test_theorem_experiment():
    run = theorem(d=D, rank=R, depth=L, eps=EPS, lr=LR, steps=STEPS)
    rho = rho_gd()
    np.testing.assert_array_equal(run.rho, rho)
    assert run.singular_values.shape == (STEPS + 1, L, D)
    # At t = 0 every singular value is eps (orthogonal init).
    assert np.abs(run.singular_values[0] - EPS).max() <= BULK_TOL
    for t in range(1, STEPS + 1):
        layers = [svals_ for svals_ in run.singular_values[t]]
        check_step(t, layers, rho[t], final=(t == STEPS))
    # The experiment's own summaries agree with the check above.
    assert run.bulk_error[1:].max() <= BULK_TOL
    assert run.gap[-1] > MOVED
    assert run.moving.shape == (STEPS + 1, L, 2 * R)
    # The bulk really shrinks: rho(50) is measurably below eps, so "equal to rho" is not "equal to eps".
    assert EPS - rho[-1] > 1e-2


def _haar(n, seed):
    return stats.ortho_group.rvs(n, random_state=np.random.default_rng(seed))


@pytest.mark.parametrize("init", ["engine", "scipy"])
@pytest.mark.parametrize("seed", [1, 7])
def test_theorem_by_hand(init, seed):
    """Our own target, our own loop of 1-step ``dln.train`` calls, SciPy SVDs after every step."""
    target = rank_r_target(seed)
    problem = dln.Factorization(target, reduction="mean")
    assert problem.scale == 1.0 / D**2
    if init == "engine":
        net = dln.Network.orthogonal([D] * (L + 1), scale=EPS, seed=seed)
    else:
        net = dln.Network([EPS * _haar(D, seed + 100 * l) for l in range(L)])
    rho = rho_gd()
    for t in range(1, STEPS + 1):
        result = dln.train(net, problem, lr=LR, steps=1, n_threads=1)
        assert result.status == "max_steps" and result.steps == 1
        net = result.network
        check_step(t, [svals(w) for w in net.weights], rho[t], final=(t == STEPS))
    # One 50-step call lands on the same bits as 50 one-step calls (GD keeps no state).
    start = (dln.Network.orthogonal([D] * (L + 1), scale=EPS, seed=seed) if init == "engine"
             else dln.Network([EPS * _haar(D, seed + 100 * l) for l in range(L)]))
    whole = dln.train(start, problem, lr=LR, steps=STEPS, n_threads=1).network
    for a, b in zip(whole.weights, net.weights):
        assert np.array_equal(a, b)


def _theorem_start(seed=0):
    problem = dln.Factorization(rank_r_target(seed), reduction="mean")
    net = dln.Network.orthogonal([D] * (L + 1), scale=EPS, seed=seed)
    return net, problem


def _tightest_cluster(s, size=M):
    """Width max - min of the tightest group of ``size`` singular values (0 for an exact bulk)."""
    s = np.sort(s)
    return float(np.min(s[size - 1:] - s[:len(s) - size + 1])), s


def test_momentum_keeps_the_block_structure():
    """Heavy ball (beta = 0.9, lr = 1): 24 bulk singular values stay equal, at the momentum rho."""
    net, problem = _theorem_start()
    out = dln.train(net, problem, lr=LR, steps=STEPS, optimizer="momentum", momentum=0.9, n_threads=1)
    assert out.status == "max_steps"
    rho = rho_momentum()[-1]
    # The momentum bulk is not the GD bulk: the check below is specific to heavy ball.
    assert abs(rho - rho_gd()[-1]) > 1e-2
    for l, w in enumerate(out.network.weights):
        s = svals(w)
        spread, _ = _tightest_cluster(s)
        assert spread <= BULK_TOL, f"layer {l}: bulk spread {spread:.3e}"
        assert np.sum(np.abs(s - rho) <= BULK_TOL) == M, f"layer {l}: bulk {np.sort(s)} vs rho {rho!r}"


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop"])
def test_adaptive_optimizers_break_the_block_structure(optimizer):
    """Adam / RMSprop (lr 1e-2) normalise entrywise, which is not rotation-equivariant: no 24 values stay
    together (measured tightest spread ~0.7 for every layer; momentum's is ~1e-15)."""
    net, problem = _theorem_start()
    out = dln.train(net, problem, lr=1e-2, steps=STEPS, optimizer=optimizer, n_threads=1)
    assert out.status == "max_steps"
    for l, w in enumerate(out.network.weights):
        spread, s = _tightest_cluster(svals(w))
        assert spread > 0.1, f"layer {l}: {optimizer} kept a tight bulk (spread {spread:.3e}): {s}"
