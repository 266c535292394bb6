"""Lion (Chen et al., 2023) as a torch.optim.Optimizer, with the update of the
spec (section 2), so GSWrapper can wrap it like the built-in optimizers."""

from __future__ import annotations

import torch


class Lion(torch.optim.Optimizer):
    """u = sign(beta1*m + (1-beta1)*g); p = p*(1 - lr*wd) - lr*u;
    m = beta2*m + (1-beta2)*g. State per parameter: 'exp_avg' and 'step'."""

    def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0):
        if not lr >= 0.0:
            raise ValueError(f"Invalid learning rate: lr={lr}")
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: betas={betas}")
        if not weight_decay >= 0.0:
            raise ValueError(f"Invalid weight_decay value: weight_decay={weight_decay}")
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr, wd = group["lr"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("Lion does not support sparse gradients")
                state = self.state[p]
                if not state:
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["step"] = torch.tensor(0.0)
                exp_avg = state["exp_avg"]
                grad = p.grad
                mix = exp_avg.mul(beta1).add_(grad, alpha=1 - beta1)
                # sign(mix), but NaN stays NaN (torch.sign gives 0), as the
                # spec and the compiled step have it: a NaN gradient passed
                # through must not leave its element unchanged.
                update = torch.where(torch.isnan(mix), mix, mix.sign())
                p.mul_(1 - lr * wd).add_(update, alpha=-lr)
                exp_avg.mul_(beta2).add_(grad, alpha=1 - beta2)
                state["step"] += 1
        return loss
