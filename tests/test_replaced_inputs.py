"""`source: files` inputs: a skim reruns when the file behind a path is not the one it read, even
when that file is older than the skim (a repointed symlink, a replaced or rewritten file), and
nothing reruns when nothing changed. The param behind it: egcalib.core.file_identity."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
import yaml
from workflow_utils import REPO, copy_checkout, snakemake

from egcalib.core.file_identity import file_identity

DATA = REPO / "tests" / "data" / "real_ntuples"
DATASET = "my_zee_mc"
TARGET = f"results/skim/{DATASET}.cutflow.csv"
# Input times well before the skim; the replacing files older still.
ORIGINAL = 1_600_000_000_000_000_000
OLDER = ORIGINAL - 86_400 * 10**9
# What the workflow writes and reads back: reset from the pristine copy before each test.
STATE = ("inputs", "results", ".snakemake")


def _set_time(path: Path, mtime_ns: int) -> None:
    os.utime(path, ns=(mtime_ns, mtime_ns), follow_symlinks=False)


def _write_inputs(inputs: Path) -> None:
    """Three real ntuples the default mapping skims, behind three kinds of path: zee_bool in a
    symlinked production directory (prod -> prod_v1), zee_trigchar a plain file, zee_nested a
    symlink to a file of a production store (store/v1). prod_v2 and store/v2 hold other, older
    files of the same names to repoint to."""
    files = {
        "prod_v1/zee_bool.root": "zee_bool.root",
        "prod_v2/zee_bool.root": "zee_flagvectors.root",
        "plain/zee_trigchar.root": "zee_trigchar.root",
        "store/v1/zee_nested.root": "zee_nested.root",
        "store/v2/zee_nested.root": "zee_flagvectors.root",
        "spare/zee_trigchar.root": "zee_flagvectors.root",
    }
    for name, source in files.items():
        path = inputs / name
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(DATA / source, path)
        _set_time(path, OLDER if "v2" in name or "spare" in name else ORIGINAL)
    (inputs / "prod").symlink_to("prod_v1")
    (inputs / "plain/zee_nested.root").symlink_to("../store/v1/zee_nested.root")
    for link in ("prod", "plain/zee_nested.root"):
        _set_time(inputs / link, ORIGINAL)


def _own_config(work: Path) -> Path:
    """configs/own-ntuples.yaml with one `source: files` dataset: the symlinked directory's files
    and the plain directory's."""
    config = yaml.safe_load((REPO / "configs/own-ntuples.yaml").read_text())
    config["datasets"] = {
        DATASET: {
            **config["datasets"][DATASET],
            "files": [str(work / "inputs/prod/*.root"), str(work / "inputs/plain/*.root")],
        }
    }
    config.update(selected_datasets=[DATASET], selected_models=["basic"])
    path = work / "mine.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """A checkout copy with the dataset skimmed once (skims and cutflow only), and a copy of its
    inputs and results: (work directory, pristine copy, config files)."""
    base = tmp_path_factory.mktemp("replaced")
    work = copy_checkout(base / "work")
    _write_inputs(work / "inputs")
    configfiles = ("config.yaml", str(_own_config(work)))
    snakemake(work, TARGET, configfiles=configfiles, timeout=600)
    keep = base / "pristine"
    for name in STATE:
        shutil.copytree(work / name, keep / name, symlinks=True)
    return work, keep, configfiles


@pytest.fixture
def skimmed(pristine):
    """The work directory as the skim left it (the same absolute paths, so the same real paths,
    sizes and times): each test changes its own copy."""
    work, keep, configfiles = pristine
    for name in STATE:
        shutil.rmtree(work / name)
        shutil.copytree(keep / name, work / name, symlinks=True)
    return work, configfiles


def planned_skims(work: Path, configfiles) -> tuple[dict[str, int], list[str]]:
    """({rule: jobs}, file names whose skim is planned) of a dry run for the cutflow."""
    result = snakemake(work, "-n", TARGET, configfiles=configfiles)
    text = result.stdout + result.stderr
    if "Nothing to be done" in text:
        return {}, []
    table = text.split("Job stats:", 1)[1]
    jobs = {name: int(count) for name, count in re.findall(r"^(\w+)\s+(\d+)$", table, re.M)}
    jobs.pop("total", None)
    files = re.findall(rf"output: results/skim/{DATASET}/(\w+)\.parquet", text)
    return jobs, sorted(files)


@pytest.mark.slow
def test_nothing_planned_when_nothing_changed(skimmed):
    work, configfiles = skimmed
    cutflows = (work / "results/skim" / DATASET).glob("*.cutflow.json")
    assert sorted(p.name.removesuffix(".cutflow.json") for p in cutflows) == [
        "zee_bool",
        "zee_nested",
        "zee_trigchar",
    ]
    assert planned_skims(work, configfiles) == ({}, [])


def _repoint_directory(inputs: Path) -> None:
    (inputs / "prod.new").symlink_to("prod_v2")
    _set_time(inputs / "prod.new", OLDER)
    os.replace(inputs / "prod.new", inputs / "prod")


def _repoint_file(inputs: Path) -> None:
    # The new link as old as the file it points to (a copied link farm): its own time tells
    # Snakemake nothing either.
    link = inputs / "plain/zee_nested.root.new"
    link.symlink_to("../store/v2/zee_nested.root")
    _set_time(link, OLDER)
    os.replace(link, inputs / "plain/zee_nested.root")


def _replace_by_older(inputs: Path) -> None:
    os.replace(inputs / "spare/zee_trigchar.root", inputs / "plain/zee_trigchar.root")
    _set_time(inputs / "plain/zee_trigchar.root", OLDER)


def _rewrite_in_place(inputs: Path) -> None:
    """Other contents into the same inode, and an older time kept from the source (`cp -p`,
    `rsync --inplace -t`)."""
    path = inputs / "plain/zee_trigchar.root"
    inode = path.stat().st_ino
    with open(path, "r+b") as handle:
        handle.write((DATA / "zee_flagvectors.root").read_bytes())
        handle.truncate()
    _set_time(path, ORIGINAL - 3600 * 10**9)
    assert path.stat().st_ino == inode


@pytest.mark.slow
@pytest.mark.parametrize(
    "change, file",
    [
        (_repoint_directory, "zee_bool"),
        (_repoint_file, "zee_nested"),
        (_replace_by_older, "zee_trigchar"),
        (_rewrite_in_place, "zee_trigchar"),
    ],
    ids=["directory symlink repointed", "file symlink repointed", "replaced", "rewritten"],
)
def test_the_skim_of_a_file_no_longer_the_one_read_reruns(skimmed, change, file):
    work, configfiles = skimmed
    outputs = work / "results/skim" / DATASET
    change(work / "inputs")
    # Older than the skim: Snakemake's time stamps alone would rerun nothing.
    assert all(
        os.stat(path).st_mtime_ns < (outputs / f"{file}.parquet").stat().st_mtime_ns
        for path in (work / "inputs").rglob("*.root")
    )
    jobs, skims = planned_skims(work, configfiles)
    # That file's skim alone, and the dataset's aggregations after it (the cutflow merge): one
    # job each.
    assert skims == [file] and jobs["skim"] == 1 and jobs["merge_cutflows"] == 1, jobs
    assert set(jobs.values()) == {1}, jobs


@pytest.mark.slow
def test_a_dangling_input_to_skim_is_an_error_naming_dataset_and_path(skimmed):
    """A dangling symlink is a missing input: where its skim is to run, planning stops naming
    the path (Snakemake's missing input, or the identity's error naming the dataset too).
    Where the skim is there, it is kept, as for any input deleted after use."""
    work, configfiles = skimmed
    (work / "inputs/store/v1/zee_nested.root").unlink()
    link = work / "inputs/plain/zee_nested.root"
    assert planned_skims(work, configfiles) == ({}, [])
    skim = f"results/skim/{DATASET}/zee_nested.parquet"
    forced = snakemake(work, "-n", "-f", skim, configfiles=configfiles, check=False)
    assert forced.returncode != 0
    assert f"dataset {DATASET}: input file {link} is a symlink to " in forced.stdout + forced.stderr
    for path in (work / "results/skim" / DATASET).glob("zee_nested.*"):
        path.unlink()
    missing = snakemake(work, "-n", TARGET, configfiles=configfiles, check=False)
    assert missing.returncode != 0 and str(link) in missing.stdout + missing.stderr


def test_identity_resolves_every_symlink_on_the_path(tmp_path):
    tmp_path = tmp_path.resolve()  # itself under no symlink
    _write_inputs(tmp_path)
    bool_file = tmp_path / "prod_v1/zee_bool.root"
    assert file_identity(str(tmp_path / "prod/zee_bool.root"), DATASET) == {
        "mtime_ns": ORIGINAL,
        "path": str(bool_file),
        "size": bool_file.stat().st_size,
    }
    nested = file_identity(str(tmp_path / "plain/zee_nested.root"), DATASET)
    assert nested["path"] == str(tmp_path / "store/v1/zee_nested.root")
    # Canonical: keys sorted, so the param's repr does not depend on how it was built.
    assert list(nested) == ["mtime_ns", "path", "size"]
    # The directory resolver is the caller's (cached over a planning).
    resolved = []

    def real_directory(directory):
        resolved.append(directory)
        return os.path.realpath(directory)

    file_identity(str(tmp_path / "prod/zee_bool.root"), DATASET, real_directory)
    assert resolved == [str(tmp_path / "prod")]


def test_identity_errors_name_dataset_and_path(tmp_path):
    tmp_path = tmp_path.resolve()
    missing = tmp_path / "missing.root"
    with pytest.raises(FileNotFoundError, match=re.escape(f"dataset d: input file {missing} does")):
        file_identity(str(missing), "d")
    (tmp_path / "link.root").symlink_to("missing.root")
    with pytest.raises(FileNotFoundError, match=re.escape(f"is a symlink to {missing}, which")):
        file_identity(str(tmp_path / "link.root"), "d")
    with pytest.raises(IsADirectoryError, match=re.escape(f"dataset d: input {tmp_path} is a")):
        file_identity(str(tmp_path), "d")
