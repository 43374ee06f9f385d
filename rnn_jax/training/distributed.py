"""Data parallelism with jax.sharding: device mesh, batch and replicated shardings, multi-process start-up.

One `jax.sharding.Mesh` with a single axis, `data`, spans the devices of every process. A minibatch
[B, ...] is split along `data` (each of the D devices holds B / D rows); parameters and optimizer
state are replicated (every device holds all of them). A training step jitted with these shardings

    jax.jit(train_step, in_shardings=(replicated, batch), out_shardings=replicated)

is partitioned by XLA: each device computes the gradient of its rows and XLA inserts the all-reduce
that sums them, so the update equals the one-device update on the whole batch (up to the order of
float additions). There is no `pmap` and no hand-written gradient averaging.

Several processes (hosts) join through `jax.distributed.initialize` before JAX touches a device:

    process 0:  initialize(resolve_cluster("10.0.0.1:1234", num_processes=2, process_id=0))
    process 1:  initialize(resolve_cluster("10.0.0.1:1234", num_processes=2, process_id=1))

The three settings come from arguments (the `--coordinator_address`, `--num_processes`,
`--process_id` flags), else from `JAX_COORDINATOR_ADDRESS`, `JAX_NUM_PROCESSES`, `JAX_PROCESS_ID`,
else JAX detects them (SLURM, Open MPI, Cloud TPU, Kubernetes). Errors are raised before anything
hangs: a process that cannot reach the coordinator raises `CoordinatorTimeoutError` after
`timeout` seconds; processes that disagree on their number raise `ProcessCountMismatchError`; a
cluster that never assembles (e.g. process 0 waits for 3 processes but only 2 were started) ends
each waiting process after `timeout` seconds with a message and exit status `TIMEOUT_EXIT_CODE`
(JAX's own start-up cannot be interrupted from Python, so this is the one error that is not an
exception).
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from rnn_jax.errors import ConfigError, UserError

DATA_AXIS = "data"
ENV_COORDINATOR_ADDRESS = "JAX_COORDINATOR_ADDRESS"
ENV_NUM_PROCESSES = "JAX_NUM_PROCESSES"
ENV_PROCESS_ID = "JAX_PROCESS_ID"
# Exit status of a process whose cluster did not assemble in time (EX_TEMPFAIL of sysexits.h).
TIMEOUT_EXIT_CODE = 75
# JAX's own start-up deadline is this much later than ours, so that our message comes first.
_JAX_GRACE_SECONDS = 10


class CoordinatorTimeoutError(UserError, TimeoutError):
    """The coordinator (process 0) could not be reached within the timeout."""


class ProcessCountMismatchError(UserError, ValueError):
    """The processes were started with different `num_processes`."""


# ----------------------------------------------------------------------------- processes


class ClusterSpec(NamedTuple):
    """A resolved multi-process setting; `None` fields are left to JAX's cluster auto-detection.

    `source` says where the settings came from: "arguments", "environment" or the name of the
    detected cluster environment (e.g. "slurm").
    """

    coordinator_address: str | None
    num_processes: int | None
    process_id: int | None
    source: str


def detected_cluster() -> str | None:
    """The name of the cluster environment JAX would auto-detect (e.g. "slurm"), or None."""
    try:  # JAX keeps its detectors in a private registry; without it we simply detect nothing.
        from jax._src import clusters

        for env in clusters.ClusterEnv._cluster_types:
            if not getattr(env, "opt_in_only_method", False) and env.is_env_present():
                return getattr(env, "name", env.__name__)
    except Exception:
        return None
    return None


def parse_address(address: str) -> tuple[str, int]:
    """`"host:port"` -> `(host, port)`; ValueError with the expected form otherwise."""
    host, sep, port = str(address).rpartition(":")
    host = host.strip("[]")  # "[::1]:1234"
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(
            f"coordinator_address must look like host:port (e.g. 127.0.0.1:1234), got {address!r}"
        )
    return host, int(port)


def _int_from_env(environ: Mapping[str, str], name: str) -> int | None:
    text = environ.get(name)
    if text in (None, ""):
        return None
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"${name} must be an integer, got {text!r}") from None


def validate_cluster(num_processes: int | None, process_id: int | None) -> None:
    """ValueError unless `num_processes >= 1` and `0 <= process_id < num_processes` (None: unchecked)."""
    if num_processes is not None and (
        isinstance(num_processes, bool) or not isinstance(num_processes, int) or num_processes < 1
    ):
        raise ConfigError(f"num_processes must be a positive int, got {num_processes!r}")
    if process_id is not None:
        if isinstance(process_id, bool) or not isinstance(process_id, int) or process_id < 0:
            raise ConfigError(f"process_id must be a non-negative int, got {process_id!r}")
        if num_processes is not None and process_id >= num_processes:
            raise ConfigError(
                f"process_id {process_id} is out of range for num_processes {num_processes}: "
                f"the ids are 0..{num_processes - 1}, one per process"
            )


def resolve_cluster(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    auto_detect: bool = True,
    environ: Mapping[str, str] | None = None,
) -> ClusterSpec | None:
    """Decides whether this is a multi-process run and with which settings.

    Each setting is taken from its argument, else from its environment variable
    (`JAX_COORDINATOR_ADDRESS`, `JAX_NUM_PROCESSES`, `JAX_PROCESS_ID`). When none is set and
    `auto_detect` is true, a cluster environment JAX knows (SLURM, Open MPI, TPU, Kubernetes) makes
    it a multi-process run with every setting left to JAX.

    Returns:
      A `ClusterSpec`, or None for a single-process run (nothing to initialize).

    Raises:
      ValueError: a setting is malformed, or only some are given outside a detected cluster.
    """
    environ = os.environ if environ is None else environ
    given = {
        "coordinator_address": coordinator_address,
        "num_processes": num_processes,
        "process_id": process_id,
    }
    from_env = {
        "coordinator_address": environ.get(ENV_COORDINATOR_ADDRESS) or None,
        "num_processes": _int_from_env(environ, ENV_NUM_PROCESSES),
        "process_id": _int_from_env(environ, ENV_PROCESS_ID),
    }
    values = {k: given[k] if given[k] is not None else from_env[k] for k in given}
    if all(v is None for v in given.values()):
        source = "environment"
    else:
        source = "arguments"
    cluster = detected_cluster() if auto_detect else None
    if all(v is None for v in values.values()):
        if cluster is None:
            return None
        return ClusterSpec(None, None, None, cluster)
    missing = [k for k, v in values.items() if v is None]
    if missing and cluster is None:
        raise ConfigError(
            f"a multi-process run needs --coordinator_address, --num_processes and "
            f"--process_id (or ${ENV_COORDINATOR_ADDRESS}, ${ENV_NUM_PROCESSES}, "
            f"${ENV_PROCESS_ID}); missing: {', '.join(missing)}"
        )
    if values["coordinator_address"] is not None:
        parse_address(values["coordinator_address"])
    validate_cluster(values["num_processes"], values["process_id"])
    return ClusterSpec(
        values["coordinator_address"],
        values["num_processes"],
        values["process_id"],
        source if not missing else f"{source}+{cluster}",
    )


def wait_for_coordinator(address: str, timeout: float, *, process_id: int | None = None) -> None:
    """Returns once a TCP connection to `address` succeeds; CoordinatorTimeoutError after `timeout` s."""
    host, port = parse_address(address)
    deadline = time.monotonic() + timeout
    last_error: OSError | None = None
    while True:
        try:
            with socket.create_connection((host, port), timeout=max(0.1, min(1.0, timeout))):
                return
        except OSError as err:
            last_error = err
        if time.monotonic() >= deadline:
            who = f"process {process_id}" if process_id is not None else "this process"
            raise CoordinatorTimeoutError(
                f"{who} could not reach the coordinator at {address} within {timeout:g} s "
                f"({type(last_error).__name__}: {last_error}). Start process 0 with the same "
                "--coordinator_address (it listens there), check the host name, port and firewall, "
                "or raise --distributed_timeout."
            )
        time.sleep(0.2)


def check_port_free(address: str) -> None:
    """ValueError when the coordinator's port is already taken on this machine (process 0 binds it)."""
    _, port = parse_address(address)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("", port))
        except OSError as err:
            raise ConfigError(
                f"the coordinator port {port} of {address} is already in use on this machine "
                f"({err.strerror}): another run may be using it; choose another port"
            ) from None


