"""A training step sharded over meshes of 8 simulated CPU devices gives the single-device result (float and NF4
bases, the NF4 one also through the fused kernels run per device), and so does scripts.train on a mesh. Runs in
subprocesses: the device count is fixed at JAX start-up."""
import os
import pathlib
import subprocess
import sys

import pytest

from shared.train.sharding import make_mesh

REPO = pathlib.Path(__file__).resolve().parents[1]


MESHES = [
    (2, 4, 1), (1, 2, 4), (4, 1, 2),
    # All three axes > 1: XLA computed wrong gradients here until shard_model constrained the linear outputs to
    # the batch sharding (shared/train/sharding.py); without the constraint this case fails.
    (2, 2, 2),
]


@pytest.fixture(scope="module")
def sharded_check():
    """One subprocess checks every mesh (the single-device reference once): its output and exit status."""
    out = subprocess.run([sys.executable, str(REPO / "tests" / "sharded_step_check.py"),
                          *(",".join(map(str, m)) for m in MESHES)],
                         cwd=REPO, capture_output=True, text=True, timeout=900)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("mesh", MESHES)
def test_sharded_step_equals_single_device(mesh, sharded_check):
    out = sharded_check
    line = f"mesh {','.join(map(str, mesh))}: OK"
    assert line in out.stdout.splitlines(), out.stdout[-4000:] + out.stderr[-4000:]


@pytest.mark.slow
def test_kernels_per_device_equal_the_reference(sharded_check):
    """matmul_4bit on a mesh (MeshAxes: per device under shard_map) for 1-, 2- and 3-axis x, divisible or not."""
    assert "matmul_4bit per device: OK" in sharded_check.stdout.splitlines(), sharded_check.stderr[-4000:]


@pytest.mark.slow
def test_sharded_check_reports_every_mesh(sharded_check):
    """The subprocess ran to the end: one verdict per mesh and a zero exit status only if all are OK."""
    verdicts = [ln for ln in sharded_check.stdout.splitlines()
                if ln.startswith("mesh ") and ln.endswith((": OK", ": FAILED"))]
    assert len(verdicts) == len(MESHES), sharded_check.stdout[-2000:] + sharded_check.stderr[-4000:]
    assert (sharded_check.returncode == 0) == all(v.endswith(": OK") for v in verdicts)


def test_mesh_shape_errors():
    with pytest.raises(ValueError, match="do not divide"):
        make_mesh(data=3, fsdp=1, tensor=1, devices=[object()] * 4)
    for sizes, named in (((0, 1, 1), "data=0"), ((2, 0, 1), "fsdp=0"), ((-1, -2, 1), "fsdp=-2"),
                         ((1, 1, 2.0), "tensor=2.0")):
        with pytest.raises(ValueError, match=rf"make_mesh: {named}: an axis size is a positive integer, or -1"):
            make_mesh(*sizes, devices=[object()] * 4)
    with pytest.raises(ValueError, match="at most one axis may be -1"):
        make_mesh(-1, -1, 1, devices=[object()] * 4)


def test_a_batch_that_does_not_split_is_reported_with_its_fix():
    """Guanaco's batch of 1 x 16 accumulated on 8 GPUs: each would compute the whole batch. The loop warns, naming
    the overrides that keep the effective batch and split it."""
    import jax

    from shared.train.sharding import batch_split_problem

    mesh = jax.sharding.AbstractMesh((4, 2, 1), ("data", "fsdp", "tensor"))
    problem = batch_split_problem(mesh, 1, 16)
    assert "data.batch_size=1 does not divide over the mesh's data x fsdp = 8 devices" in problem
    assert "--config.data.batch_size=8 --config.train.grad_accum=2 keeps the effective batch of 16" in problem
    assert "a data.batch_size that is a multiple of 8" in batch_split_problem(mesh, 3, 1)
    assert batch_split_problem(mesh, 16, 1) is None
    assert batch_split_problem(jax.sharding.AbstractMesh((1, 1, 8), ("data", "fsdp", "tensor")), 1, 16) is None


