"""GradientStabilizer: per-parameter gradient-norm stabilization in front of
any optimizer, compiled into fused kernels.

    from gradient_stabilizer import GSWrapper
    optimizer = GSWrapper(torch.optim.AdamW(model.parameters(), lr=1e-3),
                          gamma1=0.6, gamma2=0.999)

`GSWrapper` wraps an optimizer; `GradientStabilizer` rescales `p.grad` in
place on its own; `Lion` is an optimizer the compiled backend also supports.
The semantics are those of docs/spec.md.
"""

__all__ = ["GSWrapper", "GradientStabilizer", "Lion"]


def __getattr__(name):
    # torch is imported on first use, so `gradient_stabilizer.reference`
    # stays usable with NumPy alone.
    if name == "GSWrapper":
        from .wrapper import GSWrapper
        return GSWrapper
    if name == "GradientStabilizer":
        from .stabilizer import GradientStabilizer
        return GradientStabilizer
    if name == "Lion":
        from .lion import Lion
        return Lion
    raise AttributeError(f"module 'gradient_stabilizer' has no attribute {name!r}")
