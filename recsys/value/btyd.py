"""Buy-till-you-die models: BG/NBD for how often a customer buys and whether they are still a
customer, Gamma-Gamma for how much they spend per purchase.

BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way"): while alive, a
customer buys at Poisson rate λ ~ Gamma(r, α); right after each purchase they drop out for good
with probability p ~ Beta(a, b). Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV"): the
value of each purchase is Gamma(p, ν) with ν ~ Gamma(q, v) across customers, independent of
the purchase timing. Both fit by maximum likelihood over log-parameters; every prediction is
vectorised over customers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Self

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

from shop.errors import InvalidInput


@dataclass(frozen=True)
class Rfm:
    """Per-customer purchase summary as of a date, time in days (the BG/NBD convention):
    frequency x = number of repeat purchase days (distinct purchase days - 1),
    recency t_x = days from first to last purchase, age T = days from first purchase to as_of,
    monetary = mean value of the repeat purchases (0 where x == 0)."""

    frequency: np.ndarray
    recency: np.ndarray
    age: np.ndarray
    monetary: np.ndarray

    def __post_init__(self) -> None:
        for field in fields(self):
            object.__setattr__(self, field.name, np.asarray(getattr(self, field.name), float))


class _Params:
    """Parameters as dataclass fields: None until fitted (or loaded with from_dict)."""

    def to_dict(self) -> dict[str, float]:
        return {name: float(value) for name, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, params: dict[str, float]) -> Self:
        return cls(**{field.name: float(params[field.name]) for field in fields(cls)})

    def _params(self) -> tuple[float, ...]:
        values = tuple(asdict(self).values())
        if any(value is None for value in values):
            raise InvalidInput(f"{type(self).__name__} has no parameters yet: fit it or load "
                               "them with from_dict()")
        return values


def _distinct_rows(*columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of the columns and how often each occurs; np.unique(axis=0) does the
    same some times slower."""
    rows = np.column_stack(columns)
    rows = rows[np.lexsort(rows.T[::-1])]
    starts = np.flatnonzero(np.r_[True, (np.diff(rows, axis=0) != 0).any(axis=1)])
    return rows[starts], np.diff(np.r_[starts, len(rows)])


def _fit_log_params(negative_ll, n_params: int, args: tuple) -> np.ndarray:
    result = minimize(negative_ll, np.zeros(n_params), args=args, jac=True, method="L-BFGS-B",
                      options={"ftol": 1e-13, "gtol": 1e-9},
                      bounds=[(-15.0, 15.0)] * n_params)
    return np.exp(result.x)


def _weighted(weights: np.ndarray, values: np.ndarray) -> float:
    # not `weights @ values`: OpenBLAS's threaded dot can be 100x slower on a busy machine
    return float((weights * values).sum())


def _bgnbd_negative_ll(log_params, x, tx, T, count, xs, x_count, penalizer):
    """Mean negative log-likelihood over customers and its gradient in the log-parameters.
    Each row (x, tx, T) stands for `count` identical customers; the special functions depend
    on x alone, so they are summed over its distinct values `xs` (`x_count` customers each)."""
    params = np.exp(log_params)
    r, alpha, a, b = params
    by_x = (gammaln(r + xs) - gammaln(r) + betaln(a, b + xs) - betaln(a, b),
            digamma(r + xs) - digamma(r),
            digamma(a + b) - digamma(a + b + xs),
            digamma(b + xs) - digamma(a + b + xs) - digamma(b) + digamma(a + b))
    ll_x, d_r_x, d_a_x, d_b_x = (_weighted(x_count, term) for term in by_x)

    log_T, log_tx = np.log(alpha + T), np.log(alpha + tx)
    x1 = np.maximum(x, 1)  # b + x - 1 only matters where x > 0
    alive = -(r + x) * log_T
    dropped = np.where(x > 0, np.log(a) - np.log(b + x1 - 1) - (r + x) * log_tx, -np.inf)
    mix = np.logaddexp(alive, dropped)
    w = np.exp(dropped - mix)  # the share of the likelihood where they dropped out already
    total = count.sum()
    ll = ll_x + total * r * np.log(alpha) + _weighted(count, mix)
    grad = np.array([
        d_r_x + total * np.log(alpha) - _weighted(count, (1 - w) * log_T + w * log_tx),
        total * r / alpha
        - _weighted(count, (r + x) * ((1 - w) / (alpha + T) + w / (alpha + tx))),
        d_a_x + _weighted(count, w) / a,
        d_b_x - _weighted(count, w / (b + x1 - 1)),
    ])
    value = -ll / total + penalizer * (params**2).sum()
    return value, -grad * params / total + 2 * penalizer * params**2


