"""Data-parallel training on 2 CPU processes (gloo): one step on 2 processes is one step on 1, each file is
written once, and a run saved by 2 processes resumes on 1."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from fromnoise.build import build_denoiser, make_config
from fromnoise.data import TensorBatches
from fromnoise.sampling import generate
from fromnoise.sampling.generate import generate_across_processes
from fromnoise.training import Trainer, TrainOptions, list_checkpoints, read_checkpoint
from fromnoise.training.launch import launch
from fromnoise.training.trainer import WEIGHTING_FILE, process_seed
from tests.synthetic import squares

B = 8  # the global batch


class IndexedNoise(Trainer):
    """Timesteps and noise as functions of the image's index (not of the process that draws them), and the
    gradient of the first step kept, so 1 and 2 processes can be compared draw for draw."""

    def draw(self, x0, info):
        gens = [torch.Generator().manual_seed(1000 + int(i)) for i in info["indices"]]
        t = torch.tensor([int(torch.randint(0, self.denoiser.num_timesteps, (1,), generator=g)) for g in gens])
        noise = torch.stack([torch.randn(x0.shape[1:], generator=g) for g in gens])
        return t, noise

    def train_step(self, x0, info):
        stats = super().train_step(x0, info)  # after backward: the gradients averaged over the processes
        if self.step == 0 and self.main:
            grads = {n: p.grad.detach().clone() for n, p in self.acc.unwrap_model(self.model).named_parameters()
                     if p.grad is not None}
            save_file(grads, str(self.out.parent / f"grads_{self.world}.safetensors"))
        return stats


def _options(out, steps, **kw):
    base = dict(out=str(out), steps=steps, batch_size=B, lr=3e-3, warmup=1, sample_every=10_000, save_every=1,
                num_samples=2, sample_steps=2, progress=False, log_every=1, grad_clip=1.0,
                loss_weighting="uncertainty")  # its network's gradients are averaged by the trainer, not DDP
    return TrainOptions(**{**base, **kw})


def _run(out, steps):
    """Train (in each process): the micro network, no dropout, no condition, so the draws are all in ``draw``."""
    cfg = make_config("micro", image_size=8, channels=1, prediction="eps", schedule="linear",
                      model_overrides={"dropout": 0.0})
    trainer = IndexedNoise(cfg, squares(16, 8), _options(out, steps))
    # the process's own generator: different on each process
    own = trainer.out.parent / f"own_rank{trainer.rank}_of_{trainer.world}.safetensors"
    save_file({"draw": torch.rand(8)}, str(own))
    trainer.run()
    # sharded generation: 5 images from fixed weights, split 3 + 2 across 2 processes
    torch.manual_seed(0)
    denoiser = build_denoiser(make_config("micro", image_size=8, channels=1))
    images = generate_across_processes(denoiser, 5, steps=2, seed=3, batch_size=2)
    if trainer.main:
        save_file({"images": images}, str(trainer.out.parent / f"samples_{trainer.world}.safetensors"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("mp")
    (root / "one").mkdir(), (root / "two").mkdir()
    _run(root / "one" / "run", 2)
    launch(_run, (root / "two" / "run", 2), processes=2)
    return root


def test_one_step_on_two_processes_equals_one_step_on_one(runs):
    one = load_file(str(runs / "one" / "grads_1.safetensors"))
    two = load_file(str(runs / "two" / "grads_2.safetensors"))
    assert one.keys() == two.keys() and len(one) > 10
    scale = max(float(g.abs().max()) for g in one.values())
    for name in one:  # the mean over B images, whichever process held them (a sum would be 2x)
        torch.testing.assert_close(two[name], one[name], atol=1e-5 * scale, rtol=1e-4, msg=name)
    wa = load_file(str(list_checkpoints(runs / "one" / "run")[-1] / "model.safetensors"))
    wb = load_file(str(list_checkpoints(runs / "two" / "run")[-1] / "model.safetensors"))
    for name in wa:  # two AdamW steps later the weights agree too
        torch.testing.assert_close(wb[name], wa[name], atol=1e-5, rtol=1e-4, msg=name)
    ua = load_file(str(list_checkpoints(runs / "one" / "run")[-1] / WEIGHTING_FILE))
    ub = load_file(str(list_checkpoints(runs / "two" / "run")[-1] / WEIGHTING_FILE))
    assert float(ua["linear.weight"].abs().sum()) > 0  # it learned, and the same on 1 and 2 processes
    for name in ua:
        torch.testing.assert_close(ub[name], ua[name], atol=1e-5, rtol=1e-4, msg=name)
    loss = [[json.loads(line)["loss"] for line in (runs / d / "run" / "metrics.jsonl").read_text().splitlines()]
            for d in ("one", "two")]
    assert loss[1] == pytest.approx(loss[0], rel=1e-5)  # the logged loss is the global mean


def test_each_process_draws_its_own_randomness(runs):
    r0 = load_file(str(runs / "two" / "own_rank0_of_2.safetensors"))["draw"]
    r1 = load_file(str(runs / "two" / "own_rank1_of_2.safetensors"))["draw"]
    single = load_file(str(runs / "one" / "own_rank0_of_1.safetensors"))["draw"]
    assert not torch.equal(r0, r1)
    assert torch.equal(r0, single)  # process 0 keeps the run seed's stream
    assert len({process_seed(0, r) for r in range(8)}) == 8


def test_two_processes_write_each_file_once(runs):
    run = runs / "two" / "run"
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2]
    log = (run / "log.txt").read_text()
    assert log.count("saved ") == 1 and log.count("step 2: samples") == 1
    assert len(list((run / "tensorboard").glob("events.*"))) == 1
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["latest.png", "step_00000002.png"]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_00000001", "step_00000002"]
    ckpt, _, state = read_checkpoint(run)
    assert {"rng.safetensors", "rng_rank1.safetensors"} <= {p.name for p in ckpt.iterdir()}
    assert state["world_size"] == 2 and set(state["rng_ranks"]) == {"1"}
    # each process's generator state, not one copied twice
    assert not torch.equal(load_file(str(ckpt / "rng.safetensors"))["torch_cpu"],
                           load_file(str(ckpt / "rng_rank1.safetensors"))["torch_cpu"])
    assert state["images_seen"] == 2 * B


def test_shards_of_a_global_batch_are_the_single_process_batch():
    """Every process walks the same global stream and keeps its slice; augmentation included."""
    data = squares(11, 8)
    kw = dict(hflip=True, seed=5)
    full = TensorBatches(data, 6, **kw)
    halves = [TensorBatches(data, 6, rank=r, world=2, **kw) for r in range(2)]
    for _ in range(4):  # crosses an epoch boundary
        x, info = full.next_batch()
        parts = [h.next_batch() for h in halves]
        assert torch.equal(torch.cat([p[0] for p in parts]), x)
        assert torch.equal(torch.cat([p[1]["indices"] for p in parts]), info["indices"])
        assert all(h.state_dict() == full.state_dict() for h in halves)  # the state is global
    with pytest.raises(ValueError, match="equal parts"):
        TensorBatches(data, 5, world=2)


def test_cli_processes_2_then_resume_on_1(tmp_path):
    """fromnoise train --processes 2, then the same command on 1 process continues the step count."""
    from click.testing import CliRunner

    from fromnoise.cli.main import cli

    folder = tmp_path / "images"
    folder.mkdir()
    data = squares(8, 8)
    for i, img in enumerate(data.images):
        Image.fromarray(img[0].numpy()).save(folder / f"img_{i}.png")
    args = ["train", "--dataset", str(folder), "--preset", "micro", "--image-size", "8", "--channels", "1",
            "--batch-size", "4", "--out", str(tmp_path / "run"), "--sample-every", "1000", "--num-samples", "2",
            "--no-progress", "--log-every", "1", "--save-every", "1000"]
    first = CliRunner().invoke(cli, [*args, "--steps", "2", "--processes", "2"])
    assert first.exit_code == 0, first.output
    assert read_checkpoint(tmp_path / "run")[2]["world_size"] == 2
    second = CliRunner().invoke(cli, [*args, "--steps", "3"])
    assert second.exit_code == 0, second.output
    _, _, state = read_checkpoint(tmp_path / "run")
    assert state["step"] == 3 and state["world_size"] == 1
    assert "saved by 2 process(es) and this run has 1; reseeding" in (tmp_path / "run" / "log.txt").read_text()
    steps = [json.loads(line)["step"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]
    odd = CliRunner().invoke(cli, [*args, "--steps", "4", "--processes", "2", "--batch-size", "3"])
    assert odd.exit_code != 0 and "does not split into 2 processes" in odd.output



def test_generation_split_across_two_processes_is_the_one_process_result(runs):
    one = load_file(str(runs / "one" / "samples_1.safetensors"))["images"]
    two = load_file(str(runs / "two" / "samples_2.safetensors"))["images"]
    assert one.shape == two.shape == (5, 1, 8, 8)
    torch.testing.assert_close(two, one, atol=1e-6, rtol=0)  # image i depends only on seed + i
    torch.manual_seed(0)
    alone = generate(build_denoiser(make_config("micro", image_size=8, channels=1)), 5, steps=2, seed=3)
    torch.testing.assert_close(one, alone, atol=1e-6, rtol=0)


def test_cli_sample_across_two_processes_writes_the_one_process_images_once(runs, tmp_path, capfd):
    """fromnoise sample --processes 2: each process draws its share, the main one writes every file once,
    and image i is the one-process image i (it depends only on seed + i)."""
    import numpy as np
    from click.testing import CliRunner

    from fromnoise.cli.main import cli

    run = runs / "one" / "run"
    args = ["sample", str(run), "-n", "5", "--steps", "2", "--batch-size", "2", "--seed", "4"]
    one = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "one")])
    capfd.readouterr()
    two = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "two"), "--processes", "2"])
    said = capfd.readouterr().err  # the spawned processes write to the real stderr
    assert one.exit_code == 0 and two.exit_code == 0, (one.output, two.output, said)
    names = sorted(p.name for p in (tmp_path / "two" / "images").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "one" / "images").iterdir()) and len(names) == 5
    for name in names:
        a = np.asarray(Image.open(tmp_path / "one" / "images" / name))
        b = np.asarray(Image.open(tmp_path / "two" / "images" / name))
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1, name  # uint8 rounding of float noise
    assert said.count("wrote ") == 1, said


def test_processes_inside_a_launcher_is_one_clear_error(monkeypatch, tmp_path):
    """--processes N under a launcher that already started processes: train and sample refuse, before any work."""
    from tests.cli_runner import run

    monkeypatch.setenv("WORLD_SIZE", "2")
    for args in (["train", "--dataset", tmp_path, "--steps", 1, "--processes", 2],
                 ["sample", tmp_path / "no-run", "--processes", 2]):
        result = run(*args, ok=False)
        assert result.exit_code != 0 and "inside a launcher that already started 2 processes" in result.output
        assert "Traceback" not in result.output


# ------------------------------------------------------------------------- the autoencoder objective
def _run_autoencoder(out, steps, disc_start=None):
    """Train a tiny autoencoder (in each process) on the posterior's mode, so the only draw left is the data
    order (the global batch, the same on 1 and 2 processes); the first step's gradients are kept."""
    from fromnoise.autoencoder import AutoencoderConfig, DiagonalGaussian
    from fromnoise.autoencoder.config import AutoencoderTrainingConfig
    from fromnoise.training import AutoencoderTrainer

    DiagonalGaussian.sample = lambda self, generator=None: self.mean  # this process only (spawned: a fresh one)

    class Kept(AutoencoderTrainer):
        def train_step(self, x, info):
            stats = super().train_step(x, info)
            if self.step == 0 and self.main:
                net = self.acc.unwrap_model(self.model)  # NHWC weights: safetensors wants them packed
                grads = {n: p.grad.detach().contiguous().clone() for n, p in net.named_parameters()}
                save_file(grads, str(self.out.parent / f"grads_{self.world}.safetensors"))
            return stats

    data = squares(16, 8)
    options = AutoencoderTrainingConfig(out=str(out), steps=steps, batch_size=B, lr=3e-3, warmup=1, save_every=1,
                                        sample_every=10_000, num_samples=2, log_every=1, progress=False,
                                        disc_start=disc_start, hflip=True, channels_last=False)  # NCHW on both
    Kept(AutoencoderConfig(image_size=8, channels=1, factor=4, widths=(8, 8, 8)), data, options).run()


