"""Latent-module training, on cached latents only (no decoder pass in any loss).

- ``BWETrainer``: regression from the sinc-input latent to the full-band latent,
  10 x L1 + 0.5 x least-squares adversarial + 1.0 x feature matching from one latent
  discriminator (or L1 only), AdamW 5e-4 / 1e-4, weight decay 1e-4, warm-ups.
- ``FlowTrainer``: conditional flow matching from noise to the full-band latent,
  conditioned on the sinc-input latent and the rate.
- ``StereoTrainer``: mono latent + style -> left/right latents, L1 + 5e-4 x KL of the
  variational style encoder.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reencoder_cli.data.latents import LatentCrops
from reencoder_cli.models.bwe import BWEConfig, LatentBWE
from reencoder_cli.models.discriminators import LatentDiscriminator, LatentDiscriminatorConfig
from reencoder_cli.models.flow import FlowConfig, LatentFlow
from reencoder_cli.models.layers import frame_level
from reencoder_cli.models.stereo import LatentUpmix, StereoConfig
from reencoder_cli.train.loop import Runtime, Schedule, ema_update, optimizer_step, unwrap, warmup_lr
from reencoder_cli.train.losses import discriminator_loss, feature_matching_loss, generator_loss, kl_divergence


@dataclass(frozen=True)
class LatentTrainConfig:
    """Hyper-parameters shared by the latent trainers (stored with the weights)."""

    frames: int = 128
    batch: int = 16
    lr: float = 5e-4
    disc_lr: float = 1e-4
    weight_decay: float = 1e-4
    warmup: int = 500
    disc_start: int = 1000
    l1_weight: float = 10.0
    adv_weight: float = 0.5
    fm_weight: float = 1.0
    disc_channels: int = 64
    kl_weight: float = 5e-4
    grad_clip: float = 100.0
    ema: float = 0.999  # the validated and exported weights: a moving average of the trained ones
    valid_batches: int = 8
    seed: int = 0


class LatentTrainer:
    """Shared parts: crops, optimisers with warm-up, updates, a moving average of the
    weights, fixed validation batches.

    Subclasses set ``self.model`` (and optionally ``self.disc``) before calling
    ``setup`` and implement ``loss`` (a dict with ``loss`` and logged terms), calling
    ``self.model`` for whichever weights are being scored.
    """

    model: nn.Module
    disc: nn.Module | None = None
    watch: str  # the validation metric that names the best weights (loop.Trainer)

    def __init__(self, config: LatentTrainConfig, runtime: Runtime, train: LatentCrops, valid: LatentCrops) -> None:
        torch.manual_seed(config.seed)
        self.config, self.runtime, self.train_crops = config, runtime, train
        self.valid = [self.collate(valid.sample(config.batch)) for _ in range(config.valid_batches)]
        self.generator = torch.Generator(runtime.device).manual_seed(config.seed + runtime.rank)

    def setup(self) -> None:
        """Wrap modules and build optimisers (call at the end of a subclass ``__init__``)."""
        c = self.config
        self.ema = copy.deepcopy(self.model).requires_grad_(False)
        self.model = self.runtime.wrap(self.model)
        self.modules: dict[str, nn.Module] = {"model": self.model, "ema": self.ema}
        self.optimizers: dict[str, torch.optim.Optimizer] = {
            "model": torch.optim.AdamW(self.model.parameters(), lr=c.lr, weight_decay=c.weight_decay)
        }
        if self.disc is not None:
            self.disc = self.runtime.wrap(self.disc)
            self.modules["disc"] = self.disc
            self.optimizers["disc"] = torch.optim.AdamW(
                self.disc.parameters(), lr=c.disc_lr, betas=(0.8, 0.99), weight_decay=c.weight_decay
            )

    def exported(self) -> nn.Module:
        """The module to ship: the moving average (without training wrappers)."""
        return self.ema

    def collate(self, crops: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        """Turn raw crops into a batch on the device (subclasses pick channels/rates)."""
        raise NotImplementedError

    def loss(self, batch: dict[str, Tensor], step: int | None) -> dict[str, Tensor]:
        """Losses of a batch; ``step`` None means validation (deterministic, no discriminator update)."""
        raise NotImplementedError

    def step(self, step: int) -> dict[str, float]:
        """One optimisation step."""
        c = self.config
        for name, opt in self.optimizers.items():
            base = c.disc_lr if name == "disc" else c.lr
            start = c.disc_start if name == "disc" else 0
            for group in opt.param_groups:
                group["lr"] = base * warmup_lr(max(0, step - start), c.warmup)
        batch = self.collate(self.train_crops.sample(c.batch))
        with self.runtime.autocast():
            losses = self.loss(batch, step)
        self._update("model", losses["loss"])
        ema_update(self.ema, self.model, c.ema, step)
        return {k: float(v.detach()) for k, v in losses.items()}

    def _update(self, name: str, loss: Tensor) -> None:
        optimizer_step(self.optimizers[name], self.modules[name], loss, self.config.grad_clip)

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Mean of every loss term over the fixed validation batches, of the moving average
        (the exported weights), and ``live/<term>`` of the trained weights."""
        trained = self.model
        live = {f"live/{k}": v for k, v in self._scores().items()}
        self.model = self.ema
        try:
            return self._scores() | live
        finally:
            self.model = trained

    def _scores(self) -> dict[str, float]:
        """``validate``'s means for ``self.model``."""
        self.model.eval()
        totals: dict[str, float] = {}
        for batch in self.valid:
            for key, value in self.loss(batch, None).items():
                totals[key] = totals.get(key, 0.0) + float(value) / len(self.valid)
        self.model.train()
        return totals


