"""Arbitrage-free pricing, tested with hypothesis: on the kernel for ANY admissible parameters
(so the properties are structural) and on a model fitted to a synthetic market.

Properties (Koutris et al. 2012; Deep & Koutris 2017): price never falls when units, term, scope
or exclusivity grow; price per unit never rises with units; splitting an order (in units or in
term) never pays. Integer prices are checked exactly (they round up, which keeps all but the
per-unit property); the per-unit property is checked on the real-valued price.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_valuation_helpers import market_gen
from valuation.linalg import isotonic, min_variance_weights
from valuation.model import Model, fit
from valuation.terms import SCOPE_ORDER, Kernel, to_minor

units = st.one_of(st.none(), st.integers(min_value=0, max_value=10**9))
finite_units = st.integers(min_value=1, max_value=10**8)
days = st.integers(min_value=1, max_value=5000)
purposes = st.sampled_from((*SCOPE_ORDER, "something-else"))
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def kernels(draw: Any) -> Kernel:
    steps = draw(st.lists(st.floats(0, 2), min_size=len(SCOPE_ORDER), max_size=len(SCOPE_ORDER)))
    scope = [sum(steps[: i + 1]) - 1.0 for i in range(len(steps))]
    return Kernel(
        beta={"c": draw(st.floats(0, 1))},
        beta_default=draw(st.floats(0, 1)),
        gamma=draw(st.floats(0, 1)),
        log_unlimited=math.log(10_000) + draw(st.floats(0, 10)),
        scope=tuple(scope),
        exclusive=draw(st.floats(0, 3)),
    )


def kernel_price(k: Kernel, base: float, u: int | None, d: int, p: str, e: bool) -> float:
    return base * math.exp(k.log_factor("c", u, d, p, e))


@SETTINGS
@given(kernels(), st.floats(1, 1e7), units, units, days, days, purposes, st.booleans())
def test_kernel_is_monotone_for_any_admissible_parameters(
    k: Kernel, base: float, u1: int | None, u2: int | None, d1: int, d2: int, p: str, e: bool
) -> None:
    def order(u: int | None) -> float:
        return math.inf if u is None else u

    lo_u, hi_u = sorted((u1, u2), key=order)
    lo_d, hi_d = sorted((d1, d2))
    price = to_minor(kernel_price(k, base, lo_u, lo_d, p, e))
    assert price <= to_minor(kernel_price(k, base, hi_u, lo_d, p, e))
    assert price <= to_minor(kernel_price(k, base, lo_u, hi_d, p, e))
    assert price <= to_minor(kernel_price(k, base, lo_u, lo_d, p, True))


@SETTINGS
@given(kernels(), st.floats(1, 1e7), st.integers(0, len(SCOPE_ORDER) - 2), units, days)
def test_kernel_is_monotone_in_scope(k: Kernel, base: float, r: int, u: int | None, d: int) -> None:
    narrow = kernel_price(k, base, u, d, SCOPE_ORDER[r], False)
    broad = kernel_price(k, base, u, d, SCOPE_ORDER[r + 1], False)
    assert to_minor(narrow) <= to_minor(broad)


@SETTINGS
@given(kernels(), st.floats(1, 1e7), finite_units, finite_units, days, days, purposes)
def test_kernel_splitting_never_pays_and_unit_price_never_rises(
    k: Kernel, base: float, u1: int, u2: int, d1: int, d2: int, p: str
) -> None:
    whole = to_minor(kernel_price(k, base, u1 + u2, d1, p, False))
    assert whole <= to_minor(kernel_price(k, base, u1, d1, p, False)) + to_minor(
        kernel_price(k, base, u2, d1, p, False)
    )
    longer = to_minor(kernel_price(k, base, u1, d1 + d2, p, False))
    assert longer <= to_minor(kernel_price(k, base, u1, d1, p, False)) + to_minor(
        kernel_price(k, base, u1, d2, p, False)
    )
    small, large = sorted((u1, u2))
    per_small = kernel_price(k, base, small, d1, p, False) / small
    per_large = kernel_price(k, base, large, d1, p, False) / large
    assert per_large <= per_small * (1 + 1e-12)


def test_kernel_rejects_inadmissible_parameters() -> None:
    good = dict(
        beta={}, beta_default=0.5, gamma=0.5, log_unlimited=20.0,
        scope=tuple(range(len(SCOPE_ORDER))), exclusive=0.1,
    )  # fmt: skip
    Kernel(**good)  # type: ignore[arg-type]
    for bad in (
        {"beta_default": 1.2},
        {"gamma": -0.1},
        {"exclusive": -0.5},
        {"scope": (1.0, 0.0, 2, 3, 4, 5, 6)},
        {"log_unlimited": 1.0},
    ):
        with pytest.raises(ValueError):
            Kernel(**(good | bad))  # type: ignore[arg-type]


# --- the fitted model ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model() -> Model:
    m = market_gen.generate(seed=5, n_assets=150)
    return fit(m.assets, m.usage, m.transactions)


def quote(model: Model, asset: str, u: int | None, d: int, p: str, e: bool) -> Any:
    return model.quote(
        {"asset_id": asset, "max_units": u, "duration_days": d, "purpose": p, "exclusive": e}
    )


def bounds(q: Any) -> tuple[int, int, int]:
    return q.low_minor, q.price_minor, q.high_minor


@SETTINGS
@given(st.data(), units, units, days, days, st.integers(0, len(SCOPE_ORDER) - 2), st.booleans())
def test_fitted_prices_and_bounds_are_monotone(
    model: Model, data: Any, u1: int | None, u2: int | None, d1: int, d2: int, r: int, e: bool
) -> None:
    asset = data.draw(st.sampled_from(sorted(model.states)))
    lo_u, hi_u = sorted((u1, u2), key=lambda u: math.inf if u is None else u)
    lo_d, hi_d = sorted((d1, d2))
    p, broader = SCOPE_ORDER[r], SCOPE_ORDER[r + 1]
    q = quote(model, asset, lo_u, lo_d, p, e)
    assert q.low_minor <= q.price_minor <= q.high_minor
    for more in (
        quote(model, asset, hi_u, lo_d, p, e),
        quote(model, asset, lo_u, hi_d, p, e),
        quote(model, asset, lo_u, lo_d, broader, e),
        quote(model, asset, lo_u, lo_d, p, True),
    ):
        assert all(a <= b for a, b in zip(bounds(q), bounds(more), strict=True))


@SETTINGS
@given(st.data(), finite_units, finite_units, days, days, purposes, st.booleans())
def test_fitted_splitting_never_pays(
    model: Model, data: Any, u1: int, u2: int, d1: int, d2: int, p: str, e: bool
) -> None:
    asset = data.draw(st.sampled_from(sorted(model.states)))
    whole = quote(model, asset, u1 + u2, d1, p, e)
    a, b = quote(model, asset, u1, d1, p, e), quote(model, asset, u2, d1, p, e)
    assert whole.price_minor <= a.price_minor + b.price_minor
    assert whole.high_minor <= a.high_minor + b.high_minor
    longer = quote(model, asset, u1, d1 + d2, p, e)
    c = quote(model, asset, u1, d2, p, e)
    assert longer.price_minor <= a.price_minor + c.price_minor
    small, large = sorted((u1, u2))
    per_small = quote(model, asset, small, d1, p, e).price_real / small
    per_large = quote(model, asset, large, d1, p, e).price_real / large
    assert per_large <= per_small * (1 + 1e-12)


def test_fitted_kernel_is_admissible_and_close_to_the_generator(model: Model) -> None:
    k = model.params.kernel
    assert 0.45 <= k.gamma <= 0.75  # generator: 0.6
    assert abs(k.exclusive - 0.59) < 0.2
    assert abs(k.log_unlimited - math.log(1e7)) < 1.0
    assert list(k.scope) == sorted(k.scope)


# --- helpers ---------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(-10, 10), st.floats(0.01, 10)), min_size=1, max_size=12))
def test_isotonic_is_monotone_and_keeps_the_weighted_mean(pairs: list[tuple[float, float]]) -> None:
    values, weights = zip(*pairs, strict=True)
    fitted = isotonic(values, weights)
    assert all(a <= b + 1e-9 for a, b in itertools.pairwise(fitted))
    mean = sum(v * w for v, w in pairs) / sum(weights)
    assert sum(f * w for f, w in zip(fitted, weights, strict=True)) / sum(weights) == (
        pytest.approx(mean, abs=1e-6)
    )


def test_min_variance_weights() -> None:
    w = min_variance_weights([[1.0, 0.0], [0.0, 4.0]])
    assert w == pytest.approx([0.8, 0.2])  # inverse-MSE when uncorrelated
    w = min_variance_weights([[1.0, 0.0, 0.0], [0.0, 1.0, 0.99], [0.0, 0.99, 1.0]])
    assert sum(w) == pytest.approx(1.0) and all(x >= 0 for x in w)
    assert w[0] > w[1]  # two approaches that err together share weight
    assert min_variance_weights([[1.0, 2.0], [2.0, 9.0]]) == pytest.approx([1.0, 0.0])
