"""Bad input to every entry point is one line ``error: <what>; <what to do>``, exit 2, and never a
traceback: a table of cases, each run in-process through the script's ``main(argv)``."""

from __future__ import annotations

import lightning.pytorch  # noqa: F401  (imported at collection: its log handler keeps the real stderr, not a test's capture)
import pytest

from tests.conftest import load_script

SYN = ["--data", "synthetic", "--no-progress"]


def _paths(tmp_path):
    afile = tmp_path / "a_file"
    afile.write_text("x")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(bytes(range(128, 256)))
    return {"FILE": str(afile), "UNDER_FILE": str(afile / "sub"), "BINARY": str(binary), "TMP": str(tmp_path)}


def _fill(argv, paths):
    return [paths.get(a, a) for a in argv]


def _one_line_refusal(script: str, argv: list[str], capsys) -> str:
    try:
        code = load_script(script).main(argv)
    except SystemExit as exit_:  # argparse's own errors go through OneLineParser
        code = exit_.code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code == 2, err
    assert "Traceback" not in err and len(lines) == 1, err
    assert lines[0].count(";") >= 1, f"no 'what to do' part: {lines[0]}"
    return lines[0]


EXPERIMENT = [
    (["ex2", "--seeds", "1000000"], "--seeds 1000000"),
    (["ex2", "--seeds", "0"], "--seeds 0"),
    (["ex2", "--threads", "999"], "--threads 999"),
    (["ex2", "--threads", "-1"], "--threads -1"),
    (["ex2", "--workers", "100000"], "--workers 100000"),
    (["ex2", "--workers", "-1"], "--workers -1"),
    (["ex2", "--epochs", "51"], "--epochs 51"),
    (["ex2", "--images-per-epoch", "1"], "--images-per-epoch 1"),
    (["ex2", "--out", ""], "--out ''"),
    (["ex2", "--out", "   "], "names no folder"),
    (["ex2", "--out", "UNDER_FILE"], "not writable"),
    (["ex2", "--seeds", "two"], "invalid int value"),
    (["ex9"], "invalid choice"),
    (["ex2", "--bogus"], "unrecognized arguments"),
    (["ex2", "--ray-address", "h:1"], "--ray-address needs --executor ray"),
]


@pytest.mark.parametrize("argv, words", EXPERIMENT)
def test_experiment_refuses_in_one_line(tmp_path, capsys, argv, words):
    paths = _paths(tmp_path)
    argv = _fill(argv, paths)
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "out")]
    line = _one_line_refusal("experiment", [*argv, *SYN], capsys)
    assert words in line
    assert not (tmp_path / "out" / "runs").exists()  # refused before any work


BENCH = [
    (["--batch-sizes", "0"], "--batch-sizes 0"),
    (["--batch-sizes", "32", "-4"], "--batch-sizes -4"),
    (["--hidden", "0"], "--hidden 0"),
    (["--hidden", "1000000000"], "--hidden 1000000000"),
    (["--threads", "-1"], "--threads -1"),
    (["--threads", "0"], "--threads 0"),
    (["--epochs", "0"], "--epochs 0"),
    (["--warmup", "-1"], "--warmup -1"),
    (["--slices", "0"], "--slices 0"),
    (["--json", "UNDER_FILE"], "does not exist (or is a file)"),
    (["--json", "TMP"], "is a folder"),
    (["--norms", "xx"], "invalid choice"),
    (["--bogus"], "unrecognized arguments"),
    (["--epochs", "1.5"], "invalid int value"),
]


@pytest.mark.parametrize("argv, words", BENCH)
def test_bench_refuses_in_one_line_before_the_benchmark(tmp_path, capsys, argv, words):
    line = _one_line_refusal("bench", _fill(argv, _paths(tmp_path)), capsys)
    assert words in line


def test_bench_refuses_cuda_without_a_gpu(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is here: --device cuda is valid")
    assert "no CUDA GPU" in _one_line_refusal("bench", ["--device", "cuda"], capsys)


TRAIN = [
    (["--config", "BINARY"], "not a text"),
    (["--config", "TMP"], "cannot be read"),
    (["--epochs", "x"], "invalid int value"),
    (["--norm", "xx"], "invalid choice"),
    (["--bogus"], "unrecognized arguments"),
]


@pytest.mark.parametrize("argv, words", TRAIN)
def test_train_refuses_in_one_line(tmp_path, capsys, argv, words):
    argv = [*_fill(argv, _paths(tmp_path)), *SYN, "--out", str(tmp_path / "run")]
    assert words in _one_line_refusal("train", argv, capsys)


def test_train_resume_from_a_checkpoint_of_another_net_is_one_line(tmp_path, capsys):
    train = load_script("train")
    small, wide = tmp_path / "small", tmp_path / "wide"
    for out, width in ((small, "16"), (wide, "32")):
        assert train.main([*SYN, "--epochs", "1", "--hidden", width, "--out", str(out)]) == 0
    (wide / "checkpoints" / "last.ckpt").write_bytes((small / "checkpoints" / "last.ckpt").read_bytes())
    capsys.readouterr()
    line = _one_line_refusal("train", ["--resume", "--out", str(wide), "--epochs", "2", "--no-progress"], capsys)
    assert "holds another net" in line and "--overwrite" in line and "NET_REVISIONS" in line


@pytest.fixture(scope="module")
def parity_loaded():
    return load_script("parity")  # imports Keras once for every parity case


PARITY = [
    (["--steps", "-1"], "--steps -1"),
    (["--steps", "0"], "--steps 0"),  # it printed ALL PASS having compared no step
    (["--batch-size", "0"], "--batch-size 0"),
    (["--lr", "-1"], "--lr -1"),
    (["--lr", "nan"], "--lr nan"),
    (["--lr", "inf"], "--lr inf"),
    (["--lr", "0"], "--lr 0"),
    (["--lstm-units", "0"], "--lstm-units 0"),
    (["--hidden", "1e9"], "invalid int value"),
    (["--hidden", "1000000000"], "--hidden 1000000000"),
    (["--hidden", "64", "0"], "--hidden 0"),
    (["--groups", "0"], "--groups 0"),
    (["--lstm-groups", "3"], "--lstm-groups 3"),
    (["--sgd-dtype", "float16"], "invalid choice"),
    (["--bogus"], "unrecognized arguments"),
]


@pytest.mark.parametrize("argv, words", PARITY)
def test_parity_refuses_in_one_line(parity_loaded, capsys, argv, words):
    try:
        code = parity_loaded.main(argv)
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.startswith("error: ")]
    assert code == 2 and len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert words in lines[0] and "ALL PASS" not in captured.out
