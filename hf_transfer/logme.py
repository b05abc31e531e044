"""LogME (You et al., "LogME: Practical Assessment of Pre-trained Models for Transfer Learning", ICML 2021).

For features F (n × D) and one target y (n), a Bayesian linear model y = Fw + ε with w ~ N(0, α⁻¹I) and
ε ~ N(0, β⁻¹) has the log evidence

    L(α, β) = n/2 log β + D/2 log α − n/2 log 2π − β/2 ‖Fm − y‖² − α/2 ‖m‖² − 1/2 log |A|,
    A = αI + βFᵀF,  m = βA⁻¹Fᵀy.

LogME maximises L over α, β by the fixed-point iteration of the paper (γ = Σ βσᵢ/(α + βσᵢ), α ← γ/‖m‖²,
β ← (n − γ)/‖Fm − y‖², σᵢ the eigenvalues of FᵀF, read from one SVD of F), divides by n, and averages
over the classes' one-vs-rest targets. Higher means the features explain the labels better. Numpy only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class Evidence:
    """The maximised evidence for one target and where it was reached."""

    evidence: float  # L(α, β) / n
    alpha: float
    beta: float
    iterations: int


def _evidence_for_target(u: np.ndarray, s: np.ndarray, dim: int, y: np.ndarray, max_iter: int, tol: float) -> Evidence:
    """Maximise L(α, β) for one target, given the thin SVD F = U diag(s) Vᵀ (eigenvalues σ = s², padded to D)."""
    n = y.shape[0]
    sigma = np.zeros(dim)
    sigma[: s.shape[0]] = s**2
    z = u.T @ y  # y in the basis of F's left singular vectors
    # the part of y no combination of features reaches (never below 0: rounding made it -4e-15 on a perfect fit)
    outside = max(float(y @ y - z @ z), 0.0)
    # With fewer examples than features a target can be fitted exactly: the residual then goes to 0 and β to
    # infinity (1e31 and NaN on 24 examples of 32 features). A floor at 1e-12 of the target's energy keeps the
    # evidence finite and ranks such a fit as the near-perfect one it is.
    floor = 1e-12 * max(float(y @ y), 1.0)
    alpha, beta = 1.0, 1.0
    for iteration in range(1, max_iter + 1):  # noqa: B007 - the count is returned after the loop
        shrink = beta / (alpha + beta * s**2)  # m = V diag(shrink · s) z
        m_sq = float(np.sum((shrink * s * z) ** 2))
        residual = float(np.sum(((1 - shrink * s**2) * z) ** 2)) + outside
        gamma = float(np.sum(beta * sigma / (alpha + beta * sigma)))
        new_alpha = gamma / max(m_sq, 1e-300)
        new_beta = (n - gamma) / max(residual, floor)
        done = abs(new_alpha - alpha) <= tol * alpha and abs(new_beta - beta) <= tol * beta
        alpha, beta = new_alpha, new_beta
        if done:
            break
    shrink = beta / (alpha + beta * s**2)
    m_sq = float(np.sum((shrink * s * z) ** 2))
    residual = max(float(np.sum(((1 - shrink * s**2) * z) ** 2)) + outside, floor)
    evidence = (
        n / 2 * math.log(beta)
        + dim / 2 * math.log(alpha)
        - n / 2 * math.log(2 * math.pi)
        - beta / 2 * residual
        - alpha / 2 * m_sq
        - 0.5 * float(np.sum(np.log(alpha + beta * sigma)))
    )
    return Evidence(evidence / n, alpha, beta, iteration)


def logme(features: np.ndarray, labels: np.ndarray, max_iter: int = 200, tol: float = 1e-7) -> float:
    """LogME of ``features`` (n × D) for integer class ``labels`` (n), or multi-hot label sets (n × L): the mean
    over classes (labels) of the per-example maximum log evidence of a one-vs-rest (the label's own) target."""
    return float(np.mean([e.evidence for e in logme_per_class(features, labels, max_iter, tol)]))


def logme_per_class(features: np.ndarray, labels: np.ndarray, max_iter: int = 200, tol: float = 1e-7) -> list[Evidence]:
    """One evidence per class (its one-vs-rest target); ``labels`` n × L multi-hot (label sets): one per label
    column, the label's own 0/1 target, as the LogME paper scores multi-label data."""
    f = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels)
    if y.ndim == 2 and y.shape[1] > 1:
        targets = [(y[:, j] > 0.5).astype(np.float64) for j in range(y.shape[1])]
    else:
        y = y.reshape(-1)
        targets = [(y == c).astype(np.float64) for c in np.unique(y)]
    if f.ndim != 2 or f.shape[0] != y.shape[0]:
        raise ValueError(f"expected features (n, D) and labels (n,) or (n, L), found {f.shape} and {y.shape}")
    u, s, _ = np.linalg.svd(f, full_matrices=False)
    return [_evidence_for_target(u, s, f.shape[1], t, max_iter, tol) for t in targets]
