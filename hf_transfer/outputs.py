"""The names of what a run writes into its output folder, in one place.

The conductor writes them (artifacts.py), the run manifest guards them (rundir.py), the card and the push read
them back (hub.py, push.py), loading finds adapters and merged models by them. Importing nothing, this module
is safe for all of them.
"""

from __future__ import annotations

RECIPE_FILE = "recipe.yaml"  # the fully resolved recipe
REPORT_FILE = "training_report.json"  # labels, per-class scores, data sizes, strategy, log history
METRICS_FILE = "metrics.json"  # the final scalar metrics
CARD_FILE = "README.md"  # the model card
CURVES_FILE = "training_curves.png"  # the card's loss and metric curves (written when pushing)
ADAPTER_CONFIG = "adapter_config.json"  # a LoRA run's adapter, next to adapter_model.safetensors
MERGED_DIR = "merged"  # a LoRA run's adapters merged into the backbone (hub.artifacts merged/both)
# A tokenizer's or image processor's files, as save_pretrained writes them next to a model
PROCESSOR_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "preprocessor_config.json",
    "spiece.model",
    "sentencepiece.bpe.model",
    "added_tokens.json",
)


def strict_json(value):
    """``value`` with every NaN or infinite float as None: JSON has no NaN, and ``json.dumps`` would write the
    bare ``NaN`` that other readers (JavaScript's ``JSON.parse``, ``jq``) refuse. An undefined metric (Pearson
    correlation of a constant target) is null in the files."""
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    return value
