"""The shared training loop: budgets, checkpoints and resuming, and stopping once validation is flat."""

from pathlib import Path

import pytest
import torch
from torch import nn

from reencoder_cli.errors import UsageError
from reencoder_cli.train.loop import MIN_GAIN, Runtime, Schedule, fit

CPU = Runtime(torch.device("cpu"))


class Scripted:
    """A trainer whose validations return the next of ``curve`` (one validation after each step)."""

    watch = "l1"

    def __init__(self, curve: list[float]) -> None:
        self.curve = list(curve)
        self.model = nn.Linear(2, 1)
        self.modules: dict[str, nn.Module] = {"model": self.model}
        self.optimizers: dict[str, torch.optim.Optimizer] = {"model": torch.optim.SGD(self.model.parameters(), lr=0.1)}
        self.steps = 0

    def step(self, step: int) -> dict[str, float]:
        loss = self.model(torch.ones(1, 2)).square().sum()
        self.optimizers["model"].zero_grad()
        loss.backward()
        self.optimizers["model"].step()
        self.steps += 1
        return {"loss": float(loss.detach())}

    def validate(self) -> dict[str, float]:
        return {"l1": self.curve.pop(0), "other": 0.0}


def every_step(steps: int, patience: int) -> Schedule:
    return Schedule(steps, checkpoint_minutes=float("inf"), validate_minutes=0.0, log_every=1, patience=patience)


def test_patience_stops_a_flat_curve_and_exports_the_best(tmp_path: Path) -> None:
    # steps 1..6 validate to these; a gain under MIN_GAIN (0.5%) is not a new best
    curve = [1.0, 0.8, 0.8 * (1 - MIN_GAIN / 2), 0.9, 0.7, 0.71, 0.75, 0.72, 0.0]
    trainer, exported = Scripted(curve), []
    reached = fit(trainer, tmp_path, CPU, every_step(100, patience=3), export=exported.append, log=lambda _: None)
    assert exported == [1, 2, 5]  # each new best, never the later, worse steps
    assert reached == 8 and trainer.steps == 8  # 6, 7 and 8 were not better than step 5: stopped there
    assert trainer.curve == [0.0]  # no further validation after the stop


def test_a_resumed_run_keeps_its_best_and_count(tmp_path: Path) -> None:
    first, exported = Scripted([1.0, 0.5, 0.6]), []
    fit(first, tmp_path, CPU, every_step(2, patience=2), export=exported.append, log=lambda _: None)
    assert exported == [1, 2]  # the run's final validation (0.6) was no better
    again = Scripted([0.55, 0.4])  # 0.55 is worse than the resumed best 0.5: the second stale one
    reached = fit(again, tmp_path, CPU, every_step(10, patience=2), export=exported.append, log=lambda _: None)
    assert reached == 3 and exported == [1, 2]


def test_a_resumed_run_whose_budget_is_spent_says_so_and_changes_nothing(tmp_path: Path) -> None:
    fit(Scripted([1.0, 0.9, 0.8]), tmp_path, CPU, every_step(2, patience=0), log=lambda _: None)
    log_rows = (tmp_path / "log.csv").read_text()
    again, exported, said = Scripted([0.7]), [], []
    reached = fit(again, tmp_path, CPU, every_step(2, patience=0), export=exported.append, log=said.append)
    assert reached == 2 and again.steps == 0 and again.curve == [0.7]  # no step, no validation
    assert exported == [] and (tmp_path / "log.csv").read_text() == log_rows
    assert "nothing trained" in said[-1] and "count the whole run" in said[-1]


def test_without_patience_the_budget_decides_and_the_latest_is_exported(tmp_path: Path) -> None:
    trainer, exported = Scripted([1.0, 2.0, 3.0, 4.0, 5.0]), []
    reached = fit(trainer, tmp_path, CPU, every_step(4, patience=0), export=exported.append, log=lambda _: None)
    assert reached == 4 and exported == [4]  # the end's checkpoint, whatever validation said


def test_patience_refused_under_torchrun(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="single process"):
        fit(Scripted([]), tmp_path, Runtime(torch.device("cpu"), 0, 2), every_step(4, patience=2))
