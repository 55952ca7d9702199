"""The GPU path's pieces that the CPU can check: channels_last computes the same network, fused AdamW
only on CUDA, never bf16 on the CPU (training or sampling)."""

import torch

from fromnoise.build import build_denoiser, make_config
from fromnoise.sampling import generate
from fromnoise.sampling.generate import network_dtype
from fromnoise.training import Trainer, TrainOptions
from fromnoise.training.trainer import optimizer_options
from tests.synthetic import squares


def _denoiser():
    return build_denoiser(make_config("micro", image_size=8, channels=1))


def test_channels_last_computes_the_same_network():
    d = _denoiser().eval()
    x = torch.randn(3, 1, 8, 8)
    t = torch.tensor([1, 500, 999])
    with torch.no_grad():
        plain = d(x, t, None, None)
        d.to(memory_format=torch.channels_last)
        nhwc = d(x.contiguous(memory_format=torch.channels_last), t, None, None)
    torch.testing.assert_close(nhwc, plain, atol=1e-5, rtol=1e-5)


def test_fused_adamw_only_on_cuda():
    assert optimizer_options(torch.device("cpu")) == {}
    assert optimizer_options(torch.device("cuda", 0)) == {"fused": True}
    w = torch.nn.Parameter(torch.ones(4))  # the keyword is one AdamW takes (its CPU kernel runs here)
    opt = torch.optim.AdamW([w], lr=0.1, **optimizer_options(torch.device("cuda")))
    w.grad = torch.ones(4)
    opt.step()
    assert torch.all(w < 1)


def test_no_bf16_on_the_cpu(tmp_path):
    trainer = Trainer(make_config("micro", image_size=8, channels=1), squares(8, 8),
                      TrainOptions(out=str(tmp_path / "run"), steps=1, batch_size=4, progress=False))
    assert trainer.acc.mixed_precision == "no" and not trainer.channels_last
    assert all(p.dtype == torch.float32 for p in trainer.denoiser.parameters())
    assert network_dtype(torch.device("cpu")) is None
    assert network_dtype(torch.device("cuda")) in (torch.bfloat16, torch.float16)
    images = generate(_denoiser(), 2, steps=2, seed=0)
    assert images.dtype == torch.float32
