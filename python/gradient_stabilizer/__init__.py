"""GradientStabilizer: stabilize-then-optimize gradient steps.

Each parameter tensor's gradient is rescaled to a stabilized magnitude
(an EMA-based transform with a provable norm bound) before a standard
optimizer update (SGD, Adam, AdamW, Lion).  The semantics are defined in
``shared/spec/gradient-stabilizer.md``; ``gradient_stabilizer.reference``
is the float64 NumPy reference implementation of that page.
"""