class BWETrainer(LatentTrainer):
    """Regression bandwidth extension, with the latent discriminator unless ``adv_weight`` is 0."""

    watch = "l1"

    def __init__(
        self,
        model_config: BWEConfig,
        config: LatentTrainConfig,
        runtime: Runtime,
        train: LatentCrops,
        valid: LatentCrops,
    ) -> None:
        self.model_config = model_config
        self.rng = torch.Generator().manual_seed(config.seed)
        super().__init__(config, runtime, train, valid)
        self.model = LatentBWE(model_config)
        adversarial = config.adv_weight > 0 or config.fm_weight > 0
        self.disc = (
            LatentDiscriminator(LatentDiscriminatorConfig(channels=config.disc_channels)) if adversarial else None
        )
        self.setup()

    def collate(self, crops: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        """Each item: a random channel and a random input rate. -> low, full (B, D, F), rate (B,)."""
        rates = self.model_config.rates
        rate = torch.randint(0, len(rates), (len(crops),), generator=self.rng)
        channel = torch.randint(0, 2, (len(crops),), generator=self.rng)
        low = torch.stack([c[f"r{rates[r]}"][ch] for c, r, ch in zip(crops, rate.tolist(), channel.tolist())])
        full = torch.stack([c["full"][ch] for c, ch in zip(crops, channel.tolist())])
        dev = self.runtime.device
        return {"low": low.to(dev), "full": full.to(dev), "rate": rate.to(dev)}

    def loss(self, batch: dict[str, Tensor], step: int | None) -> dict[str, Tensor]:
        """Every term on level-normalised latents (divided by the input's frame level), so quiet
        frames count as much as loud ones."""
        c = self.config
        level = frame_level(batch["low"])
        est = self.model(batch["low"], batch["rate"]).float() / level
        full, low = batch["full"] / level, batch["low"] / level
        l1 = F.l1_loss(est, full)
        out = {"l1": l1, "l1_identity": F.l1_loss(low, full)}
        loss = c.l1_weight * l1
        gan = self.disc is not None and (step is None or step >= c.disc_start)
        if gan:
            assert self.disc is not None
            if step is not None:
                b = est.shape[0]
                scores, _ = self.disc(torch.cat([full, est.detach()]))  # one forward (DDP)
                d_loss = discriminator_loss([x[:b] for x in scores], [x[b:] for x in scores])
                self._update("disc", d_loss)
                out["disc"] = d_loss.detach()
            fake, fake_feats = self.disc(est)
            with torch.no_grad():
                _, real_feats = self.disc(full)
            adv, fm = generator_loss(fake), feature_matching_loss(real_feats, fake_feats)
            loss = loss + c.adv_weight * adv + c.fm_weight * fm
            out |= {"adv": adv.detach(), "fm": fm.detach()}
        out["loss"] = loss
        return out


class FlowTrainer(LatentTrainer):
    """Conditional flow matching: x_t = (1 - t) noise + t target, regress the velocity target - noise."""

    watch = "l1_1step"  # what the shipped one-step sampler gets wrong

    def __init__(
        self,
        model_config: FlowConfig,
        config: LatentTrainConfig,
        runtime: Runtime,
        train: LatentCrops,
        valid: LatentCrops,
    ) -> None:
        self.model_config = model_config
        self.rng = torch.Generator().manual_seed(config.seed)
        super().__init__(config, runtime, train, valid)
        self.model = LatentFlow(model_config)
        self.setup()

    collate = BWETrainer.collate

    def loss(self, batch: dict[str, Tensor], step: int | None) -> dict[str, Tensor]:
        model = unwrap(self.model)
        assert isinstance(model, LatentFlow)
        level = frame_level(batch["low"])
        x1, low = model.normalize(batch["full"], level), model.normalize(batch["low"], level)
        gen = self.generator if step is not None else torch.Generator(x1.device).manual_seed(0)
        x0 = torch.randn(x1.shape, generator=gen, device=x1.device)
        t = torch.rand(x1.shape[0], generator=gen, device=x1.device)
        xt = (1 - t[:, None, None]) * x0 + t[:, None, None] * x1
        mse = F.mse_loss(self.model(xt, t, low, batch["rate"]).float(), x1 - x0)
        out = {"loss": mse}
        if step is None:  # one-step sample error on level-normalised latents, comparable to the regression L1
            est = model.sample(batch["low"], batch["rate"], torch.randn(x1.shape, generator=gen, device=x1.device))
            out["l1_1step"] = F.l1_loss(est / level, batch["full"] / level)
        return out


# batches of training crops whose styles make the random style's prior (1024 crops at batch 16)
PRIOR_BATCHES = 64


class StereoObjective(nn.Module):
    """Style encoder + upmix in one ``forward``, so DDP sees every trained computation."""

    def __init__(self, model: LatentUpmix) -> None:
        super().__init__()
        self.model = model

    def forward(self, mid: Tensor, lr: Tensor, noise: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """mid (B, D, F), lr (B, 2D, F), noise (B, style) or None (posterior mean) -> estimate, mean, logvar."""
        mean, logvar = self.model.style(lr)
        style = mean if noise is None else mean + (0.5 * logvar).exp() * noise
        return self.model(mid, style), mean, logvar


class StereoTrainer(LatentTrainer):
    """Upmix with a variational style encoder: L1 on stacked L/R latents + KL on the style.

    Before each validation and export the prior of the random style is fitted to the styles
    of ``PRIOR_BATCHES`` fixed batches of training crops (``LatentUpmix.fit_prior``), so the
    ``l1_random_style`` it reports is that of the styles ``--seed`` draws (at temperature 1).
    """

    watch = "l1"

    def __init__(
        self,
        model_config: StereoConfig,
        config: LatentTrainConfig,
        runtime: Runtime,
        train: LatentCrops,
        valid: LatentCrops,
    ) -> None:
        self.model_config = model_config
        super().__init__(config, runtime, train, valid)
        self.model = StereoObjective(LatentUpmix(model_config))
        self.setup()
        self.prior_batches = [self.collate(train.sample(config.batch))["lr"].half() for _ in range(PRIOR_BATCHES)]

    @torch.no_grad()
    def fit_priors(self) -> None:
        """Fit the random style's prior of the trained and of the averaged upmix."""
        for objective in (unwrap(self.model), self.ema):
            assert isinstance(objective, StereoObjective)
            styles = [objective.model.style(lr.float()) for lr in self.prior_batches]
            mean, logvar = (torch.cat(x).float() for x in zip(*styles))
            objective.model.fit_prior(mean, logvar)

    def validate(self) -> dict[str, float]:
        self.fit_priors()
        return super().validate()

    def exported(self) -> LatentUpmix:
        """The moving average's upmix model (with its style encoder and fitted prior)."""
        self.fit_priors()
        assert isinstance(self.ema, StereoObjective)
        return self.ema.model

    def collate(self, crops: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        """-> mid (B, D, F), lr (B, 2D, F) stacked left then right."""
        dev = self.runtime.device
        mid = torch.stack([c["mid"][0] for c in crops]).to(dev)
        lr = torch.stack([c["full"].reshape(-1, c["full"].shape[-1]) for c in crops]).to(dev)
        return {"mid": mid, "lr": lr}

    def loss(self, batch: dict[str, Tensor], step: int | None) -> dict[str, Tensor]:
        """L1 on level-normalised latents (divided by the mono input's frame level) + KL."""
        style_dim = self.model_config.style_dim
        noise = None
        if step is not None:
            noise = torch.randn(batch["mid"].shape[0], style_dim, generator=self.generator, device=batch["mid"].device)
        est, mean, logvar = self.model(batch["mid"], batch["lr"], noise)
        level = frame_level(batch["mid"])
        target = batch["lr"] / level
        l1 = F.l1_loss(est.float() / level, target)
        kl = kl_divergence(mean.float(), logvar.float())
        out = {"loss": l1 + self.config.kl_weight * kl, "l1": l1, "kl": kl}
        if step is None:
            objective = unwrap(self.model)
            assert isinstance(objective, StereoObjective)
            upmix = objective.model
            random = upmix.random_style(mean.shape[0], 0, device=mean.device)  # the full prior
            out["l1_random_style"] = F.l1_loss(upmix(batch["mid"], random).float() / level, target)
            out["l1_dual_mono"] = F.l1_loss(batch["mid"].repeat(1, 2, 1) / level, target)
        return out


TRAINERS: dict[str, Callable[..., LatentTrainer]] = {"bwe": BWETrainer, "flow": FlowTrainer, "stereo": StereoTrainer}


def crop_keys(model_config: BWEConfig | StereoConfig) -> tuple[str, ...]:
    """The latent cache's entries a module trains on: the target and its inputs."""
    if isinstance(model_config, StereoConfig):
        return ("full", "mid")
    return ("full", *(f"r{r}" for r in model_config.rates))


def train(
    kind: str,
    latents: Path,
    run_dir: Path,
    autoencoder: str,
    *,
    model_config: BWEConfig | StereoConfig,
    config: LatentTrainConfig = LatentTrainConfig(),
    device: str = "auto",
    schedule: Schedule | None = None,
    command: str = "",
    log: Callable[[str], None] = print,
) -> Path:
    """Train (or resume) a latent module on the latent cache; export ``run_dir/<kind>.safetensors``.

    Args:
        kind: "bwe", "flow" or "stereo" (its ``model_config``: ``BWEConfig``, ``FlowConfig``, ``StereoConfig``).
        latents: latent cache folder (``reencoder train latents``).
        run_dir: checkpoint, logs and exported weights.
        autoencoder: the autoencoder weights the cache was made with (recorded in the export).
        model_config: the module's config (for flow, normalisation statistics are filled in).
        config: training hyper-parameters.
        device: auto, cpu, cuda, cuda:N.
        schedule: a ``loop.Schedule``.
        command: the command line, for provenance.
        log: progress lines.
    """
    from reencoder_cli.data.latents import sources
    from reencoder_cli.engine.pipeline import Pipeline
    from reencoder_cli.io.modelfile import save_model
    from reencoder_cli.train.loop import fit, setup_runtime

    runtime = setup_runtime(device)
    keys = crop_keys(model_config)
    crops = LatentCrops(latents, "train", keys, config.frames, seed=config.seed + 1000 * runtime.rank)
    valid = LatentCrops(latents, "valid", keys, config.frames, seed=12345)
    if isinstance(model_config, FlowConfig) and not model_config.latent_mean:
        mean, std = crops.statistics()
        model_config = replace(model_config, latent_mean=tuple(mean), latent_std=tuple(std))
    trainer = TRAINERS[kind](model_config, config, runtime, crops, valid)
    ae = Pipeline(autoencoder=autoencoder).ae_id
    out = run_dir / f"{kind}.safetensors"

    def export(step: int) -> None:
        info = {
            "command": command,
            "steps": step,
            "config": asdict(config),
            "data": sources(latents),
            "latents": str(latents),
        }
        save_model(out, trainer.exported(), kind, model_config, autoencoder=ae, train=info, dtype=torch.float16)

    fit(trainer, run_dir, runtime, schedule or Schedule(), export=export, log=log)
    return out
