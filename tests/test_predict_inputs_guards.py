"""predict/evaluate: an output that is the input, CSV cells read as written, regression precision, missing labels,
and the Python API's argument checks. The models are plain transformers folders built here (no training)."""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

import pytest

import hf_transfer
from helpers import build_text_backbone
from hf_transfer import cli
from hf_transfer.errors import DataError, HfTransferError, OutputError
from hf_transfer.inference.sources import open_source

TEXT = {"text": ["text"]}
BIG = 252608.0  # a value in large units: bf16 rounds it to 251,904


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TRANSFER_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """Untrained transformers classification folders on a tiny BERT: single-label (labels that look like numbers
    and one that does not), regression (a head that outputs exactly BIG) and multi-label."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    root = tmp_path_factory.mktemp("guard_models")
    backbone = build_text_backbone("bert", root / "backbone")
    tokenizer = AutoTokenizer.from_pretrained(backbone)

    def make(name: str, labels: list[str], problem_type: str | None = None, bias: float | None = None) -> Path:
        model = AutoModelForSequenceClassification.from_pretrained(
            backbone,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)},
            problem_type=problem_type,
        )
        if bias is not None:
            with torch.no_grad():
                model.classifier.weight.zero_()
                model.classifier.bias.fill_(bias)
        model.save_pretrained(root / name)
        tokenizer.save_pretrained(root / name)
        return root / name

    return {
        "cls": make("cls", ["5", "7", "neg"]),
        "reg": make("reg", ["price"], "regression", BIG),
        "ml": make("ml", ["a", "b", "c"], "multi_label_classification"),
    }


def _cli(args: list[str], capsys) -> tuple[int, str]:
    rc = cli.main([*args, "--quiet"])
    return rc, capsys.readouterr().err


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# --- 1. an output that is the input is refused, even with --overwrite -----------------------------------------


@pytest.mark.parametrize("link", ["same", "relative", "symlink", "hardlink"])
def test_predict_refuses_an_output_that_is_its_input_even_with_overwrite(link, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    good = tmp_path / "good.csv"
    good.write_text("text\nhello\n")
    output = {"same": str(good), "relative": "./sub/../good.csv", "symlink": "link.csv", "hardlink": "hard.csv"}[link]
    (tmp_path / "sub").mkdir()
    if link == "symlink":
        os.symlink(good, tmp_path / "link.csv")
    if link == "hardlink":
        os.link(good, tmp_path / "hard.csv")
    # the check comes before the model is opened: a model folder that does not exist is not what is reported
    rc, err = _cli(["predict", str(tmp_path / "no-model"), str(good), "-o", output, "--overwrite"], capsys)
    assert rc != 0 and "Traceback" not in err
    assert "is the input file" in err and "refused even with --overwrite" in err and "choose another output" in err
    assert good.read_text() == "text\nhello\n"
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


def test_predict_python_api_refuses_the_input_as_output(tmp_path):
    good = tmp_path / "good.jsonl"
    _jsonl(good, [{"text": "hi"}])
    with pytest.raises(OutputError, match="is the input file"):
        hf_transfer.predict(tmp_path / "m", str(good), good, overwrite=True, progress=False)
    assert json.loads(good.read_text()) == {"text": "hi"}


def test_evaluate_refuses_an_output_dir_whose_predictions_file_is_the_data(models, tmp_path, capsys):
    d3 = tmp_path / "d3"
    d3.mkdir()
    data = _jsonl(d3 / "predictions.jsonl", [{"text": "hi", "label": "neg"}])
    before = data.read_text()
    rc, err = _cli(["evaluate", str(models["cls"]), str(data), "--output-dir", str(d3), "--overwrite"], capsys)
    assert rc != 0 and "Traceback" not in err
    assert "predictions.jsonl, which is the data file" in err and "refused even with --overwrite" in err
    assert data.read_text() == before and sorted(p.name for p in d3.iterdir()) == ["predictions.jsonl"]
    # through a symbolic link to the data too
    link = tmp_path / "elsewhere"
    link.mkdir()
    os.symlink(data, link / "predictions.jsonl")
    rc, err = _cli(["evaluate", str(models["cls"]), str(data), "--output-dir", str(link), "--overwrite"], capsys)
    assert rc != 0 and "which is the data file" in err and data.read_text() == before


def test_evaluate_refuses_an_output_dir_inside_a_model_folder(models, tmp_path, capsys):
    data = _jsonl(tmp_path / "test.jsonl", [{"text": "hi", "label": "neg"}])
    for args in (
        ["--output-dir", str(models["cls"] / "evals")],
        ["--output-dir", str(models["cls"])],
        ["--output-dir", str(models["ml"] / "x"), "--against", str(models["ml"])],
    ):
        rc, err = _cli(["evaluate", str(models["cls"]), str(data), *args], capsys)
        assert rc != 0 and "Traceback" not in err and "not into the model folder" in err
    assert not (models["cls"] / "evals").exists() and not (models["ml"] / "x").exists()


# --- 2. CSV/TSV cells are the strings they are ---------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_csv_cells_are_read_as_written(suffix, tmp_path):
    sep = "\t" if suffix == ".tsv" else ","
    texts = ["5", "007", "1e3", "NA", "null", "None", "n/a", "#N/A", "True", "1,000" if sep == "\t" else "x"]
    path = tmp_path / f"in{suffix}"
    path.write_text("text" + sep + "id\n" + "".join(f"{t}{sep}{t}\n" for t in texts) + f"{sep}9\n")
    items = list(open_source(str(path), TEXT, "text", ["id"]))
    assert [i.payload["text"] for i in items[:-1]] == texts
    assert [i.extra["id"] for i in items] == [*texts, "9"]
    assert items[-1].payload is None and items[-1].error == "empty text"  # an empty cell is the empty text
    path.write_text("text" + sep + "id\nalone\n")  # a cell a short row lacks is missing
    assert [i.extra for i in open_source(str(path), TEXT, "text", ["id"])] == [{"id": None}]


def test_a_csv_row_with_a_field_too_many_is_an_error_row_never_a_shift(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("text,id\nhello,1,extra\nworld,2\n")
    items = list(open_source(str(path), TEXT, "text", ["id"]))
    assert items[0].payload is None and items[0].unreadable
    assert "line 2 has 3 fields and the header 2" in items[0].error and "must be quoted" in items[0].error
    assert items[1].payload == {"text": "world"} and items[1].extra == {"id": "2"}


def test_predict_keeps_csv_cells_and_texts_as_written(models, tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("text,code\n5,007\n1e3,NA\nnull,None\n")
    out = tmp_path / "out.jsonl"
    summary = hf_transfer.predict(models["cls"], str(path), out, keep_columns=["code"], progress=False)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert summary.errors == 0 and [r["code"] for r in rows] == ["007", "NA", "None"]
    # the texts themselves: predicting "5" gives what predicting the JSON string "5" gives, not "5.0"
    same = _jsonl(tmp_path / "in.jsonl", [{"text": "5"}, {"text": "1e3"}, {"text": "null"}])
    hf_transfer.predict(models["cls"], str(same), tmp_path / "ref.jsonl", progress=False, precision="fp32")
    hf_transfer.predict(models["cls"], str(path), tmp_path / "csv.jsonl", progress=False, precision="fp32")
    ref = [json.loads(line)["score"] for line in (tmp_path / "ref.jsonl").read_text().splitlines()]
    got = [json.loads(line)["score"] for line in (tmp_path / "csv.jsonl").read_text().splitlines()]
    assert got == ref


def test_evaluate_refuses_a_csv_with_a_shifted_row_naming_it(models, tmp_path):
    path = tmp_path / "test.csv"
    path.write_text("text,label\nhello,5,extra\nworld,7\n")
    with pytest.raises(DataError, match=r"row 0: line 2 has 3 fields"):
        hf_transfer.evaluate(models["cls"], str(path), output_dir=tmp_path / "e", progress=False)
    assert not (tmp_path / "e").exists()


def test_evaluate_csv_labels_that_look_like_numbers_match_the_model_labels(models, tmp_path):
    path = tmp_path / "test.csv"
    path.write_text("text,label\nhello,5\nworld,7\nagain,neg\n")
    result = hf_transfer.evaluate(models["cls"], str(path), output_dir=tmp_path / "e", progress=False, precision="fp32")
    assert result.rows == 3 and sum(result.per_class[c]["support"] for c in ("5", "7", "neg")) == 3
    # integer labels in JSON lines still match the model's string labels
    rows = [{"text": "hello", "label": 5}, {"text": "world", "label": 7}]
    data = _jsonl(tmp_path / "t.jsonl", rows)
    result = hf_transfer.evaluate(models["cls"], str(data), output_dir=tmp_path / "j", progress=False, precision="fp32")
    assert result.per_class["5"]["support"] == 1 and result.per_class["7"]["support"] == 1
    # a label written 05 is not the label 5 (pandas read it as the number 5)
    path.write_text("text,label\nhello,05\n")
    with pytest.raises(DataError, match="does not know: 05"):
        hf_transfer.evaluate(models["cls"], str(path), output_dir=tmp_path / "z", progress=False)


def test_evaluate_regression_targets_in_a_csv_are_numbers(models, tmp_path):
    path = tmp_path / "test.csv"
    path.write_text(f"text,price\nhello,{BIG}\nworld,252608\nthird,2.52608e5\n")
    result = hf_transfer.evaluate(
        models["reg"], str(path), label_column="price", output_dir=tmp_path / "e", progress=False, precision="fp32"
    )
    assert result.metrics["mae"] == 0.0
    path.write_text("text,price\nhello,12\nworld,cheap\n")
    with pytest.raises(DataError, match=r"row 1: 'cheap'"):
        hf_transfer.evaluate(models["reg"], str(path), label_column="price", output_dir=tmp_path / "f", progress=False)


# --- 3. regression outputs keep fp32 under --precision auto --------------------------------------------------


@pytest.fixture
def bf16_cpu(monkeypatch):
    """A CPU on which precision auto resolves to bf16 (avx512_bf16)."""
    import hf_transfer.precision as precision

    monkeypatch.setattr(
        precision, "detect_hardware", lambda use_cpu=False: precision.Hardware("cpu", None, frozenset({"avx512_bf16"}))
    )


def test_regression_predict_under_auto_on_a_bf16_cpu_runs_in_fp32(models, tmp_path, bf16_cpu):
    data = _jsonl(tmp_path / "in.jsonl", [{"text": "a house"}, {"text": "another house by the river"}])
    summary = hf_transfer.predict(models["reg"], str(data), tmp_path / "p.jsonl", progress=False)
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert [r["value"] for r in rows] == [BIG, BIG]
    assert summary.precision == "fp32" and "regression values keep fp32" in summary.precision_note
    # classification keeps auto's choice; an explicit precision is honoured
    assert hf_transfer.predict(models["cls"], str(data), None, progress=False).precision == "bf16"
    hf_transfer.predict(models["reg"], str(data), tmp_path / "b.jsonl", progress=False, precision="bf16")
    rows = [json.loads(line) for line in (tmp_path / "b.jsonl").read_text().splitlines()]
    assert rows[0]["value"] != BIG  # (what the auto rule avoids)


def test_regression_evaluate_under_auto_on_a_bf16_cpu_runs_in_fp32(models, tmp_path, bf16_cpu):
    data = _jsonl(tmp_path / "t.jsonl", [{"text": "a house", "price": BIG}, {"text": "a barn", "price": BIG}])
    result = hf_transfer.evaluate(
        models["reg"], str(data), label_column="price", output_dir=tmp_path / "e", progress=False
    )
    assert result.metrics["mae"] == 0.0
    assert any(n.startswith("Ran in fp32 (auto: regression values keep fp32") for n in result.notes)


# --- 4. a missing label is an error, not the empty set or the label "None" -----------------------------------


def test_multi_label_evaluate_refuses_null_and_missing_labels_and_takes_empty_lists(models, tmp_path):
    rows = [
        {"text": "one", "labels": ["a"]},
        {"text": "two", "labels": None},
        {"text": "three"},
        {"text": "four", "labels": []},
    ]
    data = _jsonl(tmp_path / "t.jsonl", rows)
    with pytest.raises(DataError) as e:
        hf_transfer.evaluate(models["ml"], str(data), output_dir=tmp_path / "e", progress=False)
    assert "2 rows that cannot be scored" in str(e.value)
    assert "row 1 has no labels value" in str(e.value) and "row 2 has no labels value" in str(e.value)
    assert "[]" in str(e.value) and not (tmp_path / "e").exists()
    good = _jsonl(tmp_path / "g.jsonl", [rows[0], rows[3]])
    result = hf_transfer.evaluate(models["ml"], str(good), output_dir=tmp_path / "g", progress=False, precision="fp32")
    assert result.rows == 2
    # in a CSV of delimited labels, an empty cell (as in training) and [] are the empty set; a lacking cell is missing
    path = tmp_path / "t.csv"
    path.write_text("text,labels\none,a;b\ntwo,[]\nthree,\n")
    result = hf_transfer.evaluate(
        models["ml"], str(path), label_separator=";", output_dir=tmp_path / "c", progress=False, precision="fp32"
    )
    truth = [json.loads(line)["true_labels"] for line in (tmp_path / "c" / "predictions.jsonl").open()]
    assert truth == [["a", "b"], [], []]
    path.write_text("text,labels\none,a;b\ntwo\n")
    with pytest.raises(DataError, match="row 1 has no labels value"):
        hf_transfer.evaluate(models["ml"], str(path), label_separator=";", output_dir=tmp_path / "d", progress=False)


def test_single_label_evaluate_names_rows_without_a_label_or_with_a_bool(models, tmp_path):
    rows = [
        {"text": "one", "label": "neg"},
        {"text": "two", "label": None},
        {"text": "three", "label": True},
        {"text": "four"},
        {"text": "five", "label": " "},
    ]
    data = _jsonl(tmp_path / "t.jsonl", rows)
    with pytest.raises(DataError) as e:
        hf_transfer.evaluate(models["cls"], str(data), output_dir=tmp_path / "e", progress=False)
    message = str(e.value)
    assert "row 1 has no label" in message and "row 2 has a bool label (True)" in message
    assert "row 3 has no label" in message and "row 4 has no label" in message and "does not know" not in message


# --- 5. the Python API checks its arguments ------------------------------------------------------------------


def test_python_api_takes_paths_and_the_cli_arguments(models, tmp_path):
    data = _jsonl(tmp_path / "in.jsonl", [{"text": "a", "code": "x", "n": 1}])
    out = tmp_path / "out.jsonl"
    summary = hf_transfer.predict(models["cls"], data, out, keep_columns="code, n", workers=0, progress=False)
    assert summary.rows == 1 and set(json.loads(out.read_text())) >= {"code", "n"}
    hf_transfer.predict(models["cls"], data, out, keep_columns="code", overwrite=True, progress=False)
    assert json.loads(out.read_text())["code"] == "x" and "n" not in json.loads(out.read_text())
    labelled = _jsonl(tmp_path / "t.jsonl", [{"text": "a", "label": "neg"}])
    result = hf_transfer.evaluate(models["cls"], labelled, output_dir=tmp_path / "e", workers=0, progress=False)
    assert result.rows == 1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"inputs": ["a.csv"]}, "inputs must be an input file"),
        ({"inputs": 5}, "found int 5"),
        ({"inputs": None}, "found NoneType None"),
        ({"model": 5}, "model must be a model folder"),
        ({"model": None}, "model must be a model folder"),
        ({"output": 5}, "output must be an output file"),
        ({"top_k": True}, "top_k must be a whole number"),
        ({"keep_columns": 5}, "keep_columns must be a list of column names"),
        ({"keep_columns": ["a", 1]}, "keep_columns must be a list of column names"),
        ({"precision": "fp8"}, "precision must be one of auto, fp32, bf16, fp16; found str 'fp8'"),
        ({"workers": -1}, "workers must be a number of processes"),
        ({"workers": 1, "num_workers": 2}, "are one argument"),
        ({"overwrite": "yes"}, "overwrite must be True or False"),
        ({"text_column": 3}, "text_column must be a column name"),
    ],
)
def test_predict_wrong_arguments_are_the_tools_own_error(kwargs, message, models, tmp_path):
    data = _jsonl(tmp_path / "in.jsonl", [{"text": "a"}])
    args = {"model": models["cls"], "inputs": str(data), "output": None, **kwargs}
    with pytest.raises(HfTransferError) as e:
        hf_transfer.predict(args.pop("model"), args.pop("inputs"), args.pop("output"), progress=False, **args)
    assert message in str(e.value)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"label_column": 0}, "label_column must be a column name"),
        ({"label_column": []}, "label_column must be a column name"),
        ({"data": None}, "data must be a labelled table file"),
        ({"model": 3}, "model must be a model folder"),
        ({"output_dir": 3}, "output_dir must be a folder"),
        ({"precision": "fp8"}, "precision must be one of"),
        ({"resamples": 0}, "resamples must be a whole number"),
        ({"split": 1}, "split must be"),
    ],
)
def test_evaluate_wrong_arguments_are_the_tools_own_error(kwargs, message, models, tmp_path):
    data = _jsonl(tmp_path / "t.jsonl", [{"text": "a", "label": "x"}])
    args = {"model": models["cls"], "data": str(data), "output_dir": tmp_path / "e", **kwargs}
    with pytest.raises(HfTransferError) as e:
        hf_transfer.evaluate(args.pop("model"), args.pop("data"), progress=False, **args)
    assert message in str(e.value)


# --- 6. duplicate CSV headers, one message for an unreadable file --------------------------------------------


def test_a_csv_header_naming_a_column_twice_is_refused(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("text,text,id\na,b,1\n")
    with pytest.raises(DataError, match=r"names the column 'text' more than once"):
        open_source(str(path), TEXT, "text", None)


def test_a_corrupt_parquet_is_one_message_without_a_library_log_line(models, tmp_path, capsys, caplog):
    bad = tmp_path / "in.parquet"
    bad.write_bytes(b"PAR1 this is not a parquet file PAR1")
    with caplog.at_level(logging.DEBUG):
        rc, err = _cli(["predict", str(models["cls"]), str(bad)], capsys)
    assert rc != 0 and "Traceback" not in err and "could not read" in err
    assert "Failed to read file" not in err
    assert not [r for r in caplog.records if r.name.startswith("datasets") and r.levelno >= logging.ERROR]
    assert logging.getLogger("datasets.packaged_modules").level == logging.NOTSET  # restored afterwards


# --- evaluate's files replace links instead of writing through them; other outputs' folders are refused --------


def test_evaluate_overwrite_replaces_links_and_never_writes_through_them(models, tmp_path):
    data = _jsonl(tmp_path / "t.jsonl", [{"text": "hello", "label": "5"}, {"text": "world", "label": "7"}])
    mine, thesis, picture = tmp_path / "keep.txt", tmp_path / "thesis.txt", tmp_path / "keep.png"
    for f, text in ((mine, "my notes"), (thesis, "my thesis"), (picture, "png")):
        f.write_text(text)
    out = tmp_path / "ev"
    out.mkdir()
    (out / "report.md").symlink_to(mine)
    (out / "confusion_matrix.png").symlink_to(picture)
    os.link(thesis, out / "metrics.json")
    hf_transfer.evaluate(models["cls"], str(data), output_dir=out, overwrite=True, progress=False, precision="fp32")
    assert (mine.read_text(), thesis.read_text(), picture.read_text()) == ("my notes", "my thesis", "png")
    assert not (out / "report.md").is_symlink() and json.loads((out / "metrics.json").read_text())["rows"] == 2


def test_evaluate_refuses_another_models_run_or_export_folder_as_output(models, tmp_path):

    data = _jsonl(tmp_path / "t.jsonl", [{"text": "hello", "label": "5"}])
    for name, holds in (("reg", "a model (config.json and its weights)"),):
        with pytest.raises(OutputError, match=re.escape(holds)):
            hf_transfer.evaluate(models["cls"], str(data), output_dir=models[name], overwrite=True, progress=False)
    run = tmp_path / "run"
    (run / ".hf_transfer").mkdir(parents=True)
    (run / "metrics.json").write_text('{"train": 1}')
    with pytest.raises(OutputError, match="an hf_transfer training run"):
        hf_transfer.evaluate(models["cls"], str(data), output_dir=run, overwrite=True, progress=False)
    assert (run / "metrics.json").read_text() == '{"train": 1}'


def test_evaluate_of_a_recipe_refuses_an_output_that_is_one_of_its_data_files(models, tmp_path):

    folder = tmp_path / "ev"
    folder.mkdir()
    rows = [{"text": f"t{i}", "label": "5" if i % 2 else "7"} for i in range(8)]
    data = _jsonl(folder / "predictions.jsonl", rows)
    recipe = folder / "recipe.yaml"
    recipe.write_text(
        "backbone: {name_or_path: some/backbone}\n"
        f"data: {{source: files, train_file: {data}, test_file: {data}}}\n"
        "task: {name: text-classification}\n"
    )
    before = data.read_text()
    with pytest.raises(OutputError, match="which is the data file"):
        hf_transfer.evaluate(models["cls"], str(recipe), output_dir=folder, overwrite=True, progress=False)
    assert data.read_text() == before
