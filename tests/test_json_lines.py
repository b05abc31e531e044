"""JSON Lines inputs of predict and evaluate, read with the standard library: the rows datasets' JSON loader
gives where it can read the file, and a row with an error field for each line it could not (no model needed)."""

from __future__ import annotations

import json
import sys

import pytest

from hf_transfer.errors import DataError
from hf_transfer.inference.sources import _table_source, open_source

TEXT = {"text": ["text", "sentence"]}


def _items(path, keep=None):
    return [(i.id, i.payload, i.error, i.extra, i.unreadable) for i in open_source(str(path), TEXT, "text", keep)]


def _via_datasets(path, keep=None):
    """The same file through datasets' JSON loader, as predict read every table before."""
    import datasets

    def load():
        return datasets.load_dataset("json", data_files=str(path), split="train", streaming=True)

    source = _table_source(str(path), load, TEXT, "text", keep, path.parent)
    return [(i.id, i.payload, i.error, i.extra, i.unreadable) for i in source]


def test_rows_equal_those_of_datasets_json_loader_where_it_reads_the_file(tmp_path):
    """Blank lines are not rows, a byte-order mark is ignored, a column a row lacks is None, CRLF endings, a null
    or empty text is a row with an error, numbers are kept (datasets' 1.0 for an int column with a float
    equals 1)."""
    path = tmp_path / "in.jsonl"
    path.write_bytes(
        b'\xef\xbb\xbf{"text": "alpha", "n": 1}\n\n'
        b'{"text": "beta", "n": 2.5, "tags": ["x", "y"]}\r\n'
        b'{"text": null, "n": 3}\n'
        b"   \n"
        b'{"n": 4, "other": "z"}\n'
        b'{"text": "  ", "n": 5}\n'
        b'{"text": "gamma \xc3\xa9", "n": 6}'
    )
    ours = _items(path, ["n", "tags"])
    assert ours == _via_datasets(path, ["n", "tags"])
    assert [i[0] for i in ours] == ["0", "1", "2", "3", "4", "5"]
    assert [i[2] for i in ours] == [None, None, "no text", "no text", "empty text", None]
    assert ours[5][1] == {"text": "gamma é"} and ours[1][3] == {"n": 2.5, "tags": ["x", "y"]}


