"""The shipped multi-label recipes (issue #12) and the script that builds their offline data.

The Hub recipes cannot run here (no Hub): they are checked as far as that goes offline, by loading and
validating them. The offline recipe is checked down to its data (``dry_run``: labels read, nothing trained).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

import hf_transfer
from hf_transfer.config import SHIPPED_RECIPES, list_recipes

REPO = Path(__file__).resolve().parents[1]
MULTI_LABEL_RECIPES = ("text/minilm_multilabel", "text/go_emotions_multilabel", "image/vit_multilabel")


def build_debian_tags():
    """scripts/build_debian_tags.py as a module (it runs apt-cache only from main())."""
    spec = importlib.util.spec_from_file_location("build_debian_tags", REPO / "scripts" / "build_debian_tags.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


DUMP = """\
Package: zeta-game
Source: zeta (1.0-1)
Version: 1.0-1
Description: Galaga-like arcade game
Tag: game::arcade, interface::graphical, interface::x11, role::program,
 uitoolkit::sdl, use::gameplaying,
 x11::application
Section: games

Package: alpha-tool
Version: 2.1
Tag: implemented-in::c, interface::commandline, role::program, scope::utility
Description: tiny command line tool
 This long description's first sentence is kept. The second is not.
 .
 A second paragraph.

Package: untagged
Version: 1
Description: a package nobody tagged

Package: alpha-tool
Version: 2.0
Tag: role::documentation
Description: an older stanza of the same package, ignored

Package: zeta-sounds
Source: zeta
Tag: role::app-data
Description: sound files for zeta

Package: fonts-nice
Tag: made-of::font, role::data, implemented-in::TODO
Description: a nice font
"""


def test_build_debian_tags_parses_a_dump_into_rows():
    mod = build_debian_tags()
    packages = mod.parse_packages(DUMP.splitlines(keepends=True))
    by_name = {p.name: p for p in packages}
    assert list(by_name) == ["zeta-game", "alpha-tool", "untagged", "zeta-sounds", "fonts-nice"]
    # the Tag field's continuation lines are part of it
    assert by_name["zeta-game"].tags == (
        "game::arcade",
        "interface::graphical",
        "interface::x11",
        "role::program",
        "uitoolkit::sdl",
        "use::gameplaying",
        "x11::application",
    )
    assert by_name["zeta-game"].source == "zeta"
    assert not by_name["untagged"].tagged and by_name["untagged"].tags == ()
    assert by_name["fonts-nice"].tags == ("made-of::font", "role::data")  # facet::TODO placeholders dropped

    rows = mod.build_rows(packages)
    assert rows == [
        {
            "package": "alpha-tool",
            "text": "tiny command line tool. This long description's first sentence is kept.",
            "labels": ["role::program", "interface::commandline", "implemented-in::c"],
        },
        {"package": "fonts-nice", "text": "a nice font", "labels": []},  # tagged, but none of the labels
        # untagged: not used (unannotated, not "no tag applies"); zeta-sounds: same source as zeta-game, which comes first by name
        {
            "package": "zeta-game",
            "text": "Galaga-like arcade game",
            "labels": ["role::program", "interface::graphical", "use::gameplaying"],
        },
    ]
    splits = mod.split_rows(rows, {"train": 1, "validation": 1, "test": 1}, seed=0)
    assert sorted(r["text"] for s in splits.values() for r in s) == sorted(r["text"] for r in rows)
    assert splits == mod.split_rows(list(reversed(rows)), {"train": 1, "validation": 1, "test": 1}, seed=0)


@pytest.mark.parametrize("name", MULTI_LABEL_RECIPES)
def test_multi_label_recipes_are_shipped_and_valid(name):
    path = SHIPPED_RECIPES / f"{name}.yaml"
    assert path in list_recipes()  # so test_config's every-shipped-recipe test loads it too
    recipe = hf_transfer.load_recipe(name)
    assert recipe.to_dict()["task"]["name"] == "multi-label-classification"


def test_offline_multi_label_data_is_small_and_well_formed():
    folder = SHIPPED_RECIPES / "data" / "debian_tags"
    files = {split: folder / f"{split}.jsonl" for split in ("train", "validation", "test")}
    assert sum(f.stat().st_size for f in files.values()) < 1_000_000
    rows = {split: [json.loads(line) for line in f.read_text().splitlines()] for split, f in files.items()}
    assert [len(r) for r in rows.values()] == [2000, 500, 500]
    assert all(isinstance(r["text"], str) and isinstance(r["labels"], list) for rs in rows.values() for r in rs)
    texts = [r["text"].lower() for rs in rows.values() for r in rs]
    assert len(set(texts)) == len(texts)  # no text in two splits (nor twice in one)


def test_offline_multi_label_recipe_reads_its_data(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_TRANSFER_CACHE", str(tmp_path / "cache"))
    result = hf_transfer.train(
        "text/minilm_multilabel", dry_run=True, overrides={"training.output_dir": str(tmp_path / "out")}
    )
    assert result.dry_run
    assert result.data_sizes == {"train": 2000, "validation": 500, "test": 500}
    assert len(result.labels) == 12 and "role::program" in result.labels
