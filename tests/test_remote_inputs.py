"""`files:` entries as XRootD URLs (egcalib.core.remote_files), against a real xrootd on localhost
(tests/xrootd_server.py): globs over remote directories, identities that follow the file, reads
equal to local ones, a remote run equal to a local run with reruns that follow exactly the
replaced file, and clear errors, with no output, for a missing file, a server that is down and a
read that breaks off."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import awkward as ak
import pandas as pd
import pytest
import yaml
from workflow_utils import REPO, copy_checkout, planned_jobs, snakemake
from xrootd_server import CLIENT_ENV, XRootDServer, readable_directory

from egcalib.core.remote_files import canonical_url, remote_glob, remote_identity
from egcalib.skim.branch_mapping import InputFileError
from egcalib.skim.reading import iterate

DATA = REPO / "tests" / "data" / "real_ntuples"
DATASET = "my_zee_mc"
TARGET = f"results/skim/{DATASET}.cutflow.csv"
# Served layout: two production directories and a hidden file no wildcard may match.
LAYOUT = {
    "prod/v1/zee_bool.root": "zee_bool.root",
    "prod/v1/zee_trigchar.root": "zee_trigchar.root",
    "prod/v2/zee_nested.root": "zee_nested.root",
    "prod/v2/.zee_partial.root": "zee_flagvectors.root",
    "spare/zee_bool.root": "zee_flagvectors.root",
}
FIELDS = ["runNumber", "eventNumber", "el_pt", "el_eta", "el_cells_lr2"]


def _serve(export: Path) -> None:
    for name, source in LAYOUT.items():
        path = export / name
        for parent in reversed(path.relative_to(export).parents[:-1]):
            (export / parent).mkdir(mode=0o755, exist_ok=True)
        shutil.copyfile(DATA / source, path)
        path.chmod(0o644)


@pytest.fixture(scope="module")
def client_env():
    """The shortened client retries (CLIENT_ENV) in this process and in Snakemake's."""
    saved = {name: os.environ.get(name) for name in CLIENT_ENV}
    os.environ.update(CLIENT_ENV)
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="module")
def server(client_env):
    export = readable_directory("egcalib-xrootd-")
    _serve(export)
    server = XRootDServer(export)
    server.start()
    yield server
    server.close()
    shutil.rmtree(export, ignore_errors=True)


def test_glob_matches_remote_files_as_glob_does(server):
    url = server.url
    assert remote_glob(f"{url}/prod/*/zee_*.root", "d") == [
        canonical_url(f"{url}/prod/v1/zee_bool.root"),
        canonical_url(f"{url}/prod/v1/zee_trigchar.root"),
        canonical_url(f"{url}/prod/v2/zee_nested.root"),
    ]
    assert remote_glob(f"{url}/prod/v2/*", "d") == [canonical_url(f"{url}/prod/v2/zee_nested.root")]
    # No match, a missing directory on the way included: an empty list, as glob.glob gives.
    assert remote_glob(f"{url}/prod/v3/*.root", "d") == []
    assert remote_glob(f"{url}/nowhere/*/zee_*.root", "d") == []
    # Without wildcards the URL is what it is, found or not (its identity says which).
    assert remote_glob(f"{url}/prod/v1/none.root", "d") == [f"{url}/prod/v1/none.root"]


def test_identity_is_the_files_size_and_time_and_follows_a_replacement(server):
    local = server.export / "prod/v1/zee_trigchar.root"
    url = f"{server.url}/prod/v1/zee_trigchar.root"
    identity = remote_identity(url, "d")
    assert identity == {
        "mtime_ns": int(local.stat().st_mtime) * 10**9,
        "path": canonical_url(url),
        "size": local.stat().st_size,
    }
    # The same file under another spelling of its URL (one slash): the same identity.
    assert remote_identity(f"root://localhost:{server.port}{local}", "d") == identity
    # Replaced by another, older file of the same name: another identity.
    saved = local.read_bytes()
    try:
        shutil.copyfile(DATA / "zee_flagvectors.root", local)
        os.utime(local, (1_600_000_000, 1_600_000_000))
        assert remote_identity(url, "d") != identity
    finally:
        local.write_bytes(saved)


def test_identity_of_a_missing_file_or_a_directory_names_dataset_and_url(server):
    with pytest.raises(FileNotFoundError, match=r"dataset d: input file .*/prod/v1/none\.root"):
        remote_identity(f"{server.url}/prod/v1/none.root", "d")
    with pytest.raises(FileNotFoundError, match=r"dataset d: input file .*/none/zee\.root"):
        remote_identity(f"{server.url}/none/zee.root", "d")
    with pytest.raises(IsADirectoryError, match=r"dataset d: input .*/prod/v1 is a directory"):
        remote_identity(f"{server.url}/prod/v1", "d")


def test_remote_read_equals_local_read(server):
    url = f"{server.url}/prod/v1/zee_bool.root"
    local = server.export / "prod/v1/zee_bool.root"
    remote_steps = list(iterate(url, "egamma", FIELDS, {}, step_size=40))
    local_steps = list(iterate(str(local), "egamma", FIELDS, {}, step_size=40))
    assert len(remote_steps) == len(local_steps) > 1
    for remote, here in zip(remote_steps, local_steps, strict=True):
        assert ak.to_list(remote) == ak.to_list(here)


