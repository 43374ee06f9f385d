"""Tests for rnn_jax.distributed: mesh, shardings, multi-process start-up, same training on 1, 8 and 2x2 devices.

The main pytest process has one CPU device. Runs on several devices happen in subprocesses started
with `XLA_FLAGS=--xla_force_host_platform_device_count=N` (it must be set before JAX starts); this
file doubles as their worker (`python tests/test_distributed.py toy ...`) and each subprocess has a
hard timeout. Multi-process runs use the loopback interface only.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax.core.cells import init_simple_rnn, simple_rnn_step
from rnn_jax.core.unroll import unroll
from rnn_jax.training import distributed

REPO_ROOT = Path(__file__).resolve().parents[1]
SUBPROCESS_TIMEOUT = 90  # seconds, hard limit of every subprocess (they take a few seconds)
TOY_BATCH_SIZE = 16
TOY_STEPS = 6


# ----------------------------------------------------------------------------- a toy data-parallel run


def _toy_data(num_examples=64, seq_len=7, input_size=3, seed=0):
    """Sequences whose label is the sign of the sum of their first feature (lengths vary)."""
    rng = np.random.default_rng(seed)
    xs = rng.normal(size=(num_examples, seq_len, input_size)).astype(np.float32)
    lengths = rng.integers(2, seq_len + 1, size=num_examples).astype(np.int32)
    mask = np.arange(seq_len)[None, :] < lengths[:, None]
    labels = ((xs[..., 0] * mask).sum(1) > 0).astype(np.float32)
    return xs, lengths, labels


def _toy_loss(params, xs, lengths, labels):
    """Mean logistic loss of a Simple RNN + linear head, and the number of correct predictions."""
    h_last, _ = unroll(simple_rnn_step, params["rnn"], xs, lengths=lengths, return_all_states=False)
    logits = h_last @ params["w"] + params["c"]  # [B]
    losses = jnp.logaddexp(0.0, logits) - labels * logits
    return losses.mean(), ((logits > 0) == (labels > 0)).sum()


def toy_run(num_devices: int | None = None, steps: int = TOY_STEPS, batch_size: int = TOY_BATCH_SIZE) -> dict:
    """SGD on the toy task over a data-parallel mesh; returns per-step losses, correct counts, params."""
    mesh = distributed.make_mesh(num_devices)
    distributed.check_batch_size(batch_size, mesh)
    replicated = distributed.replicated_sharding(mesh)
    batch = distributed.batch_sharding(mesh)
    xs, lengths, labels = _toy_data()
    key_rnn, key_head = jax.random.split(jax.random.key(0))
    params = {
        "rnn": init_simple_rnn(key_rnn, 3, 5),
        "w": jax.random.normal(key_head, (5,)) * 0.5,
        "c": jnp.zeros(()),
    }
    params = distributed.put_replicated(params, mesh)

    def step(params, xs, lengths, labels):
        (loss, correct), grads = jax.value_and_grad(_toy_loss, has_aux=True)(params, xs, lengths, labels)
        params = jax.tree_util.tree_map(lambda p, g: p - 0.5 * g, params, grads)
        return params, loss, correct

    step = jax.jit(
        step,
        in_shardings=(replicated, batch, batch, batch),
        out_shardings=(replicated, replicated, replicated),
        donate_argnums=0,
    )
    losses, corrects = [], []
    for i in range(steps):
        order = np.random.default_rng([1, i]).permutation(len(labels))[:batch_size]
        placed = distributed.put_batch((xs[order], lengths[order], labels[order]), mesh)
        params, loss, correct = step(params, *placed)
        losses.append(float(loss))
        corrects.append(int(correct))
    assert params["rnn"]["A"].sharding.is_fully_replicated
    return {
        "losses": losses,
        "corrects": corrects,
        "params": jax.tree_util.tree_map(lambda a: np.asarray(a).tolist(), params),
        "num_devices": int(mesh.devices.size),
        "num_processes": jax.process_count(),
        "batch_devices": len(placed[0].sharding.device_set),
        "local_rows": [
            distributed.local_rows(batch_size, mesh).start,
            distributed.local_rows(batch_size, mesh).stop,
        ],
    }


def _assert_same_run(run, reference):
    np.testing.assert_allclose(run["losses"], reference["losses"], rtol=1e-5, atol=1e-6)
    assert run["corrects"] == reference["corrects"]
    for a, b in zip(
        jax.tree_util.tree_leaves(run["params"]), jax.tree_util.tree_leaves(reference["params"]), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- subprocess helpers


def _env(device_count: int) -> dict:
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={device_count}"
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = f"{REPO_ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}"
    for name in (
        distributed.ENV_COORDINATOR_ADDRESS,
        distributed.ENV_NUM_PROCESSES,
        distributed.ENV_PROCESS_ID,
    ):
        env.pop(name, None)
    return env


def _worker(*args: str, device_count: int = 1) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-u", __file__, *args],
        env=_env(device_count),
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=SUBPROCESS_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"subprocess hung for {SUBPROCESS_TIMEOUT} s; stderr:\n{err[-3000:]}")
    return proc.returncode, out, err


def _result(out: str) -> dict:
    lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
    assert lines, f"no RESULT line in:\n{out}"
    return json.loads(lines[-1][len("RESULT ") :])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------- mesh and shardings (1 device)


def test_mesh_over_all_devices():
    mesh = distributed.make_mesh()
    assert mesh.axis_names == (distributed.DATA_AXIS,)
    assert mesh.devices.size == jax.device_count()
    assert distributed.describe(mesh)["num_processes"] == 1


@pytest.mark.parametrize(
    "num_devices, message",
    [
        (0, "num_devices must be a positive int"),
        (-2, "num_devices must be a positive int"),
        (2.0, "num_devices must be a positive int"),
        ("all + 1", "xla_force_host_platform_device_count"),
    ],
)
def test_make_mesh_errors(num_devices, message):
    if num_devices == "all + 1":  # jax.device_count() at import time would start JAX in the workers too early
        num_devices = jax.device_count() + 1
    with pytest.raises(ValueError, match=message):
        distributed.make_mesh(num_devices)


def test_put_batch_and_replicated_on_one_device():
    mesh = distributed.make_mesh(1)
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    placed = distributed.put_batch({"x": x, "y": x[:, 0]}, mesh)
    np.testing.assert_array_equal(placed["x"], x)
    assert placed["x"].sharding == distributed.batch_sharding(mesh)
    stacked = distributed.put_batch(x[None], mesh, batch_axis=1)
    assert stacked.sharding.spec == jax.sharding.PartitionSpec(None, distributed.DATA_AXIS)
    key = jax.random.key(3)
    tree = distributed.put_replicated({"w": jnp.ones((2, 2)), "key": key}, mesh)
    assert tree["w"].sharding.is_fully_replicated
    np.testing.assert_array_equal(jax.random.key_data(tree["key"]), jax.random.key_data(key))
    assert distributed.local_rows(8, mesh) == slice(0, 8)


def test_batch_not_divisible_is_an_error():
    mesh = distributed.make_mesh(1)
    distributed.check_batch_size(7, mesh)  # anything splits over one device
    fake = type("FakeMesh", (), {"devices": np.empty(8, dtype=object)})()
    with pytest.raises(
        ValueError, match=r"global batch_size 30 is not divisible by the 8 devices.*use 24 or 32"
    ):
        distributed.check_batch_size(30, fake)
    with pytest.raises(ValueError, match=r"eval_batch_size 5 is not divisible by the 8 devices.*use 8"):
        distributed.check_batch_size(5, fake, name="eval_batch_size")


# ----------------------------------------------------------------------------- resolving the cluster


def test_single_process_when_nothing_is_set(monkeypatch):
    monkeypatch.setattr(distributed, "detected_cluster", lambda: None)
    assert distributed.resolve_cluster(environ={}) is None


def test_cluster_from_arguments_environment_and_detection(monkeypatch):
    monkeypatch.setattr(distributed, "detected_cluster", lambda: None)
    spec = distributed.resolve_cluster("127.0.0.1:1234", 2, 1, environ={})
    assert spec == ("127.0.0.1:1234", 2, 1, "arguments")
    env = {"JAX_COORDINATOR_ADDRESS": "10.0.0.1:99", "JAX_NUM_PROCESSES": "4", "JAX_PROCESS_ID": "3"}
    assert distributed.resolve_cluster(environ=env) == ("10.0.0.1:99", 4, 3, "environment")
    assert distributed.resolve_cluster(process_id=0, environ=env) == ("10.0.0.1:99", 4, 0, "arguments")
    monkeypatch.setattr(distributed, "detected_cluster", lambda: "slurm")
    assert distributed.resolve_cluster(environ={}) == (None, None, None, "slurm")
    assert distributed.resolve_cluster(environ={}, auto_detect=False) is None
    assert distributed.resolve_cluster(num_processes=2, environ={}) == (None, 2, None, "arguments+slurm")


def test_detected_cluster_finds_slurm(monkeypatch):
    for name in ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_NTASKS", "SLURM_PROCID", "SLURM_LOCALID"):
        monkeypatch.setenv(name, "0")
    monkeypatch.setenv("SLURM_NTASKS", "2")
    assert distributed.detected_cluster() == "slurm"


@pytest.mark.parametrize(
    "kwargs, environ, message",
    [
        (dict(coordinator_address="127.0.0.1:1234"), {}, "missing: num_processes, process_id"),
        (dict(num_processes=2, process_id=0), {}, "missing: coordinator_address"),
        (
            dict(coordinator_address="127.0.0.1", num_processes=2, process_id=0),
            {},
            "must look like host:port",
        ),
        (
            dict(coordinator_address="127.0.0.1:99999", num_processes=2, process_id=0),
            {},
            "must look like host:port",
        ),
        (
            dict(coordinator_address="127.0.0.1:1234", num_processes=2, process_id=2),
            {},
            r"process_id 2 is out of range for num_processes 2: the ids are 0\.\.1",
        ),
        (
            dict(coordinator_address="127.0.0.1:1234", num_processes=2, process_id=-1),
            {},
            "process_id must be a non-negative int",
        ),
        (
            dict(coordinator_address="127.0.0.1:1234", num_processes=0, process_id=0),
            {},
            "num_processes must be a positive int",
        ),
        (
            dict(coordinator_address="127.0.0.1:1234", process_id=0),
            {"JAX_NUM_PROCESSES": "two"},
            r"\$JAX_NUM_PROCESSES must be an integer",
        ),
    ],
)
def test_bad_cluster_settings(monkeypatch, kwargs, environ, message):
    monkeypatch.setattr(distributed, "detected_cluster", lambda: None)
    with pytest.raises(ValueError, match=message):
        distributed.resolve_cluster(**kwargs, environ=environ)


def test_initialize_none_is_single_process():
    distributed.initialize(None)
    assert not jax.distributed.is_initialized()


def test_unreachable_coordinator_times_out_with_a_message():
    address = f"127.0.0.1:{_free_port()}"  # nobody listens there
    spec = distributed.ClusterSpec(address, 2, 1, "arguments")
    with pytest.raises(
        distributed.CoordinatorTimeoutError,
        match=rf"process 1 could not reach the coordinator at {address} within 1 s.*Start process 0",
    ):
        distributed.initialize(spec, timeout=1)  # fails before JAX's own start-up
    assert not jax.distributed.is_initialized()


def test_wait_for_coordinator_returns_once_it_listens():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        distributed.wait_for_coordinator(f"127.0.0.1:{server.getsockname()[1]}", timeout=5)


def test_coordinator_port_in_use_is_an_error():
    with socket.socket() as taken:
        taken.bind(("", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        with pytest.raises(ValueError, match="is already in use on this machine"):
            distributed.initialize(distributed.ClusterSpec(address, 2, 0, "arguments"), timeout=1)
    assert not jax.distributed.is_initialized()


# ----------------------------------------------------------------------------- process-count errors


def test_mismatched_process_counts_fail_in_every_process():
    address = f"127.0.0.1:{_free_port()}"
    procs = [
        _worker("toy", "--coordinator_address", address, "--num_processes", str(n), "--process_id", str(i))
        for i, n in enumerate((2, 3))
    ]
    for rc, _, err in map(_finish, procs):
        assert rc != 0
        assert "ProcessCountMismatchError" in err
        assert "started with different num_processes: [2, 3]" in err


def test_cluster_that_never_assembles_ends_with_a_message():
    address = f"127.0.0.1:{_free_port()}"
    # Process 0 of 2, but process 1 is never started: it gives up after --timeout seconds.
    rc, _, err = _finish(
        _worker(
            "toy",
            "--coordinator_address",
            address,
            "--num_processes",
            "2",
            "--process_id",
            "0",
            "--timeout",
            "3",
        )
    )
    assert rc == distributed.TIMEOUT_EXIT_CODE, err[-3000:]
    assert "process 0 gave up after 3 s" in err and "did not assemble (2 processes expected)" in err


# ----------------------------------------------------------------------------- the IMDB training loop


def tiny_train_config(data_dir, **changes):
    """The IMDB classifier on the tiny fixture dataset: 48 training reviews, batches of 8, 2 epochs."""
    from rnn_jax.studies.sentiment.imdb import TrainConfig

    return TrainConfig(
        **{
            **dict(
                model="simple_rnn",
                vocab_size=30,
                seq_len=16,
                embedding_size=8,
                hidden_size=8,
                batch_size=8,
                num_epochs=2,
                eval_batch_size=12,
                checkpoint_every_steps=0,
                embedding_dropout=0.1,
                data_dir=str(data_dir),
                download=False,
                num_validation=20,
                max_train_examples=48,
                max_eval_examples=20,
            ),
            **changes,
        }
    )


def tiny_train_run(data_dir, workdir, **changes) -> dict:
    from rnn_jax.studies.sentiment.imdb import train_and_evaluate
    from rnn_jax.training import runs

    results = train_and_evaluate(tiny_train_config(data_dir, **changes), workdir, progress=False)
    metrics = runs.read_metrics(workdir) if Path(workdir).exists() else []
    return {"results": results, "metrics": metrics}


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    from tests.imdb_fixture import write_tiny_imdb

    return write_tiny_imdb(tmp_path_factory.mktemp("tfds"), num_train=120, num_test=40)


@pytest.fixture(scope="module")
def one_device_training(tiny_data, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("one") / "run"
    return tiny_train_run(tiny_data, workdir, num_devices=1)


def _assert_same_training(run, reference):
    keys = ("train_loss", "train_accuracy", "validation_loss", "validation_accuracy", "step", "best_epoch")
    assert len(run["metrics"]) == len(reference["metrics"]) == 2
    for got, want in zip(run["metrics"], reference["metrics"], strict=True):
        for key in keys:
            np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-6, err_msg=key)
    for key in ("test_loss", "test_accuracy", "best_validation_accuracy", "best_epoch", "skipped_updates"):
        np.testing.assert_allclose(
            run["results"][key], reference["results"][key], rtol=1e-5, atol=1e-6, err_msg=key
        )


def test_training_on_eight_devices_matches_one_device(tiny_data, one_device_training, tmp_path):
    assert one_device_training["results"]["num_devices"] == 1
    rc, out, err = _finish(
        _worker(
            "train",
            "--data_dir",
            str(tiny_data),
            "--workdir",
            str(tmp_path / "eight"),
            "--num_devices",
            "8",
            device_count=8,
        )
    )
    assert rc == 0, err[-3000:]
    run = _result(out)
    assert run["results"]["num_devices"] == 8 and run["results"]["num_processes"] == 1
    _assert_same_training(run, one_device_training)
    # 12 is not a multiple of 8: the same worker tried it and got the error.
    assert "the global batch_size 12 is not divisible by the 8 devices" in run["batch_12_error"]
    # The toy step of this file, on 8 devices and on 1 device of the same process.
    eight, one = run["toy_eight"], run["toy_one"]
    assert eight["num_devices"] == 8 and eight["batch_devices"] == 8 and one["num_devices"] == 1
    _assert_same_run(eight, one)
    assert one["losses"][-1] < one["losses"][0]  # it does learn


def test_training_in_two_processes_matches_one_device(tiny_data, one_device_training, tmp_path):
    address = f"127.0.0.1:{_free_port()}"
    # Each process gets its own run folder, so that we can see that only process 0 writes.
    procs = [
        _worker(
            "train",
            "--data_dir",
            str(tiny_data),
            "--workdir",
            str(tmp_path / f"process{i}"),
            "--coordinator_address",
            address,
            "--num_processes",
            "2",
            "--process_id",
            str(i),
            device_count=2,
        )
        for i in range(2)
    ]
    finished = [_finish(p) for p in procs]
    for i, (rc, _, err) in enumerate(finished):
        assert rc == 0, f"process {i}:\n{err[-3000:]}"
    run0, run1 = (_result(out) for _, out, _ in finished)
    assert run0["results"]["num_processes"] == 2 and run0["results"]["num_devices"] == 4
    _assert_same_training(run0, one_device_training)
    for name in ("config.json", "metrics.jsonl", "results.json", "vocab.json", "checkpoints", "best_params"):
        assert (tmp_path / "process0" / name).exists(), name
    assert not (tmp_path / "process1").exists()  # process 1 wrote nothing
    assert run1["results"]["test_loss"] == run0["results"]["test_loss"]  # and computed the same


def test_training_config_errors(tiny_data, tmp_path):
    from rnn_jax.studies.sentiment.imdb import train_and_evaluate

    with pytest.raises(ValueError, match="num_devices must be a positive int or None"):
        train_and_evaluate(tiny_train_config(tiny_data, num_devices=0), tmp_path / "a", progress=False)
    too_many = len(jax.devices()) + 1  # whatever this machine has: the test holds with 1 or 8 devices
    with pytest.raises(ValueError, match=f"xla_force_host_platform_device_count={too_many}"):
        train_and_evaluate(tiny_train_config(tiny_data, num_devices=too_many), tmp_path / "b", progress=False)
    with pytest.raises(ValueError, match="distributed_timeout must be > 0"):
        train_and_evaluate(
            tiny_train_config(tiny_data, distributed_timeout=0), tmp_path / "c", progress=False
        )
    with pytest.raises(ValueError, match="process_id 2 is out of range for num_processes 2"):
        train_and_evaluate(
            tiny_train_config(tiny_data, coordinator_address="127.0.0.1:1", num_processes=2, process_id=2),
            tmp_path / "d",
            progress=False,
        )


# ----------------------------------------------------------------------------- worker


def _main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description="worker of tests/test_distributed.py")
    parser.add_argument("job", choices=("toy", "train"))
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--num_devices", type=int, default=None)
    parser.add_argument("--coordinator_address", default=None)
    parser.add_argument("--num_processes", type=int, default=None)
    parser.add_argument("--process_id", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=30)
    args = parser.parse_args(argv)
    if args.job == "train":  # train_and_evaluate joins the processes itself, from its config
        result = tiny_train_run(
            args.data_dir,
            args.workdir,
            num_devices=args.num_devices,
            coordinator_address=args.coordinator_address,
            num_processes=args.num_processes,
            process_id=args.process_id,
            distributed_timeout=int(args.timeout),
        )
        if args.num_devices == 8:
            try:
                tiny_train_run(args.data_dir, Path(args.workdir) / "batch_12", num_devices=8, batch_size=12)
            except ValueError as err:
                result["batch_12_error"] = str(err)
            result.update(toy_eight=toy_run(8), toy_one=toy_run(1))
        print("RESULT " + json.dumps(result), flush=True)
        return
    spec = distributed.resolve_cluster(
        args.coordinator_address, args.num_processes, args.process_id, auto_detect=False
    )
    distributed.initialize(spec, timeout=args.timeout)
    print("RESULT " + json.dumps(toy_run(args.num_devices)), flush=True)


if __name__ == "__main__":
    _main(sys.argv[1:])
