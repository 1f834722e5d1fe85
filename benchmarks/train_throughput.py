"""Training throughput: the classic AAE loop of public reference implementations against this project's trainer.

    python -m benchmarks.train_throughput                       # CPU, and CUDA when present; batch 100 and 1000
    python -m benchmarks.train_throughput --device cpu --batch-sizes 100 --repeats 9
    python -m benchmarks.train_throughput --device cuda --full-run   # + 15,000 minibatches of 100, end to end

Both sides train the paper's MNIST AAE on the same random 784-pixel data: encoder 784-1000-1000-2, decoder
2-1000-1000-784, discriminator 2-1000-1000-1, Adam, the same batch size, three updates per minibatch
(reconstruction, discriminator, generator). The classic loop is written the way public PyTorch AAEs write it: a
DataLoader over a TensorDataset, the encoder run once per phase, the discriminator's loss backpropagated into the
encoder too (its codes are not detached), Adam per tensor, and a `.item()` per loss per step. The project's side is
`aae_core.loop.train_epoch` on the data as one device tensor (fp32, and bf16 autocast where supported).

Variants are timed in turn inside one process (A, B, C, A, B, C, ...), so load from other processes on the machine
hits them alike; each line reports the median and the spread of samples/s over the repeats, and each ratio is the
median of the per-round ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from aae_core.acceleration import bf16_supported
from aae_core.config import ModelConfig, TrainConfig
from aae_core.kinds import KINDS
from aae_core.loop import train_epoch
from aae_core.priors import make_prior
from aae_core.state import new_state

INPUT_DIM, HIDDEN, LATENT = 784, 1000, 2  # the paper's MNIST architecture (appendix)
EPS = 1e-8  # the reference implementations' guard inside log()


# ---------------------------------------------------------------------------------------------------- classic loop


def classic_mlp(in_dim: int, out_dim: int, final: nn.Module | None = None) -> nn.Sequential:
    layers = [nn.Linear(in_dim, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, out_dim)]
    return nn.Sequential(*layers, *([final] if final is not None else []))


class ClassicAAE:
    """The three-phase loop as the public reference implementations write it (e.g. the widely copied
    `AAE_pytorch` notebooks): separate encoder, decoder and discriminator nets with sigmoid outputs, four Adams."""

    def __init__(self, data: torch.Tensor, batch_size: int, device: torch.device) -> None:
        torch.manual_seed(0)
        self.device = device
        self.encoder = classic_mlp(INPUT_DIM, LATENT).to(device)
        self.decoder = classic_mlp(LATENT, INPUT_DIM, nn.Sigmoid()).to(device)
        self.discriminator = classic_mlp(LATENT, 1, nn.Sigmoid()).to(device)
        self.opt_decoder = torch.optim.Adam(self.decoder.parameters(), lr=2e-4)
        self.opt_encoder = torch.optim.Adam(self.encoder.parameters(), lr=2e-4)
        self.opt_generator = torch.optim.Adam(self.encoder.parameters(), lr=2e-4)
        self.opt_discriminator = torch.optim.Adam(self.discriminator.parameters(), lr=2e-4)
        dataset = TensorDataset(data, torch.zeros(len(data), dtype=torch.long))  # images and (unused) labels
        self.loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, pin_memory=device.type == "cuda")
        self.batches = iter(self.loader)

    def zero_grad(self) -> None:
        for net in (self.encoder, self.decoder, self.discriminator):
            net.zero_grad()

    def next_batch(self) -> torch.Tensor:
        try:
            x, _ = next(self.batches)
        except StopIteration:
            self.batches = iter(self.loader)
            x, _ = next(self.batches)
        return x.to(self.device)

    def step(self) -> tuple[float, float, float]:
        x = self.next_batch()
        # 1. reconstruction
        self.zero_grad()
        recon_loss = F.binary_cross_entropy(self.decoder(self.encoder(x)) + EPS, x + EPS)
        recon_loss.backward()
        self.opt_decoder.step()
        self.opt_encoder.step()
        # 2. discriminator
        self.zero_grad()
        self.encoder.eval()
        z_real = torch.randn(x.shape[0], LATENT, device=self.device)
        z_fake = self.encoder(x)
        d_loss = -torch.mean(
            torch.log(self.discriminator(z_real) + EPS) + torch.log(1 - self.discriminator(z_fake) + EPS)
        )
        d_loss.backward()
        self.opt_discriminator.step()
        # 3. generator
        self.zero_grad()
        self.encoder.train()
        g_loss = -torch.mean(torch.log(self.discriminator(self.encoder(x)) + EPS))
        g_loss.backward()
        self.opt_generator.step()
        self.zero_grad()
        return recon_loss.item(), d_loss.item(), g_loss.item()  # logged every step: one host sync per loss

    def run(self, steps: int) -> None:
        for _ in range(steps):
            self.step()


# ---------------------------------------------------------------------------------------------------- this project


class ProjectTrainer:
    """`aae_core`'s training loop (`train_epoch`) on the same data, architecture and batch size."""

    def __init__(self, data: torch.Tensor, batch_size: int, device: torch.device, variant: str) -> None:
        # "fp32-loop-adam": the engine with per-tensor Adam, to show what the fused optimizer contributes.
        precision, fused = variant.removesuffix("-loop-adam"), not variant.endswith("-loop-adam")
        self.config = TrainConfig(
            batch_size=batch_size, precision=precision, fused_adam=fused, snapshots_per_epoch=0, log_every=50
        )
        model_config = ModelConfig(kind="aae", input_dim=INPUT_DIM, latent_dim=LATENT)
        self.state = new_state(model_config, self.config, device)
        self.prior = make_prior("gaussian", LATENT)
        self.data = data.to(device)
        self.no_snapshots = torch.empty(0, INPUT_DIM, device=device)

    def run(self, steps: int) -> None:
        # An "epoch" of exactly `steps` minibatches, drawn from the whole data set.
        index = torch.randperm(len(self.data), device=self.data.device)[: steps * self.config.batch_size]
        images = self.data[index]
        train_epoch(self.state, KINDS["aae"], self.prior, images, self.config, self.no_snapshots)


