"""Bad input to tasks: each error has the right class and names the problem and the fix."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from seqlab.cli import main
from seqlab.errors import ConfigError, DataError, MissingDependencyError, UnknownNameError
from seqlab.tasks import create_task


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def setup_error(name: str, cls: type[Exception], **options) -> str:
    """The message of ``cls`` raised while building or setting up task ``name``."""
    with pytest.raises(cls) as exc:
        create_task(name, **options).setup("fit")
    return str(exc.value)


# -- files ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["text", "charlm", "forecast"])
def test_missing_file(name, tmp_path):
    msg = setup_error(name, DataError, path=str(tmp_path / "nope.csv"))
    assert "nope.csv" in msg and "does not exist" in msg and "existing file" in msg


@pytest.mark.parametrize("name", ["text", "charlm", "forecast"])
def test_empty_file(name, tmp_path):
    msg = setup_error(name, DataError, path=str(write(tmp_path / "empty.csv", "  \n")))
    assert "empty.csv" in msg and "is empty" in msg


@pytest.mark.parametrize("name", ["text", "charlm", "forecast"])
def test_non_utf8_file(name, tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("text,label\ncafé au lait,1\n".encode("latin-1"))
    msg = setup_error(name, DataError, path=str(path))
    assert "not UTF-8" in msg and "line 2, column 4" in msg and "0xe9" in msg
    assert "iconv" in msg


def test_directory_instead_of_file(tmp_path):
    msg = setup_error("charlm", DataError, path=str(tmp_path))
    assert "not a regular file" in msg


def test_unknown_table_suffix(tmp_path):
    msg = setup_error("text", DataError, path=str(write(tmp_path / "data.xlsx", "x")))
    assert "'.xlsx'" in msg and ".csv, .tsv or .jsonl" in msg


def test_csv_row_with_the_wrong_number_of_fields(tmp_path):
    path = write(tmp_path / "d.csv", "text,label\nfine,1\nhello, world,0\n")
    msg = setup_error("text", DataError, path=str(path))
    assert "line 3" in msg and "3 fields" in msg and "Quote" in msg


def test_bad_json_line(tmp_path):
    path = write(tmp_path / "d.jsonl", '{"text": "a", "label": 1}\n{"text": "b", label: 0}\n')
    msg = setup_error("text", DataError, path=str(path))
    assert "line 2" in msg and "not valid JSON" in msg


# -- columns and labels ---------------------------------------------------------------
def test_missing_text_column_lists_the_columns(tmp_path):
    path = write(tmp_path / "d.csv", "review,sentiment\ngood,pos\nbad,neg\n")
    msg = setup_error("text", DataError, path=str(path))
    assert "column 'text' (text_column)" in msg and "review, sentiment" in msg
    assert "text_column=NAME" in msg


def test_missing_label_column(tmp_path):
    path = write(tmp_path / "d.csv", "text,sentiment\ngood,pos\nbad,neg\n")
    msg = setup_error("text", DataError, path=str(path))
    assert "column 'label' (label_column)" in msg


def test_label_column_with_one_class(tmp_path):
    rows = "\n".join(f"text {i},pos" for i in range(20))
    msg = setup_error("text", DataError, path=str(write(tmp_path / "d.csv", f"text,label\n{rows}")))
    assert "single class ('pos')" in msg and "label column" in msg and "at least two" in msg


def test_empty_text_names_its_line(tmp_path):
    path = write(tmp_path / "d.csv", 'text,label\ngood,1\n"",0\nbad,0\n')
    msg = setup_error("text", DataError, path=str(path))
    assert "empty at line 3" in msg


def test_unknown_split_value(tmp_path):
    path = write(tmp_path / "d.csv", "text,label,part\na,1,train\nb,0,holdout\n")
    msg = setup_error("text", DataError, path=str(path), split_column="part")
    assert "'holdout'" in msg and "line 3" in msg and "train, val or test" in msg


def test_split_column_without_test_rows(tmp_path):
    path = write(tmp_path / "d.csv", "text,label,part\na,1,train\nb,0,train\nc,0,val\n")
    msg = setup_error("text", DataError, path=str(path), split_column="part")
    assert "no test rows" in msg


def test_text_needs_a_source():
    with pytest.raises(ConfigError, match="path=FILE"):
        create_task("text")
    with pytest.raises(ConfigError, match="exactly one source"):
        create_task("text", path="a.csv", hf_dataset="imdb")


def test_hf_dataset_without_the_datasets_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # import fails as if not installed
    msg = setup_error("text", MissingDependencyError, hf_dataset="imdb")
    assert "datasets" in msg and "pip install" in msg


def test_missing_optional_dependency_says_which_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    msg = setup_error("digits", MissingDependencyError)
    assert "scikit-learn" in msg and "pip install 'seqlab[data]'" in msg


# -- series ---------------------------------------------------------------------------
def test_series_shorter_than_context_plus_horizon(tmp_path):
    path = write(tmp_path / "s.csv", "v\n" + "\n".join(str(i) for i in range(20)))
    msg = setup_error("forecast", DataError, path=str(path), context=18, horizon=5)
    assert "20 steps" in msg and "shorter than context + horizon = 18 + 5 = 23" in msg


def test_training_part_too_short_for_one_window(tmp_path):
    path = write(tmp_path / "s.csv", "v\n" + "\n".join(str(i) for i in range(30)))
    msg = setup_error("forecast", DataError, path=str(path), context=20, horizon=2)
    assert "training part has 21" in msg and "context + horizon = 22" in msg


def test_nan_in_a_series_names_line_and_column(tmp_path):
    lines = ["day,load,temp"] + [f"{i},{i * 1.5},{20 + i}" for i in range(40)]
    lines[4] = "3,NaN,23"
    lines[9] = "8,,28"
    msg = setup_error("forecast", DataError, path=str(write(tmp_path / "s.csv", "\n".join(lines))))
    assert "column 'load'" in msg and "missing (NaN) at line 5" in msg
    assert "1 more" in msg and "interpolate" in msg


def test_non_numeric_value_in_a_chosen_column(tmp_path):
    lines = ["load"] + [str(i) for i in range(40)]
    lines[7] = "n.a.!"
    path = write(tmp_path / "s.csv", "\n".join(lines))
    msg = setup_error("forecast", DataError, path=str(path), columns="load")
    assert "not a number ('n.a.!')" in msg and "line 8" in msg


def test_unknown_forecast_columns_and_target(tmp_path):
    path = write(tmp_path / "s.csv", "a,b\n" + "\n".join(f"{i},{i}" for i in range(50)))
    msg = setup_error("forecast", DataError, path=str(path), columns="a,c")
    assert "column 'c' (columns)" in msg and "a, b" in msg
    msg = setup_error("forecast", DataError, path=str(path), target="bb")
    assert "target column 'bb'" in msg and "Did you mean 'b'" in msg


def test_charlm_without_a_file(monkeypatch):
    import seqlab.tasks.charlm as charlm

    monkeypatch.setattr(charlm, "shared_data_file", lambda name: None)
    msg = setup_error("charlm", DataError)
    assert "tinyshakespeare.txt" in msg and "path=FILE" in msg


def test_charlm_file_too_short_for_a_batch(tmp_path):
    msg = setup_error(
        "charlm",
        DataError,
        path=str(write(tmp_path / "t.txt", "abc " * 100)),
        batch_size=8,
        seq_len=32,
    )
    assert "val part" in msg and "needs 257" in msg and "smaller batch_size" in msg


# -- names ----------------------------------------------------------------------------
def test_unknown_ucr_dataset_lists_the_bundled_ones():
    with pytest.raises(UnknownNameError) as exc:
        create_task("ucr", dataset="GunPiont")
    msg = str(exc.value)
    assert "Did you mean 'GunPoint'" in msg
    for name in ("BasicMotions", "GunPoint", "ItalyPowerDemand", "JapaneseVowels"):
        assert name in msg
    assert "Covid3Month," not in msg  # a regression set is not offered for classification


def test_unknown_forecast_dataset_lists_the_bundled_ones():
    with pytest.raises(UnknownNameError) as exc:
        create_task("forecast", dataset="sunspot")
    msg = str(exc.value)
    assert "Did you mean 'sunspots'" in msg and "airline, co2, sunspots" in msg and "path=" in msg


# -- option ranges --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "options", "expected"),
    [
        ("adding", {"seq_len": 0}, "seq_len=0 is invalid: it must be an integer ≥ 2"),
        ("adding", {"seq_len": 2.5}, "seq_len=2.5"),
        ("adding", {"n_train": "many"}, "n_train='many'"),
        ("adding", {"batch_size": 0}, "batch_size=0"),
        ("adding", {"seed": -1}, "seed=-1"),
        ("copy", {"delay": 0}, "delay=0 is invalid: it must be an integer ≥ 1"),
        ("copy", {"num_workers": -2}, "num_workers=-2"),
        ("digits", {"layout": "cols"}, "layout='cols' is invalid. It must be one of: rows, pixels"),
        ("digits", {"permute": "maybe"}, "permute='maybe' is invalid: it must be true or false"),
        (
            "digits",
            {"val_fraction": 1.5},
            "val_fraction=1.5 is invalid: it must be a number strictly between 0 and 1",
        ),
        ("digits", {"val_fraction": 0.5, "test_fraction": 0.5}, "leaves no training data"),
        ("ucr", {"val_fraction": 0}, "val_fraction=0"),
        ("text", {"path": "x.csv", "tokens": "bpe"}, "tokens='bpe'"),
        ("text", {"path": "x.csv", "max_len": 0}, "max_len=0"),
        (
            "text",
            {"path": "x.csv", "max_vocab": 2},
            "max_vocab=2 is invalid: it must be an integer ≥ 3",
        ),
        ("charlm", {"seq_len": 0}, "seq_len=0"),
        (
            "charlm",
            {"test_fraction": -0.1},
            "test_fraction=-0.1 is invalid: it must be a number in [0, 1)",
        ),
        ("forecast", {"context": 0}, "context=0"),
        ("forecast", {"horizon": -1}, "horizon=-1"),
        ("forecast", {"scale": "minmax"}, "scale='minmax'"),
        ("forecast", {"dataset": "co2", "path": "x.csv"}, "not both"),
    ],
)
def test_option_out_of_range(name, options, expected):
    with pytest.raises(ConfigError) as exc:
        create_task(name, **options)
    msg = str(exc.value)
    assert expected in msg and f"task '{name}'" in msg


def test_cli_reports_a_bad_file_in_one_paragraph(tmp_path, capsys):
    assert main(["tasks", "show", "text", "-o", f"path={tmp_path / 'missing.csv'}"]) == 2
    err = capsys.readouterr().err
    assert "missing.csv" in err and "does not exist" in err and "Traceback" not in err
