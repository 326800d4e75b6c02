"""``--out`` and option mistakes found by checking (issue 23, items 5-9): one line naming
the option, exit code 2, nothing left behind; an interrupt exits 130 and leaves nothing."""

import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from kerascope import cli
from kerascope.cli import common

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run(args, capsys):
    code = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(code, err, *needles):
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def leftovers(folder):
    return sorted(p.name for p in pathlib.Path(folder).glob(".kerascope-*"))


def test_out_in_a_folder_that_cannot_be_written(tmp_path, capsys, monkeypatch):
    """As root every folder is writable, so the refusal of the operating system is
    planted where the command creates its stage."""
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(common.tempfile, "mkdtemp", refuse)
    code, _, err = run(["demo", "-m", "grad_cam", "--out", tmp_path / "locked" / "out",
                        "--quiet"], capsys)
    one_line_error(code, err, "--out", "Permission denied")
    assert not (tmp_path / "locked").exists()


def test_out_a_link_to_a_folder_is_written_through_the_link(tmp_path, capsys):
    target = tmp_path / "real"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    link = tmp_path / "link"
    link.symlink_to(target, target_is_directory=True)

    code, _, err = run(["demo", "-m", "grad_cam", "--out", link, "--quiet"], capsys)
    one_line_error(code, err, "--out", "--force")
    assert (target / "keep.txt").read_text() == "mine"

    code, _, err = run(["demo", "-m", "grad_cam", "--out", link, "--force", "--quiet"], capsys)
    assert code == 0, err
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert (target / "maps.npz").is_file() and not (target / "keep.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]


def test_out_a_dangling_link(tmp_path, capsys):
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "nowhere")
    code, _, err = run(["demo", "-m", "grad_cam", "--out", link, "--quiet"], capsys)
    one_line_error(code, err, "--out", "does not exist")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link"]


def test_unknown_metric_option_names_the_option(tmp_path, capsys):
    code, _, err = run(["evaluate", "--demo", "--metric", "deletion", "--metric-option",
                        "deletion.nope=1", "--out", tmp_path / "o"], capsys)
    one_line_error(code, err, "--metric-option deletion.nope", "steps")
    assert not (tmp_path / "o").exists() and leftovers(tmp_path) == []


def test_negative_seed_names_the_option(tmp_path, capsys):
    code, _, err = run(["sanity", "--demo", "--seed", "-1", "--out", tmp_path / "o"], capsys)
    one_line_error(code, err, "--seed")


def test_masks_not_a_npy_file(tmp_path, capsys):
    masks = tmp_path / "masks.npy"
    masks.write_text("not an array\n")
    code, _, err = run(["evaluate", "--demo", "-m", "grad_cam", "--metric", "pointing_game",
                        "--masks", masks, "--out", tmp_path / "o"], capsys)
    line = one_line_error(code, err, "--masks", "not a .npy file")
    assert "pickle" not in line
    assert not (tmp_path / "o").exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("attempt", range(2))
def test_an_interrupt_exits_130_and_leaves_nothing(tmp_path, attempt):
    """SIGINT while every method runs: exit 130 (never a crash in the teardown)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), *sys.path]))
    out = tmp_path / "out"
    # a shell without job control starts background jobs with SIGINT ignored, and the
    # child would inherit that: it gets the default disposition, as in a terminal
    child = subprocess.Popen([sys.executable, "-m", "kerascope", "demo", "-m", "all", "--out",
                              str(out), "--quiet"], env=env, cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not leftovers(tmp_path):  # the stage appears when the work starts
        assert time.monotonic() < deadline, "the command never started its work"
        try:
            child.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            continue
        pytest.fail(f"the command ended before it was interrupted: {child.stderr.read()!r}")
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=120)
    assert child.returncode == 130, err.decode()
    assert not out.exists() and leftovers(tmp_path) == []