# ---------------------------------------------------------------------------------------------------- timing


@dataclass
class Variant:
    name: str
    run: Callable[[int], None]
    rates: list[float]


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_variants(variants: list[Variant], steps: int, batch_size: int, repeats: int, device: torch.device) -> None:
    """Warm each variant up, then time `steps` minibatches of each in turn, `repeats` rounds."""
    for variant in variants:
        variant.run(3)
    synchronize(device)
    for round_ in range(repeats):
        for variant in variants:
            started = time.perf_counter()
            variant.run(steps)
            synchronize(device)
            variant.rates.append(steps * batch_size / (time.perf_counter() - started))
        rates = ", ".join(f"{v.name} {v.rates[-1]:,.0f}" for v in variants)
        print(f"  round {round_ + 1}/{repeats}: {rates} samples/s", file=sys.stderr, flush=True)


def report(variants: list[Variant], device: torch.device, batch_size: int, steps: int) -> None:
    print(f"\n{device.type}, batch {batch_size}, {steps} minibatches per timing, {len(variants[0].rates)} rounds")
    classic = variants[0]
    for variant in variants:
        rates = sorted(variant.rates)
        spread = f"(range {rates[0]:,.0f}-{rates[-1]:,.0f})"
        line = f"  {variant.name:<22} {statistics.median(rates):>9,.0f} samples/s  {spread}"
        if variant is not classic:
            ratio = statistics.median(a / b for a, b in zip(variant.rates, classic.rates, strict=True))
            line += f"  ratio to classic {ratio:.2f}x"
        print(line, flush=True)


def benchmark(device: torch.device, batch_size: int, steps: int, repeats: int, engines: list[str]) -> None:
    data = torch.rand(60_000, INPUT_DIM)  # random pixels in [0, 1]: the cost per step does not depend on content
    variants = [Variant("classic loop", ClassicAAE(data, batch_size, device).run, [])]
    for engine in engines:
        if engine.startswith("bf16") and not bf16_supported(device):
            print(f"  ({device.type} has no native bf16: skipping {engine})")
            continue
        trainer = ProjectTrainer(data, batch_size, device, engine)
        variants.append(Variant(f"aae_core {engine}", trainer.run, []))
    time_variants(variants, steps, batch_size, repeats, device)
    report(variants, device, batch_size, steps)


def full_run(device: torch.device, minibatches: int = 15_000, batch_size: int = 100) -> None:
    """The GPU target: 15,000 minibatches of 100 through the project's loop, wall clock."""
    data = torch.rand(60_000, INPUT_DIM)
    trainer = ProjectTrainer(data, batch_size, device, "fp32")
    trainer.run(3)
    synchronize(device)
    started = time.perf_counter()
    for _ in range(minibatches // 600):  # epochs of 600 minibatches, as MNIST at batch 100
        trainer.run(600)
    synchronize(device)
    seconds = time.perf_counter() - started
    print(f"\n{device.type}: {minibatches // 600 * 600:,} minibatches of {batch_size} in {seconds:.1f} s")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("all", "cpu", "cuda"), default="all", help="default: all present")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[100, 1000], help="default: 100 1000")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds per variant (default: 5)")
    parser.add_argument(
        "--samples", type=int, default=4000, help="samples per timing on CPU, x20 on CUDA (default: 4000)"
    )
    parser.add_argument(
        "--engines",
        nargs="+",
        choices=("fp32", "bf16", "fp32-loop-adam", "bf16-loop-adam"),
        default=["fp32", "bf16"],
        help="the project's variants: precision, and -loop-adam for per-tensor Adam (default: fp32 bf16)",
    )
    parser.add_argument("--full-run", action="store_true", help="CUDA: also time 15,000 minibatches of 100")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    devices = [torch.device("cpu")] if args.device in ("all", "cpu") else []
    if args.device in ("all", "cuda"):
        if torch.cuda.is_available():
            devices.append(torch.device("cuda"))
            torch.backends.cuda.matmul.allow_tf32 = True  # both sides: what the trainer does on CUDA
        else:
            print("no CUDA GPU here: CUDA figures skipped")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, {os.cpu_count()} cores visible, "
        f"load average {os.getloadavg()[0]:.1f} (a load above the thread count means a shared, noisy machine)"
    )
    for device in devices:
        for batch_size in args.batch_sizes:
            samples = args.samples * (20 if device.type == "cuda" else 1)
            benchmark(device, batch_size, max(2, samples // batch_size), args.repeats, args.engines)
        if args.full_run and device.type == "cuda":
            full_run(device)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
