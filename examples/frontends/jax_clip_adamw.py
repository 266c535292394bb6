"""optax.chain(clip_by_global_norm, adamw) as linalg on tensors for gs-opt.

The update (params, grads, opt_state) -> (new params, new opt_state) is
lowered by jax.jit to StableHLO and brought to linalg by IREE's input
conversion (`iree-compile --iree-input-type=stablehlo --compile-to=input`)
plus the util.func -> func.func adapter (gradient_stabilizer.frontends).
Arguments are named after their pytree paths (`grads.0`, `opt_state.1.0.mu.0`):

    python examples/frontends/jax_clip_adamw.py > clip-adamw.mlir
    python examples/frontends/jax_clip_adamw.py --stablehlo > clip-adamw.stablehlo.mlir

Needs jax, optax and iree-base-compiler (python/requirements-frontends.txt).
"""

import sys
from pathlib import Path

import jax
import numpy as np
import optax

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
from gradient_stabilizer.frontends import export_jax  # noqa: E402

jax.config.update("jax_platforms", "cpu")

optimizer = optax.chain(optax.clip_by_global_norm(1.0),
                        optax.adamw(1e-3, weight_decay=0.01))


def update(params, grads, opt_state):
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


def main():
    params = [np.zeros((4,), np.float32)]
    example = (params, params, optimizer.init(params))
    if "--stablehlo" in sys.argv[1:]:
        print(jax.jit(update).lower(*example).as_text())
    else:
        print(export_jax(update, *example, func_name="step"))


if __name__ == "__main__":
    main()