def _launch(args, devices, processes, logs, cwds=None):
    """scripts.train ARGS with `devices` simulated CPU devices in each of `processes` processes, started as the
    machines of a multi-host job (a coordinator address, their count and index); [(returncode, stdout, stderr)].
    Output goes to files under `logs`: a process blocked on a full pipe would stall the other's collectives."""
    import socket

    env = {**os.environ, "JAX_PLATFORMS": "cpu", "WANDB_MODE": "disabled", "PYTHONPATH": str(REPO),
           "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
    if processes > 1:
        with socket.socket() as s:
            s.bind(("localhost", 0))
            port = s.getsockname()[1]
        env.update(JAX_COORDINATOR_ADDRESS=f"localhost:{port}", JAX_NUM_PROCESSES=str(processes))
    files = [(logs / f"{i}.out", logs / f"{i}.err") for i in range(processes)]
    running = []
    for i, (out, err) in enumerate(files):
        with open(out, "w") as stdout, open(err, "w") as stderr:
            running.append(subprocess.Popen([sys.executable, "-m", "scripts.train", *args],
                                            cwd=(cwds or [REPO] * processes)[i], stdout=stdout, stderr=stderr,
                                            env={**env, "JAX_PROCESS_ID": str(i)} if processes > 1 else env))
    try:
        for proc in running:
            proc.wait(timeout=600)
    finally:
        for proc in running:
            proc.kill()
    return [(proc.returncode, out.read_text(), err.read_text()) for proc, (out, err) in zip(running, files)]


def _train(workdir, steps, devices, mesh=None, processes=1, extra=()):
    """scripts.train on the tiny config (`_launch`); its (step, loss) and eval losses, and process 0's output."""
    import json

    args = [f"--config={REPO}/papers/qlora/configs/guanaco.py:tiny", f"--workdir={workdir}",
            f"--config.train.steps={steps}", "--config.train.checkpoint_every=3", *extra]
    if mesh:
        args += [f"--config.mesh.{axis}={size}" for axis, size in zip(("data", "fsdp", "tensor"), mesh)]
    logs = workdir.parent / f"{workdir.name}-logs-{steps}"
    logs.mkdir(exist_ok=True)
    results = _launch(args, devices, processes, logs)
    for i, (code, out, err) in enumerate(results):
        assert code == 0, f"process {i}:\n" + out[-2000:] + err[-4000:]
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    return ({r["step"]: r["loss"] for r in rows if "loss" in r},
            {r["step"]: r["eval_loss"] for r in rows if "eval_loss" in r}, results[0][1])


@pytest.fixture(scope="module")
def one_device(tmp_path_factory):
    """The reference: the tiny config's 6 steps on one device."""
    one, one_eval, _ = _train(tmp_path_factory.mktemp("one"), 6, devices=1)
    assert sorted(one) == list(range(1, 7))
    return one, one_eval


@pytest.mark.slow
def test_training_loop_on_a_mesh_equals_one_device(tmp_path, one_device):
    """scripts.train on 8 devices as a (2, 2, 2) mesh (model, adapters, optimizer state and batches placed by
    shared.train.sharding) gives the one-device run's losses, including across a resume from a sharded checkpoint
    (a first run stopped at step 3, then the same command with more steps)."""
    one, one_eval = one_device
    _train(tmp_path / "mesh", 3, devices=8, mesh=(2, 2, 2))
    losses, evals, stdout = _train(tmp_path / "mesh", 6, devices=8, mesh=(2, 2, 2))
    assert "mesh: {'data': 2, 'fsdp': 2, 'tensor': 2} over 8 devices" in stdout
    assert sorted(losses) == sorted(one) == list(range(1, 7))
    for step in one:
        assert losses[step] == pytest.approx(one[step], rel=1e-5), step
    assert evals[6] == pytest.approx(one_eval[6], rel=1e-5)  # (the first run also evaluated at its end, step 3)


def _converted_tiny(directory):
    """The tiny config's random base model (seed 0, NF4 + double quantization), converted as scripts.convert does."""
    from shared.model import PRESETS
    from shared.model.loading import quantize_hook, random_model, save_orbax

    model = random_model(PRESETS["tiny-llama"], seed=0, on_tensor=quantize_hook("nf4", double_quant=True))
    return save_orbax(model, directory)


@pytest.mark.slow
def test_training_loop_across_two_processes_equals_one_device(tmp_path, one_device):
    """A multi-host job in miniature: two processes of 4 CPU devices each (jax.distributed through a coordinator
    address, as on two GPU machines or a TPU pod's hosts) restore the converted base model straight onto one
    (2, 2, 2) mesh over all 8 devices, train, save a checkpoint together, and resume from it: the one-device run's
    losses (that run's base is the same random model, built in place). (Placing the model failed across processes
    until `sharding.put_global`: jax.device_put refuses the devices of another process.)"""
    one, one_eval = one_device
    base = _converted_tiny(tmp_path / "base")
    source = [f"--config.model.source={base}"]
    _train(tmp_path / "hosts", 3, devices=4, mesh=(2, 2, 2), processes=2, extra=source)
    losses, evals, stdout = _train(tmp_path / "hosts", 6, devices=4, mesh=(2, 2, 2), processes=2, extra=source)
    assert "mesh: {'data': 2, 'fsdp': 2, 'tensor': 2} over 8 devices, 2 process(es)" in stdout
    assert f"base model restored from {base} onto the mesh" in stdout
    # one process on one device exports the adapters the two processes saved over 8 devices
    export = subprocess.run([sys.executable, "-m", "scripts.export_adapter", f"--workdir={tmp_path / 'hosts'}",
                             f"--out={tmp_path / 'adapter'}"], cwd=REPO, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert export.returncode == 0 and "exported the adapters of step 6" in export.stdout, export.stderr[-3000:]
    assert f"resumed from {tmp_path / 'hosts' / 'checkpoints' / '3'} at step 3" in stdout
    assert sorted(losses) == list(range(1, 7))
    for step in one:
        assert losses[step] == pytest.approx(one[step], rel=1e-5), step
    assert evals[6] == pytest.approx(one_eval[6], rel=1e-5)


@pytest.mark.slow
def test_stacked_layers_across_two_processes_equal_one_device(tmp_path, one_device):
    """train.scan_layers in the multi-host job of the test above (two processes of 4 devices, one (2, 2, 2) mesh):
    the converted base restored onto the mesh, then stacked (each layer's blocks keep their split; the layer axis
    is not split), a checkpoint of stacked adapters written by both processes, a resume, and one process on one
    device exporting them: the one-device unrolled run's losses. Pods are where stacked layers are for (the 65B
    step compiles for 16 v5e chips only that way here: benchmarks/aot/README.md)."""
    one, one_eval = one_device
    extra = [f"--config.model.source={_converted_tiny(tmp_path / 'base')}", "--config.train.scan_layers=True"]
    _train(tmp_path / "scan", 3, devices=4, mesh=(2, 2, 2), processes=2, extra=extra)
    losses, evals, stdout = _train(tmp_path / "scan", 6, devices=4, mesh=(2, 2, 2), processes=2, extra=extra)
    assert "over 8 devices, 2 process(es)" in stdout and "onto the mesh" in stdout and "resumed from" in stdout
    assert sorted(losses) == list(range(1, 7))
    for step in one:
        assert losses[step] == pytest.approx(one[step], rel=1e-5), step
    assert evals[6] == pytest.approx(one_eval[6], rel=1e-5)
    export = subprocess.run([sys.executable, "-m", "scripts.export_adapter", f"--workdir={tmp_path / 'scan'}",
                             f"--out={tmp_path / 'adapter'}"], cwd=REPO, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert export.returncode == 0 and "exported the adapters of step 6" in export.stdout, export.stderr[-3000:]


def test_a_workdir_the_hosts_do_not_share_is_refused(tmp_path):
    """Two processes whose "run" folders are different directories (each host's own disk, here two working
    directories): both stop before training, naming the problem, instead of splitting checkpoints across hosts.
    A URL workdir (gs://...) is refused too: the loop writes through the local filesystem."""
    hosts = [tmp_path / "host0", tmp_path / "host1"]
    for h in hosts:
        h.mkdir()
    args = [f"--config={REPO}/papers/qlora/configs/guanaco.py:tiny", "--workdir=run", "--config.train.steps=2",
            "--config.mesh.data=8"]
    results = _launch(args, 4, 2, tmp_path, cwds=hosts)
    for code, out, err in results:
        assert code != 0 and "is not shared by the job's 2 processes: process(es) [1]" in err, err[-3000:]
    assert not (hosts[0] / "run" / "metrics.jsonl").exists()
    ((code, _, err),) = _launch([*args[:1], "--workdir=gs://bucket/run", *args[2:3]], 1, 1, tmp_path)
    assert code != 0 and "workdir gs://bucket/run: a URL" in err
    assert not (REPO / "gs:").exists()