@pytest.fixture(scope="module")
def ae_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("mp_ae")
    for name in ("one", "two", "gan"):
        (root / name).mkdir()
    _run_autoencoder(root / "one" / "run", 2)
    launch(_run_autoencoder, (root / "two" / "run", 2), processes=2)
    launch(_run_autoencoder, (root / "gan" / "run", 3, 1), processes=2)
    return root


def test_autoencoder_step_on_two_processes_equals_one_step_on_one(ae_runs):
    one, two = (load_file(str(ae_runs / d / f"grads_{w}.safetensors")) for d, w in (("one", 1), ("two", 2)))
    assert one.keys() == two.keys() and len(one) > 10
    scale = max(float(g.abs().max()) for g in one.values())
    for name in one:
        torch.testing.assert_close(two[name], one[name], atol=1e-5 * scale, rtol=1e-4, msg=name)
    # the weights after that step, where the gradient is more than float noise: AdamW's first step moves each
    # weight by lr * g / (|g| + eps), which amplifies a gradient near eps (1e-8) to a sizeable part of lr
    wa, wb = (load_file(str(list_checkpoints(ae_runs / d / "run")[0] / "model.safetensors")) for d in ("one", "two"))
    compared = 0
    for name in wa:
        real = one[name].abs() > 1e-5 * scale
        torch.testing.assert_close(wb[name][real], wa[name][real], atol=1e-5, rtol=1e-4, msg=name)
        compared += int(real.sum())
    assert compared > 0.5 * sum(w.numel() for w in wa.values())
    loss = [[json.loads(line)["loss"] for line in (ae_runs / d / "run" / "metrics.jsonl").read_text().splitlines()]
            for d in ("one", "two")]
    assert loss[1] == pytest.approx(loss[0], rel=1e-4)  # the logged loss is the global mean


def test_autoencoder_with_discriminator_on_two_processes_writes_each_file_once(ae_runs):
    run = ae_runs / "gan" / "run"
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3] and "d_loss" not in rows[0] and "d_loss" in rows[2]
    assert (run / "log.txt").read_text().count("saved ") == 1
    ckpt, _, state = read_checkpoint(run)
    assert {"discriminator.safetensors", "disc_optimizer.safetensors", "rng_rank1.safetensors"} <= \
        {p.name for p in ckpt.iterdir()}
    assert state["world_size"] == 2 and "disc_optimizer" in state
