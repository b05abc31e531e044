"""``hf-transfer`` / ``python -m hf_transfer`` / ``accelerate launch -m hf_transfer``.

Nothing heavy is imported until a command needs it: ``--help``, ``recipes`` and
recipe validation stay fast.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from .errors import HfTransferError, RunInterrupted


def _rank() -> int:
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")) or 0)


def _say(text: str = "") -> None:
    if _rank() == 0:
        print(text, flush=True)


def _not_printed_yet(record: logging.LogRecord) -> bool:
    """Whether no logger below the root printed ``record`` already: transformers, datasets and
    huggingface_hub each print through their own handler and also propagate to the root (datasets and
    huggingface_hub always, transformers where ``CI=true`` is set); the root handler must not print such
    a record twice."""
    logger = logging.Logger.manager.loggerDict.get(record.name)  # no lookup that creates loggers or locks
    while isinstance(logger, logging.Logger) and logger is not logging.root:
        # NullHandlers (urllib3, requests, py.warnings) and handlers set above the record's level print nothing.
        if any(not isinstance(h, logging.NullHandler) and record.levelno >= h.level for h in logger.handlers):
            return False
        if not logger.propagate:
            return True
        logger = logger.parent
    return True


def _setup_logging() -> None:
    level = logging.INFO if _rank() == 0 else logging.WARNING
    if not logging.root.handlers:  # as logging.basicConfig: an application's own set-up wins
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S"))
        handler.addFilter(_not_printed_yet)
        logging.root.addHandler(handler)
        logging.root.setLevel(level)
    logging.getLogger("hf_transfer").setLevel(level)


def cmd_recipes(args: argparse.Namespace) -> int:
    from .config import SHIPPED_RECIPES, list_recipes, read_yaml
    from .strategies import DEFAULT_STRATEGY

    for path in list_recipes():
        raw = read_yaml(path)
        backbone = (raw.get("backbone") or {}).get("name_or_path", "?")
        task = (raw.get("task") or {}).get("name", "?")
        strategy = (raw.get("strategy") or {}).get("name", DEFAULT_STRATEGY)
        name = str(path.relative_to(SHIPPED_RECIPES).with_suffix(""))
        print(f"{name:28s} {task:22s} {strategy:8s} {backbone}")
    return 0


def _summary(result) -> None:
    from .pipeline import TrainResult

    assert isinstance(result, TrainResult)
    out = result.output_dir
    _say("")
    _say("== hf-transfer: done ==")
    shown = ("eval_accuracy", "eval_micro_f1", "eval_macro_f1", "test_accuracy", "test_micro_f1", "test_macro_f1")
    for key in (*shown, "train_runtime"):
        if key in result.metrics:
            _say(f"  {key:16s} {result.metrics[key]:.4f}")
    if result.strategy is not None:
        _say(f"  {result.strategy.summary()}")
    if result.class_weights is not None:
        from .class_weights import describe_weights

        _say(f"  class weights    {describe_weights(result.class_weights)}")
    if result.early_stopping is not None:
        from .early_stopping import summary

        _say(f"  {summary(result.early_stopping)}")
    for warning in getattr(result, "warnings", []):
        _say(f"  warning: {warning}")
    _say(f"  output folder    {out.resolve()}")
    if result.hub_url:
        _say(f"  pushed to        {result.hub_url}")
    from .hub import local_layout, read_run, usage_code

    # The model card's "How to use" code: it knows hf_transfer heads and LoRA adapters.
    _say("  load it with:")
    for line in usage_code(read_run(out), local_layout(out), None):
        _say(f"    {line}" if line else "")


def _dry_run_summary(result) -> None:
    _say("# resolved recipe")
    _say(result.recipe.to_yaml().rstrip())
    _say("")
    _say("# data")
    _say(f"  splits: {', '.join(f'{k} {v}' for k, v in result.data_sizes.items())}")
    _say(f"  labels ({len(result.labels)}): {', '.join(result.labels)}")
    if result.class_weights is not None:
        from .class_weights import describe_weights

        _say(f"  class weights: {describe_weights(result.class_weights)}")
    for note in result.notes:
        _say(f"  note: {note}")
    if result.augmentation is not None:
        from .tasks.augmentation import summary

        _say(f"  augmentation: {summary(result.augmentation)}")
    if result.training_defaults:
        _say("# training values the recipe leaves to defaults")
        for key, default in result.training_defaults.items():
            _say(f"  training.{key} = {default['value']}: {default['reason']}")
    for warning in result.warnings:
        _say(f"  warning: {warning}")
    _say("")
    _say("# output folder: a real run would")
    for line in result.output_plan:
        _say(f"  {line}")
    _say("dry run: recipe, data and output folder are valid; nothing was trained or written")


def cmd_train(args: argparse.Namespace) -> int:
    from .config import load_recipe

    load_recipe(args.recipe, args.overrides)  # validate before importing torch
    from .pipeline import train

    result = train(
        args.recipe, overrides=args.overrides, overwrite=args.overwrite, resume=args.resume, dry_run=args.dry_run
    )
    (_dry_run_summary if args.dry_run else _summary)(result)
    return 0


def _split_list(text: str | None) -> list[str] | None:
    return [v.strip() for v in text.split(",") if v.strip()] if text is not None else None


def cmd_compare(args: argparse.Namespace) -> int:
    from .comparison import compare, parse_grid

    board = compare(
        args.recipe,
        args.overrides,
        strategies=_split_list(args.strategies),
        backbones=_split_list(args.backbones),
        grid=parse_grid(args.grid),
        output_dir=args.output_dir,
        metric=args.metric,
        dry_run=args.dry_run,
    )
    if args.dry_run:
        _say(f"# comparison plan: {len(board.rows)} cells under {board.folder}")
        for row in board.rows:
            what = {"finished": "finished: read back", "resume": "interrupted: resumed"}.get(row.state, "trained")
            _say(f"  {row.cell:48s} {what}")
        _say("dry run: every cell's recipe and backbone are valid; nothing was trained")
        return 0
    from .leaderboard import markdown

    _say("")
    _say(markdown(board).rstrip())
    _say("")
    _say(f"leaderboard: {', '.join(str(p) for p in board.files)}")
    return 0


def cmd_rank(args: argparse.Namespace) -> int:
    from .ranking import rank, table

    result = rank(
        args.recipe, args.overrides, backbones=_split_list(args.backbones) or [], max_examples=args.max_examples
    )
    _say(table(result).rstrip())
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from .loading import check_merge_folders

    adapter, out = Path(args.adapter_dir), Path(args.out_dir)
    check_merge_folders(adapter, out, args.overwrite)  # before torch is imported
    from .loading import merge_adapter

    merge_adapter(adapter, out, overwrite=args.overwrite)
    _say(f"merged model written to {out.resolve()}")
    _say(f'  load it with: from transformers import pipeline; clf = pipeline(model="{out}")')
    return 0


def cmd_card(args: argparse.Namespace) -> int:
    from .hub import render_card

    path = render_card(args.output_dir, repo_id=args.repo_id)
    _say(f"model card written to {path} (with its PNG files next to it)")
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from .push import push_output

    url = push_output(
        args.output_dir,
        repo_id=args.repo_id,
        private=args.private,
        revision=args.revision,
        create_pr=args.create_pr,
        commit_message=args.commit_message,
        artifacts=args.artifacts,
    )
    _say(f"pushed {args.output_dir} to {url}")
    return 0


def cmd_cache(args: argparse.Namespace) -> int:
    from .feature_store import not_entries
    from .features import cache_dir, list_entries, remove_entries

    others = not_entries()
    if args.action == "ls":
        items = list_entries(verify=True)  # reads every data file: a damaged entry shows here, not mid-run
        entries = [e for e in items if e["kind"] == "entry"]
        leftovers = len(items) - len(entries)
        unfinished = f", {leftovers} left by unfinished builds" if leftovers else ""
        _say(f"feature cache: {cache_dir()} ({len(entries)} entries{unfinished})")
        for e in items:
            mib = f"{e['bytes'] / 2**20:8.1f} MiB"
            if e["kind"] == "leftover":
                _say(f"  {e['key']}  incomplete ({e['status']})  {mib}")
                continue
            # meta.json is read as written: a hand-edited or damaged one may hold any types
            parts = e.get("parts") if isinstance(e.get("parts"), dict) else {}
            backbone = parts.get("backbone") if isinstance(parts.get("backbone"), dict) else {}
            rows, dim = e.get("rows"), e.get("feature_dim")
            rows = f"{rows:>8,}" if isinstance(rows, int) else f"{'?':>8}"
            dim = dim if isinstance(dim, int) else "?"
            _say(
                f"  {e['key']}  {str(parts.get('split', '?')):10s} {rows} x {dim!s:<5} {mib}  "
                f"{e.get('created', '?')}  {backbone.get('reference', '?')}"
            )
            if e["damage"]:
                _say(
                    f"    DAMAGED: {e['damage']} (recomputed when next used; `hf-transfer cache rm {e['key']}` removes it)"
                )
        _say_not_entries(others)
        return 0
    if not args.keys and not args.all:
        raise HfTransferError("hf-transfer cache rm needs entry keys (see `hf-transfer cache ls`) or --all")
    items = {e["key"]: e for e in list_entries()}
    foreign = {o["name"]: o["why"] for o in others}
    named = [f"{k} ({foreign[k]})" for k in args.keys if k in foreign]
    if named:
        raise HfTransferError(
            f"not a cache entry, left alone: {'; '.join(named)}; hf-transfer removes only what its feature cache "
            f"wrote in {cache_dir()} (`hf-transfer cache ls` lists it)"
        )
    unknown = [k for k in args.keys if k not in items]
    if unknown:
        raise HfTransferError(f"no cache entry {', '.join(unknown)}; `hf-transfer cache ls` lists the entries")
    for e in items.values():
        if e.get("build") == "running" and (args.all or e["key"] in args.keys):
            _say(f"kept {e['key']}: in use ({e['status']})")
    removed = remove_entries(None if args.all else args.keys)
    leftovers = sum(items.get(k, {}).get("kind") == "leftover" for k in removed)
    entries = len(removed) - leftovers
    _say(
        f"removed {entries} cache entr{'y' if entries == 1 else 'ies'}"
        + (f" and {leftovers} left by unfinished builds" if leftovers else "")
    )
    if args.all:
        _say_not_entries(others)
    return 0


def _say_not_entries(others: list[dict[str, str]]) -> None:
    if others:
        _say(f"{len(others)} not cache entries, left alone:")
        for o in others:
            _say(f"  {o['name']}  ({o['why']})")


def cmd_predict(args: argparse.Namespace) -> int:
    from .inference import predict

    top_k = None if args.top_k == "all" else "auto" if args.top_k == "auto" else int(args.top_k)
    summary = predict(
        args.model,
        args.input,
        args.output,
        text_column=args.text_column,
        image_column=args.image_column,
        top_k=top_k,
        keep_columns=_split_list(args.keep_columns),
        batch_size=args.batch_size,
        on_error=args.on_error,
        precision=args.precision,
        overwrite=args.overwrite,
        num_workers=args.workers,
        progress=not args.quiet,
    )
    where = summary.output or "standard output"
    skipped = (
        f", {summary.errors} row{'s' if summary.errors != 1 else ''} with an error field (unreadable input)"
        if summary.errors
        else ""
    )
    skipped += "".join(f", {n} {name}" for name, n in summary.counts.items() if n)
    tokens = "" if summary.real_token_fraction is None else f", {summary.real_token_fraction:.0%} real tokens"
    precision = summary.precision + (f" ({summary.precision_note})" if summary.precision_note else "")
    print(
        f"hf-transfer: predicted {summary.rows} rows{skipped} in {summary.seconds:.1f}s "
        f"({summary.rows_per_second:.1f} rows/s, {summary.device}, {precision}{tokens}) → {where}",
        file=sys.stderr,
    )
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .inference.evaluation import evaluate, summary

    result = evaluate(
        args.model,
        args.data,
        split=args.split,
        label_column=(args.label_column[0] if len(args.label_column) == 1 else args.label_column)
        if args.label_column
        else None,
        label_separator=args.label_separator,
        text_column=args.text_column,
        image_column=args.image_column,
        output_dir=args.output_dir,
        against=args.against,
        batch_size=args.batch_size,
        precision=args.precision,
        num_workers=args.workers,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    _say(summary(result))
    _say("")
    _say(f"written to {result.folder}: {', '.join(p.name for p in result.files)}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .onnx_export import export

    result = export(
        args.model,
        args.output_dir,
        format=args.format,
        quantize=args.quantize,
        opset=args.opset,
        overwrite=args.overwrite,
        max_examples=args.max_examples,
        tolerance=args.tolerance,
    )
    _say(f"== hf-transfer export: {result.task}, opset {result.opset}, inputs {', '.join(result.inputs)} ==")
    _say(f"  checked on {result.examples} examples ({result.examples_source})")
    _say(
        f"  fp32: max |logit difference| vs PyTorch {result.max_abs_diff:.2e}, labels agree on "
        f"{result.label_agreement:.1%}"
    )
    if result.int8 is not None:
        change = result.int8.get("accuracy_change")
        acc = f", accuracy change {change:+.1%}" if change is not None else ""
        _say(
            f"  int8: labels agree with PyTorch on {result.int8['label_agreement']:.1%}{acc} "
            f"(max |logit difference| {result.int8['max_abs_diff']:.2e})"
        )
    _say(f"  written to       {result.folder.resolve()}")
    _say(f"  run it with:     hf-transfer predict {result.folder} INPUT")
    return 0


def _top_k(text: str) -> str:
    if text not in ("all", "auto") and not (text.isdigit() and int(text) >= 1):
        raise argparse.ArgumentTypeError(f"expected a number of labels (1 or more) or 'all', found {text!r}")
    return text


def _model_run_arguments(p: argparse.ArgumentParser, overwrite: str) -> None:
    """The options predict and evaluate share: which columns hold the inputs, and how the model runs."""
    from .inference import BATCH_TOKENS, MIN_BATCH_ROWS

    p.add_argument(
        "--text-column", help="column holding the text (default: the training recipe's, else text/sentence/…)"
    )
    p.add_argument(
        "--image-column", help="column holding images or image paths (default: the recipe's, else image/img)"
    )
    p.add_argument(
        "--batch-size",
        type=int,
        help=f"rows per model call (default: texts of similar length batched up to {BATCH_TOKENS:,} tokens, at "
        f"least {MIN_BATCH_ROWS} rows; {MIN_BATCH_ROWS} images)",
    )
    p.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), default="auto")
    p.add_argument("--workers", type=int, help="image decoding processes (default: cores - 1, at most 4)")
    p.add_argument("--overwrite", action="store_true", help=overwrite)
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hf-transfer",
        description="Transfer learning for Hugging Face backbones: a YAML recipe in, a fine-tuned model folder out.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train a recipe", description="Train a recipe. Overrides: section.key=value.")
    p.add_argument("recipe", help="path to a recipe YAML, or a shipped recipe name (see `hf-transfer recipes`)")
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="e.g. training.learning_rate=3e-5 data.train_split=train[:2000]",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="validate the recipe and data, print the resolved recipe; train nothing"
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run in the output folder (only the files that run wrote are removed)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted run in the output folder from its newest complete checkpoint",
    )
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "compare",
        help="train a grid of strategies × backbones × recipe values and rank them",
        description="Train every cell of a grid, each a normal run in <output_dir>/compare/<cell>; finished cells are "
        "read back, interrupted ones resumed. Writes leaderboard.md/.json/.png and prints the best cell.",
    )
    p.add_argument("recipe", help="path to a recipe YAML, or a shipped recipe name")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="overrides applied to every cell")
    p.add_argument("--strategies", help="comma-separated strategies, e.g. full,frozen,partial,lora")
    p.add_argument("--backbones", help="comma-separated backbones (Hub ids, folders or pkg:// references)")
    p.add_argument("--grid", action="append", metavar="KEY=V1,V2", help="a recipe key and its values (repeatable)")
    p.add_argument(
        "--output-dir", help="where the cells and the leaderboard go (default: <training.output_dir>/compare)"
    )
    p.add_argument(
        "--metric",
        help="validation metric to rank by (default: the task's: accuracy for single-label, micro_f1 for "
        "multi-label); a name the task does not report is refused before anything trains",
    )
    p.add_argument("--dry-run", action="store_true", help="validate every cell and print the plan; train nothing")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser(
        "predict",
        help="apply a trained model to new data (a table, images, a Hub split or stdin lines)",
        description="Predict every row of INPUT with a trained model folder and write one row per input, in input "
        "order: id, label, score (and the top-k labels' scores); for a multi-label model: id, labels (the predicted "
        "label set, thresholds applied), scores (every label's sigmoid probability); for a token-classification model: "
        "words, tags (one per word), scores, entities (spans) and truncated_words, from a tokens/words list column, a "
        "text column split at whitespace, or a .conll file. INPUT: a CSV/TSV/JSON/JSONL/parquet file, an image, "
        "a folder of images (recursive; ids are relative paths), hub:<dataset>[:<config>]:<split>, or - for lines "
        "of text on standard input. The output format follows --output's suffix (.jsonl, .csv, .tsv, .parquet); "
        "without --output, JSON lines go to standard output.",
    )
    p.add_argument(
        "model", help="an hf_transfer output folder (any strategy) or a transformers classification model folder"
    )
    p.add_argument("input", help="file, image, folder of images, hub:<dataset>[:<config>]:<split>, or - for stdin")
    p.add_argument("--output", "-o", help="predictions file (.jsonl, .csv, .tsv or .parquet); default: JSONL on stdout")
    p.add_argument(
        "--top-k",
        type=_top_k,
        default="auto",
        help="how many labels' scores each row lists: N (the N best), 'all', or 'auto' (default): 1 for a "
        "single-label model (label and score: the best class and its softmax probability), all for a multi-label "
        "model (labels: the predicted label set, each label at its saved threshold; scores: every label's "
        "sigmoid probability, best first)",
    )
    p.add_argument("--keep-columns", help="comma-separated input columns to copy into the output")
    p.add_argument(
        "--on-error",
        choices=("skip", "fail"),
        default="skip",
        help="an unreadable row: write it with an error field and go on (skip), or stop (fail)",
    )
    _model_run_arguments(p, overwrite="replace an existing output file")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser(
        "evaluate",
        help="score a trained model on labelled data (metrics, per-class report, confusion matrix)",
        description="Score MODEL on labelled DATA: a CSV/TSV/JSON/JSONL/parquet file with a label column (token "
        "classification: tokens and tags list columns, or a .conll file), "
        "hub:<dataset>[:<config>]:<split> (ClassLabel ids read as their names), a recipe YAML (its data's test "
        "split, or --split, read as training read it), or a folder of images in the imagefolder layout (<class>/<image>, "
        "optionally under train/ validation/ test/; test/ by default). Writes metrics.json, predictions.jsonl, "
        "confusion_matrix.png and report.md to a folder of its own. --against OTHER scores a second model on the "
        "same rows and prints each metric's difference with a paired bootstrap 95%% confidence interval.",
    )
    p.add_argument("model", help="an hf_transfer output folder or a transformers classification model folder")
    p.add_argument("data", help="labelled file, image folder, recipe YAML, or hub:<dataset>[:<config>]:<split>")
    p.add_argument(
        "--split",
        help="for a recipe, or a folder with train/validation/test sub-folders: which split (default: test)",
    )
    p.add_argument(
        "--label-column",
        action="append",
        help="column with the true labels (default: the training recipe's, else label); give it once per target "
        "for a regression model with several",
    )
    p.add_argument(
        "--label-separator",
        help="multi-label models: the character between labels in a delimited label cell, e.g. ';' "
        "(default: the training recipe's data.label_separator; list-valued columns need none)",
    )
    p.add_argument("--against", metavar="OTHER_MODEL", help="a second model to compare on the same rows")
    p.add_argument("--output-dir", help="where the evaluation goes (default: evaluations/<model>__<data>)")
    _model_run_arguments(p, overwrite="replace an earlier evaluation's files in --output-dir")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "export",
        help="export a trained model to ONNX, checked against PyTorch (optionally int8 too)",
        description="Export any model folder a run wrote (plain model, hf_transfer head, LoRA adapter merged in "
        "memory, merged model) to ONNX: model.onnx with dynamic batch (and sequence) axes, the tokenizer or image "
        "processor, config.json, a model card and hf_transfer_export.json. PyTorch and onnxruntime logits are "
        "compared on the run's validation examples (synthetic inputs when its data cannot be read); a difference "
        "above --tolerance is an error and leaves no export folder. Needs the onnx extra: "
        "pip install 'hf-transfer-learning[onnx]'.",
    )
    p.add_argument(
        "model", help="an hf_transfer output folder (any strategy) or a transformers classification model folder"
    )
    p.add_argument("--format", choices=("onnx",), default="onnx", help="export format (default: onnx)")
    p.add_argument(
        "--quantize",
        choices=("dynamic-int8",),
        help="also write model.int8.onnx (int8 weights) and report its agreement with PyTorch",
    )
    p.add_argument(
        "--opset",
        type=int,
        help="ONNX opset (default: torch.onnx's own; an older one, e.g. 17, is converted down; one the model's graph "
        "does not convert to is an error)",
    )
    p.add_argument("--output-dir", help="where the export goes (default: <model>-onnx next to the model folder)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier export in --output-dir (only its files; any other file there means refusal)",
    )
    p.add_argument(
        "--max-examples", type=int, default=64, help="validation examples the parity check runs (default 64)"
    )
    p.add_argument(
        "--tolerance",
        type=float,
        default=1e-4,
        help="largest allowed |logit difference| per max(1, |logit|): a finite number, 0 or more (default 1e-4)",
    )
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "rank",
        help="score backbones for a task before training (LogME on cached features)",
        description="One cached forward pass per backbone over a sample of the training split, then LogME "
        "(You et al., 2021): higher means the features fit the labels better. A later frozen run reuses the pass "
        "when the sample is the whole training split.",
    )
    p.add_argument("recipe", help="path to a recipe YAML, or a shipped recipe name")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="overrides applied to every backbone")
    p.add_argument("--backbones", required=True, help="comma-separated candidate backbones")
    p.add_argument(
        "--max-examples", type=int, default=2000, help="training examples scored per backbone (default 2000)"
    )
    p.set_defaults(func=cmd_rank)

    p = sub.add_parser("merge", help="fold a LoRA adapter into its base model and save a plain model folder")
    p.add_argument("adapter_dir", help="output folder of a strategy.name=lora run")
    p.add_argument("out_dir", help="where to write the merged model")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier merge in out_dir (only the files it wrote; any other file there means refusal)",
    )
    p.set_defaults(func=cmd_merge)

    p = sub.add_parser("card", help="render the model card (README.md and its images) of an output folder again")
    p.add_argument("output_dir", help="output folder of a finished run")
    p.add_argument("--repo-id", help="the Hub repo the card names (default: the recipe's hub.repo_id)")
    p.set_defaults(func=cmd_card)

    p = sub.add_parser(
        "push",
        help="push an output folder to the Hugging Face Hub",
        description="Push an output folder to the Hub. Options default to the recipe's hub: section; the token comes "
        "from HF_TOKEN or `hf auth login`, the Hub from HF_ENDPOINT.",
    )
    p.add_argument("output_dir", help="output folder of a finished run")
    p.add_argument("--repo-id", help="<namespace>/<name> of the Hub repo (default: hub.repo_id)")
    p.add_argument("--private", action=argparse.BooleanOptionalAction, default=None, help="create the repo as private")
    p.add_argument("--revision", help="branch to push to (created if missing)")
    p.add_argument(
        "--create-pr",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="open a pull request instead of committing",
    )
    p.add_argument("--commit-message", help="commit message")
    p.add_argument(
        "--artifacts",
        choices=["adapter", "merged", "both"],
        help="for LoRA runs: what to push (default: hub.artifacts)",
    )
    p.set_defaults(func=cmd_push)

    p = sub.add_parser("cache", help="list or remove cached frozen-backbone features")
    p.add_argument("action", choices=["ls", "rm"])
    p.add_argument("keys", nargs="*", help="entries to remove (rm)")
    p.add_argument("--all", action="store_true", help="remove every entry (rm)")
    p.set_defaults(func=cmd_cache)

    p = sub.add_parser("recipes", help="list the shipped recipes")
    p.set_defaults(func=cmd_recipes)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # Overrides may come after options too (`train R --overwrite a.b=1`), which argparse cannot split itself.
    args, extra = parser.parse_known_args(argv)
    if extra:
        if getattr(args, "func", None) in (cmd_train, cmd_compare, cmd_rank) and all(
            "=" in e and not e.startswith("-") for e in extra
        ):
            args.overrides = list(args.overrides) + extra
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    _setup_logging()
    try:
        return args.func(args)
    except RunInterrupted as e:
        print(f"hf-transfer: {e}", file=sys.stderr)
        return e.exit_code
    except HfTransferError as e:
        print(f"hf-transfer: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("hf-transfer: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