def _start_watchdog(spec: ClusterSpec, timeout: float) -> threading.Event:
    """Ends the process with a message if the cluster has not assembled after `timeout` seconds."""
    done = threading.Event()

    def watch():
        if done.wait(timeout):
            return
        expected = spec.num_processes if spec.num_processes is not None else "the detected number of"
        sys.stderr.write(
            f"\nrnn_jax.distributed: process {spec.process_id} gave up after {timeout:g} s: the "
            f"cluster at {spec.coordinator_address} did not assemble ({expected} processes expected). "
            "Every process must be started with the same --coordinator_address and --num_processes "
            "and its own --process_id in 0..num_processes-1; check that all of them are running, or "
            "raise --distributed_timeout.\n"
        )
        sys.stderr.flush()
        os._exit(TIMEOUT_EXIT_CODE)  # the main thread is blocked inside JAX's C++ start-up

    threading.Thread(target=watch, name="rnn_jax-distributed-watchdog", daemon=True).start()
    return done


def initialize(spec: ClusterSpec | None, *, timeout: float = 60) -> None:
    """Joins the multi-process run `spec` through `jax.distributed.initialize` (None: does nothing).

    Must run before JAX uses any device. Process 0 hosts the coordinator service; the others wait
    (up to `timeout` s) until it listens, then all of them register and exchange their devices.
    Afterwards `jax.devices()` lists the devices of every process.

    Raises:
      CoordinatorTimeoutError: the coordinator was unreachable for `timeout` seconds.
      ProcessCountMismatchError: the processes were given different `num_processes`.
      ValueError: the coordinator port is taken (process 0); malformed settings.
    Exits the process with `TIMEOUT_EXIT_CODE` and a message on stderr when the cluster has not
    assembled after `timeout` seconds (e.g. fewer processes were started than process 0 expects).
    """
    if spec is None:
        return
    if jax.distributed.is_initialized():
        _check_process_counts(spec.num_processes)
        return
    validate_cluster(spec.num_processes, spec.process_id)
    if spec.coordinator_address is not None and spec.process_id is not None:
        if spec.process_id == 0:
            check_port_free(spec.coordinator_address)
        else:
            wait_for_coordinator(spec.coordinator_address, timeout, process_id=spec.process_id)
    done = _start_watchdog(spec, timeout)
    try:
        jax.distributed.initialize(
            coordinator_address=spec.coordinator_address,
            num_processes=spec.num_processes,
            process_id=spec.process_id,
            initialization_timeout=int(timeout) + _JAX_GRACE_SECONDS,
        )
    finally:
        done.set()
    _check_process_counts(spec.num_processes)


