"""``training.cpu_dropout: fast``: dropout masks from 16-bit slices of torch's generator, while a training step runs.

The mask keeps each value with the stated probability and rescales by exactly its inverse; under the function
mode, ``F.dropout`` (so ``nn.Dropout``) and ``scaled_dot_product_attention``'s dropout give what the same seed's
mask gives by hand, and the attention replica computes what torch computes for every mask kind; a training run
with the default never calls torch's ``bernoulli_``, is reproducible from its seed, and ``torch`` restores
torch's own masks. The same mode takes a bf16 attention that needs its gradient through the math path.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import hf_transfer
from helpers import text_recipe
from hf_transfer import dropout as fast
from hf_transfer.errors import ConfigError


@pytest.mark.parametrize("p", [0.1, 0.5, 0.02])
def test_the_mask_keeps_one_minus_p_and_is_unbiased(p):
    torch.manual_seed(0)
    mask = fast.keep_mask((400, 1000), p, torch.float32)
    dropped = round(p * 65536)
    scale = 65536 / (65536 - dropped)
    values = torch.unique(mask).tolist()
    assert len(values) == 2 and values[0] == 0.0 and values[1] == pytest.approx(scale, rel=1e-7)
    kept = float((mask > 0).float().mean())
    sigma = math.sqrt(p * (1 - p) / mask.numel())
    assert abs(kept - (1 - dropped / 65536)) < 5 * sigma
    assert abs(dropped / 65536 - p) <= 2**-17
    # every 16-bit slice of the 64-bit words is uniform: the four positions of a word drop alike
    by_slice = (mask.reshape(-1, 4) == 0).float().mean(0)
    assert torch.all((by_slice - p).abs() < 5 * math.sqrt(p * (1 - p) / (mask.numel() / 4)))
    assert float(mask.mean()) == pytest.approx(1.0, abs=6 * sigma * scale)


def test_p_within_reach_of_one_drops_everything():
    assert torch.equal(fast.keep_mask((3, 4), 0.999995, torch.float32), torch.zeros(3, 4))


def test_a_float_mask_in_another_precision_works_as_in_torch(monkeypatch):
    q, k, v, _, additive = _inputs(3)
    q, k, v = q.bfloat16(), k.bfloat16(), v.bfloat16()
    additive[1, 0, 3] = 0.0
    want = F.scaled_dot_product_attention(q, k, v, attn_mask=additive)
    monkeypatch.setattr(fast, "dropout", lambda x, p: x)
    got = fast.attention(q, k, v, additive, 0.1)
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), want.float(), atol=2e-2, rtol=2e-2)


def test_masks_follow_the_seed_and_differ_between_calls():
    torch.manual_seed(7)
    first, second = fast.keep_mask((64, 33), 0.1, torch.float32), fast.keep_mask((64, 33), 0.1, torch.float32)
    torch.manual_seed(7)
    assert torch.equal(fast.keep_mask((64, 33), 0.1, torch.float32), first)
    assert not torch.equal(first, second)
    assert fast.keep_mask((3, 5), 0.1, torch.bfloat16).dtype == torch.bfloat16


def test_dropout_under_the_mode_is_the_seeded_mask_and_its_gradient():
    layer = torch.nn.Dropout(0.25)
    x = torch.randn(6, 7, requires_grad=True)
    torch.manual_seed(3)
    with fast.FastCpuDropout():
        y = layer(x)
    torch.manual_seed(3)
    mask = fast.keep_mask(x.shape, 0.25, x.dtype)
    assert torch.equal(y, x * mask)
    y.sum().backward()
    assert torch.equal(x.grad, mask)
    layer.eval()  # evaluation: untouched
    with fast.FastCpuDropout():
        assert torch.equal(layer(x), x)
        inplace = x.detach().clone()
        torch.manual_seed(3)
        F.dropout(inplace, 0.25, training=True, inplace=True)  # torch's own in-place dropout
    torch.manual_seed(3)
    assert torch.equal(inplace, F.dropout(x.detach(), 0.25, training=True))


def _inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(2, 4, 7, 8, generator=g) for _ in range(3))
    boolean = torch.rand(2, 1, 7, 7, generator=g) > 0.3
    boolean[0, 0, 2] = False  # a query with nothing to attend to: zeros, as torch gives
    additive = torch.randn(2, 1, 7, 7, generator=g)
    additive[1, 0, 3] = float("-inf")  # the same with an additive mask
    return q, k, v, boolean, additive


@pytest.mark.parametrize("kind", ["none", "bool", "float", "causal", "causal+bool", "gqa", "scale"])
def test_the_attention_replica_computes_what_torch_computes(kind, monkeypatch):
    q, k, v, boolean, additive = _inputs()
    mask = {"bool": boolean, "float": additive, "causal+bool": boolean}.get(kind)
    kwargs = {"is_causal": kind.startswith("causal"), "scale": 0.3 if kind == "scale" else None}
    if kind == "gqa":
        k, v = k[:, :2], v[:, :2]
        kwargs["enable_gqa"] = True
    torch_mask = mask
    if kind == "causal+bool":  # torch takes a causal flag or a mask, not both: the same thing as one mask
        torch_mask, kwargs["is_causal"] = torch.ones(7, 7, dtype=torch.bool).tril() & mask, False
    want = F.scaled_dot_product_attention(q, k, v, attn_mask=torch_mask, **kwargs)
    monkeypatch.setattr(fast, "dropout", lambda x, p: x)  # the replica without its dropout
    got = fast.attention(
        q,
        k,
        v,
        mask,
        0.1,
        is_causal=kind.startswith("causal"),
        **{key: value for key, value in kwargs.items() if key != "is_causal"},
    )
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("kind", ["bool", "float"])
def test_the_replicas_gradients_equal_torchs_even_for_a_query_with_nothing_to_attend_to(kind):
    q, k, v, boolean, additive = _inputs()
    mask = boolean if kind == "bool" else additive  # each has a row with nothing to attend to
    ours, theirs = ([x.clone().requires_grad_() for x in (q, k, v)] for _ in range(2))
    fast.attention(*ours, mask, 0.0).square().sum().backward()
    F.scaled_dot_product_attention(*theirs, attn_mask=mask).square().sum().backward()
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a.grad, b.grad, atol=1e-5, rtol=1e-4)


def test_attention_keyword_arguments_and_torchs_own_errors_pass_through():
    q, k, v, boolean, _ = _inputs(2)
    x = torch.randn(5, 6)
    torch.manual_seed(4)
    with fast.FastCpuDropout():
        by_keyword = F.scaled_dot_product_attention(query=q, key=k, value=v, attn_mask=boolean, dropout_p=0.3)
        dropped = F.dropout(input=x, p=0.3, training=True)
        with pytest.raises(RuntimeError):  # torch refuses a causal flag with a mask: so does the mode
            F.scaled_dot_product_attention(q, k, v, attn_mask=boolean, dropout_p=0.3, is_causal=True)
    torch.manual_seed(4)
    with fast.FastCpuDropout():
        assert torch.equal(F.scaled_dot_product_attention(q, k, v, boolean, 0.3), by_keyword)
        assert torch.equal(F.dropout(x, 0.3, True), dropped)
    assert (dropped == 0).any() and ((dropped == 0) | torch.isclose(dropped, x / 0.7, rtol=1e-4)).all()


def test_attention_dropout_under_the_mode_is_the_seeded_mask():
    q, k, v, boolean, _ = _inputs(1)
    torch.manual_seed(5)
    with fast.FastCpuDropout():
        got = F.scaled_dot_product_attention(q, k, v, attn_mask=boolean, dropout_p=0.2)
        untouched = F.scaled_dot_product_attention(q, k, v, attn_mask=boolean)  # no dropout: torch's own
    torch.manual_seed(5)
    weights = (q @ k.transpose(-2, -1) / math.sqrt(8)).masked_fill(~boolean, float("-inf")).softmax(-1)
    weights = weights.nan_to_num(0.0) * fast.keep_mask(weights.shape, 0.2, weights.dtype)
    torch.testing.assert_close(got, weights @ v, atol=1e-6, rtol=1e-5)
    assert torch.equal(untouched, F.scaled_dot_product_attention(q, k, v, attn_mask=boolean))


def test_a_bf16_attention_that_needs_its_gradient_takes_the_math_path(monkeypatch):
    """No dropout, bf16, gradient needed: the math path (torch's fused CPU kernel is 2-7x slower backward there),
    with torch's result and gradients to bf16 precision; anything else is torch's own call, bit for bit."""
    q, k, v, boolean, additive = _inputs(3)
    routed = []
    replica = fast.attention
    monkeypatch.setattr(fast, "attention", lambda *a, **kw: routed.append(a[4]) or replica(*a, **kw))

    def run(dtype, mask, grad=True, **kwargs):
        leaves = [x.detach().clone().to(dtype).requires_grad_(grad) for x in (q, k, v)]
        with fast.FastCpuDropout():
            out = F.scaled_dot_product_attention(*leaves, attn_mask=mask, **kwargs)
        if grad:
            out.float().square().sum().backward()
        return out, [x.grad for x in leaves]

    for mask in (boolean, additive.bfloat16(), None):
        got, got_grads = run(torch.bfloat16, mask)
        assert routed.pop() == 0.0 and not routed
        leaves = [x.bfloat16().requires_grad_() for x in (q, k, v)]
        want = F.scaled_dot_product_attention(*leaves, attn_mask=mask)
        want.float().square().sum().backward()
        torch.testing.assert_close(got, want, atol=2e-2, rtol=2e-2)
        for g, w in zip(got_grads, [x.grad for x in leaves]):
            torch.testing.assert_close(g, w, atol=5e-2, rtol=5e-2)
    got, _ = run(torch.bfloat16, boolean, is_causal=False, scale=0.3)
    assert routed.pop() == 0.0
    # fp32 (the fused kernel is as fast), no gradient (evaluation), more scores than the cap: torch's own kernel
    for dtype, grad in ((torch.float32, True), (torch.bfloat16, False)):
        got, _ = run(dtype, boolean, grad=grad)
        assert not routed
        want = F.scaled_dot_product_attention(q.to(dtype), k.to(dtype), v.to(dtype), attn_mask=boolean)
        assert torch.equal(got.detach(), want)
    monkeypatch.setattr(fast, "MATH_ATTENTION_MAX_SCORES", 2 * 4 * 7 * 7 - 1)
    run(torch.bfloat16, boolean)
    assert not routed
    monkeypatch.setattr(fast, "MATH_ATTENTION_MAX_SCORES", 2 * 4 * 7 * 7)
    run(torch.bfloat16, boolean)
    assert routed == [0.0]


def test_routing_when_only_keys_and_values_need_a_gradient_and_not_for_fp16(monkeypatch):
    q, k, v, boolean, _ = _inputs(6)
    routed = []
    replica = fast.attention
    monkeypatch.setattr(fast, "attention", lambda *a, **kw: routed.append(a[0].dtype) or replica(*a, **kw))
    with fast.FastCpuDropout():
        F.scaled_dot_product_attention(q.bfloat16(), k.bfloat16().requires_grad_(), v.bfloat16(), attn_mask=boolean)
        F.scaled_dot_product_attention(q.half().requires_grad_(), k.half(), v.half(), attn_mask=boolean)
    assert routed == [torch.bfloat16]


def test_an_fp32_mask_with_its_most_negative_value_stays_finite_on_bf16_inputs():
    """HF's older additive masks fill with finfo(float32).min: cast to bf16 that is -inf, and a fully masked row
    would be NaN. Added in fp32, as torch's kernels read it, the row stays finite (uniform weights), as in torch."""
    q, k, v, _, _ = _inputs(7)
    mask = torch.zeros(2, 1, 7, 7)
    mask[..., 5:] = torch.finfo(torch.float32).min  # the last two keys are padding
    mask[1, 0, 2] = torch.finfo(torch.float32).min  # a query with nothing to attend to
    leaves = [x.bfloat16().requires_grad_() for x in (q, k, v)]
    got = fast.attention(*leaves, mask, 0.0)
    got.float().square().sum().backward()
    assert torch.isfinite(got).all() and all(torch.isfinite(x.grad).all() for x in leaves)
    want = F.scaled_dot_product_attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), attn_mask=mask)
    torch.testing.assert_close(got.float(), want.float(), atol=2e-2, rtol=2e-2)


