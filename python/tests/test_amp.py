"""GradScaler semantics (spec section 4) with GSWrapper: steps with a loss
scale give the unscaled result, an overflowing step is skipped whole (no
parameter, optimizer state or GS counter moves), and scale changes between
steps need no recompilation.

Uses torch.amp.GradScaler("cpu") where this torch has it (2.3+); otherwise an
emulation of its protocol (unscale_, skip on inf/nan, grow/backoff)."""

import pytest
import torch

from gradient_stabilizer import GSWrapper


class EmulatedGradScaler:
    """torch.amp.GradScaler's step protocol for CPU tensors."""

    def __init__(self, init_scale=2.0 ** 16, growth_interval=2):
        self.scale_value, self.growth_interval, self.good = init_scale, growth_interval, 0
        self.found_inf = False

    def scale(self, loss):
        return loss * self.scale_value

    def step(self, optimizer):
        inv = 1.0 / self.scale_value
        self.found_inf = False
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.grad.mul_(inv)
                    self.found_inf |= not bool(torch.isfinite(p.grad).all())
        if not self.found_inf:
            optimizer.step()

    def update(self):
        if self.found_inf:
            self.scale_value *= 0.5
            self.good = 0
        else:
            self.good += 1
            if self.good == self.growth_interval:
                self.scale_value *= 2.0
                self.good = 0

    def get_scale(self):
        return self.scale_value


def make_scaler():
    try:
        return torch.amp.GradScaler("cpu", init_scale=2.0 ** 16, growth_interval=2)
    except (AttributeError, TypeError, RuntimeError):
        return EmulatedGradScaler()


def run(scaled, inject_inf_at=None, steps=6):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))
    opt = GSWrapper(torch.optim.AdamW(net.parameters(), lr=1e-2), backend="compiled")
    scaler = make_scaler() if scaled else None
    gen = torch.Generator().manual_seed(3)
    history, scales = [], []
    for step in range(steps):
        x, y = torch.randn(16, 6, generator=gen), torch.randn(16, 2, generator=gen)
        opt.zero_grad()
        loss = ((net(x) - y) ** 2).mean()
        if scaler is None:
            loss.backward()
            opt.step()
        else:
            scaler.scale(loss).backward()
            if step == inject_inf_at:
                next(net.parameters()).grad[0, 0] = float("inf")
            scales.append(float(scaler.get_scale()))
            scaler.step(opt)
            scaler.update()
        history.append(([p.detach().clone() for p in net.parameters()],
                        [opt.scaler.state[p]["k"] for p in net.parameters()]))
    return history, scales


def test_scaled_steps_match_unscaled():
    plain, _ = run(scaled=False)
    scaled, scales = run(scaled=True)
    assert len(set(scales)) > 1, "the loss scale should change between steps"
    for (a, ka), (b, kb) in zip(plain, scaled):
        assert ka == kb
        for x, y in zip(a, b):
            torch.testing.assert_close(y, x, rtol=1e-5, atol=1e-6)


def test_overflow_skips_the_whole_step():
    history, scales = run(scaled=True, inject_inf_at=2)
    before, after = history[1], history[2]
    for x, y in zip(before[0], after[0]):
        assert torch.equal(x, y)
    assert before[1] == after[1], "GS counters must not advance on a skipped step"
    assert scales[3] == scales[2] * 0.5, "the scaler backs off after an overflow"
    # Training continues: the next step updates everything again.
    assert all(k == before[1][0] + 1 for k in history[3][1])
