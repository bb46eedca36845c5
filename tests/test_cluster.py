"""The workflow on a real SLURM through `snakemake --profile slurm`: every job is a SLURM job (each
file's simulate -> skim -> shards chain in group jobs of the profile's group-components), GPU
requests reach the scheduler, outputs match a local run, a killed training job is retried by the
profile and resumes from its checkpoint.

Needs a running single-node SLURM with accounting: tests/cluster/slurm_up.sh (which .ci/run
runs as root). Without one these tests skip, unless EGCALIB_REQUIRE_SLURM=1 makes that a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from workflow_utils import TINY, copy_checkout

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

SUBMITTED = re.compile(
    r"submitted with SLURM jobid (\d+) \(log: \S*/slurm_logs/(rule|group)_(\w+)/"
)
PER_FILE_RULES = ("simulate", "skim", "shards")  # rule `group: per_file`


def slurm_node_state() -> str:
    if not shutil.which("sinfo"):
        return "no sinfo"
    result = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    return result.stdout.strip() or result.stderr.strip() or "no answer"


@pytest.fixture(scope="module", autouse=True)
def slurm():
    state = slurm_node_state()
    if not re.match(r"(idle|mixed|allocated)", state):
        message = f"no running SLURM (sinfo: {state}); start one with tests/cluster/slurm_up.sh"
        if os.environ.get("EGCALIB_REQUIRE_SLURM") == "1":
            pytest.fail(message)
        pytest.skip(message)


# Chains per group job here. The test cluster is one node with nine tenths of the machine's
# memory (tests/cluster/slurm_up.sh: 21.7 GB on a 24 GB machine); a group job asks for the
# memory of its chains' skims side by side (3 GB each), so the profile's 20 chains, sized for a
# real node, would ask for more than the node has once the tiny config has 8 files, and SLURM
# would refuse the job. Set on the command line, as a user sizes it to their nodes.
GROUP_COMPONENTS = 4


def profile_command(*targets: str, configfiles=("config.yaml", TINY)) -> list[str]:
    """`snakemake --profile slurm` as a user runs it from the checkout, with fast first status
    checks (the plugin's default waits 40 s before it looks at a job) and GROUP_COMPONENTS
    chains per group job."""
    return [
        sys.executable,
        "-m",
        "snakemake",
        *targets,
        "--profile",
        "slurm",
        "--group-components",
        f"per_file={GROUP_COMPONENTS}",
        "--slurm-init-seconds-before-status-checks",
        "2",
        "--slurm-keep-successful-logs",
        "--configfile",
        *configfiles,
    ]


def bounded(command: list[str], seconds: int) -> list[str]:
    """Snakemake stops on SIGINT (it ignores SIGTERM while it waits on jobs)."""
    return ["timeout", "-s", "INT", "-k", "30", str(seconds), *command]


def submitted_jobs(output: str) -> dict[str, list[str]]:
    """{rule or "group_<name>": [SLURM job ids]} from the executor's submission messages."""
    jobs: dict[str, list[str]] = {}
    for job_id, kind, name in SUBMITTED.findall(output):
        jobs.setdefault(name if kind == "rule" else f"group_{name}", []).append(job_id)
    return jobs


def accounting(job_ids) -> dict[str, dict[str, str]]:
    """sacct's record of each job: state, partition and allocated TRES."""
    result = subprocess.run(
        [
            "sacct",
            "-n",
            "-X",
            "-P",
            "-j",
            ",".join(job_ids),
            "--format=JobID,State,Partition,AllocTRES",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = (line.split("|") for line in result.stdout.splitlines() if line)
    return {
        job: {"state": state, "partition": partition, "tres": tres}
        for job, state, partition, tres in rows
    }


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory):
    workdir = copy_checkout(tmp_path_factory.mktemp("cluster"))
    result = subprocess.run(
        bounded(profile_command(), 1800), cwd=workdir, capture_output=True, text=True
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    return workdir, output


def test_every_job_runs_as_a_slurm_job(cluster_run):
    workdir, output = cluster_run
    jobs = submitted_jobs(output)
    plan = re.search(r"Job stats:(.*?)\n\n", output, re.S).group(1)
    planned = {rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)$", plan, re.M)}
    planned.pop("total")
    assert planned.pop("all") == 1  # the target rule has no command: Snakemake finishes it
    # One chain per simulated file, bundled group-components chains to a SLURM job.
    chains = planned["simulate"]
    assert planned["skim"] == planned["shards"] == chains
    # The executor names a group job by the group and its rules, sorted.
    groups = [
        job
        for name in [n for n in jobs if n.startswith("group_per_file")]
        for job in jobs.pop(name)
    ]
    assert len(groups) == -(-chains // GROUP_COMPONENTS), (len(groups), chains)
    assert {rule: len(ids) for rule, ids in jobs.items()} == {
        rule: n for rule, n in planned.items() if rule not in PER_FILE_RULES
    }
    jobs["group_per_file_shards_simulate_skim"] = groups
    records = accounting([job for ids in jobs.values() for job in ids])
    assert len(records) == sum(len(ids) for ids in jobs.values())
    assert {record["state"] for record in records.values()} == {"COMPLETED"}
    for rule, ids in jobs.items():
        for job in ids:
            record = records[job]
            if rule == "train":  # the profile's GPU partition and a real GPU allocation
                assert record["partition"] == "gpu" and "gres/gpu=1" in record["tres"], record
            else:
                assert record["partition"] == "cpu" and "gpu" not in record["tres"], (rule, record)
            name = rule if rule.startswith("group_") else f"rule_{rule}"
            assert (workdir / f".snakemake/slurm_logs/{name}").is_dir()
    train_log = (workdir / "results/logs/train/basic.log").read_text()
    assert "model basic" in train_log


def test_outputs_match_a_local_run(cluster_run, workflow_run):
    workdir, _ = cluster_run
    local, cluster = workflow_run / "results", workdir / "results"
    compared = 0
    for path in sorted(local.rglob("*")):
        relative = path.relative_to(local)
        if not path.is_file() or relative.parts[0] == "logs" or path.suffix in (".png", ".html"):
            continue
        other = cluster / relative
        assert other.exists(), f"{relative} missing from the SLURM run"
        if path.suffix in (".tfrecord", ".json", ".csv", ".md") and relative.parts[0] != "eval":
            assert path.read_bytes() == other.read_bytes(), relative
        elif path.suffix == ".parquet":
            pd.testing.assert_frame_equal(
                pd.read_parquet(path),
                pd.read_parquet(other),
                check_exact=relative.parts[0] != "predictions",
                rtol=1e-4,
            )
        compared += 1
    assert compared > 50
    for model in ("basic", "recommended_mc_data"):
        ours = json.loads((cluster / f"eval/{model}/metrics.json").read_text())["inclusive"]
        theirs = json.loads((local / f"eval/{model}/metrics.json").read_text())["inclusive"]
        assert ours["n"] == theirs["n"]
        np.testing.assert_allclose(ours["eiqr75_model"], theirs["eiqr75_model"], rtol=1e-3)


def training_processes(workdir: Path) -> list[int]:
    """PIDs of the train script that Snakemake runs inside a SLURM job of this workdir."""
    found = subprocess.run(
        ["pgrep", "-f", f"{workdir}/.snakemake/scripts/.*train.py"], capture_output=True, text=True
    )
    return [int(pid) for pid in found.stdout.split()]


def test_a_killed_training_job_is_retried_and_resumes(cluster_run, tmp_path):
    """SIGKILL the training process of a running train job after its first checkpoint (as the
    OOM killer or a node problem would): the SLURM job fails, the profile retries it once, and the
    retry continues from the checkpoint instead of starting over.

    (Not scancel: sacct then reports "CANCELLED by <uid>", which snakemake-executor-plugin-slurm
    2.8.0 does not recognise as finished, and Snakemake waits for the job forever.)"""
    workdir, _ = cluster_run
    longer = tmp_path / "longer.yaml"
    # No early stopping: the history must hold all 8 epochs whatever the data.
    longer.write_text("training: {epochs: 8, early_stopping_patience: 100}\n")
    target = "results/models/basic/history.csv"
    # Written (atomically) after an epoch's weights: a checkpoint exists to resume from.
    checkpoint = workdir / "results/models/basic/work/backup/training_metadata.json"
    out = tmp_path / "snakemake.out"
    with out.open("w") as sink:
        run = subprocess.Popen(
            bounded(profile_command(target, configfiles=("config.yaml", TINY, str(longer))), 900),
            cwd=workdir,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            killed = []
            deadline = time.monotonic() + 600
            while not killed and time.monotonic() < deadline and run.poll() is None:
                if checkpoint.exists():
                    killed = training_processes(workdir)
                    for pid in killed:
                        os.kill(pid, signal.SIGKILL)
                time.sleep(0.2)
            assert killed, "the train job never wrote a checkpointed epoch:\n" + out.read_text()
            assert run.wait(timeout=900) == 0, out.read_text()[-6000:]
        finally:
            if run.poll() is None:
                run.send_signal(signal.SIGINT)
                run.wait(timeout=60)
    jobs = submitted_jobs(out.read_text())["train"]
    assert len(jobs) == 2, jobs
    records = accounting(jobs)
    assert records[jobs[0]]["state"] == "FAILED", records
    assert records[jobs[1]]["state"] == "COMPLETED", records
    log = (workdir / "results/logs/train/basic.log").read_text()
    assert "resumed from the checkpoint of epoch" in log, log
    history = pd.read_csv(workdir / target)
    assert history["epoch"].tolist() == list(range(8)), "every epoch once across both jobs"
