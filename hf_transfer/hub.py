"""Model cards (rendered from ``hub_cards/`` with huggingface_hub's ModelCard)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
# Installed wheels carry hub_cards inside the package; a source checkout has it next to it.
CARDS_DIR = next((p for p in (_HERE / "hub_cards", _HERE.parent / "hub_cards") if p.is_dir()), _HERE / "hub_cards")
SCALARS = ("accuracy", "macro_f1", "macro_precision", "macro_recall", "loss")


def _results_table(metrics: dict[str, float]) -> str:
    rows = ["| split | " + " | ".join(SCALARS) + " |", "|---" * (len(SCALARS) + 1) + "|"]
    for prefix, split in (("eval", "validation"), ("test", "test")):
        if f"{prefix}_accuracy" in metrics:
            cells = [f"{metrics[f'{prefix}_{m}']:.4f}" if f"{prefix}_{m}" in metrics else "" for m in SCALARS]
            rows.append(f"| {split} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def write_model_card(out: Path, recipe: Any, report: dict[str, Any], metrics: dict[str, float]) -> Path:
    from huggingface_hub import ModelCard, ModelCardData

    task = report["task"]
    backbone = recipe.backbone.name_or_path
    is_hub_id = "://" not in backbone and not Path(backbone).exists()
    data = recipe.data.options
    dataset_ids = [data.dataset] if getattr(data, "dataset", None) else None
    card_data = ModelCardData(
        library_name="transformers",
        base_model=backbone if is_hub_id else None,
        datasets=dataset_ids,
        metrics=["accuracy", "f1"],
        pipeline_tag=task,
        license=recipe.hub.license,
        tags=["hf-transfer", recipe.strategy.name, task],
    )
    strategy = report["strategy"]
    example_input = '"some text"' if task == "text-classification" else '"image.jpg"'
    usage = (
        "from transformers import pipeline\n\n"
        f'classifier = pipeline("{task}", model="{recipe.hub.repo_id or out.name}")\n'
        f"print(classifier({example_input}))"
    )
    card = ModelCard.from_template(
        card_data,
        template_path=str(CARDS_DIR / "model_card.md"),
        model_name=recipe.hub.repo_id or out.name,
        backbone=backbone,
        task=task,
        strategy=recipe.strategy.name,
        strategy_description=strategy["description"],
        trainable_params=f"{strategy['trainable_params']:,}",
        total_params=f"{strategy['total_params']:,}",
        trainable_percent=f"{strategy['trainable_percent']:.2f}%",
        labels=", ".join(f"`{name}`" for name in report["labels"]),
        results_table=_results_table(metrics),
        usage=usage,
        data_description=f"data source `{recipe.data.source}`; examples per split: "
        + ", ".join(f"{k} {v}" for k, v in report["data_sizes"].items())
        + "".join(f"; {n}" for n in report["data_notes"]),
        hyperparameters="\n".join(f"- {k}: {v}" for k, v in sorted(recipe.training.items())) or "- defaults",
        recipe=recipe.to_yaml().strip(),
        versions="\n".join(f"- {k} {v}" for k, v in report["versions"].items()),
    )
    path = out / "README.md"
    card.save(str(path))
    return path
