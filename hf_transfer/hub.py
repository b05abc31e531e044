"""Model cards, rendered from the files of an output folder alone.

``README.md`` comes from ``hub_cards/model_card.md`` with metadata built by huggingface_hub's
``ModelCardData`` (``model-index`` included, so the Hub shows the results); the confusion matrices
and training curves are PNG files drawn with Pillow next to it. Everything is read from
``recipe.yaml``, ``training_report.json``, ``metrics.json`` and ``config.json``, so the card written
at the end of training and ``hf-transfer card OUTPUT_DIR`` are the same.

The card follows the artifact *layout* it describes: ``model`` (a plain or hf_transfer-head model),
``adapter`` (a LoRA adapter), ``merged`` (a LoRA run's merged model) or ``both`` (the adapter, with the
merged model in ``merged/``). Pushing renders the card again for the layout and repo it pushes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .charts import bars_png, confusion_matrix_png, curves_png
from .class_weights import describe_weights
from .early_stopping import summary as early_stopping_summary
from .errors import OutputError
from .outputs import ADAPTER_CONFIG, CARD_FILE, CURVES_FILE, MERGED_DIR, METRICS_FILE, RECIPE_FILE, REPORT_FILE
from .registry import STRATEGIES
from .rundir import RUN_DIR
from .strategies import DEFAULT_STRATEGY
from .tasks import CardUsage

_HERE = Path(__file__).resolve().parent
# Installed wheels carry hub_cards inside the package; a source checkout has it next to it.
CARDS_DIR = next((p for p in (_HERE / "hub_cards", _HERE.parent / "hub_cards") if p.is_dir()), _HERE / "hub_cards")
LAYOUTS = ("model", "adapter", "merged", "both")
SPLITS = (("eval", "validation"), ("test", "test"))  # metric prefix, split
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


@dataclass
class RunFiles:
    """What an output folder says about its run."""

    out: Path
    recipe: dict[str, Any]
    recipe_text: str
    report: dict[str, Any]
    metrics: dict[str, float]

    def section(self, name: str) -> dict[str, Any]:
        value = self.recipe.get(name)
        return value if isinstance(value, dict) else {}

    @property
    def pipeline_tag(self) -> str:
        """What ``pipeline()`` loads the model as (a task's own name when the run predates the field)."""
        return self.report.get("pipeline_tag") or self.report.get("task") or self.section("task").get("name", "")

    @property
    def task(self) -> Any:
        """The registered task class the run was for (its card declarations), else the ``Task`` base's defaults."""
        from .registry import TASKS
        from .tasks import Task

        name = self.report.get("task") or self.section("task").get("name")
        return TASKS.get(name) if isinstance(name, str) and name in TASKS else Task

    def index_metrics(self) -> tuple:
        return self.task.card_index_metrics

    def model_type(self, folder: Path) -> str | None:
        try:
            return json.loads((folder / "config.json").read_text()).get("model_type")
        except (OSError, ValueError, AttributeError):
            return None


def not_an_output(out: Path, found: str) -> OutputError:
    return OutputError(
        f"'{out}' is not an hf_transfer output folder: expected {RECIPE_FILE} and {REPORT_FILE} (written by "
        f"`hf-transfer train`), found {found}; give the training.output_dir of a finished run"
    )


def read_run(out: str | Path) -> RunFiles:
    import yaml

    out = Path(out)
    if not out.is_dir():
        raise not_an_output(out, "a file, not a folder" if out.exists() else "no such folder")
    missing = [n for n in (RECIPE_FILE, REPORT_FILE) if not (out / n).is_file()]
    if missing:
        raise not_an_output(out, f"no {' and no '.join(missing)}")
    try:
        recipe_text = (out / RECIPE_FILE).read_text()
        recipe = yaml.safe_load(recipe_text) or {}
        report = json.loads((out / REPORT_FILE).read_text())
        metrics = json.loads((out / METRICS_FILE).read_text()) if (out / METRICS_FILE).is_file() else {}
    except (OSError, ValueError, yaml.YAMLError) as e:
        raise not_an_output(out, f"unreadable files ({type(e).__name__}: {e})") from None
    if not isinstance(recipe, dict) or not isinstance(report, dict) or "labels" not in report:
        raise not_an_output(out, "files of another format")
    return RunFiles(out, recipe, recipe_text.strip(), report, metrics if isinstance(metrics, dict) else {})


def local_layout(out: Path) -> str:
    """The layout of an output folder as it lies on disk."""
    if not (out / ADAPTER_CONFIG).is_file():
        return "model"
    return "both" if (out / MERGED_DIR / "config.json").is_file() else "adapter"


def is_hub_id(reference: str | None) -> bool:
    """A Hub model id (not a local path or pkg:// reference), as far as the text tells."""
    if not reference or "://" in reference or reference.startswith((".", "/", "~")):
        return False
    return bool(_HUB_ID.match(reference)) and not Path(reference).is_dir()


def render_card(
    out: str | Path, *, dest: str | Path | None = None, repo_id: str | None = None, layout: str | None = None
) -> Path:
    """Write ``README.md`` and its PNG files for the run in ``out`` into ``dest`` (default ``out``)."""
    from huggingface_hub import ModelCard

    run = read_run(out)
    dest = Path(dest) if dest is not None else run.out
    layout = layout or local_layout(run.out)
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, found {layout!r}")
    images = write_charts(run, dest)
    repo_id = repo_id or run.section("hub").get("repo_id")
    card = ModelCard.from_template(
        card_data(run, layout, repo_id),
        template_path=str(CARDS_DIR / "model_card.md"),
        **card_sections(run, layout, repo_id, images),
    )
    path = dest / CARD_FILE
    card.save(str(path))
    return path


def write_model_card(out: str | Path, *_unused: Any, repo_id: str | None = None) -> Path:
    """The card of a finished run, from the files in ``out`` (extra positional arguments are ignored)."""
    return render_card(out, repo_id=repo_id)


# ---------------------------------------------------------------- metadata


def base_model_license(backbone: dict[str, Any]) -> str | None:
    """The base model's license, if its card is on this machine (a local folder or the Hub cache)."""
    from huggingface_hub import ModelCard, try_to_load_from_cache

    reference = str(backbone.get("name_or_path") or "")
    card_path: Any = None
    if reference.startswith("pkg://"):
        from .backbone import _package_folder

        try:
            card_path = _package_folder(reference) / CARD_FILE
        except Exception:
            return None
    elif Path(reference).expanduser().is_dir():
        card_path = Path(reference).expanduser() / CARD_FILE
    elif is_hub_id(reference):
        try:
            card_path = try_to_load_from_cache(reference, CARD_FILE, revision=backbone.get("revision"))
        except Exception:
            return None
    if not isinstance(card_path, (str, Path)) or not Path(card_path).is_file():
        return None
    try:
        license_ = ModelCard.load(card_path, ignore_metadata_errors=True).data.get("license")
    except Exception:
        return None
    return license_ if isinstance(license_, str) else None


def _split_names(run: RunFiles) -> dict[str, str]:
    data = run.section("data")
    return {"eval": data.get("validation_split") or "validation", "test": data.get("test_split") or "test"}


def _adapter_tags(run: RunFiles) -> list[str]:
    """The adapter's kind as peft records it in ``adapter_config.json`` (``LORA`` → the tag ``lora``)."""
    try:
        peft_type = json.loads((run.out / ADAPTER_CONFIG).read_text()).get("peft_type")
    except (OSError, ValueError, AttributeError):
        return []
    return [str(peft_type).lower()] if peft_type else []


def card_data(run: RunFiles, layout: str, repo_id: str | None) -> Any:
    from huggingface_hub import EvalResult, ModelCardData

    backbone, data, hub = run.section("backbone"), run.section("data"), run.section("hub")
    task = run.pipeline_tag
    task_name = run.report.get("task") or run.section("task").get("name")
    strategy = run.report.get("strategy", {}).get("name") or run.section("strategy").get("name", DEFAULT_STRATEGY)
    reference = backbone.get("name_or_path") or run.report.get("backbone")
    base_model = backbone.get("hub_id") or (reference if is_hub_id(reference) else None)
    adapter = layout in ("adapter", "both")
    dataset = data.get("dataset") if data.get("source") == "hub" else None
    splits = _split_names(run)
    results = [
        EvalResult(
            task_type=task,
            dataset_type=dataset or "custom",
            dataset_name=dataset or f"custom {data.get('source', 'local')} data",
            dataset_config=data.get("config_name") if dataset else None,
            dataset_split=splits[prefix],
            dataset_revision=data.get("revision") if dataset else None,
            metric_type=metric_type,
            metric_name=name,
            metric_args=args,
            metric_value=round(float(run.metrics[key]), 4),
        )
        for prefix, _ in SPLITS
        for metric, metric_type, name, args in run.index_metrics()
        if (key := f"{prefix}_{metric}") in run.metrics
    ]
    extra = {"base_model_relation": "adapter" if adapter else "finetune"} if base_model else {}
    return ModelCardData(
        library_name="peft" if adapter else "transformers",
        base_model=base_model,
        datasets=[dataset] if dataset else None,
        metrics=list(dict.fromkeys(m[1] for m in run.index_metrics())),
        pipeline_tag=task,
        license=hub.get("license") or base_model_license(backbone),
        tags=["hf-transfer", strategy, task]
        + ([task_name] if task_name != task else [])
        + (_adapter_tags(run) if adapter else []),
        model_name=model_name(run, repo_id),
        eval_results=results or None,
        **extra,
    )


def model_name(run: RunFiles, repo_id: str | None) -> str:
    out = run.out.resolve()
    if out.parent.name == RUN_DIR:  # a run's card is written in OUT/.hf_transfer/staging, then moved into OUT
        out = out.parent.parent
    return (repo_id or "").rsplit("/", 1)[-1] or out.name


# ---------------------------------------------------------------- body


def card_sections(run: RunFiles, layout: str, repo_id: str | None, images: dict[str, str]) -> dict[str, Any]:
    report, backbone = run.report, run.section("backbone")
    strategy = report.get("strategy", {})
    labels = list(report.get("labels", []))
    task = report.get("task", "")
    reference = backbone.get("name_or_path") or report.get("backbone", "?")
    shown = f"[`{reference}`](https://huggingface.co/{reference})" if is_hub_id(reference) else f"`{reference}`"
    artifact = {
        "model": "the complete fine-tuned model (safetensors)",
        "adapter": "the LoRA adapter (peft, safetensors); it applies to the backbone above",
        "merged": "the LoRA adapters merged into the backbone: a plain model (safetensors)",
        "both": "the LoRA adapter (peft, safetensors), and in `merged/` the model with the adapters merged in",
    }[layout]
    summary = (
        f"A {task} model with {len(labels)} labels: the backbone {shown} adapted with "
        f"[hf_transfer](https://github.com/hf-transfer/hf_transfer) using the **{strategy.get('name', '?')}** strategy"
        f" ({strategy.get('description', '')}). {'This repository' if repo_id else 'This folder'} holds {artifact}."
    )
    return {
        "model_name": repo_id or model_name(run, None),
        "summary": summary,
        "details": details_rows(run, shown, artifact),
        "labels": labels_table(labels),
        "results": results_section(run, images),
        "curves": images.get("curves"),
        "usage": usage(run, layout, repo_id),
        "data_description": data_description(run),
        "hyperparameters": hyperparameters(run),
        "versions": "\n".join(
            f"- {k} {v}"
            for k, v in [("hf_transfer", report.get("hf_transfer_version", "?")), *report.get("versions", {}).items()]
        ),
        "recipe": run.recipe_text,
    }


def hyperparameters(run: RunFiles) -> str:
    """The recipe's training keys, then the values the strategy supplied where the recipe was silent."""
    lines = [f"- `{k}`: `{v}`" for k, v in sorted(run.section("training").items()) if k != "output_dir"]
    defaults = run.report.get("defaults") or {}
    if defaults:
        name = run.report.get("strategy", {}).get("name", "?")
        lines += ["", f"Strategy defaults (the recipe left these unset; the `{name}` strategy chose them):", ""]
        lines += [f"- `{k}`: `{d.get('value')}` — {d.get('reason', '')}" for k, d in sorted(defaults.items())]
    return "\n".join(lines) or "- the defaults of `transformers.TrainingArguments`"


def details_rows(run: RunFiles, shown_backbone: str, artifact: str) -> list[tuple[str, str]]:
    report, backbone = run.report, run.section("backbone")
    strategy = report.get("strategy", {})
    rows = [
        ("Backbone", shown_backbone + (f" (revision `{backbone['revision']}`)" if backbone.get("revision") else ""))
    ]
    rows.append(("Task", f"`{report.get('task', '?')}`"))
    rows.append(("Strategy", f"`{strategy.get('name', '?')}`: {strategy.get('description', '')}"))
    if "trainable_params" in strategy:
        rows.append(
            (
                "Trainable parameters",
                f"{strategy['trainable_params']:,} of {strategy['total_params']:,} "
                f"({strategy['trainable_percent']:.2f}%)",
            )
        )
    if strategy.get("pooling"):
        rows.append(("Pooling", f"`{strategy['pooling']}`"))
    if strategy.get("head"):
        modules = ", ".join(f"`{m}`" for m in strategy.get("head_modules", []))
        rows.append(("Head", f"{strategy['head']}" + (f" ({modules}, newly initialised)" if modules else "")))
    if strategy.get("name") in STRATEGIES:
        rows += STRATEGIES.get(strategy["name"]).card_rows(strategy)
    batch = report.get("global_batch_size")
    if isinstance(batch, dict):
        rows.append(
            (
                "Global batch size",
                f"{batch['global']} = {batch['per_device']} per device × {batch['processes']} "
                f"processes × {batch['accumulation_steps']} accumulation steps",
            )
        )
        if batch.get("engine"):
            n = batch["processes"]
            rows.append(("Distributed", batch["engine"] if n == 1 else f"{batch['engine']}, {n} processes"))
    precision = report.get("precision") or {}
    if precision.get("resolved"):
        rows.append(("Precision", f"{precision['resolved']} ({precision.get('reason', '')})"))
    augmentation = strategy.get("augmentation")
    if isinstance(augmentation, dict):
        from .tasks.augmentation import summary

        rows.append(("Augmentation", summary(augmentation)))
    cache = strategy.get("feature_cache")
    if isinstance(cache, dict):
        rows.append(
            (
                "Feature cache",
                f"the frozen backbone ran once per example; the head trained on cached features "
                f"({cache.get('preprocessing', '')})",
            )
        )
    solver = strategy.get("head_solver")
    if isinstance(solver, dict) and solver.get("solver") == "lbfgs":
        rows.append(("Head fit", _lbfgs_row(solver)))
    weights = report.get("class_weights")
    if isinstance(weights, dict):
        rows.append(("Class weights", _cell(describe_weights(weights))))
    stopped = report.get("early_stopping")
    if isinstance(stopped, dict):
        rows.append(("Early stopping", _cell(early_stopping_summary(stopped))))
    if backbone.get("trust_remote_code"):
        rows.append(("Remote code", "the backbone was loaded with `trust_remote_code: true`"))
    rows.append(("Files", artifact))
    return rows


def _lbfgs_row(solver: dict[str, Any]) -> str:
    """How the exact linear probe was fitted, in words a reader of the card can reproduce."""
    metric = next((k for k in solver if k.startswith("validation_")), "validation_accuracy")
    model = (
        "multinomial logistic regression"
        if metric == "validation_accuracy"
        else "one-vs-rest logistic regression (one sigmoid per label)"
    )
    text = (
        f"{model} fitted to convergence by full-batch L-BFGS on the cached training "
        f"features (`head_solver: lbfgs`); L2 strength {solver.get('l2', 0):.3g}"
    )
    sweep = solver.get("sweep") or []
    if solver.get(metric) is not None:
        name = metric.removeprefix("validation_").replace("_", " ").replace("f1", "F1")
        text += f", chosen from {len(sweep)} log-spaced strengths by validation {name} ({solver[metric]:.4f})"
    if solver.get("sklearn_C") is not None:
        text += f"; scikit-learn equivalent `C={solver['sklearn_C']:.3g}`"
    return text


def labels_table(labels: list[str]) -> str:
    if len(labels) > 40:
        return ", ".join(f"`{i}` {name}" for i, name in enumerate(labels))
    return "\n".join(["| id | label |", "|---|---|"] + [f"| {i} | {_cell(name)} |" for i, name in enumerate(labels)])


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|")


def results_section(run: RunFiles, images: dict[str, str]) -> str:
    sizes = run.report.get("data_sizes", {})
    scalars = run.task.card_scalars
    first = scalars[0][0]
    rows = ["| split | examples | " + " | ".join(name for _, name in scalars) + " |", "|---" * (len(scalars) + 2) + "|"]
    for prefix, split in SPLITS:
        if f"{prefix}_{first}" in run.metrics:
            cells = [
                "undefined"  # a metric with no value on this split (metrics.json holds null: e.g. a constant target)
                if f"{prefix}_{m}" in run.metrics and run.metrics[f"{prefix}_{m}"] is None
                else f"{run.metrics[f'{prefix}_{m}']:.4f}"
                if f"{prefix}_{m}" in run.metrics
                else ""
                for m, _ in scalars
            ]
            rows.append(f"| {split} | {sizes.get(split, '')} | " + " | ".join(cells) + " |")
    parts = ["\n".join(rows) if len(rows) > 2 else "No evaluation metrics were recorded."]
    for prefix, split in SPLITS:
        report = run.report.get("reports", {}).get(prefix, {})
        sections = run.task.card_report_sections(report, split, images) if report else None
        if sections is not None:  # the task renders its own report (per target, per entity type, …)
            parts += sections
            continue
        per_class = report.get("per_class")
        if not per_class:
            continue
        if "threshold" in next(iter(per_class.values())):
            parts.append(f"### Per-label results ({split})\n\n" + _per_label_table(per_class))
            if f"f1_{split}" in images:
                parts.append(f"![Per-label F1 ({split})]({images[f'f1_{split}']})")
            continue
        table = ["| label | precision | recall | F1 | support |", "|---|---|---|---|---|"]
        table += [
            f"| {_cell(name)} | {r['precision']:.4f} | {r['recall']:.4f} | {r['f1']:.4f} | {r['support']} |"
            for name, r in per_class.items()
        ]
        parts.append(f"### Per-class results ({split})\n\n" + "\n".join(table))
        if split in images:
            parts.append(f"![Confusion matrix ({split}): rows are true labels, columns predicted]({images[split]})")
    return "\n\n".join(parts)


def _per_label_table(per_class: dict[str, dict[str, Any]]) -> str:
    """Multi-label: each label's decision threshold, precision, recall, F1, average precision and support."""
    table = ["| label | threshold | precision | recall | F1 | AP | support |", "|---|---|---|---|---|---|---|"]
    for name, r in per_class.items():
        ap = "" if r.get("average_precision") is None else f"{r['average_precision']:.4f}"
        table.append(
            f"| {_cell(name)} | {r['threshold']:.3f} | {r['precision']:.4f} | {r['recall']:.4f} | {r['f1']:.4f} | "
            f"{ap} | {r['support']} |"
        )
    return "\n".join(table)


def data_description(run: RunFiles) -> str:
    data, report = run.section("data"), run.report
    source = data.get("source", "?")
    if source == "hub" and data.get("dataset"):
        where = f"the Hub dataset [`{data['dataset']}`](https://huggingface.co/datasets/{data['dataset']})"
        where += "".join(f", {k} `{data[k]}`" for k in ("config_name", "revision") if data.get(k))
    else:
        where = f"local data (data source `{source}`)"
    lines = [f"- Source: {where}"]
    sizes = report.get("data_sizes", {})
    if sizes:
        lines.append("- Examples per split: " + ", ".join(f"{k} {v}" for k, v in sizes.items()))
    columns = {k: v for k, v in (report.get("columns") or {}).items() if v}
    if columns:
        lines.append("- Columns: " + ", ".join(f"{k} = `{v}`" for k, v in columns.items()))
    lines += [f"- Note: {n}" for n in report.get("data_notes", [])]
    return "\n".join(lines)


# ---------------------------------------------------------------- how to use


def _task_and_ref(run: RunFiles, repo_id: str | None) -> tuple[str, str]:
    return run.pipeline_tag or _pipeline_tag_from_config(run), repo_id or str(
        run.section("training").get("output_dir") or run.out
    )


def _pipeline_tag_from_config(run: RunFiles) -> str:
    """For a run that records no task: the pipeline tag of the registered task whose Auto class loads its model."""
    from .tasks import task_class_for_architectures

    try:
        architectures = json.loads((run.out / "config.json").read_text()).get("architectures") or []
    except (OSError, ValueError, AttributeError):
        architectures = []
    task = task_class_for_architectures(architectures)
    return task.pipeline_tag if task is not None else ""


def _declared(pipeline_tag: str, name: str) -> Any:
    """What the registered task for ``pipeline_tag`` declares for the card's snippets (see hf_transfer.tasks)."""
    from .tasks import declared, task_class_for_pipeline_tag

    return declared(task_class_for_pipeline_tag(pipeline_tag), name)


def usage_code(run: RunFiles, layout: str, repo_id: str | None) -> list[str]:
    """Python lines that load the run's main artifact and classify an example (the card's first snippet;
    the CLI's end-of-training summary prints them too)."""
    task, ref = _task_and_ref(run, repo_id)
    call = call_arguments(run)
    if layout == "model":
        return _pipeline_snippet(task, ref, run.model_type(run.out), call=call)
    if layout == "merged":
        return _pipeline_snippet(task, ref, run.model_type(run.out / MERGED_DIR), call=call)
    return _adapter_snippet(run, task, ref, bool(repo_id))


def call_arguments(run: RunFiles) -> str:
    """The run's task's extra ``pipeline()`` keywords for the snippets (``Task.pipeline_call_arguments``)."""
    return getattr(run.task, "pipeline_call_arguments", "") or ""


def usage(run: RunFiles, layout: str, repo_id: str | None) -> str:
    text = _code(usage_code(run, layout, repo_id))
    task, ref = _task_and_ref(run, repo_id)
    notes = run.task.card_usage_notes(
        CardUsage(task, ref, run.section("task"), _registers(run.model_type(run.out)), _declared(task, "card_example"))
    )
    if notes:
        text += "\n\n" + notes
    if layout == "both":
        task, ref = _task_and_ref(run, repo_id)
        merged_type = run.model_type(run.out / MERGED_DIR)
        if repo_id:
            snippet = _pipeline_snippet(
                task,
                'f"{folder}/merged"',
                merged_type,
                quoted=False,
                setup=["from huggingface_hub import snapshot_download"],
                before=[f'folder = snapshot_download("{ref}", allow_patterns=["merged/*"])'],
                call=call_arguments(run),
            )
        else:
            snippet = _pipeline_snippet(task, f"{ref}/{MERGED_DIR}", merged_type, call=call_arguments(run))
        text += "\n\nThe merged model (adapters folded into the backbone) is in `merged/`:\n\n" + _code(snippet)
    return text


def _code(lines: list[str]) -> str:
    return "```python\n" + "\n".join(lines) + "\n```"


def _registers(model_type: str | None) -> list[str]:
    if model_type != "hf_transfer":
        return []
    return [
        'import hf_transfer.modeling  # noqa: F401  registers model_type "hf_transfer" (pip install hf-transfer-learning)'
    ]


def _pipeline_snippet(
    task: str,
    ref: str,
    model_type: str | None,
    *,
    quoted: bool = True,
    setup: list[str] = (),
    before: list[str] = (),
    call: str = "",
) -> list[str]:
    model = f'"{ref}"' if quoted else ref
    return [
        *_registers(model_type),
        *setup,
        "from transformers import pipeline",
        "",
        *before,
        f'classifier = pipeline("{task}", model={model}{call})',
        f"print(classifier({_declared(task, 'card_example')}))",
    ]


def _adapter_snippet(run: RunFiles, task: str, ref: str, is_repo: bool) -> list[str]:
    example = _declared(task, "card_example")
    call = call_arguments(run)
    processor = _declared(task, "processor_argument")
    processor_auto = _declared(task, "processor_auto_class")
    if run.model_type(run.out) == "hf_transfer":
        fetch = ["from huggingface_hub import snapshot_download"] if is_repo else []
        folder = f'snapshot_download("{ref}")' if is_repo else f'"{ref}"'
        return [
            *_registers("hf_transfer"),
            "from hf_transfer import load_model",
            *fetch,
            "from transformers import pipeline",
            "",
            f"folder = {folder}",
            "model = load_model(folder)  # the backbone with this adapter and head",
            f'classifier = pipeline("{task}", model=model, {processor}=folder{call})',
            f"print(classifier({example}))",
        ]
    auto = _declared(task, "peft_auto_class")
    if auto:
        return [
            f"from peft import {auto}",
            f"from transformers import AutoConfig, {processor_auto}, pipeline",
            "",
            f'config = AutoConfig.from_pretrained("{ref}")  # this run\'s labels',
            f'model = {auto}.from_pretrained("{ref}", id2label=config.id2label, label2id=config.label2id)',
            f'classifier = pipeline("{task}", model=model, {processor}={processor_auto}.from_pretrained("{ref}"){call})',
            f"print(classifier({example}))",
        ]
    # peft has no AutoPeftModel class for this task (e.g. image classification): the base model is built from
    # this run's config.
    adapter = json.loads((run.out / ADAPTER_CONFIG).read_text())
    base = adapter.get("base_model_name_or_path") or run.section("backbone").get("name_or_path")
    model_auto = _declared(task, "auto_class_name")
    return [
        "from peft import PeftModel",
        f"from transformers import AutoConfig, {processor_auto}, {model_auto}, pipeline",
        "",
        f'config = AutoConfig.from_pretrained("{ref}")  # this run\'s labels and head',
        f'base = {model_auto}.from_pretrained("{base}", config=config, ignore_mismatched_sizes=True)',
        f'model = PeftModel.from_pretrained(base, "{ref}")',
        f'classifier = pipeline("{task}", model=model, {processor}={processor_auto}.from_pretrained("{ref}"){call})',
        f"print(classifier({example}))",
    ]


# ---------------------------------------------------------------- charts (Pillow; no matplotlib needed)


def write_charts(run: RunFiles, dest: Path) -> dict[str, str]:
    """Confusion-matrix PNGs per evaluated split and the training curves; returns split/"curves" → file name."""
    dest.mkdir(parents=True, exist_ok=True)
    images: dict[str, str] = {}
    labels = list(run.report.get("labels", []))
    for prefix, split in SPLITS:
        if run.report.get("reports", {}).get(prefix):
            images.update(run.task.card_charts(run.report["reports"][prefix], split, dest))
        matrix = run.report.get("reports", {}).get(prefix, {}).get("confusion_matrix")
        if matrix and len(matrix) == len(labels):
            name = f"confusion_matrix_{split}.png"
            confusion_matrix_png(matrix, labels, f"Confusion matrix ({split})", dest / name)
            images[split] = name
        per_class = run.report.get("reports", {}).get(prefix, {}).get("per_class") or {}
        if per_class and "threshold" in next(iter(per_class.values())):  # multi-label: F1 per label
            name = f"per_label_f1_{split}.png"
            bars_png({k: r["f1"] for k, r in per_class.items()}, f"Per-label F1 ({split})", dest / name)
            images[f"f1_{split}"] = name
    if curves_png(run.report.get("log_history") or [], dest / CURVES_FILE):
        images["curves"] = CURVES_FILE
    return images