def test_each_line_that_is_not_a_row_is_a_row_with_an_error_and_the_others_are_read(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(
        b'{"text": "one", "n": 1}\n'
        b'{"text": "truncated\n'
        b'{"text": "caf\xe9"}\n'
        b"[1, 2]\n"
        b'{"text": 42}\n'
        b'{"text": "two", "n": 2}\n'
        b'{"text": ["a", "b"], "n": 3}\n'
        b'{"text": {"k": "v"}}\n'
    )
    ours = _items(path, ["n"])
    assert [i[0] for i in ours] == ["0", "1", "2", "3", "4", "5", "6", "7"]
    assert ours[0][1:4] == ({"text": "one"}, None, {"n": 1}) and ours[5][1:4] == ({"text": "two"}, None, {"n": 2})
    # a list or an object is no text: the row's error, never its Python repr predicted on
    assert ours[6][1:4] == (None, "text is a list (['a', 'b']), not text", {"n": 3})
    assert ours[7][2] == "text is a dict ({'k': 'v'}), not text"
    assert ours[1][2] == "line 2 is not valid JSON (Unterminated string starting at column 10)" and ours[1][4]
    tab = tmp_path / "tab.jsonl"
    tab.write_bytes(b'{"text": "ok"}\r\n{"text": "a\tb"}\r\n')  # (CRLF line ends are not part of a line)
    assert _items(tab, [])[1][2] == "line 2 is not valid JSON (Invalid control character at column 12)"
    assert ours[2][2] == "line 3 is not UTF-8 text (invalid continuation byte at byte 13)" and ours[2][4]
    assert ours[3][2] == "line 4 is a JSON list, not an object of column values" and ours[3][3] == {"n": None}
    assert ours[4][1:3] == ({"text": "42"}, None)  # a number where texts are expected: its digits, as other tables
    with pytest.raises(DataError, match="could not read"):  # datasets cannot read this file at all
        _via_datasets(path, ["n"])


def test_columns_are_those_of_the_first_rows_together_and_a_file_of_no_rows_is_one_message(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": 1}\n{"id": 2, "body": "hello"}\n')
    (item,) = [i for i in open_source(str(path), {"text": ["body"]}, "text", ["id"]) if i.error is None]
    assert item.payload == {"text": "hello"} and item.extra == {"id": 2}
    with pytest.raises(DataError, match=r"has no column 'text' or 'sentence' \(text\); its columns are: id, body"):
        open_source(str(path), TEXT, "text", None)
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(DataError, match="has no rows"):
        open_source(str(tmp_path / "empty.jsonl"), TEXT, "text", None)
    (tmp_path / "csv.jsonl").write_text("text,label\nhello,a\n")
    with pytest.raises(DataError, match="could not read '.*csv.jsonl'"):
        open_source(str(tmp_path / "csv.jsonl"), TEXT, "text", None)


def test_a_jsonl_file_whose_lines_are_not_objects_is_read_as_json(tmp_path):
    """A JSON array or pretty-printed objects under a .jsonl name: no line of the first is an object, so the
    file goes to datasets' JSON reader as a whole (before any row is given), which reads them."""
    path = tmp_path / "array.jsonl"
    path.write_text(json.dumps([{"text": "a"}, {"text": "b"}], indent=2))
    assert [i.payload for i in open_source(str(path), TEXT, "text", None)] == [{"text": "a"}, {"text": "b"}]


def test_a_line_python_cannot_parse_is_a_row_with_an_error(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "ok"}\n{"text": "deep", "x": ' + "[" * 100_000 + "\n" + '{"n": ' + "9" * 5000 + "}\n")
    items = list(open_source(str(path), TEXT, "text", None))
    assert [i.error is None for i in items] == [True, False, False]
    assert items[1].error.startswith("line 2 is not") and items[2].error.startswith("line 3 is not JSON that can be")


def test_a_table_reader_that_fails_further_on_is_one_message_naming_the_row(tmp_path):
    def load():
        def rows():
            yield {"text": "fine"}
            yield {"text": "also fine"}
            raise ValueError("JSON parse error: Invalid encoding in string. in row 1616\nmore detail")

        return rows()

    source = _table_source("big.json", load, TEXT, "text", None, None)
    with pytest.raises(DataError, match=r"could not read 'big.json' after its first 2 rows: JSON parse error: .*1616;"):
        list(source)


def test_reading_json_lines_does_not_import_datasets(tmp_path):
    import subprocess

    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"text": "hello"}) + "\n")
    code = (
        "import sys; from hf_transfer.inference.sources import open_source; "
        f"rows = list(open_source({str(path)!r}, {{'text': ['text']}}, 'text', None)); "
        "print(len(rows), 'datasets' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["1", "False"]


def test_a_kept_column_that_changes_type_in_a_parquet_output_is_an_error_not_a_silent_conversion(tmp_path):
    """The first rows fix a parquet file's column types. Later rows may widen without loss (ints into a float
    column, numbers into a text column, None anywhere); a float in an int column is an error naming the column
    (pyarrow would write 2.5 as 2), and nothing is published."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hf_transfer.errors import OutputError
    from hf_transfer.inference.sinks import Sink

    out = tmp_path / "p.parquet"
    sink = Sink(out, {"scores": pa.list_(pa.float64())})
    first = {"id": "0", "n": 1.5, "code": "a", "scores": [], "labels": ["x"], "meta": {"a": 1, "b": "u"}}
    sink.write([first, {"id": "1", "n": 2.0, "code": None, "scores": [], "labels": [], "meta": None}])
    # ints into floats, empty label sets, a struct with a key missing or in another order: as before, written
    sink.write([{"id": "2", "n": 3, "code": "b", "scores": [0.5], "labels": [], "meta": {"b": "v", "a": 2}}])
    sink.write([{"id": "3", "n": None, "code": None, "scores": None, "labels": [], "meta": {"a": 3}}])
    sink.close(ok=True)
    table = pq.read_table(out)
    assert table.column("n").to_pylist() == [1.5, 2.0, 3.0, None]
    assert table.column("code").to_pylist() == ["a", None, "b", None]
    assert table.column("scores").to_pylist() == [[], [], [0.5], None]
    assert table.column("labels").to_pylist() == [["x"], [], [], []]
    assert table.column("meta").to_pylist()[2:] == [{"a": 2, "b": "v"}, {"a": 3, "b": None}]

    out = tmp_path / "q.parquet"
    sink = Sink(out)
    sink.write([{"id": "0", "n": 1}, {"id": "1", "n": 2}])
    with pytest.raises(OutputError, match=r"column 'n' changes type after the first 2 rows \(int64 there, float"):
        sink.write([{"id": "2", "n": 2.5}])
    sink.close(ok=False)
    assert not out.exists() and not list(tmp_path.glob(".q.parquet*"))
    sink = Sink(out)
    sink.write([{"id": "0", "n": 1, "code": "a"}])
    with pytest.raises(OutputError, match=r"column 'n' changes type after the first 1 rows \(int64 there, int, str"):
        sink.write([{"id": "1", "n": 2, "code": "b"}, {"id": "2", "n": "x", "code": "c"}])
    with pytest.raises(OutputError, match=r"column 'code' changes type after the first 1 rows \(string there, int"):
        sink.write([{"id": "1", "n": 2, "code": 7}])
    with pytest.raises(OutputError, match=r"column 'n' changes type .*\(int64 there, int values now\)"):
        sink.write([{"id": "1", "n": 2**64, "code": "d"}])
    sink.close(ok=False)
    sink = Sink(out)
    with pytest.raises(OutputError, match="column 'n' cannot be written to parquet: its first rows hold int, str"):
        sink.write([{"id": "0", "n": 1}, {"id": "1", "n": "x"}])
    sink.close(ok=False)
    assert not out.exists()


@pytest.mark.parametrize("top_k", [1, 2, None])
def test_every_tasks_prediction_columns_are_typed_in_parquet_even_when_the_first_rows_are_all_errors(tmp_path, top_k):
    """The first chunk of a parquet output fixes its schema. When every row of it is an error row (prediction
    columns all None), the task's declared types still let the later rows' labels, scores and values in."""
    import pyarrow.parquet as pq
    import torch

    from hf_transfer.inference.sinks import Sink
    from hf_transfer.registry import TASKS
    from hf_transfer.tasks import Task

    id2label = {0: "cat", 1: "dog", 2: "bird"}
    logits = torch.tensor([[2.0, -1.0, 0.5], [-3.0, 1.0, 4.0]])
    for name in TASKS.names():
        task = TASKS.get(name)()
        if type(task).prediction_rows is not Task.prediction_rows:
            continue  # rows built from the inputs (token tags): typed and tested in test_token_inference
        fields = task.prediction_fields(top_k)
        predicted = task.prediction_rows(logits, [None, None], id2label, top_k)
        out = tmp_path / f"{name}-{top_k}.parquet"
        sink = Sink(out, task.prediction_arrow_types(top_k, id2label))
        errors = [{"id": str(i), **dict.fromkeys(fields), "error": "could not read the line"} for i in range(3)]
        sink.write(errors)
        sink.write([{"id": str(3 + i), **row, "error": None} for i, row in enumerate(predicted)])
        sink.close(ok=True)
        got = pq.read_table(out).to_pylist()
        assert got[:3] == errors, name
        assert [{k: r[k] for k in fields} for r in got[3:]] == predicted, name


def _process_runs(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


@pytest.mark.skipif(sys.platform == "win32", reason="stale temporary files are recognised on POSIX only")
def test_a_temporary_output_left_by_a_killed_job_is_removed_by_the_next_job_and_only_that(tmp_path):
    """kill -9 leaves ``.NAME.partial-PID`` behind (no chance to clean up). The next job writing NAME removes it
    when process PID does not run here and nobody holds the file locked; a running job's file (its process runs
    here, or it holds the lock: a job in another container or on another host), other outputs' files, names
    that only look alike and the output itself stay, and nothing raises."""
    import fcntl
    import subprocess

    from hf_transfer.inference.sinks import Sink, partial_name

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = gone.pid
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        out = tmp_path / "pred [1].jsonl"  # glob characters in the name are matched literally
        stale, live = partial_name(out, dead), partial_name(out, running.pid)
        ghost = next(pid for pid in range(dead + 1000, dead + 3000) if not _process_runs(pid))
        elsewhere = partial_name(out, ghost)  # a running job whose process this one cannot see (another host)
        keep = [
            live,
            elsewhere,
            partial_name(tmp_path / "other.jsonl", dead),
            partial_name(tmp_path / f"{out.name}.partial-5.jsonl", dead),  # another output's file
            *(
                tmp_path / f".{out.name}.partial-{suffix}"
                for suffix in ("notapid", f"12-{dead}", f"-{dead}", f"0{dead}", "²", "9" * 20)
            ),
        ]
        for f in (stale, *keep):
            f.write_text("half a job\n")
        held = open(elsewhere, "rb")
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # as its (running) job holds it
        sink = Sink(out)
        held.close()
        assert not stale.exists() and all(f.read_text() == "half a job\n" for f in keep)
        sink.write([{"id": "0", "label": "x"}])
        sink.close(ok=True)
        assert out.read_text() == '{"id": "0", "label": "x"}\n'
    finally:
        running.kill()
        running.wait()


@pytest.mark.skipif(sys.platform == "win32", reason="locks are taken on POSIX only")
@pytest.mark.parametrize("suffix", ["jsonl", "parquet"])
def test_a_running_job_holds_its_temporary_output_locked_and_a_removed_one_is_an_error_not_an_empty_file(
    tmp_path, suffix
):
    import fcntl

    from hf_transfer.errors import OutputError
    from hf_transfer.inference.sinks import Sink

    out = tmp_path / f"pred.{suffix}"
    sink = Sink(out)
    sink.write([{"id": "0", "label": "x"}])
    with open(sink.partial, "rb") as other, pytest.raises(BlockingIOError):
        fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # still held after the writer opened the file
    sink.partial.unlink()  # e.g. removed by a process that could not see this one
    with pytest.raises(OutputError, match="was removed while the job ran"):
        sink.close(ok=True)
    assert not out.exists()
    empty = Sink(tmp_path / f"empty.{suffix}")  # no rows at all: still a valid, empty output
    empty.close(ok=True)
    assert (tmp_path / f"empty.{suffix}").exists() and not list(tmp_path.glob(".empty*"))

    # a job of the same process id elsewhere (another container sharing the folder) holds that name: refused,
    # its rows untouched
    busy = tmp_path / f"busy.{suffix}"
    theirs = Sink(busy)
    theirs.write([{"id": "0", "label": "theirs"}])
    size = theirs.partial.stat().st_size
    with pytest.raises(OutputError, match="another job is writing .* right now"):
        Sink(busy)
    assert theirs.partial.stat().st_size == size
    theirs.close(ok=True)
    assert busy.exists()

    # writing the last rows fails (a full disk): the temporary file goes and its lock is released
    failing = Sink(tmp_path / f"fail.{suffix}")
    failing.write([{"id": "0", "label": "x"}])
    writer = failing._writer if suffix == "parquet" else failing._file
    real_close = writer.close
    writer.close = lambda: (_ for _ in ()).throw(OSError(28, "No space left on device"))
    with pytest.raises(OSError, match="No space left"):
        failing.close(ok=True)
    writer.close = real_close
    writer.close()
    assert not list(tmp_path.glob(".fail*")) and not (tmp_path / f"fail.{suffix}").exists()


def test_struct_keys_a_parquet_column_has_no_field_for_are_an_error_not_dropped(tmp_path):
    """pyarrow drops dict keys a struct type lacks, silently; the sink refuses instead (a struct column and a
    list-of-structs column), and label names that are not text in a hand-written config are written as text."""
    import pyarrow as pa
    import torch

    from hf_transfer.errors import OutputError
    from hf_transfer.inference.sinks import Sink
    from hf_transfer.registry import TASKS

    sink = Sink(tmp_path / "a.parquet", {"values": pa.struct([("a", pa.float64())])})
    sink.write([{"id": "0", "values": {"a": 1.0}}])
    with pytest.raises(OutputError, match=r"column 'values' holds the key\(s\) 'b', 'c' after the first 1 rows"):
        sink.write([{"id": "1", "values": {"a": 1.0, "b": 2.0, "c": 3.0}}])
    sink.close(ok=False)
    sink = Sink(tmp_path / "b.parquet")
    sink.write([{"id": "0", "scores": [{"label": "x", "score": 0.5}]}])
    with pytest.raises(OutputError, match=r"column 'scores' holds the key\(s\) 'extra'"):
        sink.write([{"id": "1", "scores": [{"label": "y", "score": 0.1, "extra": 1}]}])
    sink.close(ok=False)
    sink = Sink(tmp_path / "c.parquet")  # at any depth; a key whose value is None loses nothing
    sink.write([{"id": "0", "m": {"a": [{"x": 1}]}, "n": {"a": 1}}])
    sink.write([{"id": "1", "m": {"a": [{"x": 2}]}, "n": {"a": 2, "b": None}}])
    with pytest.raises(OutputError, match=r"column 'm' holds the key\(s\) 'a.y'"):
        sink.write([{"id": "2", "m": {"a": [{"x": 3, "y": 4}]}, "n": None}])
    sink.close(ok=False)
    assert not list(tmp_path.iterdir())

    task = TASKS.get("text-classification")()
    rows = task.prediction_rows(torch.tensor([[0.0, 3.0]]), [None], {0: 10, 1: 20}, None)
    assert rows[0]["label"] == "20" and [s["label"] for s in rows[0]["scores"]] == ["20", "10"]
    regression = TASKS.get("regression")()
    assert "values" not in regression.prediction_arrow_types(1, {0: "a", 2: "c"})  # not one name per output