def test_autocast_bf16_attention_in_a_layer_takes_the_math_path(monkeypatch):
    """As in a model under ``precision: auto``: fp32 weights, autocast makes q, k, v bf16."""
    routed = []
    replica = fast.attention
    monkeypatch.setattr(fast, "attention", lambda *a, **kw: routed.append(a[0].dtype) or replica(*a, **kw))
    layer = torch.nn.Linear(8, 24)
    x = torch.randn(2, 7, 8)
    with fast.FastCpuDropout(), torch.autocast("cpu", dtype=torch.bfloat16):
        q, k, v = layer(x).view(2, 7, 3, 1, 8).unbind(2)
        out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
    out.float().sum().backward()
    assert routed == [torch.bfloat16] and layer.weight.grad is not None


def _bernoulli_calls(recipe) -> int:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        hf_transfer.train(recipe)
    return sum(e.count for e in prof.key_averages() if e.key == "aten::bernoulli_")


def _weights(out):
    from safetensors.torch import load_file

    return load_file(str(out / "model.safetensors"))


def test_training_draws_fast_masks_by_default_and_torch_ones_on_request(backbones, text_files, tmp_path):
    runs = {}
    for name, choice in (("fast", None), ("again", None), ("torch", "torch")):
        recipe = text_recipe(backbones["bert"], text_files, tmp_path / name)
        recipe["training"].update(max_steps=2, precision="fp32")
        if choice:
            recipe["training"]["cpu_dropout"] = choice
        calls = _bernoulli_calls(recipe)
        runs[name] = calls, _weights(tmp_path / name)
    assert runs["fast"][0] == 0 and runs["torch"][0] > 0  # the tiny BERT's dropout is 0.1 everywhere
    fast_weights, again, torchs = runs["fast"][1], runs["again"][1], runs["torch"][1]
    assert all(torch.equal(fast_weights[n], again[n]) for n in fast_weights)  # reproducible from the seed
    assert any(not torch.equal(fast_weights[n], torchs[n]) for n in fast_weights)  # other masks, other weights


def test_a_wrong_choice_is_named(backbones, text_files, tmp_path):
    recipe = text_recipe(backbones["bert"], text_files, tmp_path / "out")
    recipe["training"]["cpu_dropout"] = "fastest"
    with pytest.raises(ConfigError) as err:
        hf_transfer.load_recipe(recipe)
    assert "'training.cpu_dropout' must be one of fast, torch" in str(err.value)
    assert not (tmp_path / "out").exists()


def test_activation_checkpointing_keeps_torchs_masks(backbones, text_files, tmp_path):
    """Checkpointing recomputes the forward pass outside the step's function mode: the recomputed attention must
    save what the first pass saved (bf16 autocast makes the math path's tensors differ), so those runs keep
    torch's own dropout."""
    recipe = text_recipe(backbones["bert"], text_files, tmp_path / "out")
    recipe["training"].update(max_steps=2, precision="bf16", gradient_checkpointing=True)
    assert _bernoulli_calls(recipe) > 0
    assert (tmp_path / "out" / "model.safetensors").is_file()