def _check_process_counts(num_processes: int | None) -> None:
    """Every process learns every other's `num_processes`, so all of them fail together on a mismatch."""
    from jax.experimental import multihost_utils

    declared = np.asarray(-1 if num_processes is None else num_processes, np.int32)
    everyone = np.asarray(multihost_utils.process_allgather(declared)).reshape(-1)
    actual = jax.process_count()
    if any(int(n) not in (-1, actual) for n in everyone):
        raise ProcessCountMismatchError(
            f"the processes were started with different num_processes: {everyone.tolist()} (one per "
            f"process, -1: auto-detected), but {actual} processes joined; start every process with the "
            f"same --num_processes"
        )


def is_main_process() -> bool:
    """True in process 0, the one that writes checkpoints, metrics and results."""
    return jax.process_index() == 0


# ----------------------------------------------------------------------------- mesh and shardings


def make_mesh(num_devices: int | None = None) -> Mesh:
    """A one-axis mesh (`data`) over `num_devices` devices (None: all), the same share from each process.

    Devices are ordered by process, then id, so that each process's devices hold a contiguous block
    of every batch.

    Raises:
      ValueError: `num_devices` is not positive, exceeds the visible devices, or does not split
        evenly over the processes.
    """
    devices = sorted(jax.devices(), key=lambda d: (d.process_index, d.id))
    num_processes = jax.process_count()
    if num_devices is None:
        num_devices = len(devices)
    if isinstance(num_devices, bool) or not isinstance(num_devices, int) or num_devices < 1:
        raise ConfigError(f"num_devices must be a positive int or None, got {num_devices!r}")
    if num_devices > len(devices):
        raise ConfigError(
            f"num_devices {num_devices} but only {len(devices)} {devices[0].platform} devices "
            "are visible; for simulated CPU devices start Python with "
            f"XLA_FLAGS=--xla_force_host_platform_device_count={num_devices}"
        )
    if num_devices % num_processes:
        raise ConfigError(f"num_devices {num_devices} does not split evenly over {num_processes} processes")
    per_process = num_devices // num_processes
    chosen = []
    for index in range(num_processes):
        local = [d for d in devices if d.process_index == index]
        chosen.extend(local[:per_process])
    return Mesh(np.asarray(chosen), (DATA_AXIS,))


