"""``hf-transfer rank``: score candidate backbones for a task before training any of them.

Per backbone: one forward pass over (a sample of) the training split through the feature cache of
:mod:`hf_transfer.features`, built exactly as a ``strategy: frozen`` run builds it, then LogME on the
cached features (:mod:`hf_transfer.logme`). When the sample is the whole training split, a later
frozen run of that backbone finds these features in the cache and skips its own backbone pass.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from .config import load_recipe
from .errors import ConfigError, HfTransferError
from .strategies import FEATURE_EXTRACTION_STRATEGY

logger = logging.getLogger("hf_transfer")


@dataclass
class BackboneScore:
    """One line of the ranking."""

    backbone: str
    logme: float
    feature_dim: int
    parameters: int
    seconds: float
    examples: int
    cache_hit: bool
    pooling: str


def _frozen_recipe(recipe: Any, overrides: Any, backbone: str) -> Any:
    """The recipe as a frozen run of ``backbone`` (the strategy's own keys dropped: they do not change features)."""
    base = load_recipe(recipe, overrides)
    raw = base.to_dict() | {"_name": base.name}
    keep = ("head", "head_hidden_sizes", "head_activation", "head_dropout", "pooling")
    raw["strategy"] = {
        "name": FEATURE_EXTRACTION_STRATEGY,
        **{k: raw["strategy"][k] for k in keep if k in raw["strategy"]},
    }
    raw["backbone"] = {**raw["backbone"], "name_or_path": backbone}
    return load_recipe(raw)


def rank(
    recipe: Any,
    overrides: list[str] | dict | None = None,
    *,
    backbones: list[str],
    max_examples: int = 2000,
    dataset: Any = None,
    seed: int = 0,
) -> list[BackboneScore]:
    """LogME of each backbone's features on up to ``max_examples`` training examples; best first.

    Every recipe and backbone is checked before the first forward pass."""
    if not backbones:
        raise ConfigError(["rank needs candidate backbones: --backbones A,B,… (Hub ids, folders or pkg:// references)"])
    twice = [b for i, b in enumerate(backbones) if b in backbones[:i]]
    if twice:
        raise ConfigError([f"--backbones lists {', '.join(map(repr, dict.fromkeys(twice)))} more than once"])
    if max_examples < 2:
        raise ConfigError([f"--max-examples must be at least 2, found {max_examples}"])
    problems, recipes = [], {}
    for name in backbones:
        try:
            recipes[name] = _frozen_recipe(recipe, overrides, name)
        except ConfigError as e:
            problems += [p for p in e.problems if p not in problems]
    if problems:
        raise ConfigError(problems)
    from .backbone import resolve
    from .pipeline import load_data

    resolved = {}
    for name, r in recipes.items():
        try:
            resolved[name] = resolve(r.backbone.name_or_path, r.backbone.revision, r.backbone.trust_remote_code)
            r.task.options.check_backbone(resolved[name])
        except HfTransferError as e:
            problems.append(str(e))
    if problems:
        raise ConfigError(problems)
    first = recipes[backbones[0]]
    if first.data.streaming:
        raise ConfigError(["rank needs data it can index (the feature cache does); set data.streaming=false"])
    data = load_data(first, dataset)  # the same data for every backbone: the backbone does not change it
    if len(data.labels) < 2:
        raise HfTransferError(
            f"rank scores how well features separate the labels; expected at least 2 classes in "
            f"the training split, found {len(data.labels)} ({', '.join(data.labels)})"
        )
    scores = [_score(recipes[name], resolved[name], data, max_examples, seed) for name in backbones]
    return sorted(scores, key=lambda s: -s.logme)


def _score(recipe: Any, backbone: Any, data: Any, max_examples: int, seed: int) -> BackboneScore:
    import dataclasses

    import torch

    from .features import backbone_fingerprint, cached_split
    from .logme import logme
    from .model import build_model
    from .pipeline import _training_arguments
    from .probe import tensors

    start = time.perf_counter()
    task = recipe.task.options
    args, precision = _training_arguments(recipe, task)
    processor = task.load_processor(backbone)
    splits = task.preprocess(data, processor, backbone.config, augment_train=False)
    collate = task.collator(processor)
    train = splits["train"]
    if len(train) > max_examples:
        train = train.shuffle(seed=seed).select(range(max_examples))
    example = collate([train[0]])
    example.pop("labels", None)
    options = recipe.strategy
    bundle = build_model(task, backbone, data, options, example)
    fingerprint = backbone_fingerprint(backbone)
    flag = {"bf16": "bf16", "fp16": "fp16"}.get(precision["resolved"], "fp32")
    batch, workers = args.per_device_eval_batch_size, args.dataloader_num_workers

    def features(b: Any) -> Any:
        b.model.to(args.device)
        return cached_split(b, task, processor, fingerprint, "train", train, collate, batch, workers, 0, flag)

    cached = features(bundle)
    if cached is None:  # the native head reads more than one vector (e.g. DistilBERT's pre_classifier)
        bundle = build_model(task, backbone, data, dataclasses.replace(options, pooling="mean"), example)
        cached = features(bundle)
    if cached is None:
        raise HfTransferError(
            f"backbone '{backbone.reference}': no single feature vector per example could be read "
            "for its head; set strategy.pooling=mean or cls"
        )
    x, y = tensors(cached.dataset)  # per-token rows: one row per labelled token
    feats, labels = x.to(torch.float64).numpy(), y.numpy()
    score = logme(feats, labels)
    parameters = sum(p.numel() for _, p in bundle.backbone_parameters())
    seconds = time.perf_counter() - start
    logger.info("rank: %s LogME %.4f (%d × %d features, %.1fs)", backbone.reference, score, *feats.shape, seconds)
    return BackboneScore(
        backbone.reference,
        score,
        int(feats.shape[1]),
        int(parameters),
        round(seconds, 2),
        int(feats.shape[0]),
        cached.hit,
        bundle.pooling,
    )


def table(scores: list[BackboneScore]) -> str:
    """The ranking as a markdown table, best first."""
    lines = [
        "| # | backbone | LogME | feature dim | parameters | seconds | examples | pooling |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for i, s in enumerate(scores, 1):
        lines.append(
            f"| {i} | {s.backbone} | {s.logme:.4f} | {s.feature_dim} | {s.parameters:,} | {s.seconds:.1f} | "
            f"{s.examples}{' (cached)' if s.cache_hit else ''} | {s.pooling} |"
        )
    lines += [
        "",
        "LogME (You et al., 2021): the evidence of a Bayesian linear model on the frozen features, per "
        "example, averaged over one-vs-rest class targets; higher predicts better transfer.",
    ]
    return "\n".join(lines) + "\n"