def test_a_server_that_is_down_is_an_error_naming_the_url(client_env):
    down = XRootDServer(readable_directory("egcalib-xrootd-down-"))  # never started
    try:
        url = f"{down.url}/zee_bool.root"
        with pytest.raises(OSError, match=rf"dataset d: input file {url}: .*cannot list"):
            remote_identity(url, "d")
        with pytest.raises(InputFileError, match=rf"{url}: cannot be opened over XRootD"):
            next(iterate(url, "egamma", FIELDS, {}, step_size=40))
    finally:
        down.close()
        shutil.rmtree(down.export)


def test_a_read_that_breaks_off_is_an_error_naming_the_url(client_env):
    export = readable_directory("egcalib-xrootd-break-")
    _serve(export)
    server = XRootDServer(export)
    server.start()
    try:
        url = f"{server.url}/prod/v1/zee_bool.root"
        steps = iterate(url, "egamma", FIELDS, {}, step_size=40)
        next(steps)
        server.stop()
        with pytest.raises(InputFileError, match=rf"{url}: failed while reading over XRootD"):
            list(steps)
    finally:
        server.close()
        shutil.rmtree(export)


def _config(work: Path, files: list[str]) -> tuple[str, str]:
    """configs/own-ntuples.yaml with one dataset of ``files``, written into ``work``."""
    config = yaml.safe_load((REPO / "configs/own-ntuples.yaml").read_text())
    config["datasets"] = {DATASET: {**config["datasets"][DATASET], "files": files}}
    config.update(selected_datasets=[DATASET], selected_models=["basic"])
    path = work / "mine.yaml"
    path.write_text(yaml.safe_dump(config))
    return ("config.yaml", str(path))


def _skims(work: Path) -> dict[str, pd.DataFrame]:
    return {
        path.name: pd.read_parquet(path)
        for path in sorted((work / "results/skim" / DATASET).glob("*.parquet"))
    }


@pytest.mark.slow
def test_remote_run_equals_local_run_and_reruns_follow_the_remote_file(server, tmp_path):
    local = copy_checkout(tmp_path / "local")
    local_files = [str(server.export / "prod/*/zee_*.root")]
    snakemake(local, TARGET, configfiles=_config(local, local_files), timeout=600)

    remote = copy_checkout(tmp_path / "remote")
    configfiles = _config(remote, [f"{server.url}/prod/*/zee_*.root"])
    snakemake(remote, TARGET, configfiles=configfiles, timeout=600)
    local_skims, remote_skims = _skims(local), _skims(remote)
    assert sorted(remote_skims) == [
        "zee_bool.parquet",
        "zee_nested.parquet",
        "zee_trigchar.parquet",
    ]
    for name, table in local_skims.items():
        pd.testing.assert_frame_equal(remote_skims[name], table)
    assert (remote / TARGET).read_text() == (local / TARGET).read_text()

    assert planned_jobs(remote, TARGET, configfiles=configfiles) == {}
    # One remote file replaced by an older one: its skim and the dataset's aggregations only.
    replaced = server.export / "prod/v1/zee_trigchar.root"
    saved = replaced.read_bytes()
    try:
        shutil.copyfile(DATA / "zee_flagvectors.root", replaced)
        os.utime(replaced, (1_600_000_000, 1_600_000_000))
        result = snakemake(remote, "-n", TARGET, configfiles=configfiles)
        assert "output: results/skim/my_zee_mc/zee_trigchar.parquet" in result.stdout
        assert planned_jobs(remote, TARGET, configfiles=configfiles) == {
            "skim": 1,
            "find_duplicates": 1,
            "merge_cutflows": 1,
        }
    finally:
        replaced.write_bytes(saved)


@pytest.mark.slow
def test_a_missing_remote_file_is_an_error_naming_the_url_and_writes_nothing(server, tmp_path):
    work = copy_checkout(tmp_path / "work")
    missing = f"{server.url}/prod/v1/zee_missing.root"
    configfiles = _config(work, [f"{server.url}/prod/v1/zee_bool.root", missing])
    result = snakemake(work, TARGET, configfiles=configfiles, check=False, timeout=600)
    assert result.returncode != 0
    assert f"input file {canonical_url(missing)} does not exist" in result.stdout + result.stderr
    assert not (work / "results/skim").exists()


@pytest.mark.slow
def test_a_server_that_is_down_stops_the_run_naming_the_url(client_env, tmp_path):
    down = XRootDServer(readable_directory("egcalib-xrootd-down-"))  # never started
    try:
        work = copy_checkout(tmp_path / "work")
        configfiles = _config(work, [f"{down.url}/prod/*.root"])
        result = snakemake(work, TARGET, configfiles=configfiles, check=False, timeout=600)
        assert result.returncode != 0
        assert f"input pattern {down.url}/prod/*.root" in result.stdout + result.stderr
        assert not (work / "results/skim").exists()
    finally:
        down.close()
        shutil.rmtree(down.export)