def batch_sharding(mesh: Mesh, batch_axis: int = 0) -> NamedSharding:
    """Splits axis `batch_axis` over the `data` axis of `mesh` (e.g. 1 for [num_batches, B, ...])."""
    return NamedSharding(mesh, P(*([None] * batch_axis), DATA_AXIS))


def replicated_sharding(mesh: Mesh) -> NamedSharding:
    """Every device of `mesh` holds the whole array (parameters, optimizer state, keys)."""
    return NamedSharding(mesh, P())


def check_batch_size(batch_size: int, mesh: Mesh, name: str = "batch_size") -> None:
    """ValueError unless the global `batch_size` splits evenly over the mesh's devices."""
    num_devices = mesh.devices.size
    if batch_size % num_devices:
        lower = (batch_size // num_devices) * num_devices
        upper = lower + num_devices
        hint = f"{lower} or {upper}" if lower else f"{upper}"
        raise ConfigError(
            f"the global {name} {batch_size} is not divisible by the {num_devices} devices "
            f"of the mesh (each device takes an equal share): use {hint}, or "
            "--num_devices that divides it"
        )


def local_rows(batch_size: int, mesh: Mesh, batch_axis: int = 0) -> slice:
    """The rows [start, stop) of a global batch that this process's devices hold."""
    check_batch_size(batch_size, mesh)
    shape = [1] * batch_axis + [batch_size]
    indices = batch_sharding(mesh, batch_axis).addressable_devices_indices_map(tuple(shape)).values()
    spans = sorted({(s[batch_axis].start or 0, s[batch_axis].stop or batch_size) for s in indices})
    start, stop = spans[0][0], spans[-1][1]
    if sum(b - a for a, b in spans) != stop - start:  # make_mesh orders devices so this cannot happen
        raise ConfigError(f"this process's rows {spans} are not one contiguous block")
    return slice(start, stop)


def _is_key(x: Any) -> bool:
    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _host(x: Any) -> np.ndarray:
    """A host array of the dtype JAX would give it (int64 -> int32 unless x64 is on)."""
    x = np.asarray(x)
    return x.astype(jax.dtypes.canonicalize_dtype(x.dtype), copy=False)


def put_replicated(tree: Any, mesh: Mesh) -> Any:
    """Copies `tree` (host or device arrays, PRNG keys too) onto every device of `mesh`.

    Every process must pass the same values (the parameters of the same seed, for instance).
    """
    sharding = replicated_sharding(mesh)

    def put(x):
        if _is_key(x):
            return jax.random.wrap_key_data(put(jax.random.key_data(x)), impl=jax.random.key_impl(x))
        return jax.make_array_from_process_local_data(sharding, _host(x))

    return jax.tree_util.tree_map(put, tree)


def put_batch(tree: Any, mesh: Mesh, batch_axis: int = 0) -> Any:
    """Places a global batch (host arrays, the same on every process) split along `batch_axis`.

    Each process transfers only its own rows (`local_rows`) to its own devices; the result is one
    global `jax.Array` per leaf, sharded over the `data` axis of `mesh`.

    Raises:
      ValueError: the batch size is not divisible by the number of devices.
    """
    sharding = batch_sharding(mesh, batch_axis)

    def put(x):
        x = _host(x)
        rows = local_rows(x.shape[batch_axis], mesh, batch_axis)
        local = x[(slice(None),) * batch_axis + (rows,)]
        return jax.make_array_from_process_local_data(sharding, local, x.shape)

    return jax.tree_util.tree_map(put, tree)


def describe(mesh: Mesh) -> dict[str, Any]:
    """What the run used, for results.json: devices, processes, device kind and platform."""
    first = mesh.devices.flat[0]
    return {
        "num_devices": int(mesh.devices.size),
        "num_processes": jax.process_count(),
        "device_kind": first.device_kind,
        "platform": first.platform,
    }
