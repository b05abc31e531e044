"""Dropout masks drawn fast on CPU: ``training.cpu_dropout: fast`` (the default).

Why hand-written: torch's CPU dropout draws its mask with ``bernoulli_``, which on non-Intel CPUs runs serially
and takes two 32-bit Mersenne Twister numbers and double arithmetic per element. On a MiniLM-sized encoder that
is 11% of a full fine-tuning step in fp32 and 17% in bf16 (``benchmarks/profile_step.py``). With a dropout
probability above 0, ``scaled_dot_product_attention`` also leaves its fused CPU kernel for the math path and
draws the attention-probability mask the same way. No library offers a faster CPU mask, so while a training
step runs, :class:`FastCpuDropout` (a ``torch.overrides.TorchFunctionMode``) answers

- ``torch.nn.functional.dropout`` (``nn.Dropout`` modules, peft's LoRA dropout, eager attention), and
- ``torch.nn.functional.scaled_dot_product_attention`` with ``dropout_p > 0`` (the math path, as torch computes
  it on CPU then: scores, mask, softmax, dropout, values)

with a mask made of 16-bit slices of 64-bit words from torch's own (seeded, checkpointed) CPU generator: 8×
fewer generator calls, and a vectorised compare. A value is kept with probability ``1 − round(p·2¹⁶)/2¹⁶`` (p
itself to within 2⁻¹⁷) and scaled by the inverse of exactly that, so the expectation is unchanged. Everything
else passes through untouched; evaluation (``training=False``) never reaches the mask. Runs stay reproducible
from their seed, and resumed runs draw the same masks (the generator's state is in every checkpoint), but the
masks differ from torch's: ``training.cpu_dropout: torch`` gives torch's own, as in hf_transfer before 2026-12.
GPUs draw dropout masks in parallel already and are never affected.

The same mode also takes a bf16 training step's attention *without* dropout through that math path
(:func:`attention`), where the step needs its gradient: torch's fused CPU attention kernel, which
``scaled_dot_product_attention`` picks then, is 1.6–5× slower than the math path with its backward pass in bf16
(all-MiniLM-L6-v2's 32 × 12 × 64 × 32 heads: 33 ms vs 6.6 ms per layer; ViT-B's 16 × 12 × 197 × 64: 51 vs 24 ms;
``benchmarks/cpu_attention.py --kernels``), while in fp32 the two are on par. Unlike the fused kernel, the math
path keeps the attention probabilities for the backward pass (under autocast: the fp32 softmax and its bf16
copy); above :data:`MATH_ATTENTION_MAX_SCORES` scores per call (long sequences, where that memory would grow
large) the fused kernel stays. Evaluation and inference (no gradient) keep the fused kernel too, and so does
fp16 (not measured).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

CHOICES = ("fast", "torch")
_LEVELS = 1 << 16
# batch × heads × query length × key length: under autocast, 2²⁵ scores keep ~200 MB per call for the backward
# pass (an fp32 softmax and its bf16 copy; a 24-layer model near the cap holds several GB more than with the
# fused kernel); ViT-B at batch 64 (224 px) has 30M, all-MiniLM-L6-v2 at batch 32 × 64 tokens 1.6M
MATH_ATTENTION_MAX_SCORES = 1 << 25


def keep_mask(shape: tuple[int, ...] | torch.Size, p: float, dtype: torch.dtype) -> torch.Tensor:
    """A CPU tensor of ``shape``: 0 with probability ~``p``, else the inverse of the exact keep probability."""
    n = math.prod(shape)
    dropped = round(p * _LEVELS)
    if dropped >= _LEVELS:  # p within 2⁻¹⁷ of 1: drop everything, as torch does at p = 1
        return torch.zeros(shape, dtype=dtype)
    # 64 uniform bits per word from torch's generator (from = int64 min, to = None: the full range; a plain
    # random_() leaves the top bit 0)
    words = torch.empty((n + 3) // 4, dtype=torch.int64).random_(-(2**63), None)
    draws = words.view(torch.int16)[:n].view(shape)  # 4 uniform 16-bit values per word, in [-32768, 32767]
    keep = draws >= dropped - _LEVELS // 2  # P(keep) = (2¹⁶ − dropped) / 2¹⁶
    return keep.to(dtype).mul_(_LEVELS / (_LEVELS - dropped))


def _argument(args: tuple, kwargs: dict, position: int, name: str, default: Any) -> Any:
    return kwargs[name] if name in kwargs else (args[position] if len(args) > position else default)


def dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    return x * keep_mask(x.shape, p, x.dtype)


def attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attn_mask: torch.Tensor | None,
    dropout_p: float,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> torch.Tensor:
    """``scaled_dot_product_attention`` as its math path computes it (a boolean mask: True attends; a float
    mask is added; a row with nothing to attend to gives zeros), with :func:`keep_mask` for the dropout."""
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    if enable_gqa and key.shape[-3] != query.shape[-3]:
        repeats = query.shape[-3] // key.shape[-3]
        key, value = key.repeat_interleave(repeats, dim=-3), value.repeat_interleave(repeats, dim=-3)
    scores = (query @ key.transpose(-2, -1)) * scale
    if is_causal:
        length, source = query.shape[-2], key.shape[-2]
        causal = torch.ones(length, source, dtype=torch.bool, device=query.device).tril()
        attn_mask = causal if attn_mask is None else causal & attn_mask
    empty_rows = None
    if attn_mask is not None and attn_mask.dtype == torch.bool:
        scores = scores.masked_fill(~attn_mask, float("-inf"))
        empty_rows = ~attn_mask.any(dim=-1, keepdim=True)
    elif attn_mask is not None:
        # a mask in a wider precision (an fp32 mask on bf16 scores) is added in its own, as torch's kernels read
        # it: cast to bf16, fp32's most negative finite value would become -inf and a fully masked row NaN
        if attn_mask.dtype.itemsize <= scores.dtype.itemsize:
            attn_mask = attn_mask.to(scores.dtype)
        scores = scores + attn_mask
        empty_rows = torch.isneginf(attn_mask).all(dim=-1, keepdim=True)
    if empty_rows is not None and bool(empty_rows.any()):
        # filled before the softmax too: a row of -inf would give NaN gradients through an additive mask
        weights = scores.masked_fill(empty_rows, 0.0).softmax(dim=-1).masked_fill(empty_rows, 0.0)
    else:
        weights = scores.softmax(dim=-1)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p)
    return weights.to(value.dtype) @ value


def _math_attention_pays(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> bool:
    """Whether an attention call without dropout goes through :func:`attention` (see the module doc)."""
    return (
        isinstance(key, torch.Tensor)
        and isinstance(value, torch.Tensor)
        and query.dtype == torch.bfloat16
        and not query.is_nested
        and torch.is_grad_enabled()
        and (query.requires_grad or key.requires_grad or value.requires_grad)
        and query.shape[:-1].numel() * key.shape[-2] <= MATH_ATTENTION_MAX_SCORES
    )


class FastCpuDropout(TorchFunctionMode):
    """While active, CPU dropout (and SDPA's attention dropout) draw :func:`keep_mask` masks; see the module."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.dropout:
            x, p = _argument(args, kwargs, 0, "input", None), _argument(args, kwargs, 1, "p", 0.5)
            training, inplace = (
                _argument(args, kwargs, 2, "training", True),
                _argument(args, kwargs, 3, "inplace", False),
            )
            if training and 0.0 < p < 1.0 and not inplace and x.device.type == "cpu":
                return dropout(x, p)
        elif func is F.scaled_dot_product_attention:
            query = _argument(args, kwargs, 0, "query", None)
            p = _argument(args, kwargs, 4, "dropout_p", 0.0)
            causal, mask = _argument(args, kwargs, 5, "is_causal", False), _argument(args, kwargs, 3, "attn_mask", None)
            key, value = _argument(args, kwargs, 1, "key", None), _argument(args, kwargs, 2, "value", None)
            # (a causal flag with a mask is torch's error to give)
            if (
                query.device.type == "cpu"
                and not (causal and mask is not None)
                and (0.0 < p < 1.0 or (p == 0.0 and _math_attention_pays(query, key, value)))
            ):
                return attention(
                    query,
                    key,
                    value,
                    mask,
                    p,
                    is_causal=causal,
                    scale=_argument(args, kwargs, 6, "scale", None),
                    enable_gqa=_argument(args, kwargs, 7, "enable_gqa", False),
                )
        return func(*args, **kwargs)
