"""A torch.optim.AdamW update step exported as linalg on tensors for gs-opt.

The step is torch's own functional AdamW (what `AdamW(foreach=False).step()`
runs) as a function (param, grad, exp_avg, exp_avg_sq, step) -> (new param,
exp_avg, exp_avg_sq, step), exported by torch.export and imported by
torch-mlir's FX importer. The arguments are named (`gs.name`) so that
`gs-opt --gs-stabilize-gradients=grad-names=grad` finds the gradient:

    python examples/frontends/torch_adamw.py > adamw.mlir

Needs torch and torch-mlir (python/requirements-frontends.txt). Prints the
module on stdout.
"""

import sys
from pathlib import Path

import torch
from torch.optim.adamw import adamw

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
from gradient_stabilizer.frontends import export_torch  # noqa: E402


class AdamWStep(torch.nn.Module):
    def forward(self, param, grad, exp_avg, exp_avg_sq, step):
        # torch.optim updates in place; the exported step returns new values.
        param, exp_avg = param.clone(), exp_avg.clone()
        exp_avg_sq, step = exp_avg_sq.clone(), step.clone()
        adamw([param], [grad], [exp_avg], [exp_avg_sq], [], [step], amsgrad=False,
              beta1=0.9, beta2=0.999, lr=1e-3, weight_decay=0.01, eps=1e-8,
              maximize=False)
        return param, exp_avg, exp_avg_sq, step


def main():
    shape = (4,)
    example = (torch.randn(shape), torch.randn(shape), torch.zeros(shape),
               torch.zeros(shape),
               # An f64 counter: the bias corrections in double precision,
               # as torch's eager step computes them.
               torch.zeros((), dtype=torch.float64))
    names = ["param", "grad", "exp_avg", "exp_avg_sq", "step"]
    print(export_torch(AdamWStep(), *example, func_name="step", arg_names=names))


if __name__ == "__main__":
    main()