@dataclass
class BetaGeo(_Params):
    """BG/NBD. Times are in days, like Rfm's."""

    r: float | None = None
    alpha: float | None = None
    a: float | None = None
    b: float | None = None

    def fit(self, rfm: Rfm, penalizer: float = 0.0) -> BetaGeo:
        """`penalizer` adds penalizer * (r² + α² + a² + b²) to the mean negative log-likelihood,
        α measured with the ages scaled to at most 1 (as the `lifetimes` package does)."""
        x, tx, T = rfm.frequency, rfm.recency, rfm.age
        if not (T > 0).any():
            raise InvalidInput("BetaGeo needs customers whose first purchase was before the "
                               "as-of date (age > 0); there are none")
        if (tx > T).any() or (tx < 0).any() or (x < 0).any():
            raise InvalidInput("Rfm is inconsistent: recency must lie in [0, age] and frequency "
                               "must not be negative")
        rows, count = _distinct_rows(x, tx, T)
        scale = 1.0 / rows[:, 2].max()  # better conditioned on times in [0, 1]
        xs, which = np.unique(rows[:, 0], return_inverse=True)
        x_count = np.bincount(which, weights=count)
        args = (rows[:, 0], rows[:, 1] * scale, rows[:, 2] * scale, count.astype(float), xs,
                x_count, penalizer)
        r, alpha, a, b = _fit_log_params(_bgnbd_negative_ll, 4, args)
        self.r, self.alpha, self.a, self.b = r, alpha / scale, a, b
        return self

    def _log_odds_dropped(self, rfm: Rfm) -> np.ndarray:
        """log P(dropped out after the last purchase) - log P(alive), given the history."""
        r, alpha, a, b = self._params()
        x = rfm.frequency
        odds = (np.log(a) - np.log(b + np.maximum(x, 1) - 1)
                + (r + x) * (np.log(alpha + rfm.age) - np.log(alpha + rfm.recency)))
        return np.where(x > 0, odds, -np.inf)

    def p_alive(self, rfm: Rfm) -> np.ndarray:
        return expit(-self._log_odds_dropped(rfm))

    def expected_purchases(self, rfm: Rfm, t: float | np.ndarray) -> np.ndarray:
        """Expected number of purchases in (T, T + t], given the history (FHL 2005, eq. 10)."""
        r, alpha, a, b = self._params()
        x, T = rfm.frequency, rfm.age
        z = t / (alpha + T + t)
        # Euler's transformation of the paper's (1-z)^(r+x) 2F1(r+x, b+x; a+b+x-1; z): this form
        # stays bounded for long, busy histories, where the paper's 2F1 overflows.
        decay = (1 - z) ** (a - 1) * hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
        return (a + b + x - 1) / (a - 1) * (1 - decay) * self.p_alive(rfm)

    def p_any_purchase(self, rfm: Rfm, t: float | np.ndarray) -> np.ndarray:
        """P(at least one purchase in (T, T + t] | history).

        Dropout happens only right after a purchase, so P(alive at T, no purchase in the
        window) ∝ A(T + t) with A(s) = B(a, b+x)/B(a, b) Γ(r+x)/Γ(r) α^r / (α+s)^(r+x), and
        P(any) = (A(T) - A(T + t)) / L = P(alive) (1 - ((α+T) / (α+T+t))^(r+x)).
        """
        r, alpha, _, _ = self._params()
        none_if_alive = -(r + rfm.frequency) * np.log1p(t / (alpha + rfm.age))
        return self.p_alive(rfm) * -np.expm1(none_if_alive)

    def days_to_next(self, rfm: Rfm, quantile: float = 0.5,
                     max_days: float = 730.0) -> np.ndarray:
        """The smallest t with p_any_purchase(rfm, t) >= quantile; NaN where that is not
        reached within max_days. p_any_purchase inverts in closed form, so no search."""
        r, alpha, _, _ = self._params()
        share = quantile / self.p_alive(rfm)  # of the alive probability, which caps P(any)
        with np.errstate(divide="ignore", invalid="ignore"):
            days = (alpha + rfm.age) * np.expm1(-np.log1p(-share) / (r + rfm.frequency))
        return np.where((share < 1) & (days <= max_days), np.maximum(days, 0.0), np.nan)


def _gamma_gamma_negative_ll(log_params, x, m):
    """Mean negative log-likelihood of the average spends m over x purchases, and its gradient
    in the log-parameters."""
    params = np.exp(log_params)
    p, q, v = params
    px = p * x
    log_total = np.log(v + m * x)
    ll = (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v) + (px - 1) * np.log(m)
          + px * np.log(x) - (px + q) * log_total)
    d_p = x * (digamma(px + q) - digamma(px) + np.log(m) + np.log(x) - log_total)
    d_q = digamma(px + q) - digamma(q) + np.log(v) - log_total
    d_v = q / v - (px + q) / (v + m * x)
    grad = -np.array([d_p.mean(), d_q.mean(), d_v.mean()]) * params
    return -ll.mean(), grad


@dataclass
class GammaGamma(_Params):
    """Gamma-Gamma spend model, fit on the customers with repeat purchases."""

    p: float | None = None
    q: float | None = None
    v: float | None = None

    def fit(self, rfm: Rfm) -> GammaGamma:
        keep = (rfm.frequency > 0) & (rfm.monetary > 0)
        if keep.sum() < 2:
            raise InvalidInput("GammaGamma needs at least 2 customers with a repeat purchase of "
                               f"positive value; there are {int(keep.sum())}")
        x, m = rfm.frequency[keep], rfm.monetary[keep]
        scale = 1.0 / m.mean()  # fit on spends of mean 1; v scales with the currency
        p, q, v = _fit_log_params(_gamma_gamma_negative_ll, 3, (x, m * scale))
        self.p, self.q, self.v = p, q, v / scale
        return self

    def expected_value(self, rfm: Rfm) -> np.ndarray:
        """Expected average purchase value per customer, given their repeat purchases: a
        weighted mean of the population mean p v / (q - 1) and their own mean. The population
        mean (for x == 0) exists only where q > 1; NaN otherwise."""
        p, q, v = self._params()
        x = rfm.frequency
        spent = np.where(x > 0, rfm.monetary * x, 0.0)
        denominator = p * x + q - 1
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(denominator > 0, p * (v + spent) / denominator, np.nan)
